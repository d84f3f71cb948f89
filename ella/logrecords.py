"""Log records of this package never carry undecodable bytes.

File and folder names that are no UTF-8 (a Latin-1 share) keep their bytes as surrogates
(`surrogateescape`); a log line naming one is shown with `\\xf8` instead, whatever handler
takes it (a handler writing UTF-8 failed on them, and so did pytest-xdist carrying a test's
captured log). Control characters other than a tab in a record's arguments are escaped too (`\\n`): a
folder's name with a newline forged a log line. Installed when the package is imported; only
`ella.*` records are touched.
"""

import logging
import os
import re

from ella.text import control_character, escape_control_characters


def _escaping_undecodable(make_record):
    """`make_record`, with our records' message and arguments shown escaped."""
    def factory(name, level, fn, lno, msg, args, exc_info, func=None, sinfo=None, **kwargs):
        if name.startswith("ella"):
            if isinstance(msg, str):
                msg = shown(msg)
            if isinstance(args, tuple):
                args = tuple(_shown_arg(a) for a in args)
            elif isinstance(args, dict):
                args = _shown_arg(args)
        record = make_record(name, level, fn, lno, msg, args, exc_info, func, sinfo, **kwargs)
        if name.startswith("ella") and record.exc_info and record.exc_info[0] is not None:
            # A traceback naming such a file: written as formatters write it, escaped.
            text = logging.Formatter().formatException(record.exc_info)
            if _SURROGATE.search(text):
                record.exc_text = shown(text)
        return record
    factory.escapes_undecodable = True
    return factory


def _shown_arg(value):
    if isinstance(value, (int, float)) or value is None:
        return value
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, str):
        return _one_line(shown(value))
    if isinstance(value, dict):  # (`%(name)s` formatting)
        return {key: _shown_arg(item) for key, item in value.items()}
    try:
        text = str(value)  # an exception naming a file, a path of bytes read as text
    except Exception:  # noqa: BLE001 (its own formatting is left to logging)
        return value
    if _SURROGATE.search(text) or control_character(text, allowed="\t"):
        return _one_line(shown(text))
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")


def _one_line(text):
    """`text` with what ends or hides a line, but a tab, escaped (`\\n`, `\\x1b`): in an
    argument (a folder's name comes from whoever may write the incoming directory) a newline
    printed a second, forged log line."""
    return escape_control_characters(text, allowed="\t")


def shown(text):
    """`text` with undecodable bytes (surrogate escapes) as `\\xNN`, any other lone
    surrogate as `\\udNNN`."""
    return _SURROGATE.sub(_escape, text) if _SURROGATE.search(text) else text


def _escape(match):
    code = ord(match.group())
    return f"\\x{code - 0xdc00:02x}" if 0xdc80 <= code <= 0xdcff else f"\\u{code:04x}"


def install():
    if not getattr(logging.getLogRecordFactory(), "escapes_undecodable", False):
        logging.setLogRecordFactory(_escaping_undecodable(logging.getLogRecordFactory()))
