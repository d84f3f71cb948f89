"""The test harness' own throwaway cluster (tests/conftest.py `pg_server`), as a developer or
CI meets it: where it goes (ELLA_TEST_PG_PARENT), and what a stopped run leaves behind."""

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from helpers import ROOT, process_running

CASES = Path(__file__).resolve().parent / "cluster_cases"


def _pytest(case, parent, **extra_env):
    env = {k: v for k, v in os.environ.items()
           if k not in ("ELLA_TEST_DB_URL", "PYTEST_XDIST_WORKER")}
    env.update(ELLA_TEST_PG_PARENT=str(parent), **extra_env)
    return [sys.executable, "-m", "pytest", "-p", "no:xdist", "-p", "no:cacheprovider", "-q",
            str(CASES / case)], env


def _run(case, parent):
    args, env = _pytest(case, parent)
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def _postmasters(parent):
    pids = []
    for pid_file in Path(parent).glob("ella-test-pg-*/data/postmaster.pid"):
        try:
            pids.append(int(pid_file.read_text().split()[0]))
        except (OSError, ValueError, IndexError):
            pass
    return pids


def _held_cluster(parent, tmp_path):
    """A run holding its cluster in `parent`: (process, its postmaster pids)."""
    ready = tmp_path / f"ready-{time.monotonic_ns()}"
    args, env = _pytest("hold_cluster.py", parent, HARNESS_READY_FILE=str(ready))
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ready.exists(), "the run did not get its cluster up"
    return proc, _postmasters(parent)


def test_a_missing_parent_is_one_line_naming_the_setting(tmp_path):
    """A typo in ELLA_TEST_PG_PARENT was mkdtemp's traceback for every test, naming a path
    the developer never gave."""
    result = _run("use_cluster.py", tmp_path / "missing")
    assert result.returncode == 4, result.stdout[-1500:]
    assert f"ELLA_TEST_PG_PARENT='{tmp_path / 'missing'}' is no directory" in result.stdout


def test_a_parent_too_long_for_the_socket_says_so(tmp_path):
    """The socket is in the cluster's directory, and a socket path has at most 107 bytes:
    the error was the server log's last lines, without PostgreSQL's own "too long"."""
    parent = tmp_path / ("x" * 80)
    parent.mkdir()
    result = _run("use_cluster.py", parent)
    assert result.returncode != 0
    assert "is too long a path: its socket's" in result.stdout, result.stdout[-1500:]


def test_stopped_runs_leave_no_cluster_behind(tmp_path):
    """pg_ctl starts the server in a session of its own: a run ended by SIGTERM (a CI job's
    time limit) or SIGKILL left it running, and its files (in /dev/shm: memory) until a
    reboot. SIGTERM now ends a run as Ctrl-C does; what a SIGKILL leaves the next run
    removes."""
    parent = Path(tempfile.mkdtemp(prefix="harness-", dir="/tmp"))
    os.chmod(parent, 0o755)
    runs = []
    try:
        killed, killed_pids = _held_cluster(parent, tmp_path)
        runs.append(killed)
        killed.kill()
        killed.wait(30)
        assert killed_pids and all(process_running(pid) for pid in killed_pids)  # what it left
        stopped, stopped_pids = _held_cluster(parent, tmp_path)
        runs.append(stopped)
        assert not any(process_running(pid) for pid in killed_pids)   # swept by the next run
        stopped.send_signal(signal.SIGTERM)
        stopped.wait(60)
        deadline = time.monotonic() + 30
        while any(process_running(pid) for pid in stopped_pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(process_running(pid) for pid in stopped_pids)
        assert sorted(p.name for p in parent.iterdir()) == []
    finally:
        for proc in runs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for pid in _postmasters(parent):
            if process_running(pid):
                os.kill(pid, signal.SIGINT)  # a fast shutdown of a server left behind
        subprocess.run(["rm", "-rf", str(parent)], check=False)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root's clusters run as another user")
def test_a_private_parent_opened_to_the_postgres_user_is_said(capsys):
    """As root the cluster runs as `postgres`, which must pass through every directory above
    it: a private one (a home) was opened to every account without a word."""
    from ella.devdb import Cluster
    private = Path(tempfile.mkdtemp(prefix="harness-private-", dir="/tmp"))
    try:
        os.chmod(private, 0o700)
        Cluster(private / "pg").init()
        assert os.stat(private).st_mode & 0o777 == 0o701
        assert (f"note: {private} may now be passed through by every account (o+x), so that "
                "the OS user postgres reaches its cluster") in capsys.readouterr().err
    finally:
        subprocess.run(["rm", "-rf", str(private)], check=False)


def test_a_cluster_whose_run_lives_is_not_swept(tmp_path):
    """The sweep judged a run by its process id in /proc: where that cannot be seen (another
    PID namespace sharing /dev/shm, no /proc) it removed a live run's cluster. A run holds its
    owner file locked; only a cluster whose lock nobody holds is removed."""
    import fcntl
    parent = Path(tempfile.mkdtemp(prefix="harness-", dir="/tmp"))
    try:
        live = parent / "ella-test-pg-live"
        live.mkdir()
        with open(live / "owner.lock", "w") as owner:
            fcntl.flock(owner, fcntl.LOCK_EX)  # as a run in another namespace would hold it
            assert _run("use_cluster.py", parent).returncode == 0
            assert live.is_dir()
        assert _run("use_cluster.py", parent).returncode == 0  # nobody holds it now
        assert not live.exists()
    finally:
        subprocess.run(["rm", "-rf", str(parent)], check=False)


def test_a_cluster_left_by_the_earlier_harness_is_swept():
    """Before owner locks a run wrote its process id (`owner.pid`): such a cluster, its run
    gone, was left for ever (its server running, its files in /dev/shm)."""
    parent = Path(tempfile.mkdtemp(prefix="harness-", dir="/tmp"))
    try:
        old = parent / "ella-test-pg-oldrun"
        old.mkdir()
        gone = subprocess.Popen(["true"])
        gone.wait()
        (old / "owner.pid").write_text(str(gone.pid))
        assert _run("use_cluster.py", parent).returncode == 0
        assert not old.exists()
    finally:
        subprocess.run(["rm", "-rf", str(parent)], check=False)


def test_a_cluster_directory_with_a_space_in_its_path_starts():
    """pg_ctl hands the socket directory to postgres through the shell: a parent such as
    "lab data" made every database test fail ("postgres: invalid argument")."""
    parent = Path(tempfile.mkdtemp(prefix="lab data-", dir="/tmp"))
    try:
        result = _run("use_cluster.py", parent)
        assert result.returncode == 0, result.stdout[-1500:]
    finally:
        subprocess.run(["rm", "-rf", str(parent)], check=False)


def test_a_run_started_with_ctrl_c_ignored_still_tests_ctrl_c(tmp_path):
    """`pytest &` in a script starts the run with SIGINT ignored, inherited by every tool it
    starts: the tests of Ctrl-C failed (no KeyboardInterrupt, children never stopping)."""
    args, env = _pytest("ctrl_c.py", tmp_path)

    def ignore_ctrl_c():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120, preexec_fn=ignore_ctrl_c)
    assert result.returncode == 0, result.stdout[-1500:]
    assert "2 passed" in result.stdout
