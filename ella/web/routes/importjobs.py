"""Import jobs and the annotation-service proxies (api.md 2.12, 4.24; import.md 7.2).

Jobs are shown and changed when their gene panel is one of the caller's group's panels, and
a caller's own job while their group may import on its panel (a group it imports for:
ella/import_rights.py). The poller (ella/polling.py, `bin/ella-polling`) does the work;
these routes only store jobs. Limits ELLA does not have: a job's panel must be one the
caller's group may import on, a job that appends to an analysis needs the right to import on
that analysis' panel (the poller checks both again), and clients cannot put a job into
RUNNING/ANNOTATED or change the task id of one there, since the poller would then fetch and
deposit the result of any annotation-service task the client names (another patient's).
"""

import time

import psycopg
from psycopg.types.json import Jsonb

from ella import auth
from ella.config import max_unfinished_import_jobs
from ella.deposit.analysis_config import (MAX_NAME_LENGTH, has_control_character,
                                         new_name_problem)
from ella.import_rights import IMPORTABLE_PANEL
from ella.polling import (ANNOTATED, DONE, JOB_SELECT, MODES, NOT_IMPORTED, RUNNING,
                          STATUSES, SUBMITTED, UNFINISHED, ServiceError,
                          append_panel_mismatch, append_target_outside_group, job_dict,
                          load_job, now, service_from_config, update_job)
from ella.web.access import (accessible_panel_condition, require_genepanel,
                             require_import_genepanel)
from ella.web.errors import (ApiError, BadRequest, Conflict, Forbidden, NotFound,
                              TooManyRequests)
from ella.web.http import Response
from ella.web.listing import page_args, page_headers, q_to_sql
from ella.web.router import router
from ella.web.validation import require_object

API = "/api/v1"
JOBS = f"{API}/import/service/jobs/"
# How long a change of a job waits for the poller's lock on it: its own updates of a job take
# milliseconds; longer, it is depositing the job.
JOB_LOCK_WAIT = "2s"

JOB_Q_COLUMNS = {
    "id": ("j.id", "integer"),
    "task_id": ("j.task_id", "text"),
    "status": ("j.status::text", "text"),
    "mode": ("j.mode::text", "text"),
    "sample_id": ("j.sample_id", "text"),
    "message": ("j.message", "text"),
    "user_id": ("j.user_id", "integer"),
    "genepanel_name": ("j.genepanel_name", "text"),
    "genepanel_version": ("j.genepanel_version", "text"),
    "date_submitted": ("j.date_submitted", "timestamptz"),
    "date_last_update": ("j.date_last_update", "timestamptz"),
}
_OPT_STR = (str, type(None))


def _with_users(conn, jobs):
    ids = sorted({j["user_id"] for j in jobs if j["user_id"] is not None})
    users = {u["id"]: u for u in auth.users(conn, "u.id = ANY(%s)", (ids,), full=False)} \
        if ids else {}
    for job in jobs:
        job["user"] = users.get(job["user_id"])
    return jobs


def _job_for_user(ctx, job_id, lock=False):
    """The job, if the caller's group has its panel, or the caller submitted it on a panel
    their group may still import on (a group it imports for). `lock`: locked until commit,
    waiting JOB_LOCK_WAIT at most: the poller holds a job it deposits until the deposit
    commits (a minute for an exome), and the request held a worker for the API's whole lock
    limit, then answered 503."""
    if not lock:
        job = load_job(ctx.conn, job_id)
    else:
        limit = ctx.conn.execute("SELECT current_setting('lock_timeout')").fetchone()[0]
        ctx.conn.execute("SELECT set_config('lock_timeout', %s, true)", (JOB_LOCK_WAIT,))
        try:
            job = load_job(ctx.conn, job_id, lock=True)
        except psycopg.errors.LockNotAvailable:
            raise Conflict(f"Import job {job_id} is being deposited right now; nothing was "
                           "changed. Try again when it has finished.") from None
        ctx.conn.execute("SELECT set_config('lock_timeout', %s, true)", (limit,))
    if job is None:
        raise NotFound(f"No import job with id {job_id}")
    if job["user_id"] == ctx.user["id"]:
        require_import_genepanel(ctx.conn, ctx.user, job["genepanel_name"],
                                 job["genepanel_version"])
    else:
        require_genepanel(ctx.conn, ctx.user, job["genepanel_name"], job["genepanel_version"])
    return job


def _status(value, where):
    if value is not None and value not in STATUSES:
        raise BadRequest(f"{where} must be one of {', '.join(STATUSES)}")
    return value


_POLLER_STATUSES = (RUNNING, ANNOTATED)  # the poller fetches these jobs' task results


def _check_status_history(value):
    """A client may pass a job's status history (ELLA's shape, {"history": [{"time",
    "status"}, ...]}); every later status change prepends to that list."""
    if value is None or value == {}:
        return
    entries = value.get("history")
    if set(value) != {"history"} or not isinstance(entries, list) or not all(
            isinstance(e, dict) and isinstance(e.get("time"), str)
            and isinstance(e.get("status"), str) for e in entries):
        raise BadRequest('body.status_history must be {"history": [{"time": str, '
                         '"status": str}, ...]}')


def _check_poller_fields(job, body):
    """Refuse a client's status or task id that would make the poller fetch a task result,
    and the status DONE, the poller's word that a job was deposited (an Append job a client
    marked DONE could never be retried): `job` is the stored job (None for a new one),
    `body` the client's changes."""
    if body.get("status") == DONE and (job is None or job["status"] != DONE):
        raise BadRequest("Only the poller sets the status DONE")
    status = body.get("status") or (job["status"] if job else SUBMITTED)
    if status not in _POLLER_STATUSES:
        return
    # A null value changes nothing (update_job skips it).
    changes_status = body.get("status") is not None and (job is None
                                                         or body["status"] != job["status"])
    changes_task = body.get("task_id") is not None and (job is None
                                                        or body["task_id"] != job["task_id"])
    if changes_status or changes_task:
        raise BadRequest(f"Only the poller sets the status {' or '.join(_POLLER_STATUSES)} "
                         "and the task id of a job in it")


def _check_not_appended_already(job, body):
    """A finished Append job has added its samples to the analysis: run again it would add
    the same samples (and their genotypes) a second time. A new job appends again on purpose.
    (A finished Create job may run again: it is refused while the analysis exists, and
    imports it anew after `ella-delete`.)"""
    properties = job["properties"] if isinstance(job["properties"], dict) else {}
    # A sample job the poller left undeposited (automatic deposit off) appended nothing.
    deposited = not (job["sample_id"] is not None and job["message"] == NOT_IMPORTED)
    if (job["status"] == DONE and job["mode"] == "Analysis" and deposited
            and properties.get("create_or_append") == "Append"
            and body.get("status") not in (None, DONE)):
        raise Conflict(f"Import job {job['id']} has already appended its samples to analysis "
                       f"{properties.get('analysis_name')}; run again it would add them a "
                       "second time. Submit a new job to append them again.")


def _check_unfinished_limit(ctx, job=None):
    """Refuse (429) a job that would give its user more unfinished jobs than
    `import.max_unfinished_jobs_per_user`: a client in a loop, or a double-clicked import of
    a whole sample list, would otherwise queue jobs (of up to 10 MiB each) without end for
    the poller and the annotation service. A new job is the caller's; a retried `job` counts
    for its own user, whoever of the group retries it (a job without a user, which only an
    older database can hold, for the caller). Requests for one user take turns here, so two
    cannot pass on the same count (the sessions are read committed: db.SESSION_SETTINGS)."""
    limit = max_unfinished_import_jobs(ctx.config)
    owner = ctx.user["id"] if job is None or job["user_id"] is None else job["user_id"]
    ctx.conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                     (f"ella.importjobs.user.{owner}",))
    count = ctx.conn.execute(
        "SELECT count(*) FROM annotationjob WHERE user_id = %s "
        "AND status = ANY(%s::job_status[]) AND id IS DISTINCT FROM %s",
        (owner, list(UNFINISHED), job["id"] if job else None)).fetchone()[0]
    if count < limit:
        return
    who = "You have"
    if owner != ctx.user["id"]:
        name = ctx.conn.execute('SELECT username FROM "user" WHERE id = %s',
                                (owner,)).fetchone()
        who = f"The job's user {name[0] if name else owner} has"
    raise TooManyRequests(
        f"{who} {count} import jobs waiting or being imported (submitted, running or "
        f"annotated; the limit is {limit}). Wait until some have finished, or cancel or "
        "delete ones that are not needed.")


def _check_append_target(ctx, properties):
    """An Analysis job in Append mode adds samples to an existing analysis: the caller must
    have access to it (403), as the poller checks again before depositing."""
    outside = append_target_outside_group(ctx.conn, ctx.user["group_id"], properties)
    if outside:
        raise Forbidden(f"Analysis {outside} is not available to your user group")


def _check_append_panel(ctx, body):
    """An Append job is filed under the analysis' own panel: filed under another, that
    panel's group could also retry and delete the job, without access to the analysis."""
    properties = body.get("properties") or {}
    own = append_panel_mismatch(ctx.conn, properties,
                                (body["genepanel_name"], body["genepanel_version"]))
    if own is not None:
        raise BadRequest(f"An Append job's gene panel must be its analysis' own: "
                         f"{properties['analysis_name']} is on {own[0]} {own[1]}")


def _check_analysis_properties(properties, panel):
    """What the poller needs to deposit an Analysis job (api.md 4.24), refused now rather
    than after the annotation service has done its work: the analysis name (as the deposit
    will check it, with `.<panel>_<version>` added for a new analysis), and the options the
    deposit knows when given (other keys are kept as they are)."""
    if not isinstance(properties, dict):
        raise BadRequest("body.properties must be an object with analysis_name for an "
                         "Analysis job")
    name = properties.get("analysis_name")
    if not isinstance(name, str) or not name.strip():
        raise BadRequest("body.properties.analysis_name must be a non-empty string")
    # An append names an existing analysis: only line breaks are refused in it.
    if properties.get("create_or_append") == "Append":
        if has_control_character(name, new=False):
            raise BadRequest("body.properties.analysis_name contains a control or invisible "
                             "character")
    elif problem := new_name_problem(name):
        raise BadRequest(f"body.properties.analysis_name {problem}")
    full = name if properties.get("create_or_append") == "Append" else \
        f"{name}.{panel[0]}_{panel[1]}"
    if len(full) > MAX_NAME_LENGTH:
        raise BadRequest(f"body.properties.analysis_name: the analysis name {full[:40]!r}... "
                         f"has {len(full)} characters, more than {MAX_NAME_LENGTH}")
    for key, allowed in (("create_or_append", ("Create", "Append")),
                         ("sample_type", ("HTS", "Sanger")), ("priority", (1, 2, 3))):
        value = properties.get(key)
        # (2.0 == 2: a float the pre-import script then refused as PRIORITY.)
        if value is not None and (isinstance(value, (bool, float)) or value not in allowed):
            raise BadRequest(f"body.properties.{key} must be one of "
                             f"{', '.join(map(str, allowed))}, not {value!r}")


@router.route("GET", JOBS, access="group", resource_log=False,
              summary="Import jobs of the caller's group's gene panels and the caller's "
                      "own, newest first (q, paged)")
def list_jobs(ctx):
    condition, params = q_to_sql(ctx.request.json_arg("q"), JOB_Q_COLUMNS)
    page, per_page = page_args(ctx.request)
    # The group's panels' jobs, and the caller's own on a panel of a group it imports for
    # (while it does).
    importable = IMPORTABLE_PANEL.replace("%(group_id)s", "%s")
    where = (f"({condition}) AND ({accessible_panel_condition('j', placeholder='%s')} "
             f"OR (j.user_id = %s AND {importable}))")
    params = params + [ctx.user["group_id"], ctx.user["id"], ctx.user["group_id"],
                       ctx.user["group_id"]]
    total = ctx.conn.execute(f"SELECT count(*) FROM annotationjob j WHERE {where}",
                             params).fetchone()[0]
    select = JOB_SELECT.replace("FROM annotationjob", "FROM annotationjob j")
    rows = ctx.conn.execute(f"{select} WHERE {where} ORDER BY j.date_submitted DESC, j.id DESC "
                            "LIMIT %s OFFSET %s", params + [per_page, (page - 1) * per_page])
    jobs = _with_users(ctx.conn, [job_dict(r) for r in rows])
    return Response.json(jobs, headers=page_headers(page, per_page, total))


@router.route("POST", JOBS, access="genepanel", summary="Submit an import job")
def create_job(ctx):
    body = require_object(ctx.request.json(), {"genepanel_name": str, "genepanel_version": str},
                          {"mode": _OPT_STR, "data": _OPT_STR, "sample_id": _OPT_STR,
                           "properties": (dict, type(None)), "status": _OPT_STR,
                           "task_id": _OPT_STR, "message": _OPT_STR,
                           "status_history": (dict, type(None)),
                           "user_id": (int, type(None))})
    mode = body.get("mode")
    if mode not in MODES:
        raise BadRequest(f"body.mode must be one of {', '.join(MODES)}")
    if mode == "Analysis":
        _check_analysis_properties(body.get("properties"),
                                   (body["genepanel_name"], body["genepanel_version"]))
    if (body.get("data") is None) == (body.get("sample_id") is None):
        raise BadRequest("Exactly one of data and sample_id must be given")
    for key in ("data", "sample_id"):
        if body.get(key) is not None and not body[key].strip():
            # It could only fail once the service had it (a blank sample id after the
            # pre-import script had run).
            raise BadRequest(f"body.{key} is empty")
    if body.get("message") == NOT_IMPORTED:
        raise BadRequest(f"body.message {NOT_IMPORTED!r} is the poller's to set")
    require_import_genepanel(ctx.conn, ctx.user, body["genepanel_name"],
                             body["genepanel_version"])
    _status(body.get("status"), "body.status")
    _check_poller_fields(None, body)
    _check_status_history(body.get("status_history"))
    if mode == "Analysis":
        _check_append_target(ctx, body.get("properties"))
        _check_append_panel(ctx, body)
    if (body.get("status") or SUBMITTED) in UNFINISHED:
        _check_unfinished_limit(ctx)
    when = now()
    job_id = ctx.conn.execute(
        "INSERT INTO annotationjob (task_id, status, status_history, mode, data, message, "
        "user_id, date_submitted, date_last_update, genepanel_name, genepanel_version, "
        "properties, sample_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "RETURNING id",
        (body.get("task_id") or "", body.get("status") or SUBMITTED,
         Jsonb(body.get("status_history") or {}), mode, body.get("data"),
         body.get("message") or "", ctx.user["id"], when, when, body["genepanel_name"],
         body["genepanel_version"], Jsonb(body["properties"]) if body.get("properties")
         is not None else None, body.get("sample_id"))).fetchone()[0]
    return _with_users(ctx.conn, [load_job(ctx.conn, job_id)])[0]


@router.route("PATCH", f"{JOBS}<int:job_id>/", access="genepanel",
              summary="Change an import job's status, message or task id (UI: retry)")
def patch_job(ctx, job_id):
    body = require_object(ctx.request.json(), {},
                          {"status": _OPT_STR, "message": _OPT_STR, "task_id": _OPT_STR})
    _status(body.get("status"), "body.status")
    job = _job_for_user(ctx, job_id, lock=True)
    _check_poller_fields(job, body)
    _check_not_appended_already(job, body)
    if body.get("message") == NOT_IMPORTED and job["message"] != NOT_IMPORTED:
        # The poller's mark of a sample job it left undeposited: given by a client to a
        # DONE Append job, the job could be run again and append its samples twice.
        raise BadRequest(f"body.message {NOT_IMPORTED!r} is the poller's to set")
    if job["status"] not in UNFINISHED and body.get("status") in UNFINISHED:
        _check_unfinished_limit(ctx, job)  # a retry queues the job again
    update_job(ctx.conn, job, body)
    return _with_users(ctx.conn, [load_job(ctx.conn, job_id)])[0]


@router.route("DELETE", f"{JOBS}<int:job_id>/", access="genepanel",
              summary="Delete an import job")
def delete_job(ctx, job_id):
    _job_for_user(ctx, job_id, lock=True)
    ctx.conn.execute("DELETE FROM annotationjob WHERE id = %s", (job_id,))
    return None


def _service(ctx, timeout=10.0):
    try:
        return service_from_config(ctx.config, timeout=timeout)
    except ServiceError as exc:
        raise ApiError(exc.message, 503) from None


# Anyone may ask whether the service runs (open, as in ELLA), and the UI asks often: a service
# that hangs is "not running" after a short wait, and an answer is kept a few seconds. (With
# the sample search's 10 s, times three for the whole answer, a few callers held every
# synchronous API worker while the service hung.)
RUNNING_TIMEOUT = 2.0
RUNNING_KEPT_SECONDS = 5.0


@router.route("GET", f"{API}/import/service/running/", auth="open",
              summary="Whether the annotation service answers")
def service_running(ctx):
    # No usable annotation service configured (common on an air-gapped site) is simply "not
    # running", as in ELLA; the sample search still says why (503).
    try:
        service = _service(ctx, timeout=RUNNING_TIMEOUT)
    except ApiError:
        return {"running": False}
    key = ("service running", service.base)
    kept = ctx.app.kept_answers.get(key)
    if kept is None or time.monotonic() - kept[0] >= RUNNING_KEPT_SECONDS:
        kept = ctx.app.kept_answers[key] = (time.monotonic(), service.running(deadline_factor=1))
    return {"running": kept[1]}


# Needs a login (ELLA's is open): it forwards a search of patient samples.
@router.route("GET", f"{API}/import/service/samples/",
              summary="Sample search at the annotation service (term, limit)")
def search_samples(ctx):
    term = ctx.request.args.get("term", "")
    limit = ctx.request.int_arg("limit", 20, minimum=1)
    try:
        return _service(ctx).search_samples(term, limit)
    except ServiceError as exc:
        raise ApiError(f"Annotation service: {exc.message}", 502) from None
