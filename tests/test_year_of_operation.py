"""What goes wrong when a lab runs the service for a year: identifiers a deposit uses up
without storing anything, log times an audit cannot line up with the database's, and failed
analysis folders retried by the lab's own backup runs."""

import os
import re
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from ella.watcher import folder_fingerprint
from deposit_helpers import BRCA_VCF, add_test_panels, deposit
from helpers import ROOT


@pytest.fixture
def panel_db(db_url):
    add_test_panels(db_url)
    return db_url


def _allele_ids_drawn(url):
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT last_value FROM allele_id_seq").fetchone()[0], \
            conn.execute("SELECT count(*) FROM allele").fetchone()[0]


def test_a_deposit_of_stored_variants_draws_no_allele_ids(panel_db, ella_config, tmp_path):
    """README, Importing data: the deposit finds a proband's alleles "by all their fields,
    new ones inserted". `allele.id` is ELLA's 32-bit serial (2,147,483,647 ids for the
    life of the database), so a deposit of variants the database already has may draw no
    ids: `INSERT ... SELECT ... ON CONFLICT DO NOTHING` draws one for every row it tries,
    so each exome imported drew ~50,000 ids whether or not one variant was new (measured:
    a second deposit of the same 50,000-variant VCF, 0 new alleles, moved allele_id_seq by
    50,000), and a lab importing genomes (~5 million records each) would exhaust the
    sequence within a few hundred imports, after which every import fails. ELLA looks the
    alleles up first and inserts only the missing ones."""
    deposit(panel_db, ella_config, BRCA_VCF)
    drawn, stored = _allele_ids_drawn(panel_db)
    again = tmp_path / "brca_again.HBOC_v01.vcf"
    again.write_bytes(BRCA_VCF.read_bytes())
    stats = deposit(panel_db, ella_config, again)
    assert stats["alleles_new"] == 0 and stats["genotypes"] == 6
    assert _allele_ids_drawn(panel_db) == (drawn, stored)


LOG_TIME_PROBE = """
import logging
from ella.logging_setup import setup
setup("info")
logging.getLogger("ella.probe").info("now")
"""


def test_log_lines_carry_utc_times_whatever_the_hosts_time_zone():
    """README, Configuration: times are stored, compared and served in UTC (`+00:00`), the
    watcher's error files too. The log lines (`2024-01-31 12:00:00,123 [INFO] ...`, no
    offset) are the one place that used the host's local time: on a host with TZ set (a
    systemd unit, `ops/entrypoint.sh` outside a container) they disagreed with resourcelog,
    clilog and the API by the zone's offset, and the hour a DST change repeats gave two
    runs of lines with the same times, so an audit could not tell which request or import a
    line belongs to. Here the process runs in Pacific/Chatham (UTC+12:45/+13:45)."""
    before = datetime.now(timezone.utc).replace(tzinfo=None)
    result = subprocess.run([sys.executable, "-c", LOG_TIME_PROBE], cwd=ROOT, text=True,
                            capture_output=True, timeout=60,
                            env=dict(os.environ, TZ="Pacific/Chatham"))
    after = datetime.now(timezone.utc).replace(tzinfo=None)
    assert result.returncode == 0, result.stderr
    line = (result.stdout + result.stderr).strip()
    stamp = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),\d{3} \[INFO\] ella\.probe: now$", line)
    assert stamp, line
    logged = datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S")
    assert before - timedelta(seconds=2) <= logged <= after + timedelta(seconds=2), \
        (line, before, after)


def test_restoring_a_files_access_time_does_not_make_a_failed_folder_new(tmp_path):
    """README, the watcher: a folder that failed "is not retried until one of its files
    changes (also chmod/chown)". Its fingerprint holds each file's size, mtime, mode and
    owner; it also held the ctime, which changes without any change to the file when a
    backup agent or `tar --atime-preserve` (the README has /data backed up, the incoming
    directory with it) or a virus scanner puts the access time back: every failed folder
    was then imported again, and failed again, after every such run, each attempt a whole
    deposit rolled back (and, with the allele ids above, ~50,000 ids for an exome). A chmod
    or chown changes the mode or owner, which stay in the fingerprint."""
    folder = tmp_path / "Failed.HBOC_v01"
    folder.mkdir()
    vcf = folder / "Failed.HBOC_v01.vcf"
    vcf.write_text("not a vcf\n")
    (folder / "READY").write_text("")
    recorded = folder_fingerprint(folder)
    for path in (vcf, folder / "READY"):
        state = path.stat()
        time.sleep(0.01)
        os.utime(path, ns=(state.st_atime_ns, state.st_mtime_ns))
    assert folder_fingerprint(folder) == recorded
    vcf.chmod(0o600)
    assert folder_fingerprint(folder) != recorded


def test_a_file_replaced_by_one_of_the_same_size_and_time_is_a_change(tmp_path):
    """Without the change time, a corrected file moved into place with the old one's size and
    modification time (`cp -p`, `rsync -t` from a copy with that time) counts by its inode:
    the folder is retried."""
    folder = tmp_path / "Failed.HBOC_v01"
    folder.mkdir()
    vcf = folder / "Failed.HBOC_v01.vcf"
    vcf.write_text("not a vcf\n")
    recorded = folder_fingerprint(folder)
    state = vcf.stat()
    fixed = tmp_path / "fixed.vcf"
    fixed.write_text("not a VCF\n")  # the same size
    os.utime(fixed, ns=(state.st_atime_ns, state.st_mtime_ns))
    os.replace(fixed, vcf)
    assert vcf.stat().st_size == state.st_size and vcf.stat().st_mtime_ns == state.st_mtime_ns
    assert folder_fingerprint(folder) != recorded
