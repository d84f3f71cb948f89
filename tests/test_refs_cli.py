"""`bin/ella-refs fetch | convert | deposit` (import.md 6, acceptance criteria P1-P9 and L2).

`fetch` runs against a local efetch double (stdlib http.server on 127.0.0.1) that serves the
real PubMed XML records of tests/data/pubmed/ and records when each request arrived."""

import json
import os
import subprocess
import threading
import time
import urllib.parse
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
import pytest

from ella import pubmed
from ella.catalogue import BOOKKEEPING_TABLE
from helpers import ROOT, run_cli, table_snapshot

DATA = ROOT / "tests" / "data" / "pubmed"
XML_FILES = sorted(DATA.glob("*.xml"))
MEDLINE_FILES = sorted(DATA.glob("*.pubmed"))
# NCBI's efetch answers (and PubMed's XML downloads) open with this DOCTYPE.
EFETCH_DOCTYPE = ('<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January '
                  '2025//EN" "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n')

RECORDS = {int(p.stem): p.read_text(encoding="utf-8") for p in XML_FILES}


def expected(name):
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines()]


EXPECTED_XML = expected("references-from-xml.jsonl")
EXPECTED_MEDLINE = expected("references-from-medline.jsonl")


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def one_line_error(result):
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def refs(*args, cwd=None, env=None, db_url=None):
    """bin/ella-refs in `cwd` (stderr is a pipe: no progress lines)."""
    full_env = {k: v for k, v in os.environ.items()
                if k not in ("DB_URL", "ELLA_CONFIG", "NCBI_API_KEY", "NCBI_EUTILS_URL")}
    if db_url:
        full_env["DB_URL"] = db_url
    full_env.update(env or {})
    return subprocess.run([str(ROOT / "bin" / "ella-refs"), *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, env=full_env, stdin=subprocess.DEVNULL,
                          timeout=300)


# ---------------------------------------------------------------------------------------------
# the efetch double

class Efetch:
    def __init__(self):
        self.times, self.queries = [], []
        self.failures = []          # HTTP status codes to answer first, one per request
        self.extra = ""             # more XML inside the PubmedArticleSet
        self.delays = []            # seconds to wait before answering, one per request
        self.raw = []               # bodies to answer first (status 200), one per request
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                owner.times.append(time.monotonic())
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                owner.queries.append(query)
                if owner.delays:
                    time.sleep(owner.delays.pop(0))
                if owner.failures:
                    code = owner.failures.pop(0)
                    self.send_response(code)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                ids = [int(i) for i in query["id"][0].split(",")]
                body = owner.raw.pop(0) if owner.raw else (
                    '<?xml version="1.0" ?>\n' + EFETCH_DOCTYPE + '<PubmedArticleSet>\n'
                    + "".join(RECORDS[i] for i in ids if i in RECORDS) + owner.extra
                    + "</PubmedArticleSet>\n").encode("utf-8")
                self.send_response(200)
                self.send_header("Content-Type", "text/xml; charset=UTF-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/entrez/eutils/efetch.fcgi"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def efetch():
    server = Efetch()
    yield server
    server.close()


def write_ids(tmp_path, ids, name="ids.txt"):
    path = tmp_path / name
    path.write_text("".join(f"{i}\n" for i in ids))
    return path


# ---------------------------------------------------------------------------------------------
# fetch

def test_fetch_writes_the_references_file(efetch, tmp_path):
    ids = write_ids(tmp_path, [*RECORDS, 99999999])
    result = refs("fetch", ids, cwd=tmp_path, env={"NCBI_EUTILS_URL": efetch.url})
    assert result.returncode == 0, result.stderr
    out = tmp_path / f"references-{date.today():%y%m%d}.json"
    assert read_jsonl(out) == EXPECTED_XML
    assert "Pubmed IDs ignored" in result.stderr and "99999999" in result.stderr
    assert result.stdout.strip() == (f"Fetched 9 references for 10 PubMed ids (1 ignored, "
                                     f"1 requests) -> {out.name}")
    [query] = efetch.queries
    assert query["db"] == ["pubmed"] and query["retmode"] == ["xml"]
    assert query["tool"] == ["ella-refs"] and "api_key" not in query


def test_fetch_batches_and_rate_limit(efetch, tmp_path):
    # 7 batches of 200 ids; 9 of them exist
    ids = list(RECORDS) + [90000000 + i for i in range(1400 - len(RECORDS))]
    out = tmp_path / "out.json"
    result = refs("fetch", write_ids(tmp_path, ids), "-o", out,
                  env={"NCBI_EUTILS_URL": efetch.url})
    assert result.returncode == 0, result.stderr
    assert read_jsonl(out) == EXPECTED_XML
    assert [len(q["id"][0].split(",")) for q in efetch.queries] == [200] * 7
    times = efetch.times
    assert times[-1] - times[0] >= 2.0
    # NCBI without a key: at most 3 requests in any one second
    assert all(times[i + 3] - times[i] > 1.0 for i in range(len(times) - 3)), times


def test_api_key_from_environment_is_sent(efetch, tmp_path):
    result = refs("fetch", write_ids(tmp_path, [8896564]), "-o", tmp_path / "o.json",
                  "--email", "me@example.org",
                  env={"NCBI_EUTILS_URL": efetch.url, "NCBI_API_KEY": "k3y"})
    assert result.returncode == 0, result.stderr
    assert efetch.queries[0]["api_key"] == ["k3y"]
    assert efetch.queries[0]["email"] == ["me@example.org"]
    assert "k3y" not in result.stdout + result.stderr


def test_rate_limiter_spacing():
    now = [0.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    for per_second in (3, 10):
        limiter = pubmed.RateLimiter(per_second, clock=lambda: now[0], sleep=sleep)
        starts = []
        for _ in range(12):
            limiter.wait()
            starts.append(now[0])
        assert all(starts[i + per_second] - starts[i] > 1.0
                   for i in range(len(starts) - per_second))


def test_fetch_retries_on_429_and_5xx(efetch, tmp_path):
    efetch.failures = [503, 429, 500]
    out = tmp_path / "o.json"
    result = refs("fetch", write_ids(tmp_path, RECORDS), "-o", out, "--retry-wait", "0.05",
                  env={"NCBI_EUTILS_URL": efetch.url})
    assert result.returncode == 0, result.stderr
    assert read_jsonl(out) == EXPECTED_XML
    assert len(efetch.queries) == 4
    assert result.stderr.count("retrying") == 3 and "HTTP 429" in result.stderr


def test_fetch_gives_up_after_the_retries(efetch, tmp_path):
    efetch.failures = [500] * 5
    out = tmp_path / "o.json"
    result = refs("fetch", write_ids(tmp_path, RECORDS), "-o", out, "--retries", "3",
                  "--retry-wait", "0.01", env={"NCBI_EUTILS_URL": efetch.url})
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: efetch failed 3 times")
    assert len(efetch.queries) == 3
    assert not out.exists()


def test_an_answer_that_is_not_utf8_is_retried(efetch, tmp_path):
    """A proxy's Latin-1 page in place of NCBI's answer: a UnicodeDecodeError traceback
    ended the fetch; it is an answer that is not PubMed XML, retried like one."""
    efetch.raw = [b"<PubmedArticleSet>\xe9</PubmedArticleSet>"]
    out = tmp_path / "o.json"
    result = refs("fetch", write_ids(tmp_path, RECORDS), "-o", out, "--retry-wait", "0.01",
                  env={"NCBI_EUTILS_URL": efetch.url})
    assert result.returncode == 0, result.stderr
    assert "not UTF-8 text" in result.stderr and "retrying" in result.stderr
    assert read_jsonl(out) == EXPECTED_XML
    with pytest.raises(pubmed.PubmedParseError, match=r"not UTF-8 text \(invalid start byte "
                                                      r"at byte 15\)"):
        pubmed.parse_pubmed_xml(b"<PubmedArticle>\xb6</PubmedArticle>")


def test_fetch_client_error_is_not_retried(efetch, tmp_path):
    efetch.failures = [400]
    message = one_line_error(refs("fetch", write_ids(tmp_path, [1]), "-o", tmp_path / "o",
                                  env={"NCBI_EUTILS_URL": efetch.url}))
    assert "HTTP 400" in message and len(efetch.queries) == 1


def test_fetch_skips_unknown_elements(efetch, tmp_path):
    efetch.extra = "<DeleteCitation><PMID>123</PMID></DeleteCitation>"
    out = tmp_path / "o.json"
    result = refs("fetch", write_ids(tmp_path, RECORDS), "-o", out,
                  env={"NCBI_EUTILS_URL": efetch.url})
    assert result.returncode == 0, result.stderr
    assert "skipped <DeleteCitation>" in result.stderr
    assert read_jsonl(out) == EXPECTED_XML


@pytest.mark.parametrize("page", [
    b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><head><title>503 '
    b"Service busy</title></head><body><p>Try later</p></body></html>",
    b"<eFetchResult><ERROR>Unable to obtain query #1</ERROR></eFetchResult>"])
def test_an_xml_answer_that_is_no_pubmed_xml_is_retried(efetch, tmp_path, page):
    """A proxy's XHTML page (or NCBI's error document) with status 200 had its elements
    skipped as unknown: every id of the batch was reported missing, the file written
    without them, exit 0."""
    efetch.raw = [page]
    out = tmp_path / "o.json"
    result = refs("fetch", write_ids(tmp_path, RECORDS), "-o", out, "--retry-wait", "0.01",
                  env={"NCBI_EUTILS_URL": efetch.url})
    assert result.returncode == 0, result.stderr
    assert "not PubMed XML: the root element is <" in result.stderr and "retrying" in \
        result.stderr
    assert read_jsonl(out) == EXPECTED_XML and len(efetch.queries) == 2


def test_fetch_with_the_server_down(tmp_path):
    server = Efetch()
    url = server.url
    server.close()
    result = refs("fetch", write_ids(tmp_path, RECORDS), cwd=tmp_path,
                  env={"NCBI_EUTILS_URL": url})
    message = one_line_error(result)
    assert "cannot reach NCBI E-utilities" in message
    assert list(tmp_path.iterdir()) == [tmp_path / "ids.txt"]


def test_a_slow_first_answer_is_retried_not_taken_for_offline(efetch):
    """The server was reached but answered after the timeout: that is retried (import.md
    6.1), only a failure to connect means offline."""
    efetch.delays = [1.5]
    client = pubmed.EfetchClient(base=efetch.url, timeout=0.5, retry_wait=0,
                                 sleep=lambda seconds: None, log=lambda text: None)
    found, missing = client.fetch([8896564])
    assert [r["pubmed_id"] for r in found] == [8896564] and missing == []
    assert len(efetch.queries) == 2


def test_fetch_with_a_url_that_is_not_http_never_shows_the_api_key(tmp_path):
    result = refs("fetch", write_ids(tmp_path, RECORDS), "--api-key", "SECRETKEY123",
                  cwd=tmp_path, env={"NCBI_EUTILS_URL": "mirror.local/efetch"})
    message = one_line_error(result)
    assert message == ("error: the efetch URL 'mirror.local/efetch' (NCBI_EUTILS_URL) is not "
                       "an http(s) URL")
    assert "SECRETKEY123" not in result.stdout + result.stderr


@pytest.mark.parametrize("content, where", [
    ("8896564\n11485765 abc\n", "line 2: 'abc'"),
    ("8896564\n\n-5\n", "line 3: '-5'"),
    ("PMID:123\n", "line 1"),
    ("# only a comment\n\n", "no PubMed ids"),
])
def test_garbage_id_file(tmp_path, content, where):
    path = tmp_path / "ids.txt"
    path.write_text(content)
    message = one_line_error(refs("fetch", path, env={"NCBI_EUTILS_URL": "http://127.0.0.1:9/"}))
    assert where in message and "ids.txt" in message


def test_id_file_whitespace_comments_duplicates(tmp_path):
    path = tmp_path / "ids.txt"
    path.write_text("1 2\t3\n# note\n2  4 # trailing\n")
    assert pubmed.read_id_file(path) == [1, 2, 3, 4]


def test_an_id_file_saved_with_a_byte_order_mark(tmp_path):
    """Excel's "CSV UTF-8" and Notepad write one: the first id was refused."""
    path = tmp_path / "ids.txt"
    path.write_bytes(b"\xef\xbb\xbf8896564\r\n11485765\r\n")
    assert pubmed.read_id_file(path) == [8896564, 11485765]


def test_output_through_a_symbolic_link_or_to_a_device(tmp_path):
    """`-o` naming a link replaced the link with a new file (the temporary file was renamed
    over it) and left its target alone; a device such as /dev/stdout is written to (as
    root the rename would have replaced the device's link)."""
    target = tmp_path / "shared" / "references.json"
    target.parent.mkdir()
    target.write_text("old\n")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    result = refs("convert", XML_FILES[0], "-o", link)
    assert result.returncode == 0, result.stderr
    assert link.is_symlink() and [r["pubmed_id"] for r in read_jsonl(target)] == [
        int(XML_FILES[0].stem)]
    assert sorted(p.name for p in target.parent.iterdir()) == ["references.json"]
    result = refs("convert", XML_FILES[0], "-o", "/dev/stdout")
    assert result.returncode == 0 and json.loads(result.stdout.splitlines()[0])[
        "pubmed_id"] == int(XML_FILES[0].stem), result.stderr
    # Only the references: the closing line went into them, and a deposit refused the file.
    assert len(result.stdout.splitlines()) == 1
    assert result.stderr.strip().endswith("Converted 1 references from 1 files -> /dev/stdout")


def test_efetch_url_default():
    url = pubmed.efetch_url([1, 2], base=pubmed.EFETCH_URL)
    assert url == ("https://eutils.ncbi.nlm.nih.gov/entrez/eutils/efetch.fcgi?db=pubmed&id=1,2"
                   "&retmode=xml")
    assert [len(b) for b in pubmed.batches(list(range(450)))] == [200, 200, 50]


# ---------------------------------------------------------------------------------------------
# convert

def test_convert_xml_and_medline(tmp_path):
    out = tmp_path / "x.json"
    result = refs("convert", *XML_FILES, "-o", out)
    assert result.returncode == 0, result.stderr
    assert read_jsonl(out) == EXPECTED_XML
    assert result.stdout.strip() == f"Converted 9 references from 9 files -> {out}"
    out = tmp_path / "m.json"
    assert refs("convert", *MEDLINE_FILES, "-o", out).returncode == 0
    assert read_jsonl(out) == EXPECTED_MEDLINE


def test_convert_default_name_efetch_set_and_duplicates(tmp_path):
    wrapped = tmp_path / "efetch.xml"
    wrapped.write_text('<?xml version="1.0" ?>\n' + EFETCH_DOCTYPE + '<PubmedArticleSet>'
                       + "".join(RECORDS.values()) + "</PubmedArticleSet>", encoding="utf-8")
    result = refs("convert", wrapped, MEDLINE_FILES[0], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "already read from" in result.stderr
    assert read_jsonl(tmp_path / f"references-{date.today():%y%m%d}.json") == EXPECTED_XML


def test_convert_skips_a_delete_citation_of_an_efetch_answer_as_fetch_does(tmp_path):
    """The efetch answer `fetch` reads with a warning was refused whole by `convert`."""
    path = tmp_path / "efetch.xml"
    path.write_text('<?xml version="1.0" ?>\n' + EFETCH_DOCTYPE + "<PubmedArticleSet>"
                    + RECORDS[8896564] + '<DeleteCitation><PMID Version="1">123</PMID>'
                    "</DeleteCitation></PubmedArticleSet>\n", encoding="utf-8")
    out = tmp_path / "o.json"
    result = refs("convert", path, "-o", out)
    assert result.returncode == 0, result.stderr
    assert f"warning: {path}: skipped <DeleteCitation>" in result.stderr
    assert [r["pubmed_id"] for r in read_jsonl(out)] == [8896564]


@pytest.mark.parametrize("content, where", [
    ("<PubmedArticleSet>\n<PubmedArticle>\n</PubmedArticleSet>\n", "not valid XML"),
    ("PMID- 1\nTI  - x\ngarbage here\n", "line 3"),
    ("hello\n", "line 1"),
])
def test_convert_malformed_input(tmp_path, content, where):
    bad = tmp_path / "bad.txt"
    bad.write_text(content)
    out = tmp_path / "o.json"
    message = one_line_error(refs("convert", XML_FILES[0], bad, "-o", out))
    assert "bad.txt" in message and where in message and "line" in message
    assert not out.exists()


@pytest.mark.parametrize("command, content, line", [
    ("fetch", b"8896564\r\n11485765 # Pr\xf8ve\r\n", 2),
    ("convert", b"PMID- 1\nTI  - x\nAU  - Pr\xf8ve A\n", 3),
])
def test_a_byte_that_is_not_utf8_is_named_with_its_line(tmp_path, command, content, line):
    """An id file or a MEDLINE file in Latin-1 said only "not UTF-8 text"."""
    path = tmp_path / "input.txt"
    path.write_bytes(content)
    args = (path, "-o", tmp_path / "o.json") if command == "convert" else (path,)
    message = one_line_error(refs(command, *args,
                                  env={"NCBI_EUTILS_URL": "http://127.0.0.1:9/"}))
    at = content.index(b"\xf8")
    assert f"{path}: line {line}: not UTF-8 text (byte {at}: b'\\xf8')" in message, message


def test_convert_refuses_an_entity_declaration_split_by_a_format_tag(tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_text('<!<i>DOCTYPE PubmedArticle [<!<i>ENTITY e "x">]>'
                   + RECORDS[8896564].replace("<ArticleTitle>", "<ArticleTitle>&e;", 1))
    out = tmp_path / "o.json"
    message = one_line_error(refs("convert", bad, "-o", out))
    assert "bad.xml" in message and "entity declaration" in message
    assert not out.exists()


# ---------------------------------------------------------------------------------------------
# deposit (L2; create, then update without duplicates)

def stored(url):
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT pubmed_id, authors, title, journal, abstract, year, "
                            "published FROM reference ORDER BY pubmed_id").fetchall()
    return [{k: v for k, v in zip(pubmed.REFERENCE_KEYS, row) if v is not None} for row in rows]


def clilog(url):
    with psycopg.connect(url) as conn:
        return conn.execute('SELECT "group", groupcommand, command, output FROM clilog '
                            "ORDER BY id").fetchall()


def test_deposit_creates_then_updates(db_url, tmp_path):
    xml_file, medline_file = tmp_path / "x.json", tmp_path / "m.json"
    assert refs("convert", *XML_FILES, "-o", xml_file).returncode == 0
    assert refs("convert", *MEDLINE_FILES, "-o", medline_file).returncode == 0

    result = refs("deposit", xml_file, db_url=db_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ("References imported successfully: created 9, "
                                     "updated 0")
    assert stored(db_url) == sorted(EXPECTED_XML, key=lambda r: r["pubmed_id"])

    # the MEDLINE twins change journal/year/abstract of some: updated, no duplicates
    result = refs("deposit", medline_file, db_url=db_url)
    assert result.returncode == 0, result.stderr
    assert "created 0, updated 9" in result.stdout
    assert stored(db_url) == sorted(EXPECTED_MEDLINE, key=lambda r: r["pubmed_id"])

    log = clilog(db_url)
    # Audited as ELLA's `deposit references`, the same command as `ella-deposit references`.
    assert [(g, c) for g, c, _, _ in log] == [("deposit", "references")] * 2
    assert log[1][2] == f"deposit references {medline_file}"
    assert "created 0, updated 9" in log[1][3]


def test_deposit_bad_file_writes_nothing(db_url, tmp_path):
    good = EXPECTED_XML[0]
    path = tmp_path / "r.json"
    path.write_text(json.dumps(good) + "\n" + '{"pubmed_id": 2, "colour": "red"}\n')
    before = table_snapshot(db_url, skip=("clilog", BOOKKEEPING_TABLE))
    message = one_line_error(refs("deposit", path, db_url=db_url))
    assert "line 2" in message and "colour" in message
    assert table_snapshot(db_url, skip=("clilog", BOOKKEEPING_TABLE)) == before
    [(group, command, _, output)] = clilog(db_url)
    assert (group, command) == ("deposit", "references") and "colour" in output


def test_deposit_needs_db_url(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(EXPECTED_XML[0]) + "\n")
    message = one_line_error(refs("deposit", path))
    assert "DB_URL" in message


def test_missing_deposit_file(db_url, tmp_path):
    """A usage error (exit 2), as `ella-deposit references` gives."""
    for path, problem in ((tmp_path / "nope.json", "does not exist"),
                          (tmp_path, "is a folder, not a file")):
        result = refs("deposit", path, db_url=db_url)
        assert result.returncode == 2
        assert result.stderr.strip().endswith(f"error: deposit: FILE '{path}' {problem}")


def test_a_missing_input_of_fetch_or_convert_is_a_usage_error(tmp_path):
    """Exit 2 naming it, as every other command (it was 1); and a --retry-wait that is no
    wait the back-off can take (nan, inf, beyond its 30 s ceiling) likewise."""
    ids = write_ids(tmp_path, RECORDS)
    for command, path, problem in (("fetch", tmp_path / "nope.txt", "does not exist"),
                                   ("fetch", tmp_path, "is a folder, not a file"),
                                   ("convert", tmp_path / "nope.xml", "does not exist")):
        result = refs(command, path)
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip().endswith(f"error: {command}: FILE '{path}' {problem}")
    for wait in ("nan", "inf", "31", "-1"):
        result = refs("fetch", ids, f"--retry-wait={wait}")
        assert result.returncode == 2 and result.stderr.strip().endswith(
            "error: fetch: --retry-wait must be 0 to 30 seconds"), (wait, result.stderr)


def test_help():
    for args in ([], ["fetch"], ["convert"], ["deposit"]):
        result = run_cli("ella-refs", *args, "--help")
        assert result.returncode == 0 and "usage: ella-refs" in result.stdout


def test_the_output_is_written_through_no_link_planted_in_its_directory(tmp_path):
    """The temporary file had a predictable name (`<output>.tmp<pid>`), opened without
    O_EXCL: a link planted there by another local user of a shared directory had the
    references written over the file it named. A replaced file keeps its permissions."""
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    out = tmp_path / "out.json"
    out.write_text("old\n")
    out.chmod(0o640)
    planted = tmp_path / f"out.json.tmp{os.getpid()}"
    planted.symlink_to(victim)
    assert pubmed.write_references(str(out), [{"pubmed_id": 1, "title": "t"}]) == 1
    assert victim.read_text() == "precious\n"
    assert not out.is_symlink() and read_jsonl(out) == [{"pubmed_id": 1, "title": "t"}]
    assert oct(out.stat().st_mode & 0o777) == oct(0o640)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json", planted.name, "victim"]
