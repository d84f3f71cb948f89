"""User groups, users and filter configs: rules of import.md 5.1-5.3, config-cli-ops.md 3.5 and
the README's `bin/ella-users` / `bin/ella-filterconfigs` rows, pinned against a real
PostgreSQL."""

import json
from datetime import datetime, timezone

import bcrypt
import psycopg
import pytest

from ella.deposit.filterconfigs import deactivation_warnings
from ella.deposit.users import (UsersError, add_groups, add_many, parse_usergroups,
                                parse_users)
from helpers import AUTH, ROOT, query, run_cli

def add_panel(conn, name, version, official, created):
    conn.execute("INSERT INTO genepanel (name, version, genome_reference, official, "
                 "date_created) VALUES (%s, %s, 'GRCh37', %s, %s)",
                 (name, version, official, created))


@pytest.fixture
def panels_db(db_url):
    """HBOC v01 (official, newest), v02 (official, older), v03 (unofficial, newest of all)."""
    with psycopg.connect(db_url) as conn:
        add_panel(conn, "HBOC", "v01", True, datetime(2023, 6, 1, tzinfo=timezone.utc))
        add_panel(conn, "HBOC", "v02", True, datetime(2022, 1, 1, tzinfo=timezone.utc))
        add_panel(conn, "HBOC", "v03", False, datetime(2024, 1, 1, tzinfo=timezone.utc))
    return db_url


def deposit_groups(db_url, entries):
    with psycopg.connect(db_url) as conn:
        return add_groups(conn, parse_usergroups("groups.json", entries))


def group_panels(db_url, group):
    return query(db_url, "SELECT ugp.genepanel_name, ugp.genepanel_version "
                         "FROM usergroupgenepanel ugp JOIN usergroup g ON g.id = ugp.usergroup_id "
                         "WHERE g.name = %s ORDER BY 1, 2", (group,))


# ------------------------------------------------------------------------------------------
# add_groups: gene panels


def test_a_named_panel_alone_means_every_official_version_only(panels_db):
    """import.md 5.1 / config-cli-ops.md 3.5: `[name]` alone = all official versions; the
    unofficial v03 is not given to the group."""
    deposit_groups(panels_db, [{"name": "lab", "genepanels": [["HBOC"]]}])
    assert group_panels(panels_db, "lab") == [("HBOC", "v01"), ("HBOC", "v02")]


def test_an_unofficial_panel_version_is_refused_and_nothing_is_written(panels_db):
    """config-cli-ops.md 3.5: panels must exist and be official."""
    with pytest.raises(UsersError, match="HBOC v03 is not official"):
        deposit_groups(panels_db, [{"name": "lab", "genepanels": [["HBOC", "v03"]]}])
    assert query(panels_db, "SELECT count(*) FROM usergroup") == [(0,)]


def test_a_default_panel_without_version_is_the_newest_official_by_date_created(panels_db):
    """import.md 5.1: `default_import_genepanel: [name]` = latest official by date_created
    (v01 here, created after v02; not the unofficial v03)."""
    deposit_groups(panels_db, [{"name": "lab", "genepanels": [["HBOC"]],
                                "default_import_genepanel": ["HBOC"]}])
    assert query(panels_db, "SELECT default_import_genepanel_name, "
                            "default_import_genepanel_version FROM usergroup") == [
        ("HBOC", "v01")]


# ------------------------------------------------------------------------------------------
# add_many, lock, activate: sessions


USER = {"username": "ola", "first_name": "Ola", "last_name": "Nordmann",
        "email": "ola@example.org", "group": "lab"}


@pytest.fixture
def user_db(db_url):
    """One group `lab` and one user `ola` with an open session."""
    deposit_groups(db_url, [{"name": "lab", "genepanels": []}])
    with psycopg.connect(db_url) as conn:
        add_many(conn, parse_users("users.json", [USER]), AUTH)
    open_session(db_url, "ola")
    return db_url


def open_session(db_url, username):
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO usersession (user_id, token, issued, lastactivity, expires) "
                     "SELECT id, md5(random()::text), now(), now(), now() + interval '1 day' "
                     'FROM "user" WHERE username = %s', (username,))


def open_sessions(db_url, username):
    return query(db_url, 'SELECT count(*) FROM usersession s JOIN "user" u ON u.id = s.user_id '
                         "WHERE u.username = %s AND s.logged_out IS NULL", (username,))[0][0]


def test_add_many_deactivating_an_existing_user_ends_their_sessions(user_db):
    """README `bin/ella-users add_many`: deactivating one (`"active": false`) ends their
    sessions, as `lock` does."""
    assert open_sessions(user_db, "ola") == 1
    with psycopg.connect(user_db) as conn:
        results = add_many(conn, parse_users("users.json", [dict(USER, active=False)]), AUTH)
    assert results[0]["status"] == "updated"
    assert query(user_db, 'SELECT active FROM "user"') == [(False,)]
    assert open_sessions(user_db, "ola") == 0


def test_add_many_creates_a_new_user_listed_inactive_as_inactive(user_db):
    """config-cli-ops.md 3.5 `users add_many`: the entry's fields make the new user; one
    listed with `"active": false` (an account prepared for a starter) cannot log in until
    `activate`."""
    entry = dict(USER, username="kari", first_name="Kari", email="kari@example.org",
                 active=False)
    with psycopg.connect(user_db) as conn:
        results = add_many(conn, parse_users("users.json", [entry]), AUTH)
    assert results[0]["status"] == "added"
    assert query(user_db, 'SELECT username, active FROM "user" ORDER BY id') == [
        ("ola", True), ("kari", False)]


def test_add_many_applies_a_hash_and_its_expiry_from_the_file_to_an_existing_user(user_db):
    """config-cli-ops.md 3.5 `users add_many`: `password`/`password_expiry` in the JSON are
    applied to existing users; the hash's expiry is the file's, not the one it had."""
    new_hash = bcrypt.hashpw(b"Other-pass1", bcrypt.gensalt(4)).decode()
    entry = dict(USER, password=new_hash, password_expiry="2031-05-04T02:00:00Z")
    with psycopg.connect(user_db) as conn:
        add_many(conn, parse_users("users.json", [entry]), AUTH)
    assert query(user_db, 'SELECT password, password_expiry FROM "user"') == [
        (new_hash, datetime(2031, 5, 4, 2, tzinfo=timezone.utc))]


def test_add_many_applies_a_password_expiry_alone_to_an_existing_user(user_db):
    """config-cli-ops.md 3.5 `users add_many`: `password_expiry` in the JSON is applied to an
    existing user (the hash stays)."""
    before = query(user_db, 'SELECT password FROM "user"')
    entry = dict(USER, password_expiry="2031-05-04T02:00:00+00:00")
    with psycopg.connect(user_db) as conn:
        results = add_many(conn, parse_users("users.json", [entry]), AUTH)
    assert [key for key, _, _ in results[0]["changes"]] == ["password_expiry"]
    assert query(user_db, 'SELECT password, password_expiry FROM "user"') == [
        (before[0][0], datetime(2031, 5, 4, 2, tzinfo=timezone.utc))]


def test_add_many_updates_an_existing_users_own_config(user_db):
    """config-cli-ops.md 3.5 `users add_many`: an existing user gets every given field
    updated, `config` too (README: a user's own `config` is checked as a group's)."""
    config = {"overview": {"views": ["import"]}}
    with psycopg.connect(user_db) as conn:
        results = add_many(conn, parse_users("users.json", [dict(USER, config=config)]), AUTH)
    assert results[0]["status"] == "updated"
    assert [key for key, _, _ in results[0]["changes"]] == ["config"]
    assert query(user_db, 'SELECT config FROM "user"') == [(config,)]


def test_activate_ends_sessions_left_open_by_a_deactivation_elsewhere(user_db):
    """README `bin/ella-users activate U`: re-activates a deactivated user for new sessions
    only: a session left open by a deactivation that ended none (ELLA's, a DBA's) stays
    closed."""
    with psycopg.connect(user_db) as conn:
        conn.execute('UPDATE "user" SET active = false')
    assert open_sessions(user_db, "ola") == 1
    result = run_cli("ella-users", "activate", "ola", "--reason", "back", db_url=user_db)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "User ola (Nordmann, Ola) has been activated\n"
    assert query(user_db, 'SELECT active FROM "user"') == [(True,)]
    assert open_sessions(user_db, "ola") == 0


# ------------------------------------------------------------------------------------------
# filterconfigs deactivate


FILTERCONFIGS = ROOT / "tests" / "data" / "filterconfigs.json"


@pytest.fixture
def fc_db(db_url):
    """The three fixture filter configs; every one has requirements."""
    with psycopg.connect(db_url) as conn:
        for name in ("testgroup01", "testgroup02", "testgroup03"):
            conn.execute("INSERT INTO usergroup (name, config) VALUES (%s, '{}'::jsonb)", (name,))
    result = run_cli("ella-filterconfigs", "update", str(FILTERCONFIGS), "--reason", "",
                     db_url=db_url)
    assert result.returncode == 0, result.stderr
    return db_url


def test_deactivating_a_config_with_requirements_is_no_loss_of_one_without(fc_db):
    """config-cli-ops.md 3.7 `filterconfigs deactivate`: warns if it is the group's only
    active config, or the only one without requirements; SingleDefault has requirements and
    its groups keep another active config: no warning."""
    ids = dict(query(fc_db, "SELECT name, id FROM filterconfig"))
    with psycopg.connect(fc_db) as conn:
        assert deactivation_warnings(conn, ids["SingleDefault"]) == []
    result = run_cli("ella-filterconfigs", "deactivate", str(ids["SingleDefault"]), "--reason",
                     "", db_url=fc_db, stdin="y\n")
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stdout
    assert "Filterconfig SingleDefault deactivated" in result.stdout


def test_deactivating_the_only_config_without_requirements_is_warned_about(fc_db, tmp_path):
    """config-cli-ops.md 3.7 `filterconfigs deactivate`: warns if it is the only one without
    requirements of a group that has others."""
    entries = json.loads(FILTERCONFIGS.read_text())
    plain = dict(entries[1], name="Plain", requirements=[],
                 usergroups=[{"name": "testgroup02", "order": 5}])
    path = tmp_path / "plain.json"
    path.write_text(json.dumps([plain]))
    result = run_cli("ella-filterconfigs", "update", str(path), "--reason", "", db_url=fc_db)
    assert result.returncode == 0, result.stderr
    ids = dict(query(fc_db, "SELECT name, id FROM filterconfig"))
    with psycopg.connect(fc_db) as conn:
        assert deactivation_warnings(conn, ids["Plain"]) == [
            "Warning: this is the only active filter config without requirements of user "
            "group 'testgroup02'; analyses matching none of the group's other configs will "
            "have no filter config"]
        assert deactivation_warnings(conn, ids["TrioDefault"]) == []


def test_list_for_a_group_marks_its_lowest_order_config_as_the_default(fc_db, tmp_path):
    """import.md 5.3: lowest order = default for the group; README `ella-filterconfigs list
    --usergroup NAME`: in its order, the default first."""
    entries = json.loads(FILTERCONFIGS.read_text())
    plain = [dict(entries[1], name=name, requirements=[],
                  usergroups=[{"name": "testgroup01", "order": order}])
             for name, order in (("Later", 7), ("First", 2))]
    path = tmp_path / "plain.json"
    path.write_text(json.dumps(plain))
    result = run_cli("ella-filterconfigs", "update", str(path), "--reason", "", db_url=fc_db)
    assert result.returncode == 0, result.stderr
    listed = run_cli("ella-filterconfigs", "list", "--usergroup", "testgroup01", db_url=fc_db)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0] == "Filter configs offered to testgroup01 without an analysis:"
    assert lines[1].split() == ["id", "name", "default", "requirements"]
    assert [line.split()[1:3] for line in lines[3:]] == [["First", "yes"], ["Later", "-"]]
