"""Security behaviours a mutation audit of the session, password and access layer found
unpinned (api.md 1.5-1.6; README "HTTP API" > Sessions, "Deliberate access differences from
ELLA", "Where the status codes differ from ELLA"). Each test names what broke unnoticed.

Real PostgreSQL through the conftest fixtures; password hashes of the tests are bcrypt at the
lowest cost (same format and verification as the service's cost-12 hashes).
"""

from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

import bcrypt
import psycopg
from psycopg.conninfo import make_conninfo

from ella.auth import hash_token
from ella.web import routes  # noqa: F401  (registers the routes)
from ella.web.app import create_app
from ella.web.router import router
from api_client import Client
from test_workflow_rounds import sql
from api_helpers import TEST_PASSWORD, add_user, logged_in_client
from deposit_helpers import TEST_ANALYSIS_001, add_test_panels, deposit

API = "/api/v1"
CURRENT = f"{API}/users/currentuser/"
CHANGE = f"{API}/users/actions/changepassword/"
JOBS = f"{API}/import/service/jobs/"
AL = f"{API}/workflows/alleles"
AN = f"{API}/workflows/analyses"
NOT_LOGGED_IN = {"message": "Authentication required"}
JOB_BODY = {"mode": "Analysis", "data": "13-32893296-TG-T", "genepanel_name": "HBOC",
            "genepanel_version": "v01",
            "properties": {"analysis_name": "abc", "create_or_append": "Create",
                           "sample_type": "HTS"}}


def cheap_hash(password):
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()


def session_id_of(url, client):
    return sql(url, "SELECT id FROM usersession WHERE token = %s",
               (hash_token(client.cookies["AuthenticationToken"]),))[0][0]


def read_only_app(db_url, ella_config):
    return create_app(ella_config, {
        "DB_URL": make_conninfo(db_url, options="-c default_transaction_read_only=on"),
        "COOKIE_SECURE": False})


def with_cookies(app, client):
    other = Client(app)
    other.cookies = dict(client.cookies)
    return other


# --- 1. sessions end at their expiry ------------------------------------------------------

def test_an_expired_session_is_not_logged_in(api_app, db_url):
    """auth.py session_for_token: a change ignoring `usersession.expires` kept an expired
    session logged in and no test noticed. api.md 1.5: "the request is authenticated if the
    row exists, `expires > now` and `logged_out` is null"; "Invalid, expired or logged-out
    token -> treated exactly like 'no cookie'"; README Sessions: the cookie expires with the
    password expiry."""
    add_user(db_url, "exp_user", "exp_group")
    client = logged_in_client(api_app, db_url, "exp_user")
    assert client.get(CURRENT).status == 200
    sql(db_url, "UPDATE usersession SET expires = now() - interval '1 second'")
    result = client.get(CURRENT)
    assert (result.status, result.json) == (403, NOT_LOGGED_IN)


# --- 2. the read-only fallback checks the session as fully --------------------------------

def test_read_only_database_refuses_expired_and_logged_out_sessions(api_app, db_url,
                                                                     ella_config):
    """auth.py session_for_token, the read-only fallback (a standby, a maintenance freeze:
    the activity cannot be marked): a change ignoring `expires` there let an expired session
    read as its user while the database took no writes. api.md 1.5: expired or logged-out
    token -> like no cookie; README: reads go on on a read-only database."""
    add_user(db_url, "ro_user", "ro_group")
    valid = logged_in_client(api_app, db_url, "ro_user")
    expired = Client(api_app)
    assert expired.login("ro_user", TEST_PASSWORD).status == 200
    logged_out = Client(api_app)
    assert logged_out.login("ro_user", TEST_PASSWORD).status == 200
    assert logged_out.post(f"{API}/users/actions/logout/", {}).status == 200
    sql(db_url, "UPDATE usersession SET expires = now() - interval '1 second' WHERE token = %s",
        (hash_token(expired.cookies["AuthenticationToken"]),))
    frozen = read_only_app(db_url, ella_config)
    try:
        read = with_cookies(frozen, valid).get(CURRENT)
        assert read.status == 200 and read.json["username"] == "ro_user", read.body
        for client in (expired, logged_out):
            result = with_cookies(frozen, client).get(CURRENT)
            assert (result.status, result.json) == (403, NOT_LOGGED_IN)
    finally:
        frozen._drop_connection()


# --- 3. a deactivated user cannot change their password -----------------------------------

def test_a_deactivated_user_cannot_change_their_password(api_app, db_url):
    """auth.change_password: a change skipping the `active` check let a deactivated user
    set a new password (and so log in again once re-activated, or with a reset skipped).
    api.md 1.5 change password: checks in order ... old password wrong; user inactive ->
    401 "User is deactivated. Unable to change password. Contact support." """
    user_id = add_user(db_url, "gone_user", "gone_group")
    sql(db_url, 'UPDATE "user" SET active = false WHERE id = %s', (user_id,))
    before = sql(db_url, 'SELECT password, password_expiry FROM "user" WHERE id = %s',
                 (user_id,))
    result = Client(api_app).post(CHANGE, {"username": "gone_user", "password": TEST_PASSWORD,
                                           "new_password": "Brand-new-pass2"})
    assert (result.status, result.json) == (
        401, {"message": "User is deactivated. Unable to change password. Contact support."})
    assert sql(db_url, 'SELECT password, password_expiry FROM "user" WHERE id = %s',
               (user_id,)) == before
    assert sql(db_url, "SELECT count(*) FROM useroldpassword") == [(0,)]


# --- 4./5. the password history: the current and the 13 most recent old passwords ---------

def _user_with_history(db_url, count):
    """A user (password TEST_PASSWORD) with `count` old passwords `Old-pass-<k>` (k = 1 the
    most recent). The rows are inserted oldest id first for the newest password, so the id
    order is the reverse of the `expired` order."""
    user_id = add_user(db_url, "hist_user", "hist_group")
    now = datetime.now(timezone.utc)
    with psycopg.connect(db_url) as conn:
        for k in range(1, count + 1):
            conn.execute("INSERT INTO useroldpassword (user_id, password, expired) "
                         "VALUES (%s, %s, %s)",
                         (user_id, cheap_hash(f"Old-pass-{k}"), now - timedelta(days=k)))
    return user_id


def _change(app, new_password):
    return Client(app).post(CHANGE, {"username": "hist_user", "password": TEST_PASSWORD,
                                     "new_password": new_password})


REUSED = (401, {"message": "Password is equal to an old password. Choose a different password."})


def test_a_password_13_changes_old_is_refused_and_14_changes_old_accepted(api_app, db_url):
    """passwords.OLD_PASSWORDS_CHECKED: a change checking 3 old passwords instead of 13 let
    a password from 4 to 13 changes ago be reused. api.md 1.5: "new password equals the
    current password or any of the user's 13 most recent old passwords" -> 401; README
    Sessions: "the current and the last 13 passwords cannot be reused"."""
    _user_with_history(db_url, 14)
    for k in (2, 4, 13):
        result = _change(api_app, f"Old-pass-{k}")
        assert (result.status, result.json) == REUSED, k
    result = _change(api_app, "Old-pass-14")
    assert (result.status, result.json) == (200, None), result.body


def test_the_history_is_the_most_recent_old_passwords(api_app, db_url):
    """passwords.password_was_used: a change reading the 13 *oldest* rows of
    useroldpassword (ORDER BY expired ASC) let the password changed away from last be
    reused and refused one from long ago. api.md 1.5: "the user's 13 most recent old
    passwords"; the current one is refused too."""
    _user_with_history(db_url, 16)
    for password in ("Old-pass-1", TEST_PASSWORD):
        result = _change(api_app, password)
        assert (result.status, result.json) == REUSED, password
    result = _change(api_app, "Old-pass-16")
    assert (result.status, result.json) == (200, None), result.body


# --- 6. a variant another group reopened is not the first group's work ---------------------

def test_a_reopened_round_after_a_members_finalized_one_is_not_the_groups(api_app, db_url,
                                                                          ella_config):
    """access._ROUND_OF_GROUP_WORK: a change without `NOT p.finalized` counted the Not
    started round that another group's reopen created after a member's *finalized* round as
    the first group's work (a review of its own), so a group that moved to a new panel
    version could read and write another group's variant round. README "Deliberate access
    differences": only "the Not started one after a member sent it to review on the old
    version" stays the group's; writes (new log entries) on another group's round are 403."""
    add_test_panels(db_url)
    deposit(db_url, ella_config, TEST_ANALYSIS_001)
    add_user(db_url, "u1", "wf", [("HBOC", "v1.0.0"), ("HBOC", "v01")])
    add_user(db_url, "u2", "wf")
    add_user(db_url, "g2user", "g2", [("HBOC", "v01")])
    allele_id = sql(db_url, "SELECT id FROM allele ORDER BY id")[1][0]
    u1 = logged_in_client(api_app, db_url, "u1")
    assert u1.post(f"{AL}/{allele_id}/actions/start/",
                   {"gp_name": "HBOC", "gp_version": "v01"}).status == 200
    u1_id = sql(db_url, "SELECT id FROM \"user\" WHERE username = 'u1'")[0][0]
    aa = sql(db_url, "INSERT INTO alleleassessment (classification, evaluation, user_id, "
             "date_created, allele_id, genepanel_name, genepanel_version) VALUES "
             "('3', '{}', %s, now(), %s, 'HBOC', 'v01') RETURNING id", (u1_id, allele_id))[0][0]
    annotations = [r[0] for r in sql(db_url, "SELECT id FROM annotation WHERE allele_id = %s "
                                     "AND date_superceeded IS NULL", (allele_id,))]
    finalized = u1.post(f"{AL}/{allele_id}/actions/finalize/", {
        "allele_ids": [allele_id], "annotation_ids": annotations, "custom_annotation_ids": [],
        "alleleassessment_ids": [aa], "allelereport_ids": []})
    assert finalized.status == 200, finalized.body
    # The group moves to the new version; a group that has the old one reopens the variant.
    sql(db_url, "DELETE FROM usergroupgenepanel WHERE usergroup_id = (SELECT id FROM "
        "usergroup WHERE name = 'wf') AND genepanel_version = 'v01'")
    g2user = logged_in_client(api_app, db_url, "g2user")
    assert g2user.post(f"{AL}/{allele_id}/actions/reopen/", {}).status == 200
    round_id, status = sql(db_url, "SELECT id, status::text FROM alleleinterpretation "
                           "WHERE allele_id = %s ORDER BY id DESC LIMIT 1", (allele_id,))[0]
    assert status == "Not started"
    one = f"{AL}/{allele_id}/interpretations/{round_id}/"
    assert g2user.get(one).status == 200
    logs_before = sql(db_url, "SELECT count(*) FROM interpretationlog")
    for username in ("u2", "u1"):
        member = logged_in_client(api_app, db_url, username)
        assert member.get(one).status == 403, username
        assert member.post(f"{AL}/{allele_id}/logs/", {"message": "mine?"}).status == 403
    assert sql(db_url, "SELECT count(*) FROM interpretationlog") == logs_before


# --- 7. importing for another group: its panel versions only ------------------------------

def test_importing_for_a_group_is_limited_to_its_panel_versions(api_app, db_url):
    """import_rights.IMPORTABLE_PANEL: a change matching the imported-for group's panels by
    name only let a lab importing for a clinic (HBOC v01) import on HBOC v1.0.0, which only
    a third group has. api.md 1.6 / 3.1 `import_groups`; README Access: a gene panel is
    checked as a (name, version) pair of the group's panels."""
    add_test_panels(db_url)
    add_user(db_url, "lab_user", "lab", [])
    add_user(db_url, "clinic_user", "clinic", [("HBOC", "v01")])
    add_user(db_url, "third_user", "third", [("HBOC", "v1.0.0")])
    sql(db_url, "INSERT INTO usergroupimport (usergroup_id, usergroupimport_id) "
        "SELECT i.id, o.id FROM usergroup i, usergroup o "
        "WHERE i.name = 'lab' AND o.name = 'clinic'")
    lab = logged_in_client(api_app, db_url, "lab_user")
    refused = lab.post(JOBS, {**JOB_BODY, "genepanel_version": "v1.0.0"})
    assert refused.status == 403 and "nor to a group it imports for" in refused.json["message"]
    assert sql(db_url, "SELECT count(*) FROM annotationjob") == [(0,)]
    allowed = lab.post(JOBS, JOB_BODY)  # the clinic's version
    assert allowed.status == 200, allowed.body


# --- 8./9. the session cookie -------------------------------------------------------------

def _cookie_attributes(set_cookie):
    parts = [p.strip() for p in set_cookie.split(";")]
    return parts[0], {p.split("=", 1)[0].lower(): (p.split("=", 1)[1] if "=" in p else True)
                      for p in parts[1:]}


def test_the_cookie_is_secure_behind_tls(db_url, ella_config):
    """routes/users.py _cookie: a change never adding `Secure` sent the session cookie over
    plain http behind TLS. README Sessions: "and `Secure` when `COOKIE_SECURE=true`";
    Configuration: "`COOKIE_SECURE` (`true` behind TLS: the session cookie gets `Secure`)"."""
    add_user(db_url, "tls_user", "tls_group")
    app = create_app(ella_config, {"DB_URL": db_url, "COOKIE_SECURE": True})
    try:
        client = logged_in_client(app, db_url, "tls_user")
        first, attributes = _cookie_attributes(
            client.post(f"{API}/users/actions/login/",
                        {"username": "tls_user", "password": TEST_PASSWORD})
            .header("Set-Cookie"))
    finally:
        app._drop_connection()
    assert first.startswith("AuthenticationToken=")
    assert attributes.get("secure") is True and attributes.get("httponly") is True


def test_the_cookie_expires_with_the_password(api_app, db_url):
    """routes/users.py _cookie: a change writing another `Expires` (year 2099) kept the
    cookie in the browser long after the session could be valid. api.md 1.5: "Expires=
    <password_expiry as HTTP date>"; README Sessions: "`Expires` = the password expiry"."""
    add_user(db_url, "cookie_user", "cookie_group")
    client = logged_in_client(api_app, db_url, "cookie_user")
    expiry = datetime(2031, 7, 4, 2, 0, 0, tzinfo=timezone.utc)
    sql(db_url, "UPDATE \"user\" SET password_expiry = %s WHERE username = 'cookie_user'",
        (expiry,))
    result = client.login("cookie_user", TEST_PASSWORD)
    assert result.status == 200
    _, attributes = _cookie_attributes(result.header("Set-Cookie"))
    cookie_expiry = parsedate_to_datetime(attributes["expires"])
    me = client.get(CURRENT).json
    assert cookie_expiry == datetime.fromisoformat(me["password_expiry"]) == expiry
    # A password expiry with a fraction of a second: the cookie's is that second.
    logged_in_client(api_app, db_url, "cookie_user")  # sets now + 60 days
    result = client.login("cookie_user", TEST_PASSWORD)
    _, attributes = _cookie_attributes(result.header("Set-Cookie"))
    password_expiry = datetime.fromisoformat(client.get(CURRENT).json["password_expiry"])
    assert parsedate_to_datetime(attributes["expires"]) == password_expiry.replace(microsecond=0)


# --- 10. which routes need no login -------------------------------------------------------

# api.md 1.6 "Every route requires login except:" with README's deliberate differences
# (`GET users/<id>/` and `GET import/service/samples/` need a login here) and additions
# (`GET health/` for monitoring). "Opt" there is auth "optional".
NOT_LOGIN_ROUTES = {
    ("POST", f"{API}/users/actions/login/"): "open",
    ("POST", f"{API}/users/actions/changepassword/"): "open",
    ("GET", f"{API}/config/"): "optional",
    ("GET", f"{API}/broadcasts/"): "optional",
    ("POST", f"{API}/ui/exceptionlog/"): "optional",
    ("GET", f"{API}/acmg/classifications/"): "open",
    ("GET", f"{API}/import/service/running/"): "open",
    ("GET", f"{API}/docs/"): "open",
    ("GET", f"{API}/specs/"): "open",
    ("GET", f"{API}/health/"): "open",
}


def test_only_the_specified_routes_need_no_login(api_app):
    """The route table: a change declaring `GET alleleassessments/` open (or
    `attachments/<id>` optional, or every route optional by default) went unnoticed, since
    the route sweeps only try the routes that declare a login. api.md 1.6 "Login
    requirement"; README "Where the status codes differ from ELLA": `GET users/<id>/` and
    `GET import/service/samples/` need a login here."""
    declared = {(r.method, r.pattern): r.auth for r in router.routes if r.auth != "login"}
    assert declared == NOT_LOGIN_ROUTES
    assert api_app.router is router
    anonymous = Client(api_app)
    for path in (f"{API}/alleleassessments/", f"{API}/attachments/1", f"{API}/users/1/",
                 f"{API}/import/service/samples/", f"{API}/alleles/"):
        result = anonymous.get(path)
        assert (result.status, result.json) == (403, NOT_LOGGED_IN), path


# --- 11. cross-site writes of every method ------------------------------------------------

CROSS_SITE = ({"HTTP_HOST": "localhost", "HTTP_SEC_FETCH_SITE": "cross-site"},
              {"HTTP_HOST": "localhost", "HTTP_ORIGIN": "http://evil.example"},
              {"HTTP_HOST": "localhost", "HTTP_SEC_FETCH_SITE": "same-site"})
SAME_ORIGIN = {"HTTP_HOST": "localhost", "HTTP_SEC_FETCH_SITE": "same-origin",
               "HTTP_ORIGIN": "http://localhost"}
FOREIGN = {"message": "A request from a page of another site is refused: use ELLA's own pages"}


def test_cross_site_deletes_and_patches_are_refused(api_app, db_url, ella_config):
    """app.refuse_other_sites: a change checking POST only let a page of another site
    delete a user's import job or overwrite their round (DELETE, PATCH). README "Where the
    status codes differ from ELLA": "a write (POST, PUT, PATCH, DELETE) a browser marks
    `Sec-Fetch-Site: same-site` or `cross-site`, a page of another origin ... 403"."""
    add_test_panels(db_url)
    deposit(db_url, ella_config, TEST_ANALYSIS_001)
    add_user(db_url, "web_user", "web", [("HBOC", "v1.0.0"), ("HBOC", "v01")])
    client = logged_in_client(api_app, db_url, "web_user")
    job = client.post(JOBS, JOB_BODY)
    assert job.status == 200, job.body
    job_id = job.json["id"]
    analysis_id = sql(db_url, "SELECT id FROM analysis")[0][0]
    sql(db_url, "UPDATE analysisinterpretation SET status = 'Ongoing', user_id = "
        "(SELECT id FROM \"user\" WHERE username = 'web_user') WHERE analysis_id = %s",
        (analysis_id,))
    round_id = sql(db_url, "SELECT id FROM analysisinterpretation WHERE analysis_id = %s",
                   (analysis_id,))[0][0]
    one = f"{AN}/{analysis_id}/interpretations/{round_id}/"
    body = {"id": round_id, "state": {"from": "elsewhere"}, "user_state": {}}

    def snapshot():
        return (sql(db_url, "SELECT id FROM annotationjob ORDER BY id"),
                sql(db_url, "SELECT state::text, user_state::text, date_last_update "
                    "FROM analysisinterpretation ORDER BY id"))

    before = snapshot()
    for headers in CROSS_SITE:
        for result in (client.request("DELETE", f"{JOBS}{job_id}/", headers=headers),
                       client.request("PATCH", one, json_body=body, headers=headers)):
            assert (result.status, result.json) == (403, FOREIGN), headers
    assert snapshot() == before
    # The same requests from the service's own pages are carried out.
    assert client.request("PATCH", one, json_body=body, headers=SAME_ORIGIN).status == 200
    assert sql(db_url, "SELECT state FROM analysisinterpretation WHERE id = %s",
               (round_id,)) == [({"from": "elsewhere"},)]
    assert client.request("DELETE", f"{JOBS}{job_id}/", headers=SAME_ORIGIN).status == 200
    assert sql(db_url, "SELECT count(*) FROM annotationjob") == [(0,)]


# --- 12. the audit row of a request refused before authentication -------------------------

def test_a_refused_requests_audit_row_names_only_a_valid_session(api_app, db_url):
    """auth.valid_session_id: a change ignoring `logged_out` and `u.active` wrote a
    deactivated user's (or a logged-out) session into the resourcelog row of a request
    refused before its route ran (no such route, a cross-site write), as if that user were
    still acting. README Audit: "the cookie's session when valid, also for a request refused
    before its route ran"; api.md 1.5: deactivation ends a session's validity."""
    user_id = add_user(db_url, "audit_user", "audit_group")
    client = logged_in_client(api_app, db_url, "audit_user")
    session_id = session_id_of(db_url, client)
    cross_site = {"HTTP_HOST": "localhost", "HTTP_SEC_FETCH_SITE": "cross-site"}

    def refused_rows(tag):
        assert client.get(f"{API}/no-such-route-{tag}/").status == 404
        assert client.post(f"{API}/users/actions/logout/", {}, query=f"t={tag}",
                           headers=cross_site).status == 403
        return sql(db_url, "SELECT statuscode, usersession_id FROM resourcelog "
                   "WHERE resource = %s OR query = %s ORDER BY id",
                   (f"{API}/no-such-route-{tag}/", f"t={tag}"))

    # A valid session is named (the rows are found at all).
    assert refused_rows("active") == [(404, session_id), (403, session_id)]
    sql(db_url, 'UPDATE "user" SET active = false WHERE id = %s', (user_id,))
    assert refused_rows("deactivated") == [(404, None), (403, None)]
    sql(db_url, 'UPDATE "user" SET active = true WHERE id = %s', (user_id,))
    assert refused_rows("reactivated") == [(404, session_id), (403, session_id)]
    sql(db_url, "UPDATE usersession SET logged_out = now() WHERE id = %s", (session_id,))
    assert refused_rows("logged_out") == [(404, None), (403, None)]
