"""Database connections (psycopg 3) and loading of the project's SQL files."""

import os
import re
import urllib.parse
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import psycopg.conninfo
from psycopg import sql
from psycopg.types.array import ListDumper
from psycopg.types.datetime import TimestamptzLoader

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SQL_DIR = PROJECT_ROOT / "sql"
MIGRATIONS_DIR = SQL_DIR / "migrations"
TRIGGERS_DIR = SQL_DIR / "triggers"


class IntegerListAtLeastInt4Dumper(ListDumper):
    """Lists of small integers go as integer[], not smallint[].

    psycopg sends a list of ints as the smallest array type that holds them, so the ids of a
    database with fewer than 32,768 rows go as smallint[]. `int_column = ANY(smallint[])`
    compares across types, which PostgreSQL cannot turn into a hash lookup: a filter of n
    rows against m ids then costs n x m comparisons (0.6 s for one 7,000-variant query).
    With integer[] it hashes the list, as it does once ids pass 32,767."""

    def _find_list_element(self, L, format):
        item = super()._find_list_element(L, format)
        if type(item) is int and -2**15 <= item < 2**15:
            return 2**15
        return item


class TimestamptzInfinityLoader(TimestamptzLoader):
    """PostgreSQL's 'infinity' and '-infinity' as the largest and smallest datetimes, as
    psycopg2 (ELLA's driver) reads them: a DBA's never-expiring `password_expiry` in an
    adopted database made every read of that user a 500 ("timestamp too large")."""

    def load(self, data):
        if data == b"infinity":
            return datetime.max.replace(tzinfo=timezone.utc)
        if data == b"-infinity":
            return datetime.min.replace(tzinfo=timezone.utc)
        return super().load(data)


class DatabaseError(Exception):
    """A database problem worth one clear line to the operator (no traceback)."""


# What a role that lacks a privilege is told (README, "Database roles").
PRIVILEGE_HINT = ("the database role of DB_URL lacks a privilege this needs: see the README's "
                  "\"Database roles\" for what to grant")
# What a schema command (`ella-db make-production`, `migrate`, `refresh`, ...) run as another
# role is told: it creates and replaces tables, which only their owner may do.
SCHEMA_OWNER_HINT = ("schema commands run as the role that owns the database: use its "
                     "DB_URL; see the README's \"Database roles\"")


def act_as_schema_owner(conn):
    """Switch the session to the role that owns the schema (the owner of ELLA's tables, or of
    an empty database) when the connected role is another that may act as it (a superuser,
    `sudo -u postgres`); returns (owner, connected role, switched): not switched when the
    owner may not create in schema public (the caller warns: what is created then is the
    connected role's); None when the connected role is the owner, or may not act as it.

    Run as a superuser, make-production and adopt created tables and functions the database's
    owner could not use: every later command as the owner, the API included, failed with
    "permission denied"."""
    owner, current, allowed, creates, owners = conn.execute(
        "SELECT o.owner, current_user, pg_has_role(current_user, o.owner, 'MEMBER'), "
        "       has_schema_privilege(o.owner, 'public', 'CREATE'), "
        "       (SELECT count(DISTINCT relowner) FROM pg_class "
        "        WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p')) "
        "FROM (SELECT coalesce((SELECT pg_get_userbyid(relowner) FROM pg_class "
        "                       WHERE oid = to_regclass('public.alembic_version')), "
        "                      (SELECT pg_get_userbyid(datdba) FROM pg_database "
        "                       WHERE datname = current_database())) AS owner) o").fetchone()
    # The connected role goes on as itself (as before) when the owner may not create in
    # schema public (one `ella-db drop` recreated as the superuser's, a hardened pre-15
    # schema), or the tables have several owners: no one role is "the owner" (refresh gives
    # the tables it rebuilds their old owners).
    if owner == current or not allowed or owners > 1:
        conn.rollback()
        return None
    if not creates:
        conn.rollback()
        return owner, current, False
    conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(owner)))
    conn.commit()  # (a SET in a transaction rolled back later would be undone with it)
    return owner, current, True


# The privileges the service's role needs (README, "Database roles"), per kind of relation;
# our migration bookkeeping table is only read.
_NEEDED_PRIVILEGES = """
SELECT c.relname, p.privilege
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL unnest(CASE WHEN c.relkind = 'S' THEN ARRAY['USAGE', 'SELECT']
                               WHEN c.relname = 'ella_sql_migration' THEN ARRAY['SELECT']
                               ELSE ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE'] END)
     AS p(privilege)
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'S')
  AND NOT CASE WHEN c.relkind = 'S' THEN has_sequence_privilege(c.oid, p.privilege)
               ELSE has_table_privilege(c.oid, p.privilege) END
ORDER BY 1, 2"""


def missing_privileges(conn):
    """What the connection's role lacks of the grants the README's "Database roles" names,
    as ["TEMPORARY on the database", "INSERT on analysis", ...] (each privilege is checked on
    its own: PostgreSQL's has_*_privilege answer whether *any* listed one is held)."""
    missing = []
    if not conn.execute("SELECT has_database_privilege(current_database(), 'CONNECT')"
                        ).fetchone()[0]:
        missing.append("CONNECT on the database")
    if not conn.execute("SELECT has_database_privilege(current_database(), 'TEMPORARY')"
                        ).fetchone()[0]:
        missing.append("TEMPORARY on the database")
    if not conn.execute("SELECT has_schema_privilege('public', 'USAGE')").fetchone()[0]:
        missing.append("USAGE on schema public")
    missing += [f"{privilege} on {relation}"
                for relation, privilege in conn.execute(_NEEDED_PRIVILEGES)]
    return missing


def first_line(exc):
    """The first line of an error's message (libpq's and PostgreSQL's run over several, with
    the statement quoted), for a log line of its own; the class name when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


# Seconds to wait for the server to answer a connection, unless DB_URL, PGCONNECT_TIMEOUT or
# a service file says: libpq's default waits for ever (psycopg's, 130 s), and a hung server
# held every API worker and each poll of the loops that long.
CONNECT_TIMEOUT = 10
# TCP keepalives of a connection over the network (and a bound on data left unacknowledged,
# for a COPY under way), unless DB_URL or a service file sets them: with the system's
# defaults (two hours idle, a quarter of an hour of retransmissions) a server gone without a
# word (a network partition, a host powered off) held the watcher or the poller in the
# middle of a statement for hours; now the connection fails after about two minutes, which
# the loops take for an outage (retried on the next poll). Unix sockets ignore them.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 60, "keepalives_interval": 10,
              "keepalives_count": 6, "tcp_user_timeout": 120000}


def _connect_timeout(db_url):
    """The connection keywords of ours DB_URL does not set (a wait bound, keepalives)."""
    try:
        given = psycopg.conninfo.conninfo_to_dict(db_url)
    except psycopg.ProgrammingError:
        return {}  # refused, with its message, by connect() itself
    # A service file may set them (libpq reads the file after these keywords would
    # outrank it).
    if "service" in given or os.environ.get("PGSERVICE"):
        return {}
    ours = {} if "connect_timeout" in given or os.environ.get("PGCONNECT_TIMEOUT") \
        else {"connect_timeout": CONNECT_TIMEOUT}
    if not any(key in KEEPALIVES for key in given):
        ours.update(KEEPALIVES)
    return ours


def check_db_url(db_url):
    """DatabaseError if DB_URL cannot be a connection string at all, without connecting: a
    long-running loop (the poller) takes a failed connection for a server still away and
    would wait for ever on a typo."""
    if not db_url:
        connect(db_url)  # the standard "not set" error
    _refuse_undecodable(db_url)
    try:
        psycopg.conninfo.conninfo_to_dict(db_url)
    except psycopg.ProgrammingError as exc:
        raise _invalid_url(exc, db_url) from None


def _invalid_url(exc, db_url):
    first = _without_password(str(exc).strip().splitlines()[0], db_url)
    blanks = " (it has blanks before or after it)" if db_url != db_url.strip() else ""
    return DatabaseError(f"DB_URL is not a valid PostgreSQL URL or connection string{blanks}: "
                         f"{first}")


def _refuse_undecodable(db_url):
    """DB_URL from a file saved in Latin-1 (an `å` in the password) holds bytes that are no
    UTF-8, which libpq's strings cannot carry: every program ended in a traceback."""
    try:
        db_url.encode("utf-8")
    except UnicodeEncodeError:
        raise DatabaseError("DB_URL is not UTF-8 text (saved in another encoding?): write "
                            "it again in UTF-8, or percent-encode the characters that are "
                            "not ASCII (the bytes of their UTF-8: å is %C3%A5)") from None
    # Percent-encoded in Latin-1 (%E5 for an "å"): decoded as UTF-8, it ended every program
    # in a UnicodeDecodeError traceback.
    try:
        psycopg.conninfo.conninfo_to_dict(db_url)
    except UnicodeDecodeError:
        raise DatabaseError("DB_URL has a percent-encoded character that is no UTF-8 (%E5, "
                            "Latin-1's å?): percent-encode the bytes of each character's "
                            "UTF-8 (å is %C3%A5)") from None
    except psycopg.ProgrammingError:
        pass  # a malformed URL: said by the caller, with libpq's words


# Said by every tool started without a database: a newcomer's first run of one after
# `make run` (which sets DB_URL only for itself) ended here.
DB_URL_MISSING = ("DB_URL is not set: give the PostgreSQL URL of the ELLA database (e.g. "
                  "postgresql:///ella?host=/path/to/socket; for the local database of "
                  "`make run`: export DB_URL=\"$(make -s db-url)\")")


def connect(db_url, autocommit=False, application_name="ella"):
    if not db_url:
        raise DatabaseError(DB_URL_MISSING)
    _refuse_undecodable(db_url)
    try:
        # UTF-8 whatever PGCLIENTENCODING or the database's default says (names outside
        # Latin-1 failed to load). No `options` of ours: libpq takes them from the URL, a
        # service file or PGOPTIONS, and ours would replace them.
        conn = psycopg.connect(db_url, autocommit=autocommit, application_name=application_name,
                               client_encoding="utf8", **_connect_timeout(db_url))
        conn.adapters.register_dumper(list, IntegerListAtLeastInt4Dumper)
        conn.adapters.register_loader("timestamptz", TimestamptzInfinityLoader)
        try:
            _pin_session_settings(conn)
        except BaseException:
            conn.close()  # not left open for the garbage collector
            raise
        return conn
    except psycopg.ProgrammingError as exc:
        # Not chained (`from None`): libpq's own message may quote the password, and a
        # traceback of this error would print it.
        raise _invalid_url(exc, db_url) from None
    except psycopg.OperationalError as exc:
        # libpq's message is multi-line; the first line says what failed.
        raise DatabaseError("cannot connect to the database: "
                            f"{_without_password(first_line(exc), db_url)}") from None


# Set after connecting, as a session's SET outranks every default: the server's, the
# database's or role's (ALTER ... SET), and libpq's PGTZ/PGDATESTYLE, which the server applies
# after a connection's `options`. TimeZone UTC: timestamps are read, compared by day
# (`outdated_after_days`, dates without a time) and served as UTC with +00:00 (api.md 1.3)
# whatever the site's zone. ISO styles: psycopg reads dates and intervals only in those
# (a German DateStyle made every timestamp a 500). JIT off: the planner's row estimates for
# set-returning functions (unnest, generate_series) make short filter queries look
# expensive, and compiling them took 1-2 s where running them takes a fraction of that
# (bench/filter).
# search_path: ELLA's schema is `public`, which every check reads; PostgreSQL's default
# `"$user", public` put a migration's tables into a schema named after the role where one
# exists (the "secure schema usage pattern").
# Read committed: a check that counts or looks up rows after taking a lock (an advisory lock,
# FOR UPDATE) must see what the lock's previous holder committed; a site's
# default_transaction_isolation of repeatable read took the snapshot before the wait, and two
# requests both passed on the same count. (API reads ask for repeatable read themselves.)
SESSION_SETTINGS = "SET TimeZone TO 'UTC'; SET DateStyle TO 'ISO, MDY'; " \
    "SET IntervalStyle TO 'postgres'; SET jit TO off; SET search_path TO public; " \
    "SET default_transaction_isolation TO 'read committed'"


def _pin_session_settings(conn):
    conn.execute(SESSION_SETTINGS)
    if not conn.autocommit:
        conn.commit()  # a rolled-back SET would be undone


def api_wait_limits(worker_timeout=0):
    """How long one of the API's statements may wait for a lock, and run: a DBA's
    `LOCK TABLE` or a long `ALTER TABLE` held every gunicorn worker until gunicorn killed it
    (GUNICORN_TIMEOUT, 500 s) with an HTML 500. 30 s and 240 s (nginx waits 300 s for an
    answer), or a third and a half of a shorter worker timeout. No request of ours waits for
    an import (those that would are refused at once or after a short wait: finalize-allele
    of a variant being re-annotated, a change of an import job being deposited); the
    longest statement takes a few seconds."""
    lock, statement = 30, 240
    if worker_timeout:
        lock, statement = min(lock, max(1, worker_timeout // 3)), \
            min(statement, max(1, worker_timeout // 2))
    return {"lock_timeout": f"{lock}s", "statement_timeout": f"{statement}s"}


def limit_waits(conn, limits):
    """Set each of `limits` ({setting: value}) that nobody set for the session: one the
    site set (DB_URL's options, PGOPTIONS, the role's or database's settings), 0 (none)
    included, stays."""
    for name, value in limits.items():
        source = conn.execute("SELECT source FROM pg_settings WHERE name = %s",
                              (name,)).fetchone()[0]
        if source == "default":
            conn.execute(f"SET {name} TO '{value}'")
    if not conn.autocommit:
        conn.commit()


# The password of a URL (up to its last "@", as a malformed one with an unescaped "@" is read;
# also without its scheme, which libpq then quotes whole; also after blanks, which make libpq
# read it as key=value and quote it) or of a key=value connection string (quoted, or up to
# the next `key=`: libpq quotes the words of a password with unquoted blanks).
# A URL with a scheme is read only after it: `postgresql://ella@db` has no password (read
# without its scheme, "//ella" was one, and the user name was masked in every message).
# An empty key=value password is empty (the blank after `=` is no part of it).
# Without a scheme (also a mistyped one, `postgresql//ella:pw@db`) the user may hold a `/`.
# The password never runs into the query (`?application_name=ella@lab` made a port of 5432
# the password).
_URL_PASSWORD = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*://[^:/@=\s]*|(?![a-z][a-z0-9+.-]*://)"
                           r"[^:@=\s]*):(?P<secret>[^?]*)@[^@]*$", re.IGNORECASE | re.DOTALL)
_KEY_PASSWORD = re.compile(r"(?:^|\s)password\s*=(?:\s*'(?P<quoted>(?:[^'\\]|\\.)*)'?|"
                           r"(?P<secret>.*?))(?=\s+\w+\s*=|\s*$)", re.IGNORECASE | re.DOTALL)
# ... or a URL's query parameter (postgresql://ella@db/ella?password=...).
_QUERY_PASSWORD = re.compile(r"[?&]password=(?P<secret>[^&#]*)", re.IGNORECASE)


def _without_password(message, db_url):
    """libpq's message with any piece of DB_URL's password masked: quoting a malformed URL,
    it can show the password or a part of it ("failed to resolve host 'ss@db'")."""
    pieces = set()
    for found in (_URL_PASSWORD.match(db_url), _KEY_PASSWORD.search(db_url),
                  _QUERY_PASSWORD.search(db_url)):
        if found:
            secret = found.group("secret") or found.groupdict().get("quoted") or ""
            pieces |= {secret, urllib.parse.unquote(secret), *re.split(r"[@:/\s]", secret)}
    for piece in sorted((p for p in pieces if len(p) >= 3), key=len, reverse=True):
        message = message.replace(piece, "***")
    return message


def clock_now(conn):
    """The database server's clock now: neither the transaction's start (`now()`) nor this
    host's clock. The time of a row that supersedes another, read after the locks the writer
    waited for, so that a history's times read in its order whichever process wrote it."""
    return conn.execute("SELECT clock_timestamp()").fetchone()[0]


def postgres_regex_problem(conn, pattern):
    """PostgreSQL's message when it refuses `pattern` as a regular expression (its dialect
    is not Python's), else None. Runs in a savepoint: the caller's transaction goes on."""
    try:
        with conn.transaction():
            conn.execute("SELECT '' ~ %s", (pattern,))
    except psycopg.errors.InvalidRegularExpression as exc:
        return exc.diag.message_primary or first_line(exc)
    return None


def public_tables(conn):
    """Names of the ordinary tables in schema public."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1"
    ).fetchall()
    return [r[0] for r in rows]


def table_exists(conn, name):
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f'public."{name}"',)).fetchone()[0]


def read_sql(path):
    return Path(path).read_text(encoding="utf-8")
