"""The small routes: ACMG suggestions and classification, the served config, annotation view
configs, health, broadcasts, the UI exception log, and the route table served by specs/ and
docs/.

Pinned here:
- `POST acmg/alleles/` accepts a reused reference assessment exactly as served (api.md 4.23,
  3.5), refuses a reference id that is no integer, names the first unknown variant, and
  reports a frequency column the database lacks as an ACMG config error (acmg.md 3.1);
  `GET acmg/classifications/` reads `codes` with blanks around the commas (api.md 4.23).
- `GET config/`: the caller's merged user config is the caller's own group's, and never
  reaches the next caller (config-cli-ops.md 2.1 item 5); `GET annotationconfigs/` answers in
  the requested order and refuses an empty id list (api.md 2.2).
- `GET health/`: 200 with the service's version; not resource-logged (README "Audit").
- `GET broadcasts/`: the personal notice is dated a week before the expiry (api.md 4.26).
- `POST ui/exceptionlog/`: each text up to exactly its limit (README "Routes"); the time, the
  caller's session and every field are stored; a text message is required (api.md 4.28).
- `GET specs/`: login requirement, access rule, summary, path parameters and the session
  cookie of each route; `GET docs/` shows the same columns, HTML-escaped.
"""

import html
import json
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from psycopg.types.json import Jsonb

from api_client import Client
from api_helpers import add_user, logged_in_client
from ella import __version__

API = "/api/v1"
ACMG_ALLELES = f"{API}/acmg/alleles/"
EXCEPTIONLOG = f"{API}/ui/exceptionlog/"


def _sql(db_url, query, params=()):
    with psycopg.connect(db_url) as conn:
        cursor = conn.execute(query, params)
        return cursor.fetchall() if cursor.description else None


# -- POST acmg/alleles/, GET acmg/classifications/ -----------------------------------------

@pytest.fixture
def acmg_client(demo_api_app, demo_db_url):
    """testuser1 (testgroup01, whose stored config has an `acmg` section) on the real ELLA
    database, and the id of its BRCA2 stop_gained variant."""
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    (allele_id,), = _sql(demo_db_url, "SELECT id FROM allele WHERE chromosome = '13' AND "
                                      "vcf_pos = 32890607 AND vcf_ref = 'G' AND vcf_alt = 'T'")
    return client, allele_id


def _body(allele_ids, refs=()):
    return {"allele_ids": allele_ids, "gp_name": "HBOCUTV", "gp_version": "v01",
            "referenceassessments": list(refs)}


def test_a_reused_reference_assessment_is_accepted_as_served(acmg_client):
    """A reused reference assessment comes as the full ReferenceAssessment object the API
    served, with every optional key set (api.md 4.23 "Accepted keys", 3.5)."""
    client, allele_id = acmg_client
    served = {"id": 7, "allele_id": allele_id, "reference_id": 3, "analysis_id": 1,
              "genepanel_name": "HBOCUTV", "genepanel_version": "v01",
              "date_created": "2020-10-19T10:46:43.419040+00:00",
              "date_superceeded": "2021-01-02T03:04:05+00:00", "user_id": 1,
              "evaluation": {"ref_de_novo": "de_novo_confirmed"},
              "reuse": True, "reuseCheckedId": 7}
    result = client.post(ACMG_ALLELES, _body([allele_id], [served]))
    assert result.status == 200, result.body
    codes = result.json[str(allele_id)]["codes"]
    assert f"refassessment.{allele_id}_3.ref_de_novo" in [c["source"] for c in codes], codes
    assert "PS2" in [c["code"] for c in codes]


def test_a_reference_id_that_is_no_integer_is_refused(acmg_client):
    """`reference_id` of a reference assessment is an int (api.md 4.23; numeric strings are
    read as ints, api.md 1.2)."""
    client, allele_id = acmg_client
    ref = {"allele_id": allele_id, "evaluation": {"ref_de_novo": "de_novo_confirmed"}}
    refused = client.post(ACMG_ALLELES, _body([allele_id], [{**ref, "reference_id": "x"}]))
    assert refused.status == 400 and "reference_id" in refused.json["message"], refused.body
    read = client.post(ACMG_ALLELES, _body([allele_id], [{**ref, "reference_id": "3"}]))
    assert read.status == 200, read.body
    sources = [c["source"] for c in read.json[str(allele_id)]["codes"]]
    assert f"refassessment.{allele_id}_3.ref_de_novo" in sources, sources


def test_the_404_names_the_first_unknown_variant(acmg_client):
    """Several unknown allele ids: the message names the first one asked for."""
    client, allele_id = acmg_client
    result = client.post(ACMG_ALLELES, _body([allele_id, 987654, 987655]))
    assert result.status == 404
    assert result.json["message"] == "No allele with id 987654"


def test_a_frequency_column_the_database_lacks_is_an_acmg_config_error(acmg_client,
                                                                       demo_db_url):
    """A group's acmg.frequency.groups naming a population the frequency shadow table has no
    column for: a 500 naming the config to mend (acmg.md 3.1), not an unexplained error."""
    client, allele_id = acmg_client
    (config,), = _sql(demo_db_url, "SELECT config FROM usergroup WHERE name = 'testgroup01'")
    acmg = config["acmg"]
    acmg["frequency"]["groups"]["external"] = {"GNOMAD_GENOMES": ["NOSUCHPOP"]}
    _sql(demo_db_url, "UPDATE usergroup SET config = config || %s WHERE name = 'testgroup01'",
         (Jsonb({"acmg": acmg}),))
    result = client.post(ACMG_ALLELES, _body([allele_id]))
    assert result.status == 500
    assert result.json["message"].startswith(
        "ACMG config error: acmg.frequency.groups: column GNOMAD_GENOMES.NOSUCHPOP is not in "
        "the frequency shadow table"), result.json


def test_classification_codes_may_have_blanks_around_the_commas(api_app):
    """`codes=PVS1, PS2` names the same codes as `codes=PVS1,PS2` (api.md 4.23)."""
    result = Client(api_app).get(f"{API}/acmg/classifications/", query="codes= PVS1 , PS2 ")
    assert result.status == 200, result.body
    assert result.json["class"] == 5 and result.json["contributors"] == ["PVS1", "PS2"]


# -- GET config/, GET annotationconfigs/ ---------------------------------------------------

def test_each_caller_gets_their_own_groups_user_config(api_app, db_url, ella_config):
    """`user.user_config` is the caller's merged config (config-cli-ops.md 2.1 item 5): each
    user's own group's, and never left behind for the next caller, logged in or not."""
    default = ella_config["user"]["user_config"]
    add_user(db_url, "first", "plain")
    add_user(db_url, "second", "lab")
    _sql(db_url, "UPDATE usergroup SET config = %s WHERE name = 'lab'",
         (json.dumps({"overview": {"views": ["variants"]}, "comment_templates": []}),))
    plain = logged_in_client(api_app, db_url, "first")
    lab = logged_in_client(api_app, db_url, "second")
    for _ in range(2):
        served = lab.get(f"{API}/config/").json["user"]["user_config"]
        assert served["overview"] == {"views": ["variants"]}
        assert served["comment_templates"] == []
        served = plain.get(f"{API}/config/").json["user"]["user_config"]
        assert served["overview"] == default["overview"]
        assert served["comment_templates"] is None
        anonymous = Client(api_app).get(f"{API}/config/").json
        assert anonymous["user"]["user_config"] == default


def test_annotation_configs_come_in_the_requested_order(api_app, db_url):
    """`annotation_config_ids=2,1` answers config 2 then config 1; an empty list none (an
    older ELLA UI asks so for an analysis whose every variant is filtered out: a 400 was an
    error on its screen)."""
    ids = [_sql(db_url, "INSERT INTO annotationconfig (deposit, view, date_created) "
                        "VALUES ('[]', %s, now()) RETURNING id", (json.dumps(view),))[0][0]
           for view in ([{"section": "first"}], [{"section": "second"}])]
    add_user(db_url, "reader", "lab")
    client = logged_in_client(api_app, db_url, "reader")
    result = client.get(f"{API}/annotationconfigs/",
                        query={"annotation_config_ids": f"{ids[1]},{ids[0]}"})
    assert result.json == [{"id": ids[1], "view": [{"section": "second"}]},
                           {"id": ids[0], "view": [{"section": "first"}]}]
    empty = client.get(f"{API}/annotationconfigs/", query="annotation_config_ids=")
    assert (empty.status, empty.json) == (200, []), empty.body
    assert client.get(f"{API}/annotationconfigs/").status == 400  # the argument is required


# -- health, broadcasts, UI exception log --------------------------------------------------

def test_health_says_ok_with_the_version_and_is_not_resource_logged(api_app, db_url):
    """`GET health/` is polled by monitors: 200 with status, database and the service's
    version, and no resourcelog row (README "Audit")."""
    result = Client(api_app).get(f"{API}/health/")
    assert result.status == 200
    assert result.json == {"status": "ok", "database": "ok", "version": __version__}
    assert _sql(db_url, "SELECT count(*) FROM resourcelog") == [(0,)]


def test_the_password_notice_is_dated_a_week_before_the_expiry(api_app, db_url):
    """The personal notice's `date` is the caller's password_expiry - 7 days; another user's
    expiry far away gives that user none (api.md 4.26)."""
    add_user(db_url, "alice", "lab")
    add_user(db_url, "bob", "lab")
    alice = logged_in_client(api_app, db_url, "alice")
    client = logged_in_client(api_app, db_url, "bob")
    _sql(db_url, "UPDATE \"user\" SET password_expiry = %s WHERE username = 'bob'",
         (datetime.now(timezone.utc) + timedelta(days=3, hours=12),))
    (expiry,), = _sql(db_url, "SELECT password_expiry FROM \"user\" WHERE username = 'bob'")
    (notice,) = client.get(f"{API}/broadcasts/").json
    assert notice["date"] == (expiry - timedelta(days=7)).isoformat()
    assert "will expire in 3 day(s)" in notice["message"]
    assert alice.get(f"{API}/broadcasts/").json == []


def test_each_text_of_a_ui_exception_may_be_exactly_its_limit(api_app, db_url):
    """message, location and stacktrace up to 100,000 characters each, the state up to
    1,000,000 characters of JSON (README "Routes"); a longer text is refused, a larger state
    left out (the report kept)."""
    client = Client(api_app)
    for field in ("message", "location", "stacktrace"):
        body = {"message": "m", field: "x" * 100_000}
        assert client.post(EXCEPTIONLOG, body).status == 200, field
        body[field] += "x"
        assert client.post(EXCEPTIONLOG, body).status == 400, field
    state = {"s": "z" * (1_000_000 - len(json.dumps({"s": ""})))}
    assert len(json.dumps(state)) == 1_000_000
    assert client.post(EXCEPTIONLOG, {"message": "m", "state": state}).status == 200
    state["s"] += "z"  # one over: the report is kept, the state left out
    assert client.post(EXCEPTIONLOG, {"message": "m", "state": state}).status == 200
    assert _sql(db_url, "SELECT count(*) FROM uiexception") == [(5,)]
    assert _sql(db_url, "SELECT state FROM uiexception ORDER BY id DESC LIMIT 1") == [(
        {"omitted": "the UI state, 1,000,001 characters of JSON, is over the limit of "
                    "1,000,000"},)]


def test_a_ui_exception_is_stored_with_the_callers_session(api_app, db_url):
    """The row keeps every field, the time of the report and the caller's session id (null
    when not logged in) (api.md 4.28); location, stacktrace and state may be null; a body
    without a text message is refused."""
    add_user(db_url, "carol", "lab")
    client = logged_in_client(api_app, db_url, "carol")
    before = datetime.now(timezone.utc)
    body = {"message": "TypeError", "location": "/overview", "stacktrace": "at f()",
            "state": {"a": [1]}}
    assert client.post(EXCEPTIONLOG, body).status == 200
    assert Client(api_app).post(EXCEPTIONLOG, {"message": "anonymous"}).status == 200
    nulls = {"message": "nulls", "location": None, "stacktrace": None, "state": None}
    assert Client(api_app).post(EXCEPTIONLOG, nulls).status == 200
    for refused in ({"location": "/x"}, {"message": None}, {"message": 1}):
        assert Client(api_app).post(EXCEPTIONLOG, refused).status == 400, refused
    (session_id,), = _sql(db_url, "SELECT s.id FROM usersession s JOIN \"user\" u "
                                  "ON u.id = s.user_id WHERE u.username = 'carol'")
    rows = _sql(db_url, "SELECT usersession_id, message, location, stacktrace, state, \"time\" "
                        "FROM uiexception ORDER BY id")
    assert [row[:5] for row in rows] == [
        (session_id, "TypeError", "/overview", "at f()", {"a": [1]}),
        (None, "anonymous", None, None, {}), (None, "nulls", None, None, {})]
    assert all(before <= row[5] <= datetime.now(timezone.utc) for row in rows)


# -- specs/ and docs/ ----------------------------------------------------------------------

def test_specs_give_each_routes_login_access_summary_and_parameters(api_app):
    """The OpenAPI document names each route's login requirement, access rule (README
    "Routes"), summary and typed path parameters; login routes need the session cookie."""
    spec = Client(api_app).get(f"{API}/specs/").json
    assert spec["info"]["version"] == __version__
    assert spec["components"]["securitySchemes"]["session"] == {
        "type": "apiKey", "in": "cookie", "name": "AuthenticationToken"}
    for route in api_app.router.routes:
        path = route.pattern
        for name, kind in route.params:
            path = path.replace(f"<{'int:' if kind == 'int' else ''}{name}>", f"{{{name}}}")
        op = spec["paths"][path][route.method.lower()]
        assert op["x-ella-auth"] == route.auth, path
        assert op.get("x-ella-access") == route.access, path
        assert op["summary"] == route.summary, path
        assert op.get("security") == ([{"session": []}] if route.auth == "login" else None)
        assert op.get("parameters", []) == [
            {"name": name, "in": "path", "required": True,
             "schema": {"type": "integer", "minimum": 0} if kind == "int"
             else {"type": "string"}} for name, kind in route.params], path
    acmg = spec["paths"][ACMG_ALLELES]["post"]
    assert (acmg["x-ella-auth"], acmg["x-ella-access"]) == ("login", "genepanel")
    health = spec["paths"][f"{API}/health/"]["get"]
    assert health["x-ella-auth"] == "open" and "x-ella-access" not in health


def test_each_operation_id_in_specs_is_unique_and_names_its_path(api_app):
    """OpenAPI 3: an operationId MUST be unique among the document's operations (strict
    tools reject the document otherwise). Two routes' handlers are both `search`, and one
    handler serves a workflow's finalize and snapshots."""
    spec = Client(api_app).get(f"{API}/specs/").json
    ids = [op["operationId"] for operations in spec["paths"].values()
           for op in operations.values()]
    assert len(ids) == len(api_app.router.routes) and len(set(ids)) == len(ids)
    search = spec["paths"][f"{API}/search/"]["get"]["operationId"]
    igv_search = spec["paths"][f"{API}/igv/search/"]["get"]["operationId"]
    assert (search, igv_search) == ("get_search", "get_igv_search")


def test_docs_show_each_routes_row_escaped(api_app):
    """docs/ has one row per route: method, path, login requirement, access rule and the
    summary, HTML-escaped (an apostrophe in a summary is `&#x27;`)."""
    page = Client(api_app).get(f"{API}/docs/").body.decode()
    spec = Client(api_app).get(f"{API}/specs/").json
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            row = (f"<tr><td>{method.upper()}</td><td><code>{html.escape(path)}</code></td>"
                   f"<td>{op['x-ella-auth']}</td><td>{op.get('x-ella-access', '')}</td>"
                   f"<td>{html.escape(op['summary'])}</td></tr>")
            assert row in page, row
    assert "caller&#x27;s" in page and "caller's" not in page
