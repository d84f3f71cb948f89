"""Test harness: a real PostgreSQL for every test that needs one, never a mock.

If ELLA_TEST_DB_URL is unset, one throwaway cluster is started per test session (per worker
process under pytest-xdist, which `make test` uses): initdb into a temp dir, unix socket only,
a free port; as root it runs as the OS user `postgres`. With ELLA_TEST_DB_URL set (a URL of a
role that may create databases) that server is used instead, shared by the workers.

The schema is built once (make-production) into the template database `ella_test_template`;
each test that asks for `db_url`/`db_conn` gets a fresh database cloned from it, dropped after.
The real ELLA database of tests/data/ is restored once into `ella_test_demo_template` for the
tests that need it (`demo_db_url`).
"""

import atexit
import copy
import fcntl
import gzip
import itertools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from ella.config import load_config
from ella.devdb import Cluster, DevDbError, find_bin_dir
from ella.migrate import migrate

from helpers import pg_client, process_running
from shared_verdicts import SHARED_DIR_VARIABLE

# `bin/ella-watcher` imports a READY folder at its second look (`--settle`, 5 s apart with
# --once): the tests' folders are complete when made, so every run of it here looks once,
# except where a test sets the variable itself (tests/test_watcher.py's settle tests).
os.environ["ELLA_WATCHER_SETTLE"] = "0"

TESTS_DIR = Path(__file__).resolve().parent
DATA_DIR = TESTS_DIR / "data"
DEMO_DUMP = DATA_DIR / "ella-demo-4c2844fef850.sql.gz"


def _bytecode_cache_for_subprocesses():
    """The suite starts hundreds of Python processes (servers, the tools the fork server
    cannot run, the fork servers). With PYTHONDONTWRITEBYTECODE set (some CI images and
    containers set it) each compiled the project's modules from source again, a tenth of a
    second per start. They share one bytecode cache in a temp dir instead
    (PYTHONPYCACHEPREFIX), removed when the run ends: the source tree stays free of .pyc
    files, as the setting asks. Set in the controller before pytest-xdist starts its
    workers, which inherit it."""
    if not os.environ.get("PYTHONDONTWRITEBYTECODE") or os.environ.get("PYTHONPYCACHEPREFIX"):
        return
    cache = tempfile.mkdtemp(prefix="ella-test-pycache-")
    atexit.register(shutil.rmtree, cache, ignore_errors=True)
    del os.environ["PYTHONDONTWRITEBYTECODE"]
    os.environ["PYTHONPYCACHEPREFIX"] = cache


_bytecode_cache_for_subprocesses()


def _directory_shared_by_the_workers():
    """Where tests/shared_verdicts.py keeps answers for every worker of this run: made by the
    controller (or a run without workers), inherited by the workers, removed at the end."""
    if os.environ.get(SHARED_DIR_VARIABLE):
        return
    shared = tempfile.mkdtemp(prefix="ella-test-shared-")
    atexit.register(shutil.rmtree, shared, ignore_errors=True)
    os.environ[SHARED_DIR_VARIABLE] = shared


_directory_shared_by_the_workers()

# `make test` runs the suite in several pytest-xdist worker processes; each worker is a test
# session of its own (its own throwaway cluster). On a given server (ELLA_TEST_DB_URL) the
# workers share it, so the template names carry the worker's id.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
TEMPLATE_DB = f"ella_test_template{'_' + _WORKER if _WORKER else ''}"
DEMO_TEMPLATE_DB = f"ella_test_demo_template{'_' + _WORKER if _WORKER else ''}"
DEMO_DATA_TEMPLATE_DB = f"ella_test_demo_data_template{'_' + _WORKER if _WORKER else ''}"


# A cluster in memory (tmpfs) copies a test's database from its template in a tenth of the
# time it takes on disk (about 9 ms against 64 ms here; the suite creates thousands). Only
# where it has room: a container's /dev/shm is often 64 MB.
FAST_DIR, FAST_DIR_ROOM = Path("/dev/shm"), 4 << 30


def _cluster_parent():
    """Where the throwaway cluster goes: ELLA_TEST_PG_PARENT if set, else /dev/shm when it
    is a writable tmpfs with room, else the system's temp directory (None)."""
    given = os.environ.get("ELLA_TEST_PG_PARENT")
    if given:
        if not os.path.isdir(given):
            pytest.exit(f"ELLA_TEST_PG_PARENT={given!r} is no directory: give an existing "
                        "one for the tests' PostgreSQL cluster", returncode=4)
        return given
    try:
        if os.access(FAST_DIR, os.W_OK) and shutil.disk_usage(FAST_DIR).free >= FAST_DIR_ROOM:
            return str(FAST_DIR)
    except OSError:
        pass
    return None


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_dbname(url, dbname):
    """The same server pointing at another database (a libpq conninfo string)."""
    return make_conninfo(url, dbname=dbname)


class Server:
    def __init__(self, admin_url, copy_files=False):
        self.admin_url = admin_url
        self.copy_files = copy_files
        self._counter = itertools.count()
        self._admin = None
        self._create_suffix = None

    def url(self, dbname):
        return with_dbname(self.admin_url, dbname)

    def admin(self):
        """One autocommit connection for creating and dropping databases, kept open: a test
        creates and drops one, and a connection per statement cost more than the statement."""
        if self._admin is None or self._admin.closed:
            self._admin = psycopg.connect(self.admin_url, autocommit=True)
            # PostgreSQL >= 15 copies a template through the WAL by default, block by block;
            # copying the files is about twice as fast for our small templates. Only in our own
            # throwaway cluster: it runs without fsync, so the checkpoint a file copy needs
            # first costs nothing there (on a given server it might).
            self._create_suffix = sql.SQL(" STRATEGY FILE_COPY") \
                if self.copy_files and self._admin.info.server_version >= 150000 \
                else sql.SQL("")
        return self._admin

    def close(self):
        if self._admin is not None:
            self._admin.close()

    def create(self, dbname, template=None):
        conn = self.admin()
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(dbname)))
        if template:
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(dbname), sql.Identifier(template)) + self._create_suffix)
        else:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
        return self.url(dbname)

    def drop(self, dbname):
        self.admin().execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(dbname)))

    def fresh_name(self, prefix="t"):
        return f"ella_test_{prefix}_{os.getpid()}_{next(self._counter)}"

    @contextmanager
    def throwaway(self, prefix, template=None):
        """The URL of a new database (a copy of `template`), dropped afterwards."""
        name = self.fresh_name(prefix)
        url = self.create(name, template=template)
        try:
            yield url
        finally:
            self.drop(name)


@pytest.fixture(scope="session")
def pg_server():
    given = os.environ.get("ELLA_TEST_DB_URL")
    if given:
        server = Server(given)
        yield server
        server.close()
        return
    parent = _cluster_parent()
    _remove_stale_clusters(parent)
    # Its owner file is locked while this run lives (the kernel lets go of it when the
    # process ends however it ends, which tells another run's sweep, from any PID namespace,
    # that the cluster is stale), and before the directory gets the name sweeps look for.
    made = Path(tempfile.mkdtemp(prefix="." + CLUSTER_PREFIX, dir=parent))
    owner = open(made / OWNER_FILE, "w")
    fcntl.flock(owner, fcntl.LOCK_EX)
    directory = made.with_name(made.name[1:])
    made.rename(directory)
    cluster = Cluster(directory, port=_free_port())
    try:
        cluster.start()
        server = Server(cluster.url("postgres"), copy_files=True)
        try:
            yield server
        finally:
            server.close()
    finally:
        cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)
        owner.close()


CLUSTER_PREFIX, OWNER_FILE = "ella-test-pg-", "owner.lock"


def _remove_stale_clusters(parent):
    """The clusters of runs killed before their teardown (SIGKILL, a machine's OOM killer):
    their servers still ran, and in /dev/shm their files held memory, until a reboot. One
    whose owner file nobody holds locked is stale."""
    for directory in Path(parent or tempfile.gettempdir()).glob(CLUSTER_PREFIX + "*"):
        if not (directory / OWNER_FILE).exists():
            if _left_by_an_earlier_harness(directory):
                _stop_quietly(directory)
                shutil.rmtree(directory, ignore_errors=True)
            continue
        try:
            # (Opened for writing: NFS emulates flock with POSIX locks, which need it.)
            with open(directory / OWNER_FILE, "a") as owner:
                try:
                    fcntl.flock(owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # its run goes on
                _stop_quietly(directory)
                shutil.rmtree(directory, ignore_errors=True)
        except OSError:
            continue  # not of this harness, or not ours to judge


def _stop_quietly(directory):
    """Stop a stale cluster; one pg_ctl cannot read (a data directory half made) has no
    server to stop, and its folder is removed all the same: an error here failed every
    later session's fixture."""
    try:
        Cluster(directory).stop()
    except DevDbError:
        pass


def _left_by_an_earlier_harness(directory):
    """A cluster of the harness before owner locks (an `owner.pid`) whose process is gone,
    where /proc can tell."""
    try:
        pid = int((directory / "owner.pid").read_text())
    except (OSError, ValueError):
        return False
    return os.path.isdir("/proc/self") and not process_running(pid)


def _interrupted(signum, frame):
    raise KeyboardInterrupt


def pytest_configure(config):
    # A SIGTERM (a CI job's time limit, `timeout`, systemd) ends the run as Ctrl-C does, so
    # the session's teardown stops its cluster: by default the process died and left the
    # server running (pg_ctl starts it in a session of its own).
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupted)
    # A run started in the background of a non-interactive shell (`pytest &` in a script)
    # inherits SIGINT ignored, and so would every tool it starts: the tests of what Ctrl-C
    # does would then test nothing and fail (no KeyboardInterrupt, a child never stopping).
    # They test the tools as a terminal or a service manager starts them.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def ella_config():
    return load_config(environ={})


@pytest.fixture(scope="session")
def template_db(pg_server, ella_config):
    url = pg_server.create(TEMPLATE_DB)
    with psycopg.connect(url) as conn:
        migrate(conn, ella_config, echo=lambda *_: None)
    yield TEMPLATE_DB
    pg_server.drop(TEMPLATE_DB)  # on a given server, leave nothing behind


@pytest.fixture
def db_url(pg_server, template_db):
    with pg_server.throwaway("db", template_db) as url:
        yield url


@pytest.fixture
def db_conn(db_url):
    with psycopg.connect(db_url) as conn:
        yield conn


@pytest.fixture
def empty_db_url(pg_server):
    with pg_server.throwaway("empty") as url:
        yield url


@pytest.fixture(scope="session")
def demo_data_template_db(pg_server, template_db, ella_config):
    """Our schema with `make run`'s demo data (panels, groups, users, filter configs, the
    test analyses): loading it takes seconds, copying the template a fraction of one."""
    from ella.demo import load_demo
    url = pg_server.create(DEMO_DATA_TEMPLATE_DB, template=template_db)
    with psycopg.connect(url) as conn:
        load_demo(conn, ella_config, echo=lambda *_: None)
        conn.commit()
    yield DEMO_DATA_TEMPLATE_DB
    pg_server.drop(DEMO_DATA_TEMPLATE_DB)


@pytest.fixture
def demo_data_db_url(pg_server, demo_data_template_db):
    """A fresh database with the demo data loaded (a copy of `demo_data_template_db`)."""
    with pg_server.throwaway("demodata", demo_data_template_db) as url:
        yield url


@pytest.fixture(scope="session")
def demo_template_db(pg_server):
    """The real ELLA demo database (ELLA's own rows), restored once."""
    url = pg_server.create(DEMO_TEMPLATE_DB)
    with gzip.open(DEMO_DUMP, "rb") as dump:
        result = subprocess.run([pg_client("psql"), "-q", "-v", "ON_ERROR_STOP=1", "-d", url],
                                input=dump.read(), capture_output=True)
    if result.returncode != 0:
        raise RuntimeError("restoring the ELLA demo dump failed: "
                           + result.stderr.decode(errors="replace")[-500:])
    yield DEMO_TEMPLATE_DB
    pg_server.drop(DEMO_TEMPLATE_DB)


@pytest.fixture
def demo_db_url(pg_server, demo_template_db):
    with pg_server.throwaway("demo", demo_template_db) as url:
        yield url


@pytest.fixture
def api_app(db_url, ella_config):
    """The WSGI app on a fresh database (config: the shipped default)."""
    from ella.web.app import create_app
    app = create_app(ella_config, {"DB_URL": db_url, "COOKIE_SECURE": False})
    yield app
    app._drop_connection()


@pytest.fixture
def adopted_demo_db_url(demo_db_url, ella_config):
    """The real ELLA database after `ella-db adopt` (the same database as `demo_db_url`'s)."""
    from ella.migrate import adopt
    with psycopg.connect(demo_db_url) as conn:
        adopt(conn, ella_config, echo=lambda *_: None)
    return demo_db_url


@pytest.fixture
def demo_api_app(adopted_demo_db_url, ella_config):
    """The WSGI app on the real ELLA database (adopted)."""
    from ella.web.app import create_app
    app = create_app(ella_config, {"DB_URL": adopted_demo_db_url, "COOKIE_SECURE": False})
    yield app
    app._drop_connection()


@pytest.fixture(scope="module")
def shared_demo_api(pg_server, demo_template_db, ella_config):
    """(app, db_url) on one adopted copy of the real ELLA database shared by a whole test
    module: for read-only route sweeps where a fresh copy per test would cost minutes."""
    from ella.migrate import adopt
    from ella.web.app import create_app
    name = pg_server.fresh_name("shared")
    url = pg_server.create(name, template=demo_template_db)
    with psycopg.connect(url) as conn:
        adopt(conn, ella_config, echo=lambda *_: None)
    app = create_app(ella_config, {"DB_URL": url, "COOKIE_SECURE": False})
    yield app, url
    app._drop_connection()
    pg_server.drop(name)


@pytest.fixture
def watch_dirs(tmp_path, db_url):
    """(incoming, dest): an analyses watcher's two empty directories; panels deposited."""
    from deposit_helpers import add_test_panels
    add_test_panels(db_url)
    incoming, dest = tmp_path / "incoming", tmp_path / "dest"
    incoming.mkdir()
    dest.mkdir()
    return incoming, dest


@pytest.fixture
def migrations_copy(tmp_path):
    """A copy of the shipped migration files, to add to or edit."""
    from ella.db import MIGRATIONS_DIR
    target = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, target)
    return target


@pytest.fixture
def storage(tmp_path):
    """An empty attachment storage directory."""
    root = tmp_path / "attachments"
    root.mkdir()
    return root


@pytest.fixture
def attach_app(db_url, ella_config):
    """build(storage_dir, max_upload_size=None): the WSGI app with that attachment storage
    (None: none) and upload limit; every app built is closed afterwards."""
    from ella.web.app import create_app
    apps = []

    def build(storage_dir, max_upload_size=None):
        config = copy.deepcopy(ella_config)
        config["app"]["attachment_storage"] = str(storage_dir) if storage_dir else None
        if max_upload_size is not None:
            config["app"]["max_upload_size"] = max_upload_size
        app = create_app(config, {"DB_URL": db_url, "COOKIE_SECURE": False})
        apps.append(app)
        return app

    yield build
    for app in apps:
        app._drop_connection()


@pytest.fixture
def igv_analysis(demo_db_url):
    """(id, name) of an HBOC/HBOCUTV analysis (testgroup01's panels)."""
    with psycopg.connect(demo_db_url) as conn:
        return conn.execute("SELECT id, name FROM analysis WHERE genepanel_name IN "
                            "('HBOC', 'HBOCUTV') ORDER BY id LIMIT 1").fetchone()


@pytest.fixture
def service():
    """A running FakeAnnotationService (tests/annotation_service.py), stopped afterwards."""
    from annotation_service import FakeAnnotationService
    fake = FakeAnnotationService().start()
    yield fake
    fake.stop()


@pytest.fixture
def config(ella_config, service):
    """A copy of the shipped config whose annotation service is `service`."""
    config = copy.deepcopy(ella_config)
    config["app"]["annotation_service"] = service.url
    return config


@pytest.fixture
def user_id(db_url):
    """Id of user 'importer' (group 'importgroup', panel HBOC v01); test panels deposited."""
    from api_helpers import add_user
    from deposit_helpers import add_test_panels
    add_test_panels(db_url)
    return add_user(db_url, "importer", "importgroup", panels=[("HBOC", "v01")])


@pytest.fixture
def cluster_parent():
    """A folder in the system's temp directory others may pass through (the cluster's owner,
    postgres, must reach it when we are root; pytest's tmp_path is closed to others), for
    tests that start clusters of their own; the clusters left running anywhere in it are
    stopped at the end, whoever runs them."""
    parent = Path(tempfile.mkdtemp(prefix="ella-devdb-test-"))
    parent.chmod(0o755)
    yield parent
    for pid_file in parent.glob("**/data/postmaster.pid"):
        subprocess.run([str(find_bin_dir() / "pg_ctl"), "-D", str(pid_file.parent), "-m",
                        "immediate", "stop"], capture_output=True,
                       user=pid_file.parent.stat().st_uid if os.geteuid() == 0 else None)
    shutil.rmtree(parent, ignore_errors=True)
