"""Options of the command-line front ends that decide what is imported where
(config-cli-ops.md section 3 and 5, import.md 1.6-1.7, README "Analyses" and CLI rows)."""

import os
import re
import shutil
import signal
import subprocess
import time

import psycopg
import pytest
import yaml

from annotation_service import closed_port_url, trickling_service
from api_helpers import add_user
from deposit_helpers import BRCA_VCF, TEST_ALL, TEST_ANALYSIS_001, add_test_panels
from helpers import ROOT, run_cli, table_snapshot
from test_config_spec_rows import _plain_default
from test_refs_cli import EFETCH_DOCTYPE, RECORDS, Efetch, write_ids


@pytest.fixture
def watch_dirs(tmp_path, db_url):
    """incoming/ with a READY TestAnalysis-001 copy, empty dest/ and other/; panels deposited."""
    add_test_panels(db_url)
    incoming, dest, other = tmp_path / "incoming", tmp_path / "dest", tmp_path / "other"
    for folder in (incoming, dest, other):
        folder.mkdir()
    shutil.copytree(TEST_ANALYSIS_001, incoming / "TestAnalysis-001")
    return incoming, dest, other


@pytest.fixture
def efetch():
    server = Efetch()
    yield server
    server.close()


def _analysis_names(url):
    with psycopg.connect(url) as conn:
        return [row[0] for row in conn.execute("SELECT name FROM analysis ORDER BY name")]


def test_watcher_interval_defaults_to_30_seconds():
    """README: `ella-watcher [--interval 30]`; config-cli-ops.md 5: the watcher scans every
    30 s, so without --interval a poll happens every 30 seconds."""
    from ella.cli.watcher import build_parser
    assert build_parser().parse_args([]).interval == 30.0
    assert build_parser().parse_args(["--interval", "2"]).interval == 2.0


def test_polling_interval_and_back_off_defaults():
    """README: `bin/ella-polling [--interval 5] [--once] [--max-backoff 300]`."""
    from ella.cli.polling import build_parser
    args = build_parser().parse_args([])
    assert (args.interval, args.max_backoff, args.once) == (5.0, 300.0, False)


def test_watcher_blacklist_option_keeps_a_matching_analysis_out(watch_dirs, db_url):
    """import.md 1.7 / config-cli-ops.md 5: `--blacklist RE...` - an analysis whose name
    matches one of the regexes is never imported (its folder stays in incoming)."""
    incoming, dest, _ = watch_dirs
    result = run_cli("ella-watcher", "--once", "--analyses", str(incoming), "--dest", str(dest),
                     "--blacklist", "TestAnalysis-00[1-9]", db_url=db_url)
    assert result.returncode == 0, result.stderr
    assert _analysis_names(db_url) == []
    assert (incoming / "TestAnalysis-001").is_dir()
    assert not (dest / "TestAnalysis-001").exists()


def test_watcher_whitelist_option_imports_only_matching_analyses(watch_dirs, db_url):
    """import.md 1.7 / config-cli-ops.md 5: `--whitelist RE...` - an analysis is imported only
    when its name matches one of the regexes."""
    incoming, dest, _ = watch_dirs
    result = run_cli("ella-watcher", "--once", "--analyses", str(incoming), "--dest", str(dest),
                     "--whitelist", "Other-.*", "Another", db_url=db_url)
    assert result.returncode == 0, result.stderr
    assert _analysis_names(db_url) == []
    assert (incoming / "TestAnalysis-001").is_dir()


@pytest.mark.parametrize("variable, lines", [
    # Whitelist: an analysis that matches no line of the file is not imported.
    ("ELLA_WATCHER_WHITELISTFILE", "Other-.*\n"),
    # Blacklist: an analysis named in the file is not imported.
    ("ELLA_WATCHER_BLACKLISTFILE", "TestAnalysis-001\n"),
])
def test_watcher_list_files_default_to_their_environment_variables(watch_dirs, db_url,
                                                                    tmp_path, variable, lines):
    """config-cli-ops.md 1: ELLA_WATCHER_WHITELISTFILE and ELLA_WATCHER_BLACKLISTFILE are the
    defaults for --whitelistfile and --blacklistfile."""
    incoming, dest, _ = watch_dirs
    listing = tmp_path / "list.txt"
    listing.write_text(lines)
    result = run_cli("ella-watcher", "--once", "--analyses", str(incoming), "--dest", str(dest),
                     db_url=db_url, env={variable: str(listing)})
    assert result.returncode == 0, result.stderr
    assert _analysis_names(db_url) == []
    assert (incoming / "TestAnalysis-001").is_dir()


def test_watcher_dest_option_overrides_analyses_path(watch_dirs, db_url):
    """README: `ella-watcher` paths default to ANALYSES_INCOMING / ANALYSES_PATH; a given
    --dest is where the imported folder goes, not the environment's ANALYSES_PATH."""
    incoming, dest, other = watch_dirs
    result = run_cli("ella-watcher", "--once", "--analyses", str(incoming), "--dest", str(dest),
                     db_url=db_url, env={"ANALYSES_PATH": str(other),
                                         "ANALYSES_INCOMING": str(other)})
    assert result.returncode == 0, result.stderr
    assert _analysis_names(db_url) == ["TestAnalysis-001"]
    assert (dest / "TestAnalysis-001").is_dir()
    assert not (other / "TestAnalysis-001").exists()


def _submitted_job(db_url):
    """A SUBMITTED Variants job of a user with HBOC v01; returns its id."""
    add_test_panels(db_url)
    user_id = add_user(db_url, "poller", "pollers", panels=[("HBOC", "v01")])
    with psycopg.connect(db_url) as conn:
        return conn.execute(
            "INSERT INTO annotationjob (task_id, status, status_history, mode, data, message, "
            "user_id, date_submitted, date_last_update, genepanel_name, genepanel_version, "
            "properties) VALUES ('', 'SUBMITTED', '{}', 'Variants', %s, '', %s, now(), now(), "
            "'HBOC', 'v01', '{}') RETURNING id", (BRCA_VCF.read_text(), user_id)).fetchone()[0]


def test_polling_once_exits_1_when_the_service_is_away_with_a_job_to_send(db_url):
    """README `ella-polling`: `--once` exits 1 when ... the service away when there was a
    job to send or ask about; the job is kept SUBMITTED for the next cycle."""
    job_id = _submitted_job(db_url)
    result = run_cli("ella-polling", "--once", db_url=db_url,
                     env={"ANNOTATION_SERVICE_URL": closed_port_url()})
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    with psycopg.connect(db_url) as conn:
        status = conn.execute("SELECT status FROM annotationjob WHERE id = %s",
                              (job_id,)).fetchone()[0]
    assert status == "SUBMITTED"


def _config_file(tmp_path, service_url, **import_keys):
    """A config file: the shipped default with this annotation service and `import` keys."""
    data = _plain_default()
    data["app"]["annotation_service"] = service_url
    data["import"].update(import_keys)
    path = tmp_path / "ella.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return str(path)


def test_polling_waits_for_the_service_as_long_as_the_config_says(db_url, tmp_path):
    """import.annotation_service_timeout: each wait for the service, and three of them for a
    whole answer (twenty for a result). A large result needs more than the default 30 s, and
    the README told operators to raise a timeout no setting reached."""
    job_id = _submitted_job(db_url)
    with trickling_service() as url:
        config = _config_file(tmp_path, url, annotation_service_timeout=1)
        result = run_cli("ella-polling", "--once", db_url=db_url, env={"ELLA_CONFIG": config})
    assert "Traceback" not in result.stderr
    with psycopg.connect(db_url) as conn:
        message = conn.execute("SELECT message FROM annotationjob WHERE id = %s",
                               (job_id,)).fetchone()[0]
    assert "the answer took over 3 s" in message + result.stderr, (message, result.stderr)


def test_polling_back_off_doubles_up_to_max_backoff(db_url):
    """README `ella-polling [--interval 5] [--max-backoff 300]` and import.md 7: while the
    service is unreachable the wait doubles from the interval up to --max-backoff."""
    _submitted_job(db_url)
    env = {k: v for k, v in os.environ.items() if k not in ("ELLA_CONFIG",)}
    env.update(DB_URL=db_url, ANNOTATION_SERVICE_URL=closed_port_url())
    proc = subprocess.Popen([str(ROOT / "bin" / "ella-polling"), "--interval", "1",
                             "--max-backoff", "8"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    waits = []
    try:
        deadline = time.monotonic() + 60
        while len(waits) < 3 and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            found = re.search(r"next try in (\d+) s", line)
            if found:
                waits.append(int(found.group(1)))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert waits == [1, 2, 4]


def test_refs_fetch_refuses_zero_retries_as_a_usage_error(tmp_path):
    """config-cli-ops.md 3 / README `ella-refs fetch [--retries N]`: attempts per batch; fewer
    than one attempt is a usage error (exit 2) before any request is made."""
    ids = tmp_path / "ids.txt"
    ids.write_text("123\n")
    result = run_cli("ella-refs", "fetch", str(ids), "--retries", "0",
                     "-o", str(tmp_path / "out.json"),
                     env={"NCBI_EUTILS_URL": closed_port_url()})
    assert result.returncode == 2, result.stderr
    assert "error: fetch: --retries must be at least 1" in result.stderr
    assert not (tmp_path / "out.json").exists()


def test_refs_fetch_retry_wait_sets_the_first_back_off(efetch, tmp_path):
    """README `ella-refs fetch [--retry-wait SECONDS]`: the first back-off wait (default 2 s,
    doubled per attempt); a short --retry-wait retries a 500 well within the default's 2 s."""
    efetch.failures = [500]
    out = tmp_path / "o.json"
    result = run_cli("ella-refs", "fetch", str(write_ids(tmp_path, RECORDS)), "-o", str(out),
                     "--retry-wait", "0.05", env={"NCBI_EUTILS_URL": efetch.url})
    assert result.returncode == 0, result.stderr
    assert len(efetch.queries) == 2
    assert efetch.times[1] - efetch.times[0] < 1.5, efetch.times


def test_refs_convert_summary_counts_the_files_read(tmp_path):
    """README `ella-refs convert FILE... [-o OUT]` (the summary on stdout): the number of
    references written and of files they were read from - one efetch file of 9 records."""
    wrapped = tmp_path / "efetch.xml"
    wrapped.write_text('<?xml version="1.0" ?>\n' + EFETCH_DOCTYPE + "<PubmedArticleSet>"
                       + "".join(RECORDS.values()) + "</PubmedArticleSet>", encoding="utf-8")
    out = tmp_path / "x.json"
    result = run_cli("ella-refs", "convert", str(wrapped), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"Converted {len(RECORDS)} references from 1 files -> {out}"


def test_deposit_genepanel_explicit_name_overrides_the_folder_name(db_url):
    """`ella-deposit genepanel --help` and config-cli-ops.md 3: with --folder DIR, explicit
    options override what the folder gives - --genepanel_name names the new panel."""
    result = run_cli("ella-deposit", "genepanel", "--folder", str(TEST_ALL),
                     "--genepanel_name", "Renamed", db_url=db_url)
    assert result.returncode == 0, result.stderr
    with psycopg.connect(db_url) as conn:
        panels = conn.execute("SELECT name, version FROM genepanel ORDER BY name").fetchall()
    assert panels == [("Renamed", "v01")]


def test_table_columns_are_left_aligned_with_a_dashed_line_under_the_headers():
    """The list commands' tables (`ella-broadcast list`, `ella-filterconfigs list`): columns
    left-aligned, two spaces apart, a dashed line as wide as each column under the headers,
    an empty cell for a missing value, no trailing blanks."""
    from ella.cli.table import format_table
    assert format_table(["id", "message"], [[1, "hello world"], [12, None]]) == [
        "id  message",
        "--  -----------",
        "1   hello world",
        "12",
    ]


def test_deposit_alleles_needs_both_panel_options_or_neither(db_url):
    """README `ella-deposit alleles VCF... [--genepanel_name N --genepanel_version V]`: the
    two options go together; one alone is refused in one line and nothing is imported."""
    add_test_panels(db_url)
    before = table_snapshot(db_url)
    result = run_cli("ella-deposit", "alleles", str(BRCA_VCF), "--genepanel_name", "HBOC",
                     db_url=db_url)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip() == (
        "error: give both --genepanel_name and --genepanel_version, or neither")
    after = table_snapshot(db_url)
    after.pop("clilog"), before.pop("clilog")
    assert after == before


def test_deposit_alleles_takes_the_panel_from_the_first_file_name(db_url, tmp_path):
    """config-cli-ops.md 3 `deposit alleles`: without options the panel is parsed from the
    first file name and reused for the rest (the others' names do not matter)."""
    add_test_panels(db_url)
    first, second = tmp_path / "first.HBOC_v01.vcf", tmp_path / "second.NoSuchPanel_v9.vcf"
    shutil.copyfile(BRCA_VCF, first)
    shutil.copyfile(BRCA_VCF, second)
    result = run_cli("ella-deposit", "alleles", str(first), str(second), db_url=db_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "Deposited 2 files."


def test_deposit_custom_annotation_takes_the_hyphenated_spelling():
    """README `ella-users` row: every command also takes the hyphenated spelling, as
    `ella-deposit custom-annotation` does (alias of `custom_annotation`)."""
    result = run_cli("ella-deposit", "custom-annotation", "--help")
    assert result.returncode == 0, result.stderr
    assert "JSON-lines" in result.stdout


def test_deposit_progress_goes_to_the_terminal_on_stderr_not_stdout(db_url, tmp_path):
    """config-cli-ops.md 3 / `ella-refs` docs: progress (on a terminal) goes to stderr, the
    summary line alone to stdout, so a pipeline reading stdout gets only the summary."""
    import pty
    items = tmp_path / "refs.jsonl"
    items.write_text('{"pubmed_id": 4242, "title": "T", "authors": "A", "year": "2001"}\n')
    main_fd, child_fd = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("ELLA_CONFIG",)}
    env["DB_URL"] = db_url
    try:
        result = subprocess.run([str(ROOT / "bin" / "ella-deposit"), "references", str(items)],
                                env=env, stdout=subprocess.PIPE, stderr=child_fd,
                                stdin=subprocess.DEVNULL, text=True, timeout=120)
        os.close(child_fd)
        terminal = b""
        while True:
            try:
                chunk = os.read(main_fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            terminal += chunk
    finally:
        os.close(main_fd)
    assert result.returncode == 0, terminal
    assert "..." not in result.stdout and len(result.stdout.splitlines()) == 1, result.stdout
    assert b"... reading" in terminal
