"""api.md 5.5 Workflows bullet: after finalizeallele the list routes with q={"allele_id": X}
show a current row carrying the payload."""
import json

from workflow_helpers import analysis_alleles, payload, setup_analysis, start_round

WF = "/api/v1/workflows/analyses"


def test_list_routes_show_the_current_rows(api_app, db_url, ella_config, tmp_path):
    c1, _, analyses, refs = setup_analysis(api_app, db_url, ella_config, tmp_path)
    start_round(db_url, analyses[0], "wfuser1")
    allele_id, annotation_id = analysis_alleles(db_url, analyses[0])[0]
    ras = [{"allele_id": allele_id, "reference_id": refs[0],
            "evaluation": {"relevance": "Yes", "comment": "ra comment"}}]
    r = c1.post(f"{WF}/{analyses[0]}/actions/finalizeallele/",
                payload(allele_id, annotation_id, classification="4", comment="aa comment",
                        report="report comment", ras=ras))
    assert r.status == 200, r.body
    q = {"q": json.dumps({"allele_id": allele_id})}
    aas = c1.get("/api/v1/alleleassessments/", query=q).json
    current = [a for a in aas if a["date_superceeded"] is None]
    assert len(current) == 1 and current[0]["classification"] == "4"
    assert current[0]["evaluation"]["classification"]["comment"] == "aa comment"
    reports = [a for a in c1.get("/api/v1/allelereports/", query=q).json
               if a["date_superceeded"] is None]
    assert len(reports) == 1 and reports[0]["evaluation"]["comment"] == "report comment"
    refas = [a for a in c1.get("/api/v1/referenceassessments/", query=q).json
             if a["date_superceeded"] is None]
    assert len(refas) == 1 and refas[0]["evaluation"]["comment"] == "ra comment"
