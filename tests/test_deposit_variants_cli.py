"""`ella-deposit analysis|alleles|annotation` (import.md 2.10 and 8 L1)."""

import gzip
import os
import signal
import subprocess
import time

import psycopg
import pytest

from deposit_helpers import BRCA_VCF, TEST_ANALYSIS_001, add_test_panels
from helpers import ROOT, clilog_outputs, run_cli, table_snapshot, wait_for_lock_wait


def _count(url, table):
    with psycopg.connect(url) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_l1_deposit_analysis_from_vcf_gz_and_clilog(db_url, tmp_path):
    add_test_panels(db_url)
    vcf = tmp_path / "brca_sample_2.HBOC_v01.vcf.gz"
    vcf.write_bytes(gzip.compress(BRCA_VCF.read_bytes()))
    result = run_cli("ella-deposit", "analysis", str(vcf), db_url=db_url)
    assert result.returncode == 0, result.stderr
    assert "Analysis brca_sample_2.HBOC_v01 deposited successfully" in result.stdout
    assert "alleles 6 new / 0 existing, 6 genotypes, 1 samples" in result.stdout
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT name FROM analysis").fetchall() == [("brca_sample_2.HBOC_v01",)]
        assert conn.execute("SELECT groupcommand FROM clilog").fetchall()[-1] == ("analysis",)
    # Twice: refused, one line, nothing changed.
    before = table_snapshot(db_url)
    result = run_cli("ella-deposit", "analysis", str(vcf), db_url=db_url)
    assert result.returncode == 1
    assert result.stderr.strip() == "error: Analysis brca_sample_2.HBOC_v01 is already imported."
    after = table_snapshot(db_url)
    assert len(after.pop("clilog")) == len(before.pop("clilog")) + 1
    assert after == before


def test_l1_deposit_folder_with_analysis_file(db_url):
    add_test_panels(db_url)
    result = run_cli("ella-deposit", "analysis", str(TEST_ANALYSIS_001), db_url=db_url)
    assert result.returncode == 0, result.stderr
    assert _count(db_url, "sample") == 3 and _count(db_url, "genotypesampledata") == 18


def test_l1_deposit_alleles_creates_variant_workflows(db_url):
    add_test_panels(db_url)
    result = run_cli("ella-deposit", "alleles", str(BRCA_VCF), db_url=db_url)
    assert result.returncode == 0, result.stderr
    assert "Deposited 1 files." in result.stdout
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*), min(genepanel_name), min(genepanel_version), "
                            "min(status::text) FROM alleleinterpretation").fetchone() == \
            (6, "HBOC", "v01", "Not started")
        assert conn.execute("SELECT count(*) FROM analysis").fetchone() == (0,)
    # Again: nothing new (same alleles, same annotation, rounds exist).
    result = run_cli("ella-deposit", "alleles", str(BRCA_VCF), db_url=db_url)
    assert "alleles 0 new / 6 existing, annotations 0 new / 6 unchanged, 0 new variant " \
           "workflows" in result.stdout
    assert _count(db_url, "alleleinterpretation") == 6


def test_alleles_outside_the_panel_are_refused(db_url, tmp_path):
    add_test_panels(db_url)
    vcf = tmp_path / "x.HBOC_v01.vcf"
    lines = BRCA_VCF.read_text().splitlines()
    moved = [l if l.startswith("#") else "\t".join([l.split("\t")[0], "1000"] + l.split("\t")[2:])
             for l in lines]
    vcf.write_text("\n".join(moved) + "\n")
    before = table_snapshot(db_url)
    result = run_cli("ella-deposit", "alleles", str(vcf), db_url=db_url)
    assert result.returncode == 1
    # Named by its file: of several given, which one it was could not be told.
    assert result.stderr.startswith(f"error: {vcf}: The following variants are not inside "
                                    "the genepanel HBOC_v01: 13\t1000\t"), result.stderr
    after = table_snapshot(db_url)
    after.pop("clilog"), before.pop("clilog")
    assert after == before


def test_the_panel_check_takes_a_transcripts_first_and_last_base(db_url, ella_config, tmp_path):
    """import.md 2.10: a record is inside when tx_start <= POS-1 <= tx_end: POS tx_start+1
    and tx_end+1 (0-based tx_start and tx_end themselves) pass, POS tx_start and tx_end+2
    (one base beyond either end) are refused."""
    from ella.deposit.alleles import deposit_alleles
    from ella.deposit.variants import DepositError
    add_test_panels(db_url)
    with psycopg.connect(db_url) as conn:
        start, end = conn.execute("SELECT tx_start, tx_end FROM transcript "
                                  "WHERE transcript_name = 'NM_000059.3'").fetchone()
        # No other transcript of the panel covers the bases beyond BRCA2's ends.
        assert conn.execute(
            "SELECT count(*) FROM transcript t JOIN genepanel_transcript g "
            "ON g.transcript_id = t.id AND g.genepanel_name = 'HBOC' "
            "AND g.genepanel_version = 'v01' WHERE t.chromosome = '13' "
            "AND (t.tx_start <= %s AND %s <= t.tx_end OR t.tx_start <= %s AND %s <= t.tx_end)",
            (start - 1, start - 1, end + 1, end + 1)).fetchone() == (0,)
    header = [line for line in BRCA_VCF.read_text().splitlines() if line.startswith("#")]

    def deposit_at(*positions):
        vcf = tmp_path / "edges.HBOC_v01.vcf"
        vcf.write_text("\n".join(header + [f"13\t{pos}\t.\tA\tG\t50\tPASS\t.\tGT\t0/1"
                                          for pos in positions]) + "\n")
        with psycopg.connect(db_url) as conn:
            deposit_alleles(conn, ella_config, vcf, panel=("HBOC", "v01"))
            stored = conn.execute("SELECT vcf_pos FROM allele ORDER BY vcf_pos").fetchall()
            conn.rollback()
        return [pos for (pos,) in stored]

    assert deposit_at(start + 1, end + 1) == [start + 1, end + 1]
    for outside in (start, end + 2):
        with pytest.raises(DepositError, match=f"not inside the genepanel HBOC_v01: "
                                               f"13\t{outside}\t"):
            deposit_at(start + 1, outside)


def test_annotation_only_needs_no_panel(db_url):
    result = run_cli("ella-deposit", "annotation", str(BRCA_VCF), db_url=db_url)
    assert result.returncode == 0, result.stderr
    assert _count(db_url, "annotation") == 6 and _count(db_url, "alleleinterpretation") == 0


def test_a_failing_file_after_others_says_that_they_stay_imported(db_url, tmp_path):
    """Every file is one transaction: when the second fails, the first stays imported, and
    the error says so (it read as if nothing had been written)."""
    bad = tmp_path / "bad.vcf"
    bad.write_text(BRCA_VCF.read_text().replace("\tPASS\t", "\tPASS\tbroken\t", 1))
    result = run_cli("ella-deposit", "annotation", str(BRCA_VCF), str(bad), db_url=db_url)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().startswith(f"error: {bad}, line ")
    assert result.stderr.strip().endswith(
        "(nothing of it was written; the 1 file(s) before it are imported)"), result.stderr
    assert _count(db_url, "annotation") == 6
    result = run_cli("ella-deposit", "annotation", str(bad), db_url=db_url)  # first: no note
    assert result.returncode == 1 and "before it" not in result.stderr


def test_a_database_error_in_a_later_file_is_preceded_by_a_note(db_url, tmp_path):
    """A database's refusal (here a site's trigger) keeps its own `error: database:` line;
    a note before it says that the files before stay imported."""
    with psycopg.connect(db_url) as conn:
        conn.execute("CREATE FUNCTION refuse_allele() RETURNS trigger LANGUAGE plpgsql AS $$ "
                     "BEGIN RAISE EXCEPTION 'refused by the site'; END $$")
        conn.execute("CREATE TRIGGER refuse_allele BEFORE INSERT ON allele FOR EACH ROW "
                     "WHEN (NEW.vcf_pos = 1) EXECUTE FUNCTION refuse_allele()")
    second = tmp_path / "second.vcf"
    lines = BRCA_VCF.read_text().splitlines(keepends=True)
    header = [line for line in lines if line.startswith("#")]
    record = next(line for line in lines if not line.startswith("#")).split("\t")
    second.write_text("".join(header) + "\t".join(["13", "1"] + record[2:]))
    result = run_cli("ella-deposit", "annotation", str(BRCA_VCF), str(second), db_url=db_url)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-2:] == [
        f"note: {second} was not imported; the 1 file(s) before it were and stay imported",
        "error: database: refused by the site"], result.stderr
    assert _count(db_url, "annotation") == 6
    with psycopg.connect(db_url) as conn:  # the audit row has the note too
        output = conn.execute("SELECT output FROM clilog ORDER BY id DESC LIMIT 1").fetchone()[0]
    assert f"note: {second} was not imported; the 1 file(s) before it were and stay " \
           "imported" in output


def test_alleles_without_panel_in_name_or_options(db_url, tmp_path):
    vcf = tmp_path / "plain.vcf"
    vcf.write_text(BRCA_VCF.read_text())
    result = run_cli("ella-deposit", "alleles", str(vcf), db_url=db_url)
    assert result.returncode == 1 and "--genepanel_name" in result.stderr


def test_a_vcf_that_is_missing_or_a_folder_is_named_and_nothing_is_written(db_url, tmp_path):
    add_test_panels(db_url)
    before = table_snapshot(db_url)
    folder = tmp_path / "x.HBOC_v01.vcf"
    folder.mkdir()
    missing = tmp_path / "nope.HBOC_v01.vcf"
    result = run_cli("ella-deposit", "alleles", str(BRCA_VCF), str(missing), db_url=db_url)
    assert result.returncode == 2  # a usage error, before anything runs
    assert result.stderr.strip().endswith(f"error: alleles: VCF '{missing}' does not exist")
    # A folder too (it was exit 1 after the run began, and `alleles DIR` without panel
    # options asked for those first), as for every other FILE argument.
    for args in (["alleles", str(BRCA_VCF), str(folder)], ["annotation", str(folder)],
                 ["alleles", str(tmp_path)]):
        result = run_cli("ella-deposit", *args, db_url=db_url)
        assert result.returncode == 2, args
        assert result.stderr.strip().endswith(
            f"error: {args[0]}: VCF '{args[-1]}' is a folder, not a file"), result.stderr
    panel = run_cli("ella-deposit", "genepanel", "--genepanel_name", "X", "--genepanel_version",
                    "v1", "--transcripts_path", str(tmp_path), "--phenotypes_path",
                    str(tmp_path / "p.tsv"), db_url=db_url)
    assert panel.returncode == 2 and panel.stderr.strip().endswith(
        f"error: genepanel: --transcripts_path '{tmp_path}' is a folder, not a file")
    after = table_snapshot(db_url)
    assert after == before  # usage errors: nothing ran, no clilog row either


@pytest.mark.parametrize("signum, exit_code, text", [
    (signal.SIGTERM, 128 + signal.SIGTERM, "terminated (SIGTERM)"),
    (signal.SIGINT, 1, "interrupted"),
])
@pytest.mark.parametrize("blocked", [False, True])
def test_a_stopped_deposit_writes_nothing_but_its_clilog_row(db_url, tmp_path, signum,
                                                             exit_code, text, blocked):
    """SIGTERM (a service manager stopping it) or Ctrl-C in the middle of a deposit: rolled
    back, one line on stderr, and the clilog row says why the run ended. Also while its
    writer thread waits for a lock another session holds (a long maintenance statement):
    that wait went on as long as the lock was held (psycopg cancels on an interrupt only in
    the waiting thread, and the signal reaches the main one)."""
    from test_deposit_bulk_annotation import _synthetic_analysis, _with_panels
    _with_panels(db_url)
    folder = _synthetic_analysis(tmp_path, "stopped", variants=300 if blocked else 4000,
                                 samples=1, seed=2)
    before = table_snapshot(db_url)
    env = {k: v for k, v in os.environ.items() if k not in ("DB_URL", "ELLA_CONFIG")}
    blocker = psycopg.connect(db_url)
    if blocked:
        blocker.execute("LOCK TABLE genotype IN SHARE MODE")
    process = subprocess.Popen([str(ROOT / "bin" / "ella-deposit"), "analysis", str(folder)],
                               env={**env, "DB_URL": db_url}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        if blocked:
            wait_for_lock_wait(db_url, application_name="ella-deposit")
        else:
            with psycopg.connect(db_url, autocommit=True) as conn:
                for _ in range(600):  # until the deposit's transaction has written something
                    if conn.execute(
                            "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                            "'ella-deposit' AND xact_start IS NOT NULL AND "
                            "backend_xid IS NOT NULL").fetchone()[0]:
                        break
                    time.sleep(0.02)
                else:
                    pytest.fail("the deposit never started writing")
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=20)  # the lock is still held
    finally:
        blocker.close()
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == exit_code, stderr
    assert stderr.strip().splitlines()[-1] == f"error: {text}"
    after = table_snapshot(db_url)
    log = after.pop("clilog")
    before.pop("clilog")
    assert after == before
    assert len(log) == 1 and clilog_outputs(db_url)[0].endswith(text)


def test_a_variant_a_file_repeats_is_counted_once_whatever_the_batches(db_url, tmp_path):
    """2,000 variants, the first repeated: counted "1 existing" when the repeat fell into
    the next batch of 2,000 records (the allele the first batch created), "0" within one."""
    header = ("##fileformat=VCFv4.1\n##INFO=<ID=X,Number=1,Type=String,Description=\"x\">\n"
              "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
    for at in (1, 2000):
        lines = [f"13\t{1_000_000 + 10 * i}\t.\tA\tG\t50\tPASS\t." for i in range(2000)]
        lines.insert(at, "13\t1000000\t.\tA\tG\t50\tPASS\t.")
        path = tmp_path / f"repeat{at}.vcf"
        path.write_text(header + "\n".join(lines) + "\n")
        result = run_cli("ella-deposit", "annotation", str(path), db_url=db_url)
        assert result.returncode == 0, result.stderr
        assert "alleles 2000 new / 0 existing" in result.stdout, (at, result.stdout)
        with psycopg.connect(db_url) as conn:
            conn.execute("DELETE FROM annotation")
            conn.execute("DELETE FROM allele")


def test_alleles_that_may_be_too_long_for_the_allele_index_are_each_named(db_url, tmp_path):
    """ELLA's allele index compresses an entry before refusing it: a long repeat (20,000
    A, which fits) and a shorter random insertion (4,000 bases, which does not) in one
    batch. The error named the longest, the one that fits, as the allele refused; it names
    both with their lines, one line, and nothing is written."""
    import random
    rng = random.Random(1)
    lines = BRCA_VCF.read_text().splitlines()
    header = [line for line in lines if line.startswith("#")]
    record = [line for line in lines if not line.startswith("#")][0].split("\t")
    body = []
    for pos, alt in ((32893296, "A" * 20000),
                     (32893300, "".join(rng.choice("ACGT") for _ in range(4000))),
                     (32893310, "C")):
        body.append("\t".join(record[:1] + [str(pos), ".", "T", "T" + alt] + record[5:]))
    vcf = tmp_path / "long.vcf"
    vcf.write_text("\n".join(header + body) + "\n")
    before = table_snapshot(db_url)
    result = run_cli("ella-deposit", "annotation", str(vcf), db_url=db_url)
    assert result.returncode == 1, result.stdout
    [message] = result.stderr.splitlines()
    assert message.startswith("error: one of these alleles is too long for ELLA's allele "
                              "index (index row size "), message
    assert message.endswith(
        f"the index compresses each entry first): {vcf}, line {len(header) + 1}: allele "
        f"13:32893296 (REF 1 bases, ALT 20001 bases); {vcf}, line {len(header) + 2}: allele "
        "13:32893300 (REF 1 bases, ALT 4001 bases)"), message
    after = table_snapshot(db_url)
    assert len(after.pop("clilog")) == len(before.pop("clilog")) + 1
    assert after == before
