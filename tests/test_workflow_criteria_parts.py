"""workflow.md 18: the parts of criteria that tests/test_workflow_rounds.py,
test_workflow_criteria*.py, test_workflow_finalize.py and test_workflow_logs.py leave out
(the allele workflow's side, other payload forms, outdated assessments, every filter
category of the snapshots).

Each test is named after the criterion (c<N>) it completes. Real WSGI app, real PostgreSQL,
TestAnalysis-001 deposited (the `World` of tests/test_workflow_rounds.py), rounds driven by the
real actions.
"""

import pytest

from deposit_helpers import deposit
from test_postprocessors import _classify, _lab, _round, _snps, _vcf
from test_postprocessors import _logs as _postprocessor_logs
from test_workflow_rounds import (AL, AN, PANEL, World, act, ok, refused, save,
                                  snapshot_rows, sql, tables)
from workflow_helpers import analysis_alleles, payload

START = {"gp_name": PANEL[0], "gp_version": PANEL[1]}


@pytest.fixture
def world(api_app, db_url, ella_config):
    return World(api_app, db_url, ella_config)


def _logs(world, kind, workflow_id, user="u1"):
    prefix = AN if kind == "analysis" else AL
    return ok(world.client(user).get(f"{prefix}/{workflow_id}/logs/"))["logs"]


# -- c1: the allele start needs both gp_name and gp_version ------------------------------------

@pytest.mark.parametrize("body", [{"gp_name": PANEL[0]}, {"gp_version": PANEL[1]},
                                  {"gp_name": PANEL[0], "gp_version": None}, []])
def test_c1_allele_start_without_both_panel_keys_is_refused_and_writes_nothing(world, body):
    allele = world.allele_ids[0]
    before = tables(world.url)
    result = act(world, "u1", "start", body, kind="allele", workflow_id=allele)
    assert result.status == 400, (result.status, result.body[:300])
    assert tables(world.url) == before


def test_c1_allele_start_with_unknown_panel_is_not_a_500(world):
    allele = world.allele_ids[0]
    before = tables(world.url)
    result = act(world, "u1", "start", {"gp_name": "HBOC", "gp_version": "nope"},
                 kind="allele", workflow_id=allele)
    assert result.status in (400, 404), (result.status, result.body[:300])
    assert tables(world.url) == before


# -- c2 / c43: a second identical PATCH adds no history row and no round -------------------------

def test_c2_identical_patch_twice_for_the_allele_workflow(world):
    allele = world.allele_ids[0]
    kw = {"kind": "allele", "workflow_id": allele}
    ok(act(world, "u1", "start", START, **kw))
    round_id = world.rounds("allele", allele)[0]["id"]
    state = {"alleleassessments": [{"x": 1}], "referenceassessments": [], "allelereports": []}
    ok(save(world, "u1", round_id, state, {"s": 1}, **kw))
    ok(save(world, "u1", round_id, state, {"s": 1}, **kw))
    assert len(world.rounds("allele", allele)) == 1
    assert sql(world.url, "SELECT state FROM interpretationstatehistory "
               "WHERE alleleinterpretation_id = %s", (round_id,)) == [({},)]
    got = ok(world.client("u1").get(f"{AL}/{allele}/interpretations/{round_id}/"))
    assert got["state"] == state and got["user_state"] == {"s": 1}


# -- c46: every filter category maps to its enum; the first key wins -----------------------------

def test_c46_every_excluded_category_maps_to_its_enum_and_the_first_key_wins(world):
    a = world.allele_ids  # six alleles
    ok(act(world, "u1", "start"))
    excluded = {"classification": [a[1]], "consequence": [a[2]], "frequency": [a[3], a[2]],
                "gene": [a[4]], "inheritancemodel": [], "ppy": [], "quality": [a[5]],
                "region": [], "segregation": [], "external": [], "size": [],
                "callertype": []}
    ok(act(world, "u1", "markreview", world.payload([a[0]], excluded=excluded)))
    round_id = world.rounds()[0]["id"]
    got = {r[0]: r[5] for r in snapshot_rows(world, round_id)}
    assert got == {a[0]: None, a[1]: "CLASSIFICATION", a[2]: "CONSEQUENCE",
                   a[3]: "FREQUENCY", a[4]: "GENE", a[5]: "QUALITY"}
    # The rest of the mapping, in a second round (first key wins: region before segregation).
    ok(act(world, "u1", "start"))
    excluded = {"inheritancemodel": [a[1]], "ppy": [a[2]], "region": [a[3], a[4]],
                "segregation": [a[4], a[5]]}
    ok(act(world, "u1", "markreview", world.payload([a[0]], excluded=excluded)))
    round_id = world.rounds()[1]["id"]
    got = {r[0]: r[5] for r in snapshot_rows(world, round_id)}
    assert got == {a[0]: None, a[1]: "INHERITANCEMODEL", a[2]: "POLYPYRIMIDINE",
                   a[3]: "REGION", a[4]: "REGION", a[5]: "SEGREGATION"}
    # The filtered alleles of the ended round are rebuilt from these rows (workflow.md 11.3).
    filtered = ok(world.client("u1").get(
        f"{AN}/{world.analysis_id}/interpretations/{round_id}/filteredalleles/"))
    assert filtered["allele_ids"] == [a[0]]
    snv = filtered["excluded_alleles_by_caller_type"]["snv"]
    merged = {k: sorted(v + filtered["excluded_alleles_by_caller_type"]["cnv"][k])
              for k, v in snv.items()}
    assert merged["region"] == sorted([a[3], a[4]]) and merged["segregation"] == [a[5]]
    assert merged["ppy"] == [a[2]] and merged["inheritancemodel"] == [a[1]]


# -- c47: without `current` at all, a Done round's alleles are the snapshotted versions ----------

def test_c47_done_round_without_current_param_shows_snapshotted_assessment_and_report(world):
    a = world.allele_ids
    alleles = dict(analysis_alleles(world.url, world.analysis_id))
    ok(act(world, "u1", "start"))
    first = ok(act(world, "u1", "finalizeallele", payload(a[0], alleles[a[0]])))
    aa1, ar1 = first["alleleassessment"]["id"], first["allelereport"]["id"]
    round_id = world.rounds()[0]["id"]
    ok(act(world, "u1", "finalize", world.payload(a, aa_ids=[aa1], ar_ids=[ar1],
                                                  technical_allele_ids=a)))
    ok(act(world, "u2", "reopen"))
    ok(act(world, "u2", "start"))
    second = ok(act(world, "u2", "finalizeallele", payload(
        a[0], alleles[a[0]], classification="5", aa_presented=aa1, ar_presented=ar1,
        report="newer")))
    aa2, ar2 = second["alleleassessment"]["id"], second["allelereport"]["id"]
    c = world.client("u1")
    url = f"{AN}/{world.analysis_id}/interpretations/{round_id}/alleles/"
    old = {x["id"]: x for x in ok(c.get(url, query=f"allele_ids={a[0]}"))}[a[0]]
    assert old["allele_assessment"]["id"] == aa1
    assert old["allele_report"]["id"] == ar1
    new = {x["id"]: x for x in ok(c.get(url, query=f"allele_ids={a[0]}&current=true"))}[a[0]]
    assert new["allele_assessment"]["id"] == aa2
    assert new["allele_report"]["id"] == ar2


def test_c47_done_allele_round_shows_the_snapshotted_assessment(world):
    allele = world.allele_ids[0]
    annotation = dict(analysis_alleles(world.url, world.analysis_id))[allele]
    kw = {"kind": "allele", "workflow_id": allele}
    ok(act(world, "u1", "start", START, **kw))
    first = ok(act(world, "u1", "finalizeallele", payload(allele, annotation), **kw))
    aa1, ar1 = first["alleleassessment"]["id"], first["allelereport"]["id"]
    round_id = world.rounds("allele", allele)[0]["id"]
    ok(act(world, "u1", "finalize", world.payload([allele], aa_ids=[aa1], ar_ids=[ar1],
                                                  analysis=False), **kw))
    ok(act(world, "u2", "reopen", **kw))
    ok(act(world, "u2", "start", START, **kw))
    second = ok(act(world, "u2", "finalizeallele", payload(
        allele, annotation, classification="5", aa_presented=aa1, ar_presented=ar1), **kw))
    c = world.client("u1")
    url = f"{AL}/{allele}/interpretations/{round_id}/alleles/"
    old = ok(c.get(url, query=f"allele_ids={allele}"))
    assert [x["allele_assessment"]["id"] for x in old] == [aa1]
    assert [x["allele_report"]["id"] for x in old] == [ar1]
    new = ok(c.get(url, query=f"allele_ids={allele}&current=true"))
    assert [x["allele_assessment"]["id"] for x in new] == [second["alleleassessment"]["id"]]


# -- c48: an outdated assessment is not valid; allele collisions -----------------------------------

def test_c48_an_outdated_assessment_keeps_the_collision(world, tmp_path):
    """A class-3 assessment older than its outdated_after_days (180) is not valid, so the
    Ongoing analysis still collides; a fresh current one removes the collision."""
    a = world.allele_ids
    ok(act(world, "u1", "start"))
    # An analysis never collides with itself, so ask through the allele workflow of a[0]
    # (analysis-side collisions are reported for the allele workflow's own allele too).
    old = world.add_assessment(a[0], "3")
    sql(world.url, "UPDATE alleleassessment SET date_created = now() - interval '5000 days' "
        "WHERE id = %s", (old,))
    url = f"{AL}/{a[0]}/collisions/"
    got = ok(world.client("u2").get(url, query=f"allele_ids={a[0]}"))
    assert [(e["type"], e["allele_id"], e["analysis_id"]) for e in got] == \
        [("analysis", a[0], world.analysis_id)]
    assert got[0]["user"]["username"] == "u1" and got[0]["workflow_status"] == "Interpretation"
    world.add_assessment(a[0], "3", supersede=True)
    assert ok(world.client("u2").get(url, query=f"allele_ids={a[0]}")) == []


def test_c48_allele_workflow_in_work_is_an_allele_collision(world):
    a = world.allele_ids
    ok(act(world, "u1", "start", START, kind="allele", workflow_id=a[1]))
    got = ok(world.client("u2").get(f"{AN}/{world.analysis_id}/collisions/",
                                    query=f"allele_ids={a[1]},{a[2]}"))
    assert [(e["type"], e["allele_id"], e["analysis_id"], e["analysis_name"],
             e["workflow_status"], e["user"]["username"]) for e in got] == \
        [("allele", a[1], None, None, "Interpretation", "u1")]
    # A valid assessment does not remove an allele-side collision (workflow.md 13.4).
    world.add_assessment(a[1], "3")
    got = ok(world.client("u2").get(f"{AN}/{world.analysis_id}/collisions/",
                                    query=f"allele_ids={a[1]}"))
    assert [e["type"] for e in got] == ["allele"]
    # Sent to review: not started, so no user.
    ok(act(world, "u1", "markreview", world.payload([a[1]], analysis=False), kind="allele",
           workflow_id=a[1]))
    got = ok(world.client("u2").get(f"{AN}/{world.analysis_id}/collisions/",
                                    query=f"allele_ids={a[1]}"))
    assert [(e["workflow_status"], e["user"]) for e in got] == [("Review", None)]


# -- c26-c29, c31: the same log rules in the allele workflow -----------------------------------

def test_c26_to_c29_allele_workflow_log_editability(world):
    allele = world.allele_ids[0]
    kw = {"kind": "allele", "workflow_id": allele}
    ok(act(world, "u1", "start", START, **kw))
    ok(act(world, "u1", "markinterpretation", world.payload([allele], analysis=False), **kw))
    url = f"{AL}/{allele}/logs/"
    c = world.client("u1")
    ok(c.post(url, {"message": "Message 1"}))  # latest round Not started
    entry = _logs(world, "allele", allele)[-1]
    assert (entry["message"], entry["editable"]) == ("Message 1", True)
    ok(c.request("PATCH", f"{url}{entry['id']}/", {"message": "Edited"}))
    entry = _logs(world, "allele", allele)[-1]
    assert (entry["message"], entry["editable"]) == ("Edited", True)
    ok(act(world, "u1", "start", START, **kw))
    ok(act(world, "u1", "markreview", world.payload([allele], analysis=False), **kw))
    old = next(e for e in _logs(world, "allele", allele) if e["id"] == entry["id"])
    assert old["editable"] is False
    ok(c.post(url, {"message": "Message 2"}))
    assert _logs(world, "allele", allele)[-1]["editable"] is True
    ok(c.post(url, {"review_comment": "rc"}))
    assert _logs(world, "allele", allele)[-1]["editable"] is False
    ok(c.post(url, {"priority": 2}))
    assert _logs(world, "allele", allele)[-1]["editable"] is False


def test_c31_allele_workflow_finalize_round_log_entries_carry_both_objects(world):
    allele = world.allele_ids[0]
    annotation = dict(analysis_alleles(world.url, world.analysis_id))[allele]
    kw = {"kind": "allele", "workflow_id": allele}
    ok(act(world, "u1", "start", START, **kw))
    got = ok(act(world, "u1", "finalizeallele", payload(allele, annotation), **kw))
    ok(act(world, "u1", "finalize", world.payload(
        [allele], aa_ids=[got["alleleassessment"]["id"]], ar_ids=[got["allelereport"]["id"]],
        analysis=False), **kw))
    newest = _logs(world, "allele", allele)[-1]
    assert newest["alleleassessment"]["allele_id"] == allele
    assert newest["allelereport"]["allele_id"] == allele
    assert newest["alleleassessment"]["classification"] == "3"


# -- c17: switching allow_unclassified to true in the same round, same payload -> 200 ----------

def test_c17_same_round_same_payload_after_switching_to_true(world):
    from psycopg.types.json import Jsonb
    a = world.allele_ids
    aas = [world.add_assessment(x) for x in a[:5]]
    ok(act(world, "u1", "start"))
    body = world.payload(a, aa_ids=aas)
    cfg = {"workflows": {"analysis": {"finalize_requirements": {
        "workflow_status": ["Interpretation"], "allow_unclassified": False}}}}
    sql(world.url, 'UPDATE "user" SET config = %s WHERE username = %s', (Jsonb(cfg), "u1"))
    refused(act(world, "u1", "finalize", body), 409,
            "allow_unclassified is set to false, but some allele ids are missing classification")
    cfg["workflows"]["analysis"]["finalize_requirements"]["allow_unclassified"] = True
    sql(world.url, 'UPDATE "user" SET config = %s WHERE username = %s', (Jsonb(cfg), "u1"))
    ok(act(world, "u1", "finalize", body))
    assert world.rounds()[-1]["finalized"] is True


# -- c6/c9/c13 edges: reference assessments of another variant ------------------------------------

def _ra_counts(world):
    return sql(world.url, "SELECT (SELECT count(*) FROM alleleassessment), "
               "(SELECT count(*) FROM allelereport), (SELECT count(*) FROM referenceassessment), "
               "(SELECT count(*) FROM alleleassessmentreferenceassessment), "
               "(SELECT count(*) FROM interpretationlog)")


def test_c13_reusing_the_reference_assessment_of_another_variant_is_refused(world):
    a = world.allele_ids
    alleles = dict(analysis_alleles(world.url, world.analysis_id))
    ref = sql(world.url, "INSERT INTO reference (title, pubmed_id, published) VALUES "
              "('P', 9501, true) RETURNING id")[0][0]
    ok(act(world, "u1", "start"))
    other = ok(act(world, "u1", "finalizeallele", payload(a[1], alleles[a[1]], ras=[
        {"allele_id": a[1], "reference_id": ref, "evaluation": {"comment": "of a1"}}])))
    ra_other = other["referenceassessments"][0]["id"]
    before = _ra_counts(world)
    result = act(world, "u1", "finalizeallele", payload(a[0], alleles[a[0]], ras=[
        {"id": ra_other, "allele_id": a[1], "reference_id": ref}]))
    assert result.status in (400, 409), (result.status, result.body[:300])
    assert _ra_counts(world) == before


def test_c6_new_reference_assessment_for_another_variant_is_refused(world):
    """A new RA whose allele_id is not the finalized variant: it would be created for (and
    supersede the current RA of) a variant nobody is finalizing."""
    a = world.allele_ids
    alleles = dict(analysis_alleles(world.url, world.analysis_id))
    ref = sql(world.url, "INSERT INTO reference (title, pubmed_id, published) VALUES "
              "('P', 9502, true) RETURNING id")[0][0]
    ok(act(world, "u1", "start"))
    before = _ra_counts(world)
    result = act(world, "u1", "finalizeallele", payload(a[0], alleles[a[0]], ras=[
        {"allele_id": a[1], "reference_id": ref, "evaluation": {"comment": "x"}}]))
    assert result.status == 400, (result.status, result.body[:300])
    assert _ra_counts(world) == before


@pytest.mark.parametrize("part", ["alleleassessment", "allelereport"])
def test_c6_nested_allele_id_of_another_variant_is_refused(world, part):
    a = world.allele_ids
    alleles = dict(analysis_alleles(world.url, world.analysis_id))
    ok(act(world, "u1", "start"))
    body = payload(a[0], alleles[a[0]])
    body[part]["allele_id"] = a[1]
    before = _ra_counts(world)
    result = act(world, "u1", "finalizeallele", body)
    assert result.status == 400, (result.status, result.body[:300])
    assert _ra_counts(world) == before


def test_c11_allele_workflow_finalizeallele_for_another_allele_is_refused(world):
    a = world.allele_ids
    alleles = dict(analysis_alleles(world.url, world.analysis_id))
    kw = {"kind": "allele", "workflow_id": a[0]}
    ok(act(world, "u1", "start", START, **kw))
    before = _ra_counts(world)
    result = act(world, "u1", "finalizeallele", payload(a[1], alleles[a[1]]), **kw)
    assert result.status == 400, (result.status, result.body[:300])
    assert _ra_counts(world) == before


def test_c9_an_outdated_current_assessment_may_be_reused(world):
    a = world.allele_ids
    alleles = dict(analysis_alleles(world.url, world.analysis_id))
    old = world.add_assessment(a[0], "3")
    sql(world.url, "UPDATE alleleassessment SET date_created = now() - interval '5000 days' "
        "WHERE id = %s", (old,))
    ok(act(world, "u1", "start"))
    got = ok(act(world, "u1", "finalizeallele", payload(
        a[0], alleles[a[0]], reuse_aa=True, aa_presented=old, report="fresh")))
    assert got["alleleassessment"]["id"] == old
    assert got["allelereport"]["evaluation"] == {"comment": "fresh"}


def test_c42_an_outdated_assessment_is_not_all_classified(db_url, ella_config, tmp_path):
    _lab(db_url, ella_config, {"pattern": "^tag", "postprocess": [
        "analysis_tag_all_classified", "analysis_finalize_without_findings"]})
    first = deposit(db_url, ella_config, _vcf(tmp_path, "tag1", _snps))
    _classify(db_url, first, "2", days_old=400)  # class 2 is outdated after 365 days
    second = deposit(db_url, ella_config, _vcf(tmp_path, "tag2", _snps))
    assert _postprocessor_logs(db_url, second["analysis_id"]) == []
    assert _round(db_url, second["analysis_id"])[2] is None
