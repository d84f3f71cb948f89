"""`ella-deposit`: import data into the ELLA database (ELLA's `ella-cli deposit ...`).

Sub-commands: `analysis`, `alleles`, `annotation`, `genepanel`, `references`,
`custom_annotation` (alias `custom-annotation`), `append_genepanel_to_usergroup`, `exists`.
Option spellings: ELLA's underscores (`--genepanel_name`) and the hyphenated forms
(`--genepanel-name`) are both accepted.
"""

import argparse
import os
import sys
from pathlib import Path

from ella.cli.common import (Audit, CommandError, input_file_problem, require_input_file,
                             require_ready_database, run_main, settings_with_database)
from ella.db import connect
from ella.deposit import alleles as variant_deposit
from ella.deposit import custom_annotation, references
from ella.deposit.analysis import deposit_analysis
from ella.deposit.analysis import summary_line as analysis_summary
from ella.deposit.analysis_config import (NAME_PATTERN, VCF_SUFFIX, AnalysisConfigError,
                                          resolve_analysis_config)
from ella.deposit.variants import DepositError
from ella.text import file_problem
from ella.vcf import VcfError
from ella.deposit.genepanel import (GenepanelError, deposit_genepanel, folder_files,
                                    read_panel_files, split_folder_name, summary_line)
from ella.deposit.usergroup_genepanel import (UsergroupGenepanelError,
                                              append_genepanel_to_usergroup)

# Errors of the importers that are the operator's input problem: one line, exit 1.
INPUT_ERRORS = (GenepanelError, references.ReferenceError,
                custom_annotation.CustomAnnotationError, UsergroupGenepanelError,
                AnalysisConfigError, DepositError, VcfError)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="ella-deposit",
        description="Import data into the ELLA database (DB_URL). Each deposit is one "
                    "transaction: on any error nothing of it is written (`alleles` and "
                    "`annotation` deposit each VCF on its own: files before a failing one "
                    "stay imported).")
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

    p = sub.add_parser(
        "analysis", help="import one analysis (folder, .analysis file or VCF)",
        description="Import one analysis: a folder (with one .analysis file, or VCF[+PED] "
                    "files and a name like <analysis>.<panel>_<version>), a .analysis file, or "
                    "a VCF named <analysis>.<panel>_<version>.vcf[.gz]. report.txt and "
                    "warnings.txt in the folder are attached. One transaction: on any error "
                    "nothing is written.")
    p.add_argument("path", metavar="PATH", help="analysis folder, .analysis file or VCF")

    for name, text in (("alleles", "import variants with annotation and open variant "
                                   "workflows, without an analysis"),
                       ("annotation", "import or refresh the annotation of the variants of a "
                                      "VCF (no workflows, no panel check)")):
        panel = (" The gene panel comes from the options or from the first file's name "
                 "(<name>.<panel>_<version>.vcf).") if name == "alleles" else ""
        p = sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + "." +
                           panel + " Every file is one transaction.")
        p.add_argument("vcfs", metavar="VCF", nargs="+")
        if name == "alleles":
            p.add_argument("--genepanel_name", "--genepanel-name", dest="genepanel_name")
            p.add_argument("--genepanel_version", "--genepanel-version",
                           dest="genepanel_version")

    p = sub.add_parser(
        "references", help="create or update references from a JSON-lines file",
        description="Deposit literature references: one JSON object per line with the keys "
                    "pubmed_id (integer, required), authors, title, journal, abstract, year "
                    "(strings) and published (true/false), as written by `references fetch`. "
                    "A reference whose pubmed_id exists gets every given key overwritten; "
                    "others are created. One transaction: a bad line writes nothing.")
    p.add_argument("file", metavar="FILE", help="JSON-lines file")

    p = sub.add_parser(
        "custom_annotation", aliases=["custom-annotation"],
        help="add custom annotation from a JSON-lines file",
        description="Deposit custom (manual) annotation: one JSON object per line, "
                    '{"allele_id": N, "user_id": N or null, "annotations": {"external": {...}, '
                    '"prediction": {...}, "references": [...]}}. Keys and values of external '
                    "and prediction must be those of ELLA's custom annotation option lists. "
                    "Each line supersedes the allele's current custom annotation. One "
                    "transaction: a bad line writes nothing.")
    p.add_argument("file", metavar="FILE", help="JSON-lines file")

    p = sub.add_parser(
        "append_genepanel_to_usergroup", help="give a user group access to a gene panel",
        description="Add gene panel NAME VERSION to user group GROUP's panels.")
    p.add_argument("genepanel_name", metavar="NAME")
    p.add_argument("genepanel_version", metavar="VERSION")
    p.add_argument("usergroup", metavar="GROUP")

    p = sub.add_parser(
        "exists", help="print OK when every path exists (for pipelines; no database)",
        description="Print OK when every PATH exists; otherwise a usage error naming the first "
                    "missing one (exit 2). Needs no database and writes no audit row.")
    p.add_argument("paths", metavar="PATH", nargs="+")
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
    if args.command == "exists":
        missing = next((p for p in args.paths if not os.path.exists(p)), None)
        if missing is not None:
            parser.error(f"exists: PATH {missing!r} {file_problem(missing)}")
        return run_main(lambda: print("OK"))  # (a closed stdout is one line there)
    if getattr(args, "file", None) is not None:
        require_input_file(parser, args.command, args.file)
    _check_paths_exist(parser, args)
    return run_main(lambda: _run(args, argv))


def _check_paths_exist(parser, args):
    """A missing input path is a usage error (exit 2), as for every other command."""
    if args.command == "analysis":
        paths = [("PATH", args.path)]
    elif args.command in ("alleles", "annotation"):
        paths = [("VCF", v) for v in args.vcfs]
    elif args.command == "genepanel":
        paths = [(f"--{n}", getattr(args, n)) for n in ("folder", "transcripts_path",
                                                        "phenotypes_path")]
    else:
        paths = []
    for label, path in paths:
        if path is not None and not os.path.exists(path):
            parser.error(f"{args.command}: {label} {path!r} {file_problem(path)}")
        # A folder where a file is read is a usage error too, as for `references` and the
        # other FILE arguments (it was exit 1, "cannot read: Is a directory"; `alleles DIR`
        # asked for the panel options first). Pipes (`<(zcat ...)`) stay welcome.
        if path is not None and label not in ("PATH", "--folder") and os.path.isdir(path):
            parser.error(f"{args.command}: {label} {path!r} is a folder, not a file")


def _progress(text):
    if sys.stderr.isatty():
        print(f"... {text}", file=sys.stderr, flush=True)


def _run(args, argv):
    config, db_url = settings_with_database()
    command = COMMAND_NAMES.get(args.command, args.command)
    args.app_config = config
    audit = Audit(db_url, "deposit", command, argv)
    return audit.run(lambda: COMMANDS[command](db_url, args, audit), INPUT_ERRORS)


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
        require_ready_database(conn, args.app_config, shadow_columns=False)
        result = deposit_genepanel(conn, name, version, panel, replace=args.replace,
                                   progress=lambda step: _progress(f"writing {step}"))
    audit.echo(summary_line(result))
    if result.get("transcripts_differing"):
        audit.echo(f"Note: {result['transcripts_differing']} reused transcripts differ from "
                   "the file; the database rows were kept (use --replace to update them)")
    if result.get("phenotypes_differing"):
        audit.echo(f"Note: {result['phenotypes_differing']} reused phenotypes have another MIM "
                   "number than the file's; the database's were kept (use --replace to "
                   "update them)")
    return 0


def _stats_progress(stats):
    _progress(f"{stats['records']} records read")


def _analysis(db_url, args, audit):
    analysis = resolve_analysis_config(args.path)
    with connect(db_url, application_name="ella-deposit") as conn:
        require_ready_database(conn, args.app_config, shadow_columns=False)
        with conn.transaction():
            stats = deposit_analysis(conn, args.app_config, analysis, progress=_stats_progress)
    audit.echo(analysis_summary(stats))
    audit.echo(f"Analysis {stats['name']} deposited successfully")
    return 0


def _panel_from_name(path):
    stem = VCF_SUFFIX.sub("", Path(path).name)
    match = NAME_PATTERN.match(stem)
    if not match:
        raise CommandError(f"{path}: give --genepanel_name and --genepanel_version (the file "
                           "name does not say <name>.<panel>_<version>.vcf)")
    return match.group("genepanel_name"), match.group("genepanel_version")


def _variants(db_url, args, audit, annotation_only):
    panel = None
    if not annotation_only:
        if bool(args.genepanel_name) != bool(args.genepanel_version):
            raise CommandError("give both --genepanel_name and --genepanel_version, or neither")
        # As ELLA: the panel of the first file name is used for all files.
        panel = (args.genepanel_name, args.genepanel_version) if args.genepanel_name \
            else _panel_from_name(args.vcfs[0])
    for vcf in args.vcfs:
        problem = input_file_problem(vcf)
        if problem:
            raise CommandError(f"{vcf}: {problem}")
    with connect(db_url, application_name="ella-deposit") as conn:
        require_ready_database(conn, args.app_config, shadow_columns=False)
        for index, vcf in enumerate(args.vcfs):
            try:
                with conn.transaction():
                    stats = variant_deposit.deposit_alleles(
                        conn, args.app_config, vcf, panel, annotation_only=annotation_only,
                        progress=_stats_progress)
            except INPUT_ERRORS as exc:
                # Named by its file (the panel check's words name none), and with several,
                # each one transaction: said that the files before it stay imported.
                message = str(exc) if vcf in str(exc) else f"{vcf}: {exc}"
                if index:
                    message += (f" (nothing of it was written; the {index} file(s) before it "
                                "are imported)")
                raise CommandError(message) from exc
            except BaseException:
                if index:  # a database error, an interruption: said before its own line
                    audit.note(f"note: {vcf} was not imported; the {index} file(s) before it "
                               "were and stay imported")
                raise
            audit.echo(variant_deposit.summary_line(stats))
    audit.echo("Annotation imported successfully" if annotation_only
               else f"Deposited {len(args.vcfs)} files.")
    return 0


def _references(db_url, args, audit):
    _progress(f"reading {args.file}")
    items = references.read_references(args.file)
    with connect(db_url, application_name="ella-deposit") as conn:
        require_ready_database(conn, args.app_config, shadow_columns=False)
        result = references.deposit_references(conn, items, source=args.file)
    audit.echo(references.summary_line(result))
    return 0


def _custom_annotation(db_url, args, audit):
    _progress(f"reading {args.file}")
    items = custom_annotation.read_custom_annotations(args.file)
    with connect(db_url, application_name="ella-deposit") as conn:
        require_ready_database(conn, args.app_config, shadow_columns=False)
        result = custom_annotation.deposit_custom_annotations(conn, items, source=args.file)
    audit.echo(custom_annotation.summary_line(result))
    return 0


def _append_genepanel_to_usergroup(db_url, args, audit):
    name, version, group = args.genepanel_name, args.genepanel_version, args.usergroup
    with connect(db_url, application_name="ella-deposit") as conn:
        require_ready_database(conn, args.app_config, shadow_columns=False)
        added = append_genepanel_to_usergroup(conn, name, version, group)
    if added:
        audit.echo(f"Appended genepanel ({name},{version}) to user group {group}")
    else:
        audit.echo(f"Genepanel ({name},{version}) already exists in user group {group}")
    return 0


COMMANDS = {
    "analysis": _analysis,
    "alleles": lambda db_url, args, audit: _variants(db_url, args, audit, False),
    "annotation": lambda db_url, args, audit: _variants(db_url, args, audit, True),
    "genepanel": _genepanel,
    "references": _references,
    "custom_annotation": _custom_annotation,
    "append_genepanel_to_usergroup": _append_genepanel_to_usergroup,
}
COMMAND_NAMES = {"custom-annotation": "custom_annotation"}


if __name__ == "__main__":
    sys.exit(main())
