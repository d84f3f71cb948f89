"""The whole analysis workflow through the API on the real TestAnalysis-001 import, with both
halves together: rounds (start/mark/finalize/reopen) and finalize allele (classifications),
then reuse of the finalized classifications in a second analysis with the same variants."""

import psycopg

from workflow_helpers import analysis_alleles, payload, setup_analysis

AN = "/api/v1/workflows/analyses"


def _sql(url, query, params=()):
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def _ok(result):
    assert result.status == 200, (result.status, result.body[:500])
    return result.json


def _round_payload(url, allele_ids, aa_ids, ar_ids):
    annotations = [r[0] for r in _sql(url, "SELECT id FROM annotation WHERE allele_id = ANY(%s) "
                                           "AND date_superceeded IS NULL ORDER BY id",
                                      (allele_ids,))]
    return {"allele_ids": allele_ids, "annotation_ids": annotations,
            "custom_annotation_ids": [], "alleleassessment_ids": aa_ids,
            "allelereport_ids": ar_ids, "excluded_allele_ids": {}}


def test_full_analysis_round_trip_and_reuse(api_app, db_url, ella_config, tmp_path):
    user1, user2, (first, second), _refs = setup_analysis(api_app, db_url, ella_config,
                                                          tmp_path, second=True)
    alleles = analysis_alleles(db_url, first)
    allele_ids = [a for a, _ in alleles]
    assert len(allele_ids) == 6

    # Round 1 (Interpretation): user1 starts and classifies every variant.
    _ok(user1.post(f"{AN}/{first}/actions/start/", {}))
    for allele_id, annotation_id in alleles:
        _ok(user1.post(f"{AN}/{first}/actions/finalizeallele/",
                       payload(allele_id, annotation_id, classification="4")))
    assessments = dict(_sql(db_url, "SELECT allele_id, id FROM alleleassessment "
                                    "WHERE date_superceeded IS NULL"))
    reports = dict(_sql(db_url, "SELECT allele_id, id FROM allelereport "
                                "WHERE date_superceeded IS NULL"))
    assert sorted(assessments) == allele_ids and sorted(reports) == allele_ids
    aa_ids = [assessments[a] for a in allele_ids]
    ar_ids = [reports[a] for a in allele_ids]
    body = _round_payload(db_url, allele_ids, aa_ids, ar_ids)
    _ok(user1.post(f"{AN}/{first}/actions/markreview/", body))

    # Round 2 (Review): user2 starts, then sends it to medical review.
    _ok(user2.post(f"{AN}/{first}/actions/start/", {}))
    _ok(user2.post(f"{AN}/{first}/actions/markmedicalreview/", body))
    # Round 3 (Medical review): user1 finalizes.
    _ok(user1.post(f"{AN}/{first}/actions/start/", {}))
    _ok(user1.post(f"{AN}/{first}/actions/finalize/", body))

    rounds = _sql(db_url, "SELECT status::text, workflow_status::text, finalized, "
                          "(SELECT username FROM \"user\" u WHERE u.id = r.user_id) "
                          "FROM analysisinterpretation r WHERE analysis_id = %s "
                          "ORDER BY date_created, id", (first,))
    assert rounds == [("Done", "Interpretation", False, "wfuser1"),
                      ("Done", "Review", False, "wfuser2"),
                      ("Done", "Medical review", True, "wfuser1")]
    # Every round that ended wrote one snapshot per allele with the assessment shown.
    snapshots = _sql(db_url, "SELECT s.analysisinterpretation_id, count(*), "
                             "count(s.alleleassessment_id) FROM analysisinterpretationsnapshot s "
                             "GROUP BY 1 ORDER BY 1")
    assert [(n, k) for _, n, k in snapshots] == [(6, 6), (6, 6), (6, 6)]
    # The log has one finalize-allele entry per classified variant.
    assert _sql(db_url, "SELECT count(*) FROM interpretationlog WHERE alleleassessment_id IS "
                        "NOT NULL")[0][0] == 6

    # Reopen: a fourth round in the step the analysis was finalized in.
    _ok(user2.post(f"{AN}/{first}/actions/reopen/", {}))
    latest = _sql(db_url, "SELECT status::text, workflow_status::text FROM "
                          "analysisinterpretation WHERE analysis_id = %s ORDER BY date_created "
                          "DESC, id DESC LIMIT 1", (first,))
    assert latest == [("Not started", "Medical review")]

    # The second analysis has the same variants: their classifications exist and are reused.
    second_alleles = analysis_alleles(db_url, second)
    assert [a for a, _ in second_alleles] == allele_ids
    _ok(user1.post(f"{AN}/{second}/actions/start/", {}))
    # Reusing both the classification and the report is not a finalize-allele (ELLA: an error;
    # here a 400): the round simply presents the existing ones.
    allele_id, annotation_id = second_alleles[0]
    refused = user1.post(f"{AN}/{second}/actions/finalizeallele/", payload(
        allele_id, annotation_id, aa_presented=assessments[allele_id],
        ar_presented=reports[allele_id], reuse_aa=True, reuse_ar=True))
    assert refused.status == 400
    _ok(user1.post(f"{AN}/{second}/actions/finalize/",
                   _round_payload(db_url, allele_ids, aa_ids, ar_ids)))
    after = dict(_sql(db_url, "SELECT allele_id, id FROM alleleassessment "
                              "WHERE date_superceeded IS NULL"))
    assert after == assessments and _sql(db_url, "SELECT count(*) FROM alleleassessment")[0][0] == 6
    shown = _sql(db_url, "SELECT s.allele_id, s.alleleassessment_id FROM "
                         "analysisinterpretationsnapshot s JOIN analysisinterpretation r "
                         "ON r.id = s.analysisinterpretation_id WHERE r.analysis_id = %s "
                         "ORDER BY 1", (second,))
    assert shown == sorted(assessments.items())
