"""Warnings about the data a deposit reads (records not imported, a value stored otherwise, a
transcript without HGNC id): logged, and collected for whoever must see them besides the
log (an import job's user in the job's message, the interpreters in an analysis' warnings),
whatever the log's level. Collections nest (each one under way gets every warning of its
kind) and keep the first few texts and a count: a genome's worth of warnings is not held."""

import contextlib
import contextvars

_collections = contextvars.ContextVar("ella_data_warnings", default=())

# The kind of a CNV deletion the proband has without GT that is not imported (import.md 2.7).
UNCALLED_LOSS = "uncalled-loss"


class Collected:
    """The warnings of one collection: `first` (at most `keep` texts) and `total`."""

    def __init__(self, kind, keep):
        self.kind, self.keep = kind, keep
        self.first, self.total = [], 0

    def add(self, text, kind):
        if self.kind is not None and kind != self.kind:
            return
        self.total += 1
        if len(self.first) < self.keep:
            self.first.append(text)


def data_warning(logger, message, *args, kind=None):
    """`logger.warning(message, *args)`, and the text into every collection under way."""
    logger.warning(message, *args)
    collections = _collections.get()
    if collections:
        text = message % args if args else message
        for collected in collections:
            collected.add(text, kind)


@contextlib.contextmanager
def collecting(kind=None, keep=5):
    """The data warnings (of `kind`, or all) of the block, filled while it runs."""
    collected = Collected(kind, keep)
    token = _collections.set(_collections.get() + (collected,))
    try:
        yield collected
    finally:
        _collections.reset(token)
