"""Pinned behaviours of the import-job polling loop, the import-job API and the analyses
watcher (import.md 1.6-1.7, 7.1-7.6; api.md 2.12, 4.24; README "Import jobs")."""

import psycopg
import pytest
from psycopg.types.json import Jsonb

import ella.polling as polling
from ella.watcher import Watcher
from api_helpers import BODY, JOBS, logged_in_client
from deposit_helpers import BRCA_VCF, copy_test_analysis

PANEL = ("HBOC", "v01")
VCF_TEXT = BRCA_VCF.read_text()


def add_job(db_url, user_id, data=VCF_TEXT, sample_id=None, status="SUBMITTED", task_id="",
            **properties):
    props = {"analysis_name": "abc", "create_or_append": "Create", "sample_type": "HTS"}
    props.update(properties)
    with psycopg.connect(db_url) as conn:
        return conn.execute(
            "INSERT INTO annotationjob (task_id, status, status_history, mode, data, message, "
            "user_id, date_submitted, date_last_update, genepanel_name, genepanel_version, "
            "properties, sample_id) VALUES (%s, %s, '{}', 'Analysis', %s, '', %s, now(), "
            "now(), %s, %s, %s, %s) RETURNING id",
            (task_id, status, data, user_id, *PANEL, Jsonb(props), sample_id)).fetchone()[0]


def job(db_url, job_id):
    with psycopg.connect(db_url) as conn:
        return polling.load_job(conn, job_id)


def cycles(poller, n):
    for _ in range(n):
        poller.retry_at = None
        poller.cycle()


# --- the polling loop -----------------------------------------------------------------------

def test_a_cycle_handles_running_then_submitted_then_annotated_jobs(db_url, config, service,
                                                                    user_id):
    """import.md 7.4: each cycle handles, in this order, RUNNING jobs, then SUBMITTED ones,
    then ANNOTATED ones (whatever their ids)."""
    poller = polling.Poller(db_url, config)
    first = add_job(db_url, user_id, analysis_name="first")
    cycles(poller, 2)  # SUBMITTED -> RUNNING, then RUNNING (still active)
    second = add_job(db_url, user_id, analysis_name="second")
    assert poller.cycle() == [(first, "RUNNING", "ANNOTATED"), (second, "SUBMITTED", "RUNNING")]
    third = add_job(db_url, user_id, analysis_name="third")
    assert poller.cycle() == [(second, "RUNNING", "RUNNING"), (third, "SUBMITTED", "RUNNING"),
                              (first, "ANNOTATED", "DONE")]


def test_a_task_id_an_annotated_job_still_has_fails_the_submission(db_url, config, service,
                                                                   user_id):
    """README (Import jobs): a submission answered with a task id another job still in
    RUNNING or ANNOTATED uses fails (FAILED (SUBMISSION)): both would deposit that one
    result, one patient's variants under another's analysis."""
    waiting = add_job(db_url, user_id, status="ANNOTATED", task_id="same",
                      analysis_name="waiting")
    service.tasks["same"] = {"input": VCF_TEXT, "polls": 2, "error": False, "message": None}
    second = add_job(db_url, user_id, analysis_name="second", data="13-32893296-TG-T")
    service.task_id_answer = "same"
    poller = polling.Poller(db_url, config)
    assert poller.cycle()[0] == (second, "SUBMITTED", "FAILED (SUBMISSION)")
    failed = job(db_url, second)
    assert (failed["status"], failed["task_id"]) == ("FAILED (SUBMISSION)", "")
    assert failed["message"] == (f"the annotation service answered with task id 'same', "
                                 f"which import job {waiting} is still using: submit this job "
                                 "again")


def test_an_analysis_jobs_sample_type_is_its_samples_technology(db_url, config, service,
                                                                user_id):
    """import.md 7.5: the job's `.analysis` has `data: [{vcf, technology:
    properties.sample_type}]`: a Sanger job's samples are Sanger samples."""
    job_id = add_job(db_url, user_id, analysis_name="sanger", sample_type="Sanger")
    cycles(polling.Poller(db_url, config), 4)
    assert job(db_url, job_id)["status"] == "DONE", job(db_url, job_id)["message"]
    with psycopg.connect(db_url) as conn:
        types = conn.execute("SELECT DISTINCT s.sample_type::text FROM sample s JOIN analysis a "
                             "ON a.id = s.analysis_id WHERE a.name = 'sanger.HBOC_v01'").fetchall()
    assert types == [("Sanger",)]


def test_the_pre_import_script_gets_the_submitting_users_group(db_url, config, service, user_id,
                                                               tmp_path):
    """import.md 7.6: the pre-import script runs with USERGROUP, the submitting user's
    group (README: environment GENEPANEL_NAME, ..., USERGROUP, PRIORITY)."""
    script = tmp_path / "pre.sh"
    script.write_text('#!/bin/sh\nprintf \'{"variables": {"GROUP": "%s", "PRIO": "%s"}}\' '
                      '"$USERGROUP" "$PRIORITY"\n')
    script.chmod(0o755)
    config["import"]["preimport_script"] = str(script)
    job_id = add_job(db_url, user_id, data=None, sample_id="Diag-01")
    polling.Poller(db_url, config).cycle()
    assert job(db_url, job_id)["status"] == "RUNNING", job(db_url, job_id)["message"]
    _, body = service.sample_submissions[0]
    assert b'name="GROUP"\r\n\r\n"importgroup"\r\n' in body
    assert b'name="PRIO"\r\n\r\n"1"\r\n' in body


def test_an_append_job_without_a_user_is_refused_saying_why(db_url, config, service, user_id):
    """An Append job's access to its analysis is checked again before the deposit (README:
    the poller checks the job's user again before depositing): a job whose user is gone
    cannot be checked, and fails saying so, nothing appended."""
    created = add_job(db_url, user_id, analysis_name="fam")
    cycles(polling.Poller(db_url, config), 4)
    assert job(db_url, created)["status"] == "DONE"
    orphan = add_job(db_url, None, analysis_name="fam.HBOC_v01", create_or_append="Append")
    cycles(polling.Poller(db_url, config), 4)
    failed = job(db_url, orphan)
    assert (failed["status"], failed["message"]) == (
        "FAILED (DEPOSIT)", "DepositError: the job has no user, so access to the analysis it "
                            "appends to cannot be checked")
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM sample").fetchone()[0] == 1


def test_a_task_still_active_clears_the_running_jobs_message(db_url, config, service,
                                                             user_id):
    """import.md 7.4 step 1: a RUNNING job whose task is still active stays RUNNING with
    message "" (a "will retry" note of an earlier outage does not stay on it)."""
    job_id = add_job(db_url, user_id)
    poller = polling.Poller(db_url, config)
    poller.cycle()
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE annotationjob SET message = 'service away; will retry' "
                     "WHERE id = %s", (job_id,))
    assert poller.cycle() == [(job_id, "RUNNING", "RUNNING")]
    running = job(db_url, job_id)
    assert (running["status"], running["message"]) == ("RUNNING", "")


def test_a_done_message_with_five_warnings_names_them_all_and_no_count():
    """README (Import jobs): a DONE job's message gives the deposit's data warnings, the
    first five, then a count (of those not shown): five warnings are all shown, with no
    "and 0 more"."""
    assert polling.done_message({"warnings": list("abcde"), "warnings_total": 5}) == (
        "Deposited with warnings: a; b; c; d; e")
    assert polling.done_message({"warnings": list("abcde"), "warnings_total": 6}) == (
        "Deposited with warnings: a; b; c; d; e (and 1 more in the polling log)")
    assert polling.done_message({"warnings": [], "warnings_total": 0}) == ""


# --- the import-job API ---------------------------------------------------------------------

@pytest.fixture
def app(db_url, config, user_id):
    from ella.web.app import create_app
    application = create_app(config, {"DB_URL": db_url, "COOKIE_SECURE": False})
    yield application
    application._drop_connection()


@pytest.mark.parametrize("history", [{"history": "x"}, {"history": [{"status": "RUNNING"}]},
                                     {"history": [], "other": 1}, {"log": []}])
def test_a_status_history_not_of_ellas_shape_is_refused(app, db_url, history):
    """import.md 7.1: status_history is `{"history": [{"time", "status"}, ...]}`; README:
    an import job's status_history not of ELLA's shape is refused (400), not stored so that
    later status changes fail."""
    client = logged_in_client(app, db_url, "importer")
    refused = client.post(JOBS, {**BODY, "status_history": history})
    assert refused.status == 400, refused.body
    assert refused.json["message"].startswith("body.status_history must be")
    assert client.get(JOBS).json == []
    kept = client.post(JOBS, {**BODY, "status_history": {
        "history": [{"time": "2024-01-01T00:00:00+00:00", "status": "FAILED (DEPOSIT)"}]}})
    assert kept.status == 200, kept.body


# --- the analyses watcher -------------------------------------------------------------------

def _deliver(incoming, folder_name, analysis_name):
    copy_test_analysis(incoming / folder_name, analysis_name)


def _analysis_names(db_url):
    with psycopg.connect(db_url) as conn:
        return [r[0] for r in conn.execute("SELECT name FROM analysis ORDER BY name")]


def test_the_whitelist_is_matched_from_the_start_of_the_analysis_name(watch_dirs, db_url,
                                                                      ella_config):
    """import.md 1.6 step 5 and 1.7: whitelist patterns are applied with `re.match`
    (anchored at the start only) to the analysis name, not to the folder name."""
    incoming, dest = watch_dirs
    _deliver(incoming, "delivery-1", "Diag-1")       # analysis name starts with Diag
    _deliver(incoming, "Diag-folder", "Other-2")     # only the folder name does
    _deliver(incoming, "delivery-3", "Lab-Diag-3")   # Diag, but not at the start
    watcher = Watcher(db_url, ella_config, incoming, dest, whitelist=["Diag"])
    assert watcher.poll() == ["Diag-1"]
    assert _analysis_names(db_url) == ["Diag-1"]
    assert (dest / "delivery-1").is_dir()
    assert (incoming / "Diag-folder").is_dir() and (incoming / "delivery-3").is_dir()


def test_the_blacklist_is_matched_from_the_start_of_the_analysis_name(watch_dirs, db_url,
                                                                      ella_config):
    """import.md 1.6 step 6 and 1.7: a blacklist pattern `re.match`es the analysis name
    (anchored at the start): a name holding it further on is imported."""
    incoming, dest = watch_dirs
    _deliver(incoming, "delivery-1", "Research-1")
    _deliver(incoming, "delivery-2", "Diag-Research-2")
    _deliver(incoming, "Research-folder", "Diag-3")
    watcher = Watcher(db_url, ella_config, incoming, dest, blacklist=["Research"])
    assert watcher.poll() == ["Diag-3", "Diag-Research-2"]
    assert (incoming / "delivery-1").is_dir() and not (incoming / "delivery-1.import-error"
                                                        ).exists()


def test_comment_and_blank_lines_of_a_list_file_are_no_patterns(watch_dirs, db_url,
                                                                ella_config, tmp_path):
    """import.md 1.7 (recommendation, taken): blank and `#` comment lines of a pattern file
    are ignored; a whitelist file of comments only whitelists nothing away."""
    incoming, dest = watch_dirs
    _deliver(incoming, "delivery-1", "Diag-1")
    listfile = tmp_path / "whitelist.txt"
    listfile.write_text("# patterns of the analyses to import\n\n#   (none yet)\n")
    watcher = Watcher(db_url, ella_config, incoming, dest, whitelistfile=listfile)
    assert watcher.poll() == ["Diag-1"]


@pytest.mark.parametrize("kind", ["whitelist", "blacklist"])
def test_a_list_file_given_with_a_list_is_ignored(watch_dirs, db_url, ella_config, tmp_path,
                                                  caplog, kind):
    """import.md 1.7: if both a list and a file are given, the file is ignored with a
    warning (also on later polls, when the file is re-read)."""
    incoming, dest = watch_dirs
    _deliver(incoming, "delivery-1", "Diag-1")
    listfile = tmp_path / f"{kind}.txt"
    # The file would keep Diag-1 out; the command-line list lets it in.
    listfile.write_text("^Nothing$\n" if kind == "whitelist" else "^Diag\n")
    given = {kind: ["^Diag"] if kind == "whitelist" else ["^Nothing$"],
             f"{kind}file": listfile}
    watcher = Watcher(db_url, ella_config, incoming, dest, **given)
    assert f"both a {kind} and a {kind} file given: the file is ignored" in caplog.text
    assert watcher.poll() == ["Diag-1"]


def test_a_failed_folder_is_retried_after_a_file_is_rewritten_at_the_same_size(
        watch_dirs, db_url, ella_config):
    """A failed folder is not retried while its files are unchanged; editing any file in
    it makes the next poll retry (ella/watcher.py, import.md 1.6 "Avoiding re-import"),
    also an edit that keeps the file's size."""
    incoming, dest = watch_dirs
    folder = incoming / "delivery-1"
    _deliver(incoming, "delivery-1", "Diag-1")
    analysis = folder / "TestAnalysis-001.analysis"
    good = analysis.read_text(encoding="utf-8")
    analysis.write_text(good.replace('"name"', '"nane"', 1), encoding="utf-8")
    watcher = Watcher(db_url, ella_config, incoming, dest)
    assert watcher.poll() == [] and watcher.failures == ["delivery-1"]
    assert watcher.poll() == [] and watcher.failures == []  # unchanged: not tried again
    analysis.write_text(good, encoding="utf-8")  # the fix: the same number of bytes
    assert watcher.poll() == ["Diag-1"]
    assert (dest / "delivery-1").is_dir() and not (incoming / "delivery-1.import-error").exists()


def test_a_folder_skipped_by_the_whitelist_is_remembered_not_looked_at_again(
        watch_dirs, db_url, ella_config, caplog):
    """import.md 1.6 step 2.1 and 2.5: a folder whose analysis the whitelist leaves out is
    added to `processed`, and skipped (not resolved nor logged again) on later polls."""
    incoming, dest = watch_dirs
    _deliver(incoming, "delivery-1", "Other-1")
    watcher = Watcher(db_url, ella_config, incoming, dest, whitelist=["^Diag"])
    caplog.set_level("INFO", logger="ella.watcher")
    assert watcher.poll() == []
    assert caplog.text.count("analysis Other-1 (delivery-1) is not whitelisted") == 1
    assert watcher.poll() == [] and watcher.poll() == []
    assert caplog.text.count("analysis Other-1 (delivery-1) is not whitelisted") == 1
    assert "delivery-1" in watcher.processed and (incoming / "delivery-1").is_dir()
