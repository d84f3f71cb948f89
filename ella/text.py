"""Checks of text read from files, folder names and the command line."""

import codecs
import errno
import os
import re
import stat
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


# Unicode's control characters (category Cc, C0 and C1) and the line and paragraph
# separators (Zl, Zp): each breaks the line a value is shown, logged or exported on.
_LINE_BREAKING = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_control_characters(text, allowed=""):
    """`text` with each control character (or line or paragraph separator) but those in
    `allowed` written as its escape (`\\n`, `\\x1b`): one line, whatever a name holds."""
    if not _LINE_BREAKING.search(text):
        return text
    return _LINE_BREAKING.sub(
        lambda m: m.group() if m.group() in allowed else repr(m.group())[1:-1], text)


def control_character(text, allowed=""):
    """The first control character (Cc) or line or paragraph separator in `text` other than
    those in `allowed` (a TSV line's tab), or None."""
    for match in _LINE_BREAKING.finditer(text):
        if match.group() not in allowed:
            return match.group()
    return None


def has_odd_space(text):
    """Whether `text` holds a space other than the plain one (a no-break space, an en
    space): a name with one reads as the name with a plain space on every screen."""
    return any(unicodedata.category(c) == "Zs" and c != " " for c in text)


# The characters that change the direction text is shown in (Unicode's Bidi_Control): in a
# file name `invoice\u202efdp.exe` is shown as "invoiceexe.pdf".
_BIDI_CONTROL = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def bidi_control(text):
    """The first character in `text` that reorders the text shown after it, or None."""
    match = _BIDI_CONTROL.search(text)
    return match.group() if match else None


def repeats_a_repetition(pattern):
    """Whether the regex repeats something that itself repeats a varying number of times,
    one of the two without bound (the shape that backtracks exponentially: `(a+)+$` on a
    name of forty a's and a b runs for hours; so do `(a+){1,30}$`, `(.*a){20}$` and
    `(a{1,2})+$`). Judged on the parsed pattern (re's own parser), inside groups, atomic
    groups, alternatives, conditionals and lookarounds; False where that parser is not
    available. Alternatives that overlap (`(a|a)*`) are not recognised."""
    try:
        from re import _parser
    except ImportError:
        return False
    repeats = (_parser.MAX_REPEAT, _parser.MIN_REPEAT, getattr(_parser, "POSSESSIVE_REPEAT",
                                                                _parser.MAX_REPEAT))

    def walk(items, inside_repeat, inside_unbounded):
        """`inside_repeat`: an enclosing repeat may run more than once;
        `inside_unbounded`: one may run without bound."""
        for op, value in items:
            if op in repeats:
                low, high, body = value
                unbounded = high == _parser.MAXREPEAT
                varying = high != low and high > 1
                if (unbounded and inside_repeat) or (varying and inside_unbounded):
                    return True
                if walk(body, inside_repeat or high > 1, inside_unbounded or unbounded):
                    return True
            else:
                if op is _parser.SUBPATTERN:
                    parts = [value[-1]]
                elif op is _parser.BRANCH:
                    parts = value[1]
                elif op in (_parser.ASSERT, _parser.ASSERT_NOT):
                    parts = [value[1]]
                elif op is getattr(_parser, "ATOMIC_GROUP", None):
                    parts = [value]
                elif op is _parser.GROUPREF_EXISTS:
                    parts = [part for part in value[1:] if part is not None]
                else:
                    continue
                if any(walk(part, inside_repeat, inside_unbounded) for part in parts):
                    return True
        return False
    return walk(_parser.parse(pattern), False, False)


class NotUtf8(ValueError):
    """Bytes of a file that are no UTF-8. str: `line 3: not UTF-8 text (byte 41: b'\\xf8')`,
    the byte counted from the file's start (a byte-order mark included)."""

    def __init__(self, data, offset):
        self.line = line_at(data, offset)
        self.offset = offset
        super().__init__(f"line {self.line}: not UTF-8 text (byte {offset}: "
                         f"{bytes(data[offset:offset + 1])!r})")


def utf8_text(data, bom=True):
    """`data` (bytes) decoded as UTF-8, a leading byte-order mark (Notepad, Excel) skipped
    unless `bom` is false; NotUtf8 naming the line and byte of the first that is not."""
    skip = len(codecs.BOM_UTF8) if bom and data.startswith(codecs.BOM_UTF8) else 0
    try:
        return str(memoryview(data)[skip:], "utf-8")
    except UnicodeDecodeError as exc:
        raise NotUtf8(data, skip + exc.start) from None


def line_at(text, offset):
    """The number (from 1) of the line `offset` is on in `text` (str or bytes), a line ending
    at CR LF, LF or a CR alone, as the readers split them (`str.splitlines`, YAML): a file
    from an old Mac editor, with CR alone, was all "line 1"."""
    lf, cr, crlf = ("\n", "\r", "\r\n") if isinstance(text, str) else (b"\n", b"\r", b"\r\n")
    return (text.count(lf, 0, offset) + text.count(cr, 0, offset)
            - text.count(crlf, 0, offset) + 1)


def line_and_column(text, offset):
    """(line, column), both from 1, of `offset` in the str `text`, lines counted as `line_at`
    counts them (json's own lineno and colno count LF only)."""
    start = max(text.rfind("\n", 0, offset), text.rfind("\r", 0, offset)) + 1
    return line_at(text, offset), offset - start + 1


def file_problem(path):
    """Why `path` cannot be read as a file, in the words every tool uses, or None when it
    can: "does not exist", "is a link to nothing (or a loop of links)", "is a folder, not a
    file", "is not a regular file", "cannot be read: <reason>"."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return "is a link to nothing (or a loop of links)" if os.path.lexists(path) \
            else "does not exist"
    except OSError as exc:  # a name too long, a folder on the way the user may not enter
        if exc.errno == errno.ELOOP:
            return "is a link to nothing (or a loop of links)"
        return f"cannot be read: {exc.strerror or exc}"
    if stat.S_ISDIR(info.st_mode):
        return "is a folder, not a file"
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file"
    return None


# An error's text is cut after this many characters: one quoting a whole value of the input
# (a 50 MB annotation, a 10 MB title) was printed, logged and stored (clilog, a job's
# message, a watched folder's error file) in full.
MAX_ERROR_CHARS = 10_000


def error_text(error):
    """str(error), cut to MAX_ERROR_CHARS with the number of characters left out."""
    text = str(error)
    if len(text) <= MAX_ERROR_CHARS:
        return text
    return f"{text[:MAX_ERROR_CHARS]}... ({len(text) - MAX_ERROR_CHARS:,} more characters)"
