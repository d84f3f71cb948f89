"""Route-table-driven checks: every route of the router is tested, so a new route without
its login or group check, or one that answers bad input with a 500, fails here.

Runs on the real ELLA database (adopted): testuser1 is in testgroup01 (HBOC, HBOCUTV panels),
testuser4 in testgroup02 (Mendeliome, Ciliopati), so testuser4 must be refused everything that
belongs to the HBOC/HBOCUTV analyses and panels.
"""

import re

import pytest

from ella.web import routes  # noqa: F401  (registers the routes)
from ella.web.router import router
from api_client import Client
from api_helpers import logged_in_client

# Path parameter values on the real ELLA database that belong to testgroup01's panels.
OTHER_GROUPS_OBJECTS = {
    "analysis_id": 2, "name": "HBOC", "version": "v01", "gp_name": "HBOC", "gp_version": "v01",
}
# Harmless values for the other parameters.
NEUTRAL = {"allele_id": 1, "user_id": 1, "aa_id": 1, "ar_id": 1, "ra_id": 1, "attachment_id": 1,
           "interpretation_id": 1, "index": 0, "filename": "cytoBand.txt",
           "filepath": "track.bed", "id": 1, "filterconfig_id": 1, "log_id": 1,
           "genepanel_name": "HBOC", "genepanel_version": "v01", "job_id": 1}
# Object access rules that mean "refused for another group's gene panel / analysis".
GROUP_BOUND_RULES = {"analysis", "genepanel"}
PANEL_OR_ANALYSIS_PARAMS = {"analysis_id", "name", "gp_name"}


def _path(route, values):
    def fill(match):
        name = match.group(1)
        return str(values.get(name, NEUTRAL.get(name, 1)))
    return re.sub(r"<(?:int:)?([a-z_]+)>", fill, route.pattern)


def _ids(route):
    return f"{route.method} {route.pattern}"


LOGIN_ROUTES = [r for r in router.routes if r.auth == "login"]
BOUND_ROUTES = [r for r in router.routes
                if {name for name, _ in r.params} & PANEL_OR_ANALYSIS_PARAMS]


def test_every_route_declares_auth_and_access():
    for route in router.routes:
        assert route.auth in ("login", "optional", "open"), _ids(route)
        params = {name for name, _ in route.params}
        if params & PANEL_OR_ANALYSIS_PARAMS:
            assert route.access in GROUP_BOUND_RULES | {"track-groups"}, (
                f"{_ids(route)} exposes an analysis or gene panel but declares no access rule")


@pytest.fixture(scope="module")
def outsider(shared_demo_api):
    app, url = shared_demo_api
    return logged_in_client(app, url, "testuser4")


@pytest.fixture(scope="module")
def insider(shared_demo_api):
    app, url = shared_demo_api
    return logged_in_client(app, url, "testuser7")


@pytest.fixture
def writer(shared_demo_api):
    """A session of testuser7 for one test, for sweeps whose requests might end it (logout)
    were the refusal under test to fail."""
    app, url = shared_demo_api
    return logged_in_client(app, url, "testuser7")


@pytest.mark.parametrize("route", LOGIN_ROUTES, ids=_ids)
def test_login_routes_refuse_anonymous_callers(shared_demo_api, route):
    result = Client(shared_demo_api[0]).request(route.method, _path(route, OTHER_GROUPS_OBJECTS),
                                          json_body={} if route.method != "GET" else None)
    assert result.status == 403, result.body
    assert result.json == {"message": "Authentication required"}


@pytest.mark.parametrize("route", BOUND_ROUTES, ids=_ids)
def test_other_groups_get_403(outsider, route):
    result = outsider.request(route.method, _path(route, OTHER_GROUPS_OBJECTS),
                              json_body={} if route.method != "GET" else None)
    assert result.status == 403, (route.pattern, result.status, result.body[:300])


INT_ROUTES = [r for r in router.routes if any(kind == "int" for _, kind in r.params)]
STR_ROUTES = [r for r in router.routes if any(kind == "str" for _, kind in r.params)]


@pytest.mark.parametrize("route", INT_ROUTES, ids=_ids)
def test_unknown_ids_are_4xx_never_500(insider, route):
    values = {name: 987654 for name, kind in route.params if kind == "int"}
    result = insider.request(route.method, _path(route, values),
                             json_body={} if route.method != "GET" else None)
    assert 400 <= result.status < 500, (route.pattern, result.status, result.body[:300])
    assert "message" in result.json


@pytest.mark.parametrize("route", STR_ROUTES, ids=_ids)
def test_injection_strings_are_harmless(insider, shared_demo_api, route):
    values = {name: "x'; DROP TABLE allele; --" for name, kind in route.params if kind == "str"}
    result = insider.request(route.method, _path(route, values),
                             json_body={} if route.method != "GET" else None)
    assert 400 <= result.status < 500, (route.pattern, result.status, result.body[:300])
    import psycopg
    with psycopg.connect(shared_demo_api[1]) as conn:
        assert conn.execute("SELECT count(*) FROM allele").fetchone()[0] == 24


GET_ROUTES = [r for r in router.routes if r.method == "GET"]
# Proxies to the external annotation service: 502 when that service fails (or is absent,
# as in this test), never 500.
EXTERNAL_SERVICE_ROUTES = {"/api/v1/import/service/samples/"}
BIG = "100000000000000000000"  # beyond PostgreSQL's integer (and bigint)
MALFORMED_QUERIES = {
    "bad-json-and-numbers": "q=%7Bnot-json&allele_ids=x&page=abc&per_page=-1",
    "huge-page": f"page={BIG}",
    "huge-per-page": f"per_page={BIG}",
    "page-beyond-integer": "page=2147483648",
    "superscript-id": "allele_ids=%C2%B2",  # "²": str.isdigit() is true, int() refuses it
    "ids-beyond-integer": "allele_ids=1,2147483648&annotation_config_ids=2147483648",
    "int-args-beyond-integer": "filterconfig_id=2147483648&analysis_id=2147483648"
                               "&limit=2147483648&start=2147483648",
    "nan-in-q": "q=%7B%22id%22%3A%20NaN%7D",
    "nul-in-q": "q=%7B%22title%22%3A%20%22a%5Cu0000b%22%7D",  # {"title": "a\u0000b"}
    "deep-q": "q=" + "%5B" * 100000,
}


@pytest.mark.parametrize("query", MALFORMED_QUERIES.values(), ids=MALFORMED_QUERIES.keys())
@pytest.mark.parametrize("route", GET_ROUTES, ids=_ids)
def test_malformed_query_is_never_a_500(insider, route, query):
    result = insider.request("GET", _path(route, {}), query=query)
    if route.pattern in EXTERNAL_SERVICE_ROUTES and result.status == 502:
        return
    assert result.status < 500, (route.pattern, result.status, result.body[:300])


@pytest.mark.parametrize("route", router.routes, ids=_ids)
def test_nul_in_a_query_parameter_is_400(writer, route):
    """PostgreSQL text cannot hold NUL: refused when the query is parsed, for every route.
    (Unknown ids and a session of its own: nothing to change should the refusal fail.)"""
    values = {name: 987654 for name, kind in route.params if kind == "int"}
    result = writer.request(route.method, _path(route, values), query="term=a%00b")
    assert result.status == 400, (route.pattern, result.status, result.body[:300])
    assert "NUL" in result.json["message"]


@pytest.mark.parametrize("route", INT_ROUTES, ids=_ids)
def test_path_ids_beyond_the_database_integer_are_400(insider, route):
    for big in ("2147483648", BIG, "9" * 5000):
        values = {name: big for name, kind in route.params if kind == "int"}
        result = insider.request(route.method, _path(route, values),
                                 json_body={} if route.method != "GET" else None)
        assert result.status == 400, (route.pattern, result.status, result.body[:300])
        assert "out of range" in result.json["message"]


@pytest.mark.parametrize("route", STR_ROUTES, ids=_ids)
def test_nul_in_a_path_segment_is_400(insider, route):
    values = {name: "a\x00b" for name, kind in route.params if kind == "str"}
    result = insider.request(route.method, _path(route, values),
                             json_body={} if route.method != "GET" else None)
    assert result.status == 400, (route.pattern, result.status, result.body[:300])
    assert "NUL" in result.json["message"]


WRITE_ROUTES = [r for r in router.routes if r.method != "GET"]
# Routes that read no JSON body (logout reads none, upload a multipart file).
NO_JSON_BODY_ROUTES = {("POST", "/api/v1/users/actions/logout/"),
                       ("POST", "/api/v1/attachments/upload/")}
MALFORMED_BODIES = {
    "nan": b'{"priority": NaN, "message": "x"}',
    "infinity": b'{"priority": -Infinity}',
    "float-overflow": b'{"priority": 1e999}',
    "nul-in-value": b'{"message": "a\\u0000b", "username": "a\\u0000b"}',
    "nul-in-key": b'{"a\\u0000b": 1}',
    "recursion": b"[" * 100000,
    "too-deep": b"[" * 101 + b"]" * 101,
    "huge-int": b'{"allele_id": 1' + b"0" * 5000 + b"}",
}


@pytest.mark.parametrize("body", MALFORMED_BODIES.values(), ids=MALFORMED_BODIES.keys())
@pytest.mark.parametrize("route", WRITE_ROUTES, ids=_ids)
def test_malformed_json_bodies_are_400(writer, route, body):
    """NaN/Infinity (not JSON), NUL (PostgreSQL text refuses it), nesting deep enough to
    exhaust Python's recursion: refused when the body is parsed. Ids are unknown ones, so a
    route that looks its object up before reading the body answers 404."""
    values = {name: 987654 for name, kind in route.params if kind == "int"}
    result = writer.request(route.method, _path(route, values), raw=body)
    if (route.method, route.pattern) in NO_JSON_BODY_ROUTES:
        assert result.status != 500
        return
    assert result.status in (400, 404), (route.pattern, result.status, result.body[:300])


def test_numbers_beyond_the_database_integer_are_400(insider):
    """Each of these was a 500 (PostgreSQL's "integer out of range", or int() refusing "²")."""
    def refused(result, fragment):
        assert result.status == 400, result.body[:300]
        assert fragment in result.json["message"], result.json

    for path in ("/api/v1/analyses/", "/api/v1/references/"):
        refused(insider.get(path, query=f"page={BIG}"), "'page' must be at most 2147483647")
        assert insider.get(path, query="page=2147483647").status == 200
    refused(insider.post("/api/v1/workflows/analyses/2/logs/", {"priority": 10**12}),
            "body.priority is out of range")
    refused(insider.get("/api/v1/alleles/by-gene/", query="allele_ids=3,%C2%B2"),
            "must be comma-separated ids, got '²'")
    refused(insider.get("/api/v1/alleles/by-gene/", query="allele_ids=3,2147483648"),
            "out of range")
    for allele_id in ("²", 2**31, "2147483648"):
        refused(insider.post("/api/v1/customannotations/",
                             {"allele_id": allele_id, "annotations": {}}),
                "body.allele_id")


def test_collisions_name_only_analyses_the_caller_may_open(demo_api_app, demo_db_url):
    """Any group may read a variant's collisions (api.md 1.6), but testuser4 (testgroup02)
    was told the name, id and user of testgroup01's analysis 2, which it may neither open
    nor find in alleles/<id>/analyses/. Now the warning stays, without those."""
    import psycopg
    with psycopg.connect(demo_db_url) as conn:
        allele_id = conn.execute(
            "SELECT min(g.allele_id) FROM genotype g JOIN sample s ON s.id = g.sample_id "
            "WHERE s.analysis_id = 2").fetchone()[0]
        # Unclassified again, so that analysis 2's Ongoing round collides on it.
        conn.execute("UPDATE alleleassessment SET date_superceeded = now() "
                     "WHERE allele_id = %s AND date_superceeded IS NULL", (allele_id,))
    path = f"/api/v1/workflows/alleles/{allele_id}/collisions/"

    def analysis_hits(username):
        client = logged_in_client(demo_api_app, demo_db_url, username)
        result = client.get(path, query=f"allele_ids={allele_id}")
        assert result.status == 200, result.body
        return [e for e in result.json if e["type"] == "analysis"]
    [own] = analysis_hits("testuser1")
    assert (own["analysis_id"], own["analysis_name"], own["user"]["username"]) == (
        2, "brca_sample_1.HBOCUTV_v01", "testuser1")
    [other] = analysis_hits("testuser4")
    assert (other["analysis_id"], other["analysis_name"], other["user"]) == (None, None, None)
    assert other["workflow_status"] == own["workflow_status"]
