"""Writing one batch to the database while the next is being converted.

A deposit spends its time in two places that need not wait for each other: Python reading
and converting VCF records (one core), and PostgreSQL storing the previous batch (COPY,
shadow rows, indexes: the server's own process). `WritePipeline` runs the writes in one
background thread, in submission order, on the caller's connection and transaction, so the
two overlap. There is at most one batch waiting, which bounds memory.

The first error in the writer stops all further writes and is raised in the caller at its
next `submit` or when the `with` block ends; an error in the caller cancels the batches not
yet written and waits for the one being written before it propagates, so nothing uses the
connection once the block is left. Either way the caller's transaction is then rolled back by
its owner: nothing is half-written.

While a pipeline runs it tunes two process-wide interpreter settings (the GIL switch interval
and the cyclic GC's first threshold, see below) and puts them back afterwards.
"""

import gc
import queue
import sys
import threading

from psycopg.errors import InFailedSqlTransaction

_DONE = object()

# While the caller converts, it holds the GIL; the writer thread, back from each wait on the
# database, asks for it and by default gets it only after CPython's 5 ms switch interval.
# With dozens of waits per batch that idled the writer for most of its time (measured: 5 of
# 12 s for 30,000 variants). Deposits run in their own processes (CLI, watcher, polling),
# so the interval is shortened while a pipeline runs and put back afterwards.
SWITCH_INTERVAL = 0.0005
# Converting allocates millions of short-lived, acyclic objects (freed by reference counting)
# while a batch's documents stay alive; the cyclic collector's default first threshold (700
# allocations) made it scan them over and over (~12% of the deposit's CPU, measured). It runs
# less often while a pipeline runs; cycles are still collected.
GC_THRESHOLD0 = 50_000


class WritePipeline:
    """`with WritePipeline(write) as pipeline: pipeline.submit(batch) ...`; `write(batch)` runs
    in the background thread. The connection `write` uses must not be used by the caller at
    the same time except through psycopg's own connection lock (a separate cursor)."""

    def __init__(self, write, cancel=None):
        """`cancel()` cancels the statement in progress on the writer's connection (psycopg's
        `cancel_safe`): an interrupt of the caller (Ctrl-C, SIGTERM) cancels the write under
        way, whose statement may be waiting for a lock as long as another session holds it
        (psycopg cancels on an interrupt only in the thread that waits, which is the
        caller's, not the writer's)."""
        self._write = write
        self._cancel = cancel
        self._queue = queue.Queue(maxsize=1)
        self._error = None
        self._cancelled = False
        self._thread = threading.Thread(target=self._run, name="deposit-writer", daemon=True)

    def __enter__(self):
        self._previous_interval = sys.getswitchinterval()
        self._previous_thresholds = gc.get_threshold()
        sys.setswitchinterval(min(SWITCH_INTERVAL, self._previous_interval))
        gc.set_threshold(max(GC_THRESHOLD0, self._previous_thresholds[0]),
                         *self._previous_thresholds[1:])
        self._thread.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc is not None:
                self._cancelled = True  # batches still queued are not written
            self._stop(interrupted=exc is not None and not isinstance(exc, Exception))
        finally:
            sys.setswitchinterval(self._previous_interval)
            gc.set_threshold(*self._previous_thresholds)
        if exc is None:
            self._raise_write_error()
        elif self._is_cause(self._error, exc):
            raise self._error from exc
        return False

    @staticmethod
    def _is_cause(write_error, caller_error):
        """Whether the writer's error, not the caller's, is the one to report.

        A failed write aborts the transaction, so the caller's next statement fails too: the
        write's error is the cause. Not when the write itself only failed because the caller's
        statement had aborted the transaction first, and never in place of an interrupt
        (Ctrl-C, SystemExit)."""
        if write_error is None or write_error is caller_error:
            return False
        if not isinstance(caller_error, Exception):
            return False
        return not isinstance(write_error, InFailedSqlTransaction)

    def submit(self, batch):
        self._raise_write_error()
        self._queue.put(batch)

    def _run(self):
        while True:
            batch = self._queue.get()
            if batch is _DONE:
                return
            if self._error is None and not self._cancelled:
                try:
                    self._write(batch)
                except BaseException as exc:  # handed to the caller's thread
                    self._error = exc

    def _stop(self, interrupted=False):
        """Wait for the writer: it finishes the batch it is writing (it cannot be stopped
        within a statement without aborting the caller's transaction) and skips the rest;
        after an interrupt (Ctrl-C, SIGTERM), also one meanwhile, its writes are cancelled."""
        if not interrupted:
            try:
                self._queue.put(_DONE)
                self._thread.join()
                return
            except BaseException:
                self._stop_interrupted()
                raise
        self._stop_interrupted()

    def _stop_interrupted(self):
        self._cancelled = True
        while True:  # the queue may still hold a batch: the writer skips it, then ends
            self._cancel_write()
            try:
                self._queue.put(_DONE, timeout=0.1)
                break
            except queue.Full:
                if not self._thread.is_alive():
                    break
        # Cancelled again while it runs: a cancel between two statements of a batch is
        # ignored (the session is idle), and the next one could wait on a lock.
        while self._thread.is_alive():
            self._cancel_write()
            self._thread.join(0.5)

    def _cancel_write(self):
        """Cancel the statement the writer runs (the transaction is rolled back anyway)."""
        if self._cancel is not None:
            try:
                self._cancel()
            except Exception:  # noqa: BLE001 (the interrupt is what is reported)
                pass

    def _raise_write_error(self):
        if self._error is not None:
            raise self._error
