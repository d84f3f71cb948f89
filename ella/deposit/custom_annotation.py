"""Custom (manual) annotation from a JSON-lines file (`ella-deposit custom_annotation`).

One `{"allele_id": int, "user_id": int or null, "annotations": {...}}` per line. Keys and
values in `annotations.external` / `annotations.prediction` must be those of ELLA's built-in
option lists (config-cli-ops.md 7.1); `annotations.references` is a list of objects. Rows are
versioned (datamodel.md 4.1): each line supersedes the allele's current row. The file is
checked first and written in one transaction.
"""

import json

from psycopg import sql
from psycopg.errors import UniqueViolation
from psycopg.types.json import Jsonb

from ella import jsonload
from ella.custom_annotation import allowed_keys
from ella.db import clock_now
from ella.deposit.variants import wait_for_other_imports

TOP_KEYS = ("allele_id", "user_id", "annotations")
GROUPS = ("external", "prediction", "references")
INT4_MAX = 2**31 - 1
# A user's reference as ELLA's UI adds one (datamodel.md: {id, pubmed_id, source}; an older
# UI wrote `sources: ["User"]`).
REFERENCE_KEYS = ("id", "pubmed_id", "source", "sources")
# Characters of a free-text value (`other_extdb`): every read of the variant sends it, and
# every later change copies it into a new row.
MAX_TEXT = 10_000
# An API user adding the first custom annotation of the same variant while the file is
# written makes the insert fail once; it is then chained after that row instead.
CONCURRENT_RETRIES = 3


class CustomAnnotationError(Exception):
    """Bad input; the message names the file and line."""


def _plain(key):
    return " ".join(key.replace("\xa0", " ").split())


def _is_id(value):
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= INT4_MAX


def check_annotations(annotations):
    """Raise ValueError naming the first key or value not in the option lists."""
    if not isinstance(annotations, dict):
        raise ValueError("annotations must be a JSON object")
    unknown = sorted(set(annotations) - set(GROUPS))
    if unknown:
        raise ValueError("unknown custom annotation group(s) "
                         + ", ".join(repr(k) for k in unknown)
                         + " (allowed: " + ", ".join(GROUPS) + ")")
    lists = allowed_keys()
    for group in ("external", "prediction"):
        if group not in annotations:
            continue
        values = annotations[group]
        if not isinstance(values, dict):
            raise ValueError(f"annotations.{group} must be a JSON object")
        for key, value in values.items():
            entry = lists[group].get(key)
            if entry is None:
                # ELLA's list spells two keys with a no-break space (`LOVD_shared-FLCN\xa0`).
                alike = [k for k in lists[group] if _plain(k) == _plain(key)]
                raise ValueError(f"unknown {group} key {key!r}" + (
                    f" (the list spells it {alike[0]!r}, with a no-break space)"
                    if alike else ""))
            if not isinstance(value, str):
                raise ValueError(f"{group}.{key} must be a string, not {json.dumps(value)}")
            options = [option[1] for option in entry.get("options") or []]
            if options and value not in options:
                raise ValueError(f"{group}.{key}: {value!r} is not one of "
                                 + ", ".join(options))
            if len(value) > MAX_TEXT:
                raise ValueError(f"{group}.{key} is longer than {MAX_TEXT:,} characters")
    if "references" in annotations:
        references = annotations["references"]
        if not isinstance(references, list) or not all(isinstance(r, dict) for r in references):
            raise ValueError("annotations.references must be a list of JSON objects")
        # Each is looked up by its id when the variant is shown: one of another shape
        # ({"id": "abc"}) made the variant's references fail to load.
        for index, reference in enumerate(references):
            where = f"annotations.references[{index}]"
            unknown = sorted(set(reference) - set(REFERENCE_KEYS))
            if unknown:
                raise ValueError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))} "
                                 f"(allowed: {', '.join(REFERENCE_KEYS)})")
            if not _is_id(reference.get("id")):
                raise ValueError(f"{where}.id must be a reference id (a positive integer)")
            if reference.get("pubmed_id") is not None and not _is_id(reference["pubmed_id"]):
                raise ValueError(f"{where}.pubmed_id must be a PubMed id or null")
            if reference.get("source") is not None and not isinstance(reference["source"], str):
                raise ValueError(f"{where}.source must be a string or null")
            sources = reference.get("sources")
            if sources is not None and not (isinstance(sources, list)
                                            and all(isinstance(x, str) for x in sources)):
                raise ValueError(f"{where}.sources must be a list of strings or null")


def changed_annotations(given, current):
    """The part of `given` (a request's groups) that differs from the `current` row's:
    ELLA's UI sends a group whole, and what an adopted row already holds (a key outside
    today's lists, a reference of an older shape) is kept as it is, not refused anew."""
    current = current if isinstance(current, dict) else {}
    changed = {}
    for group, value in given.items():
        old = current.get(group)
        if group in ("external", "prediction") and isinstance(value, dict) \
                and isinstance(old, dict):
            changed[group] = {k: v for k, v in value.items() if old.get(k) != v}
        elif group == "references" and isinstance(value, list) and isinstance(old, list):
            changed[group] = [r for r in value if r not in old]
        elif value != old:
            changed[group] = value
    return changed


def missing_reference_ids(conn, annotations):
    """The ids of `annotations.references` (checked by check_annotations) that no reference
    has, sorted."""
    wanted = {r["id"] for r in annotations.get("references") or []}
    found = {r[0] for r in conn.execute("SELECT id FROM reference WHERE id = ANY(%s)",
                                        (sorted(wanted),))} if wanted else set()
    return sorted(wanted - found)


def pubmed_mismatch_text(reference_id, given, stored):
    has = "no PubMed id" if stored is None else f"PubMed id {stored}"
    return (f"reference id {reference_id} has {has}, not {given} (give the reference's own, "
            "or leave pubmed_id out)")


def mismatched_pubmed_id(conn, annotations):
    """(id, PubMed id given, PubMed id stored) of the first of `annotations.references` (all
    existing) whose `pubmed_id` is not its reference's, or None. The UI finds a reference by
    either: one naming another's PubMed id showed the interpreters a study not meant."""
    given = [(r["id"], r["pubmed_id"]) for r in annotations.get("references") or []
             if r.get("pubmed_id") is not None]
    if not given:
        return None
    stored = dict(conn.execute("SELECT id, pubmed_id FROM reference WHERE id = ANY(%s)",
                               (sorted({i for i, _ in given}),)).fetchall())
    for reference_id, pubmed_id in given:
        if stored.get(reference_id) != pubmed_id:
            return reference_id, pubmed_id, stored.get(reference_id)
    return None


def parse_custom_annotation_line(text):
    try:
        # Without its line ending: JSON reads past it, and a line cut short was reported
        # at "column 1" (of the next line) instead of where it ends.
        item = jsonload.loads(text.rstrip("\r\n"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: column {exc.colno}: {exc.msg}") from exc
    if not isinstance(item, dict):
        raise ValueError("expected a JSON object {allele_id, user_id, annotations}")
    unknown = sorted(set(item) - set(TOP_KEYS))
    if unknown:
        raise ValueError("unknown key(s) " + ", ".join(repr(k) for k in unknown)
                         + " (allowed: " + ", ".join(TOP_KEYS) + ")")
    if not _is_id(item.get("allele_id")):
        raise ValueError("allele_id must be a positive integer")
    if item.get("user_id") is not None and not _is_id(item["user_id"]):
        raise ValueError("user_id must be a positive integer or null")
    if "annotations" not in item:
        raise ValueError("annotations is missing")
    check_annotations(item["annotations"])
    return item


def read_custom_annotations(path):
    """[(line number, dict)]; blank lines skipped; the first bad line raises."""
    items = []
    try:
        for number, text in jsonload.numbered_lines(path):
            if not text.strip():
                continue
            try:
                items.append((number, parse_custom_annotation_line(text)))
            except ValueError as exc:
                raise CustomAnnotationError(f"{path}: line {number}: {exc}") from None
    except OSError as exc:
        raise CustomAnnotationError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except jsonload.NotUtf8Line as exc:
        raise CustomAnnotationError(f"{path}: {exc}") from None
    return items


def _check_exist(conn, items, table, key, where):
    wanted = sorted({item[key] for _, item in items if item.get(key) is not None})
    query = sql.SQL("SELECT id FROM {} WHERE id = ANY(%s)").format(sql.Identifier(table))
    found = {r[0] for r in conn.execute(query, (wanted,))}
    for number, item in items:
        if item.get(key) is not None and item[key] not in found:
            raise CustomAnnotationError(f"{where}line {number}: {key} {item[key]} does not exist")


def deposit_custom_annotations(conn, items, source=""):
    """Insert [(line, dict)] in file order, each superseding the allele's current row.
    Returns {"created": n, "superseded": m}."""
    where = f"{source}: " if source else ""
    for number, item in items:
        try:
            parse_custom_annotation_line(json.dumps(item))
        except ValueError as exc:
            raise CustomAnnotationError(f"{where}line {number}: {exc}") from None
    created = superseded = 0
    with conn.transaction(), conn.cursor() as cur:
        _check_exist(cur, items, "allele", "allele_id", where)
        _check_exist(cur, items, "user", "user_id", where)
        for number, item in items:
            missing = missing_reference_ids(cur, item["annotations"])
            if missing:
                raise CustomAnnotationError(f"{where}line {number}: reference id "
                                            f"{missing[0]} does not exist")
            mismatch = mismatched_pubmed_id(cur, item["annotations"])
            if mismatch:
                raise CustomAnnotationError(
                    f"{where}line {number}: {pubmed_mismatch_text(*mismatch)}")
        # The variants' rows, all at once in id order and after any running import (which
        # locks them batch by batch): taken one by one in file order, they deadlocked with a
        # variant deposit. `POST customannotations/` and finalize-allele lock them too.
        wait_for_other_imports(cur)
        cur.execute("SELECT id FROM allele WHERE id = ANY(%s) ORDER BY id FOR NO KEY UPDATE",
                    (sorted({item["allele_id"] for _, item in items}),))
        for _, item in items:
            # Row by row: a file may hold several versions for one allele, in order.
            superseded += _supersede_and_insert(conn, cur, item)
            created += 1
    return {"created": created, "superseded": superseded}


def _merged(current, given):
    """The current row's annotations with a line's added: a group's keys (`external`,
    `prediction`) set one by one, the others of the group kept; a reference replacing the
    current entry of its id, or added after them. A file adds and changes; it takes away
    nothing (the UI, which sends a group whole, does). `POST customannotations/` replaces
    the groups it names instead, as ELLA's UI expects."""
    merged = dict(current)
    for group, value in given.items():
        old = merged.get(group)
        if isinstance(value, dict) and isinstance(old, dict):
            merged[group] = {**old, **value}
        elif group == "references" and isinstance(value, list) and isinstance(old, list):
            by_id = {r["id"]: r for r in value}  # (ids checked: integers)
            kept = []
            for r in old:  # an adopted row's entries may have any shape
                old_id = r.get("id") if isinstance(r, dict) else None
                kept.append(by_id.pop(old_id) if isinstance(old_id, int) and old_id in by_id
                            else r)
            merged[group] = kept + list(by_id.values())
        else:
            merged[group] = value
    return merged


def _supersede_and_insert(conn, cur, item):
    """The item as the allele's current row, superseding the one there (1) or none (0). Runs
    after any concurrent writer of the allele's rows (`POST customannotations/`): the file
    carries no id it saw, so its row simply comes after theirs.

    The line is merged into the current row key by key (`_merged`): a line with a
    prediction only took away the external verdicts interpreters had saved, and one with
    a single external verdict all the others of the group."""
    query = ("SELECT id, annotations FROM customannotation WHERE allele_id = %s "
             "AND date_superceeded IS NULL FOR NO KEY UPDATE")
    for attempt in range(CONCURRENT_RETRIES):
        current = cur.execute(query, (item["allele_id"],)).fetchone()
        if current is None:
            # A writer that superseded the row we waited for hides its new row from this
            # statement's snapshot; the next statement sees (and locks) it.
            current = cur.execute(query, (item["allele_id"],)).fetchone()
        # After the lock, not the deposit's start (`now()`): a row saved in the UI while the
        # file was being read was superseded before it was created.
        now = clock_now(conn)
        insert = ("INSERT INTO customannotation (annotations, allele_id, user_id, "
                  "previous_annotation_id, date_created) VALUES (%s, %s, %s, %s, %s)")
        annotations = item["annotations"]
        if current and isinstance(current[1], dict):
            annotations = _merged(current[1], annotations)
        values = (Jsonb(annotations), item["allele_id"], item.get("user_id"),
                  current[0] if current else None, now)
        if current:
            # Locked: no one else can make another row current meanwhile.
            cur.execute("UPDATE customannotation SET date_superceeded = %s WHERE id = %s",
                        (now, current[0]))
            cur.execute(insert, values)
            return 1
        try:
            # The allele's first row: a concurrent first one can win; a savepoint (only
            # here: each costs a subtransaction) keeps the rest of the file.
            with conn.transaction():
                cur.execute(insert, values)
            return 0
        except UniqueViolation:
            if attempt == CONCURRENT_RETRIES - 1:
                raise
    raise AssertionError("unreachable")


def summary_line(result):
    return (f"Custom annotation imported successfully: created {result['created']} "
            f"({result['superseded']} superseding a previous version)")
