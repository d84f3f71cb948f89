"""`ella-api`: run the HTTP API with gunicorn (ops/gunicorn.conf.py): HOST:PORT or SOCKET."""

import argparse
import os
import sys

from ella.cli.common import CommandError, load_settings, run_main
from ella.db import PROJECT_ROOT, connect
from ella.migrate import at_head

GUNICORN_CONF = PROJECT_ROOT / "ops" / "gunicorn.conf.py"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        prog="ella-api",
        description="Serve ELLA's JSON API v1 with gunicorn, bound to HOST:PORT (default "
                    "127.0.0.1:3114) or to the unix socket SOCKET; workers NUM_WORKERS, "
                    "timeout GUNICORN_TIMEOUT. Uses DB_URL and ELLA_CONFIG. Refuses to start "
                    "when the database is not at head.")
    parser.parse_args(argv)
    return run_main(_run)


def _run():
    config, env = load_settings()
    with connect(env["DB_URL"]) as conn:
        ok, message = at_head(conn, config)
    if not ok:
        raise CommandError(f"the database is not ready: {message}")
    os.environ["PYTHONPATH"] = str(PROJECT_ROOT) + (
        os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else "")
    args = [sys.executable, "-m", "gunicorn", "--config", str(GUNICORN_CONF),
            "ella.web.wsgi:application"]
    os.execv(sys.executable, args)


if __name__ == "__main__":
    sys.exit(main())
