"""The HTTP core pinned where the other tests leave it open: body limits and content types
(api.md 1.2, README "Requests"), query parameters (api.md 1.1, 1.7, 1.8), the JSON encoding
(api.md 1.3), the transaction of a request and the mapping of database errors (README
"Consistency", "Where the status codes differ from ELLA")."""

import io
import json

import psycopg
import pytest

from ella.web.app import App
from ella.web.errors import Conflict
from ella.web.router import Router
from ella.web.validation import require_object
from api_client import Client
from api_helpers import add_user, logged_in_client

API = "/api/v1"
LIMIT = 10 * 1024 * 1024  # README: JSON bodies up to 10 MiB


def _count(url, query, params=()):
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchone()[0]


@pytest.fixture
def core_app(db_url, ella_config):
    """An app with a small route table of its own: the framework without any real route."""
    router = Router()
    seen = []

    @router.route("POST", f"{API}/echo/", auth="open")
    def echo(ctx):
        return {"got": ctx.request.json()}

    @router.route("POST", f"{API}/typed/", auth="open")
    def typed(ctx):
        return require_object(ctx.request.json(), {"id": int, "ids": list})

    @router.route("POST", f"{API}/maybe/", auth="open")
    def maybe(ctx):
        return {"got": ctx.request.json(required=False)}

    @router.route("GET", f"{API}/names/<name>", auth="open")
    def name(ctx, name):
        return {"name": name}

    @router.route("GET", f"{API}/args/", auth="open")
    def args(ctx):
        return ctx.request.args

    @router.route("GET", f"{API}/isolation/", auth="open")
    def isolation(ctx):
        seen.append(ctx.conn.execute("SHOW transaction_isolation").fetchone()[0])
        return seen[-1]

    @router.route("POST", f"{API}/halfwrite/<kind>/", auth="open")
    def halfwrite(ctx, kind):
        ctx.conn.execute("INSERT INTO usergroup (name, config) VALUES (%s, '{}')",
                         (f"half-{kind}",))
        if kind == "conflict":
            raise Conflict("refused after a first write")
        if kind == "crash":
            raise RuntimeError("failed after a first write")
        return None

    @router.route("POST", f"{API}/unlogged/", auth="open", resource_log=False)
    def unlogged(ctx):
        ctx.conn.execute("INSERT INTO usergroup (name, config) VALUES ('unlogged', '{}')")
        return None

    @router.route("GET", f"{API}/sqlstate/<code>/", auth="open")
    def sqlstate(ctx, code):
        # PostgreSQL itself raises the error of that SQLSTATE.
        ctx.conn.execute(f"DO $$ BEGIN RAISE EXCEPTION 'raised' USING ERRCODE = '{code}'; "
                         "END $$")

    app = App(ella_config, {"DB_URL": db_url, "COOKIE_SECURE": False}, router=router)
    app.seen = seen
    yield app
    app._drop_connection()


def test_a_body_of_exactly_the_limit_is_read_and_one_byte_more_is_413(core_app):
    """README "Requests": JSON bodies up to 10 MiB; a larger Content-Length is a 413 before
    anything is read."""
    client = Client(core_app)
    at_limit = client.request("POST", f"{API}/echo/", raw=b"{}",
                              headers={"CONTENT_LENGTH": str(LIMIT)})
    assert (at_limit.status, at_limit.json) == (200, {"got": {}})
    over = client.request("POST", f"{API}/echo/", raw=b"{}",
                          headers={"CONTENT_LENGTH": str(LIMIT + 1)})
    assert over.status == 413 and "too large" in over.json["message"]


def test_a_negative_content_length_reads_no_body(core_app):
    """README "Requests": the body limit holds; a Content-Length below zero is no length to
    read the whole stream by (the body counts as absent)."""
    client = Client(core_app)
    result = client.request("POST", f"{API}/echo/", raw=b"{}", headers={
        "CONTENT_LENGTH": "-1", "wsgi.input": io.BytesIO(b'{"k": "' + b"x" * 1000 + b'"}')})
    assert (result.status, result.json) == (400, {"message": "A JSON body is required"})


def test_the_json_media_type_is_compared_without_its_parameters(core_app):
    """api.md 1.2: the UI sends `application/json; charset=UTF-8`; only the media type is
    compared."""
    client = Client(core_app)
    for content_type in ("application/json; charset=UTF-8", "Application/JSON;charset=utf-8",
                         "application/vnd.ella+json"):
        result = client.post(f"{API}/echo/", {"a": 1}, content_type=content_type)
        assert (result.status, result.json) == (200, {"got": {"a": 1}}), content_type


@pytest.mark.parametrize("content_type", ["text/plain", "text/plain; charset=utf-8",
                                          "application/x-www-form-urlencoded"])
def test_a_json_body_of_another_content_type_is_400(core_app, content_type):
    """api.md 1.2: JSON bodies come as application/json; a form's types (which any web page
    can make a browser send without asking) are refused, not parsed."""
    result = Client(core_app).post(f"{API}/echo/", {"a": 1}, content_type=content_type)
    assert result.status == 400 and "application/json" in result.json["message"]


def test_a_json_body_without_a_content_type_is_400(core_app):
    """README (status codes): a JSON body sent without a Content-Type is a 400 "... the
    request had no Content-Type"."""
    result = Client(core_app).post(f"{API}/echo/", {"a": 1}, content_type="")
    assert result.status == 400
    assert "the request had no Content-Type" in result.json["message"]


def test_a_blank_body_on_a_route_whose_body_is_optional_is_no_body(core_app):
    """README "Requests": action routes without a body ignore one; a body of blanks only
    (a line break a client sends) is no body, not malformed JSON."""
    client = Client(core_app)
    result = client.request("POST", f"{API}/maybe/", raw=b" \r\n")
    assert (result.status, result.json) == (200, {"got": None})
    result = client.request("POST", f"{API}/echo/", raw=b" \n")
    assert (result.status, result.json) == (400, {"message": "A JSON body is required"})


@pytest.mark.parametrize("body", [{"id": True, "ids": []}, {"id": False, "ids": []},
                                  {"id": 1, "ids": True}])
def test_true_or_false_is_no_integer_in_a_body(core_app, body):
    """api.md 1.2: bodies are validated against typed models (numeric strings are coerced
    to integers); true/false is no id (it would be read as 1 or 0)."""
    client = Client(core_app)
    assert client.post(f"{API}/typed/", {"id": "7", "ids": [1]}).json == {"id": 7, "ids": [1]}
    result = client.post(f"{API}/typed/", body)
    assert result.status == 400 and "must be" in result.json["message"], result.body


def test_json_answers_are_ascii_escaped(core_app):
    """api.md 1.3: JSON answers are a plain json.dumps (ASCII-escaped)."""
    result = Client(core_app).get(f"{API}/names/Bjørnå")
    assert result.status == 200 and result.json == {"name": "Bjørnå"}
    assert result.body == b'{"name": "Bj\\u00f8rn\\u00e5"}'


def test_the_first_value_of_a_repeated_query_parameter_wins(core_app):
    """api.md 1.1: when a parameter is given several times, the first value is used."""
    result = Client(core_app).get(f"{API}/args/", query="a=1&b=x&a=2&a=3")
    assert (result.status, result.json) == (200, {"a": "1", "b": "x"})


def test_a_nul_character_in_a_query_parameter_name_is_400(core_app):
    """README "Requests": a NUL in any query parameter is refused (400)."""
    result = Client(core_app).get(f"{API}/args/", query="a%00b=1")
    assert result.status == 400 and "NUL" in result.json["message"]


def test_reads_run_in_one_snapshot_also_for_head(core_app):
    """README "Consistency": a GET and a HEAD read one snapshot (REPEATABLE READ)."""
    client = Client(core_app)
    assert client.get(f"{API}/isolation/").json == "repeatable read"
    head = client.request("HEAD", f"{API}/isolation/")
    assert (head.status, head.body) == (200, b"")
    assert core_app.seen == ["repeatable read", "repeatable read"]


@pytest.mark.parametrize("kind, status", [("conflict", 409), ("crash", 500)])
def test_a_request_that_fails_after_a_write_leaves_nothing(core_app, db_url, kind, status):
    """app.py/README: each request is one transaction, rolled back on any error: a write the
    handler made before it failed is not stored (nor by the resource log's commit)."""
    result = Client(core_app).post(f"{API}/halfwrite/{kind}/", {})
    assert result.status == status
    assert _count(db_url, "SELECT count(*) FROM usergroup WHERE name = %s",
                  (f"half-{kind}",)) == 0
    assert _count(db_url, "SELECT count(*) FROM resourcelog WHERE resource = %s",
                  (f"{API}/halfwrite/{kind}/",)) == 1
    ok = Client(core_app).post(f"{API}/halfwrite/ok/", {})
    assert ok.status == 200
    assert _count(db_url, "SELECT count(*) FROM usergroup WHERE name = 'half-ok'") == 1


def test_a_request_commits_when_its_handler_returns_also_without_a_log_row(core_app, db_url):
    """app.py: a request's transaction is committed when the handler returns, not by the
    resource log's row (routes without one: README "Audit"); no transaction stays open."""
    result = Client(core_app).post(f"{API}/unlogged/", {})
    assert result.status == 200
    assert _count(db_url, "SELECT count(*) FROM usergroup WHERE name = 'unlogged'") == 1
    assert _count(db_url, "SELECT count(*) FROM resourcelog") == 0
    assert _count(db_url, "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                          "'ella-api' AND state = 'idle in transaction'") == 0


@pytest.mark.parametrize("code, status, text", [
    ("40001", 409, "Another request changed the same data"),  # serialization failure
    ("40P01", 409, "Another request changed the same data"),  # deadlock
    ("55P03", 503, "The database is busy"),                   # lock_timeout
    ("57014", 503, "The database is busy"),                   # statement_timeout
    ("54011", 400, "too large to store"),                     # a program limit (class 54)
])
def test_passing_database_refusals_map_to_their_status(core_app, code, status, text):
    """README (status codes): a request PostgreSQL rolls back in a deadlock or serialization
    failure (SQLSTATE class 40) is a 409 "... Try again."; past the lock or statement limit a
    503 "The database is busy"; over a database limit (any class 54) a 400. The worker keeps
    its connection for the next request."""
    client = Client(core_app)
    result = client.get(f"{API}/sqlstate/{code}/")
    assert result.status == status and text in result.json["message"], result.json
    assert client.get(f"{API}/isolation/").status == 200


@pytest.fixture
def users(api_app, db_url):
    """A client of user `pinq_a`, and the ids of pinq_a, pinq_b, pinq_c (one group)."""
    ids = [add_user(db_url, f"pinq_{x}", "pinqgroup") for x in "abc"]
    return logged_in_client(api_app, db_url, "pinq_a"), ids


def _listed(client, q=None, **query):
    if q is not None:
        query["q"] = json.dumps(q)
    result = client.get(f"{API}/users/", query=query)
    assert result.status == 200, result.body
    return [user["id"] for user in result.json]


def test_q_comparison_operators(users):
    """api.md 1.8: `$lt`, `$lte`, `$neq` are <, <= and <> on the column."""
    client, (a, b, c) = users
    assert _listed(client, {"id": {"$lt": b}}) == [a]
    assert _listed(client, {"id": {"$lte": b}}) == [a, b]
    assert _listed(client, {"id": {"$neq": a}}) == [b, c]
    assert _listed(client, {"id": {"$gt": a, "$lt": c}}) == [b]


def test_q_like_is_case_sensitive_and_ilike_is_not(users):
    """api.md 1.8: `$like` and `$ilike` are SQL LIKE and ILIKE on the column as text."""
    client, ids = users
    assert _listed(client, {"username": {"$like": "PINQ\\_%"}}) == []
    assert _listed(client, {"username": {"$like": "pinq\\_%"}}) == ids
    assert _listed(client, {"username": {"$ilike": "PINQ\\_%"}}) == ids


def test_q_nin_of_an_empty_list_keeps_every_row(users):
    """api.md 1.8: only an empty list (or `$in` of one) empties the result; `$nin` of an
    empty list excludes nothing."""
    client, ids = users
    assert _listed(client, {"id": {"$nin": []}}) == ids
    assert _listed(client, {"id": {"$in": []}}) == []
    assert _listed(client, {"id": []}) == []


@pytest.mark.parametrize("q", ['{"id": {"$foo": 1}}', '{"id": {"$regex": ".*"}}', "[1, 2]",
                               '"id"', "7"])
def test_a_q_with_an_unknown_operator_or_no_object_is_400(users, q):
    """README (status codes): a malformed `q` is a 400 with a message (not a filter silently
    dropped, not a 500)."""
    client, _ = users
    result = client.get(f"{API}/users/", query={"q": q})
    assert result.status == 400 and result.json["message"], result.body


@pytest.mark.parametrize("query", [{"page": "0"}, {"per_page": "0"}, {"page": "-1"},
                                   {"page": "2147483648"}, {"per_page": "2147483648"}])
def test_page_and_per_page_out_of_bounds_are_400(users, query):
    """api.md 1.7: `page` is 1-based and offset = (page - 1) x per_page; README: an integer
    beyond PostgreSQL's integer (2147483647) in a query parameter (`page`, ...) is a 400."""
    client, _ = users
    result = client.get(f"{API}/users/", query=query)
    assert result.status == 400 and result.json["message"], result.body


def test_the_largest_page_is_an_empty_page(users):
    """api.md 1.7: a page past the end answers an empty list with the headers."""
    client, _ = users
    result = client.get(f"{API}/users/", query={"page": "2147483647", "per_page": "1"})
    assert (result.status, result.json) == (200, [])
    assert (result.header("Page"), result.header("Total-Count")) == ("2147483647", "3")


def test_the_first_of_repeated_pagination_parameters_is_used(users):
    """api.md 1.1: the first value of a repeated query parameter is used."""
    client, (a, b, c) = users
    result = client.get(f"{API}/users/", query="per_page=1&per_page=2&page=2&page=1")
    assert result.status == 200 and [u["id"] for u in result.json] == [b]
    assert (result.header("Per-Page"), result.header("Page")) == ("1", "2")


def test_head_of_a_login_route_without_a_session_is_403(api_app):
    """api.md 1.5 and 1.1: a login-only route answers 403 without a valid session, HEAD as
    GET."""
    client = Client(api_app)
    assert client.request("HEAD", f"{API}/users/currentuser/").status == 403
    assert client.get(f"{API}/users/currentuser/").status == 403
