"""The analyses watcher (import.md 1.6-1.7): import every READY analysis folder that appears in
the incoming directory and move it to the imported directory.

One folder = one transaction: deposit, move the folder, commit (if the commit fails the folder
is moved back). A folder whose import fails stays in incoming and gets its error written
beside it, in `<folder>.import-error` (JSON: time, error, a fingerprint of the folder's
files, and of the modes and owners of the folder and its subfolders). It is not retried
while that fingerprint is unchanged, also after a restart; editing or replacing any file in
the folder, a chmod or chown of it (or deleting the error file) makes the next poll retry,
and so does the arrival of the gene panel a folder failed for want of (`waits_for_genepanel`).
Folders skipped by the white/black lists or because the destination exists are remembered in
memory only, as in ELLA.

A database that cannot do the work (down, connection lost, lock timeout...) is not the folder's
fault: nothing is recorded and the folder is retried on the next poll. An unreadable incoming
directory or list file stops the poll (fail closed); the daemon logs it and polls again.
"""

import errno
import hashlib
import json
import logging
import os
import re
import signal
import tempfile
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import psycopg

from ella.db import PRIVILEGE_HINT, DatabaseError, connect, first_line
from ella.deposit.analysis import GenepanelNotAvailable, deposit_analysis, summary_line
from ella.deposit.analysis_config import (MAX_ANALYSIS_FILE_BYTES, AnalysisConfigError,
                                         resolve_analysis_config)
from ella.deposit.variants import DepositError
from ella.folder_walk import paths_below
from ella.migrate import at_head
from ella.text import NotUtf8, error_text, utf8_text
from ella.vcf import VcfError

log = logging.getLogger("ella.watcher")

ERROR_SUFFIX = ".import-error"
ERROR_REMINDER_SECONDS = 600
READY = "READY"
# A folder moved into the destination whose import has not committed yet.
STAGING_PREFIX = ".importing-"
# SQLSTATEs of an OperationalError that say the database could not do the work now, not that
# the folder is wrong: 08 connection, 40 deadlock/serialization, 53100 disk full, 53300 too
# many connections, 55P03 lock timeout, 57P shutdown/cannot connect now/database dropped/idle
# session timeout, 58 system error. Errors a folder can cause again on every try stay its
# failure (else it would be re-imported every poll): 57014 statement timeout, 53200 out of
# memory, 54 program limit exceeded (e.g. a too-long allele), which psycopg also maps to
# OperationalError.
DATABASE_UNAVAILABLE = ("08", "40", "53100", "53300", "55P03", "57P", "58")


class WatcherError(Exception):
    pass


class DestinationUnavailable(WatcherError):
    """The destination cannot take a folder now (read-only, full, not ours): not the
    folder's failure; the pass stops and the next poll tries again."""


class DestinationTaken(Exception):
    """A folder of the same name is in the destination already (an earlier delivery of that
    name, imported): a folder's failure, retried once that folder is gone."""


class InterruptedImportInTheWay(Exception):
    """An earlier delivery of the folder's name, whose import was interrupted before it
    committed, waits in the destination to be put back where this folder is: a folder's
    failure, retried once that staging folder is gone (someone chose which to keep)."""


class FolderChanged(Exception):
    """The folder's files changed while it was imported (a pipeline still writing)."""


# A rename or a new file that fails with these is the file system's state, not the folder's.
DESTINATION_ERRNOS = {errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EXDEV}
# Free space the destination needs for an import's marker file (and its directory entries).
MIN_DESTINATION_FREE = 1 << 20


# What is wrong with a folder's files (one line in the log and the error file); anything
# else raised while importing is a fault of ours, logged with its traceback.
# (PostgreSQL's data exceptions, class 22, are values of the folder it cannot store.)
MISSING_PANEL_ERROR = re.compile(r"Genepanel (.+) version (.+) not available in varDB")
FOLDER_INPUT_ERRORS = (AnalysisConfigError, DepositError, VcfError, OSError, psycopg.DataError,
                       UnicodeError, DestinationTaken, InterruptedImportInTheWay)


# Errors of a file system that comes and goes (a network share), not of a folder's files...
PASSING_FILE_ERRNOS = {errno.EIO, errno.ESTALE, errno.ETIMEDOUT, errno.ENOTCONN,
                       errno.EHOSTDOWN, errno.EHOSTUNREACH, errno.ECONNRESET,
                       errno.ECONNABORTED, errno.ENETDOWN, errno.ENETUNREACH}
# ... unless they last this many polls in a row: then the folder's failure (a disk failing).
PASSING_ERROR_POLLS = 10


def _passing_file_error(exc):
    """The strerror of a passing file-system error in `exc` or what it was raised from (the
    readers wrap an OSError in their own error, naming the file), else None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in PASSING_FILE_ERRNOS:
            return exc.strerror or str(exc)
        exc = exc.__cause__ or exc.__context__
    return None


class UnexpectedImportError(Exception):
    """An unexpected error while importing, its text prefixed with its type."""

    def __init__(self, message, cause):
        super().__init__(message)
        self.cause = cause


def folder_fingerprint(folder):
    """SHA-256 over (relative path, size, mtime, inode, mode, owner, ACL) of every file below
    `folder`: a file made readable (chmod, chown, setfacl) is a change too, and so is one
    replaced by another of the same size and time. Not the ctime: a backup or virus scanner
    that puts back the access times it read changes only that, and every failed folder was
    retried (a whole deposit rolled back) after each of its runs. Of the folder itself and
    its subfolders, the mode, owner and ACL: moving a folder needs write permission on it,
    and a `chmod u+w` of it is the fix such a failure asks for (their times change with
    every move the import makes, and with the files, counted already). A link to nothing, or
    a loop of links, counts by its target's name."""
    digest = hashlib.sha256()
    folder = Path(folder)
    paths = [folder] + sorted(paths_below(folder))
    for path in paths:
        name = os.fsencode(path.relative_to(folder))
        try:
            stat = path.stat()
        except OSError as exc:
            if isinstance(exc, FileNotFoundError) or exc.errno == errno.ELOOP:
                if path.is_symlink():  # its going (or its target coming) counts
                    digest.update(name + b"\0->" + os.fsencode(os.readlink(path)) + b"\n")
                continue  # else removed while we look: the next look sees the change
            raise
        if path.is_dir():
            digest.update(name + b"/" + _access(path, stat) + b"\n")
        elif path.is_file():
            digest.update(name + _file_state(path, stat))
            if path.suffix == ".analysis" and not _hidden_below(path, folder):
                _add_named_files(digest, path)
    return digest.hexdigest()


def _sync_directory(path):
    """fsync a directory (its entries: a rename, a new file). Best effort: some network
    file systems refuse it, and their server has its own say on what is on disk."""
    try:
        handle = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def _file_state(path, stat):
    return (f"\0{stat.st_size}\0{stat.st_mtime_ns}\0{stat.st_ino}".encode()
            + _access(path, stat) + b"\n")


def _access(path, stat):
    """Who may read or change it: mode, owner and the POSIX ACL (none where the file system
    has none, or the path went meanwhile: the next look sees that)."""
    try:
        acl = os.getxattr(path, "system.posix_acl_access")
    except (OSError, AttributeError):
        acl = b""
    return f"\0{stat.st_mode}\0{stat.st_uid}\0{stat.st_gid}\0".encode() + acl.hex().encode()


def _hidden_below(path, folder):
    return any(part.startswith(".") for part in path.relative_to(folder).parts)


def _add_named_files(digest, analysis_file):
    """The state of the files a .analysis file names, as the deposit finds them: through a
    linked subfolder, or by an absolute path, they are not below the folder (the walk does
    not enter links), and a VCF still being written there was imported as settled, a fixed
    one never retried. A file that cannot be read as one says nothing: the import fails
    with its reason."""
    try:
        if analysis_file.stat().st_size > MAX_ANALYSIS_FILE_BYTES:
            return
        data = json.loads(analysis_file.read_bytes()).get("data")
    except (OSError, ValueError, AttributeError):
        return
    for item in data if isinstance(data, list) else ():
        for key in ("vcf", "ped"):
            named = item.get(key) if isinstance(item, dict) else None
            if not isinstance(named, str) or not named or "\0" in named:
                continue
            try:
                stat = (analysis_file.parent / named).stat()  # (an absolute one as it is)
            except (OSError, ValueError):
                continue
            digest.update(b"named\0" + os.fsencode(named)
                          + _file_state(analysis_file.parent / named, stat))


def _read_patterns(path):
    try:
        # utf-8-sig: a file saved by Notepad or Excel starts with a byte-order mark, which
        # would have become part of its first pattern (a blacklist entry that never matched).
        lines = utf8_text(Path(path).read_bytes()).splitlines()
    except OSError as exc:
        raise WatcherError(f"cannot read pattern file {path}: {exc.strerror or exc}") from exc
    except NotUtf8 as exc:
        raise WatcherError(f"pattern file {path}: {exc}") from None
    # Blank and comment lines would be the empty regex (matching everything) in ELLA.
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _compile(patterns, where):
    compiled = []
    for p in patterns:
        try:
            compiled.append(re.compile(p))
        except re.error as exc:
            raise WatcherError(f"{where}: {p!r} is not a valid regex ({exc})") from None
    return compiled


def database_identity(conn):
    """'<cluster's system identifier>/<database name>': where a transaction id means
    something. None where the server does not tell (pg_control_system() not granted, or
    not offered by a managed service): the import goes on, as before markers held it."""
    try:
        with conn.transaction():
            return conn.execute("SELECT system_identifier::text || '/' || current_database() "
                                "FROM pg_control_system()").fetchone()[0]
    except psycopg.Error:
        if conn.closed or conn.broken:
            raise
        return None


def database_unavailable(exc, conn=None):
    """True if `exc` says the database failed rather than the folder's import. A privilege
    the service's role lacks is the site's to grant, not the folder's fault: recorded as
    the folder's failure, it was not tried again after the grant. A database that takes no
    writes now (a standby DB_URL points at after a failover, a maintenance freeze) is its
    state too: recorded, the folder waited for someone to touch its files. So is a session
    the server ended (`conn` broken: an idle-in-transaction timeout of the site, 25P03)."""
    if isinstance(exc, (psycopg.errors.InsufficientPrivilege,
                        psycopg.errors.ReadOnlySqlTransaction,
                        psycopg.errors.IdleInTransactionSessionTimeout)):
        return True
    if conn is not None and (conn.closed or conn.broken):
        return True
    if not isinstance(exc, psycopg.OperationalError):
        return False
    # No SQLSTATE: a client-side failure, e.g. the server closed the connection.
    return exc.sqlstate is None or exc.sqlstate.startswith(DATABASE_UNAVAILABLE)


class Watcher:
    def __init__(self, db_url, app_config, incoming, dest, whitelist=None, blacklist=None,
                 whitelistfile=None, blacklistfile=None, settle=False):
        """`settle`: import a READY folder only once its files are as they were at the
        previous look (`bin/ella-watcher` does; a READY written before the VCF was done had
        half the variants imported)."""
        self.db_url = db_url
        self.settle = settle
        self._last_look = {}  # folder name -> fingerprint at the previous poll (`settle`)
        self.settling = 0     # READY folders the last poll left for the next look
        self.app_config = app_config
        self.incoming = Path(incoming)
        self.dest = Path(dest)
        for path in (self.incoming, self.dest):
            try:
                path.stat()
            except FileNotFoundError:
                pass  # said below, with which one
            except OSError as exc:  # a name too long, a folder on the way not to be entered
                raise WatcherError(f"Couldn't use {path}: {exc.strerror or exc}, "
                                   "aborting...") from None
        if not self.incoming.is_dir() or not os.access(self.incoming, os.R_OK | os.X_OK):
            raise WatcherError(f"Couldn't read from watch path {incoming}, aborting...")
        if not os.access(self.incoming, os.W_OK):
            # Every folder would be deposited in full, then fail to move (again after
            # every restart: its failure could not be recorded beside it either).
            raise WatcherError(f"Couldn't write to watch path {incoming} (imported folders "
                               "are moved out of it), aborting...")
        if not self.dest.is_dir() or not os.access(self.dest, os.W_OK | os.X_OK):
            raise WatcherError(f"Couldn't write to destination path {dest}, aborting...")
        if os.path.samefile(self.incoming, self.dest):
            # Every folder would be its own destination ("already exists ... Skipping"):
            # nothing ever imported, and --once exiting 0.
            raise WatcherError(f"The watch path {incoming} and the destination path {dest} "
                               "are the same directory: imported folders are moved out of "
                               "the watch path, aborting...")
        if self.incoming.stat().st_dev != self.dest.stat().st_dev:
            # A folder is moved by renaming it, which is atomic only within one file system
            # (a copy killed or failing halfway would leave two partial folders).
            raise WatcherError(f"The watch path {incoming} and the destination path {dest} "
                               "must be on the same file system, aborting...")
        self._check_rename()
        if whitelist and whitelistfile:
            log.warning("both a whitelist and a whitelist file given: the file is ignored")
            whitelistfile = None
        if blacklist and blacklistfile:
            log.warning("both a blacklist and a blacklist file given: the file is ignored")
            blacklistfile = None
        self.whitelistfile = whitelistfile
        self.blacklistfile = blacklistfile
        self.whitelist = _compile(whitelist or [], "whitelist")
        self.blacklist = _compile(blacklist or [], "blacklist")
        self._file_patterns = None
        self.processed = set()
        self.failures = []  # folders that failed in the last poll
        self._panels_this_poll = None
        self._said = set()  # (folder name, problem) already logged
        self._unrecorded_failures = {}  # folder name -> fingerprint, error file unwritable
        self._passing_errors = {}  # folder name -> polls in a row with a passing I/O error
        # Folder names whose interrupted import cannot be put back into the incoming
        # directory, as a folder of that name is there (a re-delivery): (re)filled by each
        # recovery; the re-delivered folder's error file says what to do.
        self._recovery_blocked = set()
        self.stopping = False
        self._reload_pattern_files()

    def _check_rename(self):
        """Two bind mounts of one file system share st_dev, yet a rename between them fails
        (EXDEV): every folder would fail its move. Tried once with an empty folder of a
        name no other watcher starting at the same moment can have."""
        try:
            probe = Path(tempfile.mkdtemp(prefix=".ella-watcher-check-", dir=self.incoming))
        except OSError as exc:
            raise WatcherError(f"Couldn't check the watch path {self.incoming}: "
                               f"{exc.strerror or exc}, aborting...") from None
        moved = self.dest / probe.name
        try:
            os.rename(probe, moved)
        except OSError as exc:
            self._rmdir_quietly(probe)
            raise WatcherError(
                f"Couldn't move a folder from {self.incoming} to {self.dest} "
                f"({exc.strerror or exc}): imports move folders by renaming, so both must "
                "be in one mount of one file system, aborting...") from None
        self._rmdir_quietly(moved)

    @staticmethod
    def _rmdir_quietly(path):
        try:
            path.rmdir()
        except OSError as exc:
            log.warning("could not remove the empty folder %s: %s", path, exc)

    def _reload_pattern_files(self):
        if not (self.whitelistfile or self.blacklistfile):
            return
        white = _read_patterns(self.whitelistfile) if self.whitelistfile else []
        black = _read_patterns(self.blacklistfile) if self.blacklistfile else []
        if (white, black) == self._file_patterns:
            return
        # Compile before remembering the content as seen: a broken file must fail every poll
        # (fail closed), not be skipped as unchanged while the old lists stay in force.
        whitelist = _compile(white, str(self.whitelistfile)) if self.whitelistfile \
            else self.whitelist
        blacklist = _compile(black, str(self.blacklistfile)) if self.blacklistfile \
            else self.blacklist
        if self._file_patterns is not None:
            log.info("white/black list files changed: reconsidering skipped folders")
        self._file_patterns = (white, black)
        self.whitelist, self.blacklist = whitelist, blacklist
        self.processed.clear()

    def error_file(self, folder):
        return folder.parent / (folder.name + ERROR_SUFFIX)

    def _failed_before(self, folder):
        if folder.name in self._unrecorded_failures:
            if self._unrecorded_failures[folder.name] == folder_fingerprint(folder):
                return True
            del self._unrecorded_failures[folder.name]
        path = self.error_file(folder)
        if path.is_symlink() or not path.is_file():  # (ours is never a link: not followed)
            return False
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        if not isinstance(record, dict) or record.get("fingerprint") != folder_fingerprint(folder):
            return False
        if record.get("waits_for_destination") is True:
            # Tried again once the destination's folder of its name is gone.
            target = self.dest / folder.name
            return target.exists() or target.is_symlink()
        if record.get("waits_for_interrupted_import") is True:
            # Tried again once the interrupted import's staging folder is gone.
            return self.staging_paths(folder.name)[0].exists()
        # A folder that failed for want of its gene panel is tried again once the panel is
        # there (deposited after the analysis arrived), without anyone touching its files.
        panel = record.get("waits_for_genepanel")
        if panel is None and isinstance(record.get("error"), str):
            # Recorded by a version before `waits_for_genepanel`: the panel is in the text.
            match = MISSING_PANEL_ERROR.fullmatch(record["error"])
            panel = list(match.groups()) if match else None
        return not self._genepanel_now_available(panel)

    def _genepanel_now_available(self, panel):
        if not (isinstance(panel, list) and len(panel) == 2
                and all(isinstance(part, str) for part in panel)):
            return False
        if self._panels_this_poll is None:
            try:
                with connect(self.db_url, application_name="ella-watcher") as conn:
                    self._panels_this_poll = {tuple(row) for row in conn.execute(
                        "SELECT name, version FROM genepanel")}
            except (DatabaseError, psycopg.Error) as exc:
                # Asked again next poll; the import itself says what is wrong with the
                # database, if the folder gets that far.
                log.debug("could not read the gene panels: %s", first_line(exc))
                return False
        return tuple(panel) in self._panels_this_poll

    def _record_failure(self, folder, error, fingerprint):
        record = {"time": datetime.now(timezone.utc).isoformat(), "folder": folder.name,
                  "error": error_text(error), "fingerprint": fingerprint}
        if isinstance(error, GenepanelNotAvailable):
            record["waits_for_genepanel"] = list(error.genepanel)
        if isinstance(error, DestinationTaken):
            record["waits_for_destination"] = True
        if isinstance(error, InterruptedImportInTheWay):
            record["waits_for_interrupted_import"] = True
        path = self.error_file(folder)
        # Written beside it and renamed over it: a link someone who may write the watch
        # path planted under its name is replaced, not followed (it had its target
        # overwritten with the record).
        # A short name of its own (a long folder's error file name may just fit; the umask
        # gives the mode, as for any file the watcher writes).
        staged = path.with_name(f".ella-error-{uuid.uuid4().hex[:12]}.tmp")
        try:
            with os.fdopen(os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "w",
                           encoding="utf-8") as handle:
                handle.write(json.dumps(record, indent=1) + "\n")
            os.replace(staged, path)
        except OSError as exc:
            self._unlink_quietly(staged)
            log.error("could not write %s: %s (the folder is tried again once it changes, "
                      "or after a restart)", self.error_file(folder), exc)
            # Remembered here instead, with its state: as "processed" (by name), a failure
            # during a moment's full disk was not tried again until a restart, however its
            # files were mended.
            self._unrecorded_failures[folder.name] = fingerprint

    def poll(self):
        """One pass over the incoming directory. Returns the names of imported analyses."""
        self._reload_pattern_files()
        self.failures = []  # (an interrupted import left unreadable counts: --once exits 1)
        try:
            self.recover_interrupted_imports()
        except (DatabaseError, psycopg.Error) as exc:
            raise WatcherError(f"{first_line(exc)}; nothing imported (retried next time)") from exc
        imported = []
        self.settling = 0
        self._panels_this_poll = None  # read once per poll, when a folder waits for a panel
        try:
            entries = sorted(self.incoming.iterdir())
        except OSError as exc:  # removed or unmounted while we run: wait until it is back
            raise WatcherError(f"Couldn't read from watch path {self.incoming}: "
                               f"{exc.strerror or exc}") from exc
        for folder in entries:
            if self.stopping:
                break
            try:
                name = self._consider(folder)
            except (OSError, UnicodeError) as exc:
                # One folder we cannot even look at (not ours to read, a name too long for
                # its error file, ...) is passed by: the others still get their turn.
                self._cannot_look_at(folder, exc)
                continue
            if name:
                imported.append(name)
        if not self.stopping:
            self._remove_orphaned_error_files(entries)
            listed = {entry.name for entry in entries}
            self._last_look = {n: f for n, f in self._last_look.items() if n in listed}
            self._passing_errors = {n: c for n, c in self._passing_errors.items()
                                    if n in listed}
        return imported

    def _remove_orphaned_error_files(self, entries):
        """An error file whose folder is no longer in the incoming directory (renamed to be
        imported under another name, or taken away) is removed: a lab watching the error
        files kept seeing a failure that was dealt with. Its folder, were it back, would be
        tried again and fail again if nothing changed."""
        names = {entry.name for entry in entries}
        for entry in entries:
            folder_name = entry.name[:-len(ERROR_SUFFIX)]
            if not entry.name.endswith(ERROR_SUFFIX) or not folder_name \
                    or folder_name in names or os.path.lexists(self.incoming / folder_name) \
                    or not (entry.is_symlink() or entry.is_file()):
                continue
            log.info("%s: its folder is no longer in %s; the error file is removed",
                     entry.name, self.incoming)
            self._unlink_quietly(entry)

    def _consider(self, folder):
        if folder.name in self.processed or not folder.is_dir():
            return None
        if not (folder / READY).is_file():
            ready = folder / READY
            if ready.exists() or ready.is_symlink():
                # A READY that is no file (a folder, a link to nothing) was said at DEBUG
                # only: the lab saw no reason why the folder waited.
                problem = (folder.name, "READY is no file")
                if problem not in self._said:
                    self._said.add(problem)
                    log.info("%s: its READY is not a file (a folder, or a link to nothing): "
                             "not imported until it is", folder.name)
            else:
                log.debug("%s has no READY file yet", folder.name)
            return None
        if self._failed_before(folder):
            return None
        return self._import_folder(folder)

    def _unchanged_since_last_look(self, folder):
        """Whether the folder's files are as they were at the previous poll; else its state
        now is remembered for the next one."""
        fingerprint = folder_fingerprint(folder)
        before = self._last_look.get(folder.name)
        if before == fingerprint:
            return True
        if before is None:
            log.info("%s is READY: imported once its files are unchanged at the next look",
                     folder.name)
        self._last_look[folder.name] = fingerprint
        self.settling += 1
        return False

    def _cannot_look_at(self, folder, exc):
        self.failures.append(folder.name)
        problem = (folder.name, str(exc))
        if problem not in self._said:  # said once, not every poll
            self._said.add(problem)
            log.error("Couldn't look at %s: %s. Skipped until it can be read.", folder.name,
                      exc)

    def _import_folder(self, folder):
        # The files as they were when the import began: a folder the pipeline finishes while
        # its import fails must be tried again, so its failure is recorded for this state.
        fingerprint = folder_fingerprint(folder)
        if folder.name.startswith(STAGING_PREFIX):
            # Imported, it would pose as another folder's interrupted import (blocking that
            # one for good) or as its marker.
            return self._failed(folder, AnalysisConfigError(
                f"{folder.name}: a folder name starting with {STAGING_PREFIX!r} is the "
                "watcher's own (an import in progress): rename the folder"), fingerprint)
        try:
            config = resolve_analysis_config(folder)
        except Exception as exc:  # any problem with a folder is that folder's problem
            if not folder.is_dir():
                # Gone since the listing: moved by another watcher, or taken away.
                log.info("%s is no longer in %s: skipped", folder.name, self.incoming)
                return None
            if self.settle and not self._unchanged_since_last_look(folder):
                # Perhaps still being copied (READY came first): failed, with its error
                # file, only when it is so at a second look (every copy was a false alarm).
                return None
            return self._failed(folder, exc, fingerprint)
        name = config["name"]
        if self.whitelist and not any(p.match(name) for p in self.whitelist):
            log.warning("analysis %s (%s) is not whitelisted: skipped", name, folder.name)
            self.processed.add(folder.name)
            return None
        if any(p.match(name) for p in self.blacklist):
            log.warning("analysis %s (%s) is blacklisted: skipped", name, folder.name)
            self.processed.add(folder.name)
            return None
        if self.settle and not self._unchanged_since_last_look(folder):
            return None
        target = self.dest / folder.name
        if target.exists() or target.is_symlink():
            if not folder.is_dir():
                # Moved there by another watcher meanwhile: imported, not failed.
                log.info("%s is no longer in %s: skipped", folder.name, self.incoming)
                return None
            # Said in its error file too (ELLA logs it only): a lab watching the error files
            # missed a re-delivery that waited there for good.
            return self._failed(folder, DestinationTaken(
                f"{folder.name} already exists in {self.dest}: a delivery of that name was "
                "imported before. It is imported once that folder is moved away "
                "(ella-delete the analysis first if this delivery replaces it), or after "
                "this folder is renamed"), fingerprint)
        if folder.name in self._recovery_blocked:
            staging, marker = self.staging_paths(folder.name)
            return self._failed(folder, InterruptedImportInTheWay(
                f"an earlier delivery of {folder.name}, whose import was interrupted before "
                f"it was committed, is in {staging} and cannot be put back here while this "
                f"folder has its name. Keep one: remove {staging} and {marker} (this folder "
                "is then imported), or move this folder away (the earlier one is then put "
                "back and imported)"), fingerprint)
        if any(p.exists() for p in self.staging_paths(folder.name)):
            # An interrupted import of the same name: recovery resolves it, then this one
            # gets its turn (so it is not remembered as done).
            log.warning("%s: an interrupted import of the same name is in %s; skipped this "
                        "time", folder.name, self.dest)
            return None
        if not os.access(self.dest, os.W_OK | os.X_OK):
            # Known before the deposit (a read-only remount): not deposited in full every
            # poll only to be rolled back at the move.
            raise DestinationUnavailable(f"Couldn't write to the destination path {self.dest}; "
                                         f"stopped at {folder.name}, nothing recorded as "
                                         "failed (retried next time)")
        self._check_destination_takes(folder)
        try:
            conn = connect(self.db_url, application_name="ella-watcher")
        except DatabaseError as exc:
            # No database means no folder can be imported: stop the pass, record nothing.
            raise WatcherError(f"{exc}; stopped before {folder.name}, nothing recorded as "
                               "failed (retried next time)") from exc
        with conn:
            try:
                # Not into a database an upgrade left half done (pending migrations, the
                # functions of another version): the folder waits for `ella-db migrate`.
                ready, why = at_head(conn, self.app_config, shadow_columns=False)
                if not ready:
                    raise WatcherError(f"the database is not ready: {why}; stopped before "
                                       f"{folder.name}, nothing recorded as failed (retried "
                                       "next time)")
                claimed = self._claim(conn, folder, target)
            except psycopg.Error as exc:
                raise WatcherError(f"the database failed: {str(exc).strip()[:300]}; stopped "
                                   f"before {folder.name}, nothing recorded as failed "
                                   "(retried next time)") from exc
            if not claimed:
                return None
            try:
                return self._import_claimed(conn, folder, config, fingerprint)
            finally:
                self._release(conn, folder.name)

    def _check_destination_takes(self, folder):
        """DestinationUnavailable when the move after the deposit would fail: a full
        destination (its marker file cannot be written) or one mounted on another file system
        since the start (no rename across them). Found only at the move, each poll deposited
        the folder in full and rolled it back."""
        try:
            space = os.statvfs(self.dest)
            # The incoming directory's device, not the folder's: a folder there may be a link
            # to one elsewhere, and the link is what is moved.
            other_device = self.dest.stat().st_dev != self.incoming.stat().st_dev
        except OSError:
            return  # the move says what is wrong
        # (A file system that reports no sizes, some FUSE and 9p ones, says 0 blocks.)
        if space.f_blocks and space.f_bavail * space.f_frsize < MIN_DESTINATION_FREE:
            raise DestinationUnavailable(f"The destination path {self.dest} is full; stopped "
                                         f"at {folder.name}, nothing recorded as failed "
                                         "(retried next time)")
        if other_device:
            raise DestinationUnavailable(f"The destination path {self.dest} is now on another "
                                         f"file system than {self.incoming} (remounted?): "
                                         "folders are moved by renaming them; stopped at "
                                         f"{folder.name}, nothing recorded as failed (retried "
                                         "next time)")

    def _import_claimed(self, conn, folder, config, fingerprint):
        """Deposit, move and commit a folder this watcher has claimed. The folder goes into
        the destination under a staging name before the commit, beside a marker naming its
        analysis and incoming directory, and gets its own name after the commit: a watcher
        killed in between leaves both, which the next poll finishes or undoes
        (`recover_interrupted_imports`)."""
        name = config["name"]
        target = self.dest / folder.name
        staging, marker = self.staging_paths(folder.name)
        marked = moved = False
        try:
            with conn.transaction():  # commits when the block ends
                stats = deposit_analysis(conn, self.app_config, config)
                if folder_fingerprint(folder) != fingerprint:
                    raise FolderChanged(folder.name)
                try:
                    # "x": never over another import's marker (the claim checked there is
                    # none).
                    with open(marker, "x", encoding="utf-8") as handle:
                        marked = True
                        # The new row's id too: sequences never hand an id out twice, so
                        # only this import's commit can make that id exist (with this name).
                        # And the transaction's id: recovery can then tell an import
                        # committed and since deleted (`ella-delete`) from one never committed.
                        xact = conn.execute("SELECT txid_current()").fetchone()[0]
                        json.dump({"analysis": name, "analysis_id": stats["analysis_id"],
                                   "xact": xact, "database": database_identity(conn),
                                   "incoming": str(self.incoming.resolve())},
                                  handle)
                        handle.flush()
                        os.fsync(handle.fileno())
                except OSError as exc:
                    if exc.errno in DESTINATION_ERRNOS or not os.access(self.dest, os.W_OK):
                        raise DestinationUnavailable(
                            f"Couldn't write to the destination path {self.dest}: "
                            f"{exc.strerror or exc}; stopped at {folder.name}, nothing "
                            "recorded as failed (retried next time)") from exc
                    raise
                try:
                    self._rename(folder, staging)
                except OSError as exc:
                    if exc.errno in DESTINATION_ERRNOS:
                        raise DestinationUnavailable(
                            f"Couldn't move {folder.name} to {self.dest}: "
                            f"{exc.strerror or exc}; nothing recorded as failed (retried "
                            "next time)") from exc
                    raise
                moved = True
                # The marker and the move on disk before the commit: lost to a power cut
                # after it, the folder was back in incoming without a marker, failed as
                # "already imported" and never moved to where its IGV tracks are read.
                _sync_directory(self.dest)
                _sync_directory(self.incoming)
        except Exception as exc:
            lost = conn.closed or conn.broken or (
                isinstance(exc, psycopg.OperationalError) and exc.sqlstate is None)
            if moved and lost:
                # The connection went during the commit: whether it landed is unknown here,
                # and the claim went with the session. Recovery decides by the database.
                log.error("the database connection was lost while committing %s: %s; the "
                          "next poll finishes or undoes it", folder.name, first_line(exc))
                self.failures.append(folder.name)
                return None
            # Not committed, and still claimed: the folder goes back where it was (the
            # marker stays if it cannot, for the next poll's recovery).
            if marked and (not moved or self._move_quietly(staging, folder)):
                self._unlink_quietly(marker)
            if isinstance(exc, WatcherError):
                raise
            if isinstance(exc, FolderChanged):
                log.warning("%s changed while it was imported (is it still being written?): "
                            "not imported, tried again on the next poll", folder.name)
                return None
            if not folder.exists():
                # Taken away (or replaced) while imported: no failure to record beside it;
                # a copy delivered again is a new folder.
                log.warning("%s was removed from %s while it was imported: not imported",
                            folder.name, self.incoming)
                return None
            if isinstance(exc, psycopg.errors.InsufficientPrivilege):
                # The site's to grant, and every folder's import would fail alike (each a
                # whole deposit, every poll): the pass stops, nothing recorded, and run()
                # says it once, then every ten minutes, until the grant.
                self.failures.append(folder.name)
                raise WatcherError(f"The database failed while importing {folder.name}: "
                                   f"{first_line(exc)} ({PRIVILEGE_HINT}); stopped before "
                                   "the other folders, nothing recorded as failed (retried "
                                   "next time)") from None
            if database_unavailable(exc, conn):
                # Not recorded, so the next poll retries it; other folders still get their turn.
                # One line: the server's message quotes the statement on the next ones.
                log.error("The database failed while importing %s: %s. Retried on the next "
                          "poll.", folder.name, first_line(exc))
                self.failures.append(folder.name)
                return None
            return self._failed(folder, exc, fingerprint)
        if self._move_quietly(staging, target):
            self._unlink_quietly(marker)
        self._unlink_quietly(self.error_file(folder))
        log.info("Analysis %s successfully imported! %s", name, summary_line(stats))
        return name

    def staging_paths(self, folder_name):
        """(staging folder, its marker file) of a folder being imported, in the destination."""
        base = self.dest / f"{STAGING_PREFIX}{folder_name}"
        return base, base.with_name(base.name + ".json")

    @staticmethod
    def _rename(source, target):
        """Rename a folder (or the link to one) within the one file system: atomic."""
        if target.exists() or target.is_symlink():
            raise FileExistsError(f"{target} exists")
        os.rename(source, target)

    @classmethod
    def _move_quietly(cls, source, target):
        """Rename; False (logged, left for the next poll's recovery) if it cannot be done."""
        try:
            cls._rename(source, target)
            return True
        except OSError as exc:
            log.error("could not move %s to %s: %s (the next poll tries again)", source,
                      target, exc)
            return False

    @staticmethod
    def _unlink_quietly(path):
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            log.error("could not remove %s: %s", path, exc)

    def recover_interrupted_imports(self):
        """Finish what a killed watcher left in the destination: a staging folder with its
        marker. Its analysis committed: the folder gets its own name; not committed: it goes
        back to the incoming directory it came from, to be imported again. One whose import
        is running right now (claimed) is left alone, and so is one from another watcher's
        incoming directory until its analysis is committed."""
        try:
            markers = sorted(p for p in self.dest.iterdir()
                             if p.name.startswith(STAGING_PREFIX) and p.name.endswith(".json")
                             # (the link test first: following a planted link can raise)
                             and not p.is_symlink() and p.is_file())
        except OSError as exc:
            raise WatcherError(f"Couldn't read the destination path {self.dest}: "
                               f"{exc.strerror or exc}") from exc
        self._recovery_blocked = set()
        if not markers:
            return
        with connect(self.db_url, application_name="ella-watcher") as conn:
            for marker in markers:
                folder_name = marker.name[len(STAGING_PREFIX):-len(".json")]
                with conn.transaction():
                    if conn.execute(*self._claim_lock("pg_try_advisory_xact_lock",
                                                      folder_name)).fetchone()[0]:
                        self._recover(conn, folder_name)

    def _recover(self, conn, folder_name):
        staging, marker = self.staging_paths(folder_name)
        try:
            record = json.loads(marker.read_text(encoding="utf-8"))
            analysis, origin = record["analysis"], Path(record["incoming"])
            analysis_id = record["analysis_id"]
            if not isinstance(analysis, str) or type(analysis_id) is not int:
                raise TypeError("no analysis name and id")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            if not staging.exists():  # nothing to put anywhere: the marker only
                self._unlink_quietly(marker)
            else:
                # Said once (it was every poll), with what to do about it.
                problem = (folder_name, f"unreadable marker: {exc}")
                if problem not in self._said:
                    self._said.add(problem)
                    log.error("%s: unreadable (%s); %s left in place: check whether its "
                              "analysis is in the database (`ella-db`, the UI), then move "
                              "the folder to %s (imported) or back to the incoming directory "
                              "(to be imported again) and remove the marker", marker, exc,
                              staging, self.dest / folder_name)
                self.failures.append(folder_name)
            return
        # By id and name: another folder's analysis of the same name does not count.
        committed = conn.execute("SELECT 1 FROM analysis WHERE id = %s AND name = %s",
                                 (analysis_id, analysis)).fetchone() is not None
        deleted = False
        xact = record.get("xact")
        if not committed and type(xact) is int and record.get("database") in (
                None, database_identity(conn)):
            # (Markers of earlier versions have no xact, nor database.) Transaction ids are
            # the cluster's own: of another cluster (a dump restored onto a new server) or
            # another database, the id says nothing about this import.
            try:
                with conn.transaction():  # a savepoint: the claim's lock stays
                    status = conn.execute("SELECT txid_status(%s)", (xact,)).fetchone()[0]
            except psycopg.errors.InvalidParameterValue:
                status = None  # "in the future": a database restored from before the import
            if status == "in progress":
                return  # still committing (a lost connection's server side): next poll
            # Committed, yet no analysis: an operator deleted it since. Not imported again.
            committed = deleted = status == "committed"
        if not staging.exists():  # the move or rename had been done: only the marker is left
            self._unlink_quietly(marker)
            if committed:  # an earlier failure's record no longer holds
                self._unlink_quietly(origin / (folder_name + ERROR_SUFFIX))
            return
        if not committed and origin != self.incoming.resolve():
            return  # the watcher of that incoming directory puts it back
        back = self.dest / folder_name if committed else origin / folder_name
        if not committed and (back.exists() or back.is_symlink()):
            # A re-delivery of that name arrived meanwhile: neither is imported until
            # someone chooses (said in the re-delivery's error file, not retried blindly).
            self._recovery_blocked.add(folder_name)
            problem = (folder_name, "recovery blocked")
            if problem not in self._said:
                self._said.add(problem)
                log.error("interrupted import of %s (not committed) cannot go back to %s: a "
                          "folder of that name is there; left in %s until one of them is "
                          "removed", folder_name, back, staging)
            return
        if self._move_quietly(staging, back):
            self._unlink_quietly(marker)
            if committed:  # an earlier failure's record no longer holds
                self._unlink_quietly(origin / (folder_name + ERROR_SUFFIX))
            log.warning("interrupted import of %s: %s", folder_name,
                        "it was committed and its analysis deleted since; the folder now has "
                        "its name, it is not imported again" if deleted
                        else "it was committed, the folder now has its name" if committed
                        else "not committed, the folder is back in the incoming directory")

    @staticmethod
    def _claim_lock(function, folder_name):
        """(SQL, params) calling an advisory lock `function` on the folder's key. By the
        folder's name alone, not its path: watchers sharing a destination never import or
        recover one folder name at the same time, also on hosts that mount it at different
        paths. Watchers of different destinations only skip a same-named folder while the
        other imports it (the next poll gets it). The key is hashtext of the name, as in
        earlier versions (a watcher of each must see the other's claims while both run); a
        name that is no UTF-8 (a Latin-1 share), which cannot be sent as text, gets one
        hashed from its bytes."""
        try:
            (f"ella.watcher:{folder_name}").encode("utf-8")
        except UnicodeEncodeError:
            digest = hashlib.sha256(b"ella.watcher:" + os.fsencode(folder_name)).digest()
            return f"SELECT {function}(%s)", (int.from_bytes(digest[:8], "big", signed=True),)
        return f"SELECT {function}(hashtext(%s))", (f"ella.watcher:{folder_name}",)

    def _claim(self, conn, folder, target):
        """Claim the folder's import for this connection until `_release`; False (skip,
        record nothing) when another watcher is importing it or has just done so."""
        claimed = conn.execute(*self._claim_lock("pg_try_advisory_lock",
                                                 folder.name)).fetchone()[0]
        conn.commit()
        if not claimed:
            log.info("%s is being imported by another watcher: skipped", folder.name)
            return False
        if not folder.is_dir() or target.exists() or any(
                p.exists() for p in self.staging_paths(folder.name)):
            log.info("%s was imported by another watcher, or is being recovered: skipped",
                     folder.name)
            self._release(conn, folder.name)
            return False
        return True

    def _release(self, conn, folder_name):
        if conn.closed or conn.broken:
            return  # the session's end released it
        try:
            conn.rollback()
            conn.execute(*self._claim_lock("pg_advisory_unlock", folder_name))
            conn.commit()
        except psycopg.Error:
            pass  # the connection failed: its session's end releases the claim

    def _failed(self, folder, exc, fingerprint):
        passing = _passing_file_error(exc)
        if passing is not None:
            polls = self._passing_errors[folder.name] = self._passing_errors.get(
                folder.name, 0) + 1
            if polls >= PASSING_ERROR_POLLS:
                passing = None  # not passing after all (a failing disk): recorded below
                self._passing_errors.pop(folder.name, None)
        if passing is not None:
            # The share's, not the folder's (a soft NFS mount timing out): recorded, it was
            # not tried again until its files changed, also after a restart.
            problem = (folder.name, f"passing: {passing}")
            if problem not in self._said:
                self._said.add(problem)
                log.error("%s could not be read now (%s): nothing recorded as failed, tried "
                          "again on the next poll", folder.name, passing)
            self.failures.append(folder.name)
            return None
        if isinstance(exc, FOLDER_INPUT_ERRORS):
            log.error("An exception occurred while importing %s: %s. Skipping...",
                      folder.name, error_text(exc))
        else:
            # Not the folder's content but a fault of ours: the operator needs the type and
            # the traceback (import.md 1.6), the error file at least the type.
            exc = UnexpectedImportError(f"{type(exc).__name__}: {exc}", exc)
            log.error("An exception occurred while importing %s: %s. Skipping...",
                      folder.name, error_text(exc), exc_info=exc.cause)
        self.failures.append(folder.name)
        self._record_failure(folder, exc, fingerprint)
        return None

    @contextmanager
    def stop_on_signals(self):
        """While active, SIGTERM/SIGINT let the running import finish, then stop the pass."""
        def stop(signum, frame):
            log.info("signal %s received: stopping after the current folder", signum)
            self.stopping = True
        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def run(self, interval=30.0):
        """Poll until SIGTERM/SIGINT; a running import is finished first."""
        with self.stop_on_signals():
            log.info("watching %s, importing into %s every %ss", self.incoming, self.dest,
                     interval)
            failing, said_at = None, 0.0  # the error the polls keep failing with, when said
            while not self.stopping:
                try:
                    self.poll()
                    if failing is not None:
                        log.info("polling works again")
                    failing = None
                except WatcherError as exc:
                    # The same error (the database down, a destination full) is said once,
                    # and again every ERROR_REMINDER_SECONDS while it lasts, not every poll.
                    if str(exc) != failing or time.monotonic() - said_at >= \
                            ERROR_REMINDER_SECONDS:
                        log.error("%s", exc)
                        said_at = time.monotonic()
                    failing = str(exc)
                except Exception:  # e.g. a folder removed while it was read: keep watching
                    log.exception("unexpected error during a poll; polling again")
                deadline = time.monotonic() + interval
                while not self.stopping and time.monotonic() < deadline:
                    time.sleep(min(0.2, interval))
        log.info("watcher stopped")
