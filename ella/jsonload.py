"""JSON from files an operator deposits, refused up front when PostgreSQL could not store it.

`json.loads` accepts NaN and Infinity (jsonb does not) and strings with NUL characters (text
and jsonb do not); either would fail later inside an INSERT, without the file's line or entry.
The API's request bodies go through the same checks (`ella.web.http.parse_json`).
"""

import json
import math
import re


class UnstorableJson(ValueError):
    """Valid JSON text that the database cannot store; the message says where in it."""


def _refuse_constant(name):
    raise UnstorableJson(f"{name} is not a number JSON or PostgreSQL can store")


def _finite_float(text):
    value = float(text)
    if not math.isfinite(value):  # 1e999 reads as infinity
        raise UnstorableJson(f"the number {text[:40]} is too large to store")
    return value


# NUL, and the halves of a surrogate pair escaped alone (\\ud800): JSON allows both in strings,
# PostgreSQL text cannot hold them.
UNSTORABLE_TEXT = re.compile("[\x00\ud800-\udfff]")


MAX_DEPTH = 100  # nesting levels; ELLA's documents use fewer than ten
MAX_PATH_SHOWN = 60  # characters of the path to a refused part in a message


def _unstorable_part(value, max_depth):
    """What in `value` PostgreSQL cannot store, or deeper than `max_depth`: (dotted path,
    problem) of the first such part, or None. Walked without recursion, whatever the depth."""
    stack = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            found = UNSTORABLE_TEXT.search(item)
            if found:
                return path or "(top level)", _character_problem(found.group())
        elif isinstance(item, (dict, list)):
            if depth >= max_depth:
                return path or "(top level)", f"is nested too deeply (at most {max_depth} levels)"
            if isinstance(item, list):
                stack.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(item))
                continue
            for key, child in item.items():
                where = f"{path}.{key}" if path else str(key)
                found = isinstance(key, str) and UNSTORABLE_TEXT.search(key)  # YAML: any key
                if found:
                    return where, _character_problem(found.group())
                stack.append((child, where, depth + 1))
    return None


def _character_problem(character):
    what = "a NUL character (\\u0000)" if character == "\x00" else \
        f"an unpaired surrogate escape (\\u{ord(character):04x})"
    return f"contains {what}, which PostgreSQL cannot store"


def check_storable(value, max_depth=MAX_DEPTH):
    """Raise UnstorableJson for what `loads` refuses in an already parsed value (NUL,
    unpaired surrogates, nesting deeper than `max_depth`)."""
    found = _unstorable_part(value, max_depth)
    if found is not None:
        where, problem = found
        # The path itself may hold the character; it is shown as "?". A deep one is cut.
        where = UNSTORABLE_TEXT.sub("?", where)
        if len(where) > MAX_PATH_SHOWN:
            where = where[:MAX_PATH_SHOWN] + "..."
        raise UnstorableJson(f"{where} {problem}")


def loads(text, max_depth=MAX_DEPTH):
    """`json.loads`, raising UnstorableJson for NaN/Infinity (also 1e999), NUL characters,
    unpaired surrogate escapes and nesting deeper than `max_depth` (which would otherwise end
    in a RecursionError, in the parser or in PostgreSQL)."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise UnstorableJson(f"nested too deeply (at most {max_depth} levels)") from None
    check_storable(value, max_depth)
    return value
