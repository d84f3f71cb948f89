"""`bin/ella-igv-download` when something goes wrong: URLs and servers http.client refuses,
a rename into place that fails or is interrupted, a full disk, a FASTA that is not laid out
as its index says. Sources are served by a local HTTP server (no network)."""

import gzip
import http.server
import os
import socketserver
import subprocess
import threading
from contextlib import contextmanager
from functools import partial

import pytest

from ella import igvdata
from helpers import run_cli

FASTA = ">1 dna:chromosome\nACGTACGTNN\nACGT\n>X\nTTTT\n"
FAI = "1\t14\t18\t10\t11\nX\t4\t37\t4\t5\n"
CYTOBAND = "chr1\t0\t2300000\tp36.33\tgneg\nchrX\t0\t4300000\tp22.33\tgneg\n"
FASTA_OUT, FAI_OUT, CYTO_OUT = igvdata.FASTA, igvdata.FAI, igvdata.CYTOBAND


def _serve(root):
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


@contextmanager
def serving_sources(root):
    """The three sources served from the new folder `root`: (base URL, publish(fasta=,
    fai=, cytoband=)) that replaces them."""
    root.mkdir()

    def publish(fasta=FASTA, fai=FAI, cytoband=CYTOBAND):
        (root / "ref.fasta.gz").write_bytes(gzip.compress(fasta.encode()))
        (root / "ref.fasta.fai").write_text(fai)
        (root / "cytoBandIdeo.txt.gz").write_bytes(gzip.compress(cytoband.encode()))

    publish()
    httpd, base = _serve(root)
    try:
        yield base, publish
    finally:
        httpd.shutdown()
        httpd.server_close()


def failing_index_rename(monkeypatch):
    """Renaming the index into place fails (EIO), the other renames work; returns the real
    os.replace."""
    real_replace = os.replace

    def replace(source, destination):
        if str(destination).endswith(FAI_OUT):
            raise OSError(5, "Input/output error")
        return real_replace(source, destination)

    monkeypatch.setattr(igvdata.os, "replace", replace)
    return real_replace


@pytest.fixture
def www(tmp_path):
    with serving_sources(tmp_path / "www") as served:
        yield served


def _urls(base):
    return {FASTA_OUT: f"{base}/ref.fasta.gz", FAI_OUT: f"{base}/ref.fasta.fai",
            CYTO_OUT: f"{base}/cytoBandIdeo.txt.gz"}


def _cli(target, base, **over):
    urls = {**_urls(base), **over}
    return run_cli("ella-igv-download", str(target), "--fasta-url", urls[FASTA_OUT],
                   "--fai-url", urls[FAI_OUT], "--cytoband-url", urls[CYTO_OUT])


def _old_files(target):
    target.mkdir(exist_ok=True)
    old = {FASTA_OUT: ">old\nAAAA\n", FAI_OUT: "old\t4\t5\t4\t5\n",
           CYTO_OUT: "1\t0\t1\told\tgneg\n"}
    for name, text in old.items():
        (target / name).write_text(text)
    return old


# --- URLs and servers http.client refuses ------------------------------------------------

@pytest.mark.parametrize("url", ["http://127.0.0.1:abc/ref.fasta.gz",
                                 "http://127.0.0.1:1/my reference.fasta.gz"],
                         ids=["nonnumeric-port", "space-in-path"])
def test_a_malformed_url_is_one_line_not_a_traceback(tmp_path, url):
    """http.client.InvalidURL is an HTTPException, neither ValueError nor OSError: a
    traceback."""
    result = _cli(tmp_path / "igv", "http://127.0.0.1:1", **{FASTA_OUT: url})
    assert result.returncode == 1
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.splitlines()[-1].startswith(f"error: {url}: "), result.stderr


class _NotHttp(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.recv(65536)
        self.request.sendall(b"SSH-2.0-OpenSSH_8.9p1 Ubuntu-3\r\n")


def test_a_server_that_does_not_speak_http_is_one_line(tmp_path):
    """urlopen raises http.client.BadStatusLine (an HTTPException) for a status line that
    is not HTTP (a URL naming the wrong port, e.g. an SSH server): a traceback. Its line
    end is not carried into the one-line message."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _NotHttp)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        result = _cli(tmp_path / "igv", base)
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 1
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.splitlines()[-1].startswith(f"error: {base}/ref.fasta.gz: ")
    assert list((tmp_path / "igv").iterdir()) == []


# --- The three files are replaced together or not at all -------------------------------

def test_a_rename_that_fails_leaves_all_served_files_as_they_were(www, tmp_path):
    """cytoBand.txt is a folder: its rename failed after the FASTA and index were renamed
    into place (a failed run changed the served files). It is refused before any rename."""
    base, _ = www
    target = tmp_path / "igv-data"
    target.mkdir()
    old = _old_files(target)
    (target / CYTO_OUT).unlink()
    (target / CYTO_OUT).mkdir()
    (target / CYTO_OUT / "x").write_text("")
    result = _cli(target, base)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert (target / FASTA_OUT).read_text() == old[FASTA_OUT]
    assert (target / FAI_OUT).read_text() == old[FAI_OUT]


@pytest.mark.parametrize("exc", [KeyboardInterrupt, BrokenPipeError])
def test_output_between_the_renames_cannot_split_the_pair(www, tmp_path, exc):
    """A line was printed after each rename: a Ctrl-C arriving while it printed, or a
    stderr pipe closed by its reader (`... 2>&1 | head`), stopped the run between the
    FASTA's rename and its index's: a new FASTA beside the old index."""
    base, _ = www
    target = tmp_path / "igv-data"
    old = _old_files(target)

    def echo(text):
        if text.endswith(" bytes"):
            raise exc()

    with pytest.raises(exc):
        igvdata.download(target, _urls(base), echo=echo)
    texts = {name: (target / name).read_text() for name in old}
    new = {FASTA_OUT: FASTA, FAI_OUT: FAI, CYTO_OUT: CYTOBAND.replace("chr", "")}
    assert texts in (old, new), texts


# --- A full disk ------------------------------------------------------------------------

@pytest.fixture
def small_fs(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    target = tmp_path / "small"
    target.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(target)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    yield target
    subprocess.run(["umount", str(target)], capture_output=True)


def test_a_failed_chr_strip_leaves_no_part_file(www, small_fs):
    """The copy without `chr` was removed only when it was complete: when writing it failed
    (disk full after the 3 GB FASTA; or Ctrl-C/SIGTERM while it ran) the hidden file
    stayed behind."""
    base, publish = www
    line = "chr1\t0\t2300000\tp36.33\tgneg\n"
    publish(cytoband=line * 5000)  # 140 kB raw; its stripped copy does not fit beside it
    result = _cli(small_fs, base)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "No space left on device" in result.stderr
    assert sorted(p.name for p in small_fs.iterdir()) == [], \
        sorted(p.name for p in small_fs.iterdir())


def test_a_full_disk_is_reported_as_such_not_as_a_network_break(www, small_fs):
    """A write error while downloading was told as 'download broken off: OSError(28,
    ...)', a network failure."""
    base, publish = www
    publish(fasta=">1\n" + ("ACGTACGTAC" * 6 + "\n") * 8000)  # ~490 kB > 256 kB
    result = _cli(small_fs, base)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    last = result.stderr.splitlines()[-1]
    assert "broken off" not in last and "cannot write: No space left on device" in last, last


# --- A FASTA that is not laid out as its index says ------------------------------------

@pytest.mark.parametrize("fasta, fai", [
    # The index of a FASTA with 20-base lines beside one with 10-base lines: IGV reads
    # 1:11-20 as "\nACGTACGTA".
    (">1\nACGTACGTAC\nACGTACGTAC\n", "1\t20\t3\t20\t21\n"),
    # The index of a FASTA with short headers beside one with long headers (the Broad's
    # are '>1 dna:chromosome chromosome:GRCh37:1:...'): offsets point into the header.
    (">1 dna:chromosome\nACGTACGTAC\n", "1\t10\t3\t10\t11\n"),
    # Sequence names that are not those of the FASTA (hg19 'chr' names vs b37's).
    (">chr1\nACGTACGTAC\n>chrX\nTTTT\n", "1\t10\t6\t10\t11\nX\t4\t23\t4\t5\n"),
], ids=["line-width", "offset-inside-header", "names"])
def test_a_fasta_that_does_not_match_its_index_is_refused(www, tmp_path, fasta, fai):
    """Only the FASTA's size was checked against its index: one of other line widths,
    header lengths or names was put in place, and IGV showed wrong bases."""
    base, publish = www
    publish(fasta=fasta, fai=fai)
    target = tmp_path / "igv-data"
    result = _cli(target, base)
    assert result.returncode == 1, "a mismatching FASTA/index pair was put in place"
    assert not (target / FASTA_OUT).exists()


def test_a_rename_failing_midway_puts_the_served_files_back(www, tmp_path, monkeypatch):
    """The index's rename fails after the FASTA's: the old FASTA is back (from its hidden
    link), and no hidden file is left."""
    base, _ = www
    target = tmp_path / "igv-data"
    old = _old_files(target)
    (target / CYTO_OUT).unlink()  # a first download: no old cytobands to put back
    real_replace = failing_index_rename(monkeypatch)
    with pytest.raises(igvdata.IgvDataError, match=f"{FAI_OUT}: cannot write: Input/output "
                                                   "error; the served files are as they were"):
        igvdata.download(target, _urls(base), echo=lambda text: None)
    assert sorted(p.name for p in target.iterdir()) == sorted([FASTA_OUT, FAI_OUT])
    assert (target / FASTA_OUT).read_text() == old[FASTA_OUT]
    assert (target / FAI_OUT).read_text() == old[FAI_OUT]
    monkeypatch.setattr(igvdata.os, "replace", real_replace)
    igvdata.download(target, _urls(base), echo=lambda text: None)  # again: replaced
    assert sorted(p.name for p in target.iterdir()) == sorted([FASTA_OUT, FAI_OUT, CYTO_OUT])
    assert (target / FASTA_OUT).read_text() == FASTA


@pytest.mark.parametrize("fasta, fai", [
    (FASTA, FAI),
    (">1\r\nACGT\r\nAC\r\n", "1\t6\t4\t4\t6\n"),  # CRLF lines
    (">1 long description here\nACGT\nACGT\n>2\nA", "1\t8\t25\t4\t5\n2\t1\t38\t1\t2\n"),
    (">e\n>1\nACGT\n", "e\t0\t3\t0\t0\n1\t4\t6\t4\t5\n"),  # an empty sequence
], ids=["two-sequences", "crlf", "no-last-line-end", "empty-sequence"])
def test_a_fasta_laid_out_as_its_index_says_is_accepted(www, tmp_path, fasta, fai):
    base, publish = www
    publish(fasta=fasta, fai=fai)
    target = tmp_path / "igv-data"
    igvdata.download(target, _urls(base), echo=lambda text: None)
    assert (target / FASTA_OUT).read_bytes() == fasta.encode()
