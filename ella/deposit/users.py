"""User groups and users: the JSON fixtures (`usergroups.json`, `users.json`) and the
administrator's user operations (reset password, lock, activate, modify, list, activity).

Functions take an open connection and plain values and return plain dicts/lists; they never
commit, print or prompt (the caller owns the transaction and the wording on screen). Every
problem with the input raises `UsersError` with one line naming the file and entry.
"""

import json
import logging
import unicodedata
from datetime import datetime, timezone

import psycopg

from ella import jsonload
from ella.auth import user_id_by_name
from ella.config import user_config_problem
from ella.deposit.analysis import check_deposit_entries
from ella.deposit.variants import DepositError
from ella.passwords import (FORCED_CHANGE_EXPIRY, MAX_HASH_COST, MIN_HASH_COST,
                            generate_password, hash_password, logout_all_sessions,
                            looks_like_bcrypt_hash, set_password)
from ella.refresh import actual_frequency_columns, hold_frequency_columns
from ella.text import NotUtf8, control_character, has_odd_space, utf8_text

log = logging.getLogger(__name__)


class UsersError(Exception):
    """Bad input or a conflict with the database, in one line."""


# --------------------------------------------------------------------------------------------
# Reading and checking the JSON files (no database)

GROUP_KEYS_REQUIRED = ("name", "genepanels")
# Without `config` a new group gets {} (ELLA's default) and an existing one keeps its own.
GROUP_KEYS_OPTIONAL = ("config", "import_groups", "default_import_genepanel")

USER_KEYS_REQUIRED = ("username", "first_name", "last_name", "email", "group")
# Accepted for existing users only, as ELLA does (its test-data loader uses them; production
# files should not carry them). Ignored for new users, who always get a one-time password.
USER_KEYS_OPTIONAL = ("active", "config", "password", "password_expiry")
NEW_USER_IGNORED_KEYS = ("password", "password_expiry")


def read_json_list(path):
    """The top-level JSON list of a fixture file."""
    try:
        with open(path, "rb") as handle:
            data = jsonload.loads(utf8_text(handle.read()))  # (a BOM skipped: Notepad)
    except FileNotFoundError:
        raise UsersError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise UsersError(f"{path}: is a directory, not a JSON file") from None
    except NotUtf8 as exc:
        raise UsersError(f"{path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise UsersError(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: "
                         f"{exc.msg}") from None
    except jsonload.UnstorableJson as exc:
        raise UsersError(f"{path}: {jsonload.numbered_as_entries(exc)}") from None
    except OSError as exc:
        raise UsersError(f"{path}: cannot read: {exc.strerror}") from None
    if not isinstance(data, list):
        raise UsersError(f"{path}: expected a JSON list of objects, got {type(data).__name__}")
    return data


def _entry_label(path, index, entry, key):
    name = entry.get(key) if isinstance(entry, dict) else None
    label = f"{path}: entry {index + 1}"
    return f"{label} ({name!r})" if isinstance(name, str) else label


def _check_keys(label, entry, required, optional):
    if not isinstance(entry, dict):
        raise UsersError(f"{label}: expected a JSON object, got {type(entry).__name__}")
    missing = [k for k in required if k not in entry]
    if missing:
        raise UsersError(f"{label}: missing field(s) {', '.join(missing)}")
    unknown = sorted(set(entry) - set(required) - set(optional))
    if unknown:
        raise UsersError(f"{label}: unknown field(s) {', '.join(unknown)} (allowed: "
                         f"{', '.join(required + optional)})")


def _is_text(value):
    return isinstance(value, str) and value.strip() != ""


def _has_line_break_or_control(value):
    """A tab, line break or other control character in a name or email: it split `list`'s
    lines and the command's output (`a@b` and `c` on two lines)."""
    return isinstance(value, str) and control_character(value) is not None


def _check_panel_ref(label, what, value):
    if (not isinstance(value, list) or len(value) not in (1, 2)
            or not all(_is_text(v) for v in value)):
        raise UsersError(f"{label}: {what} must be [name, version] or [name], got "
                         f"{json.dumps(value)}")
    return tuple(value)


def _check_config(label, config):
    """A config that would break the merged user config of the group's users (a 500 on
    their requests) is refused here; a group's and a user's alike (a user's `deposit` with
    a regex that does not compile was stored and served as their config)."""
    try:
        notes = check_deposit_entries(config, label)
    except DepositError as exc:
        raise UsersError(str(exc)) from None
    problem = user_config_problem(config)
    if problem:
        raise UsersError(f"{label}: config: {problem}")
    return notes


def parse_usergroups(path, data):
    """Checked group entries: dicts with name, genepanels (tuples), import_groups (list or
    None), default_import_genepanel (tuple or None), config (dict, or None when the entry
    has none)."""
    groups, seen = [], set()
    for index, entry in enumerate(data):
        label = _entry_label(path, index, entry, "name")
        _check_keys(label, entry, GROUP_KEYS_REQUIRED, GROUP_KEYS_OPTIONAL)
        if not _is_text(entry["name"]):
            raise UsersError(f"{label}: name must be a non-empty string")
        # Also in another Unicode form: the same text, so the same group (the second
        # entry silently overwrote the first's panels).
        same_text = unicodedata.normalize("NFC", entry["name"])
        if same_text in seen:
            raise UsersError(f"{label}: group {entry['name']!r} appears twice in the file")
        seen.add(same_text)
        if not isinstance(entry["genepanels"], list):
            raise UsersError(f"{label}: genepanels must be a list of [name, version] or [name]")
        panels = [_check_panel_ref(label, "each genepanels item", p) for p in entry["genepanels"]]
        import_groups = entry.get("import_groups")
        if import_groups is not None and (not isinstance(import_groups, list)
                                          or not all(_is_text(g) for g in import_groups)):
            raise UsersError(f"{label}: import_groups must be a list of group names")
        default = entry.get("default_import_genepanel")
        if default is not None:
            default = _check_panel_ref(label, "default_import_genepanel", default)
        config = entry.get("config")
        notes = []
        if config is not None:
            if not isinstance(config, dict):
                raise UsersError(f"{label}: config must be a JSON object")
            notes = _check_config(label, config)
        groups.append({"name": entry["name"], "genepanels": panels,
                       "import_groups": import_groups, "default_import_genepanel": default,
                       "default_given": "default_import_genepanel" in entry,
                       "config": config, "label": label, "notes": notes})
    return groups


def _parse_timestamp(label, value):
    if not isinstance(value, str):
        raise UsersError(f"{label}: password_expiry must be an ISO 8601 date/time string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsersError(f"{label}: password_expiry {value!r} is not an ISO 8601 "
                         "date/time") from None
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    try:
        # Stored as it is read back: in UTC. 9999-12-31T23:00-05:00 is in the year 10000 there,
        # which PostgreSQL stored and Python could not read: every login of the user, every
        # `ella-users list` and the next `add_many` failed.
        return parsed.astimezone(timezone.utc)
    except OverflowError:
        raise UsersError(f"{label}: password_expiry {value!r} is out of range (years 1 to "
                         "9999 in UTC)") from None


def username_problem(name):
    """Why `name` cannot be a username (one a user types at the login form), or None."""
    if name != name.strip():
        return "has blanks around it"
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in name):
        return "has a control or invisible character"
    if has_odd_space(name):
        return "has a space other than the plain one (a no-break space looks like it)"
    if not any(_visible(c) for c in name):
        return "has no visible character"
    return None


# Letters and symbols that show as nothing: Hangul fillers, the blank Braille pattern.
BLANK_LOOKING = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def _visible(char):
    """A character that shows on its own: a letter, digit, punctuation or symbol (not a
    combining mark, a variation selector or a blank-looking letter)."""
    return unicodedata.category(char)[0] in "LNPS" and char not in BLANK_LOOKING


def username_key(name):
    """What two usernames that look alike in every list share: NFKC form (fullwidth
    letters as plain ones), case-folded."""
    return unicodedata.normalize("NFKC", name).casefold()


def _first_user_gets_id_1(conn):
    """With no user yet, the id sequence starts again at 1: ELLA's post-processor
    `analysis_finalize_without_findings` finalizes as user id 1, and a `-dry` run or a
    failed one had used that id up (a rollback does not give sequence values back). Needs
    the sequence's UPDATE privilege (the owner's role); without it the ids go on."""
    if conn.execute('SELECT 1 FROM "user" LIMIT 1').fetchone():
        return
    try:
        with conn.transaction():
            conn.execute("""SELECT setval(pg_get_serial_sequence('"user"', 'id'), 1, false)""")
    except psycopg.errors.InsufficientPrivilege:
        log.info("the user id sequence is not reset to 1 (no UPDATE privilege on it)")


def _lock_user_admin(conn):
    """Serialise, until this transaction ends, the commands that create or change users and
    groups (add_groups, add_many, modify): two creating `Ola` and `ola` at once each found
    no look-alike of the other and both committed; a lock per name deadlocked two runs
    listing the same users in other orders (and a file of many thousands of users exhausted
    the lock table); add_groups and add_many lock group rows in their files' orders and
    deadlocked. Taken first, before any user or group row."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('ella.user-admin'))")


def _lookalike(conn, name, exclude_id=None):
    """An existing user's name that looks like `name` without being it, or None: two such
    accounts are two people the audit trail and every list cannot tell apart."""
    key = username_key(name)
    for user_id, other in conn.execute('SELECT id, username FROM "user"'):
        if other != name and user_id != exclude_id and username_key(other) == key:
            return other
    return None


def _check_new_group_name(conn, group):
    """A new group's name must not look like another's (`LAB` beside `Lab`: two groups no
    list tells apart, each with its own panels; also one created earlier from the same file)
    nor hold a character a username may not."""
    name = group["name"]
    problem = username_problem(name)
    if problem:
        raise UsersError(f"{group['label']}: group name {name!r} {problem}")
    other = _lookalike_group(conn, name)  # (no other run meanwhile: `_lock_user_admin`)
    if other is not None:
        raise UsersError(f"{group['label']}: group {name!r} looks like the group {other!r} "
                         "(names differing only in case or Unicode form count as one)")


def _lookalike_group(conn, name):
    """An existing user group's name that looks like `name` without being it, or None."""
    key = username_key(name)
    for (other,) in conn.execute("SELECT name FROM usergroup"):
        if other != name and username_key(other) == key:
            return other
    return None


def email_or_none(email):
    """A blank e-mail address is no address: NULL, as a user without one has (an empty string
    would read as an address in every list and export)."""
    return email if email is not None and email.strip() else None


def parse_users(path, data):
    """Checked user entries (dicts with the file's keys plus `label`)."""
    users, seen = [], set()
    for index, entry in enumerate(data):
        label = _entry_label(path, index, entry, "username")
        _check_keys(label, entry, USER_KEYS_REQUIRED, USER_KEYS_OPTIONAL)
        for key in ("username", "first_name", "last_name", "group"):
            if not _is_text(entry[key]):
                raise UsersError(f"{label}: {key} must be a non-empty string")
        if entry["email"] is not None and not isinstance(entry["email"], str):
            raise UsersError(f"{label}: email must be a string or null")
        entry = dict(entry, email=email_or_none(entry["email"]))
        for key in ("first_name", "last_name", "email"):
            if _has_line_break_or_control(entry[key]):
                raise UsersError(f"{label}: {key} {entry[key]!r} has a control character (a "
                                 "line break, a tab)")
        problem = username_problem(entry["username"])
        if problem:
            raise UsersError(f"{label}: username {entry['username']!r} {problem}")
        if username_key(entry["username"]) in seen:
            raise UsersError(f"{label}: user {entry['username']!r} appears twice in the file "
                             "(names differing only in case or Unicode form count as one)")
        seen.add(username_key(entry["username"]))
        user = dict(entry, label=label)
        if "active" in entry and not isinstance(entry["active"], bool):
            raise UsersError(f"{label}: active must be true or false")
        if "config" in entry and not isinstance(entry["config"], dict):
            raise UsersError(f"{label}: config must be a JSON object")
        if "config" in entry:
            user["notes"] = _check_config(label, entry["config"])
        if "password" in entry and not looks_like_bcrypt_hash(entry["password"]):
            raise UsersError(f"{label}: password must be a bcrypt hash ($2b$12$...; prefix "
                             f"$2a$, $2b$ or $2y$, cost {MIN_HASH_COST} to {MAX_HASH_COST}, "
                             "a salt bcrypt reads), never a plain-text password")
        if "password_expiry" in entry:
            user["password_expiry"] = _parse_timestamp(label, entry["password_expiry"])
        users.append(user)
    return users


def _selected(items, key, names):
    """Items whose `key` is one of `names` (in any case or Unicode form); all when names is
    empty."""
    if not names:
        return list(items)
    wanted = {username_key(n) for n in names}
    return [item for item in items if username_key(item[key]) in wanted]


# --------------------------------------------------------------------------------------------
# User groups


def _official_panels(conn, name):
    return [tuple(r) for r in conn.execute(
        "SELECT name, version FROM genepanel WHERE name = %s AND official "
        "ORDER BY date_created, version", (name,))]


def _resolve_panels(conn, group):
    """The group's official panels as [(name, version)], file order, without repeats."""
    resolved = []
    for ref in group["genepanels"]:
        if len(ref) == 2:
            row = conn.execute("SELECT official FROM genepanel WHERE name = %s AND version = %s",
                               ref).fetchone()
            if row is None:
                raise UsersError(f"{group['label']}: gene panel {ref[0]} {ref[1]} does not exist")
            if not row[0]:
                raise UsersError(f"{group['label']}: gene panel {ref[0]} {ref[1]} is not "
                                 "official (only official panels can be given here)")
            found = [ref]
        else:
            found = _official_panels(conn, ref[0])
            if not found:
                raise UsersError(f"{group['label']}: no official gene panel named {ref[0]!r}")
        resolved.extend(p for p in found if p not in resolved)
    return resolved


def _resolve_default_panel(conn, group, panels):
    ref = group["default_import_genepanel"]
    if ref is None:
        return None
    if len(ref) == 1:
        candidates = _official_panels(conn, ref[0])
        if not candidates:
            raise UsersError(f"{group['label']}: default_import_genepanel: no official gene "
                             f"panel named {ref[0]!r}")
        ref = candidates[-1]  # the newest by date_created
    if tuple(ref) not in panels:
        raise UsersError(f"{group['label']}: default_import_genepanel {ref[0]} {ref[1]} is not "
                         "among the group's gene panels")
    return tuple(ref)


def _acmg_frequency_pairs(config):
    """(provider, key) pairs the group's ACMG config reads from the frequency shadow table."""
    frequency = ((config.get("acmg") or {}).get("frequency") or {})
    pairs = []
    for part in ("external", "internal"):
        for provider, keys in ((frequency.get("groups") or {}).get(part) or {}).items():
            pairs.extend((provider, key, "") for key in keys or [])
    for provider, keys in (frequency.get("num_thresholds") or {}).items():
        pairs.extend((provider, key, "_num") for key in keys or {})
    return pairs


def _check_acmg_frequencies(conn, group):
    """The ACMG frequency groups of a group's or a user's config (its `acmg` replaces the
    group's) must be columns of the frequency shadow table (else the suggested ACMG criteria
    would fail at run time)."""
    pairs = _acmg_frequency_pairs(group.get("config") or {})
    if not pairs:
        return
    hold_frequency_columns(conn)
    columns = actual_frequency_columns(conn)
    if columns is None:
        raise UsersError("table annotationshadowfrequency does not exist: run `ella-db refresh` "
                         "first")
    names = {name for name, _ in columns}
    missing = sorted({f"{p}{suffix}.{k}" for p, k, suffix in pairs} - names)
    if missing:
        raise UsersError(f"{group['label']}: config.acmg.frequency uses frequency columns that "
                         f"are not in the database: {', '.join(missing)} (see "
                         "frequencies.groups in the config and `ella-db refresh`)")


def add_groups(conn, groups, names=None):
    """Create or update the user groups (only those in `names`, case-insensitive, if given).

    Existing groups keep their unofficial (custom) panels; every other field is overwritten.
    Returns [{"name", "status": "added" | "updated"}] in file order."""
    selected = _selected(groups, "name", names)
    results, ids = [], {}
    _lock_user_admin(conn)
    # Before any row is written: a refresh under way is waited for with nothing held that it
    # needs (taken at the first ACMG check, after a group's insert, the two deadlocked).
    hold_frequency_columns(conn)
    for group in selected:
        panels = _resolve_panels(conn, group)
        default = _resolve_default_panel(conn, group, panels)
        _check_acmg_frequencies(conn, group)
        params = {"name": group["name"],
                  "config": None if group["config"] is None else json.dumps(group["config"]),
                  "dname": default[0] if default else None,
                  "dversion": default[1] if default else None}
        row = group_of_same_text(conn, group["name"], group["label"], lock=True)
        if row is None:
            # A new group only: existing ones (an adopted database's `Lab` and `LAB`) are
            # updated as they are named.
            _check_new_group_name(conn, group)
            # In NFC, as usernames: a groups file saved on a Mac wrote `Å` as `A` and a ring,
            # and every tool given the name as typed elsewhere missed the group.
            params["name"] = unicodedata.normalize("NFC", group["name"])
            group_id = conn.execute(
                "INSERT INTO usergroup (name, config, default_import_genepanel_name, "
                "default_import_genepanel_version) "
                "VALUES (%(name)s, COALESCE(%(config)s::jsonb, '{}'), %(dname)s, %(dversion)s) "
                "RETURNING id",
                params).fetchone()[0]
            status = "added"
        else:
            group_id = row[0]
            # Without the key the group keeps its own default panel, as its own config
            # (a re-run of the lab's file, as ELLA stored it, emptied it).
            conn.execute(
                "UPDATE usergroup SET config = COALESCE(%(config)s::jsonb, config), "
                "default_import_genepanel_name = CASE WHEN %(given)s THEN %(dname)s "
                "ELSE default_import_genepanel_name END, "
                "default_import_genepanel_version = CASE WHEN %(given)s THEN %(dversion)s "
                "ELSE default_import_genepanel_version END WHERE id = %(id)s",
                dict(params, id=group_id, given=group.get("default_given", True)))
            status = "updated"
        lost = _unfinished_analyses_of_lost_panels(conn, group_id, panels)
        # Official links are replaced; links to unofficial panels stay.
        conn.execute(
            "DELETE FROM usergroupgenepanel ugp USING genepanel gp "
            "WHERE ugp.usergroup_id = %s AND gp.name = ugp.genepanel_name "
            "AND gp.version = ugp.genepanel_version AND gp.official", (group_id,))
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO usergroupgenepanel (usergroup_id, genepanel_name, genepanel_version) "
                "VALUES (%s, %s, %s)", [(group_id, n, v) for n, v in panels])
        # A default kept from before that the group no longer has is no default any more.
        kept = conn.execute(
            "UPDATE usergroup g SET (default_import_genepanel_name, "
            "default_import_genepanel_version) = (SELECT p.genepanel_name, p.genepanel_version "
            "FROM usergroupgenepanel p WHERE p.usergroup_id = g.id AND p.genepanel_name = "
            "g.default_import_genepanel_name AND p.genepanel_version = "
            "g.default_import_genepanel_version) WHERE g.id = %s RETURNING "
            "g.default_import_genepanel_name, g.default_import_genepanel_version",
            (group_id,)).fetchone()
        ids[group["name"]] = group_id
        results.append({"name": group["name"], "status": status, "id": group_id,
                        "genepanels": panels,
                        "default_import_genepanel": tuple(kept) if kept[0] else None,
                        "lost_unfinished": lost})
    # Import rights once every group of the file exists, so groups may name each other.
    for group in selected:
        targets = group["import_groups"] if group["import_groups"] is not None else [group["name"]]
        target_ids = []
        for target in targets:
            row = group_of_same_text(conn, target, f"{group['label']}: import_groups")
            if row is None:
                raise UsersError(f"{group['label']}: import_groups: no user group named "
                                 f"{target!r}")
            if row[0] not in target_ids:
                target_ids.append(row[0])
        group_id = ids[group["name"]]
        conn.execute("DELETE FROM usergroupimport WHERE usergroup_id = %s", (group_id,))
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO usergroupimport (usergroup_id, usergroupimport_id) "
                            "VALUES (%s, %s)", [(group_id, t) for t in target_ids])
    return results


def group_of_same_text(conn, name, label=None, lock=False):
    """(id,) of the group named `name`, else of the one whose name is the same text in
    another Unicode form (a groups file saved on a Mac writes `Å` as `A` and a ring: it was
    refused as a look-alike of its own group), else None. Case still tells groups apart."""
    lock_clause = " FOR UPDATE" if lock else ""
    row = conn.execute("SELECT id FROM usergroup WHERE name = %s" + lock_clause,
                       (name,)).fetchone()
    if row is not None:
        return row
    text = unicodedata.normalize("NFC", name)
    found = [(group_id, other) for group_id, other in conn.execute(
        "SELECT id, name FROM usergroup ORDER BY name")
        if unicodedata.normalize("NFC", other) == text]
    if len(found) > 1:
        where = f"{label}: " if label else ""
        raise UsersError(f"{where}the user group {name!r} could be any of "
                         f"{', '.join(repr(other) for _, other in found)}: name it exactly")
    if not found:
        return None
    return conn.execute("SELECT id FROM usergroup WHERE id = %s" + lock_clause,
                        (found[0][0],)).fetchone()


def _unfinished_analyses_of_lost_panels(conn, group_id, panels):
    """[(panel name, version, number of analyses)]: the official panels the group has and
    will not have any more, with their analyses that have a round not Done. A group sees an
    analysis through its panel version only: those leave its work lists, also when in work
    (a new panel version given as the only one is the usual way this happens)."""
    return [tuple(row) for row in conn.execute(
        "SELECT ugp.genepanel_name, ugp.genepanel_version, count(DISTINCT a.id) "
        "FROM usergroupgenepanel ugp JOIN genepanel gp ON gp.name = ugp.genepanel_name "
        "AND gp.version = ugp.genepanel_version AND gp.official "
        "JOIN analysis a ON a.genepanel_name = ugp.genepanel_name "
        "AND a.genepanel_version = ugp.genepanel_version "
        "WHERE ugp.usergroup_id = %s AND NOT (ugp.genepanel_name, ugp.genepanel_version) "
        "IN (SELECT * FROM unnest(%s::text[], %s::text[])) "
        "AND EXISTS (SELECT 1 FROM analysisinterpretation ai WHERE ai.analysis_id = a.id "
        "AND ai.status <> 'Done') "
        "GROUP BY 1, 2 ORDER BY 1, 2",
        (group_id, [n for n, _ in panels], [v for _, v in panels]))]


def selected_group_names(groups, names=None):
    return [g["name"] for g in _selected(groups, "name", names)]


# --------------------------------------------------------------------------------------------
# Users

_USER_COLUMNS = ('u.id, u.username, u.first_name, u.last_name, u.email, u.active, '
                 'u.incorrect_logins, u.password_expiry, u.config, u.password, g.name AS "group"')


def _user_row(conn, where, params, lock=False):
    cur = conn.cursor()
    cur.execute(f'SELECT {_USER_COLUMNS} FROM "user" u JOIN usergroup g ON g.id = u.group_id '
                f"WHERE {where}" + (" FOR UPDATE OF u" if lock else ""), params)
    row = cur.fetchone()
    if row is None:
        return None
    return dict(zip([d.name for d in cur.description], row))


def get_user(conn, username, lock=False):
    """The user a login with `username` would find (also in another Unicode form)."""
    user_id = user_id_by_name(conn, username)
    user = _user_row(conn, "u.id = %s", (user_id,), lock=lock) if user_id is not None else None
    if user is None:
        raise UsersError(f"no user named {username!r}")
    return user


def find_group(conn, name, label=None):
    """(id, stored name) of the group named `name`; else of the one whose name differs only
    in case or Unicode form (a users file saved on a Mac writes `Å` as `A` and a ring): such
    names count as one."""
    where = f"{label}: " if label else ""
    row = conn.execute("SELECT id FROM usergroup WHERE name = %s", (name,)).fetchone()
    if row is not None:
        return row[0], name
    key = username_key(name)
    found = [(group_id, other) for group_id, other in conn.execute(
        "SELECT id, name FROM usergroup ORDER BY name") if username_key(other) == key]
    if len(found) > 1:
        raise UsersError(f"{where}the user group {name!r} could be any of "
                         f"{', '.join(repr(other) for _, other in found)}: name it exactly")
    if not found:
        raise UsersError(f"{where}no user group named {name!r}")
    return found[0]


def shown_value(key, value):
    """A value as the change lines print it (never a password hash)."""
    if value is None:
        return "(none)"
    if key == "password":
        return "<bcrypt hash>"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def add_many(conn, users, auth, groups=None):
    """Create or update users (only those whose group is in `groups`, case-insensitive).

    New users get a generated one-time password that is already expired. Existing users get
    every given field updated. Returns, in file order, dicts with `username`, `status`
    ("added" / "updated" / "unchanged"), for added users `first_name`, `last_name`, `email`
    and the plain `password` (to hand out; never stored), for updated ones `changes`
    [(key, old, new)] as text."""
    results = []
    _lock_user_admin(conn)
    hold_frequency_columns(conn)  # (as add_groups)
    _first_user_gets_id_1(conn)
    selected = _selected(users, "group", groups)
    for entry in selected:
        group_id, group_name = find_group(conn, entry["group"], entry["label"])
        _check_acmg_frequencies(conn, entry)
        # As written, else in NFC (how a new name is stored), else the one stored in another
        # Unicode form (an adopted database's): the user login and the commands find.
        found = user_id_by_name(conn, entry["username"])
        existing = _user_row(conn, "u.id = %s", (found,), lock=True) \
            if found is not None else None
        if existing is None:
            other = _lookalike(conn, entry["username"])
            if other is not None:
                raise UsersError(f"{entry['label']}: user {entry['username']!r} looks like the "
                                 f"existing user {other!r} (case or Unicode form): refused")
            password = generate_password(auth)
            conn.execute(
                'INSERT INTO "user" (username, first_name, last_name, email, group_id, password, '
                "password_expiry, active, incorrect_logins, config) VALUES (%(username)s, "
                "%(first_name)s, %(last_name)s, %(email)s, %(group_id)s, %(password)s, "
                "%(expiry)s, %(active)s, 0, %(config)s::jsonb)",
                # In NFC: the form a PC keyboard sends (login also tries a name in NFC).
                {"username": unicodedata.normalize("NFC", entry["username"]),
                 "first_name": entry["first_name"],
                 "last_name": entry["last_name"], "email": entry["email"],
                 "group_id": group_id, "password": hash_password(password),
                 "expiry": FORCED_CHANGE_EXPIRY, "active": entry.get("active", True),
                 "config": json.dumps(entry.get("config", {}))})
            results.append({"username": entry["username"], "status": "added",
                            "first_name": entry["first_name"], "last_name": entry["last_name"],
                            "email": entry["email"], "password": password,
                            "ignored": [k for k in NEW_USER_IGNORED_KEYS if k in entry]})
            continue
        changes = []
        # The group as stored: `TESTGROUP01` for `testgroup01` is no change.
        wanted = dict(entry, group=group_name)
        for key in ("first_name", "last_name", "email", "group", "active", "config",
                    "password", "password_expiry"):
            if key in entry and wanted[key] != existing[key]:
                changes.append((key, existing[key], wanted[key]))
        changed = {key for key, _, _ in changes}
        simple = {k: entry[k] for k in ("first_name", "last_name", "email", "active")
                  if k in changed}
        if "group" in changed:
            simple["group_id"] = group_id
        if "config" in changed:
            simple["config"] = json.dumps(entry["config"])
        if simple:
            _update_user(conn, existing["id"], simple)
        if "active" in simple:
            # Deactivation ends the sessions, as `lock` does; a reactivation too, as
            # `activate` does: sessions from before (one deactivated by ELLA or a DBA, which
            # ended none) came back to life.
            logout_all_sessions(conn, existing["id"])
        if "password" in changed:
            # A new hash from the file: the current one goes to the history like any change.
            set_password(conn, existing["id"], entry["password"],
                         entry.get("password_expiry", existing["password_expiry"]))
        elif "password_expiry" in changed:
            _update_user(conn, existing["id"], {"password_expiry": entry["password_expiry"]})
        results.append({"username": entry["username"],
                        "status": "updated" if changes else "unchanged",
                        "changes": [(k, shown_value(k, old), shown_value(k, new))
                                    for k, old, new in changes]})
    return results


_UPDATABLE = {"username", "first_name", "last_name", "email", "group_id", "active", "config",
              "password_expiry"}


def _update_user(conn, user_id, values):
    assert set(values) <= _UPDATABLE, values
    assignments = ", ".join(
        f"{column} = %({column})s" + ("::jsonb" if column == "config" else "")
        for column in sorted(values))
    conn.execute(f'UPDATE "user" SET {assignments} WHERE id = %(id)s', dict(values, id=user_id))


def reset_password(conn, username, auth):
    """A new one-time password, expired at once; unlocks (failed-login counter 0) and logs out
    every session. Returns (user dict, plain password)."""
    user = get_user(conn, username, lock=True)
    password = generate_password(auth)
    set_password(conn, user["id"], hash_password(password), FORCED_CHANGE_EXPIRY)
    return user, password


def lock_user(conn, username):
    """Deactivate the user and log out every session."""
    user = get_user(conn, username, lock=True)
    _update_user(conn, user["id"], {"active": False})
    logout_all_sessions(conn, user["id"])
    return user


def activate_user(conn, username):
    """Re-activate a deactivated user (the failed-login lock is lifted by reset_password).
    Sessions from before the deactivation stay closed: the user logs in anew. Returns (user,
    changed): an active user is left as is, sessions included."""
    user = get_user(conn, username, lock=True)
    if user["active"]:
        return user, False
    _update_user(conn, user["id"], {"active": True})
    logout_all_sessions(conn, user["id"])
    return user, True


MODIFIABLE = ("new_username", "first_name", "last_name", "email", "user_group")


def modify_user(conn, username, new_username=None, first_name=None, last_name=None, email=None,
                user_group=None):
    """Change the given fields. Returns (user dict before, [(key, old, new)])."""
    _lock_user_admin(conn)  # (before the user's row, as add_many)
    user = get_user(conn, username, lock=True)
    values, changes = {}, []
    if new_username is not None and new_username != user["username"]:
        if not new_username.strip():
            raise UsersError("the new username must not be empty")
        problem = username_problem(new_username)
        if problem:
            raise UsersError(f"the new username {new_username!r} {problem}")
        if _user_row(conn, "u.username = %s", (new_username,)) is not None:
            raise UsersError(f"a user named {new_username!r} already exists")
        other = _lookalike(conn, new_username, exclude_id=user["id"])
        if other is not None:
            raise UsersError(f"the new username {new_username!r} looks like the existing user "
                             f"{other!r} (case or Unicode form)")
        new_username = unicodedata.normalize("NFC", new_username)
        values["username"] = new_username
        changes.append(("username", user["username"], new_username))
    for key, value in (("first_name", first_name), ("last_name", last_name)):
        if value is not None and not _is_text(value):
            raise UsersError(f"the {key.replace('_', ' ')} must not be empty")  # as add_many
    for key, value in (("first_name", first_name), ("last_name", last_name), ("email", email)):
        if _has_line_break_or_control(value):
            raise UsersError(f"the {key.replace('_', ' ')} {value!r} has a control character "
                             "(a line break, a tab)")
    for key, value in (("first_name", first_name), ("last_name", last_name)):
        if value is not None and value != user[key]:
            values[key] = value
            changes.append((key, user[key], value))
    if email is not None:
        email = email_or_none(email)  # `--email ''` removes the address
        if email != user["email"]:
            values["email"] = email
            changes.append(("email", user["email"], email))
    if user_group is not None:
        group_id, group_name = find_group(conn, user_group)
        if group_name != user["group"]:  # (another case of its own group is no change)
            values["group_id"] = group_id
            changes.append(("group", user["group"], group_name))
    if values:
        _update_user(conn, user["id"], values)
    return user, changes


def list_users(conn, groups=None, username=None):
    """Users with their group and the group's gene panels (`name_version`), by id.
    `groups` filters by group name (in any case or Unicode form; "ALL" or nothing = every
    group)."""
    wanted = None
    if groups and not any(g.upper() == "ALL" for g in groups):
        # Compared in Python: PostgreSQL's lower() folds only ASCII letters in a database of
        # the C locale ("Ålesund" did not find the group Ålesund).
        wanted = {username_key(g) for g in groups}
    rows = conn.execute(
        "SELECT u.id, u.username, u.first_name, u.last_name, u.password_expiry, "
        "g.name AS usergroup, "
        "(SELECT string_agg(p.genepanel_name || '_' || p.genepanel_version, ', ' "
        "         ORDER BY p.genepanel_name, p.genepanel_version) "
        "   FROM (SELECT DISTINCT ugp.genepanel_name, ugp.genepanel_version "
        "         FROM usergroupgenepanel ugp WHERE ugp.usergroup_id = g.id) p) AS genepanels "
        'FROM "user" u JOIN usergroup g ON g.id = u.group_id '
        "WHERE (%(username)s::text IS NULL OR u.id = %(user_id)s) "
        "ORDER BY u.id", {"username": username,
                          # As login finds the name (also in another Unicode form).
                          "user_id": user_id_by_name(conn, username) if username else None})
    keys = ("id", "username", "first_name", "last_name", "password_expiry", "usergroup",
            "genepanels")
    return [dict(zip(keys, row)) for row in rows
            if wanted is None or username_key(row[5]) in wanted]


def user_activity(conn):
    """One row per session, the most recent activity first."""
    rows = conn.execute(
        "SELECT u.id, u.username, u.first_name, u.last_name, s.lastactivity "
        'FROM usersession s JOIN "user" u ON u.id = s.user_id '
        "ORDER BY s.lastactivity DESC, s.id DESC")
    keys = ("id", "username", "first_name", "last_name", "last_activity")
    return [dict(zip(keys, row)) for row in rows]
