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
