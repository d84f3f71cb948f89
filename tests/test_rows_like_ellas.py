"""The rows our API writes, compared with the NULL/value pattern of the rows ELLA 1.17 itself
wrote in the real demo database (analysis 2, testuser1): an adopted database stays ELLA's."""

import psycopg

from api_helpers import logged_in_client

A = "/api/v1/workflows/analyses"


def _nulls(url, sql, params=()):
    with psycopg.connect(url) as conn:
        cur = conn.execute(sql, params)
        names = [d.name for d in cur.description]
        return [{n: v is None for n, v in zip(names, row)} for row in cur.fetchall()]


def _ok(r):
    assert r.status == 200, (r.status, r.body[:300])
    return r.json


def test_finalizeallele_rows_have_ellas_null_pattern(demo_api_app, demo_db_url):
    url = demo_db_url
    ella_aa = _nulls(url, "SELECT * FROM alleleassessment WHERE id = 1")[0]
    ella_ar = _nulls(url, "SELECT * FROM allelereport WHERE id = 1")[0]
    ella_log = _nulls(url, "SELECT * FROM interpretationlog WHERE id = 8")[0]
    c1 = logged_in_client(demo_api_app, url, "testuser1")
    _ok(c1.post(f"{A}/4/actions/start/", {}))
    with psycopg.connect(url) as conn:
        ann = conn.execute("SELECT id FROM annotation WHERE allele_id = 9 "
                           "AND date_superceeded IS NULL").fetchone()[0]
    ev = {"acmg": {"included": [], "suggested": [], "suggested_classification": None},
          **{k: {"comment": ""} for k in ("external", "frequency", "reference", "prediction",
                                          "classification")}}
    _ok(c1.post(f"{A}/4/actions/finalizeallele/", {
        "allele_id": 9, "annotation_id": ann, "custom_annotation_id": None,
        "alleleassessment": {"reuse": False, "allele_id": 9, "attachment_ids": [],
                             "classification": "3", "evaluation": ev},
        "referenceassessments": [],
        "allelereport": {"reuse": False, "allele_id": 9, "evaluation": {"comment": ""}}}))
    ours_aa = _nulls(url, "SELECT * FROM alleleassessment WHERE allele_id = 9")[0]
    ours_ar = _nulls(url, "SELECT * FROM allelereport WHERE allele_id = 9")[0]
    ours_log = _nulls(url, "SELECT * FROM interpretationlog ORDER BY id DESC LIMIT 1")[0]
    assert ours_aa == ella_aa
    assert ours_ar == ella_ar
    assert ours_log == ella_log
    # The round itself is untouched by finalizeallele; finalized stays NULL while Ongoing,
    # as in ELLA's Ongoing round 2.
    ella_round = _nulls(url, "SELECT * FROM analysisinterpretation WHERE id = 2")[0]
    ours_round = _nulls(url, "SELECT * FROM analysisinterpretation WHERE id = 4")[0]
    assert ours_round == ella_round
