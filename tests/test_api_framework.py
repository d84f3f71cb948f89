"""The WSGI framework: routing, errors, body limits, resource log, specs, config, broadcasts,
health, UI exception log — and a few requests through a real gunicorn."""

import io
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from gunicorn.http.errors import InvalidChunkSize, NoMoreData

from ella.web.app import App, create_app
from ella.web.errors import Conflict
from ella.web.http import Response
from ella.web.router import Router
from api_client import Client
from api_helpers import TEST_PASSWORD, add_user, logged_in_client
from helpers import ROOT


def _sql(url, query, params=()):
    with psycopg.connect(url) as conn:
        rows = conn.execute(query, params).fetchall() if query.lstrip().upper().startswith(
            ("SELECT", "WITH")) or "RETURNING" in query.upper() else conn.execute(query, params)
        conn.commit()
        return rows


@pytest.fixture
def toy_app(db_url, ella_config):
    """An app with its own small route table, to test the framework in isolation."""
    router = Router()

    @router.route("GET", "/api/v1/things/<int:thing_id>/", auth="open")
    def get_thing(ctx, thing_id):
        return {"id": thing_id, "at": datetime(2020, 10, 19, 10, 46, 43, 419040, timezone.utc)}

    @router.route("POST", "/api/v1/things/", auth="open")
    def post_thing(ctx):
        return {"got": ctx.request.json()}

    @router.route("GET", "/api/v1/files/<name>", auth="open")
    def get_file(ctx, name):
        return {"name": name}

    @router.route("GET", "/api/v1/boom/", auth="open")
    def boom(ctx):
        raise RuntimeError("secret internal detail")

    @router.route("GET", "/api/v1/conflict/", auth="open")
    def conflict(ctx):
        raise Conflict("someone else was faster")

    @router.route("POST", "/api/v1/dangling/", auth="open")
    def dangling(ctx):  # as a write whose checked row is deleted before it inserts
        ctx.conn.execute("INSERT INTO usergroupgenepanel VALUES (-1, 'gone', 'v0')")

    @router.route("GET", "/api/v1/huge/", auth="open")
    def huge(ctx):  # an attachment of 3 GiB, as its download answers
        return HugeResponse()

    @router.route("GET", "/api/v1/private/", auth="login")
    def private(ctx):
        return "ok"

    @router.route("POST", "/api/v1/private/", auth="login")
    def private_write(ctx):
        return ctx.request.json()

    app = App(ella_config, {"DB_URL": db_url, "COOKIE_SECURE": False}, router=router)
    yield app
    app._drop_connection()


def test_routing_trailing_slash_types_and_errors(toy_app):
    client = Client(toy_app)
    with_slash = client.get("/api/v1/things/7/")
    assert with_slash.status == 200
    assert with_slash.json == {"id": 7, "at": "2020-10-19T10:46:43.419040+00:00"}
    assert client.get("/api/v1/things/7").json == with_slash.json  # served, not redirected
    assert with_slash.header("Cache-Control").startswith("no-store")
    # <int:> takes digits only; a string segment takes no slash; no extra slash on slashless.
    # A final newline (`%0a`) too: `$` matched before it, and the request was served and
    # audited under a path no query for the route finds.
    for path in ("/api/v1/things/-1/", "/api/v1/things/abc/", "/api/v1/files/a/b",
                 "/api/v1/files/x/", "/api/v1/nothing/", "/api/v1/things/7/\n",
                 "/api/v1/things/7\n"):
        result = client.get(path)
        assert result.status == 404 and "message" in result.json, path
    assert client.get("/api/v1/files/report.txt").json == {"name": "report.txt"}
    # A name segment may hold one (a file `sample\tA.bed` of an IGV folder is listed so).
    assert client.get("/api/v1/files/a\tb").json == {"name": "a\tb"}
    result = client.request("DELETE", "/api/v1/things/7/")
    assert result.status == 405
    assert result.json["message"] == ("The method is not allowed for the requested URL "
                                      "(allowed: GET, HEAD, OPTIONS).")
    # RFC 9110 asks a 405 for `Allow`: the methods OPTIONS lists.
    assert result.header("Allow") == "GET, HEAD, OPTIONS"
    head = client.request("HEAD", "/api/v1/things/7/")
    assert head.status == 200 and head.body == b""
    # api.md 1.1: OPTIONS answers with the route's methods, without a login.
    options = client.request("OPTIONS", "/api/v1/things/7/")
    assert (options.status, options.body) == (200, b"")
    assert options.header("Allow") == "GET, HEAD, OPTIONS"
    assert client.request("OPTIONS", "/api/v1/nothing/").status == 404


def test_errors_are_json_and_never_tracebacks(toy_app):
    client = Client(toy_app)
    result = client.get("/api/v1/boom/")
    assert (result.status, result.json) == (500, {"message": "Internal Server Error"})
    assert b"secret internal detail" not in result.body and b"Traceback" not in result.body
    assert client.get("/api/v1/conflict/").json == {"message": "someone else was faster"}
    assert client.get("/api/v1/conflict/").status == 409
    # A write whose row to refer to was deleted meanwhile: 409, nothing saved, no traceback.
    result = client.post("/api/v1/dangling/", {})
    assert result.status == 409 and "deleted at the same time" in result.json["message"]
    result = client.get("/api/v1/private/")
    assert (result.status, result.json) == (403, {"message": "Authentication required"})


def test_bodies_malformed_and_oversized(toy_app, db_url):
    client = Client(toy_app)
    assert client.post("/api/v1/things/", {"a": [1, None]}).json == {"got": {"a": [1, None]}}
    result = client.request("POST", "/api/v1/things/", raw=b'{"a": ')
    assert result.status == 400 and "Malformed JSON" in result.json["message"]
    # A Latin-1 body (a client that does not encode as UTF-8) is named as such; it was
    # answered as "a number is too long to read", the text for a 4,300-digit number.
    result = client.request("POST", "/api/v1/things/", raw='{"a": "ø"}'.encode("latin-1"))
    assert (result.status, result.json) == (
        400, {"message": "The body is not UTF-8 text (byte 7: invalid start byte)"})
    result = client.request("POST", "/api/v1/things/", raw=b'{"a": ' + b"9" * 5000 + b"}")
    assert (result.status, result.json) == (400, {
        "message": "JSON in the body refused: a number is too long to read (over 4,300 "
                   "digits)"})
    result = client.request("POST", "/api/v1/things/", raw=b"<xml/>", content_type="text/xml")
    assert result.status == 400 and "application/json" in result.json["message"]
    # A body over the limit is refused from its Content-Length, before it is read.
    result = client.request("POST", "/api/v1/things/", raw=b"{}",
                            headers={"CONTENT_LENGTH": str(50 * 1024 * 1024)})
    assert result.status == 413 and "too large" in result.json["message"]
    rows = _sql(db_url, "SELECT statuscode, payload, payload_size FROM resourcelog "
                        "WHERE statuscode = 413")
    assert rows == [(413, None, 0)]


class HugeResponse(Response):
    def __init__(self):
        super().__init__(b"", 200, "application/octet-stream")

    @property
    def content_length(self):
        return 3 * 1024 ** 3

    def chunks(self):
        return [b""]


def test_a_chunked_json_body_is_read_up_to_its_limit(toy_app, db_url):
    """`Transfer-Encoding: chunked` without Content-Length (valid HTTP/1.1; gunicorn hands
    the body over so): it was read as no body at all ("A JSON body is required")."""
    client = Client(toy_app)
    body = b'{"k": "chunked"}'
    result = client.request("POST", "/api/v1/things/", raw=body, headers={
        "CONTENT_LENGTH": "", "HTTP_TRANSFER_ENCODING": "chunked",
        "wsgi.input": io.BytesIO(body)})
    assert (result.status, result.json) == (200, {"got": {"k": "chunked"}})
    big = b'{"k": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    result = client.request("POST", "/api/v1/things/", raw=b"{}", headers={
        "CONTENT_LENGTH": "", "HTTP_TRANSFER_ENCODING": "chunked",
        "wsgi.input": io.BytesIO(big)})
    assert result.status == 413 and "too large" in result.json["message"]
    assert _sql(db_url, "SELECT payload, payload_size FROM resourcelog ORDER BY id") == [
        ('{"k": "chunked"}', 16), (None, 0)]


class BrokenOff(io.RawIOBase):
    """A chunked body gunicorn's reader fails on after `head`."""

    def __init__(self, head, error):
        self.head, self.error = head, error

    def read(self, size=-1):
        if self.head:
            out, self.head = self.head[:size], self.head[size:]
            return out
        raise self.error


@pytest.mark.parametrize("error", [InvalidChunkSize(b"ZZ"), NoMoreData(b"")],
                         ids=["broken chunk size", "cut off"])
def test_a_chunked_body_the_server_cannot_read_is_a_400_and_audited(toy_app, db_url, error):
    """gunicorn's reader raises on a chunked body cut off (NoMoreData) or with a broken chunk
    size (a parse error, no OSError): a route reading it answered 500, and one refusing before
    (no session) had the error escape the app at the audit's read: gunicorn's own HTML 400
    instead of ours, and no resourcelog row."""
    client = Client(toy_app)
    chunked = {"CONTENT_LENGTH": "", "HTTP_TRANSFER_ENCODING": "chunked"}
    result = client.request("POST", "/api/v1/things/", raw=b"x", headers={
        **chunked, "wsgi.input": BrokenOff(b'{"k": "pa', error)})
    assert (result.status, result.json) == (400, {
        "message": "Malformed request body (the request ended early or its chunked encoding "
                   f"is broken: {type(error).__name__})"})
    refused = client.request("POST", "/api/v1/private/", raw=b"x", headers={
        **chunked, "wsgi.input": BrokenOff(b'{"k": "pa', error)})
    assert refused.status == 403
    assert _sql(db_url, "SELECT resource, statuscode, payload FROM resourcelog "
                        "ORDER BY id") == [("/api/v1/things/", 400, None),
                                           ("/api/v1/private/", 403, None)]


def test_a_response_of_2_gib_or_more_is_resource_logged(toy_app, db_url):
    """resourcelog.response_size is ELLA's integer: the row of a download of an attachment
    of 2 GiB or more failed to insert and was lost."""
    assert Client(toy_app).get("/api/v1/huge/").status == 200
    assert _sql(db_url, "SELECT resource, response_size FROM resourcelog") == [
        ("/api/v1/huge/", 2**31 - 1)]


def test_every_request_is_resource_logged(toy_app, db_url):
    """Except routes that opt out (IGV files, the polled import-job list, health)."""
    client = Client(toy_app, remote_addr="10.1.2.3")
    client.get("/api/v1/things/3/", query="x=1")
    client.post("/api/v1/things/", {"k": "v"})
    client.get("/api/v1/unknown/")
    # A client on the network cannot choose its logged address with the proxy header...
    client.request("GET", "/api/v1/things/4/", headers={"HTTP_X_FORWARDED_FOR": "192.0.2.9"})
    # ...our nginx (loopback or the unix socket) names the client it saw.
    Client(toy_app, remote_addr="127.0.0.1").request(
        "GET", "/api/v1/things/5/", headers={"HTTP_X_FORWARDED_FOR": "1.1.1.1, 192.0.2.9"})
    Client(toy_app, remote_addr="").request(
        "GET", "/api/v1/things/6/", headers={"HTTP_X_FORWARDED_FOR": "192.0.2.10"})
    Client(toy_app, remote_addr="").request("GET", "/api/v1/things/7/")
    rows = _sql(db_url, "SELECT method, resource, query, payload, payload_size, statuscode, "
                        "host(remote_addr), usersession_id, response, duration >= 0 "
                        "FROM resourcelog ORDER BY id")
    assert rows == [
        ("GET", "/api/v1/things/3/", "x=1", None, 0, 200, "10.1.2.3", None, None, True),
        ("POST", "/api/v1/things/", "", '{"k": "v"}', 10, 200, "10.1.2.3", None, None, True),
        ("GET", "/api/v1/unknown/", "", None, 0, 404, "10.1.2.3", None, None, True),
        ("GET", "/api/v1/things/4/", "", None, 0, 200, "10.1.2.3", None, None, True),
        ("GET", "/api/v1/things/5/", "", None, 0, 200, "192.0.2.9", None, None, True),
        ("GET", "/api/v1/things/6/", "", None, 0, 200, "192.0.2.10", None, None, True),
        ("GET", "/api/v1/things/7/", "", None, 0, 200, "0.0.0.0", None, None, True),
    ]


def test_a_scoped_ipv6_client_is_resource_logged_without_its_zone(toy_app, db_url):
    """PostgreSQL's inet takes no zone id (`fe80::1%eth0`): the row failed to insert and the
    request went unaudited (a link-local peer with HOST=::, or any local client naming
    such an address in X-Forwarded-For)."""
    Client(toy_app, remote_addr="fe80::1%eth0").get("/api/v1/things/1/")
    Client(toy_app, remote_addr="::1").request(
        "GET", "/api/v1/things/2/", headers={"HTTP_X_FORWARDED_FOR": "fe80::2%x"})
    assert _sql(db_url, "SELECT resource, host(remote_addr) FROM resourcelog ORDER BY id") == [
        ("/api/v1/things/1/", "fe80::1"), ("/api/v1/things/2/", "fe80::2")]


def test_a_proxy_of_forwarded_allow_ips_names_the_client(toy_app, db_url):
    """An nginx on another host (API_UPSTREAM) is no loopback peer: every request was logged
    with its address. The proxies of FORWARDED_ALLOW_IPS (gunicorn's variable) are trusted
    with X-Forwarded-For as loopback is; any other peer is not."""
    from ella.config import forwarded_allow_ips
    toy_app.env = dict(toy_app.env, FORWARDED_ALLOW_IPS=forwarded_allow_ips(
        {"FORWARDED_ALLOW_IPS": "127.0.0.1, 10.0.0.0/24"}))
    forwarded = {"HTTP_X_FORWARDED_FOR": "192.0.2.7"}
    Client(toy_app, remote_addr="10.0.0.5").request("GET", "/api/v1/things/1/",
                                                    headers=forwarded)
    Client(toy_app, remote_addr="10.0.1.5").request("GET", "/api/v1/things/2/",
                                                    headers=forwarded)
    # The same proxy seen by a dual-stack listener (HOST=::).
    Client(toy_app, remote_addr="::ffff:10.0.0.5").request("GET", "/api/v1/things/3/",
                                                           headers=forwarded)
    assert _sql(db_url, "SELECT resource, host(remote_addr) FROM resourcelog ORDER BY id") == [
        ("/api/v1/things/1/", "192.0.2.7"), ("/api/v1/things/2/", "10.0.1.5"),
        ("/api/v1/things/3/", "192.0.2.7")]


def test_requests_with_nul_characters_are_logged_too(toy_app, db_url):
    """PostgreSQL text cannot hold NUL: a request with one is refused (400), and still gets
    its audit row (the character stored as U+FFFD), not silently losing it."""
    client = Client(toy_app)
    assert client.request("POST", "/api/v1/things/", raw=b'{"k": "v"}\x00').status == 400
    assert client.get("/api/v1/files/a\x00b").status == 400
    assert client.get("/api/v1/things/1/", query="x=%00").status == 400
    rows = _sql(db_url, "SELECT method, resource, query, payload, statuscode FROM resourcelog "
                        "ORDER BY id")
    assert rows == [("POST", "/api/v1/things/", "", '{"k": "v"}\ufffd', 400),
                    ("GET", "/api/v1/files/a\ufffdb", "", None, 400),
                    ("GET", "/api/v1/things/1/", "x=%00", None, 400)]


def test_json_that_python_or_postgresql_cannot_take_is_400(toy_app):
    """json.loads takes NaN/Infinity (not JSON), reads 1e999 as infinity, keeps \\u0000
    (PostgreSQL text refuses it) and recurses until RecursionError on deep nesting: each is
    a 400 with a message when the body is parsed."""
    client = Client(toy_app)
    deep_ok = b"[" * 100 + b"]" * 100
    assert client.request("POST", "/api/v1/things/", raw=deep_ok).status == 200
    refused = "JSON in the body refused: "
    for raw, message in [
            (b'{"a": NaN}', "refused: a: NaN is not a number JSON or PostgreSQL can store"),
            (b'[1, -Infinity]', "refused: [1]: -Infinity is not a number JSON or PostgreSQL can store"),
            (b'{"a": 1e999}', "refused: a: the number 1e999 is too large to store"),
            (b'{"a": ["x\\u0000y"]}', "a[0] contains a NUL character (\\u0000), which "
                                      "PostgreSQL cannot store"),
            (b'{"x\\u0000": 1}', "x? contains a NUL character"),
            (b'{"a": "\\ud800"}', "a contains an unpaired surrogate escape (\\ud800)"),
            (b'{"\\udfff": 1}', "? contains an unpaired surrogate escape (\\udfff)"),
            (b"[" * 101 + b"]" * 101, "[0][0][0]"),
            (b"[" * 101 + b"]" * 101, "is nested too deeply (at most 100 levels)"),
            (b'{"a": ' * 100000, "nested too deeply (at most 100 levels)"),
            (b"[" * 100000, "nested too deeply (at most 100 levels)")]:
        result = client.request("POST", "/api/v1/things/", raw=raw)
        assert result.status == 400, (raw[:30], result.body)
        assert result.json["message"].startswith(refused), (raw[:30], result.json)
        assert message in result.json["message"], (raw[:30], result.json)


def test_int_path_values_within_postgresql_integer(toy_app):
    client = Client(toy_app)
    assert client.get("/api/v1/things/2147483647/").json["id"] == 2147483647
    assert client.get("/api/v1/things/0002147483647/").json["id"] == 2147483647
    assert client.get("/api/v1/things/" + "0" * 5000 + "7/").json["id"] == 7
    for value in ("2147483648", "9" * 5000):
        result = client.get(f"/api/v1/things/{value}/")
        assert result.status == 400
        assert result.json == {"message": "Path parameter thing_id is out of range "
                                          "(-2147483648 to 2147483647)"}


def test_bodies_of_unmatched_routes_are_not_logged(api_app, db_url):
    """A mistyped or wrong-method login carries a password: with no route to say the body
    may be logged, it is not."""
    client = Client(api_app)
    body = {"username": "someone", "password": "Sup3r-Secret-pw"}
    assert client.request("PUT", "/api/v1/users/actions/login/", json_body=body).status == 405
    assert client.post("/api/v1/users/actions/login//", body).status == 404
    assert client.post("/api/v1/users/actions/logn/", body).status == 404
    rows = _sql(db_url, "SELECT resource, payload, payload_size, statuscode FROM resourcelog "
                        "ORDER BY id")
    assert [(r[1], r[2]) for r in rows] == [(None, 0)] * 3
    assert "Sup3r" not in str(_sql(db_url, "SELECT * FROM resourcelog"))


def test_specs_list_every_route(api_app):
    specs = Client(api_app).get("/api/v1/specs/").json
    assert specs["openapi"].startswith("3.")
    documented = {(method.upper(), path) for path, ops in specs["paths"].items() for method in ops}
    import re
    routes = {(r.method, re.sub(r"<(?:int:)?([a-z_]+)>", r"{\1}", r.pattern))
              for r in api_app.router.routes}
    assert documented == routes
    login = specs["paths"]["/api/v1/users/actions/login/"]["post"]
    assert login["x-ella-auth"] == "open"


def test_config_logged_out_and_in(api_app, db_url, ella_config):
    client = Client(api_app)
    config = client.get("/api/v1/config/").json
    assert set(config) >= {"app", "user", "analysis", "frequencies", "classification", "report",
                           "transcripts", "igv", "import", "similar_alleles", "acmg",
                           "custom_annotation"}
    assert config["user"]["auth"]["password_minimum_length"] == 8
    assert len(config["transcripts"]["consequences"]) == 40
    assert config["acmg"]["codes"]["pathogenic"] == ["PVS", "PS", "PM", "PP", "PNW"]
    assert config["user"]["user_config"] == ella_config["user"]["user_config"]
    add_user(db_url, "alice", "lab")
    _sql(db_url, "UPDATE usergroup SET config = %s WHERE name = 'lab'",
         (json.dumps({"acmg": {"frequency": {}}, "overview": {"views": ["variants"]}}),))
    client = logged_in_client(api_app, db_url, "alice")
    user_config = client.get("/api/v1/config/").json["user"]["user_config"]
    assert user_config["overview"] == {"views": ["variants"]}
    assert user_config["acmg"] == {"frequency": {}}
    assert user_config["deposit"] is None and user_config["comment_templates"] is None
    assert user_config["workflows"] == ella_config["user"]["user_config"]["workflows"]


def test_broadcasts_and_password_notice(api_app, db_url):
    client = Client(api_app)
    assert client.get("/api/v1/broadcasts/").json == []
    _sql(db_url, "INSERT INTO broadcast (date_created, message, active) VALUES "
                 "(now(), 'Test', true), (now(), 'Hidden', false)")
    (item,) = client.get("/api/v1/broadcasts/").json
    assert item["id"] == 1 and item["message"] == "Test" and item["date"].endswith("+00:00")
    add_user(db_url, "bob", "lab")
    client = logged_in_client(api_app, db_url, "bob")
    _sql(db_url, "UPDATE \"user\" SET password_expiry = %s WHERE username = 'bob'",
         (datetime.now(timezone.utc) + timedelta(days=3),))
    notice, test = client.get("/api/v1/broadcasts/").json
    assert "expire in 2 day(s)" in notice["message"] and isinstance(notice["id"], str)
    assert test["message"] == "Test"
    # An expiry in the first week of year 1 (an operator's "expired long ago") has no date a
    # week before it: the notice was a 500 (OverflowError).
    _sql(db_url, "UPDATE \"user\" SET password_expiry = '0001-01-05T00:00:00Z' "
                 "WHERE username = 'bob'")
    notice, test = client.get("/api/v1/broadcasts/").json
    assert notice["date"] == "0001-01-01T00:00:00+00:00"
    assert "expire in 0 day(s)" in notice["message"]


def test_health(api_app, db_url):
    client = Client(api_app)
    assert client.get("/api/v1/health/").json["status"] == "ok"
    _sql(db_url, "UPDATE alembic_version SET version_num = 'abcdef123456'")
    result = client.get("/api/v1/health/")
    assert result.status == 503 and result.json["status"] == "error"


def test_an_unreachable_database_is_503_without_a_traceback(ella_config, caplog):
    """A worker that has to (re)connect during an outage: 503 as for a dropped connection,
    one log line naming the cause with the password masked (was 500 and a traceback)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens once the block ends
    app = create_app(ella_config, {"DB_URL": f"postgresql://ella:S3cretPW@127.0.0.1:{port}/e",
                                   "COOKIE_SECURE": False})
    client = Client(app)
    for path in ("/api/v1/health/", "/api/v1/broadcasts/", "/api/v1/users/currentuser/"):
        result = client.get(path)
        assert result.status == 503, (path, result.body)
        assert result.json["message"] == "The database is not available; try again later"
    assert "Traceback" not in caplog.text and "S3cretPW" not in caplog.text
    assert "database unavailable: cannot connect to the database" in caplog.text


def test_a_write_on_a_read_only_database_is_503(api_app, db_url, ella_config, caplog):
    """A standby DB_URL points at after a failover, or a maintenance freeze: a login (it
    writes a session) answered 500 "Internal Server Error" with a traceback in the log."""
    from psycopg.conninfo import make_conninfo
    add_user(db_url, "ro_user", "ro_group")
    logged_in = logged_in_client(api_app, db_url, "ro_user")  # sets its password
    frozen = create_app(ella_config, {
        "DB_URL": make_conninfo(db_url, options="-c default_transaction_read_only=on"),
        "COOKIE_SECURE": False})
    try:
        result = Client(frozen).login("ro_user", TEST_PASSWORD)
        # A logged-in user's reads go on (marking the session's activity is a write: every
        # logged-in request answered 503).
        reader = Client(frozen)
        reader.cookies = dict(logged_in.cookies)
        read = reader.get("/api/v1/users/currentuser/")
        assert read.status == 200 and read.json["username"] == "ro_user", read.body
        stranger = Client(frozen)
        stranger.cookies = {name: "0" * 64 for name in logged_in.cookies}
        assert stranger.get("/api/v1/users/currentuser/").status == 403
    finally:
        frozen._drop_connection()
    assert result.status == 503, (result.status, result.body)
    assert result.json["message"] == ("The database takes no changes now (it is read-only); "
                                      "nothing was saved. Try again later.")
    assert "Traceback" not in caplog.text
    assert "database takes no writes: cannot execute SELECT FOR UPDATE in a read-only" \
        in caplog.text


def test_ui_exception_log(api_app, db_url):
    client = Client(api_app)
    body = {"message": "TypeError: x is undefined", "location": "/overview",
            "stacktrace": "at f()", "state": {"a": 1}}
    assert client.post("/api/v1/ui/exceptionlog/", body).json is None
    assert _sql(db_url, "SELECT message, location, state FROM uiexception") == [
        ("TypeError: x is undefined", "/overview", {"a": 1})]
    assert _sql(db_url, "SELECT payload FROM resourcelog") == [(None,)]
    assert client.post("/api/v1/ui/exceptionlog/", {"nope": 1}).status == 400
    # Open to anyone, so every field is bounded (each request could store the body limit).
    for field, value in (("message", "x" * 100_001), ("location", "x" * 100_001),
                         ("stacktrace", "y" * 2 * 2**20)):
        result = client.post("/api/v1/ui/exceptionlog/", {"message": "m", field: value})
        assert result.status == 400 and "too" in result.json["message"], field
    assert _sql(db_url, "SELECT count(*) FROM uiexception") == [(1,)]
    # A state over its limit (the whole UI state of a large analysis' view) is left out and
    # the report kept: refused, the message and stacktrace were lost with it.
    big = {"message": "TypeError: big", "stacktrace": "at g()", "state": {"s": "z" * 1_000_000}}
    assert client.post("/api/v1/ui/exceptionlog/", big).status == 200
    assert _sql(db_url, "SELECT message, stacktrace, state FROM uiexception "
                        "WHERE message = 'TypeError: big'") == [
        ("TypeError: big", "at g()", {"omitted": "the UI state, 1,000,009 characters of JSON, "
                                                 "is over the limit of 1,000,000"})]
    # Characters, not the bytes of an ASCII-escaped dump: Norwegian text counts once each.
    norwegian = {"tekst": "blåbærsyltetøy " * 60_000}  # 900,000 characters
    assert client.post("/api/v1/ui/exceptionlog/", {"message": "m", "state": norwegian}
                       ).status == 200


def test_ui_exception_state_keeps_no_typed_password(api_app, db_url):
    """ELLA's UI sends its whole state, whose login view holds the passwords being typed:
    they were stored in plain text."""
    login = {"username": "testuser", "password": "Secret-old-1", "newPassword": "Secret-new-1",
             "confirmNewPassword": "Secret-new-1", "PASSWORD_hint": ["x"], "oldPassword": ""}
    state = {"views": {"login": login, "list": [{"password": None, "n": 1}]}}
    assert Client(api_app).post("/api/v1/ui/exceptionlog/", {
        "message": "TypeError: x", "location": "/login", "state": state}).status == 200
    assert _sql(db_url, "SELECT state FROM uiexception") == [({"views": {
        "login": {"username": "testuser", "password": "(removed)", "newPassword": "(removed)",
                  "confirmNewPassword": "(removed)", "PASSWORD_hint": "(removed)",
                  "oldPassword": ""},
        "list": [{"password": None, "n": 1}]}},)]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_through_real_gunicorn(db_url):
    """bin/ella-api serves the app with gunicorn: health, login failure, 404, SIGTERM."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("ELLA_CONFIG",)}
    env.update(DB_URL=db_url, PORT=str(port), NUM_WORKERS="2")
    proc = subprocess.Popen([str(ROOT / "bin" / "ella-api")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/health/", timeout=5) as response:
                    assert json.load(response)["status"] == "ok"
                break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError("gunicorn did not come up: " + (proc.stdout.read()
                                                                        if proc.poll() else ""))
                time.sleep(0.2)
        request = urllib.request.Request(
            f"{base}/users/actions/login/", method="POST",
            data=json.dumps({"username": "nobody", "password": "x"}).encode(),
            headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as failure:
            urllib.request.urlopen(request, timeout=5)
        assert failure.value.code == 401
        assert json.load(failure.value) == {"message": "Invalid username nobody"}
        with pytest.raises(urllib.error.HTTPError) as failure:
            urllib.request.urlopen(f"{base}/nothing/here/", timeout=5)
        assert failure.value.code == 404
        # A header line nginx lets through (up to 512k) reaches the API: gunicorn's default
        # of 8190 bytes answered 431 with an HTML page.
        long_header = urllib.request.Request(f"{base}/health/",
                                             headers={"X-Trace": "t" * 20000})
        with urllib.request.urlopen(long_header, timeout=5) as response:
            assert response.status == 200
        # gunicorn read X-Forwarded-Ssl/-Protocol too: one disagreeing with X-Forwarded-Proto
        # made every request an HTML 400 ("Contradictory scheme headers").
        contradicting = urllib.request.Request(f"{base}/health/", headers={
            "X-Forwarded-Proto": "http", "X-Forwarded-Ssl": "on"})
        with urllib.request.urlopen(contradicting, timeout=5) as response:
            assert response.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def test_api_refuses_to_start_on_a_database_not_at_head(empty_db_url):
    env = {k: v for k, v in os.environ.items() if k not in ("ELLA_CONFIG",)}
    env.update(DB_URL=empty_db_url, PORT=str(_free_port()))
    result = subprocess.run([str(ROOT / "bin" / "ella-api")], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 1 and "not ready" in result.stderr


def test_docs_page_lists_the_routes(api_app):
    result = Client(api_app).get("/api/v1/docs/")
    assert result.status == 200 and result.header("Content-Type").startswith("text/html")
    page = result.body.decode()
    import re
    for route in api_app.router.routes:
        assert re.sub(r"<(?:int:)?([a-z_]+)>", r"{\1}", route.pattern) in page, route.pattern
    assert "<script" not in page


def _state_and_parent(pid):
    """(state letter, parent pid) from /proc, or None when the process is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[0], int(fields[1])


def _children(pid):
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        info = _state_and_parent(int(entry.name))
        if info and info[1] == pid and info[0] != "Z":
            found.append(int(entry.name))
    return found


def _running(pid):
    info = _state_and_parent(pid)
    return info is not None and info[0] != "Z"


def test_workers_of_a_killed_gunicorn_master_end(db_url):
    """kill -9 of the master (the OOM killer): its workers served on for up to
    GUNICORN_TIMEOUT/2 (250 s), with their database connections, beside the new master."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("ELLA_CONFIG",)}
    env.update(DB_URL=db_url, PORT=str(port), NUM_WORKERS="2")
    proc = subprocess.Popen([str(ROOT / "bin" / "ella-api")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers = []
    try:
        deadline = time.monotonic() + 60
        while True:  # the workers serve (a worker still booting notices the change itself)
            assert time.monotonic() < deadline and proc.poll() is None, "gunicorn did not start"
            workers = _children(proc.pid)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health/",
                                            timeout=5):
                    pass
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
                continue
            if len(workers) == 2:
                break
        time.sleep(2)  # both in their accept loop
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 20
        while any(_running(w) for w in workers):
            assert time.monotonic() < deadline, f"workers {workers} outlived their master"
            time.sleep(0.2)
    finally:
        for worker in workers:
            try:
                os.kill(worker, signal.SIGKILL)
            except OSError:
                pass
