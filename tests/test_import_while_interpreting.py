"""A large import runs while interpreters work (README, Importing data: what an import
holds that the API's users wait for). Each test holds a small deposit open at the point where
a real exome's import spends its 40-50 s (measured on the 2-core VM: `ella-deposit analysis`
of a 50,000-variant exome of known variants, `alleles` of the same variants, an Append of
50,000) and checks that the API's request does not wait for it: a request that waits holds
a gunicorn worker until the 30 s lock limit and then answers 503 "The database is busy", and
five such requests stalled every other user's reads (an overview took 27 s)."""

import json
import shutil
import threading
import time

import psycopg

import ella.deposit.analysis as analysis_module
from ella.deposit.alleles import deposit_alleles
from ella.deposit.analysis import deposit_analysis
from ella.deposit.analysis_config import resolve_analysis_config
from ella.deposit.genepanel import deposit_genepanel, folder_files, read_panel_files

from api_helpers import add_user, logged_in_client
from deposit_helpers import BRCA_VCF, TEST_ALL, TEST_ANALYSIS_001, add_test_panels, deposit
from workflow_helpers import analysis_alleles, payload, setup_analysis, start_round

WF = "/api/v1/workflows"
# A request the import does not hold answers in well under this; one it holds waits for
# the import (here: until the test lets the import commit, right after this).
PROMPT = 4.0


class HeldImport:
    """`work(conn)` in a transaction of its own (application_name 'held-import'), kept open
    after `work` returns until `release()`; then committed. `ready` is set once `work` has
    returned (or raised); `outcome` is its result or exception."""

    def __init__(self, db_url, work):
        self.db_url, self.work = db_url, work
        self.ready, self._release = threading.Event(), threading.Event()
        self.outcome = None
        self.thread = threading.Thread(target=self._run)

    def _run(self):
        try:
            with psycopg.connect(self.db_url, application_name="held-import") as conn, \
                    conn.transaction():
                try:
                    self.outcome = self.work(conn)
                finally:
                    self.ready.set()
                self._release.wait(120)
        except Exception as exc:  # handed to the test thread
            self.outcome = exc
        finally:
            self.ready.set()

    def __enter__(self):
        self.thread.start()
        return self

    def release(self):
        self._release.set()
        self.thread.join(120)

    def __exit__(self, *exc):
        self.release()


def _timed(client, method, url, body=None):
    """Send the request in a thread; returns (thread, result dict: status, body, seconds)."""
    result = {}

    def send():
        started = time.monotonic()
        response = getattr(client, method)(url, body) if body is not None \
            else getattr(client, method)(url)
        result.update(status=response.status, body=response.body,
                      seconds=time.monotonic() - started)

    thread = threading.Thread(target=send)
    thread.start()
    return thread, result


def _answered_promptly(thread, result, held):
    """Wait up to PROMPT for the request; then let the import commit either way (a held
    request then goes on) and return (answered in time, result)."""
    thread.join(PROMPT)
    in_time = not thread.is_alive()
    held.release()
    thread.join(60)
    return in_time, result


def _finalize_while_held(db_url, work, counted, client, analysis_id, variant):
    """(answered in time, result) of a finalize-allele sent while the deposit `work` is held
    uncommitted; its stats must count some `counted` annotations. `variant(stats)`: the
    (allele id, annotation id) to finalize."""
    with HeldImport(db_url, work) as held:
        assert held.ready.wait(60)
        assert isinstance(held.outcome, dict), held.outcome
        assert held.outcome[counted] > 0
        thread, result = _timed(client, "post", f"{WF}/analyses/{analysis_id}/actions/"
                                "finalizeallele/", payload(*variant(held.outcome)))
        return _answered_promptly(thread, result, held)


def test_a_variant_deposit_does_not_hold_finalize_allele_of_a_variant_it_leaves_unchanged(
        api_app, db_url, ella_config, tmp_path):
    """`ella-deposit alleles` (and a Variants / Single variant import job) locks the row of
    every variant of its file FOR NO KEY UPDATE until it commits (ella/deposit/alleles.py,
    to wait for a variant workflow started meanwhile); finalize-allele share-locks the
    variant's row (ella/workflow/assessments.py), which conflicts. So classifying any of
    the file's variants in an analysis waited for the whole deposit, also when the deposit
    changed nothing about that variant (same annotation): measured, a 50,000-variant file
    (43 s) gave finalize-allele 503 after 30 s and the same request 200 after the deposit.
    Rule: the request is answered while the deposit runs."""
    c1, _c2, analyses, _refs = setup_analysis(api_app, db_url, ella_config, tmp_path)
    analysis_id = analyses[0]
    start_round(db_url, analysis_id, "wfuser1")
    allele_id, annotation_id = analysis_alleles(db_url, analysis_id)[0]
    vcf = TEST_ANALYSIS_001 / "TestAnalysis-001.vcf"  # the analysis' own annotation again
    in_time, result = _finalize_while_held(
        db_url, lambda conn: deposit_alleles(conn, ella_config, vcf, panel=("HBOC", "v1.0.0")),
        "annotations_unchanged", c1, analysis_id, lambda _: (allele_id, annotation_id))
    assert in_time, f"finalize-allele waited for the variant deposit ({result})"
    assert result["status"] == 200, result


def _single_sample_analysis(db_url, ella_config, tmp_path):
    """brca_sample_2 as analysis `Single` on HBOC v01, Ongoing for `interpreter` (whose
    group has the panel); returns (analysis id, the .analysis config of an Append of
    another VCF to it)."""
    def analysis_folder(stem):  # analysis `Single` of brca_sample_2's calls
        folder = tmp_path / stem
        folder.mkdir()
        shutil.copy(BRCA_VCF, folder / f"{stem}.vcf")
        (folder / f"{stem}.analysis").write_text(json.dumps({
            "name": "Single", "genepanel_name": "HBOC", "genepanel_version": "v01",
            "data": [{"vcf": f"{stem}.vcf"}]}))
        return folder

    add_test_panels(db_url)
    stats = deposit(db_url, ella_config, analysis_folder("single"))
    add_user(db_url, "interpreter", "igroup", [("HBOC", "v01")])
    start_round(db_url, stats["analysis_id"], "interpreter")
    # The same sample's calls again (as a re-delivery appended): its variants exist.
    return stats["analysis_id"], resolve_analysis_config(analysis_folder("more") /
                                                         "more.analysis")


def _paused_append(db_url, ella_config, append_config, monkeypatch):
    """(held import, written, go on): an Append of `append_config` that pauses after its
    first batch of variants is written (an exome's has 25) until `go on` is set."""
    written, go_on = threading.Event(), threading.Event()
    original_write = analysis_module._VcfImport.write

    def write_then_pause(self, batch):
        original_write(self, batch)
        written.set()
        go_on.wait(120)

    monkeypatch.setattr(analysis_module._VcfImport, "write", write_then_pause)
    held = HeldImport(db_url, lambda conn: deposit_analysis(conn, ella_config, append_config,
                                                            append=True))
    return held, written, go_on


def test_an_append_does_not_hold_its_analysis_while_its_variants_are_written(
        api_app, db_url, ella_config, tmp_path, monkeypatch):
    """An Append import job (import.md 1.10) locks its analysis FOR UPDATE as it begins
    (ella/deposit/analysis.py `_append_target`) and keeps it until the whole VCF is written
    and committed. Every round action and finalize-allele of the analysis locks that row
    first, and a gene comment or reference assessment naming the analysis key-share-locks
    it, so all of them waited for the import: an Append of 50,000 variants (41 s) gave
    finalize-allele and `POST geneassessments/` 503 after 30 s. The analysis' round needs
    the append's lock only where the append reopens a finished round. Rule: while the
    append's variants are being written, finalize-allele and a gene comment in the
    analysis are answered."""
    analysis_id, append_config = _single_sample_analysis(db_url, ella_config, tmp_path)
    client = logged_in_client(api_app, db_url, "interpreter")
    allele_id, annotation_id = analysis_alleles(db_url, analysis_id)[0]
    with psycopg.connect(db_url) as conn:
        gene_id = conn.execute("SELECT hgnc_id FROM gene ORDER BY hgnc_id LIMIT 1").fetchone()[0]
    held, written, go_on = _paused_append(db_url, ella_config, append_config, monkeypatch)
    with held:
        try:
            assert written.wait(60), held.outcome
            finalize = _timed(client, "post", f"{WF}/analyses/{analysis_id}/actions/"
                              "finalizeallele/", payload(allele_id, annotation_id))
            comment = _timed(client, "post", "/api/v1/geneassessments/", {
                "gene_id": gene_id, "genepanel_name": "HBOC", "genepanel_version": "v01",
                "evaluation": {"comment": "during the append"}, "analysis_id": analysis_id})
            deadline = time.monotonic() + PROMPT
            for thread, _ in (finalize, comment):
                thread.join(max(0.0, deadline - time.monotonic()))
            in_time = {name: not thread.is_alive()
                       for name, (thread, _) in (("finalize-allele", finalize),
                                                 ("gene comment", comment))}
        finally:
            go_on.set()
        held.ready.wait(60)
        held.release()
        for thread, _ in (finalize, comment):
            thread.join(60)
    assert isinstance(held.outcome, dict), held.outcome
    assert in_time == {"finalize-allele": True, "gene comment": True}, \
        (in_time, finalize[1], comment[1])
    assert finalize[1]["status"] == 200 and comment[1]["status"] == 200, \
        (finalize[1], comment[1])


def test_depositing_a_panel_that_exists_does_not_wait_for_an_import_on_that_panel(
        api_app, db_url, ella_config, tmp_path):
    """`ella-deposit genepanel` of a panel that exists, without --replace, writes nothing
    ("exists in database, backing out"), but it first locks the panel's row FOR UPDATE
    (ella/deposit/genepanel.py, to read `official`), which waits for every transaction that
    key-share-locked the row by inserting a row naming the panel: a running analysis import
    on that panel. Meanwhile it holds the panel-name lock, so `POST genepanels/` (a user
    making a panel) waits too: measured, during a 50,000-variant import (40 s) a no-op
    deposit of Mendeliome v01 took 35 s and `POST genepanels/` got 503 after 30 s. Rule: the
    no-op deposit does not wait for the import, and so holds up no user."""
    add_test_panels(db_url)
    folder = tmp_path / "Other"
    shutil.copytree(TEST_ANALYSIS_001, folder)
    analysis_file = folder / "TestAnalysis-001.analysis"
    analysis_file.write_text(analysis_file.read_text().replace('"TestAnalysis-001"',
                                                               '"TestAnalysis-009"'))
    panel = read_panel_files(*folder_files(TEST_ALL))
    outcome = {}

    def redeposit():
        with psycopg.connect(db_url, application_name="panel-deposit") as conn:
            outcome["panel"] = deposit_genepanel(conn, "HBOC", "v1.0.0", panel)["status"]

    with HeldImport(db_url, lambda conn: deposit_analysis(
            conn, ella_config, resolve_analysis_config(folder))) as held:
        assert held.ready.wait(60)
        assert isinstance(held.outcome, dict), held.outcome
        thread = threading.Thread(target=redeposit)
        thread.start()
        thread.join(PROMPT)
        in_time = not thread.is_alive()
        held.release()
        thread.join(60)
    assert in_time, "the deposit of an existing panel waited for the analysis import"
    assert outcome == {"panel": "exists"}


def test_finalize_allele_of_a_variant_an_import_reannotates_is_answered_at_once(
        api_app, db_url, ella_config, tmp_path):
    """A deposit that supersedes a variant's annotation holds the old row (FOR NO KEY
    UPDATE, then its UPDATE) until it commits; finalize-allele share-locks the annotation it
    names and waits for that (ella/workflow/assessments.py). README: "within the API's 30 s
    lock limit", but an exome of known variants re-annotated takes 47-52 s here, so
    finalize-allele of any variant of its first batches waited 30 s and answered 503 "The
    database is busy ... Try again later", and every retry did the same until the import
    ended (then 409: the annotation changed). Meanwhile each waiting request held a worker
    and the workflow's lock: a save of the same round waited 28 s behind it, a second
    finalize in that analysis 45 s (the limit is per lock), and five of them stalled every
    user's reads (27 s for an overview). The assessment cannot be made on an annotation
    being replaced; the rule: the request does not wait for the import, it is refused at
    once with 409 (reload the variant once the import is done)."""
    c1, _c2, analyses, _refs = setup_analysis(api_app, db_url, ella_config, tmp_path)
    analysis_id = analyses[0]
    start_round(db_url, analysis_id, "wfuser1")
    vcf = tmp_path / "reannotated.vcf"  # a new annotation for variants with a dbSNP id
    vcf.write_text("".join(
        line if line.startswith("#") else line.replace("|rs", "|rs9")
        for line in (TEST_ANALYSIS_001 / "TestAnalysis-001.vcf").read_text()
        .splitlines(keepends=True)))
    shown = dict(analysis_alleles(db_url, analysis_id))

    def reannotate(conn):
        stats = deposit_alleles(conn, ella_config, vcf, annotation_only=True)
        # The analysis' variants whose annotation this import supersedes (as it sees them).
        return {**stats, "superseded": [r[0] for r in conn.execute(
            "SELECT allele_id FROM annotation WHERE id = ANY(%s) AND date_superceeded IS NOT "
            "NULL ORDER BY allele_id", (list(shown.values()),))]}

    def superseded_one(stats):
        return stats["superseded"][0], shown[stats["superseded"][0]]

    in_time, result = _finalize_while_held(db_url, reannotate, "annotations_new", c1,
                                           analysis_id, superseded_one)
    assert in_time, f"finalize-allele waited for the import ({result})"
    assert result["status"] == 409, result


def test_a_round_finalized_while_an_append_writes_is_reopened_by_it(
        db_url, ella_config, tmp_path, monkeypatch):
    """import.md 1.10: an Append reopens its analysis' finished round. The append no longer
    holds the workflow while its variants go in, so a user may finalize the round meanwhile
    (not seeing the appended variants): the append, at its end, finds the round Done and
    reopens it, so those variants are interpreted."""
    analysis_id, append_config = _single_sample_analysis(db_url, ella_config, tmp_path)
    held, written, go_on = _paused_append(db_url, ella_config, append_config, monkeypatch)
    with held:
        try:
            assert written.wait(60), held.outcome
            # The finalize as the API makes it: the workflow's lock, then the round.
            with psycopg.connect(db_url, options="-c lock_timeout=3000") as user:
                user.execute("SELECT id FROM analysis WHERE id = %s FOR NO KEY UPDATE",
                             (analysis_id,))
                user.execute("UPDATE analysisinterpretation SET status = 'Done', "
                             "finalized = true WHERE analysis_id = %s", (analysis_id,))
        finally:
            go_on.set()
        held.ready.wait(60)
    assert isinstance(held.outcome, dict), held.outcome
    with psycopg.connect(db_url) as conn:
        rounds = conn.execute("SELECT status::text, finalized FROM analysisinterpretation "
                              "WHERE analysis_id = %s ORDER BY date_created, id",
                              (analysis_id,)).fetchall()
    assert rounds == [("Done", True), ("Not started", None)], rounds
