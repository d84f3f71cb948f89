"""Logging in as a user of a test database (sets a known password first)."""

import functools
from datetime import datetime, timedelta, timezone

import psycopg

import bcrypt

from api_client import Client

# The import-job route (api.md 4.24) and a job body it accepts.
JOBS = "/api/v1/import/service/jobs/"
BODY = {"mode": "Analysis", "data": "13-32893296-TG-T", "genepanel_name": "HBOC",
        "genepanel_version": "v01",
        "properties": {"analysis_name": "abc", "create_or_append": "Create",
                       "sample_type": "HTS"}}

TEST_PASSWORD = "Test-password-1"


@functools.cache
def cheap_hash(password):
    """A bcrypt hash like ELLA's but with the minimum cost: every login verifies it, and at
    cost 12 (what the service writes) each verification takes a quarter of a second.
    Verification code and format are the same; tests of hashing itself use
    ella.passwords.hash_password."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()


_HASH = cheap_hash(TEST_PASSWORD)


def logged_in_client(app, db_url, username):
    """A Client with a session of `username` (password set to TEST_PASSWORD, not expired)."""
    with psycopg.connect(db_url) as conn:
        found = conn.execute(
            'UPDATE "user" SET password = %s, password_expiry = %s, incorrect_logins = 0, '
            "active = true WHERE username = %s RETURNING id",
            (_HASH, datetime.now(timezone.utc) + timedelta(days=60), username)).fetchone()
        conn.commit()
    assert found, f"no user {username}"
    client = Client(app)
    result = client.login(username, TEST_PASSWORD)
    assert result.status == 200, result.body
    return client


def add_user(db_url, username, group_name, panels=()):
    """Create a group (if missing) with these (name, version) panels and a user in it;
    returns the user's id."""
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT id FROM usergroup WHERE name = %s", (group_name,)).fetchone()
        group_id = row[0] if row else conn.execute(
            "INSERT INTO usergroup (name, config) VALUES (%s, '{}') RETURNING id",
            (group_name,)).fetchone()[0]
        for name, version in panels:
            conn.execute("INSERT INTO usergroupgenepanel VALUES (%s, %s, %s)",
                         (group_id, name, version))
        user_id = conn.execute(
            'INSERT INTO "user" (username, first_name, last_name, group_id, password, '
            "password_expiry, active, incorrect_logins) VALUES (%s, 'Test', 'User', %s, %s, "
            "now(), true, 0) RETURNING id", (username, group_id, _HASH)).fetchone()[0]
        conn.commit()
    return user_id
