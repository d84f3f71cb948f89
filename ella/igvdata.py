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

import fcntl
import gzip
import http.client
import os
import signal
import urllib.error
import urllib.request
import zlib
from pathlib import Path

from ella.hidden_files import hidden_name, hidden_name_pattern, new_hidden_file
from ella.pubmed import could_not_connect

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


def _index_entries(fai_path):
    """(line number, name, length, offset, line bases, line width) of each index line."""
    for number, fields in _table_lines(fai_path, str(fai_path)):
        yield (number, fields[0], *(int(f) for f in fields[1:]))


def _bases_end(length, offset, line_bases, line_width):
    """Where a sequence's last base ends: full lines of `line_width` bytes, then the rest."""
    full, rest = divmod(length, line_bases) if line_bases else (0, 0)
    end = offset + full * line_width + rest
    if full and not rest:
        end -= line_width - line_bases  # the last full line's end is no base
    return end


def fasta_length_from_index(fai_path):
    """The bytes a FASTA must have for its index: the end of its last sequence's bases
    (offset, then full lines of `linewidth` bytes and the rest of the last line). The last
    line end is not counted: a file may end without it (samtools indexes it alike)."""
    return max((_bases_end(*entry[2:]) for entry in _index_entries(fai_path)), default=0)


LINE_ENDS = (b"\n", b"\r\n")
HEADER_WINDOW = 1 << 16  # the longest header line looked for before a sequence's offset


def fasta_index_mismatch(fasta_path, fai_path):
    """Where the FASTA is not laid out as its index says, in words, or None. IGV reads bases
    at the index's offsets without a check: a FASTA of other line widths, header lengths or
    sequence names than its index showed wrong bases silently. Each sequence must follow
    its own `>name` header line, a line end must follow its first line of bases and its last
    base, and the byte the index gives as the last base must be one."""
    with open(fasta_path, "rb") as fasta:
        def read_at(position, size):
            fasta.seek(position)
            return fasta.read(size)

        for number, name, length, offset, line_bases, line_width in _index_entries(fai_path):
            where = f"index line {number} ({name})"
            if line_bases and not 0 < line_width - line_bases <= 2:
                return f"{where}: a line of {line_bases} bases cannot be {line_width} bytes"
            before = read_at(max(offset - HEADER_WINDOW, 0), min(offset, HEADER_WINDOW))
            if not before.endswith(b"\n"):
                return f"{where}: its offset {offset:,} is not at the start of a FASTA line"
            header = before[:-1].rstrip(b"\r").rsplit(b"\n", 1)[-1]
            label = header[1:].split(None, 1)[0] if header[1:].strip() else b""
            if not header.startswith(b">") or label != name.encode("ascii", "replace"):
                return (f"{where}: the FASTA line before its bases is "
                        f"{header[:60].decode('ascii', 'replace')!r}, not '>{name}'")
            if line_bases and length > line_bases and \
                    read_at(offset + line_bases, line_width - line_bases) not in LINE_ENDS:
                return f"{where}: the FASTA's lines are not {line_bases} bases long"
            # (An empty sequence has no last base, and its next byte is the next header.)
            end = _bases_end(length, offset, line_bases, line_width)
            if length and read_at(end - 1, 1) in (b"", b"\n", b"\r", b">"):
                return f"{where}: the FASTA's sequence is shorter than {length:,} bases"
            if length and read_at(end, 1) not in (b"", b"\n", b"\r"):
                return f"{where}: the FASTA's sequence is longer than {length:,} bases"
    return None


# A run holds the folder (flock on the folder itself: no lock file among the served ones):
# a second run into it is refused, and the hidden files of the naming below that no run
# holds are a killed run's (SIGKILL, a reboot: a 3 GB FASTA part each), removed at the start.
_OWN_HIDDEN_FILE = hidden_name_pattern((FASTA, FAI, CYTOBAND), ("part", "old"))


def _hold_folder(target_dir, echo):
    """The folder opened and locked (closing it ends the hold), after removing what a killed
    run left; None where the file system takes no locks (some network file systems): then
    nothing is removed."""
    try:
        handle = os.open(target_dir, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise IgvDataError(f"{target_dir}: cannot open the folder: {exc.strerror or exc}") \
            from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(handle)
        raise IgvDataError(f"{target_dir}: another ella-igv-download is downloading into it; "
                           "run this one when it has ended") from None
    except OSError:
        os.close(handle)
        return None
    try:
        left = [entry for entry in os.scandir(target_dir)
                if _OWN_HIDDEN_FILE.fullmatch(entry.name)
                and entry.is_file(follow_symlinks=False)]
        for entry in left:
            os.unlink(entry.path)
    except OSError as exc:
        os.close(handle)
        raise IgvDataError(f"{target_dir}: cannot remove what an interrupted run left: "
                           f"{exc.strerror or exc}") from None
    if left:
        echo(f"Removed {len(left)} hidden files an interrupted run left in {target_dir}")
    return handle


def _new_file(directory, name, leftovers):
    """A new hidden file beside `name` for writing (ella.hidden_files); its path joins
    `leftovers` at once: removed by the caller however the run ends."""
    path, out = new_hidden_file(directory, name)
    leftovers.append(path)
    return path, out


def _strip_chr(source, directory, name, leftovers):
    """ELLA's `sed 's/chr//g'`: the API's chromosomes are named 1, 2, ..., X, Y. Returns the
    new file's path."""
    target, out = _new_file(directory, name, leftovers)
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
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
        # (HTTPException: a URL http.client refuses, a server that does not speak HTTP.)
        reason = " ".join(str(getattr(exc, "reason", exc)).split())  # a server's line end
        hint = ""
        if could_not_connect(exc) and not url.startswith("file:"):
            hint = ("; `ella-igv-download` needs internet: run it on a connected machine and "
                    "carry the folder in as IGV_DATA (or name copies already carried in "
                    "with --fasta-url/--fai-url/--cytoband-url file:///...)")
        raise IgvDataError(f"{url}: cannot download: {reason}{hint}") from None
    written = 0
    with response, out:
        source = gzip.GzipFile(fileobj=response) if url.endswith(".gz") else response
        try:
            while True:
                chunk = source.read(CHUNK)
                if not chunk:
                    break
                try:
                    out.write(chunk)
                except OSError as exc:  # the disk, not the connection (no space left)
                    raise _WriteFailed(exc) from None
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


class _WriteFailed(Exception):
    """Writing a downloaded file failed (its OSError as the argument)."""


CHECKS = {FASTA: _check_fasta, FAI: _check_fai, CYTOBAND: _check_cytoband}


def _put_in_place(parts, target_dir, leftovers):
    """Rename the checked files to their served names, all or none: a served file is first
    linked to a hidden backup, restored when a later rename fails; SIGINT and SIGTERM wait
    until the renames are done. Returns the served paths."""
    finals = {name: target_dir / name for name in parts}
    backups = {}
    for name, final in finals.items():
        if final.is_dir() and not final.is_symlink():
            raise IgvDataError(f"{final}: is a folder; the file cannot be put there")
        if os.path.lexists(final):
            backup = hidden_name(target_dir, name, "old")
            try:
                os.link(final, backup, follow_symlinks=False)
            except OSError as exc:
                raise IgvDataError(f"{final}: cannot keep the served file while it is "
                                   f"replaced ({exc.strerror or exc}); remove the old files "
                                   "first") from None
            leftovers.append(backup)
            backups[name] = backup
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        replaced = []
        try:
            for name, final in finals.items():
                os.replace(parts[name], final)
                replaced.append(name)
        except OSError as exc:
            failed = finals[name]
            try:
                for done in replaced:
                    if done in backups:
                        os.replace(backups[done], finals[done])
                    else:
                        finals[done].unlink()
            except OSError as undo:
                raise IgvDataError(
                    f"{failed}: cannot write: {exc.strerror or exc}; putting back "
                    f"{finals[done]} failed too ({undo.strerror or undo}): download "
                    "again") from None
            raise IgvDataError(f"{failed}: cannot write: {exc.strerror or exc}; the "
                               "served files are as they were") from None
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    return list(finals.values())


def download(target_dir, urls=None, echo=print, progress=lambda name, size: None):
    """Download the three files into `target_dir` (created if missing); return their paths."""
    urls = {**DEFAULT_URLS, **(urls or {})}
    target_dir = Path(target_dir)
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise IgvDataError(f"{target_dir}: cannot create the folder: {exc.strerror}") from None
    held = _hold_folder(target_dir, echo)
    parts, leftovers = {}, []
    try:
        for name in (FASTA, FAI, CYTOBAND):
            url = urls[name]
            echo(f"Downloading {url}")
            try:
                part, out = _new_file(target_dir, name, leftovers)
                _stream(url, out, lambda n, name=name: progress(name, n))
                if name == CYTOBAND:
                    part = _strip_chr(part, target_dir, name, leftovers)
            except (OSError, _WriteFailed) as exc:
                exc = exc.args[0] if isinstance(exc, _WriteFailed) else exc
                raise IgvDataError(f"{target_dir / name}: cannot write: "
                                   f"{exc.strerror or exc}") from None
            CHECKS[name](part, f"{url}: {name}")
            parts[name] = part
        needed = fasta_length_from_index(parts[FAI])
        if parts[FASTA].stat().st_size < needed:
            raise IgvDataError(f"{urls[FASTA]}: {FASTA} has {parts[FASTA].stat().st_size:,} "
                               f"bytes, its index ({urls[FAI]}) needs {needed:,}: cut short")
        mismatch = fasta_index_mismatch(parts[FASTA], parts[FAI])
        if mismatch:
            raise IgvDataError(f"{urls[FASTA]}: {FASTA} does not match its index "
                               f"({urls[FAI]}): {mismatch}")
        sizes = {name: part.stat().st_size for name, part in parts.items()}  # as stored
        done = _put_in_place(parts, target_dir, leftovers)
        for final in done:  # only now: a closed stderr or a Ctrl-C here splits nothing
            echo(f"{final}: {sizes[final.name]:,} bytes")
        return done
    finally:
        for leftover in leftovers:
            try:
                leftover.unlink()
            except OSError:
                pass  # renamed into place, or a file system that refuses (read-only) anyway
        if held is not None:
            os.close(held)
