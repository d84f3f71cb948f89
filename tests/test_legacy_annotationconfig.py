"""The legacy annotation config row (migration 0001) stays in sync with its generator and is
equivalent to ELLA's own legacy config."""

from pathlib import Path

import pytest
import yaml

from ella.annotation.legacy_config import legacy_annotation_config, render_migration_sql

ROOT = Path(__file__).resolve().parent.parent
MIGRATION = ROOT / "sql" / "migrations" / "0001_legacy_annotationconfig_4c2844fef850.sql"
UPSTREAM = ROOT.parent / "shared" / "data" / "annotation" / "annotation-config-legacy.yml"


def test_migration_file_is_the_generated_sql():
    assert MIGRATION.read_text() == render_migration_sql()


def test_shape():
    config = legacy_annotation_config()
    names = [c["name"] for c in config["deposit"]]
    assert names == ["vep", "clinvarjson", "keyvalue", "keyvalue", "keyvalue", "mapping",
                     "hgmdprimaryreport", "hgmdextrarefs", "clinvarreferences", "hgmd"]
    assert [len(c["converter_config"]["elements"]) for c in config["deposit"][2:5]] == [46, 46, 12]
    assert len(config["view"]) == 7


@pytest.mark.skipif(not UPSTREAM.exists(), reason="ELLA's legacy config (../shared) not present")
def test_equals_upstream_legacy_config():
    """Checked against ELLA's own file, which lives outside the project (../shared)."""
    assert yaml.safe_load(UPSTREAM.read_text()) == legacy_annotation_config()


def test_database_row_equals_generator(db_conn):
    deposit, view = db_conn.execute("SELECT deposit, view FROM annotationconfig").fetchone()
    assert {"deposit": deposit, "view": view} == legacy_annotation_config()
