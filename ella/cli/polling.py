"""`ella-polling`: send import jobs to the annotation service, follow them and deposit the
annotated results (see ella/polling.py)."""

import argparse
import logging
import sys
import tempfile

from ella import logging_setup
from ella.cli.common import CommandError, interval_seconds, load_settings, run_main
from ella.db import DB_URL_MISSING, check_db_url
from ella.polling import (Poller, ServiceError, preimport_script_problem,
                          remove_abandoned_working_folders, service_from_config)

log = logging.getLogger("ella.polling")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="ella-polling",
        description="Submit import jobs to the annotation service (app.annotation_service), "
                    "follow them and deposit each annotated result once. Each read from the "
                    "service waits at most import.annotation_service_timeout seconds (default "
                    "30). An unreachable service makes jobs wait (retried with back-off); "
                    "SIGTERM stops cleanly.")
    parser.add_argument("--interval", type=interval_seconds, default=5.0,
                        help="seconds between poll cycles (default 5)")
    parser.add_argument("--max-backoff", type=interval_seconds, default=300.0,
                        help="longest wait while the service is unreachable (default 300)")
    parser.add_argument("--once", action="store_true",
                        help="one cycle, then exit (exit code 1 if the database was not ready "
                             "or the service unreachable)")
    return parser


def main(argv=None):
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    return run_main(lambda: _run(args))


def _run(args):
    logging_setup.setup()  # in run_main: a bad LOG_LEVEL is one line
    config, env = load_settings()
    if not env["DB_URL"]:
        raise CommandError(DB_URL_MISSING)
    check_db_url(env["DB_URL"])
    try:
        service = service_from_config(config)
    except ServiceError as exc:
        raise CommandError(exc.message) from exc
    problem = preimport_script_problem(config)
    if problem:
        raise CommandError(problem)
    poller = Poller(env["DB_URL"], config, service, interval=args.interval,
                    max_backoff=max(args.max_backoff, args.interval))
    removed = remove_abandoned_working_folders()
    if removed:
        log.warning("removed %s working folder(s) a stopped poller left in %s (import job "
                    "files)", removed, tempfile.gettempdir())
    if args.once:
        for job_id, old, new in poller.cycle():
            print(f"job {job_id}: {old} -> {new}")
        # Nothing was done when the database was not ready (logged), or the service away.
        return 1 if poller.not_ready or poller.unreachable_count else 0
    poller.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
