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


def _rows(url, sql, params=()):
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


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


def test_a_round_ella_created_goes_through_review_and_reopen_in_ellas_row_shapes(demo_api_app,
                                                                                demo_db_url):
    """ELLA's Not-started round 4: start, save, markreview, finalize and reopen by our API; the
    state history and the next rounds have the NULL pattern of ELLA's own rows."""
    url = demo_db_url
    ella_not_started = _nulls(url, "SELECT * FROM analysisinterpretation WHERE id = 4")[0]
    ella_history = _nulls(url, "SELECT * FROM interpretationstatehistory WHERE id = 1")[0]
    u2, u3, u1 = (logged_in_client(demo_api_app, url, u)
                  for u in ("testuser2", "testuser3", "testuser1"))
    _ok(u2.post(f"{A}/4/actions/start/", {"gp_name": "HBOCUTV", "gp_version": "v01"}))
    state = {"allele": {}, "filterconfigId": 1, "manuallyAddedAlleles": []}
    _ok(u2.request("PATCH", f"{A}/4/interpretations/4/",
                   json_body={"id": 4, "state": state, "user_state": {"allele": {}}}))
    assert _nulls(url, "SELECT * FROM interpretationstatehistory ORDER BY id DESC "
                  "LIMIT 1")[0] == ella_history
    alleles = sorted({r[0] for r in _rows(url, "SELECT g.allele_id FROM genotype g JOIN "
                                         "sample s ON s.id = g.sample_id WHERE "
                                         "s.analysis_id = 4")})
    annotations = [r[0] for r in _rows(url, "SELECT id FROM annotation WHERE allele_id = "
                                       "ANY(%s) AND date_superceeded IS NULL", (alleles,))]
    body = {"allele_ids": alleles, "annotation_ids": annotations, "custom_annotation_ids": [],
            "alleleassessment_ids": [], "allelereport_ids": [], "excluded_allele_ids": {},
            "technical_allele_ids": [], "notrelevant_allele_ids": []}
    _ok(u2.post(f"{A}/4/actions/markreview/", body))
    new = _rows(url, "SELECT id, status::text, workflow_status::text, state, user_state "
                "FROM analysisinterpretation WHERE analysis_id = 4 ORDER BY id")[-1]
    assert new[1:] == ("Not started", "Review", state, {})
    assert _nulls(url, "SELECT * FROM analysisinterpretation WHERE id = %s",
                  (new[0],))[0] == ella_not_started
    _ok(u3.post(f"{A}/4/actions/start/", {}))
    _ok(u3.post(f"{A}/4/actions/finalize/", {**body, "technical_allele_ids": alleles}))
    _ok(u1.post(f"{A}/4/actions/reopen/", {}))
    rounds = _rows(url, "SELECT status::text, workflow_status::text, finalized, user_id "
                   "FROM analysisinterpretation WHERE analysis_id = 4 ORDER BY id")
    assert rounds == [("Done", "Interpretation", False, 2), ("Done", "Review", True, 3),
                      ("Not started", "Review", None, None)]
    assert len(_rows(url, "SELECT 1 FROM analysisinterpretationsnapshot")) == 2 * len(alleles)
