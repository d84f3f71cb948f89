"""JSON from files an operator deposits, refused up front when PostgreSQL could not store it.

`json.loads` accepts NaN and Infinity (jsonb does not) and strings with NUL characters (text
and jsonb do not); either would fail later inside an INSERT, without the file's line or entry.
"""

import json
import math


class UnstorableJson(ValueError):
    """Valid JSON text that the database cannot store; the message says where in it."""


def _refuse_constant(name):
    raise UnstorableJson(f"{name} is not a number JSON or PostgreSQL can store")


def _finite_float(text):
    value = float(text)
    if not math.isfinite(value):  # 1e999 reads as infinity
        raise UnstorableJson(f"the number {text[:40]} is too large to store")
    return value


def nul_path(value):
    """Where the first string (key or value) with a NUL character is, as a dotted path, or
    None. Walked without recursion."""
    stack = [(value, "")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return path or "(top level)"
        elif isinstance(item, dict):
            for key, child in item.items():
                where = f"{path}.{key}" if path else str(key)
                if "\x00" in key:
                    return where
                stack.append((child, where))
        elif isinstance(item, list):
            stack.extend((child, f"{path}[{i}]") for i, child in enumerate(item))
    return None


def loads(text):
    """`json.loads`, raising UnstorableJson for NaN/Infinity (also 1e999) and NUL
    characters."""
    value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    where = nul_path(value)
    if where is not None:
        raise UnstorableJson(f"{where} contains a NUL character (\\u0000), which PostgreSQL "
                             "cannot store")
    return value
