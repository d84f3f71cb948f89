"""Shared set-up for deposit tests: gene panels and running a deposit in one transaction."""

import json
import os
import shutil
from pathlib import Path

import psycopg

from ella.db import connect
from ella.deposit.analysis import deposit_analysis
from ella.deposit.analysis_config import resolve_analysis_config
from ella.deposit.genepanel import deposit_genepanel, folder_files, read_panel_files

DATA = Path(__file__).resolve().parent / "data"
TEST_ALL = DATA / "genepanels" / "test-ALL_v01"
WATCHER_DATA = DATA / "watcher"
TEST_ANALYSIS_001 = WATCHER_DATA / "analyses" / "TestAnalysis-001"
TEST_ANALYSIS_003 = WATCHER_DATA / "analysis_with_error" / "TestAnalysis-003"
BRCA_VCF = DATA / "vcf" / "brca_sample_2.HBOC_v01.vcf"


def add_test_panels(db_url):
    """The BRCA2-covering test-ALL panel under the names the real test analyses ask for
    (HBOC v1.0.0 for TestAnalysis-001, HBOC v01 for brca_sample_2), as the data README says."""
    panel = read_panel_files(*folder_files(TEST_ALL))
    with psycopg.connect(db_url) as conn:
        deposit_genepanel(conn, "HBOC", "v1.0.0", panel)
        deposit_genepanel(conn, "HBOC", "v01", panel)
        conn.commit()


def deposit(db_url, config, path):
    """Resolve and deposit one analysis, committed; returns the summary dict. On a
    connection as the service opens one (UTC, pinned session settings): a plain one read
    a date in the client's time zone."""
    with connect(db_url) as conn:
        with conn.transaction():
            return deposit_analysis(conn, config, resolve_analysis_config(path))


def copy_folder(source, target_parent, name=None):
    target = Path(target_parent) / (name or Path(source).name)
    shutil.copytree(source, target)
    return target


def copy_test_analysis(folder, name):
    """TestAnalysis-001 as a new analysis `name` in `folder` (a path; bytes for a folder
    name that is no UTF-8): the watcher refuses an analysis name twice."""
    shutil.copytree(os.fsencode(TEST_ANALYSIS_001) if isinstance(folder, bytes)
                    else TEST_ANALYSIS_001, folder)
    analysis = os.path.join(folder, b"TestAnalysis-001.analysis" if isinstance(folder, bytes)
                            else "TestAnalysis-001.analysis")
    with open(analysis, encoding="utf-8") as handle:
        text = handle.read()
    with open(analysis, "w", encoding="utf-8") as handle:
        handle.write(text.replace('"TestAnalysis-001"', json.dumps(name)))
