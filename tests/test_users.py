"""User groups, users and passwords (`bin/ella-users`, ella.passwords) against a real PostgreSQL.

bcrypt at cost 12 takes a noticeable fraction of a second per hash, so the tests hash as
little as they can: generated passwords are checked for the policy without hashing, and each
test creates at most a couple of users.
"""

import json
import os
import re
import subprocess
import unicodedata
from datetime import datetime, timedelta, timezone

import bcrypt
import psycopg
import pytest

from ella.deposit.genepanel import deposit_genepanel, read_panel_files
from ella.deposit.users import parse_usergroups, read_json_list, add_groups
from ella.passwords import (FORCED_CHANGE_EXPIRY, PasswordPolicyError, check_password_strength,
                            generate_password, hash_password, password_expiry,
                            password_is_strong, password_was_used, set_password,
                            verify_password)
from helpers import AUTH, ROOT, query, run_cli, table_snapshot, without_clilog

DEMO_PANELS = ROOT / "genepanels" / "ella-demo"
DEMO_GROUPS = ROOT / "demo" / "usergroups.json"
DEMO_USERS = ROOT / "demo" / "users.json"
MASK = "*********"

# ------------------------------------------------------------------------------------------
# Fixtures and helpers

@pytest.fixture(scope="module")
def panels_template(pg_server, template_db):
    """Our schema plus the four demo gene panels, built once for this module."""
    name = pg_server.fresh_name("userspanels")
    url = pg_server.create(name, template=template_db)
    with psycopg.connect(url) as conn:
        for folder in sorted(DEMO_PANELS.iterdir()):
            if not folder.is_dir():
                continue
            panel_name, version = folder.name.split("_", 1)
            files = (folder / f"{folder.name}_genes_transcripts.tsv",
                     folder / f"{folder.name}_phenotypes.tsv")
            deposit_genepanel(conn, panel_name, version, read_panel_files(*files))
    yield name
    pg_server.drop(name)


@pytest.fixture
def panels_db_url(pg_server, panels_template):
    with pg_server.throwaway("users", panels_template) as url:
        yield url


@pytest.fixture
def groups_db_url(panels_db_url):
    """Panels plus the demo user groups (no users)."""
    with psycopg.connect(panels_db_url) as conn:
        add_groups(conn, parse_usergroups(str(DEMO_GROUPS), read_json_list(DEMO_GROUPS)))
    return panels_db_url


def users_cli(db_url, *args, stdin=None):
    return run_cli("ella-users", *args, db_url=db_url, stdin=stdin)


def ok(result):
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result.stdout


def one_line_error(result):
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    # Prompts (reason, confirmation) go to stderr before the error line.
    lines = [line for line in result.stderr.strip().splitlines()
             if not line.startswith(("Enter reason", "Are you sure"))]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]



def clilog(db_url):
    with psycopg.connect(db_url) as conn:
        return conn.execute('SELECT "user", "group", groupcommand, command, reason, output '
                            "FROM clilog ORDER BY id").fetchall()


def write_json(tmp_path, name, data):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


def demo_groups():
    return json.loads(DEMO_GROUPS.read_text())


def demo_users():
    return json.loads(DEMO_USERS.read_text())


def add_session(db_url, username, lastactivity):
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO usersession (user_id, token, issued, lastactivity, expires) "
            'SELECT id, md5(random()::text), %s, %s, %s FROM "user" WHERE username = %s',
            (lastactivity, lastactivity, lastactivity + timedelta(days=30), username))


def open_sessions(db_url, username):
    return query(db_url, 'SELECT count(*) FROM usersession s JOIN "user" u ON u.id = s.user_id '
                         "WHERE u.username = %s AND s.logged_out IS NULL", (username,))[0][0]


# ------------------------------------------------------------------------------------------
# ella.passwords (no database)

def test_hash_is_ellas_bcrypt_format_and_verifies():
    hashed = hash_password("Secret#99x")
    assert re.fullmatch(r"\$2b\$12\$[./A-Za-z0-9]{53}", hashed)
    assert bcrypt.checkpw(b"Secret#99x", hashed.encode())
    assert verify_password("Secret#99x", hashed)
    assert not verify_password("Secret#99y", hashed)
    assert not verify_password("Secret#99x", "not a hash")
    assert not verify_password("", hashed)


def test_strength_check_uses_re_match_and_counts_groups():
    assert password_is_strong("Abcdefg1", AUTH)
    assert password_is_strong("abcdefg1!", AUTH)
    assert not password_is_strong("abcdefgh1", AUTH)  # 2 groups only
    assert not password_is_strong("Ab1!", AUTH)       # too short
    ok_, problems = check_password_strength("short", AUTH)
    assert not ok_ and len(problems) == 2
    # re.match anchors at the start: a pattern without a leading .* only matches there.
    anchored = dict(AUTH, password_match_groups=["[A-Z]", ".*[0-9]"], password_num_match_groups=2)
    assert password_is_strong("A1xxxxxx", anchored)
    assert not password_is_strong("xA1xxxxx", anchored)


def test_generated_passwords_follow_ellas_recipe():
    seen = set()
    for _ in range(300):
        password = generate_password(AUTH)
        assert len(password) == 8
        assert not set(password) & set("0oOIli1/+")
        assert re.fullmatch(r"[A-Za-z0-9]{8}", password)  # base64 alphabet minus / and +
        assert password_is_strong(password, AUTH)
        seen.add(password)
    assert len(seen) > 290


def test_generated_passwords_meet_a_longer_minimum_and_all_four_groups():
    """A minimum over 8 (12 is a common site rule) made every one-time password impossible:
    no user could be added or have the password reset. Base64 without / and + has no
    special character, so a policy needing all four groups could not be met either."""
    for minimum in (9, 12, 72):
        password = generate_password(dict(AUTH, password_minimum_length=minimum))
        assert len(password) == minimum and not set(password) & set("0oOIli1/+")
    specials = set("!#$%&()*,-.:;<=>?@[]^_{|}~")
    for _ in range(20):
        password = generate_password(dict(AUTH, password_num_match_groups=4))
        assert len(password) == 8 and len(set(password) & specials) == 1
        assert password_is_strong(password, dict(AUTH, password_num_match_groups=4))
    # A site's own special characters (`[@$&]`), not only the usual ones.
    own = dict(AUTH, password_match_groups=[".*[A-Z].*", ".*[a-z].*", ".*[0-9].*",
                                            ".*[@$&].*"], password_num_match_groups=4)
    assert set(generate_password(own)) & set("@$&")


def test_generation_refuses_an_impossible_policy():
    with pytest.raises(PasswordPolicyError):
        generate_password(dict(AUTH, password_match_groups=[".*[ÆØÅ].*"],
                               password_num_match_groups=1))
    with pytest.raises(PasswordPolicyError, match="more than the 72 bytes"):
        generate_password(dict(AUTH, password_minimum_length=73))


def test_password_expiry_is_next_0200_utc_plus_days():
    afternoon = datetime(2024, 1, 31, 15, 30, tzinfo=timezone.utc)
    assert password_expiry(0, afternoon) == datetime(2024, 2, 1, 2, 0, tzinfo=timezone.utc)
    assert password_expiry(90, afternoon) == datetime(2024, 5, 1, 2, 0, tzinfo=timezone.utc)
    just_after_midnight = datetime(2024, 1, 31, 0, 30, tzinfo=timezone.utc)
    assert password_expiry(0, just_after_midnight) == datetime(2024, 2, 1, 2, 0,
                                                               tzinfo=timezone.utc)
    # A local time is taken in UTC: 2024-02-01 00:30 in UTC+2 is still 31 January in UTC.
    local = datetime(2024, 2, 1, 0, 30, tzinfo=timezone(timedelta(hours=2)))
    assert password_expiry(0, local) == datetime(2024, 2, 1, 2, 0, tzinfo=timezone.utc)
    assert FORCED_CHANGE_EXPIRY == datetime(1970, 1, 1, tzinfo=timezone.utc)


# ------------------------------------------------------------------------------------------
# Adopted ELLA database: its hashes and ours

def test_ella_stored_hash_verifies_and_set_password_keeps_history(demo_db_url):
    with psycopg.connect(demo_db_url) as conn:
        user_id, stored = conn.execute(
            'SELECT id, password FROM "user" WHERE username = %s', ("testuser1",)).fetchone()
        assert stored.startswith("$2b$12$")
        assert verify_password("Password#123", stored)
        assert not verify_password("Password#124", stored)

        conn.execute('UPDATE "user" SET incorrect_logins = 4 WHERE id = %s', (user_id,))
        assert conn.execute("SELECT count(*) FROM usersession WHERE user_id = %s "
                            "AND logged_out IS NULL", (user_id,)).fetchone()[0] == 1
        new_hash = hash_password("Newpass#456")
        expiry = password_expiry(90)
        set_password(conn, user_id, new_hash, expiry)
        conn.commit()

        row = conn.execute('SELECT password, password_expiry, incorrect_logins FROM "user" '
                           "WHERE id = %s", (user_id,)).fetchone()
        assert row == (new_hash, expiry, 0)
        # What ELLA would do with our hash: the plain bcrypt check.
        assert bcrypt.checkpw(b"Newpass#456", row[0].encode())
        old = conn.execute("SELECT password FROM useroldpassword WHERE user_id = %s",
                           (user_id,)).fetchall()
        assert (stored,) in old
        assert conn.execute("SELECT count(*) FROM usersession WHERE user_id = %s "
                            "AND logged_out IS NULL", (user_id,)).fetchone()[0] == 0
        assert password_was_used(conn, user_id, "Password#123")   # an old one
        assert not password_was_used(conn, user_id, "Other#789")


# ------------------------------------------------------------------------------------------
# add_groups

def test_add_groups_demo_file(panels_db_url):
    out = ok(users_cli(panels_db_url, "add_groups", str(DEMO_GROUPS)))
    assert out.splitlines() == ["Added user group testgroup01", "Added user group testgroup02",
                                "Added user group testgroup03"]
    links = query(panels_db_url,
                  "SELECT g.name, ugp.genepanel_name, ugp.genepanel_version "
                  "FROM usergroupgenepanel ugp JOIN usergroup g ON g.id = ugp.usergroup_id "
                  "ORDER BY 1, 2")
    assert links == [("testgroup01", "HBOC", "v01"), ("testgroup01", "HBOCUTV", "v01"),
                     ("testgroup02", "Ciliopati", "v05"), ("testgroup02", "Mendeliome", "v01"),
                     ("testgroup03", "Ciliopati", "v05"), ("testgroup03", "HBOC", "v01"),
                     ("testgroup03", "HBOCUTV", "v01"), ("testgroup03", "Mendeliome", "v01")]
    groups = query(panels_db_url, "SELECT name, default_import_genepanel_name, "
                                  "default_import_genepanel_version, config FROM usergroup "
                                  "ORDER BY name")
    assert [g[:3] for g in groups] == [("testgroup01", "HBOC", "v01"),
                                       ("testgroup02", "Mendeliome", "v01"),
                                       ("testgroup03", None, None)]
    acmg = groups[0][3]["acmg"]
    assert acmg["frequency"]["thresholds"]["AD"]["external"] == {"hi_freq_cutoff": 0.005,
                                                                 "lo_freq_cutoff": 0.001}
    assert acmg["frequency"]["thresholds"]["default"]["internal"] == {"hi_freq_cutoff": 0.05,
                                                                      "lo_freq_cutoff": 1.0}
    assert "deposit" not in groups[0][3]
    imports = query(panels_db_url,
                    "SELECT a.name, b.name FROM usergroupimport i "
                    "JOIN usergroup a ON a.id = i.usergroup_id "
                    "JOIN usergroup b ON b.id = i.usergroupimport_id ORDER BY 1, 2")
    assert imports == [("testgroup01", "testgroup01"), ("testgroup02", "testgroup02"),
                       ("testgroup02", "testgroup03"), ("testgroup03", "testgroup03")]
    log = clilog(panels_db_url)
    assert len(log) == 1
    assert log[0][1:4] == ("users", "add_groups", f"users add_groups {DEMO_GROUPS}")
    assert log[0][5] == out.strip()


def test_add_groups_update_keeps_unofficial_panels(groups_db_url, tmp_path):
    with psycopg.connect(groups_db_url) as conn:
        conn.execute("UPDATE genepanel SET official = false WHERE name = 'Ciliopati'")
    data = demo_groups()
    data[1]["genepanels"] = [["Mendeliome", "v01"]]
    data[1]["config"] = {"acmg": data[1]["config"]["acmg"], "overview": {"views": ["import"]}}
    data[1]["import_groups"] = ["testgroup01"]
    del data[1]["default_import_genepanel"]
    path = write_json(tmp_path, "groups.json", data)
    out = ok(users_cli(groups_db_url, "add-groups", path, "--name", "TESTGROUP02"))
    assert out.splitlines() == ["User group testgroup02 already exists, updating record..."]
    assert query(groups_db_url,
                 "SELECT genepanel_name FROM usergroupgenepanel ugp JOIN usergroup g "
                 "ON g.id = ugp.usergroup_id WHERE g.name = 'testgroup02' ORDER BY 1") == [
        ("Ciliopati",), ("Mendeliome",)]  # the unofficial one kept
    # Without the key the group keeps its own default panel, as ELLA's add_groups does (a
    # re-run of the lab's file as ELLA stored it emptied it).
    assert query(groups_db_url,
                 "SELECT config->'overview', default_import_genepanel_name FROM usergroup "
                 "WHERE name = 'testgroup02'") == [({"views": ["import"]}, "Mendeliome")]
    assert query(groups_db_url,
                 "SELECT b.name FROM usergroupimport i JOIN usergroup a ON a.id = i.usergroup_id "
                 "JOIN usergroup b ON b.id = i.usergroupimport_id WHERE a.name = 'testgroup02'"
                 ) == [("testgroup01",)]
    # ... unless the group no longer has that panel: no default it cannot use.
    data[1]["genepanels"] = []
    ok(users_cli(groups_db_url, "add-groups", write_json(tmp_path, "groups.json", data),
                 "--name", "testgroup02"))
    assert query(groups_db_url, "SELECT default_import_genepanel_name, "
                                "default_import_genepanel_version FROM usergroup "
                                "WHERE name = 'testgroup02'") == [(None, None)]


def test_add_groups_warns_of_unfinished_analyses_a_group_loses(demo_db_url, tmp_path):
    """A group sees an analysis through its panel version only: given only a new version,
    its unfinished analyses on the old one left its work lists without a word."""
    unfinished = query(demo_db_url, "SELECT count(*) FROM analysis a WHERE genepanel_name = "
                                    "'HBOC' AND EXISTS (SELECT 1 FROM analysisinterpretation ai "
                                    "WHERE ai.analysis_id = a.id AND ai.status <> 'Done')")[0][0]
    assert unfinished > 0
    with psycopg.connect(demo_db_url) as conn:  # a link twice (no unique key): counted once
        conn.execute("INSERT INTO usergroupgenepanel SELECT id, 'HBOC', 'v01' FROM usergroup "
                     "WHERE name = 'testgroup01'")
    path = write_json(tmp_path, "groups.json", [
        {"name": "testgroup01", "genepanels": [["HBOCUTV", "v01"]]}])
    warning = (f"Warning: user group testgroup01 no longer has gene panel HBOC v01: "
               f"{unfinished} unfinished analyses on it (not started or in work) leave the "
               "group's work lists; give the group that version too to keep them")
    assert ok(users_cli(demo_db_url, "add_groups", path, "-dry")).splitlines() == [
        warning, "Would update group 'testgroup01'"]
    assert ok(users_cli(demo_db_url, "add_groups", path)).splitlines() == [
        warning, "User group testgroup01 already exists, updating record..."]
    # Given back, nothing is lost: no warning.
    path = write_json(tmp_path, "groups.json", [
        {"name": "testgroup01", "genepanels": [["HBOCUTV", "v01"], ["HBOC", "v01"]]}])
    assert ok(users_cli(demo_db_url, "add_groups", path)).splitlines() == [
        "User group testgroup01 already exists, updating record..."]


def test_add_groups_dry_run_changes_nothing(panels_db_url):
    before = table_snapshot(panels_db_url)
    out = ok(users_cli(panels_db_url, "add_groups", str(DEMO_GROUPS), "-dry", "--name",
                       "testgroup01", "--name", "TestGroup03"))
    assert out.splitlines() == ["Would add group 'testgroup01'", "Would add group 'testgroup03'"]
    assert without_clilog(table_snapshot(panels_db_url)) == without_clilog(before)
    ok(users_cli(panels_db_url, "add_groups", str(DEMO_GROUPS), "--dry-run"))
    assert without_clilog(table_snapshot(panels_db_url)) == without_clilog(before)
    # A group that exists would be updated, and the dry run says so.
    ok(users_cli(panels_db_url, "add_groups", str(DEMO_GROUPS), "--name", "testgroup01"))
    out = ok(users_cli(panels_db_url, "add_groups", str(DEMO_GROUPS), "-dry", "--name",
                       "testgroup01", "--name", "testgroup03"))
    assert out.splitlines() == ["Would update group 'testgroup01'",
                                "Would add group 'testgroup03'"]


def _without_acmg_ad_thresholds(groups):
    data = json.loads(json.dumps(groups))
    del data[2]["config"]["acmg"]["frequency"]["thresholds"]["AD"]
    return data


def _bad_group_files():
    good = demo_groups()

    def changed(index, **fields):
        data = json.loads(json.dumps(good))
        for key, value in fields.items():
            if value is None:
                del data[index][key]
            else:
                data[index][key] = value
        return data

    missing_column = json.loads(json.dumps(good))
    missing_column[2]["config"]["acmg"]["frequency"]["groups"]["external"]["GNOMAD_GENOMES"] \
        .append("XYZ")
    return [
        ("not json", "[{", "invalid JSON"),
        ("nul", '[{"name": "a\\u0000b", "genepanels": [], "config": {}}]',
         "entry 1: name contains a NUL character"),
        ("deep", "[" * 100000, "nested too deeply (at most 100 levels)"),
        # Python's int() refuses over 4,300 digits: it was a traceback.
        ("long number", f'[{{"name": {"1" * 5000}}}]', "a number is too long to read"),
        ("not a list", {"name": "x"}, "expected a JSON list"),
        ("unknown panel", changed(1, genepanels=[["Mendeliome", "v02"]]),
         "entry 2 ('testgroup02'): gene panel Mendeliome v02 does not exist"),
        ("unknown panel name", changed(0, genepanels=[["NoSuchPanel"]]),
         "entry 1 ('testgroup01'): no official gene panel named 'NoSuchPanel'"),
        ("missing field", changed(2, genepanels=None),
         "entry 3 ('testgroup03'): missing field(s) genepanels"),
        ("bad panel ref", changed(0, genepanels=[["HBOC", "v01", "x"]]), "entry 1"),
        ("unknown import group", changed(2, import_groups=["nobody"]),
         "entry 3 ('testgroup03'): import_groups: no user group named 'nobody'"),
        ("default not in panels", changed(0, default_import_genepanel=["Mendeliome", "v01"]),
         "entry 1 ('testgroup01'): default_import_genepanel Mendeliome v01 is not among"),
        ("unknown field", changed(0, genepanel=["x"]), "unknown field(s) genepanel"),
        ("acmg column", missing_column, "GNOMAD_GENOMES.XYZ"),
        # A deposit entry that would make every later import of the group's panels fail.
        # A config that broke the merged user config of every user of the group (a 500).
        ("config key", changed(0, config={"not_a_config_key": 1}),
         "entry 1 ('testgroup01'): config: unknown key(s) not_a_config_key (allowed: "),
        ("config workflows", changed(0, config={"workflows": "oops"}),
         "entry 1 ('testgroup01'): config: workflows: 'oops' is not of type 'object'"),
        ("config acmg", changed(0, config={"acmg": []}), "config: acmg must be an object"),
        # An ACMG config without cutoffs for AD genes would find every variant of them
        # "absent from controls" (PPxPM2).
        ("acmg thresholds", _without_acmg_ad_thresholds(good),
         "entry 3 ('testgroup03'): config: acmg.frequency.thresholds.AD must be an object"),
        ("deposit regex", changed(0, config={"deposit": {"analysis": [{"pattern": "("}]}}),
         "entry 1 ('testgroup01'): config.deposit.analysis[0]: pattern '(' is not a valid "
         "regex"),
        ("deposit postprocess", changed(0, config={"deposit": {"analysis": [
            {"pattern": ".*", "postprocess": ["nope"]}]}}),
         "config.deposit.analysis[0]: Invalid postprocess method 'nope'"),
        # A name that is a list was a TypeError traceback (unhashable), here and at deposit.
        ("deposit postprocess list", changed(0, config={"deposit": {"analysis": [
            {"pattern": ".*", "postprocess": [["analysis_tag_all_classified"]]}]}}),
         "config.deposit.analysis[0]: Invalid postprocess method "
         "['analysis_tag_all_classified']"),
        # Stored unchecked and served to every user of the group (their editors broke).
        ("comment template item", changed(0, config={"comment_templates": [1, "x"]}),
         "entry 1 ('testgroup01'): config: comment_templates[0] must be an object {name, "
         "template, comment_fields}"),
        ("comment template field", changed(0, config={"comment_templates": [
            {"name": "n", "template": None, "comment_fields": []}]}),
         "config: comment_templates[0].template must be a string"),
        ("comment template fields", changed(0, config={"comment_templates": [
            {"name": "n", "template": "t", "comment_fields": "workLogMessage"}]}),
         "config: comment_templates[0].comment_fields must be a list of strings"),
        ("deposit prefilter", changed(0, config={"deposit": {"analysis": [
            {"pattern": ".*", "prefilters": [["nope"]]}]}}),
         "config.deposit.analysis[0]: unknown prefilter 'nope'"),
        # Keys no deposit reads: stored as written, and every matching analysis went without
        # its post-processing (or prefiltering), unsaid.
        ("deposit misspelt key", changed(0, config={"deposit": {"analysis": [
            {"pattern": ".*", "postproces": ["analysis_finalize_without_findings"]}]}}),
         "entry 1 ('testgroup01'): config.deposit.analysis[0]: unknown key 'postproces'; an "
         "entry has 'pattern', 'prefilters', 'postprocess'"),
        ("deposit prefilter sets misnamed", changed(0, config={"deposit": {"analysis": [
            {"pattern": ".*", "prefilter": [["hi_frequency"]]}]}}),
         "config.deposit.analysis[0]: unknown key 'prefilter' (prefilter sets are "
         "'prefilters', a list of lists of criteria); an entry has"),
        ("deposit unknown key", changed(0, config={"deposit": {"analysis": [],
                                                              "analyses": []}}),
         "entry 1 ('testgroup01'): config.deposit has no key 'analyses' (only 'analysis', a "
         "list of entries)"),
        ("deposit entry", changed(0, config={"deposit": {"analysis": ["x"]}}),
         "config.deposit.analysis[0] must be an object with a 'pattern'"),
        ("deposit list", changed(0, config={"deposit": [{"pattern": ".*"}]}),
         "entry 1 ('testgroup01'): config.deposit must be an object"),
        # Two groups no list tells apart (the `--name`/`--group` filters ignore case).
        ("twins", good + [dict(good[0], name="TestGroup01")],
         "entry 4 ('TestGroup01'): group 'TestGroup01' looks like the group 'testgroup01' "
         "(names differing only in case or Unicode form count as one)"),
        ("invisible", changed(0, name="test\u200bgroup01"),
         "entry 1 ('test\\u200bgroup01'): group name 'test\\u200bgroup01' has a control or "
         "invisible character"),
    ]


def test_null_comment_templates_and_deposit_mean_none(groups_db_url, tmp_path):
    """config-cli-ops.md 7.3: both may be null (no templates, no import rules); a group file
    of an ELLA deployment with such nulls was refused."""
    data = [dict(demo_groups()[0], config={"comment_templates": None, "deposit": None})]
    ok(users_cli(groups_db_url, "add_groups", write_json(tmp_path, "groups.json", data)))
    with psycopg.connect(groups_db_url) as conn:
        assert conn.execute("SELECT config FROM usergroup WHERE name = 'testgroup01'"
                            ).fetchone()[0] == {"comment_templates": None, "deposit": None}
    # A template's keys beyond the three the UI reads are the site's own.
    template = {"name": "n", "template": "<p>t</p>", "comment_fields": ["workLogMessage"],
                "author": "lab"}
    data = [dict(demo_groups()[0], config={"comment_templates": [template]})]
    ok(users_cli(groups_db_url, "add_groups", write_json(tmp_path, "groups.json", data)))


def test_ellas_own_prefilter_true_loads_with_a_warning(groups_db_url, tmp_path):
    """ELLA's demo groups hold `"prefilter": true` (the name in its documentation; its code
    reads `prefilters`): such a group file of an ELLA site loads, and the operator is told
    the entry prefilters nothing."""
    entry = {"pattern": "^HG002", "prefilter": True, "postprocess": []}
    data = [dict(demo_groups()[0], config={"deposit": {"analysis": [entry]}})]
    path = write_json(tmp_path, "groups.json", data)
    warning = (f"Warning: {path}: entry 1 ('testgroup01'): config.deposit.analysis[0]: "
               "'prefilter' is not read (neither by ELLA): this entry prefilters nothing; "
               "prefilter sets are given as 'prefilters', a list of lists of criteria")
    out = ok(users_cli(groups_db_url, "add_groups", path))
    assert out.splitlines() == [warning,
                                "User group testgroup01 already exists, updating record..."]
    with psycopg.connect(groups_db_url) as conn:
        assert conn.execute("SELECT config FROM usergroup WHERE name = 'testgroup01'"
                            ).fetchone()[0] == {"deposit": {"analysis": [entry]}}


def test_a_group_that_looks_like_an_existing_one_is_refused(groups_db_url, tmp_path):
    """`LAB` beside `Lab`: created as another group with panels of its own."""
    before = without_clilog(table_snapshot(groups_db_url))
    data = [dict(demo_groups()[0], name="TESTGROUP01")]
    path = write_json(tmp_path, "groups.json", data)
    assert one_line_error(users_cli(groups_db_url, "add_groups", path)).endswith(
        "entry 1 ('TESTGROUP01'): group 'TESTGROUP01' looks like the group 'testgroup01' "
        "(names differing only in case or Unicode form count as one)")
    assert without_clilog(table_snapshot(groups_db_url)) == before


def test_existing_groups_are_updated_whatever_their_names_look_like(groups_db_url, tmp_path):
    """The name rules are for new groups: an adopted database's `Lab` beside `LAB`, or a name
    with a soft hyphen, is still kept up to date from the lab's file."""
    with psycopg.connect(groups_db_url) as conn:
        for name in ("Lab", "LAB", "Ge\u00adnetics"):
            conn.execute("INSERT INTO usergroup (name, config) VALUES (%s, '{}')", (name,))
    data = [dict(demo_groups()[0], name=name, import_groups=None)
            for name in ("Lab", "LAB", "Ge\u00adnetics")]
    path = write_json(tmp_path, "groups.json", data)
    out = ok(users_cli(groups_db_url, "add_groups", path))
    assert out.count("already exists, updating record...") == 3, out
    assert query(groups_db_url, "SELECT count(*) FROM usergroupgenepanel ugp JOIN usergroup g "
                                "ON g.id = ugp.usergroup_id WHERE g.name = 'LAB'") == [(2,)]


def test_a_users_file_may_name_a_group_in_another_unicode_form(groups_db_url, tmp_path):
    """A users file saved on a Mac writes `Å` decomposed (A and a combining ring): its group
    was not found ("no user group named 'Genetikk Ålesund'", the name `list` shows), a new
    group of that spelling is refused as a look-alike, and `--group` in that form selected
    nobody and exited 0."""
    composed, decomposed = "Genetikk \u00c5lesund", "Genetikk A\u030alesund"
    with psycopg.connect(groups_db_url) as conn:
        conn.execute("INSERT INTO usergroup (name, config) VALUES (%s, '{}')", (composed,))
    user = dict(demo_users()[0], username="kari", group=decomposed)
    path = write_json(tmp_path, "users.json", [user])
    ok(users_cli(groups_db_url, "add_many", path, "--group", decomposed.upper()))
    assert query(groups_db_url, 'SELECT g.name FROM "user" u JOIN usergroup g '
                                "ON g.id = u.group_id WHERE u.username = 'kari'") == [(composed,)]
    # Two groups of one look (an adopted database's): the name must be exact.
    with psycopg.connect(groups_db_url) as conn:
        conn.execute("INSERT INTO usergroup (name, config) VALUES (%s, '{}')",
                     ("GENETIKK \u00c5LESUND",))
    path = write_json(tmp_path, "users2.json", [dict(user, username="per",
                                                     group="genetikk \u00e5lesund")])
    assert "could be any of" in one_line_error(users_cli(groups_db_url, "add_many", path))


def test_a_new_group_from_a_mac_file_is_stored_in_nfc_and_found_as_typed(groups_db_url,
                                                                         tmp_path):
    """Stored as the file wrote it (`A` and a combining ring), the group was missed by the
    tools given the name typed on a PC: `ella-users list --group`, `ella-filterconfigs list
    --usergroup`, `ella-deposit append_genepanel_to_usergroup`."""
    composed, decomposed = "Genetikk \u00c5lesund", "Genetikk A\u030alesund"
    data = [dict(demo_groups()[0], name=decomposed, import_groups=None)]
    ok(users_cli(groups_db_url, "add_groups", write_json(tmp_path, "groups.json", data)))
    assert query(groups_db_url, "SELECT name FROM usergroup WHERE name ^@ 'Genetikk'") == [
        (composed,)]
    user = dict(demo_users()[0], username="kari", group=composed)
    ok(users_cli(groups_db_url, "add_many", write_json(tmp_path, "users.json", [user])))
    for typed in (composed, decomposed):
        listed = ok(users_cli(groups_db_url, "list", "--group", typed)).splitlines()
        assert [line.split()[1] for line in listed[1:]] == ["kari"], typed
    # One stored before in NFD (an adopted database): found in either form, case still exact.
    with psycopg.connect(groups_db_url) as conn:
        conn.execute("UPDATE usergroup SET name = %s WHERE name = %s", (decomposed, composed))
    appended = run_cli("ella-deposit", "append_genepanel_to_usergroup", "Mendeliome", "v01",
                       composed, db_url=groups_db_url)
    assert appended.returncode == 0, appended.stderr
    assert query(groups_db_url, "SELECT count(*) FROM usergroupgenepanel p JOIN usergroup g "
                                "ON g.id = p.usergroup_id WHERE g.name = %s AND "
                                "p.genepanel_name = 'Mendeliome'", (decomposed,)) == [(1,)]
    refused = run_cli("ella-deposit", "append_genepanel_to_usergroup", "Mendeliome", "v01",
                      composed.upper(), db_url=groups_db_url)
    assert refused.returncode == 1
    assert refused.stderr.strip().endswith(f"User group {composed.upper()} does not exist")


def test_a_groups_file_may_name_a_group_in_another_unicode_form(groups_db_url, tmp_path):
    """A groups file saved on a Mac (decomposed `Å`) was refused as a look-alike of its own
    group (and its import_groups naming the group so were not found): it is the same text,
    and the group is updated. Case still tells groups apart."""
    composed, decomposed = "Genetikk \u00c5lesund", "Genetikk A\u030alesund"
    with psycopg.connect(groups_db_url) as conn:
        conn.execute("INSERT INTO usergroup (name, config) VALUES (%s, '{}')", (composed,))
    data = [dict(demo_groups()[0], name=decomposed, import_groups=[decomposed]),
            dict(demo_groups()[0], name="testgroup01", import_groups=[decomposed])]
    out = ok(users_cli(groups_db_url, "add_groups", write_json(tmp_path, "groups.json", data)))
    assert out.count("already exists, updating record...") == 2, out
    assert query(groups_db_url, "SELECT name FROM usergroup WHERE name ^@ 'Genetikk'") == [
        (composed,)]
    assert query(groups_db_url, "SELECT g.name, t.name FROM usergroupimport i JOIN usergroup g "
                                "ON g.id = i.usergroup_id JOIN usergroup t "
                                "ON t.id = i.usergroupimport_id WHERE g.name = ANY(%s) "
                                "ORDER BY 1", ([composed, "testgroup01"],)) == [
        (composed, composed), ("testgroup01", composed)]
    # Stored in both forms (an adopted database): the file must name one exactly.
    with psycopg.connect(groups_db_url) as conn:
        conn.execute("INSERT INTO usergroup (name, config) VALUES (%s, '{}')", (decomposed,))
    data = [dict(demo_groups()[0], name="testgroup01", import_groups=["Genetikk \u212blesund"])]
    assert "could be any of" in one_line_error(
        users_cli(groups_db_url, "add_groups", write_json(tmp_path, "groups2.json", data)))
    # One group twice in a file, in two forms: the second entry overwrote the first's panels.
    new = [dict(demo_groups()[0], name="Genetikk Molde", import_groups=None),
           dict(demo_groups()[1], name=unicodedata.normalize("NFD", "Genetikk Molde\u00e5"),
                import_groups=None),
           dict(demo_groups()[1], name="Genetikk Molde\u00e5", import_groups=None)]
    assert one_line_error(users_cli(groups_db_url, "add_groups", write_json(
        tmp_path, "groups3.json", new))).endswith(
            "entry 3 ('Genetikk Molde\u00e5'): group 'Genetikk Molde\u00e5' appears twice in "
            "the file")


def test_add_groups_bad_inputs_write_nothing(panels_db_url, tmp_path):
    before = without_clilog(table_snapshot(panels_db_url))
    missing = str(tmp_path / "absent.json")
    for command in ("add_groups", "add_many"):  # a usage error (exit 2), as in every tool
        result = users_cli(panels_db_url, command, missing)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert f"{command}: FILE {missing!r}" in result.stderr
    for label, data, expected in _bad_group_files():
        path = write_json(tmp_path, f"{label.replace(' ', '_')}.json", data)
        message = one_line_error(users_cli(panels_db_url, "add_groups", path))
        assert path in message, (label, message)
        assert expected in message, (label, message)
        assert without_clilog(table_snapshot(panels_db_url)) == before, label
    # Every failed run is still audited, with the error text (a usage error is no run).
    log = clilog(panels_db_url)
    assert len(log) == len(_bad_group_files())
    assert _bad_group_files()[-1][2] in log[-1][5]


# ------------------------------------------------------------------------------------------
# add_many

def test_add_many_new_user_gets_masked_expired_one_time_password(groups_db_url):
    out = ok(users_cli(groups_db_url, "add_many", str(DEMO_USERS), "--group", "TESTGROUP02"))
    lines = out.splitlines()
    assert lines[-1] == "Users added successfully"
    match = re.fullmatch(r"Added user testuser3 \(Demo Person, Cleo, testuser3@example\.org\) "
                         r"with password (\S+)", lines[0])
    assert match, lines
    password = match.group(1)
    assert password_is_strong(password, AUTH) and len(password) == 8
    row = query(groups_db_url,
                'SELECT u.password, u.password_expiry, u.active, u.incorrect_logins, u.config, '
                'g.name FROM "user" u JOIN usergroup g ON g.id = u.group_id')
    assert len(row) == 1
    stored, expiry, active, incorrect, config, group = row[0]
    assert stored.startswith("$2b$12$") and verify_password(password, stored)
    assert (expiry, active, incorrect, config, group) == (FORCED_CHANGE_EXPIRY, True, 0, {},
                                                          "testgroup02")
    log = clilog(groups_db_url)[-1]
    assert log[2] == "add_many"
    assert password not in log[5]
    assert f"with password {MASK}" in log[5]
    assert log[5].endswith("Users added successfully")


def test_add_many_updates_existing_users_with_a_diff(groups_db_url, tmp_path):
    users = demo_users()[2:3]
    path = write_json(tmp_path, "users.json", users)
    ok(users_cli(groups_db_url, "add_many", path))
    before_hash = query(groups_db_url, 'SELECT password FROM "user"')[0][0]
    users[0].update(last_name="Renamed", group="testgroup01", active=False)
    write_json(tmp_path, "users.json", users)
    out = ok(users_cli(groups_db_url, "add-many", path))
    assert out.splitlines() == ["Modified user testuser3:",
                                "last_name: Demo Person ---> Renamed",
                                "group: testgroup02 ---> testgroup01",
                                "active: True ---> False",
                                "Users added successfully"]
    assert query(groups_db_url, 'SELECT u.last_name, g.name, u.active, u.password FROM "user" u '
                                "JOIN usergroup g ON g.id = u.group_id") == [
        ("Renamed", "testgroup01", False, before_hash)]
    out = ok(users_cli(groups_db_url, "add_many", path))
    assert out.splitlines()[0] == "No modifications made to user testuser3"


def test_a_group_named_in_another_case_is_no_change(groups_db_url, tmp_path):
    """The group is found whatever its case, but compared as written: every run of the same
    file said "group: testgroup02 ---> TESTGROUP02", and so did `modify`."""
    users = demo_users()[2:3]
    users[0]["group"] = "TESTGROUP02"
    path = write_json(tmp_path, "users.json", users)
    ok(users_cli(groups_db_url, "add_many", path))
    before = without_clilog(table_snapshot(groups_db_url))
    out = ok(users_cli(groups_db_url, "add_many", path))
    assert out.splitlines()[0] == "No modifications made to user testuser3"
    out = ok(users_cli(groups_db_url, "modify", "testuser3", "--user_group", "TestGroup02",
                       stdin="y\n"))
    assert out.splitlines()[0] == "No modifications made to user testuser3"
    assert without_clilog(table_snapshot(groups_db_url)) == before
    # A change to another group is said with the group's stored name.
    out = ok(users_cli(groups_db_url, "modify", "testuser3", "--user_group", "TESTGROUP01",
                       stdin="y\n"))
    assert out.splitlines()[0] == "group: testgroup02 ---> testgroup01"


def test_add_many_without_users_in_the_group_says_so_and_nothing_else(groups_db_url):
    before = without_clilog(table_snapshot(groups_db_url))
    out = ok(users_cli(groups_db_url, "add_many", str(DEMO_USERS), "--group", "nosuchgroup"))
    assert out.splitlines() == ["No users to add in group(s) nosuchgroup"]
    assert without_clilog(table_snapshot(groups_db_url)) == before
    assert clilog(groups_db_url)[-1][5].endswith("No users to add in group(s) nosuchgroup")


def test_add_many_dry_run_rolls_back(groups_db_url):
    before = table_snapshot(groups_db_url)
    out = ok(users_cli(groups_db_url, "add_many", str(DEMO_USERS), "-dry", "--group",
                       "testgroup03"))
    assert out.splitlines()[0].startswith("Added user testuser4 (Placeholder, Dag, ")
    assert out.splitlines()[-1] == "!!! DRY RUN: Rolling back changes"
    assert without_clilog(table_snapshot(groups_db_url)) == without_clilog(before)
    assert MASK in clilog(groups_db_url)[-1][5]


def test_the_first_user_after_a_dry_run_gets_id_1(groups_db_url):
    """ELLA's finalize-without-findings post-processor finalizes as user id 1; a `-dry` run
    (or a failed one) on a new database had used that id up, so every such deposit failed."""
    ok(users_cli(groups_db_url, "add_many", str(DEMO_USERS), "-dry", "--group", "testgroup03"))
    ok(users_cli(groups_db_url, "add_many", str(DEMO_USERS), "--group", "testgroup03"))
    assert query(groups_db_url, 'SELECT min(id) FROM "user"') == [(1,)]
    # Not once users exist: ids are never handed out twice.
    ok(users_cli(groups_db_url, "add_many", str(DEMO_USERS), "-dry", "--group", "testgroup02"))
    ok(users_cli(groups_db_url, "add_many", str(DEMO_USERS), "--group", "testgroup02"))
    ids = [row[0] for row in query(groups_db_url, 'SELECT id FROM "user" ORDER BY id')]
    assert len(ids) == len(set(ids)) and ids[0] == 1


def _group_acmg():
    """The first demo group's complete ACMG config."""
    return json.loads(json.dumps(demo_groups()[0]["config"]["acmg"]))


def _acmg_reading(provider, key):
    acmg = _group_acmg()
    acmg["frequency"]["groups"]["external"].setdefault(provider, []).append(key)
    return acmg


GOOD_HASH = bcrypt.hashpw(b"Secret-pass1", bcrypt.gensalt(4)).decode()  # $2b$04$...


def test_add_many_takes_a_hash_at_any_cost_logins_can_afford(groups_db_url, tmp_path):
    """(An existing user's hash from the file is stored; a new user gets a one-time
    password.)"""
    user = {k: v for k, v in demo_users()[0].items() if k != "password"}
    ok(users_cli(groups_db_url, "add_many", write_json(tmp_path, "new.json", [user])))
    user["password"] = "$2a$14$" + GOOD_HASH[7:]
    ok(users_cli(groups_db_url, "add_many", write_json(tmp_path, "u.json", [user])))
    assert query(groups_db_url, 'SELECT password FROM "user"') == [(user["password"],)]


def test_add_many_bad_inputs_write_nothing(groups_db_url, tmp_path):
    before = without_clilog(table_snapshot(groups_db_url))
    one = demo_users()[0]
    cases = [
        ("broken", '[{"username": ', "invalid JSON"),
        ("no_group", [{k: v for k, v in one.items() if k != "group"}],
         "entry 1 ('testuser1'): missing field(s) group"),
        ("unknown_group", [dict(one, group="nogroup")],
         "entry 1 ('testuser1'): no user group named 'nogroup'"),
        # The second entry fails after the first was inserted: all rolled back.
        ("second_bad", [one, dict(demo_users()[1], group="nogroup")],
         "entry 2 ('testuser2'): no user group named 'nogroup'"),
        ("plain_password", [dict(one, password="Password#123")], "must be a bcrypt hash"),
        # A line break split the command's output and `list`'s rows.
        ("email_newline", [dict(one, email="a@b\nc")],
         "entry 1 ('testuser1'): email 'a@b\\nc' has a control character (a line break, a "
         "tab)"),
        ("name_tab", [dict(one, last_name="Nord\tmann")],
         "entry 1 ('testuser1'): last_name 'Nord\\tmann' has a control character"),
        # A cost beyond ELLA's 12 makes every login attempt of the user take minutes to
        # hours of a worker (before any lockout); a hash bcrypt cannot read never verifies.
        *[(f"hash_{name}", [dict(one, password=prefix + GOOD_HASH[7:])], "must be a bcrypt hash")
          for name, prefix in (("cost31", "$2b$31$"), ("cost15", "$2b$15$"),
                               ("cost03", "$2b$03$"), ("prefix2", "$2$04$"),
                               ("prefix2x", "$2x$04$"))],
        # A salt whose last character is none bcrypt writes (`.Oeu`): bcrypt refuses it.
        ("hash_salt", [dict(one, password=GOOD_HASH[:28]
                            + ("z" if GOOD_HASH[28] != "z" else "A") + GOOD_HASH[29:])],
         "must be a bcrypt hash"),
        # A user's own config replaces the group's keys: it may not break the merged config.
        ("user_config", [dict(one, config={"workflows": "oops"})],
         "entry 1 ('testuser1'): config: workflows: 'oops' is not of type 'object'"),
        ("user_config_key", [dict(one, config={"nope": 1})],
         "entry 1 ('testuser1'): config: unknown key(s) nope"),
        ("user_acmg", [dict(one, config={"acmg": {"disease_mode": "LOF",
                                                  "last_exon_important": "LEI"}})],
         "entry 1 ('testuser1'): config: acmg.frequency.groups and acmg.frequency.thresholds "
         "are missing"),
        # Checked as a group's: a column the database lacks made every suggestion a 500,
        # and a disease_mode the rules do not know took PVS1 away.
        ("user_acmg_column", [dict(one, config={"acmg": _acmg_reading("GNOMAD_GENOMES", "XYZ")})],
         "entry 1 ('testuser1'): config.acmg.frequency uses frequency columns that are not in "
         "the database: GNOMAD_GENOMES.XYZ"),
        ("user_acmg_mode", [dict(one, config={"acmg": dict(_group_acmg(),
                                                           disease_mode="LOFF")})],
         "entry 1 ('testuser1'): config: acmg.disease_mode is 'LOFF'; it must be one of ANY, "
         "LOF, MISS, MISSCOMM, MISSUNC (or a list of them)"),
        # A gene override's inheritance the rules do not test: REQ_GP_AD and BS1 went quietly.
        ("user_acmg_inheritance", [dict(one, config={"acmg": dict(
            _group_acmg(), genes={"1101": {"inheritance": "ad"}})})],
         "entry 1 ('testuser1'): config: acmg.genes.1101.inheritance is 'ad'; it must be one "
         "of AD, AR, XD, XR (or null)"),
        # A user's `deposit` as a group's: one that could never run was stored and served
        # by GET config/ as the user's.
        ("user_deposit_regex", [dict(one, config={"deposit": {"analysis": [
            {"pattern": "[a-", "postprocess": []}]}})], "pattern '[a-' is not a valid regex"),
        # Matched against every analysis name: `(a+)+$` on forty a's and a b ran for hours,
        # and held the watcher with it.
        ("user_deposit_backtracking", [dict(one, config={"deposit": {"analysis": [
            {"pattern": "(a+)+$", "postprocess": []}]}})],
         "pattern '(a+)+$' repeats a repetition (as in `(a+)+`)"),
        ("user_deposit_postprocess", [dict(one, config={"deposit": {"analysis": [
            {"pattern": ".*", "postprocess": ["nosuch"]}]}})], "nosuch"),
        ("duplicate", [one, one], "appears twice"),
    ]
    for name, data, expected in cases:
        path = write_json(tmp_path, f"{name}.json", data)
        message = one_line_error(users_cli(groups_db_url, "add_many", path))
        assert path in message and expected in message, (name, message)
        assert without_clilog(table_snapshot(groups_db_url)) == before, name
    # The audit row of the failed run keeps no password of the rolled-back first user.
    assert all("with password *********" in row[5] or "with password" not in row[5]
               for row in clilog(groups_db_url))


# ------------------------------------------------------------------------------------------
# reset_password, lock, activate (on the real ELLA database)

def test_reset_password_unlocks_expires_and_logs_out(demo_db_url):
    with psycopg.connect(demo_db_url) as conn:
        old_hash = conn.execute('UPDATE "user" SET incorrect_logins = 6 '
                                "WHERE username = 'testuser1' RETURNING password").fetchone()[0]
    assert open_sessions(demo_db_url, "testuser1") == 1
    out = ok(users_cli(demo_db_url, "reset-password", "testuser1"))
    match = re.fullmatch(r"Reset password for user testuser1 \(Ibsen, Henrik\) with password "
                         r"(\S+)\n", out)
    assert match, out
    password = match.group(1)
    assert password_is_strong(password, AUTH)
    stored, expiry, incorrect = query(demo_db_url,
                                      'SELECT password, password_expiry, incorrect_logins '
                                      "FROM \"user\" WHERE username = 'testuser1'")[0]
    assert verify_password(password, stored) and stored.startswith("$2b$12$")
    assert (expiry, incorrect) == (FORCED_CHANGE_EXPIRY, 0)
    assert open_sessions(demo_db_url, "testuser1") == 0
    assert (old_hash,) in query(demo_db_url, "SELECT password FROM useroldpassword")
    log = clilog(demo_db_url)[-1]
    assert log[1:4] == ("users", "reset_password", "users reset-password testuser1")
    assert log[5] == f"Reset password for user testuser1 (Ibsen, Henrik) with password {MASK}"

    before = without_clilog(table_snapshot(demo_db_url))
    assert "'nobody'" in one_line_error(users_cli(demo_db_url, "reset_password", "nobody"))
    assert without_clilog(table_snapshot(demo_db_url)) == before


def test_a_reset_leaves_the_logout_time_of_closed_sessions_as_it_was(demo_db_url):
    """Only open sessions are closed: the logout time of one closed before is part of the
    user's activity record and stays (the mutant audit's update without `logged_out IS
    NULL` rewrote every one)."""
    with psycopg.connect(demo_db_url) as conn:
        closed = conn.execute(
            "INSERT INTO usersession (user_id, token, issued, lastactivity, expires, "
            "logged_out) SELECT id, 'closed-before', '2020-01-01', '2020-01-01', "
            "'2020-02-01', '2020-01-02 10:00+00' FROM \"user\" WHERE username = 'testuser1' "
            "RETURNING id, logged_out").fetchone()
    assert open_sessions(demo_db_url, "testuser1") == 1
    ok(users_cli(demo_db_url, "reset-password", "testuser1"))
    assert open_sessions(demo_db_url, "testuser1") == 0
    assert query(demo_db_url, "SELECT id, logged_out FROM usersession WHERE id = %s",
                 (closed[0],)) == [closed]


def test_a_name_stored_in_another_unicode_form_is_found_as_login_finds_it(demo_db_url,
                                                                          tmp_path):
    """An adopted database's `Åse` stored decomposed logs in typed precomposed, and a
    lockout names it so: `reset_password` with that name answered "no user named"."""
    with psycopg.connect(demo_db_url) as conn:
        conn.execute('UPDATE "user" SET username = %s, incorrect_logins = 6 '
                     "WHERE username = 'testuser1'", ("A\u030ase",))
    out = ok(users_cli(demo_db_url, "reset_password", "\u00c5se"))
    # (Named as stored: support sees which account it was.)
    assert out.startswith("Reset password for user A\u030ase (Ibsen, Henrik) with password ")
    assert query(demo_db_url, 'SELECT incorrect_logins FROM "user" WHERE username = %s',
                 ("A\u030ase",)) == [(0,)]
    # `list --username` and an `add_many` entry too (add_many took it for a look-alike of
    # itself and refused the whole file).
    assert "A\u030ase" in ok(users_cli(demo_db_url, "list", "--username", "\u00c5se"))
    entry = {"username": "\u00c5se", "first_name": "Henrik", "last_name": "Ibsen",
             "email": "ibsen@example.org", "group": "testgroup01"}
    with psycopg.connect(demo_db_url) as conn:
        group = conn.execute('SELECT g.name FROM usergroup g JOIN "user" u ON u.group_id = g.id '
                             "WHERE u.username = %s", ("A\u030ase",)).fetchone()[0]
    entry["group"] = group
    out = ok(users_cli(demo_db_url, "add_many", write_json(tmp_path, "u.json", [entry])))
    assert "Added" not in out
    assert query(demo_db_url, 'SELECT count(*) FROM "user" WHERE email = %s',
                 ("ibsen@example.org",)) == [(1,)]


def test_output_a_latin1_terminal_cannot_show_is_escaped(demo_db_url):
    """Under a Latin-1 locale (an older server's nb_NO.ISO-8859-1) a name outside Latin-1
    made the command's output a UnicodeEncodeError traceback, after `lock` had committed:
    the operator took the lock for failed. Such characters are written as escapes."""
    with psycopg.connect(demo_db_url) as conn:
        conn.execute("UPDATE \"user\" SET last_name = 'Ωμέγα-Åsen' "
                     "WHERE username = 'testuser1'")
    env = {k: v for k, v in os.environ.items() if k not in ("DB_URL", "ELLA_CONFIG")}
    env.update(DB_URL=demo_db_url, PYTHONIOENCODING="latin-1")
    result = subprocess.run([str(ROOT / "bin" / "ella-users"), "lock", "testuser1", "--reason",
                             "x"], capture_output=True, env=env, timeout=120)
    assert result.returncode == 0 and b"Traceback" not in result.stderr, result.stderr
    assert result.stdout.decode("latin-1") == (
        "User testuser1 (\\u03a9\\u03bc\\u03ad\\u03b3\\u03b1-Åsen, Henrik) has been "
        "deactivated\n")
    listed = subprocess.run([str(ROOT / "bin" / "ella-users"), "list"], capture_output=True,
                            env=env, timeout=120)
    assert listed.returncode == 0 and b"Traceback" not in listed.stderr, listed.stderr
    assert "\\u03a9\\u03bc\\u03ad\\u03b3\\u03b1-Åsen" in listed.stdout.decode("latin-1")


def test_lock_and_activate_with_reason(demo_db_url):
    assert open_sessions(demo_db_url, "testuser1") == 1
    result = users_cli(demo_db_url, "lock", "testuser1", stdin="Left the department\n")
    assert ok(result) == "User testuser1 (Ibsen, Henrik) has been deactivated\n"
    assert "Enter reason (optional): [None]:" in result.stderr
    assert query(demo_db_url, "SELECT active FROM \"user\" WHERE username = 'testuser1'") == [
        (False,)]
    assert open_sessions(demo_db_url, "testuser1") == 0

    result = users_cli(demo_db_url, "activate", "testuser1", stdin="\n")
    assert ok(result) == "User testuser1 (Ibsen, Henrik) has been activated\n"
    assert query(demo_db_url, "SELECT active FROM \"user\" WHERE username = 'testuser1'") == [
        (True,)]
    ok(users_cli(demo_db_url, "lock", "testuser2", "--reason", "Audit test"))
    # An active user is left as is: their sessions stay (they were all ended).
    with psycopg.connect(demo_db_url) as conn:
        conn.execute("INSERT INTO usersession (user_id, token, issued, lastactivity, expires) "
                     "SELECT id, 'x', now(), now(), now() + interval '1 day' FROM \"user\" "
                     "WHERE username = 'testuser3'")
    assert open_sessions(demo_db_url, "testuser3") == 1
    result = users_cli(demo_db_url, "activate", "testuser3", "--reason", "")
    assert ok(result) == "User testuser3 (Collett, Camilla) is already active (nothing changed)\n"
    assert open_sessions(demo_db_url, "testuser3") == 1

    log = clilog(demo_db_url)[-3:]  # the ELLA database has rows of its own
    assert [(r[2], r[4]) for r in log] == [("activate", None), ("lock", "Audit test"),
                                           ("activate", None)]
    before = without_clilog(table_snapshot(demo_db_url))
    one_line_error(users_cli(demo_db_url, "lock", "nobody", stdin="None\n"))
    one_line_error(users_cli(demo_db_url, "activate", "nobody", "--reason", "x"))
    assert without_clilog(table_snapshot(demo_db_url)) == before


# ------------------------------------------------------------------------------------------
# modify

def test_modify_aborts_without_y(demo_db_url):
    before = without_clilog(table_snapshot(demo_db_url))
    for answer in ("n\n", "yes\n", ""):
        result = users_cli(demo_db_url, "modify", "testuser1", "--first_name", "Other",
                           stdin=answer)
        assert ok(result) == "Lacking confirmation, aborting...\n"
        assert "Type 'y' to confirm." in result.stderr
        assert without_clilog(table_snapshot(demo_db_url)) == before


def test_modify_multi_word_values_and_group(demo_db_url):
    out = ok(users_cli(demo_db_url, "modify", "testuser1", "--first_name", "Henrik", "Johan",
                       "--last-name", "Ibsen", "--user_group", "testgroup02",
                       "--new_username", "hibsen", stdin="y\n"))
    assert out.splitlines() == ["username: testuser1 ---> hibsen",
                                "first_name: Henrik ---> Henrik Johan",
                                "group: testgroup01 ---> testgroup02",
                                "User hibsen modified"]
    assert query(demo_db_url, 'SELECT u.first_name, g.name FROM "user" u JOIN usergroup g '
                              "ON g.id = u.group_id WHERE username = 'hibsen'") == [
        ("Henrik Johan", "testgroup02")]
    assert clilog(demo_db_url)[-1][5].endswith("User hibsen modified")

    before = without_clilog(table_snapshot(demo_db_url))
    assert "'nogroup'" in one_line_error(users_cli(
        demo_db_url, "modify", "hibsen", "--user_group", "nogroup", stdin="y\n"))
    assert "already exists" in one_line_error(users_cli(
        demo_db_url, "modify", "hibsen", "--new_username", "testuser2", stdin="y\n"))
    assert without_clilog(table_snapshot(demo_db_url)) == before
    assert users_cli(demo_db_url, "modify", "hibsen").returncode == 2  # nothing to change
    assert "the email 'x@y\\nz' has a control character (a line break, a tab)" in \
        one_line_error(users_cli(demo_db_url, "modify", "hibsen", "--email", "x@y\nz",
                                 stdin="y\n"))
    # Blank names, which add_many refuses, were stored ("K." in every list).
    for option in ("--first_name", "--last_name"):
        for value in ("", "   "):
            assert f"the {option[2:].replace('_', ' ')} must not be empty" in one_line_error(
                users_cli(demo_db_url, "modify", "hibsen", option, value, stdin="y\n"))
    assert without_clilog(table_snapshot(demo_db_url)) == before


def test_blank_email_is_no_email(demo_db_url, tmp_path):
    """`modify --email ''` stored an empty string, which read as an address; it now removes
    the address (NULL, as a user added without one), and add_many stores a blank one so too."""
    def email_of(username):
        return query(demo_db_url, 'SELECT email FROM "user" WHERE username = %s', (username,))

    users_cli(demo_db_url, "modify", "testuser1", "--email", "a@example.org", stdin="y\n")
    out = ok(users_cli(demo_db_url, "modify", "testuser1", "--email", "", stdin="y\n"))
    assert out.splitlines()[0] == "email: a@example.org ---> (none)"
    assert email_of("testuser1") == [(None,)]
    assert ok(users_cli(demo_db_url, "modify", "testuser1", "--email", "  ", stdin="y\n")
              ).splitlines()[0] == "No modifications made to user testuser1"
    entry = {"username": "blankmail", "first_name": "B", "last_name": "M", "email": " ",
             "group": "testgroup01"}
    ok(users_cli(demo_db_url, "add_many", write_json(tmp_path, "u.json", [entry])))
    assert email_of("blankmail") == [(None,)]
    out = ok(users_cli(demo_db_url, "add_many", write_json(
        tmp_path, "u2.json", [dict(entry, email="b@example.org")])))
    assert "email: (none) ---> b@example.org" in out.splitlines()


@pytest.mark.parametrize("audit_connection_lost", [False, True])
def test_the_audit_row_of_a_committed_change_is_not_lost_unsaid(demo_db_url,
                                                                 audit_connection_lost):
    """The clilog row was written on a connection opened after the command committed: a
    server taking no more connections then (max_connections, a restart) left the change
    without its row, with a warning and exit code 0. The audit connection is now opened
    first; if the row still cannot be written, the command says its change is saved and
    exits 1."""
    env = {k: v for k, v in os.environ.items() if k not in ("DB_URL", "ELLA_CONFIG")}
    command = subprocess.Popen(
        [str(ROOT / "bin" / "ella-users"), "modify", "testuser1", "--first_name", "Audited"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**env, "DB_URL": demo_db_url})
    from conftest import with_dbname
    before = len(clilog(demo_db_url))
    database = query(demo_db_url, "SELECT current_database()")[0][0]
    # (a database's connections cannot be disallowed from a session of its own)
    with psycopg.connect(with_dbname(demo_db_url, "postgres"), autocommit=True) as admin:
        try:
            while "Type 'y' to confirm." not in command.stderr.readline():
                pass  # both connections are open at the question
            admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
            if audit_connection_lost:
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                              "application_name = 'ella-cli-audit' AND datname = %s",
                              (database,))
            out, err = command.communicate("y\n", timeout=120)
        finally:
            admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
    assert query(demo_db_url, 'SELECT first_name FROM "user" WHERE username = %s',
                 ("testuser1",)) == [("Audited",)]
    if audit_connection_lost:
        assert command.returncode == 1
        assert err.splitlines()[-1].startswith(
            "error: the command ran (what it saved stays saved), but its audit row could not "
            "be written (clilog): ")
        assert len(clilog(demo_db_url)) == before
    else:
        assert command.returncode == 0, err
        assert clilog(demo_db_url)[-1][3] == "users modify testuser1 --first_name Audited"
        assert len(clilog(demo_db_url)) == before + 1


# ------------------------------------------------------------------------------------------
# list, activity, help

def test_list_table_and_filters(demo_db_url):
    before = table_snapshot(demo_db_url)
    out = ok(users_cli(demo_db_url, "list"))
    lines = out.splitlines()
    assert lines[0].split() == ["id", "username", "first_name", "last_name", "password_expiry",
                                "usergroup", "genepanels"]
    assert len(lines) == 1 + 8
    first = lines[1]
    assert first.split()[:4] == ["1", "testuser1", "Henrik", "Ibsen"]
    assert "2021-01-18T02:00:00+00:00" in first and "testgroup01" in first
    assert first.endswith("HBOC_v01, HBOCUTV_v01")
    with psycopg.connect(demo_db_url) as conn:  # a link twice (no unique key): named once
        conn.execute("INSERT INTO usergroupgenepanel VALUES (1, 'HBOC', 'v01')")
    first = ok(users_cli(demo_db_url, "list")).splitlines()[1]
    assert first.endswith(" HBOC_v01, HBOCUTV_v01") and first.count("HBOC_v01") == 1
    before = table_snapshot(demo_db_url)

    out = ok(users_cli(demo_db_url, "list", "--group", "TESTGROUP03"))
    assert [line.split()[1] for line in out.splitlines()[1:]] == ["testuser7", "testuser8"]
    out = ok(users_cli(demo_db_url, "list", "--group", "ALL", "--username", "testuser4"))
    assert len(out.splitlines()) == 2
    assert ok(users_cli(demo_db_url, "list", "--username", "nobody")) == "No result\n"
    # Bytes that are not UTF-8 (kept by Python as surrogates) ended in a traceback.
    env = {k: v for k, v in os.environ.items() if k not in ("DB_URL", "ELLA_CONFIG")}
    for args in ([b"--username", b"\xff"], [b"--group", b"a\xffb"]):
        result = subprocess.run([str(ROOT / "bin" / "ella-users").encode(), b"list", *args],
                                capture_output=True, text=True, errors="replace",
                                env={**env, "DB_URL": demo_db_url}, timeout=120)
        assert one_line_error(result) == "error: an argument is not valid UTF-8 text"
    assert table_snapshot(demo_db_url) == before  # list is not audited


def test_activity_newest_first(demo_db_url):
    add_session(demo_db_url, "testuser3", datetime(2022, 5, 1, 12, tzinfo=timezone.utc))
    out = ok(users_cli(demo_db_url, "activity"))
    lines = out.splitlines()
    assert lines[0].split() == ["id", "username", "first_name", "last_name", "last_activity"]
    assert [line.split()[1] for line in lines[1:]] == ["testuser3", "testuser1"]
    assert "2022-05-01T12:00:00+00:00" in lines[1]
    assert clilog(demo_db_url)[-1][2] == "activity"


def test_help_everywhere(capsys):
    from ella.cli.users import main
    for command in ("add_groups", "add-groups", "add_many", "add-many", "reset_password",
                    "reset-password", "lock", "activate", "modify", "list", "activity"):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0, command
        assert "usage: ella-users" in capsys.readouterr().out, command
    for argv in ([], ["nosuch"], ["lock"], ["add_groups", "x.json", "--bogus"]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2, argv
    result = run_cli("ella-users", "--help")  # the shell wrapper itself
    assert result.returncode == 0 and "add_groups" in result.stdout


def test_demo_fixtures_load_through_the_cli(panels_db_url):
    ok(users_cli(panels_db_url, "add_groups", str(DEMO_GROUPS)))
    out = ok(users_cli(panels_db_url, "add_many", str(DEMO_USERS), "--group", "testgroup01"))
    assert len(re.findall(r"^Added user testuser[12] ", out, re.M)) == 2
    # the real filter-config fixture's groups exist
    assert {r[0] for r in query(panels_db_url, "SELECT name FROM usergroup")} == {
        "testgroup01", "testgroup02", "testgroup03"}


def test_add_groups_without_config_keeps_or_defaults_it(panels_db_url, tmp_path):
    """import.md 5.1: `config` is optional, as ELLA's user group model defaults it to {}; an
    update without it keeps the group's own config (a file listing only panels must not wipe
    a group's ACMG and workflow settings)."""
    groups = demo_groups()
    assert users_cli(panels_db_url, "add_groups", write_json(tmp_path, "all.json", groups)
                     ).returncode == 0
    before = query(panels_db_url, "SELECT name, config FROM usergroup ORDER BY name")
    assert any(config for _, config in before)
    bare = [{k: v for k, v in g.items() if k != "config"} for g in groups]
    bare.append({"name": "newgroup", "genepanels": []})
    result = users_cli(panels_db_url, "add_groups", write_json(tmp_path, "bare.json", bare))
    assert result.returncode == 0, result.stderr
    after = dict(query(panels_db_url, "SELECT name, config FROM usergroup ORDER BY name"))
    assert {name: after[name] for name, _ in before} == dict(before)
    assert after["newgroup"] == {}



@pytest.mark.parametrize("expiry", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:30:00+01:00"])
def test_a_password_expiry_beyond_the_years_python_reads_in_utc_is_refused(expiry):
    """Year 10000 (or 0) in UTC: PostgreSQL stored it and Python could not read it back, so
    the user's logins were 500s, and `ella-users list` and the next `add_many` failed."""
    from ella.deposit.users import UsersError, parse_users
    with pytest.raises(UsersError, match=re.escape(
            f"users.json: entry 1 ('kari'): password_expiry {expiry!r} is out of range (years 1 to "
            "9999 in UTC)")):
        parse_users("users.json", [dict(_new_user("kari"), password_expiry=expiry)])
    entry = dict(_new_user("kari"), password_expiry="2030-01-01T01:00:00+01:00")
    (user,) = parse_users("users.json", [entry])
    assert user["password_expiry"] == datetime(2030, 1, 1, tzinfo=timezone.utc)


def _new_user(username, group="lookalikes"):
    return {"username": username, "first_name": "Ny", "last_name": "Bruker", "email": None,
            "group": group}


def test_usernames_that_only_look_new_are_refused(db_url, ella_config):
    """Login matches a username by its letters, as ELLA's does: `TestUser`, ` testuser` or
    `Åse` beside `testuser` and `åse` were created as other accounts, people the audit trail
    and every list cannot tell apart (a padded one could not even log in)."""
    from api_helpers import add_user
    from ella.deposit.users import UsersError, add_many, modify_user, parse_users
    nfc = unicodedata.normalize("NFC", "\u00e5se")
    for name in ("testuser", nfc, "other"):
        add_user(db_url, name, "lookalikes")
    auth = ella_config["user"]["auth"]
    before = table_snapshot(db_url)
    with psycopg.connect(db_url) as conn:
        for name, existing in (("TestUser", "testuser"), ("\u00c5se", nfc)):
            with pytest.raises(UsersError, match=re.escape(
                    f"user {name!r} looks like the existing user {existing!r} (case or "
                    "Unicode form): refused")):
                add_many(conn, parse_users("users.json", [_new_user(name)]), auth)
        for name, problem in ((" testuser", "has blanks around it"),
                              ("new\u200buser", "has a control or invisible character"),
                              ("new\nuser", "has a control or invisible character"),
                              ("ola\u00a0nordmann", "has a space other than the plain one"),
                              # Nothing shows: combining marks, a Hangul filler, blank Braille.
                              ("\u0301\u0308", "has no visible character"),
                              ("\u3164", "has no visible character"),
                              ("\u2800", "has no visible character")):
            with pytest.raises(UsersError, match=re.escape(f"username {name!r} {problem}")):
                parse_users("users.json", [_new_user(name)])
        with pytest.raises(UsersError, match=re.escape(
                "group name '\u3164' has no visible character")):
            add_groups(conn, parse_usergroups("groups.json", [
                {"name": "\u3164", "genepanels": [], "config": {}}]))
        with pytest.raises(UsersError, match="appears twice in the file"):
            parse_users("users.json", [_new_user("newuser"), _new_user("NewUser")])
        with pytest.raises(UsersError, match=re.escape(
                "the new username 'TESTUSER' looks like the existing user 'testuser'")):
            modify_user(conn, "other", new_username="TESTUSER")
        with pytest.raises(UsersError, match=re.escape(
                "the new username 'other ' has blanks around it")):
            modify_user(conn, "other", new_username="other ")
        conn.rollback()
        modify_user(conn, "other", new_username="Other")  # one's own name in other letters
        conn.rollback()
        with pytest.raises(UsersError, match="looks like the existing user 'testuser'"):
            add_many(conn, parse_users("users.json", [_new_user("\uff54estuser")]), auth)
        conn.rollback()
    assert table_snapshot(db_url) == before


def test_one_new_group_created_by_two_runs_at_once_is_made_then_updated(db_url):
    """Two `add_groups` runs (two operators, a retried command) creating one new group: the
    second looked the group up before the first committed and failed on the unique key
    ("duplicate key value violates unique constraint"). It now waits and updates it, as a
    second run of the file does."""
    import threading
    from ella.deposit.users import add_groups, parse_usergroups
    from helpers import wait_for_lock_wait
    entry = [{"name": "newgroup", "genepanels": [], "config": {}}]
    outcome = {}

    def second():
        with psycopg.connect(db_url, application_name="second-add-groups") as conn:
            outcome["second"] = add_groups(conn, parse_usergroups("b.json", entry))[0]["status"]

    with psycopg.connect(db_url) as first:
        assert add_groups(first, parse_usergroups("a.json", entry))[0]["status"] == "added"
        thread = threading.Thread(target=second)
        thread.start()
        wait_for_lock_wait(db_url, "second-add-groups")
    thread.join(30)
    assert outcome == {"second": "updated"}
    assert query(db_url, "SELECT count(*) FROM usergroup WHERE name = 'newgroup'") == [(1,)]


def test_two_add_many_runs_listing_users_in_other_orders_both_succeed(db_url, tmp_path):
    """Two runs at once whose files list u1, u2 and u2, u1: each held one name the other
    waited for, and one was refused with "deadlock detected"."""
    import os
    import subprocess
    from api_helpers import add_user
    from helpers import ROOT, wait_for_lock_wait
    add_user(db_url, "someone", "lookalikes")
    env = {**{k: v for k, v in os.environ.items() if k not in ("DB_URL", "ELLA_CONFIG")},
           "DB_URL": db_url}
    runs = []
    with psycopg.connect(db_url) as blocker:
        # The users' group held: each run stops at its first user's insert (before the fix
        # holding that user's name, which the other run wanted next).
        blocker.execute("SELECT 1 FROM usergroup WHERE name = 'lookalikes' FOR UPDATE")
        for n, names in enumerate((("u1", "u2"), ("u2", "u1"))):
            path = write_json(tmp_path, f"users{n}.json", [_new_user(name) for name in names])
            runs.append(subprocess.Popen([str(ROOT / "bin" / "ella-users"), "add_many", path],
                                         env=env, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         text=True))
            wait_for_lock_wait(db_url, count=n + 1)
    outcomes = [(run.communicate(timeout=60)[1], run.returncode) for run in runs]
    assert [code for _, code in outcomes] == [0, 0], outcomes
    assert query(db_url, 'SELECT count(*) FROM "user" WHERE username IN (%s, %s)',
                 ("u1", "u2")) == [(2,)]


def test_add_groups_and_add_many_at_once_do_not_deadlock(db_url, ella_config):
    """add_groups locks its groups in its file's order, add_many's inserts lock theirs (the
    foreign key) in its own: with other orders each waited for the other, and one command
    was refused with "deadlock detected". The user and group commands now take turns."""
    import threading
    from api_helpers import add_user
    from ella.deposit.users import add_groups, add_many, parse_usergroups, parse_users
    from helpers import wait_for_lock_wait
    add_user(db_url, "someone-a", "ga")
    add_user(db_url, "someone-b", "gb")
    groups = parse_usergroups("groups.json", [{"name": name, "genepanels": [], "config": {}}
                                              for name in ("gb", "ga")])
    users = parse_users("users.json", [_new_user(f"new-{g}", group=f"g{g}") for g in "ab"])
    errors = {}

    def run(name, command):
        try:
            with psycopg.connect(db_url, application_name=name) as conn:
                command(conn)
        except psycopg.Error as exc:
            errors[name] = str(exc)

    with psycopg.connect(db_url) as blocker:
        blocker.execute("SELECT 1 FROM usergroup WHERE name = 'gb' FOR UPDATE")
        threads = [threading.Thread(target=run, args=("groups", lambda c: add_groups(c, groups))),
                   threading.Thread(target=run, args=("users", lambda c: add_many(
                       c, users, ella_config["user"]["auth"])))]
        threads[0].start()
        wait_for_lock_wait(db_url, "groups")  # at gb
        threads[1].start()
        wait_for_lock_wait(db_url, "users")   # before the fix: new-a inserted, at gb
    for thread in threads:
        thread.join(60)
    assert errors == {}
    assert query(db_url, 'SELECT count(*) FROM "user" WHERE username LIKE %s', ("new-%",)) == [
        (2,)]


def test_two_lookalike_usernames_created_at_once_are_refused(db_url, ella_config):
    """Two `add_many` runs at the same moment, one creating `Ola` and the other `ola`: each
    looked for a look-alike before the other committed, and both accounts were created. The
    second now waits for the first and is refused."""
    import threading
    from api_helpers import add_user
    from ella.deposit.users import UsersError, add_many, parse_users
    from helpers import wait_for_lock_wait
    add_user(db_url, "someone", "lookalikes")
    auth = ella_config["user"]["auth"]
    outcome = {}

    def second():
        with psycopg.connect(db_url, application_name="second-add-many") as conn:
            try:
                add_many(conn, parse_users("b.json", [_new_user("ola")]), auth)
                outcome["second"] = "added"
            except UsersError as error:
                outcome["second"] = str(error)

    with psycopg.connect(db_url) as first:
        add_many(first, parse_users("a.json", [_new_user("Ola")]), auth)
        thread = threading.Thread(target=second)
        thread.start()
        wait_for_lock_wait(db_url, "second-add-many")
    thread.join(30)
    assert outcome == {"second": "b.json: entry 1 ('ola'): user 'ola' looks like the existing "
                                 "user 'Ola' (case or Unicode form): refused"}
    assert query(db_url, 'SELECT username FROM "user" WHERE username ILIKE %s',
                 ("ola",)) == [("Ola",)]


def test_a_username_is_stored_in_nfc_and_found_in_any_form(api_app, db_url, ella_config):
    """`åse` from a file written on a Mac (NFD) was stored so, and nobody typing it on a PC
    (NFC) could log in."""
    from api_helpers import TEST_PASSWORD, add_user, logged_in_client
    from ella.deposit.users import add_many, parse_users
    add_user(db_url, "someone", "lookalikes")
    nfc = unicodedata.normalize("NFC", "\u00e5se")
    with psycopg.connect(db_url) as conn:
        add_many(conn, parse_users("users.json", [_new_user(unicodedata.normalize("NFD", nfc))]),
                 ella_config["user"]["auth"])
    assert query(db_url, 'SELECT username FROM "user" WHERE username <> %s',
                 ("someone",)) == [(nfc,)]
    client = logged_in_client(api_app, db_url, nfc)
    for typed in (nfc, unicodedata.normalize("NFD", nfc)):
        assert client.login(typed, TEST_PASSWORD).status == 200, typed
    # The file again, in NFD: the same user, updated, not a look-alike refused.
    with psycopg.connect(db_url) as conn:
        again = add_many(conn, parse_users("users.json", [
            {**_new_user(unicodedata.normalize("NFD", nfc)), "first_name": "Åse"}]),
            ella_config["user"]["auth"])
    assert [r["status"] for r in again] == ["updated"]


def test_a_password_in_another_unicode_form_is_the_same_password():
    """`å` typed on a Mac (a + combining ring, NFD) and on a PC (one character, NFC) is one
    password (NIST SP 800-63B 5.1.1.2): login refused the other form (a failed login
    counted), and the history check took it for a new password. A hash is made of the
    password as typed, as ELLA makes it (ELLA on the database accepts it typed so), and one
    of any form verifies in every form. Its strength is judged on the NFC form."""
    nfc = unicodedata.normalize("NFC", "P\u00e6ss-\u00f8rd-\u00e5-1")
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc != nfd
    ours = hash_password(nfd)
    assert bcrypt.checkpw(nfd.encode("utf-8"), ours.encode("ascii"))  # as ELLA checks it
    assert verify_password(nfc, ours) and verify_password(nfd, ours)
    # Decomposed, `Åååååa1` was 12 characters starting with an ASCII capital: strong
    # enough, while the same password in NFC is 7 characters.
    weak = unicodedata.normalize("NFD", "\u00c5\u00e5\u00e5\u00e5\u00e5a1")
    assert not password_is_strong(weak, AUTH)
    assert password_is_strong(weak, AUTH) == password_is_strong(
        unicodedata.normalize("NFC", weak), AUTH)
    for form in (nfc, nfd):  # as ELLA hashed what it was given
        ellas = bcrypt.hashpw(form.encode("utf-8"), bcrypt.gensalt(4)).decode("ascii")
        assert verify_password(nfc, ellas) and verify_password(nfd, ellas)
    assert not verify_password(nfc.replace("1", "2"), ours)
