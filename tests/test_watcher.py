"""The analyses watcher (import.md 1.6-1.7 and its acceptance criteria W1-W10, W5b)."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

import ella.watcher as watcher_module
from ella.watcher import Watcher, WatcherError
from deposit_helpers import (BRCA_VCF, TEST_ANALYSIS_001, TEST_ANALYSIS_003, add_test_panels,
                             copy_test_analysis)
from helpers import ROOT, run_cli


@pytest.fixture
def dirs(tmp_path, db_url):
    """incoming/ with TestAnalysis-001 and TestAnalysis-003 symlinked in (as upstream's tests
    do) and an empty not-ready folder; dest/ empty; panels deposited."""
    add_test_panels(db_url)
    incoming, dest = tmp_path / "incoming", tmp_path / "dest"
    incoming.mkdir()
    dest.mkdir()
    # Copies, not links: the watcher moves folders and writes beside them.
    import shutil
    shutil.copytree(TEST_ANALYSIS_001, incoming / "TestAnalysis-001")
    shutil.copytree(TEST_ANALYSIS_003, incoming / "TestAnalysis-003")
    (incoming / "TestAnalysis-002-not-ready").mkdir()
    return incoming, dest


def _analyses(url):
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT name, genepanel_name, genepanel_version, report, warnings "
                            "FROM analysis ORDER BY name").fetchall()


def test_w1_w2_paths_are_checked(tmp_path, db_url, ella_config):
    (tmp_path / "ok").mkdir()
    with pytest.raises(WatcherError, match="Couldn't read from watch path .*nonexisting"):
        Watcher(db_url, ella_config, tmp_path / "nonexisting", tmp_path / "ok")
    with pytest.raises(WatcherError, match="Couldn't write to destination path .*nonexisting"):
        Watcher(db_url, ella_config, tmp_path / "ok", tmp_path / "nonexisting")


def test_w5_one_poll_imports_only_the_ready_folder(dirs, db_url, ella_config):
    incoming, dest = dirs
    watcher = Watcher(db_url, ella_config, incoming, dest)
    assert watcher.poll() == ["TestAnalysis-001"]
    (name, panel, version, report, warnings), = _analyses(db_url)
    assert (name, panel, version) == ("TestAnalysis-001", "HBOC", "v1.0.0")
    assert "Report" in report and "Warning" in warnings
    assert (dest / "TestAnalysis-001" / "READY").is_file()
    assert not (incoming / "TestAnalysis-001").exists()
    assert (incoming / "TestAnalysis-002-not-ready").is_dir()
    assert (incoming / "TestAnalysis-003").is_dir()
    # W4: a second import of the same analysis is refused by the database, not duplicated.
    import shutil
    shutil.copytree(TEST_ANALYSIS_001, incoming / "again")
    assert watcher.poll() == []
    error = json.loads((incoming / "again.import-error").read_text())
    assert error["error"] == "Analysis TestAnalysis-001 is already imported."
    assert len(_analyses(db_url)) == 1


def test_w5b_failing_folder_is_recorded_not_retried_and_others_still_import(
        dirs, db_url, ella_config):
    incoming, dest = dirs
    (incoming / "TestAnalysis-003" / "READY").touch()
    watcher = Watcher(db_url, ella_config, incoming, dest)
    assert watcher.poll() == ["TestAnalysis-001"]
    assert watcher.failures == ["TestAnalysis-003"]
    error_file = incoming / "TestAnalysis-003.import-error"
    record = json.loads(error_file.read_text())
    assert "no 'name'" in record["error"]
    assert (incoming / "TestAnalysis-003").is_dir()
    # Not retried on the next poll, nor by a new watcher (a restart).
    mtime = error_file.stat().st_mtime_ns
    assert watcher.poll() == [] and watcher.failures == []
    assert Watcher(db_url, ella_config, incoming, dest).poll() == []
    assert error_file.stat().st_mtime_ns == mtime
    # Fixing the folder makes it retried: now the VCF is the problem (no ##fileformat).
    analysis = incoming / "TestAnalysis-003" / "TestAnalysis-003.analysis"
    analysis.write_text('{"name": "TestAnalysis-003", "params": {"genepanel": "HBOC_v1.0.0"}}')
    restarted = Watcher(db_url, ella_config, incoming, dest)
    assert restarted.poll() == [] and restarted.failures == ["TestAnalysis-003"]
    assert "fileformat" in json.loads(error_file.read_text())["error"] or \
        "bcf or vcf" in json.loads(error_file.read_text())["error"]
    assert [a[0] for a in _analyses(db_url)] == ["TestAnalysis-001"]


@pytest.mark.parametrize("older_record", [False, True])
def test_a_folder_waiting_for_its_gene_panel_is_imported_once_the_panel_is_there(
        tmp_path, db_url, ella_config, older_record):
    """A pipeline may deliver an analysis before its gene panel is deposited: the folder
    failed, and stayed failed until someone touched one of its files. Also when its error
    file was written by an earlier version, which named the panel in the text only."""
    incoming, dest = tmp_path / "incoming", tmp_path / "dest"
    incoming.mkdir()
    dest.mkdir()
    shutil.copytree(TEST_ANALYSIS_001, incoming / "TestAnalysis-001")
    watcher = Watcher(db_url, ella_config, incoming, dest)
    assert watcher.poll() == [] and watcher.failures == ["TestAnalysis-001"]
    error_file = incoming / "TestAnalysis-001.import-error"
    record = json.loads(error_file.read_text())
    assert record["error"] == "Genepanel HBOC version v1.0.0 not available in varDB"
    assert record["waits_for_genepanel"] == ["HBOC", "v1.0.0"]
    if older_record:
        del record["waits_for_genepanel"]
        error_file.write_text(json.dumps(record))
    # Not retried while the panel is missing (nor after a restart) ...
    assert watcher.poll() == [] and watcher.failures == []
    assert Watcher(db_url, ella_config, incoming, dest).poll() == []
    # ... and imported on the first poll after it is deposited.
    add_test_panels(db_url)
    assert watcher.poll() == ["TestAnalysis-001"]
    assert not error_file.exists() and (dest / "TestAnalysis-001").is_dir()


@pytest.mark.parametrize("kwargs, imported", [
    ({"whitelist": ["^TestAnalysis-001$"]}, True),     # W6
    ({"blacklist": ["^TestAnalysis-001$"]}, False),    # W7
    ({"whitelist": ["^NonExisting$"]}, False),         # W8
])
def test_w6_w7_w8_white_and_black_lists(dirs, db_url, ella_config, kwargs, imported):
    incoming, dest = dirs
    Watcher(db_url, ella_config, incoming, dest, **kwargs).poll()
    assert (dest / "TestAnalysis-001").exists() is imported
    assert (incoming / "TestAnalysis-001").exists() is not imported
    assert len(_analyses(db_url)) == (1 if imported else 0)


def test_w9_whitelist_file_is_reread(dirs, db_url, ella_config, tmp_path):
    incoming, dest = dirs
    listfile = tmp_path / "whitelist.txt"
    listfile.write_text("^NonExisting$\n")
    watcher = Watcher(db_url, ella_config, incoming, dest, whitelistfile=listfile)
    assert watcher.poll() == []
    listfile.write_text("^NonExisting$\n^TestAnalysis-001$\n")
    assert watcher.poll() == ["TestAnalysis-001"]
    assert (dest / "TestAnalysis-001").exists()


@pytest.mark.parametrize("pattern, imported", [("^NonExisting$", True),
                                               ("^TestAnalysis-001$", False)])
def test_w10_blacklist_file(dirs, db_url, ella_config, tmp_path, pattern, imported):
    incoming, dest = dirs
    listfile = tmp_path / "blacklist.txt"
    listfile.write_text(pattern + "\n")
    Watcher(db_url, ella_config, incoming, dest, blacklistfile=listfile).poll()
    assert (dest / "TestAnalysis-001").exists() is imported


def test_existing_destination_is_skipped_and_said_in_its_error_file(dirs, db_url, ella_config):
    """import.md 1.6 skips a folder whose name the destination has; ELLA only logs it, so a
    lab watching the error files never saw a re-delivery waiting there. It is imported once
    the destination's folder is moved away, without anyone touching it."""
    incoming, dest = dirs
    (dest / "TestAnalysis-001").mkdir()
    watcher = Watcher(db_url, ella_config, incoming, dest)
    assert watcher.poll() == [] and watcher.failures == ["TestAnalysis-001"]
    assert (incoming / "TestAnalysis-001").is_dir() and _analyses(db_url) == []
    record = json.loads((incoming / "TestAnalysis-001.import-error").read_text())
    assert record["error"].startswith(
        f"TestAnalysis-001 already exists in {dest}: a delivery of that name was imported "
        "before. It is imported once that folder is moved away")
    assert watcher.poll() == [] and watcher.failures == []  # not tried again meanwhile
    (dest / "TestAnalysis-001").rename(dest.parent / "moved-away")
    assert watcher.poll() == ["TestAnalysis-001"]
    assert not (incoming / "TestAnalysis-001.import-error").exists()


def test_a_folder_another_watcher_imported_meanwhile_is_no_failure(dirs, db_url, ella_config,
                                                                  monkeypatch):
    """Two watchers on one incoming directory: the other one moved the folder into the
    destination after this one read its config. The destination then has its name because
    the folder itself was imported: not a failure (an error log, `--once` exit 1, an error
    file for a folder no longer there)."""
    incoming, dest = dirs
    real_resolve = watcher_module.resolve_analysis_config

    def resolved_then_imported_by_the_other_watcher(folder):
        config = real_resolve(folder)
        Path(folder).rename(dest / Path(folder).name)
        return config

    monkeypatch.setattr(watcher_module, "resolve_analysis_config",
                        resolved_then_imported_by_the_other_watcher)
    watcher = Watcher(db_url, ella_config, incoming, dest)
    assert watcher.poll() == [] and watcher.failures == []
    assert not (incoming / "TestAnalysis-001.import-error").exists()


def test_an_error_file_whose_folder_is_gone_is_removed(dirs, db_url, ella_config):
    """A failed folder renamed to be imported under another name (or taken away) left its
    error file in the incoming directory for good: an alarm for a failure dealt with."""
    incoming, dest = dirs
    (incoming / "TestAnalysis-003" / "READY").touch()
    watcher = Watcher(db_url, ella_config, incoming, dest)
    watcher.poll()
    assert watcher.failures == ["TestAnalysis-003"]
    error_file = incoming / "TestAnalysis-003.import-error"
    assert error_file.is_file()
    (incoming / "TestAnalysis-003").rename(incoming.parent / "taken-away")
    (incoming / "not-an-error-file.import-error").mkdir()  # a folder: not ours to remove
    assert watcher.poll() == []
    assert not error_file.exists()
    assert (incoming / "not-an-error-file.import-error").is_dir()


def test_cli_once_and_exit_codes(dirs, db_url):
    incoming, dest = dirs
    result = run_cli("ella-watcher", "--once", "--analyses", str(incoming), "--dest", str(dest),
                     db_url=db_url)
    assert result.returncode == 0, result.stderr
    assert "Analysis TestAnalysis-001 successfully imported!" in result.stderr
    (incoming / "TestAnalysis-003" / "READY").touch()
    result = run_cli("ella-watcher", "--once", db_url=db_url,
                     env={"ANALYSES_INCOMING": str(incoming), "ANALYSES_PATH": str(dest)})
    assert result.returncode == 1 and "TestAnalysis-003" in result.stderr
    assert "Traceback" not in result.stderr
    result = run_cli("ella-watcher", "--once", "--analyses", str(incoming / "nope"),
                     "--dest", str(dest), db_url=db_url)
    assert result.returncode == 1 and "Couldn't read from watch path" in result.stderr


def test_cli_error_line_is_one_line_whatever_a_name_holds(dirs, db_url):
    """A newline in a watch path's (or a folder's) name forged a second stderr line, which the
    entrypoint's log shows as a line of its own."""
    incoming, dest = dirs
    odd = incoming.parent / "in\nerror: forged"
    result = run_cli("ella-watcher", "--once", "--analyses", str(odd), "--dest", str(dest),
                     db_url=db_url)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: Couldn't read from watch path {incoming.parent}/in\\nerror: forged, "
        "aborting..."]



def test_cli_once_with_nothing_to_import_still_checks_the_database(tmp_path, db_url,
                                                                   empty_db_url):
    """From cron: an unusable DB_URL, or a database not at head, exited 0 while the incoming
    directory was empty (a pass touches the database only for a folder)."""
    incoming, dest = tmp_path / "in", tmp_path / "out"
    incoming.mkdir()
    dest.mkdir()
    args = ("--once", "--analyses", str(incoming), "--dest", str(dest))
    assert run_cli("ella-watcher", *args, db_url=db_url).returncode == 0
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = f"postgresql://ella@127.0.0.1:{s.getsockname()[1]}/ella"
    for url, message in ((closed, "error: "), (empty_db_url, "the database is not ready")):
        result = run_cli("ella-watcher", *args, db_url=url)
        assert result.returncode == 1 and message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


def test_sigterm_stops_the_loop_cleanly(dirs, db_url):
    incoming, dest = dirs
    env = {k: v for k, v in os.environ.items() if k not in ("ELLA_CONFIG",)}
    env.update(DB_URL=db_url, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "ella.cli.watcher", "--analyses",
                             str(incoming), "--dest", str(dest), "--interval", "0.2"],
                            stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while not (dest / "TestAnalysis-001").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert "watcher stopped" in stderr
    assert (dest / "TestAnalysis-001").exists()


def _wait_for(condition, what, proc=None, timeout=60):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        assert proc is None or proc.poll() is None, f"the watcher died waiting for {what}"
        time.sleep(0.05)


def _start_watcher(incoming, dest, db_url, log_path, *args):
    """`ella-watcher` in the background (polls every 0.2 s), stderr into `log_path`."""
    env = {k: v for k, v in os.environ.items() if k not in ("ELLA_CONFIG",)}
    env.update(DB_URL=db_url, PYTHONPATH=str(ROOT))
    with open(log_path, "w") as log:
        return subprocess.Popen([sys.executable, "-m", "ella.cli.watcher", "--analyses",
                                 str(incoming), "--dest", str(dest), "--interval", "0.2", *args],
                                stderr=log, text=True, env=env)


def test_database_outage_is_not_recorded_as_the_folders_failure(dirs, db_url):
    incoming, dest = dirs
    with socket.socket() as s:  # a port where no server listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = make_conninfo(db_url, host="127.0.0.1", port=port)
    result = run_cli("ella-watcher", "--once", "--analyses", str(incoming), "--dest", str(dest),
                     db_url=down)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "cannot connect to the database" in result.stderr
    assert list(incoming.glob("*.import-error")) == []
    # Once the database is back the folder is imported, without touching it.
    result = run_cli("ella-watcher", "--once", "--analyses", str(incoming), "--dest", str(dest),
                     db_url=db_url)
    assert result.returncode == 0, result.stderr
    assert (dest / "TestAnalysis-001").is_dir()


def test_database_failing_during_an_import_is_retried(dirs, db_url, ella_config):
    incoming, dest = dirs
    # A lock timeout (an OperationalError) while another session holds the analysis table.
    impatient = make_conninfo(db_url, options="-c lock_timeout=200")
    watcher = Watcher(impatient, ella_config, incoming, dest)
    with psycopg.connect(db_url) as locker:
        locker.execute("LOCK TABLE analysis IN ACCESS EXCLUSIVE MODE")
        assert watcher.poll() == []
    assert watcher.failures == ["TestAnalysis-001"]
    assert not (incoming / "TestAnalysis-001.import-error").exists()
    assert watcher.poll() == ["TestAnalysis-001"]


@pytest.mark.parametrize("option, before, after", [
    ("whitelistfile", "^TestAnalysis-001$", "^NonExisting$"),
    ("blacklistfile", "^NonExisting$", "^TestAnalysis-001$")])
def test_broken_list_file_imports_nothing_until_fixed(dirs, db_url, ella_config, tmp_path,
                                                      option, before, after):
    incoming, dest = dirs
    listfile = tmp_path / "list.txt"
    listfile.write_text(before + "\n")
    watcher = Watcher(db_url, ella_config, incoming, dest, **{option: listfile})
    # The new list refuses TestAnalysis-001, but has a bad line: the old list must not apply.
    listfile.write_text(after + "\n[bad\n")
    for _ in range(2):  # the error on every poll, not only the first after the change
        with pytest.raises(WatcherError, match="not a valid regex"):
            watcher.poll()
    listfile.write_text(after + "\n")
    assert watcher.poll() == [] and _analyses(db_url) == []
    assert (incoming / "TestAnalysis-001").is_dir()


@pytest.mark.parametrize("option", ["whitelistfile", "blacklistfile"])
def test_a_list_file_with_a_byte_order_mark_keeps_its_first_pattern(dirs, db_url, ella_config,
                                                                    tmp_path, option):
    """Notepad and Excel save a byte-order mark; it became part of the first pattern, so a
    blacklist's first entry never matched (its analysis was imported)."""
    incoming, dest = dirs
    listfile = tmp_path / "list.txt"
    listfile.write_bytes(b"\xef\xbb\xbf^TestAnalysis-001$\r\n")
    imported = Watcher(db_url, ella_config, incoming, dest, **{option: listfile}).poll()
    assert imported == (["TestAnalysis-001"] if option == "whitelistfile" else [])


def test_a_list_file_that_is_not_utf8_is_refused_in_one_line(dirs, db_url, ella_config,
                                                            tmp_path):
    incoming, dest = dirs
    listfile = tmp_path / "list.txt"
    listfile.write_bytes(b"^x$\n^Pr\xf8ve$\n")  # Latin-1
    result = run_cli("ella-watcher", "--once", "--analyses", str(incoming), "--dest", str(dest),
                     "--blacklistfile", str(listfile), db_url=db_url)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"pattern file {listfile}: line 2: not UTF-8 text (byte 7: b'\\xf8')" in result.stderr
    # Changed so while the watcher runs: the pass stops (fail closed), as for a bad regex.
    listfile.write_text("^x$\n")
    watcher = Watcher(db_url, ella_config, incoming, dest, blacklistfile=listfile)
    listfile.write_bytes(b"^Pr\xf8ve$\n")
    with pytest.raises(WatcherError, match="line 1: not UTF-8 text"):
        watcher.poll()
    assert _analyses(db_url) == []


def test_vanished_incoming_directory_is_reported_each_poll(dirs, db_url, ella_config, tmp_path):
    incoming, dest = dirs
    watcher = Watcher(db_url, ella_config, incoming, dest)
    incoming.rename(tmp_path / "away")
    for _ in range(2):
        with pytest.raises(WatcherError, match="Couldn't read from watch path"):
            watcher.poll()
    (tmp_path / "away").rename(incoming)
    assert watcher.poll() == ["TestAnalysis-001"]


def test_daemon_keeps_polling_while_the_incoming_directory_is_gone(dirs, db_url, tmp_path):
    incoming, dest = dirs
    aside = tmp_path / "aside"
    incoming.rename(aside)
    incoming.mkdir()
    log = tmp_path / "watcher.log"
    proc = _start_watcher(incoming, dest, db_url, log)
    try:
        _wait_for(lambda: "watching" in log.read_text(), "the daemon to start", proc)
        incoming.rmdir()
        _wait_for(lambda: "Couldn't read from watch path" in log.read_text(), "the error",
                  proc)
        time.sleep(1)  # several polls (--interval 0.2): the same error is said once
        assert log.read_text().count("Couldn't read from watch path") == 1
        aside.rename(incoming)
        _wait_for(lambda: "TestAnalysis-001 successfully imported" in log.read_text(),
                  "the import", proc)
        # (Said once the poll that imported it has ended: a moment after its import line.)
        _wait_for(lambda: "polling works again" in log.read_text(), "the all-clear", proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in log.read_text(), log.read_text()


def test_sigterm_stops_once_after_the_current_folder(dirs, db_url, tmp_path):
    incoming, dest = dirs
    for i in range(2, 8):
        copy_test_analysis(incoming / f"TestAnalysis-01{i}", f"Copy-{i}")
    log = tmp_path / "watcher.log"
    proc = _start_watcher(incoming, dest, db_url, log, "--once")
    _wait_for(lambda: (dest / "TestAnalysis-001").exists(), "the first import")
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    assert proc.returncode == 0, log.read_text()
    assert "signal 15 received" in log.read_text()
    # Stopped early, and every folder is either imported and moved or untouched.
    moved = sorted(p.name for p in dest.iterdir())
    assert 1 <= len(moved) < 7 and not list(incoming.glob("*.import-error"))
    assert len(_analyses(db_url)) == len(moved)


def test_daemon_survives_an_unexpected_error_in_a_poll(dirs, db_url, ella_config, monkeypatch,
                                                       caplog):
    """An error nobody foresaw (here: the first poll fails) is logged with its traceback and
    the daemon goes on polling instead of dying."""
    incoming, dest = dirs
    watcher = Watcher(db_url, ella_config, incoming, dest)
    polls = []

    def flaky_poll():
        polls.append(1)
        if len(polls) == 1:
            raise RuntimeError("folder vanished while it was read")
        watcher.stopping = True
    monkeypatch.setattr(watcher, "poll", flaky_poll)
    with caplog.at_level("ERROR", logger="ella.watcher"):
        watcher.run(interval=0.01)
    assert len(polls) == 2
    assert "unexpected error during a poll" in caplog.text
    assert "folder vanished while it was read" in caplog.text


def test_an_unexpected_error_in_an_import_is_logged_with_its_traceback(
        dirs, db_url, ella_config, monkeypatch, caplog):
    """A fault of ours (not the folder's content) is logged with its type and traceback
    (import.md 1.6), and the error file names the type; the folder's own problems stay one
    line."""
    incoming, dest = dirs
    (incoming / "TestAnalysis-003" / "READY").touch()

    def broken_deposit(*args, **kwargs):
        raise KeyError("annotations")
    monkeypatch.setattr(watcher_module, "deposit_analysis", broken_deposit)
    with caplog.at_level("ERROR", logger="ella.watcher"):
        Watcher(db_url, ella_config, incoming, dest).poll()
    by_folder = {r.getMessage().split(" importing ")[1].split(":")[0]: r
                 for r in caplog.records if " importing " in r.getMessage()}
    unexpected, bad_input = by_folder["TestAnalysis-001"], by_folder["TestAnalysis-003"]
    assert "KeyError: 'annotations'" in unexpected.getMessage()
    assert unexpected.exc_info and unexpected.exc_info[0] is KeyError
    assert "broken_deposit" in caplog.text  # the traceback
    assert bad_input.exc_info is None and "no 'name'" in bad_input.getMessage()
    record = json.loads((incoming / "TestAnalysis-001.import-error").read_text())
    assert record["error"] == "KeyError: 'annotations'"
    assert _analyses(db_url) == []


def test_a_folder_finished_while_its_import_fails_is_tried_again(dirs, db_url, ella_config,
                                                                  monkeypatch):
    """READY came a moment early: the VCF's last line was still being written (refused: no
    final newline), and the pipeline finished it during the import. The failure belongs to
    the files as they were read, so the finished folder is imported on the next poll."""
    incoming, dest = dirs
    vcf = incoming / "TestAnalysis-001" / "TestAnalysis-001.vcf"
    full = vcf.read_bytes()
    vcf.write_bytes(full[:-1])
    real = watcher_module.deposit_analysis

    def deposit_while_the_pipeline_finishes(*args, **kwargs):
        try:
            return real(*args, **kwargs)
        finally:
            vcf.write_bytes(full)

    monkeypatch.setattr(watcher_module, "deposit_analysis", deposit_while_the_pipeline_finishes)
    watcher = Watcher(db_url, ella_config, incoming, dest, whitelist=["^TestAnalysis-001$"])
    assert watcher.poll() == [] and watcher.failures == ["TestAnalysis-001"]
    monkeypatch.setattr(watcher_module, "deposit_analysis", real)
    assert watcher.poll() == ["TestAnalysis-001"]


CRASHING_WATCHER = """
import os, signal, sys
import ella.watcher as w
from ella.config import load_config
db_url, incoming, dest, where = sys.argv[1:5]
real_rename = w.Watcher._rename
def die():
    os.kill(os.getpid(), signal.SIGKILL)
def rename_then_die(source, target):  # the move into the destination, before the commit
    real_rename(source, target)
    die()
def die_before_rename(cls, source, target):  # committed; the rename to its own name not done
    die()
real_move = w.Watcher._move_quietly
def die_after_rename(cls, source, target):  # renamed; its marker not removed
    real_move(source, target)
    die()
if where == "before-commit":
    w.Watcher._rename = staticmethod(rename_then_die)
elif where == "after-rename":
    w.Watcher._move_quietly = classmethod(die_after_rename)
else:
    w.Watcher._move_quietly = classmethod(die_before_rename)
w.Watcher(db_url, load_config(environ={}), incoming, dest).poll()
"""


def _killed_watcher(db_url, incoming, dest, where):
    env = {k: v for k, v in os.environ.items() if k not in ("DB_URL", "ELLA_CONFIG")}
    env["PYTHONPATH"] = str(ROOT)
    killed = subprocess.run([sys.executable, "-c", CRASHING_WATCHER, db_url, str(incoming),
                             str(dest), where], env=env, capture_output=True, text=True,
                            timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr


@pytest.mark.parametrize("where", ["before-rename", "after-rename"])
def test_a_recovered_import_removes_the_folders_earlier_failure(watch_dirs, db_url,
                                                                 ella_config, where):
    """The folder failed once (its .import-error beside it), was mended, and its import was
    killed after the commit, before or after the folder got its name: recovery finishes it,
    and the error file saying it failed (what the README says to watch) goes, as after an
    import that was not killed."""
    incoming, dest = watch_dirs
    folder = incoming / "TestAnalysis-001"
    shutil.copytree(TEST_ANALYSIS_001, folder)
    analysis = folder / "TestAnalysis-001.analysis"
    good = analysis.read_text()
    analysis.write_text("{not json")
    watcher = Watcher(db_url, ella_config, incoming, dest)
    assert watcher.poll() == [] and watcher.failures == ["TestAnalysis-001"]
    assert (incoming / "TestAnalysis-001.import-error").exists()
    analysis.write_text(good)
    _killed_watcher(db_url, incoming, dest, where)
    assert Watcher(db_url, ella_config, incoming, dest).poll() == []
    assert [a[0] for a in _analyses(db_url)] == ["TestAnalysis-001"]
    assert [p.name for p in dest.iterdir()] == ["TestAnalysis-001"]
    assert list(incoming.iterdir()) == []


def test_a_folder_that_could_not_be_moved_is_retried_after_a_chmod_of_it(
        watch_dirs, db_url, ella_config, monkeypatch):
    """Moving a folder to another directory needs write permission on the folder itself
    (EACCES for the service user otherwise; simulated, the tests run as root). The failure
    is recorded; `chmod u+w` of the folder, the fix it asks for, is a change of the folder,
    so it is tried again (it waited for a change of one of its files)."""
    incoming, dest = watch_dirs
    folder = incoming / "TestAnalysis-001"
    shutil.copytree(TEST_ANALYSIS_001, folder)
    os.chmod(folder, 0o555)
    rename = os.rename

    def rename_as_the_service_user(src, dst):
        if os.path.isdir(src) and not os.stat(src).st_mode & 0o200 and \
                Path(src).resolve().parent != Path(dst).resolve().parent:
            raise PermissionError(13, "Permission denied", str(src))
        return rename(src, dst)
    monkeypatch.setattr(watcher_module.os, "rename", rename_as_the_service_user)
    assert Watcher(db_url, ella_config, incoming, dest).poll() == []
    assert "Permission denied" in (incoming / "TestAnalysis-001.import-error").read_text()
    assert _analyses(db_url) == []
    assert Watcher(db_url, ella_config, incoming, dest).poll() == []  # unchanged: waits
    os.chmod(folder, 0o755)
    assert Watcher(db_url, ella_config, incoming, dest).poll() == ["TestAnalysis-001"]
    assert list(incoming.iterdir()) == []


def test_the_same_poll_error_is_said_once_and_then_every_ten_minutes(
        watch_dirs, db_url, ella_config, monkeypatch, caplog):
    """The database down or not ready: every poll (30 s) logged the same error line."""
    incoming, dest = watch_dirs
    watcher = Watcher(db_url, ella_config, incoming, dest)
    clock = [1000.0]
    outcomes = iter(["down", "down", "down", "later", "down", "full", "ok", "down"])

    def poll():
        outcome = next(outcomes, "last")
        if outcome == "last":  # the same error once more (not said), then stop
            watcher.stopping = True
            raise WatcherError("the database is down")
        clock[0] += 30
        if outcome == "later":  # ten minutes after it was said
            clock[0] += watcher_module.ERROR_REMINDER_SECONDS
            raise WatcherError("the database is down")
        if outcome != "ok":
            raise WatcherError(f"the database is {outcome}")
    monkeypatch.setattr(watcher, "poll", poll)
    monkeypatch.setattr(watcher_module.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(watcher_module.time, "sleep",
                        lambda seconds: clock.__setitem__(0, clock[0] + seconds))
    with caplog.at_level("INFO", logger="ella.watcher"):
        watcher.run(interval=0.01)
    said = [r.getMessage() for r in caplog.records
            if r.getMessage().startswith(("the database", "polling works"))]
    assert said == ["the database is down", "the database is down", "the database is full",
                    "polling works again", "the database is down"]


def _only(incoming, *names):
    """Leave only these folders (copied by the `dirs` fixture) in the incoming directory."""
    for folder in incoming.iterdir():
        if folder.name not in names:
            shutil.rmtree(folder)


@pytest.mark.parametrize("where, committed", [("before-commit", False),
                                              ("before-rename", True)])
def test_a_killed_watcher_loses_nothing(dirs, db_url, ella_config, where, committed):
    """SIGKILL (the OOM killer, a stop past its grace period, power loss) after the folder
    went into the destination under its staging name, before or after the commit: the next
    poll puts it back and imports it, or gives it its own name. (ELLA's order, move then
    commit, left a killed import's folder in the destination with nothing in the database.)"""
    incoming, dest = dirs
    _only(incoming, "TestAnalysis-001")
    _killed_watcher(db_url, incoming, dest, where)
    assert sorted(p.name for p in dest.iterdir()) == [".importing-TestAnalysis-001",
                                                      ".importing-TestAnalysis-001.json"]
    assert [a[0] for a in _analyses(db_url)] == (["TestAnalysis-001"] if committed else [])
    assert Watcher(db_url, ella_config, incoming, dest).poll() == \
        ([] if committed else ["TestAnalysis-001"])
    assert [p.name for p in dest.iterdir()] == ["TestAnalysis-001"]
    assert list(incoming.iterdir()) == []
    assert [a[0] for a in _analyses(db_url)] == ["TestAnalysis-001"]


def test_an_import_killed_after_its_commit_and_deleted_since_is_not_imported_again(
        dirs, db_url, ella_config, caplog):
    """Killed after the commit, before the rename; before the next poll an operator deletes
    the analysis (`ella-delete`). Recovery took the missing row for "never committed", put
    the folder back and imported the deleted analysis again. The marker's transaction id
    tells the two apart."""
    incoming, dest = dirs
    _only(incoming, "TestAnalysis-001")
    _killed_watcher(db_url, incoming, dest, "before-rename")
    with psycopg.connect(db_url) as conn:
        [(analysis_id,)] = conn.execute("SELECT id FROM analysis").fetchall()
    deleted = run_cli("ella-delete", "analysis", str(analysis_id), "--reason", "wrong sample",
                      db_url=db_url, stdin="y\n")
    assert deleted.returncode == 0, deleted.stderr
    with caplog.at_level("WARNING", logger="ella.watcher"):
        assert Watcher(db_url, ella_config, incoming, dest).poll() == []
    assert _analyses(db_url) == []
    assert [p.name for p in dest.iterdir()] == ["TestAnalysis-001"]
    assert list(incoming.iterdir()) == []
    assert "its analysis deleted since" in caplog.text


def test_a_killed_import_of_a_folder_named_analysis_gets_its_name(dirs, db_url, ella_config):
    """Without a .analysis file the analysis is named by its folder; recovery knows it from
    the marker, not from the staging folder's name."""
    incoming, dest = dirs
    _only(incoming)
    folder = incoming / "Probe.HBOC_v01"
    folder.mkdir()
    shutil.copy(BRCA_VCF, folder / "Probe.HBOC_v01.vcf")
    (folder / "READY").touch()
    _killed_watcher(db_url, incoming, dest, "before-rename")
    assert Watcher(db_url, ella_config, incoming, dest).poll() == []
    assert [p.name for p in dest.iterdir()] == ["Probe.HBOC_v01"]
    assert list(incoming.iterdir()) == []
    assert [a[0] for a in _analyses(db_url)] == ["Probe.HBOC_v01"]


def test_recovery_leaves_an_import_that_is_running_or_from_another_incoming_alone(
        dirs, db_url, ella_config, tmp_path):
    """Two watchers share the destination, each with its incoming directory. The first one's
    import is running (claimed): the second leaves its staging folder alone. Once the first
    is gone without a commit, the folder goes back only to the incoming directory it came
    from, by that directory's watcher."""
    incoming, dest = dirs
    _only(incoming, "TestAnalysis-001")
    _killed_watcher(db_url, incoming, dest, "before-commit")
    other_incoming = tmp_path / "other-incoming"
    other_incoming.mkdir()
    other = Watcher(db_url, ella_config, other_incoming, dest)
    first = Watcher(db_url, ella_config, incoming, dest)
    with psycopg.connect(db_url) as running:  # as the first watcher's claim, while it runs
        # (the key every version takes: watchers of two versions see each other's claims)
        running.execute("SELECT pg_advisory_lock(hashtext(%s))",
                        ("ella.watcher:TestAnalysis-001",))
        assert first.poll() == [] and other.poll() == []
        assert (dest / ".importing-TestAnalysis-001").is_dir()
    assert other.poll() == []  # not its folder, not committed: left for its own watcher
    assert (dest / ".importing-TestAnalysis-001").is_dir()
    assert list(other_incoming.iterdir()) == []
    assert first.poll() == ["TestAnalysis-001"]
    assert [p.name for p in dest.iterdir()] == ["TestAnalysis-001"]


def test_a_commit_with_an_unknown_outcome_is_left_to_recovery(dirs, db_url, ella_config,
                                                               monkeypatch):
    """The COMMIT reached the server, its answer did not come back (the connection was
    lost): the folder must not go back to incoming as if nothing was committed. It stays
    under its staging name, and the next poll decides by the database."""
    incoming, dest = dirs
    _only(incoming, "TestAnalysis-001")
    real_exit = psycopg.Transaction.__exit__
    lost = []

    def commit_then_lose_the_connection(self, exc_type, exc, tb):
        result = real_exit(self, exc_type, exc, tb)
        if exc_type is None and not lost and (dest / ".importing-TestAnalysis-001").exists():
            lost.append(1)
            with psycopg.connect(db_url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)",
                              (self._conn.info.backend_pid,))
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        return result

    monkeypatch.setattr(psycopg.Transaction, "__exit__", commit_then_lose_the_connection)
    watcher = Watcher(db_url, ella_config, incoming, dest)
    assert watcher.poll() == [] and lost
    monkeypatch.setattr(psycopg.Transaction, "__exit__", real_exit)
    assert list(incoming.iterdir()) == []
    assert sorted(p.name for p in dest.iterdir()) == [".importing-TestAnalysis-001",
                                                      ".importing-TestAnalysis-001.json"]
    assert watcher.poll() == []
    assert [p.name for p in dest.iterdir()] == ["TestAnalysis-001"]
    assert [a[0] for a in _analyses(db_url)] == ["TestAnalysis-001"]


def _fail_every_commit_of_an_analysis(db_url):
    with psycopg.connect(db_url) as conn:
        conn.execute("""
            CREATE FUNCTION test_fail_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'could not serialize' USING ERRCODE = '40001'; END $$;
            CREATE CONSTRAINT TRIGGER test_fail_at_commit AFTER INSERT ON analysis
            DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_fail_at_commit();
        """)


def test_a_refused_commit_puts_the_folder_back_or_leaves_it_to_recovery(
        dirs, db_url, ella_config, monkeypatch):
    """PostgreSQL refuses the commit (a live connection: nothing was committed): the folder
    goes back to incoming. If it cannot (the pipeline wrote the folder again meanwhile), its
    marker stays beside it, so it is not hidden in the destination for good."""
    incoming, dest = dirs
    _only(incoming, "TestAnalysis-001")
    _fail_every_commit_of_an_analysis(db_url)
    watcher = Watcher(db_url, ella_config, incoming, dest)
    assert watcher.poll() == [] and watcher.failures == ["TestAnalysis-001"]
    assert [p.name for p in incoming.iterdir()] == ["TestAnalysis-001"]
    assert list(dest.iterdir()) == []
    real_rename = Watcher._rename

    def rename_and_redeliver(source, target):
        real_rename(source, target)
        if source == incoming / "TestAnalysis-001":
            shutil.copytree(TEST_ANALYSIS_001, source)

    monkeypatch.setattr(Watcher, "_rename", staticmethod(rename_and_redeliver))
    assert watcher.poll() == []
    assert sorted(p.name for p in dest.iterdir()) == [".importing-TestAnalysis-001",
                                                      ".importing-TestAnalysis-001.json"]
    assert _analyses(db_url) == []


def _uncommitted_leftover(dest, folder_name, origin, **marker):
    """What a watcher of `origin` killed before its commit leaves in `dest`: TestAnalysis-001
    under a staging name, and its marker naming an analysis row that was never committed
    (`marker`: more keys, e.g. the transaction id)."""
    staging = dest / f".importing-{folder_name}"
    shutil.copytree(TEST_ANALYSIS_001, staging)
    (dest / f".importing-{folder_name}.json").write_text(json.dumps(
        {"analysis": "TestAnalysis-001", "analysis_id": 999999,
         "incoming": str(origin.resolve()), **marker}))
    return staging


def test_an_import_whose_transaction_the_database_never_saw_goes_back(dirs, db_url,
                                                                     ella_config):
    """A transaction id from the future (the database was restored from a backup older than
    the import): not committed here, so the folder is imported again (the status query's
    error stopped the recovery)."""
    incoming, dest = dirs
    _only(incoming)
    with psycopg.connect(db_url) as conn:
        future = conn.execute("SELECT txid_current() + 1000000").fetchone()[0]
    _uncommitted_leftover(dest, "TestAnalysis-001", incoming, xact=future)
    assert Watcher(db_url, ella_config, incoming, dest).poll() == ["TestAnalysis-001"]
    assert [p.name for p in dest.iterdir()] == ["TestAnalysis-001"]


def test_an_import_whose_transaction_is_still_open_is_left_for_the_next_poll(
        dirs, db_url, ella_config):
    """The marker's transaction is still in progress (the server side of a connection lost
    during its commit): whether it commits is not known yet, so the staging folder and its
    marker stay as they are; once the transaction has ended (here rolled back), the next poll
    puts the folder back and imports it."""
    incoming, dest = dirs
    _only(incoming)
    with psycopg.connect(db_url) as importing:
        xact = importing.execute("SELECT txid_current()").fetchone()[0]
        database = watcher_module.database_identity(importing)
        staging = _uncommitted_leftover(dest, "TestAnalysis-001", incoming, xact=xact,
                                        database=database)
        marker = dest / ".importing-TestAnalysis-001.json"
        written = marker.read_text()
        watcher = Watcher(db_url, ella_config, incoming, dest)
        assert watcher.poll() == []
        assert staging.is_dir() and marker.read_text() == written
        assert list(incoming.iterdir()) == []
        assert _analyses(db_url) == []
        importing.rollback()
    assert watcher.poll() == ["TestAnalysis-001"]
    assert [p.name for p in dest.iterdir()] == ["TestAnalysis-001"]
    assert [a[0] for a in _analyses(db_url)] == ["TestAnalysis-001"]


def _a_committed_transaction_id(db_url):
    with psycopg.connect(db_url) as conn:
        return conn.execute("SELECT txid_current()").fetchone()[0]  # committed at the end


@pytest.mark.parametrize("database, imported", [
    # A marker of another cluster (a dump restored onto a new server) or database: its
    # transaction id names some unrelated committed transaction here. It was taken for
    # "committed and deleted since", and the analysis was never imported.
    ("1234567890/ella", True),
    # This database's own: committed with no analysis left, i.e. deleted since.
    ("this", False),
])
def test_a_markers_transaction_counts_only_in_its_own_database(dirs, db_url, ella_config,
                                                               database, imported):
    incoming, dest = dirs
    _only(incoming)
    xact = _a_committed_transaction_id(db_url)
    if database == "this":
        with psycopg.connect(db_url) as conn:
            database = watcher_module.database_identity(conn)
    _uncommitted_leftover(dest, "TestAnalysis-001", incoming, xact=xact, database=database)
    assert Watcher(db_url, ella_config, incoming, dest).poll() == (
        ["TestAnalysis-001"] if imported else [])
    assert [p.name for p in dest.iterdir()] == ["TestAnalysis-001"]
    assert [a[0] for a in _analyses(db_url)] == (["TestAnalysis-001"] if imported else [])


def test_a_server_that_does_not_tell_its_identity_does_not_stop_imports(db_url):
    """pg_control_system() not granted (or not offered by a managed service): the marker
    goes without it, and the import's transaction goes on."""
    with psycopg.connect(db_url) as conn:
        conn.execute("CREATE ROLE marker_probe")
        conn.execute("REVOKE EXECUTE ON FUNCTION pg_control_system() FROM PUBLIC")
        conn.execute("SET ROLE marker_probe")
        assert watcher_module.database_identity(conn) is None
        assert conn.execute("SELECT 1").fetchone() == (1,)
        conn.rollback()  # (the role and the grant were never committed)


def test_the_marker_names_its_database(dirs, db_url, ella_config):
    incoming, dest = dirs
    _only(incoming, "TestAnalysis-001")
    _killed_watcher(db_url, incoming, dest, "before-rename")
    record = json.loads((dest / ".importing-TestAnalysis-001.json").read_text())
    with psycopg.connect(db_url) as conn:
        system, name = conn.execute("SELECT system_identifier::text, current_database() "
                                    "FROM pg_control_system()").fetchone()
    assert record["database"] == f"{system}/{name}"


def test_an_interrupted_import_of_the_same_name_blocks_it_only_until_resolved(
        dirs, db_url, ella_config, tmp_path):
    """Another incoming directory's watcher was killed with its folder of the same name in
    the destination, uncommitted: this watcher leaves that folder alone and skips its own
    for now, without remembering it as done; once that is resolved, it imports its own."""
    incoming, dest = dirs
    _only(incoming, "TestAnalysis-001")
    other_incoming = tmp_path / "other"
    other_incoming.mkdir()
    staging = _uncommitted_leftover(dest, "TestAnalysis-001", other_incoming)
    watcher = Watcher(db_url, ella_config, incoming, dest)
    assert watcher.poll() == []
    assert staging.is_dir() and (incoming / "TestAnalysis-001").is_dir()
    assert "TestAnalysis-001" not in watcher.processed
    # Resolved (here by hand: its own watcher would put it back and import it itself).
    shutil.rmtree(staging)
    (dest / ".importing-TestAnalysis-001.json").unlink()
    assert watcher.poll() == ["TestAnalysis-001"]


def test_a_killed_import_is_not_taken_for_another_folders_analysis_of_its_name(
        dirs, db_url, ella_config):
    """Killed before its commit; meanwhile another folder committed an analysis of the same
    name. Recovery asks for this import's own row (by id), so the folder goes back to incoming
    and fails there as a second import of that name, visibly (it is not renamed as if it
    were imported)."""
    incoming, dest = dirs
    _only(incoming, "TestAnalysis-001")
    assert Watcher(db_url, ella_config, incoming, dest).poll() == ["TestAnalysis-001"]
    _uncommitted_leftover(dest, "TestAnalysis-001-copy", incoming)
    watcher = Watcher(db_url, ella_config, incoming, dest)
    assert watcher.poll() == [] and watcher.failures == ["TestAnalysis-001-copy"]
    assert sorted(p.name for p in dest.iterdir()) == ["TestAnalysis-001"]
    assert sorted(p.name for p in incoming.iterdir()) == [
        "TestAnalysis-001-copy", "TestAnalysis-001-copy.import-error"]
    assert "already imported" in (incoming / "TestAnalysis-001-copy.import-error").read_text()


def test_incoming_and_destination_must_share_a_file_system(tmp_path, db_url, ella_config):
    """A folder is moved by a rename, atomic only within one file system."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("no second file system here")
    dest = Path(tempfile.mkdtemp(dir=shm))
    try:
        with pytest.raises(WatcherError, match="must be on the same file system"):
            Watcher(db_url, ella_config, tmp_path, dest)
    finally:
        shutil.rmtree(dest)


def test_a_read_only_database_is_not_the_folders_failure(watch_dirs, db_url, ella_config):
    """A standby DB_URL points at after a failover, or a maintenance freeze (SQLSTATE 25006,
    not an OperationalError): the folder got an error file and waited for someone to touch
    its files after the database took writes again."""
    from psycopg.conninfo import make_conninfo
    incoming, dest = watch_dirs
    shutil.copytree(TEST_ANALYSIS_001, incoming / "TestAnalysis-001")
    read_only = make_conninfo(db_url, options="-c default_transaction_read_only=on")
    assert Watcher(read_only, ella_config, incoming, dest).poll() == []
    assert sorted(p.name for p in incoming.iterdir()) == ["TestAnalysis-001"]
    assert Watcher(db_url, ella_config, incoming, dest).poll() == ["TestAnalysis-001"]


def test_a_session_the_server_ended_is_not_the_folders_failure(watch_dirs, db_url,
                                                               ella_config, monkeypatch):
    """The site's idle_in_transaction_session_timeout ended the session while the import
    read a VCF from a slow share (FATAL 25P03, not an OperationalError): the folder got an
    error file and waited for someone to touch its files."""
    from psycopg.conninfo import make_conninfo
    import ella.deposit.analysis as analysis
    incoming, dest = watch_dirs
    shutil.copytree(TEST_ANALYSIS_001, incoming / "TestAnalysis-001")
    real = analysis.sample_rows

    def slow_share(*args, **kwargs):
        time.sleep(1)
        return real(*args, **kwargs)
    monkeypatch.setattr(analysis, "sample_rows", slow_share)
    timed = make_conninfo(db_url, options="-c idle_in_transaction_session_timeout=300")
    assert Watcher(timed, ella_config, incoming, dest).poll() == []
    assert sorted(p.name for p in incoming.iterdir()) == ["TestAnalysis-001"]
    monkeypatch.setattr(analysis, "sample_rows", real)
    assert Watcher(db_url, ella_config, incoming, dest).poll() == ["TestAnalysis-001"]


@pytest.mark.parametrize("sqlstate, unavailable", [
    ("08006", True), ("57P01", True), ("55P03", True), ("40P01", True), ("53100", True),
    ("53300", True), ("25006", True), ("25P03", True), ("57P04", True), ("57P05", True),
    (None, True),
    # A folder can cause these on every try: they stay its failure, or it would be
    # re-imported on every poll.
    ("57014", False), ("53200", False), ("54000", False), ("22001", False),
])
def test_which_database_errors_mean_retry_later(sqlstate, unavailable):
    from psycopg import errors
    from ella.watcher import database_unavailable
    exc = errors.lookup(sqlstate)("x") if sqlstate else psycopg.OperationalError("closed")
    assert database_unavailable(exc) is unavailable


def test_an_error_quoting_a_huge_value_is_cut_in_the_log_and_the_error_file(
        tmp_path, db_url, ella_config, caplog):
    """A folder whose .analysis quotes a value of 20,000 characters in its error: the log
    line and the error file hold the first 10,000 and how many more there were."""
    incoming, dest = tmp_path / "incoming", tmp_path / "dest"
    incoming.mkdir()
    dest.mkdir()
    folder = incoming / "big"
    folder.mkdir()
    shutil.copy(BRCA_VCF, folder / "x.vcf")
    (folder / "big.analysis").write_text(json.dumps({
        "name": "big", "genepanel_name": "HBOC", "genepanel_version": "v01",
        "date_requested": "1" * 20_000, "data": [{"vcf": "x.vcf"}]}))
    (folder / "READY").touch()
    watcher = Watcher(db_url, ella_config, incoming, dest)
    with caplog.at_level("ERROR", logger="ella.watcher"):
        assert watcher.poll() == [] and watcher.failures == ["big"]
    full = (f"{folder / 'big.analysis'}: date_requested '{'1' * 20_000}' is not a date "
            "(YYYY-MM-DD)")
    cut = f"{full[:10_000]}... ({len(full) - 10_000:,} more characters)"
    assert json.loads((incoming / "big.import-error").read_text())["error"] == cut
    assert [r.getMessage() for r in caplog.records] == [
        f"An exception occurred while importing big: {cut}. Skipping..."]


def test_a_ready_folder_is_imported_once_it_is_unchanged_at_a_second_look(dirs, db_url,
                                                                          ella_config):
    """A READY written before the VCF was done (a pipeline's order, a slow copy) had the
    records written so far imported, the rest silently lost: the import only checked that
    the folder did not change during the deposit itself."""
    incoming, dest = dirs
    _imported_once_written_in_full(db_url, ella_config, incoming, dest,
                                   next((incoming / "TestAnalysis-001").glob("*.vcf")))


def _imported_once_written_in_full(db_url, ella_config, incoming, dest, vcf):
    """TestAnalysis-001 whose `vcf` has three records still to come at the first look is
    imported only once it is whole and unchanged at a second look."""
    whole = vcf.read_text()
    vcf.write_text("".join(whole.splitlines(keepends=True)[:-3]))
    watcher = Watcher(db_url, ella_config, incoming, dest, settle=True)
    assert watcher.poll() == [] and watcher.settling == 1
    vcf.write_text(whole)                                   # the writer finishes
    assert watcher.poll() == [] and watcher.settling == 1
    assert _analyses(db_url) == []
    assert watcher.poll() == ["TestAnalysis-001"]
    with psycopg.connect(db_url) as conn:
        records = conn.execute("SELECT count(*) FROM genotype").fetchone()[0]
    assert records == sum(1 for line in whole.splitlines() if not line.startswith("#"))


def _vcf_named_from_outside(tmp_path, incoming, how):
    """TestAnalysis-001 whose .analysis names its VCF in a folder outside the analysis
    folder, through a linked subfolder or by its absolute path; the VCF."""
    outside = tmp_path / "pipeline-output"
    outside.mkdir()
    folder = incoming / "TestAnalysis-001"
    vcf = next(folder.glob("*.vcf"))
    vcf = Path(shutil.move(vcf, outside / vcf.name))
    if how == "linked subfolder":
        (folder / "data").symlink_to(outside, target_is_directory=True)
        named = f"data/{vcf.name}"
    else:
        named = str(vcf)
    (folder / "TestAnalysis-001.analysis").write_text(json.dumps({  # the current format
        "name": "TestAnalysis-001", "genepanel_name": "HBOC", "genepanel_version": "v1.0.0",
        "data": [{"vcf": named, "ped": "TestAnalysis-001.ped"}]}))
    return vcf


@pytest.mark.parametrize("how", ["linked subfolder", "absolute path"])
def test_a_vcf_named_outside_the_folder_settles_before_its_import(dirs, db_url, ella_config,
                                                                  tmp_path, how):
    """The folder's fingerprint did not see a VCF the .analysis names through a linked
    subfolder or by its absolute path (the walk does not enter links): one still being
    written was imported at the second look, its later records lost."""
    incoming, dest = dirs
    _imported_once_written_in_full(db_url, ella_config, incoming, dest,
                                   _vcf_named_from_outside(tmp_path, incoming, how))


@pytest.mark.parametrize("how", ["linked subfolder", "absolute path"])
def test_a_failed_folder_is_retried_when_a_vcf_it_names_outside_is_fixed(
        dirs, db_url, ella_config, tmp_path, how):
    """Fixed, such a VCF was not a change of the failed folder: never retried."""
    incoming, dest = dirs
    vcf = _vcf_named_from_outside(tmp_path, incoming, how)
    good = vcf.read_text()
    vcf.write_text(good.replace("##fileformat", "##broken", 1))
    watcher = Watcher(db_url, ella_config, incoming, dest)
    watcher.poll()
    assert "TestAnalysis-001" in watcher.failures
    assert (incoming / "TestAnalysis-001.import-error").exists()
    vcf.write_text(good)
    assert Watcher(db_url, ella_config, incoming, dest).poll() == ["TestAnalysis-001"]


def test_a_folder_copied_ready_first_fails_only_if_so_at_a_second_look(dirs, db_url,
                                                                      ella_config):
    """A copy (`cp -r`, rsync) that wrote READY before the VCF failed at first sight, with an
    ERROR line and an error file, though its import waits for a second look: a false alarm
    for every such copy. A folder that stays broken fails at the second look."""
    incoming, dest = dirs
    copying = incoming / "S1.HBOC_v01"
    copying.mkdir()
    (copying / "READY").touch()
    broken = incoming / "S2.HBOC_v01"
    broken.mkdir()
    (broken / "READY").touch()
    (broken / "notes.txt").write_text("no VCF will come\n")
    watcher = Watcher(db_url, ella_config, incoming, dest, settle=True)
    assert watcher.poll() == []
    assert watcher.failures == []
    assert not (incoming / "S1.HBOC_v01.import-error").exists()
    assert not (incoming / "S2.HBOC_v01.import-error").exists()
    shutil.copy(BRCA_VCF, copying / "S1.vcf")               # the copy goes on
    watcher.poll()
    assert watcher.failures == ["S2.HBOC_v01"]
    assert "no .vcf or .vcf.gz file" in json.loads(
        (incoming / "S2.HBOC_v01.import-error").read_text())["error"]
    assert not (incoming / "S1.HBOC_v01.import-error").exists()
    assert watcher.poll() == ["S1.HBOC_v01"]


def test_the_marker_and_the_move_are_on_disk_before_the_commit(dirs, db_url, ella_config,
                                                               monkeypatch):
    """Nothing was synced: after a power cut right after the commit, the rename and the
    marker could be lost, the folder back in incoming without a marker, failed as "already
    imported" and never moved to the destination (where its IGV tracks are read)."""
    incoming, dest = dirs
    synced = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        with psycopg.connect(db_url) as conn:  # committed yet?
            committed = conn.execute("SELECT count(*) FROM analysis").fetchone()[0]
        synced.append((os.readlink(f"/proc/self/fd/{fd}"), committed))
        return real_fsync(fd)
    monkeypatch.setattr(os, "fsync", recording_fsync)
    assert Watcher(db_url, ella_config, incoming, dest).poll() == ["TestAnalysis-001"]
    marker = dest / ".importing-TestAnalysis-001.json"
    assert synced == [(str(marker), 0), (str(dest), 0), (str(incoming), 0)]


def test_cli_once_looks_twice_settle_seconds_apart(dirs, db_url):
    incoming, dest = dirs
    started = time.monotonic()
    result = run_cli("ella-watcher", "--once", "--analyses", str(incoming), "--dest", str(dest),
                     db_url=db_url, env={"ELLA_WATCHER_SETTLE": "1"})
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started >= 1
    assert "TestAnalysis-001 is READY: imported once its files are unchanged at the next " \
           "look" in result.stderr
    assert "Analysis TestAnalysis-001 successfully imported!" in result.stderr
    bad = run_cli("ella-watcher", "--once", "--settle", "-1", db_url=db_url)
    assert bad.returncode == 2 and "give seconds from 0 to 3600" in bad.stderr


def test_a_folder_name_with_a_newline_is_one_log_line(dirs, db_url, ella_config, caplog):
    """A folder named `Bad\\n2026-... [INFO] ella.watcher: Analysis Forged successfully
    imported!` printed a forged success line into the log."""
    import logging
    incoming, dest = dirs
    forged = "Bad\n2026-11-30 17:00:00,000 [INFO] ella.watcher: Analysis Forged imported!"
    (incoming / forged).mkdir()
    (incoming / forged / "READY").touch()
    caplog.set_level(logging.INFO, logger="ella.watcher")
    Watcher(db_url, ella_config, incoming, dest).poll()  # its failure (no .analysis, no VCF)
    messages = [r.getMessage() for r in caplog.records if "Bad" in r.getMessage()]
    assert messages and all("Bad\\n2026-11-30" in m for m in messages), messages
    assert not any("\n" in m for m in messages), messages


def test_a_share_failing_for_a_moment_is_not_the_folders_failure(dirs, db_url, ella_config,
                                                                monkeypatch):
    """An I/O error of a network share (EIO, a stale handle) was recorded as the folder's
    failure: not tried again until its files changed, also after a restart."""
    import errno
    from ella.deposit.analysis_config import AnalysisConfigError
    incoming, dest = dirs
    real = watcher_module.resolve_analysis_config
    calls = []

    def flaky(folder):
        calls.append(folder)
        if len(calls) == 1:
            try:
                raise OSError(errno.EIO, "Input/output error")
            except OSError as exc:
                raise AnalysisConfigError(f"{folder}: cannot be read: {exc.strerror}") from None
        return real(folder)
    monkeypatch.setattr(watcher_module, "resolve_analysis_config", flaky)
    watcher = Watcher(db_url, ella_config, incoming, dest)
    assert watcher.poll() == [] and watcher.failures == ["TestAnalysis-001"]
    assert not (incoming / "TestAnalysis-001.import-error").exists()
    assert watcher.poll() == ["TestAnalysis-001"]


def test_a_failure_whose_error_file_cannot_be_written_is_tried_again_once_mended(
        dirs, db_url, ella_config, monkeypatch):
    """During a moment's full disk the folder was remembered as done by name: mended, it was
    not tried again until the watcher restarted."""
    import errno
    incoming, dest = dirs
    (incoming / "TestAnalysis-003" / "READY").touch()
    real_replace = os.replace

    def full_disk(source, target, *args, **kwargs):
        if Path(source).name.startswith(".ella-error-"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(source, target, *args, **kwargs)
    monkeypatch.setattr(watcher_module.os, "replace", full_disk)
    watcher = Watcher(db_url, ella_config, incoming, dest)
    watcher.poll()
    assert watcher.failures == ["TestAnalysis-003"]
    assert not (incoming / "TestAnalysis-003.import-error").exists()
    watcher.poll()
    assert watcher.failures == []  # unchanged: not tried again
    monkeypatch.setattr(watcher_module.os, "replace", real_replace)
    (incoming / "TestAnalysis-003" / "note.txt").write_text("mended\n")
    watcher.poll()
    assert watcher.failures == ["TestAnalysis-003"]  # tried again (still broken: recorded)
    assert (incoming / "TestAnalysis-003.import-error").exists()


def test_a_full_destination_stops_the_pass_before_the_deposit(dirs, db_url, ella_config,
                                                              monkeypatch):
    """Found only at the move, a full destination had each poll deposit the folder in full and
    roll it back."""
    incoming, dest = dirs
    real = os.statvfs

    def full(path):
        result = real(path)
        return os.statvfs_result((result.f_bsize, result.f_frsize, result.f_blocks, 0, 0,
                                  result.f_files, result.f_ffree, result.f_favail,
                                  result.f_flag, result.f_namemax))
    monkeypatch.setattr(watcher_module.os, "statvfs", full)
    watcher = Watcher(db_url, ella_config, incoming, dest)
    with pytest.raises(WatcherError, match="is full; stopped at TestAnalysis-001, nothing "
                                           "recorded as failed"):
        watcher.poll()
    with psycopg.connect(db_url) as conn:  # not deposited (and rolled back): no id used
        assert conn.execute("SELECT last_value, is_called FROM analysis_id_seq").fetchone() \
            == (1, False)
    monkeypatch.setattr(watcher_module.os, "statvfs", real)
    assert watcher.poll() == ["TestAnalysis-001"]


def test_an_unreadable_marker_is_said_once_with_what_to_do_and_counts_as_a_failure(
        dirs, db_url, ella_config, caplog):
    """It was logged every poll (2,880 lines a day at 30 s) saying nothing of what to do, and
    `--once` exited 0 every time, so cron never flagged it."""
    import logging
    incoming, dest = dirs
    (dest / ".importing-X").mkdir()
    (dest / ".importing-X.json").write_text("")
    caplog.set_level(logging.ERROR, logger="ella.watcher")
    watcher = Watcher(db_url, ella_config, incoming, dest)
    for _ in range(3):
        watcher.poll()
        assert "X" in watcher.failures
    lines = [r.getMessage() for r in caplog.records if "unreadable" in r.getMessage()]
    assert len(lines) == 1 and "then move the folder to" in lines[0], lines


@pytest.mark.parametrize("analysis_id", [None, "7"])
def test_a_marker_whose_analysis_id_is_no_number_is_unreadable(dirs, db_url, ella_config,
                                                               caplog, analysis_id):
    """A marker naming its analysis but not the row's id as a number (an edited or foreign
    marker) cannot tell whether its import committed: it is not taken for "never committed"
    (which would import the folder again), but said once with what to do, the folder left
    in the destination and counted as a failure."""
    import logging
    incoming, dest = dirs
    _only(incoming)
    staging = _uncommitted_leftover(dest, "TestAnalysis-001", incoming,
                                    analysis_id=analysis_id)
    marker = dest / ".importing-TestAnalysis-001.json"
    caplog.set_level(logging.ERROR, logger="ella.watcher")
    watcher = Watcher(db_url, ella_config, incoming, dest)
    for _ in range(2):
        assert watcher.poll() == []
        assert watcher.failures == ["TestAnalysis-001"]
    assert staging.is_dir() and marker.is_file()
    assert list(incoming.iterdir()) == []
    assert _analyses(db_url) == []
    lines = [r.getMessage() for r in caplog.records if "unreadable" in r.getMessage()]
    assert len(lines) == 1 and "no analysis name and id" in lines[0] \
        and "then move the folder to" in lines[0], lines


def test_a_marker_that_is_no_json_is_said_once_and_both_are_left_in_place(
        dirs, db_url, ella_config, caplog):
    """A marker cut short (a full disk, a crash while it was written) beside its staging
    folder: the error is logged on the first poll only, and neither the marker nor the
    folder is touched; nothing is imported."""
    import logging
    incoming, dest = dirs
    _only(incoming)
    staging = _uncommitted_leftover(dest, "TestAnalysis-001", incoming)
    marker = dest / ".importing-TestAnalysis-001.json"
    cut = marker.read_text()[:30]
    marker.write_text(cut)
    files = sorted(p.relative_to(staging) for p in staging.rglob("*"))
    caplog.set_level(logging.ERROR, logger="ella.watcher")
    watcher = Watcher(db_url, ella_config, incoming, dest)
    for _ in range(2):
        assert watcher.poll() == []
        assert watcher.failures == ["TestAnalysis-001"]
    lines = [r.getMessage() for r in caplog.records if "unreadable" in r.getMessage()]
    assert len(lines) == 1 and str(marker) in lines[0], lines
    assert marker.read_text() == cut
    assert sorted(p.relative_to(staging) for p in staging.rglob("*")) == files
    assert list(incoming.iterdir()) == []
    assert _analyses(db_url) == []


def test_a_ready_that_is_no_file_is_said_once(dirs, db_url, ella_config, caplog):
    import logging
    incoming, dest = dirs
    (incoming / "TestAnalysis-003" / "READY").mkdir()
    caplog.set_level(logging.INFO, logger="ella.watcher")
    watcher = Watcher(db_url, ella_config, incoming, dest)
    watcher.poll()
    watcher.poll()
    said = [r.getMessage() for r in caplog.records if "READY is not a file" in r.getMessage()]
    assert said == ["TestAnalysis-003: its READY is not a file (a folder, or a link to "
                    "nothing): not imported until it is"]


def test_a_linked_folder_on_another_file_system_is_imported(dirs, db_url, ella_config):
    """The destination check compared the destination with the folder's target's file
    system: a folder linked in from elsewhere stopped every pass ("remounted?"), though the
    link is what is moved."""
    incoming, dest = dirs
    if not Path("/dev/shm").is_dir() or \
            os.stat("/dev/shm").st_dev == os.stat(incoming).st_dev:
        pytest.skip("needs /dev/shm on another file system")
    elsewhere = Path(tempfile.mkdtemp(dir="/dev/shm"))
    try:
        shutil.move(str(incoming / "TestAnalysis-001"), elsewhere / "TestAnalysis-001")
        (incoming / "TestAnalysis-001").symlink_to(elsewhere / "TestAnalysis-001")
        assert Watcher(db_url, ella_config, incoming, dest).poll() == ["TestAnalysis-001"]
        assert (dest / "TestAnalysis-001").is_symlink()
    finally:
        shutil.rmtree(elsewhere, ignore_errors=True)


def test_a_folder_the_lists_skip_is_not_looked_at_twice(dirs, db_url, ella_config, caplog):
    import logging
    incoming, dest = dirs
    caplog.set_level(logging.INFO, logger="ella.watcher")
    watcher = Watcher(db_url, ella_config, incoming, dest, blacklist=["TestAnalysis-001"],
                      settle=True)
    assert watcher.poll() == [] and watcher.settling == 0
    assert not any("is READY" in r.getMessage() for r in caplog.records)


def test_an_io_error_that_lasts_is_the_folders_failure_after_all(dirs, db_url, ella_config,
                                                                 monkeypatch):
    """A failing disk's EIO is not passing: it was tried again every poll for good, the whole
    deposit each time when it came mid-VCF."""
    import errno
    from ella.deposit.analysis_config import AnalysisConfigError
    incoming, dest = dirs

    def failing(folder):
        try:
            raise OSError(errno.EIO, "Input/output error")
        except OSError as exc:
            raise AnalysisConfigError(f"{folder}: cannot be read: {exc.strerror}") from None
    monkeypatch.setattr(watcher_module, "resolve_analysis_config", failing)
    watcher = Watcher(db_url, ella_config, incoming, dest)
    for _ in range(watcher_module.PASSING_ERROR_POLLS - 1):
        watcher.poll()
        assert not (incoming / "TestAnalysis-001.import-error").exists()
    watcher.poll()
    record = json.loads((incoming / "TestAnalysis-001.import-error").read_text())
    assert record["error"].endswith("cannot be read: Input/output error")


def test_a_destination_reporting_no_sizes_is_not_taken_for_full(dirs, db_url, ella_config,
                                                                monkeypatch):
    """Some FUSE and 9p file systems report 0 blocks and 0 free: read as full, every pass
    stopped."""
    incoming, dest = dirs
    real = os.statvfs

    def sizeless(path):
        result = real(path)
        return os.statvfs_result((result.f_bsize, result.f_frsize, 0, 0, 0, 0, 0, 0,
                                  result.f_flag, result.f_namemax))
    monkeypatch.setattr(watcher_module.os, "statvfs", sizeless)
    assert Watcher(db_url, ella_config, incoming, dest).poll() == ["TestAnalysis-001"]
