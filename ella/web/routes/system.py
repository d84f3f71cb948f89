"""Health, the OpenAPI document, broadcasts and the UI exception log."""

import html
import json
import secrets
from datetime import datetime, timedelta, timezone

from psycopg.types.json import Jsonb

from ella import __version__
from ella.broadcast import active_broadcasts
from ella.db import missing_privileges
from ella.migrate import at_head
from ella.web.errors import ApiError
from ella.web.http import Response
from ella.web.router import router
from ella.web.validation import require_object

API = "/api/v1"
PASSWORD_NOTICE_DAYS = 7
EARLIEST = datetime.min.replace(tzinfo=timezone.utc)
UI_EXCEPTION_TEXT_LIMIT = 100_000  # characters of message, location, stacktrace each
UI_EXCEPTION_STATE_LIMIT = 1_000_000  # characters of the UI state's JSON


@router.route("GET", f"{API}/health/", auth="open", resource_log=False,
              summary="200 when the service and its database work and the schema is at head")
def health(ctx):
    ok, message = at_head(ctx.conn, ctx.config)
    if ok:
        # A table a migration added, or shadow tables rebuilt, without the grants the
        # service's role needs: the requests that touch them would fail (503) one by one.
        missing = missing_privileges(ctx.conn)
        if missing:
            ok = False
            message = (f"the database role of DB_URL lacks {', '.join(missing[:5])}"
                       + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
                       + "; see the README's \"Database roles\" for what to grant")
    if not ok:
        return Response.json({"status": "error", "database": message}, status=503)
    return {"status": "ok", "database": "ok", "version": __version__}


@router.route("GET", f"{API}/specs/", auth="open", summary="OpenAPI 3 document of this API")
def specs(ctx):
    return ctx.app.router.openapi(__version__)


@router.route("GET", f"{API}/docs/", auth="open",
              summary="A readable page of the API routes (ELLA serves Swagger UI here)")
def docs(ctx):
    """The route table as plain HTML, made from the same OpenAPI document as specs/ (no
    JavaScript or external assets: the service runs in networks without internet)."""
    spec = ctx.app.router.openapi(__version__)
    rows = []
    for path, operations in sorted(spec["paths"].items()):
        for method, op in sorted(operations.items()):
            rows.append(f"<tr><td>{html.escape(method.upper())}</td><td><code>{html.escape(path)}"
                        f"</code></td><td>{html.escape(op['x-ella-auth'])}</td>"
                        f"<td>{html.escape(op.get('x-ella-access', ''))}</td>"
                        f"<td>{html.escape(op['summary'])}</td></tr>")
    page = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>ELLA API v1</title></head>"
            "<body><h1>ELLA API v1</h1><p>Machine-readable: <a href='../specs/'>specs/</a> "
            "(OpenAPI 3).</p><table border='1' cellpadding='4'><tr><th>method</th><th>path"
            "</th><th>auth</th><th>access</th><th>summary</th></tr>" + "".join(rows) +
            "</table></body></html>")
    return Response(page, 200, "text/html; charset=utf-8")


@router.route("GET", f"{API}/broadcasts/", auth="optional",
              summary="Active broadcast messages (+ the caller's password-expiry notice)")
def broadcasts(ctx):
    result = []
    if ctx.user:
        expiry = ctx.conn.execute('SELECT password_expiry FROM "user" WHERE id = %s',
                                  (ctx.user["id"],)).fetchone()[0]
        left = expiry - datetime.now(timezone.utc)
        if left < timedelta(days=PASSWORD_NOTICE_DAYS):
            result.append({
                "id": secrets.token_hex(16),
                # (clamped: an expiry in the first days of year 1 has no date a week before)
                "date": max(expiry, EARLIEST + timedelta(days=PASSWORD_NOTICE_DAYS))
                - timedelta(days=PASSWORD_NOTICE_DAYS),
                "message": f"Your password will expire in {max(0, left.days)} day(s). You may "
                           "change it at any time by logging out and using \"Change password\""})
    result += [{"id": i, "date": created, "message": message}
               for i, created, _active, message in active_broadcasts(ctx.conn)]
    return result


@router.route("POST", f"{API}/ui/exceptionlog/", auth="optional", log_payload=False,
              summary="Store an error of the web UI")
def ui_exception(ctx):
    body = require_object(ctx.request.json(), {"message": str},
                          {"location": (str, type(None)), "stacktrace": (str, type(None)),
                           "state": (dict, type(None))})
    # Anyone may post here (a UI error before login), so every field is bounded, not only
    # the message: each request could otherwise store ~10 MiB (the body limit).
    for field in ("message", "location", "stacktrace"):
        if len(body.get(field) or "") > UI_EXCEPTION_TEXT_LIMIT:
            raise ApiError(f"{field} too long (at most {UI_EXCEPTION_TEXT_LIMIT} characters)")
    state = body.get("state") or {}
    size = len(json.dumps(state, ensure_ascii=False))
    if size > UI_EXCEPTION_STATE_LIMIT:
        # The report is kept without it: ELLA's UI sends its whole state, which in the view of
        # a large analysis runs past the limit, and refusing it lost the message and
        # stacktrace of the errors a lab most needs to see.
        state = {"omitted": f"the UI state, {size:,} characters of JSON, is over the limit of "
                            f"{UI_EXCEPTION_STATE_LIMIT:,}"}
    ctx.conn.execute('INSERT INTO uiexception ("time", usersession_id, message, location, '
                     "stacktrace, state) VALUES (%s, %s, %s, %s, %s, %s)",
                     (datetime.now(timezone.utc), ctx.request.session_id, body["message"],
                      body.get("location"), body.get("stacktrace"),
                      Jsonb(without_passwords(state))))
    return None


REMOVED = "(removed)"


def without_passwords(state):
    """The UI's state with the value of every key naming a password replaced: ELLA's UI
    sends its whole state, whose login view holds what the user typed (`password`,
    `newPassword`, `confirmNewPassword`), also after a refused change; stored, plain-text
    passwords lay in the database and its backups. (JSON bodies nest at most 100 deep.)"""
    if isinstance(state, dict):
        return {key: REMOVED if "password" in key.lower() and value not in (None, "")
                else without_passwords(value) for key, value in state.items()}
    if isinstance(state, list):
        return [without_passwords(value) for value in state]
    return state
