"""The embedded cluster of `make run` (ella/devdb.py): its port setting, and that no other
local account reaches it."""

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from ella.devdb import Cluster, find_bin_dir, main
from helpers import ROOT


@pytest.mark.parametrize("value, port", [(None, 5432), ("", 5432), (" ", 5432),
                                         ("55433", 55433)])
def test_port_from_the_environment(monkeypatch, capsys, tmp_path, value, port):
    if value is None:
        monkeypatch.delenv("ELLA_DEVDB_PORT", raising=False)
    else:
        monkeypatch.setenv("ELLA_DEVDB_PORT", value)
    assert main(["url", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip().endswith(f"port={port}&user=postgres")


@pytest.mark.parametrize("value", ["abc", "0", "70000", "-1", "5\u00b2"])
def test_a_bad_port_is_one_line(monkeypatch, capsys, tmp_path, value):
    monkeypatch.setenv("ELLA_DEVDB_PORT", value)
    assert main(["url", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: the port must be a number from 1 to 65535") and \
        err.count("\n") == 1 and repr(value) in err


def test_make_uses_ella_devdb_port_unless_pgport_is_given():
    def planned(*args, **env):
        result = subprocess.run(["make", "-n", "db-url", *args], cwd=ROOT, text=True,
                                capture_output=True, env={**os.environ, **env})
        assert result.returncode == 0, result.stderr
        return result.stdout
    assert "ELLA_DEVDB_PORT=55555 " in planned(ELLA_DEVDB_PORT="55555")
    assert "ELLA_DEVDB_PORT=55666 " in planned("PGPORT=55666", ELLA_DEVDB_PORT="55555")


def _need_nobody():
    """Skip unless this test can act as another local account (root, runuser, `nobody`)."""
    if os.geteuid() != 0 or not shutil.which("runuser"):
        pytest.skip("needs root to act as another local account")
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no OS user nobody")


def test_no_other_local_account_reaches_the_cluster():
    """The cluster trusts whoever reaches its socket, as the superuser: only its owner may."""
    _need_nobody()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Not under pytest's tmp_path: another pytest run resets its root to 0700, and the
    # cluster's owner (postgres) could then no longer reach the directory.
    directory = Path(tempfile.mkdtemp(prefix="ella-devdb-test-"))
    directory.chmod(0o755)
    cluster = Cluster(directory / "pg", port=port)
    cluster.start()
    try:
        psql = str(find_bin_dir() / "psql")
        query = ["-X", "-Atc", "SELECT 1", cluster.url("postgres")]
        outsider = subprocess.run(["runuser", "-u", "nobody", "--", psql, *query],
                                  capture_output=True, text=True, timeout=60)
        assert outsider.returncode != 0 and "Permission denied" in outsider.stderr
        owner = subprocess.run([psql, *query], capture_output=True, text=True, timeout=60)
        assert owner.returncode == 0 and owner.stdout.strip() == "1", owner.stderr
    finally:
        cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _devdb(*args, port, user=None):
    """`python -m ella.devdb ...`, as this account or (root only) as `user`."""
    command = [str(ROOT / ".venv" / "bin" / "python"), "-m", "ella.devdb", *args]
    if user:
        # Another account cannot use this venv's interpreter (under root's home): the
        # system's, with the project and the venv's packages on its path.
        site = next((ROOT / ".venv" / "lib").glob("python3*/site-packages"))
        command = ["runuser", "-u", user, "--", "env", f"PYTHONPATH={ROOT}:{site}",
                   "python3", "-m", "ella.devdb", *args]
    env = {**os.environ, "ELLA_DEVDB_PORT": str(port)}
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env,
                          timeout=120)


def test_start_on_another_port_than_the_running_cluster_is_one_line(cluster_parent):
    """`make run` then `make run PGPORT=...` on the same var/pg: "already running", then a
    psycopg traceback (no socket on the new port), and `url` a DB_URL nobody listens on."""
    pg, port, other = cluster_parent / "pg", _free_port(), _free_port()
    assert _devdb("start", str(pg), port=port).returncode == 0
    again = _devdb("start", str(pg), port=other)
    assert (again.returncode, again.stderr) == (1, (
        f"error: the cluster in {pg} runs on port {port}, not {other}: stop it first (make "
        f"db-stop) or use port {port}\n"))
    url = _devdb("url", str(pg), port=other).stdout.strip()
    assert url == Cluster(pg, port=port).url()
    assert _devdb("stop", str(pg), port=other).stderr == "stopped\n"


def _as_nobody():
    _need_nobody()
    site = next((ROOT / ".venv" / "lib").glob("python3*/site-packages"))
    if subprocess.run(["runuser", "-u", "nobody", "--", "env", f"PYTHONPATH={ROOT}:{site}",
                       "python3", "-c", "import psycopg, ella.devdb"],
                      capture_output=True, cwd="/").returncode != 0:
        pytest.skip("the system's python3 cannot run the project as another account")


def test_root_manages_a_developers_cluster_as_its_owner(cluster_parent):
    """A developer's own cluster, then `sudo make run` / `sudo make db-stop`: root ran
    pg_ctl as postgres, which cannot read the developer's data directory: `stop` said "not
    running" (exit 0) and the server went on; `start` said "did not start" with the running
    server's log. Root now acts as the cluster's owner."""
    _as_nobody()
    pg = cluster_parent / "pg"
    pg.mkdir()
    shutil.chown(pg, "nobody")
    started = _devdb("start", str(pg), port=_free_port(), user="nobody")
    assert started.returncode == 0, started.stderr
    port = Cluster(pg).running_port()
    again = _devdb("start", str(pg), port=port)
    assert (again.returncode, again.stderr) == (0, f"embedded PostgreSQL already running in "
                                                   f"{pg}\n")
    stopped = _devdb("stop", str(pg), port=port)
    assert (stopped.returncode, stopped.stderr) == (0, "stopped\n")
    assert not (pg / "data" / "postmaster.pid").exists()


def test_a_developers_stop_of_roots_cluster_is_one_line(cluster_parent):
    """`sudo make run`, then `make db-stop` as a developer: a PermissionError traceback."""
    _as_nobody()
    pg, port = cluster_parent / "pg", _free_port()
    assert _devdb("start", str(pg), port=port).returncode == 0
    for command in ("stop", "start"):  # (start read PG_VERSION first: a traceback)
        result = _devdb(command, str(pg), port=port, user="nobody")
        assert (result.returncode, result.stderr) == (
            1, f"error: the cluster in {pg} belongs to the OS user postgres: run this as "
               "root\n")
    assert (pg / "data" / "postmaster.pid").exists()


def test_a_directory_name_that_is_no_utf8_is_one_line(cluster_parent):
    """A Latin-1 `ø` in the folder's name: a UnicodeEncodeError traceback (psycopg's
    connection strings are UTF-8 text, so no such cluster could be used)."""
    pg = os.fsdecode(os.fsencode(cluster_parent) + b"/lat\xf8/pg")
    result = _devdb("start", pg, port=_free_port())
    assert result.returncode == 1 and len(result.stderr.splitlines()) == 1, result.stderr
    assert "is no UTF-8 text, which connection strings must be" in result.stderr
    assert not os.path.exists(pg)


def test_the_harness_sweeps_a_stale_cluster_pg_ctl_cannot_read(cluster_parent):
    """A stale test cluster whose data directory pg_ctl cannot read (a postmaster.pid, no
    PG_VERSION: half removed) made `pg_ctl status` exit 4, which is an error: the sweep let
    it through, and the fixture failed for every later session."""
    import conftest
    stale = cluster_parent / (conftest.CLUSTER_PREFIX + "half-removed")
    (stale / "data").mkdir(parents=True)
    (stale / "data" / "postmaster.pid").write_text("99999\n")
    (stale / conftest.OWNER_FILE).write_text("")
    if os.geteuid() == 0:
        for path in (stale, stale / "data", stale / "data" / "postmaster.pid"):
            shutil.chown(path, "postgres", "postgres")
    conftest._remove_stale_clusters(str(cluster_parent))
    assert not stale.exists()
