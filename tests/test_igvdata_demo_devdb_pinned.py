"""Pinned behaviours of the IGV reference download, the demo data `make run` loads and the
embedded development cluster.

- `ella-igv-download` (config-cli-ops.md 3.7 `igv-download`; api.md's `GET igv/<file>` serves
  what it writes): an empty download, a malformed index or cytoband line, a FASTA broken off
  before its last base or laid out in other lines than its index says are refused naming the
  file; a FASTA ending in an empty sequence is whole; missing parent folders are created; a
  failed or interrupted rename never leaves a FASTA without its index; a silent server is
  given up after the time limit.
- `ella-demo` (README "The two commands", demo/README.md): what the first load reports, a
  demo-named panel with other transcripts is a lab's, and how the refusal lists what the demo
  did not add.
- `ella.devdb` (README "The two commands"): its DB_URL, command line and port range, the
  socket path limit, a cluster in a folder with a space (unix socket only, start and stop
  idempotent), and stop of a folder that is no cluster.
"""

import http.server
import os
import signal
import socket
import threading
import time

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from api_helpers import add_user
from ella import igvdata
from ella.demo import DEMO_PASSWORD, data_not_from_the_demo, load_demo
from ella.devdb import Cluster, DevDbError, main
from ella.passwords import password_expiry
from test_igv_download_faults import (CYTOBAND, FAI, FASTA, failing_index_rename,
                                      serving_sources)

# --- IGV reference data --------------------------------------------------------------------

FASTA_OUT, FAI_OUT, CYTO_OUT = igvdata.FASTA, igvdata.FAI, igvdata.CYTOBAND


@pytest.fixture
def igv_source(tmp_path):
    """A local HTTP server of the three sources: (urls, publish(fasta=, fai=, cytoband=))."""
    with serving_sources(tmp_path / "www") as (base, publish):
        yield {FASTA_OUT: f"{base}/ref.fasta.gz", FAI_OUT: f"{base}/ref.fasta.fai",
               CYTO_OUT: f"{base}/cytoBandIdeo.txt.gz"}, publish


def _download(target, urls):
    return igvdata.download(target, urls, echo=lambda text: None)


@pytest.mark.parametrize("fai, cytoband, message", [
    ("", CYTOBAND, f"ref.fasta.fai: {FAI_OUT}: the file is empty"),
    (FAI, "", f"cytoBandIdeo.txt.gz: {CYTO_OUT}: the file is empty"),
    ("1\tx\t18\t10\t11\n", CYTOBAND, f"{FAI_OUT} line 1: not a FASTA index line"),
    (FAI, "chr1\t0\t2300000\tp36.33\n", f"{CYTO_OUT} line 1: not a cytoband line"),
    (FAI, "chr1\tstart\t2300000\tp36.33\tgneg\n", f"{CYTO_OUT} line 1: not a cytoband line"),
    (FAI, "chr1\t0\tend\tp36.33\tgneg\n", f"{CYTO_OUT} line 1: not a cytoband line"),
], ids=["empty-index", "empty-cytoband", "index-length-no-number", "cytoband-4-columns",
        "cytoband-start-no-number", "cytoband-end-no-number"])
def test_a_malformed_index_or_cytoband_table_is_refused_naming_the_file(
        igv_source, tmp_path, fai, cytoband, message):
    """An empty download, an index line whose length is no number and a cytoband line
    without five columns or numeric start and end are refused in one message naming the
    URL, the file and the line; nothing is put in place (config-cli-ops.md 3.7
    `igv-download`)."""
    urls, publish = igv_source
    publish(fai=fai, cytoband=cytoband)
    target = tmp_path / "igv-data"
    with pytest.raises(igvdata.IgvDataError) as caught:
        _download(target, urls)
    assert message in str(caught.value)
    assert list(target.iterdir()) == []


def test_a_fasta_broken_off_before_its_last_base_is_cut_short(igv_source, tmp_path):
    """The FASTA ends one byte before the end of its last sequence's bases (a file may end
    without its last line end, not without its last base): refused as cut short."""
    urls, publish = igv_source
    publish(fasta=FASTA[:-2])  # chromosome X's last T and the line end gone
    target = tmp_path / "igv-data"
    with pytest.raises(igvdata.IgvDataError, match=f"{FASTA_OUT} has 40 bytes, its index "
                                                   r"\(.*\) needs 41: cut short"):
        _download(target, urls)
    assert list(target.iterdir()) == []


@pytest.mark.parametrize("fasta, fai, message", [
    # X has 3 bases where its index says 4, and the file keeps its final line end: its size
    # is what the index needs, but IGV would read that line end as X:4.
    (">1 dna:chromosome\nACGTACGTNN\nACGT\n>X\nTTT\n", "1\t14\t18\t10\t11\nX\t4\t37\t4\t5\n",
     r"index line 2 \(X\): the FASTA's sequence is shorter than 4 bases"),
    # 1 one base short: its last base would be the line end before the next header.
    (">1\nACGTACGTNN\nACG\n>X\nTTTT\n", "1\t14\t3\t10\t11\nX\t4\t21\t4\t5\n",
     r"index line 1 \(1\): the FASTA's sequence is shorter than 14 bases"),
    # 1 one base long: the byte after its last base is a base, not a line end.
    (">1\nACGTACGTNN\nACGTA\n>X\nTTTT\n", "1\t14\t3\t10\t11\nX\t4\t23\t4\t5\n",
     r"index line 1 \(1\): the FASTA's sequence is longer than 14 bases"),
], ids=["last-short", "first-short", "first-long"])
def test_a_sequence_of_another_length_than_its_index_says_is_refused(igv_source, tmp_path,
                                                                      fasta, fai, message):
    """The index of another build beside the FASTA: a sequence one base shorter or longer
    than its index line is refused naming the line, also the last one, whose missing base
    the file's size alone does not show."""
    urls, publish = igv_source
    publish(fasta=fasta, fai=fai)
    target = tmp_path / "igv-data"
    with pytest.raises(igvdata.IgvDataError, match=message):
        _download(target, urls)
    assert list(target.iterdir()) == []


def test_a_fasta_of_irregular_lines_is_refused_even_when_its_length_fits(igv_source,
                                                                          tmp_path):
    """Lines of 6 and 2 bases where the index says 4 per line: the bases end where the
    index says, but IGV would read them at the wrong offsets."""
    urls, publish = igv_source
    publish(fasta=">1\nACGTAC\nGT\n", fai="1\t8\t3\t4\t5\n")
    target = tmp_path / "igv-data"
    with pytest.raises(igvdata.IgvDataError,
                       match="index line 1 \\(1\\): the FASTA's lines are not 4 bases long"):
        _download(target, urls)
    assert list(target.iterdir()) == []


def test_a_fasta_ending_in_an_empty_sequence_is_accepted(igv_source, tmp_path):
    """An empty last sequence ends where its header line ends: the file is whole."""
    urls, publish = igv_source
    fasta = ">1\nACGT\n>e\n"
    publish(fasta=fasta, fai="1\t4\t3\t4\t5\ne\t0\t11\t0\t0\n")
    target = tmp_path / "igv-data"
    _download(target, urls)
    assert (target / FASTA_OUT).read_text() == fasta


def test_missing_parent_folders_of_the_target_are_created(igv_source, tmp_path):
    """The target folder is created with the folders above it that are missing."""
    urls, _ = igv_source
    target = tmp_path / "data" / "ella" / "igv-data"
    _download(target, urls)
    assert sorted(p.name for p in target.iterdir()) == sorted([FASTA_OUT, FAI_OUT, CYTO_OUT])


def test_a_first_download_whose_rename_fails_midway_leaves_no_file(igv_source, tmp_path,
                                                                   monkeypatch):
    """Nothing was served before: the FASTA already renamed into place is removed again
    when the index's rename fails, so no FASTA is served without its index."""
    urls, _ = igv_source
    target = tmp_path / "igv-data"
    failing_index_rename(monkeypatch)
    with pytest.raises(igvdata.IgvDataError, match="the served files are as they were"):
        _download(target, urls)
    assert list(target.iterdir()) == []


def test_ctrl_c_during_the_renames_waits_until_all_three_are_in_place(igv_source, tmp_path,
                                                                      monkeypatch):
    """SIGINT arriving between the FASTA's rename and its index's is held until the renames
    are done: never a new FASTA beside the index of the last run."""
    urls, _ = igv_source
    target = tmp_path / "igv-data"
    target.mkdir()
    (target / FAI_OUT).write_text("an earlier run's\n")
    real_replace = os.replace

    def replace(source, destination):
        real_replace(source, destination)
        if str(destination).endswith(FASTA_OUT):  # (to this thread: not the server's)
            signal.pthread_kill(threading.get_ident(), signal.SIGINT)

    monkeypatch.setattr(igvdata.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        _download(target, urls)
    assert (target / FASTA_OUT).read_text() == FASTA
    assert (target / FAI_OUT).read_text() == FAI
    assert sorted(p.name for p in target.iterdir()) == sorted([FASTA_OUT, FAI_OUT, CYTO_OUT])


class _Stalling(http.server.BaseHTTPRequestHandler):
    """Announces a body, sends a few bytes of it, then sends nothing until released."""
    release = threading.Event()

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        self.wfile.write(b">1\nACGT\n")
        self.wfile.flush()
        self.release.wait(10)


def test_a_server_that_stops_sending_is_given_up(tmp_path, monkeypatch):
    """A download that receives nothing for the time limit (60 s) ends in an error instead
    of waiting for ever."""
    monkeypatch.setattr(igvdata, "TIMEOUT", 0.5)
    _Stalling.release = threading.Event()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Stalling)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    urls = {FASTA_OUT: f"{base}/ref.fasta", FAI_OUT: f"{base}/ref.fasta.fai",
            CYTO_OUT: f"{base}/cytoBand.txt"}
    started = time.monotonic()
    try:
        with pytest.raises(igvdata.IgvDataError, match="ref.fasta: download broken off: .*"
                                                       "timed out"):
            _download(tmp_path / "igv-data", urls)
    finally:
        _Stalling.release.set()
        httpd.shutdown()
        httpd.server_close()
    assert time.monotonic() - started < 8


# --- The demo data -------------------------------------------------------------------------

def test_the_first_load_says_what_it_added(db_url, ella_config):
    """`make run` tells a newcomer what the demo loaded: each gene panel, user group and
    filter config, each user with the demo password (README "The two commands"), and each
    analysis. The demo password expires as the config's `password_expiry_days` say."""
    lines = []
    days = ella_config["user"]["auth"]["password_expiry_days"]
    expiries = {password_expiry(days)}
    with psycopg.connect(db_url) as conn:
        load_demo(conn, ella_config, echo=lines.append)
        stored = conn.execute('SELECT DISTINCT password_expiry FROM "user"').fetchall()
    expiries.add(password_expiry(days))  # (a run across midnight UTC)
    assert len(stored) == 1 and stored[0][0] in expiries
    assert sorted(line for line in lines if line.startswith("Gene panel ")) == [
        f"Gene panel {panel} deposited" for panel in (
            "Ciliopati v05", "HBOC v01", "HBOC v1.0.0", "HBOCUTV v01", "Mendeliome v01")]
    assert [line for line in lines if line.startswith("User group ")] == [
        f"User group testgroup0{n}: added" for n in (1, 2, 3)]
    assert [line for line in lines if line.startswith("Filter config ")] == [
        f"Filter config {name} added" for name in ("Default", "SingleDefault", "TrioDefault")]
    assert [line for line in lines if line.startswith("User testuser")] == [
        f"User testuser{n} added (demo password {DEMO_PASSWORD})" for n in (1, 2, 3, 4)]
    assert sorted(line.split(" deposited:")[0] for line in lines
                  if line.startswith("Analysis ")) == [
        "Analysis TestAnalysis-001", "Analysis brca_sample_2.HBOC_v01"]


@pytest.mark.parametrize("change", ["fewer transcripts", "more transcripts"])
def test_a_demo_panel_with_other_transcripts_is_not_the_demos(demo_data_db_url, change):
    """A stored HBOC v01 with a transcript fewer, or one more, than the demo's is a lab's
    own panel of that name (README: "a lab's panel with a demo panel's name and version but
    other transcripts is not the demo's")."""
    with psycopg.connect(demo_data_db_url) as conn:
        if change == "fewer transcripts":
            conn.execute("DELETE FROM genepanel_transcript WHERE (genepanel_name, "
                         "genepanel_version, transcript_id) IN (SELECT genepanel_name, "
                         "genepanel_version, transcript_id FROM genepanel_transcript WHERE "
                         "genepanel_name = 'HBOC' AND genepanel_version = 'v01' "
                         "ORDER BY transcript_id LIMIT 1)")
        else:
            conn.execute("INSERT INTO genepanel_transcript (genepanel_name, genepanel_version, "
                         "transcript_id, inheritance) SELECT 'HBOC', 'v01', "
                         "min(transcript_id), 'AD' FROM genepanel_transcript "
                         "WHERE genepanel_name = 'Mendeliome' AND transcript_id NOT IN "
                         "(SELECT transcript_id FROM genepanel_transcript "
                         "WHERE genepanel_name = 'HBOC' AND genepanel_version = 'v01')")
        assert data_not_from_the_demo(conn) == \
            "1 gene panel (HBOC v01 (not the demo's content))"


def test_more_than_three_names_are_shown_as_three_and_dots(demo_data_db_url):
    """The refusal names at most three of each kind, then "..."; four kinds join with
    commas and a last "and"."""
    for n in (1, 2, 3, 4):
        add_user(demo_data_db_url, f"labuser{n}", "labgroup")
    with psycopg.connect(demo_data_db_url) as conn:
        conn.execute("UPDATE analysis SET name = 'Patient-0001' "
                     "WHERE name = 'TestAnalysis-001'")
        conn.execute("INSERT INTO genepanel (name, version, genome_reference, official, "
                     "date_created) VALUES ('LabPanel', 'v1', 'GRCh37', true, now())")
        assert data_not_from_the_demo(conn) == (
            "4 users (labuser1, labuser2, labuser3, ...), 1 analysis (Patient-0001), "
            "1 user group (labgroup) and 1 gene panel (LabPanel v1)")


# --- The embedded cluster ------------------------------------------------------------------


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_url_quotes_the_socket_folder():
    """A space or a `&` in the cluster's folder is quoted in its DB_URL (a `&` would end the
    host parameter)."""
    url = Cluster("/srv/my ella&co/pg", port=5433).url()
    assert url == "postgresql:///ella?host=/srv/my%20ella%26co/pg&port=5433&user=postgres"
    assert conninfo_to_dict(url)["host"] == "/srv/my ella&co/pg"


@pytest.mark.parametrize("args, code, out", [
    (["url", "/srv/pg", "65535"], 0, "port=65535&"),
    (["url", "/srv/pg", "65536"], 1, ""),
    (["url", "/srv/pg", "55444"], 0, "port=55444&"),
    (["url"], 2, ""),
    (["status", "/srv/pg"], 2, ""),
], ids=["highest-port", "port-too-high", "port-argument", "no-folder", "unknown-command"])
def test_the_command_line_arguments(monkeypatch, capsys, args, code, out):
    """`python -m ella.devdb start|stop|url DIR [PORT]`: a port given after the folder wins
    over ELLA_DEVDB_PORT, ports end at 65535, and a missing folder or another command is
    the usage line (exit 2)."""
    monkeypatch.setenv("ELLA_DEVDB_PORT", "5999")
    assert main(args) == code
    captured = capsys.readouterr()
    assert out in captured.out and (out or captured.out == "")
    if code == 2:
        assert captured.err.startswith("usage: python -m ella.devdb start|stop|url DIR")


def test_a_socket_path_one_byte_too_long_is_refused_before_anything_is_made(tmp_path):
    """A socket's path holds at most 107 bytes: a folder whose socket path has 108 is
    refused, and no cluster is made."""
    name = "/.s.PGSQL.5432"
    directory = tmp_path / ("d" * (108 - len(os.fsencode(tmp_path)) - 1 - len(name)))
    assert len(os.fsencode(directory / name[1:])) == 108
    with pytest.raises(DevDbError, match="is too long a path: its socket's \\(108 bytes\\) "
                                         "must fit in 107"):
        Cluster(directory, port=5432).start()
    assert not directory.exists()


def test_a_cluster_in_a_folder_with_a_space_starts_once_and_stops_once(cluster_parent, capsys):
    """Started in a folder whose name has a space and a `&`: its URL reaches it, over the
    unix socket only (no TCP port); a second start finds it running, and a second stop
    finds it stopped (exit 0, "not running")."""
    directory = cluster_parent / "my ella&co" / "pg"
    port = _free_port()
    cluster = Cluster(directory, port=port)
    assert cluster.start() is True
    try:
        with psycopg.connect(cluster.url("postgres")) as conn:
            assert conn.execute("SHOW listen_addresses").fetchone() == ("",)
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0
        assert cluster.start() is False
    finally:
        assert cluster.stop() is True
    assert cluster.stop() is False
    capsys.readouterr()
    assert main(["stop", str(directory), str(port)]) == 0
    assert capsys.readouterr().err == "not running\n"


def test_stop_of_a_folder_that_is_no_cluster_is_an_error(cluster_parent, capsys):
    """A data folder with a postmaster.pid but no PG_VERSION (half removed) is not "not
    running": pg_ctl cannot tell, and stop says so (exit 1)."""
    data = cluster_parent / "pg" / "data"
    data.mkdir(parents=True)
    (data / "postmaster.pid").write_text("99999\n")
    assert main(["stop", str(cluster_parent / "pg")]) == 1
    assert capsys.readouterr().err.startswith("error: pg_ctl status: ")
