"""Log records of this package never carry undecodable bytes.

File and folder names that are no UTF-8 (a Latin-1 share) keep their bytes as surrogates
(`surrogateescape`); a log line naming one is shown with `\\xf8` instead, whatever handler
takes it (a handler writing UTF-8 failed on them, and so did pytest-xdist carrying a test's
captured log). Installed when the package is imported; only `ella.*` records are touched.
"""

import logging
import os


def _escaping_undecodable(make_record):
    """`make_record`, with our records' message and arguments shown escaped."""
    def factory(name, level, fn, lno, msg, args, exc_info, func=None, sinfo=None, **kwargs):
        if name.startswith("ella"):
            if isinstance(msg, str):
                msg = shown(msg)
            if isinstance(args, tuple):
                args = tuple(_shown_arg(a) for a in args)
        return make_record(name, level, fn, lno, msg, args, exc_info, func, sinfo, **kwargs)
    factory.escapes_undecodable = True
    return factory


def _shown_arg(value):
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    return shown(value) if isinstance(value, str) else value


def shown(text):
    """`text` with undecodable bytes (surrogate escapes) as `\\xNN`."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace") \
        if any("\udc80" <= c <= "\udcff" for c in text) else text


def install():
    if not getattr(logging.getLogRecordFactory(), "escapes_undecodable", False):
        logging.setLogRecordFactory(_escaping_undecodable(logging.getLogRecordFactory()))
