"""The migration runner: idempotent, refuses edited files, a failing file changes nothing;
adopt takes over the real ELLA database without touching a row, and refuses what it must."""


import psycopg
import pytest
from psycopg import sql

from ella.catalogue import BOOKKEEPING_TABLE, diff_catalogues
from ella.migrate import MigrationError, adopt, at_head, detect_state, migrate, status
from helpers import catalogue, expected_catalogue, quiet, run_cli, table_snapshot
from api_helpers import logged_in_client
from ella.web.app import create_app


def _bookkeeping(url):
    with psycopg.connect(url) as conn:
        return conn.execute(f"SELECT filename, checksum, how FROM {BOOKKEEPING_TABLE} "
                            "ORDER BY 1").fetchall()


def test_make_production_on_empty_database_reaches_head(empty_db_url, ella_config):
    with psycopg.connect(empty_db_url) as conn:
        applied = migrate(conn, ella_config, **quiet)
        assert [m.name for m in applied] == ["0000_baseline_4c2844fef850.sql",
                                            "0001_legacy_annotationconfig_4c2844fef850.sql"]
        assert at_head(conn, ella_config) == (True, "Migration status OK!")
    assert [row[0] for row in _bookkeeping(empty_db_url)] == [m.name for m in applied]
    assert {row[2] for row in _bookkeeping(empty_db_url)} == {"applied"}


def test_make_production_interrupted_before_its_refresh_is_finished_by_a_rerun(
        empty_db_url, db_url, ella_config):
    """The migrations commit one by one and the refresh (shadow tables, triggers, schema
    rows) after them; stopped in between, the database was refused by every command. A
    re-run, or `refresh`, now finishes it: the same catalogue as a database made in one go."""
    from ella.migrate import apply_migration, migration_files
    with psycopg.connect(empty_db_url) as conn:
        files = migration_files()
        assert status(conn, ella_config)["pending"] == [f.name for f in files]  # empty
        for migration in files:
            apply_migration(conn, migration)  # what make-production does before refreshing
        state = detect_state(conn)
        assert (state.kind, state.needs_refresh) == ("ours", True)
        conn.rollback()
        assert status(conn, ella_config)["state"] == "needs-refresh"
        ok, message = at_head(conn, ella_config)
        assert not ok and "the shadow tables are missing" in message
        assert migrate(conn, ella_config, **quiet) == []
        assert at_head(conn, ella_config) == (True, "Migration status OK!")
        assert detect_state(conn).needs_refresh is False
    assert catalogue(empty_db_url) == catalogue(db_url)


def test_running_migrate_twice_changes_nothing(db_url, ella_config):
    before = (catalogue(db_url), table_snapshot(db_url), _bookkeeping(db_url))
    with psycopg.connect(db_url) as conn:
        assert migrate(conn, ella_config, **quiet) == []
    after = (catalogue(db_url), table_snapshot(db_url), _bookkeeping(db_url))
    assert before == after


def test_edited_applied_migration_is_refused_naming_the_file(empty_db_url, ella_config,
                                                               migrations_copy):
    with psycopg.connect(empty_db_url) as conn:
        migrate(conn, ella_config, migrations_dir=migrations_copy, **quiet)
        baseline = migrations_copy / "0000_baseline_4c2844fef850.sql"
        baseline.write_text(baseline.read_text() + "\n-- a harmless-looking edit\n")
        with pytest.raises(MigrationError, match="0000_baseline_4c2844fef850.sql was edited"):
            migrate(conn, ella_config, migrations_dir=migrations_copy, **quiet)
        info = status(conn, ella_config, migrations_dir=migrations_copy)
        assert info["state"] == "inconsistent"


def test_failing_migration_leaves_the_database_as_it_was(db_url, ella_config, migrations_copy):
    (migrations_copy / "0002_add_things.sql").write_text(
        "CREATE TABLE half_done (id integer);\n"
        "INSERT INTO broadcast (date_created, message, active) VALUES (now(), 'x', true);\n"
        "SELECT 1 / 0;\n")
    before = (catalogue(db_url), table_snapshot(db_url), _bookkeeping(db_url))
    with psycopg.connect(db_url) as conn:
        with pytest.raises(MigrationError, match=r"0002_add_things.sql failed.*division by zero"):
            migrate(conn, ella_config, migrations_dir=migrations_copy, **quiet)
    assert (catalogue(db_url), table_snapshot(db_url), _bookkeeping(db_url)) == before


def test_a_migration_with_its_own_transaction_control_is_refused(db_url, ella_config,
                                                                 migrations_copy):
    """`BEGIN; ...; COMMIT;` in a file committed its first part whatever came after: the
    runner said "rolled back", the table stayed, the file was not recorded, and every later
    migrate failed on it. A function's `BEGIN ... END;` and quoted text are no such control."""
    (migrations_copy / "0002_two_steps.sql").write_text(
        "BEGIN;\nCREATE TABLE half_done (id integer);\nCOMMIT;\n"
        "BEGIN;\nCREATE TABLE other (x no_such_type);\nCOMMIT;\n")
    before = (catalogue(db_url), table_snapshot(db_url), _bookkeeping(db_url))
    with psycopg.connect(db_url) as conn:
        with pytest.raises(MigrationError, match=(
                r"^migration 0002_two_steps.sql has its own BEGIN: each file runs in one "
                r"transaction of the runner")):
            migrate(conn, ella_config, migrations_dir=migrations_copy, **quiet)
    assert (catalogue(db_url), table_snapshot(db_url), _bookkeeping(db_url)) == before
    # Function bodies (also SQL-standard `BEGIN ATOMIC ... END`, whose CASE has its END),
    # nested comments and E'' strings hold no transaction control.
    (migrations_copy / "0002_two_steps.sql").write_text(
        "CREATE FUNCTION ella_test_f() RETURNS int AS $f$ BEGIN RETURN 1; END; $f$ "
        "LANGUAGE plpgsql;\n-- COMMIT;\nCOMMENT ON FUNCTION ella_test_f() IS 'COMMIT;';\n"
        "CREATE FUNCTION ella_test_g(a int) RETURNS int LANGUAGE sql BEGIN ATOMIC "
        "SELECT CASE WHEN a > 0 THEN 1 ELSE 0 END AS end; END;\n"
        "/* a /* b */ ; COMMIT; */ SELECT E'it\\'s; COMMIT';\n")
    with psycopg.connect(db_url) as conn:
        assert [m.name for m in migrate(conn, ella_config, migrations_dir=migrations_copy,
                                        **quiet)] == ["0002_two_steps.sql"]


@pytest.mark.parametrize("change", [
    "DROP TRIGGER annotation_to_annotationshadow ON annotation",
    "ALTER TABLE annotation DISABLE TRIGGER annotation_to_annotationshadow",
    "CREATE OR REPLACE FUNCTION validate_json_schema(schema jsonb, data jsonb, "
    "root_schema jsonb DEFAULT NULL) RETURNS boolean LANGUAGE sql AS 'SELECT true'"])
def test_functions_and_triggers_changed_by_hand_are_not_at_head(db_url, ella_config, change):
    """`compare` trusted the fingerprint refresh recorded: with the shadow trigger dropped
    (ELLA's writes got no shadow rows: the filters missed those variants) or the schema
    validation made to pass everything, the service started as "at head"."""
    with psycopg.connect(db_url) as conn:
        conn.execute(change)
        conn.commit()
        ok, message = at_head(conn, ella_config)
        assert not ok and message == (
            "the database's functions or triggers were changed after `ella-db refresh` "
            "installed them (a trigger dropped or disabled, a function replaced by hand) "
            "(run `ella-db refresh`)")
        conn.rollback()
        assert migrate(conn, ella_config, **quiet) == []  # refreshes, as for an upgrade
        assert at_head(conn, ella_config) == (True, "Migration status OK!")


def test_functions_recorded_by_a_version_before_the_live_record_are_refreshed(db_url,
                                                                              ella_config):
    """A database refreshed before the live record was never checked (its recorded file
    fingerprint still matched, so nothing refreshed it): it is refreshed once."""
    with psycopg.connect(db_url) as conn:
        comment = conn.execute(f"SELECT obj_description('{BOOKKEEPING_TABLE}'::regclass, "
                               "'pg_class')").fetchone()[0]
        conn.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(
            sql.Identifier(BOOKKEEPING_TABLE),
            sql.Literal(comment.split("; as installed: ")[0])))
        conn.execute("DROP TRIGGER annotation_to_annotationshadow ON annotation")
        conn.commit()
        assert not at_head(conn, ella_config)[0]
        conn.rollback()
        assert migrate(conn, ella_config, **quiet) == []
        assert at_head(conn, ella_config) == (True, "Migration status OK!")
        assert conn.execute("SELECT count(*) FROM pg_trigger WHERE tgname = "
                            "'annotation_to_annotationshadow'").fetchone()[0] == 1


def test_transaction_control_is_found_past_labels_named_like_keywords():
    """In a `BEGIN ATOMIC` body, `AS end` ended the body early (a valid file refused) and
    `AS case` hid the body's END (a COMMIT after it passed)."""
    from ella.migrate import transaction_control
    body = "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1 AS {}; END;"
    assert transaction_control(body.format("end")) is None
    assert transaction_control(body.format("case") + " COMMIT;") == "COMMIT"
    assert transaction_control(body.format("t.case") + " COMMIT;") == "COMMIT"


def test_new_migration_is_applied_once(db_url, ella_config, migrations_copy):
    (migrations_copy / "0002_add_broadcast.sql").write_text(
        "INSERT INTO broadcast (date_created, message, active) VALUES (now(), 'hello', true);\n")
    with psycopg.connect(db_url) as conn:
        assert not at_head(conn, ella_config, migrations_dir=migrations_copy)[0]
        assert [m.name for m in migrate(conn, ella_config, migrations_dir=migrations_copy,
                                        **quiet)] == ["0002_add_broadcast.sql"]
        assert migrate(conn, ella_config, migrations_dir=migrations_copy, **quiet) == []
        assert conn.execute("SELECT count(*) FROM broadcast").fetchone()[0] == 1
        assert at_head(conn, ella_config, migrations_dir=migrations_copy)[0]


def test_badly_named_migration_file_is_refused(db_url, ella_config, migrations_copy):
    (migrations_copy / "2-Oops.sql").write_text("SELECT 1;")
    with psycopg.connect(db_url) as conn, pytest.raises(MigrationError, match="2-Oops.sql"):
        migrate(conn, ella_config, migrations_dir=migrations_copy, **quiet)


# --- adopt ---------------------------------------------------------------------------------

def test_adopt_real_ella_database_changes_no_row(demo_db_url, ella_config):
    before = table_snapshot(demo_db_url)
    assert sum(len(rows) for rows in before.values()) > 10000  # really ELLA's data
    with psycopg.connect(demo_db_url) as conn:
        assert detect_state(conn).kind == "ella"
        assert at_head(conn, ella_config)[0] is False
        assert adopt(conn, ella_config, **quiet) is True
        assert at_head(conn, ella_config) == (True, "Migration status OK!")
        info = status(conn, ella_config)
        assert info["state"] == "ours" and info["pending"] == []
        assert info["shadow_differences"] == []
        # A second adopt is a no-op, and so is migrate.
        assert adopt(conn, ella_config, **quiet) is False
        assert migrate(conn, ella_config, **quiet) == []
    assert table_snapshot(demo_db_url) == before
    assert [(name, how) for name, _, how in _bookkeeping(demo_db_url)] == [
        ("0000_baseline_4c2844fef850.sql", "adopted"),
        ("0001_legacy_annotationconfig_4c2844fef850.sql", "adopted")]
    assert diff_catalogues(expected_catalogue(), catalogue(demo_db_url)) == []


def test_adopt_fills_the_reference_search_vectors_ella_leaves_empty(demo_db_url, ella_config):
    """ELLA's databases hold reference.search = NULL (nothing maintains it there): after
    adopting, its references are found by the full-text search (api.md 1.8 `s`) without a
    refresh."""
    with psycopg.connect(demo_db_url) as conn:
        conn.execute("INSERT INTO reference (pubmed_id, authors, title, journal, year, "
                     "published) VALUES (8896564, 'Fanconi anaemia/Breast cancer consortium', "
                     "'Positional cloning of the Fanconi anaemia group A gene.', "
                     "'Nat. Genet.: 14(3), 324-8', '1996', true)")
        assert conn.execute("SELECT search FROM reference").fetchall() == [(None,)]
        conn.commit()
        said = []
        assert adopt(conn, ella_config, echo=said.append) is True
        assert "Reference search vectors filled: 1" in said
        assert adopt(conn, ella_config, **quiet) is False
    app = create_app(ella_config, {"DB_URL": demo_db_url, "COOKIE_SECURE": False})
    try:
        client = logged_in_client(app, demo_db_url, "testuser1")
        found = client.get("/api/v1/references/", query={"s": {"search_string": "fanconi"}})
        assert found.status == 200 and [r["pubmed_id"] for r in found.json] == [8896564]
    finally:
        app._drop_connection()


def test_adopted_database_keeps_working_with_our_triggers(demo_db_url, ella_config):
    with psycopg.connect(demo_db_url) as conn:
        adopt(conn, ella_config, **quiet)
        allele_id, annotations = conn.execute(
            "SELECT allele_id, annotations FROM annotation WHERE date_superceeded IS NULL "
            "ORDER BY id LIMIT 1").fetchone()
        shadow_before = conn.execute(
            "SELECT count(*) FROM annotationshadowtranscript WHERE allele_id = %s",
            (allele_id,)).fetchone()[0]
        # Supersede the annotation the way the importer does, with ELLA's own JSON.
        conn.execute("UPDATE annotation SET date_superceeded = now() "
                     "WHERE allele_id = %s AND date_superceeded IS NULL", (allele_id,))
        conn.execute("INSERT INTO annotation (allele_id, annotations, date_created, "
                     "annotation_config_id) VALUES (%s, %s, now(), 1)",
                     (allele_id, psycopg.types.json.Jsonb(annotations)))
        shadow_after = conn.execute(
            "SELECT count(*) FROM annotationshadowtranscript WHERE allele_id = %s",
            (allele_id,)).fetchone()[0]
        assert shadow_after == shadow_before == len(annotations["transcripts"])


def test_adopt_refuses_shadow_columns_that_differ_from_config(demo_db_url, ella_config):
    changed = dict(ella_config, frequencies={"groups": {
        "external": {"GNOMAD_GENOMES": ["G"]}, "internal": {"inDB": ["OUSWES"]}}})
    before = (catalogue(demo_db_url), table_snapshot(demo_db_url))
    with psycopg.connect(demo_db_url) as conn:
        with pytest.raises(MigrationError, match="frequency columns differ.*GNOMAD_EXOMES.AFR"):
            adopt(conn, changed, **quiet)
        assert detect_state(conn).kind == "ella"
    assert (catalogue(demo_db_url), table_snapshot(demo_db_url)) == before


@pytest.mark.parametrize("damage, message", [
    ("CREATE TABLE extra_stuff (id integer)", "unknown tables: extra_stuff"),
    ("DROP TABLE uiexception", "missing tables: uiexception"),
    ("DROP TABLE alembic_version", "no alembic_version"),
    ("UPDATE alembic_version SET version_num = 'abcdef123456'", "unknown revision 'abcdef123456'"),
    ("UPDATE alembic_version SET version_num = '0143c6e15141'", "upgrade it with ELLA first"),
    ("DELETE FROM alembic_version", "holds 0 rows"),
])
def test_adopt_refuses_what_is_not_an_ella_database_at_head(demo_db_url, ella_config,
                                                              damage, message):
    with psycopg.connect(demo_db_url) as conn:
        conn.execute(damage)
        conn.commit()
        before = (catalogue(demo_db_url), table_snapshot(demo_db_url))
        with pytest.raises(MigrationError, match=message):
            adopt(conn, ella_config, **quiet)
        with pytest.raises(MigrationError, match=message):
            migrate(conn, ella_config, **quiet)
    assert (catalogue(demo_db_url), table_snapshot(demo_db_url)) == before


@pytest.mark.parametrize("damage, lacking", [
    ("DROP INDEX ix_assessment_alleleid_unique", "index ix_assessment_alleleid_unique of "
                                                 "alleleassessment is missing"),
    ('ALTER TABLE allele DROP CONSTRAINT "ucAllele"', "constraint ucAllele of allele is missing"),
    ("ALTER TABLE alleleassessment DROP COLUMN evaluation",
     "column alleleassessment.evaluation is missing"),
    ("ALTER TABLE annotationshadowtranscript DROP COLUMN hgvsp",
     "column annotationshadowtranscript.hgvsp is missing")])
def test_adopt_refuses_an_ella_database_lacking_part_of_its_schema(demo_db_url, ella_config,
                                                                   damage, lacking):
    """A damaged copy was adopted, as its tables' names were ELLA's: a dropped unique index
    then allowed two current assessments of a variant. A DBA's own index is no obstacle."""
    with psycopg.connect(demo_db_url) as conn:
        conn.execute("CREATE INDEX dba_added ON alleleassessment (allele_id)")
        conn.execute(damage)
        conn.commit()
        before = (catalogue(demo_db_url), table_snapshot(demo_db_url))
        with pytest.raises(MigrationError) as refused:
            adopt(conn, ella_config, **quiet)
    assert str(refused.value) == (f"the database lacks part of ELLA's head schema: {lacking}. "
                                  "Restore it from ELLA's backup (or make it ELLA's) before "
                                  "adopting")
    assert (catalogue(demo_db_url), table_snapshot(demo_db_url)) == before


@pytest.mark.parametrize("name", ["dba_added", '"ix dba added"'])
def test_adopt_takes_an_ella_database_with_an_index_of_its_dbas(demo_db_url, ella_config, name):
    with psycopg.connect(demo_db_url) as conn:
        conn.execute(f"CREATE INDEX {name} ON alleleassessment (allele_id)")
        conn.commit()
        assert adopt(conn, ella_config, **quiet)


@pytest.mark.parametrize("dba_sql", [
    'CREATE INDEX "ix dba allele pos" ON allele (vcf_pos)',  # a name that needs quoting
    'CREATE TABLE "dba notes" (id integer); CREATE INDEX dba_notes_id ON "dba notes" (id)',
    # An index on a partitioned table: pg_get_indexdef says "ON ONLY".
    "CREATE TABLE dba_part (id integer, d date) PARTITION BY RANGE (d); "
    "CREATE INDEX dba_part_id ON dba_part (id)",
    # A constraint trigger (pg_constraint's contype 't').
    "CREATE FUNCTION dba_noop() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NULL; "
    "END$$; CREATE CONSTRAINT TRIGGER dba_ct AFTER INSERT ON broadcast DEFERRABLE INITIALLY "
    "DEFERRED FOR EACH ROW EXECUTE FUNCTION dba_noop()",
], ids=["quoted-index", "quoted-table", "partitioned", "constraint-trigger"])
def test_objects_a_dba_added_are_read_by_compare_and_status(db_url, dba_sql):
    """The schema reader's patterns took every name for one without quotes, and knew no
    constraint trigger: compare (the image's start gate), status and adopt ended in a
    traceback on a database with such an object."""
    with psycopg.connect(db_url) as conn:
        conn.execute(dba_sql)
    for command in ("compare", "status"):
        result = run_cli("ella-db", command, db_url=db_url)
        assert (result.returncode, result.stderr) == (0, ""), (command, result.stderr[-500:])
    table = catalogue(db_url)["tables"]
    if '"ix dba' in dba_sql:
        assert table["allele"]["indexes"]["ix dba allele pos"] == "btree (vcf_pos)"
    if "CONSTRAINT TRIGGER" in dba_sql:
        assert table["broadcast"]["triggers"]["dba_ct"].startswith("CONSTRAINT AFTER INSERT")
        assert table["broadcast"]["constraints"]["dba_ct"]["type"] == "constraint trigger"


def test_a_migration_whose_refresh_failed_is_refreshed_by_the_next_migrate(
        db_url, ella_config, migrations_copy, monkeypatch):
    """migrate applies the pending files, then refreshes. The refresh failing (a busy
    database) said "nothing changed" though the file was committed, and the next migrate said
    "up to date" and never refreshed: the shadow tables kept what the migration changed
    under them."""
    import ella.refresh as refresh_module
    from ella.refresh import RefreshError
    from test_shadow_and_triggers import ANNOTATION, _allele, _annotate
    monkeypatch.setattr(refresh_module, "LOCK_WAIT", "300ms")
    with psycopg.connect(db_url) as conn:
        _annotate(conn, _allele(conn), ANNOTATION)
    # A data migration in ELLA's manner (triggers off, rewrite, triggers on), which the
    # refresh after it brings into the shadow tables.
    (migrations_copy / "0002_rename_symbol.sql").write_text(
        "ALTER TABLE annotation DISABLE TRIGGER USER;\n"
        "UPDATE annotation SET annotations = jsonb_set(annotations, '{transcripts,0,symbol}', "
        "'\"NEW\"') WHERE annotations->'transcripts'->0->>'symbol' = 'BRCA2';\n"
        "ALTER TABLE annotation ENABLE TRIGGER USER;\n")
    with psycopg.connect(db_url) as busy, psycopg.connect(db_url) as conn:
        busy.execute("SELECT count(*) FROM allele")  # a request in progress holds a lock
        with pytest.raises(RefreshError, match=r"^0002_rename_symbol\.sql applied \(committed\), "
                                               r"but the refresh after it did not finish: "):
            migrate(conn, ella_config, migrations_dir=migrations_copy, **quiet)
        busy.rollback()
    with psycopg.connect(db_url) as conn:
        ok, message = at_head(conn, ella_config, migrations_dir=migrations_copy)
        assert not ok and message.startswith("a migration was applied and the refresh after "
                                             "it did not finish")
        assert migrate(conn, ella_config, migrations_dir=migrations_copy, **quiet) == []
        assert at_head(conn, ella_config, migrations_dir=migrations_copy)[0]
        assert conn.execute("SELECT symbol FROM annotationshadowtranscript ORDER BY id"
                            ).fetchall() == [("NEW",), ("BRCA2",)]


def test_migrate_refuses_unadopted_ella_database(demo_db_url, ella_config):
    with psycopg.connect(demo_db_url) as conn, pytest.raises(MigrationError, match="ella-db adopt"):
        migrate(conn, ella_config, **quiet)


def test_adopt_refuses_empty_database(empty_db_url, ella_config):
    with psycopg.connect(empty_db_url) as conn, pytest.raises(MigrationError, match="empty"):
        adopt(conn, ella_config, **quiet)


def test_two_runners_at_once_apply_each_file_once(empty_db_url, ella_config):
    """Two `make-production` started together (e.g. two containers): the advisory lock makes
    the second wait and then find nothing to do."""
    import threading
    results, errors = [], []

    def run():
        try:
            with psycopg.connect(empty_db_url) as conn:
                results.append([m.name for m in migrate(conn, ella_config, **quiet)])
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert sorted(len(r) for r in results) == [0, 2]
    assert len(_bookkeeping(empty_db_url)) == 2


@pytest.mark.parametrize("command", ["refresh", "adopt"])
def test_refresh_and_adopt_give_up_on_a_busy_database(demo_db_url, db_url, ella_config,
                                                      monkeypatch, command):
    """Their exclusive locks would queue behind a running transaction, and every later
    reader behind them: they wait a bounded time, then stop with nothing changed."""
    import ella.refresh as refresh_module
    from ella.refresh import RefreshError, refresh
    monkeypatch.setattr(refresh_module, "LOCK_WAIT", "300ms")
    url = db_url if command == "refresh" else demo_db_url
    before = table_snapshot(url)
    # statement_timeout: without the lock limit this test fails instead of hanging.
    with psycopg.connect(url) as busy, \
            psycopg.connect(url, options="-c statement_timeout=20000") as conn:
        busy.execute("SELECT count(*) FROM allele, annotation")  # holds its locks
        with pytest.raises(RefreshError, match=f"{command} stopped, nothing changed: the "
                                               "database is in use"):
            if command == "refresh":
                refresh(conn, ella_config, **quiet)
            else:
                adopt(conn, ella_config, **quiet)
        busy.rollback()
    assert table_snapshot(url) == before
    with psycopg.connect(url) as conn:  # and once it is free, it works
        (refresh if command == "refresh" else adopt)(conn, ella_config, **quiet)
