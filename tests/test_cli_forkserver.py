"""The tests' fork server (tests/cli_forkserver.py) runs a bin/ tool as the wrapper does: the
same exit code, stdout and stderr as executing bin/<tool>, for each way a run can end."""

import os
import subprocess

import psycopg
import pytest

import cli_forkserver
from helpers import run_cli


@pytest.fixture(autouse=True)
def forking_allowed(monkeypatch):
    """These tests compare both ways also in a run that executes every tool."""
    monkeypatch.delenv("ELLA_TEST_EXEC_CLI", raising=False)


def both_ways(monkeypatch, tool, *args, forks=True, **kwargs):
    """(forked, executed) results of one run; `forks`: the first came from the server (a
    run it serves names the module, an executed one bin/<tool>)."""
    forked = run_cli(tool, *args, **kwargs)
    assert forked.args[0].startswith("ella.cli.") == forks, forked.args
    with monkeypatch.context() as patch:
        patch.setenv("ELLA_TEST_EXEC_CLI", "1")
        executed = run_cli(tool, *args, **kwargs)
    return forked, executed


def same(forked, executed):
    return (forked.returncode, forked.stdout, forked.stderr) == (
        executed.returncode, executed.stdout, executed.stderr)


@pytest.mark.parametrize("args", [
    ("--help",),                      # argparse's exit 0 after printing
    ("no-such-command",),             # a usage error: exit 2
    ("list",),                        # DB_URL missing: one error line, exit 1
])
def test_a_run_without_the_database_ends_as_the_executed_tool(monkeypatch, args):
    forked, executed = both_ways(monkeypatch, "ella-users", *args)
    assert same(forked, executed), (forked, executed)


def test_runs_on_the_database_end_as_the_executed_tool(monkeypatch, db_url, tmp_path):
    """Output, prompts answered from stdin, and what is written are the tool's own."""
    forked, executed = both_ways(monkeypatch, "ella-users", "list", db_url=db_url)
    assert forked.returncode == 0 and same(forked, executed), (forked, executed)
    broken = tmp_path / "groups.json"
    broken.write_text("[{", encoding="utf-8")
    forked, executed = both_ways(monkeypatch, "ella-users", "add_groups", str(broken),
                                 db_url=db_url)
    assert forked.returncode == 1 and same(forked, executed), (forked, executed)
    forked = run_cli("ella-users", "lock", "nobody", db_url=db_url, stdin="first\n")
    assert forked.args[0] == "ella.cli.users"
    with monkeypatch.context() as patch:
        patch.setenv("ELLA_TEST_EXEC_CLI", "1")
        executed = run_cli("ella-users", "lock", "nobody", db_url=db_url, stdin="second\n")
    assert forked.returncode == 1 and same(forked, executed), (forked, executed)
    with psycopg.connect(db_url) as conn:
        reasons = [r[0] for r in conn.execute(
            "SELECT reason FROM clilog WHERE groupcommand = 'lock' ORDER BY id")]
    assert reasons == ["first", "second"]


def test_a_run_that_needs_another_interpreter_start_is_executed(monkeypatch):
    """A run whose environment changes how Python starts (locale, PYTHON*) cannot come
    from the server: it is executed, and the tool sees that environment."""
    server = cli_forkserver.server()
    env = cli_forkserver.wrapper_env(dict(os.environ, PYTHONIOENCODING="latin-1"))
    assert not cli_forkserver.same_start(env, server.env)
    assert cli_forkserver.same_start(dict(server.env, DB_URL="postgresql:///x"), server.env)
    forked, executed = both_ways(monkeypatch, "ella-users", "--help", forks=False,
                                 env={"PYTHONIOENCODING": "latin-1"})
    assert same(forked, executed)


PROBES = {
    "no_import": "sys.exit(3)\n",  # `sys` only in the server's own __main__
    "big_exit": "import sys\nsys.exit(2 ** 70)\n",
    "unclosed_file": "f = open('out.txt', 'w')\nf.write('data')\n",
    "raises": "def f():\n    raise RuntimeError('boom')\nf()\n",
    "interrupted": "raise KeyboardInterrupt\n",
    "closes_stdout": "import sys\nprint('x')\nsys.stdout.close()\n",
}


@pytest.mark.parametrize("probe", sorted(PROBES))
def test_a_module_ends_as_under_python_m(probe, tmp_path):
    """The ends a tool could come to, each forked and executed with `python -m`: the same
    exit code, output, traceback and files."""
    server = cli_forkserver.server()
    results = []
    for way in ("forked", "executed"):
        directory = tmp_path / way
        directory.mkdir()
        (directory / f"probe_{probe}.py").write_text(PROBES[probe], encoding="utf-8")
        if way == "forked":
            result = server.run(f"probe_{probe}", [], server.env, "", directory, timeout=60)
        else:
            result = subprocess.run(
                [cli_forkserver._interpreter(), "-m", f"probe_{probe}"], capture_output=True,
                text=True, env=server.env, cwd=directory, input="", timeout=60)
        written = directory / "out.txt"
        results.append((result.returncode, result.stdout,
                        result.stderr.replace(str(directory), "DIR"),
                        written.read_text() if written.exists() else None))
    assert results[0] == results[1]
