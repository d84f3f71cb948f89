"""Requests that used to reach PostgreSQL with input it refuses, answered 500 or 503: each now
gets a 4xx with a message and writes nothing (found by a fuzz sweep over every route)."""

import json
import random
import string
from urllib.parse import quote

import psycopg
import pytest

from api_helpers import logged_in_client
from helpers import table_snapshot

API = "/api/v1"
UNLOGGED = ("resourcelog", "usersession", "alembic_version")


def q(value):
    return "q=" + quote(json.dumps(value))


@pytest.fixture(scope="module")
def reader(shared_demo_api):
    app, url = shared_demo_api
    return logged_in_client(app, url, "testuser1")


@pytest.fixture
def writer(demo_api_app, demo_db_url):
    return logged_in_client(demo_api_app, demo_db_url, "testuser1"), demo_db_url


@pytest.mark.parametrize("path, query", [
    ("/users/", {"username": {"$like": "%\\"}}),
    ("/users/", {"first_name": {"$ilike": "a\\\\\\"}}),
    ("/alleles/", {"change_from": {"$ilike": "%\\"}}),
    ("/analyses/", {"name": {"$like": "%\\"}}),
    ("/genepanels/", {"name": {"$ilike": "%\\"}}),
    ("/alleleassessments/", {"classification": {"$like": "%\\"}}),
    ("/references/", {"title": {"$like": "%\\"}}),
])
def test_a_like_pattern_ending_in_the_escape_character_is_400(reader, path, query):
    result = reader.get(API + path, query=q(query))
    assert result.status == 400, result.body[:300]
    assert "ends with the escape character" in result.json["message"]


def test_an_escaped_backslash_in_a_like_pattern_is_a_backslash(reader):
    result = reader.get(f"{API}/users/", query=q({"username": {"$like": "%\\\\"}}))
    assert result.status == 200 and result.json == []
    result = reader.get(f"{API}/users/", query=q({"username": {"$like": "testuser\\_"}}))
    assert result.status == 200 and result.json == []  # "\_" is a literal underscore


@pytest.mark.parametrize("path, query", [
    ("/users/", {"password_expiry": {"$gt": "2020-W01-1"}}),
    ("/users/", {"password_expiry": {"$gt": "2020-01-01T00:00:00"}}),
    ("/import/service/jobs/", {"date_submitted": {"$lt": "2020-W01-1"}}),
    ("/import/service/jobs/", {"date_last_update": ["2020-W53-7"]}),
])
def test_dates_in_q_are_parsed_here_not_by_postgresql(reader, path, query):
    """Python reads ISO forms PostgreSQL does not (week dates): the parsed value is sent,
    a date without offset counts as UTC."""
    result = reader.get(API + path, query=q(query))
    assert result.status == 200, result.body[:300]


def test_a_date_in_q_that_is_no_date_is_400(reader):
    result = reader.get(f"{API}/users/", query=q({"password_expiry": {"$gt": "2020-13-01"}}))
    assert result.status == 400 and "not a valid timestamptz" in result.json["message"]


def _letters(n):
    rng = random.Random(1)
    return "".join(rng.choice(string.ascii_letters) for _ in range(n))


def _may_create_panels_for_its_group(conn):
    """testuser1's group may create panels for itself (the groups are checked first)."""
    conn.execute("INSERT INTO usergroupimport SELECT id, id FROM usergroup "
                 "WHERE name = 'testgroup01'")


@pytest.mark.parametrize("field", ["name", "version"])
def test_an_oversized_gene_panel_name_is_400_and_writes_nothing(writer, field):
    """It reached the panel's primary-key index (over its size limit): a 503 "database not
    available" that dropped the connection."""
    client, url = writer
    with psycopg.connect(url) as conn:
        transcript = conn.execute("SELECT min(id) FROM transcript WHERE gene_id = 1100"
                                  ).fetchone()[0]
        _may_create_panels_for_its_group(conn)
    body = {"name": "NewPanel", "version": "v1", "usergroups": ["testgroup01"],
            "genes": [{"hgnc_id": 1100, "inheritance": "AD",
                       "transcripts": [{"id": transcript}]}]}
    body[field] = _letters(20000)
    before = table_snapshot(url, skip=UNLOGGED)
    result = client.post(f"{API}/genepanels/", body)
    assert result.status == 400, result.body[:300]
    assert result.json["message"] == f"The gene panel {field} is longer than 200 characters"
    assert table_snapshot(url, skip=UNLOGGED) == before


def test_a_value_over_a_database_limit_is_400_not_an_outage(writer, monkeypatch):
    """Whatever reaches a PostgreSQL size limit (SQLSTATE class 54; here the panel key's
    index, with the route's own length check lifted) answers 400 and keeps the connection;
    only a database that cannot be reached is 503."""
    import ella.deposit.genepanel as genepanel
    monkeypatch.setattr(genepanel, "MAX_PANEL_NAME_LENGTH", 10**6)
    client, url = writer
    with psycopg.connect(url) as conn:
        transcript = conn.execute("SELECT min(id) FROM transcript WHERE gene_id = 1100"
                                  ).fetchone()[0]
        _may_create_panels_for_its_group(conn)
    before = table_snapshot(url, skip=UNLOGGED)
    result = client.post(f"{API}/genepanels/", {
        "name": _letters(20000), "version": "v1", "usergroups": ["testgroup01"],
        "genes": [{"hgnc_id": 1100, "inheritance": "AD", "transcripts": [{"id": transcript}]}]})
    assert result.status == 400, result.body[:300]
    assert result.json["message"] == "A value in the request is too large to store"
    assert table_snapshot(url, skip=UNLOGGED) == before
    assert client.get(f"{API}/users/currentuser/").status == 200


@pytest.mark.parametrize("history", [
    {"history": 5}, {"history": True}, {"history": 1.5}, {"history": [1]},
    {"history": [{"time": "t"}]}, {"other": []}, {"history": [], "more": 1}])
def test_an_import_job_status_history_of_another_shape_is_400(writer, history):
    """Stored, it broke every later status change of the job (a 500, also for the poller)."""
    client, url = writer
    result = client.post(f"{API}/import/service/jobs/", {
        "genepanel_name": "HBOC", "genepanel_version": "v01", "data": "x", "mode": "Variants",
        "status_history": history})
    assert result.status == 400, result.body[:300]
    assert "status_history must be" in result.json["message"]


def test_an_import_job_with_ellas_status_history_keeps_it(writer):
    client, _ = writer
    history = {"history": [{"time": "2020-01-01T00:00:00+00:00", "status": "SUBMITTED"}]}
    created = client.post(f"{API}/import/service/jobs/", {
        "genepanel_name": "HBOC", "genepanel_version": "v01", "data": "x", "mode": "Variants",
        "status_history": history})
    assert created.status == 200, created.body
    patched = client.request("PATCH", f"{API}/import/service/jobs/{created.json['id']}/",
                             json_body={"status": "FAILED (SUBMISSION)"})
    assert patched.status == 200, patched.body
    entries = patched.json["status_history"]["history"]
    assert [e["status"] for e in entries] == ["SUBMITTED", "SUBMITTED"]


@pytest.mark.parametrize("value", ["\u0661", "1_0", "\u00b2", "\uff11", "0x10"])
def test_integer_query_parameters_are_ascii_digits(reader, value):
    """int() reads `١` (Arabic-Indic one) and `1_0` as numbers: `per_page=١` was a page of
    one, where the other integer inputs (ids in paths and lists) take ASCII digits only."""
    result = reader.get(f"{API}/users/", query="per_page=" + quote(value))
    assert result.status == 400
    assert result.json["message"] == f"Query parameter 'per_page' must be an integer, got " \
                                      f"{value!r}"
    assert reader.get(f"{API}/users/", query="per_page=%201%20").status == 200

