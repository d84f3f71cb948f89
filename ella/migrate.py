"""The plain-SQL migration runner, database state detection, adopt, status and drop.

Bookkeeping: `alembic_version` always holds the ELLA revision our schema corresponds to (ELLA's
own tools read only that). Our runner additionally records every file of sql/migrations/ it
applied, with a SHA-256 of its text, in `ella_sql_migration`, a table ELLA ignores.

Files named `*_<ELLA head revision>.sql` make up the baseline: together they create ELLA's head
schema on an empty database. `adopt` records them as already present in an existing ELLA
database at that revision; any later file is one of our own migrations and runs on both.
"""

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from ella import ELLA_HEAD_REVISION
from ella.catalogue import BOOKKEEPING_TABLE, missing_from_ella_head, read_catalogue
from ella.db import (MIGRATIONS_DIR, first_line, postgres_regex_problem, public_tables,
                     read_sql, table_exists)
from ella.refresh import (FREQUENCY_TABLE, TRANSCRIPT_TABLE, fill_reference_search,
                          frequency_column_differences, functions_fingerprint,
                          install_functions_and_triggers, insert_missing_json_schemas,
                          installed_functions_fingerprint, limit_lock_wait,
                          live_functions_fingerprint, lock_wait_limited, mark_refresh_owed,
                          recorded_live_fingerprint, refresh, REFRESH_OWED, RefreshError)

# Built by refresh, not by the migrations.
SHADOW_TABLES = frozenset({TRANSCRIPT_TABLE, FREQUENCY_TABLE})

# ELLA's 53 revisions, oldest first (datamodel.md 7.3). Used to tell an older ELLA database
# (to be upgraded with ELLA first) from one that is not an ELLA database at all.
ELLA_REVISIONS = """
8272b3675971 82e7b7ca0ab8 fdbb9cbd41ad 6d7548a6dfd9 3aa5e573699c 30b6557cf2d0 780575a06f97
86deaf190356 f93cbfcb7ca9 bbe1686834a4 7fddcdb9e856 d099628590c9 4629b478b291 662204b12d07
da809112fd6c 250c9c10baee 61b990b84ed2 1c5e523b57b3 1ff294ee1c64 ec5fb8b62e4a 2a1becd831ab
99287295d7fe 4fef0af39a20 022118518e99 12760875ee2d 529e8f6faed9 96bec57f81de 4dee968751a0
d6290a3fdf7b 16a0a693b537 93e88dd283a2 fa3bc78eb17b 92b582acebc6 268cca7b35e9 2aabb5bc9e0c
49c742fa2e6c 61779f00886c 0143c6e15141 924438596189 d87c53d0e1d4 7fa4d0b48662 611d46cd83b4
1a6024944723 d394766ada41 4046ee04dd46 159bc8c35c00 6cdc8d2aa110 fa9687c3fd90 c2294141ee68
1675e8d8b078 88b3cbf57659 92066141f180 4c2844fef850
""".split()

# The 45 tables of ELLA's head schema (alembic_version included).
ELLA_TABLES = frozenset("""
alembic_version jsonschema allele annotation annotationconfig customannotation
annotationshadowtranscript annotationshadowfrequency gene transcript phenotype genepanel
genepanel_transcript genepanel_phenotype analysis sample genotype genotypesampledata filterconfig
usergroupfilterconfig annotationjob alleleassessment referenceassessment allelereport
geneassessment reference attachment alleleassessmentattachment alleleassessmentreferenceassessment
analysisinterpretation alleleinterpretation analysisinterpretationsnapshot
alleleinterpretationsnapshot interpretationstatehistory interpretationlog user usergroup
usergroupgenepanel usergroupimport usersession useroldpassword resourcelog clilog uiexception
broadcast
""".split())

# Serialises runners: two `migrate`/`refresh` at once on one database wait for each other.
ADVISORY_LOCK_KEY = 0x454C4C41  # "ELLA"

MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class MigrationError(Exception):
    pass


@dataclass
class MigrationFile:
    path: Path
    name: str
    checksum: str

    @property
    def is_baseline(self):
        return self.name.endswith(f"_{ELLA_HEAD_REVISION}.sql")


@dataclass
class DatabaseState:
    """What a database is, from our point of view."""
    kind: str  # "empty" | "ours" | "ella" (unadopted ELLA at head) | refusal kinds below
    revision: str | None = None
    tables: list = field(default_factory=list)
    message: str = ""
    # Ours, but the shadow tables a refresh builds are missing (an interrupted first
    # make-production): the next migrate or refresh builds them.
    needs_refresh: bool = False


def migration_files(directory=MIGRATIONS_DIR):
    files = []
    for path in sorted(Path(directory).glob("*.sql")):
        if not MIGRATION_NAME.match(path.name):
            raise MigrationError(f"{path.name}: migration file names must look like "
                                 "NNNN_short_name.sql (lower case)")
        text = path.read_bytes()
        files.append(MigrationFile(path, path.name, hashlib.sha256(text).hexdigest()))
    numbers = [f.name[:4] for f in files]
    duplicates = sorted({n for n in numbers if numbers.count(n) > 1})
    if duplicates:
        raise MigrationError(f"two migration files share the number {duplicates[0]}")
    return files


def _alembic_revision(conn):
    rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    if len(rows) != 1:
        return None, f"alembic_version holds {len(rows)} rows (ELLA keeps exactly one)"
    return rows[0][0], None


def detect_state(conn):
    tables = public_tables(conn)
    if not tables:
        return DatabaseState("empty", tables=tables)
    if "alembic_version" not in tables:
        return DatabaseState(
            "foreign", tables=tables,
            message="the database has tables but no alembic_version: it is not an ELLA "
                    "production database (a database made by ELLA's development `make` has "
                    "none either). Use an empty database, or an ELLA database made by "
                    "`ella-cli database make-production`")
    revision, problem = _alembic_revision(conn)
    if problem:
        return DatabaseState("foreign", tables=tables, message=problem)
    if revision != ELLA_HEAD_REVISION:
        if revision in ELLA_REVISIONS:
            return DatabaseState(
                "old-ella", revision=revision, tables=tables,
                message=f"the database is at ELLA revision {revision}, older than ELLA 1.17's "
                        f"{ELLA_HEAD_REVISION}: upgrade it with ELLA first "
                        "(`ella-cli database upgrade head` and `ella-cli database refresh` in "
                        "ELLA 1.17), then adopt it")
        return DatabaseState("foreign", revision=revision, tables=tables,
                             message=f"alembic_version holds the unknown revision {revision!r}: "
                                     "not an ELLA database this service knows")
    # A database this service manages may hold more tables: a later migration's of ours,
    # or a DBA's (ELLA's own has none, and is adopted only as it is).
    ours = BOOKKEEPING_TABLE in tables
    unknown = [] if ours else sorted(set(tables) - ELLA_TABLES - {BOOKKEEPING_TABLE})
    missing = sorted(ELLA_TABLES - set(tables))
    if ours and missing and set(missing) <= SHADOW_TABLES:
        return DatabaseState("ours", revision=revision, tables=tables, needs_refresh=True)
    if unknown or missing:
        parts = []
        if unknown:
            parts.append("unknown tables: " + ", ".join(unknown))
        if missing:
            parts.append("missing tables: " + ", ".join(missing))
        return DatabaseState("foreign", revision=revision, tables=tables,
                             message="the database is at ELLA's head revision but its tables "
                                     "differ from ELLA's (" + "; ".join(parts) + ")")
    if BOOKKEEPING_TABLE in tables:
        return DatabaseState("ours", revision=revision, tables=tables)
    return DatabaseState("ella", revision=revision, tables=tables)


def _ensure_bookkeeping(cur):
    cur.execute(sql.SQL("""
        CREATE TABLE IF NOT EXISTS {} (
            filename text PRIMARY KEY,
            checksum text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now(),
            how text NOT NULL CHECK (how IN ('applied', 'adopted'))
        )""").format(sql.Identifier(BOOKKEEPING_TABLE)))


def applied_migrations(conn):
    if not table_exists(conn, BOOKKEEPING_TABLE):
        return {}
    rows = conn.execute(sql.SQL("SELECT filename, checksum FROM {}").format(
        sql.Identifier(BOOKKEEPING_TABLE))).fetchall()
    return dict(rows)


def migration_history(conn):
    """[(filename, applied_at, how)] in the order they were applied ("applied" by us,
    "adopted" as present in an ELLA database); [] before any."""
    if not table_exists(conn, BOOKKEEPING_TABLE):
        return []
    return conn.execute(sql.SQL("SELECT filename, applied_at, how FROM {} "
                                "ORDER BY applied_at, filename").format(
        sql.Identifier(BOOKKEEPING_TABLE))).fetchall()


def pending_migrations(conn, files):
    """Files not applied yet; refuses when an applied file was edited or removed."""
    applied = applied_migrations(conn)
    by_name = {f.name: f for f in files}
    for name, checksum in sorted(applied.items()):
        if name not in by_name:
            raise MigrationError(f"migration {name} was applied to this database but is missing "
                                 "from sql/migrations/ (this code is older than the database?)")
        if by_name[name].checksum != checksum:
            raise MigrationError(f"migration {name} was edited after it was applied to this "
                                 "database (checksum differs); never edit an applied migration, "
                                 "add a new one")
    return [f for f in files if f.name not in applied]


def _with_runner_lock(conn, fn, echo=print):
    if not conn.execute("SELECT pg_try_advisory_lock(%s)", (ADVISORY_LOCK_KEY,)).fetchone()[0]:
        # Waits as long as the other one works (a migration must not be cut off halfway);
        # said, so that a hung one is found.
        echo("Another make-production, migrate or adopt is running on this database: waiting "
             "for it to finish (Ctrl-C stops waiting; nothing is changed before then)")
        conn.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
    conn.commit()
    try:
        return fn()
    finally:
        try:
            conn.rollback()
            conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
            conn.commit()
        except psycopg.Error:
            pass  # a broken connection releases its session lock by itself; keep fn's error


_TRANSACTION_CONTROL = re.compile(
    r"\s*(BEGIN|COMMIT|ROLLBACK|END|ABORT|START\s+TRANSACTION|SAVEPOINT|RELEASE|"
    r"PREPARE\s+TRANSACTION)\b", re.IGNORECASE)
_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_][A-Za-z_0-9]*)?\$")
_WORD = re.compile(r"[A-Za-z_][A-Za-z_0-9$]*")


def _statements_text(text):
    """`text` with comments (nested, as PostgreSQL nests them), quoted text (`E'...'` with
    its backslash escapes), quoted names and dollar-quoted bodies blanked out."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("--", i):
            i = text.find("\n", i)
            i = n if i < 0 else i
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c in "'\"":
            escapes = c == "'" and i > 0 and text[i - 1] in "eE" and \
                not (i > 1 and (text[i - 2].isalnum() or text[i - 2] == "_"))
            i += 1
            while i < n:
                if escapes and text[i] == "\\":
                    i += 2
                elif text[i] == c:
                    if text.startswith(c * 2, i):
                        i += 2
                    else:
                        i += 1
                        break
                else:
                    i += 1
        elif c == "$" and (tag := _DOLLAR_TAG.match(text, i)) and not (
                i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_")):
            close = text.find(tag.group(), tag.end())
            i = n if close < 0 else close + len(tag.group())
        else:
            out.append(c)
            i += 1
            continue
        out.append(" ")
    return "".join(out)


def _without_atomic_bodies(text):
    """`text` with SQL-standard function bodies (`BEGIN ATOMIC ... END`, whose statements
    end in `;` and whose CASE expressions have their own END) blanked out."""
    out, position = [], 0
    for begin in re.finditer(r"\bBEGIN\s+ATOMIC\b", text, re.IGNORECASE):
        if begin.start() < position:
            continue
        depth, end, previous = 0, len(text), ""
        for word in _WORD.finditer(text, begin.end()):
            upper, label = word.group().upper(), previous == "AS" or (
                word.start() > 0 and text[word.start() - 1] == ".")
            previous = upper
            if label:  # (`AS end`, `t.case`: a name, not a keyword)
                continue
            if upper == "CASE":
                depth += 1
            elif upper == "END":
                if depth == 0:
                    end = word.end()
                    break
                depth -= 1
        out.append(text[position:begin.start()] + " ")
        position = end
    return "".join(out) + text[position:]


def transaction_control(text):
    """The first statement of a migration's text that controls the transaction, or None."""
    for statement in _without_atomic_bodies(_statements_text(text)).split(";"):
        match = _TRANSACTION_CONTROL.match(statement)
        if match:
            return " ".join(match.group(1).upper().split())
    return None


def apply_migration(conn, migration):
    """Apply one file in its own transaction, recording it; a failure changes nothing."""
    text = read_sql(migration.path)
    control = transaction_control(text)
    if control:
        # Its statements before a COMMIT of its own were committed whatever came after:
        # a failure left them applied and the file unrecorded, every later run failing.
        raise MigrationError(f"migration {migration.name} has its own {control}: each file "
                             "runs in one transaction of the runner, so that a failure "
                             "changes nothing; take the transaction control out")
    try:
        with conn.transaction():
            cur = conn.cursor()
            _ensure_bookkeeping(cur)
            cur.execute(text)
            cur.execute(sql.SQL("INSERT INTO {} (filename, checksum, how) "
                                "VALUES (%s, %s, 'applied')").format(
                sql.Identifier(BOOKKEEPING_TABLE)), (migration.name, migration.checksum))
            mark_refresh_owed(cur)
    except MigrationError:
        raise
    except Exception as exc:  # psycopg errors: report the file and PostgreSQL's message
        first = first_line(exc)
        raise MigrationError(f"migration {migration.name} failed and was rolled back: "
                             f"{first}") from exc


def migrate(conn, config, migrations_dir=MIGRATIONS_DIR, echo=print):
    """Bring the database to the newest schema: an empty database gets the whole schema plus
    refresh; one of ours gets its pending files. Returns the list of files applied."""
    files = migration_files(migrations_dir)

    def run():
        state = detect_state(conn)
        conn.rollback()
        if state.kind == "ella":
            raise MigrationError("this is an existing ELLA database that this service has not "
                                 "taken over yet: run `ella-db adopt` (it changes no data)")
        if state.kind not in ("empty", "ours"):
            raise MigrationError(state.message)
        pending = pending_migrations(conn, files)
        conn.rollback()
        if not pending and state.needs_refresh:
            echo("The shadow tables are missing (an interrupted make-production?): refreshing.")
            refresh(conn, config, echo=echo)
            return []
        outdated = not pending and state.kind == "ours" and functions_outdated(conn)
        if outdated:
            conn.rollback()
            echo(outdated[0].upper() + outdated[1:] + ": refreshing.")
            refresh(conn, config, echo=echo)
            return []
        if not pending:
            echo("Database is up to date; nothing to apply.")
            return []
        if state.kind == "empty" and not pending[0].is_baseline:
            raise MigrationError(f"{pending[0].name}: the first migration must be the baseline")
        for migration in pending:
            echo(f"Applying {migration.name}...")
            apply_migration(conn, migration)
        echo("Refreshing shadow tables and (re)creating triggers.")
        try:
            refresh(conn, config, echo=echo)
        except RefreshError as exc:
            names = ", ".join(m.name for m in pending)
            raise RefreshError(f"{names} applied (committed), but the refresh after it did not "
                               f"finish: {exc}. Run `ella-db migrate` (or `refresh`) again to "
                               "finish") from exc
        return pending

    return _with_runner_lock(conn, run, echo)


def adopt(conn, config, migrations_dir=MIGRATIONS_DIR, echo=print):
    """Take over an ELLA database at ELLA's head revision without changing any row, apart
    from filling the derived `reference.search` vectors ELLA leaves NULL.

    Records the baseline files as present, installs our functions and triggers (they replace
    ELLA's same-named ones with equivalent behaviour) and inserts JSON schema rows only for
    (name, version) pairs the database lacks. Refuses, before changing anything, when the
    shadow tables' frequency columns differ from the config: only an explicit
    `ella-db refresh` may change columns."""
    files = migration_files(migrations_dir)

    def run():
        # Checks and changes in one transaction: all or nothing.
        with lock_wait_limited("adopt"), conn.transaction():
            limit_lock_wait(conn.cursor())
            return adopt_in_transaction()

    def adopt_in_transaction():
        state = detect_state(conn)
        if state.kind == "ours":
            # A database newer code migrated is refused, as by every other command (it was
            # "nothing to adopt", exit 0).
            pending_migrations(conn, files)
            echo("This database is already managed by this service; nothing to adopt.")
            return False
        if state.kind == "empty":
            raise MigrationError("the database is empty: there is nothing to adopt; "
                                 "use `ella-db make-production` to create the schema")
        if state.kind != "ella":
            raise MigrationError(state.message)
        lacking = ella_schema_lacking(conn)
        if lacking:
            # A damaged copy (a unique index dropped allowed two current assessments of a
            # variant) was adopted, as its tables' names were ELLA's.
            raise MigrationError(lacking + ". Restore it from ELLA's backup (or make it "
                                 "ELLA's) before adopting")
        differences = frequency_column_differences(conn, config)
        if differences:
            raise MigrationError(
                "the annotation shadow table's frequency columns differ from the configured "
                "frequency groups (" + "; ".join(differences) + "). Make the config's "
                "`frequencies.groups` match the database, or run `ella-db refresh` after "
                "adopting to rebuild the columns from the config")
        baseline = [f for f in files if f.is_baseline]
        cur = conn.cursor()
        _ensure_bookkeeping(cur)
        for migration in baseline:
            cur.execute(sql.SQL("INSERT INTO {} (filename, checksum, how) "
                                "VALUES (%s, %s, 'adopted')").format(
                sql.Identifier(BOOKKEEPING_TABLE)), (migration.name, migration.checksum))
        for name, version in insert_missing_json_schemas(cur):
            echo(f"Inserted JSON schema {name} v{version}")
        install_functions_and_triggers(cur, config)
        # ELLA leaves this derived column empty; its reference search finds nothing without.
        filled = fill_reference_search(cur)
        if filled:
            echo(f"Reference search vectors filled: {filled}")
        echo(f"Adopted the ELLA database at revision {state.revision}; "
             f"recorded {len(baseline)} baseline file(s).")
        later = [f for f in files if not f.is_baseline]
        if later:
            echo(f"{len(later)} migration(s) of this service are pending: run `ella-db migrate`.")
        return True

    return _with_runner_lock(conn, run, echo)


FUNCTIONS_OUTDATED = ("the database's functions and triggers were installed by another "
                      "version of this service")


REFRESH_OWED_REASON = ("a migration was applied and the refresh after it did not finish (the "
                       "shadow tables, functions and triggers may not match the new schema)")


FUNCTIONS_CHANGED = ("the database's functions or triggers were changed after `ella-db "
                     "refresh` installed them (a trigger dropped or disabled, a function "
                     "replaced by hand)")


def functions_outdated(conn):
    """Why the database's functions and triggers are not this code's as `refresh` installs
    them, or None: installed by another version (an upgrade whose trigger files changed
    without a migration), or changed by hand since."""
    recorded = recorded_live_fingerprint(conn)
    # (Recorded without their live state: by a version before that record, so that an
    # upgrade refreshes once and the check applies from then on.)
    if recorded == REFRESH_OWED:
        return REFRESH_OWED_REASON
    if installed_functions_fingerprint(conn) != functions_fingerprint() or recorded is None:
        return FUNCTIONS_OUTDATED
    if recorded != live_functions_fingerprint(conn):
        return FUNCTIONS_CHANGED
    return None


def status(conn, config, migrations_dir=MIGRATIONS_DIR):
    """A dict describing the database: state, revision, pending files, shadow differences,
    whether its functions and triggers are this code's."""
    state = detect_state(conn)
    result = {"state": state.kind, "revision": state.revision, "message": state.message,
              "head": ELLA_HEAD_REVISION, "pending": [], "shadow_differences": [],
              "functions_outdated": False}
    if state.kind == "empty":  # make-production would apply every file
        result["pending"] = [f.name for f in migration_files(migrations_dir)]
    if state.kind == "ours":
        files = migration_files(migrations_dir)
        try:
            result["pending"] = [f.name for f in pending_migrations(conn, files)]
        except MigrationError as exc:
            result["message"] = str(exc)
            result["state"] = "inconsistent"
    if state.needs_refresh:
        result["state"] = "needs-refresh"
        result["message"] = ("the shadow tables are missing (an interrupted make-production?): "
                             "run `ella-db make-production` or `ella-db refresh`")
    elif state.kind in ("ours", "ella"):
        result["shadow_differences"] = frequency_column_differences(conn, config)
    if state.kind == "ella":
        # Advice to adopt a damaged copy that `adopt` then refuses sent the operator in a circle.
        lacking = ella_schema_lacking(conn)
        if lacking:
            result["message"] = (f"{lacking}; `ella-db adopt` refuses it: restore it from "
                                 "ELLA's backup (or make it ELLA's) before adopting")
    if state.kind == "ours" and not state.needs_refresh:
        result["functions_outdated"] = functions_outdated(conn)
    conn.rollback()
    return result


def locale_warning(conn):
    """A warning when the database's character classification is C/POSIX, or None: there
    PostgreSQL folds the case of ASCII letters only, so the reference search (its search
    vector) and ILIKE treat 'Ø' and 'ø' as different letters."""
    ctype = conn.execute("SELECT current_setting('lc_ctype')").fetchone()[0]
    conn.rollback()
    if ctype.upper() not in ("C", "POSIX"):
        return None
    return (f"the database's LC_CTYPE is {ctype}: PostgreSQL folds the case of ASCII letters "
            "only, so searches ignore the case of a, b, c but not of æ, ø, å; create it with "
            "a UTF-8 locale (e.g. LC_CTYPE 'C.UTF-8' or 'nb_NO.UTF-8', TEMPLATE template0) "
            "and restore into it")


def encoding_problem(conn):
    """A sentence when the database's encoding is not UTF8, or None. Elsewhere PostgreSQL
    cannot read a JSON `\\u00e5` into jsonb (every JSON value holding a non-ASCII letter, e.g.
    a Norwegian name in an evaluation, fails), and SQL_ASCII stores any bytes unchecked."""
    encoding = conn.execute("SELECT current_setting('server_encoding')").fetchone()[0]
    conn.rollback()
    if encoding == "UTF8":
        return None
    return (f"the database's encoding is {encoding}, not UTF8: JSON holding a non-ASCII "
            "letter (æ, ø, å in a comment or evaluation) cannot be stored; create it with "
            "ENCODING 'UTF8' and a UTF-8 locale (e.g. LC_CTYPE 'C.UTF-8', TEMPLATE template0)")


# What to run for a database this service does not manage yet (`compare`, `status`).
STATE_ADVICE = {
    "empty": "the database is empty (run `ella-db make-production`)",
    "ella": "the ELLA database has not been adopted (run `ella-db adopt`)",
}


def ella_schema_lacking(conn):
    """What of ELLA's head schema the database lacks (a table, column, enum value,
    constraint or index, by name), in words, or None. The frequency shadow table is left
    out: its columns follow the config."""
    lacking = missing_from_ella_head(read_catalogue(conn), ignore_tables=(FREQUENCY_TABLE,))
    if not lacking:
        return None
    return ("the database lacks part of ELLA's head schema: " + "; ".join(lacking[:5])
            + (f"; and {len(lacking) - 5} more" if len(lacking) > 5 else ""))


def at_head(conn, config, migrations_dir=MIGRATIONS_DIR, shadow_columns=True):
    """(ok, message) for `compare` and service start: ours, at ELLA head, nothing pending,
    shadow columns as configured (unless `shadow_columns` is false), this version's
    functions and triggers.

    Imports pass `shadow_columns=False`: a deposit whose config's frequency groups differ
    from the shadow table writes through the triggers, which cast the table's own columns;
    and a watcher or poller started before a config change would compare with its old copy
    of the config and stay refused after the refresh."""
    info = status(conn, config, migrations_dir)
    if info["state"] != "ours":
        return False, info["message"] or STATE_ADVICE.get(info["state"], info["state"])
    if info["pending"]:
        return False, "pending migrations: " + ", ".join(info["pending"]) + \
            " (run `ella-db migrate`)"
    if info["shadow_differences"] and shadow_columns:
        return False, "shadow tables differ from the config: " + \
            "; ".join(info["shadow_differences"]) + " (run `ella-db refresh`)"
    if info["functions_outdated"]:
        return False, info["functions_outdated"] + " (run `ella-db refresh`)"
    problem = inclusion_regex_problem(conn, config)
    if problem:
        return False, problem
    return True, "Migration status OK!"


def inclusion_regex_problem(conn, config):
    """Why PostgreSQL cannot use `transcripts.inclusion_regex` (the filters and the variant
    reads apply it in SQL, `~`), or None. The config check compiles it as Python; PostgreSQL
    reads another dialect (no named groups, for one), and a pattern only Python reads made
    every read of a variant's genes a 500."""
    regex = (config.get("transcripts") or {}).get("inclusion_regex")
    problem = postgres_regex_problem(conn, regex) if isinstance(regex, str) else None
    return problem and (f"transcripts.inclusion_regex {regex!r} is no regular expression "
                        f"PostgreSQL reads: {problem}")


def drop_everything(conn):
    """ELLA's `database drop`: remove schema public with everything in it, recreate it empty."""
    with conn.transaction():
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
