"""finalizeallele (workflow.md 4.6, 8; api.md 4.15), collisions (13) and similar alleles (14)
through the WSGI app on a real PostgreSQL: TestAnalysis-001 deposited, rounds started by SQL."""

import json
import re
import threading
import time
from pathlib import Path

import psycopg
import pytest

from api_helpers import logged_in_client
from workflow_helpers import (analysis_alleles, new_round, payload, setup_analysis,
                              start_round)

WF = "/api/v1/workflows"
ROOT = Path(__file__).resolve().parent.parent


def finalize(client, analysis_id, body):
    return client.post(f"{WF}/analyses/{analysis_id}/actions/finalizeallele/", body)


def current(db_url, table, allele_id):
    with psycopg.connect(db_url) as conn:
        return conn.execute(f"SELECT id FROM {table} WHERE allele_id = %s "
                            "AND date_superceeded IS NULL", (allele_id,)).fetchall()


def counts(db_url):
    with psycopg.connect(db_url) as conn:
        return {t: conn.execute(f"SELECT count(*), count(date_superceeded) FROM {t}").fetchone()
                for t in ("alleleassessment", "allelereport", "referenceassessment")} | {
            "log": conn.execute("SELECT count(*) FROM interpretationlog").fetchone()}


@pytest.fixture
def wf(api_app, db_url, ella_config, tmp_path):
    c1, c2, analyses, refs = setup_analysis(api_app, db_url, ella_config, tmp_path, second=True)
    start_round(db_url, analyses[0], "wfuser1")
    return {"c1": c1, "c2": c2, "analyses": analyses, "refs": refs, "db": db_url}


def classify_all(wf, analysis_id):
    results = {}
    for n, (allele_id, annotation_id) in enumerate(analysis_alleles(wf["db"], analysis_id)):
        ras = [{"allele_id": allele_id, "reference_id": wf["refs"][0],
                "evaluation": {"relevance": "Yes", "comment": "relevant", "ref_quality": "good"}}]
        result = finalize(wf["c1"], analysis_id,
                          payload(allele_id, annotation_id, classification=str(n % 5 + 1),
                                  comment=f"eval {n}", report=f"report {n}", ras=ras))
        assert result.status == 200, result.body
        results[allele_id] = result.json
    return results


def test_a_stored_reference_evaluation_sent_back_edited_is_accepted(wf):
    """The stored evaluation has every key, null for absent ones (as ELLA stores it); a
    client that edits a reference assessment by sending that back, nulls included, is
    not refused (comment, sources and relevance refused null)."""
    analysis_id = wf["analyses"][0]
    allele_id, annotation_id = analysis_alleles(wf["db"], analysis_id)[0]
    ras = [{"allele_id": allele_id, "reference_id": wf["refs"][0],
            "evaluation": {"ref_quality": "good"}}]
    first = finalize(wf["c1"], analysis_id, payload(allele_id, annotation_id, ras=ras))
    assert first.status == 200, first.body
    stored = wf["c1"].get(f"/api/v1/referenceassessments/"
                          f"{first.json['referenceassessments'][0]['id']}/").json["evaluation"]
    assert stored["comment"] is None and stored["sources"] is None \
        and stored["relevance"] is None
    ras[0]["evaluation"] = {**stored, "ref_quality": "poor"}
    second = finalize(wf["c1"], analysis_id, payload(
        allele_id, annotation_id, aa_presented=first.json["alleleassessment"]["id"],
        ar_presented=first.json["allelereport"]["id"], ras=ras))
    assert second.status == 200, second.body
    assert second.json["referenceassessments"][0]["evaluation"] == ras[0]["evaluation"]


def test_a_reference_evaluation_with_a_key_outside_ellas_model_is_refused(wf):
    """workflow.md 8.3 allows the listed keys only: a misspelt one (`ref_denovo` for the
    `ref_de_novo` PS2/PM6 read) was stored, as was any key starting with `ref`, and the
    evidence never reached the rules."""
    analysis_id = wf["analyses"][0]
    allele_id, annotation_id = analysis_alleles(wf["db"], analysis_id)[0]
    before = counts(wf["db"])
    for key in ("ref_denovo", "reference"):
        ras = [{"allele_id": allele_id, "reference_id": wf["refs"][0],
                "evaluation": {"relevance": "Yes", key: "de_novo_confirmed"}}]
        result = finalize(wf["c1"], analysis_id, payload(allele_id, annotation_id, ras=ras))
        assert result.status == 400 and f"('{key}' was unexpected)" in result.json["message"]
    assert counts(wf["db"]) == before
    # Every key the ACMG rules read is one (ref_repeat_overlap, which ELLA's reference form
    # stores, is not in workflow.md 8.3's list).
    ruleset = json.loads((ROOT / "ella" / "acmg" / "ruleset.json").read_text())
    read = sorted({source.rsplit(".", 1)[1] for source in re.findall(
        r'"(refassessment\.\*\.[a-z_]+)"', json.dumps(ruleset))})
    assert "ref_repeat_overlap" in read and "ref_de_novo" in read
    ras[0]["evaluation"] = {"relevance": "Yes", **{key: "x" for key in read}}
    assert finalize(wf["c1"], analysis_id,
                    payload(allele_id, annotation_id, ras=ras)).status == 200


def test_acmg_lists_beyond_any_real_evaluation_are_refused(wf):
    """120,000 `acmg.included` entries (within the 10 MB body limit) were checked against the
    schema for 15 s and stored; the lists are capped (1,000 entries, 100 matches each)."""
    analysis_id = wf["analyses"][0]
    allele_id, annotation_id = analysis_alleles(wf["db"], analysis_id)[0]
    before = counts(wf["db"])
    entry = {"uuid": "u", "code": "PM2", "comment": "", "op": None, "match": None,
             "source": "user"}
    for key, entries, message in (
            ("included", [entry] * 1001, "acmg.included: 1001 entries, at most 1000"),
            ("suggested", [{"code": "PM2"}] * 1001, "acmg.suggested: 1001 entries, at most"),
            ("included", [dict(entry, match=["x"] * 101)],
             "acmg.included[0].match: 101 entries, at most 100")):
        body = payload(allele_id, annotation_id)
        body["alleleassessment"]["evaluation"]["acmg"][key] = entries
        result = finalize(wf["c1"], analysis_id, body)
        assert result.status == 400, result.body
        assert result.json["message"].startswith(
            f"Invalid body.alleleassessment.evaluation.{message}"), result.body
    assert counts(wf["db"]) == before
    body = payload(allele_id, annotation_id)
    body["alleleassessment"]["evaluation"]["acmg"]["included"] = [
        dict(entry, uuid=str(n), match=["x"] * 100) for n in range(1000)]
    assert finalize(wf["c1"], analysis_id, body).status == 200


def test_criterion_06_finalizeallele_creates_current_rows_equal_to_payload(wf):
    analysis_id = wf["analyses"][0]
    results = classify_all(wf, analysis_id)
    assert len(results) == 6
    with psycopg.connect(wf["db"]) as conn:
        round_id, gp = conn.execute("SELECT id, genepanel_name || ' ' || genepanel_version FROM "
                                    "analysisinterpretation WHERE analysis_id = %s",
                                    (analysis_id,)).fetchone()
        for n, (allele_id, result) in enumerate(results.items()):
            aa, ar, ras = result["alleleassessment"], result["allelereport"], \
                result["referenceassessments"]
            row = conn.execute(
                "SELECT classification::text, evaluation, user_id, usergroup_id, analysis_id, "
                "genepanel_name || ' ' || genepanel_version, previous_assessment_id, "
                "date_superceeded FROM alleleassessment WHERE id = %s", (aa["id"],)).fetchone()
            assert row[0] == str(n % 5 + 1) == aa["classification"]
            assert row[1]["classification"]["comment"] == f"eval {n}"
            # Stored like ELLA: the request model's keys, absent optional ones as null.
            assert row[1]["similar"] is None and row[1]["comment"] is None
            assert row[1]["acmg"]["suggested_classification"] is None
            assert row[1]["acmg"]["included"][0]["op"] is None
            assert row[4:] == (analysis_id, gp, None, None)
            assert aa["user"]["username"] == "wfuser1" and aa["usergroup"]["name"] == "wfgroup"
            assert ar["evaluation"] == {"comment": f"report {n}"}
            assert ar["previous_report_id"] is None and ar["analysis_id"] == analysis_id
            assert len(ras) == 1 and ras[0]["evaluation"]["relevance"] == "Yes"
            assert ras[0]["evaluation"]["ref_segregation"] is None
            assert ras[0]["genepanel_name"] + " " + ras[0]["genepanel_version"] == gp
            links = conn.execute("SELECT referenceassessment_id FROM "
                                 "alleleassessmentreferenceassessment WHERE "
                                 "alleleassessment_id = %s", (aa["id"],)).fetchall()
            assert links == [(ras[0]["id"],)]
            log = conn.execute("SELECT analysisinterpretation_id, user_id IS NOT NULL, "
                               "allelereport_id FROM interpretationlog WHERE "
                               "alleleassessment_id = %s", (aa["id"],)).fetchall()
            assert log == [(round_id, True, ar["id"])]
            assert current(wf["db"], "alleleassessment", allele_id) == [(aa["id"],)]
        # ELLA quirk kept: the report never points at the assessment.
        assert conn.execute("SELECT count(*) FROM allelereport WHERE alleleassessment_id "
                            "IS NOT NULL").fetchone() == (0,)


def test_new_rows_record_the_custom_annotation_and_the_authors_group(wf):
    """The new assessment names the custom annotation it was made on (as it names the
    annotation), and a new reference assessment its author and the author's group, as the
    allele assessment does (the record of who assessed the evidence)."""
    analysis_id = wf["analyses"][0]
    allele_id, annotation_id = analysis_alleles(wf["db"], analysis_id)[0]
    with psycopg.connect(wf["db"]) as conn:
        custom_id = conn.execute(
            "INSERT INTO customannotation (annotations, allele_id, date_created) VALUES "
            "('{\"external\": {\"other_extdb\": \"x\"}}', %s, now()) RETURNING id",
            (allele_id,)).fetchone()[0]
        user_id, group_id = conn.execute(
            'SELECT id, group_id FROM "user" WHERE username = %s', ("wfuser1",)).fetchone()
    body = payload(allele_id, annotation_id, ras=[
        {"allele_id": allele_id, "reference_id": wf["refs"][0], "evaluation": {"comment": "x"}}])
    body["custom_annotation_id"] = custom_id
    result = finalize(wf["c1"], analysis_id, body)
    assert result.status == 200, result.body
    aa_id = result.json["alleleassessment"]["id"]
    ra_id = result.json["referenceassessments"][0]["id"]
    with psycopg.connect(wf["db"]) as conn:
        assert conn.execute("SELECT annotation_id, custom_annotation_id FROM alleleassessment "
                            "WHERE id = %s", (aa_id,)).fetchone() == (annotation_id, custom_id)
        assert conn.execute("SELECT user_id, usergroup_id FROM referenceassessment "
                            "WHERE id = %s", (ra_id,)).fetchone() == (user_id, group_id)
    assert result.json["alleleassessment"]["custom_annotation_id"] == custom_id


def test_criterion_09_reuse_in_a_second_analysis_keeps_the_ids(wf):
    first, second = wf["analyses"]
    results = classify_all(wf, first)
    start_round(wf["db"], second, "wfuser2")
    for allele_id, annotation_id in analysis_alleles(wf["db"], second):
        old = results[allele_id]
        ra = old["referenceassessments"][0]
        body = payload(allele_id, annotation_id, reuse_aa=True,
                       aa_presented=old["alleleassessment"]["id"],
                       ar_presented=old["allelereport"]["id"], report="new report",
                       ras=[{"id": ra["id"], "allele_id": allele_id,
                             "reference_id": ra["reference_id"]}])
        result = finalize(wf["c2"], second, body)
        assert result.status == 200, result.body
        assert result.json["alleleassessment"]["id"] == old["alleleassessment"]["id"]
        assert result.json["referenceassessments"] == [ra]
        report = result.json["allelereport"]
        assert report["previous_report_id"] == old["allelereport"]["id"]
        assert report["analysis_id"] == second and report["user"]["username"] == "wfuser2"
        assert current(wf["db"], "alleleassessment", allele_id) == \
            [(old["alleleassessment"]["id"],)]
        assert current(wf["db"], "referenceassessment", allele_id) == [(ra["id"],)]
        assert current(wf["db"], "allelereport", allele_id) == [(report["id"],)]


def test_new_version_supersedes_and_keeps_the_chain(wf):
    analysis_id = wf["analyses"][0]
    allele_id, annotation_id = analysis_alleles(wf["db"], analysis_id)[0]
    ids = []
    aa_presented = ar_presented = None
    for version in range(3):
        result = finalize(wf["c1"], analysis_id, payload(
            allele_id, annotation_id, classification=str(version + 3),
            aa_presented=aa_presented, ar_presented=ar_presented, report=f"v{version}"))
        assert result.status == 200, result.body
        aa_presented = result.json["alleleassessment"]["id"]
        ar_presented = result.json["allelereport"]["id"]
        ids.append((aa_presented, ar_presented))
    with psycopg.connect(wf["db"]) as conn:
        chain = conn.execute("SELECT id, previous_assessment_id, date_superceeded IS NOT NULL, "
                             "classification::text FROM alleleassessment WHERE allele_id = %s "
                             "ORDER BY id", (allele_id,)).fetchall()
        reports = conn.execute("SELECT id, previous_report_id, date_superceeded IS NOT NULL "
                               "FROM allelereport WHERE allele_id = %s ORDER BY id",
                               (allele_id,)).fetchall()
    (a1, r1), (a2, r2), (a3, r3) = ids
    assert chain == [(a1, None, True, "3"), (a2, a1, True, "4"), (a3, a2, False, "5")]
    assert reports == [(r1, None, True), (r2, r1, True), (r3, r2, False)]


def test_new_reference_assessment_supersedes_the_current_one(wf):
    analysis_id = wf["analyses"][0]
    allele_id, annotation_id = analysis_alleles(wf["db"], analysis_id)[0]
    ref = wf["refs"][1]
    new_ra = {"allele_id": allele_id, "reference_id": ref, "evaluation": {"comment": "one"}}
    first = finalize(wf["c1"], analysis_id, payload(allele_id, annotation_id, ras=[new_ra]))
    assert first.status == 200
    old_ra = first.json["referenceassessments"][0]
    second = finalize(wf["c1"], analysis_id, payload(
        allele_id, annotation_id, aa_presented=first.json["alleleassessment"]["id"],
        ar_presented=first.json["allelereport"]["id"],
        ras=[{**new_ra, "evaluation": {"comment": "two"}}]))
    assert second.status == 200, second.body
    with psycopg.connect(wf["db"]) as conn:
        rows = conn.execute("SELECT id, previous_assessment_id, date_superceeded IS NULL, "
                            "evaluation->>'comment' FROM referenceassessment ORDER BY id"
                            ).fetchall()
    assert rows == [(old_ra["id"], None, False, "one"),
                    (second.json["referenceassessments"][0]["id"], old_ra["id"], True, "two")]


def test_criterion_12_reused_assessment_with_new_reference_assessment_is_refused(wf):
    analysis_id = wf["analyses"][0]
    allele_id, annotation_id = analysis_alleles(wf["db"], analysis_id)[0]
    aa = finalize(wf["c1"], analysis_id, payload(allele_id, annotation_id)).json
    before = counts(wf["db"])
    result = finalize(wf["c1"], analysis_id, payload(
        allele_id, annotation_id, reuse_aa=True, aa_presented=aa["alleleassessment"]["id"],
        ar_presented=aa["allelereport"]["id"],
        ras=[{"allele_id": allele_id, "reference_id": wf["refs"][0], "evaluation": {}}]))
    assert result.status == 400
    assert "Trying to create referenceassessments for allele, while not also creating " \
           "alleleassessment" in result.json["message"]
    assert counts(wf["db"]) == before


def test_criterion_13_reusing_a_superseded_reference_assessment_is_refused(wf):
    analysis_id = wf["analyses"][0]
    allele_id, annotation_id = analysis_alleles(wf["db"], analysis_id)[0]
    ref = wf["refs"][0]
    new_ra = {"allele_id": allele_id, "reference_id": ref, "evaluation": {"comment": "x"}}
    first = finalize(wf["c1"], analysis_id, payload(allele_id, annotation_id, ras=[new_ra]))
    old_ra_id = first.json["referenceassessments"][0]["id"]
    second = finalize(wf["c1"], analysis_id, payload(
        allele_id, annotation_id, aa_presented=first.json["alleleassessment"]["id"],
        ar_presented=first.json["allelereport"]["id"], ras=[new_ra]))
    before = counts(wf["db"])
    result = finalize(wf["c1"], analysis_id, payload(
        allele_id, annotation_id, aa_presented=second.json["alleleassessment"]["id"],
        ar_presented=second.json["allelereport"]["id"],
        ras=[{"id": old_ra_id, "allele_id": allele_id, "reference_id": ref}]))
    assert result.status == 409
    assert result.json["message"] == (
        f"Found no matching referenceassessment for allele_id: {allele_id}, reference_id: "
        f"{ref}, id: {old_ra_id}. Either the assessment is outdated or it doesn't exist.")
    assert counts(wf["db"]) == before


@pytest.mark.parametrize("kinds", [("reused", "new"), ("new", "reused"), ("new", "new"),
                                   ("reused", "reused")])
def test_one_reference_assessed_twice_in_a_request_is_refused(wf, kinds):
    """A new assessment next to the reused one would supersede it and link both to the new
    classification (stale evidence); two new ones, or one reused twice, contradict."""
    analysis_id = wf["analyses"][0]
    allele_id, annotation_id = analysis_alleles(wf["db"], analysis_id)[0]
    ref = wf["refs"][0]
    first = finalize(wf["c1"], analysis_id, payload(allele_id, annotation_id, ras=[
        {"allele_id": allele_id, "reference_id": ref, "evaluation": {"comment": "one"}}])).json
    old_ra_id = first["referenceassessments"][0]["id"]
    variants = {"reused": {"id": old_ra_id, "allele_id": allele_id, "reference_id": ref},
                "new": {"allele_id": allele_id, "reference_id": ref,
                        "evaluation": {"comment": "two"}}}
    before = counts(wf["db"])
    result = finalize(wf["c1"], analysis_id, payload(
        allele_id, annotation_id, aa_presented=first["alleleassessment"]["id"],
        ar_presented=first["allelereport"]["id"], ras=[variants[k] for k in kinds]))
    assert result.status == 400
    assert result.json["message"] == (f"body.referenceassessments[1]: reference {ref} is "
                                      "assessed more than once in this request")
    assert counts(wf["db"]) == before
    assert current(wf["db"], "referenceassessment", allele_id) == [(old_ra_id,)]


def test_a_new_reference_assessment_of_an_unknown_reference_is_400_and_stores_nothing(wf):
    """A reference id that names no reference is bad input (400 naming it), refused before
    anything is written, not a database error."""
    analysis_id = wf["analyses"][0]
    allele_id, annotation_id = analysis_alleles(wf["db"], analysis_id)[0]
    before = counts(wf["db"])
    result = finalize(wf["c1"], analysis_id, payload(allele_id, annotation_id, ras=[
        {"allele_id": allele_id, "reference_id": wf["refs"][0], "evaluation": {"comment": "a"}},
        {"allele_id": allele_id, "reference_id": 424242, "evaluation": {"comment": "b"}}]))
    assert result.status == 400, result.body
    assert result.json["message"] == "No reference with id 424242"
    assert counts(wf["db"]) == before


@pytest.mark.parametrize("reused", ["alleleassessment", "allelereport"])
def test_reusing_an_assessment_or_report_the_variant_does_not_have_is_400(wf, reused):
    """`reuse: true` for a variant without a current assessment (or report) is bad input
    (400 naming it) and stores nothing; nothing is created in its place."""
    analysis_id = wf["analyses"][0]
    allele_id, annotation_id = analysis_alleles(wf["db"], analysis_id)[0]
    what = {"alleleassessment": "allele assessment", "allelereport": "allele report"}[reused]
    before = counts(wf["db"])
    body = payload(allele_id, annotation_id, reuse_aa=reused == "alleleassessment",
                   reuse_ar=reused == "allelereport", aa_presented=None, ar_presented=None)
    body[reused][f"presented_{reused}_id"] = 424242
    result = finalize(wf["c1"], analysis_id, body)
    assert result.status == 400, result.body
    assert result.json["message"] == (f"There is no current {what} of allele {allele_id} "
                                      "to reuse")
    assert counts(wf["db"]) == before
    assert current(wf["db"], reused, allele_id) == []


def test_criterion_14_stale_presented_ids_are_409_and_change_nothing(wf):
    analysis_id = wf["analyses"][0]
    allele_id, annotation_id = analysis_alleles(wf["db"], analysis_id)[0]
    one = finalize(wf["c1"], analysis_id, payload(allele_id, annotation_id)).json
    two = finalize(wf["c2"], analysis_id, payload(
        allele_id, annotation_id, aa_presented=one["alleleassessment"]["id"],
        ar_presented=one["allelereport"]["id"])).json
    aa1, aa2 = one["alleleassessment"]["id"], two["alleleassessment"]["id"]
    ar1, ar2 = one["allelereport"]["id"], two["allelereport"]["id"]
    before = counts(wf["db"])
    stale_aa = finalize(wf["c1"], analysis_id, payload(
        allele_id, annotation_id, reuse_aa=True, aa_presented=aa1, ar_presented=ar2))
    assert stale_aa.status == 409
    assert stale_aa.json["message"] == (f"'presented_alleleassessment_id': {aa1} does not "
                                        f"match latest existing alleleassessment id: {aa2}")
    missing = finalize(wf["c1"], analysis_id, payload(allele_id, annotation_id))
    assert missing.status == 409 and missing.json["message"] == (
        f"'presented_alleleassessment_id': None does not match latest existing "
        f"alleleassessment id: {aa2}")
    stale_ar = finalize(wf["c1"], analysis_id, payload(
        allele_id, annotation_id, aa_presented=aa2, ar_presented=ar1))
    assert stale_ar.status == 409
    assert stale_ar.json["message"] == (f"'presented_allelereport_id': {ar1} does not match "
                                        f"latest existing allelereport id: {ar2}")
    assert counts(wf["db"]) == before
    assert current(wf["db"], "alleleassessment", allele_id) == [(aa2,)]


def test_criterion_16_workflow_status_requirement_from_the_user_config(wf):
    analysis_id = wf["analyses"][0]
    allele_id, annotation_id = analysis_alleles(wf["db"], analysis_id)[0]
    with psycopg.connect(wf["db"]) as conn:
        conn.execute('UPDATE "user" SET config = %s WHERE username = %s', (psycopg.types.json.Jsonb(
            {"workflows": {"analysis": {"finalize_requirements": {
                "workflow_status": ["Review", "Medical review"]}}}}), "wfuser1"))
    result = finalize(wf["c1"], analysis_id, payload(allele_id, annotation_id))
    assert result.status == 409
    assert "Cannot finalize: interpretation workflow status is Interpretation, but must be " \
           "one of: Review, Medical review" in result.json["message"]
    assert current(wf["db"], "alleleassessment", allele_id) == []
    new_round(wf["db"], analysis_id, workflow_status="Medical review")
    start_round(wf["db"], analysis_id, "wfuser1")
    for allele_id, annotation_id in analysis_alleles(wf["db"], analysis_id):
        assert finalize(wf["c1"], analysis_id,
                        payload(allele_id, annotation_id)).status == 200


def test_report_only_change_is_allowed_whatever_the_workflow_status(wf):
    analysis_id = wf["analyses"][0]
    allele_id, annotation_id = analysis_alleles(wf["db"], analysis_id)[0]
    first = finalize(wf["c1"], analysis_id, payload(allele_id, annotation_id)).json
    with psycopg.connect(wf["db"]) as conn:
        conn.execute('UPDATE "user" SET config = %s WHERE username = %s', (psycopg.types.json.Jsonb(
            {"workflows": {"analysis": {"finalize_requirements": {
                "workflow_status": ["Review"]}}}}), "wfuser1"))
    result = finalize(wf["c1"], analysis_id, payload(
        allele_id, annotation_id, reuse_aa=True, aa_presented=first["alleleassessment"]["id"],
        ar_presented=first["allelereport"]["id"], report="only the report"))
    assert result.status == 200, result.body


def test_preconditions_in_order(wf, db_url):
    analysis_id = wf["analyses"][0]
    alleles = analysis_alleles(wf["db"], analysis_id)
    allele_id, annotation_id = alleles[0]
    # Wrong annotation, custom annotation, allele not in the analysis, nothing created.
    result = finalize(wf["c1"], analysis_id, payload(allele_id, annotation_id + 1000))
    assert result.status == 409 and result.json["message"] == (
        "Cannot finalize: provided annotation_id does not match latest annotation id")
    body = payload(allele_id, annotation_id)
    body["custom_annotation_id"] = 5
    result = finalize(wf["c1"], analysis_id, body)
    assert result.status == 409 and "custom_annotation_id does not match" in result.json["message"]
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO allele (genome_reference, chromosome, start_position, "
                     "open_end_position, change_from, change_to, change_type, vcf_pos, vcf_ref, "
                     "vcf_alt, length, caller_type) SELECT genome_reference, chromosome, "
                     "start_position + 1, open_end_position + 1, change_from, change_to, "
                     "change_type, vcf_pos + 1, vcf_ref, vcf_alt, length, caller_type "
                     "FROM allele WHERE id = %s RETURNING id", (allele_id,))
    other = max(a for a, _ in alleles) + 1
    result = finalize(wf["c1"], analysis_id, payload(other, annotation_id))
    assert result.status == 400 and "not part of analysis" in result.json["message"]
    first = finalize(wf["c1"], analysis_id, payload(allele_id, annotation_id)).json
    result = finalize(wf["c1"], analysis_id, payload(
        allele_id, annotation_id, reuse_aa=True, reuse_ar=True,
        aa_presented=first["alleleassessment"]["id"], ar_presented=first["allelereport"]["id"]))
    assert result.status == 400
    # Bad input: unknown key, bad classification, bad evaluation.
    for change in ({"extra": 1}, {"alleleassessment": {**body["alleleassessment"],
                                                        "classification": "U"}},
                   {"alleleassessment": {**body["alleleassessment"], "evaluation": {}}},
                   {"allelereport": {**body["allelereport"], "evaluation": {"x": "y"}}}):
        result = finalize(wf["c1"], analysis_id, {**body, **change})
        assert result.status == 400, (change, result.body)
    # Not Ongoing: a new round not started yet.
    new_round(db_url, analysis_id)
    before = counts(db_url)
    result = finalize(wf["c1"], analysis_id, payload(
        allele_id, annotation_id, aa_presented=first["alleleassessment"]["id"],
        ar_presented=first["allelereport"]["id"]))
    assert result.status == 409 and result.json["message"] == (
        "Cannot finalize allele when latest interpretation is not 'Ongoing'")
    assert counts(db_url) == before


def test_attachments_are_linked_and_unknown_ids_refused(wf):
    """An unknown attachment id is a 400 with nothing stored (ELLA drops it silently: the
    assessment would lack an attachment its author linked)."""
    analysis_id = wf["analyses"][0]
    allele_id, annotation_id = analysis_alleles(wf["db"], analysis_id)[0]
    with psycopg.connect(wf["db"]) as conn:
        att = conn.execute("INSERT INTO attachment (sha256, filename, size, date_created, "
                           "mimetype, user_id) SELECT 'abc', 'f.txt', 1, now(), 'text/plain', "
                           "id FROM \"user\" WHERE username = 'wfuser1' RETURNING id"
                           ).fetchone()[0]
    body = payload(allele_id, annotation_id)
    body["alleleassessment"]["attachment_ids"] = [att, 424242]
    before = counts(wf["db"])
    result = finalize(wf["c1"], analysis_id, body)
    assert result.status == 400 and result.json["message"] == (
        "No attachment with id 424242 (body.alleleassessment.attachment_ids)")
    assert counts(wf["db"]) == before
    body["alleleassessment"]["attachment_ids"] = [att, att]
    result = finalize(wf["c1"], analysis_id, body)
    assert result.status == 200, result.body
    assert result.json["alleleassessment"]["attachment_ids"] == [att]


@pytest.mark.parametrize("reuse", [True, False])
def test_presented_assessment_superseded_while_waiting_for_its_lock_is_409(wf, reuse):
    """Another transaction supersedes the presented assessment X by Y while this request
    waits for X's row lock: the caller's view is stale (409 naming Y), not "there is no
    current assessment" (there is: Y)."""
    analysis_id = wf["analyses"][0]
    allele_id, annotation_id = analysis_alleles(wf["db"], analysis_id)[0]
    first = finalize(wf["c1"], analysis_id, payload(allele_id, annotation_id)).json
    aa_x, ar = first["alleleassessment"]["id"], first["allelereport"]["id"]
    result = {}
    with psycopg.connect(wf["db"]) as other, \
            psycopg.connect(wf["db"], autocommit=True) as watch:
        other.execute("UPDATE alleleassessment SET date_superceeded = now() WHERE id = %s",
                      (aa_x,))
        aa_y = other.execute(
            "INSERT INTO alleleassessment (classification, evaluation, user_id, date_created, "
            "allele_id, genepanel_name, genepanel_version, previous_assessment_id) SELECT "
            "'5', evaluation, user_id, now(), allele_id, genepanel_name, genepanel_version, id "
            "FROM alleleassessment WHERE id = %s RETURNING id", (aa_x,)).fetchone()[0]
        thread = threading.Thread(target=lambda: result.update(r=finalize(
            wf["c1"], analysis_id, payload(allele_id, annotation_id, reuse_aa=reuse,
                                           aa_presented=aa_x, ar_presented=ar))))
        thread.start()
        for _ in range(600):  # until the request waits for X's lock
            if watch.execute("SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                             "AND datname = current_database()").fetchone():
                break
            time.sleep(0.05)
        else:
            raise AssertionError("finalizeallele never waited for the assessment's lock")
        other.commit()
        thread.join(30)
    assert result["r"].status == 409, result["r"].body
    assert result["r"].json["message"] == (f"'presented_alleleassessment_id': {aa_x} does not "
                                           f"match latest existing alleleassessment id: {aa_y}")
    assert current(wf["db"], "alleleassessment", allele_id) == [(aa_y,)]


def test_two_concurrent_finalizeallele_one_wins_each_time(wf):
    analysis_id = wf["analyses"][0]
    allele_id, annotation_id = analysis_alleles(wf["db"], analysis_id)[0]
    app = wf["c1"].app
    clients = [wf["c1"], logged_in_client(app, wf["db"], "wfuser2")]
    presented = [None, None]
    for iteration in range(50):
        barrier = threading.Barrier(2)
        results = [None, None]

        def run(i):
            body = payload(allele_id, annotation_id, classification=str(i + 1),
                           aa_presented=presented[0], ar_presented=presented[1],
                           report=f"{iteration}-{i}")
            barrier.wait()
            results[i] = finalize(clients[i], analysis_id, body)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        statuses = sorted(r.status for r in results)
        assert statuses == [200, 409], [r.body for r in results]
        winner = next(r for r in results if r.status == 200).json
        presented = [winner["alleleassessment"]["id"], winner["allelereport"]["id"]]
    with psycopg.connect(wf["db"]) as conn:
        assert conn.execute("SELECT count(*), count(*) FILTER (WHERE date_superceeded IS NULL) "
                            "FROM alleleassessment").fetchone() == (50, 1)
        assert conn.execute("SELECT count(*), count(*) FILTER (WHERE date_superceeded IS NULL) "
                            "FROM allelereport").fetchone() == (50, 1)
        # The chain is unbroken: every version but the first points at the one before.
        chain = conn.execute("SELECT id, previous_assessment_id FROM alleleassessment "
                             "ORDER BY id").fetchall()
        assert [p for _, p in chain] == [None] + [i for i, _ in chain[:-1]]
    assert current(wf["db"], "alleleassessment", allele_id) == [(presented[0],)]


def test_allele_workflow_finalizeallele(api_app, db_url, ella_config):
    c1, _, analyses, _ = setup_analysis(api_app, db_url, ella_config)
    allele_id, annotation_id = analysis_alleles(db_url, analyses[0])[0]
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO alleleinterpretation (allele_id, genepanel_name, "
                     "genepanel_version, status, workflow_status, date_last_update, "
                     "date_created, user_id) SELECT %s, 'HBOC', 'v1.0.0', 'Ongoing', "
                     "'Interpretation', now(), now(), id FROM \"user\" "
                     "WHERE username = 'wfuser1'", (allele_id,))
    url = f"{WF}/alleles/{allele_id}/actions/finalizeallele/"
    result = c1.post(url, payload(allele_id, annotation_id))
    assert result.status == 200, result.body
    assert result.json["alleleassessment"]["analysis_id"] is None
    other = analysis_alleles(db_url, analyses[0])[1]
    assert c1.post(url, payload(*other)).status == 400
    assert c1.post(f"{WF}/alleles/987654/actions/finalizeallele/", {}).status == 404


def test_supersede_an_assessment_written_by_ella(demo_api_app, demo_db_url):
    """On the real ELLA database: a new version of one of ELLA's six assessments, edited from
    ELLA's own stored evaluation and report."""
    with psycopg.connect(demo_db_url) as conn:
        row = conn.execute(
            "SELECT an.id, aa.allele_id, aa.id, ar.id, n.id, ca.id FROM alleleassessment aa "
            "JOIN genotype g ON g.allele_id = aa.allele_id JOIN sample s ON s.id = g.sample_id "
            "JOIN analysis an ON an.id = s.analysis_id AND an.genepanel_name = 'HBOC' "
            "JOIN annotation n ON n.allele_id = aa.allele_id AND n.date_superceeded IS NULL "
            "LEFT JOIN allelereport ar ON ar.allele_id = aa.allele_id "
            "AND ar.date_superceeded IS NULL LEFT JOIN customannotation ca "
            "ON ca.allele_id = aa.allele_id AND ca.date_superceeded IS NULL "
            "WHERE aa.date_superceeded IS NULL ORDER BY an.id, aa.id LIMIT 1").fetchone()
        analysis_id, allele_id, aa_id, ar_id, annotation_id, custom_id = row
        conn.execute("UPDATE analysisinterpretation SET status = 'Done', finalized = true "
                     "WHERE analysis_id = %s", (analysis_id,))
        conn.execute("INSERT INTO analysisinterpretation (analysis_id, genepanel_name, "
                     "genepanel_version, status, workflow_status, date_last_update, "
                     "date_created, user_id) SELECT id, genepanel_name, genepanel_version, "
                     "'Ongoing', 'Interpretation', now(), now(), 1 FROM analysis "
                     "WHERE id = %s", (analysis_id,))
        # The UI edits an assessment starting from its stored evaluation: ELLA's own
        # documents must pass our request checks unchanged.
        ella_evaluation, = conn.execute("SELECT evaluation FROM alleleassessment WHERE id = %s",
                                        (aa_id,)).fetchone()
        ella_report = conn.execute("SELECT evaluation FROM allelereport WHERE id = %s",
                                   (ar_id,)).fetchone()
    assert ella_evaluation["acmg"]["included"] and ella_report is not None
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    body = payload(allele_id, annotation_id, classification="5", aa_presented=aa_id,
                   ar_presented=ar_id)
    body["custom_annotation_id"] = custom_id
    body["alleleassessment"]["evaluation"] = ella_evaluation
    body["allelereport"]["evaluation"] = ella_report[0]
    result = finalize(client, analysis_id, body)
    assert result.status == 200, result.body
    new = result.json["alleleassessment"]
    assert new["previous_assessment_id"] == aa_id and new["classification"] == "5"
    assert new["evaluation"]["acmg"]["included"] == [
        {**criterion, "op": criterion.get("op"), "match": criterion.get("match"),
         "source": criterion.get("source")} for criterion in ella_evaluation["acmg"]["included"]]
    assert result.json["allelereport"]["previous_report_id"] == ar_id
    with psycopg.connect(demo_db_url) as conn:
        assert conn.execute("SELECT date_superceeded IS NOT NULL FROM alleleassessment "
                            "WHERE id = %s", (aa_id,)).fetchone() == (True,)
        assert conn.execute("SELECT count(*) FROM alleleassessment WHERE "
                            "date_superceeded IS NULL").fetchone() == (6,)
    listed = client.get(f"/api/v1/alleleassessments/{new['id']}/")
    assert listed.status == 200 and listed.json["previous_assessment_id"] == aa_id


def test_criterion_48_collisions(wf):
    first, second = wf["analyses"]
    alleles = analysis_alleles(wf["db"], first)
    ids = ",".join(str(a) for a, _ in alleles)
    # The first analysis is Ongoing: the second one sees every unclassified allele in it.
    result = wf["c2"].get(f"{WF}/analyses/{second}/collisions/", query=f"allele_ids={ids}")
    assert result.status == 200, result.body
    assert sorted(e["allele_id"] for e in result.json) == sorted(a for a, _ in alleles)
    entry = result.json[0]
    assert entry["type"] == "analysis" and entry["analysis_id"] == first
    assert entry["analysis_name"] == "TestAnalysis-001"
    assert entry["workflow_status"] == "Interpretation"
    assert entry["user"]["username"] == "wfuser1"
    # Its own analysis is never a collision; empty ids -> []; missing -> 400.
    own = wf["c1"].get(f"{WF}/analyses/{first}/collisions/", query=f"allele_ids={ids}")
    assert own.json == []
    assert wf["c2"].get(f"{WF}/analyses/{second}/collisions/", query="allele_ids=").json == []
    assert wf["c2"].get(f"{WF}/analyses/{second}/collisions/").status == 400
    # A valid (finalized) assessment removes the analysis-side collision.
    allele_id, annotation_id = alleles[0]
    assert finalize(wf["c1"], first, payload(allele_id, annotation_id)).status == 200
    result = wf["c2"].get(f"{WF}/analyses/{second}/collisions/", query=f"allele_ids={ids}")
    assert allele_id not in [e["allele_id"] for e in result.json]
    assert len(result.json) == len(alleles) - 1


def test_criterion_39_similar_alleles_endpoint(wf):
    analysis_id = wf["analyses"][0]
    alleles = analysis_alleles(wf["db"], analysis_id)
    with psycopg.connect(wf["db"]) as conn:
        spans = {r[0]: r[1:] for r in conn.execute(
            "SELECT id, start_position, open_end_position FROM allele")}

    def similar(c, q, d=100):
        (cs, ce), (qs, qe) = spans[c], spans[q]
        return ((cs <= qs and ce >= qe) or (cs >= qs and ce <= qe)
                or qs - d <= cs < qe + d or qs - d < ce < qe + d)

    def distance(c, q):
        return abs((spans[c][0] + spans[c][1]) // 2 - (spans[q][0] + spans[q][1]) // 2)
    classified = [alleles[0], alleles[1]]
    for allele_id, annotation_id in classified:
        assert finalize(wf["c1"], analysis_id, payload(allele_id, annotation_id)).status == 200
    query = [a for a, _ in alleles]
    result = wf["c1"].get(f"{WF}/similar_alleles/HBOC/v1.0.0/",
                          query="allele_ids=" + ",".join(map(str, query)))
    assert result.status == 200, result.body
    assert list(result.json) == [str(a) for a in query]
    assessed = {a for a, _ in classified}
    for q in query:
        found = [a["id"] for a in result.json[str(q)]]
        assert q not in found
        expected = [a for a in assessed - {q} if similar(a, q)]
        assert set(found) == set(expected)
        assert [distance(a, q) for a in found] == sorted(distance(a, q) for a in found)
        for allele in result.json[str(q)]:
            assert allele["allele_assessment"]["date_superceeded"] is None
    missing = wf["c1"].get(f"{WF}/similar_alleles/HBOC/v1.0.0/")
    assert missing.status == 400 and missing.json["message"] == 'Missing required arg "allele_ids"'
    assert wf["c1"].get(f"{WF}/similar_alleles/HBOC/nope/", query="allele_ids=1").status == 404


def test_numeric_string_ids_are_read_as_integers(wf):
    """api.md 1.2: request models coerce numeric strings to integers; finalizeallele refused
    them ("body.allele_id must be an integer") while every other body took them."""
    analysis_id = wf["analyses"][0]
    allele_id, annotation_id = analysis_alleles(wf["db"], analysis_id)[0]
    body = payload(str(allele_id), str(annotation_id))
    body["alleleassessment"]["allele_id"] = str(allele_id)
    body["allelereport"]["allele_id"] = str(allele_id)
    body["referenceassessments"] = [{"allele_id": str(allele_id),
                                     "reference_id": str(wf["refs"][0]),
                                     "evaluation": {"relevance": "Yes"}}]
    result = finalize(wf["c1"], analysis_id, body)
    assert result.status == 200, result.body
    assert result.json["alleleassessment"]["allele_id"] == allele_id
    assert [r["reference_id"] for r in result.json["referenceassessments"]] == [wf["refs"][0]]
    bad = payload(allele_id, annotation_id)
    bad["annotation_id"] = "12a"
    refused = finalize(wf["c1"], analysis_id, bad)
    assert refused.status == 400
    assert refused.json["message"] == "body.annotation_id must be an integer"
    bad["annotation_id"] = 2**31
    assert finalize(wf["c1"], analysis_id, bad).status == 400
