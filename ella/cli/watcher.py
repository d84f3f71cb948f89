"""`ella-watcher`: import READY analysis folders from ANALYSES_INCOMING into the database and
move them to ANALYSES_PATH (see ella/watcher.py)."""

import argparse
import os
import sys
import time

from ella import logging_setup
from ella.cli.common import (CommandError, interval_seconds, load_settings, run_main,
                              seconds_within)
from ella.db import DB_URL_MISSING, connect
from ella.migrate import at_head
from ella.text import escape_control_characters
from ella.watcher import Watcher, WatcherError


def build_parser():
    parser = argparse.ArgumentParser(
        prog="ella-watcher",
        description="Import every analysis folder with a READY file from the incoming "
                    "directory (one transaction each) and move it to the destination. A folder "
                    "that fails stays, with its error in <folder>.import-error beside it, and "
                    "is retried only after it changes.")
    parser.add_argument("--analyses", metavar="DIR",
                        help="incoming directory (default: $ANALYSES_INCOMING)")
    parser.add_argument("--dest", metavar="DIR",
                        help="where imported folders go (default: $ANALYSES_PATH)")
    parser.add_argument("--whitelist", nargs="+", metavar="REGEX", default=[],
                        help="import only analyses whose name matches one of these")
    parser.add_argument("--blacklist", nargs="+", metavar="REGEX", default=[],
                        help="never import analyses whose name matches one of these")
    parser.add_argument("--whitelistfile", metavar="FILE",
                        default=os.environ.get("ELLA_WATCHER_WHITELISTFILE") or None,
                        help="file of whitelist regexes, re-read every poll "
                             "(default: $ELLA_WATCHER_WHITELISTFILE)")
    parser.add_argument("--blacklistfile", metavar="FILE",
                        default=os.environ.get("ELLA_WATCHER_BLACKLISTFILE") or None,
                        help="file of blacklist regexes (default: $ELLA_WATCHER_BLACKLISTFILE)")
    parser.add_argument("--interval", type=interval_seconds, default=30.0,
                        help="seconds between polls (default 30)")
    parser.add_argument("--settle", type=settle_seconds,
                        default=os.environ.get("ELLA_WATCHER_SETTLE") or "5",
                        help="a READY folder is imported once its files are unchanged at a "
                             "second look: the next poll, or with --once this many seconds "
                             "later (default 5, or $ELLA_WATCHER_SETTLE; 0: at first sight)")
    parser.add_argument("--once", action="store_true",
                        help="one pass, then exit (exit code 1 if any folder failed or the "
                             "database, incoming directory or a list file was unusable)")
    return parser


def settle_seconds(text):
    """argparse type of `--settle`: 0 (no second look) up to an hour."""
    return seconds_within(text, 0, 3600)


def main(argv=None):
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    return run_main(lambda: _run(args))


def _run(args):
    logging_setup.setup()  # in run_main: a bad LOG_LEVEL is one line
    config, env = load_settings()
    incoming = args.analyses or env["ANALYSES_INCOMING"]
    dest = args.dest or env["ANALYSES_PATH"]
    if not incoming or not dest:
        raise CommandError("the incoming and destination directories are needed: give "
                           "--analyses/--dest or set ANALYSES_INCOMING/ANALYSES_PATH")
    if not env["DB_URL"]:
        raise CommandError(DB_URL_MISSING)
    try:
        watcher = Watcher(env["DB_URL"], config, incoming, dest, args.whitelist, args.blacklist,
                          args.whitelistfile, args.blacklistfile, settle=args.settle > 0)
        if args.once:
            # Checked even with nothing to import (a pass touches the database only for a
            # folder): from cron, an unusable DB_URL would otherwise go unnoticed.
            with connect(env["DB_URL"], application_name="ella-watcher") as conn:
                ready, why = at_head(conn, config, shadow_columns=False)
            if not ready:
                raise CommandError(f"the database is not ready: {why}")
            with watcher.stop_on_signals():  # as the daemon: finish the folder, then stop
                watcher.poll()
                failures = list(watcher.failures)
                if watcher.settling:  # READY folders seen once: the second look
                    deadline = time.monotonic() + args.settle
                    while not watcher.stopping and time.monotonic() < deadline:
                        time.sleep(min(0.2, args.settle))
                    if not watcher.stopping:
                        watcher.poll()
                        failures += watcher.failures
            return 1 if failures else 0
        watcher.run(args.interval)
    except WatcherError as exc:
        # One line on stderr whatever a folder or path name holds (a newline forged lines
        # in the log that reads the entrypoint's output).
        raise CommandError(escape_control_characters(str(exc))) from exc
    return 0


if __name__ == "__main__":
    sys.exit(main())
