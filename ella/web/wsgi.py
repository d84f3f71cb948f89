"""gunicorn entry point: `gunicorn ella.web.wsgi:application` (see ops/gunicorn.conf.py).

The config and environment are read once per worker at import; a bad config stops the worker
with the config's one-line message. The service refuses to start when the database is not at
ELLA's head revision with nothing pending (as ELLA's container does with `database compare`)."""

import sys

from ella.config import ConfigError, env_settings, load_config
from ella.db import DatabaseError, connect
from ella.migrate import at_head
from ella.web.app import create_app


def _build():
    try:
        config, env = load_config(), env_settings()
        with connect(env["DB_URL"], application_name="ella-api-startup") as conn:
            ok, message = at_head(conn, config)
    except (ConfigError, DatabaseError) as exc:
        sys.exit(f"ella-api: {exc}")
    if not ok:
        sys.exit(f"ella-api: the database is not ready: {message}")
    return create_app(config, env)


application = _build()
