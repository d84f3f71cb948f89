"""README "A round, request by request": the requests it lists, in its order, with its
bodies, do what it says on the demo data (a newcomer found no request body documented and
got them by trial and error)."""

from api_helpers import logged_in_client

AN = "/api/v1/workflows/analyses"


def _ok(result):
    assert result.status == 200, (result.status, result.body[:300])
    return result.json


def test_the_readmes_round_runs_as_written(demo_api_app, adopted_demo_db_url):
    client = logged_in_client(demo_api_app, adopted_demo_db_url, "testuser1")
    analyses = _ok(client.get("/api/v1/overviews/analyses/"))["not_started"]
    analysis = analyses[0]["id"]
    rounds = _ok(client.get(f"{AN}/{analysis}/interpretations/"))
    round_id = rounds[-1]["id"]
    _ok(client.post(f"{AN}/{analysis}/actions/start/", {}))
    filterconfig = _ok(client.get(f"{AN}/{analysis}/filterconfigs/"))[0]["id"]
    shown = _ok(client.get(f"{AN}/{analysis}/interpretations/{round_id}/filteredalleles/",
                           query={"filterconfig_id": filterconfig}))
    allele_ids = shown["allele_ids"]
    assert allele_ids
    excluded = {}  # per filter, over both caller types
    for by_filter in shown["excluded_alleles_by_caller_type"].values():
        for name, ids in by_filter.items():
            excluded.setdefault(name, []).extend(ids)
    variants = _ok(client.get(f"{AN}/{analysis}/interpretations/{round_id}/alleles/",
                              query={"allele_ids": ",".join(map(str, allele_ids)),
                                     "current": "true"}))
    _ok(client.request("PATCH", f"{AN}/{analysis}/interpretations/{round_id}/",
                       {"state": {"note": "work in progress"}, "user_state": {}}))
    body = {"allele_ids": allele_ids,
            "annotation_ids": [v["annotation"]["annotation_id"] for v in variants],
            "custom_annotation_ids": [v["annotation"]["custom_annotation_id"]
                                      for v in variants
                                      if v["annotation"].get("custom_annotation_id")],
            "alleleassessment_ids": [v["allele_assessment"]["id"] for v in variants
                                     if v.get("allele_assessment")],
            "allelereport_ids": [v["allele_report"]["id"] for v in variants
                                 if v.get("allele_report")],
            "excluded_allele_ids": excluded}
    _ok(client.post(f"{AN}/{analysis}/actions/markreview/", body))
    overview = _ok(client.get("/api/v1/overviews/analyses/"))
    assert analysis in [a["id"] for a in overview["marked_review"]]
    rounds = _ok(client.get(f"{AN}/{analysis}/interpretations/"))
    assert [(r["status"], r["workflow_status"]) for r in rounds[-2:]] == [
        ("Done", "Interpretation"), ("Not started", "Review")]
    assert rounds[-2]["state"] == {"note": "work in progress"}
