"""Checking request bodies: exact keys and types, clear 400 messages (ELLA's models forbid
unknown keys; numeric strings are accepted where an integer is expected, as ELLA coerces)."""

from ella.web.errors import BadRequest


def _type_name(expected):
    if isinstance(expected, tuple):
        return " or ".join(_type_name(t) for t in expected)
    return {str: "a string", int: "an integer", bool: "true/false", dict: "an object",
            list: "a list", type(None): "null"}.get(expected, expected.__name__)


def check_value(value, expected, where):
    """`value` of type `expected` (a type or a tuple of types); ints from numeric strings."""
    types = expected if isinstance(expected, tuple) else (expected,)
    if int in types and isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, bool) and bool not in types:
        raise BadRequest(f"{where} must be {_type_name(expected)}")
    if not isinstance(value, types):
        raise BadRequest(f"{where} must be {_type_name(expected)}")
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
