"""Errors a handler raises; the app turns each into `{"message": ...}` with its status code.

Where these codes differ from ELLA's (which answers 403 plain text when not logged in and 500
for bad input or unknown ids), the README lists the difference."""


class ApiError(Exception):
    status = 400
    headers = ()  # sent with the answer

    def __init__(self, message, status=None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class BadRequest(ApiError):
    status = 400


class AuthenticationError(ApiError):
    """Wrong credentials, locked or expired account (login, change password)."""
    status = 401


class NotLoggedIn(ApiError):
    """A login-only route without a valid session: 403, as in ELLA (api.md 1.5: its UI shows
    the login page on this 403), with the JSON body of every error (DESIGN.md)."""
    status = 403

    def __init__(self, message="Authentication required"):
        super().__init__(message)


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError):
    status = 404


class MethodNotAllowed(ApiError):
    """With the `Allow` header RFC 9110 asks of a 405 (the methods OPTIONS lists)."""
    status = 405

    def __init__(self, message, allowed):
        super().__init__(message)
        self.headers = (("Allow", ", ".join(allowed)),)


class Conflict(ApiError):
    status = 409


class PayloadTooLarge(ApiError):
    status = 413


class TooManyRequests(ApiError):
    status = 429
