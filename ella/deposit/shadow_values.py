"""The values of an annotation that its shadow rows cast to integer or double precision
(`transcript_shadow_insert` and `frequency_shadow_insert` in ella/refresh.py, and the
triggers' functions), checked as the server will read them: a value that does not fit failed
the whole deposit with PostgreSQL's message, which named no line and no value. A deposit
checks each document before it stores it (ella/deposit/variants.py)."""

import json
import math
import re

from ella.refresh import FREQUENCY_TABLE, TRANSCRIPT_TABLE, actual_frequency_columns


def shadow_frequency_pairs(conn):
    """[(provider, key)] of the frequency columns the live annotationshadowfrequency has (the
    pairs its rows cast, whatever the config says now), in column order; [] without it."""
    columns = actual_frequency_columns(conn) or []
    integers = {name for name, typ in columns if typ == "integer"}
    pairs = []
    for name, typ in columns:
        if typ != "double precision":
            continue
        for dot in (i for i, c in enumerate(name) if c == "."):  # a provider may hold a dot
            provider, key = name[:dot], name[dot + 1:]
            if f"{provider}_num.{key}" in integers:
                pairs.append((provider, key))
                break
    return pairs


INT32_MIN, INT32_MAX = -2_147_483_648, 2_147_483_647
TRANSCRIPT_INTEGER_KEYS = ("hgnc_id", "exon_distance", "coding_region_distance")
# Text PostgreSQL reads as an integer (int4in): blanks around an optional sign and digits;
# from version 16 also underscores between digits and 0x/0o/0b prefixes.
_INTEGER_TEXT = re.compile(r"\s*([+-]?)(\d+)\s*", re.ASCII)
_INTEGER_TEXT_16 = re.compile(
    r"\s*([+-]?)(?:(\d(?:_?\d)*)|0([xX])((?:_?[0-9a-fA-F])+)|0([oO])((?:_?[0-7])+)"
    r"|0([bB])((?:_?[01])+))\s*", re.ASCII)
_BASES = {"x": 16, "o": 8, "b": 2}
# Text PostgreSQL reads as a double (float8in: C's strtod): decimal and hexadecimal numbers,
# infinity and NaN; ASCII only, no underscores.
_DOUBLE_TEXT = re.compile(
    r"\s*[+-]?(?:(?P<decimal>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<hex>0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?\d+)?)"
    r"|(?P<special>(?i:inf(?:inity)?|nan(?:\([0-9A-Za-z_]*\))?)))\s*", re.ASCII)
_BEYOND_INTEGER = "beyond a 32-bit integer"
_BEYOND_DOUBLE = "beyond a double precision number"


def _integer_problem(value, server_version=160000):
    """Why `(... ->> ...)::integer` of `value` (as jsonb) fails on a server of
    `server_version` (libpq's number, 150004), or None (also for null)."""
    if value is None:
        return None
    if type(value) is int:
        return None if INT32_MIN <= value <= INT32_MAX else _BEYOND_INTEGER
    if not isinstance(value, str):
        return "not an integer"  # a float's text has a point or an exponent; true, [], {}
    if server_version < 160000:
        match = _INTEGER_TEXT.fullmatch(value)
        if not match:
            return "not an integer"
        number = _decimal(match.group(2))
    else:
        match = _INTEGER_TEXT_16.fullmatch(value)
        if not match:
            return "not an integer"
        decimal, *prefixed = match.groups()[1:]
        if decimal:
            number = _decimal(decimal.replace("_", ""))
        else:
            prefix, digits = next((p, d) for p, d in zip(prefixed[::2], prefixed[1::2]) if p)
            number = int(digits.replace("_", ""), _BASES[prefix.lower()])
    number = -number if match.group(1) == "-" else number
    return None if INT32_MIN <= number <= INT32_MAX else _BEYOND_INTEGER


def _decimal(digits):
    """The number of a digit string, or one beyond 32 bits for a longer string (Python's
    int() refuses over 4,300 digits; only the range matters here)."""
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= 12 else 10 ** 12  # (either sign: beyond 32 bits)


def _double_problem(value):
    """Why `(... ->> ...)::double precision` of `value` (as jsonb) fails, or None (also for
    null)."""
    if value is None or type(value) is float:  # (JSON holds no NaN or infinity)
        return None
    if type(value) is int:
        try:
            float(value)  # rounded as strtod rounds the number's text
        except OverflowError:
            return _BEYOND_DOUBLE
        return None
    if not isinstance(value, str):
        return "not a number"
    match = _DOUBLE_TEXT.fullmatch(value)
    if not match:
        return "not a number"
    if match.group("special"):
        return None
    text = match.group("decimal") or match.group("hex")
    try:
        number = float(text) if match.group("decimal") else float.fromhex(text)
    except OverflowError:
        return _BEYOND_DOUBLE
    if math.isinf(number):
        return _BEYOND_DOUBLE
    mantissa = re.split("[eEpP]", text[2:] if match.group("hex") else text)[0]
    if number == 0 and mantissa.strip("0.xX"):
        return _BEYOND_DOUBLE + " (too small)"  # strtod's underflow: PostgreSQL refuses it
    return None


def shadow_value_problem(doc, pairs, server_version=160000):
    """Why PostgreSQL would refuse the shadow rows of annotation `doc` (a dict), naming the
    value, or None. The shadow rows cast some values to integer or double precision
    (`transcript_shadow_insert`, `frequency_shadow_insert` and the triggers); a value that
    does not fit failed the whole deposit with the database's message, which named no line
    and no value. `pairs` are the (provider, key) of the shadow table's frequency columns;
    `server_version` says which integer syntax the server reads."""
    transcripts = doc.get("transcripts")
    if isinstance(transcripts, list):
        for index, transcript in enumerate(transcripts):
            if not isinstance(transcript, dict):
                continue
            for key in TRANSCRIPT_INTEGER_KEYS:
                value = transcript.get(key)
                if type(value) is int and INT32_MIN <= value <= INT32_MAX:
                    continue
                problem = _integer_problem(value, server_version)
                if problem:
                    return (f"transcripts[{index}].{key} = {_shown(value)} does not fit the "
                            f"integer column {key} of {TRANSCRIPT_TABLE} (it is {problem})")
    frequencies = doc.get("frequencies")
    if isinstance(frequencies, dict):
        for provider, key in pairs:
            values = frequencies.get(provider)
            if not isinstance(values, dict):
                continue
            freq, num = values.get("freq"), values.get("num")
            if isinstance(freq, dict):
                value = freq.get(key)
                problem = None if value is None or type(value) is float else \
                    _double_problem(value)
                if problem:
                    return _frequency_problem(provider, "freq", key, value, "double precision",
                                              problem)
            if isinstance(num, dict):
                value = num.get(key)
                problem = None if value is None or type(value) is int and \
                    INT32_MIN <= value <= INT32_MAX else _integer_problem(value, server_version)
                if problem:
                    return _frequency_problem(provider, "num", key, value, "integer", problem)
    return None


def _frequency_problem(provider, part, key, value, kind, problem):
    column = provider if part == "freq" else f"{provider}_num"
    return (f"frequencies.{provider}.{part}.{key} = {_shown(value)} does not fit the {kind} "
            f"column \"{column}.{key}\" of {FREQUENCY_TABLE} (it is {problem})")


def _shown(value):
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:60] + "..."
