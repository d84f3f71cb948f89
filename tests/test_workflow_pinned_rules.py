"""Workflow rules no test pinned down (found by a mutation audit: each test fails when the
rule it names is changed): actions on rounds that are not Ongoing, reused reference
assessments linked to a new classification, the work log naming only what was created, and
the group access checked again under the workflow's lock by the routes themselves."""
import psycopg
from psycopg.types.json import Jsonb

from test_workflow_rounds import AL, PANEL, act, ok, sql, tables, world  # noqa: F401 (fixture)
from test_workflow_finalize import finalize, wf  # noqa: F401 (fixture)
from workflow_helpers import analysis_alleles, payload


def test_start_on_a_finalized_workflow_is_refused(world):
    """workflow.md 3 (ON / FIN | start -> ApiError), 4.1, 18 #44."""
    ok(act(world, "u1", "start"))
    a = world.allele_ids
    ok(act(world, "u1", "finalize", world.payload(a, technical_allele_ids=a)))
    before = tables(world.url)
    result = act(world, "u2", "start")
    assert result.status == 409, result.body
    assert result.json == {"message": "Cannot start existing interpretation where status = Done"}
    assert tables(world.url) == before


def test_an_empty_workflow_status_list_does_not_restrict_finalizeallele(wf):
    """workflow.md 4.6 step 7 ("if that list is non-empty") and 17 #3."""
    with psycopg.connect(wf["db"]) as conn:
        conn.execute('UPDATE "user" SET config = %s WHERE username = %s', (Jsonb(
            {"workflows": {"analysis": {"finalize_requirements": {"workflow_status": []}}}}),
            "wfuser1"))
    analysis_id = wf["analyses"][0]
    allele_id, annotation_id = analysis_alleles(wf["db"], analysis_id)[0]
    result = finalize(wf["c1"], analysis_id, payload(allele_id, annotation_id))
    assert result.status == 200, result.body


def _linked(db, aa_id):
    with psycopg.connect(db) as conn:
        return sorted(r[0] for r in conn.execute(
            "SELECT referenceassessment_id FROM alleleassessmentreferenceassessment "
            "WHERE alleleassessment_id = %s", (aa_id,)))


def test_a_new_classification_links_the_reference_assessments_it_reuses(wf):
    """workflow.md 4.6 step 6: links = all RAs from step 5 (created + reused); without
    them the reference evidence dropped out of the classification's record."""
    analysis_id = wf["analyses"][0]
    allele_id, annotation_id = analysis_alleles(wf["db"], analysis_id)[0]
    ref = wf["refs"][0]
    first = finalize(wf["c1"], analysis_id, payload(allele_id, annotation_id, ras=[
        {"allele_id": allele_id, "reference_id": ref, "evaluation": {"comment": "x"}}])).json
    ra_id = first["referenceassessments"][0]["id"]
    second = finalize(wf["c1"], analysis_id, payload(
        allele_id, annotation_id, classification="4",
        aa_presented=first["alleleassessment"]["id"],
        ar_presented=first["allelereport"]["id"],
        ras=[{"id": ra_id, "allele_id": allele_id, "reference_id": ref}]))
    assert second.status == 200, second.body
    assert _linked(wf["db"], second.json["alleleassessment"]["id"]) == [ra_id]


def test_the_work_log_names_only_what_was_created(wf):
    """workflow.md 4.6 step 11: alleleassessment_id = the created AA (if any): a reused
    classification is no classification made in this round."""
    analysis_id = wf["analyses"][0]
    allele_id, annotation_id = analysis_alleles(wf["db"], analysis_id)[0]
    first = finalize(wf["c1"], analysis_id, payload(allele_id, annotation_id)).json
    second = finalize(wf["c1"], analysis_id, payload(
        allele_id, annotation_id, reuse_aa=True, aa_presented=first["alleleassessment"]["id"],
        ar_presented=first["allelereport"]["id"], report="new report"))
    assert second.status == 200, second.body
    with psycopg.connect(wf["db"]) as conn:
        row = conn.execute("SELECT alleleassessment_id, allelereport_id FROM interpretationlog "
                           "ORDER BY id DESC LIMIT 1").fetchone()
    assert row == (None, second.json["allelereport"]["id"])


def test_round_actions_check_group_access_again_under_the_lock(world, monkeypatch):
    """README (access differences): override/mark/finalize of a variant round of another
    group's panel are 403, checked again under the workflow's lock. The early check is
    skipped here, as a concurrent start between it and the lock would make it pass."""
    from ella.web.routes import workflow_rounds
    ok(act(world, "u1", "start", {"gp_name": PANEL[0], "gp_version": PANEL[1]}, kind="allele"))
    monkeypatch.setattr(workflow_rounds, "require_allele_workflow", lambda *args: None)
    before = tables(world.url)
    result = act(world, "outsider", "override", {}, kind="allele")
    assert result.status == 403, result.body
    assert tables(world.url) == before


def test_finalizeallele_checks_group_access_again_under_the_lock(world, monkeypatch):
    """As above, for classifying a variant of another group's round."""
    from ella.web.routes import workflow_finalize
    a = world.allele_ids
    ok(act(world, "u1", "start", {"gp_name": PANEL[0], "gp_version": PANEL[1]}, kind="allele"))
    monkeypatch.setattr(workflow_finalize, "require_allele_workflow", lambda *args: None)
    annotation_id = sql(world.url, "SELECT id FROM annotation WHERE allele_id = %s AND "
                        "date_superceeded IS NULL", (a[0],))[0][0]
    result = world.client("outsider").post(f"{AL}/{a[0]}/actions/finalizeallele/",
                                           payload(a[0], annotation_id))
    assert result.status == 403, result.body
    assert sql(world.url, "SELECT count(*) FROM alleleassessment")[0][0] == 0


def test_mark_and_finalize_of_a_round_nobody_started_are_refused(world):
    """workflow.md 3 (not ON | mark<X> / finalize -> ApiError), 4.4, 4.7 step 1, 18 #45."""
    a = world.allele_ids
    before = tables(world.url)
    result = act(world, "u1", "markreview", world.payload(a))
    assert (result.status, result.json) == (409, {"message": "Cannot mark as 'Review' when "
                                                  "latest interpretation is not 'Ongoing'"})
    result = act(world, "u1", "finalize", world.payload(a, technical_allele_ids=a))
    assert (result.status, result.json) == (409, {"message": "Cannot finalize when latest "
                                                  "interpretation is not 'Ongoing'"})
    assert tables(world.url) == before
