"""Checks of text read from files, folder names and the command line."""

import unicodedata


def is_utf8(text):
    """False for text with undecodable bytes (a name from a Latin-1 share, argv and stdin:
    Python keeps such bytes as surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def same_text_other_form(cur, table, name):
    """The stored names of `table` (analysis, genepanel) that are `name` in another Unicode
    form, sorted: a folder or file saved on a Mac writes `Å` as `A` and a combining ring,
    which every screen shows as the stored `Å`, while the database compares code points.
    Only a name in NFC or with a character beyond ASCII can be such (a regex, not
    octet_length, finds those: a SQL_ASCII database's length() counts bytes)."""
    if table not in ("analysis", "genepanel"):
        raise ValueError(f"no names to compare in {table}")
    text = unicodedata.normalize("NFC", name)
    rows = cur.execute(
        f"SELECT DISTINCT name FROM {table} WHERE name <> %s AND (name = %s OR name ~ %s) "
        "ORDER BY name", (name, text, "[^\x01-\x7f]")).fetchall()
    return [other for (other,) in rows if unicodedata.normalize("NFC", other) == text]


def repeats_a_repetition(pattern):
    """Whether the regex repeats, unboundedly, something that itself repeats unboundedly
    (the shape that backtracks exponentially: `(a+)+$` on a name of forty a's and a b runs
    for hours). Judged on the parsed pattern (re's own
    parser); False where that parser is not available."""
    try:
        from re import _parser
    except ImportError:
        return False
    repeats = (_parser.MAX_REPEAT, _parser.MIN_REPEAT, getattr(_parser, "POSSESSIVE_REPEAT",
                                                                _parser.MAX_REPEAT))

    def walk(items, inside_unbounded):
        for op, value in items:
            if op in repeats:
                low, high, body = value
                unbounded = high == _parser.MAXREPEAT
                if unbounded and inside_unbounded:
                    return True
                if walk(body, inside_unbounded or unbounded):
                    return True
            elif op is _parser.SUBPATTERN:
                if walk(value[-1], inside_unbounded):
                    return True
            elif op is _parser.BRANCH:
                if any(walk(branch, inside_unbounded) for branch in value[1]):
                    return True
            elif op in (_parser.ASSERT, _parser.ASSERT_NOT):
                if walk(value[1], inside_unbounded):
                    return True
        return False
    return walk(_parser.parse(pattern), False)
