"""What every command-line tool shares: config and DB set-up, one-line errors, the clilog audit.

Exit codes: 0 success, 1 error (one line on stderr, never a traceback for bad input or a
database that says no), 2 usage error (argparse).
"""

import argparse
import getpass
import os
import signal
import sys
import threading
from contextlib import contextmanager
from datetime import datetime, timezone

import psycopg

from ella.config import ConfigError, env_settings, load_config
from ella.db import PRIVILEGE_HINT, DatabaseError, connect, first_line, table_exists
from ella.text import error_text, file_problem, is_utf8


# The poll intervals and back-offs a daemon takes: shorter ones spin a core, longer ones
# (beyond a day) seem to hang.
MIN_INTERVAL_SECONDS, MAX_INTERVAL_SECONDS = 0.01, 86_400


def seconds_within(text, low, high, high_said=""):
    """`text` as seconds from `low` to `high`, else argparse's ArgumentTypeError (`nan`
    fails the range test too)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"{text!r}: give seconds from {low} to {high}"
                                         + (f" ({high_said})" if high_said else ""))
    return value


def interval_seconds(text):
    """argparse type of a daemon's `--interval`/`--max-backoff`: seconds from 0.01 to a day
    (`nan` or 1e-300 made the loops spin at full CPU, `inf` poll once and never again)."""
    return seconds_within(text, MIN_INTERVAL_SECONDS, MAX_INTERVAL_SECONDS, "a day")


# Why a path cannot be read as an input file, or None (ella/text.py: the same words in
# every tool and in the analysis folders' messages).
input_file_problem = file_problem


def require_input_file(parser, command, path):
    """A usage error (exit 2) naming `command` when `path` cannot be read as an input file."""
    problem = input_file_problem(path)
    if problem:
        parser.error(f"{command}: FILE {path!r} {problem}")


class CommandError(Exception):
    """An expected failure: printed as one line, exit code 1."""


class OutputError(Exception):
    """stdout (or stderr) could not be written: a closed pipe, a full disk under a log file.
    Not an OSError, so that a command's own handling of file errors does not take it for its
    input's."""

    def __init__(self, cause):
        super().__init__(f"the output could not be written ({cause.strerror or cause})")
        self.cause = cause


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived while an audited command ran: unwinds like Ctrl-C, so the command's
    transaction is rolled back and its clilog row is still written. A KeyboardInterrupt so
    that psycopg cancels a query in progress (a lock wait) as it does on Ctrl-C, instead of
    leaving the connection busy and the rollback failing."""

    def __str__(self):
        return "terminated (SIGTERM)"


def _raise_terminated(signum, frame):
    raise Terminated()


@contextmanager
def sigterm_unwinds():
    """While the block runs, SIGTERM raises Terminated (in the main thread; elsewhere signals
    cannot be handled): the command cleans up as on Ctrl-C, and run_main exits 143."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _storable(text):
    """`text` as PostgreSQL can store it: undecodable bytes and NUL become U+FFFD, so the
    clilog row is written whatever the command was given."""
    if text is None:
        return None
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return text.replace("\x00", "\ufffd")


def _describe(error):
    """The text an error leaves in clilog (an interrupt's own text is empty)."""
    if isinstance(error, KeyboardInterrupt) and not isinstance(error, Terminated):
        return "interrupted"
    return error_text(error) or type(error).__name__


def os_username(environ=None):
    """Who runs the command, for clilog (ELLA's order of environment variables)."""
    environ = os.environ if environ is None else environ
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        if environ.get(name):
            return environ[name]
    try:
        return getpass.getuser()
    except Exception as exc:  # no passwd entry for the uid (some containers)
        raise CommandError("Couldn't find your system username. A username is required for "
                           "auditing purposes.") from exc


class Audit:
    """Collects a command's output and writes one `clilog` row at the end, also on failure.

    The row is written on its own connection so it survives the command's rollback; that
    connection is opened before the command runs, so a server that takes no more connections
    refuses the command instead of its audit row after the command committed. A row that
    cannot be written after the command succeeded is an error (exit 1) saying what it saved
    stays saved. Lines passed with `secret=True` are printed but stored masked
    (one-time passwords)."""

    def __init__(self, db_url, group, groupcommand, argv, reason=None):
        self.db_url = db_url
        self.group = group
        self.groupcommand = groupcommand
        # ELLA's `command` column: the arguments after `ella-cli`, which start with the group
        # (`users reset_password testuser1`); ours follow `bin/ella-<tool>`.
        self.command = " ".join([group, *argv])
        self.reason = reason  # normalised in run(), where a bad one is audited
        self.user = os_username()
        self.lines = []
        self._conn = None

    def echo(self, line, secret=None):
        # Recorded first: a line that could not be printed (a closed pipe) is still audited.
        self.lines.append(secret if secret is not None else line)
        _print_or_raise(line, sys.stdout)

    def note(self, line):
        """A line for stderr (said before an error's own line), recorded like echo's."""
        self.lines.append(line)
        _print_or_raise(line, sys.stderr)

    def run(self, fn, input_errors=()):
        """Run the command body `fn()`; write the clilog row afterwards, also on failure.
        Exceptions of the `input_errors` types are the operator's input problem: they become
        one-line CommandErrors."""
        error = None
        try:
            with sigterm_unwinds():
                if not is_utf8(self.command):
                    # Refused before anything changes (it would fail mid-way, or in the
                    # audit).
                    raise CommandError("an argument is not valid UTF-8 text")
                self.reason = normalise_reason(self.reason)
                if self.db_url:
                    self._conn = connect(self.db_url, autocommit=True,
                                         application_name="ella-cli-audit")
                return fn()
        except input_errors as exc:
            error = exc
            raise CommandError(str(exc)) from exc
        except BaseException as exc:
            error = exc
            raise
        finally:
            self.write(error)

    def _insert_row(self, conn, output):
        if not table_exists(conn, "clilog"):
            return  # e.g. after `drop`, or a failed first make-production
        conn.execute('INSERT INTO clilog ("time", "user", "group", groupcommand, command, '
                     "reason, output) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                     (datetime.now(timezone.utc), _storable(self.user), self.group,
                      self.groupcommand, _storable(self.command), _storable(self.reason),
                      _storable(output)))

    def write(self, error=None):
        if not self.db_url:
            return
        output = "\n".join(self.lines + ([_describe(error)] if error is not None else []))
        early, self._conn = self._conn, None
        try:
            if early is not None:
                try:
                    with early:
                        return self._insert_row(early, output)
                except psycopg.OperationalError:
                    pass  # lost meanwhile (a server restart): one new connection
            with connect(self.db_url, autocommit=True, application_name="ella-cli-audit") as conn:
                self._insert_row(conn, output)
        except (DatabaseError, psycopg.Error) as exc:
            if isinstance(error, DatabaseError) and isinstance(exc, DatabaseError):
                return  # the command could not reach the database either: its line says so
            if error is None:
                # The command succeeded, and what it committed stays; the operator must know
                # its audit row is missing (a warning and exit 0 hid it).
                raise CommandError(f"the command ran (what it saved stays saved), but its "
                                   f"audit row could not be written (clilog): "
                                   f"{error_text(exc)}") from None
            print(f"warning: could not write the audit log (clilog): {exc}", file=sys.stderr)


def load_settings():
    """(config, env) or CommandError with the config problem in one line."""
    try:
        return load_config(), env_settings()
    except ConfigError as exc:
        raise CommandError(str(exc)) from exc


def settings_with_database():
    """(config, DB_URL) for a command that needs the database; the standard "DB_URL is not
    set" error when it is not."""
    config, env = load_settings()
    db_url = env["DB_URL"]
    if not db_url:
        connect(db_url)  # raises the standard error
    return config, db_url


def require_ready_database(conn, config, shadow_columns=True):
    """CommandError unless the database is at this version's head (`ella-db compare`): not
    one an upgrade left half done (pending migrations, another version's functions); the
    shadow columns too unless `shadow_columns` is false (see `at_head`)."""
    from ella.migrate import at_head  # late: the commands' --help needs no database code
    ready, why = at_head(conn, config, shadow_columns=shadow_columns)
    conn.rollback()
    if not ready:
        raise CommandError(f"the database is not ready: {why}")


def require_known_schema(conn, config):
    """CommandError unless the database's tables are those this version writes: set up or
    adopted by it with no migration pending, or ELLA's own at the head revision not adopted
    yet (the same tables, which ELLA writes the same way). A database at another ELLA
    revision (older, newer) is refused, as by the imports. Functions and shadow columns may
    still wait for a refresh: users, groups, filter configs and messages use neither, and
    `ella-db refresh` may first need a group's or a filter config's frequency groups
    changed."""
    from ella.migrate import STATE_ADVICE, status  # late: --help needs no database code
    info = status(conn, config)
    conn.rollback()
    if info["state"] == "ella":
        return
    if info["state"] not in ("ours", "needs-refresh"):  # (missing shadow tables: refresh due)
        why = info["message"] or STATE_ADVICE.get(info["state"], info["state"])
        raise CommandError(f"the database is not ready: {why}")
    if info["pending"]:
        raise CommandError("the database is not ready: pending migrations: "
                           + ", ".join(info["pending"]) + " (run `ella-db migrate`)")


def _missing_privilege_caused(exc):
    """Whether a missing privilege (PostgreSQL's refusal) is among `exc`'s causes."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, psycopg.errors.InsufficientPrivilege):
            return True
        seen.add(id(exc))
        exc = exc.__cause__
    return False


def _tolerant_output():
    """Output a terminal's or a log file's encoding cannot show (a Greek user name under a
    Latin-1 locale) is written as a backslash escape (`\\u03a9`): it was a
    UnicodeEncodeError's traceback, after a command such as `ella-users lock` had
    committed."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        # Only a strict stream: Python's own choice (surrogateescape in UTF-8 mode, which
        # writes a Latin-1 folder name's bytes back as they were) is kept.
        if reconfigure is not None and getattr(stream, "errors", None) == "strict":
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # closed, or not a text stream of its own
                pass


def _print_or_raise(line, stream):
    try:
        print(line, file=stream, flush=True)
    except OSError as exc:
        raise OutputError(exc) from exc


class _GuardedOutput:
    """sys.stdout while a command runs: a write or flush that fails raises OutputError, so
    that a `print` into a full disk's log file is told from the command's other OSErrors."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        try:
            return self._stream.write(text)
        except OSError as exc:
            raise OutputError(exc) from exc

    def flush(self):
        try:
            return self._stream.flush()
        except OSError as exc:
            raise OutputError(exc) from exc

    def __getattr__(self, name):
        return getattr(self._stream, name)


def run_main(fn, privilege_hint=PRIVILEGE_HINT):
    """Run a CLI body, turning expected failures into one line on stderr and exit code 1.
    `privilege_hint` follows a refusal for a missing privilege."""
    _tolerant_output()
    stdout = sys.stdout
    if stdout is not None:
        sys.stdout = _GuardedOutput(stdout)
    try:
        code = _run_guarded(fn, privilege_hint)
    finally:
        if sys.stdout is not stdout and isinstance(sys.stdout, _GuardedOutput):
            sys.stdout = stdout
    return code


def _run_guarded(fn, privilege_hint):
    try:
        code = fn()
        # What is still buffered (all of a short output, when stdout is a file) is written
        # here, under the guard: at the interpreter's exit its failure was two "Exception
        # ignored" lines and exit code 120.
        if sys.stdout is not None:
            sys.stdout.flush()
    except (CommandError, ConfigError, DatabaseError) as exc:
        # A refusal wrapped in our own message (a failed migration) gets the hint too.
        hint = f" ({privilege_hint})" if _missing_privilege_caused(exc) else ""
        print(f"error: {error_text(exc)}{hint}", file=sys.stderr)
        return 1
    except psycopg.Error as exc:
        first = first_line(exc)
        if isinstance(exc, psycopg.errors.InsufficientPrivilege):
            first += f" ({privilege_hint})"
        elif (exc.sqlstate or "").startswith("40"):
            # A deadlock or serialization failure: the database rolled this command back so
            # another could finish.
            first += " (another command changed the same rows at the same time; nothing was " \
                "saved: run it again)"
        elif isinstance(exc, psycopg.errors.UndefinedTable):
            first += (" (is this database set up for ELLA? `ella-db status` tells; "
                      "`ella-db make-production` sets up an empty one)")
        print(f"error: database: {error_text(first)}", file=sys.stderr)
        return 1
    except Terminated as exc:  # before KeyboardInterrupt, its base class
        print(f"error: {exc}", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 1
    except (OutputError, BrokenPipeError) as exc:
        # The reader went (`| head`, a pager quit) or the disk under a log file is full: one
        # line, not a traceback. Commands print what the operator must see (a new password)
        # before they commit, so nothing of it was stored; a summary printed after a
        # commit was lost, not the commit. stdout goes to /dev/null so the exit's flush
        # does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        cause = exc.cause if isinstance(exc, OutputError) else exc
        if isinstance(cause, BrokenPipeError):
            problem = "the output was closed before the command finished"
        else:
            problem = f"the output could not be written ({cause.strerror or cause})"
        try:
            print(f"error: {problem}; what the command had saved until then stays saved",
                  file=sys.stderr)
        except OSError:
            pass  # stderr too: the exit code says it
        return 1
    return code or 0


REASON_PROMPT = "Enter reason (optional): [None]: "


def ask_reason(given=None):
    """ELLA's optional audit reason: `given` (from `--reason`) if not None, else one line read
    from stdin after the prompt on stderr. "None" or nothing means no reason (NULL)."""
    if given is None:
        print(REASON_PROMPT, end="", file=sys.stderr, flush=True)
        try:
            given = _answer_line()
        except UnicodeDecodeError:
            # (With PYTHONIOENCODING=utf-8, as in the image, stdin decodes strictly.)
            raise CommandError("the reason is not valid UTF-8 text") from None
        except (OSError, ValueError):
            given = ""
        if sys.stdin is None or not sys.stdin.isatty():
            print(file=sys.stderr)  # the answer was not echoed: end the prompt line
    return normalise_reason(given)


def normalise_reason(given):
    """ELLA's rule for a reason, prompted or from `--reason`: "None" or nothing is no reason
    (NULL)."""
    if given is None:
        return None
    given = given.strip()
    if not is_utf8(given):
        raise CommandError("the reason is not valid UTF-8 text")
    return None if given in ("", "None") else given


def confirm(prompt, expected, assume_yes=False, conn=None):
    """Ask for a typed confirmation; EOF, no input at all, or anything else declines.

    `conn`, whose transaction has only read so far, is rolled back first: a transaction left
    open while a person reads the prompt held its locks (a `ella-db refresh` was refused as
    "the database is in use") and kept vacuum from cleaning the whole database. Callers check
    again, under lock, what the operator was shown."""
    if assume_yes:
        return True
    if conn is not None:
        conn.rollback()
    print(prompt, file=sys.stderr, flush=True)
    try:
        answer = _answer_line()
    except (OSError, ValueError):
        return False
    return answer.strip() == expected


def _answer_line():
    """One line of the user's answer; none when the command was started without any input
    (`cmd <&-`, as cron may: Python's sys.stdin is then None, and every prompt was a
    traceback)."""
    return sys.stdin.readline() if sys.stdin is not None else ""
