"""Filter configurations (ELLA's `filterconfigs update|deactivate|list`; import.md 5.3).

The input file is a JSON list of `{name, usergroups: [{name, order}], requirements: [...],
filterconfig: {...}}` (datamodel.md 6.4, ELLA's `filterconfig_base.json`). The whole file is
checked before anything is written, and deposited in one transaction. Filter configs are
append-only: a changed entry supersedes the current row of that name (`date_superceeded`,
`active = false`) with a new row pointing back at it (`previous_filterconfig_id`).
"""

import json
import re

import jsonschema
import psycopg

from ella import jsonload
from ella.deposit.analysis_config import new_name_problem
from ella.deposit.users import UsersError, find_group, username_key
from ella.filters import FilterError, quality
from ella.filters.chain import check_filterconfig
from ella.jsonschemas import load_schema_documents
from ella.refresh import (FREQUENCY_TABLE, actual_frequency_columns, frequency_pairs,
                          hold_frequency_columns)
from ella.text import NotUtf8, repeats_a_repetition, utf8_text
from ella.workflow.rounds import SNAPSHOT_CATEGORIES

# Our own schema for the CLI input format; `filterconfig` itself is checked against the
# filterconfig v3 document afterwards (its errors get their own, clearer message).
INPUT_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "array",
    "items": {
        "type": "object",
        "required": ["name", "usergroups", "requirements", "filterconfig"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "usergroups": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "order"],
                    "additionalProperties": False,
                    "properties": {
                        "name": {"type": "string", "minLength": 1},
                        # the column is a PostgreSQL integer
                        "order": {"type": "integer", "minimum": 0, "maximum": 2147483647},
                    },
                },
            },
            "requirements": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["function", "params"],
                    "additionalProperties": False,
                    "properties": {
                        "function": {"enum": ["analysis"]},
                        "params": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "is_trio": {"type": "boolean"},
                                "is_single": {"type": "boolean"},
                                "is_family": {"type": "boolean"},
                                "name": {"type": "string"},
                                "genepanel_name": {"type": "string"},
                            },
                        },
                    },
                },
            },
            "filterconfig": {"type": "object"},
        },
    },
}

FILTERCONFIG_SCHEMA_VERSION = 3

CREATED = "Filterconfig created"
UPDATED = "Filterconfig updated"
ADDED = "Added to usergroup"
ORDER_CHANGED = "Order changed"


class FilterconfigError(Exception):
    """Bad input or a refused change; the message is one line for the operator."""


def _short(text, limit=200):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _error_text(error, skip=0):
    """`path.to[0].key: message`, leaving out the first `skip` path elements."""
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}"
                   for p in list(error.absolute_path)[skip:])
    return f"{path.lstrip('.') or '(top level)'}: {_short(error.message)}"


def _filterconfig_validator():
    for name, version, document in load_schema_documents():
        if name == "filterconfig" and version == FILTERCONFIG_SCHEMA_VERSION:
            return jsonschema.Draft7Validator(document)
    raise FilterconfigError(f"filterconfig schema version {FILTERCONFIG_SCHEMA_VERSION} "
                            "is not shipped")  # a packaging bug, not bad input


def entry_label(index, entry):
    name = entry.get("name") if isinstance(entry, dict) else None
    return f"entry {index + 1}" + (f" ({name!r})" if isinstance(name, str) else "")


def read_filterconfigs_file(path):
    """Parse the file; malformed JSON is reported with its line and column."""
    try:
        with open(path, "rb") as handle:
            text = utf8_text(handle.read())  # (a BOM skipped: Notepad)
    except OSError as exc:
        raise FilterconfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except NotUtf8 as exc:
        raise FilterconfigError(f"{path}: {exc}") from None
    try:
        return jsonload.loads(text)
    except json.JSONDecodeError as exc:
        raise FilterconfigError(f"{path}: not valid JSON: line {exc.lineno} column {exc.colno}: "
                                f"{exc.msg}") from exc
    except jsonload.UnstorableJson as exc:
        raise FilterconfigError(f"{path}: {jsonload.numbered_as_entries(exc)}") from None


def validate_entries(entries):
    """Check the input format and every `filterconfig` against schema v3; raise on the first
    problem, naming the entry."""
    errors = sorted(jsonschema.Draft7Validator(INPUT_SCHEMA).iter_errors(entries),
                    key=lambda e: list(e.absolute_path))
    if errors:
        # The first entry at fault (best_match alone named a later one), and its most
        # telling error.
        first = list(errors[0].absolute_path)[:1]
        error = jsonschema.exceptions.best_match(
            e for e in errors if list(e.absolute_path)[:1] == first)
        path = list(error.absolute_path)
        if path and isinstance(path[0], int):
            label = entry_label(path[0], entries[path[0]])
            inner = error.message if len(path) == 1 else _error_text(error, skip=1)
            raise FilterconfigError(f"{label}: {_short(inner)}")
        raise FilterconfigError(f"the file must hold a JSON list of filter configs: "
                                f"{_short(error.message)}")
    validator = _filterconfig_validator()
    seen = {}
    for index, entry in enumerate(entries):
        label = entry_label(index, entry)
        if entry["name"] in seen:
            raise FilterconfigError(f"{label}: the name is already used by entry "
                                    f"{seen[entry['name']] + 1}")
        seen[entry["name"]] = index
        groups = [g["name"] for g in entry["usergroups"]]
        doubled = sorted({g for g in groups if groups.count(g) > 1})
        if doubled:
            raise FilterconfigError(f"{label}: user group listed twice: {', '.join(doubled)}")
        for r_index, requirement in enumerate(entry["requirements"]):
            for key in ("name", "genepanel_name"):
                pattern = requirement["params"].get(key)
                try:
                    re.compile(pattern or "")
                except re.error as exc:
                    # Refused here: it would break choosing filter configs for the groups.
                    raise FilterconfigError(f"{label}: requirements[{r_index}].params.{key} "
                                            f"{pattern!r} is not a valid regex ({exc})") \
                        from None
                if repeats_a_repetition(pattern or ""):
                    # Matched against analysis names whenever a group's filter configs are
                    # listed (API and CLI): `(a+)+$` held the process for hours on a name of
                    # forty a's and a b.
                    raise FilterconfigError(
                        f"{label}: requirements[{r_index}].params.{key} {_short(pattern)!r} "
                        "repeats a repetition (as in `(a+)+`), which can take hours to match "
                        "a name: write it without")
        error = jsonschema.exceptions.best_match(validator.iter_errors(entry["filterconfig"]))
        if error is not None:
            raise FilterconfigError(f"{label}: filterconfig is not valid against filterconfig "
                                    f"schema version {FILTERCONFIG_SCHEMA_VERSION}: "
                                    f"filterconfig.{_error_text(error)}")
        # What the schema lets through but the filters cannot run (filtering.md 2: ranges,
        # required pairs, groups the thresholds name, ...): refused now, not at every use.
        try:
            check_filterconfig(entry["filterconfig"])
        except FilterError as exc:
            raise FilterconfigError(f"{label}: filterconfig.{exc}") from None


def check_patterns(conn, entries):
    """The quality filters' filter_status patterns, which PostgreSQL applies, are checked by
    PostgreSQL (its regex dialect is not Python's)."""
    for index, entry in enumerate(entries):
        for where, item in _filter_items(entry["filterconfig"]):
            if item.get("name") == quality.NAME:
                problem = quality.pattern_problem(conn, item.get("config") or {})
                if problem:
                    raise FilterconfigError(f"{entry_label(index, entry)}: filterconfig."
                                            f"{where}: {problem}")


def _filter_items(filterconfig):
    """(path, entry) for every filter and exception of a (checked) filterconfig."""
    for index, item in enumerate(filterconfig["filters"]):
        yield f"filters[{index}]", item
        for exc_index, exception in enumerate(item.get("exceptions") or []):
            yield f"filters[{index}].exceptions[{exc_index}]", exception


def frequency_group_pairs(filterconfig):
    """{(provider, key)} named by the `groups` of the frequency filters (and frequency
    exceptions): the columns they read. A `num_thresholds` entry outside `groups` is never
    read, and ELLA does not check it either (filtering.md 1.1)."""
    pairs = set()
    for _, item in _filter_items(filterconfig):
        if item.get("name") != "frequency":
            continue
        for group in ((item.get("config") or {}).get("groups") or {}).values():
            for provider, keys in group.items():
                pairs.update((provider, key) for key in keys)
    return pairs


def check_frequency_groups(conn, config, entries):
    """Every frequency group a filter config uses must be configured (`frequencies.groups`)
    and have its column in the shadow table, or filtering would fail at run time."""
    configured = set(frequency_pairs(config))
    hold_frequency_columns(conn)
    columns = actual_frequency_columns(conn)
    column_names = {name for name, _ in columns or []}
    for index, entry in enumerate(entries):
        used = frequency_group_pairs(entry["filterconfig"])
        label = entry_label(index, entry)
        unknown = sorted(used - configured)
        if unknown:
            raise FilterconfigError(
                f"{label}: frequency groups not in the configuration (frequencies.groups): "
                + ", ".join(f"{p}.{k}" for p, k in unknown))
        if columns is None and used:
            raise FilterconfigError(f"{label}: table {FREQUENCY_TABLE} does not exist "
                                    "(run ella-db refresh)")
        absent = sorted(p for p in used if f"{p[0]}.{p[1]}" not in column_names)
        if absent:
            raise FilterconfigError(
                f"{label}: frequency groups without a column in {FREQUENCY_TABLE} "
                "(run ella-db refresh): " + ", ".join(f"{p}.{k}" for p, k in absent))


def _usergroup_ids(conn, entries):
    """{name as the file gives it: (id, stored name)}; a group is found in any case or
    Unicode form, as `ella-users` finds it, unless two groups share that look."""
    found = {}
    for index, entry in enumerate(entries):
        missing = []
        for name in (g["name"] for g in entry["usergroups"]):
            if name in found:
                continue
            try:
                found[name] = find_group(conn, name)
            except UsersError as exc:
                if "could be any of" in str(exc):
                    raise FilterconfigError(f"{entry_label(index, entry)}: {exc}") from None
                missing.append(name)
        if missing:
            raise FilterconfigError(f"{entry_label(index, entry)}: unknown user group "
                                    + ", ".join(repr(m) for m in missing))
        named = {}
        for name in (g["name"] for g in entry["usergroups"]):
            group_id, stored = found[name]
            if group_id in named:
                raise FilterconfigError(f"{entry_label(index, entry)}: {named[group_id]!r} "
                                        f"and {name!r} name one user group, {stored!r}")
            named[group_id] = name
    return found


def _lookalike_name(conn, name):
    """(id, name) of a current filter config whose name looks like `name` without being it."""
    key = username_key(name)
    for config_id, other in conn.execute(
            "SELECT id, name FROM filterconfig WHERE date_superceeded IS NULL ORDER BY id"):
        if other != name and username_key(other) == key:
            return config_id, other
    return None


def _current(conn, name):
    """The current row of that name: the active one, else the newest not superseded."""
    return conn.execute(
        "SELECT id, filterconfig, requirements, active FROM filterconfig "
        "WHERE name = %s AND date_superceeded IS NULL ORDER BY active DESC, id DESC LIMIT 1",
        (name,)).fetchone()


def _insert(conn, entry, previous_id, label):
    try:
        with conn.transaction():  # savepoint: keep the error ours
            return conn.execute(
                "INSERT INTO filterconfig (name, filterconfig, requirements, active, "
                "previous_filterconfig_id) VALUES (%s, %s, %s, true, %s) RETURNING id",
                (entry["name"], psycopg.types.json.Jsonb(entry["filterconfig"]),
                 psycopg.types.json.Jsonb(entry["requirements"]), previous_id)).fetchone()[0]
    except psycopg.Error as exc:
        if exc.sqlstate == "JSONV":
            raise FilterconfigError(f"{label}: the database refuses the filterconfig: it "
                                    "validates against none of the filterconfig schema versions "
                                    "in table jsonschema") from exc
        raise


def unrecordable_filter_warnings(entry):
    """Top-level filters whose removed variants a round's snapshot cannot record (ELLA's
    snapshot categories, workflow.md 9): once one of them removes a variant, the analysis'
    rounds cannot be marked or finalized with this config (400, as ELLA fails). As exceptions
    they are fine."""
    names = sorted({f["name"] for f in entry["filterconfig"].get("filters", [])
                    if f.get("name") not in SNAPSHOT_CATEGORIES})
    return [f"Warning: filter config {entry['name']!r}: the {name} filter's removed variants "
            "cannot be recorded when a round ends (no snapshot category for it in ELLA's "
            "schema), so rounds it removes variants in cannot be marked or finalized"
            for name in names]


def deposit_filterconfigs(conn, config, entries, echo=None):
    """Validate and write all entries in one transaction.

    Returns {"configs": [{name, id, change, previous_id}], "links": {(config_id, group):
    change}, "warnings": [...]}; `change` is None when nothing was done."""
    validate_entries(entries)
    echo = echo or (lambda line: None)
    result = {"configs": [], "links": {}, "warnings": []}
    with conn.transaction():
        # A refresh under way is waited for first, with nothing held that it needs (taken at
        # the frequency check, after the lock below, the two deadlocked).
        hold_frequency_columns(conn)
        # One writer at a time: reading "the current row" and superseding it must not race.
        conn.execute("LOCK TABLE filterconfig, usergroupfilterconfig IN SHARE ROW EXCLUSIVE MODE")
        groups = _usergroup_ids(conn, entries)
        check_frequency_groups(conn, config, entries)
        check_patterns(conn, entries)
        for index, entry in enumerate(entries):
            label = entry_label(index, entry)
            for warning in unrecordable_filter_warnings(entry):
                result["warnings"].append(warning)
                echo(warning)
            current = _current(conn, entry["name"])
            change, previous_id = None, None
            if current is None and (problem := new_name_problem(entry["name"])):
                # A group's users pick it by name from a list: "SingleDefault " beside
                # "SingleDefault". (A stored name, an adopted database's, stays usable.)
                raise FilterconfigError(f"{label}: the name {problem}")
            if current is None and (other := _lookalike_name(conn, entry["name"])):
                # Saved on a Mac (`Å` decomposed), an update created a second config that
                # looked the same in every list instead of superseding the first. (Those
                # stored already, an adopted database's `Default` and `default`, stay
                # usable by their exact names; one created earlier in this file counts.)
                raise FilterconfigError(
                    f"{label}: the name looks like that of filter config {other[1]!r} (id "
                    f"{other[0]}): names differing only in case or Unicode form count as "
                    "one; give its exact name to update it")
            if current is None:
                fc_id = _insert(conn, entry, None, label)
                change = CREATED
            elif (current[1] == entry["filterconfig"]
                  and current[2] == entry["requirements"]):
                fc_id = current[0]
                if not current[3]:
                    warning = (f"Warning: filter config {entry['name']!r} (id {fc_id}) is "
                               "unchanged but inactive; it stays inactive")
                    result["warnings"].append(warning)
                    echo(warning)
            else:
                previous_id = current[0]
                conn.execute("UPDATE filterconfig SET date_superceeded = now(), active = false "
                             "WHERE id = %s", (previous_id,))
                fc_id = _insert(conn, entry, previous_id, label)
                change = UPDATED
            result["configs"].append({"name": entry["name"], "id": fc_id, "change": change,
                                      "previous_id": previous_id})
            for link in entry["usergroups"]:
                group_id, group_name = groups[link["name"]]
                existing = conn.execute(
                    'SELECT id, "order" FROM usergroupfilterconfig '
                    "WHERE usergroup_id = %s AND filterconfig_id = %s",
                    (group_id, fc_id)).fetchone()
                link_change = change
                if existing is None:
                    conn.execute('INSERT INTO usergroupfilterconfig (usergroup_id, '
                                 'filterconfig_id, "order") VALUES (%s, %s, %s)',
                                 (group_id, fc_id, link["order"]))
                    link_change = change or ADDED
                elif existing[1] != link["order"]:
                    conn.execute('UPDATE usergroupfilterconfig SET "order" = %s WHERE id = %s',
                                 (link["order"], existing[0]))
                    link_change = change or ORDER_CHANGED
                result["links"][(fc_id, group_name)] = link_change
        for warning in _groups_left_without(conn, result["configs"]):
            result["warnings"].append(warning)
            echo(warning)
    return result


def _groups_left_without(conn, configs):
    """Warnings for the groups an update took a config from: a group linked to the replaced
    version but not named in the file's entry keeps the old, now inactive, link only (ELLA
    links the new version to the entry's groups). Said as `deactivate` says it."""
    warnings = []
    for item in configs:
        if item["previous_id"] is None:
            continue
        old_open = conn.execute("SELECT requirements = '[]'::jsonb FROM filterconfig "
                                "WHERE id = %s", (item["previous_id"],)).fetchone()[0]
        for group, others, others_open in conn.execute(
                "SELECT ug.name, "
                "  (SELECT count(*) FROM usergroupfilterconfig o JOIN filterconfig f "
                "     ON f.id = o.filterconfig_id WHERE o.usergroup_id = ug.id AND f.active), "
                "  (SELECT count(*) FROM usergroupfilterconfig o JOIN filterconfig f "
                "     ON f.id = o.filterconfig_id WHERE o.usergroup_id = ug.id AND f.active "
                "     AND f.requirements = '[]'::jsonb) "
                "FROM usergroupfilterconfig l JOIN usergroup ug ON ug.id = l.usergroup_id "
                "WHERE l.filterconfig_id = %(old)s AND NOT EXISTS ("
                "  SELECT 1 FROM usergroupfilterconfig n "
                "  WHERE n.filterconfig_id = %(new)s AND n.usergroup_id = ug.id) "
                "ORDER BY ug.name", {"old": item["previous_id"], "new": item["id"]}):
            if others == 0:
                warnings.append(
                    f"Warning: user group {group!r} had filter config {item['name']!r} (id "
                    f"{item['previous_id']}), which this update replaced, and is not in its "
                    "usergroups: the group now has no active filter config")
            elif old_open and others_open == 0:
                warnings.append(
                    f"Warning: user group {group!r} had filter config {item['name']!r} (id "
                    f"{item['previous_id']}), which this update replaced, and is not in its "
                    "usergroups: the group now has no active filter config without "
                    "requirements; analyses matching none of its configs will have none")
    return warnings


def active_filterconfigs(conn):
    """[(id, name, order, usergroup name or None, requirements)] of the active configs,
    by user group, then order."""
    return conn.execute(
        'SELECT fc.id, fc.name, ugfc."order", ug.name, fc.requirements '
        "FROM filterconfig fc "
        "LEFT JOIN usergroupfilterconfig ugfc ON ugfc.filterconfig_id = fc.id "
        "LEFT JOIN usergroup ug ON ug.id = ugfc.usergroup_id "
        'WHERE fc.active ORDER BY ug.name NULLS LAST, ugfc."order", fc.name, fc.id').fetchall()


def summary_rows(conn, result):
    """Rows (name, order, usergroup, change) over all active configs after a deposit."""
    rows = []
    for fc_id, name, order, group, _ in active_filterconfigs(conn):
        rows.append((name, "" if order is None else order, group or "-",
                     result["links"].get((fc_id, group)) or ""))
    return rows


def get_filterconfig(conn, filterconfig_id):
    return conn.execute("SELECT id, name, active, requirements FROM filterconfig WHERE id = %s",
                        (filterconfig_id,)).fetchone()


def deactivation_warnings(conn, filterconfig_id):
    """Why deactivating this config may leave a user group without a usable config."""
    warnings = []
    rows = conn.execute(
        "SELECT ug.name, "
        "  (SELECT count(*) FROM usergroupfilterconfig o JOIN filterconfig f "
        "     ON f.id = o.filterconfig_id "
        "   WHERE o.usergroup_id = ug.id AND f.active AND f.id <> %(id)s), "
        "  (SELECT count(*) FROM usergroupfilterconfig o JOIN filterconfig f "
        "     ON f.id = o.filterconfig_id "
        "   WHERE o.usergroup_id = ug.id AND f.active AND f.id <> %(id)s "
        "     AND f.requirements = '[]'::jsonb), "
        "  (SELECT requirements = '[]'::jsonb FROM filterconfig WHERE id = %(id)s) "
        "FROM usergroupfilterconfig l JOIN usergroup ug ON ug.id = l.usergroup_id "
        "WHERE l.filterconfig_id = %(id)s ORDER BY ug.name", {"id": filterconfig_id}).fetchall()
    for group, others, others_without_requirements, without_requirements in rows:
        if others == 0:
            warnings.append(f"Warning: this is the only active filter config of user group "
                            f"{group!r}")
        elif without_requirements and others_without_requirements == 0:
            warnings.append(f"Warning: this is the only active filter config without "
                            f"requirements of user group {group!r}; analyses matching none of "
                            "the group's other configs will have no filter config")
    return warnings


def deactivate_filterconfig(conn, filterconfig_id, warnings_shown):
    """Deactivate, unless the config or its warnings changed since the operator confirmed on
    `warnings_shown` (another `update` or `deactivate` ran meanwhile): FilterconfigError."""
    with conn.transaction():
        conn.execute("LOCK TABLE filterconfig, usergroupfilterconfig IN SHARE ROW EXCLUSIVE MODE")
        row = get_filterconfig(conn, filterconfig_id)
        if row is None or not row[2]:
            raise FilterconfigError(f"filter config {filterconfig_id} was replaced or "
                                    "deactivated while waiting for the confirmation; nothing "
                                    "was changed")
        if deactivation_warnings(conn, filterconfig_id) != warnings_shown:
            raise FilterconfigError("the user groups' filter configs changed while waiting for "
                                    "the confirmation; nothing was changed, run the command "
                                    "again")
        conn.execute("UPDATE filterconfig SET active = false WHERE id = %s", (filterconfig_id,))
