"""Checking request bodies: exact keys and types, clear 400 messages (ELLA's models forbid
unknown keys; numeric strings are accepted where an integer is expected, as ELLA coerces)."""

from ella.web.errors import BadRequest

# PostgreSQL `integer`, the type of every id and number column a request can name: a larger
# value would only fail in the database (a 500), so it is refused as input.
PG_INT_MIN, PG_INT_MAX = -2**31, 2**31 - 1


# Free text typed into the UI that other users' pages load (a log message, a gene comment):
# bounded, so one post cannot add megabytes to every such page (the body limit is 10 MiB).
TEXT_LIMIT = 100_000
# A review comment is shown on the analysis' row of the overview, every member's start page.
REVIEW_COMMENT_LIMIT = 10_000


def _type_name(expected):
    if isinstance(expected, tuple):
        return " or ".join(_type_name(t) for t in expected)
    return {str: "a string", int: "an integer", bool: "true/false", dict: "an object",
            list: "a list", type(None): "null"}.get(expected, expected.__name__)


def check_int_range(value, where):
    if not PG_INT_MIN <= value <= PG_INT_MAX:
        raise BadRequest(f"{where} is out of range ({PG_INT_MIN} to {PG_INT_MAX})")
    return value


def digits_to_int(text, where):
    """The integer written in `text` as ASCII digits, within PostgreSQL's integer range
    (else 400); None when `text` is not such digits (str.isdigit() alone also takes "²",
    which int() refuses)."""
    if not (text.isascii() and text.isdigit()):
        return None
    # int() refuses over 4300 digits (leading zeros count); more than 10 significant ones
    # are out of range anyway.
    significant = text.lstrip("0") or "0"
    return check_int_range(int(significant) if len(significant) <= 10 else PG_INT_MAX + 1,
                           where)


def check_value(value, expected, where):
    """`value` of type `expected` (a type or a tuple of types); ints (also from numeric
    strings) within PostgreSQL's integer range."""
    types = expected if isinstance(expected, tuple) else (expected,)
    if int in types and isinstance(value, str):
        number = digits_to_int(value, where)
        if number is not None:
            return number
    if isinstance(value, bool) and bool not in types:
        raise BadRequest(f"{where} must be {_type_name(expected)}")
    if not isinstance(value, types):
        raise BadRequest(f"{where} must be {_type_name(expected)}")
    if isinstance(value, int) and not isinstance(value, bool):
        check_int_range(value, where)
    return value


def require_object(body, required, optional=None, where="body"):
    """A dict with exactly the `required` keys (plus any of `optional`), values type-checked."""
    if not isinstance(body, dict):
        raise BadRequest(f"The {where} must be a JSON object")
    optional = optional or {}
    unknown = sorted(set(body) - set(required) - set(optional))
    if unknown:
        raise BadRequest(f"Unknown key(s) in the {where}: {', '.join(unknown)}")
    missing = [k for k in required if k not in body]
    if missing:
        raise BadRequest(f"Missing key(s) in the {where}: {', '.join(missing)}")
    result = {}
    for key, expected in {**required, **optional}.items():
        if key in body:
            result[key] = check_value(body[key], expected, f"{where}.{key}")
    return result


def check_text_length(value, limit, where):
    """`value` (a string or None) of at most `limit` characters, else 400."""
    if value is not None and len(value) > limit:
        raise BadRequest(f"{where} is too long: {len(value)} characters (at most {limit})")
    return value
