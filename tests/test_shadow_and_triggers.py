"""Triggers and refresh: shadow tables follow the current annotation, invalid annotation JSON
is refused inside PostgreSQL, refresh follows the configured frequency groups, and
reference.search is kept filled."""

import copy
import uuid

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from ella.catalogue import diff_catalogues
from ella.refresh import RefreshError, expected_frequency_columns, refresh
from helpers import catalogue, expected_catalogue, quiet

ANNOTATION = {
    "transcripts": [
        {"transcript": "NM_000059.3", "hgnc_id": 1101, "symbol": "BRCA2",
         "HGVSc": "c.51_52delAC", "HGVSp": "p.Arg18LeufsTer12", "protein": "NP_000050.2",
         "strand": 1, "is_canonical": True, "in_last_exon": "no",
         "consequences": ["frameshift_variant"], "exon_distance": 0,
         "coding_region_distance": 0},
        {"transcript": "ENST00000380152", "hgnc_id": 1101, "symbol": "BRCA2", "strand": 1,
         "is_canonical": False, "in_last_exon": "no",
         "consequences": ["frameshift_variant", "splice_region_variant"]},
    ],
    "frequencies": {
        "GNOMAD_EXOMES": {"freq": {"G": 0.0014, "NFE": 0.002}, "num": {"G": 246000}},
        "inDB": {"freq": {"OUSWES": 0.004}, "num": {"OUSWES": 5000}},
    },
    "references": [{"pubmed_id": 123, "source": "HGMD", "source_info": ""}],
}


def _allele(conn, pos=32890645):
    return conn.execute(
        "INSERT INTO allele (genome_reference, chromosome, start_position, open_end_position, "
        "change_from, change_to, change_type, vcf_pos, vcf_ref, vcf_alt, length, caller_type) "
        "VALUES ('GRCh37', '13', %s, %s, 'AC', '', 'del', %s, 'GAC', 'G', 2, 'snv') RETURNING id",
        (pos, pos + 2, pos)).fetchone()[0]


def _annotate(conn, allele_id, annotations):
    return conn.execute(
        "INSERT INTO annotation (allele_id, annotations, date_created, annotation_config_id) "
        "VALUES (%s, %s, now(), 1) RETURNING id, schema_version",
        (allele_id, Jsonb(annotations))).fetchone()


def test_inserting_an_annotation_fills_the_shadow_tables(db_conn):
    allele_id = _allele(db_conn)
    _, schema_version = _annotate(db_conn, allele_id, ANNOTATION)
    assert schema_version == 1
    rows = db_conn.execute(
        "SELECT hgnc_id, symbol, transcript, hgvsc, protein, hgvsp, consequences, "
        "exon_distance, coding_region_distance FROM annotationshadowtranscript "
        "WHERE allele_id = %s ORDER BY id", (allele_id,)).fetchall()
    assert rows == [
        (1101, "BRCA2", "NM_000059.3", "c.51_52delAC", "NP_000050.2", "p.Arg18LeufsTer12",
         ["frameshift_variant"], 0, 0),
        (1101, "BRCA2", "ENST00000380152", None, None, None,
         ["frameshift_variant", "splice_region_variant"], None, None),
    ]
    freq = db_conn.execute(
        'SELECT "GNOMAD_EXOMES.G", "GNOMAD_EXOMES_num.G", "GNOMAD_EXOMES.NFE", '
        '"GNOMAD_GENOMES.G", "inDB.OUSWES", "inDB_num.OUSWES" FROM annotationshadowfrequency '
        "WHERE allele_id = %s", (allele_id,)).fetchall()
    assert freq == [(0.0014, 246000, 0.002, None, 0.004, 5000)]


def test_a_new_annotation_replaces_the_shadow_rows(db_conn):
    allele_id = _allele(db_conn)
    old_id, _ = _annotate(db_conn, allele_id, ANNOTATION)
    db_conn.execute("UPDATE annotation SET date_superceeded = now() WHERE id = %s", (old_id,))
    newer = copy.deepcopy(ANNOTATION)
    newer["transcripts"] = newer["transcripts"][:1]
    newer["frequencies"]["GNOMAD_EXOMES"]["freq"]["G"] = 0.5
    new_id, _ = _annotate(db_conn, allele_id, newer)
    db_conn.execute("UPDATE annotation SET previous_annotation_id = %s WHERE id = %s",
                    (old_id, new_id))
    assert db_conn.execute("SELECT count(*) FROM annotationshadowtranscript WHERE allele_id = %s",
                           (allele_id,)).fetchone()[0] == 1
    assert db_conn.execute('SELECT "GNOMAD_EXOMES.G" FROM annotationshadowfrequency '
                           "WHERE allele_id = %s", (allele_id,)).fetchall() == [(0.5,)]
    # Deleting the annotation row removes its shadows.
    db_conn.execute("DELETE FROM annotation WHERE id = %s", (new_id,))
    assert db_conn.execute("SELECT count(*) FROM annotationshadowfrequency WHERE allele_id = %s",
                           (allele_id,)).fetchone()[0] == 0


def test_an_annotation_stored_as_superseded_leaves_the_current_ones_shadow_rows(db_conn):
    """The shadow rows are the current annotation's (filtering.md 0.2): a row inserted
    already superseded (history carried over, a restore) must not replace them, or the
    filters read another annotation's transcripts and frequencies."""
    allele_id = _allele(db_conn)
    _annotate(db_conn, allele_id, ANNOTATION)
    before = [db_conn.execute(f"SELECT * FROM {table} WHERE allele_id = %s ORDER BY 1, 2",
                              (allele_id,)).fetchall()
              for table in ("annotationshadowtranscript", "annotationshadowfrequency")]
    older = copy.deepcopy(ANNOTATION)
    older["transcripts"] = older["transcripts"][:1]
    older["frequencies"]["GNOMAD_EXOMES"]["freq"]["G"] = 0.5
    db_conn.execute("INSERT INTO annotation (allele_id, annotations, date_created, "
                    "date_superceeded, annotation_config_id) VALUES (%s, %s, "
                    "now() - interval '1 year', now() - interval '1 day', 1)",
                    (allele_id, Jsonb(older)))
    after = [db_conn.execute(f"SELECT * FROM {table} WHERE allele_id = %s ORDER BY 1, 2",
                             (allele_id,)).fetchall()
             for table in ("annotationshadowtranscript", "annotationshadowfrequency")]
    assert after == before and before[0] and before[1]


def test_annotation_rows_are_immutable(db_conn):
    allele_id = _allele(db_conn)
    annotation_id, _ = _annotate(db_conn, allele_id, ANNOTATION)
    with pytest.raises(psycopg.errors.RaiseException, match="is disallowed"):
        db_conn.execute("UPDATE annotation SET annotations = '{}' WHERE id = %s", (annotation_id,))


@pytest.mark.parametrize("broken", [
    {"transcripts": [{"symbol": "BRCA2"}]},
    {"transcripts": [dict(ANNOTATION["transcripts"][0], consequences=["made_up_variant"])]},
    {"references": [{"pubmed_id": "not a number", "source": "HGMD", "source_info": ""}]},
])
def test_annotation_violating_the_schema_is_rejected_by_the_trigger(db_conn, broken):
    allele_id = _allele(db_conn)
    with pytest.raises(psycopg.Error) as info:
        _annotate(db_conn, allele_id, broken)
    assert info.value.sqlstate == "JSONV"
    assert "schema_name=annotation, data=" in str(info.value)
    assert "failed to validate against any of the existing schemas" in str(info.value)


def _with_groups(config, groups):
    changed = copy.deepcopy(config)
    changed["frequencies"]["groups"] = groups
    return changed


def test_refresh_after_adding_a_frequency_group_adds_and_backfills_columns(db_url, ella_config):
    with psycopg.connect(db_url) as conn:
        allele_id = _allele(conn)
        annotations = copy.deepcopy(ANNOTATION)
        annotations["frequencies"]["SWEGEN"] = {"freq": {"G": 0.25}, "num": {"G": 2000}}
        _annotate(conn, allele_id, annotations)
        conn.commit()
        groups = copy.deepcopy(ella_config["frequencies"]["groups"])
        groups["external"]["SWEGEN"] = ["G"]
        bigger = _with_groups(ella_config, groups)
        refresh(conn, bigger, **quiet)
        assert conn.execute('SELECT "SWEGEN.G", "SWEGEN_num.G", "GNOMAD_EXOMES.G" '
                            "FROM annotationshadowfrequency WHERE allele_id = %s",
                            (allele_id,)).fetchall() == [(0.25, 2000, 0.0014)]
        # New annotations fill the new columns too (the trigger function was regenerated).
        other = _allele(conn, pos=32890700)
        _annotate(conn, other, annotations)
        assert conn.execute('SELECT "SWEGEN.G" FROM annotationshadowfrequency '
                            "WHERE allele_id = %s", (other,)).fetchone() == (0.25,)
        conn.commit()
        columns = [r[0] for r in conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = "
            "'annotationshadowfrequency'::regclass AND attnum > 0 AND NOT attisdropped "
            "ORDER BY attnum")]
        assert columns == ["id", "allele_id"] + [c for c, _ in expected_frequency_columns(bigger)]
        # And back again: refresh with the original config restores ELLA's catalogue.
        refresh(conn, ella_config, **quiet)
    assert diff_catalogues(expected_catalogue(), catalogue(db_url)) == []


def test_frequency_names_with_quotes_of_any_kind_are_columns_like_any_other(db_url,
                                                                             ella_config):
    """The trigger function's body was written between `$fn$` quotes: a name holding that
    tag ended it early, and refresh failed with a syntax error the config did not explain."""
    provider, key = "X$fn$Y", "A'B"
    groups = copy.deepcopy(ella_config["frequencies"]["groups"])
    groups["external"][provider] = [key]
    odd = _with_groups(ella_config, groups)
    with psycopg.connect(db_url) as conn:
        refresh(conn, odd, **quiet)
        allele_id = _allele(conn)
        annotations = copy.deepcopy(ANNOTATION)
        annotations["frequencies"][provider] = {"freq": {key: 0.5}, "num": {key: 10}}
        _annotate(conn, allele_id, annotations)
        assert conn.execute(
            sql.SQL("SELECT {}, {} FROM annotationshadowfrequency WHERE allele_id = %s").format(
                sql.Identifier(f"{provider}.{key}"), sql.Identifier(f"{provider}_num.{key}")),
            (allele_id,)).fetchall() == [(0.5, 10)]
        conn.rollback()
        refresh(conn, ella_config, **quiet)


def test_refresh_keeps_what_other_roles_were_granted_on_the_shadow_tables(db_url,
                                                                         ella_config):
    """The refresh builds the shadow tables anew: a service running as a role other than
    the owner (the grants a DBA gives an application) lost its access to them at every
    refresh, the README's upgrade step, and filtering and imports failed."""
    role = f"ella_app_{uuid.uuid4().hex[:8]}"
    privileges = [("annotationshadowtranscript", "INSERT"), ("annotationshadowfrequency",
                                                            "SELECT")]
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(role)))
        try:
            for table, privilege in privileges:
                conn.execute(sql.SQL("GRANT {} ON {} TO {}").format(
                    sql.SQL(privilege), sql.Identifier(table), sql.Identifier(role)))
            conn.execute(sql.SQL("GRANT USAGE ON SEQUENCE {} TO {}").format(
                sql.SQL(conn.execute("SELECT pg_get_serial_sequence("
                                     "'annotationshadowtranscript', 'id')").fetchone()[0]),
                sql.Identifier(role)))
            refresh(conn, ella_config, **quiet)
            assert [conn.execute("SELECT has_table_privilege(%s, %s, %s)",
                                 (role, table, privilege)).fetchone()[0]
                    for table, privilege in privileges] == [True, True]
            assert conn.execute(
                "SELECT has_sequence_privilege(%s, pg_get_serial_sequence("
                "'annotationshadowtranscript', 'id'), 'USAGE')", (role,)).fetchone()[0]
            assert not conn.execute("SELECT has_table_privilege(%s, %s, 'DELETE')",
                                    (role, "annotationshadowtranscript")).fetchone()[0]
        finally:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_refresh_is_repeatable_and_keeps_shadow_content(db_url, ella_config):
    query = ("SELECT allele_id, hgnc_id, symbol, transcript, hgvsc, consequences "
             "FROM annotationshadowtranscript ORDER BY 1, 4")
    with psycopg.connect(db_url) as conn:
        _annotate(conn, _allele(conn), ANNOTATION)
        conn.commit()
        before = conn.execute(query).fetchall()
        refresh(conn, ella_config, **quiet)
        refresh(conn, ella_config, **quiet)
        assert conn.execute(query).fetchall() == before
    assert diff_catalogues(expected_catalogue(), catalogue(db_url)) == []


def test_refresh_refuses_groups_used_by_a_filter_config(db_url, ella_config):
    filterconfig = {"filters": [{"name": "frequency", "config": {
        "groups": {"external": {"GNOMAD_GENOMES": ["G"]}, "internal": {"inDB": ["OUSWES"]}},
        "thresholds": {"default": {"external": 0.005, "internal": 0.05}}}}]}
    smaller = _with_groups(ella_config, {"external": {"GNOMAD_EXOMES": ["G"]},
                                         "internal": {"inDB": ["OUSWES"]}})
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO filterconfig (name, filterconfig, active) "
                      "VALUES ('Default', %s, true)", (Jsonb(filterconfig),))
        conn.commit()
        before = catalogue(db_url)
        with pytest.raises(RefreshError, match="'Default'.*GNOMAD_GENOMES.G"):
            refresh(conn, smaller, **quiet)
    assert catalogue(db_url) == before


def test_refresh_refuses_groups_a_users_own_acmg_config_uses(db_url, ella_config):
    """A user's own `acmg` replaces its group's: a refresh dropping the columns it reads
    went through, and that user's suggested ACMG criteria failed from then on."""
    acmg = {"frequency": {"groups": {"external": {"GNOMAD_GENOMES": ["G"]}}}}
    smaller = _with_groups(ella_config, {"external": {"GNOMAD_EXOMES": ["G"]},
                                         "internal": {"inDB": ["OUSWES"]}})
    with psycopg.connect(db_url) as conn:
        group_id = conn.execute("INSERT INTO usergroup (name, config) VALUES ('lab', '{}') "
                                "RETURNING id").fetchone()[0]
        conn.execute('INSERT INTO "user" (username, first_name, last_name, group_id, password, '
                     "password_expiry, active, incorrect_logins, config) VALUES ('u1', 'A', "
                     "'B', %s, 'x', now(), true, 0, %s)", (group_id, Jsonb({"acmg": acmg})))
        conn.commit()
        before = catalogue(db_url)
        with pytest.raises(RefreshError, match="user 'u1' ACMG config.*GNOMAD_GENOMES.G"):
            refresh(conn, smaller, **quiet)
    assert catalogue(db_url) == before


def test_reference_search_is_filled_by_trigger_and_backfilled_by_refresh(db_url, ella_config):
    with psycopg.connect(db_url) as conn:
        ref_id = conn.execute(
            "INSERT INTO reference (authors, title, journal, year, pubmed_id, published) "
            "VALUES ('Smith J, Doe A', 'BRCA2 founder mutations', 'Nat Genet', '2001', 1, true) "
            "RETURNING id").fetchone()[0]
        found = conn.execute("SELECT id FROM reference WHERE search @@ "
                             "to_tsquery('english', 'founder:* & brca2:*')").fetchall()
        assert found == [(ref_id,)]
        # A vector gone stale (e.g. written by ELLA, which fills nothing) is back-filled.
        conn.execute("ALTER TABLE reference DISABLE TRIGGER reference_search_trigger")
        conn.execute("UPDATE reference SET search = NULL, title = 'Mutations in Norway'")
        conn.execute("ALTER TABLE reference ENABLE TRIGGER reference_search_trigger")
        conn.commit()
        refresh(conn, ella_config, **quiet)
        assert conn.execute("SELECT id FROM reference WHERE search @@ "
                            "to_tsquery('english', 'norway')").fetchall() == [(ref_id,)]
