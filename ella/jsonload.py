"""JSON from files an operator deposits, refused up front when PostgreSQL could not store it.

`json.loads` accepts NaN and Infinity (jsonb does not) and strings with NUL characters (text
and jsonb do not); either would fail later inside an INSERT, without the file's line or entry.
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


def unstorable_path(value):
    """Where the first string (key or value) PostgreSQL cannot store is, as a dotted path,
    with the offending character, or None. Walked without recursion."""
    stack = [(value, "")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            found = UNSTORABLE_TEXT.search(item)
            if found:
                return path or "(top level)", found.group()
        elif isinstance(item, dict):
            for key, child in item.items():
                where = f"{path}.{key}" if path else str(key)
                found = UNSTORABLE_TEXT.search(key)
                if found:
                    return where, found.group()
                stack.append((child, where))
        elif isinstance(item, list):
            stack.extend((child, f"{path}[{i}]") for i, child in enumerate(item))
    return None


def loads(text):
    """`json.loads`, raising UnstorableJson for NaN/Infinity (also 1e999), NUL characters and
    unpaired surrogate escapes."""
    value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    found = unstorable_path(value)
    if found is not None:
        where, character = found
        what = "a NUL character (\\u0000)" if character == "\x00" else \
            f"an unpaired surrogate escape (\\u{ord(character):04x})"
        raise UnstorableJson(f"{where.encode('utf-8', 'replace').decode()} contains {what}, "
                             "which PostgreSQL cannot store")
    return value
