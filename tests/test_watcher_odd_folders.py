"""The analyses watcher with the folders real pipelines and file systems deliver (import.md
1.6: one bad folder never blocks the others): unreadable folders, names that are no UTF-8 or
too long for an error file beside them, folders still being written or taken away while
imported, a destination or incoming directory the watcher cannot write, two bind mounts of
one file system, a permission fixed by chmod, macOS AppleDouble files."""

import json
import logging
import os
import pwd
import shutil
import struct
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

import ella.watcher as watcher_module
from deposit_helpers import BRCA_VCF, TEST_ANALYSIS_001, add_test_panels, copy_test_analysis
from ella.watcher import Watcher, WatcherError


# --- Docker-style bind mounts of one file system -----------------------------------------

@pytest.fixture
def bind_mounted(tmp_path):
    """incoming and dest as two bind mounts of one file system (as `docker run -v
    /data/incoming:/data/analyses/incoming -v /data/imported:/data/analyses/imported`)."""
    host = tmp_path / "host"
    (host / "incoming").mkdir(parents=True)
    (host / "imported").mkdir()
    incoming, dest = tmp_path / "in", tmp_path / "out"
    incoming.mkdir()
    dest.mkdir()
    mounted = []
    try:
        for src, dst in ((host / "incoming", incoming), (host / "imported", dest)):
            if subprocess.run(["mount", "--bind", str(src), str(dst)],
                              capture_output=True).returncode != 0:
                pytest.skip("needs root and mount --bind")
            mounted.append(dst)
        yield incoming, dest
    finally:
        for dst in reversed(mounted):
            subprocess.run(["umount", str(dst)], capture_output=True)


def test_bind_mounts_of_one_file_system_are_refused_at_start(bind_mounted, db_url, ella_config):
    """README: 'the moves are renames, so the incoming and destination directories must be on
    one file system (the watcher refuses to start otherwise)'. Two bind mounts of one file
    system have the same st_dev, but rename() between them fails with EXDEV: the watcher
    starts, and every folder then fails and is recorded as *that folder's* failure (not
    retried until it changes). Now refused at start."""
    incoming, dest = bind_mounted
    add_test_panels(db_url)
    copy_test_analysis(incoming / "A-001", "A-001")
    with pytest.raises(WatcherError, match="imports move folders by renaming, so both must "
                                           "be in one mount of one file system"):
        Watcher(db_url, ella_config, incoming, dest)
    assert not list(dest.iterdir()) and sorted(p.name for p in incoming.iterdir()) == ["A-001"]


# --- A folder name that is not UTF-8 -------------------------------------------------------

def test_a_folder_name_that_is_not_utf8_does_not_block_the_others(watch_dirs, db_url, ella_config):
    """A folder created with a Latin-1 name (SMB share, legacy locale) holding a valid
    .analysis file. Its name reaches the database as the advisory-lock key; psycopg cannot
    encode the surrogate-escaped name, the UnicodeEncodeError is not caught per folder and
    ends the whole pass: every folder sorted after it is never imported (every poll), and
    `--once` crashes. import.md 1.6: 'One bad folder never blocks others.'"""
    incoming, dest = watch_dirs
    bad = os.path.join(os.fsencode(incoming), b"Analyse-Bj\xf8rn")  # 'Bjørn' in Latin-1
    copy_test_analysis(bad, "Analyse-Bjorn")
    copy_test_analysis(incoming / "Z-later", "Z-later")
    watcher = Watcher(db_url, ella_config, incoming, dest)
    imported = watcher.poll()  # the pass went past the folder
    assert imported == ["Analyse-Bjorn", "Z-later"]


def test_a_folder_name_that_is_not_utf8_and_names_the_analysis_is_refused_in_words(
        watch_dirs, db_url, ella_config):
    """Without a .analysis file the folder's name is the analysis' (and its panel's): a
    Latin-1 one failed with Python's codec message ("surrogates not allowed")."""
    incoming, dest = watch_dirs
    add_test_panels(db_url)
    bad = os.path.join(os.fsencode(incoming), b"Bj\xf8rn.HBOC_v01")
    os.mkdir(bad)
    shutil.copy(BRCA_VCF, os.path.join(bad, b"x.vcf"))
    open(os.path.join(bad, b"READY"), "w").close()
    watcher = Watcher(db_url, ella_config, incoming, dest)
    assert watcher.poll() == [] and len(watcher.failures) == 1
    with open(bad + b".import-error", encoding="utf-8") as handle:
        error = json.load(handle)["error"]
    assert error == ("the name 'Bj\\xf8rn.HBOC_v01' that would give the analysis and its gene "
                     "panel is not UTF-8 text: rename it, or give the folder a .analysis file "
                     "naming them")


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)


def test_every_log_line_of_a_latin1_folders_import_shows_its_bytes_escaped(
        watch_dirs, db_url, ella_config):
    """A Latin-1 folder's name reached every log line of its import (the watcher's, the VCF
    reader's naming a file in it) with its undecodable bytes: a handler writing strict
    UTF-8 (a FileHandler, pytest-xdist carrying a test's captured log) failed on them."""
    incoming, dest = watch_dirs
    bad = os.path.join(os.fsencode(incoming), b"Analyse-Bj\xf8rn")
    copy_test_analysis(bad, "Analyse-Bjorn")
    vcf = os.path.join(bad, b"TestAnalysis-001.vcf")
    with open(vcf, encoding="utf-8") as handle:
        lines = handle.read().split("\n")
    # the same ##INFO ID defined again with another Type: ella.vcf warns, naming the file
    first_info = next(i for i, line in enumerate(lines) if line.startswith("##INFO=<ID="))
    info_id = lines[first_info].split("ID=", 1)[1].split(",", 1)[0]
    lines.insert(first_info + 1, f'##INFO=<ID={info_id},Number=7,Type=Character,'
                                 f'Description="again">')
    with open(vcf, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines))
    handler = _Records()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        Watcher(db_url, ella_config, incoming, dest).poll()
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    messages = [(r.name, r.getMessage()) for r in handler.records]
    assert any(name == "ella.vcf" and "defined again" in text for name, text in messages), \
        messages
    # A UTF-8 stream with strict errors, as a FileHandler(encoding="utf-8") writes.
    failing = []
    for name, text in messages:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            failing.append((name, text.encode("utf-8", "backslashreplace").decode()))
    assert failing == []


# --- Folders the watcher's user cannot read ----------------------------------------------

@pytest.fixture
def open_dirs():
    """(incoming, dest) anyone may write, outside pytest's own 0700 root: the watcher runs as
    `nobody` (`as_nobody`), the pipeline's files are root's."""
    if os.geteuid() != 0:
        pytest.skip("needs root to act as another user")
    base = Path(tempfile.mkdtemp(prefix="ella-watcher-test-"))
    try:
        base.chmod(0o777)
        incoming, dest = base / "incoming", base / "dest"
        for folder in (incoming, dest):
            folder.mkdir()
            folder.chmod(0o777)
        yield incoming, dest
    finally:
        shutil.rmtree(base, ignore_errors=True)


@contextmanager
def as_nobody():
    os.seteuid(pwd.getpwnam("nobody").pw_uid)
    try:
        yield
    finally:
        os.seteuid(0)


def _open_test_folder(incoming, db_url):
    """TestAnalysis-001 as `incoming/A-001`, readable by every user, its panels deposited."""
    add_test_panels(db_url)
    folder = incoming / "A-001"
    copy_test_analysis(folder, "A-001")
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o777 if path.is_dir() else 0o644)
    return folder


def test_a_folder_fixed_by_chmod_is_retried(open_dirs, db_url, ella_config):
    """The pipeline wrote the folder with umask 077; the watcher's user cannot read the
    .analysis file, the failure is recorded. The admin fixes it with `chmod -R a+rX`. The
    fingerprint was (path, size, mtime): chmod changes only ctime, so the folder was never
    retried, also after restarts, although the error file said 'Permission denied' and the
    README says it is retried when one of its files changes."""
    incoming, dest = open_dirs
    folder = _open_test_folder(incoming, db_url)
    (folder / "TestAnalysis-001.analysis").chmod(0o600)  # root's alone
    watcher = Watcher(db_url, ella_config, incoming, dest)
    with as_nobody():
        assert watcher.poll() == []  # permission denied, recorded
    assert "Permission denied" in (incoming / "A-001.import-error").read_text()
    (folder / "TestAnalysis-001.analysis").chmod(0o644)  # the fix
    # A restarted watcher (as root here only so that it reaches the test database).
    watcher = Watcher(db_url, ella_config, incoming, dest)
    assert watcher.poll() == ["A-001"], "the fixed folder is not retried"


def _grant_read_acl(path, uid):
    """`setfacl -m u:<uid>:r path` of a 0640 file (its mode stays 0640), written as the
    kernel's xattr; the test is skipped where the file system has no POSIX ACLs."""
    unset = 0xFFFFFFFF
    entries = [(0x01, 6, unset), (0x02, 4, uid), (0x04, 4, unset), (0x10, 4, unset),
               (0x20, 0, unset)]  # owner rw, the user r, group r, mask r, others none
    acl = struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)
    try:
        os.setxattr(path, "system.posix_acl_access", acl)
    except OSError as exc:
        pytest.skip(f"no POSIX ACLs here: {exc.strerror}")


def test_a_folder_fixed_by_an_acl_is_retried(open_dirs, db_url, ella_config):
    """The admin's fix for an unreadable .analysis may be an ACL for the watcher's user
    (`setfacl -m u:ella:r`), which changes neither the file's mode nor its owner nor its
    times but its ctime, no longer part of the fingerprint: the ACL is."""
    incoming, dest = open_dirs
    folder = _open_test_folder(incoming, db_url)
    analysis_file = folder / "TestAnalysis-001.analysis"
    # root's and a group of no one here (the test's process keeps root's group: not root's)
    os.chown(analysis_file, 0, pwd.getpwnam("nobody").pw_gid)
    analysis_file.chmod(0o640)
    watcher = Watcher(db_url, ella_config, incoming, dest)
    with as_nobody():
        assert watcher.poll() == []  # permission denied, recorded
    assert "Permission denied" in (incoming / "A-001.import-error").read_text()
    mode = analysis_file.stat().st_mode
    _grant_read_acl(analysis_file, pwd.getpwnam("nobody").pw_uid)  # the fix
    assert analysis_file.stat().st_mode == mode
    with as_nobody():
        assert analysis_file.read_text()  # readable now
    watcher = Watcher(db_url, ella_config, incoming, dest)
    assert watcher.poll() == ["A-001"], "the fixed folder is not retried"


def test_an_unreadable_folder_does_not_block_the_others(open_dirs, db_url, ella_config):
    """The pipeline runs as another user with umask 077: its output folder is mode 0700 and
    the watcher's user cannot enter it. `(folder / "READY").is_file()` raised PermissionError
    (pathlib swallows only ENOENT/ENOTDIR/EBADF/ELOOP), which was not caught per folder: the
    whole pass ended there, on every poll, and no folder sorted after it was looked at.
    import.md 1.6: 'One bad folder never blocks others.' (The later folder here fails on its
    own .analysis, so that the test needs no database as the unprivileged user: it must at
    least get its .import-error.)"""
    incoming, dest = open_dirs
    private = incoming / "A-private"
    copy_test_analysis(private, "A-private")
    private.chmod(0o700)  # root's, as the pipeline user's would be
    later = incoming / "Z-later"
    later.mkdir()
    later.chmod(0o755)
    (later / "READY").touch()
    (later / "Z.analysis").write_text("{not json")
    for path in later.iterdir():
        path.chmod(0o644)
    watcher = Watcher(db_url, ella_config, incoming, dest)
    with as_nobody():
        watcher.poll()  # past the folder it cannot read
    assert (incoming / "Z-later.import-error").exists(), "Z-later was never looked at"


# --- A folder name too long for its error file --------------------------------------------------------------------

def test_a_folder_name_too_long_for_its_error_file_does_not_block_the_others(
        watch_dirs, db_url, ella_config):
    """A folder name of 243-255 bytes: `<name>.import-error` exceeds NAME_MAX and
    `_failed_before` calls `is_file()` on it, which raises ENAMETOOLONG (pathlib ignores only
    ENOENT/ENOTDIR/EBADF/ELOOP). The OSError ends the whole pass: every folder sorted after
    it is never imported, on every poll (`--once` exits 1 with the error)."""
    incoming, dest = watch_dirs
    copy_test_analysis(incoming / ("A-" + "x" * 248), "A-long")
    copy_test_analysis(incoming / "Z-later", "Z-later")
    watcher = Watcher(db_url, ella_config, incoming, dest)
    imported = watcher.poll()  # the pass went past the folder
    assert "Z-later" in imported


# --- Files still arriving while the import runs --------------------------------------------

def test_a_folder_that_changes_during_its_import_is_not_committed(watch_dirs, db_url, ella_config,
                                                                  monkeypatch):
    """rsync/cp copy files in name order: `READY` sorts before `TestAnalysis-001.vcf` and
    `warnings.txt`, so READY exists while files are still arriving. If a file appears or
    grows while the deposit runs, the watcher commits what it read and moves the folder away
    under the copy (the analysis lacks the late file: here warnings.txt, which the
    `analysis_not_ready_warnings` post-processor judges). The watcher already fingerprints
    the folder before the import; expected: a folder whose fingerprint changed during the
    import is rolled back and retried, not committed half-copied."""
    incoming, dest = watch_dirs
    folder = incoming / "A-001"
    copy_test_analysis(folder, "A-001")
    (folder / "warnings.txt").unlink()
    real = watcher_module.deposit_analysis

    def deposit_while_copy_finishes(conn, app_config, config):
        stats = real(conn, app_config, config)
        (folder / "warnings.txt").write_text("Low coverage in BRCA2 exon 11\n")
        return stats

    monkeypatch.setattr(watcher_module, "deposit_analysis", deposit_while_copy_finishes)
    watcher = Watcher(db_url, ella_config, incoming, dest)
    watcher.poll()
    monkeypatch.setattr(watcher_module, "deposit_analysis", real)
    watcher.poll()  # the next poll, with the copy complete
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT warnings FROM analysis WHERE name = 'A-001'").fetchone()
    assert row is not None and row[0] == "Low coverage in BRCA2 exon 11\n", \
        f"committed while the folder was still changing: warnings = {row}"


# --- A folder removed and delivered again during its import --------------------------------

def test_a_folder_redelivered_during_its_import_is_imported(watch_dirs, db_url, ella_config,
                                                           monkeypatch):
    """The pipeline removes and re-delivers a folder (`rm -rf X; rsync -a src/X incoming/`)
    while the watcher imports it. The move fails (FileNotFoundError); the watcher records the
    failure of a folder that is gone, with the fingerprint taken before. The re-delivered copy
    (rsync -a keeps names, sizes, mtimes) has the same fingerprint, so it is skipped for
    ever with a stale 'No such file or directory' error."""
    incoming, dest = watch_dirs
    source = incoming.parent / "pipeline-out" / "A-001"
    copy_test_analysis(source, "A-001")
    folder = incoming / "A-001"
    subprocess.run(["cp", "-a", str(source), str(folder)], check=True)
    real = watcher_module.deposit_analysis

    def deposit_while_removed(conn, app_config, config):
        stats = real(conn, app_config, config)
        shutil.rmtree(folder)  # the pipeline starts its re-delivery
        return stats

    monkeypatch.setattr(watcher_module, "deposit_analysis", deposit_while_removed)
    watcher = Watcher(db_url, ella_config, incoming, dest)
    assert watcher.poll() == []
    monkeypatch.setattr(watcher_module, "deposit_analysis", real)
    subprocess.run(["cp", "-a", str(source), str(folder)], check=True)  # re-delivered
    error = incoming / "A-001.import-error"
    recorded = error.read_text() if error.exists() else None
    assert Watcher(db_url, ella_config, incoming, dest).poll() == ["A-001"], \
        f"the re-delivered folder is skipped because of {recorded}"


# --- A destination that cannot take folders now ------------------------------------

def test_a_read_only_destination_is_not_recorded_as_the_folders_failure(watch_dirs, db_url,
                                                                       ella_config):
    """ANALYSES_PATH becomes unwritable while the watcher runs (NFS remounted read-only,
    quota exceeded, permissions changed by an admin). Creating the staging marker fails
    (EROFS/EDQUOT/EACCES) and every READY folder of the pass gets an `.import-error`, which
    is never retried until each folder is touched, also after restarts - although nothing is
    wrong with them. Now (as for an unavailable database): logged, nothing recorded,
    imported once the destination is writable again."""
    incoming, dest = watch_dirs
    copy_test_analysis(incoming / "A-001", "A-001")
    watcher = Watcher(db_url, ella_config, incoming, dest)
    if subprocess.run(["mount", "--bind", str(dest), str(dest)],
                      capture_output=True).returncode != 0:
        pytest.skip("needs root and mount --bind")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(dest)], check=True)
        with pytest.raises(WatcherError, match="Couldn't write to the destination path .*"
                                               "nothing recorded as failed"):
            watcher.poll()
    finally:
        subprocess.run(["umount", str(dest)], capture_output=True)
    error = incoming / "A-001.import-error"
    recorded = error.read_text() if error.exists() else None
    assert Watcher(db_url, ella_config, incoming, dest).poll() == ["A-001"], \
        f"not retried once the destination is writable: {recorded}"


# --- macOS AppleDouble files beside the VCF ----------------------------------------------

def test_appledouble_sidecar_files_are_not_taken_for_the_vcf(watch_dirs, db_url, ella_config):
    """A folder copied from a Mac onto an SMB/NFS share gets `._<name>` AppleDouble files
    (binary metadata). In the legacy layout the VCF is 'the first *.vcf found', sorted by
    path: `._TestAnalysis-001.vcf` sorts before `TestAnalysis-001.vcf` and is taken for the
    VCF; the import fails with a confusing parse error."""
    incoming, dest = watch_dirs
    folder = incoming / "A-001"
    copy_test_analysis(folder, "A-001")
    (folder / "._TestAnalysis-001.vcf").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X")
    assert Watcher(db_url, ella_config, incoming, dest).poll() == ["A-001"], \
        (incoming / "A-001.import-error").read_text()


@pytest.mark.parametrize("hidden", [".TestAnalysis-001.vcf",
                                    ".snapshot/hourly.0/TestAnalysis-001.vcf",
                                    ".snapshot/hourly.0/TestAnalysis-001.ped"])
def test_hidden_files_and_folders_are_not_the_analysis_files(watch_dirs, db_url, ella_config,
                                                             hidden):
    """Without a `.analysis` the VCFs are those found in the folder: a copy tool's hidden
    partial file or a file server's `.snapshot` folder of older copies was imported as a
    second VCF of the analysis, or refused as a second `.ped`."""
    incoming, dest = watch_dirs
    name = "A-001.HBOC_v1.0.0"  # the name and gene panel by the folder's name
    folder = incoming / name
    copy_test_analysis(folder, name)
    (folder / "TestAnalysis-001.analysis").unlink()
    vcf = next(folder.glob("*.vcf"))
    (folder / hidden).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(vcf, folder / hidden)
    assert Watcher(db_url, ella_config, incoming, dest).poll() == [name], \
        (incoming / f"{name}.import-error").read_text()
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM sample").fetchone()[0] == 3  # one trio


# --- A read-only incoming directory --------------------------------

def test_a_read_only_incoming_directory_is_refused_at_start(watch_dirs, db_url, ella_config):
    """The watcher must rename folders out of the incoming directory and write
    `.import-error` files into it, but the start-up check asks only for read access. With the
    pipeline share mounted read-only (or owned by the pipeline user), the watcher starts,
    deposits each READY folder in full, fails at the move (EROFS/EACCES), cannot record the
    failure, and repeats every whole deposit after each restart. Now refused at start
    like an unwritable destination."""
    incoming, dest = watch_dirs
    copy_test_analysis(incoming / "A-001", "A-001")
    if subprocess.run(["mount", "--bind", str(incoming), str(incoming)],
                      capture_output=True).returncode != 0:
        pytest.skip("needs root and mount --bind")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(incoming)], check=True)
        with pytest.raises(WatcherError, match="Couldn't write to watch path"):
            Watcher(db_url, ella_config, incoming, dest)
    finally:
        subprocess.run(["umount", str(incoming)], capture_output=True)


# --- Starting beside other watchers --------------------------------------------------------

def test_the_start_up_rename_check_uses_a_folder_of_its_own(watch_dirs, db_url, ella_config):
    """Its probe folder was named by the process id, which a watcher in a container gets
    again at every start: one left by a watcher killed mid-check stopped the next start
    ('File exists'), and a watcher starting beside another removed the other's probe."""
    incoming, dest = watch_dirs
    others = [incoming / f".ella-watcher-check-{os.getpid()}", dest / ".ella-watcher-check-1"]
    for folder in others:
        folder.mkdir()  # left by a killed watcher, or another one's, mid-check
    Watcher(db_url, ella_config, incoming, dest)
    assert all(folder.is_dir() for folder in others)
    assert sorted(p.name for p in (*incoming.iterdir(), *dest.iterdir())) == sorted(
        folder.name for folder in others)


def test_a_watcher_leaves_an_earlier_versions_running_import_alone(watch_dirs, db_url,
                                                                   ella_config):
    """During an upgrade the old version's import holds its claim on hashtext of the name
    and has moved the folder to its staging name; a claim key of another kind let the new
    version's recovery put the folder back and import it too (the analysis twice)."""
    incoming, dest = watch_dirs
    name = "TestAnalysis-001"
    staging = dest / f".importing-{name}"
    shutil.copytree(TEST_ANALYSIS_001, staging)
    (dest / f".importing-{name}.json").write_text(json.dumps(
        {"analysis": name, "analysis_id": 2**31 - 1, "incoming": str(incoming.resolve())}))
    watcher = Watcher(db_url, ella_config, incoming, dest)
    with psycopg.connect(db_url) as old_version:
        old_version.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"ella.watcher:{name}",))
        old_version.commit()
        assert watcher.poll() == []
        assert staging.is_dir() and list(incoming.iterdir()) == []


# --- names and links a pipeline, an editor or another user leaves -------------------------

def test_the_same_directory_as_watch_path_and_destination_is_refused_at_start(
        watch_dirs, db_url, ella_config, tmp_path):
    """Every folder was its own destination ("already exists ... Skipping"): nothing was
    ever imported and `--once` exited 0. Also when one path names it through a link."""
    incoming, _ = watch_dirs
    link = tmp_path / "same"
    link.symlink_to(incoming)
    for dest in (incoming, link):
        with pytest.raises(WatcherError, match="are the same directory: imported folders are "
                                               "moved out of the watch path, aborting"):
            Watcher(db_url, ella_config, incoming, dest)


def test_the_error_file_is_not_written_through_a_planted_link(watch_dirs, db_url, ella_config,
                                                              tmp_path):
    """Whoever may write the watch path could link `<folder>.import-error` to a file the
    watcher may write: a failure overwrote that file with its record."""
    incoming, dest = watch_dirs
    copy_test_analysis(incoming / "Broken", "Broken")
    next((incoming / "Broken").glob("*.vcf")).write_text("not a vcf\n")
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (incoming / "Broken.import-error").symlink_to(victim)
    watcher = Watcher(db_url, ella_config, incoming, dest)
    assert watcher.poll() == [] and watcher.failures == ["Broken"]
    assert victim.read_text() == "precious\n"
    error_file = incoming / "Broken.import-error"
    assert not error_file.is_symlink() and json.loads(error_file.read_text())["folder"] == \
        "Broken"
    assert [p.name for p in incoming.iterdir() if p.name.startswith(".")] == []
    assert Watcher(db_url, ella_config, incoming, dest).poll() == []  # not retried unchanged


def test_an_editors_lock_link_beside_the_analysis_file_is_no_second_one(watch_dirs, db_url,
                                                                        ella_config):
    """emacs keeps `.#x.analysis`, a dangling link, while the file is open: the folder
    failed with "multiple .analysis files"."""
    incoming, dest = watch_dirs
    copy_test_analysis(incoming / "Edited", "Edited")
    (incoming / "Edited" / ".#TestAnalysis-001.analysis").symlink_to("user@host.4242:17")
    assert Watcher(db_url, ella_config, incoming, dest).poll() == ["Edited"]


def test_removing_a_dangling_link_is_a_change_of_the_folder(tmp_path):
    """The fingerprint passed over what it could not stat: a folder that failed because of
    a dangling link was never retried once the link was gone."""
    folder = tmp_path / "F"
    folder.mkdir()
    (folder / "a.vcf").write_text("x\n")
    before = watcher_module.folder_fingerprint(folder)
    (folder / "b.vcf").symlink_to(tmp_path / "nowhere")
    with_link = watcher_module.folder_fingerprint(folder)
    assert with_link != before
    (folder / "b.vcf").unlink()
    assert watcher_module.folder_fingerprint(folder) == before


def test_a_folder_named_as_the_watchers_own_staging_is_refused(watch_dirs, db_url,
                                                               ella_config, caplog):
    """Imported, `.importing-B` posed as B's interrupted import (B was skipped for good)
    and `.importing-C.json` as a marker (an error line every poll)."""
    incoming, dest = watch_dirs
    copy_test_analysis(incoming / ".importing-B", "X1")
    watcher = Watcher(db_url, ella_config, incoming, dest)
    assert watcher.poll() == [] and watcher.failures == [".importing-B"]
    assert "is the watcher's own (an import in progress): rename the folder" in json.loads(
        (incoming / ".importing-B.import-error").read_text())["error"]
    copy_test_analysis(incoming / "B", "X2")
    assert watcher.poll() == ["X2"]
    # A directory of a marker's name in the destination is none: no error every poll.
    (dest / ".importing-C.json").mkdir()
    caplog.clear()
    watcher.poll()
    assert not [r for r in caplog.records if r.levelname == "ERROR"], caplog.text


def test_a_long_folder_name_whose_error_file_fits_gets_it(watch_dirs, db_url, ella_config):
    """The error file was first written under a longer temporary name: a folder name of
    ~240 bytes, whose `.import-error` name fits, got none (its whole deposit was retried
    after every restart)."""
    incoming, dest = watch_dirs
    name = "L" * 239  # the longest the staging marker `.importing-<name>.json` allows
    copy_test_analysis(incoming / name, "Long")
    next((incoming / name).glob("*.vcf")).write_text("not a vcf\n")
    watcher = Watcher(db_url, ella_config, incoming, dest)
    assert watcher.poll() == [] and watcher.failures == [name]
    assert json.loads((incoming / f"{name}.import-error").read_text())["folder"] == name
    assert sorted(p.name for p in incoming.iterdir()) == [name, f"{name}.import-error"]


def test_a_link_named_like_a_marker_stops_no_poll(watch_dirs, db_url, ella_config):
    """Following a link planted under a marker's name (to a target whose name is too long)
    raised, and every poll stopped there: nothing was imported any more."""
    incoming, dest = watch_dirs
    (dest / ".importing-Z.json").symlink_to(dest / ("a" * 300))
    copy_test_analysis(incoming / "After", "After")
    assert Watcher(db_url, ella_config, incoming, dest).poll() == ["After"]


def _analysis_names(db_url):
    with psycopg.connect(db_url) as conn:
        return [name for (name,) in conn.execute("SELECT name FROM analysis ORDER BY name")]


def test_a_folder_nested_a_thousand_deep_does_not_stop_the_pass(watch_dirs, db_url,
                                                               ella_config):
    """The fingerprint walked the folder recursively: a thousand levels ended the pass in a
    RecursionError, and the folders after it were never imported."""
    incoming, dest = watch_dirs
    deep = incoming / "A-deep.HBOC_v01"
    deep.mkdir()
    (deep / "READY").touch()
    levels = [str(deep)]
    for _ in range(1200):  # (os.makedirs recurses itself)
        levels.append(os.path.join(levels[-1], "d"))
        os.mkdir(levels[-1])
    try:
        copy_test_analysis(incoming / "B-good", "B-good")
        watcher = Watcher(db_url, ella_config, incoming, dest)
        assert watcher.poll() == ["B-good"]
        assert watcher.failures == ["A-deep.HBOC_v01"]
        # The analysis-file search walks without recursion too: the folder's own error.
        error = json.loads((incoming / "A-deep.HBOC_v01.import-error").read_text())["error"]
        assert error.endswith("A-deep.HBOC_v01: no .vcf or .vcf.gz file"), error
    finally:
        # Removed here, from the bottom: shutil.rmtree recurses too, and pytest's removal
        # of an old run's temp dirs ended that later run in a RecursionError.
        for level in reversed(levels[1:]):
            os.rmdir(level)


def test_a_loop_of_links_in_a_folder_keeps_it_from_no_import(watch_dirs, db_url, ella_config):
    """A link to itself (`latest -> latest`, a pipeline's slip) made the fingerprint fail:
    the folder was passed by as one that cannot be read, for good, with no error file."""
    incoming, dest = watch_dirs
    folder = incoming / "TestAnalysis-001"
    shutil.copytree(TEST_ANALYSIS_001, folder)
    os.symlink("latest", folder / "latest")
    assert Watcher(db_url, ella_config, incoming, dest).poll() == ["TestAnalysis-001"]


def test_a_loop_of_links_counts_in_the_fingerprint_by_its_target(tmp_path):
    folder = tmp_path / "F"
    folder.mkdir()
    before = watcher_module.folder_fingerprint(folder)
    os.symlink("latest", folder / "latest")
    looped = watcher_module.folder_fingerprint(folder)
    assert looped != before
    (folder / "latest").unlink()
    os.symlink("latest2", folder / "latest")
    assert watcher_module.folder_fingerprint(folder) not in (before, looped)


def test_a_redelivery_beside_an_interrupted_import_of_its_name_says_what_to_do(
        watch_dirs, db_url, ella_config, caplog):
    """A watcher killed before its commit left `.importing-X` and its marker; the lab
    delivered X again before the next poll. Neither could move (the leftover cannot go back
    over the new X, and X waits for the leftover), every poll said "the next poll tries
    again", and the lab's error files said nothing. Now the new X's error file says which to
    remove; once one is removed, the other is imported."""
    incoming, dest = watch_dirs
    staging = dest / ".importing-TestAnalysis-001"
    marker = dest / ".importing-TestAnalysis-001.json"
    shutil.copytree(TEST_ANALYSIS_001, staging)
    marker.write_text(json.dumps({"analysis": "TestAnalysis-001", "analysis_id": 999999,
                                  "incoming": str(incoming.resolve())}))
    shutil.copytree(TEST_ANALYSIS_001, incoming / "TestAnalysis-001")
    watcher = Watcher(db_url, ella_config, incoming, dest)
    caplog.set_level(logging.INFO, logger="ella.watcher")
    for _ in range(3):
        assert watcher.poll() == []
    error_file = incoming / "TestAnalysis-001.import-error"
    error = json.loads(error_file.read_text())["error"]
    assert "import was interrupted" in error and str(staging) in error and str(marker) in error
    assert sum("cannot go back" in r.getMessage() for r in caplog.records) == 1
    assert not any("tries again" in r.getMessage() for r in caplog.records)
    assert staging.is_dir() and _analysis_names(db_url) == []
    # The lab keeps the new delivery: the leftover is removed, and the new one imported.
    shutil.rmtree(staging)
    marker.unlink()
    assert watcher.poll() == ["TestAnalysis-001"]
    assert not error_file.exists() and (dest / "TestAnalysis-001").is_dir()


def test_moving_the_redelivery_away_puts_the_interrupted_import_back(watch_dirs, db_url,
                                                                     ella_config, tmp_path):
    incoming, dest = watch_dirs
    staging = dest / ".importing-TestAnalysis-001"
    shutil.copytree(TEST_ANALYSIS_001, staging)
    (dest / ".importing-TestAnalysis-001.json").write_text(json.dumps(
        {"analysis": "TestAnalysis-001", "analysis_id": 999999,
         "incoming": str(incoming.resolve())}))
    shutil.copytree(TEST_ANALYSIS_001, incoming / "TestAnalysis-001")
    watcher = Watcher(db_url, ella_config, incoming, dest)
    assert watcher.poll() == []
    shutil.move(incoming / "TestAnalysis-001", tmp_path / "kept-aside")
    # Put back by the next poll's recovery, and imported by that poll.
    assert watcher.poll() == ["TestAnalysis-001"]
    assert not staging.exists()
    assert _analysis_names(db_url) == ["TestAnalysis-001"]
    assert not (incoming / "TestAnalysis-001.import-error").exists()
