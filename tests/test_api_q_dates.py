"""`q` on date columns (api.md 1.8, 1.3): compared as points in time, whatever offset the
client writes, on every list that has date columns; a value that is not an ISO 8601 date is a
400; on integer columns only whole numbers; a null in a list matches nothing, as in SQL.
On the real ELLA database (assessments created 2020-10-19 from 10:49 UTC on)."""

from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from api_helpers import logged_in_client

API = "/api/v1"
ASSESSMENT_LISTS = ("alleleassessments", "allelereports", "referenceassessments",
                    "geneassessments", "customannotations")


def _ids(result):
    assert result.status == 200, result.body
    return sorted(item["id"] for item in result.json)


@pytest.fixture(scope="module")
def client(shared_demo_api):
    app, url = shared_demo_api
    return logged_in_client(app, url, "testuser1"), url


def test_assessment_dates_compare_as_times(client):
    client, _ = client
    lists = f"{API}/alleleassessments/"
    every = _ids(client.get(lists))
    first = client.get(lists, query={"q": {"id": 1}}).json[0]["date_created"]
    assert _ids(client.get(lists, query={"q": {"date_created": first}})) == [1]
    assert 1 in _ids(client.get(lists, query={"q": {"date_created": {"$gte": first}}}))
    # 12:00+02:00 is 10:00 UTC, before every assessment; the same instant in UTC agrees.
    for earlier in ("2020-10-19T12:00:00+02:00", "2020-10-19T10:00:00+00:00"):
        assert _ids(client.get(lists, query={"q": {"date_created": {"$lt": earlier}}})) == []
        assert _ids(client.get(lists, query={"q": {"date_created": {"$gt": earlier}}})) \
            == every
    # A date without an offset is UTC.
    assert _ids(client.get(lists, query={"q": {"date_created": {"$lt": "2020-10-19T10:00"}}})) \
        == []


@pytest.mark.parametrize("path", ASSESSMENT_LISTS)
def test_a_q_date_that_is_not_a_date_is_400(client, path):
    client, _ = client
    result = client.get(f"{API}/{path}/", query={"q": {"date_created": "not a date"}})
    assert result.status == 400
    assert "is not a valid timestamptz" in result.json["message"]


def test_analyses_genepanels_and_attachments_take_date_columns(client):
    client, url = client
    with psycopg.connect(url) as conn:
        deposited = conn.execute("SELECT min(date_deposited) FROM analysis").fetchone()[0]
        analyses = [r[0] for r in conn.execute(
            "SELECT id FROM analysis WHERE date_deposited > %s ORDER BY id", (deposited,))]
    found = client.get(f"{API}/analyses/",
                       query={"q": {"date_deposited": {"$gt": deposited.isoformat()}}})
    assert _ids(found) == analyses
    assert client.get(f"{API}/analyses/",
                      query={"q": {"date_requested": None}}).status == 200
    for op, some in (("$lt", True), ("$gt", False)):
        panels = client.get(f"{API}/genepanels/", query={"q": {
            "date_created": {op: "2100-01-01T00:00:00+00:00"}}})
        assert panels.status == 200 and bool(panels.json) is some
    assert client.get(f"{API}/attachments/", query={"q": {
        "date_created": {"$lt": "2100-01-01T00:00:00+00:00"}}}).status == 200


def test_a_q_integer_that_is_not_whole_is_400(client):
    """`q` on an integer column: 1.5 was read as 1 and matched id 1; 2.0 stays 2."""
    client, _ = client
    result = client.get(f"{API}/alleleassessments/", query={"q": {"id": 1.5}})
    assert result.status == 400 and "is not a valid integer" in result.json["message"]
    whole = client.get(f"{API}/alleleassessments/", query={"q": {"id": 2.0}})
    assert _ids(whole) == [2]


def test_a_null_in_a_q_list_matches_nothing(client):
    """`{"id": [2, null]}` as SQL's IN (2, NULL): the row 2 (a null in the list was a 400;
    ELLA's UI lists the PubMed ids of references, some of which have none)."""
    client, _ = client
    assert _ids(client.get(f"{API}/alleleassessments/", query={"q": {"id": [2, None]}})) == [2]
    assert _ids(client.get(f"{API}/alleleassessments/",
                           query={"q": {"id": {"$in": [None]}}})) == []


def test_a_number_beyond_the_column_in_a_q_list_matches_nothing(client):
    """A variant's annotation may list a PubMed id too large for `reference.pubmed_id` (a
    pipeline's): the UI's `{"pubmed_id": [...]}` of its references answered 400 for all of
    them. In a list it matches no row; alone it is still a 400."""
    client, _ = client
    path = f"{API}/alleleassessments/"
    assert _ids(client.get(path, query={"q": {"id": [2, 3000000000]}})) == [2]
    assert _ids(client.get(path, query={"q": {"id": {"$in": [3000000000]}}})) == []
    every = _ids(client.get(path, query={"q": {}}))
    assert _ids(client.get(path, query={"q": {"id": {"$nin": [2, 3000000000]}}})) == [
        i for i in every if i != 2]
    # As any number no row has: NOT IN keeps no row whose column is null.
    for column in ("previous_assessment_id", "analysis_id"):
        assert _ids(client.get(path, query={"q": {column: {"$nin": [3000000000]}}})) == \
            _ids(client.get(path, query={"q": {column: {"$nin": [999999999]}}})), column
    result = client.get(path, query={"q": {"id": 3000000000}})
    assert result.status == 400 and "is not a valid integer" in result.json["message"]
    result = client.get(path, query={"q": {"id": [2, "x"]}})
    assert result.status == 400 and "is not a valid integer" in result.json["message"]


def test_a_q_list_of_dates_takes_every_offset_python_reads(client):
    """PostgreSQL takes offsets up to ±15:59 only; a list (`[...]`, `$in`, `$nin`) sent
    +23:59 as text and answered 500. The values are compared in UTC now."""
    client, _ = client
    lists = f"{API}/alleleassessments/"
    first = client.get(lists, query={"q": {"id": 1}}).json[0]["date_created"]
    moved = datetime.fromisoformat(first).astimezone(timezone(timedelta(hours=23, minutes=59)))
    for query in ([moved.isoformat()], {"$in": [moved.isoformat()]}):
        assert _ids(client.get(lists, query={"q": {"date_created": query}})) == [1]
    others = _ids(client.get(lists, query={"q": {"date_created": {
        "$nin": [moved.isoformat()]}}}))
    assert 1 not in others and others
    # In UTC beyond the year 9999: out of range, not a 500.
    result = client.get(lists, query={"q": {"date_created": ["9999-12-31T23:59:00-05:00"]}})
    assert result.status == 400 and "is out of range" in result.json["message"]


def test_eq_and_neq_null_are_is_null_and_is_not_null(demo_api_app, demo_db_url):
    """`{"$neq": null}` is the one way to ask for IS NOT NULL (superseded assessments), as
    SQLAlchemy reads `!= None` in ELLA; it was a 400."""
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    lists = f"{API}/alleleassessments/"
    with psycopg.connect(demo_db_url) as conn:
        conn.execute("UPDATE alleleassessment SET date_superceeded = now() WHERE id IN (1, 3)")
    current = sorted(set(_ids(client.get(lists))) - {1, 3})
    assert _ids(client.get(lists, query={"q": {"date_superceeded": {"$neq": None}}})) == [1, 3]
    assert _ids(client.get(lists, query={"q": {"date_superceeded": {"$eq": None}}})) \
        == current == _ids(client.get(lists, query={"q": {"date_superceeded": None}}))


def test_an_empty_list_still_has_the_other_conditions_checked(client):
    """An empty list matches nothing, but an unknown column beside it is still a 400 (it
    answered 200 [] and hid the client's mistake); so is a $like pattern that is no text
    (null was the pattern 'None')."""
    client, _ = client
    lists = f"{API}/alleleassessments/"
    for q in ({"id": [], "nosuchcolumn": 1}, {"id": {"$in": []}, "nosuchcolumn": 1}):
        result = client.get(lists, query={"q": q})
        assert result.status == 400 and "Unknown column 'nosuchcolumn'" in result.json["message"]
    assert _ids(client.get(lists, query={"q": {"id": [], "allele_id": 1}})) == []
    for pattern in (None, {"a": 1}, ["x"], True):
        result = client.get(f"{API}/references/", query={"q": {"title": {"$like": pattern}}})
        assert result.status == 400 and "needs a text pattern" in result.json["message"]
    assert client.get(f"{API}/references/", query={"q": {"pubmed_id": {"$like": 8}}}).status \
        == 200


def test_attachment_sizes_over_2_gib_can_be_filtered(client):
    """attachment.size is a bigint (max_upload_size has no upper bound); 3 GB was 'not a
    valid integer'."""
    client, _ = client
    for q in ({"size": 3_000_000_000}, {"size": {"$gt": 2**31}}):
        result = client.get(f"{API}/attachments/", query={"q": q})
        assert result.status == 200 and result.json == []
    assert client.get(f"{API}/attachments/", query={"q": {"size": 2**63}}).status == 400
