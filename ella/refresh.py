"""`ella-db refresh`: (re)install functions and triggers, JSON schema rows, and rebuild the
annotation shadow tables from the current annotations and the configured frequency groups.

Observable result equals ELLA's own refresh: the same table, column, constraint, index,
function and trigger names. It runs in one transaction that first locks `annotation` against
writes, so no annotation can slip past the rebuild (ELLA instead mirrors concurrent inserts
into its temporary tables with an extra trigger); then it swaps freshly built `tmp_*` tables
into place. The sequences keep their `tmp_` names, alternating `_seq`/`_seq1`, as ELLA's do.
"""

import functools
import hashlib
import re
import json
import logging
from contextlib import contextmanager

import psycopg
from psycopg import sql

from ella.catalogue import BOOKKEEPING_TABLE
from ella.db import TRIGGERS_DIR, read_sql, table_exists
from ella.jsonschemas import load_schema_documents

log = logging.getLogger(__name__)

TRANSCRIPT_TABLE = "annotationshadowtranscript"
FREQUENCY_TABLE = "annotationshadowfrequency"
FIXED_FREQUENCY_COLUMNS = ["id", "allele_id"]


class RefreshError(Exception):
    pass


def frequency_pairs(config):
    """[(provider, key)] in config order: external groups, then internal."""
    groups = config["frequencies"]["groups"]
    pairs = []
    for group in ("external", "internal"):
        for provider, keys in (groups.get(group) or {}).items():
            pairs.extend((provider, key) for key in keys)
    return pairs


def expected_frequency_columns(config):
    """Data columns of annotationshadowfrequency for this config, in order."""
    columns = []
    for provider, key in frequency_pairs(config):
        columns.append((f"{provider}.{key}", "double precision"))
        columns.append((f"{provider}_num.{key}", "integer"))
    return columns


# Held by a refresh, exclusively, from its check of the stored configs' frequency groups to
# its commit, and shared by a command storing a config that reads frequency columns, from its
# check of them to its commit: each check held nothing against the other, so a config could
# be stored during a refresh's build that read a column the refresh then dropped (the next
# refresh refused, and filtering with the config was a 500). A deposit holds it shared too,
# from its annotation writer's reading of the columns to its commit.
FREQUENCY_COLUMNS_LOCK = "ella.frequency-columns"


def hold_frequency_columns(conn):
    """Until this transaction ends, no refresh changes the frequency shadow table's columns
    (one under way is waited for): call before checking a config against them."""
    conn.execute("SELECT pg_advisory_xact_lock_shared(hashtext(%s))", (FREQUENCY_COLUMNS_LOCK,))


def actual_frequency_columns(conn):
    """Data columns (name, type) of the live annotationshadowfrequency, or None if absent."""
    if not table_exists(conn, FREQUENCY_TABLE):
        return None
    rows = conn.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "WHERE a.attrelid = 'public.annotationshadowfrequency'::regclass AND a.attnum > 0 "
        "AND NOT a.attisdropped ORDER BY a.attnum"
    ).fetchall()
    return [(name, typ) for name, typ in rows if name not in FIXED_FREQUENCY_COLUMNS]


def frequency_column_differences(conn, config):
    """Lines describing how the live shadow columns differ from the config (empty = same)."""
    actual = actual_frequency_columns(conn)
    if actual is None:
        return [f"table {FREQUENCY_TABLE} does not exist"]
    expected = expected_frequency_columns(config)
    if actual == expected:
        return []
    problems = []
    missing = [c for c, _ in expected if c not in dict(actual)]
    extra = [c for c, _ in actual if c not in dict(expected)]
    if missing:
        problems.append("columns in the config but not in the database: " + ", ".join(missing))
    if extra:
        problems.append("columns in the database but not in the config: " + ", ".join(extra))
    if not missing and not extra:
        problems.append("same columns, different order or types")
    return problems


def _group_pairs(groups):
    pairs = set()
    for group in ("external", "internal"):
        for provider, keys in ((groups or {}).get(group) or {}).items():
            pairs.update((provider, key) for key in keys or [])
    return pairs


def check_frequency_group_users(conn, config):
    """Every frequency group used by an active filter config or a user group's or user's
    ACMG config must exist in the config, or filtering would fail at run time (ELLA's
    rule)."""
    configured = set(frequency_pairs(config))
    problems = []
    if table_exists(conn, "filterconfig"):
        for fc_id, name, document in conn.execute(
                "SELECT id, name, filterconfig FROM filterconfig WHERE active ORDER BY id"):
            for item in _frequency_filter_configs(document):
                unknown = _group_pairs(item.get("groups")) - configured
                if unknown:
                    problems.append(f"filter config {name!r} (id {fc_id}) uses frequency groups "
                                    f"missing from the config: {_fmt_pairs(unknown)}")
    # A user's own `acmg` replaces its group's, so users' configs count as groups' do.
    for table, what in (("usergroup", "user group"), ("user", "user")):
        if not table_exists(conn, table):
            continue
        name_column = "name" if table == "usergroup" else "username"
        for name, owner_config in conn.execute(
                f'SELECT {name_column}, config FROM "{table}" ORDER BY id'):
            groups = (((owner_config or {}).get("acmg") or {}).get("frequency") or {}).get("groups")
            unknown = _group_pairs(groups) - configured
            if unknown:
                problems.append(f"{what} {name!r} ACMG config uses frequency groups "
                                f"missing from the config: {_fmt_pairs(unknown)}")
    return problems


def _frequency_filter_configs(document):
    for item in (document or {}).get("filters", []):
        candidates = [item] + list(item.get("exceptions") or [])
        for candidate in candidates:
            if candidate.get("name") == "frequency":
                yield candidate.get("config") or {}


def _fmt_pairs(pairs):
    return ", ".join(f"{p}.{k}" for p, k in sorted(pairs))


# --- building blocks ----------------------------------------------------------------------

def transcript_shadow_insert(table, where):
    """INSERT of the transcript shadow rows of the annotations matching `where` (SQL on
    `annotation a`), set-based: the same rows the per-row trigger makes. The transcripts are
    taken out of each (compressed) document once, in a materialised step."""
    return sql.SQL("""
        WITH docs AS MATERIALIZED (
            SELECT a.id, a.allele_id, a.annotations -> 'transcripts' AS transcripts
            FROM annotation a WHERE {where})
        INSERT INTO {table}
            (allele_id, hgnc_id, symbol, transcript, hgvsc, protein, hgvsp, consequences,
             exon_distance, coding_region_distance)
        SELECT d.allele_id,
               (tx ->> 'hgnc_id')::integer, tx ->> 'symbol', tx ->> 'transcript',
               tx ->> 'HGVSc', tx ->> 'protein', tx ->> 'HGVSp',
               ARRAY(SELECT jsonb_array_elements_text(
                         CASE WHEN jsonb_typeof(tx -> 'consequences') = 'array'
                              THEN tx -> 'consequences' ELSE '[]'::jsonb END)),
               (tx ->> 'exon_distance')::integer, (tx ->> 'coding_region_distance')::integer
        FROM docs d
        CROSS JOIN LATERAL jsonb_array_elements(
            CASE WHEN jsonb_typeof(d.transcripts) = 'array'
                 THEN d.transcripts ELSE '[]'::jsonb END) AS tx
        ORDER BY d.id""").format(table=sql.Identifier(table), where=where)


def frequency_shadow_insert(config, table, where):
    """INSERT of the frequency shadow rows (columns from the config's frequency groups) of the
    annotations matching `where` (SQL on `annotation a`), set-based. The frequencies object
    is taken out of each (compressed) document once, not once per column."""
    columns = [sql.Identifier("allele_id")] + _frequency_column_identifiers(config)
    values = [sql.SQL("d.allele_id")] + _frequency_value_expressions(config,
                                                                     sql.SQL("d.frequencies"))
    return sql.SQL("WITH docs AS MATERIALIZED (SELECT a.id, a.allele_id, "
                   "a.annotations -> 'frequencies' AS frequencies FROM annotation a "
                   "WHERE {where}) "
                   "INSERT INTO {table} ({columns}) SELECT {values} FROM docs d "
                   "ORDER BY d.id").format(
        table=sql.Identifier(table), columns=sql.SQL(", ").join(columns),
        values=sql.SQL(", ").join(values), where=where)


def _create_tmp_transcript_table(cur):
    cur.execute("""
        CREATE TABLE tmp_annotationshadowtranscript (
            id serial NOT NULL,
            allele_id integer,
            hgnc_id integer,
            symbol varchar,
            transcript varchar,
            hgvsc varchar,
            protein varchar,
            hgvsp varchar,
            consequences text[],
            exon_distance integer,
            coding_region_distance integer,
            CONSTRAINT pk_tmp_annotationshadowtranscript PRIMARY KEY (id),
            CONSTRAINT fk_tmp_annotationshadowtranscript_allele_id_allele
                FOREIGN KEY (allele_id) REFERENCES allele (id)
        )""")
    cur.execute(transcript_shadow_insert("tmp_annotationshadowtranscript",
                                         sql.SQL("a.date_superceeded IS NULL")))
    for column in ("allele_id", "hgnc_id", "symbol", "transcript"):
        cur.execute(sql.SQL("CREATE INDEX {} ON tmp_annotationshadowtranscript ({})").format(
            sql.Identifier(f"ix_tmp_annotationshadowtranscript_{column}"),
            sql.Identifier(column)))
    cur.execute("CREATE INDEX ix_tmp_annotationshadowtranscript_hgvsc "
                "ON tmp_annotationshadowtranscript (lower(hgvsc))")


def _frequency_value_expressions(config, frequencies):
    """SQL expressions extracting each configured column from `frequencies`, the jsonb value
    of an annotation's "frequencies" key."""
    exprs = []
    for provider, key in frequency_pairs(config):
        for part, cast in (("freq", "double precision"), ("num", "integer")):
            exprs.append(sql.SQL("({frequencies} -> {provider} -> {part} ->> {key})"
                                 "::{cast}").format(
                frequencies=frequencies, provider=sql.Literal(provider), part=sql.Literal(part),
                key=sql.Literal(key), cast=sql.SQL(cast)))
    return exprs


def _frequency_column_identifiers(config):
    return [sql.Identifier(name) for name, _ in expected_frequency_columns(config)]


def _create_tmp_frequency_table(cur, config):
    column_defs = [sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(typ))
                   for name, typ in expected_frequency_columns(config)]
    cur.execute(sql.SQL("""
        CREATE TABLE tmp_annotationshadowfrequency (
            id serial NOT NULL,
            allele_id integer{extra},
            CONSTRAINT pk_tmp_annotationshadowfrequency PRIMARY KEY (id),
            CONSTRAINT fk_tmp_annotationshadowfrequency_allele_id_allele
                FOREIGN KEY (allele_id) REFERENCES allele (id)
        )""").format(extra=sql.SQL("").join(sql.SQL(", ") + d for d in column_defs)))
    cur.execute(frequency_shadow_insert(config, "tmp_annotationshadowfrequency",
                                        sql.SQL("a.date_superceeded IS NULL")))
    cur.execute("CREATE INDEX ix_tmp_annotationshadowfrequency_allele_id "
                "ON tmp_annotationshadowfrequency (allele_id)")


def _install_frequency_function(cur, config):
    columns = [sql.Identifier("allele_id")] + _frequency_column_identifiers(config)
    values = [sql.SQL("insert_annotationshadowfrequency.allele_id")] + _frequency_value_expressions(
        config, sql.SQL("(insert_annotationshadowfrequency.annotations -> 'frequencies')"))
    body = sql.SQL("INSERT INTO annotationshadowfrequency ({columns}) VALUES ({values});").format(
        columns=sql.SQL(", ").join(columns), values=sql.SQL(", ").join(values))
    # The body is generated from the config, so it cannot live in sql/triggers/ as a file.
    # Passed as a quoted literal, not between dollar quotes: a frequency name holding the
    # quote's tag (`$fn$`) ended the body early (a syntax error the config did not explain).
    text = f"BEGIN {body.as_string(cur)} END;"
    cur.execute(sql.SQL(
        "CREATE OR REPLACE FUNCTION insert_annotationshadowfrequency(allele_id integer, "
        "annotations jsonb) RETURNS void AS {text} LANGUAGE plpgsql").format(
        text=sql.Literal(text)))


def _grants(cur, relation):
    """[(privilege, role or None for PUBLIC, grantable)] granted on `relation` (a table or
    sequence of schema public, or None) to others than its owner."""
    if relation is None or cur.execute("SELECT to_regclass(%s)", (relation,)).fetchone()[0] \
            is None:
        return []
    return cur.execute(
        "SELECT a.privilege_type, CASE WHEN a.grantee = 0 THEN NULL "
        "ELSE pg_get_userbyid(a.grantee) END, a.is_grantable "
        "FROM pg_class c, aclexplode(c.relacl) a "
        "WHERE c.oid = %s::regclass AND a.grantee <> c.relowner", (relation,)).fetchall()


def _grant(cur, kind, relation, grants):
    """GRANT `grants` (as _grants gives them) on `relation` (SQL) of `kind` (TABLE,
    SEQUENCE)."""
    for privilege, role, grantable in grants:
        cur.execute(sql.SQL("GRANT {} ON {} {} TO {}{}").format(
            sql.SQL(privilege), sql.SQL(kind), relation,
            sql.Identifier(role) if role else sql.SQL("PUBLIC"),
            sql.SQL(" WITH GRANT OPTION" if grantable else "")))


def _id_sequence(cur, table):
    """The name of public.`table`'s id sequence, or None when there is no such table."""
    if cur.execute("SELECT to_regclass(%s)", (f"public.{table}",)).fetchone()[0] is None:
        return None
    return cur.execute("SELECT pg_get_serial_sequence(%s, 'id')",
                       (f"public.{table}",)).fetchone()[0]


def _swap_in(cur, table):
    tmp = f"tmp_{table}"
    # The new table and its id sequence get the old ones' grants: a site whose service runs
    # as a role other than the owner lost its access to both shadow tables at every refresh
    # (filtering and imports failed with "permission denied").
    table_grants = _grants(cur, f"public.{table}")
    sequence_grants = _grants(cur, _id_sequence(cur, table))
    # And its owner: run as a superuser (`sudo -u postgres`), the new tables were the
    # superuser's, and the service's role could no longer write them.
    owner = cur.execute("SELECT pg_get_userbyid(relowner) FROM pg_class "
                        "WHERE oid = to_regclass(%s)", (f"public.{table}",)).fetchone()
    cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))
    cur.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(sql.Identifier(tmp),
                                                              sql.Identifier(table)))
    if owner is not None:  # (its id sequence follows it)
        cur.execute(sql.SQL("ALTER TABLE {} OWNER TO {}").format(sql.Identifier(table),
                                                                 sql.Identifier(owner[0])))
    _grant(cur, "TABLE", sql.Identifier(table), table_grants)
    # (A name from the catalogue, quoted where it needs it.)
    _grant(cur, "SEQUENCE", sql.SQL(_id_sequence(cur, table)), sequence_grants)
    # Rename indexes (the PK's constraint follows its index) and the FK.
    for (index_name,) in cur.execute(
            "SELECT ic.relname FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid "
            "WHERE i.indrelid = %s::regclass", (f"public.{table}",)).fetchall():
        if tmp in index_name:
            cur.execute(sql.SQL("ALTER INDEX {} RENAME TO {}").format(
                sql.Identifier(index_name), sql.Identifier(index_name.replace(tmp, table))))
    for (con_name,) in cur.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'",
            (f"public.{table}",)).fetchall():
        if tmp in con_name:
            cur.execute(sql.SQL("ALTER TABLE {} RENAME CONSTRAINT {} TO {}").format(
                sql.Identifier(table), sql.Identifier(con_name),
                sql.Identifier(con_name.replace(tmp, table))))


def trigger_files():
    return sorted(TRIGGERS_DIR.glob("*.sql"))


# Raise it when the SQL `_install_frequency_function` generates changes: like a changed
# sql/triggers/ file, it then asks every database for `ella-db refresh`.
GENERATED_FUNCTIONS_REVISION = 1
_FINGERPRINT_PREFIX = "functions and triggers: "


@functools.lru_cache(maxsize=1)
def functions_fingerprint():
    """What this code's functions and triggers are: a SHA-256 of the sql/triggers/ files and
    the generated functions' revision. Stored as the comment of the bookkeeping table when
    they are installed, so that a database whose functions an older (or newer) version of
    this service installed is told from one that is current: migrations are not the only
    upgrade that changes them, and a skipped `ella-db refresh` kept the old ones silently."""
    digest = hashlib.sha256(f"generated {GENERATED_FUNCTIONS_REVISION}\n".encode())
    for path in trigger_files():
        digest.update(f"{path.name}\n".encode() + path.read_bytes() + b"\n")
    return "sha256:" + digest.hexdigest()


_FUNCTION_NAME = re.compile(r"CREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION\s+(?:public\.)?(\w+)",
                            re.IGNORECASE)
_TRIGGER_NAME = re.compile(r"CREATE\s+(?:CONSTRAINT\s+)?TRIGGER\s+(\w+)", re.IGNORECASE)
_LIVE_SEPARATOR = "; as installed: "


@functools.lru_cache(maxsize=1)
def _installed_objects():
    """(function names, trigger names) that refresh installs."""
    text = "".join(read_sql(path) for path in trigger_files())
    functions = set(_FUNCTION_NAME.findall(text)) | {"insert_annotationshadowfrequency"}
    return sorted(functions), sorted(set(_TRIGGER_NAME.findall(text)))


def live_functions_fingerprint(conn):
    """What the database's functions and triggers of ours are now: their source, arguments,
    and each trigger's definition and whether it is enabled. A trigger dropped or disabled
    by hand (ELLA's writes then got no shadow rows: the filters missed those variants), or a
    function replaced, changes it."""
    functions, triggers = _installed_objects()
    rows = conn.execute(
        "SELECT 'f', p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')', "
        "       md5(p.prosrc) "
        "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = 'public' AND p.proname = ANY(%(functions)s) "
        "UNION ALL "
        "SELECT 't', t.tgname, t.tgrelid::regclass::text || ' ' || t.tgenabled::text || ' ' "
        "       || md5(pg_get_triggerdef(t.oid)) "
        "FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND NOT t.tgisinternal AND t.tgname = ANY(%(triggers)s) "
        "ORDER BY 1, 2, 3", {"functions": functions, "triggers": triggers}).fetchall()
    return "md5:" + hashlib.md5(repr(rows).encode()).hexdigest()


def installed_functions_fingerprint(conn):
    """The fingerprint recorded with the database's functions and triggers, or None (none
    recorded: installed by ELLA, or by a version of this service before the record)."""
    if not table_exists(conn, BOOKKEEPING_TABLE):
        return None
    comment = conn.execute("SELECT obj_description(%s::regclass, 'pg_class')",
                           (f"public.{BOOKKEEPING_TABLE}",)).fetchone()[0]
    if comment and comment.startswith(_FINGERPRINT_PREFIX):
        return comment[len(_FINGERPRINT_PREFIX):].split(_LIVE_SEPARATOR)[0]
    return None


def recorded_live_fingerprint(conn):
    """What refresh recorded of our functions and triggers as it installed them
    (`live_functions_fingerprint`), or None (not recorded: a version before the record)."""
    if not table_exists(conn, BOOKKEEPING_TABLE):
        return None
    comment = conn.execute("SELECT obj_description(%s::regclass, 'pg_class')",
                           (f"public.{BOOKKEEPING_TABLE}",)).fetchone()[0] or ""
    return comment.split(_LIVE_SEPARATOR, 1)[1] if _LIVE_SEPARATOR in comment else None


# Recorded in place of the live fingerprint by a migration, in its own transaction: the
# refresh that follows it is owed until it commits (its record replaces this one). A refresh
# that failed after the migration committed was otherwise never run again ("up to date").
REFRESH_OWED = "(none: a migration was applied, its refresh has not finished)"


def mark_refresh_owed(cur):
    """Record, in the current transaction, that the schema changed and a refresh is owed."""
    installed = installed_functions_fingerprint(cur.connection) or ""
    cur.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(
        sql.Identifier(BOOKKEEPING_TABLE),
        sql.Literal(_FINGERPRINT_PREFIX + installed + _LIVE_SEPARATOR + REFRESH_OWED)))


def install_functions_and_triggers(cur, config):
    """Apply every sql/triggers/ file plus the generated frequency function (idempotent), and
    record their fingerprint where the bookkeeping table exists (not in a database that has
    not been adopted)."""
    for path in trigger_files():
        cur.execute(read_sql(path))
    _install_frequency_function(cur, config)
    if table_exists(cur.connection, BOOKKEEPING_TABLE):
        cur.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(
            sql.Identifier(BOOKKEEPING_TABLE),
            sql.Literal(_FINGERPRINT_PREFIX + functions_fingerprint() + _LIVE_SEPARATOR
                        + live_functions_fingerprint(cur.connection))))


def insert_missing_json_schemas(cur):
    """Insert our schema documents for (name, version) pairs the table lacks.

    Existing rows are never overwritten: an adopted database keeps ELLA's own documents.
    Returns the list of (name, version) inserted."""
    inserted = []
    for name, version, document in load_schema_documents():
        cur.execute(
            "INSERT INTO jsonschema (name, version, schema) VALUES (%s, %s, %s::jsonb) "
            "ON CONFLICT (name, version) DO NOTHING RETURNING id",
            (name, version, json.dumps(document)))
        if cur.fetchone():
            inserted.append((name, version))
    return inserted


def refresh(conn, config, echo=print):
    """Rebuild shadow tables and (re)install functions, triggers and schema rows.

    `conn` must not be in autocommit mode; everything happens in one transaction."""
    with lock_wait_limited("refresh"), conn.transaction():
        cur = conn.cursor()
        limit_lock_wait(cur)
        # The commands storing configs that read frequency columns first (they hold it from
        # before their writes: `ella-demo` deposits analyses after its groups, and taken
        # after the table locks below it deadlocked with that).
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (FREQUENCY_COLUMNS_LOCK,))
        # Writers of annotation wait until we are done; readers go on. `allele` first, as a
        # deposit writes it before `annotation` (the shadow tables' foreign key needs it): the
        # other order deadlocked with a deposit between the two.
        cur.execute("LOCK TABLE allele IN SHARE ROW EXCLUSIVE MODE")
        cur.execute("LOCK TABLE annotation IN SHARE ROW EXCLUSIVE MODE")
        problems = check_frequency_group_users(conn, config)
        if problems:
            raise RefreshError("refresh aborted: " + "; ".join(problems))
        echo("Building shadow tables from the current annotations...")
        for stale in ("tmp_annotationshadowtranscript", "tmp_annotationshadowfrequency"):
            cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(stale)))
        _create_tmp_transcript_table(cur)
        _create_tmp_frequency_table(cur, config)
        inserted = insert_missing_json_schemas(cur)
        for name, version in inserted:
            echo(f"Inserted JSON schema {name} v{version}")
        _swap_in(cur, FREQUENCY_TABLE)
        _swap_in(cur, TRANSCRIPT_TABLE)
        install_functions_and_triggers(cur, config)
        references_updated = fill_reference_search(cur)
    counts = {}
    for table in (TRANSCRIPT_TABLE, FREQUENCY_TABLE):
        counts[table] = conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()[0]
    conn.commit()
    # Said before the ANALYZE: the refresh is committed, and an interrupted ANALYZE (a
    # signal, a lock) must not read as a failed refresh.
    echo(f"AnnotationShadowTranscript count: {counts[TRANSCRIPT_TABLE]}")
    echo(f"AnnotationShadowFrequency count: {counts[FREQUENCY_TABLE]}")
    if references_updated:
        echo(f"Reference search vectors filled: {references_updated}")
    echo("Shadow tables have been refreshed.")
    _vacuum_analyze(conn, echo)
    return counts


def fill_reference_search(cur):
    """Fill reference.search where it is missing or stale (ELLA's databases leave it NULL;
    the trigger recomputes it on the no-op update). Returns the number of rows filled."""
    cur.execute("UPDATE reference SET id = id WHERE search IS DISTINCT FROM "
                "reference_search_vector(authors, title, journal, year)")
    return cur.rowcount


# How long refresh and adopt wait for a table lock. Their exclusive locks queue behind a
# running transaction, and every later reader queues behind them: waiting without end
# would stall the whole service, so they give up and say why.
LOCK_WAIT = "10s"


def limit_lock_wait(cur):
    """For the rest of the current transaction, a lock not granted in LOCK_WAIT fails."""
    cur.execute("SELECT set_config('lock_timeout', %s, true)", (LOCK_WAIT,))


@contextmanager
def lock_wait_limited(what):
    """Turns the failure of `limit_lock_wait` into one clear RefreshError."""
    try:
        yield
    except psycopg.errors.LockNotAvailable:
        raise RefreshError(f"{what} stopped, nothing changed: the database is in use (a "
                           f"table lock was not granted within {LOCK_WAIT}); stop the "
                           "service's processes (API, watcher, polling) and retry") from None


def _vacuum_analyze(conn, echo):
    """Statistics for the new shadow tables, waiting for a lock no longer than LOCK_WAIT:
    autovacuum analyzes them later anyway."""
    conn.commit()  # VACUUM cannot run inside a transaction block
    previous = conn.autocommit
    conn.autocommit = True
    try:
        conn.execute("SELECT set_config('lock_timeout', %s, false)", (LOCK_WAIT,))
        for table in (TRANSCRIPT_TABLE, FREQUENCY_TABLE):
            try:
                conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)))
            except psycopg.errors.LockNotAvailable:
                echo(f"VACUUM (ANALYZE) {table} skipped: the table is in use (autovacuum "
                     "will analyze it)")
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM (cli.common.Terminated): said, then passed on
        # The command still ends as interrupted; its output must not read as a refresh lost.
        echo("VACUUM (ANALYZE) interrupted: the refresh is committed and stays (autovacuum "
             "will analyze the new tables)")
        raise
    finally:
        try:
            conn.execute("RESET lock_timeout")  # the session's own value again
        except psycopg.Error:
            pass  # a connection gone takes its setting along
        conn.autocommit = previous
