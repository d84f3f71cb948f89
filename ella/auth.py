"""Login sessions as ELLA keeps them (datamodel.md 4.7, api.md 1.5).

The cookie holds 32 random bytes as 64 hex characters; the database holds only the SHA-256
hex digest of that text. A session is valid while it exists, is not logged out and has not
passed `expires` (the user's password expiry at login). Failed logins (and wrong old passwords
in a password change) count up and lock the account at 6. All functions work in the caller's
transaction, except that a failed login's counter is committed by the caller even though the
request fails.
"""

import hashlib
import secrets
import unicodedata
from datetime import datetime, timezone

import psycopg

from ella.passwords import (MAX_INCORRECT_LOGINS, check_password_strength, hash_password,
                            password_expiry, password_was_used, set_password, verify_password)

TOKEN_BYTES = 32


class LoginError(Exception):
    """Login or password change refused; the message is ELLA's text for the UI."""


def hash_token(token):
    # Our tokens are hex; a cookie can carry anything else (a stray non-ASCII value must be
    # "no session", not an error on every request), and it simply matches no session.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _now():
    return datetime.now(timezone.utc)


def user_id_by_name(conn, username):
    """The id of the user named exactly so, else of the one named so in NFC (`åse` typed on
    a Mac arrives in NFD; usernames are stored in NFC), else of the one user whose stored
    name is that in another Unicode form (an adopted database keeps the names ELLA stored,
    in NFD from a file saved on a Mac): None when none is, or two are. Login and the
    `ella-users` commands find users alike (support unlocks the name a lockout printed)."""
    typed = unicodedata.normalize("NFC", username)
    for name in dict.fromkeys((username, typed)):
        row = conn.execute('SELECT id FROM "user" WHERE username = %s', (name,)).fetchone()
        if row is not None:
            return row[0]
    same = [user_id for user_id, name in conn.execute('SELECT id, username FROM "user"')
            if unicodedata.normalize("NFC", name) == typed]
    return same[0] if len(same) == 1 else None


def _user_for_login(conn, username):
    """The login's row of the user `user_id_by_name` finds, locked, or None."""
    user_id = user_id_by_name(conn, username)
    if user_id is None:
        return None
    return conn.execute('SELECT id, password, password_expiry, active, incorrect_logins '
                        'FROM "user" WHERE id = %s FOR UPDATE', (user_id,)).fetchone()


def _failed_login(conn, user_id, username, incorrect, message):
    """Count a wrong password (the caller commits it although the request fails) and raise
    LoginError; the sixth in a row locks the account."""
    incorrect += 1
    conn.execute('UPDATE "user" SET incorrect_logins = %s WHERE id = %s', (incorrect, user_id))
    if incorrect >= MAX_INCORRECT_LOGINS:
        raise LoginError(f"Invalid credentials. Too many failed logins. User {username} has "
                         "been locked. Contact support to unlock.")
    raise LoginError(message)


def login(conn, username, password):
    """Check the credentials and open a session: returns (token, expires).

    Raises LoginError with ELLA's messages. A wrong password's counter increase must be
    committed by the caller even though LoginError is raised (ELLA persists it at once)."""
    row = _user_for_login(conn, username)
    if row is None:
        raise LoginError(f"Invalid username {username}")
    user_id, hashed, expiry, active, incorrect = row
    if not active:
        raise LoginError(f"User {username} is inactive. Contact support to re-activate.")
    if incorrect >= MAX_INCORRECT_LOGINS:
        raise LoginError(f"Too many failed logins. User {username} is locked. Contact support "
                         "to unlock.")
    if not verify_password(password, hashed):
        _failed_login(conn, user_id, username, incorrect, "Invalid credentials")
    now = _now()
    if expiry < now:
        raise LoginError("Password has expired. Please change password.")
    conn.execute('UPDATE "user" SET incorrect_logins = 0 WHERE id = %s', (user_id,))
    token = secrets.token_hex(TOKEN_BYTES)
    conn.execute("INSERT INTO usersession (user_id, token, issued, lastactivity, expires) "
                 "VALUES (%s, %s, %s, %s, %s)", (user_id, hash_token(token), now, now, expiry))
    return token, expiry


def session_for_token(conn, token):
    """(session id, user id) of a valid session for this cookie token, else None; marks the
    activity."""
    if not token or len(token) > 256:
        return None
    now = _now()
    try:
        # A savepoint in the request's transaction (a transaction of its own where none is
        # open yet): the request goes on after a refusal.
        with conn.transaction():
            row = conn.execute(
                'UPDATE usersession s SET lastactivity = %s FROM "user" u WHERE s.token = %s '
                "AND s.logged_out IS NULL AND s.expires > %s AND u.id = s.user_id "
                "AND u.active RETURNING s.id, s.user_id",
                (now, hash_token(token), now)).fetchone()
    except psycopg.errors.ReadOnlySqlTransaction:
        # A database that takes no writes (a standby, a maintenance freeze): reads go on,
        # the activity is not marked. Every logged-in request answered 503 instead.
        row = conn.execute(
            'SELECT s.id, s.user_id FROM usersession s JOIN "user" u ON u.id = s.user_id '
            "WHERE s.token = %s AND s.logged_out IS NULL AND s.expires > %s AND u.active",
            (hash_token(token), now)).fetchone()
    return tuple(row) if row else None


def valid_session_id(conn, token):
    """The id of a valid session for this cookie token, else None; a read only (for the
    audit row of a request refused before it was authenticated)."""
    if not token or len(token) > 256:
        return None
    row = conn.execute(
        'SELECT s.id FROM usersession s JOIN "user" u ON u.id = s.user_id WHERE s.token = %s '
        "AND s.logged_out IS NULL AND s.expires > %s AND u.active",
        (hash_token(token), _now())).fetchone()
    return row[0] if row else None


def logout(conn, token):
    """Close the session of this token; True if one was open."""
    cur = conn.execute("UPDATE usersession SET logged_out = %s WHERE token = %s "
                       "AND logged_out IS NULL", (_now(), hash_token(token or "")))
    return cur.rowcount > 0


def change_password(conn, username, old_password, new_password, auth):
    """ELLA's change-password checks and effects; raises LoginError. Unlike ELLA, a wrong
    old password counts as a failed login (committed by the caller, as for login): otherwise
    this route would allow unlimited password guessing."""
    row = _user_for_login(conn, username)
    if row is None:
        raise LoginError(f"Invalid username {username}")
    user_id, hashed, _expiry, active, incorrect = row
    if incorrect >= MAX_INCORRECT_LOGINS:
        raise LoginError(f"Too many failed logins. User {username} is locked. Contact support "
                         "to unlock.")
    if not verify_password(old_password, hashed):
        # The same change again (a double-click: it waited for the first one's row lock)
        # is already done: not a failed login, which six of would lock the account. It is
        # told by the same two checks whatever the passwords: when a check of the old
        # password against the older hashes ran only once `new_password` was the current
        # one, the answer's time told that, and each counted attempt tested two guesses.
        previous = conn.execute(
            "SELECT password FROM useroldpassword WHERE user_id = %s "
            "ORDER BY expired DESC, id DESC LIMIT 1", (user_id,)).fetchone()
        new_is_current = verify_password(new_password, hashed)
        # (without a previous hash, the current one again: known not to match, same cost)
        old_was_previous = verify_password(old_password, previous[0] if previous else hashed)
        if active and new_is_current and old_was_previous:
            return
        _failed_login(conn, user_id, username, incorrect, "Invalid credentials.")
    if not active:
        raise LoginError("User is deactivated. Unable to change password. Contact support.")
    strong, problems = check_password_strength(new_password, auth)
    if not strong:
        # ELLA's sentence, then what is missing: alone it left the user guessing.
        raise LoginError("Password doesn't follow password strength guidelines. "
                         + " ".join(f"{problem}." for problem in problems))
    if password_was_used(conn, user_id, new_password):
        raise LoginError("Password is equal to an old password. Choose a different password.")
    set_password(conn, user_id, hash_password(new_password),
                 password_expiry(auth["password_expiry_days"]))


# --- user shapes (api.md 3.1) ------------------------------------------------------------

def abbrev_name(first_name, last_name):
    """`Henrik`/`Ibsen` -> `H. Ibsen`; `Ole`/`van Dyke` -> `O. v. Dyke`."""
    words = last_name.split()
    initials = [w[0] + "." for w in first_name.split() if w] + [w[0] + "." for w in words[:-1]]
    return " ".join(initials + words[-1:])


def _panels(conn, group_id):
    return [{"name": n, "version": v, "official": o} for n, v, o in conn.execute(
        "SELECT gp.name, gp.version, gp.official FROM genepanel gp "
        "WHERE EXISTS (SELECT 1 FROM usergroupgenepanel ugp WHERE ugp.usergroup_id = %s "
        "AND ugp.genepanel_name = gp.name AND ugp.genepanel_version = gp.version) "
        "ORDER BY gp.name, gp.version", (group_id,))]


USER_COLUMNS = ('u.id, u.username, u.first_name, u.last_name, u.active, u.email, '
                'u.password_expiry, u.group_id, g.name, g.default_import_genepanel_name, '
                'g.default_import_genepanel_version, dp.official')


def users(conn, where="TRUE", params=(), full=True, import_groups=False):
    """User dicts (UserFull when `full`, else User), ordered by id."""
    rows = conn.execute(f'SELECT {USER_COLUMNS} FROM "user" u JOIN usergroup g '
                        "ON g.id = u.group_id LEFT JOIN genepanel dp "
                        "ON dp.name = g.default_import_genepanel_name "
                        "AND dp.version = g.default_import_genepanel_version "
                        f"WHERE {where} ORDER BY u.id", params).fetchall()
    result, panels_cache = [], {}
    for (uid, username, first, last, active, email, expiry, group_id, group_name,
         default_name, default_version, default_official) in rows:
        user = {"id": uid, "username": username, "first_name": first, "last_name": last,
                "full_name": f"{first} {last}", "abbrev_name": abbrev_name(first, last),
                "active": active, "user_group_name": group_name}
        if full:
            if group_id not in panels_cache:
                panels_cache[group_id] = _panels(conn, group_id)
            panels = panels_cache[group_id]
            default = next((p for p in panels if (p["name"], p["version"]) ==
                            (default_name, default_version)), None)
            if default is None and default_name:  # not among the group's panels (adopted)
                default = {"name": default_name, "version": default_version,
                           "official": bool(default_official)}
            user.update(email=email, password_expiry=expiry,
                        group={"id": group_id, "name": group_name, "genepanels": panels,
                               "default_import_genepanel": default})
            if import_groups:
                user["group"]["import_groups"] = [r[0] for r in conn.execute(
                    "SELECT g.name FROM usergroupimport ui JOIN usergroup g "
                    "ON g.id = ui.usergroupimport_id WHERE ui.usergroup_id = %s "
                    "ORDER BY g.name", (group_id,))]
        result.append(user)
    return result


def user_configs(conn, user_id):
    """(group config, user config) JSON of a user."""
    return conn.execute('SELECT g.config, u.config FROM "user" u JOIN usergroup g '
                        "ON g.id = u.group_id WHERE u.id = %s", (user_id,)).fetchone()
