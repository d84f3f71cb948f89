"""`bin/ella-igv-download` (config-cli-ops.md 3.7 `igv-download`) against a local HTTP server:
the three files IGV_DATA serves appear complete, gunzipped and checked, or not at all."""

import gzip
import http.server
import os
import signal
import socket
import subprocess
import threading
import time
from functools import partial

import pytest

from helpers import ROOT, run_cli

FASTA = ">1 dna:chromosome\nACGTACGTNN\nACGT\n>X\nTTTT\n"
FAI = "1\t14\t18\t10\t11\nX\t4\t37\t4\t5\n"
CYTOBAND = "chr1\t0\t2300000\tp36.33\tgneg\nchrX\t0\t4300000\tp22.33\tgneg\n"
OUTPUTS = ["cytoBand.txt", "human_g1k_v37_decoy.fasta", "human_g1k_v37_decoy.fasta.fai"]


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    # The FASTA as two gzip members, as a bgzipped file is.
    half = len(FASTA) // 2
    (root / "ref.fasta.gz").write_bytes(gzip.compress(FASTA[:half].encode())
                                        + gzip.compress(FASTA[half:].encode()))
    (root / "ref.fasta.fai").write_text(FAI)
    (root / "cytoBandIdeo.txt.gz").write_bytes(gzip.compress(CYTOBAND.encode()))
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _run(target, base, fasta="ref.fasta.gz", fai="ref.fasta.fai",
         cytoband="cytoBandIdeo.txt.gz"):
    return run_cli("ella-igv-download", str(target), "--fasta-url", f"{base}/{fasta}",
                   "--fai-url", f"{base}/{fai}", "--cytoband-url", f"{base}/{cytoband}")


def test_downloads_gunzips_and_strips_chr(server, tmp_path):
    root, base = server
    target = tmp_path / "igv-data"  # created when missing
    result = _run(target, base)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "All done!\n"
    assert sorted(p.name for p in target.iterdir()) == OUTPUTS  # no temporary files left
    assert (target / "human_g1k_v37_decoy.fasta").read_text() == FASTA
    assert (target / "human_g1k_v37_decoy.fasta.fai").read_text() == FAI
    assert (target / "cytoBand.txt").read_text() == CYTOBAND.replace("chr", "")
    assert f"Downloading {base}/ref.fasta.gz" in result.stderr
    # The sizes reported are those of the files as stored.
    for name in OUTPUTS:
        assert f"{target / name}: {(target / name).stat().st_size:,} bytes" in result.stderr

    # Re-running replaces the files.
    (root / "ref.fasta.fai").write_text("1\t14\t18\t10\t11\n")
    assert _run(target, base).returncode == 0
    assert (target / "human_g1k_v37_decoy.fasta.fai").read_text() == "1\t14\t18\t10\t11\n"


FASTA_OUT, FAI_OUT = "human_g1k_v37_decoy.fasta", "human_g1k_v37_decoy.fasta.fai"


@pytest.mark.parametrize("change, message", [
    (lambda root: (root / "ref.fasta.fai").unlink(), "ref.fasta.fai: HTTP 404"),
    (lambda root: (root / "ref.fasta.fai").write_text("1\t14\n"),
     "ref.fasta.fai: human_g1k_v37_decoy.fasta.fai line 1: not a FASTA index line"),
    (lambda root: (root / "cytoBandIdeo.txt.gz").write_bytes(
        gzip.compress(CYTOBAND.encode())[:-12]), "cytoBandIdeo.txt.gz: not complete gzip data"),
    (lambda root: (root / "cytoBandIdeo.txt.gz").write_bytes(
        gzip.compress(b"chr1\t0\tp36\n")), "cytoBand.txt line 1: not a cytoband line"),
    (lambda root: (root / "ref.fasta.gz").write_bytes(gzip.compress(b"<html>")),
     "ref.fasta.gz: human_g1k_v37_decoy.fasta does not start with a '>' header line"),
    # Cut short where no length tells (a copy broken off, an answer without a length): a
    # last line without its end, a FASTA shorter than its index says.
    (lambda root: (root / "ref.fasta.fai").write_text(FAI[:-3]),
     "human_g1k_v37_decoy.fasta.fai line 2: the file ends inside this line (cut short)"),
    (lambda root: (root / "cytoBandIdeo.txt.gz").write_bytes(
        gzip.compress(CYTOBAND[:-4].encode())),
     "cytoBand.txt line 2: the file ends inside this line (cut short)"),
    (lambda root: (root / "ref.fasta.gz").write_bytes(gzip.compress(FASTA[:-4].encode())),
     "human_g1k_v37_decoy.fasta has 38 bytes, its index "),
], ids=["404", "bad-index", "cut-gzip", "bad-cytoband", "not-fasta", "index-cut-mid-line",
        "cytoband-cut-mid-line", "fasta-shorter-than-its-index"])
def test_a_failed_download_leaves_the_served_files_as_they_were(server, tmp_path, change,
                                                                message):
    """None of the three is put in place unless all are complete and agree (a FASTA of this
    run beside the index of the last one was served before), and no temporary file
    remains."""
    root, base = server
    target = tmp_path / "igv-data"
    target.mkdir()
    (target / FAI_OUT).write_text("an earlier run's\n")
    change(root)
    result = _run(target, base)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].startswith("error: ") and message in result.stderr, \
        result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in target.iterdir()) == [FAI_OUT]
    assert (target / FAI_OUT).read_text() == "an earlier run's\n"


def test_a_fasta_without_its_last_line_end_is_whole(server, tmp_path):
    """samtools indexes it alike; it was refused as one byte short of its index."""
    root, base = server
    half = len(FASTA) // 2
    (root / "ref.fasta.gz").write_bytes(gzip.compress(FASTA[:half].encode())
                                        + gzip.compress(FASTA[half:-1].encode()))
    target = tmp_path / "igv-data"
    result = _run(target, base)
    assert result.returncode == 0, result.stderr
    assert (target / FASTA_OUT).read_text() == FASTA[:-1]


def test_a_temporary_name_planted_as_a_link_is_not_followed(server, tmp_path):
    """The temporary files had fixed names, opened plainly: a link planted under one (by
    whoever may write IGV_DATA, while root runs the download) had its target overwritten."""
    root, base = server
    target = tmp_path / "igv-data"
    target.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    for name in OUTPUTS:
        (target / f".{name}.part").symlink_to(victim)
    assert _run(target, base).returncode == 0
    assert victim.read_text() == "precious\n"
    assert (target / FASTA_OUT).read_text() == FASTA


def test_a_read_only_folder_is_one_line(server, tmp_path):
    """The clean-up of a temporary file that could not be made failed too, and its error
    escaped as a traceback."""
    if os.geteuid() != 0:
        pytest.skip("mounting a read-only file system needs root")
    root, base = server
    target = tmp_path / "ro"
    target.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro", "tmpfs", str(target)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        result = _run(target, base)
    finally:
        subprocess.run(["umount", str(target)], capture_output=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"error: {target / FASTA_OUT}: cannot write: Read-only file system")


class _BrokenOff(http.server.BaseHTTPRequestHandler):
    """Announces the whole file, sends its first `cut` bytes, closes the connection."""
    files = {}

    def log_message(self, *args):
        pass

    def do_GET(self):
        body, cut = self.files[self.path]
        self.send_response(200)
        if cut == "chunked":  # one chunk announced, half of it sent
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"%x\r\n" % len(body) + body[:len(body) // 2])
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[:cut])
        self.close_connection = True


@pytest.mark.parametrize("broken", ["fai-at-a-line-end", "fasta-between-gzip-members",
                                    "fai-chunked"])
def test_a_download_the_server_broke_off_is_not_put_in_place(tmp_path, broken):
    """It was taken as complete (exit 0, "All done!"): a FASTA index without chromosome X,
    or a bgzipped FASTA without its second half, served to IGV."""
    half = len(FASTA) // 2
    first, second = gzip.compress(FASTA[:half].encode()), gzip.compress(FASTA[half:].encode())
    cytoband = gzip.compress(CYTOBAND.encode())
    cut_fasta = broken == "fasta-between-gzip-members"
    _BrokenOff.files = {  # path: (body, bytes sent)
        "/ref.fasta.gz": (first + second, len(first) if cut_fasta else len(first + second)),
        "/ref.fasta.fai": (FAI.encode(), len(FAI) if cut_fasta else "chunked"
                           if broken == "fai-chunked" else FAI.index("\n") + 1),
        "/cytoBandIdeo.txt.gz": (cytoband, len(cytoband))}
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _BrokenOff)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        target = tmp_path / "igv-data"
        result = _run(target, f"http://127.0.0.1:{httpd.server_address[1]}")
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert result.returncode == 1, result.stdout + result.stderr
    assert "download broken off" in result.stderr.splitlines()[-1], result.stderr
    assert "Traceback" not in result.stderr
    assert ("IncompleteRead" if broken == "fai-chunked" else "Content-Length did not arrive") \
        in result.stderr
    assert sorted(p.name for p in target.iterdir()) == []


def test_an_unreachable_host_is_one_line(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = _run(tmp_path / "igv", f"http://127.0.0.1:{port}")
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].startswith(
        f"error: http://127.0.0.1:{port}/ref.fasta.gz: cannot download:")
    # Said as `ella-refs fetch` says it: what to do in an air-gapped site.
    assert result.stderr.splitlines()[-1].endswith(
        "; `ella-igv-download` needs internet: run it on a connected machine and carry the "
        "folder in as IGV_DATA (or name copies already carried in with "
        "--fasta-url/--fai-url/--cytoband-url file:///...)")


def test_what_a_killed_run_left_is_removed_and_a_second_run_at_once_refused(server,
                                                                             tmp_path):
    """A run killed outright (SIGKILL, the OOM killer, a reboot) left its hidden part files (a
    3 GB FASTA each) and backup links, which no later run removed. Only a run's own names go,
    and only while no run holds the folder."""
    import fcntl
    root, base = server
    target = tmp_path / "igv-data"
    target.mkdir()
    left = [f".{FASTA_OUT}.4242.0123abcd.part", f".{FASTA_OUT}.fai.17.fedcba98.old",
            ".cytoBand.txt.99.00000000.part"]
    kept = [".notes", f".{FASTA_OUT}.part", f"{FASTA_OUT}.4242.0123abcd.part"]
    for name in left + kept:
        (target / name).write_text("x")
    held = os.open(target, os.O_RDONLY)
    try:
        fcntl.flock(held, fcntl.LOCK_EX)
        result = _run(target, base)
        assert result.returncode == 1
        assert result.stderr.splitlines()[-1] == (
            f"error: {target}: another ella-igv-download is downloading into it; run this "
            "one when it has ended")
        assert sorted(p.name for p in target.iterdir()) == sorted(left + kept)
    finally:
        os.close(held)
    result = _run(target, base)
    assert result.returncode == 0, result.stderr
    assert f"Removed 3 hidden files an interrupted run left in {target}" in result.stderr
    assert sorted(p.name for p in target.iterdir()) == sorted(kept + OUTPUTS)


def test_sigterm_mid_download_leaves_no_part_files(tmp_path):
    """A download stopped by SIGTERM (systemd, `docker stop`, a job scheduler's time
    limit) left its hidden `.part` file of up to 3 GB behind: only Ctrl-C cleaned up."""
    started, release = threading.Event(), threading.Event()

    class Stalling(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(10 ** 9))
            self.end_headers()
            self.wfile.write(b">1\nACGT\n")
            self.wfile.flush()
            started.set()
            release.wait(60)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stalling)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    target = tmp_path / "igv-data"
    try:
        proc = subprocess.Popen(
            [str(ROOT / "bin" / "ella-igv-download"), str(target), "--fasta-url",
             f"{base}/ref.fasta", "--fai-url", f"{base}/ref.fasta.fai", "--cytoband-url",
             f"{base}/cytoBand.txt"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        assert started.wait(60), "the download did not start"
        deadline = time.monotonic() + 30
        while not list(target.glob(".*.part")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(target.glob(".*.part")), "no part file while downloading"
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        release.set()
        httpd.shutdown()
        httpd.server_close()
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert stderr.splitlines()[-1] == "error: terminated (SIGTERM)"
    assert list(target.iterdir()) == []
