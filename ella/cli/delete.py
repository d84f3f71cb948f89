"""`ella-delete`: delete an analysis or a variant's interpretation rounds (ELLA's
`ella-cli delete ...`).

Both sub-commands are audited in `clilog` (group "delete"): they first ask for an optional
reason (`Enter reason (optional): [None]:`) unless `--reason` is given, show what would be
deleted, then ask for `y`. Anything else aborts with exit code 0 and changes nothing. Prompts
go to stderr, answers are read from stdin. The deletion runs in one transaction.
"""

import argparse
import sys

from ella.cli.common import (Audit, CommandError, ask_reason, confirm, require_known_schema,
                             run_main, settings_with_database)
from ella.db import connect
from ella.deposit.delete import (ConfirmationOutdated, RoundsChanged, allele_summary,
                                 alleleinterpretation_rounds, analysis_summary,
                                 delete_alleleinterpretations, delete_analysis, round_states)

ABORTED = "Lacking confirmation, aborting..."


def build_parser():
    parser = argparse.ArgumentParser(
        prog="ella-delete",
        description="Delete an analysis or a variant's interpretation rounds (DB_URL). Asks "
                    "for a reason and for 'y' on stdin.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "analysis", help="delete an analysis (asks for 'y')",
        description="Delete an analysis with its samples, genotypes and interpretation rounds. "
                    "Alleles and annotations are kept; allele/reference/gene assessments and "
                    "allele reports are kept with their analysis reference cleared.")
    p.add_argument("analysis_id", metavar="ID", type=int,
                   help="analysis id (the number ending the analysis URL)")
    p.add_argument("--reason", help="reason for the audit log (skips the prompt)")

    p = sub.add_parser(
        "alleleinterpretation", help="delete a variant's interpretation rounds (asks for 'y')",
        description="Delete the interpretation rounds of a variant (variant workflow) created "
                    "after its last finalized round, or all of them with --delete-all. Allele "
                    "assessments are never deleted.")
    p.add_argument("allele_id", metavar="ALLELE_ID", type=int, help="allele id")
    p.add_argument("--delete-all", "--delete_all", dest="delete_all", action="store_true",
                   help="delete all rounds, also finalized ones")
    p.add_argument("--reason", help="reason for the audit log (skips the prompt)")
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    return run_main(lambda: _run(args, argv))


def _run(args, argv):
    config, db_url = settings_with_database()
    audit = Audit(db_url, "delete", args.command, argv)

    def body():
        audit.reason = ask_reason(args.reason)  # inside: an interrupted prompt is audited
        with connect(db_url, application_name="ella-delete") as conn:
            require_known_schema(conn, config)
            try:
                if args.command == "analysis":
                    return _delete_analysis(conn, args, audit)
                return _delete_alleleinterpretation(conn, args, audit)
            except BaseException:
                conn.rollback()
                raise

    return audit.run(body)


def _delete_analysis(conn, args, audit):
    summary = analysis_summary(conn, args.analysis_id)
    if summary is None:
        raise CommandError(f"Found no analysis with id {args.analysis_id}")
    name = summary["name"]
    audit.echo(f"Analysis: {summary['id']} ({name})")
    audit.echo(f"Review comment: {summary['review_comment'] or '-'}")
    if summary["status"] is None:
        audit.echo("Latest interpretation: none")
    else:
        audit.echo(f"Latest interpretation: {summary['status']} ({summary['workflow_status']})")
    if not confirm(f"Are you sure you want to delete analysis {summary['id']} ({name})? "
                   "Type 'y' to confirm.", "y", conn=conn):
        audit.echo(ABORTED)
        return 0
    try:
        deleted = delete_analysis(conn, summary["id"], confirmed=summary)
    except ConfirmationOutdated as exc:
        raise CommandError(str(exc)) from None
    if deleted is None:
        raise CommandError(f"Found no analysis with id {args.analysis_id}")
    conn.commit()
    audit.echo(f"Analysis {summary['id']} ({name}) deleted successfully")
    return 0


def _round_line(number, r):
    state = "Finalized" if r["finalized"] else r["status"]
    updated = r["date_last_update"].strftime("%Y-%m-%d %H:%M UTC")
    return (f"  {number}. {r['workflow_status']}, {state}, {r['user'] or '-'}, "
            f"last update {updated} (id {r['id']})")


def _delete_alleleinterpretation(conn, args, audit):
    allele = allele_summary(conn, args.allele_id)
    if allele is None:
        raise CommandError(f"Found no allele with id {args.allele_id}")
    audit.echo(f"Allele: {allele['id']} {allele['description']}")
    for panel, transcript, symbol, hgvsc in allele["hgvsc"]:
        audit.echo(f"  {panel}: {symbol or '-'} {transcript}:{hgvsc}")
    audit.echo(f"Review comment: {allele['review_comment'] or '-'}")
    rounds = alleleinterpretation_rounds(conn, args.allele_id, args.delete_all)
    if not rounds:
        audit.echo("Nothing to delete!")
        return 0
    which = "all interpretation rounds" if args.delete_all else \
        "the interpretation rounds after the last finalized one"
    audit.echo(f"Deleting {which} ({len(rounds)}):")
    for number, r in enumerate(rounds, start=1):
        audit.echo(_round_line(number, r))
    if not confirm(f"Are you sure you want to delete these {len(rounds)} interpretation "
                   f"round(s) of allele {allele['id']}? Type 'y' to confirm.", "y", conn=conn):
        audit.echo(ABORTED)
        return 0
    try:
        deleted = delete_alleleinterpretations(conn, args.allele_id, args.delete_all,
                                               confirmed=round_states(rounds))
    except RoundsChanged as exc:
        raise CommandError(str(exc)) from None
    conn.commit()
    audit.echo(f"Deleted {len(deleted)} interpretation round(s) of allele {allele['id']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
