"""The backup the README prescribes: a `pg_dump -Fc` of a working database restored with
`pg_restore --no-owner` into an empty one is the same database, which `ella-db compare`
accepts and which takes the next import (sequences, triggers and shadow tables included)."""

import shutil
import subprocess

import psycopg

from ella.devdb import find_bin_dir

from deposit_helpers import BRCA_VCF, TEST_ANALYSIS_001, add_test_panels, deposit
from helpers import run_cli, table_snapshot


def _client(tool):
    return shutil.which(tool) or str(find_bin_dir() / tool)


def _counts(url):
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT (SELECT count(*) FROM analysis), (SELECT count(*) FROM annotation), "
            "(SELECT count(*) FROM annotationshadowtranscript), "
            "(SELECT max(id) FROM analysis)").fetchone()


def test_a_dump_restores_into_an_empty_database_that_works(db_url, empty_db_url, ella_config,
                                                           tmp_path):
    add_test_panels(db_url)
    deposit(db_url, ella_config, TEST_ANALYSIS_001)
    dump = tmp_path / "ella.dump"
    subprocess.run([_client("pg_dump"), "-Fc", "-f", str(dump), "-d", db_url], check=True,
                   capture_output=True)
    restored = subprocess.run([_client("pg_restore"), "--no-owner", "--exit-on-error", "-d",
                               empty_db_url, str(dump)], capture_output=True, text=True)
    assert restored.returncode == 0, restored.stderr

    assert table_snapshot(empty_db_url, skip=()) == table_snapshot(db_url, skip=())
    compare = run_cli("ella-db", "compare", db_url=empty_db_url)
    assert compare.returncode == 0 and "Migration status OK!" in compare.stdout, compare.stdout

    analyses, annotations, shadow_rows, last_id = _counts(empty_db_url)
    deposit(empty_db_url, ella_config, BRCA_VCF)
    after = _counts(empty_db_url)
    assert after[0] == analyses + 1 and after[3] > last_id  # the sequences came along
    # The new annotation got shadow rows: the triggers and the bulk path's tables work.
    assert after[1] > annotations and after[2] > shadow_rows
