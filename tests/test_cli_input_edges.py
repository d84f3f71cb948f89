"""The command-line tools on inputs at the edges: a file name too long, a folder the operator
cannot enter, a file that cannot be read, a closed stdout, an unreachable database. Each is
one line on stderr (or argparse's usage error), never a traceback, and a command that fails
for its output has stored nothing."""

import json
import os
import subprocess

import psycopg
import pytest

from helpers import ROOT, run_cli


def _closed_port():
    import socket
    with socket.socket() as s:  # nobody listens there once it is closed
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CLOSED = f"postgresql://ella:S3cretPw0rd@127.0.0.1:{_closed_port()}/ella?connect_timeout=3"

# Commands with an input FILE argument, as (tool, args before FILE, args after FILE).
FILE_COMMANDS = [
    ("ella-users", ["add_many"], []),
    ("ella-users", ["add_groups"], []),
    ("ella-deposit", ["references"], []),
    ("ella-deposit", ["custom_annotation"], []),
    ("ella-refs", ["deposit"], []),
    ("ella-refs", ["fetch"], []),
    ("ella-refs", ["convert"], ["-o", "/tmp/audit_cli_out.json"]),
    ("ella-filterconfigs", ["update", "--reason", "r"], []),
    ("ella-annotationconfig", ["update", "--reason", "r"], []),
]


def _env(db_url, **extra):
    env = {k: v for k, v in os.environ.items() if k not in ("DB_URL", "ELLA_CONFIG")}
    return {**env, "DB_URL": db_url, **extra}


def _assert_one_line_error(proc, codes=(1, 2)):
    assert "Traceback" not in proc.stderr, proc.stderr[-1500:]
    assert proc.returncode in codes, (proc.returncode, proc.stderr[-500:])
    if proc.returncode == 1:
        lines = [l for l in proc.stderr.splitlines() if l.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr


@pytest.mark.parametrize("tool,before,after", FILE_COMMANDS,
                         ids=[f"{t} {b[0]}" for t, b, _ in FILE_COMMANDS])
def test_a_file_name_too_long_is_a_one_line_error(tmp_path, tool, before, after):
    """ENAMETOOLONG escaped the input file check: a traceback."""
    name = str(tmp_path / ("x" * 300))
    proc = run_cli(tool, *before, name, *after, db_url=CLOSED)
    _assert_one_line_error(proc)


LINK_COMMANDS = [c for c in FILE_COMMANDS if c[1][0] not in ("fetch", "convert")] + [
    ("ella-deposit", ["analysis"], []), ("ella-deposit", ["alleles"], []),
    ("ella-deposit", ["genepanel", "--genepanel_name", "X", "--genepanel_version", "v1",
                      "--phenotypes_path", "/dev/null", "--transcripts_path"], [])]


@pytest.mark.parametrize("loop", [False, True], ids=["to nothing", "loop"])
@pytest.mark.parametrize("tool,before,after", LINK_COMMANDS,
                         ids=[f"{t} {b[0]}" for t, b, _ in LINK_COMMANDS])
def test_a_link_to_nothing_is_named_so_by_every_tool(tmp_path, tool, before, after, loop):
    """A symbolic link that leads nowhere, or a loop of links, was "does not exist" for
    some tools and "Too many levels of symbolic links" for others."""
    link = tmp_path / "input.HBOC_v01.vcf"
    link.symlink_to(link if loop else tmp_path / "removed")
    proc = run_cli(tool, *before, str(link), *after, db_url=CLOSED)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].endswith(
        f"{str(link)!r} is a link to nothing (or a loop of links)"), proc.stderr


@pytest.mark.parametrize("tool,before,after", FILE_COMMANDS,
                         ids=[f"{t} {b[0]}" for t, b, _ in FILE_COMMANDS])
def test_a_file_in_a_folder_the_operator_cannot_enter_is_a_one_line_error(tmp_path, tool, before,
                                                                            after):
    """A FILE inside a directory without search permission (another user's home): the
    input file check's PermissionError was a traceback. (As root, the DAC-override
    capabilities are dropped with setpriv.)"""
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "f.json").write_text("[]")
    locked.chmod(0)
    try:
        proc = subprocess.run(
            ["setpriv", "--bounding-set=-dac_override,-dac_read_search",
             str(ROOT / "bin" / tool), *before, str(locked / "f.json"), *after],
            capture_output=True, text=True, env=_env(CLOSED), stdin=subprocess.DEVNULL,
            timeout=120)
    finally:
        locked.chmod(0o700)
    _assert_one_line_error(proc)


def test_watcher_with_a_too_long_incoming_path_is_a_one_line_error(tmp_path, db_url):
    """ENAMETOOLONG from the watcher's directory checks was a traceback."""
    proc = run_cli("ella-watcher", "--once", "--analyses", str(tmp_path / ("x" * 300)),
                   "--dest", str(tmp_path), db_url=db_url)
    _assert_one_line_error(proc)


def test_deposit_annotation_of_a_file_that_cannot_be_read_is_a_one_line_error(db_url):
    """An I/O error while reading the VCF (a failing disk or share; here /proc/self/mem)
    escaped `ella-deposit annotation` as a traceback."""
    proc = run_cli("ella-deposit", "annotation", "/proc/self/mem", db_url=db_url)
    _assert_one_line_error(proc)


def test_deposit_exists_into_a_closed_pipe_is_not_a_traceback(tmp_path):
    """`ella-deposit exists PATH | head` with the reader gone: a BrokenPipeError traceback."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run([str(ROOT / "bin" / "ella-deposit"), "exists", str(tmp_path)],
                              stdout=write_end, stderr=subprocess.PIPE, text=True,
                              stdin=subprocess.DEVNULL, env=_env(""), timeout=60)
    finally:
        os.close(write_end)
    assert "Traceback" not in proc.stderr, proc.stderr


def test_add_many_into_head_1_does_not_fail_after_committing(tmp_path, demo_db_url):
    """`ella-users add_many FILE | head -1`: the users were committed before "Users added
    successfully" was printed; that print then failed and the command exited 1 although
    every user was stored (one with a one-time password nobody saw). Exit 1 now means
    nothing was stored."""
    bad_runs = []
    for run in range(4):
        users = [{"username": f"pipeu{run}x{i}", "first_name": "A", "last_name": "B",
                  "email": f"p{run}x{i}@example.org", "group": "testgroup01"} for i in range(3)]
        path = tmp_path / f"u{run}.json"
        path.write_text(json.dumps(users))
        proc = subprocess.run(
            f"'{ROOT}/bin/ella-users' add_many '{path}' | head -1; exit ${{PIPESTATUS[0]}}",
            shell=True, executable="/bin/bash", capture_output=True, text=True,
            env=_env(demo_db_url), stdin=subprocess.DEVNULL, timeout=120)
        with psycopg.connect(demo_db_url) as conn:
            stored = conn.execute("SELECT count(*) FROM \"user\" WHERE username LIKE %s",
                                  (f"pipeu{run}x%",)).fetchone()[0]
        if proc.returncode != 0 and stored:
            bad_runs.append((run, proc.returncode, stored, proc.stderr.strip()))
    assert not bad_runs, bad_runs


def test_unreachable_database_is_one_line_on_stderr():
    """An audited command printed the audit log's failure to connect, then the same error."""
    proc = run_cli("ella-broadcast", "new", "hello", db_url=CLOSED)
    _assert_one_line_error(proc)


def test_polling_once_on_a_database_without_its_tables_exits_1(empty_db_url):
    """It logged "waiting" and exited 0: from cron, a wrong DB_URL went unnoticed (as the
    watcher's `--once` now checks the database too)."""
    proc = run_cli("ella-polling", "--once", db_url=empty_db_url)
    assert proc.returncode == 1 and "no annotationjob table" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_polling_refuses_a_db_url_that_is_no_connection_string():
    """The loop took the failed connection for a server still away and logged "retrying"
    for ever (the API and the watcher stop at once)."""
    proc = run_cli("ella-polling", env={"DB_URL": "garbage://ella:secret@db/ella",
                                        "ANNOTATION_SERVICE_URL": "http://127.0.0.1:1"})
    _assert_one_line_error(proc)
    assert proc.stderr.startswith("error: DB_URL is not a valid PostgreSQL URL or connection "
                                  "string: ") and "secret" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("args", [
    ("ella-users", "list"), ("ella-broadcast", "list"), ("ella-filterconfigs", "list"),
    ("ella-annotationconfig", "list"),
])
def test_a_database_without_ellas_tables_is_named_as_such(empty_db_url, args):
    """`ella-users list` on a new database said only `relation "user" does not exist`."""
    proc = run_cli(*args, db_url=empty_db_url)
    _assert_one_line_error(proc)
    assert "does not exist (is this database set up for ELLA? `ella-db status` tells; " \
           "`ella-db make-production` sets up an empty one)" in proc.stderr, proc.stderr


def test_a_writer_on_an_empty_database_says_what_to_run(empty_db_url):
    """Writers check the database's state before they write (as the imports do)."""
    proc = run_cli("ella-users", "lock", "nobody", "--reason", "x", db_url=empty_db_url)
    _assert_one_line_error(proc)
    assert proc.stderr == ("error: the database is not ready: the database is empty (run "
                           "`ella-db make-production`)\n")


def _run_without_input(tool, *args, db_url):
    """`tool args <&-`: started with no input at all (as cron may), so sys.stdin is None."""
    env = {k: v for k, v in os.environ.items() if k not in ("DB_URL", "ELLA_CONFIG")}
    return subprocess.run(["sh", "-c", 'exec "$0" "$@" <&-', str(ROOT / "bin" / tool), *args],
                          capture_output=True, text=True, env={**env, "DB_URL": db_url},
                          timeout=300)


@pytest.mark.parametrize("tool, args, code, last_line", [
    ("ella-users", ["lock", "testuser1"], 0, None),  # the reason prompt: no reason
    ("ella-delete", ["analysis", "1", "--reason", "x"], 0, "Lacking confirmation, aborting..."),
    ("ella-filterconfigs", ["deactivate", "1", "--reason", "x"], 0,
     "Lacking confirmation, aborting..."),
    ("ella-users", ["modify", "testuser1", "--first_name", "X"], 0,
     "Lacking confirmation, aborting...")])
def test_a_prompt_without_any_input_is_no_answer(demo_data_db_url, tool, args, code, last_line):
    """Every prompt read `sys.stdin.readline()` of a None stdin: a traceback, its error in
    the audit row. No input is no answer: no reason, no confirmation."""
    result = _run_without_input(tool, *args, db_url=demo_data_db_url)
    assert result.returncode == code and "Traceback" not in result.stderr, result.stderr
    if last_line:
        assert result.stdout.strip().splitlines()[-1] == last_line
    with psycopg.connect(demo_data_db_url) as conn:
        assert "NoneType" not in conn.execute(
            "SELECT output FROM clilog ORDER BY id DESC LIMIT 1").fetchone()[0]


def test_drop_without_any_input_declines_in_one_line(empty_db_url):
    result = _run_without_input("ella-db", "drop", db_url=empty_db_url)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == "error: Lacking confirmation, aborting..."


def test_an_error_quoting_a_huge_value_is_cut(db_url, tmp_path):
    """An error that quotes the value at fault (here a date_requested of 20,000 characters)
    was one line of that size on stderr and in clilog (50 MB for a custom annotation's
    value): cut after 10,000 characters, saying how many more there were."""
    from deposit_helpers import BRCA_VCF, add_test_panels
    add_test_panels(db_url)
    folder = tmp_path / "big"
    folder.mkdir()
    (folder / "x.vcf").write_bytes(BRCA_VCF.read_bytes())
    (folder / "big.analysis").write_text(json.dumps({
        "name": "big", "genepanel_name": "HBOC", "genepanel_version": "v01",
        "date_requested": "1" * 20_000, "data": [{"vcf": "x.vcf"}]}))
    result = run_cli("ella-deposit", "analysis", str(folder), db_url=db_url)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    full = (f"{folder / 'big.analysis'}: date_requested '{'1' * 20_000}' is not a date "
            "(YYYY-MM-DD)")
    cut = f"{full[:10_000]}... ({len(full) - 10_000:,} more characters)"
    assert result.stderr == f"error: {cut}\n"
    with psycopg.connect(db_url) as conn:
        [output] = conn.execute("SELECT output FROM clilog ORDER BY id DESC LIMIT 1").fetchone()
    assert output == cut


# A file saved by Notepad (a byte-order mark) with a Latin-1 "ø" on its third line.
LATIN1_ON_LINE_3 = {
    "json": b"\xef\xbb\xbf[\r\n  {\r\n    \"name\": \"Pr\xf8ve\"\r\n  }\r\n]\r\n",
    "yaml": b"deposit: []\nview: []\n# Pr\xf8ve\n",
}


@pytest.mark.parametrize("tool, args, kind", [
    ("ella-users", ["add_many"], "json"),
    ("ella-users", ["add_groups"], "json"),
    ("ella-filterconfigs", ["update", "--reason", "r"], "json"),
    ("ella-annotationconfig", ["update", "--reason", "r"], "yaml"),
])
def test_a_byte_that_is_not_utf8_is_named_with_its_line(db_url, tmp_path, tool, args, kind):
    """These said only "not UTF-8 text", or gave a byte offset that skipped the byte-order
    mark, where the other readers (references, gene panels, analysis files) name the line."""
    path = tmp_path / f"file.{kind}"
    path.write_bytes(LATIN1_ON_LINE_3[kind])
    at = LATIN1_ON_LINE_3[kind].index(b"\xf8")
    result = run_cli(tool, *args, str(path), db_url=db_url)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == f"error: {path}: line 3: not UTF-8 text (byte {at}: " \
                                    "b'\\xf8')"


def test_a_config_file_byte_that_is_not_utf8_is_named_with_its_line(tmp_path):
    path = tmp_path / "ella.yml"
    data = b"app:\r\n  title: x\r\n  note: Pr\xf8ve\r\n"
    path.write_bytes(data)
    result = run_cli("ella-db", "status", env={"ELLA_CONFIG": str(path)},
                     db_url="postgresql:///nowhere")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    at = data.index(b"\xf8")
    assert f"{path}: line 3: not UTF-8 text (byte {at}: b'\\xf8')" in result.stderr
