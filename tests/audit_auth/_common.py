"""Shared helpers for the authentication audit probes."""

from datetime import datetime, timedelta, timezone

import bcrypt
import psycopg

PASSWORD = "Secret-pass1"
LOGIN = "/api/v1/users/actions/login/"
LOGOUT = "/api/v1/users/actions/logout/"
CHANGE = "/api/v1/users/actions/changepassword/"
CURRENT = "/api/v1/users/currentuser/"


def fast_hash(password):
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(4)).decode()


def sql(url, query, params=()):
    with psycopg.connect(url) as conn:
        cur = conn.execute(query, params)
        rows = cur.fetchall() if cur.description else None
        conn.commit()
        return rows


def make_user(db_url, username="testuser", group="g1", panels=(("P", "v1"),),
              password=PASSWORD, days=30):
    with psycopg.connect(db_url) as conn:
        for name, version in panels:
            conn.execute("INSERT INTO genepanel VALUES (%s, %s, 'GRCh37', true, now(), NULL) "
                         "ON CONFLICT DO NOTHING", (name, version))
        row = conn.execute("SELECT id FROM usergroup WHERE name = %s", (group,)).fetchone()
        if row:
            group_id = row[0]
        else:
            group_id = conn.execute("INSERT INTO usergroup (name, config) VALUES (%s, '{}') "
                                    "RETURNING id", (group,)).fetchone()[0]
            for name, version in panels:
                conn.execute("INSERT INTO usergroupgenepanel VALUES (%s, %s, %s)",
                             (group_id, name, version))
            conn.execute("INSERT INTO usergroupimport VALUES (%s, %s)", (group_id, group_id))
        user_id = conn.execute(
            'INSERT INTO "user" (username, first_name, last_name, group_id, password, '
            "password_expiry, active, incorrect_logins, email) VALUES (%s, 'Ole', "
            "'van Dyke', %s, %s, %s, true, 0, 'o@example.org') RETURNING id",
            (username, group_id, fast_hash(password),
             datetime.now(timezone.utc) + timedelta(days=days))).fetchone()[0]
        conn.commit()
    return user_id
