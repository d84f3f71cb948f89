"""`ella-filterconfigs`: manage filter configurations (ELLA's `ella-cli filterconfigs ...`).

`update` and `deactivate` are audited in `clilog` and first ask for an optional reason
(`Enter reason (optional): [None]:`), unless `--reason` is given; `deactivate` then asks for
`y`. Prompts go to stderr, answers are read from stdin.
"""

import argparse
import json
import sys

from ella.cli.common import (Audit, CommandError, ask_reason, confirm, require_input_file,
                             require_known_schema, run_main, settings_with_database)
from ella.cli.table import format_table
from ella.db import connect
from ella.deposit.filterconfigs import (FilterconfigError, active_filterconfigs,
                                        deactivate_filterconfig, deactivation_warnings,
                                        deposit_filterconfigs, get_filterconfig,
                                        read_filterconfigs_file, summary_rows)
from ella.deposit.users import UsersError, find_group
from ella.filters import FilterError
from ella.filters.chain import analysis_filterconfigs, filterconfigs_without_analysis


def build_parser():
    parser = argparse.ArgumentParser(
        prog="ella-filterconfigs",
        description="Manage the filter configurations offered to user groups (DB_URL).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "update", help="create or update filter configs from a JSON file",
        description="Deposit a JSON list of {name, usergroups: [{name, order}], requirements, "
                    "filterconfig} (ELLA's filterconfigs.json). The whole file is checked "
                    "first (input format, filterconfig schema version 3, user groups, "
                    "frequency groups) and written in one transaction. An unchanged config is "
                    "reused; a changed one gets a new version that supersedes the old.")
    p.add_argument("file", metavar="FILE", help="JSON file")
    p.add_argument("--reason", help="reason for the audit log (skips the prompt)")

    p = sub.add_parser(
        "deactivate", help="deactivate a filter config (asks for 'y')",
        description="Set a filter config inactive, so it is no longer offered. Warns when a "
                    "user group would lose its only config. Asks for 'y' on stdin.")
    p.add_argument("filterconfig_id", metavar="ID", type=int, help="filter config id")
    p.add_argument("--reason", help="reason for the audit log (skips the prompt)")

    p = sub.add_parser(
        "list", help="list the active filter configs",
        description="Table of active filter configs: id, name, order, user group, "
                    "requirements. With --usergroup: the configs that group is offered, in its "
                    "order (the first is the default): for --analysis those whose requirements "
                    "hold; without an analysis, when the group has several, only those without "
                    "requirements.")
    p.add_argument("--usergroup", metavar="NAME", help="the configs offered to this user group")
    p.add_argument("--analysis", metavar="NAME",
                   help="with --usergroup: check the requirements against this analysis")
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "update":
        require_input_file(parser, "update", args.file)
    if args.command == "list" and args.analysis and not args.usergroup:
        parser.error("list: --analysis needs --usergroup")
    return run_main(lambda: _run(args, argv))


def _run(args, argv):
    config, db_url = settings_with_database()
    if args.command == "list":
        if args.usergroup:
            return _list_offered(db_url, args.usergroup, args.analysis)
        return _list(db_url)
    audit = Audit(db_url, "filterconfigs", args.command, argv)

    def body():
        audit.reason = ask_reason(args.reason)  # inside: an interrupted prompt is audited
        if args.command == "update":
            return _update(db_url, config, args, audit)
        return _deactivate(db_url, config, args, audit)
    return audit.run(body, (FilterconfigError,))


def _update(db_url, config, args, audit):
    entries = read_filterconfigs_file(args.file)
    with connect(db_url, application_name="ella-filterconfigs") as conn:
        require_known_schema(conn, config)
        try:
            result = deposit_filterconfigs(conn, config, entries, echo=audit.echo)
        except FilterconfigError as exc:  # "entry 2 ('x'): ...": of which file
            raise FilterconfigError(f"{args.file}: {exc}") from None
        rows = summary_rows(conn, result)
    audit.echo("Summary:")
    for line in format_table(["name", "order", "usergroup", "change"], rows):
        audit.echo(line)
    created = sum(c["change"] is not None for c in result["configs"])
    audit.echo(f"{len(result['configs'])} filter configs in the file: {created} new versions, "
               f"{len(result['configs']) - created} unchanged")
    return 0


def _deactivate(db_url, config, args, audit):
    with connect(db_url, application_name="ella-filterconfigs") as conn:
        require_known_schema(conn, config)
        row = get_filterconfig(conn, args.filterconfig_id)
        if row is None:
            raise CommandError(f"Found no filter config with id {args.filterconfig_id}")
        fc_id, name, active, _ = row
        if not active:
            audit.echo(f"Filterconfig {name} (id {fc_id}) is already inactive")
            return 0
        warnings = deactivation_warnings(conn, fc_id)
        for warning in warnings:
            audit.echo(warning)
        if not confirm(f"Are you sure you want to deactivate filter config {name} (id {fc_id})? "
                       "Type 'y' to confirm.", "y", conn=conn):
            audit.echo("Lacking confirmation, aborting...")
            return 0
        deactivate_filterconfig(conn, fc_id, warnings)
    audit.echo(f"Filterconfig {name} deactivated")
    return 0


def _list(db_url):
    with connect(db_url, application_name="ella-filterconfigs") as conn:
        rows = active_filterconfigs(conn)
    if not rows:
        print("No active filter configs")
        return 0
    table = [(fc_id, name, "" if order is None else order, group or "-",
              _requirements_text(requirements))
             for fc_id, name, order, group, requirements in rows]
    for line in format_table(["id", "name", "order", "usergroup", "requirements"], table):
        print(line)
    return 0


def _list_offered(db_url, group_name, analysis_name):
    with connect(db_url, application_name="ella-filterconfigs") as conn:
        try:  # (in any case or Unicode form, as `ella-users` finds it)
            group_id, _ = find_group(conn, group_name)
        except UsersError as exc:  # none ("no user group named"), or stored look-alikes
            raise CommandError(f"Found {exc}" if str(exc).startswith("no ") else str(exc)) \
                from None
        if analysis_name is None:
            configs = filterconfigs_without_analysis(conn, group_id)
            subject = "without an analysis"
        else:
            analysis = conn.execute("SELECT id FROM analysis WHERE name = %s",
                                    (analysis_name,)).fetchone()
            if analysis is None:
                raise CommandError(f"Found no analysis named {analysis_name!r}")
            try:
                configs = analysis_filterconfigs(conn, group_id, analysis[0])
            except FilterError as exc:
                raise CommandError(f"a filter config's requirements cannot be checked: {exc}")
            subject = f"for analysis {analysis_name}"
    if not configs:
        print(f"User group {group_name} is offered no filter config {subject}")
        return 0
    table = [(c["id"], c["name"], "yes" if index == 0 else "",
              _requirements_text(c["requirements"])) for index, c in enumerate(configs)]
    print(f"Filter configs offered to {group_name} {subject}:")
    for line in format_table(["id", "name", "default", "requirements"], table):
        print(line)
    return 0


def _requirements_text(requirements):
    return json.dumps(requirements, ensure_ascii=False) if requirements else "-"


if __name__ == "__main__":
    sys.exit(main())
