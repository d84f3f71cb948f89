"""api.md 5.5 resource log cases on real routes: addresses, sessions, payloads, sizes."""
import psycopg
import pytest

from api_client import Client
from api_helpers import add_user, logged_in_client


def _rows(db_url):
    with psycopg.connect(db_url) as conn:
        return conn.execute(
            "SELECT host(remote_addr), usersession_id, method, resource, statuscode, "
            "response_size, payload, payload_size, query, duration FROM resourcelog "
            "ORDER BY id").fetchall()


def _session_id(db_url):
    with psycopg.connect(db_url) as conn:
        return conn.execute("SELECT max(id) FROM usersession").fetchone()[0]


def _clear(db_url):
    with psycopg.connect(db_url) as conn:
        conn.execute("DELETE FROM resourcelog")


def test_get_config_row(api_app, db_url):
    add_user(db_url, "rl", "rlgroup")
    client = logged_in_client(api_app, db_url, "rl")
    _clear(db_url)
    result = client.get("/api/v1/config/")
    assert result.status == 200
    (addr, session, method, resource, status, size, payload, psize, query, duration), = \
        _rows(db_url)
    assert (addr, session, method, resource, status) == (
        "127.0.0.1", _session_id(db_url), "GET", "/api/v1/config/", 200)
    assert size == int(result.header("Content-Length")) == len(result.body)
    assert (payload, psize, query) == (None, 0, "")
    assert duration > 0


def test_post_acmg_payload_and_query(api_app, db_url):
    add_user(db_url, "rl", "rlgroup")
    client = logged_in_client(api_app, db_url, "rl")
    _clear(db_url)
    body = b'{"allele_ids": [1], "gp_name": "HBOC", "gp_version": "v01", "referenceassessments": []}'
    client.request("POST", "/api/v1/acmg/alleles/", raw=body, query="dummy=data")
    row, = _rows(db_url)
    assert row[6] == body.decode() and row[7] == len(body) and row[8] == "dummy=data"


def test_failed_login_row_keeps_the_previous_session(api_app, db_url):
    add_user(db_url, "rl", "rlgroup")
    client = logged_in_client(api_app, db_url, "rl")
    session = _session_id(db_url)
    _clear(db_url)
    assert client.login("nobody", "x").status == 401
    row, = _rows(db_url)
    assert (row[1], row[4], row[6], row[7]) == (session, 401, None, 0)


def test_anonymous_post_acmg_is_403_with_payload(api_app, db_url):
    _clear(db_url)
    body = b'{"allele_ids": [1]}'
    assert Client(api_app).request("POST", "/api/v1/acmg/alleles/", raw=body).status == 403
    row, = _rows(db_url)
    assert (row[1], row[4], row[6], row[7]) == (None, 403, body.decode(), len(body))


@pytest.mark.parametrize("method,path,kwargs,status", [
    ("GET", "/api/v1/no/such/route/", {}, 404),
    ("DELETE", "/api/v1/config/", {}, 405),
    ("GET", "/api/v1/analyses/", {"query": "page=%00"}, 400),
    ("GET", "/api/v1/analyses/99999999999/", {}, 400),
    ("OPTIONS", "/api/v1/config/", {}, 200),
    ("POST", "/api/v1/acmg/alleles/", {"json_body": {"allele_ids": [1]},
                                       "headers": {"HTTP_SEC_FETCH_SITE": "cross-site"}}, 403),
])
def test_request_refused_before_login_check_names_the_session(api_app, db_url, method, path,
                                                              kwargs, status):
    """A logged-in user's request refused before it was authenticated (no such route or
    method, a bad query, OPTIONS, a cross-site write) was logged with no session, as if
    anonymous: a forged write in the user's name named nobody (config-cli-ops.md 5.2: the
    session of the cookie if valid)."""
    add_user(db_url, "rl", "rlgroup")
    client = logged_in_client(api_app, db_url, "rl")
    _clear(db_url)
    assert client.request(method, path, **kwargs).status == status
    row, = _rows(db_url)
    assert row[1] == _session_id(db_url)


def test_refused_request_with_a_closed_session_is_anonymous(api_app, db_url):
    add_user(db_url, "rl", "rlgroup")
    client = logged_in_client(api_app, db_url, "rl")
    assert client.post("/api/v1/users/actions/logout/").status == 200
    _clear(db_url)
    assert client.request("GET", "/api/v1/no/such/route/").status == 404
    row, = _rows(db_url)
    assert row[1] is None
