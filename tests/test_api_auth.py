"""Login, logout, change password, current user (api.md 1.5, 4.1, 4.2) through the WSGI app."""

from datetime import datetime, timedelta, timezone

import unicodedata

import psycopg
import pytest

from ella.auth import hash_token
from ella.passwords import check_password_strength
from api_client import Client
from api_helpers import cheap_hash

PASSWORD = "Secret-pass1"
LOGIN = "/api/v1/users/actions/login/"
LOGOUT = "/api/v1/users/actions/logout/"
CHANGE = "/api/v1/users/actions/changepassword/"
CURRENT = "/api/v1/users/currentuser/"


@pytest.fixture
def user(db_url):
    """testuser (group g1 with panel P v1), password PASSWORD valid for 30 days (hashed at
    bcrypt's lowest cost: what the service writes, cost 12, is tested where it writes)."""
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO genepanel VALUES ('P', 'v1', 'GRCh37', true, now(), NULL)")
        group_id = conn.execute("INSERT INTO usergroup (name, config) VALUES ('g1', '{}') "
                                "RETURNING id").fetchone()[0]
        conn.execute("INSERT INTO usergroupgenepanel VALUES (%s, 'P', 'v1')", (group_id,))
        conn.execute("INSERT INTO usergroupimport VALUES (%s, %s)", (group_id, group_id))
        user_id = conn.execute(
            'INSERT INTO "user" (username, first_name, last_name, group_id, password, '
            "password_expiry, active, incorrect_logins, email) VALUES ('testuser', 'Ole', "
            "'van Dyke', %s, %s, %s, true, 0, 'o@example.org') RETURNING id",
            (group_id, cheap_hash(PASSWORD), datetime.now(timezone.utc) + timedelta(days=30))
        ).fetchone()[0]
        conn.commit()
    return user_id


def _execute(url, statement, params=()):
    with psycopg.connect(url) as conn:
        conn.execute(statement, params)


def _sql(url, query, params=()):
    with psycopg.connect(url) as conn:
        rows = conn.execute(query, params).fetchall()
        conn.commit()
        return rows


def test_login_sets_cookie_and_currentuser_works(api_app, db_url, user):
    # Another version of the group's panel, not the group's: not listed as its panel (the
    # UI would offer it, and its analyses answer 403).
    _execute(db_url, "INSERT INTO genepanel VALUES ('P', 'v2', 'GRCh37', true, now(), NULL)")
    client = Client(api_app)
    assert client.get(CURRENT).status == 403
    result = client.login("testuser", PASSWORD)
    assert result.status == 200 and result.body == b""
    cookie = result.header("Set-Cookie")
    assert cookie.startswith("AuthenticationToken=") and "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie and "Path=/" in cookie and "Secure" not in cookie
    token = client.cookies["AuthenticationToken"]
    assert len(token) == 64 and int(token, 16) >= 0
    me = client.get(CURRENT)
    assert me.status == 200
    body = me.json
    assert body["username"] == "testuser" and body["full_name"] == "Ole van Dyke"
    assert body["abbrev_name"] == "O. v. Dyke" and body["user_group_name"] == "g1"
    assert body["group"]["genepanels"] == [{"name": "P", "version": "v1", "official": True}]
    assert body["group"]["import_groups"] == ["g1"]
    assert body["password_expiry"].endswith("+00:00")
    # The database holds only the SHA-256 of the token, never the token.
    tokens = [r[0] for r in _sql(db_url, "SELECT token FROM usersession")]
    assert tokens == [hash_token(token)] and token not in tokens
    # The session ends with the password (ELLA's rule), on the server as in the cookie.
    assert _sql(db_url, 'SELECT s.expires = u.password_expiry FROM usersession s '
                        'JOIN "user" u ON u.id = s.user_id') == [(True,)]


def test_a_password_that_never_expires_in_the_database(api_app, db_url, user):
    """A DBA's `password_expiry = 'infinity'` (psycopg2, ELLA's driver, reads it as the
    largest datetime): login, the current user, the group's users and the broadcasts
    answered 500 for that user."""
    _sql(db_url, "UPDATE \"user\" SET password_expiry = 'infinity' RETURNING id")
    client = Client(api_app)
    assert client.login("testuser", PASSWORD).status == 200
    me = client.get(CURRENT)
    assert me.status == 200 and me.json["password_expiry"] == "9999-12-31T23:59:59.999999+00:00"
    assert client.get("/api/v1/users/").status == 200
    broadcasts = client.get("/api/v1/broadcasts/")
    assert broadcasts.status == 200 and "expire" not in broadcasts.body.decode()
    _sql(db_url, "UPDATE \"user\" SET password_expiry = '-infinity' RETURNING id")
    assert Client(api_app).login("testuser", PASSWORD).status == 401  # long expired


def test_wrong_password_counts_up_and_locks_at_six(api_app, db_url, user):
    client = Client(api_app)
    for attempt in range(1, 6):
        result = client.login("testuser", "wrong")
        assert (result.status, result.json) == (401, {"message": "Invalid credentials"})
        assert _sql(db_url, 'SELECT incorrect_logins FROM "user"') == [(attempt,)]
    result = client.login("testuser", "wrong")
    assert result.status == 401 and "has been locked" in result.json["message"]
    # Locked: even the right password is refused.
    result = client.login("testuser", PASSWORD)
    assert result.status == 401 and "is locked" in result.json["message"]
    assert _sql(db_url, "SELECT count(*) FROM usersession") == [(0,)]


def test_success_resets_the_counter(api_app, db_url, user):
    client = Client(api_app)
    client.login("testuser", "wrong")
    assert client.login("testuser", PASSWORD).status == 200
    assert _sql(db_url, 'SELECT incorrect_logins FROM "user"') == [(0,)]


def test_inactive_and_unknown_users(api_app, db_url, user):
    client = Client(api_app)
    assert client.login("nobody", "x").json == {"message": "Invalid username nobody"}
    _sql(db_url, 'UPDATE "user" SET active = false RETURNING id')
    result = client.login("testuser", PASSWORD)
    assert result.status == 401 and "is inactive" in result.json["message"]


def test_expired_password_is_refused_then_changed(api_app, db_url, user):
    _sql(db_url, "UPDATE \"user\" SET password_expiry = '1970-01-01' RETURNING id")
    client = Client(api_app)
    result = client.login("testuser", PASSWORD)
    assert result.json == {"message": "Password has expired. Please change password."}
    result = client.post(CHANGE, {"username": "testuser", "password": PASSWORD,
                                  "new_password": "Brand-new-pass2"})
    assert (result.status, result.json) == (200, None)
    assert client.login("testuser", "Brand-new-pass2").status == 200


def test_change_password_rules(api_app, db_url, user):
    client = Client(api_app)
    client.login("testuser", PASSWORD)
    assert client.get(CURRENT).status == 200

    def change(old, new):
        return client.post(CHANGE, {"username": "testuser", "password": old, "new_password": new})

    assert change("wrong", "Another-pass3").json == {"message": "Invalid credentials."}
    # ELLA's sentence, then what is missing (alone it left the user guessing).
    assert change(PASSWORD, "short").json == {"message": (
        "Password doesn't follow password strength guidelines. Password must be at least 8 "
        "characters long. Password must contain characters from at least 3 of these groups: "
        "Uppercase letters [A-Z], Lowercase letters [a-z], Digits [0-9], Special characters.")}
    # Judged also as typed: NFC makes U+1D160 three characters, so 4 typed met a minimum of 8.
    assert change(PASSWORD, "A1" + "\U0001D160" * 2).json == {"message": (
        "Password doesn't follow password strength guidelines. Password must be at least 8 "
        "characters long.")}
    assert change(PASSWORD, PASSWORD).json == \
        {"message": "Password is equal to an old password. Choose a different password."}
    assert change(PASSWORD, "Another-pass3").status == 200
    # Every session was logged out by the change.
    assert client.get(CURRENT).status == 403
    # The previous password may not come back.
    result = change("Another-pass3", PASSWORD)
    assert result.status == 401 and "equal to an old password" in result.json["message"]
    assert _sql(db_url, "SELECT count(*) FROM useroldpassword") == [(1,)]


def test_an_empty_password_is_never_strong_enough(ella_config):
    """A policy of minimum length 0 is valid, but a login refuses an empty password: the
    user who set one could not log in again."""
    auth = dict(ella_config["user"]["auth"], password_minimum_length=0,
                password_num_match_groups=0)
    assert check_password_strength("", auth) == (
        False, ["Password must not be empty"])
    assert check_password_strength("x", auth) == (True, [])


def test_wrong_old_password_counts_as_a_failed_login(api_app, db_url, user):
    """Unlike ELLA, change password is no way around the lockout: a wrong old password
    counts as a failed login, the sixth locks the account, and a locked account can
    neither log in nor change its password."""
    client = Client(api_app)

    def change(old):
        return client.post(CHANGE, {"username": "testuser", "password": old,
                                    "new_password": "Another-pass3"})
    client.login("testuser", "wrong")
    for attempt in range(2, 6):
        assert change("wrong").json == {"message": "Invalid credentials."}
        assert _sql(db_url, 'SELECT incorrect_logins FROM "user"') == [(attempt,)]
    result = change("wrong")
    assert result.status == 401 and "has been locked" in result.json["message"]
    for result in (change(PASSWORD), client.login("testuser", PASSWORD)):
        assert result.status == 401 and "is locked" in result.json["message"]
    assert _sql(db_url, 'SELECT incorrect_logins FROM "user"') == [(6,)]
    assert _sql(db_url, "SELECT count(*) FROM useroldpassword") == [(0,)]


def test_change_password_success_resets_the_counter(api_app, db_url, user):
    client = Client(api_app)
    client.login("testuser", "wrong")
    assert client.post(CHANGE, {"username": "testuser", "password": PASSWORD,
                                "new_password": "Another-pass3"}).status == 200
    assert _sql(db_url, 'SELECT incorrect_logins FROM "user"') == [(0,)]


def test_the_same_change_sent_twice_is_done_once_and_not_a_failed_login(api_app, db_url,
                                                                         user):
    """A double-click on "change password": the second request (it waits for the first's
    row lock) checked the old password against the new hash, answered 401 and counted a
    failed login for a user who typed everything right (six such, and the account locks)."""
    body = {"username": "testuser", "password": PASSWORD, "new_password": "Another-pass3"}
    for _ in range(2):
        result = Client(api_app).post(CHANGE, body)
        assert result.status == 200, result.body
    assert _sql(db_url, 'SELECT incorrect_logins FROM "user"') == [(0,)]
    assert _sql(db_url, "SELECT count(*) FROM useroldpassword") == [(1,)]
    assert Client(api_app).login("testuser", "Another-pass3").status == 200
    # Knowing the current password but sending a wrong old one (not the previous) is no
    # repeat: a failed login as before.
    result = Client(api_app).post(CHANGE, {**body, "password": "Not-the-old-1"})
    assert result.status == 401
    assert _sql(db_url, 'SELECT incorrect_logins FROM "user"') == [(1,)]
    # A deactivated user's repeat is no "already done": a 200 would confirm to whoever sent
    # it that the new password is the current one.
    _execute(db_url, 'UPDATE "user" SET active = false')
    assert Client(api_app).post(CHANGE, body).status == 401


def test_a_wrong_old_password_costs_the_same_whatever_the_new_one(api_app, db_url, user,
                                                                  monkeypatch):
    """With a wrong old password, the old one was checked against every older hash only when
    `new_password` was the current password: the answer's time told a correct guess of it
    (two guesses per counted attempt, 12 before the lockout instead of 6)."""
    import ella.passwords
    body = {"username": "testuser", "password": PASSWORD, "new_password": "Another-pass3"}
    assert Client(api_app).post(CHANGE, body).status == 200  # an older hash to check
    assert Client(api_app).post(CHANGE, {**body, "password": "Another-pass3",
                                         "new_password": "Third-pass-4"}).status == 200
    checks, checkpw = [], ella.passwords.bcrypt.checkpw
    monkeypatch.setattr(ella.passwords.bcrypt, "checkpw",
                        lambda *args: checks.append(1) or checkpw(*args))
    counted = {}
    for new in ("Not-current-9", "Third-pass-4"):
        checks.clear()
        result = Client(api_app).post(CHANGE, {"username": "testuser",
                                               "password": "Wrong-guess-1", "new_password": new})
        assert result.status == 401 and result.json == {"message": "Invalid credentials."}
        counted[new] = len(checks)
    assert counted == {"Not-current-9": 3, "Third-pass-4": 3}
    assert _sql(db_url, 'SELECT incorrect_logins FROM "user"') == [(2,)]


def test_new_passwords_over_72_bytes_are_refused(api_app, db_url, user, ella_config):
    """bcrypt reads 72 bytes at most (bcrypt 5 raises on more): a longer new password is a
    400 saying so, counted in UTF-8 bytes (35 'é' are 70 bytes); 72 bytes are fine. The
    password policy (also used by the user CLI) refuses them too."""
    client = Client(api_app)
    for new in ("Aa1-" + "x" * 69, "Aa1-" + "é" * 35):
        assert check_password_strength(new, ella_config["user"]["auth"]) == \
            (False, ["Password must be at most 72 bytes long (in UTF-8)"])
        result = client.post(CHANGE, {"username": "testuser", "password": PASSWORD,
                                      "new_password": new})
        assert result.status == 400, result.body
        assert result.json == {"message": "body.new_password: Password must be at most 72 "
                                          "bytes long (in UTF-8)"}
    assert _sql(db_url, 'SELECT incorrect_logins FROM "user"') == [(0,)]
    longest = "Aa1-" + "x" * 68
    assert client.post(CHANGE, {"username": "testuser", "password": PASSWORD,
                                "new_password": longest}).status == 200
    assert client.login("testuser", longest).status == 200
    assert client.login("testuser", longest[:-1] + "z").status == 401


def test_a_new_password_typed_decomposed_may_be_over_72_bytes(api_app, db_url, user):
    """The policy counts the NFC form's bytes; typed on a Mac, 30 'Å' are 90 bytes as typed
    (NFD) and 64 in NFC. bcrypt 5 refused the typed form: the change was a 500. The NFC form
    is hashed then, all of it counting; either form logs in."""
    client = Client(api_app)
    new_nfc = "Aa1!" + "\u00c5" * 30
    new_nfd = unicodedata.normalize("NFD", new_nfc)
    assert len(new_nfd.encode()) == 94 and len(new_nfc.encode()) == 64
    result = client.post(CHANGE, {"username": "testuser", "password": PASSWORD,
                                  "new_password": new_nfd})
    assert result.status == 200, result.body
    for typed in (new_nfd, new_nfc):
        assert Client(api_app).login("testuser", typed).status == 200
    assert Client(api_app).login("testuser", new_nfc[:-1] + "A").status == 401


def test_an_ella_hash_of_a_password_over_72_bytes_still_verifies(api_app, db_url, user):
    """ELLA's bcrypt hashed the first 72 bytes of a longer password (bcrypt 5 refuses such a
    password outright): an adopted account with one can still log in, as in ELLA."""
    import bcrypt
    long_password = "Aa1-" + "y" * 76
    ellas_hash = bcrypt.hashpw(long_password.encode()[:72], bcrypt.gensalt(4)).decode()
    with psycopg.connect(db_url) as conn:
        conn.execute('UPDATE "user" SET password = %s WHERE username = %s',
                     (ellas_hash, "testuser"))
    client = Client(api_app)
    assert client.login("testuser", long_password).status == 200
    assert client.login("testuser", long_password[:71] + "z").status == 401


def test_logout_kills_the_token(api_app, db_url, user):
    client = Client(api_app)
    client.login("testuser", PASSWORD)
    assert client.post(LOGOUT, {}).json is None
    assert client.get(CURRENT).status == 403
    assert _sql(db_url, "SELECT logged_out IS NOT NULL FROM usersession") == [(True,)]
    # Logging out without a session is "not logged in".
    assert client.post(LOGOUT, {}).status == 403


def test_passwords_never_reach_the_resource_log(api_app, db_url, user):
    client = Client(api_app)
    client.login("testuser", "wrong")
    client.login("testuser", PASSWORD)
    client.post(CHANGE, {"username": "testuser", "password": PASSWORD,
                         "new_password": "Another-pass3"})
    rows = _sql(db_url, "SELECT resource, payload, payload_size, statuscode FROM resourcelog "
                        "ORDER BY id")
    assert [(r[0], r[3]) for r in rows] == [(LOGIN, 401), (LOGIN, 200), (CHANGE, 200)]
    assert all(r[1] is None and r[2] == 0 for r in rows)
    text = " ".join(str(r) for r in _sql(db_url, "SELECT * FROM resourcelog"))
    assert PASSWORD not in text and "Another-pass3" not in text
    # A client that sends them in the query string (any method; a write to a mistyped URL):
    # not logged either; other requests keep their query (api.md 1.9), also without a route.
    for path in (LOGIN, CHANGE, "/api/v1/users/actions/logn/"):
        for method in ("POST", "GET", "HEAD", "OPTIONS"):
            if path.endswith("logn/") and method != "POST":
                continue
            client.request(method, path, json_body={} if method == "POST" else None,
                           query={"password": "In-query-9"})
    client.get(CURRENT, query={"x": "1"})
    client.request("OPTIONS", CURRENT, query={"y": "2"})
    client.get("/api/v1/no-such-route/", query={"z": "3"})
    assert _sql(db_url, "SELECT resource, query FROM resourcelog WHERE query <> '' "
                        "ORDER BY id") == [
        (CURRENT, "x=1"), (CURRENT, "y=2"), ("/api/v1/no-such-route/", "z=3")]
    text = " ".join(str(r) for r in _sql(db_url, "SELECT * FROM resourcelog"))
    assert "In-query-9" not in text


def test_login_bad_bodies(api_app, user):
    client = Client(api_app)
    for body, fragment in [({"username": "testuser"}, "Missing key"),
                           ({"username": "testuser", "password": "x", "extra": 1}, "Unknown key"),
                           ({"username": 1, "password": "x"}, "must be a string"),
                           ([], "JSON object")]:
        result = client.post(LOGIN, body)
        assert result.status == 400 and fragment in result.json["message"]
    result = client.request("POST", LOGIN, raw=b"{not json")
    assert result.status == 400 and "Malformed JSON" in result.json["message"]


def test_real_ella_user_logs_in_with_ellas_hash(demo_api_app, demo_db_url):
    """testuser1 of the real ELLA database: ELLA's bcrypt hash verifies; the password expired
    in 2021, so the login is refused with ELLA's message until it is changed."""
    client = Client(demo_api_app)
    result = client.login("testuser1", "Password#123")
    assert result.json == {"message": "Password has expired. Please change password."}
    assert client.post(CHANGE, {"username": "testuser1", "password": "Password#123",
                                "new_password": "New-Password#456"}).status == 200
    assert client.login("testuser1", "New-Password#456").status == 200
    assert client.get(CURRENT).json["username"] == "testuser1"


@pytest.mark.parametrize("cookie", ['"t\u00e9st"', '"\\303\\251"', "\u00e9\u00e9"])
def test_a_cookie_value_that_is_no_token_counts_as_no_cookie(api_app, user, cookie):
    """api.md 1.5: an invalid token is treated like no cookie. A non-ASCII value made every
    request a 500, login and config included, so the user could not even log in again."""
    client = Client(api_app)
    client.cookies["AuthenticationToken"] = cookie
    assert client.get("/api/v1/config/").status == 200
    assert client.get(CURRENT).status == 403
    assert client.post(LOGOUT, {}).status == 403
    assert client.login("testuser", PASSWORD).status == 200
    assert client.get(CURRENT).status == 200


# Cookies another application on the same host name may set (browsers do not keep cookies
# apart by port); the standard library's parser gave up at each, hiding the session after it.
FOREIGN_COOKIES = {"json-value": 'prefs={"theme":"dark"}', "space-in-value": "tracking=a b",
                   "unbalanced-quote": 'legacy="abc', "backslash": "path=C:\\temp",
                   "no-equals-sign": "flag", "empty": ""}


@pytest.mark.parametrize("foreign", FOREIGN_COOKIES.values(), ids=FOREIGN_COOKIES.keys())
def test_the_session_cookie_is_read_beside_any_other_cookie(api_app, user, foreign):
    """api.md 1.5: a valid session is a valid session, whatever else the Cookie header holds."""
    client = Client(api_app)
    assert client.login("testuser", PASSWORD).status == 200
    token = client.cookies["AuthenticationToken"]
    for header in (f"{foreign}; AuthenticationToken={token}",
                   f"AuthenticationToken={token}; {foreign}",
                   f'{foreign};AuthenticationToken="{token}"'):
        result = client.get(CURRENT, headers={"HTTP_COOKIE": header})
        assert result.status == 200, (header, result.body[:200])
    # The first of two (the browser sends the most specific path first).
    assert client.get(CURRENT, headers={
        "HTTP_COOKIE": f"AuthenticationToken={token}; AuthenticationToken=x"}).status == 200
    assert client.get(CURRENT, headers={
        "HTTP_COOKIE": f"AuthenticationToken=x; AuthenticationToken={token}"}).status == 403
    # A cookie whose name only contains ours is not ours.
    assert client.get(CURRENT, headers={
        "HTTP_COOKIE": f"XAuthenticationToken={token}"}).status == 403


def test_deactivation_ends_sessions_and_activation_does_not_revive_them(api_app, db_url, user,
                                                                          ella_config):
    """usersession.logged_out is set at deactivation (datamodel.md), also through `add_many`;
    re-activating the user does not bring a session from before back."""
    from ella.deposit import users as domain
    client = Client(api_app)
    assert client.login("testuser", PASSWORD).status == 200
    entry = {"username": "testuser", "first_name": "Ole", "last_name": "van Dyke",
             "email": "o@example.org", "group": "g1"}
    for active in (False, True):
        with psycopg.connect(db_url) as conn:
            domain.add_many(conn, domain.parse_users("users.json", [dict(entry, active=active)]),
                            ella_config["user"]["auth"])
        assert _sql(db_url, "SELECT count(*) FROM usersession WHERE logged_out IS NULL") == [(0,)]
        assert client.get(CURRENT).status == 403
    assert client.login("testuser", PASSWORD).status == 200
    with psycopg.connect(db_url) as conn:  # `ella-users lock` then `activate`
        domain.lock_user(conn, "testuser")
        domain.activate_user(conn, "testuser")
    assert client.get(CURRENT).status == 403


def test_a_user_deactivated_outside_this_service_is_reactivated_without_old_sessions(
        api_app, db_url, user, ella_config):
    """ELLA (or a DBA) deactivates by the flag alone and ends no session: an adopted
    database may hold such sessions. `add_many` reactivating the user brought them back to
    life, where `activate` closes them."""
    from ella.deposit import users as domain
    client = Client(api_app)
    assert client.login("testuser", PASSWORD).status == 200
    _execute(db_url, 'UPDATE "user" SET active = false')
    assert client.get(CURRENT).status == 403
    entry = {"username": "testuser", "first_name": "Ole", "last_name": "van Dyke",
             "email": "o@example.org", "group": "g1", "active": True}
    with psycopg.connect(db_url) as conn:
        domain.add_many(conn, domain.parse_users("users.json", [entry]),
                        ella_config["user"]["auth"])
    assert client.get(CURRENT).status == 403
    assert client.login("testuser", PASSWORD).status == 200


def test_a_username_stored_in_another_unicode_form_logs_in(api_app, db_url, user):
    """An adopted database keeps the names ELLA stored: one saved decomposed (a users.json
    from a Mac) could not log in typed on a PC. Not when two stored names share the form."""
    _execute(db_url, 'UPDATE "user" SET username = %s', ("A\u030ase",))  # Åse, decomposed
    assert Client(api_app).login("\u00c5se", PASSWORD).status == 200
    _execute(db_url, 'INSERT INTO "user" (username, first_name, last_name, group_id, password, '
                 "password_expiry, active, incorrect_logins) SELECT %s, 'A', 'B', group_id, "
                 'password, password_expiry, true, 0 FROM "user"',
         ("\u212bse",))  # Åse with the Angstrom sign: the same name in NFC
    assert Client(api_app).login("\u00c5se", PASSWORD).status == 401


def test_an_inactive_users_session_is_not_marked_active(api_app, db_url, user):
    client = Client(api_app)
    assert client.login("testuser", PASSWORD).status == 200
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE usersession SET lastactivity = '2000-01-01'")
        conn.execute('UPDATE "user" SET active = false')
    assert client.get(CURRENT).status == 403
    assert _sql(db_url, "SELECT lastactivity FROM usersession")[0][0].year == 2000


def test_default_import_panel_outside_the_groups_panels_keeps_its_official_flag(api_app, db_url,
                                                                                user):
    """api.md 3.1: a Genepanel {name, version, official}; a default import panel the group is
    not linked to (possible in an adopted database) was reported as official."""
    _sql(db_url, "INSERT INTO genepanel VALUES ('U', 'v1', 'GRCh37', false, now(), NULL) "
                 "RETURNING name")
    _sql(db_url, "UPDATE usergroup SET default_import_genepanel_name = 'U', "
                 "default_import_genepanel_version = 'v1' RETURNING id")
    client = Client(api_app)
    assert client.login("testuser", PASSWORD).status == 200
    assert client.get(CURRENT).json["group"]["default_import_genepanel"] == {
        "name": "U", "version": "v1", "official": False}


def test_users_list_is_the_groups_and_takes_q_on_user_columns(shared_demo_api):
    """api.md 1.6/1.8: the caller's group only; `q` names columns of the user table (also
    ones the response does not show, like group_id), never the password hash."""
    from api_helpers import logged_in_client
    app, url = shared_demo_api
    client = logged_in_client(app, url, "testuser1")

    def names(query=None):
        result = client.get("/api/v1/users/", query=query)
        assert result.status == 200, result.body
        return sorted(u["username"] for u in result.json)

    everyone = names()
    assert "testuser1" in everyone and "testuser4" not in everyone  # testuser4: testgroup02
    assert names('q={"group_id": 1}') == everyone
    assert names('q={"group_id": 2}') == []
    assert names('q={"username": ["testuser1", "testuser4"]}') == ["testuser1"]
    refused = client.get("/api/v1/users/", query='q={"password": "x"}')
    assert refused.status == 400 and "password" in refused.json["message"]


def test_one_user_of_the_callers_group(shared_demo_api):
    """Login needed (ELLA's is open); users of other groups are not shown, as in the list."""
    from api_helpers import logged_in_client
    app, url = shared_demo_api
    ids = {name: uid for uid, name in _sql(url, 'SELECT id, username FROM "user"')}
    client = logged_in_client(app, url, "testuser1")
    own = client.get(f"/api/v1/users/{ids['testuser2']}/")
    assert own.status == 200 and own.json["username"] == "testuser2"
    assert "password" not in own.json
    other = client.get(f"/api/v1/users/{ids['testuser4']}/")
    assert other.status == 404 and other.json == {
        "message": f"No user with id {ids['testuser4']} in your user group"}
    assert client.get("/api/v1/users/999999/").status == 404
    assert Client(app).get(f"/api/v1/users/{ids['testuser2']}/").status == 403


def test_dates_are_utc_whatever_the_servers_time_zone(demo_api_app, demo_db_url):
    """api.md 1.3: timestamps as UTC with +00:00, also when the server's default zone is
    local time (initdb takes the host's)."""
    from psycopg import sql
    from api_helpers import logged_in_client
    with psycopg.connect(demo_db_url, autocommit=True) as conn:
        name = conn.execute("SELECT current_database()").fetchone()[0]
        conn.execute(sql.SQL("ALTER DATABASE {} SET timezone = 'Europe/Oslo'").format(
            sql.Identifier(name)))
    demo_api_app._drop_connection()  # a new session gets the database's default
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    analysis = client.get("/api/v1/analyses/2/").json
    dates = [analysis["date_deposited"], analysis["interpretations"][0]["date_last_update"],
             analysis["samples"][0]["date_deposited"],
             client.get("/api/v1/users/currentuser/").json["password_expiry"]]
    assert all(d.endswith("+00:00") for d in dates), dates


def test_a_json_body_without_a_content_type_is_no_request(api_app, db_url, user):
    """A page of any site makes a browser send a body without a Content-Type (a typeless
    Blob, `mode: 'no-cors'`) with no question asked first. Such bodies were read as JSON:
    six of them locked any account a page named, and with the session cookie of a sibling
    host they wrote in the user's name. As in ELLA, only a body declared JSON is read."""
    client = Client(api_app)
    for _ in range(6):
        result = client.post(LOGIN, {"username": "testuser", "password": "guess"},
                             content_type="")
        assert result.status == 400 and "no Content-Type" in result.json["message"]
    assert _sql(db_url, 'SELECT incorrect_logins FROM "user"') == [(0,)]
    assert client.login("testuser", PASSWORD).status == 200
    for path, body in (("/api/v1/references/", {"manual": {"title": "Forged"}}),
                       ("/api/v1/ui/exceptionlog/", {"message": "x", "stacktrace": "y"})):
        result = client.post(path, body, content_type="")
        assert result.status == 400 and "no Content-Type" in result.json["message"], path
        assert client.post(path, body).status == 200, path  # the UI's requests, declared
    assert _sql(db_url, "SELECT title FROM reference") == [("Forged",)]
    assert _sql(db_url, "SELECT count(*) FROM uiexception") == [(1,)]


@pytest.mark.parametrize("headers, allowed", [
    ({"HTTP_ORIGIN": "http://ella.example:3114"}, True),
    ({"HTTP_ORIGIN": "HTTP://ELLA.example:3114"}, True),
    ({"HTTP_ORIGIN": "http://other.example:3114"}, False),
    ({"HTTP_ORIGIN": "http://ella.example:8080"}, False),  # another port of the host
    ({"HTTP_ORIGIN": "http://ella.example"}, False),
    ({"HTTP_ORIGIN": "null"}, False),  # a sandboxed or local page
    ({"HTTP_ORIGIN": "http://ella.example:99999"}, False),
    ({"HTTP_ORIGIN": "http://["}, False),  # malformed: refused, not a 500
    ({"HTTP_REFERER": "http://[::1/page"}, False),
    ({"HTTP_ORIGIN": "http://ella.example:3114", "HTTP_HOST": "[::1"}, False),
    ({"HTTP_ORIGIN": "http://[::1]:3114", "HTTP_HOST": "[::1]:3114"}, True),
    ({"HTTP_REFERER": "http://ella.example:3114/analyses/2"}, True),
    ({"HTTP_REFERER": "http://other.example/form.html"}, False),
    # A Host without a port is the default port of the request's scheme, not of the page's:
    # a page on :443 of the host passed for one of a service on :80 (and the other way).
    ({"HTTP_ORIGIN": "https://ella.example", "HTTP_HOST": "ella.example"}, False),
    ({"HTTP_ORIGIN": "http://ella.example", "HTTP_HOST": "ella.example",
      "wsgi.url_scheme": "https"}, False),
    ({"HTTP_ORIGIN": "http://ella.example", "HTTP_HOST": "ella.example"}, True),
    ({"HTTP_ORIGIN": "https://ella.example", "HTTP_HOST": "ella.example",
      "wsgi.url_scheme": "https"}, True),
    # Fetch Metadata, where the browser sends it, decides.
    ({"HTTP_ORIGIN": "http://other.example", "HTTP_SEC_FETCH_SITE": "same-origin"}, True),
])
def test_writes_from_browsers_without_fetch_metadata_are_checked_by_origin(
        api_app, db_url, user, headers, allowed):
    """Safari before 16.4 and older webviews send no `Sec-Fetch-Site`, but name the page in
    `Origin` (or `Referer`): a form of a sibling host or another port of the host (the
    cookie goes with it under SameSite=Lax) that POSTs to a route reading no body, such as
    an analysis' start/ or override/, would otherwise act in the user's name."""
    client = _write_from_a_page(api_app, db_url, {"HTTP_HOST": "ella.example:3114", **headers},
                                allowed)
    # A client that names no page (scripts, the CLI) is not affected.
    assert client.request("POST", "/api/v1/users/actions/logout/").status == 200


@pytest.mark.parametrize("headers, allowed", [
    # A TLS proxy in front that passes its own address as Host names the page's host in
    # X-Forwarded-Host (a page cannot set it); behind TLS (COOKIE_SECURE) a Host without a
    # port means 443 (our nginx tells gunicorn the scheme it was reached by: http).
    ({"HTTP_ORIGIN": "https://ella.hospital.example", "HTTP_HOST": "127.0.0.1:3114",
      "HTTP_X_FORWARDED_HOST": "ella.hospital.example"}, True),
    ({"HTTP_ORIGIN": "https://ella.hospital.example:443", "HTTP_HOST": "ella.hospital.example"},
     True),
    ({"HTTP_ORIGIN": "http://ella.hospital.example", "HTTP_HOST": "ella.hospital.example"},
     False),
])
def test_behind_tls_a_host_without_port_is_the_https_port(db_url, ella_config, user,
                                                          headers, allowed):
    from ella.web.app import create_app
    app = create_app(ella_config, {"DB_URL": db_url, "COOKIE_SECURE": True})
    try:
        _write_from_a_page(app, db_url, headers, allowed)
    finally:
        app._drop_connection()


def _write_from_a_page(api_app, db_url, headers, allowed):
    """A logged-in write (a new reference) with these request headers, refused or not; a
    read with them is never refused. Returns the client."""
    client = Client(api_app)
    assert client.login("testuser", PASSWORD).status == 200
    result = client.post("/api/v1/references/", {"manual": {"title": "From a form"}},
                         headers=headers)
    if allowed:
        assert result.status == 200, result.body
    else:
        assert (result.status, result.json) == (403, {
            "message": "A request from a page of another site is refused: use ELLA's own "
                       "pages"})
    assert _sql(db_url, "SELECT count(*) FROM reference") == [(1 if allowed else 0,)]
    assert client.get(CURRENT, headers=headers).status == 200
    return client


@pytest.mark.parametrize("site, allowed", [("same-origin", True), ("none", True),
                                           (None, True), ("same-site", False),
                                           ("cross-site", False)])
def test_writes_a_browser_sends_from_a_page_of_another_origin_are_refused(
        api_app, db_url, user, site, allowed):
    """`SameSite=Lax` keeps the cookie from other sites, not from another port of the host
    or a sibling intranet host, whose HTML forms (no question asked first) could start or
    take over rounds and upload files in a user's name. A write the browser reports as from
    another origin (`Sec-Fetch-Site`) is refused; reads and clients that are not browsers
    (no such header) are not affected."""
    _write_from_a_page(api_app, db_url, {"HTTP_SEC_FETCH_SITE": site} if site else {},
                       allowed)
