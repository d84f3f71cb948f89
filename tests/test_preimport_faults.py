"""The default pre-import script (import.md 7.6) and the upload of its files to the
annotation service with panel names and job values at the edges: a quote or backslash in a
panel name, a name too long for a file name, a priority written as 2.0, a failed run."""

import email
import email.policy
import os
import signal
import subprocess
import sys

import psycopg
import pytest

from api_helpers import add_user, logged_in_client
from deposit_helpers import TEST_ALL, add_test_panels
from ella.deposit.genepanel import GenepanelError, deposit_genepanel, folder_files, \
    read_panel_files
from ella.polling import encode_multipart, load_job, run_preimport
from helpers import ROOT, wait_for_lock_wait

SCRIPT = ROOT / "ops" / "preimport.py"


def _deposit_test_panel(db_url, name, version):
    panel = read_panel_files(*folder_files(TEST_ALL))
    with psycopg.connect(db_url) as conn:
        result = deposit_genepanel(conn, name, version, panel)
    assert result["status"] == "created", result


def _job(name, version, **properties):
    return {"genepanel_name": name, "genepanel_version": version, "sample_id": "Diag-01",
            "properties": properties or None}


def _received(variables, files, sample_id="Diag-01"):
    """The multipart body as a receiving server parses it: {field name: filename or None}."""
    body, content_type = encode_multipart({**variables, "sample_id": sample_id}, files)
    message = email.message_from_bytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body,
        policy=email.policy.HTTP)
    return {part.get_param("name", header="content-disposition"): part.get_filename()
            for part in message.iter_parts()}


@pytest.mark.parametrize("name", ['Kardio "B"', "Kardio\\B"])
def test_a_quote_or_backslash_in_a_panel_name_keeps_the_upload_file_names(db_url, name):
    """The file names (after the panel) went unescaped into `filename="..."`: a `"` ended
    it early (the service got `Kardio`), a backslash was read as an escape. Escaped as
    ELLA's client (urllib3) does: `"` as %22, a backslash doubled."""
    _deposit_test_panel(db_url, name, "v1")
    variables, files = run_preimport(SCRIPT, _job(name, "v1"), "grp", db_url=db_url)
    received = _received(variables, files)
    for key, (filename, _) in files.items():
        assert filename.startswith(f"{name}_v1_")
        assert received[key] == filename.replace('"', "%22"), (key, received[key])


def test_a_panel_name_too_long_for_a_file_name_is_exported(db_url):
    """A 130-letter name of `Ø`s (260 bytes; names of 200 characters are allowed) made
    `<name>_<version>_genes_transcripts.tsv` longer than a file name may be: every sample
    re-analysis on the panel failed ("File name too long")."""
    name = "Ø" * 130
    _deposit_test_panel(db_url, name, "v1")
    variables, files = run_preimport(SCRIPT, _job(name, "v1"), "grp", db_url=db_url)
    assert variables["GP_NAME"] == name
    assert {key: filename for key, (filename, _) in files.items()} == {
        "TRANSCRIPTS": "genes_transcripts.tsv", "PHENOTYPES": "phenotypes.tsv",
        "EXON_REGIONS": "exon_regions.bed"}
    assert all(content for _, content in files.values())


def test_a_priority_of_two_point_zero(db_url, api_app):
    """The API took priority 2.0 (2.0 == 2), which the pre-import script then refused as
    PRIORITY "2.0": the job failed at submission. Refused now; a job another client stored
    so runs the script with PRIORITY 2."""
    add_test_panels(db_url)
    add_user(db_url, "importer", "importgroup", panels=[("HBOC", "v01")])
    client = logged_in_client(api_app, db_url, "importer")
    job = {"mode": "Analysis", "sample_id": "Diag-01", "genepanel_name": "HBOC",
           "genepanel_version": "v01",
           "properties": {"analysis_name": "abc", "create_or_append": "Create",
                          "sample_type": "HTS", "priority": 2.0}}
    refused = client.post("/api/v1/import/service/jobs/", job)
    assert refused.status == 400, refused.body
    assert "body.properties.priority must be one of 1, 2, 3, not 2.0" in refused.body.decode()
    job["properties"]["priority"] = 2
    created = client.post("/api/v1/import/service/jobs/", job)
    assert created.status == 200, created.body
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE annotationjob SET properties = jsonb_set(properties, "
                     "'{priority}', '2.0') WHERE id = %s", (created.json["id"],))
        conn.commit()
        stored = load_job(conn, created.json["id"])
    assert stored["properties"]["priority"] == 2.0
    variables, _ = run_preimport(SCRIPT, stored, "importgroup", db_url=db_url)
    assert variables["PRIORITY"] == "2"


def test_a_failed_standalone_run_leaves_no_temporary_folder(db_url, tmp_path):
    """Run without ELLA_PREIMPORT_DIR, the script makes its own folder; an unknown panel or
    a database away left it behind, one per failed run."""
    env = dict(os.environ, DB_URL=db_url, GENEPANEL_NAME="Nope", GENEPANEL_VERSION="v1",
               SAMPLE_ID="S1", TMPDIR=str(tmp_path))
    env.pop("ELLA_PREIMPORT_DIR", None)
    result = subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("preimport: ") and "Nope" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_carriage_return_inside_a_panel_file_line_is_refused(tmp_path):
    """A phenotype `Syndrome A<CR>type B` was stored; the export (one line per row) wrote
    it as `Syndrome A type B`, and depositing the export created another phenotype: the
    panel did not deposit again unchanged. A line's own CR LF end is fine."""
    transcripts, phenotypes = folder_files(TEST_ALL)
    (tmp_path / "t.tsv").write_bytes(transcripts.read_bytes().replace(b"\n", b"\r\n"))
    text = phenotypes.read_text(encoding="utf-8").splitlines(keepends=True)
    cells = text[1].split("\t")
    cells[4] = cells[4][:5] + "\r" + cells[4][5:]
    text[1] = "\t".join(cells)
    (tmp_path / "p.tsv").write_text("".join(text), encoding="utf-8", newline="")
    with pytest.raises(GenepanelError, match=r"p\.tsv, line 2: a carriage return inside the "
                                             r"line \(line ends of another system\?\)"):
        read_panel_files(tmp_path / "t.tsv", tmp_path / "p.tsv")
    (tmp_path / "p.tsv").write_bytes(phenotypes.read_bytes())
    assert read_panel_files(tmp_path / "t.tsv", tmp_path / "p.tsv").transcripts
    # CR CR LF (Python's csv writer on Windows, text mode): the CRs end the line, no cell's.
    (tmp_path / "t.tsv").write_bytes(transcripts.read_bytes().replace(b"\n", b"\r\r\n"))
    assert read_panel_files(tmp_path / "t.tsv", tmp_path / "p.tsv").transcripts


def _standalone_env(db_url, tmp_path, **extra):
    env = dict(os.environ, DB_URL=db_url, GENEPANEL_NAME="HBOC", GENEPANEL_VERSION="v01",
               SAMPLE_ID="S1", TMPDIR=str(tmp_path), **extra)
    env.pop("ELLA_PREIMPORT_DIR", None)
    return env


@pytest.mark.parametrize("sig, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stopped_standalone_run_leaves_no_temporary_folder(db_url, tmp_path, sig, status):
    """SIGTERM ended the script at once (Python's default), and its own folder stayed;
    Ctrl-C printed a traceback."""
    add_test_panels(db_url)
    with psycopg.connect(db_url) as locker:
        locker.execute("LOCK TABLE genepanel IN ACCESS EXCLUSIVE MODE")
        run = subprocess.Popen([sys.executable, str(SCRIPT)], text=True,
                               env=_standalone_env(db_url, tmp_path),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            wait_for_lock_wait(db_url, application_name="ella-preimport")
            assert len(list(tmp_path.iterdir())) == 1  # its folder, mid-export
            run.send_signal(sig)
            out, err = run.communicate(timeout=60)
        finally:
            run.kill()
            locker.rollback()
    assert (run.returncode, out, err) == (status, "", "preimport: interrupted\n")
    assert list(tmp_path.iterdir()) == []


def test_a_panel_name_that_is_no_utf8_is_one_line(db_url, tmp_path):
    """A traceback from psycopg (run standalone: the poller's names are UTF-8)."""
    env = {key.encode(): value.encode()
           for key, value in _standalone_env(db_url, tmp_path).items()}
    env[b"GENEPANEL_NAME"] = b"HBOC\xff"
    result = subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True,
                            text=True, timeout=60)
    assert (result.returncode, result.stderr) == (
        1, "preimport: GENEPANEL_NAME is not UTF-8 text\n")
    assert list(tmp_path.iterdir()) == []
