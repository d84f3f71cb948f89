"""Requests that are cheap to send stay cheap to serve: small bodies that cost the server
hundreds of MB, repeated ids multiplying a response, forms of thousands of parts, text that
took quadratic time. Memory is measured with tracemalloc against generous bounds; the
quadratic-time cases run in a subprocess that is killed after a minute (a linear parser
needs well under a second for them, the quadratic ones took many minutes)."""

import json
import subprocess
import sys
import tracemalloc
from urllib.parse import quote

import psycopg
import pytest

from ella.web.http import parse_json

from api_client import Client
from api_helpers import add_user, logged_in_client
from helpers import ROOT

API = "/api/v1"
# 56 KB of JSON: one 50,000-character key over 2,000 items. The storability check built the
# path of every item up front, each repeating the key: ~100 MiB for this body.
LONG_KEY_OVER_A_LIST = {"k" * 50_000: [0] * 2000}
MEMORY_BOUND = 40 * 2**20


def _peak_memory(call):
    tracemalloc.start()
    try:
        result = call()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture
def client(api_app, db_url):
    add_user(db_url, "costly", "costgroup")
    return logged_in_client(api_app, db_url, "costly")


def test_an_anonymous_login_body_is_checked_in_bounded_memory(api_app):
    body = json.dumps(LONG_KEY_OVER_A_LIST).encode()
    result, peak = _peak_memory(lambda: Client(api_app).request(
        "POST", f"{API}/users/actions/login/", raw=body))
    assert result.status == 400, result.body
    assert peak < MEMORY_BOUND, f"a {len(body)} byte body took {peak / 2**20:.0f} MiB"


def test_a_q_parameter_is_checked_in_bounded_memory(client):
    query = "q=" + quote(json.dumps(LONG_KEY_OVER_A_LIST))
    result, peak = _peak_memory(lambda: client.get(f"{API}/users/", query=query))
    assert result.status == 400, result.body
    assert peak < MEMORY_BOUND, f"a {len(query)} byte q took {peak / 2**20:.0f} MiB"


def test_a_flat_list_costs_a_few_times_its_size():
    raw = ("[" + ",".join(["0"] * 1_000_000) + "]").encode()  # 2 MB
    value, peak = _peak_memory(lambda: parse_json(raw, "body"))
    assert len(value) == 1_000_000
    # The list itself is ~8 MB; the check took ~65 times the body.
    assert peak < 10 * len(raw), f"a {len(raw)} byte body took {peak / 2**20:.0f} MiB"


def test_the_storability_check_still_names_the_part(client):
    """The same messages as before the check kept only the current path."""
    body = {"a": [{"b": "ok"}, {"c": ["x", "bad\u0000"]}]}
    result = Client(client.app).post(f"{API}/users/actions/login/", body)
    assert result.status == 400
    assert "a[1].c[1] contains a NUL character" in result.json["message"], result.json
    result = Client(client.app).post(f"{API}/users/actions/login/", {"k\u0000": 1})
    assert "k? contains a NUL character" in result.json["message"], result.json
    result = Client(client.app).post(f"{API}/users/actions/login/", {"a": {"": "x\u0000"}})
    assert 'a."" contains a NUL character' in result.json["message"], result.json


def test_an_evaluation_with_many_wrong_items_is_refused_in_bounded_memory(client):
    body = {"allele_id": 1, "reference_id": 1, "genepanel_name": "X", "genepanel_version": "1",
            "evaluation": {"sources": [0] * 50_000}}
    result, peak = _peak_memory(lambda: client.post(f"{API}/referenceassessments/", body))
    assert result.status == 400 and "sources" in result.json["message"], result.body
    assert peak < MEMORY_BOUND, f"a 100 KB evaluation took {peak / 2**20:.0f} MiB"


def test_repeated_ids_are_answered_once(client):
    """`annotationconfigs/` answered once per repeated id: 100,000 repeats (a 200 KB query)
    made a 306 MB response."""
    result = client.get(f"{API}/annotationconfigs/",
                        query="annotation_config_ids=" + ",".join(["1"] * 2000))
    assert result.status == 200, result.body
    assert [config["id"] for config in result.json] == [1]


def test_the_ui_exception_log_bounds_what_anyone_may_store(api_app, db_url):
    anonymous = Client(api_app)
    result = anonymous.post(f"{API}/ui/exceptionlog/",
                            {"message": "m", "stacktrace": "y" * 2 * 2**20})
    assert result.status == 400
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM uiexception").fetchone() == (0,)


def _medline_parse_seconds(text_expression):
    """Parse the MEDLINE text the expression builds in a fresh interpreter; None if it did
    not finish within a minute."""
    code = ("import time; from ella.pubmed import parse_medline\n"
            f"text = {text_expression}\n"
            "started = time.monotonic(); parse_medline(text)\n"
            "print(time.monotonic() - started)")
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=60, cwd=ROOT, check=True)
    except subprocess.TimeoutExpired:
        return None
    return float(done.stdout)


@pytest.mark.parametrize("text_expression", [
    # 200,000 blanks in an abstract: the label pattern backtracked from each of them.
    "'PMID- 1\\nTI  - t\\nAB  - a' + ' ' * 200_000 + 'b\\n'",
    # 2,000,000 continuation lines: each was joined by copying the whole value.
    "'PMID- 2\\nTI  - a\\n' + '      b\\n' * 2_000_000",
], ids=["blanks", "continuation-lines"])
def test_medline_text_is_parsed_in_linear_time(text_expression):
    assert _medline_parse_seconds(text_expression) is not None


def test_medline_labels_and_continuations_read_as_before():
    from ella.pubmed import parse_medline
    [record] = parse_medline("PMID- 7\nTI  - A title\n      over two lines\n"
                             "AB  - BACKGROUND: one.   METHODS: two.\nDP  - 2020\n")
    assert record["title"] == "A title over two lines"
    assert record["abstract"] == "BACKGROUND: one.\nMETHODS: two."
