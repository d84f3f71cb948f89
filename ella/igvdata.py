"""The IGV reference files the API serves from IGV_DATA (`GET igv/<file>`, config
`igv.valid_resource_files`): the GRCh37 decoy FASTA with its index and the cytoband table,
downloaded as ELLA's `igv-download` does (config-cli-ops.md 3.7).

Each file is streamed (gunzipped on the fly when the URL ends in `.gz`) into a hidden
temporary file beside its target (a new one, never a name that exists: a link planted there
is not followed) and checked; the three are renamed into place only when all are complete
and agree (the FASTA as long as its index says): an interrupted or failed download never
leaves a partial file under a served name, nor a new FASTA beside an old index, and
re-running replaces the files.
"""

import gzip
import http.client
import os
import urllib.error
import urllib.request
import uuid
import zlib
from pathlib import Path

FASTA = "human_g1k_v37_decoy.fasta"
FAI = "human_g1k_v37_decoy.fasta.fai"
CYTOBAND = "cytoBand.txt"

# ELLA's sources (the Broad's IGV genome bucket, UCSC's hg19 cytobands), over HTTPS: ELLA's
# script fetches them over plain HTTP.
_IGV_BUCKET = "https://s3.amazonaws.com/igv.broadinstitute.org/genomes/seq/1kg_v37/"
DEFAULT_URLS = {
    FASTA: _IGV_BUCKET + "human_g1k_v37_decoy.fasta.gz",
    FAI: _IGV_BUCKET + "human_g1k_v37_decoy.fasta.fai",
    CYTOBAND: "https://hgdownload.soe.ucsc.edu/goldenPath/hg19/database/cytoBandIdeo.txt.gz",
}
CHUNK = 1 << 20
TIMEOUT = 60.0  # seconds without data before a download is given up


class IgvDataError(Exception):
    """A download or a downloaded file that cannot be used; the message names the URL."""


def _check_fasta(path, name):
    with open(path, "rb") as handle:
        if handle.read(1) != b">":
            raise IgvDataError(f"{name} does not start with a '>' header line: not FASTA")


def _table_lines(path, name):
    """The lines of a tab-separated table; one without its line end was cut short (a
    download without a length, a copy broken off): its fields may still count right."""
    with open(path, encoding="ascii", errors="replace", newline="\n") as handle:
        lines = list(enumerate(handle, 1))
    if not lines:
        raise IgvDataError(f"{name}: the file is empty")
    if not lines[-1][1].endswith("\n"):
        raise IgvDataError(f"{name} line {lines[-1][0]}: the file ends inside this line (cut "
                           "short)")
    return [(number, line.rstrip("\n").split("\t")) for number, line in lines]


def _check_fai(path, name):
    for number, fields in _table_lines(path, name):
        if len(fields) != 5 or not all(f.isdigit() for f in fields[1:]):
            raise IgvDataError(f"{name} line {number}: not a FASTA index line "
                               "(name and four numbers, tab-separated)")


def _check_cytoband(path, name):
    for number, fields in _table_lines(path, name):
        if len(fields) != 5 or not (fields[1].isdigit() and fields[2].isdigit()):
            raise IgvDataError(f"{name} line {number}: not a cytoband line "
                               "(chromosome, start, end, band, stain)")


def fasta_length_from_index(fai_path):
    """The bytes a FASTA must have for its index: the end of its last sequence's bases
    (offset, then full lines of `linewidth` bytes and the rest of the last line). The last
    line end is not counted: a file may end without it (samtools indexes it alike)."""
    end = 0
    for _, fields in _table_lines(fai_path, str(fai_path)):
        length, offset, line_bases, line_width = (int(f) for f in fields[1:])
        full, rest = divmod(length, line_bases) if line_bases else (0, 0)
        bases_end = offset + full * line_width + rest
        if full and not rest:
            bases_end -= line_width - line_bases  # the last full line's end is no base
        end = max(end, bases_end)
    return end


def _new_file(directory, name):
    """A new hidden file beside `name` for writing (O_EXCL: never one that exists, nor a
    link planted under its name), permissions as the umask gives a file."""
    path = directory / f".{name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part"
    return path, os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb")


def _strip_chr(source, directory, name):
    """ELLA's `sed 's/chr//g'`: the API's chromosomes are named 1, 2, ..., X, Y. Returns the
    new file's path."""
    target, out = _new_file(directory, name)
    with open(source, "rb") as src, out:
        for line in src:
            out.write(line.replace(b"chr", b""))
    return target


def _stream(url, out, progress):
    """Download `url` (gunzipped when it ends in .gz) into the open file `out`."""
    try:
        response = urllib.request.urlopen(url, timeout=TIMEOUT)
    except urllib.error.HTTPError as exc:
        raise IgvDataError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise IgvDataError(f"{url}: cannot download: {reason}") from None
    written = 0
    with response, out:
        source = gzip.GzipFile(fileobj=response) if url.endswith(".gz") else response
        try:
            while True:
                chunk = source.read(CHUNK)
                if not chunk:
                    break
                out.write(chunk)
                written += len(chunk)
                progress(written)
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise IgvDataError(f"{url}: not complete gzip data: {exc}") from None
        except (OSError, urllib.error.URLError, http.client.HTTPException) as exc:
            # (A chunked answer cut short raises IncompleteRead.)
            raise IgvDataError(f"{url}: download broken off: {exc!r}") from None
        # A connection closed early ends the body as if it were complete (http.client raises
        # nothing): only the bytes the server announced tell (a cut between the members
        # of a bgzipped file, or at a line end of a plain one, reads as a whole file).
        missing = getattr(response, "length", None)
        if missing:
            raise IgvDataError(f"{url}: download broken off: {missing:,} bytes of its "
                               "Content-Length did not arrive")
    return written


CHECKS = {FASTA: _check_fasta, FAI: _check_fai, CYTOBAND: _check_cytoband}


def download(target_dir, urls=None, echo=print, progress=lambda name, size: None):
    """Download the three files into `target_dir` (created if missing); return their paths."""
    urls = {**DEFAULT_URLS, **(urls or {})}
    target_dir = Path(target_dir)
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise IgvDataError(f"{target_dir}: cannot create the folder: {exc.strerror}") from None
    parts, leftovers = {}, []
    try:
        for name in (FASTA, FAI, CYTOBAND):
            url = urls[name]
            echo(f"Downloading {url}")
            try:
                part, out = _new_file(target_dir, name)
                leftovers.append(part)
                _stream(url, out, lambda n, name=name: progress(name, n))
                if name == CYTOBAND:
                    part = _strip_chr(part, target_dir, name)
                    leftovers.append(part)
            except OSError as exc:
                raise IgvDataError(f"{target_dir / name}: cannot write: "
                                   f"{exc.strerror or exc}") from None
            CHECKS[name](part, f"{url}: {name}")
            parts[name] = part
        needed = fasta_length_from_index(parts[FAI])
        if parts[FASTA].stat().st_size < needed:
            raise IgvDataError(f"{urls[FASTA]}: {FASTA} has {parts[FASTA].stat().st_size:,} "
                               f"bytes, its index ({urls[FAI]}) needs {needed:,}: cut short")
        done = []
        for name in (FASTA, FAI, CYTOBAND):
            final = target_dir / name
            size = parts[name].stat().st_size  # as stored (the cytobands without "chr")
            try:
                os.replace(parts[name], final)
            except OSError as exc:
                raise IgvDataError(f"{final}: cannot write: {exc.strerror or exc}") from None
            echo(f"{final}: {size:,} bytes")
            done.append(final)
        return done
    finally:
        for leftover in leftovers:
            try:
                leftover.unlink()
            except OSError:
                pass  # renamed into place, or a file system that refuses (read-only) anyway
