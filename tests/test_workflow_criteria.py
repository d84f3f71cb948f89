"""workflow.md 18 acceptance criteria not covered elsewhere, each test named after its number.

HTTP through the WSGI app on a real PostgreSQL. The analysis is TestAnalysis-001 (the `World` of
test_workflow_rounds); rounds are driven by the real workflow actions. Only the synthetic alleles
of the similar-allele criteria (chromosome TEST) are written with SQL.
"""

import copy

import pytest
from psycopg.types.json import Jsonb

from api_helpers import add_user, logged_in_client
from deposit_helpers import add_test_panels
from test_workflow_rounds import (AN, API, PANEL, World, act, ok, refused, save, sql,
                                  tables)
from workflow_helpers import analysis_alleles, payload

ANALYSIS_CATEGORIES = ["not_ready", "not_started", "marked_review", "marked_medicalreview",
                       "ongoing"]
ALLELE_CATEGORIES = ["not_started", "marked_review", "ongoing"]


@pytest.fixture
def world(api_app, db_url, ella_config):
    return World(api_app, db_url, ella_config)


def _reference(world, n=0):
    return sql(world.url, "INSERT INTO reference (title, pubmed_id, published) VALUES "
               "(%s, %s, true) RETURNING id", (f"Paper {n}", 9100 + n))[0][0]


def _finalizeallele(world, user, body, kind="analysis", workflow_id=None):
    return act(world, user, "finalizeallele", body, kind=kind, workflow_id=workflow_id)


def _current(world, table, allele_id):
    return [r[0] for r in sql(world.url, f"SELECT id FROM {table} WHERE allele_id = %s AND "
                              "date_superceeded IS NULL ORDER BY id", (allele_id,))]


# -- c9, c10: reuse in a reopened round, finalize after reopen ----------------------------------

def test_c9_c10_reopened_round_reuses_assessments_and_finalizes_with_new_reports(world):
    a = world.allele_ids
    alleles = analysis_alleles(world.url, world.analysis_id)
    assert [x for x, _ in alleles] == a
    ref = _reference(world)
    ok(act(world, "u1", "start"))
    first = {}
    for n, (allele_id, annotation_id) in enumerate(alleles):
        ras = [{"allele_id": allele_id, "reference_id": ref,
                "evaluation": {"relevance": "Yes", "comment": f"ra {n}"}}]
        first[allele_id] = ok(_finalizeallele(
            world, "u1", payload(allele_id, annotation_id, classification=str(n % 5 + 1),
                                 comment=f"eval {n}", report=f"report {n}", ras=ras)))
    aas = [first[x]["alleleassessment"]["id"] for x in a]
    ars = [first[x]["allelereport"]["id"] for x in a]
    ok(act(world, "u1", "finalize", world.payload(a, aa_ids=aas, ar_ids=ars)))

    ok(act(world, "u2", "reopen"))
    ok(act(world, "u2", "start"))
    reopened = world.rounds()[-1]
    assert (reopened["status"], reopened["user_id"]) == ("Ongoing", world.ids["u2"])

    # c9: AA reuse (presented = current id) + a new report: the AA id stays, a new current
    # report is created; the RA reused by id stays current.
    new_reports = {}
    for n, (allele_id, annotation_id) in enumerate(alleles):
        old = first[allele_id]
        ra = old["referenceassessments"][0]
        body = payload(allele_id, annotation_id, reuse_aa=True,
                       aa_presented=old["alleleassessment"]["id"],
                       ar_presented=old["allelereport"]["id"], report=f"new report {n}",
                       ras=[{"id": ra["id"], "allele_id": allele_id,
                             "reference_id": ra["reference_id"]}])
        got = ok(_finalizeallele(world, "u2", body))
        assert got["alleleassessment"]["id"] == old["alleleassessment"]["id"]
        report = got["allelereport"]
        assert report["id"] != old["allelereport"]["id"]
        assert report["evaluation"] == {"comment": f"new report {n}"}
        assert report["previous_report_id"] == old["allelereport"]["id"]
        assert [x["id"] for x in got["referenceassessments"]] == [ra["id"]]
        assert _current(world, "alleleassessment", allele_id) == \
            [old["alleleassessment"]["id"]]
        assert _current(world, "allelereport", allele_id) == [report["id"]]
        assert _current(world, "referenceassessment", allele_id) == [ra["id"]]
        new_reports[allele_id] = report

    # c10: the state holding the new report comments is saved, finalize succeeds, and the
    # reloaded round shows the new comments.
    state = dict(reopened["state"] or {})
    state["allele"] = {str(x): {"allele_id": x, "allelereport": {
        "evaluation": {"comment": f"new report {n}"}}} for n, x in enumerate(a)}
    ok(save(world, "u2", reopened["id"], state))
    ok(act(world, "u2", "finalize", world.payload(
        a, aa_ids=aas, ar_ids=[new_reports[x]["id"] for x in a])))
    got = ok(world.client("u1").get(
        f"{AN}/{world.analysis_id}/interpretations/{reopened['id']}/"))
    assert (got["status"], got["finalized"]) == ("Done", True)
    assert {k: v["allelereport"]["evaluation"]["comment"]
            for k, v in got["state"]["allele"].items()} == \
        {str(x): f"new report {n}" for n, x in enumerate(a)}
    r = world.rounds()
    assert [(x["status"], x["finalized"]) for x in r] == [("Done", True), ("Done", True)]
    assert r[1]["user_id"] == world.ids["u2"]


# -- c15: allele finalizeallele + finalize only in 'Review' ------------------------------------

def test_c15_allele_finalizeallele_and_finalize_need_review_then_succeed(world):
    allele = world.allele_ids[1]
    annotation = sql(world.url, "SELECT id FROM annotation WHERE allele_id = %s AND "
                     "date_superceeded IS NULL", (allele,))[0][0]
    kw = {"kind": "allele", "workflow_id": allele}
    start = {"gp_name": PANEL[0], "gp_version": PANEL[1]}
    sql(world.url, 'UPDATE "user" SET config = %s WHERE username = %s', (Jsonb(
        {"workflows": {"allele": {"finalize_requirements": {"workflow_status": ["Review"]}}}}),
        "u1"))
    message = ("Cannot finalize: interpretation workflow status is Interpretation, but must "
               "be one of: Review")
    ok(act(world, "u1", "start", start, **kw))
    before = tables(world.url)
    counts = sql(world.url, "SELECT (SELECT count(*) FROM alleleassessment), "
                 "(SELECT count(*) FROM allelereport)")
    refused(_finalizeallele(world, "u1", payload(allele, annotation), **kw), 409, message)
    refused(act(world, "u1", "finalize", world.payload([allele], analysis=False), **kw), 409,
            message)
    assert tables(world.url) == before
    assert sql(world.url, "SELECT (SELECT count(*) FROM alleleassessment), "
               "(SELECT count(*) FROM allelereport)") == counts
    ok(act(world, "u1", "markreview", world.payload([allele], analysis=False), **kw))
    ok(act(world, "u1", "start", start, **kw))
    got = ok(_finalizeallele(world, "u1", payload(allele, annotation, classification="4"), **kw))
    aa = got["alleleassessment"]["id"]
    assert got["alleleassessment"]["classification"] == "4"
    ok(act(world, "u1", "finalize", world.payload(
        [allele], aa_ids=[aa], ar_ids=[got["allelereport"]["id"]], analysis=False), **kw))
    r = world.rounds("allele", allele)
    assert [(x["workflow_status"], x["status"], x["finalized"]) for x in r] == [
        ("Interpretation", "Done", False), ("Review", "Done", True)]


# -- c19-c22: analysis overview driven by the actions --------------------------------------------

def _analysis_overview(world, user="u1"):
    body = ok(world.client(user).get(f"{API}/overviews/analyses/"))
    assert list(body) == ANALYSIS_CATEGORIES
    return {key: [item["id"] for item in body[key]] for key in ANALYSIS_CATEGORIES}, body


def _only(world, category):
    expected = {key: [] for key in ANALYSIS_CATEGORIES}
    if category:
        expected[category] = [world.analysis_id]
    got, body = _analysis_overview(world)
    assert got == expected
    return body


def _finalized_analyses(world):
    return ok(world.client("u1").get(f"{API}/overviews/analyses/finalized/"))


def test_c19_c20_c21_c22_analysis_overview_follows_the_actions(world):
    a = world.allele_ids
    body = world.payload(a, technical_allele_ids=a)
    # c19
    _only(world, "not_started")
    assert _finalized_analyses(world) == []
    # c20
    ok(act(world, "u1", "start"))
    overview = _only(world, "ongoing")
    entry = overview["ongoing"][0]
    assert entry["id"] == world.analysis_id and len(entry["interpretations"]) == 1
    assert entry["interpretations"][0]["user"]["username"] == "u1"
    # c21
    ok(act(world, "u1", "markinterpretation", body))
    _only(world, "not_started")
    ok(act(world, "u1", "start"))
    ok(act(world, "u1", "marknotready", body))
    _only(world, "not_ready")
    ok(act(world, "u2", "start"))
    ok(act(world, "u2", "markreview", body))
    _only(world, "marked_review")
    ok(act(world, "u1", "start"))
    ok(act(world, "u1", "markinterpretation", body))
    _only(world, "not_started")
    ok(act(world, "u3", "start"))
    ok(act(world, "u3", "markmedicalreview", body))
    _only(world, "marked_medicalreview")
    assert _finalized_analyses(world) == []
    # c22
    ok(act(world, "u1", "start"))
    ok(act(world, "u1", "finalize", body))
    _only(world, None)
    finalized = _finalized_analyses(world)
    assert [x["id"] for x in finalized] == [world.analysis_id]
    rounds = finalized[0]["interpretations"]
    assert len(rounds) == 6
    dates = [x["date_last_update"] for x in rounds]
    assert dates == sorted(dates)
    assert [x["workflow_status"] for x in rounds] == [
        "Interpretation", "Interpretation", "Not ready", "Review", "Interpretation",
        "Medical review"]
    assert [x["finalized"] for x in rounds] == [False] * 5 + [True]


# -- c23-c25: allele overview driven by the actions ----------------------------------------------

def _allele_overview(world, user="u1"):
    body = ok(world.client(user).get(f"{API}/overviews/alleles/"))
    assert list(body) == ALLELE_CATEGORIES
    return {key: sorted(item["allele"]["id"] for item in body[key])
            for key in ALLELE_CATEGORIES}, body


def _finalized_alleles(world):
    return ok(world.client("u1").get(f"{API}/overviews/alleles/finalized/"))


def test_c23_c24_c25_allele_overview_follows_the_actions(world):
    start = {"gp_name": PANEL[0], "gp_version": PANEL[1]}
    with_rounds = world.allele_ids[:3]
    x = with_rounds[0]
    kw = {"kind": "allele", "workflow_id": x}

    def body(allele):
        return world.payload([allele], analysis=False)

    # The test alleles get their rounds through the actions: start + mark Interpretation
    # leaves a Not started 'Interpretation' round.
    assert _allele_overview(world)[0] == {key: [] for key in ALLELE_CATEGORIES}
    for allele in with_rounds:
        ok(act(world, "u1", "start", start, kind="allele", workflow_id=allele))
        ok(act(world, "u1", "markinterpretation", body(allele), kind="allele",
               workflow_id=allele))
    # c23
    assert _allele_overview(world)[0] == {"not_started": with_rounds, "marked_review": [],
                                          "ongoing": []}
    assert _finalized_alleles(world) == []
    # c24
    ok(act(world, "u2", "start", start, **kw))
    got, overview = _allele_overview(world)
    assert got == {"not_started": with_rounds[1:], "marked_review": [], "ongoing": [x]}
    entry = overview["ongoing"][0]
    # One open round in the ongoing entry (its Done first round is listed too).
    assert [r["status"] for r in entry["interpretations"]] == ["Done", "Ongoing"]
    assert entry["interpretations"][-1]["user"]["username"] == "u2"
    assert _finalized_alleles(world) == []
    ok(act(world, "u2", "markinterpretation", body(x), **kw))
    assert _allele_overview(world)[0]["not_started"] == with_rounds
    ok(act(world, "u2", "start", start, **kw))
    ok(act(world, "u2", "markreview", body(x), **kw))
    assert _allele_overview(world)[0] == {"not_started": with_rounds[1:],
                                          "marked_review": [x], "ongoing": []}
    # c25
    aa = world.add_assessment(x)
    ok(act(world, "u3", "start", start, **kw))
    ok(act(world, "u3", "finalize", world.payload([x], aa_ids=[aa], analysis=False), **kw))
    assert _allele_overview(world)[0] == {"not_started": with_rounds[1:],
                                          "marked_review": [], "ongoing": []}
    finalized = _finalized_alleles(world)
    assert [f["allele"]["id"] for f in finalized] == [x]
    ok(act(world, "u1", "reopen", **kw))
    assert _allele_overview(world)[0] == {"not_started": with_rounds[1:],
                                          "marked_review": [x], "ongoing": []}
    assert _finalized_alleles(world) == []
    ok(act(world, "u1", "start", start, **kw))
    ok(act(world, "u1", "finalize", world.payload([x], aa_ids=[aa], analysis=False), **kw))
    assert [f["allele"]["id"] for f in _finalized_alleles(world)] == [x]
    assert _allele_overview(world)[0]["not_started"] == with_rounds[1:]


# -- c32-c35: gene assessments and the analysis genepanel endpoint --------------------------------

def _panel_gene(world, allele_id):
    """An HGNC id of the allele's annotation transcripts that is in the panel."""
    rows = sql(world.url, "SELECT DISTINCT s.hgnc_id FROM annotationshadowtranscript s "
               "JOIN transcript t ON t.gene_id = s.hgnc_id JOIN genepanel_transcript gt "
               "ON gt.transcript_id = t.id WHERE s.allele_id = %s "
               "AND gt.genepanel_name = %s AND gt.genepanel_version = %s ORDER BY 1",
               (allele_id, *PANEL))
    assert rows, "the test variant has a gene of the panel"
    return rows[0][0]


def test_c32_c33_c34_c35_gene_assessments_and_the_analysis_genepanel(world):
    allele = world.allele_ids[0]
    gene = _panel_gene(world, allele)
    c = world.client("u1")
    path = f"{API}/geneassessments/"
    panel_url = f"{AN}/{world.analysis_id}/genepanels/{PANEL[0]}/{PANEL[1]}/"

    def listed():
        panel = ok(c.get(panel_url, query=f"allele_ids={allele}"))
        return [g["id"] for g in panel["geneassessments"]]

    assert listed() == []
    # c32
    body = {"gene_id": gene, "evaluation": {"comment": "A gene comment"},
            "analysis_id": world.analysis_id, "genepanel_name": PANEL[0],
            "genepanel_version": PANEL[1]}
    first = ok(c.post(path, body))
    for key, value in body.items():
        assert first[key] == value
    group = sql(world.url, 'SELECT group_id FROM "user" WHERE id = %s', (world.ids["u1"],))[0][0]
    assert (first["user_id"], first["usergroup_id"]) == (world.ids["u1"], group)
    assert first["date_superceeded"] is None and first["previous_assessment_id"] is None
    # c33
    assert listed() == [first["id"]]
    # c34
    second = ok(c.post(path, {**body, "evaluation": {"comment": "An updated comment"},
                              "presented_geneassessment_id": first["id"]}))
    assert second["previous_assessment_id"] == first["id"]
    assert second["evaluation"] == {"comment": "An updated comment"}
    assert listed() == [second["id"]]
    # c35: a stale presented id (ELLA: 500) is a 409 with ELLA's message; nothing changes.
    rows = sql(world.url, "SELECT * FROM geneassessment ORDER BY id")
    refused(c.post(path, {**body, "evaluation": {"comment": "stale"},
                          "presented_geneassessment_id": first["id"]}), 409,
            f"'presented_geneassessment_id': {first['id']} does not match latest existing "
            f"geneassessment id: {second['id']}")
    assert sql(world.url, "SELECT * FROM geneassessment ORDER BY id") == rows
    assert listed() == [second["id"]]
    current = ok(c.get(path, query={"q": {"gene_id": gene, "date_superceeded": None}}))
    assert [g["id"] for g in current] == [second["id"]]


# -- c36-c38: similar alleles on chromosome TEST -------------------------------------------------

ASSESSED = {"a1": (0, 3), "a2": (8, 11), "a3": (14, 17), "a4": (14, 15)}
QUERIES = {"q1": (1, 2), "q2": (2, 4), "q3": (5, 5), "q4": (7, 9), "q5": (7, 7),
           "q6": (11, 11), "q7": (12, 12), "q8": (13, 13), "q9": (14, 14), "qa": (17, 17)}
EXPECTED = {
    0: {"q1": {"a1"}, "q2": {"a1"}, "q3": set(), "q4": {"a2"}, "q5": set(), "q6": {"a2"},
        "q7": set(), "q8": set(), "q9": {"a3", "a4"}, "qa": {"a3"}},
    5: {"q1": {"a1"}, "q2": {"a1", "a2"}, "q3": {"a1", "a2"}, "q4": {"a1", "a2", "a3", "a4"},
        "q5": {"a1", "a2"}, "q6": {"a2", "a3", "a4"}, "q7": {"a2", "a3", "a4"},
        "q8": {"a2", "a3", "a4"}, "q9": {"a2", "a3", "a4"}, "qa": {"a3", "a4"}},
}


@pytest.fixture
def test_chromosome(db_url, ella_config):
    """The alleles of 18.36 on chromosome TEST ((s, e): start s, open_end e + 1), each with an
    annotation; a1-a4 with a current assessment. Returns {name: id}."""
    add_test_panels(db_url)
    add_user(db_url, "sim", "simgroup", [PANEL])
    user_id = sql(db_url, "SELECT id FROM \"user\" WHERE username = 'sim'")[0][0]
    config_id = sql(db_url, "SELECT max(id) FROM annotationconfig")[0][0] or sql(
        db_url, "INSERT INTO annotationconfig (deposit, view) VALUES ('[]', '[]') "
        "RETURNING id")[0][0]
    ids = {}
    for name, (start, end) in {**ASSESSED, **QUERIES}.items():
        ids[name] = sql(db_url, "INSERT INTO allele (genome_reference, chromosome, "
                        "start_position, open_end_position, change_from, change_to, "
                        "change_type, vcf_pos, vcf_ref, vcf_alt, length, caller_type) VALUES "
                        "('GRCh37', 'TEST', %s, %s, 'A', 'G', 'SNP', %s, 'A', 'G', %s, 'snv') "
                        "RETURNING id", (start, end + 1, start + 1, end + 1 - start))[0][0]
        sql(db_url, "INSERT INTO annotation (allele_id, annotations, date_created, "
            "annotation_config_id) VALUES (%s, '{\"transcripts\": []}', now(), %s)",
            (ids[name], config_id))
    for name in ASSESSED:
        sql(db_url, "INSERT INTO alleleassessment (classification, evaluation, user_id, "
            "date_created, allele_id, genepanel_name, genepanel_version) VALUES "
            "('3', '{}', %s, now(), %s, %s, %s)", (user_id, ids[name], *PANEL))
    return ids


def _similar_app(db_url, ella_config, distance):
    from ella.web.app import create_app
    config = copy.deepcopy(ella_config)
    config.setdefault("similar_alleles", {})["max_genomic_distance"] = distance
    return create_app(config, {"DB_URL": db_url, "COOKIE_SECURE": False})


@pytest.mark.parametrize("distance", [0, 5])
def test_c36_c37_c38_similar_alleles_on_chromosome_test(db_url, ella_config, test_chromosome,
                                                        distance):
    ids = test_chromosome
    names = {v: k for k, v in ids.items()}
    app = _similar_app(db_url, ella_config, distance)
    try:
        client = logged_in_client(app, db_url, "sim")
        query = [ids[q] for q in QUERIES]
        got = ok(client.get(f"{API}/workflows/similar_alleles/{PANEL[0]}/{PANEL[1]}/",
                            query="allele_ids=" + ",".join(map(str, query))))
        assert list(got) == [str(i) for i in query]
        found = {names[int(k)]: {names[a["id"]] for a in v} for k, v in got.items()}
        assert found == EXPECTED[distance]
        for matches in got.values():
            for allele in matches:
                assert allele["chromosome"] == "TEST"
                assert allele["allele_assessment"]["date_superceeded"] is None
    finally:
        app._drop_connection()
