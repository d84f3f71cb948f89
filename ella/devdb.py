"""An embedded PostgreSQL cluster for development, `make run` and the tests.

initdb + pg_ctl into a directory of ours, listening only on a unix socket inside that
directory (no TCP, no root-owned server). PostgreSQL refuses to run as root, so when we are
root (CI, containers) the cluster belongs to the unprivileged OS user `postgres` (created by the
OS package) and its commands run through `runuser`.

    python -m ella.devdb start DIR      # prints the DB_URL of database "ella"
    python -m ella.devdb stop DIR
    python -m ella.devdb url DIR
"""

import glob
import os
import pwd
import shlex
import shutil
import subprocess
import sys
import urllib.parse
from pathlib import Path

DEFAULT_DB = "ella"
SUPERUSER = "postgres"


class DevDbError(Exception):
    pass


def find_bin_dir():
    """Directory holding initdb/pg_ctl/postgres/psql: PATH first, then Debian's layout."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(os.path.realpath(on_path)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if candidates:
        return Path(candidates[-1]).parent
    raise DevDbError("PostgreSQL server binaries (initdb, pg_ctl) not found: install them "
                     "(Debian/Ubuntu: apt-get install postgresql) or set DB_URL to an existing "
                     "database")


def _run_as_owner(owner=SUPERUSER):
    """Prefix for commands that must not run as root: as root, they run as the cluster's
    owner (the OS user postgres for one root made)."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(owner)
    except KeyError as exc:
        raise DevDbError(f"running as root, and there is no OS user {owner!r} to own the "
                         "cluster (the postgresql package creates 'postgres')") from exc
    return ["runuser", "-u", owner, "--"]


def _owner_ids():
    if os.geteuid() != 0:
        return None
    entry = pwd.getpwnam(SUPERUSER)
    return entry.pw_uid, entry.pw_gid


# A Unix socket's path holds at most 107 bytes (sun_path less its NUL).
MAX_SOCKET_PATH = 107


class Cluster:
    def __init__(self, directory, port=5432):
        self.directory = Path(directory).resolve()
        try:
            str(self.directory).encode("utf-8")
        except UnicodeEncodeError:  # (a Latin-1 name: a traceback, also in psycopg's URL)
            raise DevDbError(f"the cluster's directory {os.fsencode(self.directory)!r} is no "
                             "UTF-8 text, which connection strings must be: use another "
                             "directory") from None
        self.data = self.directory / "data"
        self.socket_dir = self.directory  # the socket file lives beside the data directory
        self.port = port
        self.bin = find_bin_dir()

    def _owner(self):
        """The OS user whose cluster this is: its data directory's owner (a developer's own
        cluster, reached by root as theirs), or postgres for a new one made by root."""
        try:
            uid = self.data.stat().st_uid
        except FileNotFoundError:
            return SUPERUSER
        except OSError as exc:
            raise DevDbError(f"cannot reach the cluster in {self.directory}: "
                             f"{exc.strerror or exc}") from None
        try:
            name = pwd.getpwuid(uid).pw_name
        except KeyError:
            return SUPERUSER
        return SUPERUSER if uid == 0 else name

    def _cmd(self, name, *args):
        return _run_as_owner(self._owner()) + [str(self.bin / name), *args]

    def url(self, dbname=DEFAULT_DB):
        host = urllib.parse.quote(str(self.socket_dir))  # (a space, a `&` in the path)
        return f"postgresql:///{dbname}?host={host}&port={self.port}&user={SUPERUSER}"

    def _foreign(self):
        """Why this account cannot manage the cluster, or None."""
        owner = self._owner()
        if os.geteuid() == 0:
            return None
        try:
            if owner == pwd.getpwuid(os.geteuid()).pw_name:
                return None
        except KeyError:  # an account without a name (a container's bare uid)
            pass
        return (f"the cluster in {self.directory} belongs to the OS user {owner}: run this "
                f"as {'root' if owner == SUPERUSER else owner}")

    def is_running(self):
        try:
            if not (self.data / "postmaster.pid").exists():
                return False
        except PermissionError:  # another account's data directory (0700)
            raise DevDbError(self._foreign() or f"cannot read {self.data}") from None
        result = subprocess.run(self._cmd("pg_ctl", "-D", str(self.data), "status"),
                                capture_output=True, text=True, errors="replace")
        if result.returncode not in (0, 3):  # 3: not running; 4: the directory unreadable
            raise DevDbError(self._foreign() or "pg_ctl status: " + " ".join(
                result.stderr.split()[:40]))
        return result.returncode == 0

    def running_port(self):
        """The port the running server listens on (line 4 of postmaster.pid), or None."""
        try:
            lines = (self.data / "postmaster.pid").read_text(errors="replace").splitlines()
            return int(lines[3])
        except (OSError, IndexError, ValueError):
            return None

    def init(self):
        try:
            if (self.data / "PG_VERSION").exists():
                return False
        except PermissionError:  # another account's data directory (0700)
            raise DevDbError(self._foreign() or f"cannot read {self.data}") from None
        self.directory.mkdir(parents=True, exist_ok=True)
        ids = _owner_ids()
        if ids:
            os.chown(self.directory, *ids)
            # runuser'd commands must be able to reach the directory: a parent others may
            # not pass through is opened to them (o+x, no listing), and said.
            os.chmod(self.directory, 0o755)
            parent = self.directory.parent
            while parent != parent.parent:
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    os.chmod(parent, mode | 0o001)
                    print(f"note: {parent} may now be passed through by every account "
                          f"(o+x), so that the OS user {SUPERUSER} reaches its cluster",
                          file=sys.stderr)
                parent = parent.parent
        result = subprocess.run(
            self._cmd("initdb", "-D", str(self.data), "-U", SUPERUSER, "-A", "trust",
                      "-E", "UTF8", "--locale=C.UTF-8"),
            capture_output=True, text=True, errors="replace")
        if result.returncode != 0:
            raise DevDbError("initdb failed: " + (result.stderr.strip().splitlines() or ["?"])[-1])
        return True

    def start(self):
        socket = os.fsencode(self.socket_dir / f".s.PGSQL.{self.port}")
        if len(socket) > MAX_SOCKET_PATH:
            # PostgreSQL's own line for it is lost in the log's tail below.
            raise DevDbError(f"the cluster's directory {self.directory} is too long a path: "
                             f"its socket's ({len(socket)} bytes) must fit in "
                             f"{MAX_SOCKET_PATH}; use a shorter directory")
        self.init()
        if self.is_running():
            running = self.running_port()
            if running not in (None, self.port):
                # Its URL on the port asked for reached nothing (a traceback, then DB_URLs
                # nobody listened on).
                raise DevDbError(f"the cluster in {self.directory} runs on port {running}, "
                                 f"not {self.port}: stop it first (make db-stop) or use "
                                 f"port {running}")
            return False
        # The socket is the owner's alone: the cluster trusts whoever reaches it (initdb -A
        # trust), as the superuser, so another local account must not reach it.
        # pg_ctl hands these to postgres through the shell: the directory quoted (a path with
        # a space was split there, and the server did not start).
        options = (f"-k {shlex.quote(str(self.socket_dir))} -p {self.port} "
                   "-c listen_addresses='' -c unix_socket_permissions=0700 -c fsync=off "
                   "-c full_page_writes=off")
        result = subprocess.run(
            self._cmd("pg_ctl", "-D", str(self.data), "-o", options,
                      "-l", str(self.directory / "postgres.log"), "-w", "-t", "60", "start"),
            capture_output=True, text=True, errors="replace")
        if result.returncode != 0:
            log = self.directory / "postgres.log"
            tail = log.read_text(errors="replace").strip().splitlines()[-3:] if log.exists() else []
            raise DevDbError("PostgreSQL did not start: " + " | ".join(tail or [result.stderr]))
        return True

    def stop(self):
        if not self.is_running():
            return False
        result = subprocess.run(
            self._cmd("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop"),
            capture_output=True, text=True, errors="replace")
        if result.returncode != 0:
            raise DevDbError("pg_ctl stop: " + " ".join(result.stderr.split()[:40]))
        return True

    def create_database(self, dbname=DEFAULT_DB):
        """CREATE DATABASE if missing; returns True when created."""
        import psycopg
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                  (dbname,)).fetchone()
            if exists:
                return False
            from psycopg import sql
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
            return True


def _port(text):
    """The cluster's port: 5432 when not given (an empty variable counts as not given)."""
    if text is None or not text.strip():
        return 5432
    if not (text.strip().isascii() and text.strip().isdigit()) or not 1 <= int(text) <= 65535:
        raise DevDbError(f"the port must be a number from 1 to 65535 (ELLA_DEVDB_PORT or "
                         f"PGPORT), not {text!r}")
    return int(text)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 2 or argv[0] not in ("start", "stop", "url"):
        print("usage: python -m ella.devdb start|stop|url DIR [PORT]", file=sys.stderr)
        return 2
    try:
        port = _port(argv[2] if len(argv) > 2 else os.environ.get("ELLA_DEVDB_PORT"))
        cluster = Cluster(argv[1], port=port)
        if argv[0] == "start":
            started = cluster.start()
            cluster.create_database()
            print(f"embedded PostgreSQL {'started' if started else 'already running'} in "
                  f"{cluster.directory}", file=sys.stderr)
            print(cluster.url())
        elif argv[0] == "stop":
            stopped = cluster.stop()
            print("stopped" if stopped else "not running", file=sys.stderr)
        else:
            running = cluster.is_running() and cluster.running_port()
            print(Cluster(argv[1], port=running).url() if running else cluster.url())
    except DevDbError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
