"""The IGV reference files the API serves from IGV_DATA (`GET igv/<file>`, config
`igv.valid_resource_files`): the GRCh37 decoy FASTA with its index and the cytoband table,
downloaded as ELLA's `igv-download` does (config-cli-ops.md 3.7).

Each file is streamed (gunzipped on the fly when the URL ends in `.gz`) into a hidden
temporary file beside its target, checked, and renamed into place only when complete: an
interrupted or failed download never leaves a partial file under a served name, and
re-running replaces the files.
"""

import gzip
import http.client
import os
import urllib.error
import urllib.request
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


def _check_fai(path, name):
    with open(path, encoding="ascii", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 5 or not all(f.isdigit() for f in fields[1:]):
                raise IgvDataError(f"{name} line {number}: not a FASTA index line "
                                   "(name and four numbers, tab-separated)")


def _check_cytoband(path, name):
    with open(path, encoding="ascii", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 5 or not (fields[1].isdigit() and fields[2].isdigit()):
                raise IgvDataError(f"{name} line {number}: not a cytoband line "
                                   "(chromosome, start, end, band, stain)")


def _strip_chr(source, target):
    """ELLA's `sed 's/chr//g'`: the API's chromosomes are named 1, 2, ..., X, Y."""
    with open(source, "rb") as src, open(target, "wb") as out:
        for line in src:
            out.write(line.replace(b"chr", b""))


def _stream(url, target, progress):
    """Download `url` (gunzipped when it ends in .gz) into `target`."""
    try:
        response = urllib.request.urlopen(url, timeout=TIMEOUT)
    except urllib.error.HTTPError as exc:
        raise IgvDataError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise IgvDataError(f"{url}: cannot download: {reason}") from None
    written = 0
    with response, open(target, "wb") as out:
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
    done = []
    for name in (FASTA, FAI, CYTOBAND):
        url = urls[name]
        final = target_dir / name
        part = target_dir / f".{name}.part"
        stripped = target_dir / f".{name}.stripped"
        echo(f"Downloading {url}")
        try:
            size = _stream(url, part, lambda n, name=name: progress(name, n))
            if name == CYTOBAND:
                _strip_chr(part, stripped)
                os.replace(stripped, part)
            CHECKS[name](part, f"{url}: {name}")
            size = part.stat().st_size  # as stored (the cytobands lost their "chr")
            os.replace(part, final)
        except OSError as exc:
            raise IgvDataError(f"{final}: cannot write: {exc.strerror or exc}") from None
        finally:
            for leftover in (part, stripped):
                try:
                    leftover.unlink()
                except FileNotFoundError:
                    pass
        echo(f"{final}: {size:,} bytes")
        done.append(final)
    return done
