"""api.md 2.9 / 2.10 / 2.12 / 2.13 / 2.1 rows with write methods, on
TestAnalysis-001 deposited into a fresh database (the World of tests/test_workflow_rounds.py)."""

import pytest

from test_workflow_rounds import AL, AN, API, PANEL, World, act, ok, sql, tables
from workflow_helpers import payload


@pytest.fixture
def world(api_app, db_url, ella_config):
    return World(api_app, db_url, ella_config)


def annotation_id(world, allele):
    return sql(world.url, "SELECT id FROM annotation WHERE allele_id = %s AND "
               "date_superceeded IS NULL", (allele,))[0][0]


def test_allele_finalizeallele_body_allele_must_equal_path(world):
    allele, other = world.allele_ids[0], world.allele_ids[1]
    kw = {"kind": "allele", "workflow_id": allele}
    ok(act(world, "u1", "start", {"gp_name": PANEL[0], "gp_version": PANEL[1]}, **kw))
    before = tables(world.url)
    counts = sql(world.url, "SELECT (SELECT count(*) FROM alleleassessment), "
                 "(SELECT count(*) FROM allelereport)")
    result = act(world, "u1", "finalizeallele", payload(other, annotation_id(world, other)), **kw)
    assert 400 <= result.status < 500, (result.status, result.body[:300])
    assert tables(world.url) == before
    assert sql(world.url, "SELECT (SELECT count(*) FROM alleleassessment), "
               "(SELECT count(*) FROM allelereport)") == counts
    good = act(world, "u1", "finalizeallele", payload(allele, annotation_id(world, allele)), **kw)
    body = ok(good)
    assert set(body) >= {"alleleassessment", "allelereport", "referenceassessments"}


def test_allele_round_alleles_without_allele_ids_and_patch(world):
    allele = world.allele_ids[0]
    kw = {"kind": "allele", "workflow_id": allele}
    ok(act(world, "u1", "start", {"gp_name": PANEL[0], "gp_version": PANEL[1]}, **kw))
    rid = world.rounds("allele", allele)[0]["id"]
    c = world.client("u1")
    # api.md 4.9: allele_ids optional for alleles, default none -> []
    assert ok(c.get(f"{AL}/{allele}/interpretations/{rid}/alleles/")) == []
    body = ok(c.get(f"{AL}/{allele}/interpretations/{rid}/alleles/",
                    query=f"allele_ids={allele}"))
    assert [x["id"] for x in body] == [allele]
    assert "samples" not in body[0]
    assert ok(c.request("PATCH", f"{AL}/{allele}/interpretations/{rid}/",
                        json_body={"id": rid, "state": {"k": 1}, "user_state": {"u": 2}})) is None
    one = ok(c.get(f"{AL}/{allele}/interpretations/{rid}/"))
    assert one["state"] == {"k": 1} and one["user_state"] == {"u": 2}
    assert "date_created" in one and "allele_id" not in one


def test_allele_logs_warning_cleared_refused_message_ok(world):
    allele = world.allele_ids[0]
    kw = {"kind": "allele", "workflow_id": allele}
    c = world.client("u1")
    # no round yet: api.md 6 #9 -> an error, nothing written
    before = tables(world.url)
    logs_before = sql(world.url, "SELECT count(*) FROM interpretationlog")[0][0]
    r = c.post(f"{AL}/{allele}/logs/", {"message": "x"})
    assert 400 <= r.status < 600 and r.status != 200
    assert tables(world.url) == before
    assert sql(world.url, "SELECT count(*) FROM interpretationlog")[0][0] == logs_before
    ok(act(world, "u1", "start", {"gp_name": PANEL[0], "gp_version": PANEL[1]}, **kw))
    refused = c.post(f"{AL}/{allele}/logs/", {"warning_cleared": True})
    assert 400 <= refused.status < 500
    assert "warning_cleared is not supported for alleles" in refused.json["message"]
    assert ok(c.post(f"{AL}/{allele}/logs/", {"message": "hello"})) is None
    logs = ok(c.get(f"{AL}/{allele}/logs/"))
    assert set(logs) == {"logs", "users"}
    entry = logs["logs"][-1]
    assert entry["message"] == "hello" and entry["editable"] is True
    assert ok(c.request("PATCH", f"{AL}/{allele}/logs/{entry['id']}/",
                        json_body={"message": "edited"})) is None
    assert ok(c.request("DELETE", f"{AL}/{allele}/logs/{entry['id']}/")) is None


def test_analysis_logs_all_null_refused(world):
    c = world.client("u1")
    r = c.post(f"{AN}/{world.analysis_id}/logs/", {"message": None, "priority": None})
    assert 400 <= r.status < 500
    assert ok(c.post(f"{AN}/{world.analysis_id}/logs/", {"priority": 2,
                                                       "warning_cleared": True})) is None


def test_analysis_get_finalize_equals_snapshots_and_override_reopen(world):
    a = world.allele_ids
    ok(act(world, "u1", "start"))
    assert ok(act(world, "u2", "override", {})) is None
    assert world.rounds()[0]["user_id"] == world.ids["u2"]
    ok(act(world, "u2", "markreview", world.payload(a, technical_allele_ids=a)))
    ok(act(world, "u1", "start"))
    ok(act(world, "u1", "finalize", world.payload(a, technical_allele_ids=a)))
    c = world.client("u1")
    s1 = ok(c.get(f"{AN}/{world.analysis_id}/actions/finalize/"))
    s2 = ok(c.get(f"{AN}/{world.analysis_id}/snapshots/"))
    assert s1 == s2 and len(s1) == 2 * len(a)
    assert set(s1[0]) == {"id", "date_created", "allele_id", "analysisinterpretation_id",
                          "annotation_id", "customannotation_id", "alleleassessment_id",
                          "allelereport_id"}
    assert ok(act(world, "u3", "reopen", {})) is None
    assert world.rounds()[-1]["status"] == "Not started"


def test_allele_routes_that_do_not_exist(world):
    c = world.client("u1")
    allele = world.allele_ids[0]
    for method, suffix in [("GET", "stats/"), ("GET", "filterconfigs/"),
                           ("POST", "actions/marknotready/"),
                           ("POST", "actions/markmedicalreview/")]:
        r = c.request(method, f"{AL}/{allele}/{suffix}", json_body={} if method == "POST" else None)
        assert r.status in (404, 405), (suffix, r.status)


def test_logout_answers_null_and_ends_session(world):
    c = world.client("u3")
    r = c.post(f"{API}/users/actions/logout/", {})
    assert r.status == 200 and r.json is None
    assert c.get(f"{API}/users/currentuser/").status == 403


def test_attachments_analysis_index_is_404(world):
    r = world.client("u1").get(f"{API}/attachments/analyses/{world.analysis_id}/0/")
    assert r.status == 404


def test_import_job_patch_without_slash(world):
    c = world.client("u1")
    job = c.post(f"{API}/import/service/jobs/", {
        "mode": "Single variant", "data": "13-32890607-G-T", "genepanel_name": PANEL[0],
        "genepanel_version": PANEL[1], "properties": {"create_or_append": "Create",
                                                    "analysis_name": "x", "sample_type": "HTS"}})
    assert job.status == 200, job.body
    r = c.request("PATCH", f"{API}/import/service/jobs/{job.json['id']}",
                  json_body={"message": "hi"})
    assert r.status == 200, r.body
    assert r.json["message"] == "hi" and r.json["id"] == job.json["id"]
