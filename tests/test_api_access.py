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


@pytest.mark.parametrize("route", LOGIN_ROUTES, ids=_ids)
def test_login_routes_refuse_anonymous_callers(shared_demo_api, route):
    result = Client(shared_demo_api[0]).request(route.method, _path(route, OTHER_GROUPS_OBJECTS),
                                          json_body={} if route.method != "GET" else None)
    assert result.status == 401, result.body
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


@pytest.mark.parametrize("route", GET_ROUTES, ids=_ids)
def test_malformed_q_is_never_a_500(insider, route):
    result = insider.request("GET", _path(route, {}), query="q=%7Bnot-json&allele_ids=x"
                             "&page=abc&per_page=-1")
    if route.pattern in EXTERNAL_SERVICE_ROUTES and result.status == 502:
        return
    assert result.status < 500, (route.pattern, result.status, result.body[:300])
