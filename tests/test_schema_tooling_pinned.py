"""The schema tooling's rules that the other tests leave open: the order and the baseline of
the migration files, what adopt records, what counts as a shadow-column difference and what
`alembic_version` must hold."""

import copy

import psycopg
import pytest
from psycopg import sql

from psycopg.types.json import Jsonb

from ella.catalogue import BOOKKEEPING_TABLE, diff_catalogues
from ella.migrate import MigrationError, adopt, at_head, migrate, status
from ella.refresh import (RefreshError, expected_frequency_columns, frequency_column_differences,
                          refresh)
from helpers import catalogue, expected_catalogue, quiet, table_snapshot


def _public_tables(url):
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                            "ORDER BY 1").fetchall()


def test_two_migration_files_with_one_number_are_refused(db_url, ella_config, migrations_copy):
    """README (Database): `sql/migrations/NNNN_name.sql` are applied in order; two files
    sharing a number have no order, so nothing is applied."""
    (migrations_copy / "0002_add_a.sql").write_text("CREATE TABLE dup_a (id integer);\n")
    (migrations_copy / "0002_add_b.sql").write_text("CREATE TABLE dup_b (id integer);\n")
    before = _public_tables(db_url)
    with psycopg.connect(db_url) as conn:
        with pytest.raises(MigrationError, match="share the number 0002"):
            migrate(conn, ella_config, migrations_dir=migrations_copy, **quiet)
    assert _public_tables(db_url) == before


def test_an_empty_database_starts_with_the_baseline(empty_db_url, ella_config, tmp_path):
    """README (`ella-db`): an empty database gets ELLA's schema, which the baseline files
    (`*_4c2844fef850.sql`) create; a set of files not starting with them is refused before
    anything is written."""
    directory = tmp_path / "migrations"
    directory.mkdir()
    (directory / "0002_add_table.sql").write_text("CREATE TABLE ours_later (id integer);\n")
    with psycopg.connect(empty_db_url) as conn:
        with pytest.raises(MigrationError, match="the first migration must be the baseline"):
            migrate(conn, ella_config, migrations_dir=directory, **quiet)
    assert _public_tables(empty_db_url) == []


def test_adopt_records_the_baseline_only_and_leaves_our_later_migrations_pending(
        demo_db_url, ella_config, migrations_copy):
    """README (Adopting): `adopt` records the baseline as present; a later migration of
    ours is not in an ELLA database and must still run (`ella-db migrate`)."""
    (migrations_copy / "0002_add_broadcast.sql").write_text(
        "INSERT INTO broadcast (date_created, message, active) "
        "VALUES (now(), 'from 0002', true);\n")
    with psycopg.connect(demo_db_url) as conn:
        assert adopt(conn, ella_config, migrations_dir=migrations_copy, **quiet)
        recorded = conn.execute(f"SELECT filename, how FROM {BOOKKEEPING_TABLE} "
                                "ORDER BY 1").fetchall()
        assert recorded == [("0000_baseline_4c2844fef850.sql", "adopted"),
                            ("0001_legacy_annotationconfig_4c2844fef850.sql", "adopted")]
        conn.rollback()
        info = status(conn, ella_config, migrations_dir=migrations_copy)
        assert info["pending"] == ["0002_add_broadcast.sql"]
        assert not at_head(conn, ella_config, migrations_dir=migrations_copy)[0]
        applied = migrate(conn, ella_config, migrations_dir=migrations_copy, **quiet)
        assert [m.name for m in applied] == ["0002_add_broadcast.sql"]
        assert conn.execute("SELECT count(*) FROM broadcast WHERE message = 'from 0002'"
                            ).fetchone()[0] == 1


def _other_groups(ella_config):
    changed = copy.deepcopy(ella_config)
    internal = changed["frequencies"]["groups"].setdefault("internal", {})
    internal["pinnedextra"] = ["AF"]
    return changed


def test_shadow_columns_differing_from_the_config_are_not_at_head(db_url, ella_config):
    """README (`ella-db`): `compare` exits 0 only with "the shadow columns as configured";
    a config whose frequency groups the shadow table lacks needs `ella-db refresh` first."""
    changed = _other_groups(ella_config)
    with psycopg.connect(db_url) as conn:
        ok, message = at_head(conn, changed)
        assert not ok
        assert message.startswith("shadow tables differ from the config: ")
        assert "pinnedextra.AF" in message and message.endswith("(run `ella-db refresh`)")
        conn.rollback()
        # The imports' check leaves the columns out (README: a deposit still works).
        assert at_head(conn, changed, shadow_columns=False) == (True, "Migration status OK!")


def test_a_shadow_column_of_another_type_is_a_difference(db_url, ella_config):
    """DESIGN (Shadow columns on adopt): any difference between the shadow table's frequency
    columns and the config is reported; a column of another type than the config's (a
    frequency stored as numeric, a count as bigint) is one, not only a missing name."""
    name, _ = expected_frequency_columns(ella_config)[0]
    with psycopg.connect(db_url) as conn:
        assert frequency_column_differences(conn, ella_config) == []
        conn.execute(sql.SQL("ALTER TABLE annotationshadowfrequency ALTER COLUMN {} "
                             "TYPE numeric").format(sql.Identifier(name)))
        assert frequency_column_differences(conn, ella_config) == [
            "same columns, different order or types"]
        conn.commit()
        ok, message = at_head(conn, ella_config)
        assert not ok and "different order or types" in message


def test_adopt_refuses_alembic_version_with_two_rows(demo_db_url, ella_config):
    """datamodel.md (alembic_version): exactly one row. Two rows (one of them the head) are
    no ELLA database at a known revision: adopt refuses it and changes nothing."""
    with psycopg.connect(demo_db_url) as conn:
        conn.execute("ALTER TABLE alembic_version DROP CONSTRAINT alembic_version_pkc")
        conn.execute("INSERT INTO alembic_version (version_num) VALUES ('0143c6e15141')")
        conn.commit()
        before = (catalogue(demo_db_url), table_snapshot(demo_db_url))
        with pytest.raises(MigrationError, match="alembic_version holds 2 rows"):
            adopt(conn, ella_config, **quiet)
    assert (catalogue(demo_db_url), table_snapshot(demo_db_url)) == before


def _with_groups(config, groups):
    changed = copy.deepcopy(config)
    changed["frequencies"]["groups"] = groups
    return changed


SMALLER_GROUPS = {"external": {"GNOMAD_EXOMES": ["G"]}, "internal": {"inDB": ["OUSWES"]}}
GENOMES_FILTER = {"name": "frequency", "config": {
    "groups": {"external": {"GNOMAD_GENOMES": ["G"]}, "internal": {"inDB": ["OUSWES"]}},
    "thresholds": {"default": {"external": 0.005, "internal": 0.05}}}}


def test_refresh_ignores_the_groups_of_a_deactivated_filter_config(db_url, ella_config):
    """config-cli-ops.md (frequencies.groups): filter configs are checked against the groups,
    the active ones (a deactivated one filters nothing); a group only an old, deactivated
    config read can be dropped by `ella-db refresh`."""
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO filterconfig (name, filterconfig, active) "
                     "VALUES ('Old', %s, false)", (Jsonb({"filters": [GENOMES_FILTER]}),))
        conn.commit()
        refresh(conn, _with_groups(ella_config, SMALLER_GROUPS), **quiet)
        assert frequency_column_differences(
            conn, _with_groups(ella_config, SMALLER_GROUPS)) == []


def test_refresh_refuses_groups_a_filters_exception_uses(db_url, ella_config):
    """README (ACMG/frequency groups): `ella-db refresh` refuses to drop a column a filter
    config reads; a frequency filter given as an exception of another filter reads them too
    (filtering with it failed at run time)."""
    document = {"filters": [{"name": "callertype", "config": {"callerTypes": ["snv"]},
                             "exceptions": [GENOMES_FILTER]}]}
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO filterconfig (name, filterconfig, active) "
                     "VALUES ('Exc', %s, true)", (Jsonb(document),))
        conn.commit()
        before = catalogue(db_url)
        with pytest.raises(RefreshError, match="'Exc'.*GNOMAD_GENOMES.G"):
            refresh(conn, _with_groups(ella_config, SMALLER_GROUPS), **quiet)
    assert catalogue(db_url) == before


def _annotation(frequency):
    return {"transcripts": [{"transcript": "NM_000059.3", "hgnc_id": 1101, "symbol": "BRCA2",
                             "HGVSc": "c.51_52delAC", "strand": 1, "is_canonical": True,
                             "in_last_exon": "no", "consequences": ["frameshift_variant"]}],
            "frequencies": {"GNOMAD_EXOMES": {"freq": {"G": frequency}, "num": {"G": 1000}}},
            "references": []}


def test_refresh_builds_shadow_rows_of_the_current_annotation_only(db_url, ella_config):
    """datamodel.md (annotationshadowfrequency): exactly one row per allele with a current
    annotation; a superseded annotation (the history) gets no shadow rows, or the filters
    read its old frequencies and transcripts as well."""
    with psycopg.connect(db_url) as conn:
        allele_id = conn.execute(
            "INSERT INTO allele (genome_reference, chromosome, start_position, "
            "open_end_position, change_from, change_to, change_type, vcf_pos, vcf_ref, "
            "vcf_alt, length, caller_type) VALUES ('GRCh37', '13', 32890645, 32890647, 'AC', "
            "'', 'del', 32890645, 'GAC', 'G', 2, 'snv') RETURNING id").fetchone()[0]
        conn.execute("INSERT INTO annotation (allele_id, annotations, date_created, "
                     "annotation_config_id) VALUES (%s, %s, now(), 1)",
                     (allele_id, Jsonb(_annotation(0.25))))
        conn.execute("INSERT INTO annotation (allele_id, annotations, date_created, "
                     "date_superceeded, annotation_config_id) VALUES (%s, %s, "
                     "now() - interval '1 year', now() - interval '1 day', 1)",
                     (allele_id, Jsonb(_annotation(0.5))))
        conn.commit()
        refresh(conn, ella_config, **quiet)
        assert conn.execute('SELECT "GNOMAD_EXOMES.G" FROM annotationshadowfrequency '
                            "WHERE allele_id = %s", (allele_id,)).fetchall() == [(0.25,)]
        assert conn.execute("SELECT count(*) FROM annotationshadowtranscript "
                            "WHERE allele_id = %s", (allele_id,)).fetchone()[0] == 1


def test_refresh_backfills_a_stale_reference_search_vector(db_url, ella_config):
    """README (`ella-db`): refresh back-fills `reference.search`; a vector that no longer
    matches its reference (written while the trigger was off) is recomputed, not only an
    empty one, or the reference search finds it by its old title."""
    with psycopg.connect(db_url) as conn:
        ref_id = conn.execute(
            "INSERT INTO reference (authors, title, journal, year, pubmed_id, published) "
            "VALUES ('Smith J', 'BRCA2 founder mutations', 'Nat Genet', '2001', 1, true) "
            "RETURNING id").fetchone()[0]
        conn.execute("ALTER TABLE reference DISABLE TRIGGER reference_search_trigger")
        conn.execute("UPDATE reference SET title = 'Mutations in Norway'")
        conn.execute("ALTER TABLE reference ENABLE TRIGGER reference_search_trigger")
        conn.commit()
        refresh(conn, ella_config, **quiet)
        query = "SELECT id FROM reference WHERE search @@ to_tsquery('english', %s)"
        assert conn.execute(query, ("norway",)).fetchall() == [(ref_id,)]
        assert conn.execute(query, ("founder",)).fetchall() == []


@pytest.mark.parametrize("damage, lacking", [
    ("ALTER TABLE broadcast ALTER COLUMN message TYPE text",
     "column broadcast.message is text, not character varying"),
    ("ALTER TYPE alleleassessment_classification RENAME VALUE 'NP' TO 'np'",
     "enum alleleassessment_classification lacks NP")])
def test_adopt_refuses_a_column_type_or_enum_value_other_than_ellas(demo_db_url, ella_config,
                                                                    damage, lacking):
    """README (Adopting): adopt refuses a database lacking part of ELLA's head schema: "a
    column or its type, an enum value", changing nothing."""
    with psycopg.connect(demo_db_url) as conn:
        conn.execute(damage)
        conn.commit()
        before = (catalogue(demo_db_url), table_snapshot(demo_db_url))
        with pytest.raises(MigrationError, match=lacking):
            adopt(conn, ella_config, **quiet)
    assert (catalogue(demo_db_url), table_snapshot(demo_db_url)) == before


def test_catalogue_comparison_sees_column_order_and_triggers(db_url):
    """README (Database): the schema has ELLA's column order, and its triggers are part of it
    (`refresh` gives them ELLA's names); the comparison the schema tests rely on sees both."""
    actual = catalogue(db_url)
    assert diff_catalogues(expected_catalogue(), actual) == []
    reordered = copy.deepcopy(actual)
    reordered["tables"]["broadcast"]["columns"].reverse()
    assert "table broadcast: column order differs" in diff_catalogues(actual, reordered)
    untriggered = copy.deepcopy(actual)
    name = sorted(untriggered["tables"]["annotation"]["triggers"])[0]
    del untriggered["tables"]["annotation"]["triggers"][name]
    assert any(f"trigger {name}" in line for line in diff_catalogues(actual, untriggered))
