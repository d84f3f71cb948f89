"""Import-job routes (api.md 2.12, 4.24; import.md 7.2, J1, J2, J4)."""

import copy

import psycopg
import pytest

from annotation_service import closed_port_url
from api_helpers import BODY, JOBS, add_user, logged_in_client
from deposit_helpers import BRCA_VCF, add_test_panels, deposit
from test_workflow_rounds import _race


def make_app(db_url, ella_config, url, max_unfinished=None):
    from ella.web.app import create_app
    config = copy.deepcopy(ella_config)
    config["app"]["annotation_service"] = url
    if max_unfinished is not None:
        config["import"]["max_unfinished_jobs_per_user"] = max_unfinished
    return create_app(config, {"DB_URL": db_url, "COOKIE_SECURE": False})


@pytest.fixture
def app(db_url, ella_config, service):
    add_test_panels(db_url)
    add_user(db_url, "importer", "importgroup", panels=[("HBOC", "v01")])
    add_user(db_url, "other", "othergroup", panels=[("HBOC", "v1.0.0")])
    application = make_app(db_url, ella_config, service.url)
    yield application
    application._drop_connection()


def test_j1_running_reflects_the_service(app, db_url, ella_config):
    from api_client import Client
    assert Client(app).get("/api/v1/import/service/running/").json == {"running": True}
    down = make_app(db_url, ella_config, closed_port_url())
    assert Client(down).get("/api/v1/import/service/running/").json == {"running": False}
    down._drop_connection()
    # No usable service configured (an air-gapped site): not running, not a 503.
    for unusable in ("", "172.17.0.1:6000", "http://[::1", "http://annotation..service:6000"):
        none = make_app(db_url, ella_config, unusable)
        result = Client(none).get("/api/v1/import/service/running/")
        assert (result.status, result.json) == (200, {"running": False}), unusable
        none._drop_connection()


def test_running_is_asked_once_in_a_few_seconds(app, service, monkeypatch):
    """Open to anyone and asked often by the UI: the service's answer is kept a few seconds
    (each call held an API worker for as long as the service took)."""
    from api_client import Client
    from ella.web.routes import importjobs
    anonymous = Client(app)
    for _ in range(3):
        assert anonymous.get("/api/v1/import/service/running/").json == {"running": True}
    assert service.requests.count(("GET", "/api/v1/status")) == 1
    monkeypatch.setattr(importjobs, "RUNNING_KEPT_SECONDS", 0.0)  # the seconds gone by
    service.fail["alive"] = (500, "down for maintenance")
    assert anonymous.get("/api/v1/import/service/running/").json == {"running": False}
    assert service.requests.count(("GET", "/api/v1/status")) == 2


def test_a_service_slower_than_the_running_check_is_not_running(db_url, ella_config):
    """A service (or a proxy in front of it) that takes its time is "not running" after the
    check's short wait (2 s), not after the sample search's 10 s times three."""
    from annotation_service import serving, slow_handler
    from api_client import Client
    with serving(slow_handler(4)) as url:
        slow = make_app(db_url, ella_config, url)
        try:
            assert Client(slow).get("/api/v1/import/service/running/").json == {
                "running": False}
        finally:
            slow._drop_connection()


def test_j2_post_stores_a_submitted_job(app, db_url):
    client = logged_in_client(app, db_url, "importer")
    result = client.post(JOBS, {**BODY, "user_id": 9999, "status_history": {}})
    assert result.status == 200, result.body
    job = result.json
    with psycopg.connect(db_url) as conn:
        user_id = conn.execute("SELECT id FROM \"user\" WHERE username = 'importer'").fetchone()[0]
    assert job["status"] == "SUBMITTED" and job["task_id"] == "" and job["message"] == ""
    assert job["status_history"] == {} and job["user_id"] == user_id
    assert job["user"]["username"] == "importer"
    assert (job["mode"], job["data"], job["sample_id"]) == ("Analysis", BODY["data"], None)
    assert (job["genepanel_name"], job["genepanel_version"]) == ("HBOC", "v01")
    assert job["properties"] == BODY["properties"]
    assert client.get(JOBS).json[0]["id"] == job["id"]


def test_post_is_validated(app, db_url):
    client = logged_in_client(app, db_url, "importer")
    both = client.post(JOBS, {**BODY, "sample_id": "s1"})
    assert both.status == 400 and "Exactly one of data and sample_id" in both.json["message"]
    assert client.post(JOBS, {**BODY, "mode": "Bogus"}).status == 400
    # Refused at once what the poller could only refuse after the annotation service's work.
    for body, message in (
            ({k: v for k, v in BODY.items() if k != "mode"}, "body.mode must be one of"),
            ({**BODY, "mode": None}, "body.mode must be one of"),
            ({**BODY, "properties": None}, "body.properties must be an object"),
            ({**BODY, "properties": {"sample_type": "HTS"}},
             "body.properties.analysis_name must be a non-empty string"),
            ({**BODY, "properties": {"analysis_name": " "}},
             "body.properties.analysis_name must be a non-empty string"),
            # As the deposit would refuse them, after the annotation service's work.
            ({**BODY, "properties": {"analysis_name": "line1\nline2"}},
             "body.properties.analysis_name contains a control or invisible character"),
            ({**BODY, "properties": {"analysis_name": "sample\u202e321"}},
             "body.properties.analysis_name contains a control or invisible character"),
            ({**BODY, "properties": {"analysis_name": "sample-1 "}},
             "body.properties.analysis_name has blanks around it"),
            ({**BODY, "properties": {"analysis_name": "sample\u00a01"}},
             "body.properties.analysis_name has a space other than the plain one"),
            ({**BODY, "properties": {"analysis_name": "x" * 492}},
             "body.properties.analysis_name: the analysis name 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
             "xxxxxxx'... has 501 characters, more than 500"),
            ({**BODY, "properties": {**BODY["properties"], "create_or_append": "Merge"}},
             "body.properties.create_or_append must be one of Create, Append, not 'Merge'"),
            ({**BODY, "properties": {**BODY["properties"], "sample_type": "WGS"}},
             "body.properties.sample_type must be one of HTS, Sanger, not 'WGS'"),
            ({**BODY, "properties": {**BODY["properties"], "priority": 4}},
             "body.properties.priority must be one of 1, 2, 3, not 4"),
            ({**BODY, "properties": {**BODY["properties"], "priority": True}},
             "body.properties.priority must be one of 1, 2, 3, not True")):
        refused = client.post(JOBS, body)
        assert refused.status == 400 and refused.json["message"].startswith(message), \
            (body, refused.json)
    # Variant jobs need no properties; the options given are kept as sent.
    variants = client.post(JOBS, {**BODY, "mode": "Variants", "properties": None})
    assert variants.status == 200, variants.body
    client.request("DELETE", f"{JOBS}{variants.json['id']}/")
    longest = client.post(JOBS, {**BODY, "properties": {"analysis_name": "x" * 491}})
    assert longest.status == 200, longest.body  # x...x.HBOC_v01: 500 characters
    client.request("DELETE", f"{JOBS}{longest.json['id']}/")
    minimal = client.post(JOBS, {**BODY, "properties": {"analysis_name": "x", "priority": 2,
                                                        "extra": "kept"}})
    assert minimal.status == 200 and minimal.json["properties"]["extra"] == "kept"
    client.request("DELETE", f"{JOBS}{minimal.json['id']}/")
    assert client.post(JOBS, {**BODY, "extra": 1}).status == 400
    assert client.post(JOBS, {**BODY, "genepanel_version": "v1.0.0"}).status == 403
    assert client.post(JOBS, {**BODY, "genepanel_version": "v9"}).status == 404
    assert client.get(JOBS).json == []


def test_j4_patch_stores_changes_and_one_history_entry(app, db_url):
    client = logged_in_client(app, db_url, "importer")
    job = client.post(JOBS, BODY).json
    patched = client.request("PATCH", f"{JOBS}{job['id']}/", json_body={
        "status": "FAILED (DEPOSIT)", "message": "it broke", "task_id": "t-1"}).json
    assert (patched["status"], patched["message"], patched["task_id"]) == (
        "FAILED (DEPOSIT)", "it broke", "t-1")
    history = patched["status_history"]["history"]
    assert len(history) == 1 and history[0]["status"] == "SUBMITTED" and history[0]["time"]
    assert patched["date_last_update"] >= job["date_last_update"]
    # UI retry; null values are ignored
    retried = client.request("PATCH", f"{JOBS}{job['id']}/",
                             json_body={"status": "SUBMITTED", "message": None}).json
    assert retried["status"] == "SUBMITTED" and retried["message"] == "it broke"
    assert [h["status"] for h in retried["status_history"]["history"]] == [
        "FAILED (DEPOSIT)", "SUBMITTED"]
    bad = client.request("PATCH", f"{JOBS}{job['id']}/", json_body={"status": "NOPE"})
    assert bad.status == 400
    assert client.request("PATCH", f"{JOBS}{job['id']}/", json_body={"mode": "x"}).status == 400
    assert client.request("PATCH", f"{JOBS}99999/", json_body={}).status == 404


def _jobs(db_url):
    with psycopg.connect(db_url) as conn:
        return conn.execute("SELECT id, status::text, task_id FROM annotationjob "
                            "ORDER BY id").fetchall()


def test_clients_cannot_make_the_poller_fetch_a_task_they_name(app, db_url):
    """RUNNING/ANNOTATED jobs get their task's result fetched and deposited: a client may
    not put a job there, nor change the task id of one there (it could name another
    patient's task). Everything else of J2/J4 stays possible."""
    client = logged_in_client(app, db_url, "importer")
    for body in ({"status": "RUNNING"}, {"status": "ANNOTATED", "task_id": "someone-elses"}):
        refused = client.post(JOBS, {**BODY, **body})
        assert refused.status == 400 and "Only the poller" in refused.json["message"]
    assert _jobs(db_url) == []
    job = client.post(JOBS, {**BODY, "task_id": "mine"}).json  # SUBMITTED: resubmitted anyway
    path = f"{JOBS}{job['id']}/"
    refused = client.request("PATCH", path, json_body={"status": "ANNOTATED"})
    assert refused.status == 400 and "Only the poller" in refused.json["message"]
    with psycopg.connect(db_url) as conn:  # what the poller does on submission
        conn.execute("UPDATE annotationjob SET status = 'RUNNING', task_id = 'real' "
                     "WHERE id = %s", (job["id"],))
    for body in ({"task_id": "someone-elses"}, {"status": "ANNOTATED"},
                 {"status": "RUNNING", "task_id": "someone-elses"}):
        refused = client.request("PATCH", path, json_body=body)
        assert refused.status == 400, (body, refused.body)
    assert _jobs(db_url) == [(job["id"], "RUNNING", "real")]
    same = client.request("PATCH", path, json_body={"status": "RUNNING", "task_id": "real",
                                                     "message": "still going"})
    assert same.status == 200 and same.json["message"] == "still going"
    nulls = client.request("PATCH", path, json_body={"status": None, "task_id": None})
    assert nulls.status == 200 and (nulls.json["status"], nulls.json["task_id"]) == \
        ("RUNNING", "real")
    retried = client.request("PATCH", path, json_body={"status": "SUBMITTED"})  # UI retry
    assert retried.status == 200 and retried.json["status"] == "SUBMITTED"


def test_append_needs_access_to_the_analysis(app, db_url, ella_config):
    """An Analysis job in Append mode adds samples to an existing analysis: refused (403,
    no job stored) for a user whose group lacks the analysis' gene panel."""
    deposit(db_url, ella_config, BRCA_VCF)  # brca_sample_2.HBOC_v01: importer's panel
    append = {**BODY, "properties": {"analysis_name": "brca_sample_2.HBOC_v01",
                                     "create_or_append": "Append", "sample_type": "HTS"}}
    other = logged_in_client(app, db_url, "other")
    refused = other.post(JOBS, {**append, "genepanel_version": "v1.0.0"})
    assert refused.status == 403
    assert refused.json == {"message": "Analysis brca_sample_2.HBOC_v01 is not available to "
                                       "your user group"}
    assert _jobs(db_url) == []
    importer = logged_in_client(app, db_url, "importer")
    assert importer.post(JOBS, append).status == 200
    # Filed under another panel (a version another group has): that group saw the
    # analysis' name and the patient's variants in its job list, and could retry or delete.
    add_user(db_url, "both", "bothgroup", panels=[("HBOC", "v01"), ("HBOC", "v1.0.0")])
    refused = logged_in_client(app, db_url, "both").post(
        JOBS, {**append, "genepanel_version": "v1.0.0"})
    assert (refused.status, refused.json) == (400, {
        "message": "An Append job's gene panel must be its analysis' own: "
                   "brca_sample_2.HBOC_v01 is on HBOC v01"})
    # Creating an analysis of the same name, or appending to one not (yet) there: the
    # deposit decides, as before.
    assert other.post(JOBS, {**BODY, "genepanel_version": "v1.0.0"}).status == 200
    missing = {**append, "properties": {**append["properties"], "analysis_name": "later"}}
    assert other.post(JOBS, {**missing, "genepanel_version": "v1.0.0"}).status == 200
    # An existing name is named as it is (an adopted database's, with a soft hyphen); only
    # a line break is refused in it.
    odd = {**append, "properties": {**append["properties"], "analysis_name": "lab\u00adname"}}
    assert other.post(JOBS, {**odd, "genepanel_version": "v1.0.0"}).status == 200
    broken = {**append, "properties": {**append["properties"], "analysis_name": "a\nb"}}
    assert other.post(JOBS, {**broken, "genepanel_version": "v1.0.0"}).status == 400


def test_a_job_takes_nothing_only_the_poller_may_give_it(app, db_url):
    """DONE is the poller's word that a job was deposited: an Append job a client marked DONE
    could never be retried ("has already appended its samples"). The not-imported mark was
    refused by PATCH only. A blank `data` or `sample_id` could only fail later, after the
    service (and the pre-import script) had it."""
    client = logged_in_client(app, db_url, "importer")
    job = client.post(JOBS, BODY).json
    for body in ({"status": "DONE"},):
        refused = client.request("PATCH", f"{JOBS}{job['id']}/", json_body=body)
        assert (refused.status, refused.json) == (
            400, {"message": "Only the poller sets the status DONE"})
    for change, message in (
            ({"status": "DONE"}, "Only the poller sets the status DONE"),
            ({"message": "Analysis has not been automatically imported"},
             "body.message 'Analysis has not been automatically imported' is the poller's "
             "to set"),
            ({"data": " \n"}, "body.data is empty"),
            ({"data": None, "sample_id": ""}, "body.sample_id is empty")):
        refused = client.post(JOBS, {**BODY, **change})
        assert (refused.status, refused.json) == (400, {"message": message}), change
    assert [j["id"] for j in client.get(JOBS).json] == [job["id"]]


def test_list_is_the_groups_newest_first_filterable_and_not_resource_logged(app, db_url):
    client = logged_in_client(app, db_url, "importer")
    first = client.post(JOBS, BODY).json
    second = client.post(JOBS, {**BODY, "data": None, "sample_id": "Diag-1"}).json
    assert client.request("PATCH", f"{JOBS}{first['id']}/",
                          json_body={"status": "CANCELLED"}).status == 200
    listed = client.get(JOBS)
    assert [j["id"] for j in listed.json] == [second["id"], first["id"]]
    assert listed.header("Total-Count") == "2"
    running = client.get(JOBS, query={"q": {"status": ["RUNNING", "ANNOTATED", "SUBMITTED"]}})
    assert [j["id"] for j in running.json] == [second["id"]]
    assert client.get(JOBS, query={"q": {"nope": 1}}).status == 400
    other = logged_in_client(app, db_url, "other")
    assert other.get(JOBS).json == []
    assert other.request("PATCH", f"{JOBS}{first['id']}/",
                         json_body={"status": "SUBMITTED"}).status == 403
    assert other.request("DELETE", f"{JOBS}{first['id']}/").status == 403
    with psycopg.connect(db_url) as conn:
        logged = conn.execute("SELECT count(*) FROM resourcelog WHERE method = 'GET' AND "
                              "resource LIKE '/api/v1/import/service/jobs%%'").fetchone()[0]
        posted = conn.execute("SELECT count(*) FROM resourcelog WHERE method = 'POST' AND "
                              "resource = %s", (JOBS,)).fetchone()[0]
    assert (logged, posted) == (0, 2)


def test_a_group_imports_on_a_panel_of_a_group_it_imports_for(app, db_url, ella_config):
    """api.md 3.1: `import_groups` are the groups a user's group may import into and create
    panels for. A panel made for such a group (or one it has) was refused for an import job
    (403), so a lab could not import a clinic's analysis. The submitter sees and manages
    the job; a group that neither has the panel nor imports for its group does not."""
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO usergroupimport (usergroup_id, usergroupimport_id) "
                     "SELECT i.id, o.id FROM usergroup i, usergroup o "
                     "WHERE i.name = 'importgroup' AND o.name = 'othergroup'")
    add_user(db_url, "stranger", "strangers", panels=[("HBOC", "v01")])
    importer = logged_in_client(app, db_url, "importer")
    posted = importer.post(JOBS, {**BODY, "genepanel_version": "v1.0.0"})  # othergroup's
    assert posted.status == 200, posted.body
    job_id = posted.json["id"]
    assert [j["id"] for j in importer.get(JOBS).json] == [job_id]
    assert importer.request("PATCH", f"{JOBS}{job_id}/",
                            json_body={"message": "for the clinic"}).status == 200
    assert [j["id"] for j in logged_in_client(app, db_url, "other").get(JOBS).json] == [job_id]
    stranger = logged_in_client(app, db_url, "stranger")
    refused = stranger.post(JOBS, {**BODY, "genepanel_version": "v1.0.0"})
    assert refused.status == 403 and "nor to a group it imports for" in refused.json["message"]
    assert stranger.get(JOBS).json == []
    assert stranger.request("DELETE", f"{JOBS}{job_id}/").status == 403
    assert importer.request("DELETE", f"{JOBS}{job_id}/").status == 200


def test_import_rights_for_another_group_end_with_them(app, db_url):
    """A lab importing for a clinic may append to the clinic's analysis (403: the append
    check knew the group's own panels only); once the lab stops importing for the clinic,
    its member's earlier job on the clinic's panel can neither be retried (the poller would
    import on a panel the user may no longer import on) nor be seen."""
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO usergroupimport (usergroup_id, usergroupimport_id) "
                     "SELECT i.id, o.id FROM usergroup i, usergroup o "
                     "WHERE i.name = 'importgroup' AND o.name = 'othergroup'")
        conn.execute("INSERT INTO analysis (name, genepanel_name, genepanel_version, "
                     "date_deposited) VALUES ('clinic-1.HBOC_v1.0.0', 'HBOC', 'v1.0.0', now())")
    importer = logged_in_client(app, db_url, "importer")
    appended = importer.post(JOBS, {**BODY, "genepanel_version": "v1.0.0", "properties": {
        "analysis_name": "clinic-1.HBOC_v1.0.0", "create_or_append": "Append"}})
    assert appended.status == 200, appended.body
    job_id = appended.json["id"]
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE annotationjob SET status = 'FAILED (PROCESSING)' WHERE id = %s",
                     (job_id,))
        conn.execute("DELETE FROM usergroupimport")
    assert importer.request("PATCH", f"{JOBS}{job_id}/",
                            json_body={"status": "SUBMITTED"}).status == 403
    assert importer.get(JOBS).json == []
    assert [j["id"] for j in logged_in_client(app, db_url, "other").get(JOBS).json] == [job_id]


def _statuses(db_url, username):
    with psycopg.connect(db_url) as conn:
        return [r[0] for r in conn.execute(
            "SELECT j.status::text FROM annotationjob j JOIN \"user\" u ON u.id = j.user_id "
            "WHERE u.username = %s ORDER BY j.id", (username,))]


def _limit_message(count, limit, who="You have"):
    return {"message": f"{who} {count} import jobs waiting or being imported (submitted, "
                       f"running or annotated; the limit is {limit}). Wait until some have "
                       "finished, or cancel or delete ones that are not needed."}


def test_a_user_has_at_most_the_limit_of_unfinished_jobs(db_url, ella_config, service,
                                                         monkeypatch):
    """import.max_unfinished_jobs_per_user: jobs waiting for the poller (SUBMITTED, RUNNING,
    ANNOTATED) of one user. One more is refused (429, nothing stored), also as a retry of a
    finished job; a job that ends, or is deleted, makes room; other users are not counted."""
    # A lock the count left held (a session's, not the request's) would make the other
    # worker's request below wait for it: 503 after this, not 30 s.
    monkeypatch.setenv("PGOPTIONS", "-c lock_timeout=3s")
    add_test_panels(db_url)
    add_user(db_url, "importer", "importgroup", panels=[("HBOC", "v01")])
    add_user(db_url, "colleague", "importgroup")
    app, other_worker = (make_app(db_url, ella_config, service.url, max_unfinished=4)
                         for _ in range(2))
    try:
        client = logged_in_client(app, db_url, "importer")
        ids = [client.post(JOBS, BODY).json["id"] for _ in range(3)]
        with psycopg.connect(db_url) as conn:  # the poller's statuses count too
            conn.execute("UPDATE annotationjob SET status = 'RUNNING' WHERE id = %s", (ids[1],))
            conn.execute("UPDATE annotationjob SET status = 'ANNOTATED' WHERE id = %s",
                         (ids[2],))
        ids.append(client.post(JOBS, {**BODY, "data": None, "sample_id": "Diag-1"}).json["id"])
        for body in (BODY, {**BODY, "status": "SUBMITTED"}):
            refused = client.post(JOBS, body)
            assert (refused.status, refused.json) == (429, _limit_message(4, 4)), body
        assert _statuses(db_url, "importer") == ["SUBMITTED", "RUNNING", "ANNOTATED",
                                                 "SUBMITTED"]
        # A finished job is not counted, and changing an unfinished one is no new job.
        failed = client.post(JOBS, {**BODY, "status": "FAILED (DEPOSIT)"})
        assert failed.status == 200, failed.body
        changed = client.request("PATCH", f"{JOBS}{ids[0]}/", json_body={
            "message": "waiting", "status": "SUBMITTED"})
        assert changed.status == 200, changed.body
        # Retrying the failed job would be a fifth, whoever of the group retries it.
        retry = client.request("PATCH", f"{JOBS}{failed.json['id']}/",
                               json_body={"status": "SUBMITTED"})
        assert (retry.status, retry.json) == (429, _limit_message(4, 4))
        colleague = logged_in_client(app, db_url, "colleague")
        retry = colleague.request("PATCH", f"{JOBS}{failed.json['id']}/",
                                  json_body={"status": "SUBMITTED"})
        assert (retry.status, retry.json) == (
            429, _limit_message(4, 4, "The job's user importer has"))
        assert _statuses(db_url, "importer")[-1] == "FAILED (DEPOSIT)"
        # The colleague has room of their own, also when the importer has none.
        colleagues = [colleague.post(JOBS, BODY) for _ in range(4)]
        assert [r.status for r in colleagues] == [200] * 4
        assert colleague.post(JOBS, BODY).status == 429
        # Room again: one job cancelled, so the failed one may run again, retried by the
        # colleague at their own limit (it is the importer's job); then one deleted.
        assert client.request("PATCH", f"{JOBS}{ids[0]}/",
                              json_body={"status": "CANCELLED"}).status == 200
        retry = colleague.request("PATCH", f"{JOBS}{failed.json['id']}/",
                                  json_body={"status": "SUBMITTED"})
        assert retry.status == 200, retry.body
        elsewhere = logged_in_client(other_worker, db_url, "importer")
        assert elsewhere.post(JOBS, BODY).status == 429
        assert client.request("DELETE", f"{JOBS}{ids[3]}/").status == 200
        assert elsewhere.post(JOBS, BODY).status == 200
        assert client.post(JOBS, BODY).status == 429
        assert _statuses(db_url, "importer") == [
            "CANCELLED", "RUNNING", "ANNOTATED", "SUBMITTED", "SUBMITTED"]
    finally:
        app._drop_connection()
        other_worker._drop_connection()


@pytest.mark.parametrize("site_isolation", [None, "repeatable read"])
def test_two_jobs_posted_at_once_cannot_both_take_the_last_place(db_url, ella_config, service,
                                                                 monkeypatch, site_isolation):
    """Two requests of one user (two tabs, two gunicorn workers) count the user's jobs in
    turn: without that, both counted the same jobs and both stored theirs. Also where the
    site's default isolation is repeatable read (the count's snapshot was then taken before
    the wait)."""
    if site_isolation:
        # libpq splits PGOPTIONS at blanks; a backslash keeps one in the value.
        monkeypatch.setenv("PGOPTIONS", "-c default_transaction_isolation="
                           + site_isolation.replace(" ", "\\ "))
    add_test_panels(db_url)
    add_user(db_url, "importer", "importgroup", panels=[("HBOC", "v01")])
    apps = [make_app(db_url, ella_config, service.url, max_unfinished=1) for _ in range(2)]
    try:
        clients = [logged_in_client(a, db_url, "importer") for a in apps]
        for _ in range(20):
            with psycopg.connect(db_url) as conn:
                conn.execute("DELETE FROM annotationjob")
            results = _race(lambda: clients[0].post(JOBS, BODY),
                            lambda: clients[1].post(JOBS, BODY))
            assert sorted(r.status for r in results) == [200, 429], \
                [(r.status, r.body[:200]) for r in results]
            assert _statuses(db_url, "importer") == ["SUBMITTED"]
    finally:
        for a in apps:
            a._drop_connection()


def test_delete(app, db_url):
    client = logged_in_client(app, db_url, "importer")
    job = client.post(JOBS, BODY).json
    deleted = client.request("DELETE", f"{JOBS}{job['id']}/")
    assert deleted.status == 200 and deleted.json is None
    assert client.get(JOBS).json == []
    assert client.request("DELETE", f"{JOBS}{job['id']}/").status == 404


def test_login_needed_for_jobs(app):
    from api_client import Client
    assert Client(app).get(JOBS).status == 403
    assert Client(app).post(JOBS, BODY).status == 403


def test_samples_proxy(app, service, db_url, ella_config):
    from api_client import Client
    service.samples = {"Diag-2": {"sex": "F"}, "Diag-1": {"sex": "M"}}
    # A search of patient samples: not for anonymous callers (ELLA's route is open).
    result = Client(app).get("/api/v1/import/service/samples/", query={"term": "Diag"})
    assert (result.status, result.json) == (403, {"message": "Authentication required"})
    assert getattr(service, "last_sample_query", None) is None  # nothing was forwarded
    client = logged_in_client(app, db_url, "importer")
    result = client.get("/api/v1/import/service/samples/", query={"term": "Diag", "limit": "10"})
    assert result.json == [{"sex": "M", "name": "Diag-1"}, {"sex": "F", "name": "Diag-2"}]
    assert service.last_sample_query == {"q": ["{'name': 'Diag'}"], "limit": ["10"]}
    down = make_app(db_url, ella_config, closed_port_url())
    client.app = down
    assert client.get("/api/v1/import/service/samples/").status == 502
    down._drop_connection()


def test_a_job_being_deposited_is_refused_at_once_not_after_the_lock_limit(app, db_url):
    """The poller holds a job it deposits (row locked) until the deposit commits, a minute
    for an exome: a PATCH (the UI's retry) or DELETE of it waited the API's whole lock limit
    (30 s, a worker held) and answered 503. It is refused with 409 saying so after a short
    wait, and nothing is changed; afterwards both work."""
    client = logged_in_client(app, db_url, "importer")
    job = client.post(JOBS, BODY).json
    url = f"{JOBS}{job['id']}/"
    with psycopg.connect(db_url) as poller:
        poller.execute("SELECT id FROM annotationjob WHERE id = %s FOR UPDATE", (job["id"],))
        for method, body in (("PATCH", {"status": "FAILED (DEPOSIT)"}), ("DELETE", None)):
            answer = client.request(method, url, json_body=body)
            assert answer.status == 409, (method, answer.status, answer.body)
            assert answer.json["message"] == (
                f"Import job {job['id']} is being deposited right now; nothing was changed. "
                "Try again when it has finished.")
    assert client.get(JOBS).json[0]["status"] == "SUBMITTED"
    assert client.request("PATCH", url, json_body={"status": "FAILED (DEPOSIT)"}).status == 200
    assert client.request("DELETE", url).status == 200
