"""References: look up by `q`, full-text search by `s`, add from PubMed XML or manually
(api.md 2.6, 4.13)."""

import psycopg

from ella.deposit.references import search_vector_problem
from ella.pubmed import MAX_PUBMED_ID, PubmedParseError, parse_references_text
from ella.web.errors import BadRequest, Conflict
from ella.web.http import Response
from ella.web.listing import page_args, page_headers, q_to_sql
from ella.web.router import router
from ella.web.validation import require_object

API = "/api/v1"

# Reference shape (api.md 3.5), in ELLA's key order; names are trusted SQL columns.
REFERENCE_KEYS = ("id", "authors", "title", "journal", "year", "abstract", "pubmed_id",
                  "published")
REFERENCE_SELECT = "SELECT " + ", ".join(f"r.{k}" for k in REFERENCE_KEYS) + " FROM reference r"
Q_COLUMNS = {"id": ("r.id", "integer"), "authors": ("r.authors", "text"),
             "title": ("r.title", "text"), "journal": ("r.journal", "text"),
             "year": ("r.year", "text"), "abstract": ("r.abstract", "text"),
             "pubmed_id": ("r.pubmed_id", "integer"), "published": ("r.published", "boolean")}
OPTIONAL_STR = (str, type(None))
MANUAL_TYPES = {"authors": OPTIONAL_STR, "title": OPTIONAL_STR, "journal": OPTIONAL_STR,
                "year": OPTIONAL_STR, "abstract": OPTIONAL_STR,
                "pubmed_id": (int, type(None)), "published": bool}
MAX_SEARCH_LENGTH = 1000


def _rows(cursor):
    return [dict(zip(REFERENCE_KEYS, row)) for row in cursor]


def _prefix_tsquery(conn, text):
    """A tsquery text `'w1':* & 'w2':*` of the English lexemes of `text` (None when empty),
    read with a plain ::tsquery cast, which keeps each lexeme as it is: a configuration's
    parser would take a hyphenated one ('ehlers-danlo') apart again, unstemmed ('ehlers'),
    and find no "Ehlers-Danlos"."""
    lexemes = [row[0] for row in conn.execute(
        "SELECT DISTINCT unnest(tsvector_to_array(to_tsvector('pg_catalog.english', %s)))",
        (text,))]
    if not lexemes:
        return None
    quoted = ["'" + lx.replace("\\", "\\\\").replace("'", "''") + "':*" for lx in sorted(lexemes)]
    return " & ".join(quoted)


@router.route("GET", f"{API}/references/", access=None,
              summary="References by q (id, pubmed_id ...) or full-text search s (paginated)")
def list_references(ctx):
    request = ctx.request
    q = request.json_arg("q")
    s = request.json_arg("s")
    page, per_page = page_args(request)
    if q is not None and s is not None:
        raise BadRequest("Query parameters 'q' and 's' cannot be combined")
    if s is not None:
        if not isinstance(s, dict) or set(s) != {"search_string"} \
                or not isinstance(s["search_string"], str):
            raise BadRequest("Query parameter 's' must be {\"search_string\": <text>}")
        if len(s["search_string"]) > MAX_SEARCH_LENGTH:
            raise BadRequest(f"search_string longer than {MAX_SEARCH_LENGTH} characters")
        tsquery = _prefix_tsquery(ctx.conn, s["search_string"])
        if tsquery is None:
            return Response.json([], headers=page_headers(page, per_page, 0))
        total = ctx.conn.execute(
            "SELECT count(*) FROM reference r WHERE r.search @@ %s::tsquery",
            (tsquery,)).fetchone()[0]
        rows = _rows(ctx.conn.execute(
            f"{REFERENCE_SELECT} WHERE r.search @@ %s::tsquery "
            "ORDER BY ts_rank(r.search, %s::tsquery) DESC, r.id "
            "LIMIT %s OFFSET %s", (tsquery, tsquery, per_page, (page - 1) * per_page)))
        return Response.json(rows, headers=page_headers(page, per_page, total))
    condition, params = q_to_sql(q, Q_COLUMNS)
    total = ctx.conn.execute(f"SELECT count(*) FROM reference r WHERE {condition}",
                             params).fetchone()[0]
    rows = _rows(ctx.conn.execute(
        f"{REFERENCE_SELECT} WHERE {condition} ORDER BY r.id LIMIT %s OFFSET %s",
        params + [per_page, (page - 1) * per_page]))
    return Response.json(rows, headers=page_headers(page, per_page, total))


def _by_pubmed_id(conn, pubmed_id):
    found = _rows(conn.execute(f"{REFERENCE_SELECT} WHERE r.pubmed_id = %s ORDER BY r.id "
                               "LIMIT 1", (pubmed_id,)))
    return found[0] if found else None


def _insert(conn, values):
    """The new reference, or None when its pubmed_id is taken (by a concurrent request, or
    by a reference that differs from a manual one)."""
    keys = [k for k in REFERENCE_KEYS if k != "id" and k in values]
    try:
        with conn.transaction():
            row = conn.execute(
                f"INSERT INTO reference ({', '.join(keys)}) VALUES "
                f"({', '.join(['%s'] * len(keys))}) RETURNING {', '.join(REFERENCE_KEYS)}",
                [values[k] for k in keys]).fetchone()
    except psycopg.errors.UniqueViolation:
        return None
    except psycopg.errors.ProgramLimitExceeded:
        problem = search_vector_problem(conn, values)
        if problem is None:
            raise
        raise BadRequest(f"The reference cannot be stored: {problem}") from None
    return dict(zip(REFERENCE_KEYS, row))


@router.route("POST", f"{API}/references/", access=None,
              summary="Add a reference from PubMed XML (pubmedData) or manually (manual); "
                      "returns the existing one if present")
def create_reference(ctx):
    body = require_object(ctx.request.json(), {}, {"pubmedData": str, "manual": dict})
    if len(body) != 1:
        raise BadRequest("The body must have exactly one of 'pubmedData' and 'manual'")
    if "pubmedData" in body:
        try:  # PubMed XML or MEDLINE text (api.md 4.13)
            parsed = parse_references_text(body["pubmedData"])
        except PubmedParseError as exc:
            raise BadRequest(f"Could not parse pubmedData: {exc}") from None
        if len(parsed) != 1:
            raise BadRequest("pubmedData must hold exactly one PubMed record")
        values = parsed[0]
        # The existing one, also when a concurrent request created it just now.
        return _by_pubmed_id(ctx.conn, values["pubmed_id"]) or _insert(ctx.conn, values) \
            or _by_pubmed_id(ctx.conn, values["pubmed_id"])

    manual = require_object(body["manual"], {}, MANUAL_TYPES, where="manual")
    if not manual:
        raise BadRequest("manual must give at least one reference column")
    pubmed_id = manual.get("pubmed_id")
    if pubmed_id is not None and not 0 < pubmed_id <= MAX_PUBMED_ID:
        raise BadRequest(f"manual.pubmed_id must be a PMID from 1 to {MAX_PUBMED_ID}, "
                         f"not {pubmed_id}")
    # One manual creation at a time: a double-click's second request found no row (the
    # first's not yet committed) and made a copy; no unique index covers these columns.
    ctx.conn.execute("SELECT pg_advisory_xact_lock(hashtext('ella.reference.manual'))")
    condition = " AND ".join(f"r.{k} IS NOT DISTINCT FROM %s" for k in manual)
    existing = _rows(ctx.conn.execute(f"{REFERENCE_SELECT} WHERE {condition} ORDER BY r.id "
                                      "LIMIT 1", list(manual.values())))
    if existing:
        return existing[0]
    # The lookup used only the columns given; a new reference is published unless it says
    # otherwise (the column's default in ELLA's model, and `deposit references`').
    created = _insert(ctx.conn, {"published": True, **manual})
    if created is None:
        # Its pubmed_id was taken meanwhile, by PubMed data perhaps (the manual lock does
        # not hold those): the reference that won may be this one (a 409 saying "different"
        # for a row equal to the request, which the same request sent again got with 200).
        existing = _rows(ctx.conn.execute(f"{REFERENCE_SELECT} WHERE {condition} ORDER BY "
                                          "r.id LIMIT 1", list(manual.values())))
        if existing:
            return existing[0]
        other = _by_pubmed_id(ctx.conn, manual.get("pubmed_id"))
        raise Conflict(f"A different reference with pubmed_id {manual.get('pubmed_id')} exists "
                       f"(id {other['id'] if other else '?'})")
    return created
