"""List endpoints: ELLA's `q` filter and pagination headers (api.md 1.7, 1.8)."""

import math
from datetime import datetime, timezone

from ella.web.errors import BadRequest
from ella.web.http import Response

DEFAULT_PER_PAGE = 10000
MAX_PER_PAGE = 50
OPERATORS = ("$eq", "$neq", "$gt", "$lt", "$gte", "$lte", "$in", "$nin", "$like", "$ilike")


def page_args(request):
    page = request.int_arg("page", 1, minimum=1)
    per_page = request.int_arg("per_page", None, minimum=1)
    per_page = DEFAULT_PER_PAGE if per_page is None else min(per_page, MAX_PER_PAGE)
    return page, per_page


def page_headers(page, per_page, total):
    return [("Total-Count", str(total)),
            ("Total-Pages", str(max(1, math.ceil(total / per_page)))),
            ("Page", str(page)), ("Per-Page", str(per_page))]


def paginate(request, items):
    """JSON response of a paginated list with ELLA's headers (a list's `q` is applied in SQL,
    q_to_sql)."""
    page, per_page = page_args(request)
    total = len(items)
    items = items[(page - 1) * per_page:page * per_page]
    return Response.json(items, headers=page_headers(page, per_page, total))


_SQL_OPERATORS = {"$eq": "=", "$neq": "<>", "$gt": ">", "$lt": "<", "$gte": ">=", "$lte": "<="}
_CASTS = {"integer": int, "text": str, "boolean": bool}


def q_to_sql(q, columns):
    """(SQL condition, params) for a parsed `q` object over a whitelist of columns.

    `columns` maps the names a client may use to (trusted SQL expression, type), type one of
    "integer", "bigint", "text", "boolean", "timestamptz" (a plain string means "text"); never
    built from input. Values always go in as parameters, converted to the column's type
    ("32890607" matches an integer column, as the UI sends it); a value that does not convert
    is a 400. `null` alone, or with $eq, is IS NULL; with $neq, IS NOT NULL (as SQLAlchemy
    reads `== None` in ELLA). An empty list makes the condition FALSE (ELLA: the whole result
    is empty), after the other columns are checked. Unknown columns or operators are a 400."""
    if q is None:
        return "TRUE", []
    if not isinstance(q, dict):
        raise BadRequest("Query parameter 'q' must be a JSON object")
    parts, params = [], []
    nothing = False  # an empty list: no row, once every condition is known to be valid
    for column, condition in q.items():
        spec = columns.get(column)
        if spec is None:
            raise BadRequest(f"Unknown column {column!r} in q (known: {', '.join(sorted(columns))})")
        expr, typ = (spec, "text") if isinstance(spec, str) else spec

        def value(v, column=column, typ=typ):
            return _convert(v, typ, column)

        if condition is None:
            parts.append(f"{expr} IS NULL")
        elif isinstance(condition, list):
            nothing = nothing or not condition
            parts.append(f"{expr} = ANY(%s::{typ}[])")
            params.append(_list_values(condition, value))
        elif isinstance(condition, dict):
            for op, arg in condition.items():
                if op in ("$eq", "$neq") and arg is None:
                    parts.append(f"{expr} IS {'NOT ' if op == '$neq' else ''}NULL")
                elif op in _SQL_OPERATORS:
                    parts.append(f"{expr} {_SQL_OPERATORS[op]} %s::{typ}")
                    params.append(value(arg))
                elif op in ("$in", "$nin"):
                    if not isinstance(arg, list):
                        raise BadRequest(f"q operator {op} needs a list")
                    nothing = nothing or (op == "$in" and not arg)
                    values = _list_values(arg, value)
                    # A number left out stands for a value no row has: NOT IN keeps no
                    # row whose column is null, as with any other such number.
                    unset = " AND " + expr + " IS NOT NULL" \
                        if op == "$nin" and len(values) < len(arg) else ""
                    parts.append(f"{'NOT ' if op == '$nin' else ''}({expr} = ANY(%s::{typ}[]))"
                                 + unset)
                    params.append(values)
                elif op in ("$like", "$ilike"):
                    if isinstance(arg, (dict, list)) or arg is None or isinstance(arg, bool):
                        raise BadRequest(f"q operator {op} for {column!r} needs a text "
                                         "pattern")
                    pattern = str(arg)
                    # A backslash escapes the next character; PostgreSQL refuses a pattern
                    # ending in a lone one, but only once a row is compared.
                    trailing = len(pattern) - len(pattern.rstrip("\\"))
                    if trailing % 2:
                        raise BadRequest(f"q operator {op} for {column!r}: the pattern ends "
                                         "with the escape character \\ (write \\\\ for a "
                                         "backslash)")
                    parts.append(f"{expr}::text {'ILIKE' if op == '$ilike' else 'LIKE'} %s")
                    params.append(pattern)
                else:
                    raise BadRequest(f"Unknown q operator {op!r} (known: {', '.join(OPERATORS)})")
        else:
            parts.append(f"{expr} = %s::{typ}")
            params.append(value(condition))
    if nothing:
        return "FALSE", []
    return " AND ".join(parts) or "TRUE", params


def _list_values(items, convert):
    """A list condition's values; a null stays null, which matches no row, as in SQL's IN
    (ELLA's UI lists the PubMed ids of references, some of which have none). A whole number
    beyond the column's range is left out, as no row can have it: a variant's annotation
    listing one PubMed id too large (a pipeline's) answered 400 for all its references."""
    values = []
    for item in items:
        try:
            values.append(None if item is None else convert(item))
        except _OutOfRange:
            continue
    return values


class _OutOfRange(BadRequest):
    """A whole number the column's type cannot hold: a 400 for a single value."""

    def __init__(self, value, typ, column):
        super().__init__(f"q value {value!r} for {column!r} is not a valid {typ}")


def _convert(value, typ, column):
    if isinstance(value, (dict, list)) or value is None:
        raise BadRequest(f"q value for {column!r} must be a scalar")
    try:
        if typ in ("integer", "bigint"):
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError  # int(1.5) would quietly match id 1
            number = int(value)
            bits = 31 if typ == "integer" else 63
            if not -2**bits <= number < 2**bits:
                raise _OutOfRange(value, typ, column)
            return number
        if typ == "boolean":
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("true", "false"):
                return str(value).lower() == "true"
            raise ValueError
        if typ == "timestamptz":
            # The parsed value goes to PostgreSQL, not the text: Python also reads forms
            # PostgreSQL does not (ISO week dates, 2020-W01-1). Without an offset: UTC.
            parsed = datetime.fromisoformat(str(value))
            if parsed.tzinfo is None:
                return parsed.replace(tzinfo=timezone.utc)
            # In UTC: Python reads offsets up to ±23:59, PostgreSQL only up to ±15:59 (the
            # list forms send the offset as text).
            return parsed.astimezone(timezone.utc)
        return value if isinstance(value, str) else str(value)
    except (TypeError, ValueError):
        raise BadRequest(f"q value {value!r} for {column!r} is not a valid {typ}") from None
    except OverflowError:  # e.g. 9999-12-31T23:00-05:00 is in the year 10000 in UTC
        raise BadRequest(f"q value {value!r} for {column!r} is out of range") from None
