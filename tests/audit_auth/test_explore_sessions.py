"""Exploratory checks of session lifetime and endpoint refusal (expected to pass if fine)."""

import re
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from api_client import Client
from ella.web.router import router
from ella.web import routes  # noqa: F401

from _common import CHANGE, CURRENT, LOGIN, LOGOUT, PASSWORD, make_user, sql


def _sample_path(route):
    return re.sub(r"<(?:(int):)?([a-z_]+)>",
                  lambda m: "1" if m.group(1) else "x", route.pattern)


def _login_routes():
    return [r for r in router.routes if r.auth == "login"]


@pytest.mark.parametrize("how", ["expired", "logged_out", "deactivated", "password_reset",
                                 "password_changed"])
def test_every_login_route_refuses_an_ended_session(api_app, db_url, ella_config, how):
    make_user(db_url)
    client = Client(api_app)
    assert client.login("testuser", PASSWORD).status == 200
    assert client.get(CURRENT).status == 200
    if how == "expired":
        sql(db_url, "UPDATE usersession SET expires = now() - interval '1 second'")
    elif how == "logged_out":
        assert client.post(LOGOUT, {}).status == 200
    elif how == "deactivated":
        from ella.deposit import users as domain
        with psycopg.connect(db_url) as conn:
            domain.lock_user(conn, "testuser")
    elif how == "password_reset":
        from ella.deposit import users as domain
        with psycopg.connect(db_url) as conn:
            domain.reset_password(conn, "testuser", ella_config["user"]["auth"])
    elif how == "password_changed":
        other = Client(api_app)
        assert other.post(CHANGE, {"username": "testuser", "password": PASSWORD,
                                   "new_password": "Other-pass-22"}).status == 200
    bad = []
    for route in _login_routes():
        result = client.request(route.method, _sample_path(route),
                                json_body={} if route.method in ("POST", "PATCH", "PUT") else None)
        if result.status != 403:
            bad.append((route.method, route.pattern, result.status, result.body[:100]))
    assert bad == []


def test_logout_ends_only_this_session(api_app, db_url):
    make_user(db_url)
    a, b = Client(api_app), Client(api_app)
    assert a.login("testuser", PASSWORD).status == 200
    assert b.login("testuser", PASSWORD).status == 200
    assert a.post(LOGOUT, {}).status == 200
    assert a.get(CURRENT).status == 403
    assert b.get(CURRENT).status == 200


def test_group_change_mid_session_applies_at_once(api_app, db_url):
    make_user(db_url)
    make_user(db_url, username="other", group="g2", panels=(("Q", "v1"),))
    client = Client(api_app)
    assert client.login("testuser", PASSWORD).status == 200
    assert client.get(CURRENT).json["group"]["name"] == "g1"
    assert [p["name"] for p in client.get("/api/v1/genepanels/").json] == ["P"]
    sql(db_url, "UPDATE \"user\" SET group_id = (SELECT id FROM usergroup WHERE name = 'g2') "
                "WHERE username = 'testuser'")
    me = client.get(CURRENT).json
    assert me["group"]["name"] == "g2"
    assert [p["name"] for p in client.get("/api/v1/genepanels/").json] == ["Q"]
    assert [u["username"] for u in client.get("/api/v1/users/").json] == ["testuser", "other"]


def test_expired_password_allows_only_changepassword(api_app, db_url):
    make_user(db_url)
    sql(db_url, "UPDATE \"user\" SET password_expiry = now() - interval '1 minute'")
    client = Client(api_app)
    r = client.login("testuser", PASSWORD)
    assert r.status == 401 and r.header("Set-Cookie") is None
    assert client.get(CURRENT).status == 403
    assert sql(db_url, "SELECT count(*) FROM usersession") == [(0,)]


def test_cookie_secure_flag(db_url, ella_config):
    from ella.web.app import create_app
    make_user(db_url)
    app = create_app(ella_config, {"DB_URL": db_url, "COOKIE_SECURE": True})
    try:
        cookie = Client(app).login("testuser", PASSWORD).header("Set-Cookie")
    finally:
        app._drop_connection()
    parts = [p.strip() for p in cookie.split(";")]
    assert "Secure" in parts and "HttpOnly" in parts and "Path=/" in parts
    assert not any(p.lower().startswith(("domain", "max-age")) for p in parts)


def test_token_never_in_logs(api_app, db_url, caplog):
    make_user(db_url)
    client = Client(api_app)
    client.login("testuser", PASSWORD)
    token = client.cookies["AuthenticationToken"]
    client.get(CURRENT)
    client.get("/api/v1/nonexistent/")
    client.post(LOGOUT, {})
    text = " ".join(str(r) for r in sql(db_url, "SELECT * FROM resourcelog"))
    assert token not in text and token not in caplog.text


def test_lockout_by_failed_logins_leaves_open_sessions(api_app, db_url):
    """Spec: lock is not deactivation; just document behaviour."""
    make_user(db_url)
    client = Client(api_app)
    client.login("testuser", PASSWORD)
    attacker = Client(api_app)
    for _ in range(6):
        attacker.login("testuser", "wrong")
    print("locked user's session status:", client.get(CURRENT).status)
