"""JSON from files an operator deposits, refused up front when PostgreSQL could not store it.

`json.loads` accepts NaN and Infinity (jsonb does not) and strings with NUL characters (text
and jsonb do not); either would fail later inside an INSERT, without the file's line or entry.
The API's request bodies go through the same checks (`ella.web.http.parse_json`).
"""

import json
import math
import re
import sys


class UnstorableJson(ValueError):
    """Valid JSON text that the database cannot store; the message says where in it, and
    begins with `where` (the path as shown, `[1].name`) when there is one. `in_list` tells
    that the top level is a list (an object's key may read `[1]` too)."""

    def __init__(self, message, where=None, in_list=False):
        super().__init__(message)
        self.where = where
        self.in_list = in_list


_LEADING_INDEX = re.compile(r"\[(\d+)\]")


def numbered_as_entries(exc):
    """The message of `exc` for a file that is a list of entries, which the deposit tools
    number from 1 elsewhere ("entry 2 ('x'): ..."): `[1].name contains ...` becomes
    `entry 2: name contains ...`, so that one entry is not called [1] and entry 2 by the
    same tool."""
    message = str(exc)
    found = _LEADING_INDEX.match(exc.where or "") if exc.in_list else None
    if not found or not message.startswith(exc.where):
        return message
    rest = message[found.end():]
    if rest.startswith("."):
        rest = ": " + rest[1:]
    elif rest.startswith("["):
        rest = ": " + rest
    return f"entry {int(found.group(1)) + 1}{rest}"


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
    problem) of the first such part, or None. Walked without recursion, whatever the depth,
    keeping only the path to the part being looked at: a path built for every element up
    front (each repeating its parents' keys) made a small request body cost gigabytes."""
    problem = _own_problem(value, 0, max_depth)
    if problem or not isinstance(value, (dict, list)):
        return ("(top level)", problem) if problem else None
    for segments, segment, key, child, depth in _walk(value):
        found = isinstance(key, str) and UNSTORABLE_TEXT.search(key)  # YAML: any key
        problem = _character_problem(found.group()) if found else \
            _own_problem(child, depth, max_depth)
        if problem:
            return _path_text(segments + [segment]), problem
    return None


def _walk(value):
    """(segments, segment, key, child, depth) of every part below the container `value`,
    depth first, without recursion: `segments` are the path to the child's container below
    `value` (".key" or "[index]"; one list, changed as the walk goes on: read it at once),
    `segment` the child's own, `depth` its container's nesting level (1 for `value`)."""
    segments = []
    walking = [_children(value)]  # one iterator per container entered
    while walking:
        try:
            segment, key, child = next(walking[-1])
        except StopIteration:
            walking.pop()
            if segments:
                segments.pop()
            continue
        yield segments, segment, key, child, len(walking)
        if isinstance(child, (dict, list)):
            segments.append(segment)
            walking.append(_children(child))


def _path_text(segments):
    """`a.b[0].c` of the segments; a key that would not show (empty) is written `""`."""
    text = "".join('.""' if segment == "." else segment for segment in segments)
    return text.removeprefix(".")


def _children(container):
    """(path segment, key or None, child) of a list's or dict's children, lazily."""
    if isinstance(container, list):
        return ((f"[{index}]", None, child) for index, child in enumerate(container))
    return ((f".{key}", key, child) for key, child in container.items())


def _own_problem(item, depth, max_depth):
    """The problem of the item itself (not its children), or None."""
    if isinstance(item, str):
        found = UNSTORABLE_TEXT.search(item)
        return _character_problem(found.group()) if found else None
    if isinstance(item, (dict, list)) and depth >= max_depth:
        return f"is nested too deeply (at most {max_depth} levels)"
    if isinstance(item, float) and not math.isfinite(item):
        # YAML's .nan and .inf: JSON has no such number (a config serving NaN was no JSON
        # to the browser), nor has PostgreSQL's jsonb.
        return f"is {item}, not a number JSON or PostgreSQL can store"
    return None


def _character_problem(character):
    what = "a NUL character (\\u0000)" if character == "\x00" else \
        f"an unpaired surrogate escape (\\u{ord(character):04x})"
    return f"contains {what}, which PostgreSQL cannot store"


def check_storable(value, max_depth=MAX_DEPTH):
    """Raise UnstorableJson for what `loads` refuses in an already parsed value (NUL,
    unpaired surrogates, NaN and infinities, nesting deeper than `max_depth`)."""
    found = _unstorable_part(value, max_depth)
    if found is not None:
        where, problem = found
        # The path itself may hold the character; it is shown as "?". A deep one is cut.
        where = UNSTORABLE_TEXT.sub("?", where)
        if len(where) > MAX_PATH_SHOWN:
            where = where[:MAX_PATH_SHOWN] + "..."
        raise UnstorableJson(f"{where} {problem}", where, isinstance(value, list))


class _KeyGivenTwice(Exception):
    pass


def _object_once_per_key(pairs):
    """A JSON object whose keys are each given once: json keeps a repeated key's later value
    without a word (a users file's second "name" renamed the group; the YAML configs refuse
    it alike)."""
    value = dict(pairs)
    if len(value) != len(pairs):
        raise _KeyGivenTwice()
    return value


class _Pairs(list):
    """An object's (key, value) pairs as written, repeated keys kept."""


def _repeated_key(text):
    """(path, key) of the first object in `text` that gives a key twice. Parsed again only
    when there is one: the parser's hook knows no position, and `[17]` names the entry."""
    segments, walking = [], [iter([("", json.loads(text, object_pairs_hook=_Pairs))])]
    while walking:
        try:
            segment, item = next(walking[-1])
        except StopIteration:
            walking.pop()
            if segments:
                segments.pop()
            continue
        if isinstance(item, _Pairs):
            seen = set()
            for key, _ in item:
                if key in seen:
                    return _path_text(segments[1:] + [segment]) or "(top level)", key
                seen.add(key)
            children = ((f".{key}", child) for key, child in item)
        elif isinstance(item, list):
            children = ((f"[{index}]", child) for index, child in enumerate(item))
        else:
            continue
        segments.append(segment)
        walking.append(children)
    raise AssertionError("no key given twice")  # the hook said there was one


class _Unreadable:
    """A number PostgreSQL cannot store, marked where it stands (see below)."""


def _unstorable_number_path(text):
    """The path (`[3].config.x`) of the first NaN, Infinity or too large number in `text`,
    which the parser's hooks refused without a position; None where the text cannot be
    parsed so (nested too deeply, a number too long: refused for the number anyway)."""
    marker = _Unreadable()

    def number(token):
        return marker if not math.isfinite(float(token)) else 0.0

    def first_marker_kept(pairs):  # a key given twice keeps the value that is refused
        value = {}
        for key, child in pairs:
            if key not in value or child is marker:
                value[key] = child
        return value
    try:
        value = json.loads(text, parse_constant=lambda _: marker, parse_float=number,
                           object_pairs_hook=first_marker_kept)
    except (RecursionError, ValueError):
        return None
    if value is marker:
        return "(top level)"
    if isinstance(value, (dict, list)):
        for segments, segment, _, child, _ in _walk(value):
            if child is marker:
                return UNSTORABLE_TEXT.sub("?", _path_text(segments + [segment]))[
                    :MAX_PATH_SHOWN]
    return None


def loads(text, max_depth=MAX_DEPTH):
    """`json.loads`, raising UnstorableJson for NaN/Infinity (also 1e999), NUL characters,
    unpaired surrogate escapes, a key given twice in one object and nesting deeper than
    `max_depth` (which would otherwise end in a RecursionError, in the parser or in
    PostgreSQL)."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float,
                           object_pairs_hook=_object_once_per_key)
    except RecursionError:
        raise UnstorableJson(f"nested too deeply (at most {max_depth} levels)") from None
    except _KeyGivenTwice:
        where, key = _repeated_key(text)
        in_list = _is_a_list(text)
        shown = UNSTORABLE_TEXT.sub("?", key)[:MAX_PATH_SHOWN]
        where = UNSTORABLE_TEXT.sub("?", where)[:MAX_PATH_SHOWN]
        raise UnstorableJson(f"{where} gives the key {shown!r} twice; the later would "
                             "silently replace the earlier: keep one", where,
                             in_list) from None
    except UnstorableJson as exc:
        # (From the number hooks, which know no position: parsed again to name the place.)
        where = _unstorable_number_path(text)
        raise UnstorableJson(f"{where}: {exc}" if where else str(exc), where,
                             _is_a_list(text)) from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise  # bytes that are no UTF-8 (also a ValueError) are the caller's to word
    except ValueError:  # Python's int() refuses a number of over 4,300 digits
        # (Its own words name a Python setting: nothing for a client or an admin.)
        raise UnstorableJson(f"a number is too long to read (over {sys.get_int_max_str_digits():,} "
                             "digits)") from None
    check_storable(value, max_depth)
    return value


def _is_a_list(text):
    """Whether the JSON `text` (str or UTF-8 bytes, parsed once already) is a list at the top
    level: its first character after JSON's white space says so."""
    if isinstance(text, (bytes, bytearray)):
        return text.lstrip(b" \t\r\n").startswith(b"[")
    return text.lstrip(" \t\r\n").startswith("[")


class NotUtf8Line(ValueError):
    """A line of a text file that is no UTF-8: `line 3: not UTF-8 text (byte 41: b'\\xf8')`,
    as every other reader says it (the byte counted from the file's start)."""

    def __init__(self, line_no, offset, byte):
        super().__init__(f"line {line_no}: not UTF-8 text (byte {offset}: {byte!r})")
        self.line_no = line_no


def numbered_lines(path):
    """(line number, text) of a JSON-lines file, decoded line by line: a text handle decodes
    8 KB ahead, so its error named no line (or a wrong one). A byte-order mark before the
    first line (a Windows editor's) is no part of it."""
    number = offset = 0
    with open(path, "rb") as handle:
        for raw in handle:  # split at LF; a CR alone ends a line too, as in text mode
            if number == 0 and raw.startswith(b"\xef\xbb\xbf"):
                raw, offset = raw[3:], 3
            for part in raw.splitlines(keepends=True) if b"\r" in raw else [raw]:
                number += 1
                try:
                    yield number, part.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise NotUtf8Line(number, offset + exc.start,
                                      part[exc.start:exc.start + 1]) from None
                offset += len(part)
