"""Importing this package registers every API route on `ella.web.router.router`."""

from ella.web.routes import config, system, users  # noqa: F401
