"""`bin/ella-delete` (ELLA's `delete analysis` / `delete alleleinterpretation`) against the
real ELLA demo database and a fresh schema."""

import os
import re
import subprocess

import psycopg
import pytest

from ella.deposit.delete import (ConfirmationOutdated, RoundsChanged,
                                 alleleinterpretation_rounds, analysis_summary,
                                 delete_alleleinterpretations, delete_analysis, round_states)
from helpers import ROOT, run_cli, table_snapshot, without_clilog
from workflow_helpers import analysis_alleles, setup_analysis

ANALYSIS_ID = 2  # the demo analysis with an interpretation, assessments and reports


def rows(url, query, params=()):
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def count(url, query, params=()):
    return rows(url, query, params)[0][0]



def last_clilog(url):
    return rows(url, 'SELECT "group", groupcommand, command, reason, output FROM clilog '
                     "ORDER BY id DESC LIMIT 1")[0]


def test_delete_analysis_of_the_real_database(demo_db_url):
    url = demo_db_url
    name = rows(url, "SELECT name FROM analysis WHERE id = %s", (ANALYSIS_ID,))[0][0]
    sample_ids = [r[0] for r in rows(url, "SELECT id FROM sample WHERE analysis_id = %s",
                                     (ANALYSIS_ID,))]
    interpretation_ids = [r[0] for r in rows(
        url, "SELECT id FROM analysisinterpretation WHERE analysis_id = %s", (ANALYSIS_ID,))]
    assert sample_ids and interpretation_ids
    genotype_alleles = {r[0] for r in rows(
        url, "SELECT allele_id FROM genotype WHERE sample_id = ANY(%s)", (sample_ids,))}
    assessments = {r[0] for r in rows(
        url, "SELECT id FROM alleleassessment WHERE analysis_id = %s", (ANALYSIS_ID,))}
    reports = {r[0] for r in rows(
        url, "SELECT id FROM allelereport WHERE analysis_id = %s", (ANALYSIS_ID,))}
    assert genotype_alleles and assessments and reports
    before = table_snapshot(url)

    result = run_cli("ella-delete", "analysis", str(ANALYSIS_ID), db_url=url,
                     stdin="Test reason\ny\n")
    assert result.returncode == 0, result.stderr
    assert "Enter reason (optional): [None]:" in result.stderr
    assert "Type 'y' to confirm." in result.stderr
    assert name in result.stdout
    success = f"Analysis {ANALYSIS_ID} ({name}) deleted successfully"
    assert success in result.stdout

    assert count(url, "SELECT count(*) FROM analysis WHERE id = %s", (ANALYSIS_ID,)) == 0
    assert count(url, "SELECT count(*) FROM sample WHERE id = ANY(%s)", (sample_ids,)) == 0
    assert count(url, "SELECT count(*) FROM genotype WHERE sample_id = ANY(%s)",
                 (sample_ids,)) == 0
    assert count(url, "SELECT count(*) FROM genotypesampledata WHERE sample_id = ANY(%s)",
                 (sample_ids,)) == 0
    for table in ("analysisinterpretationsnapshot", "interpretationstatehistory",
                  "interpretationlog"):
        assert count(url, f"SELECT count(*) FROM {table} WHERE analysisinterpretation_id "
                          "= ANY(%s)", (interpretation_ids,)) == 0
    assert count(url, "SELECT count(*) FROM analysisinterpretation WHERE analysis_id = %s",
                 (ANALYSIS_ID,)) == 0

    # alleles and annotations stay; assessments and reports stay without the analysis
    assert count(url, "SELECT count(*) FROM allele WHERE id = ANY(%s)",
                 (list(genotype_alleles),)) == len(genotype_alleles)
    after = table_snapshot(url)
    for table in ("allele", "annotation", "annotationshadowtranscript", "annotationshadowfrequency"):
        assert after[table] == before[table]
    assert {r[0]: r[1] for r in rows(
        url, "SELECT id, analysis_id FROM alleleassessment WHERE id = ANY(%s)",
        (list(assessments),))} == {i: None for i in assessments}
    assert {r[0]: r[1] for r in rows(
        url, "SELECT id, analysis_id FROM allelereport WHERE id = ANY(%s)",
        (list(reports),))} == {i: None for i in reports}
    # the other analyses are untouched
    assert count(url, "SELECT count(*) FROM analysis") == len(before["analysis"]) - 1
    assert len(after["sample"]) == len(before["sample"]) - len(sample_ids)

    group, groupcommand, command, reason, output = last_clilog(url)
    assert (group, groupcommand, reason) == ("delete", "analysis", "Test reason")
    assert command == f"delete analysis {ANALYSIS_ID}"
    assert success in output


@pytest.mark.parametrize("answer", ["n\n", "yes\n", ""])
def test_delete_analysis_without_confirmation_changes_nothing(demo_db_url, answer):
    before = table_snapshot(demo_db_url)
    result = run_cli("ella-delete", "analysis", str(ANALYSIS_ID), db_url=demo_db_url,
                     stdin="\n" + answer)
    assert result.returncode == 0, result.stderr
    assert "Lacking confirmation, aborting..." in result.stdout
    assert "deleted successfully" not in result.stdout
    assert without_clilog(table_snapshot(demo_db_url)) == without_clilog(before)
    _, _, _, reason, output = last_clilog(demo_db_url)
    assert reason is None
    assert "Lacking confirmation, aborting..." in output


def test_delete_unknown_analysis(demo_db_url):
    before = table_snapshot(demo_db_url)
    result = run_cli("ella-delete", "analysis", "9999", "--reason", "x", db_url=demo_db_url,
                     stdin="y\n")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == ["error: Found no analysis with id 9999"]
    assert without_clilog(table_snapshot(demo_db_url)) == without_clilog(before)
    assert "Found no analysis with id 9999" in last_clilog(demo_db_url)[4]


def test_usage_errors(db_url):
    assert run_cli("ella-delete", db_url=db_url).returncode == 2
    assert run_cli("ella-delete", "analysis", "abc", db_url=db_url).returncode == 2


def test_analysis_summary(demo_db_url):
    with psycopg.connect(demo_db_url) as conn:
        conn.execute("INSERT INTO interpretationlog (analysisinterpretation_id, user_id, "
                     "date_created, review_comment) VALUES "
                     "(%(i)s, 1, now() - interval '1 day', 'older'), "
                     "(%(i)s, 1, now(), 'newest'), (%(i)s, 1, now(), NULL)",
                     {"i": rows(demo_db_url, "SELECT id FROM analysisinterpretation WHERE "
                                             "analysis_id = %s", (ANALYSIS_ID,))[0][0]})
        summary = analysis_summary(conn, ANALYSIS_ID)
        assert summary["review_comment"] == "newest"
        assert summary["status"] and summary["workflow_status"]
        assert analysis_summary(conn, 9999) is None


# --- alleleinterpretation -------------------------------------------------------------------

ALLELE_ID = 3  # has an allele assessment in the demo database


@pytest.fixture
def rounds_db(demo_db_url):
    """Four rounds of allele 3: marked, finalized, marked, ongoing (oldest first), each with a
    snapshot, a state-history row and a work-log entry."""
    specs = [("Interpretation", "Done", False), ("Review", "Done", True),
             ("Interpretation", "Done", False), ("Review", "Ongoing", None)]
    ids = []
    with psycopg.connect(demo_db_url) as conn:
        for days, (workflow, status, finalized) in zip((4, 3, 2, 1), specs):
            (ai_id,) = conn.execute(
                "INSERT INTO alleleinterpretation (genepanel_name, genepanel_version, "
                "user_state, state, status, date_last_update, date_created, allele_id, "
                "user_id, finalized, workflow_status) VALUES ('HBOCUTV', 'v01', '{}', '{}', "
                "%s, now() - make_interval(days => %s), now() - make_interval(days => %s), "
                "%s, 1, %s, %s) RETURNING id",
                (status, days, days, ALLELE_ID, finalized, workflow)).fetchone()
            conn.execute("INSERT INTO alleleinterpretationsnapshot (date_created, "
                         "alleleinterpretation_id, allele_id) VALUES (now(), %s, %s)",
                         (ai_id, ALLELE_ID))
            conn.execute("INSERT INTO interpretationstatehistory (alleleinterpretation_id, "
                         "user_id, date_created, state) VALUES (%s, 1, now(), '{}')", (ai_id,))
            conn.execute("INSERT INTO interpretationlog (alleleinterpretation_id, user_id, "
                         "date_created, review_comment) VALUES (%s, 1, "
                         "now() - make_interval(days => %s), %s)",
                         (ai_id, days, f"comment {days}"))
            ids.append(ai_id)
    return demo_db_url, ids


def remaining_rounds(url):
    return [r[0] for r in rows(url, "SELECT id FROM alleleinterpretation WHERE allele_id = %s "
                                    "ORDER BY id", (ALLELE_ID,))]


def dependants(url, ids):
    return sum(count(url, f"SELECT count(*) FROM {t} WHERE alleleinterpretation_id = ANY(%s)",
                     (ids,))
               for t in ("alleleinterpretationsnapshot", "interpretationstatehistory",
                         "interpretationlog"))


def test_rounds_selection(rounds_db):
    url, ids = rounds_db
    with psycopg.connect(url) as conn:
        assert [r["id"] for r in alleleinterpretation_rounds(conn, ALLELE_ID, False)] == ids[2:]
        assert [r["id"] for r in alleleinterpretation_rounds(conn, ALLELE_ID, True)] == ids
        assert alleleinterpretation_rounds(conn, 9999, True) == []
        assert delete_alleleinterpretations(conn, ALLELE_ID, False) == ids[2:]
        conn.rollback()
    assert remaining_rounds(url) == ids


@pytest.mark.parametrize("delete_all", [False, True])
def test_rounds_that_changed_after_the_confirmation_are_not_deleted(rounds_db, delete_all):
    """The operator confirmed a list of rounds; a round reopened (or started, finalized)
    before the delete changes what would go: nothing is deleted. Also with --delete-all,
    where the finalized round is still selected, but was shown as Ongoing."""
    url, ids = rounds_db
    with psycopg.connect(url) as conn:
        shown = round_states(alleleinterpretation_rounds(conn, ALLELE_ID, delete_all))
        conn.rollback()
        with psycopg.connect(url) as other:  # meanwhile, someone finalizes the open round
            other.execute("UPDATE alleleinterpretation SET status = 'Done', finalized = true "
                          "WHERE id = %s", (ids[-1],))
        with pytest.raises(RoundsChanged, match="changed while you confirmed"):
            delete_alleleinterpretations(conn, ALLELE_ID, delete_all, confirmed=shown)
        conn.rollback()
    assert remaining_rounds(url) == ids


def test_delete_rounds_after_last_finalized(rounds_db):
    url, ids = rounds_db
    assessments = table_snapshot(url)["alleleassessment"]
    result = run_cli("ella-delete", "alleleinterpretation", str(ALLELE_ID), db_url=url,
                     stdin="why\ny\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Review comment: comment 1" in out
    # Each round with the user's abbreviated name, as ELLA lists them (user 1: Henrik Ibsen).
    assert "  1. Interpretation, Done, H. Ibsen," in out
    assert "  2. Review, Ongoing, H. Ibsen," in out
    assert re.search(r"last update \d{4}-\d\d-\d\d \d\d:\d\d UTC \(id", out)  # zone named
    assert "  3." not in out
    assert f"Deleted 2 interpretation round(s) of allele {ALLELE_ID}" in out
    assert remaining_rounds(url) == ids[:2]
    assert dependants(url, ids[2:]) == 0
    assert dependants(url, ids[:2]) == 6
    assert table_snapshot(url)["alleleassessment"] == assessments
    group, groupcommand, command, reason, output = last_clilog(url)
    assert (group, groupcommand, command, reason) == (
        "delete", "alleleinterpretation", f"delete alleleinterpretation {ALLELE_ID}", "why")
    assert "Deleted 2 interpretation round(s)" in output

    # only finalized history left: nothing more to delete without --delete-all
    before = table_snapshot(url)
    again = run_cli("ella-delete", "alleleinterpretation", str(ALLELE_ID), "--reason", "",
                    db_url=url, stdin="y\n")
    assert again.returncode == 0, again.stderr
    assert "Nothing to delete!" in again.stdout
    assert without_clilog(table_snapshot(url)) == without_clilog(before)


@pytest.mark.parametrize("flag", ["--delete-all", "--delete_all"])
def test_delete_all_rounds(rounds_db, flag):
    url, ids = rounds_db
    assessments = table_snapshot(url)["alleleassessment"]
    result = run_cli("ella-delete", "alleleinterpretation", str(ALLELE_ID), flag, db_url=url,
                     stdin="\ny\n")
    assert result.returncode == 0, result.stderr
    assert "  4. Review, Ongoing," in result.stdout
    assert "  2. Review, Finalized," in result.stdout
    assert remaining_rounds(url) == []
    assert dependants(url, ids) == 0
    assert table_snapshot(url)["alleleassessment"] == assessments
    assert count(url, "SELECT count(*) FROM allele WHERE id = %s", (ALLELE_ID,)) == 1
    assert last_clilog(url)[3] is None


def test_delete_rounds_aborted(rounds_db):
    url, _ = rounds_db
    before = table_snapshot(url)
    result = run_cli("ella-delete", "alleleinterpretation", str(ALLELE_ID), "--delete-all",
                     db_url=url, stdin="\nno\n")
    assert result.returncode == 0, result.stderr
    assert "Lacking confirmation, aborting..." in result.stdout
    assert without_clilog(table_snapshot(url)) == without_clilog(before)


def test_nothing_to_delete_and_unknown_allele(db_url, demo_db_url):
    result = run_cli("ella-delete", "alleleinterpretation", str(ALLELE_ID), "--delete-all",
                     "--reason", "", db_url=demo_db_url)
    assert result.returncode == 0, result.stderr
    assert "Nothing to delete!" in result.stdout
    missing = run_cli("ella-delete", "alleleinterpretation", "1", "--reason", "", db_url=db_url)
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines() == ["error: Found no allele with id 1"]


def _run_bytes(tool, *args, db_url, stdin=b""):
    """bin/<tool> with raw bytes as arguments and input (run_cli speaks text)."""
    import os
    import subprocess
    from helpers import ROOT
    env = {k: v for k, v in os.environ.items() if k not in ("DB_URL", "ELLA_CONFIG")}
    return subprocess.run([str(ROOT / "bin" / tool), *args], capture_output=True, input=stdin,
                          env={**env, "DB_URL": db_url}, timeout=120)


def test_text_that_is_not_utf8_is_refused_before_anything_changes(demo_db_url):
    """A Latin-1 reason typed at the prompt, or a Latin-1 argument, used to let the deletion
    commit and then fail in the audit (traceback, no clilog row): now refused first, and
    audited."""
    before = without_clilog(table_snapshot(demo_db_url))
    result = _run_bytes("ella-delete", b"analysis", str(ANALYSIS_ID).encode(), db_url=demo_db_url,
                        stdin=b"Pasient \xf8nsket sletting\ny\n")
    assert result.returncode == 1, result.stderr
    assert result.stderr.decode().strip().splitlines()[-1] == \
        "error: the reason is not valid UTF-8 text"
    assert last_clilog(demo_db_url)[4] == "the reason is not valid UTF-8 text"
    result = _run_bytes("ella-broadcast", b"new", b"caf\xe9", db_url=demo_db_url)
    assert result.returncode == 1, result.stderr
    assert result.stderr.decode().strip() == "error: an argument is not valid UTF-8 text"
    assert b"Traceback" not in result.stderr
    assert without_clilog(table_snapshot(demo_db_url)) == before
    _, _, command, _, output = last_clilog(demo_db_url)
    assert "caf\ufffd" in command and output == "an argument is not valid UTF-8 text"


def test_an_analysis_that_changed_after_the_confirmation_is_not_deleted(demo_db_url):
    with psycopg.connect(demo_db_url) as conn:
        shown = analysis_summary(conn, ANALYSIS_ID)
        conn.rollback()
        with psycopg.connect(demo_db_url) as other:  # meanwhile, its round is finalized
            assert shown["status"] == "Ongoing"
            other.execute("UPDATE analysisinterpretation SET status = 'Done', finalized = true "
                          "WHERE id = (SELECT max(id) FROM analysisinterpretation "
                          "WHERE analysis_id = %s)", (ANALYSIS_ID,))
        with pytest.raises(ConfirmationOutdated, match="changed while you confirmed"):
            delete_analysis(conn, ANALYSIS_ID, confirmed=shown)
        conn.rollback()
        assert delete_analysis(conn, ANALYSIS_ID, confirmed=analysis_summary(
            conn, ANALYSIS_ID)) is not None  # as shown now: deleted
        conn.rollback()


def test_delete_analysis_refuses_a_round_finalized_while_it_asked(api_app, db_url, ella_config):
    """The operator is shown 'Latest interpretation: Ongoing'; a colleague finalizes the
    round before the 'y': nothing is deleted, exit 1 (the analysis went, with the finalized
    round, its snapshots and work log, which the operator was never shown)."""
    c1, _, analyses, _ = setup_analysis(api_app, db_url, ella_config)
    analysis_id = analyses[0]
    base = f"/api/v1/workflows/analyses/{analysis_id}"
    assert c1.post(f"{base}/actions/start/", {}).status == 200
    env = {k: v for k, v in os.environ.items() if k not in ("DB_URL", "ELLA_CONFIG")}
    process = subprocess.Popen([str(ROOT / "bin" / "ella-delete"), "analysis", str(analysis_id),
                                "--reason", "test"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**env, "DB_URL": db_url})
    try:
        while "Type 'y' to confirm." not in (line := process.stderr.readline()):
            assert line, "the command ended before asking"
        alleles = [allele for allele, _ in analysis_alleles(db_url, analysis_id)]
        with psycopg.connect(db_url) as conn:
            annotations = [r[0] for r in conn.execute(
                "SELECT id FROM annotation WHERE allele_id = ANY(%s) "
                "AND date_superceeded IS NULL", (alleles,))]
        finalized = c1.post(f"{base}/actions/finalize/", {
            "allele_ids": alleles, "annotation_ids": annotations, "custom_annotation_ids": [],
            "alleleassessment_ids": [], "allelereport_ids": [], "excluded_allele_ids": {},
            "technical_allele_ids": alleles})
        assert finalized.status == 200, finalized.body
        out, err = process.communicate("y\n", timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "Latest interpretation: Ongoing (Interpretation)" in out
    assert process.returncode == 1 and "changed while you confirmed" in err, (out, err)
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM analysis WHERE id = %s",
                            (analysis_id,)).fetchone() == (1,)


def test_a_folder_imported_while_its_analysis_is_deleted_waits_for_the_delete(
        watch_dirs, db_url, ella_config):
    """The operator deletes an analysis to import it again, and its folder arrives while the
    delete commits: the watcher's check saw the row being deleted, and the folder was
    recorded as failed for good ("already imported") for an analysis that was gone."""
    import shutil
    import threading
    import time
    from deposit_helpers import TEST_ANALYSIS_001, deposit
    from ella.db import connect
    from ella.deposit.delete import delete_analysis
    from ella.watcher import Watcher
    incoming, dest = watch_dirs
    deposit(db_url, ella_config, TEST_ANALYSIS_001)
    folder = incoming / "TestAnalysis-001"
    shutil.copytree(TEST_ANALYSIS_001, folder)
    watcher = Watcher(db_url, ella_config, incoming, dest)
    imported = []
    with connect(db_url) as conn:
        delete_analysis(conn, conn.execute("SELECT id FROM analysis").fetchone()[0])
        thread = threading.Thread(target=lambda: imported.append(watcher.poll()))
        thread.start()
        with psycopg.connect(db_url, autocommit=True) as watch:
            deadline = time.monotonic() + 60
            while thread.is_alive() and time.monotonic() < deadline and not watch.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database()").fetchone()[0]:
                time.sleep(0.02)
        conn.commit()
    thread.join(120)
    assert imported == [["TestAnalysis-001"]]
    assert not list(incoming.glob("*.import-error"))
