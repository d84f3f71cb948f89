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


def test_no_other_local_account_reaches_the_cluster():
    """The cluster trusts whoever reaches its socket, as the superuser: only its owner may."""
    if os.geteuid() != 0 or not shutil.which("runuser"):
        pytest.skip("needs root to act as another local account")
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no OS user nobody")
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
