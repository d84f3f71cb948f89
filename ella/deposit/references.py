"""Literature references from a JSON-lines file (`ella-deposit references`, later also
`ella-refs deposit`; import.md 5.4 and 6.3).

One object per line with keys from `reference`'s columns; `pubmed_id` identifies the row.
An existing row gets every key given on its line overwritten (keys not given are kept); a new
pubmed_id is inserted. The whole file is checked first and written in one transaction (rows
go in with COPY), so a bad line leaves nothing behind. `reference.search` is filled by the
database trigger.
"""

import json

import psycopg
from psycopg import sql

from ella import jsonload

FIELDS = {
    # key: (accepted Python types, may be null)
    "pubmed_id": ((int,), False),
    "authors": ((str,), True),
    "title": ((str,), True),
    "journal": ((str,), True),
    "abstract": ((str,), True),
    "year": ((str,), True),
    "published": ((bool,), False),
}
OPTIONAL_FIELDS = [key for key in FIELDS if key != "pubmed_id"]
INT4_MAX = 2**31 - 1


class ReferenceError(Exception):
    """Bad input; the message names the file and line."""


def _type_name(types):
    return {int: "an integer", str: "a string", bool: "true or false"}[types[0]]


def parse_reference_line(text):
    """One line -> dict; raises ValueError with a short reason."""
    try:
        # Without its line ending: JSON reads past it, and a line cut short was reported
        # at "column 1" (of the next line) instead of where it ends.
        item = jsonload.loads(text.rstrip("\r\n"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: column {exc.colno}: {exc.msg}") from exc
    if not isinstance(item, dict):
        raise ValueError("expected a JSON object with the keys of a reference")
    unknown = sorted(set(item) - set(FIELDS))
    if unknown:
        raise ValueError("unknown key(s) " + ", ".join(repr(k) for k in unknown)
                         + " (allowed: " + ", ".join(FIELDS) + ")")
    if "pubmed_id" not in item:
        raise ValueError("pubmed_id is missing")
    for key, value in item.items():
        types, nullable = FIELDS[key]
        if value is None and nullable:
            continue
        # bool is a subclass of int in Python; a pubmed_id of `true` is not a number.
        if not isinstance(value, types) or (types == (int,) and isinstance(value, bool)):
            raise ValueError(f"{key} must be {_type_name(types)}"
                             + (" or null" if nullable else "") + f", not {json.dumps(value)}")
    if not 0 < item["pubmed_id"] <= INT4_MAX:
        raise ValueError(f"pubmed_id {item['pubmed_id']} is out of range")
    return item


def read_references(path):
    """[(line number, reference dict)] of a JSON-lines file; blank lines are skipped.
    The first bad line raises ReferenceError naming it."""
    references, seen = [], {}
    try:
        for number, text in jsonload.numbered_lines(path):
            if not text.strip():
                continue
            try:
                item = parse_reference_line(text)
            except ValueError as exc:
                raise ReferenceError(f"{path}: line {number}: {exc}") from None
            if item["pubmed_id"] in seen:
                raise ReferenceError(f"{path}: line {number}: pubmed_id {item['pubmed_id']} "
                                     f"was already given on line {seen[item['pubmed_id']]}")
            seen[item["pubmed_id"]] = number
            references.append((number, item))
    except OSError as exc:
        raise ReferenceError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except jsonload.NotUtf8Line as exc:
        raise ReferenceError(f"{path}: {exc}") from None
    return references


SEARCH_VECTOR_TOO_LONG = ("its authors, title, journal and year are too long to index for the "
                          "reference search")


def search_vector_problem(conn, item):
    """Why the search vector of a reference (a dict of `reference`'s columns) cannot be made
    (sql/triggers/030_reference_search.sql), or None. A tsvector holds at most 1 MiB: an
    author list or title of some hundred thousand words is beyond it, and the database's
    error named no reference."""
    try:
        with conn.transaction():
            conn.execute("SELECT reference_search_vector(%s, %s, %s, %s)",
                         [item.get(key) for key in ("authors", "title", "journal", "year")])
    except psycopg.errors.ProgramLimitExceeded as exc:
        return f"{SEARCH_VECTOR_TOO_LONG} ({str(exc).splitlines()[0]})"
    return None


def deposit_references(conn, references, source=None):
    """Upsert [(line, dict)] (or plain dicts) by pubmed_id in one transaction. `source` (a
    file name) starts the message of a reference the database cannot index.
    Returns {"created": n, "updated": m}."""
    items = [r[1] if isinstance(r, tuple) else r for r in references]
    for item in items:  # callers other than read_references get the same checks
        parse_reference_line(json.dumps(item))
    columns = ["pubmed_id"] + OPTIONAL_FIELDS
    with conn.transaction(), conn.cursor() as cur:
        # Reading "does it exist" and inserting must not race with another deposit.
        cur.execute("LOCK TABLE reference IN SHARE ROW EXCLUSIVE MODE")
        cur.execute(
            "CREATE TEMPORARY TABLE tmp_reference_deposit (pubmed_id integer PRIMARY KEY, "
            "authors varchar, title varchar, journal varchar, abstract varchar, year varchar, "
            "published boolean, given text[] NOT NULL) ON COMMIT DROP")
        with cur.copy("COPY tmp_reference_deposit (pubmed_id, authors, title, journal, "
                      "abstract, year, published, given) FROM STDIN") as copy:
            for item in items:
                copy.write_row([item.get(c) for c in columns]
                               + [[k for k in OPTIONAL_FIELDS if k in item]])
        try:
            with conn.transaction():
                updated, created = _upsert_staged(cur)
        except psycopg.errors.ProgramLimitExceeded:
            _raise_unindexable(conn, references, source)
            raise  # (none found alone: the database's own error)
    return {"created": created, "updated": updated}


def _upsert_staged(cur):
    """(updated, created) rows of the staged references."""
    assignments = sql.SQL(", ").join(
        sql.SQL("{col} = CASE WHEN {key} = ANY(t.given) THEN t.{col} ELSE r.{col} END")
        .format(col=sql.Identifier(key), key=sql.Literal(key))
        for key in OPTIONAL_FIELDS)
    cur.execute(sql.SQL("UPDATE reference r SET {} FROM tmp_reference_deposit t "
                        "WHERE r.pubmed_id = t.pubmed_id").format(assignments))
    updated = cur.rowcount
    cur.execute(
        "INSERT INTO reference (pubmed_id, authors, title, journal, abstract, year, "
        "published) SELECT t.pubmed_id, t.authors, t.title, t.journal, t.abstract, t.year, "
        "coalesce(t.published, true) FROM tmp_reference_deposit t "
        "WHERE NOT EXISTS (SELECT 1 FROM reference r WHERE r.pubmed_id = t.pubmed_id)")
    return updated, cur.rowcount


def _raise_unindexable(conn, references, source):
    """ReferenceError naming the first reference whose search vector cannot be made (its
    line when known). An existing row's fields not given are taken as stored."""
    for entry in references:
        line, item = entry if isinstance(entry, tuple) else (None, entry)
        stored = conn.execute("SELECT authors, title, journal, year FROM reference "
                              "WHERE pubmed_id = %s", (item["pubmed_id"],)).fetchone()
        merged = dict(zip(("authors", "title", "journal", "year"), stored or ()))
        merged.update(item)
        problem = search_vector_problem(conn, merged)
        if problem:
            where = f"line {line}" if line is not None else f"pubmed_id {item['pubmed_id']}"
            raise ReferenceError((f"{source}: " if source else "") + f"{where}: {problem}")


def deposit_references_file(conn, path):
    """Read and deposit one JSON-lines file; the result also names the line count."""
    references = read_references(path)
    result = deposit_references(conn, references, source=path)
    result["lines"] = len(references)
    return result


def summary_line(result):
    return (f"References imported successfully: created {result['created']}, "
            f"updated {result['updated']}")
