"""Warnings about the data a deposit reads (records not imported, a value stored otherwise, a
transcript without HGNC id): logged, and collected for whoever must see them besides the
log (an import job's user, in the job's message), whatever the log's level."""

import contextlib
import contextvars

_collector = contextvars.ContextVar("ella_data_warnings", default=None)


def data_warning(logger, message, *args):
    """`logger.warning(message, *args)`, and the text into the collection under way."""
    logger.warning(message, *args)
    collected = _collector.get()
    if collected is not None:
        collected.append(message % args if args else message)


@contextlib.contextmanager
def collecting():
    """The data warnings of the block, as a list filled while it runs."""
    collected = []
    token = _collector.set(collected)
    try:
        yield collected
    finally:
        _collector.reset(token)
