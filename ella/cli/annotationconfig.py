"""`ella-annotationconfig`: the annotation config imports use (ELLA's
`ella-cli annotationconfig ...`; import.md 3.1).

`update` is audited in `clilog` and first asks for an optional reason
(`Enter reason (optional): [None]:`) unless `--reason` is given. Rows are never changed: the
new config becomes the newest row, which every later import uses.
"""

import argparse
import json
import sys

from ella.cli.common import (Audit, CommandError, ask_reason, require_input_file,
                             require_known_schema, run_main, settings_with_database)
from ella.db import connect
from ella.deposit.annotationconfig import (AnnotationConfigFileError, active_annotation_config,
                                           check_annotation_config, read_annotation_config_file,
                                           target_collision_warnings,
                                           update_annotation_config)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="ella-annotationconfig",
        description="Manage the annotation config that turns a VCF's INFO fields into "
                    "annotation (DB_URL).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    p = sub.add_parser(
        "update", help="make a YAML annotation config the active one",
        description="Check a YAML file with 'deposit' and 'view' lists (shape, converters and "
                    "their options) and store it as the new active annotation config. A file "
                    "equal to the active config ('deposit' in any order) is refused.")
    p.add_argument("file", metavar="FILE", help="YAML file")
    p.add_argument("--reason", help="reason for the audit log (skips the prompt)")
    sub.add_parser("list", help="print the active annotation config",
                   description="Print the active config's 'deposit' and 'view' as indented "
                               "JSON on stdout (its id and date on stderr).")
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "update":
        require_input_file(parser, "update", args.file)
    return run_main(lambda: _run(args, argv))


def _run(args, argv):
    app_config, db_url = settings_with_database()
    if args.command == "list":
        return _list(db_url)
    audit = Audit(db_url, "annotationconfig", "update", argv)

    def body():
        audit.reason = ask_reason(args.reason)
        config = read_annotation_config_file(args.file)
        try:  # before connecting: a bad file needs no database
            check_annotation_config(config)
        except AnnotationConfigFileError as exc:
            raise AnnotationConfigFileError(f"{args.file}: {exc}") from None
        for warning in target_collision_warnings(config["deposit"]):
            audit.echo(f"Warning: {args.file}: {warning}")
        with connect(db_url, application_name="ella-annotationconfig") as conn:
            require_known_schema(conn, app_config)
            config_id = update_annotation_config(conn, config)
        audit.echo(f"Updated annotation config (id {config_id}): {len(config['deposit'])} "
                   f"converters, {len(config['view'])} view sections")
        return 0
    return audit.run(body, (AnnotationConfigFileError,))


def _list(db_url):
    with connect(db_url, application_name="ella-annotationconfig") as conn:
        active = active_annotation_config(conn)
    if active is None:
        raise CommandError("the database has no annotation config")
    config_id, config, date_created = active
    # stdout is the JSON alone, so `list > config.json` gives a file that parses.
    print(f"Active annotation config: id {config_id}, created {date_created.isoformat()}",
          file=sys.stderr)
    print(json.dumps(config, indent=4, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
