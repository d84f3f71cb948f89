"""Filter routes on the real ELLA database (its real filter configs and analyses)."""

from api_helpers import logged_in_client


def test_filterconfigs_and_filtered_alleles_on_real_analyses(shared_demo_api):
    app, url = shared_demo_api
    client = logged_in_client(app, url, "testuser1")
    result = client.get("/api/v1/workflows/analyses/2/filterconfigs/")
    assert result.status == 200, result.body
    configs = result.json
    assert configs and {"id", "name", "filterconfig", "active", "requirements"} <= set(configs[0])
    one = client.get(f"/api/v1/filterconfigs/{configs[0]['id']}")
    assert one.status == 200 and one.json["id"] == configs[0]["id"]
    run = client.get("/api/v1/workflows/analyses/2/filteredalleles/",
                     query=f"filterconfig_id={configs[0]['id']}")
    assert run.status == 200, run.body
    names = [f["name"] for f in configs[0]["filterconfig"]["filters"]]
    body = run.json
    by_type = body["excluded_alleles_by_caller_type"]
    assert set(by_type) == {"cnv", "snv"}
    assert list(by_type["snv"]) == list(dict.fromkeys(names))
    excluded = [i for lists in by_type.values() for ids in lists.values() for i in ids]
    assert len(excluded) == len(set(excluded))
    assert not set(excluded) & set(body["allele_ids"])
    assert body["allele_ids"] or excluded


def test_another_groups_filter_config_is_not_run(shared_demo_api):
    """Filter config 2 is linked to testgroup02 and 03, not to testuser1's testgroup01: it may
    neither read it nor run it on an analysis of its own group, by either filteredalleles
    route (round 2 is analysis 2's)."""
    app, url = shared_demo_api
    client = logged_in_client(app, url, "testuser1")
    assert client.get("/api/v1/filterconfigs/2").status == 403
    for path in ("/api/v1/workflows/analyses/2/filteredalleles/",
                 "/api/v1/workflows/analyses/2/interpretations/2/filteredalleles/"):
        result = client.get(path, query="filterconfig_id=2")
        assert result.status == 403, (path, result.body[:200])
        assert result.json == {"message": "Filter config 2 is not available to your user group"}
        assert client.get(path, query="filterconfig_id=987654").status == 404
        assert client.get(path, query="filterconfig_id=1").status == 200
