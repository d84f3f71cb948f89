"""config-cli-ops.md section 3: the rows of the command tables no other test asserted (echo
lines, the clilog user, add_groups defaults, deactivating an inactive filter config)."""

import json

import psycopg
import pytest

from helpers import ROOT, run_cli

BRCA_VCF = ROOT / "demo" / "analyses" / "brca_sample_2.HBOC_v01.vcf"


def _one(url, query, params=()):
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchone()


def test_compare_on_a_mismatch_says_so_and_exits_1(empty_db_url):
    """3.3 database compare: "Database HEAD: <rev>", "Migration script HEAD: <rev>", on
    mismatch "Database HEAD does not match migration script HEAD!" and exit 1."""
    result = run_cli("ella-db", "compare", db_url=empty_db_url)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[1] == "Migration script HEAD: 4c2844fef850"
    assert lines[0].startswith("Database HEAD: ")
    assert "Database HEAD does not match migration script HEAD!" in lines


def test_deposit_annotation_echo(db_url):
    """3.4 deposit annotation: echo "Annotation imported successfully"; no interpretation."""
    result = run_cli("ella-deposit", "annotation", str(BRCA_VCF), db_url=db_url)
    assert result.returncode == 0, result.stderr
    assert "Annotation imported successfully" in result.stdout.splitlines()
    assert _one(db_url, "SELECT count(*) FROM alleleinterpretation")[0] == 0
    assert _one(db_url, "SELECT count(*) FROM annotation")[0] == 6


def test_append_genepanel_already_in_group_echo(adopted_demo_db_url):
    """3.4 append_genepanel_to_usergroup: "... already exists in user group G", exit 0."""
    name, version, group = _one(
        adopted_demo_db_url,
        "SELECT gp.name, gp.version, ug.name FROM usergroupgenepanel x "
        "JOIN genepanel gp ON (gp.name, gp.version) = (x.genepanel_name, x.genepanel_version) "
        "JOIN usergroup ug ON ug.id = x.usergroup_id ORDER BY 1, 2, 3 LIMIT 1")
    result = run_cli("ella-deposit", "append_genepanel_to_usergroup", name, version, group,
                     db_url=adopted_demo_db_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(f"already exists in user group {group}")


def test_filterconfigs_deactivate_an_inactive_one_stops(demo_db_url):
    """3.7 filterconfigs deactivate: "If already inactive: echo and stop" (exit 0, no 'y')."""
    (fc_id,) = _one(demo_db_url, "SELECT min(id) FROM filterconfig WHERE active")
    with psycopg.connect(demo_db_url) as conn:
        conn.execute("UPDATE filterconfig SET active = false WHERE id = %s", (fc_id,))
    result = run_cli("ella-filterconfigs", "deactivate", str(fc_id), "--reason", "r",
                     db_url=demo_db_url)
    assert result.returncode == 0, result.stderr
    assert "already inactive" in result.stdout
    assert "Type 'y'" not in result.stderr + result.stdout


def test_filterconfigs_update_reports_a_new_group_link(demo_db_url, tmp_path):
    """3.7 filterconfigs update: summary change "Added to usergroup" for a new link."""
    rows = []
    with psycopg.connect(demo_db_url) as conn:
        conn.execute("INSERT INTO usergroup (name, config) VALUES ('auditgroup', '{}')")
        name, filterconfig, requirements = conn.execute(
            "SELECT name, filterconfig, requirements FROM filterconfig WHERE active "
            "ORDER BY id LIMIT 1").fetchone()
        links = conn.execute(
            "SELECT ug.name, x.\"order\" FROM usergroupfilterconfig x JOIN usergroup ug "
            "ON ug.id = x.usergroup_id JOIN filterconfig f ON f.id = x.filterconfig_id "
            "WHERE f.name = %s AND f.active", (name,)).fetchall()
    rows.append({"name": name, "filterconfig": filterconfig, "requirements": requirements,
                 "usergroups": [{"name": g, "order": o} for g, o in links]
                 + [{"name": "auditgroup", "order": 3}]})
    path = tmp_path / "fc.json"
    path.write_text(json.dumps(rows))
    result = run_cli("ella-filterconfigs", "update", str(path), "--reason", "r",
                     db_url=demo_db_url)
    assert result.returncode == 0, result.stderr
    line = [ln for ln in result.stdout.splitlines() if "auditgroup" in ln]
    assert len(line) == 1 and line[0].rstrip().endswith("Added to usergroup"), result.stdout


@pytest.mark.parametrize("environ, user", [
    ({"LOGNAME": "a", "USER": "b", "LNAME": "c", "USERNAME": "d"}, "a"),
    ({"LOGNAME": "", "USER": "b", "LNAME": "c", "USERNAME": "d"}, "b"),
    ({"LOGNAME": "", "USER": "", "LNAME": "c", "USERNAME": "d"}, "c"),
    ({"LOGNAME": "", "USER": "", "LNAME": "", "USERNAME": "d"}, "d"),
])
def test_clilog_user_is_the_first_set_variable(db_url, environ, user):
    """1.1 LOGNAME/USER/LNAME/USERNAME and 3.2 clilog.user: first non-empty in that order."""
    result = run_cli("ella-broadcast", "new", "hello", db_url=db_url, env=environ)
    assert result.returncode == 0, result.stderr
    row = _one(db_url, 'SELECT "user", "group", groupcommand, command FROM clilog '
                       "ORDER BY id DESC LIMIT 1")
    assert row == (user, "broadcast", "new", "broadcast new hello")


def test_os_username_none_found_is_refused(monkeypatch):
    """3.2 item 1: no OS user => "Couldn't find your system username. ..." and nothing runs."""
    import getpass

    from ella.cli.common import CommandError, os_username

    def no_user():
        raise KeyError("getpwuid(): uid not found")
    monkeypatch.setattr(getpass, "getuser", no_user)
    with pytest.raises(CommandError, match="Couldn't find your system username"):
        os_username({})


def test_users_add_groups_defaults(demo_db_url, tmp_path):
    """3.5 users add_groups: `import_groups` default = the group itself; a default panel
    without version = the newest official version; `[name]` alone = all official versions."""
    with psycopg.connect(demo_db_url) as conn:
        (name,) = conn.execute(
            "SELECT name FROM genepanel WHERE official GROUP BY name "
            "ORDER BY count(*) DESC, name LIMIT 1").fetchone()
        versions = sorted(r[0] for r in conn.execute(
            "SELECT version FROM genepanel WHERE name = %s AND official", (name,)))
        (newest,) = conn.execute(
            "SELECT version FROM genepanel WHERE name = %s AND official "
            "ORDER BY date_created DESC, version DESC LIMIT 1", (name,)).fetchone()
    path = tmp_path / "groups.json"
    path.write_text(json.dumps([{"name": "auditgroup", "genepanels": [[name]],
                                 "default_import_genepanel": [name], "config": {}}]))
    result = run_cli("ella-users", "add_groups", str(path), db_url=demo_db_url)
    assert result.returncode == 0, result.stderr
    assert "Added user group auditgroup" in result.stdout
    with psycopg.connect(demo_db_url) as conn:
        (gid, dname, dversion) = conn.execute(
            "SELECT id, default_import_genepanel_name, default_import_genepanel_version "
            "FROM usergroup WHERE name = 'auditgroup'").fetchone()
        imports = [r[0] for r in conn.execute(
            "SELECT usergroupimport_id FROM usergroupimport WHERE usergroup_id = %s", (gid,))]
        panels = sorted(r[0] for r in conn.execute(
            "SELECT genepanel_version FROM usergroupgenepanel WHERE usergroup_id = %s", (gid,)))
    assert imports == [gid]
    assert (dname, dversion) == (name, newest)
    assert panels == versions
