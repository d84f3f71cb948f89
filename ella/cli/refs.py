"""`ella-refs`: literature references from PubMed (import.md 6, config-cli-ops.md 3.6).

- `fetch IDS_FILE` (connected machine, no database): NCBI efetch in batches of 200 ids,
  at most 3 requests/s (10 with an API key), writes `references-YYMMDD.json`.
- `convert FILE... -o OUT` (offline): the same file from PubMed XML (efetch output) and/or
  MEDLINE text files.
- `deposit FILE` (inside the garden, DB_URL): create or update the references by pubmed_id in
  one transaction; audited in `clilog` (group "references").

Progress (on a terminal) and warnings go to stderr, the summary line to stdout; errors are
one line on stderr, exit code 1.
"""

import argparse
import os
import sys
from pathlib import Path

from ella import pubmed
from ella.cli.common import (Audit, CommandError, require_input_file, require_ready_database,
                             run_main, settings_with_database)
from ella.db import connect
from ella.deposit import references


def build_parser():
    parser = argparse.ArgumentParser(
        prog="ella-refs",
        description="Literature references from PubMed: fetch them (internet), convert "
                    "carried-in PubMed XML / MEDLINE files (offline), deposit them (DB_URL).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "fetch", help="download references for a file of PubMed ids (needs internet)",
        description="Fetch the PubMed records of the ids in IDS_FILE (whitespace-separated; "
                    "'#' starts a comment) from NCBI E-utilities efetch in batches of 200, at "
                    "most 3 requests/s (10/s with an API key), and write them as JSON lines "
                    "(default references-YYMMDD.json in the current directory). Needs no "
                    "database. The efetch URL can be overridden with NCBI_EUTILS_URL.")
    p.add_argument("ids_file", metavar="IDS_FILE")
    p.add_argument("-o", "--output", metavar="OUT", help="output file "
                   "(default references-YYMMDD.json)")
    p.add_argument("--api-key", "--api_key", dest="api_key",
                   help="NCBI API key (default: $NCBI_API_KEY, which unlike this option is not "
                        "shown in the process list); allows 10 requests/s")
    p.add_argument("--email", help="contact e-mail sent to NCBI (their usage policy)")
    p.add_argument("--tool", default="ella-refs", help="tool name sent to NCBI "
                   "(default ella-refs)")
    p.add_argument("--retries", type=int, default=10, metavar="N",
                   help="attempts per batch on HTTP 429/5xx or a broken answer (default 10)")
    p.add_argument("--retry-wait", type=float, default=2.0, metavar="SECONDS",
                   help="first back-off wait, doubled per attempt up to 30 s (default 2)")

    p = sub.add_parser(
        "convert", help="build the references file from PubMed XML / MEDLINE files (offline)",
        description="Convert PubMed XML files (efetch output, a PubmedArticleSet or single "
                    "records) and MEDLINE text files (PMID- / TI  - ... tags) into the "
                    "references JSON-lines file that `deposit` reads. The format of each file "
                    "is detected. A pubmed_id given twice is kept from its first file.")
    p.add_argument("files", metavar="FILE", nargs="+")
    p.add_argument("-o", "--output", metavar="OUT", help="output file "
                   "(default references-YYMMDD.json)")

    p = sub.add_parser(
        "deposit", help="create or update references from a references file (DB_URL)",
        description="Deposit a references JSON-lines file (from fetch or convert): a "
                    "reference whose pubmed_id exists gets every given key overwritten, "
                    "others are created. One transaction: a bad line writes nothing.")
    p.add_argument("file", metavar="FILE")
    return parser


MAX_RETRY_WAIT = 30  # the back-off's own ceiling (pubmed.PubMedClient max_wait)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "fetch" and args.retries < 1:
        parser.error("fetch: --retries must be at least 1")
    if args.command == "fetch" and not 0 <= args.retry_wait <= MAX_RETRY_WAIT:
        parser.error(f"fetch: --retry-wait must be 0 to {MAX_RETRY_WAIT} seconds")
    # A missing input is a usage error (exit 2), as in every other command.
    if args.command == "deposit":
        require_input_file(parser, "deposit", args.file)
    elif args.command == "fetch":
        require_input_file(parser, "fetch", args.ids_file)
    elif args.command == "convert":
        for path in args.files:
            require_input_file(parser, "convert", path)
    return run_main(lambda: COMMANDS[args.command](args, argv))


def _progress(text):
    """Progress on stderr when it is a terminal (a log or pipe gets warnings and errors only,
    so a failure stays one line)."""
    if sys.stderr.isatty():
        print(f"... {text}", file=sys.stderr, flush=True)


def _fetch(args, argv):
    try:
        ids = pubmed.read_id_file(args.ids_file)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    api_key = args.api_key or os.environ.get("NCBI_API_KEY") or None
    output = args.output or pubmed.default_output_name()
    try:
        client = pubmed.EfetchClient(api_key=api_key, email=args.email, tool=args.tool,
                                     attempts=args.retries, retry_wait=args.retry_wait)
    except pubmed.FetchError as exc:
        raise CommandError(str(exc)) from None
    _progress(f"{len(ids)} PubMed ids, {len(pubmed.batches(ids))} requests "
              f"({'10' if api_key else '3'} per second at most)")
    try:
        refs, missing = client.fetch(ids, progress=_progress)
    except pubmed.FetchError as exc:
        raise CommandError(str(exc)) from None
    if missing:
        shown = ", ".join(str(i) for i in missing[:20]) + (" ..." if len(missing) > 20 else "")
        print(f"warning: Pubmed IDs ignored ({len(missing)} not in the answer): [{shown}]",
              file=sys.stderr, flush=True)
    _write(output, refs)
    _summary(f"Fetched {len(refs)} references for {len(ids)} PubMed ids "
             f"({len(missing)} ignored, {client.requests} requests) -> {output}", output)
    return 0


def _summary(line, output):
    """The closing line, on stderr when the references went to stdout (`-o /dev/stdout`):
    mixed into them, it made the file one a deposit refuses."""
    try:
        written, stdout = os.stat(output), os.fstat(sys.stdout.fileno())
        to_stdout = (written.st_dev, written.st_ino) == (stdout.st_dev, stdout.st_ino)
    except (OSError, ValueError, AttributeError):  # (no stdout, or not a file's)
        to_stdout = False
    print(line, file=sys.stderr if to_stdout else sys.stdout)


def _write(output, refs):
    try:
        pubmed.write_references(output, refs)
    except OSError as exc:
        raise CommandError(f"{output}: cannot write: {exc.strerror or exc}") from None


def _convert(args, argv):
    output = args.output or pubmed.default_output_name()
    refs, first_file = [], {}
    for name in args.files:
        try:
            data = Path(name).read_bytes()
        except OSError as exc:
            raise CommandError(f"{name}: cannot read: {exc.strerror or exc}") from None
        skipped = []
        try:
            # As `fetch` does with an efetch answer: a <DeleteCitation> is skipped, said.
            parsed = pubmed.parse_references_text(data, source=f"{name}: ",
                                                  on_unknown=skipped.append)
        except pubmed.PubmedParseError as exc:
            raise CommandError(str(exc)) from None
        for element in skipped:
            print(f"warning: {name}: skipped <{element.tag}>", file=sys.stderr, flush=True)
        _progress(f"{name}: {len(parsed)} references")
        for ref in parsed:
            if ref["pubmed_id"] in first_file:
                print(f"warning: {name}: pubmed_id {ref['pubmed_id']} already read from "
                      f"{first_file[ref['pubmed_id']]}; skipped", file=sys.stderr, flush=True)
                continue
            first_file[ref["pubmed_id"]] = name
            refs.append(ref)
    _write(output, refs)
    _summary(f"Converted {len(refs)} references from {len(args.files)} files -> {output}",
             output)
    return 0


def _deposit(args, argv):
    config, db_url = settings_with_database()
    # The same command as `ella-deposit references`, audited as ELLA's `deposit references`.
    audit = Audit(db_url, "deposit", "references", ["references", *argv[1:]])

    def body():
        _progress(f"reading {args.file}")
        items = references.read_references(args.file)
        with connect(db_url, application_name="ella-refs") as conn:
            require_ready_database(conn, config, shadow_columns=False)
            result = references.deposit_references(conn, items, source=args.file)
        audit.echo(references.summary_line(result))
        return 0

    return audit.run(body, (references.ReferenceError,))


COMMANDS = {"fetch": _fetch, "convert": _convert, "deposit": _deposit}


if __name__ == "__main__":
    sys.exit(main())
