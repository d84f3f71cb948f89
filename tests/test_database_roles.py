"""The service under a database role with only the privileges a DBA grants an application
(README, "Database roles"): a privilege it lacks is the site's to grant, said in one line,
and never taken for a folder's, a job's or the software's fault."""

import json
import logging

import psycopg
import psycopg.conninfo
import pytest
from psycopg import sql

from api_client import Client
from api_helpers import TEST_PASSWORD, add_user
from deposit_helpers import copy_test_analysis
from ella.polling import transient_database_error
from ella.watcher import ERROR_SUFFIX, Watcher, WatcherError
from helpers import login_role, run_cli


@pytest.fixture
def app_role(db_url):
    """(name, URL) of a new login role with CONNECT and the DML privileges on every table
    and sequence of the database; dropped afterwards."""
    with login_role(db_url, "ella_app") as (role, database, url):
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute(sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
                sql.Identifier(database), sql.Identifier(role)))
            conn.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN "
                                 "SCHEMA public TO {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}"
                                 ).format(sql.Identifier(role)))
        yield role, url


def _revoke(db_url, privilege, table, role):
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(sql.SQL("REVOKE {} ON {} FROM {}").format(
            sql.SQL(privilege), sql.Identifier(table), sql.Identifier(role)))


def test_the_api_says_its_role_lacks_a_privilege(db_url, ella_config, app_role, caplog):
    """A login under a role that may not update `user` (it locks the row it counts failed
    logins on) was a bare 500 with a traceback in the log."""
    from ella.web.app import create_app
    role, url = app_role
    add_user(db_url, "roleuser", "rolegroup")
    _revoke(db_url, "UPDATE", "user", role)
    app = create_app(ella_config, {"DB_URL": url, "COOKIE_SECURE": False})
    try:
        caplog.set_level(logging.ERROR, logger="ella.api")
        result = Client(app).login("roleuser", TEST_PASSWORD)
    finally:
        app._drop_connection()
    assert (result.status, result.json) == (503, {
        "message": "The service's database role lacks a privilege it needs; tell your "
                   "system administrator"})
    assert [r.getMessage().split(": permission")[0] for r in caplog.records
            if "lacks a privilege" in r.getMessage()] == [
        "the database role of DB_URL lacks a privilege this needs: see the README's "
        "\"Database roles\" for what to grant"]
    assert not any(r.exc_info for r in caplog.records)


def test_health_names_the_privileges_the_role_lacks(db_url, ella_config, app_role):
    """A table a migration added, or a grant a DBA forgot, failed requests one by one (503)
    while health/ said ok: a monitor could not tell."""
    from ella.web.app import create_app
    role, url = app_role
    app = create_app(ella_config, {"DB_URL": url, "COOKIE_SECURE": False})
    try:
        assert Client(app).get("/api/v1/health/").json["status"] == "ok"
        _revoke(db_url, "INSERT", "analysis", role)
        _revoke(db_url, "DELETE", "usersession", role)
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute(sql.SQL("REVOKE TEMPORARY ON DATABASE {} FROM PUBLIC, {}").format(
                sql.Identifier(conn.info.dbname), sql.Identifier(role)))
        result = Client(app).get("/api/v1/health/")
        assert (result.status, result.json) == (503, {
            "status": "error",
            "database": "the database role of DB_URL lacks TEMPORARY on the database, INSERT "
                        "on analysis, DELETE on usersession; see the README's \"Database "
                        "roles\" for what to grant"})
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute(sql.SQL("REVOKE DELETE ON ALL TABLES IN SCHEMA public FROM {}"
                                 ).format(sql.Identifier(role)))
        message = Client(app).get("/api/v1/health/").json["database"]
        assert message == (
            "the database role of DB_URL lacks TEMPORARY on the database, DELETE on "
            "alembic_version, DELETE on allele, DELETE on alleleassessment, DELETE on "
            "alleleassessmentattachment and 42 more; see the README's \"Database roles\" "
            "for what to grant")  # 45 tables (ours is only read) and the INSERT on analysis
    finally:
        app._drop_connection()
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute(sql.SQL("GRANT TEMPORARY ON DATABASE {} TO PUBLIC").format(
                sql.Identifier(conn.info.dbname)))


def test_health_names_five_missing_privileges_and_counts_the_others(
        db_url, ella_config, app_role):
    """health/ names at most five missing privileges: five are all named, a sixth is
    counted ("and 1 more") rather than named."""
    from ella.web.app import create_app
    role, url = app_role
    app = create_app(ella_config, {"DB_URL": url, "COOKIE_SECURE": False})
    hint = "; see the README's \"Database roles\" for what to grant"
    try:
        for table in ("allele", "analysis", "genepanel", "sample", "usersession"):
            _revoke(db_url, "UPDATE", table, role)
        assert Client(app).get("/api/v1/health/").json["database"] == (
            "the database role of DB_URL lacks UPDATE on allele, UPDATE on analysis, UPDATE "
            "on genepanel, UPDATE on sample, UPDATE on usersession" + hint)
        _revoke(db_url, "UPDATE", "transcript", role)
        assert Client(app).get("/api/v1/health/").json["database"] == (
            "the database role of DB_URL lacks UPDATE on allele, UPDATE on analysis, UPDATE "
            "on genepanel, UPDATE on sample, UPDATE on transcript and 1 more" + hint)
    finally:
        app._drop_connection()


def test_the_watcher_imports_a_folder_once_the_missing_privilege_is_granted(
        db_url, ella_config, app_role, watch_dirs, caplog):
    """A folder whose import hit a privilege the role lacked got an error file, as if its
    content were wrong, and was not tried again after the DBA's grant. The pass stops there:
    every other folder would fail alike, each a whole deposit rolled back, every poll."""
    role, url = app_role
    incoming, dest = watch_dirs
    copy_test_analysis(incoming / "Granted-1", "Granted-1")
    copy_test_analysis(incoming / "Granted-2", "Granted-2")
    _revoke(db_url, "INSERT", "analysis", role)
    watcher = Watcher(url, ella_config, incoming, dest)
    caplog.set_level(logging.INFO, logger="ella.watcher")
    with pytest.raises(WatcherError) as stopped:
        watcher.poll()
    assert str(stopped.value) == (
        "The database failed while importing Granted-1: permission denied for table analysis "
        "(the database role of DB_URL lacks a privilege this needs: see the README's "
        "\"Database roles\" for what to grant); stopped before the other folders, nothing "
        "recorded as failed (retried next time)")
    assert [p.name for p in incoming.iterdir() if p.name.endswith(ERROR_SUFFIX)] == []
    assert not any("Granted-2" in r.getMessage() for r in caplog.records)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(sql.SQL("GRANT INSERT ON analysis TO {}").format(sql.Identifier(role)))
    assert watcher.poll() == ["Granted-1", "Granted-2"]


def test_an_import_job_waits_for_a_missing_privilege(db_url):
    """A deposit that hit a privilege the role lacked failed its job for good (FAILED
    (DEPOSIT)); the job now stays for the next cycle, as for a lost connection."""
    with psycopg.connect(db_url) as conn:
        assert transient_database_error(conn, psycopg.errors.InsufficientPrivilege("x"))
        assert not transient_database_error(conn, psycopg.errors.ProgramLimitExceeded("x"))


def test_a_command_says_what_to_grant(db_url, app_role):
    role, url = app_role
    _revoke(db_url, "SELECT", "user", role)
    result = run_cli("ella-users", "list", db_url=url)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().endswith(
        "(the database role of DB_URL lacks a privilege this needs: see the README's "
        "\"Database roles\" for what to grant)"), result.stderr


def test_a_schema_command_says_to_use_the_owner(db_url, app_role):
    """`ella-db refresh` as the application role: the fix is the owner's DB_URL, not a
    grant (the hint of the other commands sent the operator to grant)."""
    role, url = app_role
    for command in (["refresh"], ["drop", "--yes"]):
        result = run_cli("ella-db", *command, db_url=url)
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert result.stderr.strip().endswith(
            "(schema commands run as the role that owns the database: use its DB_URL; see "
            "the README's \"Database roles\")"), result.stderr
    status = run_cli("ella-db", "status", db_url=url)  # reading the schema needs no owner
    assert status.returncode == 0, status.stderr


def test_add_many_as_the_application_role_adds_the_first_user(db_url, app_role, tmp_path):
    """The id sequence is set back to 1 for a new database's first user where the role may
    (the owner's); the application's role may not (USAGE, SELECT), and the users are added
    all the same."""
    _, url = app_role
    groups, users = tmp_path / "groups.json", tmp_path / "users.json"
    groups.write_text(json.dumps([{"name": "lab", "genepanels": []}]))
    users.write_text(json.dumps([{"username": "first", "first_name": "F", "last_name": "L",
                                  "email": "f@example.org", "group": "lab"}]))
    assert run_cli("ella-users", "add_groups", str(groups), db_url=db_url).returncode == 0
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("SELECT nextval(pg_get_serial_sequence('\"user\"', 'id'))")
    result = run_cli("ella-users", "add_many", str(users), db_url=url)
    assert result.returncode == 0, result.stderr
    with psycopg.connect(db_url) as conn:
        assert conn.execute('SELECT min(id) FROM "user"').fetchone()[0] == 2


@pytest.fixture
def owner_url(empty_db_url):
    """The URL of an empty database owned by a new login role without superuser rights (the
    README's schema owner); the harness' own URL is a superuser's."""
    with login_role(empty_db_url, "ella_owner") as (role, database, url):
        with psycopg.connect(empty_db_url, autocommit=True) as conn:
            conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                sql.Identifier(database), sql.Identifier(role)))
            conn.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(
                sql.Identifier(role)))
        yield url


def test_a_refresh_run_as_a_superuser_leaves_the_shadow_tables_to_their_owner(
        owner_url, empty_db_url):
    """Run as `postgres` (`sudo -u postgres`), refresh made the new shadow tables the
    superuser's: the owner's service could no longer write them ("permission denied" at
    every import), while `compare` said all was well."""
    assert run_cli("ella-db", "make-production", db_url=owner_url).returncode == 0
    refreshed = run_cli("ella-db", "refresh", db_url=empty_db_url)
    assert refreshed.returncode == 0, refreshed.stderr
    owner = psycopg.conninfo.conninfo_to_dict(owner_url)["user"]
    with psycopg.connect(empty_db_url) as conn:
        owners = conn.execute(
            "SELECT relname, pg_get_userbyid(relowner) FROM pg_class WHERE relname LIKE "
            "'annotationshadow%%' AND relkind IN ('r', 'S') ORDER BY relname").fetchall()
    assert owners and {who for _, who in owners} == {owner}, owners
    with psycopg.connect(owner_url) as conn:  # the owner's service writes them
        conn.execute("INSERT INTO annotationshadowtranscript (allele_id, transcript) "
                     "SELECT id, 'NM_1.1' FROM allele LIMIT 0")
        conn.execute("SELECT nextval(pg_get_serial_sequence('annotationshadowtranscript', "
                     "'id'))")


_NOT_OWNED_BY = """
SELECT 'relation ' || c.relname, pg_get_userbyid(c.relowner) FROM pg_class c
 WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'S', 'v', 'p')
   AND pg_get_userbyid(c.relowner) <> %(role)s
UNION ALL
SELECT 'function ' || p.proname, pg_get_userbyid(p.proowner) FROM pg_proc p
 WHERE p.pronamespace = 'public'::regnamespace AND pg_get_userbyid(p.proowner) <> %(role)s
ORDER BY 1"""


def _not_owned_by(db_url, role):
    with psycopg.connect(db_url) as conn:
        return conn.execute(_NOT_OWNED_BY, {"role": role}).fetchall()


def test_make_production_run_as_a_superuser_makes_the_schema_the_owners(owner_url,
                                                                        empty_db_url):
    """Run as `postgres` in a database another role owns, every table and function was the
    superuser's: each later command as the owner, the API included, failed with "permission
    denied" (and the hint said to use the owner's DB_URL, which it was)."""
    made = run_cli("ella-db", "make-production", db_url=empty_db_url)
    assert made.returncode == 0, made.stderr
    owner = psycopg.conninfo.conninfo_to_dict(owner_url)["user"]
    superuser = psycopg.conninfo.conninfo_to_dict(empty_db_url)["user"]
    assert made.stdout.startswith(f"Connected as {superuser}: working as {owner}, the owner "
                                  "of the schema, so that what this creates is theirs\n")
    assert _not_owned_by(empty_db_url, owner) == []
    for command in ("compare", "refresh", "migrate"):
        result = run_cli("ella-db", command, db_url=owner_url)
        assert result.returncode == 0, (command, result.stderr)
    assert "Connected as" not in result.stdout  # the owner itself: nothing to switch


def test_adopt_run_as_a_superuser_leaves_the_new_objects_to_the_owner_of_ellas_tables(
        demo_db_url):
    """ELLA's tables belong to the lab's role; adopt run as `postgres` added the migration
    table and two functions as the superuser's, and the owner's refresh, compare and API were
    refused from then on."""
    with login_role(demo_db_url, "ella_lab") as (role, database, url):
        with psycopg.connect(demo_db_url, autocommit=True) as conn:
            conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                sql.Identifier(database), sql.Identifier(role)))
            conn.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(role)))
            for (name,) in conn.execute(
                    "SELECT oid::regclass::text FROM pg_class WHERE relkind IN ('r', 'v') "
                    "AND relnamespace = 'public'::regnamespace").fetchall():
                conn.execute(sql.SQL("ALTER TABLE {} OWNER TO {}").format(
                    sql.SQL(name), sql.Identifier(role)))  # (their sequences follow)
            for (name,) in conn.execute(
                    "SELECT oid::regprocedure::text FROM pg_proc "
                    "WHERE pronamespace = 'public'::regnamespace").fetchall():
                conn.execute(sql.SQL("ALTER FUNCTION {} OWNER TO {}").format(
                    sql.SQL(name), sql.Identifier(role)))
            for (name,) in conn.execute(
                    "SELECT oid::regtype::text FROM pg_type WHERE typtype = 'e' "
                    "AND typnamespace = 'public'::regnamespace").fetchall():
                conn.execute(sql.SQL("ALTER TYPE {} OWNER TO {}").format(
                    sql.SQL(name), sql.Identifier(role)))
        assert _not_owned_by(demo_db_url, role) == []
        adopted = run_cli("ella-db", "adopt", db_url=demo_db_url)
        assert adopted.returncode == 0, adopted.stderr
        assert f"working as {role}, the owner of the schema" in adopted.stdout
        assert _not_owned_by(demo_db_url, role) == []
        for command in ("compare", "refresh"):
            result = run_cli("ella-db", command, db_url=url)
            assert result.returncode == 0, (command, result.stderr)


def test_tables_of_several_owners_keep_the_connected_role(owner_url, empty_db_url):
    """No one role owns such a schema: the superuser works as itself, as before (switched to
    one owner, refresh could not hand a rebuilt table back to another)."""
    assert run_cli("ella-db", "make-production", db_url=owner_url).returncode == 0
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE annotationshadowfrequency OWNER TO CURRENT_USER")
    refreshed = run_cli("ella-db", "refresh", db_url=empty_db_url)
    assert refreshed.returncode == 0, refreshed.stderr
    assert "Connected as" not in refreshed.stdout
    superuser = psycopg.conninfo.conninfo_to_dict(empty_db_url)["user"]
    assert ("relation annotationshadowfrequency", superuser) in _not_owned_by(
        empty_db_url, psycopg.conninfo.conninfo_to_dict(owner_url)["user"])


def test_an_owner_who_may_not_create_in_public_leaves_the_superuser_as_itself(
        owner_url, empty_db_url):
    """After `ella-db drop` as `postgres`, schema public is the superuser's with no grants:
    switched to the database's owner, make-production failed "permission denied for schema
    public" where it had worked."""
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        conn.execute("ALTER SCHEMA public OWNER TO CURRENT_USER")
        conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
    made = run_cli("ella-db", "make-production", db_url=empty_db_url)
    assert made.returncode == 0, made.stderr
    assert "Connected as" not in made.stdout
    # Said, with the fix: the owner cannot use what was made.
    owner = psycopg.conninfo.conninfo_to_dict(owner_url)["user"]
    assert "who owns the database but may not create in schema public" in made.stdout
    assert f"GRANT CREATE ON SCHEMA public TO {owner}" in made.stdout
