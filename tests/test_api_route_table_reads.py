"""api.md section 2 (route table), read and open routes, on the real ELLA
database: one test per row whose answer shape/status no project test pins down.

testuser1 is in testgroup01 (HBOC panels)."""

import json

import pytest

from api_client import Client
from api_helpers import logged_in_client
from test_workflow_rounds import sql

API = "/api/v1"
PG_HEADERS = ("Total-Count", "Total-Pages", "Page", "Per-Page")


@pytest.fixture(scope="module")
def c1(shared_demo_api):
    app, url = shared_demo_api
    return logged_in_client(app, url, "testuser1")


@pytest.fixture(scope="module")
def anon(shared_demo_api):
    return Client(shared_demo_api[0])


def ok(result):
    assert result.status == 200, (result.status, result.body[:400])
    return result.json


# 2.2 annotationconfigs/ ------------------------------------------------------------------------

def test_annotationconfigs_answers_id_and_view_in_requested_order(c1, shared_demo_api):
    ids = [r[0] for r in sql(shared_demo_api[1], "SELECT id FROM annotationconfig ORDER BY id")]
    assert ids, "demo database has annotation configs"
    body = ok(c1.get(f"{API}/annotationconfigs/",
                     query={"annotation_config_ids": ",".join(map(str, ids))}))
    assert [x["id"] for x in body] == ids
    for item in body:
        assert set(item) == {"id", "view"}
        assert isinstance(item["view"], list)
    # missing arg / unknown id: ELLA 500, here 4xx (README "Where the status codes differ")
    assert c1.get(f"{API}/annotationconfigs/").status in (400, 404)
    assert c1.get(f"{API}/annotationconfigs/",
                  query={"annotation_config_ids": "999999"}).status == 404


# 2.3 pg* headers on list routes without slicing ------------------------------------------------

@pytest.mark.parametrize("path", ["alleles/?q=" + json.dumps({"id": [1, 2]}), "attachments/",
                                  "customannotations/", "genepanels/",
                                  "referenceassessments/"])
def test_pg_star_routes_send_pagination_headers(c1, path):
    p, _, q = path.partition("?")
    result = c1.get(f"{API}/{p}", query=q or None)
    ok(result)
    for h in PG_HEADERS:
        assert result.header(h) is not None, (path, h)


@pytest.mark.parametrize("path", ["users/", "analyses/", "alleleassessments/", "allelereports/",
                                  "geneassessments/", "references/",
                                  "overviews/alleles/finalized/",
                                  "overviews/analyses/finalized/"])
def test_paginated_routes_slice_and_send_headers(c1, path):
    full = c1.get(f"{API}/{path}")
    ok(full)
    total = int(full.header("Total-Count"))
    assert int(full.header("Per-Page")) == 10000
    one = c1.get(f"{API}/{path}", query="per_page=1&page=1")
    assert len(one.json) == min(1, total)
    assert int(one.header("Total-Count")) == total
    assert int(one.header("Total-Pages")) == max(1, total)
    capped = c1.get(f"{API}/{path}", query="per_page=500")
    assert int(capped.header("Per-Page")) == 50


# 2.5 genepanels/ order -------------------------------------------------------------------------

def test_genepanels_lists_group_official_panels_ordered(c1):
    body = ok(c1.get(f"{API}/genepanels/"))
    assert body == sorted(body, key=lambda p: (p["name"], p["version"]))
    for p in body:
        assert set(p) >= {"name", "version", "official"}


# 2.7 search/options/ ---------------------------------------------------------------------------

def test_search_options_empty_text_gives_no_key_and_slashless_form(c1):
    assert ok(c1.get(f"{API}/search/options/", query={"q": {"gene": ""}})) == {}
    body = ok(c1.get(f"{API}/search/options", query={"q": {"gene": "BRCA", "user": "test"}}))
    assert set(body) == {"gene", "user"}
    for g in body["gene"]:
        assert set(g) >= {"symbol", "hgnc_id"}
    for u in body["user"]:
        assert set(u) >= {"username", "first_name", "last_name"}


# 2.8 overviews ---------------------------------------------------------------------------------

def test_overview_category_keys(c1):
    assert set(ok(c1.get(f"{API}/overviews/analyses/"))) == {
        "not_ready", "not_started", "marked_review", "marked_medicalreview", "ongoing"}
    assert set(ok(c1.get(f"{API}/overviews/alleles/"))) == {
        "not_started", "marked_review", "ongoing"}
    stats = ok(c1.get(f"{API}/overviews/userstats/"))
    assert set(stats) == {"analyses_cnt", "alleles_cnt"}


# 2.9 slashless forms the UI sends --------------------------------------------------------------

def test_ui_slashless_calls_are_served(c1, shared_demo_api):
    aid = sql(shared_demo_api[1], "SELECT id FROM analysis WHERE genepanel_name = 'HBOC' "
              "ORDER BY id LIMIT 1")[0][0]
    a = c1.get(f"{API}/workflows/analyses/{aid}/filterconfigs")
    b = c1.get(f"{API}/workflows/analyses/{aid}/filterconfigs/")
    assert a.status == b.status == 200
    assert a.json == b.json
    t1 = c1.get(f"{API}/igv/tracks/{aid}", query="allele_ids=1")
    t2 = c1.get(f"{API}/igv/tracks/{aid}/", query="allele_ids=1")
    assert t1.status == t2.status == 200 and t1.json == t2.json
    # routes without a slash are not served with one
    assert c1.get(f"{API}/filterconfigs/1/").status in (404, 405)


def test_workflow_stats_shape(c1, shared_demo_api):
    aid = sql(shared_demo_api[1], "SELECT id FROM analysis WHERE genepanel_name = 'HBOC' "
              "ORDER BY id LIMIT 1")[0][0]
    body = ok(c1.get(f"{API}/workflows/analyses/{aid}/stats/"))
    # workflow.md: number of genotype-allele links of the analysis' samples
    n = sql(shared_demo_api[1], "SELECT count(g.allele_id) + count(g.secondallele_id) FROM "
            "genotype g JOIN sample s ON s.id = g.sample_id WHERE s.analysis_id = %s",
            (aid,))[0][0]
    assert body == {"allele_count": n}


# 2.10 alleles workflow reads -------------------------------------------------------------------

def test_allele_workflow_never_started_lists_no_rounds(c1, shared_demo_api):
    row = sql(shared_demo_api[1], "SELECT a.id FROM allele a WHERE NOT EXISTS (SELECT 1 FROM "
              "alleleinterpretation i WHERE i.allele_id = a.id) ORDER BY a.id LIMIT 1")
    assert ok(c1.get(f"{API}/workflows/alleles/{row[0][0]}/interpretations/")) == []
    assert ok(c1.get(f"{API}/workflows/alleles/{row[0][0]}/snapshots/")) == []
    assert ok(c1.get(f"{API}/workflows/alleles/{row[0][0]}/actions/finalize/")) == []


def test_allele_collisions_empty_list_and_missing_arg(c1):
    assert ok(c1.get(f"{API}/workflows/alleles/1/collisions/", query="allele_ids=")) == []
    # missing: ELLA 500, here 400 (README: malformed/missing query parameter 400)
    assert c1.get(f"{API}/workflows/alleles/1/collisions/").status == 400


def test_analysis_collisions_empty_list(c1, shared_demo_api):
    aid = sql(shared_demo_api[1], "SELECT id FROM analysis WHERE genepanel_name = 'HBOC' "
              "ORDER BY id LIMIT 1")[0][0]
    assert ok(c1.get(f"{API}/workflows/analyses/{aid}/collisions/", query="allele_ids=")) == []
    assert c1.get(f"{API}/workflows/analyses/{aid}/collisions/").status == 400


# 2.11 acmg/classifications open ----------------------------------------------------------------

def test_acmg_classifications_open_shape(anon):
    body = ok(anon.get(f"{API}/acmg/classifications/", query="codes=PVS1,PS2"))
    assert set(body) >= {"class", "classification", "message", "contributors", "meta"}
    assert body["class"] == 5


# 2.12 import jobs ------------------------------------------------------------------------------

def test_import_running_is_open(anon):
    body = ok(anon.get(f"{API}/import/service/running/"))
    assert set(body) == {"running"} and isinstance(body["running"], bool)


def test_import_jobs_list_headers_and_no_resourcelog(c1, shared_demo_api):
    url = shared_demo_api[1]
    before = sql(url, "SELECT count(*) FROM resourcelog WHERE resource LIKE "
                 "'/api/v1/import/service/jobs%%'")[0][0]
    result = c1.get(f"{API}/import/service/jobs/", query="per_page=1")
    ok(result)
    for h in PG_HEADERS:
        assert result.header(h) is not None
    after = sql(url, "SELECT count(*) FROM resourcelog WHERE resource LIKE "
                "'/api/v1/import/service/jobs%%'")[0][0]
    assert after == before


# 2.14 IGV ---------------------------------------------------------------------------------------

def test_igv_classifications_track_text_and_cacheable(c1):
    result = c1.get(f"{API}/igv/tracks/dynamic/classifications/")
    assert result.status == 200
    assert (result.header("Content-Type") or "").startswith("text/plain")
    assert "max-age=1800" in (result.header("Cache-Control") or "")
    assert "classifications.gff3" in (result.header("Content-Disposition") or "")


def test_igv_search_answers_list(c1):
    body = ok(c1.get(f"{API}/igv/search/", query="q=BRCA2"))
    assert isinstance(body, list)
    for item in body:
        assert set(item) >= {"chromosome", "start", "end"}
    assert ok(c1.get(f"{API}/igv/search/", query="q=NOSUCHGENEXYZ")) == []


def test_igv_dynamic_files_names(c1, shared_demo_api):
    aid = sql(shared_demo_api[1], "SELECT id FROM analysis WHERE genepanel_name = 'HBOC' "
              "ORDER BY id LIMIT 1")[0][0]
    alleles = sql(shared_demo_api[1], "SELECT DISTINCT g.allele_id FROM genotype g JOIN sample s "
                  "ON s.id = g.sample_id WHERE s.analysis_id = %s ORDER BY 1 LIMIT 2", (aid,))
    q = "allele_ids=" + ",".join(str(r[0]) for r in alleles)
    v = c1.get(f"{API}/igv/tracks/dynamic/variants/{aid}/", query=q)
    assert v.status == 200 and "analysis-variants.vcf" in (v.header("Content-Disposition") or "")
    r = c1.get(f"{API}/igv/tracks/dynamic/regions_of_interest/{aid}/", query=q)
    assert r.status == 200
    assert "analysis-regions-of-interest.bed" in (r.header("Content-Disposition") or "")
    g = c1.get(f"{API}/igv/tracks/dynamic/genepanel/HBOC/v01/")
    assert g.status == 200 and "genepanel.bed" in (g.header("Content-Disposition") or "")


# 2.15 broadcasts / exception log / specs / docs -------------------------------------------------

def test_open_routes_answer_anonymous(anon):
    assert isinstance(ok(anon.get(f"{API}/broadcasts/")), list)
    assert anon.get(f"{API}/specs/").status == 200
    assert anon.get(f"{API}/docs/").status == 200


def test_exceptionlog_anonymous_stores_row_without_payload(anon, shared_demo_api):
    url = shared_demo_api[1]
    before = sql(url, "SELECT count(*) FROM uiexception")[0][0]
    result = anon.post(f"{API}/ui/exceptionlog/", {"message": "m-audit", "location": "l",
                                                  "stacktrace": "s", "state": {}})
    assert result.status == 200 and result.json is None
    assert sql(url, "SELECT count(*) FROM uiexception")[0][0] == before + 1
    rows = sql(url, "SELECT payload FROM resourcelog WHERE resource = "
               "'/api/v1/ui/exceptionlog/' ORDER BY id DESC LIMIT 1")
    assert rows[0][0] is None


# 2.1 users ---------------------------------------------------------------------------------------

def test_alleles_analyses_response_is_stored_in_resourcelog(c1, shared_demo_api):
    url = shared_demo_api[1]
    allele = sql(url, "SELECT DISTINCT g.allele_id FROM genotype g JOIN sample s ON "
                 "s.id = g.sample_id JOIN analysis a ON a.id = s.analysis_id WHERE "
                 "a.genepanel_name = 'HBOC' ORDER BY 1 LIMIT 1")[0][0]
    result = c1.get(f"{API}/alleles/{allele}/analyses/")
    body = ok(result)
    assert body
    stored = sql(url, "SELECT response FROM resourcelog WHERE resource = %s "
                 "ORDER BY id DESC LIMIT 1", (f"/api/v1/alleles/{allele}/analyses/",))[0][0]
    assert stored is not None and json.loads(stored) == body


def test_users_list_only_own_group(c1, shared_demo_api):
    url = shared_demo_api[1]
    gid = sql(url, "SELECT group_id FROM \"user\" WHERE username = 'testuser1'")[0][0]
    mine = {r[0] for r in sql(url, "SELECT id FROM \"user\" WHERE group_id = %s", (gid,))}
    body = ok(c1.get(f"{API}/users/"))
    assert {u["id"] for u in body} == mine


def test_head_and_options(c1, anon):
    h = c1.request("HEAD", f"{API}/config/")
    assert h.status == 200 and h.body == b""
    o = anon.request("OPTIONS", f"{API}/users/actions/login/")
    assert o.status == 200 and "POST" in (o.header("Allow") or "")
