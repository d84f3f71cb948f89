"""`ella-broadcast`: messages shown to all users on top of every page (ELLA's
`ella-cli broadcast ...`). `new` and `deactivate` are audited in `clilog`."""

import argparse
import sys

from ella.broadcast import add_broadcast, deactivate_broadcast, list_broadcasts
from ella.cli.common import (Audit, CommandError, require_known_schema, run_main,
                             settings_with_database)
from ella.cli.table import format_table
from ella.db import connect

TAIL = 10


def build_parser():
    parser = argparse.ArgumentParser(
        prog="ella-broadcast",
        description="Manage the broadcast messages shown to all users (DB_URL).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("new", help="add an active message",
                       description="Add an active message; all words are joined by spaces "
                                   "(no quoting needed).")
    p.add_argument("words", metavar="WORDS", nargs="+", help="the message")

    p = sub.add_parser("list", help="list messages (active ones by default)",
                       description="Table of messages: id, date, active, message.")
    p.add_argument("--all", action="store_true", help="include inactive messages")
    p.add_argument("--tail", action="store_true",
                   help=f"the last {TAIL} messages by creation date, inactive ones included")

    p = sub.add_parser("deactivate", help="stop showing a message",
                       description="Set a message inactive.")
    p.add_argument("message_id", metavar="ID", type=int, help="message id")
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    return run_main(lambda: _run(args, argv))


def _run(args, argv):
    config, db_url = settings_with_database()
    if args.command == "list":
        return _list(db_url, args)
    audit = Audit(db_url, "broadcast", args.command, argv)

    def body():
        with connect(db_url, application_name="ella-broadcast") as conn:
            require_known_schema(conn, config)
            if args.command == "new":
                audit.echo(f"Message with id {add_broadcast(conn, ' '.join(args.words))} added")
            elif deactivate_broadcast(conn, args.message_id):
                audit.echo(f"Message with id {args.message_id} set as inactive")
            else:
                raise CommandError(f"Found no message with id {args.message_id}")
        return 0

    return audit.run(body, (ValueError,))  # ValueError: empty message


def _list(db_url, args):
    with connect(db_url, application_name="ella-broadcast") as conn:
        rows = list_broadcasts(conn, include_inactive=args.all, tail=TAIL if args.tail else None)
    if not rows:
        print("No messages")
        return 0
    table = [(message_id, date.isoformat(), "true" if active else "false", message)
             for message_id, date, active, message in rows]
    for line in format_table(["id", "date", "active", "message"], table):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
