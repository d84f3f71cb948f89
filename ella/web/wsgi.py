"""gunicorn entry point: `gunicorn ella.web.wsgi:application` (see ops/gunicorn.conf.py).

The config is the one gunicorn's master read at start (ops/gunicorn.conf.py hands it to each
worker it forks; read here when run otherwise); the environment is read per worker at import.
`bin/ella-api` refuses to start when the database is not at ELLA's head revision with nothing
pending (as ELLA's container does with `database compare`); each worker checks again as it
boots."""

import logging
import sys

import psycopg

from ella import config as ella_config
from ella.config import ConfigError, env_settings, load_config
from ella.db import DatabaseError, connect
from ella.migrate import at_head
from ella.web.app import create_app

# gunicorn's exit code for "worker failed to boot": the master stops (and supervisord or
# systemd decide, with their back-off). Any other code makes it boot another worker at
# once, in a loop for as long as the cause lasts.
WORKER_BOOT_ERROR = 3

log = logging.getLogger("ella.api")


def _halt(message):
    print(f"ella-api: {message}", file=sys.stderr, flush=True)
    sys.exit(WORKER_BOOT_ERROR)


def _build():
    try:
        config = ella_config.started_config or load_config()
        env = env_settings()
    except ConfigError as exc:
        _halt(exc)
    try:
        with connect(env["DB_URL"], application_name="ella-api-startup") as conn:
            ok, message = at_head(conn, config)
    except (DatabaseError, psycopg.OperationalError) as exc:
        # A worker booted in place of one that ended (killed, timed out) while the database
        # is away (or going: a restart during the check): it answers 503 until the database
        # is back, as the running workers do.
        log.warning("ella-api: %s; answering 503 until the database is back", exc)
        return create_app(config, env)
    if not ok:
        _halt(f"the database is not ready: {message}")
    return create_app(config, env)


application = _build()
