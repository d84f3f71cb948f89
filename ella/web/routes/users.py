"""Users and authentication: login, logout, change password, current user, users (api.md 2.1)."""

from datetime import timezone
from email.utils import format_datetime

from ella import auth
from ella.passwords import TOO_LONG, password_too_long
from ella.web.errors import AuthenticationError, BadRequest, NotFound
from ella.web.http import Response
from ella.web.router import router
from ella.web.validation import require_object
from ella.web.app import COOKIE_NAME
from ella.web.listing import paginate, q_to_sql

API = "/api/v1"
USER_Q_COLUMNS = {
    "id": ("u.id", "integer"), "username": ("u.username", "text"),
    "first_name": ("u.first_name", "text"), "last_name": ("u.last_name", "text"),
    "email": ("u.email", "text"), "group_id": ("u.group_id", "integer"),
    "active": ("u.active", "boolean"), "password_expiry": ("u.password_expiry", "timestamptz"),
}


def _cookie(token, expires, secure):
    parts = [f"{COOKIE_NAME}={token}",
             f"Expires={format_datetime(expires.astimezone(timezone.utc), usegmt=True)}",
             "HttpOnly", "Path=/", "SameSite=Lax"]
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


@router.route("POST", f"{API}/users/actions/login/", auth="open", log_payload=False,
              summary="Log in: sets the AuthenticationToken session cookie")
def login(ctx):
    body = require_object(ctx.request.json(), {"username": str, "password": str})
    try:
        token, expires = auth.login(ctx.conn, body["username"], body["password"])
    except auth.LoginError as exc:
        ctx.conn.commit()  # a wrong password's failure count is kept (lockout after 6)
        raise AuthenticationError(str(exc)) from None
    return Response(b"", 200, "text/html; charset=utf-8",
                    [("Set-Cookie", _cookie(token, expires, ctx.env.get("COOKIE_SECURE")))])


@router.route("POST", f"{API}/users/actions/logout/", summary="Log out the current session")
def logout(ctx):
    auth.logout(ctx.conn, ctx.request.token)
    return None


@router.route("POST", f"{API}/users/actions/changepassword/", auth="open", log_payload=False,
              summary="Change a password (authenticated by the old one); logs out all sessions")
def change_password(ctx):
    body = require_object(ctx.request.json(),
                          {"username": str, "password": str, "new_password": str})
    if password_too_long(body["new_password"]):
        raise BadRequest(f"body.new_password: {TOO_LONG}")  # bcrypt cannot hash it
    try:
        auth.change_password(ctx.conn, body["username"], body["password"],
                             body["new_password"], ctx.config["user"]["auth"])
    except auth.LoginError as exc:
        ctx.conn.commit()  # a wrong old password's failure count is kept, as for login
        raise AuthenticationError(str(exc)) from None
    return None


@router.route("GET", f"{API}/users/currentuser/", summary="The logged-in user")
def current_user(ctx):
    return auth.users(ctx.conn, "u.id = %s", (ctx.user["id"],), import_groups=True)[0]


@router.route("GET", f"{API}/users/", access="group",
              summary="Users of the caller's user group (q, paginated)")
def list_users(ctx):
    # `q` over the user table's columns (api.md 1.8), never its password hash.
    condition, params = q_to_sql(ctx.request.json_arg("q"), USER_Q_COLUMNS)
    return paginate(ctx.request, auth.users(ctx.conn, f"u.group_id = %s AND ({condition})",
                                            [ctx.user["group_id"], *params]))


@router.route("GET", f"{API}/users/<int:user_id>/", access="group",
              summary="One user of the caller's user group")
def get_user(ctx, user_id):
    # ELLA answers any user to anyone (even without login); we require a login and the same
    # group (DESIGN.md), and 404 for users outside it (as the users list does not show them).
    found = auth.users(ctx.conn, "u.id = %s AND u.group_id = %s",
                       (user_id, ctx.user["group_id"]))
    if not found:
        raise NotFound(f"No user with id {user_id} in your user group")
    return found[0]
