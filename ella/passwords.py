"""Passwords as ELLA keeps them: bcrypt hashes, the configured strength rules, expiry, history.

Shared by the user CLI (add, reset) and the HTTP API (login, change password), so nothing here
prints or prompts. `auth` arguments are the config's `user.auth` section.

ELLA compatibility: hashes are bcrypt `$2b$` with cost 12, so an adopted database stays readable
by ELLA in both directions; the generated one-time password is of ELLA's kind (8 characters of
base64's alphabet, none of the easily confused characters, strong by the config), longer or
with a special character only where the config's policy asks for it.
"""

import re
import secrets
import string
import unicodedata
from datetime import datetime, time, timedelta, timezone

import bcrypt

BCRYPT_COST = 12
BCRYPT_PREFIX = b"2b"

# A password set by an administrator (new user, reset) expires at once: the user must choose
# their own at the first login.
FORCED_CHANGE_EXPIRY = datetime(1970, 1, 1, tzinfo=timezone.utc)

# Hours of the day (UTC) at which passwords, and the sessions bound to them, expire: outside
# the working day.
EXPIRY_HOUR_UTC = 2

# ELLA's hard-coded rules.
MAX_INCORRECT_LOGINS = 6
OLD_PASSWORDS_CHECKED = 13

# bcrypt reads at most 72 bytes (bcrypt 5 refuses more; older versions ignored the rest), so
# a longer password is refused rather than hashed differently from ELLA.
MAX_PASSWORD_BYTES = 72

GENERATED_LENGTH = 8
CONFUSABLE_CHARACTERS = frozenset("0oOIli1/+")
# ELLA's one-time passwords: base64's alphabet without the characters easily misread.
GENERATED_ALPHABET = "".join(
    c for c in string.ascii_uppercase + string.ascii_lowercase + string.digits
    if c not in CONFUSABLE_CHARACTERS)
# For a policy that needs a group those lack (special characters, ELLA's fourth group):
# ASCII punctuation but for `/ +` (confusable, as above), quotes and backslash, and what
# reads as the end of a sentence (. , ; : and brackets), which people copying a printed
# password get wrong.
GENERATED_SPECIALS = "".join(c for c in string.punctuation if c not in "/+'\"`\\.,;:()")
_MAX_GENERATION_ATTEMPTS = 10000
_PLAIN_ATTEMPTS = 1000


class PasswordPolicyError(Exception):
    """The configured policy cannot be met (e.g. by a generated password)."""


def _forms(password):
    """The password in NFC (what its strength is judged on), as typed, and in NFD: one text
    typed on a Mac and on a PC may arrive in different Unicode forms (`å` as one character
    or two), and a hash holds whichever form it was given (NIST SP 800-63B 5.1.1.2)."""
    forms = [unicodedata.normalize("NFC", password)]
    for other in (password, unicodedata.normalize("NFD", password)):
        if other not in forms:
            forms.append(other)
    return forms


def hash_password(password):
    """bcrypt hash (`$2b$12$...`) of a plain-text password as typed (as ELLA hashes it: ELLA
    on the same database still accepts it typed so), as text.

    The policy allows 72 bytes of the NFC form, and bcrypt takes no more; a password typed
    decomposed (a Mac's `Å` is `A` and a ring) can be longer as typed, and then its NFC form
    is hashed, so that all of it counts (bcrypt 5 refused the typed form: a 500 on changing
    the password). `verify_password` tries every form."""
    typed = password.encode("utf-8")
    if len(typed) > MAX_PASSWORD_BYTES:
        typed = _forms(password)[0].encode("utf-8")
        if len(typed) > MAX_PASSWORD_BYTES:
            raise ValueError(TOO_LONG)
    return bcrypt.hashpw(typed, bcrypt.gensalt(BCRYPT_COST, prefix=BCRYPT_PREFIX)
                         ).decode("ascii")


def verify_password(password, hashed):
    """True when `password` matches the stored bcrypt hash; False for anything else, including
    a stored value that is not a bcrypt hash at all."""
    if not password or not hashed:
        return False
    try:
        # ELLA's bcrypt hashed only the first 72 bytes of a longer password; bcrypt 5 refuses
        # more, so those bytes are compared, as ELLA compares them.
        return any(bcrypt.checkpw(form.encode("utf-8")[:MAX_PASSWORD_BYTES],
                                  hashed.encode("ascii")) for form in _forms(password))
    except (ValueError, UnicodeEncodeError):
        return False


# Costs a stored hash may have: bcrypt reads 4 to 31, ELLA writes 12. One over 14 would make
# each login attempt take minutes to hours of a worker's CPU (before any lockout applies).
MIN_HASH_COST, MAX_HASH_COST = 4, 14


def looks_like_bcrypt_hash(value):
    """A hash `bcrypt.checkpw` can verify (prefix $2a$, $2b$ or $2y$) at a cost logins can
    afford."""
    match = isinstance(value, str) and re.fullmatch(
        r"\$2[aby]\$([0-9]{2})\$[./A-Za-z0-9]{53}", value)
    # The salt's last character holds two bits: bcrypt refuses any but the four it writes
    # (`.Oeu`), so the user could never log in.
    return bool(match) and MIN_HASH_COST <= int(match.group(1)) <= MAX_HASH_COST \
        and value[28] in ".Oeu"


def matched_groups(password, auth):
    """The configured character-group patterns the password matches (`re.match`, i.e. from
    the start of the password, as ELLA does)."""
    return [pattern for pattern in auth["password_match_groups"]
            if re.match(pattern, password)]


TOO_LONG = f"Password must be at most {MAX_PASSWORD_BYTES} bytes long (in UTF-8)"


def password_too_long(password):
    return len(_forms(password)[0].encode("utf-8")) > MAX_PASSWORD_BYTES


def check_password_strength(password, auth):
    """(ok, problems): problems are short sentences for the user. Judged on the NFC form:
    a decomposed `Å` is two characters, the first an ASCII `A`."""
    typed, password = password, _forms(password)[0]
    problems = []
    minimum = auth["password_minimum_length"]
    # The shorter of the two: NFC makes some characters longer (U+1D160 is three), which
    # met the minimum with fewer characters than typed.
    if min(len(password), len(typed)) < max(minimum, 1):
        # (Never empty, whatever the policy: a login refuses an empty password, so the user
        # set one nobody could log in with.)
        problems.append(f"Password must be at least {minimum} characters long" if minimum > 1
                        else "Password must not be empty")
    if password_too_long(password):
        problems.append(TOO_LONG)
    needed = auth["password_num_match_groups"]
    if len(matched_groups(password, auth)) < needed:
        descriptions = auth.get("password_match_groups_descr") or auth["password_match_groups"]
        problems.append(f"Password must contain characters from at least {needed} of these "
                        f"groups: {', '.join(descriptions)}")
    return not problems, problems


def password_is_strong(password, auth):
    return check_password_strength(password, auth)[0]


def generate_password(auth):
    """A one-time password as ELLA makes one: 8 random characters of base64's alphabet
    without `0 o O I l i 1 / +` (the same strings as ELLA's first 8 characters of base64,
    drawn again until none is left), drawn until it passes the strength check. Longer when
    the policy's minimum length is (ELLA could then make none, and no user could be added
    or reset); after many tries with one of GENERATED_SPECIALS in a random place, for a
    policy that needs special characters."""
    length = max(GENERATED_LENGTH, auth["password_minimum_length"])
    if length > MAX_PASSWORD_BYTES:
        raise PasswordPolicyError(f"password_minimum_length {length} is more than the "
                                  f"{MAX_PASSWORD_BYTES} bytes a password may have")
    for attempt in range(_MAX_GENERATION_ATTEMPTS):
        candidate = [secrets.choice(GENERATED_ALPHABET) for _ in range(length)]
        if attempt >= _PLAIN_ATTEMPTS:
            candidate[secrets.randbelow(length)] = secrets.choice(GENERATED_SPECIALS)
        candidate = "".join(candidate)
        if password_is_strong(candidate, auth):
            return candidate
    raise PasswordPolicyError("could not generate a one-time password that meets the "
                              "configured password rules (user.auth)")


def password_expiry(expiry_days, now=None):
    """When a password the user sets now expires: 02:00 UTC of today (UTC) + 1 + N days."""
    now = now or datetime.now(timezone.utc)
    today = now.astimezone(timezone.utc).date()
    return datetime.combine(today + timedelta(days=1 + expiry_days),
                            time(EXPIRY_HOUR_UTC), tzinfo=timezone.utc)


def logout_all_sessions(conn, user_id, now=None):
    """Close every open session of the user; returns how many were open."""
    cur = conn.execute(
        "UPDATE usersession SET logged_out = %(now)s "
        "WHERE user_id = %(user_id)s AND logged_out IS NULL",
        {"now": now or datetime.now(timezone.utc), "user_id": user_id})
    return cur.rowcount


def set_password(conn, user_id, new_hash, expiry, now=None):
    """Store a new password hash: the current hash goes to `useroldpassword`, open sessions
    are logged out, the failed-login counter is reset. Runs in the caller's transaction."""
    now = now or datetime.now(timezone.utc)
    row = conn.execute('SELECT password FROM "user" WHERE id = %s FOR UPDATE',
                       (user_id,)).fetchone()
    if row is None:
        raise LookupError(f"no user with id {user_id}")
    conn.execute("INSERT INTO useroldpassword (user_id, password, expired) "
                 "VALUES (%s, %s, %s)", (user_id, row[0], now))
    logout_all_sessions(conn, user_id, now)
    conn.execute('UPDATE "user" SET password = %s, password_expiry = %s, incorrect_logins = 0 '
                 "WHERE id = %s", (new_hash, expiry, user_id))


def password_was_used(conn, user_id, password):
    """True when `password` is the user's current password or one of the most recent old
    ones (ELLA: the current one and the 13 newest in `useroldpassword`)."""
    current = conn.execute('SELECT password FROM "user" WHERE id = %s', (user_id,)).fetchone()
    hashes = [current[0]] if current else []
    hashes += [r[0] for r in conn.execute(
        "SELECT password FROM useroldpassword WHERE user_id = %s "
        "ORDER BY expired DESC, id DESC LIMIT %s", (user_id, OLD_PASSWORDS_CHECKED))]
    return any(verify_password(password, h) for h in hashes)
