"""Writers racing each other: two watchers on one folder, imports sharing variants, variant
and custom annotation deposits against the API, a finalize-allele against a round action, a
deadlock, an API write against `ella-delete`. Each race is forced into one order by
holding one side's transaction open until the other waits (no sleeps, no luck)."""

import shutil
import threading

import psycopg
import pytest

import ella.polling as polling
import ella.watcher as watcher_module
from ella.deposit.alleles import deposit_alleles
from ella.deposit.analysis import deposit_analysis
from ella.deposit.analysis_config import resolve_analysis_config
from ella.deposit.custom_annotation import deposit_custom_annotations
from ella.deposit.delete import analysis_summary, delete_analysis
from ella.watcher import ERROR_SUFFIX, Watcher
from ella.workflow.rounds import ALLELE, ANALYSIS, perform

from api_helpers import add_user
from deposit_helpers import TEST_ALL, TEST_ANALYSIS_001, add_test_panels, deposit
from helpers import wait_for_lock_wait
from workflow_helpers import analysis_alleles, payload, setup_analysis, start_round

WF = "/api/v1/workflows"


def _times_out_of_order(conn, table, previous_column):
    """Rows of `table` superseded before they were created, or created before the row they
    superseded: a history whose times contradict its chain (datamodel.md 4.1)."""
    return conn.execute(
        f"SELECT x.id, x.date_created, x.date_superceeded, p.id, p.date_created "
        f"FROM {table} x LEFT JOIN {table} p ON p.id = x.{previous_column} "
        "WHERE x.date_superceeded < x.date_created OR x.date_created < p.date_created"
    ).fetchall()


def _current_annotation_duplicates(conn):
    return conn.execute("SELECT count(*) FROM (SELECT allele_id FROM annotation WHERE "
                        "date_superceeded IS NULL GROUP BY allele_id HAVING count(*) > 1) x"
                        ).fetchone()[0]


@pytest.mark.parametrize("second_dest", ["same path", "other mount path"])
def test_a_second_watcher_skips_the_folder_the_first_is_importing(watch_dirs, db_url, ella_config,
                                                                    tmp_path, monkeypatch,
                                                                    second_dest):
    """Two watchers on the same directories (a second container, a restart that overlaps):
    the one that comes second leaves the folder alone and records nothing, during the
    import and after it. (It used to wait, fail with 'already imported' and move the
    imported folder back into incoming, marked as failed.) Also when the two run on hosts
    that mount the shared destination at different paths (a second directory stands in for
    the other mount path): the claim is on the folder's name, not its path on one host."""
    incoming, dest = watch_dirs
    if second_dest == "same path":
        seconds_dest = dest
    else:
        seconds_dest = tmp_path / "other-mount" / "dest"
        seconds_dest.mkdir(parents=True)
    folder = incoming / "TestAnalysis-001"
    shutil.copytree(TEST_ANALYSIS_001, folder)
    real = watcher_module.deposit_analysis
    deposited, go = threading.Event(), threading.Event()

    def held_deposit(*args, **kwargs):
        stats = real(*args, **kwargs)
        deposited.set()
        assert go.wait(60)
        return stats

    monkeypatch.setattr(watcher_module, "deposit_analysis", held_deposit)
    first = Watcher(db_url, ella_config, incoming, dest)
    second = Watcher(db_url, ella_config, incoming, seconds_dest)
    result = {}
    thread = threading.Thread(target=lambda: result.update(first=first._import_folder(folder)))
    thread.start()
    assert deposited.wait(120)
    monkeypatch.setattr(watcher_module, "deposit_analysis", real)
    # While the first holds it; in a thread, so that a second that waits cannot hang the test.
    racer = threading.Thread(target=lambda: result.update(second=second._import_folder(folder)))
    racer.start()
    racer.join(30)
    go.set()
    thread.join(60)
    racer.join(60)
    assert result == {"first": "TestAnalysis-001", "second": None}
    assert second._import_folder(folder) is None  # after: the folder has gone
    assert second.failures == [] and second.processed == set()
    assert (dest / "TestAnalysis-001" / "READY").exists() and not folder.exists()
    assert not list(incoming.iterdir())  # no error file
    if seconds_dest != dest:
        assert not list(seconds_dest.iterdir())
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM analysis").fetchone() == (1,)


def _reannotated_copy(tmp_path, name):
    """TestAnalysis-001 under another name, with one changed annotation value: a later
    sample sharing variants whose annotation the pipeline has updated."""
    target = tmp_path / "src" / name
    shutil.copytree(TEST_ANALYSIS_001, target)
    analysis = target / "TestAnalysis-001.analysis"
    analysis.write_text(analysis.read_text().replace('"TestAnalysis-001"', f'"{name}"'))
    vcf = target / "TestAnalysis-001.vcf"
    text = vcf.read_text()
    assert "CSQ=G|synonymous_variant|" in text
    vcf.write_text(text.replace("CSQ=G|synonymous_variant|", "CSQ=G|missense_variant|"))
    return target


def test_imports_sharing_variants_run_one_after_the_other(watch_dirs, db_url, ella_config, tmp_path):
    """A manual deposit and the watcher import analyses with the same known variants and
    the same new annotation at the same time. The watcher's import waits for the manual one
    and then finds that annotation current (unchanged), instead of failing on
    ix_annotation_unique and being recorded as the folder's own, permanent failure."""
    incoming, dest = watch_dirs
    deposit(db_url, ella_config, TEST_ANALYSIS_001)
    manual = _reannotated_copy(tmp_path, "TestAnalysis-002")
    shutil.move(str(_reannotated_copy(tmp_path, "TestAnalysis-003")),
                str(incoming / "TestAnalysis-003"))
    (incoming / "TestAnalysis-003" / "READY").write_text("")
    deposited, go = threading.Event(), threading.Event()
    stats = {}

    def manual_deposit():
        with psycopg.connect(db_url) as conn, conn.transaction():
            stats.update(deposit_analysis(conn, ella_config, resolve_analysis_config(manual)))
            deposited.set()
            assert go.wait(60)

    thread = threading.Thread(target=manual_deposit)
    thread.start()
    assert deposited.wait(120)
    assert stats["annotations_new"] > 0
    watcher = Watcher(db_url, ella_config, incoming, dest)
    result = {}
    polling = threading.Thread(target=lambda: result.update(imported=watcher.poll()))
    polling.start()
    wait_for_lock_wait(db_url, "ella-watcher")
    go.set()
    thread.join(60)
    polling.join(120)
    assert result["imported"] == ["TestAnalysis-003"]
    assert not (incoming / f"TestAnalysis-003{ERROR_SUFFIX}").exists()
    with psycopg.connect(db_url) as conn:
        assert [r[0] for r in conn.execute("SELECT name FROM analysis ORDER BY name")] == [
            "TestAnalysis-001", "TestAnalysis-002", "TestAnalysis-003"]
        assert _current_annotation_duplicates(conn) == 0
        # One version per change: 001's annotation, then 002's; 003 changed nothing.
        assert conn.execute("SELECT count(*) FROM annotation WHERE previous_annotation_id "
                            "IS NOT NULL").fetchone()[0] == stats["annotations_new"]


def test_two_variant_deposits_of_the_same_known_variants(db_url, ella_config):
    """Two `ella-deposit alleles` (or import jobs) of variants known from an analysis but
    without a variant workflow: the second waits, then finds the workflows the first
    created, instead of failing on the index of open rounds."""
    add_test_panels(db_url)
    deposit(db_url, ella_config, TEST_ANALYSIS_001)
    vcf, panel = TEST_ANALYSIS_001 / "TestAnalysis-001.vcf", ("HBOC", "v1.0.0")
    deposited, go = threading.Event(), threading.Event()
    outcome = {}

    def first():
        with psycopg.connect(db_url) as conn, conn.transaction():
            outcome["first"] = deposit_alleles(conn, ella_config, vcf, panel=panel)
            deposited.set()
            assert go.wait(60)

    def second():
        try:
            with psycopg.connect(db_url, application_name="second") as conn, \
                    conn.transaction():
                outcome["second"] = deposit_alleles(conn, ella_config, vcf, panel=panel)
        except Exception as exc:  # handed to the test thread
            outcome["second"] = exc

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert deposited.wait(120)
    threads[1].start()
    wait_for_lock_wait(db_url, "second")
    go.set()
    for thread in threads:
        thread.join(60)
    assert outcome["first"]["interpretations_new"] > 0
    assert isinstance(outcome["second"], dict), outcome["second"]
    assert outcome["second"]["interpretations_new"] == 0
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM alleleinterpretation").fetchone()[0] == \
            outcome["first"]["interpretations_new"]


def _held_deposit(db_url, outcome, work, name="deposit"):
    """Run `work(conn)` in a transaction of its own ('racing-<name>'); its result or its
    exception lands in outcome[name]."""
    try:
        with psycopg.connect(db_url, application_name=f"racing-{name}") as conn, \
                conn.transaction():
            outcome[name] = work(conn)
    except Exception as exc:  # handed to the test thread
        outcome[name] = exc


def test_a_variant_deposit_while_a_user_starts_one_of_its_variants(db_url, ella_config):
    """A user starts one variant's workflow (`actions/start/`, the same function) while
    `ella-deposit alleles` of a file with that variant runs: the deposit waits, finds the
    started round and opens workflows for the other variants only. (It failed the whole
    file on the index of open rounds.)"""
    add_test_panels(db_url)
    deposit(db_url, ella_config, TEST_ANALYSIS_001)
    panel = ("HBOC", "v1.0.0")
    add_user(db_url, "starter", "startgroup", [panel])
    with psycopg.connect(db_url) as conn:
        user_id = conn.execute("SELECT id FROM \"user\" WHERE username = 'starter'"
                               ).fetchone()[0]
        alleles = [r[0] for r in conn.execute("SELECT id FROM allele ORDER BY id")]
    outcome = {}
    with psycopg.connect(db_url) as api:
        started = perform(api, ALLELE, alleles[0], "start", {"id": user_id}, panel=panel)
        assert started["created_round"] is not None
        thread = threading.Thread(target=_held_deposit, args=(db_url, outcome, lambda conn:
                                  deposit_alleles(conn, ella_config,
                                                  TEST_ANALYSIS_001 / "TestAnalysis-001.vcf",
                                                  panel=panel)))
        thread.start()
        wait_for_lock_wait(db_url, "racing-deposit")
        api.commit()
    thread.join(120)
    assert isinstance(outcome["deposit"], dict), repr(outcome["deposit"])
    assert outcome["deposit"]["interpretations_new"] == len(alleles) - 1
    with psycopg.connect(db_url) as conn:
        rounds = conn.execute("SELECT allele_id, status::text FROM alleleinterpretation "
                              "ORDER BY allele_id").fetchall()
    assert rounds == [(alleles[0], "Ongoing")] + [(a, "Not started") for a in alleles[1:]]


@pytest.mark.parametrize("before", ["a current row", "none"])
def test_a_custom_annotation_deposit_while_the_api_writes_the_same_variants(
        db_url, ella_config, before):
    """`POST customannotations/` (its statements, held open) writes a variant's current
    custom annotation while `ella-deposit custom_annotation` of a file with that variant
    runs: the file's row is chained after the API's, whether the API superseded a row or
    wrote the first one. (The deposit failed on the one-current-row index.)"""
    add_test_panels(db_url)
    deposit(db_url, ella_config, TEST_ANALYSIS_001)
    with psycopg.connect(db_url) as conn:
        allele_id = conn.execute("SELECT min(id) FROM allele").fetchone()[0]
        if before == "a current row":
            conn.execute("INSERT INTO customannotation (annotations, allele_id, date_created) "
                         "VALUES ('{\"external\": {\"other_extdb\": \"base\"}}', %s, now())",
                         (allele_id,))
    outcome = {}
    with psycopg.connect(db_url) as api:
        current = api.execute("SELECT id FROM customannotation WHERE allele_id = %s AND "
                              "date_superceeded IS NULL FOR UPDATE", (allele_id,)).fetchone()
        if current:
            api.execute("UPDATE customannotation SET date_superceeded = now() WHERE id = %s",
                        current)
        api.execute("INSERT INTO customannotation (annotations, allele_id, "
                    "previous_annotation_id, date_created) VALUES "
                    "('{\"external\": {\"other_extdb\": \"api\"}}', %s, %s, now())",
                    (allele_id, current[0] if current else None))
        items = [(1, {"allele_id": allele_id,
                      "annotations": {"external": {"other_extdb": "file"}}})]
        thread = threading.Thread(target=_held_deposit, args=(db_url, outcome, lambda conn:
                                  deposit_custom_annotations(conn, items)))
        thread.start()
        wait_for_lock_wait(db_url, "racing-deposit")
        api.commit()
    thread.join(60)
    assert outcome["deposit"] == {"created": 1, "superseded": 1}, outcome["deposit"]
    with psycopg.connect(db_url) as conn:
        chain = conn.execute("SELECT id, annotations->'external'->>'other_extdb', "
                             "previous_annotation_id, date_superceeded IS NULL "
                             "FROM customannotation WHERE allele_id = %s ORDER BY id",
                             (allele_id,)).fetchall()
    names = [row[1] for row in chain]
    assert names == (["base"] if before == "a current row" else []) + ["api", "file"]
    assert [row[3] for row in chain] == [False] * (len(chain) - 1) + [True]
    assert chain[-1][2] == chain[-2][0]  # the file's row follows the API's


@pytest.fixture
def wf(api_app, db_url, ella_config, tmp_path):
    c1, c2, analyses, refs = setup_analysis(api_app, db_url, ella_config, tmp_path)
    start_round(db_url, analyses[0], "wfuser1")
    return {"c1": c1, "c2": c2, "analysis": analyses[0], "refs": refs, "db": db_url}


def _first_assessment(wf, allele_id, annotation_id):
    ra = {"allele_id": allele_id, "reference_id": wf["refs"][0],
          "evaluation": {"relevance": "Yes", "comment": "first", "ref_quality": "good"}}
    first = wf["c1"].post(f"{WF}/analyses/{wf['analysis']}/actions/finalizeallele/",
                          payload(allele_id, annotation_id, ras=[ra]))
    assert first.status == 200, first.body
    return (first.json["alleleassessment"]["id"], first.json["allelereport"]["id"],
            first.json["referenceassessments"][0]["id"])


def test_finalizeallele_and_markreview_of_one_analysis_run_one_after_the_other(wf):
    """finalizeallele used to lock the round before the analysis, markreview the analysis
    before (through its snapshots' foreign keys) the round: held between the two locks,
    they deadlocked and one got 503. Now both lock the analysis first and both succeed."""
    db, analysis_id = wf["db"], wf["analysis"]
    alleles = analysis_alleles(db, analysis_id)
    allele_id, annotation_id = alleles[0]
    aa_id, ar_id, ra_id = _first_assessment(wf, allele_id, annotation_id)
    results = {}

    def finalize_allele():
        body = payload(allele_id, annotation_id, classification="4", aa_presented=aa_id,
                       ar_presented=ar_id, ras=[{"id": ra_id, "allele_id": allele_id,
                                                 "reference_id": wf["refs"][0]}])
        results["finalizeallele"] = wf["c1"].post(
            f"{WF}/analyses/{analysis_id}/actions/finalizeallele/", body)

    def markreview():
        body = {"allele_ids": [a for a, _ in alleles],
                "annotation_ids": [n for _, n in alleles], "custom_annotation_ids": [],
                "alleleassessment_ids": [aa_id], "allelereport_ids": [ar_id],
                "excluded_allele_ids": {}}
        results["markreview"] = wf["c2"].post(
            f"{WF}/analyses/{analysis_id}/actions/markreview/", body)

    with psycopg.connect(db) as holder:
        # finalizeallele stops at the reference assessment (as when the same variant is
        # being finalized in another analysis), holding what it locked before.
        holder.execute("SELECT id FROM referenceassessment WHERE id = %s FOR UPDATE",
                       (ra_id,))
        threads = [threading.Thread(target=finalize_allele), threading.Thread(target=markreview)]
        threads[0].start()
        wait_for_lock_wait(db, "ella-api", count=1)
        threads[1].start()
        wait_for_lock_wait(db, "ella-api", count=2)
        holder.rollback()
    for thread in threads:
        thread.join(60)
    assert {name: r.status for name, r in results.items()} == {
        "finalizeallele": 200, "markreview": 200}, {n: r.body for n, r in results.items()}


def test_a_request_the_database_rolls_back_in_a_deadlock_gets_409(wf):
    """Whatever the cause of a deadlock or serialization failure, the request PostgreSQL
    chose to roll back answers 409 'try again' (not 503 'database not available'), and the
    API keeps working."""
    db, analysis_id = wf["db"], wf["analysis"]
    allele_id, annotation_id = analysis_alleles(db, analysis_id)[0]
    aa_id, ar_id, _ = _first_assessment(wf, allele_id, annotation_id)
    result = {}
    with psycopg.connect(db) as other:
        # `other` holds the assessment, the request locks the analysis and waits for the
        # assessment; then `other` asks for the analysis: a cycle. The request waited first,
        # so its deadlock check runs first and PostgreSQL rolls it back.
        other.execute("SELECT id FROM alleleassessment WHERE id = %s FOR UPDATE", (aa_id,))
        thread = threading.Thread(target=lambda: result.update(r=wf["c1"].post(
            f"{WF}/analyses/{analysis_id}/actions/finalizeallele/",
            payload(allele_id, annotation_id, classification="5", aa_presented=aa_id,
                    ar_presented=ar_id))))
        thread.start()
        wait_for_lock_wait(db, "ella-api")
        other.execute("SELECT id FROM analysis WHERE id = %s FOR UPDATE", (analysis_id,))
        thread.join(60)
        other.rollback()
    assert result["r"].status == 409, result["r"].body
    assert result["r"].json["message"] == ("Another request changed the same data at the same "
                                           "time; nothing was saved. Try again.")
    again = wf["c1"].post(f"{WF}/analyses/{analysis_id}/actions/finalizeallele/",
                          payload(allele_id, annotation_id, classification="5",
                                  aa_presented=aa_id, ar_presented=ar_id))
    assert again.status == 200, again.body


def test_a_panel_deposit_racing_post_genepanels_of_the_same_panel(db_url):
    """`POST genepanels/` (a custom panel, no advisory lock) inserts test-ALL v01 and has
    not committed; `ella-deposit genepanel` of the same name and version waits and then
    refuses to deposit over the user's panel, instead of failing on the panel's primary
    key."""
    from ella.deposit.genepanel import GenepanelError, deposit_genepanel, read_panel_files
    folder = TEST_ALL
    files = (folder / f"{folder.name}_genes_transcripts.tsv",
             folder / f"{folder.name}_phenotypes.tsv")
    outcome = {}

    def file_deposit():
        try:
            with psycopg.connect(db_url, application_name="panel-deposit") as conn:
                outcome["deposit"] = deposit_genepanel(conn, "test-ALL", "v01",
                                                       read_panel_files(*files))
        except Exception as exc:  # handed to the test thread
            outcome["deposit"] = exc

    with psycopg.connect(db_url) as api:
        api.execute("INSERT INTO genepanel (name, version, genome_reference, official, "
                    "date_created) VALUES ('test-ALL', 'v01', 'GRCh37', false, now())")
        thread = threading.Thread(target=file_deposit)
        thread.start()
        wait_for_lock_wait(db_url, "panel-deposit")
        api.commit()
    thread.join(60)
    assert isinstance(outcome["deposit"], GenepanelError), outcome["deposit"]
    assert "exists as a panel made by a user" in str(outcome["deposit"])
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT official FROM genepanel WHERE name = 'test-ALL'"
                            ).fetchall() == [(False,)]


def _panel_gene(db):
    with psycopg.connect(db) as conn:
        return conn.execute(
            "SELECT t.gene_id FROM genepanel_transcript gt JOIN transcript t "
            "ON t.id = gt.transcript_id WHERE gt.genepanel_name = 'HBOC' "
            "AND gt.genepanel_version = 'v1.0.0' ORDER BY 1 LIMIT 1").fetchone()[0]


@pytest.mark.parametrize("route", ["referenceassessments", "geneassessments"])
def test_an_assessment_naming_an_analysis_deleted_meanwhile_is_a_404(wf, route):
    """`ella-delete analysis` commits while a POST that names the analysis runs: the POST
    waits for it and answers 404, nothing stored (its insert's foreign key failed: 500)."""
    db, analysis_id = wf["db"], wf["analysis"]
    allele_id, _ = analysis_alleles(db, analysis_id)[0]
    body = {"genepanel_name": "HBOC", "genepanel_version": "v1.0.0", "analysis_id": analysis_id}
    if route == "referenceassessments":
        body.update(allele_id=allele_id, reference_id=wf["refs"][0],
                    evaluation={"relevance": "Yes", "comment": "x"})
    else:
        body.update(gene_id=_panel_gene(db), evaluation={"comment": "gene comment"})
    result = {}
    with psycopg.connect(db) as deleter:
        assert delete_analysis(deleter, analysis_id) == "TestAnalysis-001"
        thread = threading.Thread(target=lambda: result.update(
            r=wf["c1"].post(f"/api/v1/{route}/", body)))
        thread.start()
        wait_for_lock_wait(db, "ella-api")
        deleter.commit()
    thread.join(60)
    assert result["r"].status == 404, result["r"].body
    assert result["r"].json["message"] == f"No analysis with id {analysis_id}"
    with psycopg.connect(db) as conn:
        assert conn.execute(f"SELECT count(*) FROM {route[:-1]}").fetchone() == (0,)


def test_two_analyses_finalizing_one_variant_at_once_give_one_current_assessment(
        api_app, db_url, ella_config, tmp_path):
    """Two users, each in their own analysis, finalize the same variant at the same moment
    (no workflow lock is shared): one gets 200, the other 409, and there is one current
    assessment, report and reference assessment, round after round."""
    c1, c2, analyses, refs = setup_analysis(api_app, db_url, ella_config, tmp_path, second=True)
    start_round(db_url, analyses[0], "wfuser1")
    start_round(db_url, analyses[1], "wfuser2")
    allele_id, annotation_id = analysis_alleles(db_url, analyses[0])[0]
    presented = [None, None]
    for attempt in range(3):
        barrier, results = threading.Barrier(2), [None, None]

        def finalize(i):
            body = payload(allele_id, annotation_id, classification=str(i + 2),
                           aa_presented=presented[0], ar_presented=presented[1],
                           report=f"{attempt}-{i}",
                           ras=[{"allele_id": allele_id, "reference_id": refs[0],
                                 "evaluation": {"comment": f"{attempt}-{i}"}}])
            barrier.wait()
            results[i] = (c1, c2)[i].post(
                f"/api/v1/workflows/analyses/{analyses[i]}/actions/finalizeallele/", body)

        threads = [threading.Thread(target=finalize, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(r.status for r in results) == [200, 409], [r.body for r in results]
        winner = next(r for r in results if r.status == 200).json
        presented = [winner["alleleassessment"]["id"], winner["allelereport"]["id"]]
        with psycopg.connect(db_url) as conn:
            assert [conn.execute(f"SELECT count(*) FROM {table} WHERE allele_id = %s AND "
                                 "date_superceeded IS NULL", (allele_id,)).fetchone()[0]
                    for table in ("alleleassessment", "allelereport",
                                  "referenceassessment")] == [1, 1, 1]


def test_a_custom_annotation_saved_while_a_deposit_waits_is_superseded_after_its_creation(
        db_url, ella_config):
    """`ella-deposit custom_annotation` stamped the row it superseded, and its own, with its
    transaction's start: a row the UI saved while the deposit waited for it was recorded as
    superseded before it was created, and the file's version as older than it."""
    add_test_panels(db_url)
    deposit(db_url, ella_config, TEST_ANALYSIS_001)
    with psycopg.connect(db_url) as conn:
        allele_id = conn.execute("SELECT min(id) FROM allele").fetchone()[0]
        conn.execute("INSERT INTO customannotation (annotations, allele_id, date_created) "
                     "VALUES ('{\"external\": {\"other_extdb\": \"base\"}}', %s, now())",
                     (allele_id,))
    outcome = {}
    items = [(1, {"allele_id": allele_id, "annotations": {"external": {"other_extdb": "file"}}})]
    with psycopg.connect(db_url) as api:
        # What POST customannotations/ does, its statements held open: the current row
        # locked, then (the deposit's transaction under way, waiting) the new one written.
        current = api.execute("SELECT id FROM customannotation WHERE allele_id = %s AND "
                              "date_superceeded IS NULL FOR UPDATE", (allele_id,)).fetchone()
        thread = threading.Thread(target=_held_deposit, args=(db_url, outcome, lambda conn:
                                  deposit_custom_annotations(conn, items)))
        thread.start()
        wait_for_lock_wait(db_url, "racing-deposit")
        api.execute("UPDATE customannotation SET date_superceeded = clock_timestamp() "
                    "WHERE id = %s", current)
        api.execute("INSERT INTO customannotation (annotations, allele_id, "
                    "previous_annotation_id, date_created) VALUES "
                    "('{\"external\": {\"other_extdb\": \"ui\"}}', %s, %s, clock_timestamp())",
                    (allele_id, current[0]))
    thread.join(60)
    assert outcome["deposit"] == {"created": 1, "superseded": 1}, outcome["deposit"]
    with psycopg.connect(db_url) as conn:
        assert _times_out_of_order(conn, "customannotation", "previous_annotation_id") == []
        assert [r[0] for r in conn.execute(
            "SELECT annotations->'external'->>'other_extdb' FROM customannotation "
            "ORDER BY date_created")] == ["base", "ui", "file"]


def test_finalizeallele_dates_its_writes_after_the_lock_it_waited_for(wf):
    """finalizeallele took its time before waiting for the analysis' lock: a reference
    assessment another user recorded meanwhile (`POST referenceassessments/`) was superseded
    at a time before its creation, and the round's new one dated before it."""
    db, analysis_id = wf["db"], wf["analysis"]
    allele_id, annotation_id = analysis_alleles(db, analysis_id)[0]
    with psycopg.connect(db) as conn:
        user_id = conn.execute("SELECT id FROM \"user\" WHERE username = 'wfuser1'"
                               ).fetchone()[0]
    result = {}
    ra = {"allele_id": allele_id, "reference_id": wf["refs"][0],
          "evaluation": {"relevance": "Yes", "comment": "from the round"}}
    with psycopg.connect(db) as saving:
        # A save of the round in progress (the PATCH's function), holding the lock.
        perform(saving, ANALYSIS, analysis_id, "save", {"id": user_id},
                payload={"state": {"x": 1}, "user_state": {}})
        thread = threading.Thread(target=lambda: result.update(r=wf["c1"].post(
            f"{WF}/analyses/{analysis_id}/actions/finalizeallele/",
            payload(allele_id, annotation_id, ras=[ra]))))
        thread.start()
        wait_for_lock_wait(db, "ella-api")
        other = wf["c2"].post("/api/v1/referenceassessments/", {
            "allele_id": allele_id, "reference_id": wf["refs"][0], "genepanel_name": "HBOC",
            "genepanel_version": "v1.0.0", "evaluation": {"relevance": "No", "comment": "b"}})
        assert other.status == 200, other.body
    thread.join(60)
    assert result["r"].status == 200, result["r"].body
    with psycopg.connect(db) as conn:
        chain = conn.execute("SELECT id, previous_assessment_id FROM referenceassessment "
                             "ORDER BY id").fetchall()
        assert chain == [(other.json["id"], None),
                         (result["r"].json["referenceassessments"][0]["id"], other.json["id"])]
        assert _times_out_of_order(conn, "referenceassessment", "previous_assessment_id") == []


@pytest.mark.parametrize("writer", ["custom annotation", "custom annotation deposit",
                                    "annotation deposit"])
def test_an_annotation_superseded_while_finalizeallele_waits_waits_for_it(
        wf, writer, ella_config, tmp_path):
    """finalizeallele checked the (custom) annotation with a plain read, then waited (here
    for a reference assessment another writer holds); a new custom annotation or annotation
    committed meanwhile, and the assessment named one superseded before its creation. Now
    the superseding write waits for the finalize: the assessment is made on the annotation
    still current, which is superseded after it."""
    db, analysis_id = wf["db"], wf["analysis"]
    with psycopg.connect(db) as conn:  # the variant _reannotated_copy changes
        synonymous = conn.execute("SELECT id FROM allele WHERE vcf_pos = 32893344").fetchone()[0]
    [(allele_id, annotation_id)] = [pair for pair in analysis_alleles(db, analysis_id)
                                    if pair[0] == synonymous]
    aa, ar, ra = _first_assessment(wf, allele_id, annotation_id)
    results = {}

    def supersede():
        if writer == "custom annotation":
            results["writer"] = wf["c2"].post("/api/v1/customannotations/", {
                "allele_id": allele_id, "annotations": {"external": {"other_extdb": "2"}}}).status
            return
        if writer == "custom annotation deposit":
            with psycopg.connect(db, application_name="deposit") as deposit:
                deposit_custom_annotations(deposit, [(1, {
                    "allele_id": allele_id, "annotations": {"external": {"other_extdb": "file"}}})])
            results["writer"] = 200
            return
        vcf = _reannotated_copy(tmp_path, "Reannotated") / "TestAnalysis-001.vcf"
        with psycopg.connect(db, application_name="deposit") as deposit:
            deposit_alleles(deposit, ella_config, vcf, annotation_only=True)
        results["writer"] = 200

    body = payload(allele_id, annotation_id, classification="4", aa_presented=aa,
                   ar_presented=ar, ras=[{"id": ra, "allele_id": allele_id,
                                          "reference_id": wf["refs"][0]}])
    with psycopg.connect(db) as holder:
        holder.execute("SELECT id FROM referenceassessment WHERE id = %s FOR UPDATE", (ra,))
        finalizing = threading.Thread(target=lambda: results.update(finalize=wf["c1"].post(
            f"{WF}/analyses/{analysis_id}/actions/finalizeallele/", body).status))
        finalizing.start()
        wait_for_lock_wait(db, "ella-api")
        superseding = threading.Thread(target=supersede)
        superseding.start()
        if writer == "custom annotation":
            wait_for_lock_wait(db, "ella-api", count=2)
        else:
            wait_for_lock_wait(db, "deposit")
    finalizing.join(60)
    superseding.join(60)
    assert results == {"finalize": 200, "writer": 200}
    with psycopg.connect(db) as conn:
        for table, column in (("annotation", "annotation_id"),
                              ("customannotation", "custom_annotation_id")):
            assert conn.execute(
                f"SELECT count(*) FROM alleleassessment aa JOIN {table} n ON n.id = "
                f"aa.{column} WHERE aa.date_created > n.date_superceeded").fetchone() == (0,)
        # ... nor was a first custom annotation made before it, with none named.
        assert conn.execute(
            "SELECT count(*) FROM alleleassessment aa JOIN customannotation c ON "
            "c.allele_id = aa.allele_id AND c.date_created < aa.date_created AND "
            "(c.date_superceeded IS NULL OR c.date_superceeded > aa.date_created) "
            "WHERE aa.custom_annotation_id IS DISTINCT FROM c.id").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM alleleassessment WHERE allele_id = %s",
                            (allele_id,)).fetchone() == (2,)
        table = "annotation" if writer == "annotation deposit" else "customannotation"
        # (The custom annotation came after the assessment, which names none.)
        assert conn.execute(f"SELECT count(*) FROM {table} WHERE allele_id = %s AND "
                            "date_superceeded IS NULL", (allele_id,)).fetchone() == (1,)
        if writer == "annotation deposit":
            assert conn.execute("SELECT date_superceeded IS NOT NULL FROM annotation WHERE "
                                "id = %s", (annotation_id,)).fetchone() == (True,)


def test_an_import_job_dates_annotations_after_the_import_lock(db_url, ella_config, tmp_path):
    """The poller's transaction begins (the job locked) before it takes the import lock, and
    the annotation writer dated what it superseded with that start: an annotation another
    deposit committed in between was superseded before its creation."""
    add_test_panels(db_url)
    deposit(db_url, ella_config, TEST_ANALYSIS_001)
    from test_polling import PANEL, add_job
    add_user(db_url, "importer", "importgroup", [PANEL])
    vcf_text = (TEST_ANALYSIS_001 / "TestAnalysis-001.vcf").read_text()
    assert "CSQ=G|synonymous_variant|" in vcf_text
    other_vcf = tmp_path / "reannotated.vcf"
    other_vcf.write_text(vcf_text.replace("CSQ=G|synonymous_variant|",
                                          "CSQ=G|missense_variant|"))
    with psycopg.connect(db_url) as conn:
        user_id = conn.execute("SELECT id FROM \"user\" WHERE username = 'importer'"
                               ).fetchone()[0]
    job_id = add_job(db_url, user_id, mode="Variants", data=vcf_text)
    # The poller's steps for an annotated job, in its order: the job locked first ...
    with psycopg.connect(db_url) as conn, conn.transaction():
        job = polling.load_job(conn, job_id, lock=True)
        # ... then, while it writes the job's VCF out, `ella-deposit alleles` of a newer
        # annotation of the same variants commits ...
        with psycopg.connect(db_url) as other:
            assert deposit_alleles(other, ella_config, other_vcf,
                                   panel=PANEL)["annotations_new"] > 0
        # ... and then its deposit supersedes those.
        polling.deposit_result(conn, ella_config, job, vcf_text)
    with psycopg.connect(db_url) as conn:
        assert _times_out_of_order(conn, "annotation", "previous_annotation_id") == []
        assert conn.execute("SELECT count(*) FROM annotation WHERE date_superceeded IS NOT NULL "
                            "AND previous_annotation_id IS NOT NULL").fetchone()[0] > 0


def _one_record_vcf(tmp_path):
    """The synonymous BRCA2 record of TestAnalysis-001, re-annotated (missense)."""
    text = (TEST_ANALYSIS_001 / "TestAnalysis-001.vcf").read_text()
    lines = text.splitlines(keepends=True)
    header = [line for line in lines if line.startswith("#")]
    record = [line for line in lines if line.startswith("13\t32893344\t")]
    assert len(record) == 1
    vcf = tmp_path / "reannotated.vcf"
    vcf.write_text("".join(header) + record[0].replace("CSQ=G|synonymous_variant|",
                                                        "CSQ=G|missense_variant|"))
    return vcf


def test_finalizeallele_and_a_variant_deposit_do_not_deadlock(api_app, db_url, ella_config,
                                                              tmp_path):
    """finalize-allele locks a variant's row, then its annotation; the variant deposit
    locked the annotations it supersedes, then the rows: a finalize between the two
    deadlocked with it. Forced: another session locks the variant's row as a workflow
    action does, so the deposit and then finalize wait there; released, either finalize
    takes the annotation first (200; the deposit supersedes it after) or the deposit does
    (finalize is told at once that an import is updating it: 409), never a deadlock."""
    c1, _c2, analyses, _refs = setup_analysis(api_app, db_url, ella_config, tmp_path)
    analysis_id = analyses[0]
    start_round(db_url, analysis_id, "wfuser1")
    with psycopg.connect(db_url) as conn:
        allele_id = conn.execute("SELECT id FROM allele WHERE vcf_pos = 32893344").fetchone()[0]
        panel = conn.execute("SELECT genepanel_name, genepanel_version FROM analysis "
                             "WHERE id = %s", (analysis_id,)).fetchone()
    [(_, annotation_id)] = [p for p in analysis_alleles(db_url, analysis_id)
                            if p[0] == allele_id]
    vcf = _one_record_vcf(tmp_path)
    results = {}

    def run_deposit():
        try:
            with psycopg.connect(db_url, application_name="deposit") as conn:
                results["deposit"] = deposit_alleles(conn, ella_config, vcf, panel=tuple(panel))
        except Exception as exc:  # noqa: BLE001
            results["deposit"] = exc

    def run_finalize():
        response = c1.post(f"{WF}/analyses/{analysis_id}/actions/finalizeallele/",
                           payload(allele_id, annotation_id))
        results["finalize"] = (response.status, response.body)

    with psycopg.connect(db_url, application_name="blocker") as blocker:
        blocker.execute("SELECT id FROM allele WHERE id = %s FOR NO KEY UPDATE", (allele_id,))
        depositing = threading.Thread(target=run_deposit)
        depositing.start()
        wait_for_lock_wait(db_url, "deposit")  # at the variant's row
        finalizing = threading.Thread(target=run_finalize)
        finalizing.start()
        wait_for_lock_wait(db_url, count=2)  # finalize too, behind the same row
    depositing.join(60)
    finalizing.join(60)
    assert isinstance(results["deposit"], dict), results["deposit"]
    status, body = results["finalize"]
    assert status == 200 or (status == 409 and "being updated right now" in str(body)), results


def test_custom_annotation_deposit_and_variant_deposit_do_not_deadlock(db_url, ella_config,
                                                                       tmp_path):
    """The custom annotation file deposit locked its variants' rows one by one in file order
    (a higher id first), the variant deposit in id order: a deadlock. It now takes the
    import lock and all its rows at once, in id order. Forced: a session holds the current
    custom annotation of the file's first variant."""
    add_test_panels(db_url)
    deposit(db_url, ella_config, TEST_ANALYSIS_001)
    text = (TEST_ANALYSIS_001 / "TestAnalysis-001.vcf").read_text()
    lines = text.splitlines(keepends=True)
    header = [line for line in lines if line.startswith("#")]
    records = [line for line in lines if line.startswith(("13\t32893344\t", "13\t32890607\t"))]
    assert len(records) == 2
    vcf = tmp_path / "two.vcf"
    vcf.write_text("".join(header + records))
    with psycopg.connect(db_url) as conn:
        low, high = [r[0] for r in conn.execute(
            "SELECT id FROM allele WHERE vcf_pos IN (32893344, 32890607) ORDER BY id")]
        deposit_custom_annotations(conn, [(1, {"allele_id": high,
                                               "annotations": {"external": {"other_extdb": "1"}}})])
        conn.commit()
    results = {}

    def custom():
        try:
            with psycopg.connect(db_url, application_name="custom") as conn:
                results["custom"] = deposit_custom_annotations(conn, [
                    (1, {"allele_id": high, "annotations": {"external": {"other_extdb": "2"}}}),
                    (2, {"allele_id": low, "annotations": {"external": {"other_extdb": "3"}}})])
        except Exception as exc:  # noqa: BLE001
            results["custom"] = exc

    def variants():
        try:
            with psycopg.connect(db_url, application_name="variants") as conn:
                results["variants"] = deposit_alleles(conn, ella_config, vcf,
                                                      panel=("HBOC", "v1.0.0"))
        except Exception as exc:  # noqa: BLE001
            results["variants"] = exc

    with psycopg.connect(db_url, application_name="blocker") as blocker:
        blocker.execute("SELECT id FROM customannotation WHERE allele_id = %s AND "
                        "date_superceeded IS NULL FOR UPDATE", (high,))
        first = threading.Thread(target=custom)
        first.start()
        wait_for_lock_wait(db_url, "custom")  # holds the variants' rows and the import lock
        second = threading.Thread(target=variants)
        second.start()
        wait_for_lock_wait(db_url, "variants")  # the import lock (it was `high`'s row)
    first.join(60)
    second.join(60)
    assert isinstance(results["custom"], dict), results["custom"]
    assert isinstance(results["variants"], dict), results["variants"]


def test_a_manual_reference_posted_twice_at_once_is_one_reference(api_app, db_url,
                                                                  monkeypatch):
    """A double-click on "add reference": the second request came while the first had
    inserted and not committed, found nothing and made a copy (no unique index covers a
    manual reference's columns). Now it waits for the first and answers its reference."""
    import ella.web.routes.references as references
    from api_helpers import logged_in_client
    add_user(db_url, "refs1", "refsgroup")
    add_user(db_url, "refs2", "refsgroup")
    first_client = logged_in_client(api_app, db_url, "refs1")
    second_client = logged_in_client(api_app, db_url, "refs2")
    manual = {"title": "A manual one", "authors": "Doe J", "journal": "J. Test",
              "year": "2020", "published": False}
    url = "/api/v1/references/"
    answers = {}
    real_insert = references._insert

    def insert_then_let_the_second_in(conn, values):
        created = real_insert(conn, values)
        if "second" not in answers:
            thread = threading.Thread(target=lambda: answers.update(
                second=second_client.post(url, {"manual": manual})))
            answers["second"] = None
            thread.start()
            wait_for_lock_wait(db_url)  # the second waits for the first's commit
            answers["thread"] = thread
        return created

    monkeypatch.setattr(references, "_insert", insert_then_let_the_second_in)
    first = first_client.post(url, {"manual": manual})
    answers["thread"].join(60)
    second = answers["second"]
    assert first.status == 200 and second.status == 200, (first.body, second.body)
    assert second.json["id"] == first.json["id"]
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM reference WHERE title = %s",
                            (manual["title"],)).fetchone()[0] == 1


def _deadlocks(db_url):
    with psycopg.connect(db_url) as conn:
        return conn.execute("SELECT deadlocks FROM pg_stat_database "
                            "WHERE datname = current_database()").fetchone()[0]


@pytest.mark.parametrize("kind", ["annotation", "custom annotation"])
def test_a_mark_does_not_wait_for_a_deposit_superseding_what_its_snapshots_name(
        api_app, db_url, ella_config, tmp_path, kind):
    """A round's snapshots key-share-lock (their foreign keys) the annotations and custom
    annotations they name, in the UI's order; `ella-deposit annotation` and
    `custom_annotation` locked the rows they supersede FOR UPDATE, which a key share waits
    for. Under load (a finalize-allele elsewhere share-locking one row the deposit wanted)
    the two deadlocked: markreview answered 409, or the deposit was rolled back. The
    deposits now take FOR NO KEY UPDATE, as their UPDATE does, which a key share does not
    wait for: the mark goes through while the deposit waits, and both succeed."""
    c1, _c2, analyses, _refs = setup_analysis(api_app, db_url, ella_config, tmp_path)
    analysis_id = analyses[0]
    start_round(db_url, analysis_id, "wfuser1")
    alleles = analysis_alleles(db_url, analysis_id)  # [(allele_id, annotation_id)]
    custom = {}
    if kind == "custom annotation":
        for allele_id, _ in alleles:
            result = c1.post("/api/v1/customannotations/", {
                "allele_id": allele_id, "annotations": {"external": {"other_extdb": "ui"}}})
            assert result.status == 200, result.body
            custom[allele_id] = result.json["id"]
    # The UI's order: highest first (the deposits lock in id order).
    order = sorted(alleles, key=lambda pair: pair[1], reverse=True)
    body = {"allele_ids": [a for a, _ in order], "annotation_ids": [n for _, n in order],
            "custom_annotation_ids": [custom[a] for a, _ in order] if custom else [],
            "alleleassessment_ids": [], "allelereport_ids": [], "excluded_allele_ids": {}}
    if kind == "annotation":
        vcf = tmp_path / "reannotated.vcf"  # a new annotation for every variant
        vcf.write_text("".join(
            line if line.startswith("#") else line.replace("|rs", "|rs9")
            for line in (TEST_ANALYSIS_001 / "TestAnalysis-001.vcf").read_text()
            .splitlines(keepends=True)))
        blocked_table, blocked_id = "annotation", order[0][1]

        def work(conn):
            return deposit_alleles(conn, ella_config, vcf, annotation_only=True)
    else:
        items = [(n, {"allele_id": a, "annotations": {"external": {"other_extdb": str(n)}}})
                 for n, (a, _) in enumerate(sorted(alleles), 1)]
        blocked_table, blocked_id = "customannotation", custom[order[0][0]]

        def work(conn):
            return deposit_custom_annotations(conn, items)
    before = _deadlocks(db_url)
    outcome = {}
    with psycopg.connect(db_url) as finalizing_elsewhere:
        # As a finalize-allele in another analysis naming the highest row: the deposit
        # holds the lower ones and waits here.
        finalizing_elsewhere.execute(f"SELECT id FROM {blocked_table} WHERE id = %s "
                                     "FOR SHARE", (blocked_id,))
        depositing = threading.Thread(target=_held_deposit, args=(db_url, outcome, work))
        depositing.start()
        wait_for_lock_wait(db_url, "racing-deposit")
        marked = c1.post(f"{WF}/analyses/{analysis_id}/actions/markreview/", body)
        assert marked.status == 200, marked.body
        assert depositing.is_alive()  # still waiting for the finalize-allele
    depositing.join(60)
    assert isinstance(outcome["deposit"], dict), outcome["deposit"]
    assert _deadlocks(db_url) == before


def test_delete_analysis_and_finalize_allele_elsewhere_do_not_deadlock(
        api_app, db_url, ella_config, tmp_path):
    """`ella-delete analysis` sets analysis_id NULL on its assessments in its foreign keys'
    order (allele assessment, reference assessment, report); finalize-allele of one of its
    variants in another analysis locks the reference assessments first: the two deadlocked
    and one was rolled back. The delete now locks those rows first, in finalize's order."""
    c1, c2, analyses, refs = setup_analysis(api_app, db_url, ella_config, tmp_path,
                                            second=True)
    old, new = analyses
    allele_id, annotation_id = analysis_alleles(db_url, old)[0]
    # The variant is classified in the old analysis, with a reference assessment.
    start_round(db_url, old, "wfuser1")
    ra = {"allele_id": allele_id, "reference_id": refs[0],
          "evaluation": {"relevance": "Yes", "comment": "first", "ref_quality": "good"}}
    first = c1.post(f"{WF}/analyses/{old}/actions/finalizeallele/",
                    payload(allele_id, annotation_id, ras=[ra]))
    assert first.status == 200, first.body
    aa_id = first.json["alleleassessment"]["id"]
    ar_id = first.json["allelereport"]["id"]
    # Reinterpreted in the new analysis: a new reference assessment of the same reference.
    start_round(db_url, new, "wfuser2")
    ra2 = dict(ra, evaluation={"relevance": "No", "comment": "second", "ref_quality": "good"})
    body = payload(allele_id, annotation_id, classification="4", aa_presented=aa_id,
                   ar_presented=ar_id, ras=[ra2])
    # Only to order the two: the finalize has locked the old reference assessment and waits
    # at the reference (the new one's foreign key) before the allele assessment; in real
    # use the same interleaving just happens.
    outcome = _finalize_racing_a_delete(
        db_url, c2, f"{WF}/analyses/{new}/actions/finalizeallele/", body,
        lambda conn: delete_analysis(conn, old),
        ("SELECT id FROM reference WHERE id = %s FOR UPDATE", (refs[0],)))
    assert outcome["finalize"].status == 200, outcome["finalize"].body
    assert outcome["delete"] == "TestAnalysis-001", outcome["delete"]
    assert outcome["deadlocks"] == 0


def _finalize_racing_a_delete(db_url, client, url, body, delete, hold):
    """A finalize-allele (`client` posting `body` to `url`) held where it waits for the row
    `hold` (SQL, params) locks, while `delete(conn)` runs in a transaction of its own
    ('racing-delete'); then both go on. Returns their outcomes (a response; a result or
    the exception) and the deadlocks PostgreSQL counted meanwhile."""
    before = _deadlocks(db_url)
    outcome = {}

    def finalize():
        outcome["finalize"] = client.post(url, body)

    with psycopg.connect(db_url) as holder:
        holder.execute(*hold)
        finalizing = threading.Thread(target=finalize)
        finalizing.start()
        wait_for_lock_wait(db_url)
        deleting = threading.Thread(target=_held_deposit,
                                    args=(db_url, outcome, delete, "delete"))
        deleting.start()
        wait_for_lock_wait(db_url, "racing-delete")
    finalizing.join(60)
    deleting.join(60)
    outcome["deadlocks"] = _deadlocks(db_url) - before
    return outcome


@pytest.mark.parametrize("confirmed", [False, True])  # True: the CLI's path (control, passes)
def test_delete_and_finalize_in_the_same_analysis_do_not_deadlock(
        api_app, db_url, ella_config, tmp_path, confirmed):
    """Without a confirmation `delete_analysis` locked the analysis' assessments before the
    analysis row; a finalize-allele of the same analysis takes them the other way round
    (the workflow's lock, then the variant's current assessment): a deadlock. The workflow's
    lock now comes first in both cases (the CLI passes a confirmation)."""
    c1, _, analyses, _ = setup_analysis(api_app, db_url, ella_config, tmp_path)
    analysis = analyses[0]
    allele_id, annotation_id = analysis_alleles(db_url, analysis)[0]
    start_round(db_url, analysis, "wfuser1")
    first = c1.post(f"{WF}/analyses/{analysis}/actions/finalizeallele/",
                    payload(allele_id, annotation_id))
    assert first.status == 200, first.body
    aa_id = first.json["alleleassessment"]["id"]
    ar_id = first.json["allelereport"]["id"]
    # Reclassified in the same round: supersedes the assessment made in this analysis.
    body = payload(allele_id, annotation_id, classification="4", aa_presented=aa_id,
                   ar_presented=ar_id)
    # Only to order the two: the finalize holds the analysis' workflow lock and waits on the
    # variant's row; the delete then locks the assessments and waits for the analysis.

    def delete(conn):
        summary = analysis_summary(conn, analysis) if confirmed else None
        return delete_analysis(conn, analysis, confirmed=summary)

    outcome = _finalize_racing_a_delete(
        db_url, c1, f"{WF}/analyses/{analysis}/actions/finalizeallele/", body, delete,
        ("SELECT id FROM allele WHERE id = %s FOR UPDATE", (allele_id,)))
    assert outcome["deadlocks"] == 0, outcome
    assert not isinstance(outcome["delete"], Exception), outcome
