"""`ella-igv-download TARGET_DIR`: the IGV reference files for IGV_DATA (ELLA's
`ella-cli igv-download`). Needs internet and no database: in an air-gapped site run it on a
connected machine and carry the folder in."""

import argparse
import sys

from ella.cli.common import CommandError, run_main, sigterm_unwinds
from ella.igvdata import CYTOBAND, DEFAULT_URLS, FAI, FASTA, IgvDataError, download


def build_parser():
    parser = argparse.ArgumentParser(
        prog="ella-igv-download",
        description=f"Download {FASTA} (gunzipped), {FAI} and {CYTOBAND} (UCSC's hg19 "
                    "cytobands without 'chr') into TARGET_DIR, the folder IGV_DATA names. "
                    "Each file appears only when complete and checked; re-running replaces "
                    "them. Needs internet, no database.")
    parser.add_argument("target_dir", metavar="TARGET_DIR")
    for option, name in (("--fasta-url", FASTA), ("--fai-url", FAI),
                         ("--cytoband-url", CYTOBAND)):
        parser.add_argument(option, dest=name, metavar="URL", default=DEFAULT_URLS[name],
                            help=f"source of {name} (default {DEFAULT_URLS[name]}; "
                                 "gunzipped when it ends in .gz)")
    return parser


class _Report:
    """Lines on stderr; on a terminal also a running count of MiB, ended before each line."""

    def __init__(self):
        self.tty = sys.stderr.isatty()
        self.open_line = False

    def line(self, text):
        if self.open_line:
            print(file=sys.stderr)
            self.open_line = False
        print(text, file=sys.stderr, flush=True)

    def progress(self, name, size):
        if self.tty:
            print(f"\r... {name}: {size / 2**20:,.0f} MiB", end="", file=sys.stderr, flush=True)
            self.open_line = True


def main(argv=None):
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    urls = {name: getattr(args, name) for name in (FASTA, FAI, CYTOBAND)}

    def run():
        try:
            report = _Report()
            with sigterm_unwinds():  # a stopped download leaves no hidden part files
                download(args.target_dir, urls, echo=report.line, progress=report.progress)
        except IgvDataError as exc:
            raise CommandError(str(exc)) from None
        print("All done!")
        return 0
    return run_main(run)


if __name__ == "__main__":
    sys.exit(main())
