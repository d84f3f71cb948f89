"""`ella-deposit`: import data into the ELLA database (ELLA's `ella-cli deposit ...`).

Only `genepanel` so far. Option spellings: ELLA's underscores (`--genepanel_name`) and the
hyphenated forms (`--genepanel-name`) are both accepted.
"""

import argparse
import sys

from ella.cli.common import Audit, CommandError, load_settings, run_main
from ella.db import connect
from ella.deposit.genepanel import (GenepanelError, deposit_genepanel, folder_files,
                                    read_panel_files, split_folder_name, summary_line)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="ella-deposit",
        description="Import data into the ELLA database (DB_URL). Each deposit is one "
                    "transaction: on any error nothing is written.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "genepanel", help="create (or with --replace overwrite) a gene panel",
        description="Create a gene panel from an ELLA 1.17 transcripts TSV and phenotypes TSV. "
                    "With --folder DIR, DIR must be named <name>_<version> (version starting "
                    "with 'v') and hold DIR_genes_transcripts.tsv and DIR_phenotypes.tsv; "
                    "explicit options override what the folder gives. An existing panel is "
                    "left alone unless --replace is given. New panels are official, GRCh37.")
    p.add_argument("--genepanel_name", "--genepanel-name", dest="genepanel_name")
    p.add_argument("--genepanel_version", "--genepanel-version", dest="genepanel_version")
    p.add_argument("--transcripts_path", "--transcripts-path", dest="transcripts_path")
    p.add_argument("--phenotypes_path", "--phenotypes-path", dest="phenotypes_path")
    p.add_argument("--folder", metavar="DIR", help="panel folder named <name>_<version>")
    p.add_argument("--replace", action="store_true",
                   help="overwrite an existing panel (its links are rewritten, its transcripts "
                        "updated from the file)")
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "genepanel" and not args.folder:
        missing = [f"--{n}" for n in ("genepanel_name", "genepanel_version", "transcripts_path",
                                      "phenotypes_path") if not getattr(args, n)]
        if missing:
            parser.error("genepanel: give --folder DIR, or all of " + ", ".join(missing))
    return run_main(lambda: _run(args, argv))


def _progress(text):
    if sys.stderr.isatty():
        print(f"... {text}", file=sys.stderr, flush=True)


def _run(args, argv):
    config, env = load_settings()
    db_url = env["DB_URL"]
    if not db_url:
        connect(db_url)  # raises the standard "DB_URL is not set" error
    audit = Audit(db_url, "deposit", args.command, argv)
    error = None
    try:
        return COMMANDS[args.command](db_url, args, audit)
    except GenepanelError as exc:
        error = exc
        raise CommandError(str(exc)) from exc
    except Exception as exc:
        error = exc
        raise
    finally:
        audit.write(error)


def _genepanel(db_url, args, audit):
    name, version = args.genepanel_name, args.genepanel_version
    transcripts_path, phenotypes_path = args.transcripts_path, args.phenotypes_path
    if args.folder:
        folder_name, folder_version = split_folder_name(args.folder)
        folder_transcripts, folder_phenotypes = folder_files(args.folder)
        name = name or folder_name
        version = version or folder_version
        transcripts_path = transcripts_path or str(folder_transcripts)
        phenotypes_path = phenotypes_path or str(folder_phenotypes)
    _progress(f"reading {transcripts_path} and {phenotypes_path}")
    panel = read_panel_files(transcripts_path, phenotypes_path)
    with connect(db_url, application_name="ella-deposit") as conn:
        result = deposit_genepanel(conn, name, version, panel, replace=args.replace,
                                   progress=lambda step: _progress(f"writing {step}"))
    audit.echo(summary_line(result))
    if result.get("transcripts_differing"):
        audit.echo(f"Note: {result['transcripts_differing']} reused transcripts differ from "
                   "the file; the database rows were kept (use --replace to update them)")
    return 0


COMMANDS = {"genepanel": _genepanel}


if __name__ == "__main__":
    sys.exit(main())
