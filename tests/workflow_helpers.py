"""Shared set-up for the workflow tests: TestAnalysis-001 deposited on a fresh database,
two users of one group with its panel, rounds started by SQL, finalizeallele payloads."""

import psycopg

from api_helpers import add_user, logged_in_client
from deposit_helpers import TEST_ANALYSIS_001, add_test_panels, copy_folder, deposit


def evaluation(comment="ok"):
    return {"acmg": {"included": [{"uuid": "u-1", "code": "PVS1", "comment": "",
                                   "source": "user"}],
                     "suggested": [{"code": "BP7", "op": "$in", "match": ["x"],
                                    "source": "genepanel"}]},
            "external": {"comment": ""}, "frequency": {"comment": ""},
            "reference": {"comment": ""}, "prediction": {"comment": ""},
            "classification": {"comment": comment}}


def start_round(db_url, analysis_id, username, workflow_status=None):
    """Start the analysis' latest round as `username` (what the start action does)."""
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "UPDATE analysisinterpretation SET status = 'Ongoing', user_id = "
            '(SELECT id FROM "user" WHERE username = %s), '
            "workflow_status = coalesce(%s, workflow_status) WHERE id = (SELECT id FROM "
            "analysisinterpretation WHERE analysis_id = %s ORDER BY date_created DESC, id DESC "
            "LIMIT 1)", (username, workflow_status, analysis_id))


def new_round(db_url, analysis_id, status="Not started", workflow_status="Interpretation"):
    """End the latest round (Done, not finalized) and add a new one."""
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE analysisinterpretation SET status = 'Done', finalized = false "
                     "WHERE analysis_id = %s AND status <> 'Done'", (analysis_id,))
        conn.execute("INSERT INTO analysisinterpretation (analysis_id, genepanel_name, "
                     "genepanel_version, status, workflow_status, date_last_update, "
                     "date_created) SELECT id, genepanel_name, genepanel_version, %s, %s, "
                     "now(), clock_timestamp() FROM analysis WHERE id = %s",
                     (status, workflow_status, analysis_id))


def analysis_alleles(db_url, analysis_id):
    """[(allele_id, current annotation id)] of the analysis, by allele id."""
    with psycopg.connect(db_url) as conn:
        return conn.execute(
            "SELECT DISTINCT g.allele_id, n.id FROM genotype g JOIN sample s "
            "ON s.id = g.sample_id JOIN annotation n ON n.allele_id = g.allele_id "
            "AND n.date_superceeded IS NULL WHERE s.analysis_id = %s ORDER BY 1",
            (analysis_id,)).fetchall()


def payload(allele_id, annotation_id, classification="3", aa_presented=None,
            ar_presented=None, reuse_aa=False, reuse_ar=False, ras=(), comment="c",
            report="r"):
    if reuse_aa:
        aa = {"reuse": True, "allele_id": allele_id,
              "presented_alleleassessment_id": aa_presented}
    else:
        aa = {"reuse": False, "allele_id": allele_id, "attachment_ids": [],
              "classification": classification, "evaluation": evaluation(comment),
              "presented_alleleassessment_id": aa_presented}
    if reuse_ar:
        ar = {"reuse": True, "allele_id": allele_id, "presented_allelereport_id": ar_presented}
    else:
        ar = {"reuse": False, "allele_id": allele_id, "evaluation": {"comment": report},
              "presented_allelereport_id": ar_presented}
    return {"allele_id": allele_id, "annotation_id": annotation_id,
            "custom_annotation_id": None, "alleleassessment": aa,
            "referenceassessments": list(ras), "allelereport": ar}


def setup_analysis(app, db_url, config, tmp_path=None, second=False):
    """Deposit TestAnalysis-001 (and a second analysis with the same variants); returns
    (client of wfuser1, client of wfuser2, [analysis ids], [reference ids])."""
    add_test_panels(db_url)
    deposit(db_url, config, TEST_ANALYSIS_001)
    if second:
        folder = copy_folder(TEST_ANALYSIS_001, tmp_path, "second")
        analysis_file = folder / "TestAnalysis-001.analysis"
        analysis_file.write_text(analysis_file.read_text().replace('"TestAnalysis-001"',
                                                                   '"TestAnalysis-002"'))
        deposit(db_url, config, folder)
    add_user(db_url, "wfuser1", "wfgroup", [("HBOC", "v1.0.0")])
    add_user(db_url, "wfuser2", "wfgroup")
    with psycopg.connect(db_url) as conn:
        analysis_ids = [r[0] for r in conn.execute("SELECT id FROM analysis ORDER BY id")]
        reference_ids = [conn.execute(
            "INSERT INTO reference (title, pubmed_id, published) VALUES (%s, %s, true) "
            "RETURNING id", (f"Paper {n}", 9000 + n)).fetchone()[0] for n in range(2)]
    return (logged_in_client(app, db_url, "wfuser1"), logged_in_client(app, db_url, "wfuser2"),
            analysis_ids, reference_ids)
