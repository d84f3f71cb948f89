"""Import-job polling (import.md 7.3-7.5, J3, J5-J7) against a real local HTTP server that
speaks the annotation-service protocol and returns the real annotated test VCFs."""

import copy
import http.server
import json
import logging
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import psycopg
import pytest

import ella.polling as polling
from ella.polling import AnnotationService, Poller, ServiceUnreachable
from annotation_service import closed_port_url, trickling_service
from api_helpers import add_user, logged_in_client
from deposit_helpers import BRCA_VCF, add_test_panels
from helpers import ROOT, table_snapshot

PANEL = ("HBOC", "v01")
VCF_TEXT = BRCA_VCF.read_text()


def vcf_half(which):
    lines = VCF_TEXT.splitlines(keepends=True)
    header = [line for line in lines if line.startswith("#")]
    records = [line for line in lines if not line.startswith("#")]
    half = len(records) // 2
    return "".join(header + (records[:half] if which == 1 else records[half:]))


def add_job(db_url, user_id, mode="Analysis", data=VCF_TEXT, sample_id=None, panel=PANEL,
            **properties):
    props = {"analysis_name": "abc", "create_or_append": "Create", "sample_type": "HTS"}
    props.update(properties)
    with psycopg.connect(db_url) as conn:
        job_id = conn.execute(
            "INSERT INTO annotationjob (task_id, status, status_history, mode, data, message, "
            "user_id, date_submitted, date_last_update, genepanel_name, genepanel_version, "
            "properties, sample_id) VALUES ('', 'SUBMITTED', '{}', %s, %s, '', %s, now(), now(), "
            "%s, %s, %s, %s) RETURNING id",
            (mode, data, user_id, *panel, psycopg.types.json.Jsonb(props), sample_id)
        ).fetchone()[0]
        conn.commit()
    return job_id


def job(db_url, job_id):
    with psycopg.connect(db_url) as conn:
        return polling.load_job(conn, job_id)


def count(db_url, sql, params=()):
    with psycopg.connect(db_url) as conn:
        return conn.execute(sql, params).fetchone()[0]


def genotypes_of(db_url, name):
    return count(db_url, "SELECT count(*) FROM genotype g JOIN sample s ON s.id = g.sample_id "
                         "JOIN analysis a ON a.id = s.analysis_id WHERE a.name = %s", (name,))


def statuses(job_row):
    return [h["status"] for h in reversed(job_row["status_history"]["history"])]


# --- client ---------------------------------------------------------------------------------

def test_client_speaks_the_protocol(service):
    client = AnnotationService(service.url)
    assert client.running() is True
    task = client.annotate("13-32893296-TG-T")
    assert service.tasks[task]["input"] == "13-32893296-TG-T"
    assert client.status(task) == {"active": True, "error": False}
    assert client.status(task) == {"active": False, "error": False}
    assert client.process(task) == b"13-32893296-TG-T"
    service.samples = {"s2": {"x": 1}, "s1": {"x": 2}}
    assert client.search_samples("s", 5) == [{"x": 2, "name": "s1"}, {"x": 1, "name": "s2"}]
    assert service.last_sample_query == {"q": ["{'name': 's'}"], "limit": ["5"]}
    service.fail["status"] = (500, "Task exploded")
    with pytest.raises(polling.ServiceError, match="Task exploded"):
        client.status(task)
    # Without a message: import.md's text, with what answered (a wrong address, where
    # another server answers 404, said nothing more).
    service.fail["status"] = (500, None)
    with pytest.raises(polling.ServiceError) as failed:
        client.status(task)
    assert failed.value.message == (
        f"Unable to determine error (annotation service {client.shown}/status/{task}: "
        "HTTP 500 Internal Server Error)")
    down = AnnotationService(closed_port_url(), timeout=2)
    assert down.running() is False
    with pytest.raises(ServiceUnreachable):
        down.annotate("x")


def test_multipart_quotes_string_values():
    body, content_type = polling.encode_multipart({"GP_NAME": "HBOC", "n": 2},
                                                  {"regions": ("regions.bed", b"#x\n")})
    assert content_type.startswith("multipart/form-data; boundary=")
    assert b'name="GP_NAME"\r\n\r\n"HBOC"\r\n' in body
    assert b'name="n"\r\n\r\n2\r\n' in body
    assert b'filename="regions.bed"' in body and b"#x\n" in body


# --- transitions ----------------------------------------------------------------------------

def test_job_goes_submitted_running_annotated_done_and_analysis_is_listed(
        db_url, config, service, user_id):
    from ella.web.app import create_app
    app = create_app(config, {"DB_URL": db_url, "COOKIE_SECURE": False})
    client = logged_in_client(app, db_url, "importer")
    posted = client.post("/api/v1/import/service/jobs/", {
        "mode": "Analysis", "data": VCF_TEXT, "genepanel_name": "HBOC",
        "genepanel_version": "v01",
        "properties": {"analysis_name": "abc", "create_or_append": "Create",
                       "sample_type": "HTS", "priority": 2}})
    assert posted.status == 200, posted.body
    job_id = posted.json["id"]
    poller = Poller(db_url, config, interval=0.01)
    # J3: one step per cycle, each cycle reports only the jobs of the status it handled.
    assert poller.cycle() == [(job_id, "SUBMITTED", "RUNNING")]
    assert job(db_url, job_id)["task_id"] == "task1"
    assert poller.cycle() == [(job_id, "RUNNING", "RUNNING")]
    assert poller.cycle() == [(job_id, "RUNNING", "ANNOTATED")]
    assert poller.cycle() == [(job_id, "ANNOTATED", "DONE")]
    assert poller.cycle() == []
    done = job(db_url, job_id)
    assert done["status"] == "DONE" and done["message"] == ""
    assert statuses(done) == ["SUBMITTED", "RUNNING", "ANNOTATED"]
    # J5: created as <name>.<panel>_<version>, with the job's priority.
    analyses = client.get("/api/v1/analyses/").json
    assert [a["name"] for a in analyses] == ["abc.HBOC_v01"]
    assert count(db_url, "SELECT priority FROM interpretationlog") == 2
    assert genotypes_of(db_url, "abc.HBOC_v01") > 0
    listed = client.get("/api/v1/import/service/jobs/").json
    assert [(j["id"], j["status"]) for j in listed] == [(job_id, "DONE")]
    app._drop_connection()


def test_a_done_jobs_message_says_what_of_its_vcf_was_not_imported(db_url, config, service,
                                                                    user_id):
    """Records left out (here one with ALT `*`, one without ALT) were said only in the
    poller's log: the job's user saw DONE with an empty message."""
    first = next(line for line in VCF_TEXT.splitlines() if not line.startswith("#"))
    cols = first.split("\t")
    star = "\t".join(cols[:1] + [str(int(cols[1]) + 1), ".", "G", "*"] + cols[5:7] + ["."]
                     + cols[8:])
    no_alt = "\t".join(cols[:1] + [str(int(cols[1]) + 2), ".", "G", "."] + cols[5:7] + ["."]
                       + cols[8:])
    job_id = add_job(db_url, user_id, data=VCF_TEXT + star + "\n" + no_alt + "\n")
    _cycles(Poller(db_url, config), 4)
    done = job(db_url, job_id)
    assert done["status"] == "DONE", done
    assert done["message"] == (
        f"Deposited with warnings: job-{job_id}.vcf: 1 records without ALT not imported; "
        f"job-{job_id}.vcf: 1 records with ALT '*' (spanning deletions) not imported"), done
    # Without warnings the message stays empty, as ELLA's.
    clean = add_job(db_url, user_id, data=VCF_TEXT, analysis_name="clean")
    _cycles(Poller(db_url, config), 4)
    assert (job(db_url, clean)["status"], job(db_url, clean)["message"]) == ("DONE", "")
    assert polling.done_message({"warnings": list("abcdefg")}) == (
        "Deposited with warnings: a; b; c; d; e (and 2 more in the polling log)")


def test_a_done_jobs_warnings_whatever_the_log_level_and_the_temp_dir(
        db_url, config, service, user_id, tmp_path, monkeypatch):
    """LOG_LEVEL=ERROR (a quiet production log) kept the warnings from the job's message
    (they were collected from the log); a temp dir reached through a link (macOS' /var) put
    the server's path into it."""
    import tempfile
    real, link = tmp_path / "real", tmp_path / "link"
    real.mkdir()
    link.symlink_to(real)
    monkeypatch.setattr(tempfile, "tempdir", str(link))
    monkeypatch.setattr(logging.getLogger(), "level", logging.ERROR)
    first = next(line for line in VCF_TEXT.splitlines() if not line.startswith("#"))
    cols = first.split("\t")
    star = "\t".join(cols[:1] + [str(int(cols[1]) + 1), ".", "G", "*"] + cols[5:7] + ["."]
                     + cols[8:])
    job_id = add_job(db_url, user_id, data=VCF_TEXT + star + "\n")
    _cycles(Poller(db_url, config), 4)
    assert job(db_url, job_id)["message"] == (
        f"Deposited with warnings: job-{job_id}.vcf: 1 records with ALT '*' (spanning "
        "deletions) not imported")


def test_j3_non_vcf_result_fails_the_deposit(db_url, config, service, user_id, caplog):
    caplog.set_level(logging.INFO, logger="ella.polling")
    job_id = add_job(db_url, user_id, data="13-32893296-TG-T")
    service.results["13-32893296-TG-T"] = "this is not a VCF\n"
    poller = Poller(db_url, config)
    for _ in range(4):
        poller.cycle()
    failed = job(db_url, job_id)
    assert failed["status"] == "FAILED (DEPOSIT)"
    # A failed job needs a person: logged as a warning (also shown at LOG_LEVEL=WARNING),
    # the steps before it as info.
    levels = {r.getMessage().split(" -> ")[-1].split(" (")[0]: r.levelname
              for r in caplog.records if f"import job {job_id}: " in r.getMessage()}
    assert levels == {"RUNNING": "INFO", "ANNOTATED": "INFO", "FAILED": "WARNING"}, levels
    assert failed["message"].startswith("VcfError: ") and "fileformat" in failed["message"]
    assert count(db_url, "SELECT count(*) FROM analysis") == 0


def test_a_deposit_error_names_the_jobs_file_not_the_pollers_temporary_folder(
        db_url, config, service, user_id):
    """The job's user sees the line of the annotated VCF at fault, and nothing of the
    server's file system."""
    lines = VCF_TEXT.splitlines(keepends=True)
    bad_at = next(i for i, line in enumerate(lines) if not line.startswith("#")) + 1
    fields = lines[bad_at - 1].rstrip("\n").split("\t")
    lines[bad_at - 1] = "\t".join(fields[:5]) + "\n"  # a record cut after QUAL's column
    service.results["13-32893296-TG-T"] = "".join(lines)
    job_id = add_job(db_url, user_id, data="13-32893296-TG-T")
    poller = Poller(db_url, config)
    for _ in range(4):
        poller.cycle()
    failed = job(db_url, job_id)
    assert failed["status"] == "FAILED (DEPOSIT)"
    assert failed["message"].startswith(f"VcfError: job-{job_id}.vcf, line {bad_at}: "), \
        failed["message"]
    assert "ella-importjob" not in failed["message"] and "/" not in failed["message"]
    assert count(db_url, "SELECT count(*) FROM analysis") == 0


def test_j6_variants_job_creates_every_allele(db_url, config, service, user_id):
    job_id = add_job(db_url, user_id, mode="Variants")
    poller = Poller(db_url, config)
    for _ in range(4):
        poller.cycle()
    assert job(db_url, job_id)["status"] == "DONE"
    assert count(db_url, "SELECT count(*) FROM allele") == 6
    assert count(db_url, "SELECT count(*) FROM analysis") == 0


def test_j7_append_adds_to_an_existing_analysis(db_url, config, service, user_id):
    poller = Poller(db_url, config)
    first = add_job(db_url, user_id, data=vcf_half(1), analysis_name="fam")
    for _ in range(4):
        poller.cycle()
    assert job(db_url, first)["status"] == "DONE"
    n1 = genotypes_of(db_url, "fam.HBOC_v01")
    assert n1 == 3
    with psycopg.connect(db_url) as conn:  # a finished round is re-opened by the append
        conn.execute("UPDATE analysisinterpretation SET status = 'Done', finalized = true")
        conn.commit()
    second = add_job(db_url, user_id, data=vcf_half(2), analysis_name="fam.HBOC_v01",
                     create_or_append="Append")
    for _ in range(4):
        poller.cycle()
    assert job(db_url, second)["status"] == "DONE", job(db_url, second)["message"]
    assert count(db_url, "SELECT count(*) FROM analysis") == 1
    assert genotypes_of(db_url, "fam.HBOC_v01") == n1 + 3
    assert count(db_url, "SELECT count(*) FROM sample") == 2
    rounds = count(db_url, "SELECT array_agg(status::text ORDER BY id) FROM "
                           "analysisinterpretation")
    assert rounds == ["Done", "Not started"]


def test_a_finished_append_job_is_not_run_again(db_url, config, service, user_id):
    """Run again, it would add the same samples and genotypes a second time (the UI's retry
    PATCHes SUBMITTED); a finished Create job may still be retried."""
    from ella.web.app import create_app
    poller = Poller(db_url, config)
    created = add_job(db_url, user_id, data=vcf_half(1), analysis_name="fam")
    appended = add_job(db_url, user_id, data=vcf_half(2), analysis_name="fam.HBOC_v01",
                       create_or_append="Append")
    for _ in range(8):
        poller.cycle()
    assert [job(db_url, j)["status"] for j in (created, appended)] == ["DONE", "DONE"]
    kept = ("sample", "genotype", "genotypesampledata", "analysisinterpretation", "annotationjob")

    def snapshot():
        return {table: rows for table, rows in table_snapshot(db_url).items() if table in kept}
    before = snapshot()
    app = create_app(config, {"DB_URL": db_url, "COOKIE_SECURE": False})
    try:
        client = logged_in_client(app, db_url, "importer")
        answer = client.request("PATCH", f"/api/v1/import/service/jobs/{appended}/",
                                json_body={"status": "SUBMITTED"})
        assert answer.status == 409
        assert answer.json["message"] == (
            f"Import job {appended} has already appended its samples to analysis "
            "fam.HBOC_v01; run again it would add them a second time. Submit a new job to "
            "append them again.")
        assert snapshot() == before
        # Other changes of the finished job, and a retry of the Create job, are allowed.
        assert client.request("PATCH", f"/api/v1/import/service/jobs/{appended}/",
                              json_body={"message": "checked"}).status == 200
        assert client.request("PATCH", f"/api/v1/import/service/jobs/{created}/",
                              json_body={"status": "SUBMITTED"}).status == 200
    finally:
        app._drop_connection()
    poller.cycle()
    assert count(db_url, "SELECT count(*) FROM sample") == 2


def test_append_to_missing_analysis_fails_the_deposit(db_url, config, service, user_id):
    job_id = add_job(db_url, user_id, analysis_name="nope", create_or_append="Append")
    poller = Poller(db_url, config)
    for _ in range(4):
        poller.cycle()
    failed = job(db_url, job_id)
    assert failed["status"] == "FAILED (DEPOSIT)"
    assert failed["message"] == "DepositError: Analysis nope does not exist: nothing to append to."


def test_append_to_another_groups_analysis_fails_and_changes_nothing(db_url, config, service,
                                                                     user_id):
    """A job (stored before the API checked it, or whose user changed groups) that appends to
    an analysis outside its user's group: the poller refuses it and the analysis is as it
    was."""
    poller = Poller(db_url, config)
    first = add_job(db_url, user_id, data=vcf_half(1), analysis_name="fam")
    for _ in range(4):
        poller.cycle()
    assert job(db_url, first)["status"] == "DONE"
    add_user(db_url, "stranger", "strangers", panels=[("HBOC", "v1.0.0")])
    with psycopg.connect(db_url) as conn:
        stranger = conn.execute("SELECT id FROM \"user\" WHERE username = 'stranger'").fetchone()[0]
    second = add_job(db_url, stranger, data=vcf_half(2), analysis_name="fam.HBOC_v01",
                     create_or_append="Append", panel=("HBOC", "v1.0.0"))
    _fails_depositing_nothing(db_url, poller, second,
                              "DepositError: Analysis fam.HBOC_v01 is not available to the "
                              "user group of the job's user: nothing appended")


def test_an_append_job_on_another_panel_than_its_analysis_fails_and_changes_nothing(
        db_url, config, service, user_id):
    """The API refuses an Append job whose panel is not its analysis' own, but only when the
    analysis exists: one posted right after its Create job (the usual pair) on another panel
    the user may import on was deposited, and the groups having only that panel saw the
    analysis' name and its patient's variants in their job list."""
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO usergroupgenepanel (usergroup_id, genepanel_name, "
                     "genepanel_version) SELECT group_id, 'HBOC', 'v1.0.0' FROM \"user\" "
                     "WHERE id = %s", (user_id,))
    poller = Poller(db_url, config)
    first = add_job(db_url, user_id, data=vcf_half(1), analysis_name="fam")
    second = add_job(db_url, user_id, data=vcf_half(2), analysis_name="fam.HBOC_v01",
                     create_or_append="Append", panel=("HBOC", "v1.0.0"))
    _cycles(poller, 6)
    assert job(db_url, first)["status"] == "DONE"
    failed = job(db_url, second)
    assert (failed["status"], failed["message"]) == (
        "FAILED (DEPOSIT)", "DepositError: An Append job's gene panel must be its analysis' "
        "own: fam.HBOC_v01 is on HBOC v01, the job on HBOC v1.0.0: nothing appended")
    assert count(db_url, "SELECT count(*) FROM sample") == 1
    assert genotypes_of(db_url, "fam.HBOC_v01") == 3


def _fails_depositing_nothing(db_url, poller, job_id, message):
    """The poller's cycles fail the job (FAILED (DEPOSIT), `message`) and write nothing but
    the job's row."""
    before = table_snapshot(db_url)
    _cycles(poller, 4)
    failed = job(db_url, job_id)
    assert (failed["status"], failed["message"]) == ("FAILED (DEPOSIT)", message)
    after = table_snapshot(db_url)
    before.pop("annotationjob"), after.pop("annotationjob")
    assert after == before


def test_a_job_whose_user_may_no_longer_import_on_its_panel_is_not_deposited(
        db_url, config, service, user_id):
    """The job's user left the group (or the group stopped importing for the panel's group)
    after posting it: a retry was deposited all the same, for any mode but Append."""
    poller = Poller(db_url, config)
    job_id = add_job(db_url, user_id, data=vcf_half(1), analysis_name="left")
    add_user(db_url, "someone", "nopanels", panels=[])
    with psycopg.connect(db_url) as conn:
        conn.execute('UPDATE "user" SET group_id = (SELECT id FROM usergroup WHERE name = '
                     "'nopanels') WHERE id = %s", (user_id,))
    _fails_depositing_nothing(db_url, poller, job_id,
                              "DepositError: The user group of the job's user may not import "
                              "on gene panel HBOC v01 (any more): nothing deposited")


def test_service_error_flag_fails_the_job_with_its_message(db_url, config, service, user_id):
    job_id = add_job(db_url, user_id)
    service.error_task = "VEP crashed on line 3"
    poller = Poller(db_url, config)
    poller.cycle()
    assert poller.cycle() == [(job_id, "RUNNING", "FAILED (ANNOTATION)")]
    failed = job(db_url, job_id)
    assert (failed["status"], failed["message"]) == ("FAILED (ANNOTATION)",
                                                     "VEP crashed on line 3")


@pytest.mark.parametrize("kind, expected", [("annotate", "FAILED (SUBMISSION)"),
                                            ("status", "FAILED (ANNOTATION)"),
                                            ("process", "FAILED (PROCESSING)")])
def test_http_errors_fail_the_job_with_the_service_message(db_url, config, service, user_id,
                                                           kind, expected):
    job_id = add_job(db_url, user_id)
    service.fail[kind] = (500, f"{kind} broke")
    poller = Poller(db_url, config)
    for _ in range(4):
        poller.cycle()
    failed = job(db_url, job_id)
    assert (failed["status"], failed["message"]) == (expected, f"{kind} broke")
    if kind == "annotate":
        assert failed["task_id"] == ""


@pytest.mark.parametrize("answer", [{}, {"state": "PENDING"}, {"active": None},
                                    {"active": "false", "error": False},
                                    {"active": False, "error": "no"}])
def test_a_status_answer_of_another_shape_fails_the_job_and_fetches_nothing(
        db_url, config, service, user_id, answer):
    """import.md 7.3: `{"active": bool, "error": bool}`. An answer without a boolean
    `active` was taken as finished: the result was fetched and deposited (or, for "false",
    the job stayed RUNNING for ever)."""
    job_id = add_job(db_url, user_id)
    service.status_answer = answer
    poller = Poller(db_url, config)
    _cycles(poller, 3)
    failed = job(db_url, job_id)
    assert failed["status"] == "FAILED (ANNOTATION)" and failed["message"].startswith(
        "annotation service: status answer"), failed
    assert not [r for r in service.requests if r[1].startswith("/api/v1/process/")]
    assert count(db_url, "SELECT count(*) FROM analysis") == 0


@pytest.mark.parametrize("task_id", [["a"], {"x": 1}, True])
def test_a_task_id_that_is_no_string_fails_the_submission(db_url, config, service, user_id,
                                                          task_id):
    """str() of it ("['a']", "True") was stored and polled as the job's task."""
    job_id = add_job(db_url, user_id)
    service.task_id_answer = task_id
    _cycles(Poller(db_url, config), 1)
    failed = job(db_url, job_id)
    assert (failed["status"], failed["message"], failed["task_id"]) == (
        "FAILED (SUBMISSION)", "annotation service: the task_id is not a string", "")


def test_a_task_id_another_running_job_has_fails_the_submission(db_url, config, service,
                                                                user_id):
    """A service answering one task id for two inputs: both jobs followed that one task and
    deposited its result, the second patient's analysis holding the first's variants."""
    first = add_job(db_url, user_id, analysis_name="first")
    second = add_job(db_url, user_id, analysis_name="second", data="13-32893296-TG-T")
    service.task_id_answer = "same"
    _cycles(Poller(db_url, config), 4)
    assert job(db_url, first)["status"] == "DONE"
    failed = job(db_url, second)
    assert (failed["status"], failed["task_id"]) == ("FAILED (SUBMISSION)", "")
    assert failed["message"] == (f"the annotation service answered with task id 'same', "
                                 f"which import job {first} is still using: submit this job "
                                 "again")
    assert count(db_url, "SELECT array_agg(name) FROM analysis") == ["first.HBOC_v01"]
    # Once the first is done, the service may give the id out again (a restarted service).
    third = add_job(db_url, user_id, analysis_name="third")
    _cycles(Poller(db_url, config), 4)
    assert job(db_url, third)["status"] == "DONE"


def test_a_result_that_is_not_utf8_fails_the_deposit_with_its_line(db_url, config, service,
                                                                   user_id):
    """The same bytes are refused as a file; as a job's result they were decoded with
    replacement characters and deposited altered."""
    latin1 = VCF_TEXT.replace("not_provided", "not_provid\u00e9d", 1).encode("latin-1")
    service.results[VCF_TEXT] = latin1
    job_id = add_job(db_url, user_id, mode="Variants")
    before = table_snapshot(db_url)
    _cycles(Poller(db_url, config), 4)
    failed = job(db_url, job_id)
    line = VCF_TEXT[:VCF_TEXT.index("not_provided")].count("\n") + 1
    assert failed["status"] == "FAILED (DEPOSIT)" and failed["message"].startswith(
        f"VcfError: job-{job_id}.vcf, line {line}: "), failed["message"]
    assert "UTF-8" in failed["message"]
    after = table_snapshot(db_url)
    before.pop("annotationjob"), after.pop("annotationjob")
    assert after == before


def _cycles(poller, n):
    for _ in range(n):
        poller.retry_at = None
        poller.cycle()


def test_service_text_with_a_nul_fails_the_job_once(db_url, config, service, user_id):
    """A NUL in an error message failed the job's UPDATE: the job stayed RUNNING (or
    ANNOTATED and fetched again) for good, or, in a task id, was submitted every cycle."""
    running = add_job(db_url, user_id, data="first")
    poller = Poller(db_url, config)
    poller.cycle()
    service.fail["status"] = (500, "bad\x00thing")
    _cycles(poller, 2)
    failed = job(db_url, running)
    assert (failed["status"], failed["message"]) == ("FAILED (ANNOTATION)", "bad\ufffdthing")
    del service.fail["status"]
    annotated = add_job(db_url, user_id)
    _cycles(poller, 3)
    assert job(db_url, annotated)["status"] == "ANNOTATED"
    service.fail["process"] = (500, "bad\x00thing")
    _cycles(poller, 2)
    assert job(db_url, annotated)["status"] == "FAILED (PROCESSING)"
    service.task_prefix = "t\x00"
    before = len(service.requests)
    submitted = add_job(db_url, user_id, data="third")
    _cycles(poller, 3)
    failed = job(db_url, submitted)
    assert (failed["status"], failed["message"]) == (
        "FAILED (SUBMISSION)",
        "annotation service: the task_id has a NUL character or an unpaired surrogate")
    assert service.requests[before:].count(("POST", "/api/v1/annotate")) == 1


@pytest.mark.parametrize("mode", ["Analysis", "Variants"])
def test_a_result_too_long_for_the_allele_index_fails_only_its_job(db_url, config, service,
                                                                   user_id, mode):
    """An insertion of 6,000 bases exceeds ELLA's allele index (a PostgreSQL 'program limit',
    reported as an OperationalError): the poller took it for a lost database, retried the
    job every cycle and never reached the jobs after it."""
    rng = random.Random(1)  # random bases: a repeat would compress below the limit
    bases = "".join(rng.choice("ACGT") for _ in range(6000))
    lines = VCF_TEXT.splitlines()
    header = [line for line in lines if line.startswith("#")]
    record = [line for line in lines if not line.startswith("#")][0].split("\t")
    record[1:5] = ["32893296", ".", "T", "T" + bases]
    service.results["long"] = "\n".join(header + ["\t".join(record)]) + "\n"
    bad = add_job(db_url, user_id, mode=mode, data="long")
    good = add_job(db_url, user_id, mode="Variants")
    _cycles(Poller(db_url, config), 5)
    failed = job(db_url, bad)
    assert failed["status"] == "FAILED (DEPOSIT)"
    # Named with the result file's line, as every other error of the file is.
    assert f", line {len(header) + 1}: allele 13:32893296 (REF 1 bases, ALT 6001 bases) is " \
        "too long for ELLA's allele index" in failed["message"], failed["message"]
    assert job(db_url, good)["status"] == "DONE"


def test_a_submission_answered_too_late_fails_instead_of_running_twice(db_url, config, user_id):
    """The service took the job but answered after the client's timeout: it was kept SUBMITTED
    as if the service were unreachable and sent again every cycle (one task per cycle)."""
    received = []

    class SlowToAnswer(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            received.append(self.path)
            time.sleep(1.5)
            try:
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b'{"task_id": "t1"}')
            except OSError:
                pass  # the client is gone

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SlowToAnswer)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        job_id = add_job(db_url, user_id)
        service = AnnotationService(f"http://127.0.0.1:{server.server_address[1]}", timeout=0.5)
        _cycles(Poller(db_url, config, service=service), 3)
        failed = job(db_url, job_id)
        assert received == ["/api/v1/annotate"]
        assert failed["status"] == "FAILED (SUBMISSION)"
        assert "no answer after the request was sent" in failed["message"]
    finally:
        server.shutdown()
        server.server_close()


def test_a_submission_whose_answer_was_lost_with_the_database_is_not_sent_again(
        db_url, config, service, user_id):
    """The service took the job; the poller's database connection went (a restart) before it
    stored RUNNING and the task id, and the next cycle sent the job again: two tasks. The job
    is marked before its POST, and a marked job is failed, as an unanswered one is."""
    job_id = add_job(db_url, user_id, data="13-32893296-TG-T")
    poller = Poller(db_url, config, interval=0.01)
    real = poller.service.annotate

    def annotate_then_database_restart(data):
        task = real(data)
        with psycopg.connect(db_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE application_name = 'ella-polling'")
        return task
    poller.service.annotate = annotate_then_database_restart
    with pytest.raises(psycopg.OperationalError):
        poller.cycle()  # (the loop logs it and tries again)
    poller.service.annotate = real
    _cycles(poller, 3)
    assert [path for method, path in service.requests if method == "POST"] == [
        "/api/v1/annotate"]
    failed = job(db_url, job_id)
    assert failed["status"] == "FAILED (SUBMISSION)" and failed["task_id"] == ""
    assert "the annotation service may have its task" in failed["message"]


@pytest.mark.parametrize("reachable", [True, False])
def test_a_job_cancelled_while_it_was_submitted_runs_when_retried(db_url, config, service,
                                                                   user_id, caplog, reachable):
    """The user cancelled the job while the poller's POST was under way (answered, or not
    reaching the service): the job's submission mark comes off, and a task the service took
    is not used. (Left on, the user's retry was failed as a submission the poller had been
    stopped in, with a false cause.)"""
    from ella.web.app import create_app
    job_id = add_job(db_url, user_id)
    poller = Poller(db_url, config)
    real = poller.service.annotate
    sent = real if reachable else AnnotationService(closed_port_url()).annotate
    app = create_app(config, {"DB_URL": db_url, "COOKIE_SECURE": False})
    try:
        client = logged_in_client(app, db_url, "importer")
        url = f"/api/v1/import/service/jobs/{job_id}/"

        def annotate_while_cancelled(data):
            assert client.request("PATCH", url, json_body={"status": "CANCELLED"}).status == 200
            return sent(data)
        poller.service.annotate = annotate_while_cancelled
        assert poller.cycle() == []
        poller.service.annotate = real
        cancelled = job(db_url, job_id)
        assert (cancelled["status"], cancelled["task_id"]) == ("CANCELLED", "")
        first_task = service.requests.count(("POST", "/api/v1/annotate"))
        assert first_task == (1 if reachable else 0)
        assert (f"import job {job_id}: changed to CANCELLED while the annotation service "
                "took it as task" in caplog.text) is reachable
        retried = client.request("PATCH", url, json_body={"status": "SUBMITTED"})
        assert (retried.status, retried.json["task_id"]) == (200, "")
    finally:
        app._drop_connection()
    until_annotated(poller, db_url, job_id)
    assert service.requests.count(("POST", "/api/v1/annotate")) == first_task + 1
    _cycles(poller, 2)
    assert job(db_url, job_id)["status"] == "DONE"


def test_a_submission_the_service_never_got_is_sent_again(db_url, config, user_id):
    """Unreachable (nothing was sent): the mark is taken back and the job waits as it was."""
    job_id = add_job(db_url, user_id)
    poller = Poller(db_url, config, service=AnnotationService(closed_port_url()))
    poller.cycle()
    waiting = job(db_url, job_id)
    assert (waiting["status"], waiting["task_id"]) == ("SUBMITTED", "")


@pytest.mark.parametrize("trickled", ["body", "headers"])
def test_a_trickling_answer_does_not_hold_the_poller(db_url, config, user_id, trickled):
    """A service, or a proxy in front of it, sending its answer a byte at a time never
    tripped the per-read timeout: one status call held the loop (and SIGTERM) as long as it
    liked. The whole answer must come within three timeouts: also its status line and
    headers (the deadline was checked between chunks of the body only)."""
    with trickling_service(trickled) as url:
        job_id = add_job(db_url, user_id)
        with psycopg.connect(db_url) as conn:
            conn.execute("UPDATE annotationjob SET status = 'RUNNING', task_id = 't' "
                         "WHERE id = %s", (job_id,))
        poller = Poller(db_url, config, service=AnnotationService(url, timeout=0.5))
        started = time.monotonic()
        poller.cycle()
        assert time.monotonic() - started < 3
        waiting = job(db_url, job_id)
        assert waiting["status"] == "RUNNING" and "the answer took over 1.5 s" in \
            waiting["message"]


def test_a_connection_failing_after_the_deadline_is_unreachable_not_cut(monkeypatch):
    """A connection never made (a name lookup through dead resolvers, addresses each timing
    out) sent nothing: the job waits and is sent again. Failing after the deadline, it was
    taken for an answer cut short, and the POST for one the service may have started."""
    def slow_refused(*args, **kwargs):
        time.sleep(1.0)  # past the deadline of 3 x 0.2 s
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(socket, "create_connection", slow_refused)
    client = AnnotationService("http://annotation.invalid:6000", timeout=0.2)
    with pytest.raises(ServiceUnreachable) as failure:
        client.annotate("13-32893296-TG-T")
    assert not isinstance(failure.value, polling.ServiceNoAnswer)
    assert "Connection refused" in failure.value.message


def test_a_result_cut_short_of_its_content_length_is_not_taken_whole():
    """The answer read in chunks ended, as read1 does, where the connection closed: a result
    VCF the service (or a proxy) broke off at a line end was deposited as the whole file."""
    whole = (b"##fileformat=VCFv4.1\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
             + b"".join(b"13\t%d\t.\tA\tG\t.\tPASS\t.\n" % (32890000 + i) for i in range(10)))

    class Cut(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(whole)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(whole[:whole.index(b"32890005")])  # whole lines, then closed
            self.close_connection = True

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Cut)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        service = AnnotationService(f"http://127.0.0.1:{server.server_address[1]}", timeout=5)
        with pytest.raises(ServiceUnreachable):
            service.process("t")
    finally:
        server.shutdown()
        server.server_close()


def test_a_hung_service_fails_one_submission_and_is_backed_off(db_url, config, user_id):
    """A service that takes connections and never answers: each unanswered submission failed
    its job (as it may run there) and counted the service as reachable, so one cycle failed
    every waiting job. Now the first fails, the service is backed off, the others wait."""
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(16)  # the kernel accepts; nobody answers
    try:
        jobs = [add_job(db_url, user_id, data=f"job{i}") for i in range(3)]
        poller = Poller(db_url, config, service=AnnotationService(
            f"http://127.0.0.1:{hung.getsockname()[1]}", timeout=0.3))
        poller.cycle()
        assert [job(db_url, j)["status"] for j in jobs] == \
            ["FAILED (SUBMISSION)", "SUBMITTED", "SUBMITTED"]
        assert poller.unreachable_count == 1 and poller.backing_off()
    finally:
        hung.close()


def test_a_lock_held_elsewhere_during_a_deposit_is_waited_out(db_url, config, service,
                                                              user_id):
    """A lock timeout (likewise a deadlock or a full disk) passes: the job stays ANNOTATED and
    is deposited later; only errors that are the job's own fail it."""
    with psycopg.connect(db_url, autocommit=True) as admin:
        admin.execute(psycopg.sql.SQL("ALTER DATABASE {} SET lock_timeout = '300ms'").format(
            psycopg.sql.Identifier(admin.info.dbname)))
    job_id = add_job(db_url, user_id, mode="Variants")
    poller = Poller(db_url, config)
    until_annotated(poller, db_url, job_id)
    with psycopg.connect(db_url) as holder:
        holder.execute("LOCK TABLE allele IN SHARE ROW EXCLUSIVE MODE")  # another deposit
        with pytest.raises(psycopg.errors.LockNotAvailable):
            poller.cycle()  # (the loop logs it and tries again)
        assert job(db_url, job_id)["status"] == "ANNOTATED"
    poller.cycle()
    assert job(db_url, job_id)["status"] == "DONE"


@pytest.mark.parametrize("sqlstate", ["40001", "40P01"])
def test_a_deposit_rolled_back_by_a_serialization_failure_or_deadlock_is_retried(
        db_url, config, service, user_id, sqlstate):
    """PostgreSQL rolls a transaction back on a serialization failure (40001) or to break a
    deadlock (40P01) with another writer: the same deposit succeeds when tried again, so the
    job stays ANNOTATED (not FAILED (DEPOSIT)) and is deposited next cycle."""
    job_id = add_job(db_url, user_id, mode="Variants")
    poller = Poller(db_url, config)
    until_annotated(poller, db_url, job_id)
    with psycopg.connect(db_url) as conn:  # the deposit's first allele: rolled back by the server
        conn.execute(f"""
            CREATE FUNCTION test_roll_back() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'rolled back' USING ERRCODE = '{sqlstate}'; END $$;
            CREATE TRIGGER test_roll_back BEFORE INSERT ON allele
            FOR EACH STATEMENT EXECUTE FUNCTION test_roll_back();""")
    with pytest.raises(psycopg.errors.lookup(sqlstate)):
        poller.cycle()  # (the loop logs it and tries again)
    waiting = job(db_url, job_id)
    assert (waiting["status"], waiting["message"]) == ("ANNOTATED", "")
    assert count(db_url, "SELECT count(*) FROM allele") == 0
    with psycopg.connect(db_url) as conn:
        conn.execute("DROP TRIGGER test_roll_back ON allele")
    assert poller.cycle() == [(job_id, "ANNOTATED", "DONE")]
    assert count(db_url, "SELECT count(*) FROM allele") > 0


def test_a_deposit_canceled_by_the_statement_timeout_fails_only_its_job(db_url, config,
                                                                        service, user_id):
    """A deposit that outlasts the site's statement_timeout will outlast it again: counted as
    a passing condition, it was retried every cycle, and the jobs after it never ran."""
    with psycopg.connect(db_url, autocommit=True) as admin:
        admin.execute(psycopg.sql.SQL("ALTER DATABASE {} SET statement_timeout = '300ms'")
                      .format(psycopg.sql.Identifier(admin.info.dbname)))
    slow = add_job(db_url, user_id, mode="Variants")
    poller = Poller(db_url, config)
    until_annotated(poller, db_url, slow)
    with psycopg.connect(db_url) as holder:
        holder.execute("LOCK TABLE allele IN SHARE ROW EXCLUSIVE MODE")  # a long writer
        poller.cycle()
    failed = job(db_url, slow)
    assert failed["status"] == "FAILED (DEPOSIT)"
    assert "statement timeout" in failed["message"], failed["message"]
    later = add_job(db_url, user_id, mode="Variants")
    _cycles(poller, 4)
    assert job(db_url, later)["status"] == "DONE"


def test_a_deposit_over_a_site_limit_fails_only_its_job(db_url, config, service, user_id):
    """A site's limit exceeded (53400, e.g. temp_file_limit reached by a large job's sort) is
    reached again by the same deposit: the job fails with the cause, and the jobs after it are
    deposited. (Counted as a passing condition, it was retried every cycle ahead of them, and
    the loop backed off as in an outage.)"""
    big, small = vcf_half(1), vcf_half(2)
    first_position = next(int(line.split("\t")[1]) for line in big.splitlines()
                          if not line.startswith("#"))
    with psycopg.connect(db_url) as conn:  # over the limit: the big job's alleles only
        conn.execute(f"""
            CREATE FUNCTION test_over_limit() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'temporary file size exceeds temp_file_limit (0kB)'
                  USING ERRCODE = '53400'; END $$;
            CREATE TRIGGER test_over_limit BEFORE INSERT ON allele FOR EACH ROW
            WHEN (NEW.vcf_pos = {first_position}) EXECUTE FUNCTION test_over_limit();""")
    over = add_job(db_url, user_id, mode="Variants", data=big)
    poller = Poller(db_url, config)
    until_annotated(poller, db_url, over)
    assert poller.cycle() == [(over, "ANNOTATED", "FAILED (DEPOSIT)")]
    failed = job(db_url, over)
    assert "temp_file_limit" in failed["message"], failed["message"]
    assert poller.retry_at is None  # no back-off: the database is fine
    later = add_job(db_url, user_id, mode="Variants", data=small)
    _cycles(poller, 4)
    assert job(db_url, later)["status"] == "DONE"
    assert count(db_url, "SELECT count(*) FROM allele WHERE vcf_pos = %s",
                 (first_position,)) == 0


def test_unreachable_service_waits_with_backoff_and_then_continues(
        db_url, config, service, user_id):
    job_id = add_job(db_url, user_id)
    now = [1000.0]
    poller = Poller(db_url, config, service=AnnotationService(closed_port_url(), timeout=2),
                    interval=5, max_backoff=20, clock=lambda: now[0])
    assert poller.cycle() == []
    waiting = job(db_url, job_id)
    assert waiting["status"] == "SUBMITTED" and "not reachable" in waiting["message"]
    assert (poller.unreachable_count, poller.retry_at) == (1, 1005.0)
    now[0] = 1004.0
    poller.cycle()                                  # still backing off: no attempt
    assert poller.unreachable_count == 1
    delays = []
    for _ in range(4):
        now[0] = poller.retry_at
        poller.cycle()
        delays.append(poller.retry_at - now[0])
    assert delays == [10, 20, 20, 20]               # doubling, capped at max_backoff
    poller.service = AnnotationService(service.url)  # the service is back
    now[0] = poller.retry_at
    assert poller.cycle() == [(job_id, "SUBMITTED", "RUNNING")]
    assert poller.unreachable_count == 0
    assert job(db_url, job_id)["message"] == ""


def test_unreachable_while_running_keeps_the_job_running(db_url, config, service, user_id):
    job_id = add_job(db_url, user_id)
    poller = Poller(db_url, config)
    poller.cycle()
    poller.service = AnnotationService(closed_port_url(), timeout=2)
    poller.cycle()
    assert job(db_url, job_id)["status"] == "RUNNING"


def test_sample_job_runs_preimport_and_is_not_deposited_without_auto_deposit(
        db_url, config, service, user_id):
    job_id = add_job(db_url, user_id, data=None, sample_id="Diag-01", priority=3)
    service.sample_results["Diag-01"] = VCF_TEXT
    poller = Poller(db_url, config)
    poller.cycle()
    assert job(db_url, job_id)["status"] == "RUNNING"
    content_type, body = service.sample_submissions[0]
    assert b'name="sample_id"\r\n\r\n"Diag-01"' in body
    assert b'name="GP_NAME"\r\n\r\n"HBOC"' in body and b'name="PRIORITY"\r\n\r\n"3"' in body
    assert b'filename="regions.bed"' in body and b"#chromosome\ttxStart\ttxEnd\n2\t" in body
    assert b"\n13\t32889644\t32974405\n" in body
    # The default pre-import script sends the panel as ELLA's does (import.md 7.6, 4.6).
    for field, name, line in (
            ("TRANSCRIPTS", "HBOC_v01_genes_transcripts.tsv", b"\tNM_000059.3\t0.0\t+\t"),
            ("PHENOTYPES", "HBOC_v01_phenotypes.tsv", b"HGNC id\tHGNC symbol\tinheritance"),
            ("EXON_REGIONS", "HBOC_v01_exon_regions.bed", b"\tBRCA2__1101__NM_000059.3__exon")):
        assert f'name="{field}"; filename="{name}"'.encode() in body, field
        assert line in body, field
    assert b'name="target"\r\n\r\n"ella"' in body
    for _ in range(3):
        poller.cycle()
    done = job(db_url, job_id)
    assert (done["status"], done["message"]) == ("DONE",
                                                 "Analysis has not been automatically imported")
    assert count(db_url, "SELECT count(*) FROM analysis") == 0
    # With automatic deposit the same job type is deposited.
    config["import"]["automatic_deposit_with_sample_id"] = True
    second = add_job(db_url, user_id, data=None, sample_id="Diag-01", analysis_name="re")
    for _ in range(4):
        poller.cycle()
    assert job(db_url, second)["status"] == "DONE"
    assert count(db_url, "SELECT count(*) FROM analysis WHERE name = 're.HBOC_v01'") == 1


def test_a_sample_append_job_left_undeposited_may_be_retried(db_url, config, service, user_id):
    """DONE "Analysis has not been automatically imported" appended nothing: its retry was
    refused (409) as if it had appended its samples."""
    from ella.web.app import create_app
    service.sample_results["S1"] = VCF_TEXT
    job_id = add_job(db_url, user_id, data=None, sample_id="S1", analysis_name="fam.HBOC_v01",
                     create_or_append="Append")
    _cycles(Poller(db_url, config), 4)
    assert job(db_url, job_id)["message"] == "Analysis has not been automatically imported"
    app = create_app(config, {"DB_URL": db_url, "COOKIE_SECURE": False})
    try:
        client = logged_in_client(app, db_url, "importer")
        retry = client.request("PATCH", f"/api/v1/import/service/jobs/{job_id}/",
                               json_body={"status": "SUBMITTED"})
        assert retry.status == 200, retry.body
    finally:
        app._drop_connection()


def test_a_deposited_append_job_is_not_made_retryable_by_its_message(db_url, config, service,
                                                                     user_id):
    """The retry check read "left undeposited" from the job's message, which a client may
    PATCH: giving a deposited Append job the poller's message made it run again, and the
    analysis held the appended sample twice."""
    from ella.web.app import create_app
    config["import"]["automatic_deposit_with_sample_id"] = True
    _cycles(Poller(db_url, config), 4)
    created = add_job(db_url, user_id, data=vcf_half(1), analysis_name="fam")
    _cycles(Poller(db_url, config), 4)
    service.sample_results["S2"] = vcf_half(2)
    appended = add_job(db_url, user_id, data=None, sample_id="S2",
                       analysis_name="fam.HBOC_v01", create_or_append="Append")
    _cycles(Poller(db_url, config), 4)
    assert [job(db_url, j)["status"] for j in (created, appended)] == ["DONE", "DONE"]
    app = create_app(config, {"DB_URL": db_url, "COOKIE_SECURE": False})
    try:
        client = logged_in_client(app, db_url, "importer")
        path = f"/api/v1/import/service/jobs/{appended}/"
        faked = client.request("PATCH", path, json_body={
            "message": "Analysis has not been automatically imported"})
        assert faked.status == 400 and "is the poller's to set" in faked.json["message"]
        assert client.request("PATCH", path, json_body={"status": "SUBMITTED"}).status == 409
        # Any other message is the client's to set (api.md 4.24).
        assert client.request("PATCH", path, json_body={"message": "checked"}).status == 200
    finally:
        app._drop_connection()
    assert count(db_url, "SELECT count(*) FROM sample") == 2


def _sample_job_with_script(db_url, config, user_id, tmp_path, script_body):
    """One cycle of a sample job whose pre-import script is `script_body` (sh); the job."""
    script = tmp_path / "pre.sh"
    script.write_text(f"#!/bin/sh\n{script_body}\n")
    script.chmod(0o755)
    config["import"]["preimport_script"] = str(script)
    job_id = add_job(db_url, user_id, data=None, sample_id="Diag-01")
    Poller(db_url, config).cycle()
    return job(db_url, job_id)


def test_failing_preimport_script_fails_the_submission(db_url, config, service, user_id,
                                                        tmp_path):
    failed = _sample_job_with_script(db_url, config, user_id, tmp_path,
                                     "echo 'no panel export' >&2\nexit 3")
    assert failed["status"] == "FAILED (SUBMISSION)"
    assert "exit 3" in failed["message"] and "no panel export" in failed["message"]


def test_a_nul_in_a_pre_import_scripts_error_fails_the_job(db_url, config, service, user_id,
                                                           tmp_path):
    """The job's update failed on the NUL: it stayed SUBMITTED and the script ran again
    every cycle."""
    failed = _sample_job_with_script(db_url, config, user_id, tmp_path,
                                     "printf 'bad\\000panel' >&2\nexit 3")
    assert failed["status"] == "FAILED (SUBMISSION)"
    assert "bad\ufffdpanel" in failed["message"]


@pytest.mark.parametrize("output, message", [
    ("[]", 'must print {"variables": {...}, "files": {...}}'),
    ('{"files": {"TRANSCRIPTS": "/nonexistent/t.tsv"}}',
     "file TRANSCRIPTS ('/nonexistent/t.tsv') cannot be read"),
])
def test_a_pre_import_scripts_unusable_output_fails_the_submission(
        db_url, config, service, user_id, tmp_path, output, message):
    failed = _sample_job_with_script(db_url, config, user_id, tmp_path, f"echo '{output}'")
    assert failed["status"] == "FAILED (SUBMISSION)"
    assert message in failed["message"], failed["message"]
    assert not service.sample_submissions


# --- never twice ----------------------------------------------------------------------------

def until_annotated(poller, db_url, job_id, cycles=10):
    """Cycle until the job is ANNOTATED (three cycles: submit, running, result). A busy CI
    machine can make one of the fake service's answers miss a cycle; the retry is then due
    at once instead of after the back-off."""
    for _ in range(cycles):
        poller.retry_at = None
        poller.cycle()
        if job(db_url, job_id)["status"] == "ANNOTATED":
            return
    raise AssertionError(f"job {job_id} is {job(db_url, job_id)['status']} after {cycles} "
                         f"cycles; {job(db_url, job_id)['message']!r}")


def test_crash_mid_deposit_rolls_back_and_restart_deposits_once(
        db_url, config, service, user_id, monkeypatch):
    job_id = add_job(db_url, user_id)
    poller = Poller(db_url, config)
    until_annotated(poller, db_url, job_id)
    real = polling.deposit_analysis

    def deposit_then_die(*args, **kwargs):
        real(*args, **kwargs)
        raise KeyboardInterrupt  # the process dies after writing, before the commit
    monkeypatch.setattr(polling, "deposit_analysis", deposit_then_die)
    with pytest.raises(KeyboardInterrupt):
        poller.cycle()
    assert job(db_url, job_id)["status"] == "ANNOTATED"
    assert count(db_url, "SELECT count(*) FROM analysis") == 0
    monkeypatch.setattr(polling, "deposit_analysis", real)
    restarted = Poller(db_url, config)
    assert restarted.cycle() == [(job_id, "ANNOTATED", "DONE")]
    assert restarted.cycle() == []
    assert count(db_url, "SELECT count(*) FROM analysis") == 1


def test_a_stale_poller_does_not_deposit_a_job_already_done(db_url, config, service, user_id):
    job_id = add_job(db_url, user_id)
    first, second = Poller(db_url, config), Poller(db_url, config)
    until_annotated(first, db_url, job_id)
    assert first.cycle() == [(job_id, "ANNOTATED", "DONE")]
    with psycopg.connect(db_url, autocommit=True) as conn:  # `second` saw it ANNOTATED before
        assert second._annotated(conn, job_id) is None
    assert count(db_url, "SELECT count(*) FROM analysis") == 1
    assert job(db_url, job_id)["status"] == "DONE"


def test_a_job_resubmitted_while_its_result_was_fetched_is_left_to_its_new_task(
        db_url, config, service, user_id):
    """While this poller fetched the result of the job's task, the job got another task
    (another poller, or this one restarted, submitted it again and saw it annotated): the
    result fetched is not the job's any more. It is not deposited, and the job stays
    ANNOTATED with its new task, whose result the next cycle deposits."""
    job_id = add_job(db_url, user_id)
    poller = Poller(db_url, config)
    until_annotated(poller, db_url, job_id)
    old_task = job(db_url, job_id)["task_id"]
    new_task = AnnotationService(service.url).annotate(vcf_half(2))
    service.process_gate = threading.Event()
    service.process_started.clear()
    handled = []
    cycle = threading.Thread(target=lambda: handled.append(poller.cycle()))
    cycle.start()
    try:
        assert _wait(service.process_started.is_set)  # fetching the old task's result
        with psycopg.connect(db_url) as conn:
            conn.execute("UPDATE annotationjob SET task_id = %s WHERE id = %s",
                         (new_task, job_id))
    finally:
        service.process_gate.set()
        cycle.join(120)
    assert handled == [[]]
    left = job(db_url, job_id)
    assert (left["status"], left["task_id"]) == ("ANNOTATED", new_task)
    assert count(db_url, "SELECT count(*) FROM analysis") == 0
    assert poller.cycle() == [(job_id, "ANNOTATED", "DONE")]
    processed = [path for method, path in service.requests if "/process/" in path]
    assert processed[-2:] == [f"/api/v1/process/{old_task}", f"/api/v1/process/{new_task}"]
    assert count(db_url, "SELECT count(*) FROM analysis") == 1


def _env(db_url, service_url):
    env = {k: v for k, v in os.environ.items() if k not in ("ELLA_CONFIG", "DB_URL")}
    env.update(DB_URL=db_url, PYTHONPATH=str(ROOT), ANNOTATION_SERVICE_URL=service_url)
    return env


def _wait(predicate, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("name, mode, problem", [
    ("gone.py", None, "no such file"),
    ("pre.sh", 0o644, "no such executable file (a script that is no .py file must be "
                      "executable: chmod +x)"),
    ("absent.sh", None, "no such executable file (a script that is no .py file must be "
                        "executable: chmod +x)"),
])
def test_the_loop_refuses_to_start_with_a_pre_import_script_it_cannot_run(
        db_url, service, tmp_path, name, mode, problem):
    """A plain path (not `!file`) was never checked: every sample job failed at submission,
    each with the same error, while the loop ran on."""
    script = tmp_path / name
    if mode is not None:
        script.write_text("#!/bin/sh\necho '{}'\n")
        script.chmod(mode)
    shipped = (ROOT / "ella" / "default_config.yaml").read_text()
    assert "  preimport_script: !file 'ops/preimport.py'\n" in shipped
    config_file = tmp_path / "ella.yaml"

    def configure(path):
        config_file.write_text(shipped.replace(
            "  preimport_script: !file 'ops/preimport.py'\n",
            f"  preimport_script: {json.dumps(str(path))}\n"))
    configure(script)
    env = dict(_env(db_url, service.url), ELLA_CONFIG=str(config_file))
    result = subprocess.run([str(ROOT / "bin" / "ella-polling"), "--once"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: import.preimport_script ({script}): {problem}")
    assert service.requests == []
    script.parent.joinpath("ok.sh").write_text("#!/bin/sh\necho '{}'\n")
    script.parent.joinpath("ok.sh").chmod(0o755)
    configure(script.parent / "ok.sh")
    assert subprocess.run([str(ROOT / "bin" / "ella-polling"), "--once"], env=env,
                          capture_output=True, text=True, timeout=120).returncode == 0


def test_killing_and_restarting_the_loop_mid_job_neither_loses_nor_doubles_it(
        db_url, service, user_id):
    job_id = add_job(db_url, user_id)
    service.process_gate = threading.Event()
    env = _env(db_url, service.url)
    proc = subprocess.Popen([sys.executable, "-m", "ella.cli.polling", "--interval", "0.1"],
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert _wait(service.process_started.is_set)   # the loop is fetching the result
        proc.kill()                                     # SIGKILL mid-job
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert job(db_url, job_id)["status"] == "ANNOTATED"
    service.process_gate.set()
    result = subprocess.run([str(ROOT / "bin" / "ella-polling"), "--once"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"job {job_id}: ANNOTATED -> DONE" in result.stdout
    again = subprocess.run([str(ROOT / "bin" / "ella-polling"), "--once"], env=env,
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and again.stdout == ""
    assert job(db_url, job_id)["status"] == "DONE"
    assert count(db_url, "SELECT count(*) FROM analysis") == 1


def test_sigterm_stops_the_loop_cleanly(db_url, service, user_id):
    job_id = add_job(db_url, user_id)
    proc = subprocess.Popen([sys.executable, "-m", "ella.cli.polling", "--interval", "0.1"],
                            stderr=subprocess.PIPE, text=True, env=_env(db_url, service.url))
    try:
        assert _wait(lambda: job(db_url, job_id)["status"] == "DONE")
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert "polling stopped" in stderr
    assert count(db_url, "SELECT count(*) FROM analysis") == 1


@pytest.fixture
def role_without_job_updates(db_url):
    """A conninfo of a login role that may read annotationjob but not update it."""
    role = f"ella_poll_{os.getpid()}_{random.randrange(10 ** 6)}"
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("CREATE ROLE {} LOGIN").format(psycopg.sql.Identifier(role)))
        conn.execute(psycopg.sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(
            psycopg.sql.Identifier(role)))
    yield psycopg.conninfo.make_conninfo(db_url, user=role)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE usename = %s", (role,))
        conn.execute(psycopg.sql.SQL("DROP OWNED BY {}").format(psycopg.sql.Identifier(role)))
        conn.execute(psycopg.sql.SQL("DROP ROLE {}").format(psycopg.sql.Identifier(role)))


@pytest.mark.parametrize("refusal", ["read-only", "privilege"])
def test_a_database_refusing_writes_is_a_database_error_with_backoff(
        request, db_url, service, user_id, refusal):
    """A standby DB_URL points at after a failover, a maintenance freeze (SQLSTATE 25006),
    or a role the site has not granted UPDATE (42501): neither is an OperationalError, and
    the loop logged a traceback as an unexpected error every interval. Each is one line and
    backoff, as for an outage, and the job waits."""
    job_id = add_job(db_url, user_id)
    if refusal == "read-only":
        url = psycopg.conninfo.make_conninfo(
            db_url, options="-c default_transaction_read_only=on")
        said = "cannot execute SELECT FOR UPDATE in a read-only transaction"
    else:
        url = request.getfixturevalue("role_without_job_updates")
        said = "permission denied for table annotationjob"
    proc = subprocess.Popen([sys.executable, "-m", "ella.cli.polling", "--interval", "0.1"],
                            stderr=subprocess.PIPE, text=True, env=_env(url, service.url))
    try:
        time.sleep(3)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert f"database error: {said}" in stderr, stderr
    assert "Traceback" not in stderr and "unexpected error" not in stderr
    assert job(db_url, job_id)["status"] == "SUBMITTED"


@pytest.mark.parametrize("sqlstate, database_state", [
    ("25P03", True),   # the site's idle_in_transaction_session_timeout ended the session
    ("57P05", True),   # its idle_session_timeout
    ("22001", False),  # a defect: said with its traceback
])
def test_what_the_loop_counts_as_the_databases_state(caplog, sqlstate, database_state):
    """An error out of a cycle on a session the server ended (25P03 is an InternalError) was
    logged as an unexpected error with a traceback every interval, without backoff."""
    import types
    poller = Poller("postgresql:///unused", {}, service=types.SimpleNamespace(shown="svc"),
                    interval=0.01, max_backoff=1)
    calls = []

    def cycle():
        calls.append(1)
        poller.stopping = len(calls) >= 2
        raise psycopg.errors.lookup(sqlstate)("terminating connection")
    poller.cycle = cycle
    caplog.set_level(logging.INFO)
    poller.run()
    said_once = "database error: terminating connection; retrying in" in caplog.text
    traceback = any(r.exc_info for r in caplog.records)
    assert (said_once, traceback) == (database_state, not database_state), caplog.text


def test_once_against_an_unreachable_service_exits_1_and_keeps_the_job(db_url, user_id):
    job_id = add_job(db_url, user_id)
    result = subprocess.run([str(ROOT / "bin" / "ella-polling"), "--once"],
                            env=_env(db_url, closed_port_url()), capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 1
    assert "not reachable" in result.stderr
    assert job(db_url, job_id)["status"] == "SUBMITTED"


@pytest.mark.parametrize("url", ["annotation.lab.local", "ftp://anno/", "http://",
                                 "file:///tmp/x"])
def test_a_malformed_service_url_is_refused_at_start(db_url, user_id, url):
    """Not at each job: every job would fail with "unknown url type"."""
    job_id = add_job(db_url, user_id)
    result = subprocess.run([str(ROOT / "bin" / "ella-polling"), "--once"],
                            env=_env(db_url, url), capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr == ("error: app.annotation_service (ANNOTATION_SERVICE_URL) must be "
                             f"an http:// or https:// URL with a host, got {url!r}\n")
    assert job(db_url, job_id)["status"] == "SUBMITTED"


@pytest.mark.parametrize("url", [
    "http://svcuser:S3cretPW@{host}",
    # An unencoded "#", "?" or "/" ends the URL's host part before the password's "@".
    "http://svcuser:S3c#retPW@{host}", "http://svcuser:S3c?retPW@{host}",
    "http://svcuser:S3c/retPW@{host}",
    "svcuser:S3cretPW@{host}",  # no scheme: "svcuser" was read as one
])
def test_the_service_urls_password_is_never_logged_or_stored(db_url, user_id, url,
                                                             ella_config):
    """Refused when the config is read, without quoting the URL: by every program (the
    poller's log and job messages, the API's sample search errors and its open config/)."""
    from ella.config import ConfigError, validate_config
    job_id = add_job(db_url, user_id)
    url = url.format(host=closed_port_url().replace("http://", ""))
    result = subprocess.run([str(ROOT / "bin" / "ella-polling"), "--once"],
                            env=_env(db_url, url), capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and result.stderr == (
        f"error: {ROOT / 'ella' / 'default_config.yaml'}: app.annotation_service "
        "(ANNOTATION_SERVICE_URL): must not carry a user name or password (no '@'); it is "
        "shown in logs, job messages and GET /api/v1/config/\n")
    assert job(db_url, job_id)["status"] == "SUBMITTED"
    config = copy.deepcopy(ella_config)
    config["app"]["annotation_service"] = url
    with pytest.raises(ConfigError) as refused:
        validate_config(config)
    # The client refuses it too when handed one directly.
    with pytest.raises(polling.ServiceError) as refused_by_client:
        AnnotationService(url)
    for text in (result.stderr, str(refused.value), str(refused_by_client.value)):
        assert "retPW" not in text and "svcuser" not in text


def test_database_without_tables_is_waited_for(empty_db_url, config):
    assert Poller(empty_db_url, config).cycle() == []


def test_append_to_a_family_analysis_is_refused(db_url, ella_config):
    from deposit_helpers import TEST_ANALYSIS_001, deposit
    from ella.deposit.analysis import deposit_analysis
    from ella.deposit.analysis_config import resolve_analysis_config
    from ella.deposit.variants import DepositError
    add_test_panels(db_url)
    deposit(db_url, ella_config, TEST_ANALYSIS_001)
    config = resolve_analysis_config(TEST_ANALYSIS_001)
    with psycopg.connect(db_url) as conn:
        with pytest.raises(DepositError, match="^Appending to a family analysis is not "
                                               r"supported\.$"):
            deposit_analysis(conn, ella_config, config, append=True)


def test_a_second_polling_loop_stands_by(db_url, config, service, user_id):
    """Two polling loops on one database (two containers, a restart overlapping the old
    process): while one holds the lock the other submits nothing, so no job goes to the
    annotation service twice; it takes over when the first is gone."""
    job_id = add_job(db_url, user_id)
    with psycopg.connect(db_url, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(hashtext('ella.polling'))")
        poller = Poller(db_url, config, interval=0.01)
        assert poller.cycle() == [] and poller.cycle() == []
        assert poller.standing_by and service.requests == []
        assert job(db_url, job_id)["status"] == "SUBMITTED"
    assert poller.cycle() == [(job_id, "SUBMITTED", "RUNNING")]
    assert not poller.standing_by and len(service.requests) == 1


def test_a_cycle_releases_the_polling_lock_before_it_ends(db_url, config, service, user_id,
                                                         monkeypatch):
    """The lock that lets one polling loop work at a time is released by the cycle itself,
    not left to the server's ending of the closed session: a busy server ended it late, and
    the next cycle, finding it taken, skipped its turn."""
    from ella import db as ella_db
    real_connect = ella_db.connect
    seen = []

    def recording_connect(*args, **kwargs):
        conn = real_connect(*args, **kwargs)
        real_execute = conn.execute

        def execute(query, params=None, **kw):
            seen.append(str(query))
            return real_execute(query, params, **kw)
        conn.execute = execute
        return conn
    monkeypatch.setattr(polling, "connect", recording_connect)
    add_job(db_url, user_id)
    Poller(db_url, config).cycle()
    assert any("pg_try_advisory_lock" in q for q in seen)
    assert "pg_advisory_unlock" in seen[-1]
    with psycopg.connect(db_url, autocommit=True) as other:
        assert other.execute("SELECT pg_try_advisory_lock(hashtext('ella.polling'))"
                             ).fetchone()[0]


@pytest.mark.parametrize("code", [502, 503, 504])
def test_a_gateways_unavailable_answer_is_waited_out_not_the_jobs_failure(
        db_url, config, service, user_id, code):
    """A proxy in front of a restarting service answers 502/503/504 (no JSON message): every
    job failed in one cycle, those already annotated had to be annotated again, and no back-off
    held the queue."""
    running, annotated, submitted = (add_job(db_url, user_id, analysis_name=f"gw{i}")
                                     for i in range(3))
    poller = Poller(db_url, config)
    poller.cycle()                                     # all three RUNNING
    until_annotated(poller, db_url, annotated)         # (the others follow it)
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE annotationjob SET status = 'RUNNING' WHERE id = %s", (running,))
        conn.execute("UPDATE annotationjob SET status = 'SUBMITTED', task_id = '' "
                     "WHERE id = %s", (submitted,))
    for kind in ("annotate", "status", "process", "alive"):
        service.fail[kind] = (code, None)
    for _ in range(3):
        poller.retry_at = 0
        poller.cycle()
        assert poller.unreachable_count >= 1
    # (A submission answered 502 or 504 may have reached the service: see the next test.)
    assert [job(db_url, j)["status"] for j in (running, annotated, submitted)] == \
        ["RUNNING", "ANNOTATED", "SUBMITTED" if code == 503 else "FAILED (SUBMISSION)"]
    assert f"HTTP {code}" in job(db_url, annotated)["message"]
    service.fail.clear()
    poller.retry_at = 0
    for _ in range(4):
        poller.cycle()
    assert [job(db_url, j)["status"] for j in (running, annotated)] == ["DONE", "DONE"]
    assert job(db_url, submitted)["status"] == ("DONE" if code == 503
                                                else "FAILED (SUBMISSION)")


def test_a_submission_answered_502_by_a_proxy_is_not_sent_again(db_url, config, service,
                                                                 user_id):
    """The proxy may have passed the POST on before it failed: the job is failed as one whose
    answer never came (sent again, it could run twice), and the service is backed off."""
    job_id = add_job(db_url, user_id)
    service.fail["annotate"] = (502, None)
    poller = Poller(db_url, config)
    poller.cycle()
    failed = job(db_url, job_id)
    assert failed["status"] == "FAILED (SUBMISSION)"
    assert "may have started the task" in failed["message"]
    assert poller.unreachable_count == 1


def test_a_pre_import_scripts_traceback_is_one_line_in_the_job(db_url, config, service,
                                                               user_id, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="ella.polling")
    failed = _sample_job_with_script(
        db_url, config, user_id, tmp_path,
        "printf 'Traceback (most recent call last):\\n  File \"/site/pre.py\", line 63\\n"
        "KeyError: HBOC\\n\\n' >&2\nexit 1")
    assert failed["status"] == "FAILED (SUBMISSION)"
    assert failed["message"] == "RuntimeError: pre-import script failed (exit 1): KeyError: HBOC"
    assert any("/site/pre.py" in r.getMessage() for r in caplog.records)


def test_working_folders_a_killed_poller_left_are_removed_at_start(db_url, service, user_id,
                                                                   tmp_path):
    """Killed outright mid-deposit (supervisord's SIGKILL after its stop timeout, the OOM
    killer), the poller left the patient's annotated VCF in the temporary directory for good,
    a copy per kill. A folder a live poller works in is left alone."""
    left = tmp_path / "ella-importjob-abc123"
    left.mkdir()
    (left / "job-1.vcf").write_text("patient data\n")
    (left / polling.IN_USE).write_bytes(b"")
    env = dict(_env(db_url, service.url), TMPDIR=str(tmp_path))
    with polling.working_folder("ella-preimport-", base=str(tmp_path)) as in_use:
        result = subprocess.run([str(ROOT / "bin" / "ella-polling"), "--once"], env=env,
                                capture_output=True, text=True, timeout=120)
        assert os.path.isdir(in_use)  # its lock is held: a poller working in it
    assert result.returncode == 0, result.stderr
    assert not left.exists()
    assert "removed 1 working folder(s) a stopped poller left" in result.stderr


def test_a_working_folder_without_its_lock_file_is_removed_only_once_it_is_old(
        db_url, service, tmp_path):
    """A working folder without its IN_USE file may be one a poller is just making (the
    folder comes before its lock file): left alone for an hour, then taken for one a killed
    poller left and removed."""
    young = tmp_path / "ella-preimport-young1"
    young.mkdir()
    (young / "job-2.vcf").write_text("being written\n")
    old = tmp_path / "ella-importjob-old1"
    old.mkdir()
    (old / "job-1.vcf").write_text("patient data\n")
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    env = dict(_env(db_url, service.url), TMPDIR=str(tmp_path))
    result = subprocess.run([str(ROOT / "bin" / "ella-polling"), "--once"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert not old.exists()
    assert (young / "job-2.vcf").read_text() == "being written\n"
    assert "removed 1 working folder(s) a stopped poller left" in result.stderr


def test_a_job_waiting_for_another_import_can_be_deleted_meanwhile(db_url, config, service,
                                                                   user_id):
    """The poller locked the job's row and then waited for the import lock: the user's DELETE
    (or PATCH) waited too, 30 s and a 503, and the job was deposited after all."""
    from ella.deposit.variants import IMPORT_LOCK
    from helpers import wait_for_lock_wait
    job_id = add_job(db_url, user_id)
    poller = Poller(db_url, config)
    until_annotated(poller, db_url, job_id)
    with psycopg.connect(db_url) as other_import:
        other_import.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (IMPORT_LOCK,))
        cycle = threading.Thread(target=poller.cycle)
        cycle.start()
        wait_for_lock_wait(db_url)
        with psycopg.connect(db_url, autocommit=True) as user:
            user.execute("SET lock_timeout = '2s'")
            user.execute("DELETE FROM annotationjob WHERE id = %s", (job_id,))
        other_import.rollback()
    cycle.join(60)
    assert count(db_url, "SELECT count(*) FROM analysis") == 0


def test_a_result_is_held_once_while_it_is_read():
    """The chunks read were joined at the end: a result VCF was held twice (a 400 MiB result
    took 800 MiB of the poller's memory, against a 2 GiB limit per result)."""
    import tracemalloc
    from http.server import BaseHTTPRequestHandler
    from annotation_service import serving
    size = 32 << 20
    payload = b"#" * size

    class Result(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            self.wfile.write(payload)

    with serving(Result) as url:
        tracemalloc.start()
        try:
            result = AnnotationService(url).process("t1")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert len(result) == size
    assert peak < 1.5 * size, peak


@pytest.mark.parametrize("code", [502, 504])
def test_results_a_proxy_fails_on_while_the_service_answers_wait_without_holding_the_queue(
        db_url, config, service, user_id, code):
    """A proxy timing out on a large result (or a service failing on one task) is no service
    away: backed off as one, each try held every other job. The jobs wait behind the others,
    their messages counting the tries, the service asked `GET /status` once a cycle; none is
    failed (a failed job must be annotated again)."""
    jobs = [add_job(db_url, user_id, analysis_name=f"px{i}") for i in range(3)]
    service.fail["process"] = (code, None)
    poller = Poller(db_url, config)
    for _ in range(10):
        poller.cycle()
        if {job(db_url, j)["status"] for j in jobs} == {"ANNOTATED"}:
            break
    poller.cycle()  # each job's result asked for at least once

    def tries(job_id):
        return int(re.search(r"will retry \(tried (\d+) times?\)$",
                             job(db_url, job_id)["message"]).group(1))
    start = {j: tries(j) for j in jobs}
    for cycles in range(1, 6):
        before = len(service.requests)
        assert poller.cycle() == []
        asked = [path for _, path in service.requests[before:]]
        assert sum(path.endswith("/status") for path in asked) == 1, asked
        assert poller.unreachable_count == 0 and not poller.backing_off()
        for job_id in jobs:
            assert job(db_url, job_id)["status"] == "ANNOTATED"
            assert tries(job_id) == start[job_id] + cycles
    assert "(the service answers otherwise)" in job(db_url, jobs[0])["message"]
    service.fail.clear()
    poller.cycle()
    assert {job(db_url, j)["status"] for j in jobs} == {"DONE"}
