"""The service when its PostgreSQL misbehaves: a connection the server closed while idle, a
lock held elsewhere for long, a server that never answers, an outage under the poller, and
what the logs say about them."""

import copy
import logging
import socket
import threading

import psycopg
import psycopg.conninfo

import ella.db as db_module
from api_client import Client
from api_helpers import add_user, logged_in_client
from ella.db import DatabaseError, api_wait_limits, connect, limit_waits
from ella.polling import Poller, backoff
from ella.watcher import Watcher
from deposit_helpers import copy_test_analysis
from helpers import wait_for_lock_wait
from annotation_service import closed_port_url


def _terminate(db_url, application_name):
    with psycopg.connect(db_url, autocommit=True) as admin:
        return admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                             "WHERE application_name = %s AND datname = current_database()",
                             (application_name,)).fetchone()[0]


def test_a_connection_the_server_closed_while_idle_is_replaced(api_app, db_url, caplog):
    """A restart, a failover, pg_terminate_backend or an idle timeout of the site closes a
    worker's idle connection; the next request got 503 "database not available" on a
    working database."""
    client = Client(api_app)
    assert client.get("/api/v1/health/").status == 200
    assert _terminate(db_url, "ella-api") == 1
    caplog.set_level(logging.WARNING, logger="ella.api")
    assert [client.get("/api/v1/health/").status for _ in range(3)] == [200, 200, 200]
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == [
        "the database closed this worker's connection"]


def test_a_request_that_waits_too_long_for_a_lock_is_a_503_and_keeps_its_connection(
        db_url, ella_config):
    """A DBA's `LOCK TABLE` held every worker until gunicorn killed it (500 s, an HTML 500).
    The API's statements now wait at most a third of the worker timeout (here 3 s: 1 s)
    for a lock, and the answer says the database is busy."""
    from ella.web.app import create_app
    app = create_app(ella_config, {"DB_URL": db_url, "COOKIE_SECURE": False,
                                   "GUNICORN_TIMEOUT": 3})
    try:
        add_user(db_url, "waiter", "waitgroup")
        client = logged_in_client(app, db_url, "waiter")
        outcome = {}
        with psycopg.connect(db_url) as dba:
            dba.execute("LOCK TABLE usersession IN ACCESS EXCLUSIVE MODE")
            thread = threading.Thread(target=lambda: outcome.update(
                answer=client.get("/api/v1/users/currentuser/")))
            thread.start()
            thread.join(20)
            assert not thread.is_alive(), "the request still waits for the lock"
        assert outcome["answer"].status == 503
        assert outcome["answer"].json["message"].startswith("The database is busy")
        assert client.get("/api/v1/users/currentuser/").status == 200
        with psycopg.connect(db_url) as conn:
            assert conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name "
                                "= 'ella-api' AND datname = current_database()"
                                ).fetchone() == (1,)  # the same connection, not a new one
    finally:
        app._drop_connection()


def test_the_wait_limits_follow_the_worker_timeout_and_leave_the_sites_own(db_url):
    assert api_wait_limits(500) == api_wait_limits(0) == {"lock_timeout": "30s",
                                                          "statement_timeout": "240s"}
    assert api_wait_limits(60) == {"lock_timeout": "20s", "statement_timeout": "30s"}
    with connect(db_url) as conn:
        limit_waits(conn, {"lock_timeout": "7s", "statement_timeout": "8s"})
        assert [conn.execute(f"SHOW {name}").fetchone()[0]
                for name in ("lock_timeout", "statement_timeout")] == ["7s", "8s"]
    # The site's own values stay, 0 (no limit, set on purpose) too.
    site = psycopg.conninfo.make_conninfo(
        db_url, options="-c lock_timeout=2s -c statement_timeout=0")
    with connect(site) as conn:
        limit_waits(conn, {"lock_timeout": "7s", "statement_timeout": "8s"})
        assert [conn.execute(f"SHOW {name}").fetchone()[0]
                for name in ("lock_timeout", "statement_timeout")] == ["2s", "0"]


def test_a_server_that_never_answers_is_given_up_after_the_connect_timeout(tmp_path,
                                                                          monkeypatch):
    """A hung server (or a half-dead failover target) took each connection 130 s, psycopg's
    default: every API worker, and each poll of the loops, waited that long."""
    monkeypatch.setattr(db_module, "CONNECT_TIMEOUT", 1)
    with socket.socket(socket.AF_UNIX) as mute:
        mute.bind(str(tmp_path / ".s.PGSQL.5432"))
        mute.listen(8)
        outcome = {}

        def attempt():
            try:
                connect(f"postgresql:///ella?host={tmp_path}&port=5432&user=x")
            except DatabaseError as exc:
                outcome["error"] = str(exc)
        thread = threading.Thread(target=attempt)
        thread.start()
        thread.join(20)
        assert not thread.is_alive(), "still connecting"
    assert outcome["error"].startswith("cannot connect to the database:")
    # A timeout given in DB_URL, PGCONNECT_TIMEOUT or a service file is the site's (libpq
    # reads the file after a keyword of ours would outrank it).
    keepalives = db_module.KEEPALIVES
    assert db_module._connect_timeout("postgresql:///ella?connect_timeout=3") == keepalives
    assert db_module._connect_timeout("service=ella") == {}
    monkeypatch.setenv("PGSERVICE", "ella")
    assert db_module._connect_timeout("postgresql:///ella") == {}
    monkeypatch.delenv("PGSERVICE")
    assert db_module._connect_timeout("postgresql:///ella") == {"connect_timeout": 1,
                                                                **keepalives}


def test_a_connection_over_the_network_has_keepalives_of_minutes(db_url):
    """libpq's keepalives follow the system's (two hours idle): a server gone without a word
    (a partition, a host powered off) held the watcher or the poller mid-statement for
    hours. DB_URL's own keepalive settings are the site's."""
    with connect(db_url) as conn:
        given = conn.info.get_parameters()
    assert {key: given[key] for key in db_module.KEEPALIVES} == {
        "keepalives": "1", "keepalives_idle": "60", "keepalives_interval": "10",
        "keepalives_count": "6", "tcp_user_timeout": "120000"}
    assert "keepalives_idle" not in db_module._connect_timeout(
        "postgresql:///ella?keepalives_idle=300")


def test_the_watchers_lost_connection_entry_is_one_line(db_url, ella_config, watch_dirs,
                                                          caplog):
    """The server's message for a terminated session quotes the statement on two more lines
    (`LINE 1: ...` and a caret), which the log took as they were."""
    incoming, dest = watch_dirs
    copy_test_analysis(incoming / "Lost-1", "Lost-1")
    watcher = Watcher(db_url, ella_config, incoming, dest)
    caplog.set_level(logging.INFO)
    with psycopg.connect(db_url) as dba:
        dba.execute("LOCK TABLE analysis IN ACCESS EXCLUSIVE MODE")
        thread = threading.Thread(target=watcher.poll)
        thread.start()
        wait_for_lock_wait(db_url, "ella-watcher")
        assert _terminate(db_url, "ella-watcher") == 1
    thread.join(60)
    failed = [r.getMessage() for r in caplog.records if "database failed" in r.getMessage()]
    assert len(failed) == 1 and "\n" not in failed[0], failed
    assert watcher.poll() == ["Lost-1"]  # the next poll imports it


def test_the_poller_backs_off_while_the_database_is_down(ella_config):
    """An outage logged an error every poll interval (720 lines an hour); the waits now
    double up to the maximum back-off, as for the annotation service."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = copy.deepcopy(ella_config)
    config["app"]["annotation_service"] = closed_port_url()  # never reached
    poller = Poller(f"postgresql://x@127.0.0.1:{port}/ella", config, interval=0.05,
                    max_backoff=0.2)

    class FirstFive(logging.Handler):
        messages = []

        def emit(self, record):
            self.messages.append(record.getMessage())
            if len(self.messages) >= 5:
                poller.stopping = True
    handler = FirstFive(logging.ERROR)
    logger = logging.getLogger("ella.polling")
    logger.addHandler(handler)
    try:
        poller.run()  # in the main thread: it handles SIGTERM
    finally:
        logger.removeHandler(handler)
    waits = [message.rsplit("retrying in ", 1)[1] for message in handler.messages]
    assert waits == ["0.05 s", "0.1 s", "0.2 s", "0.2 s", "0.2 s"]
    # Days of it: 2 ** 1024 is no float (an OverflowError ended the loop).
    assert backoff(5, 5000, 300) == 300
    assert all("\n" not in message for message in handler.messages)
