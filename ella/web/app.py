"""The WSGI application: routing, sessions, transactions, errors and the resource log.

Each request runs in one database transaction, committed when the handler returns and rolled
back on any error; the answer to an error is `{"message": ...}` with its status code and never
a traceback. Every request (except routes that opt out) is written to `resourcelog` afterwards,
in a transaction of its own; passwords never reach it (login and change-password routes do not
log their payload). One connection per worker thread, reopened when it breaks.
"""

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from http import HTTPStatus
from urllib.parse import urlsplit

import psycopg

from ella import __version__
from ella.auth import session_for_token, valid_session_id
from ella.db import (PRIVILEGE_HINT, DatabaseError, api_wait_limits, connect, first_line,
                     limit_waits)
from ella.web.errors import ApiError, Forbidden, NotFound, NotLoggedIn
from ella.web.http import Request, Response
from ella.web.router import router as default_router

log = logging.getLogger("ella.api")

COOKIE_NAME = "AuthenticationToken"
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
# On every answer (also without nginx in front): an answer opened as a page in a browser
# (an attachment's HTML or SVG, a JSON error) runs no script, loads nothing and is framed
# nowhere, and is never sniffed into another type. The UI's own pages come from nginx.
DOCUMENT_HARDENING = (
    ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; sandbox"),
    ("X-Content-Type-Options", "nosniff"),
)
# The largest value of ELLA's integer columns (resourcelog's sizes).
INT32_MAX = 2**31 - 1


def refuse_other_sites(request, behind_tls=False):
    """403 for a write a browser reports as sent by a page of another origin
    (`Sec-Fetch-Site` other than same-origin or none). The UI is served from the API's own
    origin; `SameSite=Lax` keeps the cookie from other sites, but not from another port of
    the host or a sibling host of the same site, whose HTML forms could otherwise start or
    take over rounds and upload files in a user's name. Clients other than browsers send
    no such header and are not affected."""
    if request.method not in WRITE_METHODS:
        return
    environ = request.environ
    site = (environ.get("HTTP_SEC_FETCH_SITE") or "").strip().lower()
    if site:
        foreign = site in ("same-site", "cross-site")
    else:
        # Browsers without Fetch Metadata (Safari before 16.4, older webviews) still name
        # the page's origin in `Origin`, or at least in `Referer`; a form cannot forge them.
        page = environ.get("HTTP_ORIGIN") or environ.get("HTTP_REFERER")
        foreign = page is not None and not _same_origin(page, environ, behind_tls)
    if foreign:
        raise Forbidden("A request from a page of another site is refused: use ELLA's own "
                        "pages")


def _same_origin(page_url, environ, behind_tls=False):
    """Whether the page (an `Origin` or `Referer` URL) is on the host and port the request
    was sent to: `Host`, or the `X-Forwarded-Host` a proxy in front set (a page cannot set
    either header). `Origin: null` (a sandboxed or local page) is another origin. A `Host`
    without a port means the default port of the request's scheme: https behind TLS
    (COOKIE_SECURE, or the scheme the WSGI server was told), else http. (The page's scheme
    took its place: a page on port 443 of the host passed for one on port 80.)"""
    https = behind_tls or environ.get("wsgi.url_scheme") == "https"
    target_default_port = 443 if https else 80
    try:  # urlsplit and .port raise ValueError for "[::1" or a port out of range
        page = urlsplit(page_url.strip())
        if page.scheme not in ("http", "https") or not page.hostname:
            return False
        page_address = (page.hostname, page.port or (443 if page.scheme == "https" else 80))
    except ValueError:
        return False
    for header in ("HTTP_HOST", "HTTP_X_FORWARDED_HOST"):
        host = (environ.get(header) or "").split(",")[0].strip()
        try:
            target = urlsplit(f"//{host}")
            if target.hostname and (target.hostname, target.port or target_default_port) \
                    == page_address:
                return True
        except ValueError:
            continue
    return False


@dataclass
class Context:
    """What a handler gets: the request, the transaction's connection, the config, the user."""
    request: Request
    conn: object
    config: dict
    env: dict
    app: object

    @property
    def user(self):
        return self.request.user


class App:
    def __init__(self, config, env, router=None):
        self.config = config
        self.env = env
        self.router = router or default_router
        self._local = threading.local()
        # Answers a route keeps for a few seconds, by key (importjobs.service_running).
        self.kept_answers = {}

    # -- database --------------------------------------------------------------------------
    def connection(self):
        """This thread's connection, checked first: a connection the server closed while it
        was idle (a restart, a failover, pg_terminate_backend, an idle timeout of the site)
        shows only when used, and the first request after it got a 503 on a working
        database. The check is the request transaction's first statement."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and not (conn.closed or conn.broken):
            try:
                conn.execute("SELECT 1")
                return conn
            except psycopg.OperationalError as exc:
                log.warning("the database closed this worker's connection (%s): reconnecting",
                            first_line(exc))
                self._drop_connection()
        conn = connect(self.env["DB_URL"], application_name="ella-api")
        try:
            limit_waits(conn, api_wait_limits(self.env.get("GUNICORN_TIMEOUT") or 0))
        except BaseException:
            conn.close()  # a server gone meanwhile: not left to the garbage collector
            raise
        self._local.conn = conn
        return conn

    def _drop_connection(self):
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            try:
                conn.close()
            except psycopg.Error:
                pass

    # -- WSGI ------------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        started = time.monotonic()
        request = Request(environ, self.env.get("FORWARDED_ALLOW_IPS") or ())
        route, response = self.handle(request)
        if route is None or route.resource_log:
            self._resource_log(request, route, response, started)
        reason = HTTPStatus(response.status).phrase if response.status in HTTPStatus._value2member_map_ else ""
        headers = response.headers + [("Content-Length", str(response.content_length))]
        headers += [header for header in DOCUMENT_HARDENING
                    if header[0] not in {name for name, _ in response.headers}]
        start_response(f"{response.status} {reason}", headers)
        body = response.chunks()
        if request.method == "HEAD":
            if hasattr(body, "close"):
                body.close()
            return [b""]
        return body

    def handle(self, request):
        route = None
        conn = None
        try:
            if request.method == "OPTIONS":
                # api.md 1.1: every route answers OPTIONS with its methods (no login needed,
                # nothing runs).
                methods = self.router.methods(request.path)
                if not methods:
                    raise NotFound(f"No API route for {request.path}")
                return None, Response(b"", 200, "text/plain",
                                      [("Allow", ", ".join(methods))])
            route, params = self.router.resolve(request.method, request.path)
            refuse_other_sites(request, bool(self.env.get("COOKIE_SECURE")))
            request.path_params = params
            request.parse_args()
            conn = self.connection()
            self._authenticate(conn, request)
            if route.auth == "login" and request.user is None:
                raise NotLoggedIn()
            if request.method in ("GET", "HEAD"):
                # A read sees one snapshot: read committed, an `ella-delete` committing
                # between two of its statements left the second without the row the first
                # found (a 500 in the overview of every user refreshing meanwhile).
                conn.commit()  # (the session lookup's transaction, if one is open)
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            result = route.handler(Context(request, conn, self.config, self.env, self), **params)
            conn.commit()
            response = result if isinstance(result, Response) else Response.json(result)
        except ApiError as exc:
            self._rollback(conn)
            response = Response.error(exc.status, exc.message, exc.headers)
        except psycopg.OperationalError as exc:
            if (exc.sqlstate or "").startswith("40"):
                # A deadlock or serialization failure (SQLSTATE class 40): PostgreSQL rolled
                # this request back so a concurrent one could finish. The connection is fine
                # and the caller may simply retry.
                response = self._refused(
                    conn, request, exc, "rolled back by the database", 409,
                    "Another request changed the same data at the same time; nothing was "
                    "saved. Try again.")
            elif exc.sqlstate in ("55P03", "57014"):
                # A lock waited for, or a statement run, beyond the session's limit
                # (db.api_wait_limits or the site's): the database is busy, not gone, and the
                # connection stays.
                response = self._refused(
                    conn, request, exc, "canceled by the database", 503,
                    "The database is busy (this request waited too long for it); nothing was "
                    "saved. Try again later.")
            elif (exc.sqlstate or "").startswith("54"):
                # Program limit exceeded (class 54): a value too large for an index or row;
                # the request's fault, not an outage.
                self._rollback(conn)
                response = Response.error(400, "A value in the request is too large to store")
            else:
                log.error("database unavailable: %s", first_line(exc))
                self._drop_connection()
                response = Response.error(503, "The database is not available; try again "
                                               "later")
        except psycopg.errors.InsufficientPrivilege as exc:
            # The site's grants, not the request: one line naming the privilege, not a
            # traceback and a bare 500.
            log.error("%s: %s", PRIVILEGE_HINT, first_line(exc))
            self._rollback(conn)
            response = Response.error(503, "The service's database role lacks a privilege it "
                                           "needs; tell your system administrator")
        except psycopg.errors.ReadOnlySqlTransaction as exc:
            # A standby DB_URL points at after a failover, or a maintenance freeze: the
            # database's state, not a fault of the service. Reconnecting reaches a promoted
            # primary behind the same name.
            log.error("database takes no writes: %s", first_line(exc))
            self._drop_connection()
            response = Response.error(503, "The database takes no changes now (it is "
                                           "read-only); nothing was saved. Try again later.")
        except psycopg.errors.ForeignKeyViolation as exc:
            # A row the request names was deleted between its check and the write (an
            # `ella-delete` committing meanwhile); routes lock what they check where they can,
            # this is the backstop. Nothing was saved; a retry gets the route's own 404.
            response = self._refused(
                conn, request, exc, "refers to a row deleted meanwhile", 409,
                "A row this request refers to was deleted at the same time; nothing was "
                "saved. Reload and try again.")
        except DatabaseError as exc:
            # (Re)connecting failed: the message names the cause, any password masked.
            log.error("database unavailable: %s", exc)
            self._drop_connection()
            response = Response.error(503, "The database is not available; try again later")
        except Exception:
            log.exception("unexpected error on %s %s", request.method, request.path)
            self._rollback(conn)
            response = Response.error(500, "Internal Server Error")
        return route, response

    def _refused(self, conn, request, exc, what, status, message):
        """The answer to a request the database refused for a passing reason of its own
        (the connection stays): a warning line, the rollback, `status` with `message`."""
        log.warning("%s %s %s: %s", request.method, request.path, what, first_line(exc))
        self._rollback(conn)
        return Response.error(status, message)

    @staticmethod
    def _rollback(conn):
        if conn is not None and not conn.closed:
            try:
                conn.rollback()
            except psycopg.Error:
                pass

    def _authenticate(self, conn, request):
        request.session_checked = True
        token = request.cookie(COOKIE_NAME)
        if not token:
            return
        session = session_for_token(conn, token)
        if session is None:
            return
        session_id, user_id = session
        row = conn.execute('SELECT id, username, first_name, last_name, group_id FROM "user" '
                           "WHERE id = %s AND active", (user_id,)).fetchone()
        conn.commit()  # lastactivity is kept even if the request fails
        if row is None:
            return
        request.token = token
        request.session_id = session_id
        request.user = dict(zip(("id", "username", "first_name", "last_name", "group_id"), row))

    def _resource_log(self, request, route, response, started):
        # No route matched (404/405): the body may still be meant for a route that must not
        # log it (a mistyped login URL carries a password), so it is not logged.
        log_payload = request.method in WRITE_METHODS and route is not None and route.log_payload
        payload = None
        if log_payload:
            try:
                payload = _storable(request.body().decode("utf-8", errors="replace"))
            except ApiError:
                payload = None  # body refused as too large: not read, not logged
        row = {
            "remote_addr": _storable(request.remote_addr),
            "time": datetime.now(timezone.utc),
            "duration": int((time.monotonic() - started) * 1000),
            "usersession_id": request.session_id,
            "method": _storable(request.method),
            "resource": _storable(request.path),
            # A route that keeps its payload out keeps its query out too, for any method
            # (a client that sends the password there); so does a write no route matched.
            "query": "" if (route is not None and not route.log_payload) or (
                route is None and (request.method in WRITE_METHODS
                                   or self.router.hides_payload(request.path)))
            else _storable(request.query_string),
            "response": _storable(response.body.decode("utf-8", errors="replace"))
            if route is not None and route.log_response else None,
            # (ELLA's integer columns: a download of 2 GiB or more lost its row.)
            "response_size": min(response.content_length, INT32_MAX),
            "payload": payload,
            "payload_size": min(len(request.body()), INT32_MAX) if payload is not None
            else 0,
            "statuscode": response.status,
        }
        try:
            conn = self.connection()
            if not request.session_checked:
                # Refused before authentication (OPTIONS, no such route or method, a bad
                # query, a cross-site write): the row still names the cookie's session
                # (config-cli-ops.md 5.2), so a logged-in user's refused request is theirs.
                row["usersession_id"] = valid_session_id(conn, request.cookie(COOKIE_NAME))
            conn.execute(
                'INSERT INTO resourcelog (remote_addr, "time", duration, usersession_id, method, '
                "resource, query, response, response_size, payload, payload_size, statuscode) "
                "VALUES (%(remote_addr)s, %(time)s, %(duration)s, %(usersession_id)s, "
                "%(method)s, %(resource)s, %(query)s, %(response)s, %(response_size)s, "
                "%(payload)s, %(payload_size)s, %(statuscode)s)", row)
            conn.commit()
        except Exception as exc:  # the answer is already decided; never lose it for the log
            log.error("could not write resourcelog for %s %s: %s", request.method,
                      request.path, exc)
            self._drop_connection()


def _storable(text):
    """`text` as PostgreSQL can store it: a NUL character (which text columns refuse, and
    which would otherwise keep a request out of the audit log) becomes U+FFFD."""
    return text.replace("\x00", "\ufffd") if text else text


def create_app(config=None, env=None):
    """The WSGI callable for gunicorn (`ella.web.wsgi:application`) and the tests."""
    from ella.config import env_settings, load_config
    from ella.web import routes  # noqa: F401  (registers every route on the router)
    return App(config if config is not None else load_config(),
               env if env is not None else env_settings())


VERSION = __version__
