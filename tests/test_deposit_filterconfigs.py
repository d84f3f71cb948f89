"""Filter config deposit (`bin/ella-filterconfigs`) against a real PostgreSQL."""

import json
import os
import subprocess

import psycopg
import pytest

from ella.deposit.filterconfigs import FilterconfigError, deposit_filterconfigs
from helpers import ROOT, clilog_outputs, run_cli, table_snapshot, without_clilog

FIXTURE = ROOT / "tests" / "data" / "filterconfigs.json"
GROUPS = ("testgroup01", "testgroup02", "testgroup03")


def load_fixture():
    return json.loads(FIXTURE.read_text())


def add_groups(url, names=GROUPS):
    with psycopg.connect(url) as conn:
        for name in names:
            conn.execute("INSERT INTO usergroup (name, config) VALUES (%s, '{}'::jsonb)", (name,))


@pytest.fixture
def fc_db(db_url):
    add_groups(db_url)
    return db_url


def one_line_error(result):
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [l for l in result.stderr.strip().splitlines() if not l.startswith("Enter reason")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]



def write_json(tmp_path, data, name="fc.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


def configs(url):
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT id, name, active, date_superceeded IS NOT NULL, previous_filterconfig_id, "
            "schema_version FROM filterconfig ORDER BY id").fetchall()


def links(url):
    with psycopg.connect(url) as conn:
        return conn.execute(
            'SELECT fc.name, fc.id, ug.name, l."order" FROM usergroupfilterconfig l '
            "JOIN filterconfig fc ON fc.id = l.filterconfig_id "
            "JOIN usergroup ug ON ug.id = l.usergroup_id ORDER BY ug.name, l.\"order\"").fetchall()


def test_fixture_deposits_through_the_cli(fc_db):
    result = run_cli("ella-filterconfigs", "update", str(FIXTURE), db_url=fc_db,
                     stdin="Initial setup\n")
    assert result.returncode == 0, result.stderr
    assert "Enter reason (optional): [None]:" in result.stderr
    assert "Summary:" in result.stdout
    assert result.stdout.count("Filterconfig created") == 6
    rows = configs(fc_db)
    assert [(r[1], r[2], r[3], r[4], r[5]) for r in rows] == [
        ("Default", True, False, None, 3), ("SingleDefault", True, False, None, 3),
        ("TrioDefault", True, False, None, 3)]
    assert [(n, g, o) for n, _, g, o in links(fc_db)] == [
        ("Default", "testgroup01", 0),
        ("TrioDefault", "testgroup02", 0), ("SingleDefault", "testgroup02", 100),
        ("Default", "testgroup03", 0), ("TrioDefault", "testgroup03", 1000),
        ("SingleDefault", "testgroup03", 1100)]
    with psycopg.connect(fc_db) as conn:
        stored = conn.execute("SELECT name, filterconfig, requirements FROM filterconfig "
                              "ORDER BY id").fetchall()
        log = conn.execute('SELECT "group", groupcommand, command, reason, output '
                           "FROM clilog").fetchall()
    fixture = load_fixture()
    assert stored == [(e["name"], e["filterconfig"], e["requirements"]) for e in fixture]
    assert len(log) == 1
    group, groupcommand, command, reason, output = log[0]
    assert (group, groupcommand, reason) == ("filterconfigs", "update", "Initial setup")
    assert command == f"filterconfigs update {FIXTURE}"
    assert output.startswith("Summary:")


def test_redeposit_unchanged_is_a_no_op(fc_db):
    assert run_cli("ella-filterconfigs", "update", str(FIXTURE), "--reason", "x",
                   db_url=fc_db).returncode == 0
    before = table_snapshot(fc_db)
    result = run_cli("ella-filterconfigs", "update", str(FIXTURE), db_url=fc_db)
    assert result.returncode == 0, result.stderr
    assert "Filterconfig created" not in result.stdout
    assert "3 unchanged" in result.stdout
    after = table_snapshot(fc_db)
    assert without_clilog(after) == without_clilog(before)
    assert len(after["clilog"]) == 2


def test_changed_entry_supersedes_and_keeps_history(fc_db, tmp_path):
    assert run_cli("ella-filterconfigs", "update", str(FIXTURE), "--reason", "",
                   db_url=fc_db).returncode == 0
    first = configs(fc_db)
    data = load_fixture()
    data[1]["filterconfig"]["filters"][1]["config"]["splice_region"] = [-10, 6]
    data[1]["usergroups"] = [{"name": "testgroup02", "order": 100},
                             {"name": "testgroup01", "order": 5}]
    data[0]["usergroups"][1]["order"] = 7
    result = run_cli("ella-filterconfigs", "update", write_json(tmp_path, data), "--reason", "r",
                     db_url=fc_db)
    assert result.returncode == 0, result.stderr
    assert "Filterconfig updated" in result.stdout
    assert "Order changed" in result.stdout
    rows = configs(fc_db)
    assert len(rows) == 4
    old = [r for r in rows if r[0] == first[1][0]][0]
    new = rows[-1]
    assert old[1:5] == ("SingleDefault", False, True, None)
    assert new[1:5] == ("SingleDefault", True, False, old[0])
    with psycopg.connect(fc_db) as conn:
        assert conn.execute("SELECT filterconfig FROM filterconfig WHERE id = %s",
                            (old[0],)).fetchone()[0] == load_fixture()[1]["filterconfig"]
    assert ("SingleDefault", new[0], "testgroup01", 5) in links(fc_db)
    assert ("SingleDefault", new[0], "testgroup02", 100) in links(fc_db)
    assert ("Default", first[0][0], "testgroup03", 7) in links(fc_db)
    # The old version's links stay (history); only active configs are offered.
    assert ("SingleDefault", old[0], "testgroup03", 1100) in links(fc_db)


def test_requirements_change_supersedes(fc_db, ella_config):
    data = load_fixture()
    with psycopg.connect(fc_db) as conn:
        deposit_filterconfigs(conn, ella_config, data)
        data[2]["requirements"][0]["params"]["is_trio"] = False
        result = deposit_filterconfigs(conn, ella_config, data)
    assert [c["change"] for c in result["configs"]] == [None, None, "Filterconfig updated"]


def bad_entries():
    unknown_group = load_fixture()
    unknown_group[2]["usergroups"].append({"name": "nosuchgroup", "order": 3})
    schema = load_fixture()
    schema[1]["filterconfig"]["filters"][1]["config"]["splice_region"] = [5, 6]
    frequency = load_fixture()
    frequency[0]["filterconfig"]["filters"][0]["config"]["groups"]["external"]["GNOMAD_EXOMES"] \
        .append("XYZ")
    input_format = load_fixture()
    input_format[1]["usergroups"][0]["order"] = -1
    # The first entry at fault is named, not the one whose error looks most telling.
    first_at_fault = load_fixture()
    first_at_fault[0]["usergroups"][0]["order"] = -1
    del first_at_fault[2]["requirements"]
    unknown_filter = load_fixture()
    unknown_filter[0]["filterconfig"]["filters"].append({"name": "nosuchfilter", "config": {}})
    return {
        "unknown group": (unknown_group, "entry 3 ('TrioDefault'): unknown user group "
                                         "'nosuchgroup'"),
        "schema": (schema, "entry 2 ('SingleDefault'): filterconfig is not valid against "
                           "filterconfig schema version 3"),
        "frequency": (frequency, "entry 1 ('Default'): frequency groups not in the "
                                 "configuration (frequencies.groups): GNOMAD_EXOMES.XYZ"),
        "input format": (input_format, "entry 2 ('SingleDefault'): usergroups[0].order: "),
        "first at fault": (first_at_fault, "entry 1 ('Default'): usergroups[0].order: "),
        "unknown filter": (unknown_filter, "entry 1 ('Default'): filterconfig is not valid"),
        "duplicate name": (load_fixture() + load_fixture()[:1],
                           "entry 4 ('Default'): the name is already used by entry 1"),
        "not a list": ({"name": "x"}, "the file must hold a JSON list"),
    }


@pytest.mark.parametrize("case", sorted(bad_entries()))
def test_bad_entries_write_nothing(fc_db, tmp_path, case):
    data, expected = bad_entries()[case]
    before = table_snapshot(fc_db)
    path = write_json(tmp_path, data)
    result = run_cli("ella-filterconfigs", "update", path, db_url=fc_db)
    line = one_line_error(result)
    assert line.startswith(f"error: {path}: {expected}"), line
    after = table_snapshot(fc_db)
    assert without_clilog(after) == without_clilog(before)
    [output] = clilog_outputs(fc_db)  # the failed run is audited, with the error
    assert expected in output


def test_bad_entry_after_good_ones_writes_nothing(fc_db, ella_config):
    """The whole file is one transaction: a late failure leaves no earlier entry behind."""
    data = load_fixture()
    data[2]["usergroups"].append({"name": "nosuchgroup", "order": 3})
    with psycopg.connect(fc_db) as conn:
        with pytest.raises(FilterconfigError, match="unknown user group 'nosuchgroup'"):
            deposit_filterconfigs(conn, ella_config, data)
    assert configs(fc_db) == []


def test_malformed_json(fc_db, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('[{"name": "x",\n "usergroups": [}]')
    line = one_line_error(run_cli("ella-filterconfigs", "update", str(path), db_url=fc_db))
    assert line.startswith(f"error: {path}: not valid JSON: line 2 column ")
    assert configs(fc_db) == []


def test_json_postgresql_cannot_store(fc_db, tmp_path):
    """Named with the path to it (it was the file only: which of a hundred entries?)."""
    path = tmp_path / "nan.json"
    path.write_text('[{"name": "y"},\n {"name": "x", "filterconfig": {"threshold": NaN}}]')
    line = one_line_error(run_cli("ella-filterconfigs", "update", str(path), db_url=fc_db))
    assert line == (f"error: {path}: entry 2: filterconfig.threshold: NaN is not a number "
                    "JSON or PostgreSQL can store")
    path.write_text('[{"name": "x", "filterconfig": {"threshold": [0.5, 1e999]}}]')
    line = one_line_error(run_cli("ella-filterconfigs", "update", str(path), db_url=fc_db))
    assert line == (f"error: {path}: entry 1: filterconfig.threshold[1]: the number 1e999 is "
                    "too large to store")
    path.write_text("[" * 100000)  # was a RecursionError traceback
    line = one_line_error(run_cli("ella-filterconfigs", "update", str(path), db_url=fc_db))
    assert line == f"error: {path}: nested too deeply (at most 100 levels)"
    path.write_text(f'[{{"name": "x", "filterconfig": {{"n": {"1" * 5000}}}}}]')  # traceback
    line = one_line_error(run_cli("ella-filterconfigs", "update", str(path), db_url=fc_db))
    # (Python's own words named `sys.set_int_max_str_digits()`: nothing for an admin.)
    assert line == f"error: {path}: a number is too long to read (over 4,300 digits)"
    assert configs(fc_db) == []


def test_missing_file_is_a_usage_error(fc_db, tmp_path):
    result = run_cli("ella-filterconfigs", "update", str(tmp_path / "nope.json"), db_url=fc_db)
    assert result.returncode == 2
    assert "does not exist" in result.stderr
    result = run_cli("ella-filterconfigs", "update", str(tmp_path), db_url=fc_db)
    assert result.returncode == 2
    assert f"FILE {str(tmp_path)!r} is a folder, not a file" in result.stderr


def test_database_refusal_is_reported(fc_db, ella_config):
    """The DB trigger validates too (SQLSTATE JSONV): without schema rows it refuses."""
    with psycopg.connect(fc_db) as conn:
        conn.execute("DELETE FROM jsonschema WHERE name = 'filterconfig'")
        conn.commit()
        with pytest.raises(FilterconfigError, match="the database refuses the filterconfig"):
            deposit_filterconfigs(conn, ella_config, load_fixture())
    assert configs(fc_db) == []


def test_deactivate_and_list(fc_db):
    assert run_cli("ella-filterconfigs", "update", str(FIXTURE), "--reason", "",
                   db_url=fc_db).returncode == 0
    ids = {name: fc_id for fc_id, name, *_ in configs(fc_db)}

    listed = run_cli("ella-filterconfigs", "list", db_url=fc_db)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["id", "name", "order", "usergroup", "requirements"]
    assert len(lines) == 2 + 6
    assert '"is_trio": true' in listed.stdout

    aborted = run_cli("ella-filterconfigs", "deactivate", str(ids["Default"]), db_url=fc_db,
                      stdin="because\nn\n")
    assert aborted.returncode == 0, aborted.stderr
    assert "Lacking confirmation, aborting..." in aborted.stdout
    assert "only active filter config of user group 'testgroup01'" in aborted.stdout
    assert all(active for _, _, active, *_ in configs(fc_db))

    done = run_cli("ella-filterconfigs", "deactivate", str(ids["Default"]), db_url=fc_db,
                   stdin="because\ny\n")
    assert done.returncode == 0, done.stderr
    assert "Filterconfig Default deactivated" in done.stdout
    assert [(name, active) for _, name, active, *_ in configs(fc_db)] == [
        ("Default", False), ("SingleDefault", True), ("TrioDefault", True)]
    again = run_cli("ella-filterconfigs", "deactivate", str(ids["Default"]), "--reason", "",
                    db_url=fc_db)
    assert again.returncode == 0
    assert "already inactive" in again.stdout
    listed = run_cli("ella-filterconfigs", "list", db_url=fc_db)
    assert " Default " not in listed.stdout and len(listed.stdout.splitlines()) == 2 + 4

    missing = run_cli("ella-filterconfigs", "deactivate", "9999", "--reason", "", db_url=fc_db)
    assert one_line_error(missing) == "error: Found no filter config with id 9999"

    with psycopg.connect(fc_db) as conn:
        log = conn.execute('SELECT groupcommand, reason, output FROM clilog '
                           "WHERE groupcommand = 'deactivate' ORDER BY id").fetchall()
    assert log[0][:2] == ("deactivate", "because")
    assert log[0][2].endswith("Lacking confirmation, aborting...")
    assert log[1][2].endswith("Filterconfig Default deactivated")
    assert log[2][1] is None


def _deactivate_while(url, fc_id, meanwhile):
    """`deactivate fc_id`, with `meanwhile()` run while it waits for the 'y'."""
    env = {k: v for k, v in os.environ.items() if k not in ("DB_URL", "ELLA_CONFIG")}
    proc = subprocess.Popen([str(ROOT / "bin" / "ella-filterconfigs"), "deactivate",
                             str(fc_id), "--reason", "r"], env={**env, "DB_URL": url},
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert "Type 'y' to confirm" in proc.stderr.readline()  # the question
        meanwhile()
        out, err = proc.communicate("y\n", timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, out, err


def test_deactivate_refuses_when_things_changed_while_it_asked(fc_db, tmp_path):
    """It reported "deactivated" (exit 0) for a config that `update` had replaced with a new
    active version while the operator read the warnings; the warnings it showed may be out
    of date too. Now checked again under the deposit's lock."""
    assert run_cli("ella-filterconfigs", "update", str(FIXTURE), "--reason", "",
                   db_url=fc_db).returncode == 0
    ids = {name: fc_id for fc_id, name, *_ in configs(fc_db)}
    changed = load_fixture()
    changed[0]["filterconfig"]["filters"][1]["config"]["splice_region"] = [-10, 6]
    path = write_json(tmp_path, changed)
    code, out, err = _deactivate_while(fc_db, ids["Default"], lambda: run_cli(
        "ella-filterconfigs", "update", str(path), "--reason", "", db_url=fc_db))
    assert code == 1 and "Filterconfig Default deactivated" not in out
    assert err.strip().splitlines()[-1] == (
        f"error: filter config {ids['Default']} was replaced or deactivated while waiting "
        "for the confirmation; nothing was changed")
    current = {name: fc_id for fc_id, name, active, *_ in configs(fc_db) if active}
    assert current["Default"] != ids["Default"]

    # The only config of testgroup01 got a sibling meanwhile: the warning shown is stale.
    def link_another():
        with psycopg.connect(fc_db) as conn:
            conn.execute("INSERT INTO usergroupfilterconfig (usergroup_id, filterconfig_id, "
                         "\"order\") SELECT id, %s, 9 FROM usergroup WHERE name = 'testgroup01'",
                         (current["TrioDefault"],))
    code, out, err = _deactivate_while(fc_db, current["Default"], link_another)
    assert code == 1 and "only active filter config of user group 'testgroup01'" in out
    assert err.strip().splitlines()[-1].startswith(
        "error: the user groups' filter configs changed while waiting for the confirmation")
    assert all(active for fc_id, _, active, *_ in configs(fc_db) if fc_id == current["Default"])


def test_redeposit_keeps_deactivated_config_inactive(fc_db):
    assert run_cli("ella-filterconfigs", "update", str(FIXTURE), "--reason", "",
                   db_url=fc_db).returncode == 0
    fc_id = configs(fc_db)[0][0]
    assert run_cli("ella-filterconfigs", "deactivate", str(fc_id), db_url=fc_db,
                   stdin="\ny\n").returncode == 0
    result = run_cli("ella-filterconfigs", "update", str(FIXTURE), "--reason", "",
                     db_url=fc_db)
    assert result.returncode == 0, result.stderr
    assert f"'Default' (id {fc_id}) is unchanged but inactive" in result.stdout
    assert len(configs(fc_db)) == 3


def test_help_everywhere():
    for args in ([], ["update"], ["deactivate"], ["list"]):
        result = run_cli("ella-filterconfigs", *args, "--help")
        assert result.returncode == 0, (args, result.stderr)
        assert "usage: ella-filterconfigs" in result.stdout
    assert run_cli("ella-filterconfigs").returncode == 2
    assert run_cli("ella-filterconfigs", "deactivate", "abc").returncode == 2


def test_fixture_on_the_real_ella_demo_database_is_unchanged(demo_db_url):
    """The demo database (ELLA's own rows, schema_version 2) holds these three configs:
    depositing the fixture reuses them and writes nothing."""
    before = table_snapshot(demo_db_url)
    result = run_cli("ella-filterconfigs", "update", str(FIXTURE), "--reason", "",
                     db_url=demo_db_url)
    assert result.returncode == 0, result.stderr
    assert "0 new versions, 3 unchanged" in result.stdout
    assert without_clilog(table_snapshot(demo_db_url)) == without_clilog(before)


def test_list_what_a_group_is_offered(fc_db):
    """`list --usergroup` (with and without --analysis) shows filtering.md 1.5's selection."""
    assert run_cli("ella-filterconfigs", "update", str(FIXTURE), "--reason", "",
                   db_url=fc_db).returncode == 0
    with psycopg.connect(fc_db) as conn:
        conn.execute("INSERT INTO genepanel (name, version, genome_reference, official, date_created) "
                     "VALUES ('P', 'v1', 'GRCh37', false, now())")
        for name in ("brca_sample_1", "HG002-trio"):
            analysis = conn.execute(
                "INSERT INTO analysis (name, genepanel_name, genepanel_version, warnings, "
                "report, date_deposited, properties) VALUES (%s, 'P', 'v1', NULL, NULL, "
                "now(), '{}') RETURNING id", (name,)).fetchone()[0]
            conn.execute("INSERT INTO sample (identifier, analysis_id, sample_type, proband, "
                         "affected, date_deposited) VALUES ('S', %s, 'HTS', true, true, now())",
                         (analysis,))
    # testgroup01 has one config (Default, requiring a name): offered without an analysis.
    alone = run_cli("ella-filterconfigs", "list", "--usergroup", "testgroup01", db_url=fc_db)
    assert alone.returncode == 0, alone.stderr
    assert "offered to testgroup01 without an analysis" in alone.stdout
    assert [l.split()[1] for l in alone.stdout.splitlines()[3:]] == ["Default"]
    # testgroup03 has three, all with requirements: none without an analysis.
    none = run_cli("ella-filterconfigs", "list", "--usergroup", "testgroup03", db_url=fc_db)
    assert none.stdout.strip() == \
        "User group testgroup03 is offered no filter config without an analysis"
    # For an analysis the requirements are checked: brca_* is excluded by the Single/Trio
    # configs, HG002* by Default.
    brca = run_cli("ella-filterconfigs", "list", "--usergroup", "testgroup03",
                   "--analysis", "brca_sample_1", db_url=fc_db)
    assert [l.split()[1:3] for l in brca.stdout.splitlines()[3:]] == [["Default", "yes"]]
    hg002 = run_cli("ella-filterconfigs", "list", "--usergroup", "testgroup03",
                    "--analysis", "HG002-trio", db_url=fc_db)
    assert [l.split()[1] for l in hg002.stdout.splitlines()[3:]] == ["SingleDefault"]
    assert one_line_error(run_cli("ella-filterconfigs", "list", "--usergroup", "nope",
                                  db_url=fc_db)) == "error: Found no user group named 'nope'"
    # Named in another case (as `ella-filterconfigs update` and `ella-users` find it).
    upper = run_cli("ella-filterconfigs", "list", "--usergroup", "TESTGROUP03", db_url=fc_db)
    assert upper.returncode == 0 and upper.stdout.strip() == \
        "User group TESTGROUP03 is offered no filter config without an analysis"
    assert one_line_error(run_cli("ella-filterconfigs", "list", "--usergroup", "testgroup01",
                                  "--analysis", "nope", db_url=fc_db)) == \
        "error: Found no analysis named 'nope'"
    usage = run_cli("ella-filterconfigs", "list", "--analysis", "x", db_url=fc_db)
    assert usage.returncode == 2 and "--analysis needs --usergroup" in usage.stderr


@pytest.mark.parametrize("change, message", [
    (lambda e: e["requirements"].append({"function": "analysis",
                                         "params": {"name": "(unclosed"}}),
     "requirements[{i}].params.name '(unclosed' is not a valid regex"),
    (lambda e: e["requirements"].append({"function": "analysis",
                                         "params": {"name": "(a+)+$"}}),
     "requirements[{i}].params.name '(a+)+$' repeats a repetition (as in `(a+)+`), which can "
     "take hours to match a name: write it without"),
    (lambda e: e["requirements"].append({"function": "analysis",
                                         "params": {"genepanel_name": "^(?:x*y?)*z"}}),
     "requirements[{i}].params.genepanel_name '^(?:x*y?)*z' repeats a repetition"),
    (lambda e: e["requirements"].append({"function": "analysis",
                                         "params": {"name": "(a+){1,30}$"}}),
     "requirements[{i}].params.name '(a+){{1,30}}$' repeats a repetition"),
    (lambda e: e["usergroups"][0].update(order=1099511627776),
     "1099511627776 is greater than the maximum of 2147483647"),
    (lambda e: e.update(name="SingleDefault "), "the name has blanks around it"),
    (lambda e: e.update(name="  "), "the name has blanks around it"),
    (lambda e: e.update(name="f-\u0007"), "the name contains a control or invisible character"),
    (lambda e: e.update(name="Single\u00a0Default"), "the name has a space other than the "
                                                     "plain one"),
])
def test_values_that_would_break_later_are_refused(fc_db, tmp_path, change, message):
    """An invalid requirement regex broke choosing filter configs for the group (API, CLI
    and deposit post-processing), one that backtracks exponentially held it for hours; an
    order beyond 32 bits failed in the database without naming the entry; a name with blanks
    around it, or a no-break space, reads as another in the group's list."""
    data = load_fixture()
    index = len(data[0]["requirements"])
    change(data[0])
    path = write_json(tmp_path, data)
    line = one_line_error(run_cli("ella-filterconfigs", "update", path, "--reason", "x",
                                  db_url=fc_db))
    # The file is named too (it was not: with several files the entry was of which?).
    assert line.startswith(f"error: {path}: entry 1 ({data[0]['name']!r}): "), line
    assert message.format(i=index) in line, line
    assert configs(fc_db) == []


def test_a_stored_invalid_requirement_is_a_clear_error(fc_db, tmp_path, ella_config):
    """Stored without `update` (by hand, or by an older tool): the API and the CLI say which
    requirement, instead of a traceback or a 500."""
    from api_helpers import add_user, logged_in_client
    from deposit_helpers import BRCA_VCF, add_test_panels, deposit
    from ella.web.app import create_app
    data = load_fixture()
    assert run_cli("ella-filterconfigs", "update", write_json(tmp_path, data), "--reason", "x",
                   db_url=fc_db).returncode == 0
    add_test_panels(fc_db)
    config = ella_config
    deposit(fc_db, config, BRCA_VCF)
    with psycopg.connect(fc_db) as conn:
        conn.execute("UPDATE filterconfig SET requirements = %s",
                     (psycopg.types.json.Jsonb([{"function": "analysis",
                                                 "params": {"name": "(bad"}}]),))
        group = conn.execute("SELECT ug.name, ug.id FROM usergroup ug JOIN "
                             "usergroupfilterconfig u ON u.usergroup_id = ug.id "
                             "LIMIT 1").fetchone()
    add_user(fc_db, "fc_user", group[0], [("HBOC", "v01")])
    app = create_app(config, {"DB_URL": fc_db, "COOKIE_SECURE": False})
    try:
        result = logged_in_client(app, fc_db, "fc_user").get(
            "/api/v1/workflows/analyses/1/filterconfigs/")
    finally:
        app._drop_connection()
    assert result.status == 400, result.body
    assert "requirement name '(bad' is not a valid regex" in result.json["message"]
    line = one_line_error(run_cli("ella-filterconfigs", "list", "--usergroup", group[0],
                                  "--analysis", "brca_sample_2.HBOC_v01", db_url=fc_db))
    assert "requirement name '(bad' is not a valid regex" in line


def test_a_top_level_filter_a_snapshot_cannot_record_is_warned_about(fc_db, ella_config):
    """workflow.md 9: a round's snapshot records only nine filter categories; a top-level
    size, external or callertype filter that removes variants makes the round's mark and
    finalize fail (400 here, 500 in ELLA). The config is stored, with a warning; as an
    exception the same filter is fine."""
    data = load_fixture()[:1]
    data[0]["filterconfig"]["filters"].append(
        {"name": "size", "config": {"threshold": 1000, "mode": ">"}})
    lines = []
    with psycopg.connect(fc_db) as conn:
        result = deposit_filterconfigs(conn, ella_config, data, echo=lines.append)
    assert result["warnings"] == lines
    assert len(lines) == 1 and "'Default': the size filter's removed variants cannot be " \
        "recorded when a round ends" in lines[0]
    with psycopg.connect(fc_db) as conn:
        again = deposit_filterconfigs(conn, ella_config, load_fixture())
    assert again["warnings"] == []


def test_an_update_that_leaves_a_group_without_filter_config_says_so(fc_db, tmp_path):
    """`Default` is testgroup01's only config; an update of it naming testgroup03 alone
    linked the new version to testgroup03 and left testgroup01 with none, unsaid
    (`deactivate` warns about exactly that)."""
    assert run_cli("ella-filterconfigs", "update", str(FIXTURE), "--reason", "",
                   db_url=fc_db).returncode == 0
    old_id = configs(fc_db)[0][0]
    data = load_fixture()[:1]
    data[0]["filterconfig"]["filters"][0]["config"]["thresholds"]["AD"]["external"] = 0.004
    data[0]["usergroups"] = [{"name": "testgroup03", "order": 0}]
    result = run_cli("ella-filterconfigs", "update", write_json(tmp_path, data), "--reason",
                     "r", db_url=fc_db)
    assert result.returncode == 0, result.stderr
    assert (f"Warning: user group 'testgroup01' had filter config 'Default' (id {old_id}), "
            "which this update replaced, and is not in its usergroups: the group now has no "
            "active filter config") in result.stdout + result.stderr
    # Named in the entry, it gets the new version and nothing is said.
    data[0]["filterconfig"]["filters"][0]["config"]["thresholds"]["AD"]["external"] = 0.003
    data[0]["usergroups"] = [{"name": "testgroup01", "order": 0},
                             {"name": "testgroup03", "order": 0}]
    again = run_cli("ella-filterconfigs", "update", write_json(tmp_path, data), "--reason",
                    "r", db_url=fc_db)
    assert again.returncode == 0 and "Warning" not in again.stdout + again.stderr


def test_names_differing_only_in_case_or_unicode_form_are_one(fc_db, tmp_path, ella_config):
    """A file saved on a Mac writes `Å` as `A` and a ring: an update of `Standard-Å` made a
    second config that looked the same in every list, and a group so named was unknown."""
    import unicodedata
    add_groups(fc_db, ["Genetikk-Å"])
    entry = load_fixture()[0]
    entry["name"] = "Standard-Å"
    entry["usergroups"] = [{"name": "Genetikk-Å", "order": 0}]
    with psycopg.connect(fc_db) as conn:
        deposit_filterconfigs(conn, ella_config, [entry])
    nfd = {**entry, "name": unicodedata.normalize("NFD", "Standard-Å"),
           "usergroups": [{"name": unicodedata.normalize("NFD", "Genetikk-Å"), "order": 0}]}
    nfd["filterconfig"] = json.loads(json.dumps(entry["filterconfig"]))
    nfd["filterconfig"]["filters"][0]["config"]["thresholds"]["AD"]["external"] = 0.004
    result = run_cli("ella-filterconfigs", "update", write_json(tmp_path, [nfd]), "--reason",
                     "r", db_url=fc_db)
    assert one_line_error(result).endswith(
        "the name looks like that of filter config 'Standard-Å' (id 1): names differing only "
        "in case or Unicode form count as one; give its exact name to update it")
    # The group in NFD is the stored one: the exact name updates, linked to it.
    nfd["name"] = "Standard-Å"
    result = run_cli("ella-filterconfigs", "update", write_json(tmp_path, [nfd]), "--reason",
                     "r", db_url=fc_db)
    assert result.returncode == 0, result.stderr
    assert [(name, group) for name, _, group, _ in links(fc_db)] == [
        ("Standard-Å", "Genetikk-Å"), ("Standard-Å", "Genetikk-Å")]
    assert [r[1:3] for r in configs(fc_db)] == [("Standard-Å", False), ("Standard-Å", True)]
    twice = [load_fixture()[0], {**load_fixture()[0], "name": "default"}]
    with psycopg.connect(fc_db) as conn, pytest.raises(
            FilterconfigError, match="entry 2 .*looks like that of filter config 'Default'"):
        deposit_filterconfigs(conn, ella_config, twice)
    both = {**entry, "usergroups": [{"name": "Genetikk-Å", "order": 0},
                                    {"name": unicodedata.normalize("NFD", "Genetikk-Å"),
                                     "order": 1}]}
    with psycopg.connect(fc_db) as conn, pytest.raises(
            FilterconfigError, match="name one user group, 'Genetikk-Å'"):
        deposit_filterconfigs(conn, ella_config, [both])


def test_stored_names_differing_only_in_case_stay_usable_by_their_exact_names(
        fc_db, ella_config):
    """An adopted ELLA database may hold groups `Lab` and `lab`, and configs `Default` and
    `default`: a file naming them exactly is read as before."""
    add_groups(fc_db, ["Lab", "lab"])
    first, second = load_fixture()[0], load_fixture()[0]
    second["name"] = "default"
    for item in (first, second):
        item["usergroups"] = [{"name": "Lab", "order": 0}, {"name": "lab", "order": 1}]
    with psycopg.connect(fc_db) as conn:
        for item in (first, second):
            conn.execute("INSERT INTO filterconfig (name, filterconfig, requirements, active) "
                         "VALUES (%s, %s, %s, true)",
                         (item["name"], psycopg.types.json.Jsonb(item["filterconfig"]),
                          psycopg.types.json.Jsonb(item["requirements"])))
        conn.commit()
        result = deposit_filterconfigs(conn, ella_config, [first, second])
    assert [c["name"] for c in result["configs"]] == ["Default", "default"]
    assert sorted((name, group) for name, _, group, _ in links(fc_db)) == [
        ("Default", "Lab"), ("Default", "lab"), ("default", "Lab"), ("default", "lab")]


def test_an_update_replaces_the_active_row_of_a_name_with_an_inactive_one_beside_it(
        fc_db, tmp_path):
    """An adopted ELLA database may hold two rows of one name that are not superseded, one
    active and one inactive (the inactive one newer, or older): an update replaces the
    active one, and the inactive one stays as it was."""
    data = load_fixture()[:2]
    with psycopg.connect(fc_db) as conn:
        def insert(entry, active, threshold=None):
            filterconfig = json.loads(json.dumps(entry["filterconfig"]))
            if threshold is not None:
                filterconfig["filters"][0]["config"]["thresholds"]["AD"]["external"] = threshold
            return conn.execute(
                "INSERT INTO filterconfig (name, filterconfig, requirements, active) "
                "VALUES (%s, %s, %s, %s) RETURNING id",
                (entry["name"], psycopg.types.json.Jsonb(filterconfig),
                 psycopg.types.json.Jsonb(entry["requirements"]), active)).fetchone()[0]
        # `Default`: the active row first, an inactive one after it.
        default_active = insert(data[0], True)
        default_inactive = insert(data[0], False, threshold=0.002)
        # `SingleDefault`: an inactive row first, the active one after it.
        single_inactive = insert(data[1], False, threshold=0.002)
        single_active = insert(data[1], True)
    for entry in data:
        entry["filterconfig"]["filters"][0]["config"]["thresholds"]["AD"]["external"] = 0.004
    result = run_cli("ella-filterconfigs", "update", write_json(tmp_path, data), "--reason",
                     "r", db_url=fc_db)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("Filterconfig updated") == 4  # two configs, two groups each
    rows = {r[0]: r[1:5] for r in configs(fc_db)}
    new_default, new_single = sorted(set(rows) - {default_active, default_inactive,
                                                  single_inactive, single_active})
    # (name, active, superseded, previous)
    assert rows[default_active] == ("Default", False, True, None)
    assert rows[new_default] == ("Default", True, False, default_active)
    assert rows[default_inactive] == ("Default", False, False, None)
    assert rows[single_active] == ("SingleDefault", False, True, None)
    assert rows[new_single] == ("SingleDefault", True, False, single_active)
    assert rows[single_inactive] == ("SingleDefault", False, False, None)


def test_an_update_warns_of_no_config_without_requirements_only_when_so(fc_db, ella_config):
    """A group that had the replaced config, and is not in its entry, is told it has no
    active config without requirements only when the replaced one had none and no other
    active config of the group is without them."""
    base = load_fixture()[0]

    def entry(name, groups, requirements=True, threshold=0.005):
        item = json.loads(json.dumps(base))
        item["name"] = name
        item["usergroups"] = [{"name": g, "order": o} for g, o in groups]
        if not requirements:
            item["requirements"] = []
        item["filterconfig"]["filters"][0]["config"]["thresholds"]["AD"]["external"] = threshold
        return item

    add_groups(fc_db, ["testgroup04"])
    with psycopg.connect(fc_db) as conn:
        deposit_filterconfigs(conn, ella_config, [
            entry("OpenA", [("testgroup01", 0), ("testgroup02", 0)], requirements=False),
            entry("OpenB", [("testgroup01", 1)], requirements=False),
            entry("Req", [("testgroup02", 1), ("testgroup03", 0)]),
            entry("Req2", [("testgroup03", 1)])])
        old_ids = {name: fc_id for fc_id, name, *_ in configs(fc_db)}
        # OpenA (without requirements) leaves testgroup01, which keeps OpenB (without them
        # too: nothing said), and testgroup02, which keeps Req only (with them: said).
        first = deposit_filterconfigs(conn, ella_config, [
            entry("OpenA", [("testgroup04", 0)], requirements=False, threshold=0.004)])
        assert first["warnings"] == [
            "Warning: user group 'testgroup02' had filter config 'OpenA' (id "
            f"{old_ids['OpenA']}), which this update replaced, and is not in its usergroups: "
            "the group now has no active filter config without requirements; analyses "
            "matching none of its configs will have none"]
        # Req (with requirements) leaves testgroup03, which keeps Req2 (with them too):
        # nothing is said, the group had no config without requirements before either.
        second = deposit_filterconfigs(conn, ella_config, [
            entry("Req", [("testgroup02", 1)], threshold=0.004)])
        assert second["warnings"] == []
        assert [c["change"] for c in second["configs"]] == ["Filterconfig updated"]
