"""The tests' fork server (tests/cli_forkserver.py) runs a bin/ tool as the wrapper does: the
same exit code, stdout and stderr as executing bin/<tool>, for each way a run can end."""

import os

import psycopg
import pytest

import cli_forkserver
from helpers import run_cli


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
