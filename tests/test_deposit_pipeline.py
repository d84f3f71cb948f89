"""WritePipeline (ella/deposit/pipeline.py): batches written in order in a second thread, the
first write error reported to the caller, and the writer always stopped before the caller's
`with` block is left. The deposits that use it are tested with a real database in
test_deposit_bulk_annotation.py; these tests pin the threading contract itself."""

import gc
import sys
import threading
import time

import pytest
from psycopg.errors import InFailedSqlTransaction

from ella.deposit.pipeline import WritePipeline


class WriteFailed(Exception):
    pass


def test_every_batch_is_written_in_order_in_another_thread():
    written, threads = [], set()

    def write(batch):
        threads.add(threading.get_ident())
        time.sleep(0.001)  # slower than the caller: submit has to wait for a free slot
        written.append(batch)

    with WritePipeline(write) as pipeline:
        for batch in range(50):
            pipeline.submit(batch)
    # Leaving the block waited for the last write.
    assert written == list(range(50))
    assert threads and threading.get_ident() not in threads


def test_a_write_error_is_raised_at_a_following_submit_and_stops_the_writes():
    written = []

    def write(batch):
        if batch == 2:
            raise WriteFailed("batch 2 refused")
        written.append(batch)

    submitted = []
    with pytest.raises(WriteFailed, match="batch 2 refused"):
        with WritePipeline(write) as pipeline:
            for batch in range(2000):
                pipeline.submit(batch)
                submitted.append(batch)
                time.sleep(0.001)
    # The caller learnt of it long before submitting everything; nothing after batch 2 was
    # written.
    assert 2 <= submitted[-1] < 1999
    assert written == [0, 1]


def test_an_error_in_the_last_write_is_raised_when_the_block_ends():
    def write(batch):
        if batch == "last":
            raise WriteFailed("the last batch")

    with pytest.raises(WriteFailed, match="the last batch"):
        with WritePipeline(write) as pipeline:
            pipeline.submit("first")
            pipeline.submit("last")


def test_a_caller_error_waits_for_the_running_write_and_cancels_the_queued_one():
    started, finished = threading.Event(), []

    def write(batch):
        started.set()
        time.sleep(0.2)
        finished.append(batch)

    with pytest.raises(ValueError, match="caller"):
        with WritePipeline(write) as pipeline:
            pipeline.submit("running")
            started.wait(5)
            pipeline.submit("queued")
            raise ValueError("caller")
    # The write that was running when the caller failed had finished before the error got
    # out (nothing uses the connection after the block); the queued one was never written.
    assert finished == ["running"]


def test_a_write_error_is_reported_rather_than_the_callers_consequence():
    """A failed write aborts the transaction, so the caller's next statement fails too; the
    write's error is the one that explains what went wrong."""
    write_failed = threading.Event()

    def write(batch):
        write_failed.set()
        raise WriteFailed("the cause")

    with pytest.raises(WriteFailed, match="the cause") as raised:
        with WritePipeline(write) as pipeline:
            pipeline.submit(1)
            write_failed.wait(5)
            raise RuntimeError("current transaction is aborted")
    assert isinstance(raised.value.__cause__, RuntimeError)


def test_the_callers_error_is_kept_when_the_write_failed_only_because_of_it():
    """The caller's statement fails first (say a timeout) and aborts the transaction; the
    writer's next statement then fails with InFailedSqlTransaction. That is a consequence:
    the caller's error is the one reported."""
    def write(batch):
        raise InFailedSqlTransaction("current transaction is aborted")

    with pytest.raises(TimeoutError, match="prefilter read timed out"):
        with WritePipeline(write) as pipeline:
            pipeline.submit(1)
            raise TimeoutError("prefilter read timed out")


def test_an_interrupt_is_never_replaced_by_a_write_error():
    write_failed = threading.Event()

    def write(batch):
        write_failed.set()
        raise WriteFailed("the write")

    with pytest.raises(KeyboardInterrupt):
        with WritePipeline(write) as pipeline:
            pipeline.submit(1)
            write_failed.wait(5)
            raise KeyboardInterrupt


def test_the_switch_interval_and_gc_thresholds_are_put_back():
    before = sys.getswitchinterval(), gc.get_threshold()
    with WritePipeline(lambda batch: None) as pipeline:
        assert sys.getswitchinterval() <= 0.0005
        assert gc.get_threshold()[0] >= 50_000
        pipeline.submit(1)
    assert (sys.getswitchinterval(), gc.get_threshold()) == before

    def refuse(batch):
        raise WriteFailed()

    with pytest.raises(WriteFailed):
        with WritePipeline(refuse) as pipeline:
            pipeline.submit(1)
    assert (sys.getswitchinterval(), gc.get_threshold()) == before


def test_an_interrupt_cancels_the_writers_statements_also_between_two(db_url):
    """Ctrl-C or SIGTERM: the writer's statement, which may wait for a lock as long as
    another session holds it, is cancelled; also when the interrupt comes between two
    statements of a batch (a cancel then is ignored, the session being idle)."""
    import psycopg
    with psycopg.connect(db_url, autocommit=True) as setup:
        setup.execute("CREATE TABLE pipeline_lock_target (x int)")
    blocker = psycopg.connect(db_url)
    blocker.execute("LOCK TABLE pipeline_lock_target IN ACCESS EXCLUSIVE MODE")
    release = threading.Timer(30, blocker.close)  # a failing test fails, not hangs
    release.start()
    conn = psycopg.connect(db_url)
    cur = conn.cursor()
    between = threading.Event()

    def write(batch):
        cur.execute("SELECT 1")
        between.set()
        time.sleep(1.0)  # converting the next statement's rows
        cur.execute("INSERT INTO pipeline_lock_target VALUES (1)")

    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            with WritePipeline(write, cancel=conn.cancel_safe) as pipeline:
                pipeline.submit(object())
                between.wait(10)
                raise KeyboardInterrupt
        assert time.monotonic() - started < 10
    finally:
        release.cancel()
        blocker.close()
        conn.close()
