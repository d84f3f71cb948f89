"""Rules of the import side that the other tests left open.

- HGNC symbol lookups are exact and approved-only (import.md 3.3).
- WritePipeline (DESIGN.md, the deposit's write pipeline): at most one batch waits, a batch
  queued behind a failed write is skipped, which error is reported, what an interrupt
  cancels and waits for, and the interpreter settings put back.
- Resolving an analysis config (import.md 1.3): the schema's limits and its
  `additionalProperties: false` at both levels, an empty `data`, NUL characters in
  report.txt, a .analysis that is not an object, more than one .analysis file, the legacy
  format's `params.genepanel`, its VCF (a `.cnv.vcf.gz` ignored, one in a subfolder found),
  which files of a folder are VCFs, and VCFs the copy check cannot read.
- Reading a .ped (import.md 1.4): seven columns, a family id, the sex and affected columns,
  a file without samples, a byte-order mark, padded columns and the size limit.
"""

import gc
import gzip
import json
import re
import shutil
import sys
import threading
import time

import pytest
from psycopg.errors import InFailedSqlTransaction

from deposit_helpers import BRCA_VCF
from ella.annotation import hgnc
from ella.deposit import analysis_config
from ella.deposit.analysis_config import (AnalysisConfigError, has_control_character,
                                          read_ped, resolve_analysis_config)
from ella.deposit.pipeline import WritePipeline


# --- HGNC lookups (import.md 3.3) -------------------------------------------------------------

def test_a_symbol_is_looked_up_exactly_among_approved_symbols():
    """import.md 3.3: `SYMBOL` is looked up among *approved* symbols: as written (HGNC
    symbols have lower-case letters, `C1orf43`), and an approved symbol wins over the same
    text as another gene's previous symbol (SLC6A5)."""
    assert hgnc.id_from_symbol("C1orf43") == 29876
    assert hgnc.id_from_symbol("C1ORF43") is None
    assert hgnc.id_from_symbol("brca1") is None
    assert hgnc.id_from_symbol("SLC6A5") == 11051


# --- WritePipeline ----------------------------------------------------------------------------

class WriteRefused(Exception):
    pass


def test_the_interpreter_settings_in_force_before_are_the_ones_put_back():
    """The GIL switch interval and the GC's first threshold are process-wide: the pipeline
    puts back what was in force before it, whatever that was."""
    saved = sys.getswitchinterval(), gc.get_threshold()
    try:
        sys.setswitchinterval(0.004)
        gc.set_threshold(1234, 11, 12)
        with WritePipeline(lambda batch: None) as pipeline:
            assert gc.get_threshold() == (50_000, 11, 12)
            pipeline.submit(1)
        assert sys.getswitchinterval() == pytest.approx(0.004)
        assert gc.get_threshold() == (1234, 11, 12)
    finally:
        sys.setswitchinterval(saved[0])
        gc.set_threshold(*saved[1])


def test_at_most_one_batch_waits_for_the_writer():
    """One batch is written and one waits; the next submit blocks until the writer takes
    one, which bounds the memory a deposit holds."""
    release = threading.Event()
    with WritePipeline(lambda batch: release.wait(5)) as pipeline:
        pipeline.submit(1)
        pipeline.submit(2)  # returns once the writer has taken batch 1
        third = threading.Thread(target=pipeline.submit, args=(3,))
        third.start()
        third.join(0.3)
        blocked = third.is_alive()
        release.set()
        third.join(5)
    assert blocked and not third.is_alive()


def test_a_batch_queued_behind_a_failed_write_is_not_written():
    """After a write fails, the batch already waiting is skipped: nothing more is written
    on a transaction that has failed."""
    release, written = threading.Event(), []

    def write(batch):
        if batch == "first":
            release.wait(5)
            raise WriteRefused("first refused")
        written.append(batch)

    with pytest.raises(WriteRefused, match="first refused"):
        with WritePipeline(write) as pipeline:
            pipeline.submit("first")
            pipeline.submit("second")  # waits while "first" is written
            release.set()
    assert written == []


def test_the_callers_error_is_kept_when_the_write_failed_after_it_aborted_the_transaction():
    """The write failed (InFailedSqlTransaction) because the caller's statement had aborted
    the transaction: the caller's error is reported, also when the write had already
    failed when the caller's error left the block."""
    failed = threading.Event()

    def write(batch):
        try:
            raise InFailedSqlTransaction("current transaction is aborted")
        finally:
            failed.set()

    with pytest.raises(TimeoutError, match="prefilter read timed out"):
        with WritePipeline(write) as pipeline:
            pipeline.submit(1)
            failed.wait(5)
            raise TimeoutError("prefilter read timed out")


def test_a_caller_error_lets_the_running_write_finish_without_cancelling_it():
    """An error in the caller (not an interrupt) waits for the write under way rather than
    cancelling its statement, and the caller's error is the one reported."""
    cancelled, started, finished = threading.Event(), threading.Event(), []

    def write(batch):
        started.set()
        if cancelled.wait(0.3):
            raise WriteRefused("canceling statement due to user request")
        finished.append(batch)

    with pytest.raises(ValueError, match="caller"):
        with WritePipeline(write, cancel=cancelled.set) as pipeline:
            pipeline.submit("running")
            started.wait(5)
            raise ValueError("caller")
    assert finished == ["running"] and not cancelled.is_set()


def test_an_interrupt_leaves_the_block_only_once_the_writer_has_stopped():
    """Ctrl-C: nothing uses the connection once the block is left, so a write under way
    that cannot be cancelled is waited for."""
    started, finished = threading.Event(), []

    def write(batch):
        started.set()
        time.sleep(0.3)
        finished.append(batch)

    with pytest.raises(KeyboardInterrupt):
        with WritePipeline(write) as pipeline:
            pipeline.submit("running")
            started.wait(5)
            raise KeyboardInterrupt
    assert finished == ["running"]


def test_an_interrupt_cancels_a_blocked_write_that_has_a_batch_waiting_behind_it():
    """Ctrl-C while the writer waits on a lock and the next batch is queued: the write is
    cancelled at once (not once the lock is free) and the queued batch is skipped."""
    cancelled, started, written = threading.Event(), threading.Event(), []

    def write(batch):
        if batch == "blocked":
            started.set()
            cancelled.wait(10)  # a statement waiting for another session's lock
            raise WriteRefused("canceling statement due to user request")
        written.append(batch)

    began = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        with WritePipeline(write, cancel=cancelled.set) as pipeline:
            pipeline.submit("blocked")
            started.wait(5)
            pipeline.submit("queued")
            raise KeyboardInterrupt
    assert time.monotonic() - began < 5
    assert written == []


def test_a_write_error_raised_at_a_submit_is_not_made_its_own_cause():
    """The error the caller got from `submit` leaves the block as it is, not chained to
    itself (its traceback would show it as its own cause)."""
    def write(batch):
        raise WriteRefused("refused")

    with pytest.raises(WriteRefused) as raised:
        with WritePipeline(write) as pipeline:
            for batch in range(1000):
                pipeline.submit(batch)
                time.sleep(0.005)
    assert raised.value.__cause__ is None


# --- analysis config (import.md 1.3) ----------------------------------------------------------

def _analysis_folder(tmp_path, content, name="a"):
    """Folder `name` with x.vcf (brca_sample_2) and `<name>.analysis` holding `content`."""
    folder = tmp_path / name
    folder.mkdir()
    shutil.copy(BRCA_VCF, folder / "x.vcf")
    (folder / f"{name}.analysis").write_text(json.dumps(content))
    return folder


def _current(**changes):
    return {"name": "a", "genepanel_name": "HBOC", "genepanel_version": "v01",
            "data": [{"vcf": "x.vcf"}], **changes}


@pytest.mark.parametrize("content, message", [
    (_current(priority=0), r"priority: 0 is less than the minimum of 1"),
    (_current(priority=4), r"priority: 4 is greater than the maximum of 3"),
    (_current(data=[]), r"no VCF file to import"),
    (_current(data=[{"vcf": ""}]), r"data\.0\.vcf: '' "),
    (_current(data=[{"vcf": "x.vcf", "sample": "S"}]),
     r"data\.0: Additional properties are not allowed \('sample' was unexpected\)"),
    (_current(genepanel="HBOC_v01"),
     r"\(top level\): Additional properties are not allowed \('genepanel' was unexpected\)"),
    (_current(genepanel_name=""), r"genepanel_name: '' "),
    (_current(data=[{"vcf": "x.vcf", "technology": "WGS"}]),
     r"data\.0\.technology: 'WGS' is not one of \['HTS', 'Sanger'\]"),
    ([_current()], r"a\.analysis: must be a JSON object"),
    ({"name": "a", "params": {"genepanel": "HBOC"}},
     r"a\.analysis: params\.genepanel must be '<name>_<version>'"),
])
def test_a_current_or_legacy_analysis_file_breaking_a_rule_is_refused_naming_it(
        tmp_path, content, message):
    """import.md 1.3: `priority` 1-3 (1 Normal, 2 High, 3 Urgent, datamodel.md), a VCF to
    import, `additionalProperties` false at both levels, `technology` HTS or Sanger, non-empty
    names; a legacy `params.genepanel` is `<name>_<version>`. One error naming the file and
    the key, never a traceback."""
    with pytest.raises(AnalysisConfigError, match=message):
        resolve_analysis_config(_analysis_folder(tmp_path, content))


def test_sanger_data_and_the_highest_priority_are_accepted(tmp_path):
    """import.md 1.3: `technology` may be `Sanger` (sample.sample_type), priority 3 is
    Urgent."""
    folder = _analysis_folder(tmp_path, _current(
        priority=3, data=[{"vcf": "x.vcf", "technology": "Sanger"}]))
    config = resolve_analysis_config(folder)
    assert config["priority"] == 3 and config["data"][0]["technology"] == "Sanger"


def test_a_report_with_a_nul_character_is_refused_naming_it(tmp_path):
    """report.txt is stored in a text column, which cannot hold NUL: refused with the file
    and its line, not at the insert (it was blamed on the .analysis file, where there was
    one)."""
    folder = tmp_path / "abc.HBOC_v01"
    folder.mkdir()
    shutil.copy(BRCA_VCF, folder / "x.vcf")
    (folder / "report.txt").write_text("part one\npart\x00two")
    with pytest.raises(AnalysisConfigError, match=re.escape(
            f"{folder / 'report.txt'}: line 2: contains a NUL character")):
        resolve_analysis_config(folder)
    (folder / "abc.analysis").write_text(json.dumps({
        "name": "abc", "genepanel_name": "HBOC", "genepanel_version": "v01",
        "data": [{"vcf": "x.vcf"}]}))
    (folder / "warnings.txt").write_bytes(b"ok\nnot UTF-8: \xe9\n")
    (folder / "report.txt").write_text("fine")
    with pytest.raises(AnalysisConfigError, match=re.escape(
            f"{folder / 'warnings.txt'}: line 2: not UTF-8 text (byte 14: b'\\xe9')")):
        resolve_analysis_config(folder)


@pytest.mark.parametrize("end", ["\r", "\r\n", "\n"])
def test_the_line_named_counts_every_kind_of_line_end(tmp_path, end):
    """A file an old Mac editor saved ends its lines with CR alone, which the .ped reader
    splits at (str.splitlines): its line numbers counted LF only, so every problem was on
    "line 1"."""
    folder = tmp_path / "abc.HBOC_v01"
    folder.mkdir()
    shutil.copy(BRCA_VCF, folder / "x.vcf")
    (folder / "report.txt").write_text(end.join(["one", "two", "th\x00ree"]), newline="")
    with pytest.raises(AnalysisConfigError, match=re.escape(
            f"{folder / 'report.txt'}: line 3: contains a NUL character")):
        resolve_analysis_config(folder)
    (folder / "report.txt").unlink()
    (folder / "warnings.txt").write_bytes(end.encode().join([b"ok", b"fine", b"\xe9"]))
    with pytest.raises(AnalysisConfigError, match=r"warnings\.txt: line 3: not UTF-8 text"):
        resolve_analysis_config(folder)
    (folder / "warnings.txt").unlink()
    (folder / "abc.analysis").write_text(end.join(['{"name": "abc",', '"data": [],', '}']),
                                         newline="")
    with pytest.raises(AnalysisConfigError, match=re.escape(
            "abc.analysis: not valid JSON (line 3, column 1: Expecting property name")):
        resolve_analysis_config(folder)


@pytest.mark.parametrize("kind", ["folder", "link to nothing", "loop"])
def test_an_analysis_file_or_report_that_is_no_file_is_refused_naming_it(tmp_path, kind):
    """A .analysis that is a folder or a dangling link was passed over: the folder's name
    was read instead (its panel perhaps not the file's: "Genepanel an version dir not
    available"); a report.txt so was dropped unsaid, and the analysis imported without it."""
    folder = tmp_path / "abc.HBOC_v01"
    folder.mkdir()
    shutil.copy(BRCA_VCF, folder / "x.vcf")

    def make(path):
        if kind == "folder":
            path.mkdir()
        elif kind == "link to nothing":
            path.symlink_to(tmp_path / "gone")
        else:
            path.symlink_to(path)
    what = {"folder": "is a folder, not a file",
            "link to nothing": "is a link to nothing (or a loop of links)",
            "loop": "is a link to nothing (or a loop of links)"}[kind]
    make(folder / "abc.analysis")
    with pytest.raises(AnalysisConfigError, match=re.escape(
            f"{folder / 'abc.analysis'}: {what}: the analysis' settings cannot be read")):
        resolve_analysis_config(folder)
    (folder / "abc.analysis").rmdir() if kind == "folder" else (folder / "abc.analysis").unlink()
    make(folder / "report.txt")
    with pytest.raises(AnalysisConfigError, match=re.escape(f"{folder / 'report.txt'}: {what}")):
        resolve_analysis_config(folder)


def test_a_current_analysis_file_without_a_panel_says_so(tmp_path):
    """A legacy file that lost its `params` was "Additional properties are not allowed
    ('type' was unexpected)"."""
    folder = tmp_path / "abc"
    folder.mkdir()
    shutil.copy(BRCA_VCF, folder / "x.vcf")
    (folder / "abc.analysis").write_text(json.dumps({"name": "abc", "type": "analysis"}))
    with pytest.raises(AnalysisConfigError, match=re.escape(
            f"{folder / 'abc.analysis'}: names no gene panel: give genepanel_name and "
            "genepanel_version (or, in ELLA's legacy format, params.genepanel)")):
        resolve_analysis_config(folder)


def test_two_analysis_files_in_a_folder_are_refused(tmp_path):
    """import.md 1.3 rule 1: more than one `.analysis` -> error ("multiple .analysis files
    ... not supported")."""
    folder = _analysis_folder(tmp_path, _current())
    (folder / "b.analysis").write_text(json.dumps(_current(name="b")))
    with pytest.raises(AnalysisConfigError, match=r"multiple \.analysis files "
                       r"\(a\.analysis, b\.analysis\) are not supported"):
        resolve_analysis_config(folder)


def test_a_legacy_analysis_ignores_a_gzipped_cnv_vcf_beside_its_vcf(tmp_path):
    """import.md 1.2: a `.cnv.vcf` is ignored unless the `.analysis` names it, gzipped too
    (`x.cnv.vcf.gz` sorts before `x.vcf.gz`)."""
    folder = _analysis_folder(tmp_path, {"name": "x", "params": {"genepanel": "HBOC_v01"}})
    (folder / "x.vcf").unlink()
    (folder / "x.vcf.gz").write_bytes(gzip.compress(BRCA_VCF.read_bytes()))
    (folder / "x.cnv.vcf.gz").write_bytes(gzip.compress(BRCA_VCF.read_bytes()))
    got = resolve_analysis_config(folder)
    assert [d["vcf"] for d in got["data"]] == [str((folder / "x.vcf.gz").resolve())]


def test_a_legacy_analysis_takes_the_vcf_it_finds_in_a_subfolder(tmp_path):
    """import.md 1.3 rule 2: the VCF is the first found recursively in the folder; one in
    a subfolder is that file (not its name looked for beside the .analysis)."""
    folder = _analysis_folder(tmp_path, {"name": "x", "params": {"genepanel": "HBOC_v01"}})
    (folder / "vcf").mkdir()
    (folder / "x.vcf").rename(folder / "vcf" / "x.vcf")
    got = resolve_analysis_config(folder)
    assert [d["vcf"] for d in got["data"]] == [str((folder / "vcf" / "x.vcf").resolve())]


def test_only_files_are_the_vcfs_of_a_folder(tmp_path):
    """import.md 1.3 rule 1: the VCFs are the *files* named `*.vcf[.gz]`: a dangling link
    (a file removed) or a folder named so is none."""
    folder = tmp_path / "abc.HBOC_v01"
    folder.mkdir()
    shutil.copy(BRCA_VCF, folder / "x.vcf")
    (folder / "gone.vcf").symlink_to(tmp_path / "removed.vcf")
    (folder / "old.vcf").mkdir()
    got = resolve_analysis_config(folder)
    assert [d["vcf"] for d in got["data"]] == [str((folder / "x.vcf").resolve())]


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_a_gzipped_vcf_the_copy_check_cannot_read_is_left_to_the_vcf_reader(tmp_path, damage):
    """The check for the same VCF under two names reads every VCF; one it cannot
    decompress (cut short, corrupt) is no copy and is left to the VCF reader, which says
    what is wrong with it: resolving the folder does not fail with a decompressor's
    exception."""
    folder = tmp_path / "abc.HBOC_v01"
    folder.mkdir()
    shutil.copy(BRCA_VCF, folder / "x.vcf")
    packed = gzip.compress(BRCA_VCF.read_bytes())
    (folder / "y.vcf.gz").write_bytes(packed[:-30] if damage == "truncated"
                                      else packed[:10] + b"\xff" * 50)
    got = resolve_analysis_config(folder)
    assert [d["vcf"].rsplit("/", 1)[1] for d in got["data"]] == ["x.vcf", "y.vcf.gz"]


def test_zero_width_joiners_are_letters_of_a_new_name_other_format_characters_are_not():
    """Zero-width (non-)joiners are letters of Persian and Indic writing; a zero-width space
    or a right-to-left override in a new name hides its text."""
    assert not has_control_character("\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645")
    assert not has_control_character("\u0915\u094d\u200d\u0937")
    assert has_control_character("ab\u200bc")
    assert has_control_character("ab\u202ec")


# --- .ped files (import.md 1.4) ---------------------------------------------------------------

def _ped(tmp_path, text):
    path = tmp_path / "x.ped"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("text, message", [
    ("FAM\tS1\t0\t0\t1\t2\t1\textra\n", r"line 1: expected 7 tab-separated columns, found 8"),
    ("# family\nFAM\tS1\t0\t0\t1\t2\n", r"line 2: expected 7 tab-separated columns, found 6"),
    ("\tS1\t0\t0\t1\t2\t1\n", r"line 1: family id and sample id must not be empty"),
    ("# only a comment\n\n", r"x\.ped: no samples"),
])
def test_a_malformed_ped_is_refused_with_its_line(tmp_path, text, message):
    """import.md 1.4: exactly 7 tab-separated columns, a non-empty family id; a pedigree
    without a sample is no pedigree."""
    with pytest.raises(AnalysisConfigError, match=message):
        read_ped(_ped(tmp_path, text))


def test_ped_sex_and_affected_columns_map_only_their_defined_codes(tmp_path):
    """import.md 1.4: sex `1` Male, `2` Female, anything else null; affected `2` true,
    anything else (1, 0 unknown, -9 missing) false."""
    rows = read_ped(_ped(tmp_path, "FAM\tP\t0\t0\t1\t2\t1\n"
                                   "FAM\tA\t0\t0\t2\t1\t0\n"
                                   "FAM\tB\t0\t0\t0\t0\t0\n"
                                   "FAM\tC\t0\t0\tother\t-9\t0\n"))
    assert [(r["sample"], r["sex"], r["affected"]) for r in rows] == [
        ("P", "Male", True), ("A", "Female", False), ("B", None, False), ("C", None, False)]


def test_a_ped_with_a_byte_order_mark_and_padded_columns_reads_as_written(tmp_path):
    """A Windows editor's byte-order mark is no part of the first family id, and spaces
    around a column (a spreadsheet export) do not change its value."""
    (row,) = read_ped(_ped(tmp_path, "\ufeffFAM \tS1 \t0\t0\t1 \t2 \t1 \n"))
    assert (row["family_id"], row["sample"], row["sex"], row["affected"], row["proband"]) == \
        ("FAM", "S1", "Male", True, True)


def test_a_ped_larger_than_the_limit_is_refused_naming_it(tmp_path, monkeypatch):
    """A pedigree is a few lines: a file over the limit is refused before it is read."""
    monkeypatch.setattr(analysis_config, "MAX_PED_BYTES", 100)
    path = _ped(tmp_path, "FAM\tS1\t0\t0\t1\t2\t1\n" * 10)
    with pytest.raises(AnalysisConfigError, match=r"x\.ped: larger than 100 bytes"):
        read_ped(path)


def test_a_vcf_or_ped_that_is_a_device_is_named_as_such(tmp_path):
    """`"vcf": "/dev/null"` was "does not exist"; a .ped that is no UTF-8 was Python's codec
    message without its line."""
    folder = tmp_path / "abc"
    folder.mkdir()
    shutil.copy(BRCA_VCF, folder / "x.vcf")
    analysis = folder / "abc.analysis"
    analysis.write_text(json.dumps({"name": "abc", "genepanel_name": "HBOC",
                                    "genepanel_version": "v01", "data": [{"vcf": "/dev/null"}]}))
    with pytest.raises(AnalysisConfigError, match=re.escape(
            f"{analysis}: vcf file '/dev/null' is not a regular file")):
        resolve_analysis_config(folder)
    (folder / "abc.ped").write_bytes(b"F\tS\t0\t0\t1\t1\t1\nF\tS\xf8ster\t0\t0\t2\t1\t0\n")
    analysis.write_text(json.dumps({"name": "abc", "genepanel_name": "HBOC",
                                    "genepanel_version": "v01",
                                    "data": [{"vcf": "x.vcf", "ped": "abc.ped"}]}))
    from ella.deposit.analysis_config import read_ped
    with pytest.raises(AnalysisConfigError, match=re.escape(
            f"{folder / 'abc.ped'}: line 2: not UTF-8 text (byte 17: b'\\xf8')")):
        read_ped(folder / "abc.ped")
    # Counted in the file's bytes, a byte-order mark before the first line included.
    (folder / "abc.ped").write_bytes(b"\xef\xbb\xbfF\tS\t0\t0\t1\t1\t1\nF\tS\xf8\t0\t0\t2\t1\t0\n")
    with pytest.raises(AnalysisConfigError, match=re.escape(
            f"{folder / 'abc.ped'}: line 2: not UTF-8 text (byte 20: b'\\xf8')")):
        read_ped(folder / "abc.ped")
