"""Warnings about the data a deposit reads (records not imported, a value stored otherwise, a
transcript without HGNC id): logged, and collected for whoever must see them besides the
log (an import job's user in the job's message, the interpreters in an analysis' warnings),
whatever the log's level. Collections nest: each one under way gets every warning."""

import contextlib
import contextvars

_collections = contextvars.ContextVar("ella_data_warnings", default=())

# The kind of a CNV deletion the proband has without GT that is not imported (import.md 2.7).
UNCALLED_LOSS = "uncalled-loss"


class DataWarning(str):
    """A warning's text, with its `kind` (None for most) for collectors that pick some."""

    def __new__(cls, text, kind=None):
        warning = super().__new__(cls, text)
        warning.kind = kind
        return warning


def data_warning(logger, message, *args, kind=None):
    """`logger.warning(message, *args)`, and the text into every collection under way."""
    logger.warning(message, *args)
    collections = _collections.get()
    if collections:
        warning = DataWarning(message % args if args else message, kind)
        for collected in collections:
            collected.append(warning)


@contextlib.contextmanager
def collecting():
    """The data warnings of the block, as a list filled while it runs."""
    collected = []
    token = _collections.set(_collections.get() + (collected,))
    try:
        yield collected
    finally:
        _collections.reset(token)
