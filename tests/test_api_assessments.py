"""Allele assessments, allele reports, reference assessments, custom annotations and gene
assessments (api.md 2.3, 3.5, 4.19, 4.20, 6 #5) on the real ELLA database, through the WSGI
app."""

import json
import threading

import psycopg
import pytest

from api_client import Client
from api_helpers import logged_in_client

API = "/api/v1"
AA_KEYS = {"id": int, "date_created": str, "date_superceeded": (str, type(None)),
           "allele_id": int, "analysis_id": (int, type(None)), "genepanel_name": str,
           "genepanel_version": str, "annotation_id": (int, type(None)),
           "custom_annotation_id": (int, type(None)), "previous_assessment_id": (int, type(None)),
           "user_id": int, "usergroup_id": (int, type(None)), "usergroup": (dict, type(None)),
           "user": dict, "classification": str, "seconds_since_update": float,
           "evaluation": dict, "attachment_ids": list}
AR_KEYS = {"id": int, "date_created": str, "date_superceeded": (str, type(None)),
           "allele_id": int, "analysis_id": (int, type(None)),
           "previous_report_id": (int, type(None)), "user_id": int,
           "usergroup_id": (int, type(None)), "usergroup": (dict, type(None)), "user": dict,
           "seconds_since_update": float, "evaluation": dict}
RA_KEYS = {"id": int, "allele_id": int, "reference_id": int, "analysis_id": (int, type(None)),
           "genepanel_name": str, "genepanel_version": str, "date_created": str,
           "date_superceeded": (str, type(None)), "user_id": int, "evaluation": dict}
GA_KEYS = {"id": int, "date_created": str, "date_superceeded": (str, type(None)),
           "gene_id": int, "genepanel_name": str, "genepanel_version": str,
           "analysis_id": (int, type(None)), "previous_assessment_id": (int, type(None)),
           "user_id": int, "usergroup_id": int, "user": dict, "seconds_since_update": float,
           "evaluation": dict}
CA_KEYS = {"id": int, "allele_id": int, "user_id": int, "annotations": dict,
           "date_superceeded": (str, type(None)), "date_created": str}
USER_KEYS = {"id", "username", "first_name", "last_name", "full_name", "abbrev_name", "active",
             "user_group_name"}


def check_shape(item, keys):
    assert set(item) == set(keys), set(item) ^ set(keys)
    for key, typ in keys.items():
        assert isinstance(item[key], typ) and not isinstance(item[key], bool), (key, item[key])
    if "user" in keys:
        assert set(item["user"]) == USER_KEYS


@pytest.fixture
def client(demo_api_app, demo_db_url):
    return logged_in_client(demo_api_app, demo_db_url, "testuser1")


def _sql(url, query, params=()):
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def test_alleleassessments_and_reports_lists(client, demo_api_app):
    result = client.get(f"{API}/alleleassessments/")
    assert result.status == 200 and len(result.json) == 6
    assert [a["id"] for a in result.json] == sorted(a["id"] for a in result.json)
    for item in result.json:
        check_shape(item, AA_KEYS)
    assert result.header("Total-Count") == "6" and result.header("Per-Page") == "10000"
    first = result.json[0]
    assert first["usergroup"] == {"id": first["usergroup_id"], "name": "testgroup01"}
    one = client.get(f"{API}/alleleassessments/{first['id']}/")
    assert one.status == 200 and one.json["id"] == first["id"]
    check_shape(one.json, AA_KEYS)
    by_allele = client.get(f"{API}/alleleassessments/",
                           query={"q": {"allele_id": first["allele_id"]}}).json
    assert [a["id"] for a in by_allele] == [first["id"]]
    np_ = client.get(f"{API}/alleleassessments/", query={"q": {"classification": "NP"}}).json
    assert len(np_) == 2 and all(a["classification"] == "NP" for a in np_)
    current = client.get(f"{API}/alleleassessments/", query={"q": {"date_superceeded": None}})
    assert len(current.json) == 6
    # Pagination slices: 6 items, 4 per page.
    page2 = client.get(f"{API}/alleleassessments/", query={"per_page": 4, "page": 2})
    assert len(page2.json) == 2 and page2.header("Total-Count") == "6"
    assert page2.header("Total-Pages") == "2" and page2.header("Page") == "2"
    assert page2.header("Per-Page") == "4"
    capped = client.get(f"{API}/alleleassessments/", query={"per_page": 999})
    assert capped.header("Per-Page") == "50"

    reports = client.get(f"{API}/allelereports/")
    assert reports.status == 200 and len(reports.json) == 6
    for item in reports.json:
        check_shape(item, AR_KEYS)
    assert client.get(f"{API}/allelereports/{reports.json[0]['id']}/").json == reports.json[0] \
        or client.get(f"{API}/allelereports/{reports.json[0]['id']}/").json["id"] \
        == reports.json[0]["id"]
    sliced = client.get(f"{API}/allelereports/", query={"per_page": 5})
    assert len(sliced.json) == 5 and sliced.header("Total-Pages") == "2"

    for path in ("alleleassessments/999999/", "allelereports/999999/",
                 "referenceassessments/999999/"):
        assert client.get(f"{API}/{path}").status == 404, path
    for bad in ('{"nope": 1}', '{"allele_id": "x"}', "{broken", '{"id": {"$foo": 1}}'):
        assert client.get(f"{API}/alleleassessments/", query=f"q={bad}").status == 400, bad
    injected = client.get(f"{API}/alleleassessments/",
                          query={"q": {"genepanel_name": "HBOC'; DROP TABLE allele; --"}})
    assert injected.status == 200 and injected.json == []
    assert client.get(f"{API}/alleleassessments/", query={"page": "x"}).status == 400
    anonymous = Client(demo_api_app)
    for path in ("alleleassessments/", "allelereports/", "referenceassessments/",
                 "customannotations/", "geneassessments/", "alleleassessments/1/",
                 "geneassessments/1/"):
        assert anonymous.get(f"{API}/{path}").status == 403, path


def test_customannotations_merge_and_supersede(client, demo_api_app, demo_db_url):
    allele_id = _sql(demo_db_url, "SELECT min(id) FROM allele")[0][0]
    reference_id = _sql(demo_db_url, "INSERT INTO reference (title, published) VALUES "
                                     "('user added', true) RETURNING id")[0][0]
    path = f"{API}/customannotations/"
    external = {"BRCA_Exchange-BRCA2": "benign"}
    first = client.post(path, {"allele_id": allele_id, "user_id": 42,
                               "annotations": {"external": external}})
    assert first.status == 200, first.body
    check_shape(first.json, CA_KEYS)
    assert first.json["annotations"] == {"external": external}
    assert first.json["user_id"] != 42 and first.json["date_superceeded"] is None
    second = client.post(path, {"allele_id": allele_id, "annotations": {
        "prediction": {"domain": "critical_site", "repeat": None}}})
    assert second.status == 200
    assert second.json["annotations"] == {"external": external,
                                          "prediction": {"domain": "critical_site"}}
    rows = _sql(demo_db_url, "SELECT id, annotations, date_superceeded IS NULL, "
                "previous_annotation_id FROM customannotation WHERE allele_id = %s ORDER BY id",
                (allele_id,))
    assert rows[0][1] == {"external": external} and rows[0][2] is False
    assert rows[1][2] is True and rows[1][3] == rows[0][0]
    # Removing a key with null; in a list (a user's reference without a PubMed id) a null
    # stays, as in ELLA (it was dropped).
    third = client.post(path, {"allele_id": allele_id, "annotations": {
        "external": None,
        "references": [{"id": reference_id, "pubmed_id": None, "source": "User"}]}})
    assert "external" not in third.json["annotations"]
    assert third.json["annotations"]["references"] == [
        {"id": reference_id, "pubmed_id": None, "source": "User"}]
    listed = client.get(path, query={"q": {"allele_id": allele_id}})
    assert listed.status == 200 and [c["id"] for c in listed.json] == [r[0] for r in rows] + [
        third.json["id"]]
    assert listed.header("Total-Count") == "3"
    no_slice = client.get(path, query={"per_page": 1})
    assert len(no_slice.json) == 3 and no_slice.header("Per-Page") == "1"
    # The allele endpoint embeds the custom annotation.
    allele = client.get(f"{API}/alleles/", query={"q": {"id": [allele_id]}}).json[0]
    assert allele["annotation"]["custom_annotation_id"] == third.json["id"]
    assert allele["annotation"]["prediction"]["domain"] == "critical_site"
    # Bad input.
    assert client.post(path, {"allele_id": 999999, "annotations": {}}).status == 404
    assert client.post(path, {"allele_id": "abc", "annotations": {}}).status == 400
    assert client.post(path, {"allele_id": allele_id, "annotations": []}).status == 400
    assert client.post(path, {"allele_id": allele_id, "annotations": {}, "x": 1}).status == 400
    assert client.post(path, {"annotations": {}}).status == 400
    assert client.request("POST", path, raw=b"{nope").status == 400
    # What `ella-deposit custom_annotation` refuses (ELLA stored anything here, and every
    # read then showed it: a ClinVar block replaced by a number, a reference the variant's
    # page could not look up).
    before = _sql(demo_db_url, "SELECT count(*) FROM customannotation")
    for annotations, message in (
            ({"test": 1}, "unknown custom annotation group(s) 'test' (allowed: external, "
                          "prediction, references)"),
            ({"external": "x"}, "annotations.external must be a JSON object"),
            ({"external": {"CLINVAR": "pathogenic"}}, "unknown external key 'CLINVAR'"),
            ({"prediction": {"domain": "x"}}, "prediction.domain: 'x' is not one of "
                                              "critical_domain, critical_site"),
            ({"external": {"other_extdb": "x" * 10_001}},
             "external.other_extdb is longer than 10,000 characters"),
            ({"references": "abc"}, "annotations.references must be a list of JSON objects"),
            ({"references": [{"id": "abc"}]},
             "annotations.references[0].id must be a reference id (a positive integer)"),
            ({"references": [{"id": reference_id, "pubmed_id": -5}]},
             "annotations.references[0].pubmed_id must be a PubMed id or null"),
            ({"references": [{"id": reference_id, "n": 1}]},
             "annotations.references[0]: unknown key(s) 'n' (allowed: id, pubmed_id, source, "
             "sources)"),
            ({"references": [{"id": 999999}]}, "no reference with id 999999"),
            # The UI finds a reference by either: this showed another study.
            ({"references": [{"id": reference_id, "pubmed_id": 5}]},
             f"reference id {reference_id} has no PubMed id, not 5 (give the reference's own, "
             "or leave pubmed_id out)")):
        refused = client.post(path, {"allele_id": allele_id, "annotations": annotations})
        assert (refused.status, refused.json) == (
            400, {"message": f"body.annotations: {message}"}), annotations
    assert _sql(demo_db_url, "SELECT count(*) FROM customannotation") == before
    # ELLA's UI sends a group whole: what an adopted row already holds (a key outside
    # today's lists, a reference as an older UI wrote it, `sources`) is kept, not refused;
    # only what the request changes is checked.
    old_shape = {"id": reference_id, "pubmed_id": None, "sources": ["User"]}
    with psycopg.connect(demo_db_url) as conn:
        conn.execute("UPDATE customannotation SET annotations = %s WHERE allele_id = %s "
                     "AND date_superceeded IS NULL",
                     (json.dumps({"external": {"OldDatabase": "x"},
                                  "references": [old_shape]}), allele_id))
    resent = client.post(path, {"allele_id": allele_id, "annotations": {
        "external": {"OldDatabase": "x", "BIC-BRCA2": "benign"},
        "references": [old_shape, {"id": reference_id, "pubmed_id": None,
                                   "sources": ["User"]}]}})
    assert resent.status == 200, resent.body
    assert resent.json["annotations"]["external"] == {"OldDatabase": "x", "BIC-BRCA2": "benign"}
    refused = client.post(path, {"allele_id": allele_id, "annotations": {
        "external": {"OldDatabase": "y"}}})
    assert refused.status == 400 and refused.json["message"] == (
        "body.annotations: unknown external key 'OldDatabase'")
    assert Client(demo_api_app).post(path, {"allele_id": allele_id,
                                            "annotations": {}}).status == 403


def test_geneassessments(client, demo_api_app, demo_db_url):
    path = f"{API}/geneassessments/"
    body = {"gene_id": 1101, "genepanel_name": "HBOC", "genepanel_version": "v01",
            "evaluation": {"comment": "first"}}
    first = client.post(path, body)
    assert first.status == 200, first.body
    check_shape(first.json, GA_KEYS)
    assert first.json["previous_assessment_id"] is None and first.json["analysis_id"] is None
    # Without presenting the current id: 409, message as ELLA's.
    stale = client.post(path, {**body, "evaluation": {"comment": "x"}})
    assert stale.status == 409
    assert stale.json["message"] == ("'presented_geneassessment_id': None does not match latest "
                                     f"existing geneassessment id: {first.json['id']}")
    second = client.post(path, {**body, "analysis_id": 1, "evaluation": {"comment": "second"},
                                "presented_geneassessment_id": first.json["id"]})
    assert second.status == 200
    assert second.json["previous_assessment_id"] == first.json["id"]
    assert second.json["analysis_id"] == 1
    # A gene comment is shown in every workflow of the gene's panels: bounded.
    long = client.post(path, {**body, "evaluation": {"comment": "c" * 100_001},
                              "presented_geneassessment_id": second.json["id"]})
    assert long.status == 400 and long.json["message"] == (
        "body.evaluation.comment is too long: 100001 characters (at most 100000)")
    # Presenting the old id again loses.
    assert client.post(path, {**body, "presented_geneassessment_id": first.json["id"]}
                       ).status == 409
    listed = client.get(path)
    assert [g["id"] for g in listed.json] == [first.json["id"], second.json["id"]]
    assert listed.json[0]["date_superceeded"] is not None
    current = client.get(path, query={"q": {"gene_id": 1101, "date_superceeded": None}}).json
    assert [g["id"] for g in current] == [second.json["id"]]
    assert len(client.get(path, query={"per_page": 1}).json) == 1
    # One by id (workflow.md 8.5), as in the list.
    one, in_list = client.get(f"{path}{first.json['id']}/").json, listed.json[0]
    del one["seconds_since_update"], in_list["seconds_since_update"]  # time passes
    assert one == in_list
    missing = client.get(f"{path}99999999/")
    assert missing.status == 404 and missing.json["message"] == \
        "No gene assessment with id 99999999"
    # Bad input and access.
    assert client.post(path, {**body, "gene_id": 999999999}).status == 404
    assert client.post(path, {**body, "genepanel_name": "Nope"}).status == 404
    assert client.post(path, {**body, "analysis_id": 9999,
                              "presented_geneassessment_id": second.json["id"]}).status == 404
    assert client.post(path, {**body, "evaluation": {"comment": 1}}).status == 400
    assert client.post(path, {**body, "evaluation": {"comment": "a", "x": 1}}).status == 400
    assert client.post(path, {**body, "gene_id": True}).status == 400
    other = logged_in_client(demo_api_app, demo_db_url, "testuser4")
    assert other.post(path, {**body, "presented_geneassessment_id": second.json["id"]}
                      ).status == 403
    assert other.post(path, {**body, "genepanel_name": "Mendeliome", "analysis_id": 1,
                             "presented_geneassessment_id": second.json["id"]}).status == 403
    assert other.get(path).status == 200  # lists are not group-bound (ELLA)


def test_referenceassessments(client, demo_api_app, demo_db_url):
    in_analysis = ("SELECT g.allele_id FROM genotype g JOIN sample s ON s.id = g.sample_id "
                   "WHERE s.analysis_id = 5")
    allele_id = _sql(demo_db_url, f"SELECT min(allele_id) FROM ({in_analysis}) a")[0][0]
    elsewhere = _sql(demo_db_url, f"SELECT min(id) FROM allele WHERE id NOT IN ({in_analysis})"
                     )[0][0]
    with psycopg.connect(demo_db_url) as conn:
        reference_id = conn.execute(
            "INSERT INTO reference (authors, title, journal, year, pubmed_id, published) "
            "VALUES ('A B', 'T', 'J', '2001', 123456789, true) RETURNING id").fetchone()[0]
    path = f"{API}/referenceassessments/"
    body = {"allele_id": allele_id, "reference_id": reference_id,
            "evaluation": {"relevance": "Yes", "comment": "c"},
            "genepanel_name": "HBOC", "genepanel_version": "v01", "analysis_id": 5}
    first = client.post(path, body)
    assert first.status == 200, first.body
    check_shape(first.json, RA_KEYS)
    # Stored as finalizeallele stores it: ELLA's model's keys, absent ones null.
    evaluation = first.json["evaluation"]
    assert {k: v for k, v in evaluation.items() if v is not None} == \
        {"relevance": "Yes", "comment": "c"}
    assert "ref_segregation" in evaluation and "sources" in evaluation
    # Presenting the current id reuses it.
    reused = client.post(path, {**body, "id": first.json["id"]})
    assert reused.status == 200 and reused.json == first.json
    second = client.post(path, {**body, "evaluation": {"relevance": "No"}})
    assert second.status == 200 and second.json["id"] != first.json["id"]
    assert client.post(path, {**body, "id": first.json["id"]}).status == 409
    one = client.get(f"{path}{first.json['id']}/").json
    assert one["date_superceeded"] is not None
    listed = client.get(path, query={"q": {"allele_id": allele_id}, "per_page": 1})
    assert len(listed.json) == 2 and listed.header("Total-Count") == "2"
    assert _sql(demo_db_url, "SELECT previous_assessment_id FROM referenceassessment "
                "WHERE id = %s", (second.json["id"],)) == [(first.json["id"],)]
    allele = client.get(f"{API}/alleles/", query={"q": {"id": [allele_id]}}).json[0]
    assert [r["id"] for r in allele["reference_assessments"]] == [second.json["id"]]
    assert client.post(path, {**body, "reference_id": 99999999}).status == 404
    assert client.post(path, {**body, "allele_id": 99999999}).status == 404
    assert client.post(path, {**body, "evaluation": "x"}).status == 400
    # Recorded as made in an analysis: the variant must be one of its variants.
    refused = client.post(path, {**body, "allele_id": elsewhere})
    assert refused.status == 400 and refused.json["message"] == \
        f"Allele {elsewhere} is not part of analysis 5"
    assert _sql(demo_db_url, "SELECT count(*) FROM referenceassessment WHERE allele_id = %s",
                (elsewhere,)) == [(0,)]
    # The evaluation model (workflow.md 8.3): no other keys, known values only.
    before = _sql(demo_db_url, "SELECT count(*) FROM referenceassessment")
    for evaluation, message in (
            ({"relevance": "Maybe"}, "Invalid body.evaluation.relevance: 'Maybe' is not one of"),
            ({"comment": "c", "not_a_field": 1},
             "Invalid body.evaluation: Additional properties are not allowed ('not_a_field'"),
            # A misspelt criterion key (ref_de_novo, which PS2/PM6 read) was stored: every
            # key starting with `ref` passed.
            ({"ref_denovo": "x"},
             "Invalid body.evaluation: Additional properties are not allowed ('ref_denovo'"),
            ({"sources": "x"}, "Invalid body.evaluation.sources: 'x' is not of type 'array'")):
        refused = client.post(path, {**body, "evaluation": evaluation})
        assert refused.status == 400 and refused.json["message"].startswith(message), \
            refused.json
    assert _sql(demo_db_url, "SELECT count(*) FROM referenceassessment") == before
    other = logged_in_client(demo_api_app, demo_db_url, "testuser4")
    assert other.post(path, body).status == 403


def test_concurrent_geneassessment_posts_one_wins(demo_api_app, demo_db_url, client):
    path = f"{API}/geneassessments/"
    body = {"gene_id": 1100, "genepanel_name": "HBOC", "genepanel_version": "v01",
            "evaluation": {"comment": "base"}}
    if not _sql(demo_db_url, "SELECT 1 FROM gene WHERE hgnc_id = 1100"):
        pytest.skip("gene 1100 not in the demo database")
    base = client.post(path, body).json
    other = logged_in_client(demo_api_app, demo_db_url, "testuser2")
    results = []
    barrier = threading.Barrier(2)

    def post(c):
        barrier.wait()
        results.append(c.post(path, {**body, "presented_geneassessment_id": base["id"]}).status)

    threads = [threading.Thread(target=post, args=(c,)) for c in (client, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200, 409]
    assert _sql(demo_db_url, "SELECT count(*) FROM geneassessment WHERE gene_id = 1100 "
                "AND date_superceeded IS NULL") == [(1,)]


def test_seconds_since_update_is_counted_by_the_database_clock(client, demo_db_url,
                                                              monkeypatch):
    """The database dates the rows; an API host whose clock ran an hour behind made a fresh
    assessment, report or gene assessment minus an hour old."""
    import datetime as real

    class HourBehind(real.datetime):
        @classmethod
        def now(cls, tz=None):
            return real.datetime.now(tz) - real.timedelta(hours=1)

    from ella import allele_views
    monkeypatch.setattr(allele_views, "datetime", HourBehind, raising=False)
    with psycopg.connect(demo_db_url) as conn:
        conn.execute("UPDATE alleleassessment SET date_created = now()")
        conn.execute("UPDATE allelereport SET date_created = now()")
    posted = client.post(f"{API}/geneassessments/", {
        "gene_id": 1101, "genepanel_name": "HBOC", "genepanel_version": "v01",
        "evaluation": {"comment": "now"}})
    assert 0 <= posted.json["seconds_since_update"] < 60, posted.json
    for path in ("alleleassessments", "allelereports", "geneassessments"):
        listed = client.get(f"{API}/{path}/").json
        assert listed and all(0 <= item["seconds_since_update"] < 60 for item in listed), \
            (path, [item["seconds_since_update"] for item in listed])
