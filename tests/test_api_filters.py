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


def test_a_done_round_without_its_snapshots_is_an_error(demo_api_app, demo_db_url):
    """workflow.md 11.3: a Done round's filtered variants come from its snapshots; when an
    analysis with variants has none, the round's record is missing (an error), not an empty
    list. A Done round of an analysis without proband variants has none legitimately."""
    import psycopg
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    with psycopg.connect(demo_db_url) as conn:
        round_id = conn.execute("SELECT id FROM analysisinterpretation WHERE analysis_id = 2 "
                                "ORDER BY id DESC LIMIT 1").fetchone()[0]
        conn.execute("UPDATE analysisinterpretation SET status = 'Done' WHERE id = %s",
                     (round_id,))
    path = f"/api/v1/workflows/analyses/2/interpretations/{round_id}/filteredalleles/"
    result = client.get(path)
    assert result.status == 500
    assert result.json["message"].startswith(f"Missing snapshots for interpretation {round_id}")
    with psycopg.connect(demo_db_url) as conn:
        conn.execute("DELETE FROM genotypesampledata WHERE genotype_id IN (SELECT g.id FROM "
                     "genotype g JOIN sample s ON s.id = g.sample_id WHERE s.analysis_id = 2)")
        conn.execute("DELETE FROM genotype WHERE sample_id IN "
                     "(SELECT id FROM sample WHERE analysis_id = 2)")
    empty = client.get(path)
    assert empty.status == 200, empty.body
    assert empty.json["allele_ids"] == []
