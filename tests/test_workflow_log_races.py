"""A work-log entry edited or deleted while a colleague finalizes the round: the entry's
checks run under the workflow's lock, as finalize does, so the two are serialised and a
finalized round's log stays as written (README: 409 once the round is finalized). The race is
forced: the check's `latest_round` call starts the finalize and waits until it either commits
(the race lost) or waits for a lock this request holds (serialised)."""

import datetime
import sys
import threading
import time

import psycopg
import pytest

import ella.workflow.log as log_module
from api_helpers import add_user, logged_in_client
from workflow_helpers import analysis_alleles, payload, setup_analysis, start_round

WF = "/api/v1/workflows"


@pytest.fixture
def wf(api_app, db_url, ella_config):
    c1, c2, analyses, _ = setup_analysis(api_app, db_url, ella_config)
    return {"c1": c1, "c2": c2, "analysis": analyses[0], "db": db_url,
            "base": f"{WF}/analyses/{analyses[0]}"}


def _finalize_body(db, analysis_id):
    alleles = [a for a, _ in analysis_alleles(db, analysis_id)]
    with psycopg.connect(db) as conn:
        annotations = [r[0] for r in conn.execute(
            "SELECT id FROM annotation WHERE allele_id = ANY(%s) AND date_superceeded IS NULL",
            (alleles,))]
    return {"allele_ids": alleles, "annotation_ids": annotations, "custom_annotation_ids": [],
            "alleleassessment_ids": [], "allelereport_ids": [], "excluded_allele_ids": {},
            "technical_allele_ids": alleles}


@pytest.mark.parametrize("method", ["DELETE", "PATCH"])
def test_log_entry_changed_while_round_is_finalized_concurrently(wf, monkeypatch, method):
    c1, c2, base, db = wf["c1"], wf["c2"], wf["base"], wf["db"]
    assert c1.post(f"{base}/actions/start/", {}).status == 200
    assert c1.post(f"{base}/logs/", {"message": "called the patient: no family history"}
                   ).status == 200
    with psycopg.connect(db) as conn:
        entry_id = conn.execute("SELECT max(id) FROM interpretationlog WHERE message IS NOT "
                                "NULL").fetchone()[0]
    body = _finalize_body(db, wf["analysis"])
    real = log_module.latest_round
    outcome = {}

    def latest_then_colleague_finalizes(conn, workflow_type, workflow_id, *a, **kw):
        result = real(conn, workflow_type, workflow_id, *a, **kw)
        if "finalize" not in outcome:
            thread = threading.Thread(target=lambda: outcome.update(
                finalize=c2.post(f"{base}/actions/finalize/", body)))
            thread.start()
            outcome["thread"] = thread
            # Either the finalize commits now (nothing stops it: the bug), or it waits for a
            # lock this request holds (a fixed version): then this request goes first.
            deadline = time.monotonic() + 60
            while thread.is_alive() and time.monotonic() < deadline:
                with psycopg.connect(db, autocommit=True) as watch:
                    if watch.execute("SELECT count(*) FROM pg_stat_activity WHERE "
                                     "wait_event_type = 'Lock' AND datname = current_database()"
                                     ).fetchone()[0]:
                        break
                time.sleep(0.02)
            outcome["finalized_first"] = not thread.is_alive()
        return result

    monkeypatch.setattr(log_module, "latest_round", latest_then_colleague_finalizes)
    url = f"{base}/logs/{entry_id}/"
    result = c1.request(method, url, {"message": "edited"} if method == "PATCH" else None)
    outcome["thread"].join(60)
    assert outcome["finalize"].status == 200, outcome["finalize"].body
    if not outcome["finalized_first"]:
        return  # serialized: the edit/delete went first, then the finalize (fine)
    with psycopg.connect(db) as conn:
        status, finalized = conn.execute(
            "SELECT status::text, finalized FROM analysisinterpretation WHERE analysis_id = %s "
            "ORDER BY date_created DESC, id DESC LIMIT 1", (wf["analysis"],)).fetchone()
        row = conn.execute("SELECT message FROM interpretationlog WHERE id = %s",
                           (entry_id,)).fetchone()
    assert (status, finalized) == ("Done", True)
    # The round is finalized: its log must be as it was when finalized (the request should
    # have waited for the finalize and answered 409).
    assert row == ("called the patient: no family history",), (result.status, row)
    assert result.status == 409, result.body


class _ClockAhead(datetime.datetime):
    """The API host's clock 5 s ahead of the database server's."""
    @classmethod
    def now(cls, tz=None):
        return datetime.datetime.now(tz) + datetime.timedelta(seconds=5)


def test_the_log_keeps_the_order_of_its_entries_whatever_the_hosts_clock(wf, monkeypatch):
    """A message was dated by the API host's clock and finalize-allele's entry by the
    database's: with the two clocks 5 s apart the log (read in time order) showed the
    finalize before the message written first. Every module that reads the host's clock
    gets one 5 s ahead here."""
    for name, module in list(sys.modules.items()):
        if name.startswith("ella.") and getattr(module, "datetime", None) is datetime.datetime:
            monkeypatch.setattr(module, "datetime", _ClockAhead)
    start_round(wf["db"], wf["analysis"], "wfuser1")
    assert wf["c1"].post(f"{wf['base']}/logs/", {"message": "before"}).status == 200
    allele_id, annotation_id = analysis_alleles(wf["db"], wf["analysis"])[0]
    assert wf["c1"].post(f"{wf['base']}/actions/finalizeallele/",
                         payload(allele_id, annotation_id)).status == 200
    assert wf["c1"].post(f"{wf['base']}/logs/", {"message": "after"}).status == 200
    logs = wf["c1"].get(f"{wf['base']}/logs/").json["logs"]
    assert [entry["message"] or ("classification" if "alleleassessment" in entry else None)
            for entry in logs if entry["message"] or "alleleassessment" in entry] == \
        ["before", "classification", "after"]


@pytest.fixture
def outsiders_note(api_app, db_url, ella_config):
    """A Not started variant round on HBOC v01 (group othergroup's panel) with a message its
    user 'outsider' wrote; wfuser1's group may start the round on its own panel."""
    c1, _, analyses, _ = setup_analysis(api_app, db_url, ella_config)
    add_user(db_url, "outsider", "othergroup", [("HBOC", "v01")])
    outsider = logged_in_client(api_app, db_url, "outsider")
    allele_id = analysis_alleles(db_url, analyses[0])[0][0]
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO alleleinterpretation (allele_id, genepanel_name, "
                     "genepanel_version, status, workflow_status, date_last_update, "
                     "date_created) VALUES (%s, 'HBOC', 'v01', 'Not started', "
                     "'Interpretation', now(), now())", (allele_id,))
    url = f"/api/v1/workflows/alleles/{allele_id}/logs/"
    assert outsider.post(url, {"message": "outsider's note"}).status == 200
    entry = outsider.get(url).json["logs"][-1]
    assert entry["editable"] is True
    return c1, outsider, allele_id, url, entry["id"]


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
def test_an_own_note_is_not_changed_once_another_group_started_the_round(
        outsiders_note, db_url, monkeypatch, method):
    """The group was checked before the workflow's lock: another group's start committing in
    between left the note changeable (200), where the log lists it as not editable and the
    same request a moment later is 403 (as a new entry is refused under the lock)."""
    c1, outsider, allele_id, url, entry_id = outsiders_note
    real_lock = log_module.lock_workflow
    started = []

    def start_first(conn, workflow_type, workflow_id):
        if not started:
            started.append(c1.post(f"/api/v1/workflows/alleles/{allele_id}/actions/start/",
                                   {"gp_name": "HBOC", "gp_version": "v1.0.0"}).status)
        return real_lock(conn, workflow_type, workflow_id)

    monkeypatch.setattr(log_module, "lock_workflow", start_first)
    result = outsider.request(method, f"{url}{entry_id}/",
                              {"message": "changed"} if method == "PATCH" else None)
    assert started == [200]
    assert result.status == 403, (result.status, result.body)
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT message FROM interpretationlog WHERE id = %s",
                            (entry_id,)).fetchone() == ("outsider's note",)
