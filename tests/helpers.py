"""Small helpers shared by the tests."""

import functools
import json
import os
import re
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

import psycopg
import psycopg.conninfo
from psycopg import sql

from ella.catalogue import BOOKKEEPING_TABLE, read_catalogue
from ella.devdb import find_bin_dir

import cli_forkserver

ROOT = Path(__file__).resolve().parent.parent
EXPECTED_CATALOGUE = ROOT / "ella" / "ella_head_catalogue.json"

# Deliberate addition to ELLA's schema (DESIGN.md): a trigger that keeps reference.search
# filled. Everything else must equal ELLA's catalogue.
OUR_ADDED_TRIGGERS = {("reference", "reference_search_trigger")}

# Keyword arguments that silence migrate/adopt/refresh's progress lines.
quiet = {"echo": lambda *_: None}

# The users' password policy (config `user.auth`) of the user tests.
AUTH = {
    "password_expiry_days": 90,
    "password_minimum_length": 8,
    "password_match_groups": [".*[A-Z].*", ".*[a-z].*", ".*[0-9].*", ".*[^A-Za-z0-9].*"],
    "password_match_groups_descr": ["Uppercase", "Lowercase", "Digits", "Special"],
    "password_num_match_groups": 3,
}


def expected_catalogue():
    return json.loads(EXPECTED_CATALOGUE.read_text())


def catalogue(url, without_our_additions=True):
    with psycopg.connect(url) as conn:
        cat = read_catalogue(conn)
    if without_our_additions:
        for table, trigger in OUR_ADDED_TRIGGERS:
            cat["tables"].get(table, {}).get("triggers", {}).pop(trigger, None)
    return cat


def table_snapshot(url, skip=(BOOKKEEPING_TABLE,)):
    """Every row of every public table, as sorted row text per table (PostgreSQL's text of
    the row, `(1,"{""a"": 1}",)`: JSON text via to_jsonb cost three times as much, 0.2 s a
    snapshot of the ELLA demo database). Times as text in UTC, whatever the time zone of
    the role or server read from (two roles' snapshots are compared)."""
    with psycopg.connect(url, options="-c TimeZone=UTC -c DateStyle=ISO") as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]
        tables = [table for table in tables if table not in skip]
        if not tables:
            return {}
        # One statement for all tables: a round trip per table was most of the cost of the
        # bad-input tests, which take a snapshot per input.
        parts = [sql.SQL("SELECT {}, (SELECT array_agg(t::text) FROM {} t)").format(
                 sql.Literal(table), sql.Identifier(table)) for table in tables]
        rows = dict(conn.execute(sql.SQL(" UNION ALL ").join(parts)).fetchall())
    return {table: sorted(rows[table] or ()) for table in tables}


def without_clilog(snapshot):
    """A table_snapshot without the audit log (which every run of a tool writes to)."""
    return {table: rows for table, rows in snapshot.items() if table != "clilog"}


def clilog_outputs(url):
    """The `output` of every clilog row, oldest first."""
    return [r[0] for r in query(url, "SELECT output FROM clilog ORDER BY id")]


def pg_client(tool):
    """Path of a PostgreSQL client program (psql, pg_dump, ...): PATH, else the server's."""
    return shutil.which(tool) or str(find_bin_dir() / tool)


def query(db_url, sql_text, params=()):
    with psycopg.connect(db_url) as conn:
        return conn.execute(sql_text, params).fetchall()


def run_cli(tool, *args, db_url=None, env=None, stdin=None, cwd=None):
    """Run bin/<tool> as a user would; returns CompletedProcess (text). Runs whose
    environment lets them go through the fork server (cli_forkserver) skip the interpreter's
    start; `ELLA_TEST_EXEC_CLI=1` execs every one."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("DB_URL", "ELLA_CONFIG")}
    if db_url:
        full_env["DB_URL"] = db_url
    full_env.update(env or {})
    stdin = stdin if stdin is not None else ""
    module = _cli_module(tool)
    if module and not os.environ.get("ELLA_TEST_EXEC_CLI"):
        server = cli_forkserver.server()
        run_env = cli_forkserver.wrapper_env(full_env)
        if cli_forkserver.same_start(run_env, server.env):
            return server.run(module, args, run_env, stdin, cwd, timeout=300)
    return subprocess.run([str(ROOT / "bin" / tool), *args], capture_output=True, text=True,
                          env=full_env, input=stdin, timeout=300, cwd=cwd)


@functools.cache
def _cli_module(tool):
    """The module bin/<tool> runs (`python -m ella.cli.x`), None for another kind of tool."""
    match = re.search(r' -m (ella\.cli\.\w+) "\$@"\n\Z', (ROOT / "bin" / tool).read_text())
    return match.group(1) if match else None


def wait_for_lock_wait(db_url, application_name=None, count=1, timeout=60.0):
    """Block until `count` sessions of this database (of `application_name`, if given) wait
    for a lock: how the concurrency tests order two transactions without sleeping."""
    import time
    query = ("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
             "AND datname = current_database()")
    params = ()
    if application_name:
        query += " AND application_name = %s"
        params = (application_name,)
    with psycopg.connect(db_url, autocommit=True) as watch:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if watch.execute(query, params).fetchone()[0] >= count:
                return
            time.sleep(0.02)
    raise AssertionError(f"no {count} session(s) waited for a lock within {timeout} s")


@contextmanager
def recorded_statements():
    """Every SQL statement sent through a psycopg cursor (conn.execute too) while the block
    runs, as (text, params)."""
    calls = []
    original = psycopg.Cursor.execute

    def execute(self, query, params=None, **kwargs):
        text = query if isinstance(query, str) else query.as_string(self.connection)
        calls.append((text, params))
        return original(self, query, params, **kwargs)

    psycopg.Cursor.execute = execute
    try:
        yield calls
    finally:
        psycopg.Cursor.execute = original


def process_running(pid):
    """Whether process `pid` runs (a zombie, left for a parent that never reaps it, does
    not); True where there is no /proc to tell."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        return True


@contextmanager
def login_role(db_url, prefix):
    """(role name, database name, the URL as that role) of a new login role without any
    privilege, in the database of `db_url` (a superuser's); the caller grants what it needs.
    Afterwards its sessions end, the database is given back if the role owned it, and the
    role and everything it owns are dropped."""
    import uuid
    role = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(db_url, autocommit=True) as conn:
        database = conn.execute("SELECT current_database()").fetchone()[0]
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    try:
        yield role, database, psycopg.conninfo.make_conninfo(db_url, user=role)
    finally:
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE usename = %s", (role,))
            conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO CURRENT_USER").format(
                sql.Identifier(database)))
            conn.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
