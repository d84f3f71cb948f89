"""Where a deposit's database time goes: `bench/import/run.py --sql-profile`.

Times every statement and COPY a deposit sends, grouped by what it does (a COPY's time
includes psycopg formatting its rows in this process). To measure the
database alone, the deposit then writes its batches in the calling thread (no write pipeline:
a background writer's timings would include waits for the GIL while the next batch is
converted), so the run's own figures are those of a serial deposit.
"""

import collections
import contextlib
import re
import time

import psycopg
from psycopg import sql

import ella.deposit.analysis as analysis_module

# Statement kinds, by a pattern of their text (first match wins).
KINDS = (
    ("transcript shadow rows", r"annotations -> 'transcripts'"),
    ("frequency shadow rows", r"annotations -> 'frequencies'"),
    ("shadow rows: delete", r"^DELETE FROM annotationshadow"),
    ("annotation COPY", r"^COPY annotation "),
    ("current annotations", r"^SELECT allele_id, id, annotations"),
    ("genotype COPY", r"^COPY genotype "),
    ("genotype sample data COPY", r"^COPY genotypesampledata"),
    ("genotype ids", r"nextval"),
    ("allele insert", r"^INSERT INTO allele "),
    ("allele staging and lookup", r"deposit_allele_stage"),
)


class _SerialWrites:
    """Stands in for WritePipeline: every batch is written when submitted."""

    def __init__(self, write, cancel=None):  # same signature; nothing runs in background to cancel
        self._write = write

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def submit(self, batch):
        self._write(batch)


def _kind(statement, cursor):
    text = statement.as_string(cursor) if isinstance(statement, sql.Composable) else statement
    text = " ".join(str(text).split())
    for kind, pattern in KINDS:
        if re.search(pattern, text):
            return kind
    return "other"


@contextlib.contextmanager
def profiled():
    """Yields a Counter {statement kind: seconds} filled while the block runs."""
    seconds = collections.Counter()
    execute, copy = psycopg.Cursor.execute, psycopg.Cursor.copy
    pipeline = analysis_module.WritePipeline

    def timed_execute(cursor, query, params=None, **kwargs):
        started = time.perf_counter()
        try:
            return execute(cursor, query, params, **kwargs)
        finally:
            seconds[_kind(query, cursor)] += time.perf_counter() - started

    @contextlib.contextmanager
    def timed_copy(cursor, statement, *args, **kwargs):
        started = time.perf_counter()
        try:
            with copy(cursor, statement, *args, **kwargs) as c:
                yield c
        finally:
            # The whole COPY: the server's work and psycopg formatting the rows it streams.
            seconds[_kind(statement, cursor)] += time.perf_counter() - started

    psycopg.Cursor.execute, psycopg.Cursor.copy = timed_execute, timed_copy
    analysis_module.WritePipeline = _SerialWrites
    try:
        yield seconds
    finally:
        psycopg.Cursor.execute, psycopg.Cursor.copy = execute, copy
        analysis_module.WritePipeline = pipeline


def report(seconds, variants):
    total = sum(seconds.values())
    print(f"  database time {total:.1f} s = {total / variants * 1e6:.0f} µs per variant:")
    for kind, value in seconds.most_common():
        print(f"    {kind:<28} {value:6.2f} s {value / variants * 1e6:6.0f} µs/variant")
