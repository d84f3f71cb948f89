"""`bin/ella-db` and the schema checks in databases set up other than by us alone: a schema
named after the owner role, tables that are not ELLA's, a role that may not create tables."""

import shutil

import psycopg
import pytest
from psycopg import sql

from ella.db import MIGRATIONS_DIR
from ella.migrate import at_head, detect_state, migrate
from helpers import login_role, run_cli

QUIET = {"echo": lambda *_: None}


def _current_user(url):
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT current_user").fetchone()[0]


def test_make_production_with_a_schema_named_after_the_role(empty_db_url):
    """PostgreSQL's "secure schema usage pattern" (a schema per role) with the default
    search_path put every table into that schema; the refresh then failed with a traceback,
    status called the database empty, and no re-run could mend it."""
    user = _current_user(empty_db_url)
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(
            sql.Identifier(user), sql.Identifier(user)))
    result = run_cli("ella-db", "make-production", db_url=empty_db_url)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-600:]
    assert run_cli("ella-db", "compare", db_url=empty_db_url).returncode == 0
    with psycopg.connect(empty_db_url) as conn:
        assert conn.execute("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = "
                            "c.relnamespace WHERE n.nspname = %s", (user,)).fetchone() == (0,)


def test_adopt_with_a_schema_named_after_the_role(demo_db_url):
    """adopt put its bookkeeping table there and said "Adopted"; compare then said "not
    adopted" (the API would not start) and a second adopt failed on a duplicate key."""
    user = _current_user(demo_db_url)
    with psycopg.connect(demo_db_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(user)))
    adopted = run_cli("ella-db", "adopt", db_url=demo_db_url)
    assert adopted.returncode == 0, adopted.stderr
    assert run_cli("ella-db", "compare", db_url=demo_db_url).returncode == 0


def test_a_later_migration_of_ours_that_adds_a_table_keeps_the_database_ours(
        db_url, ella_config, tmp_path):
    """Any table not ELLA's made a database we manage 'foreign': after a migration that adds
    one, compare, health/, deposits, migrate and refresh refused for ever."""
    migrations = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, migrations)
    (migrations / "0002_add_a_table.sql").write_text(
        "CREATE TABLE variantnote (id serial PRIMARY KEY, note text);\n")
    with psycopg.connect(db_url) as conn:
        applied = migrate(conn, ella_config, migrations_dir=migrations, **QUIET)
        assert [m.name for m in applied] == ["0002_add_a_table.sql"]
        assert detect_state(conn).kind == "ours"
        conn.rollback()
        assert at_head(conn, ella_config, migrations_dir=migrations) == \
            (True, "Migration status OK!")
        assert migrate(conn, ella_config, migrations_dir=migrations, **QUIET) == []


def test_a_table_a_dba_added_keeps_the_database_in_service(db_url, demo_db_url):
    """A DBA's own table (a monitoring table, PostGIS' spatial_ref_sys) in a database we
    manage; an ELLA database with one is still refused by adopt (README)."""
    for url in (db_url, demo_db_url):
        with psycopg.connect(url) as conn:
            conn.execute("CREATE TABLE dba_scratch (id integer)")
    for command in ("compare", "refresh"):
        result = run_cli("ella-db", command, db_url=db_url)
        assert result.returncode == 0, result.stdout + result.stderr
    refused = run_cli("ella-db", "adopt", db_url=demo_db_url)
    assert refused.returncode == 1 and "unknown tables: dba_scratch" in refused.stderr


@pytest.fixture
def plain_role(empty_db_url):
    with login_role(empty_db_url, "plain") as (role, database, url):
        with psycopg.connect(empty_db_url, autocommit=True) as conn:
            conn.execute(sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
                sql.Identifier(database), sql.Identifier(role)))
            # (PostgreSQL 15 grants no CREATE on public to other roles.)
            conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(
                sql.Identifier(role)))
        yield url


@pytest.mark.parametrize("command", ["make-production", "migrate"])
def test_a_migration_refused_for_a_privilege_names_the_owners_url(plain_role, command):
    """README, Database roles: a schema command run as another role says to use the owner's
    DB_URL; the failed migration's own message lost that hint."""
    result = run_cli("ella-db", command, db_url=plain_role)
    assert result.returncode == 1 and "permission denied" in result.stderr
    assert "schema commands run as the role that owns the database" in result.stderr, \
        result.stderr


def test_an_inclusion_regex_only_python_reads_keeps_the_service_from_starting(db_url,
                                                                             ella_config):
    """The filters and the variant reads apply `transcripts.inclusion_regex` in SQL too: one
    with a named group (Python's dialect) made every read of a variant's genes a 500. It is
    checked with the database as the service starts (`compare`, health, every program)."""
    import copy
    config = copy.deepcopy(ella_config)
    config["transcripts"]["inclusion_regex"] = "(?P<t>NM_)"
    for autocommit in (False, True):
        with psycopg.connect(db_url, autocommit=autocommit) as conn:
            ok, message = at_head(conn, config)
            assert not ok and message.startswith(
                "transcripts.inclusion_regex '(?P<t>NM_)' is no regular expression PostgreSQL "
                "reads: invalid regular expression"), message
            assert at_head(conn, ella_config) == (True, "Migration status OK!")
