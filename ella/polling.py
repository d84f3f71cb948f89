"""Import jobs (import.md 7): the annotation-service client and the polling loop.

A job (table `annotationjob`) moves SUBMITTED -> RUNNING -> ANNOTATED -> DONE, or to one of
the FAILED states. Each cycle takes a snapshot of the jobs in those three states and advances
each job by at most one step: RUNNING jobs first, then SUBMITTED, then ANNOTATED.

Deliberate improvements over ELLA's poller:
- An unreachable annotation service never crashes the loop and never fails a job: the job
  keeps its status (with a message saying so) and the service is tried again after a
  back-off that doubles from the poll interval up to `max_backoff`. A proxy's 502, 503 or
  504 in front of it (the service restarting) counts as unreachable.
- The working folders of a deposit or a pre-import script (the patient's VCF) are removed
  when the poller starts if one killed meanwhile left them.
- A status answer with `error: true` fails the job (FAILED (ANNOTATION)) with the service's
  message instead of trying to deposit a result that does not exist.
- Every transition locks the job row (SELECT ... FOR UPDATE) and re-checks its status, and the
  deposit of a result is in the same transaction as its DONE transition: a job is deposited
  once, also when the loop is killed mid-job and restarted, or when two loops run.
- SIGTERM/SIGINT stop the loop after the job being handled.
"""

import contextlib
import fcntl
import itertools
import json
import logging
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timezone
from http.client import HTTPException, IncompleteRead
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb

from ella.config import annotation_service_timeout
from ella.data_warnings import collecting
from ella.db import DatabaseError, connect, first_line, table_exists
from ella.deposit.alleles import deposit_alleles
from ella.deposit.analysis import deposit_analysis
from ella.deposit.analysis_config import resolve_analysis_config
from ella.deposit.variants import UNSTORABLE_TEXT, DepositError, wait_for_other_imports
from ella.genepanel_export import regions_bed
from ella.http_deadline import Deadline, RedirectRefused
from ella.import_rights import IMPORTABLE_PANEL, may_import_on
from ella.migrate import at_head
from ella.text import error_text

log = logging.getLogger("ella.polling")

SUBMITTED, RUNNING, ANNOTATED, DONE, CANCELLED = (
    "SUBMITTED", "RUNNING", "ANNOTATED", "DONE", "CANCELLED")
FAILED_SUBMISSION = "FAILED (SUBMISSION)"
FAILED_ANNOTATION = "FAILED (ANNOTATION)"
FAILED_PROCESSING = "FAILED (PROCESSING)"
FAILED_DEPOSIT = "FAILED (DEPOSIT)"
STATUSES = (SUBMITTED, RUNNING, ANNOTATED, CANCELLED, DONE, FAILED_SUBMISSION,
            FAILED_ANNOTATION, FAILED_DEPOSIT, FAILED_PROCESSING)
MODES = ("Analysis", "Variants", "Single variant")
UNFINISHED = (SUBMITTED, RUNNING, ANNOTATED)  # the jobs the poller still works on
NOT_IMPORTED = "Analysis has not been automatically imported"
POLLING_LOCK = "ella.polling"
UNKNOWN_ERROR = "Unable to determine error"

JOB_COLUMNS = ("id", "task_id", "status", "status_history", "mode", "data", "message", "user_id",
               "date_submitted", "date_last_update", "genepanel_name", "genepanel_version",
               "properties", "sample_id")
JOB_SELECT = ("SELECT id, task_id, status::text, status_history, mode::text, data, message, "
              "user_id, date_submitted, date_last_update, genepanel_name, genepanel_version, "
              "properties, sample_id FROM annotationjob")


def now():
    return datetime.now(timezone.utc)


# --- annotation service client (7.3) -------------------------------------------------------

class ServiceError(Exception):
    """The annotation service answered with an error (or an unusable answer)."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.message = message
        self.status = status


class ServiceUnreachable(ServiceError):
    """No answer at all: connection refused, DNS, timeout."""


# A gateway's "cannot answer now" (a proxy in front of a restarting service, or the service
# saying it is unavailable): passing, as when nothing answers.
GATEWAY_STATUSES = (502, 503, 504)
READ_CHUNK = 1 << 16
# The most the poller reads of an answer: a status, task id or sample search is a few KB; a
# service (or a proxy) sending without end filled the poller's memory within seconds
# (1.4 GB in 3 s on loopback). A result VCF may be large, but is held in memory whole.
MAX_ANSWER_BYTES = 16 << 20
MAX_RESULT_BYTES = 2 << 30
# The task id of a job whose submission is under way (committed before the POST).
SUBMITTING = "(submitting)"
INTERRUPTED_SUBMISSION = ("the poller stopped, or lost its database, while it submitted this "
                          "job: the annotation service may have its task; check there before "
                          "you submit it again")


class ServiceNoAnswer(ServiceError):
    """A POST was sent and not answered (read timeout, dropped connection): the service may
    have started the task, so the job is not sent again, and the service is backed off as
    when unreachable (a hung service would otherwise fail every waiting job at once)."""


def _error_message(body, answer):
    """The service's `message`, else import.md's "Unable to determine error" with the
    `answer` (address and HTTP status): a wrong address, where another server answers 404,
    failed the job saying nothing more."""
    try:
        message = json.loads(body).get("message")
    except (ValueError, AttributeError, RecursionError):
        message = None
    if isinstance(message, str) and message:
        return service_message(message)
    return f"{UNKNOWN_ERROR} ({service_message(answer).strip()})"


def service_message(text):
    """A message of the service's as a job's message: storable, and cut as every error text
    is (one of 200,000 characters was stored and logged whole)."""
    return storable(error_text(text))


def storable(text):
    """Service text as PostgreSQL text can hold it: a NUL (or a lone surrogate from JSON)
    failed the job's UPDATE, and the job was handled again every cycle."""
    return UNSTORABLE_TEXT.sub("\ufffd", text)


def _header_param(value):
    """A name or filename as a Content-Disposition parameter, escaped as ELLA's client
    (requests over urllib3) does, HTML5's way: a `"` ended the quoted name early (a panel
    named `Kardio "B"` sent its files as `Kardio`), a backslash was taken as an escape."""
    value = value.replace("\\", "\\\\").replace('"', "%22")
    return re.sub(r"[\x00-\x1a\x1c-\x1f]", lambda m: f"%{ord(m.group()):02X}", value)


def encode_multipart(fields, files):
    """(body bytes, content type). ELLA's quirk: string field values are sent JSON-quoted."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        name = _header_param(name)
        text = json.dumps(value) if isinstance(value, str) else (
            value if isinstance(value, (bytes, bytearray)) else json.dumps(value))
        data = text if isinstance(text, (bytes, bytearray)) else text.encode()
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                     .encode() + data + b"\r\n")
    for name, (filename, content) in files.items():
        name, filename = _header_param(name), _header_param(filename)
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                     f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
                     .encode() + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class AnnotationService:
    """Client of the annotation service's API (`<app.annotation_service>/api/v1`)."""

    def __init__(self, url, timeout=30.0):
        if not url:
            raise ServiceError("app.annotation_service is not configured")
        if "@" in url:
            # urllib would take "user:password@host" for the host name (every job would
            # fail, with the password in its message), and a password with an unencoded
            # "#", "?" or "/" ends the host part early: refused anywhere, never quoted.
            raise ServiceError("app.annotation_service (ANNOTATION_SERVICE_URL) must not "
                               "carry a user or password")
        try:
            parts = urllib.parse.urlsplit(url)
            hostname = parts.hostname  # (a malformed host, e.g. "[::1", is found here)
        except ValueError as exc:
            # Not shown: it may carry a password.
            raise ServiceError("app.annotation_service (ANNOTATION_SERVICE_URL) is not a "
                               f"valid URL: {exc}") from None
        if parts.scheme not in ("http", "https") or not hostname:
            # Refused at start: otherwise every job would fail with "unknown url type".
            raise ServiceError("app.annotation_service (ANNOTATION_SERVICE_URL) must be an "
                               f"http:// or https:// URL with a host, got {url!r}")
        self.base = url.rstrip("/") + "/api/v1"
        self.shown = self.base  # in logs and job messages (no user or password, above)
        self.timeout = timeout

    def _request(self, method, path, body=None, content_type=None, deadline_factor=3,
                 max_bytes=None):
        """The answer's body. `timeout` bounds each wait for the service; the whole answer
        must arrive within `deadline_factor` times it (a service or proxy sending a byte at
        a time held the polling loop, or an API worker, for as long as it liked), and may
        have at most `max_bytes` (MAX_ANSWER_BYTES by default; a ServiceError beyond)."""
        if max_bytes is None:
            max_bytes = MAX_ANSWER_BYTES
        request = urllib.request.Request(self.base + path, data=body, method=method)
        if content_type:
            request.add_header("Content-Type", content_type)
        late = TimeoutError(f"the answer took over {self.timeout * deadline_factor:g} s")
        with Deadline(self.timeout * deadline_factor) as deadline:
            try:
                return self._answer(deadline, request, late, path, max_bytes)
            except (OSError, HTTPException, ValueError) as exc:  # URLError is an OSError
                if deadline.cut and not isinstance(exc, urllib.error.HTTPError):
                    exc = late  # whatever the cut socket made the reader say
                raise self._failure(method, path, exc) from None

    def _answer(self, deadline, request, late, path, max_bytes):
        with deadline.opener().open(request, timeout=self.timeout) as response:
            # One growing buffer: a list of chunks joined at the end held a result VCF twice
            # (a 400 MiB result took 800 MiB).
            body = bytearray()
            while chunk := response.read1(READ_CHUNK):
                if len(body) + len(chunk) > max_bytes:
                    raise ServiceError(f"annotation service {path}: the answer is larger than "
                                       f"{max_bytes:,} bytes; not read further")
                body += chunk
            if deadline.cut:  # an answer without a length ends where it was cut
                raise late
            if response.length:  # closed early: read1 ends as if the answer were whole
                raise IncompleteRead(bytes(body), response.length)
            return body

    def _failure(self, method, path, exc):
        """The ServiceError for a request that failed with `exc`."""
        if isinstance(exc, RedirectRefused):
            return ServiceError(f"annotation service {path}: {exc.msg} (HTTP {exc.code})",
                                exc.code)
        if isinstance(exc, urllib.error.HTTPError) and 300 <= exc.code < 400:
            # A redirect urllib does not follow (a 300, a 304, one without a Location).
            reason = service_message(str(exc.msg or "")).strip()
            return ServiceError(f"annotation service {path}: answered HTTP {exc.code}"
                                + (f" {reason}" if reason else "")
                                + ", a redirect that is not followed", exc.code)
        if isinstance(exc, urllib.error.HTTPError):
            try:
                text = exc.read(MAX_ANSWER_BYTES)  # (a message cut short is no JSON)
            except (OSError, HTTPException):
                text = b""
            answer = f"annotation service {self.shown}{path}: HTTP {exc.code} {exc.msg or ''}"
            if exc.code in GATEWAY_STATUSES:
                return self._gateway_failure(method, path, exc.code, text, answer)
            return ServiceError(_error_message(text, answer), exc.code)
        if isinstance(exc, (urllib.error.URLError, ValueError)):
            # Nothing reached the service (urllib wraps what fails before the request is
            # sent in URLError; ValueError: a host name the resolver refuses,
            # "annotation..service").
            reason = getattr(exc, "reason", None) or exc
            return ServiceUnreachable(f"annotation service not reachable at {self.shown}: "
                                      f"{reason}")
        # No answer after the request was sent (a read timeout, a dropped connection).
        # A POST may have started a task there: submitted again, the job would run twice.
        if method == "POST":
            return ServiceNoAnswer(f"annotation service {path}: no answer after the request "
                                   f"was sent ({exc or type(exc).__name__}); the service may "
                                   "have started the task: check it before submitting the "
                                   "job again")
        return ServiceUnreachable(f"annotation service not reachable at {self.shown}: "
                                  f"{exc or type(exc).__name__}")

    def _gateway_failure(self, method, path, code, text, answer):
        """A 502/503/504: the service (or the proxy in front of it) cannot answer now, as
        while it restarts. It failed every job of a cycle at once (no back-off), and the jobs
        already annotated had to be annotated again. A POST answered 502 or 504 may have
        reached the service, as one not answered at all (503: not taken)."""
        said = _error_message(text, answer)
        if method == "POST" and code != 503:
            return ServiceNoAnswer(f"{said}; the service may have started the task: check it "
                                   "before submitting the job again", code)
        error = ServiceUnreachable(f"annotation service not reachable at {self.shown}: {said}",
                                   code)
        error.answer = said  # (what a job that alone gets it is told)
        return error

    def _json(self, method, path, **kwargs):
        raw = self._request(method, path, **kwargs)
        try:
            return json.loads(raw)
        except ValueError:
            raise ServiceError(f"annotation service {path}: the answer is not JSON") from None
        except RecursionError:  # (json.loads of `[[[[...`: left the job RUNNING for good)
            raise ServiceError(f"annotation service {path}: the answer is JSON nested too "
                               "deeply to read") from None

    def _task_id(self, answer):
        task_id = answer.get("task_id") if isinstance(answer, dict) else None
        if task_id is None or task_id == "":
            raise ServiceError("annotation service: no task_id in the answer")
        if isinstance(task_id, bool) or not isinstance(task_id, (str, int)):
            # A list or an object made a task id such as "['a']", polled as it was.
            raise ServiceError("annotation service: the task_id is not a string")
        task_id = str(task_id)
        if storable(task_id) != task_id:
            raise ServiceError("annotation service: the task_id has a NUL character or an "
                               "unpaired surrogate")
        return task_id

    def annotate(self, data):
        body = json.dumps({"input": data}).encode()
        return self._task_id(self._json("POST", "/annotate", body=body,
                                        content_type="application/json"))

    def annotate_sample(self, sample_id, variables, files):
        """`files` = {field: (filename, bytes)}; `regions` must be among them."""
        body, content_type = encode_multipart({**variables, "sample_id": sample_id}, files)
        return self._task_id(self._json("POST", "/samples/annotate", body=body,
                                        content_type=content_type))

    def status(self, task_id):
        """{"active": bool, "error": bool, ...} (import.md 7.3)."""
        answer = self._json("GET", f"/status/{urllib.parse.quote(task_id, safe='')}")
        if not isinstance(answer, dict):
            raise ServiceError("annotation service: status answer is not an object")
        # Read as finished, an answer without a boolean `active` ({}, "false") had its
        # result fetched and deposited, whether the task had one yet or not.
        if not isinstance(answer.get("active"), bool):
            raise ServiceError("annotation service: status answer has no boolean 'active'")
        if answer.get("error") is not None and not isinstance(answer["error"], bool):
            raise ServiceError("annotation service: status answer's 'error' is not a boolean")
        return answer

    def process(self, task_id):
        """The annotated VCF, as bytes: its text is read (and refused if not UTF-8, with
        its line) as a file's would be."""
        # A whole annotated VCF: more time for it than for the short answers.
        return self._request("GET", f"/process/{urllib.parse.quote(task_id, safe='')}",
                             deadline_factor=20, max_bytes=MAX_RESULT_BYTES)

    def running(self, deadline_factor=3):
        try:
            self._request("GET", "/status", deadline_factor=deadline_factor)
        except ServiceError:
            return False
        return True

    def search_samples(self, term, limit):
        query = urllib.parse.urlencode({"q": repr({"name": term}), "limit": limit})
        answer = self._json("GET", f"/samples/?{query}")
        if not isinstance(answer, dict):
            raise ServiceError("annotation service: sample search answer is not an object")
        return [{**(info if isinstance(info, dict) else {"value": info}), "name": name}
                for name, info in sorted(answer.items())]


def service_from_config(app_config, timeout=None):
    """The configured service; `timeout` by default the config's
    (import.annotation_service_timeout)."""
    if timeout is None:
        timeout = annotation_service_timeout(app_config)
    return AnnotationService(((app_config or {}).get("app") or {}).get("annotation_service"),
                             timeout=timeout)


# --- job rows -------------------------------------------------------------------------------

def job_dict(row):
    return dict(zip(JOB_COLUMNS, row))


def load_job(conn, job_id, lock=False):
    row = conn.execute(JOB_SELECT + " WHERE id = %s" + (" FOR UPDATE" if lock else ""),
                       (job_id,)).fetchone()
    return job_dict(row) if row else None


def with_history(history, old_status, when):
    """status_history with {time, status: old} prepended."""
    history = dict(history or {})
    entries = list(history.get("history") or [])
    history["history"] = [{"time": when.isoformat(), "status": old_status}] + entries
    return history


def update_job(conn, job, changes):
    """Apply {status?, message?, task_id?} to a job dict already read (and locked) on `conn`.
    A status change records the old status in status_history. Returns the changed keys."""
    if isinstance(changes.get("message"), str):
        # Any text (the service's, a pre-import script's stderr) as PostgreSQL can store it.
        changes = {**changes, "message": storable(changes["message"])}
    changed = {k: v for k, v in changes.items() if v is not None and job.get(k) != v}
    if not changed:
        return {}
    when = now()
    sets, params = ["date_last_update = %s"], [when]
    if "status" in changed:
        sets.append("status_history = %s")
        params.append(Jsonb(with_history(job["status_history"], job["status"], when)))
    for key in ("status", "message", "task_id"):
        if key in changed:
            sets.append(f"{key} = %s")
            params.append(changed[key])
    conn.execute(f"UPDATE annotationjob SET {', '.join(sets)} WHERE id = %s",
                 params + [job["id"]])
    return changed


# --- pre-import script (7.6) ---------------------------------------------------------------

def job_priority(props):
    """The job's priority, 1 if unset; a whole number stored as 2.0 (JSON written by another
    client) is 2: the pre-import script and the analysis config take integers only."""
    priority = props.get("priority") or 1
    return int(priority) if isinstance(priority, float) and priority.is_integer() else priority


# Working folders in the temporary directory: a deposit's (the patient's VCF) and a pre-import
# script's. Each holds a lock on its IN_USE file while in use; one whose lock is free was left
# by a poller killed outright (SIGKILL after supervisord's stop timeout, the OOM killer).
WORKDIR_PREFIXES = ("ella-importjob-", "ella-preimport-")
IN_USE = ".in-use"


@contextlib.contextmanager
def working_folder(prefix, base=None):
    """A new private folder in the temporary directory (or `base`), removed afterwards, and
    locked as in use meanwhile."""
    with tempfile.TemporaryDirectory(prefix=prefix, dir=base) as folder:
        with open(os.path.join(folder, IN_USE), "wb") as marker:
            fcntl.flock(marker, fcntl.LOCK_EX)
            yield folder


def remove_abandoned_working_folders(base=None, min_age=3600):
    """Remove the working folders of this OS user that no live poller holds; returns how
    many. One without its lock file is left alone for `min_age` seconds (it may be one being
    made)."""
    base = base or tempfile.gettempdir()
    removed = 0
    try:
        names = os.listdir(base)
    except OSError:
        return 0
    for name in names:
        if not name.startswith(WORKDIR_PREFIXES):
            continue
        path = os.path.join(base, name)
        try:
            info = os.lstat(path)
        except OSError:
            continue  # gone meanwhile
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            continue
        try:
            marker = os.open(os.path.join(path, IN_USE), os.O_RDONLY)
        except FileNotFoundError:
            if time.time() - info.st_mtime > min_age:
                shutil.rmtree(path, ignore_errors=True)
                removed += 1
            continue
        except OSError:
            continue
        try:
            fcntl.flock(marker, fcntl.LOCK_EX | fcntl.LOCK_NB)
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
        except OSError:
            pass  # in use
        finally:
            os.close(marker)
    return removed


def preimport_script_problem(app_config):
    """Why `import.preimport_script` cannot be run as run_preimport runs it, or None:
    checked when the poller starts (it failed every sample job, each with the same error)."""
    script = ((app_config or {}).get("import") or {}).get("preimport_script")
    if not script:
        return None
    name = f"import.preimport_script ({script})"
    if str(script).endswith(".py"):
        path = Path(script)
        if not path.is_file():
            return f"{name}: no such file"
        if not os.access(path, os.R_OK):
            return f"{name}: not readable for this user"
    elif shutil.which(str(script)) is None:
        return (f"{name}: no such executable file (a script that is no .py file must be "
                "executable: chmod +x)")
    return None


def run_preimport(script, job, usergroup, db_url=None, timeout=600):
    """(variables, files) from the site's pre-import script, run with an argument list;
    `db_url` is passed as DB_URL (the default script reads the panel from it)."""
    if not script:
        return {}, {}
    props = job["properties"] or {}
    # The script may write its files into ELLA_PREIMPORT_DIR, which is removed once they are
    # read (our addition: ELLA's scripts leave theirs in a temporary folder of their own).
    with working_folder("ella-preimport-") as workdir:
        env = dict(os.environ, GENEPANEL_NAME=job["genepanel_name"] or "",
                   GENEPANEL_VERSION=job["genepanel_version"] or "",
                   SAMPLE_ID=job["sample_id"], USERGROUP=usergroup or "",
                   PRIORITY=str(job_priority(props)), ELLA_PREIMPORT_DIR=workdir)
        if db_url:
            env["DB_URL"] = db_url
        # A Python script runs on the service's own interpreter (and its packages, such as
        # psycopg), whatever its first line says; anything else must be executable.
        argv = [sys.executable, str(script)] if str(script).endswith(".py") else [str(script)]
        result = subprocess.run(argv, env=env, capture_output=True, text=True,
                                timeout=timeout)
        if result.returncode != 0:
            # The job's message is one line, the last the script wrote (a traceback's
            # exception); all of it goes to the log (it spread over the job list, with the
            # site's file paths, from the middle of a traceback).
            lines = [line for line in result.stderr.splitlines() if line.strip()]
            if lines:
                log.warning("import job %s: pre-import script %s failed (exit %s):\n%s",
                            job.get("id"), script, result.returncode,
                            error_text(result.stderr.strip()))
            raise RuntimeError(f"pre-import script failed (exit {result.returncode})"
                               + (f": {error_text(lines[-1].strip())}" if lines else
                                  " without a word on stderr"))
        try:
            output = json.loads(result.stdout)
        except ValueError:
            raise RuntimeError("pre-import script did not print JSON") from None
        if not isinstance(output, dict) or not isinstance(output.get("files") or {}, dict) \
                or not isinstance(output.get("variables") or {}, dict):
            raise RuntimeError('pre-import script must print {"variables": {...}, '
                               '"files": {...}}')
        files = {}
        for key, path in (output.get("files") or {}).items():
            try:
                files[key] = (Path(path).name, Path(path).read_bytes())
            except (OSError, TypeError, ValueError) as exc:
                raise RuntimeError(f"pre-import script's file {key} ({path!r}) cannot be "
                                   f"read: {getattr(exc, 'strerror', None) or exc}") from None
    return output.get("variables") or {}, files


# --- depositing a result (7.5) --------------------------------------------------------------

def append_target_outside_group(conn, group_id, properties):
    """The name of the analysis an Analysis job's `properties` append to when `group_id` may
    not import on its gene panel (its own panels and those of a group it imports for), else
    None. None too when the job creates an analysis or names none that exists (the deposit
    reports that)."""
    if not isinstance(properties, dict) or properties.get("create_or_append") != "Append":
        return None
    name = properties.get("analysis_name")
    if not isinstance(name, str) or not name:
        return None
    found = conn.execute(
        f"SELECT 1 FROM analysis j WHERE j.name = %(name)s AND NOT {IMPORTABLE_PANEL}",
        {"name": name, "group_id": group_id}).fetchone()
    return name if found else None


def append_panel_mismatch(conn, properties, panel):
    """(name, version) of the gene panel of the analysis an Append job's `properties` name,
    when it is not the job's `panel` (name, version), else None (also for no such analysis).
    An Append job is filed under its analysis' panel: under another (a version another group
    also has), that group saw the analysis' name and its patient's variants in its job list."""
    if not isinstance(properties, dict) or properties.get("create_or_append") != "Append":
        return None
    own = conn.execute("SELECT genepanel_name, genepanel_version FROM analysis WHERE name = %s",
                       (properties.get("analysis_name"),)).fetchone()
    return tuple(own) if own is not None and tuple(own) != tuple(panel) else None


class JobDepositFailed(Exception):
    """A deposit's error as the job's message: "<error type>: <what and where>"."""


# Data warnings a DONE job's message names (then a count).
MESSAGE_WARNINGS = 5


def deposit_result(conn, app_config, job, vcf_text):
    """Deposit the annotated VCF of a job (text, or the service's bytes) on `conn` (no
    commit). Returns a summary dict."""
    props = job["properties"] or {}
    user = conn.execute('SELECT group_id FROM "user" WHERE id = %s',
                        (job["user_id"],)).fetchone() if job["user_id"] is not None else None
    if user is not None and not may_import_on(conn, user[0], job["genepanel_name"],
                                              job["genepanel_version"]):
        # Checked again here: the job's user may have left the group, or the group stopped
        # importing for the panel's group, since it was posted (a retry ran it all the same).
        raise DepositError(f"The user group of the job's user may not import on gene panel "
                           f"{job['genepanel_name']} {job['genepanel_version']} (any more): "
                           "nothing deposited")
    if job["mode"] == "Analysis" and props.get("create_or_append") == "Append":
        # Checked again here: the job may predate the check, or its user changed groups.
        if user is None:
            raise DepositError("the job has no user, so access to the analysis it appends "
                               "to cannot be checked")
        outside = append_target_outside_group(conn, user[0], props)
        if outside:
            raise DepositError(f"Analysis {outside} is not available to the user group of "
                               "the job's user: nothing appended")
        # As the API checks at POST, for a job posted before its analysis was made (a Create
        # and its Append, submitted one after the other).
        own = append_panel_mismatch(conn, props, (job["genepanel_name"],
                                                  job["genepanel_version"]))
        if own is not None:
            raise DepositError(f"An Append job's gene panel must be its analysis' own: "
                               f"{props['analysis_name']} is on {own[0]} {own[1]}, the job on "
                               f"{job['genepanel_name']} {job['genepanel_version']}: nothing "
                               "appended")
    with working_folder("ella-importjob-") as tmp, \
            collecting(keep=MESSAGE_WARNINGS) as warnings:
        try:
            stats = _deposit_files(conn, app_config, job, Path(tmp), vcf_text)
            # The job's user is shown "job-7.vcf", not the poller's temporary folder (also
            # as resolved, through a linked temp dir).
            stats["warnings"] = [w.replace(tmp + os.sep, "").replace(
                str(Path(tmp).resolve()) + os.sep, "") for w in warnings.first]
            stats["warnings_total"] = warnings.total
            return stats
        except psycopg.Error:
            raise  # the caller tells the database's passing conditions from the job's errors
        except Exception as exc:
            # Messages name the files they read; the job's user is shown "job-7.vcf, line
            # 12", not the poller's temporary folder.
            shown = str(exc).replace(tmp + os.sep, "")
            raise JobDepositFailed(f"{type(exc).__name__}: {shown}") from exc


def done_message(stats):
    """The DONE job's message: empty, or its data warnings (the first few, then a count)."""
    warnings = stats.get("warnings") or []
    if not warnings:
        return ""
    shown = "; ".join(warnings[:MESSAGE_WARNINGS])
    more = max(stats.get("warnings_total", 0), len(warnings)) - MESSAGE_WARNINGS
    return storable(f"Deposited with warnings: {shown}"
                    + (f" (and {more} more in the polling log)" if more > 0 else ""))


def _deposit_files(conn, app_config, job, folder, vcf_text):
    panel = (job["genepanel_name"], job["genepanel_version"])
    props = job["properties"] or {}
    vcf = folder / f"job-{job['id']}.vcf"
    if isinstance(vcf_text, str):
        vcf.write_text(vcf_text, encoding="utf-8")
    else:
        vcf.write_bytes(vcf_text)  # the service's answer as it came
    if job["mode"] == "Analysis":
        if not props.get("analysis_name"):
            raise DepositError("properties.analysis_name is missing")
        append = props.get("create_or_append") == "Append"
        name = props["analysis_name"] if append else \
            f"{props['analysis_name']}.{panel[0]}_{panel[1]}"
        analysis_file = folder / f"job-{job['id']}.analysis"
        analysis_file.write_text(json.dumps({
            "name": name, "genepanel_name": panel[0], "genepanel_version": panel[1],
            "priority": job_priority(props),
            "data": [{"vcf": vcf.name, "technology": props.get("sample_type") or "HTS"}],
        }), encoding="utf-8")
        config = resolve_analysis_config(analysis_file)
        return deposit_analysis(conn, app_config, config, append=append)
    if job["mode"] in ("Variants", "Single variant"):
        return deposit_alleles(conn, app_config, vcf, panel=panel)
    raise DepositError("Unknown mode")


# --- the loop (7.4) -------------------------------------------------------------------------

# SQLSTATEs of a passing database condition: connection (08), a transaction rolled back by a
# deadlock or serialization failure (40), a disk full, out of memory or too many connections
# (531, 532, 533), a server shutting down or not yet taking connections (57P), a system error
# (58), a lock not available (55P03).
# A statement canceled (57014: the site's statement_timeout, or an operator) and a site's
# limit exceeded (53400: temp_file_limit) are the job's: the same deposit would be stopped
# again, every cycle, ahead of every later job.
# 42501: a privilege the service's role lacks (the site grants it; the job is not at fault).
# 25006: a database that takes no writes now (a standby after a failover, a freeze); 25P03:
# the session ended by the site's idle_in_transaction_session_timeout.
_TRANSIENT_STATES = ("08", "40", "531", "532", "533", "57P", "58", "55P03", "42501", "25006",
                     "25P03")


def transient_database_error(conn, exc):
    """The error is the database's passing condition, not the job's: tried again next cycle.
    Others, e.g. a value too large for an index (class 54), are the job's: it fails, and the
    next job is handled (such a job was retried every cycle, ahead of every later one)."""
    state = getattr(exc, "sqlstate", None) or ""
    return conn.closed or conn.broken or state.startswith(_TRANSIENT_STATES)


def database_state(exc):
    """Whether an error out of a cycle is the database's passing state (an outage, a session
    ended, no writes now, a privilege to grant) rather than a defect: backed off with one
    line, not a traceback every interval."""
    return (isinstance(exc, (psycopg.OperationalError, DatabaseError))
            or (getattr(exc, "sqlstate", None) or "").startswith(_TRANSIENT_STATES))


def backoff(interval, failures, most):
    """The wait after `failures` failures in a row: the interval, doubled for each failure
    after the first, at most `most`. (The exponent is capped: 2 ** 1024 is no float, and an
    outage of a few days ended the loop with an OverflowError.)"""
    return min(interval * 2 ** min(failures - 1, 64), most)


class Poller:
    def __init__(self, db_url, app_config, service=None, interval=5.0, max_backoff=300.0,
                 clock=time.monotonic):
        self.db_url = db_url
        self.app_config = app_config
        self.service = service or service_from_config(app_config)
        self.interval = interval
        self.max_backoff = max_backoff
        self.clock = clock
        self.unreachable_count = 0
        self.retry_at = None
        self.stopping = False
        self.standing_by = False  # another polling loop holds the lock
        self.not_ready = None  # why the database is not ready, once said
        # Jobs whose service call got no (complete) answer, each with when it was last
        # deferred: handled after the others, the longest-waiting first, so one task's
        # hanging status or too-slow result does not hold up every other job (also when an
        # outage deferred them all).
        self.deferred = {}
        self._deferrals = itertools.count()
        self.gateway_failures = {}  # job id -> 502/504s in a row while the service answered
        self._answers_this_cycle = None  # GET /status answered (asked once a cycle), or None

    # -- back-off --------------------------------------------------------------------------
    def backing_off(self):
        return self.retry_at is not None and self.clock() < self.retry_at

    def _unreachable(self, exc):
        self.unreachable_count += 1
        delay = backoff(self.interval, self.unreachable_count, self.max_backoff)
        self.retry_at = self.clock() + delay
        log.warning("%s; jobs wait, next try in %.0f s", exc.message, delay)

    def _reachable(self):
        if self.unreachable_count:
            log.info("annotation service reachable again")
        self.unreachable_count = 0
        self.retry_at = None

    # -- one cycle ---------------------------------------------------------------------------
    def cycle(self):
        """One pass. Returns [(job id, old status, new status)] of the jobs handled."""
        updates = []
        self._answers_this_cycle = None
        with connect(self.db_url, autocommit=True, application_name="ella-polling") as conn:
            if not table_exists(conn, "annotationjob"):
                log.info("the database has no annotationjob table yet: waiting")
                self.not_ready = "the database has no annotationjob table"  # (--once: exit 1)
                return updates
            if self.backing_off():
                return updates
            # Not into a database an upgrade left half done (pending migrations, the
            # functions of another version): the jobs wait for `ella-db migrate`.
            ready, why = at_head(conn, self.app_config, shadow_columns=False)
            if not ready:
                if why != self.not_ready:  # said once, not every cycle
                    log.warning("the database is not ready: %s; the jobs wait", why)
                self.not_ready = why
                return updates
            self.not_ready = None
            # One polling loop works at a time (a session lock, released when this cycle's
            # connection closes): two would submit the same job to the service twice.
            if not conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))",
                                (POLLING_LOCK,)).fetchone()[0]:
                if not self.standing_by:
                    log.info("another polling loop is handling the import jobs: standing by")
                self.standing_by = True
                return updates
            self.standing_by = False
            try:
                self._handle_jobs(conn, updates)
            finally:
                # Released here, not by closing the connection: a server ends a closed
                # session when it gets to it, and until then the next cycle (of this loop or
                # another) would find the lock taken and skip its turn.
                if not conn.closed:
                    try:
                        conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (POLLING_LOCK,))
                    except psycopg.Error:
                        pass  # the session is gone, and its lock with it
        return updates

    def _handle_jobs(self, conn, updates):
        """One pass over the jobs to do, appending (job id, old status, new status)."""
        snapshot = conn.execute(
            "SELECT id, status::text FROM annotationjob WHERE status = ANY(%s::job_status[]) "
            "ORDER BY id", (list(UNFINISHED),)).fetchall()
        handlers = {RUNNING: self._running, SUBMITTED: self._submitted,
                    ANNOTATED: self._annotated}
        order = (RUNNING, SUBMITTED, ANNOTATED)
        listed = {job_id for job_id, _ in snapshot}
        self.deferred = {j: when for j, when in self.deferred.items() if j in listed}
        self.gateway_failures = {j: n for j, n in self.gateway_failures.items() if j in listed}
        for job_id, status in sorted(snapshot, key=lambda job: (
                self.deferred.get(job[0], -1), order.index(job[1]), job[0])):
            if self.stopping:
                return
            try:
                new = handlers[status](conn, job_id)
            except ServiceUnreachable as exc:
                if self._gateway_failed_only_this_job(status, exc):
                    self._gateway_failure_of_job(conn, job_id, status, exc)
                    continue
                self._note(conn, job_id, status, f"{exc.message}; will retry")
                self._unreachable(exc)
                self.deferred[job_id] = next(self._deferrals)
                return
            except psycopg.Error as exc:
                if transient_database_error(conn, exc):
                    raise
                log.exception("import job %s: update failed", job_id)
                continue
            except Exception:
                log.exception("import job %s: update failed", job_id)
                continue
            self.deferred.pop(job_id, None)
            self.gateway_failures.pop(job_id, None)
            if new is not None:
                updates.append((job_id, status, new))
            if self.backing_off():
                return  # the service stopped answering

    def _gateway_failed_only_this_job(self, status, exc):
        """A 502/504 asking about one task while the service answers `GET /status` (asked
        once a cycle): a proxy timing out on that task's result, or the service failing on
        that task alone, not a service away. Backed off as one, every try held the queue."""
        if exc.status not in (502, 504) or status not in (RUNNING, ANNOTATED):
            return False
        if self._answers_this_cycle is None:
            self._answers_this_cycle = self.service.running()
        return self._answers_this_cycle

    def _gateway_failure_of_job(self, conn, job_id, status, exc):
        """The job waits behind the others, its message counting the tries, without backing
        the queue off; it is not failed (the service may answer it later, and a failed job
        must be annotated again: a user who gives up deletes it). Returns None."""
        tries = self.gateway_failures[job_id] = self.gateway_failures.get(job_id, 0) + 1
        self._reachable()
        self.deferred[job_id] = next(self._deferrals)
        answer = getattr(exc, "answer", exc.message)
        self._note(conn, job_id, status, f"{answer} (the service answers otherwise); will "
                                         f"retry (tried {tries} time{'s' if tries > 1 else ''})")
        return None

    def _transition(self, conn, job_id, expected, **changes):
        """Lock the job, and if it still has status `expected`, apply the changes. Returns the
        new status, or None when the job changed meanwhile (another poller, the user)."""
        with conn.transaction():
            job = load_job(conn, job_id, lock=True)
            if job is None or job["status"] != expected:
                return None
            update_job(conn, job, changes)
        new = changes.get("status") or expected
        if new != expected:
            # A failed job needs a person: it shows also when only warnings are logged.
            log.log(logging.WARNING if new.startswith("FAILED") else logging.INFO,
                    "import job %s: %s -> %s%s", job_id, expected, new,
                    f" ({changes['message']})" if changes.get("message") else "")
        return new

    def _note(self, conn, job_id, expected, message):
        try:
            self._transition(conn, job_id, expected, message=message)
        except psycopg.Error as exc:
            log.error("import job %s: could not store message: %s", job_id, exc)

    def _running(self, conn, job_id):
        job = load_job(conn, job_id)
        if job is None or job["status"] != RUNNING:
            return None  # deleted or changed since the cycle's list (the user)
        try:
            answer = self.service.status(job["task_id"] or "")
        except ServiceUnreachable:
            raise
        except ServiceError as exc:
            self._reachable()
            return self._transition(conn, job_id, RUNNING, status=FAILED_ANNOTATION,
                                    message=exc.message)
        self._reachable()
        if answer.get("error"):
            message = answer.get("message") or "The annotation service reported an error"
            return self._transition(conn, job_id, RUNNING, status=FAILED_ANNOTATION,
                                    message=service_message(str(message)))
        if answer.get("active"):
            return self._transition(conn, job_id, RUNNING, message="")
        return self._transition(conn, job_id, RUNNING, status=ANNOTATED, message="")

    def _submitted(self, conn, job_id):
        marked = []  # once the job is marked SUBMITTING: [None], then [the service's task id]
        try:
            new = self._submit(conn, job_id, marked)
        except ServiceUnreachable:
            if marked:
                self._unmark(conn, job_id, None)
            raise
        if new is None and marked:
            self._unmark(conn, job_id, marked[0])
        return new

    def _unmark(self, conn, job_id, task_id):
        """The job's user changed it (cancelled it) while this poller submitted it: the
        SUBMITTING mark comes off, as the submission's outcome is known here. (Left on, a retry
        was failed as an interrupted submission, which it was not.)"""
        with conn.transaction():
            status = conn.execute("UPDATE annotationjob SET task_id = '' WHERE id = %s AND "
                                  "task_id = %s RETURNING status",
                                  (job_id, SUBMITTING)).fetchone()
        if status is not None and task_id is not None:
            log.warning("import job %s: changed to %s while the annotation service took it as "
                        "task %s; that task is not used", job_id, status[0], task_id)

    def _submit(self, conn, job_id, marked):
        job = load_job(conn, job_id)
        if job is None or job["status"] != SUBMITTED:
            return None  # deleted or changed since the cycle's list (the user)
        if job["task_id"] == SUBMITTING:
            # Marked before its POST and never given the service's answer: the poller was
            # killed or lost its database meanwhile, so the service may have the task.
            return self._transition(conn, job_id, SUBMITTED, status=FAILED_SUBMISSION,
                                    message=INTERRUPTED_SUBMISSION, task_id="")
        try:
            if job["data"] is not None:
                send = lambda: self.service.annotate(job["data"])  # noqa: E731
            elif job["sample_id"] is not None:
                variables, files = self._sample_request(conn, job)
                send = lambda: self.service.annotate_sample(  # noqa: E731
                    job["sample_id"], variables, files)
            else:
                raise ValueError("the job has neither data nor sample_id")
            # Committed before the POST: a job whose answer is lost with the database
            # connection (or the process) is failed next time, never sent a second time.
            if self._transition(conn, job_id, SUBMITTED, task_id=SUBMITTING) is None:
                return None  # changed meanwhile (the user)
            marked.append(None)
            try:
                task_id = send()
                marked[0] = task_id
            except ServiceUnreachable:
                # Nothing reached the service: the job waits for the next try as it was.
                self._transition(conn, job_id, SUBMITTED, task_id=job["task_id"] or "")
                raise
        except ServiceUnreachable:
            raise
        except ServiceNoAnswer as exc:
            new = self._transition(conn, job_id, SUBMITTED, status=FAILED_SUBMISSION,
                                   message=exc.message, task_id="")
            self._unreachable(exc)  # no more submissions this cycle: back off
            return new
        except Exception as exc:  # any failure of the submission is the job's
            if isinstance(exc, ServiceError):
                self._reachable()
            message = exc.message if isinstance(exc, ServiceError) else \
                f"{type(exc).__name__}: {exc}"
            return self._transition(conn, job_id, SUBMITTED, status=FAILED_SUBMISSION,
                                    message=message, task_id="")
        self._reachable()
        other = conn.execute("SELECT id FROM annotationjob WHERE task_id = %s AND id <> %s AND "
                             "status IN (%s, %s) ORDER BY id LIMIT 1",
                             (task_id, job_id, RUNNING, ANNOTATED)).fetchone()
        if other:
            # Both jobs would deposit that one result: one patient's variants under another's
            # analysis, and this job's own input never annotated.
            return self._transition(
                conn, job_id, SUBMITTED, status=FAILED_SUBMISSION, task_id="",
                message=f"the annotation service answered with task id {task_id!r}, which "
                        f"import job {other[0]} is still using: submit this job again")
        try:
            return self._transition(conn, job_id, SUBMITTED, status=RUNNING, task_id=task_id,
                                    message="")
        except psycopg.Error:
            # The job stays marked and fails next time; the task it has there is this one.
            log.error("import job %s: the annotation service took it as task %s, which could "
                      "not be stored", job_id, task_id)
            raise

    def _sample_request(self, conn, job):
        """(variables, files) of a sample job's submission: the pre-import script's, and the
        panel's regions."""
        group = conn.execute('SELECT g.name FROM "user" u JOIN usergroup g ON g.id = u.group_id '
                             "WHERE u.id = %s", (job["user_id"],)).fetchone()
        script = ((self.app_config or {}).get("import") or {}).get("preimport_script")
        variables, files = run_preimport(script, job, group[0] if group else "",
                                         db_url=self.db_url)
        files["regions"] = ("regions.bed",
                            regions_bed(conn, job["genepanel_name"], job["genepanel_version"]))
        return variables, files

    def _annotated(self, conn, job_id):
        job = load_job(conn, job_id)
        if job is None or job["status"] != ANNOTATED:
            return None  # deleted or changed since the cycle's list (the user)
        try:
            vcf_data = self.service.process(job["task_id"] or "")
        except ServiceUnreachable:
            raise
        except ServiceError as exc:
            self._reachable()
            return self._transition(conn, job_id, ANNOTATED, status=FAILED_PROCESSING,
                                    message=exc.message)
        self._reachable()
        auto = ((self.app_config or {}).get("import") or {}).get(
            "automatic_deposit_with_sample_id")
        if job["sample_id"] is not None and not auto:
            return self._transition(conn, job_id, ANNOTATED, status=DONE, message=NOT_IMPORTED)
        try:
            # The deposit and the DONE transition are one transaction with the job locked.
            with conn.transaction():
                # The import lock first, the job's row after: a user's DELETE or PATCH of the
                # job waited (30 s, then 503) while another import ran, and the job was
                # deposited after all.
                wait_for_other_imports(conn.cursor())
                locked = load_job(conn, job_id, lock=True)
                if locked is None or locked["status"] != ANNOTATED or \
                        locked["task_id"] != job["task_id"]:
                    return None
                stats = deposit_result(conn, self.app_config, locked, vcf_data)
                update_job(conn, locked, {"status": DONE, "message": done_message(stats)})
        except Exception as exc:
            if isinstance(exc, psycopg.Error) and transient_database_error(conn, exc):
                raise  # not the job's fault: tried again next cycle
            message = error_text(exc) if isinstance(exc, JobDepositFailed) else \
                f"{type(exc).__name__}: {error_text(exc)}"
            return self._transition(conn, job_id, ANNOTATED, status=FAILED_DEPOSIT,
                                    message=storable(message))
        log.info("import job %s: ANNOTATED -> DONE (%s records deposited)", job_id,
                 stats.get("records"))
        return DONE

    # -- the loop ----------------------------------------------------------------------------
    def run(self):
        """Poll until SIGTERM/SIGINT; the job being handled is finished first."""
        def stop(signum, frame):
            log.info("signal %s received: stopping after the current job", signum)
            self.stopping = True
        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        log.info("polling import jobs at %s every %ss", self.service.shown, self.interval)
        database_failures = 0
        try:
            while not self.stopping:
                wait = self.interval
                try:
                    self.cycle()
                    database_failures = 0
                except (psycopg.Error, DatabaseError) as exc:
                    if not database_state(exc):
                        log.exception("unexpected error in the poll cycle; continuing")
                    else:
                        # Backed off as for the service: an outage logged a line every
                        # interval.
                        database_failures += 1
                        wait = backoff(self.interval, database_failures, self.max_backoff)
                        log.error("database error: %s; retrying in %g s", first_line(exc),
                                  wait)
                except Exception:
                    log.exception("unexpected error in the poll cycle; continuing")
                deadline = time.monotonic() + wait
                while not self.stopping and time.monotonic() < deadline:
                    time.sleep(min(0.2, self.interval))
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        log.info("polling stopped")
