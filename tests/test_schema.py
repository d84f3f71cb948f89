"""The schema equals ELLA's head schema (spec/datamodel.md section 3), in a database made by
make-production and in the real ELLA database of tests/data."""

import psycopg

from ella.catalogue import diff_catalogues, read_catalogue
from helpers import catalogue, expected_catalogue


def test_make_production_catalogue_matches_spec_expectation(db_url):
    problems = diff_catalogues(expected_catalogue(), catalogue(db_url))
    assert problems == []


def test_real_ella_database_catalogue_matches_spec_expectation(demo_db_url):
    # The restored ELLA database, untouched: the expectation agrees with ELLA's own catalogue.
    problems = diff_catalogues(expected_catalogue(), catalogue(demo_db_url))
    assert problems == []


def test_expectation_is_complete():
    expected = expected_catalogue()
    assert len(expected["tables"]) == 45
    assert expected["enums"]["alleleassessment_classification"] == \
        ["1", "2", "3", "4", "5", "NP", "DR", "RF"]
    assert expected["enums"]["change_type"][:4] == ["SNP", "del", "ins", "indel"]
    allele = expected["tables"]["allele"]
    assert [c["name"] for c in allele["columns"]][-2:] == ["length", "caller_type"]
    assert "ucAllele" in allele["constraints"]


def test_catalogue_diff_detects_changes(db_url):
    # The comparison is only worth something if it notices a change.
    with psycopg.connect(db_url) as conn:
        conn.execute('ALTER TABLE "user" ALTER COLUMN email SET NOT NULL')
        conn.execute("DROP INDEX ix_alleleloci")
        conn.execute("ALTER TYPE mode ADD VALUE 'Extra'")
        conn.commit()
        cat = read_catalogue(conn)
    problems = diff_catalogues(expected_catalogue(), cat)
    text = "\n".join(problems)
    assert "table user column email" in text
    assert "ix_alleleloci" in text
    assert "enum mode" in text


def test_alembic_version_and_seed_rows(db_conn):
    assert db_conn.execute("SELECT version_num FROM alembic_version").fetchall() == \
        [("4c2844fef850",)]
    assert db_conn.execute("SELECT name, version FROM jsonschema ORDER BY 1, 2").fetchall() == \
        [("annotation", 1), ("filterconfig", 1), ("filterconfig", 2), ("filterconfig", 3)]
    rows = db_conn.execute("SELECT id, deposit, view FROM annotationconfig").fetchall()
    assert len(rows) == 1 and rows[0][0] == 1
    assert [c["name"] for c in rows[0][1]][:3] == ["vep", "clinvarjson", "keyvalue"]
