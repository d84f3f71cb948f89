"""The command line as operators meet it beyond the happy path: output into a closed pipe, a
reason typed in another encoding in the image's environment, a password in a URL parameter
(config-cli-ops.md 3; DESIGN.md: one line on stderr, never a traceback, no secret shown)."""

import os
import subprocess

import psycopg
import pytest

from helpers import ROOT, run_cli


def _q(url, sql, params=()):
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def _env(db_url, **extra):
    env = {k: v for k, v in os.environ.items() if k not in ("DB_URL", "ELLA_CONFIG")}
    return {**env, "DB_URL": db_url, **extra}


def _with_closed_stdout(db_url, tool, *args):
    """bin/<tool> writing into a pipe nobody reads any more (`| head -1`, a pager quit)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run([str(ROOT / "bin" / tool), *args], stdout=write_end,
                              stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                              env=_env(db_url), timeout=120)
    finally:
        os.close(write_end)


def test_output_into_a_closed_pipe_is_one_line_and_a_new_password_is_not_lost(demo_db_url):
    """A traceback (BrokenPipeError); and reset_password committed the new password before
    printing it: the account got a password nobody was shown."""
    listed = _with_closed_stdout(demo_db_url, "ella-users", "list")
    assert listed.returncode == 1 and "Traceback" not in listed.stderr
    assert listed.stderr.strip() == ("error: the output was closed before the command "
                                     "finished; what the command had saved until then stays "
                                     "saved")
    before = _q(demo_db_url, "SELECT password FROM \"user\" WHERE username = 'testuser1'")
    reset = _with_closed_stdout(demo_db_url, "ella-users", "reset_password", "testuser1")
    assert reset.returncode == 1 and "Traceback" not in reset.stderr
    assert _q(demo_db_url,
              "SELECT password FROM \"user\" WHERE username = 'testuser1'") == before
    command, output = _q(demo_db_url, "SELECT command, output FROM clilog ORDER BY id DESC "
                                      "LIMIT 1")[0]
    assert command == "users reset_password testuser1"
    assert "Broken pipe" in output and "with password ********" in output


def _into_a_full_disk(db_url, tool, *args):
    """bin/<tool> with its output going to a log file on a full disk (/dev/full), block
    buffered as a file is (without PYTHONUNBUFFERED, which the image sets and a cron job's
    shell does not: a short output is then written only as the tool ends)."""
    env = {k: v for k, v in _env(db_url).items() if k != "PYTHONUNBUFFERED"}
    with open("/dev/full", "w") as full:
        return subprocess.run([str(ROOT / "bin" / tool), *args], stdout=full,
                              stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                              env=env, timeout=120)


FULL_DISK = ("error: the output could not be written (No space left on device); what the "
             "command had saved until then stays saved")


def test_output_into_a_full_disk_is_one_line_that_says_what_stays(adopted_demo_db_url, tmp_path):
    """A log file on a full disk: the summary printed after a deposit's commit ended in a
    traceback, and `list` in another; a new password is still not stored unseen."""
    listed = _into_a_full_disk(adopted_demo_db_url, "ella-users", "list")
    assert (listed.returncode, listed.stderr.strip()) == (1, FULL_DISK)
    short = _into_a_full_disk(adopted_demo_db_url, "ella-deposit", "exists", __file__)
    assert (short.returncode, short.stderr.strip()) == (1, FULL_DISK)
    references = tmp_path / "refs.jsonl"
    references.write_text('{"pubmed_id": 424242, "title": "A title"}\n')
    deposited = _into_a_full_disk(adopted_demo_db_url, "ella-deposit", "references", str(references))
    assert (deposited.returncode, deposited.stderr.strip()) == (1, FULL_DISK)
    assert _q(adopted_demo_db_url, "SELECT title FROM reference WHERE pubmed_id = 424242") == [
        ("A title",)]
    output, = _q(adopted_demo_db_url, "SELECT output FROM clilog WHERE command LIKE "
                              "'deposit references %%' ORDER BY id DESC LIMIT 1")[0]
    assert output == ("References imported successfully: created 1, updated 0\n"
                      "the output could not be written (No space left on device)")
    before = _q(adopted_demo_db_url, "SELECT password FROM \"user\" WHERE username = 'testuser1'")
    reset = _into_a_full_disk(adopted_demo_db_url, "ella-users", "reset_password", "testuser1")
    assert (reset.returncode, reset.stderr.strip()) == (1, FULL_DISK)
    assert _q(adopted_demo_db_url,
              "SELECT password FROM \"user\" WHERE username = 'testuser1'") == before


def test_a_reason_that_is_not_utf8_is_refused_also_in_the_images_environment(demo_db_url):
    """The image sets PYTHONIOENCODING=utf-8, which decodes stdin strictly: a Latin-1 reason
    was dropped (NULL in clilog) and the analysis deleted."""
    result = subprocess.run([str(ROOT / "bin" / "ella-delete"), "analysis", "2"],
                            input="Pasient ønsket sletting\ny\n".encode("latin-1"),
                            capture_output=True, env=_env(demo_db_url, PYTHONIOENCODING="utf-8"),
                            timeout=120)
    stderr = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 1 and "Traceback" not in stderr
    assert "error: the reason is not valid UTF-8 text" in stderr
    assert _q(demo_db_url, "SELECT count(*) FROM analysis WHERE id = 2") == [(1,)]


def test_a_password_in_a_url_parameter_is_not_shown():
    """libpq takes `?password=`; quoting the malformed value, its error showed it whole."""
    result = run_cli("ella-users", "list",
                     db_url="postgresql://ella@localhost:1/ella?password=Hosp1tal%Secret")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "Hosp1tal" not in result.stderr and "Secret" not in result.stderr, result.stderr
    assert "***" in result.stderr


@pytest.mark.parametrize("tool", ["ella-polling", "ella-watcher"])
def test_the_daemons_take_intervals_of_seconds_up_to_a_day(tmp_path, capsys, tool):
    """`--interval nan` made the watcher spin at full CPU and the poller log thousands of
    lines a second; `inf` or `1e300` polled once and never again, without a word. (The
    values are checked on the parser itself; one run of the command shows it is the
    parser the command uses.)"""
    from ella.cli import polling, watcher
    build_parser = {"ella-polling": polling.build_parser,
                    "ella-watcher": watcher.build_parser}[tool]
    needed = {"ella-polling": [],
              "ella-watcher": ["--analyses", str(tmp_path), "--dest", str(tmp_path)]}[tool]
    result = run_cli(tool, *needed, "--interval=nan", "--once")
    assert result.returncode == 2 and result.stderr.strip().endswith(
        "error: argument --interval: 'nan': give seconds from 0.01 to 86400 (a day)"), \
        result.stderr
    options = ["--interval"] + (["--max-backoff"] if tool == "ella-polling" else [])
    for option in options:
        for value in ("nan", "inf", "-inf", "1e300", "86401", "0", "-1", "1e-300", "0.009",
                      "soon"):
            with pytest.raises(SystemExit) as exit_:
                build_parser().parse_args([*needed, f"{option}={value}", "--once"])
            stderr = capsys.readouterr().err
            assert exit_.value.code == 2, (option, value)
            assert stderr.strip().endswith(
                f"error: argument {option}: 'soon' is not a number of seconds" if value == "soon"
                else f"error: argument {option}: {value!r}: give seconds from 0.01 to 86400 "
                     "(a day)"), stderr
        for value in ("0.01", "86400", "2.5"):
            assert build_parser().parse_args([*needed, option, value, "--once"])


def test_a_command_the_database_rolled_back_for_another_says_to_run_it_again(capsys):
    """A deadlock or serialization failure (two commands on the same rows) was only
    "error: database: deadlock detected": whether anything was saved, it did not say."""
    from ella.cli.common import run_main

    def deadlocked():
        raise psycopg.errors.DeadlockDetected("deadlock detected")
    assert run_main(deadlocked) == 1
    assert capsys.readouterr().err == (
        "error: database: deadlock detected (another command changed the same rows at the "
        "same time; nothing was saved: run it again)\n")
