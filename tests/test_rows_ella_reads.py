"""Rows this service writes into a database ELLA 1.17 may read again (a lab that adopted its
ELLA database and goes back): each must have the shape ELLA itself writes for the same event."""

import psycopg

from test_postprocessors import _classify, _lab, _snps, _vcf
from deposit_helpers import deposit


def test_finalize_without_findings_snapshots_record_nothing_shown_for_filtered_variants(
        db_url, ella_config, tmp_path):
    """workflow.md 9 and 15, datamodel.md 3.6: the automatic finalize of a deposit takes the
    current annotation, custom annotation, classification and report ids of the variants the
    filters kept (ELLA's postprocessor queries them `WHERE allele_id IN allele_ids`); a
    variant a filter removed gets a snapshot row with its category and no ids (annotation
    "NULL for excluded alleles"), as a round the UI ends records it. The row must not claim
    that the round showed that variant's annotation and classification."""
    _lab(db_url, ella_config, {"pattern": "^run",
                               "postprocess": ["analysis_finalize_without_findings"]})
    first = deposit(db_url, ella_config, _vcf(tmp_path, "run1", _snps))
    _classify(db_url, first, "1")
    with psycopg.connect(db_url) as conn:
        # One variant class 5: the lab's filter config removes it (classification filter).
        removed = conn.execute("SELECT min(allele_id) FROM alleleassessment").fetchone()[0]
        conn.execute("UPDATE alleleassessment SET classification = '5' WHERE allele_id = %s",
                     (removed,))
        conn.execute("INSERT INTO allelereport (evaluation, user_id, date_created, allele_id) "
                     "VALUES ('{\"comment\": \"\"}', 1, now(), %s)", (removed,))
    done = deposit(db_url, ella_config, _vcf(tmp_path, "run3", _snps))
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT status::text, finalized FROM analysisinterpretation "
                            "WHERE analysis_id = %s", (done["analysis_id"],)).fetchone() == \
            ("Done", True)
        rows = {r[0]: r[1:] for r in conn.execute(
            "SELECT s.allele_id, s.filtered::text, s.annotation_id, s.customannotation_id, "
            "s.alleleassessment_id, s.allelereport_id FROM analysisinterpretationsnapshot s "
            "JOIN analysisinterpretation r ON r.id = s.analysisinterpretation_id "
            "WHERE r.analysis_id = %s", (done["analysis_id"],))}
    assert len(rows) == 4
    # The kept variants: their current annotation and classification, as before.
    assert all(r[0] is None and r[1] is not None and r[3] is not None
               for a, r in rows.items() if a != removed)
    # The removed one: its category, and nothing "shown".
    assert rows[removed] == ("CLASSIFICATION", None, None, None, None)


# workflow.md 8.3: the keys of ELLA's reference assessment evaluation model.
ELLA_REFERENCE_EVALUATION_KEYS = {
    "comment", "sources", "relevance", "ref_quality", "ref_auth_classification",
    "ref_segregation", "ref_segregation_quality", "ref_ihc", "ref_msi", "ref_prot",
    "ref_prediction", "ref_prot_quality", "ref_population_affecteds", "ref_rna",
    "ref_rna_quality", "ref_aa_overlap", "ref_aa_overlap_same_novel", "ref_domain_overlap",
    "ref_population_healthy", "ref_prediction_tool", "ref_msi_quality", "ref_aa_overlap_aa",
    "ref_aa_overlap_sim", "ref_aa_overlap_aa_ref", "ref_aa_overlap_quality", "ref_phase",
    "ref_ihc_quality", "ref_domain_benign", "ref_de_novo"}


def test_a_reference_evaluation_is_stored_with_the_keys_of_ellas_model(api_app, db_url,
                                                                        ella_config, tmp_path):
    """workflow.md 8.3 and 17.8: ELLA stores a new reference assessment's evaluation with the
    keys of its request model, null for the absent ones, and its model has no other key (its
    requests refuse one: api.md 1.2, extra = forbid). An evaluation that does not name
    `ref_repeat_overlap` (which this service accepts beyond ELLA's model) must not be stored
    with a `"ref_repeat_overlap": null` ELLA never writes: back on ELLA, its UI sends a stored
    evaluation back as the new one when a user edits only the comment of a reference
    assessment (setReferenceAssessment copies the backend's evaluation), and ELLA's
    finalizeallele refuses the request for that key."""
    from workflow_helpers import analysis_alleles, payload, setup_analysis, start_round
    c1, _, analyses, refs = setup_analysis(api_app, db_url, ella_config, tmp_path)
    start_round(db_url, analyses[0], "wfuser1")
    allele_id, annotation_id = analysis_alleles(db_url, analyses[0])[0]
    ras = [{"allele_id": allele_id, "reference_id": refs[0],
            "evaluation": {"relevance": "Yes", "comment": "relevant", "ref_quality": "good"}}]
    result = c1.post(f"/api/v1/workflows/analyses/{analyses[0]}/actions/finalizeallele/",
                     payload(allele_id, annotation_id, ras=ras))
    assert result.status == 200, result.body
    with psycopg.connect(db_url) as conn:
        stored = conn.execute("SELECT evaluation FROM referenceassessment WHERE id = %s",
                              (result.json["referenceassessments"][0]["id"],)).fetchone()[0]
    assert set(stored) == ELLA_REFERENCE_EVALUATION_KEYS, \
        sorted(set(stored) ^ ELLA_REFERENCE_EVALUATION_KEYS)
    assert {k: v for k, v in stored.items() if v is not None} == ras[0]["evaluation"]
