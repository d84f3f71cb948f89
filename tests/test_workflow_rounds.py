"""Interpretation rounds: the state machine of workflow.md 2-6 and 9 over HTTP
(ella/workflow/rounds.py, ella/web/routes/workflow_rounds.py).

Each test is named after the workflow.md 18 acceptance criteria it covers (c<N>). The analysis
is the real TestAnalysis-001 deposited into a fresh database; the allele workflow uses one of
its variants. Failed preconditions are checked to change nothing by comparing every workflow
table before and after. The concurrency tests race two threads 50 times.
"""

import threading

import psycopg
import pytest
from psycopg.types.json import Jsonb

from api_helpers import add_user, logged_in_client
from deposit_helpers import TEST_ANALYSIS_001, add_test_panels, deposit
from ella.workflow.rounds import TRANSITIONS

API = "/api/v1"
AN = f"{API}/workflows/analyses"
AL = f"{API}/workflows/alleles"
PANEL = ("HBOC", "v1.0.0")
WORKFLOW_TABLES = ("analysisinterpretation", "alleleinterpretation",
                   "analysisinterpretationsnapshot", "alleleinterpretationsnapshot",
                   "interpretationstatehistory")
ANALYSIS_ROUND_KEYS = {"id", "status", "finalized", "workflow_status", "user_state", "state",
                       "date_last_update", "genepanel_name", "genepanel_version", "user_id",
                       "user"}
SNAPSHOT_KEYS = {"id", "date_created", "allele_id", "annotation_id", "customannotation_id",
                 "alleleassessment_id", "allelereport_id"}


def sql(url, query, params=()):
    with psycopg.connect(url) as conn:
        cur = conn.execute(query, params)
        rows = cur.fetchall() if cur.description else None
        conn.commit()
        return rows


def tables(url):
    """Every row of the workflow tables (for "nothing changed" checks)."""
    return {t: sql(url, f"SELECT * FROM {t} ORDER BY id") for t in WORKFLOW_TABLES}


class World:
    """TestAnalysis-001 (analysis 1, alleles 1-6) and users u1, u2, u3 of group wf (HBOC
    panels), `outsider` of a group without them."""

    def __init__(self, app, url, config):
        self.app, self.url = app, url
        add_test_panels(url)
        deposit(url, config, TEST_ANALYSIS_001)
        add_user(url, "u1", "wf", [PANEL, ("HBOC", "v01")])
        add_user(url, "u2", "wf")
        add_user(url, "u3", "wf")
        add_user(url, "outsider", "other")
        for i, name in enumerate(("u1", "u2", "u3"), 1):
            sql(url, 'UPDATE "user" SET first_name = %s, last_name = %s WHERE username = %s',
                (f"First{i}", f"Last{i}", name))
        self.ids = dict(sql(url, 'SELECT username, id FROM "user"'))
        self.analysis_id = sql(url, "SELECT id FROM analysis")[0][0]
        self.allele_ids = [r[0] for r in sql(url, "SELECT id FROM allele ORDER BY id")]
        self.clients = {}

    def client(self, username):
        if username not in self.clients:
            self.clients[username] = logged_in_client(self.app, self.url, username)
        return self.clients[username]

    def add_assessment(self, allele_id, classification="3", supersede=False):
        if supersede:
            sql(self.url, "UPDATE alleleassessment SET date_superceeded = now() "
                "WHERE allele_id = %s AND date_superceeded IS NULL", (allele_id,))
        return sql(self.url, "INSERT INTO alleleassessment (classification, evaluation, user_id, "
                   "date_created, allele_id, genepanel_name, genepanel_version) VALUES "
                   "(%s, '{}', %s, now(), %s, %s, %s) RETURNING id",
                   (classification, self.ids["u1"], allele_id, *PANEL))[0][0]

    def add_report(self, allele_id):
        return sql(self.url, "INSERT INTO allelereport (evaluation, user_id, date_created, "
                   "allele_id) VALUES ('{\"comment\": \"r\"}', %s, now(), %s) RETURNING id",
                   (self.ids["u1"], allele_id))[0][0]

    def payload(self, allele_ids, aa_ids=(), ar_ids=(), excluded=None, analysis=True, **extra):
        annotations = [r[0] for r in sql(
            self.url, "SELECT id FROM annotation WHERE allele_id = ANY(%s) AND "
            "date_superceeded IS NULL ORDER BY id", (list(allele_ids),))]
        body = {"allele_ids": list(allele_ids), "annotation_ids": annotations,
                "custom_annotation_ids": [], "alleleassessment_ids": list(aa_ids),
                "allelereport_ids": list(ar_ids)}
        if analysis:
            body["excluded_allele_ids"] = excluded if excluded is not None else {}
        body.update(extra)
        return body

    def rounds(self, kind="analysis", workflow_id=None):
        table, column = (("analysisinterpretation", "analysis_id") if kind == "analysis"
                         else ("alleleinterpretation", "allele_id"))
        workflow_id = self.analysis_id if workflow_id is None else workflow_id
        keys = ("id", "status", "workflow_status", "finalized", "user_id", "state",
                "user_state", "genepanel_name", "genepanel_version")
        return [dict(zip(keys, r)) for r in sql(
            self.url, f"SELECT id, status::text, workflow_status::text, finalized, user_id, "
            f"state, user_state, genepanel_name, genepanel_version FROM {table} "
            f"WHERE {column} = %s ORDER BY date_created, id", (workflow_id,))]


@pytest.fixture
def world(api_app, db_url, ella_config):
    return World(api_app, db_url, ella_config)


def ok(result):
    assert result.status == 200, (result.status, result.body[:400])
    return result.json


def refused(result, status, message=None):
    assert result.status == status, (result.status, result.body[:400])
    if message is not None:
        assert result.json == {"message": message}


def act(world, user, action, body=None, kind="analysis", workflow_id=None):
    prefix = AN if kind == "analysis" else AL
    workflow_id = (world.analysis_id if kind == "analysis" else world.allele_ids[0]) \
        if workflow_id is None else workflow_id
    return world.client(user).post(f"{prefix}/{workflow_id}/actions/{action}/",
                                   body if body is not None else {})


def save(world, user, round_id, state, user_state=None, kind="analysis", workflow_id=None):
    prefix = AN if kind == "analysis" else AL
    workflow_id = (world.analysis_id if kind == "analysis" else world.allele_ids[0]) \
        if workflow_id is None else workflow_id
    return world.client(user).request(
        "PATCH", f"{prefix}/{workflow_id}/interpretations/{round_id}/",
        json_body={"id": round_id, "state": state, "user_state": user_state or {}})


def snapshot_rows(world, round_id, kind="analysis"):
    table = f"{kind}interpretationsnapshot"
    return sql(world.url, f"SELECT allele_id, annotation_id, customannotation_id, "
               f"alleleassessment_id, allelereport_id, filtered::text FROM {table} "
               f"WHERE {kind}interpretation_id = %s ORDER BY allele_id", (round_id,))


def history_rows(world, round_id, kind="analysis"):
    return sql(world.url, "SELECT user_id, state FROM interpretationstatehistory "
               f"WHERE {kind}interpretation_id = %s ORDER BY id", (round_id,))


# -- round trips -----------------------------------------------------------------------------

def test_c1_c2_c3_c4_c7_c43_c46_analysis_round_trip_writes_every_row(world):
    a = world.allele_ids
    first = world.rounds()[0]
    assert (first["status"], first["workflow_status"], first["user_id"]) == \
        ("Not started", "Interpretation", None)

    # c1: start -> Ongoing, owned by the starter.
    assert ok(act(world, "u1", "start")) is None
    r = world.rounds()
    assert len(r) == 1 and r[0]["status"] == "Ongoing" and r[0]["user_id"] == world.ids["u1"]
    listed = ok(world.client("u1").get(f"{AN}/{world.analysis_id}/interpretations/"))
    assert set(listed[0]) == ANALYSIS_ROUND_KEYS
    assert listed[0]["user"]["username"] == "u1"

    # c2 / c43: saving twice keeps the number of rounds; a change stores the old state.
    state = {"allele": {str(a[0]): {"analysis": {"comment": "first"}}}, "filterconfigId": 1}
    assert ok(save(world, "u1", first["id"], state, {"x": 1})) is None
    assert ok(save(world, "u1", first["id"], state, {"x": 1})) is None
    assert len(world.rounds()) == 1
    assert history_rows(world, first["id"]) == [(world.ids["u1"], {})]
    got = ok(world.client("u1").get(f"{AN}/{world.analysis_id}/interpretations/{first['id']}/"))
    assert got["state"] == state and got["user_state"] == {"x": 1}

    # c3 / c4 / c46: markreview ends the round (snapshots) and adds one Not started round.
    aa = world.add_assessment(a[0])
    ar = world.add_report(a[0])
    body = world.payload(a[:3], aa_ids=[aa], ar_ids=[ar],
                         excluded={"frequency": [a[3]], "ppy": [a[4], a[0]], "size": []})
    assert ok(act(world, "u1", "markreview", body)) is None
    r = world.rounds()
    assert len(r) == 2
    assert (r[0]["status"], r[0]["finalized"], r[0]["user_id"], r[0]["state"]) == \
        ("Done", False, world.ids["u1"], state)
    assert (r[1]["status"], r[1]["workflow_status"], r[1]["finalized"], r[1]["user_id"],
            r[1]["state"], r[1]["user_state"]) == \
        ("Not started", "Review", None, None, state, {})
    annotation = dict(sql(world.url, "SELECT allele_id, id FROM annotation"))
    assert snapshot_rows(world, r[0]["id"]) == [
        (a[0], annotation[a[0]], None, aa, ar, "POLYPYRIMIDINE"),
        (a[1], annotation[a[1]], None, None, None, None),
        (a[2], annotation[a[2]], None, None, None, None),
        (a[3], None, None, None, None, "FREQUENCY"),
        (a[4], None, None, None, None, "POLYPYRIMIDINE")]

    # A second user starts the review round, then medical review, then a third finalizes.
    ok(act(world, "u2", "start"))
    assert world.rounds()[1]["user_id"] == world.ids["u2"]
    ok(act(world, "u2", "markmedicalreview", world.payload(a, aa_ids=[aa])))
    ok(act(world, "u3", "start"))
    r = world.rounds()
    assert [x["workflow_status"] for x in r] == ["Interpretation", "Review", "Medical review"]
    assert r[2]["status"] == "Ongoing" and r[2]["user_id"] == world.ids["u3"]
    before = len(r)
    # c7: finalize adds no round; all Done; the last one finalized by the finalizer.
    ok(act(world, "u3", "finalize", world.payload(a, aa_ids=[aa], notrelevant_allele_ids=a[1:])))
    r = world.rounds()
    assert len(r) == before
    assert all(x["status"] == "Done" for x in r)
    assert [x["finalized"] for x in r] == [False, False, True]
    assert r[2]["user_id"] == world.ids["u3"] and r[2]["state"] == state
    assert len(snapshot_rows(world, r[2]["id"])) == len(a)
    listed = ok(world.client("u1").get(f"{AN}/{world.analysis_id}/snapshots/"))
    assert len(listed) == 5 + 6 + 6 and set(listed[0]) == SNAPSHOT_KEYS | {
        "analysisinterpretation_id"}
    assert ok(world.client("u1").get(f"{AN}/{world.analysis_id}/actions/finalize/")) == listed
    assert sql(world.url, "SELECT count(*) FROM interpretationstatehistory")[0][0] == 1


def test_c5_analysis_sequence_through_every_mark_then_finalize(world):
    a = world.allele_ids
    steps = [("u1", "marknotready"), ("u2", "markinterpretation"), ("u1", "markreview"),
             ("u3", "markmedicalreview"), ("u2", "finalize")]
    for user, action in steps:
        ok(act(world, user, "start"))
        ok(act(world, user, action, world.payload(a, technical_allele_ids=a)))
    r = world.rounds()
    assert [x["workflow_status"] for x in r] == ["Interpretation", "Not ready",
                                                 "Interpretation", "Review", "Medical review"]
    assert [x["user_id"] for x in r] == [world.ids[u] for u, _ in steps]
    assert [x["finalized"] for x in r] == [False] * 4 + [True]
    # The overview sees the analysis as finalized (latest round rule of workflow.md 0).
    finalized = ok(world.client("u1").get(f"{API}/overviews/analyses/finalized/"))
    assert [x["id"] for x in finalized] == [world.analysis_id]


def test_c8_c10_reopen_creates_round_in_same_step_and_finalizes_again(world):
    a = world.allele_ids
    ok(act(world, "u1", "start"))
    state = {"report": {"comment": "kept"}}
    ok(save(world, "u1", world.rounds()[0]["id"], state, {"mine": True}))
    ok(act(world, "u1", "markmedicalreview", world.payload(a, technical_allele_ids=a)))
    ok(act(world, "u2", "start"))
    ok(act(world, "u2", "finalize", world.payload(a, technical_allele_ids=a)))
    ok(act(world, "u3", "reopen"))  # any user
    r = world.rounds()
    assert len(r) == 3
    assert (r[2]["status"], r[2]["workflow_status"], r[2]["finalized"], r[2]["user_id"],
            r[2]["state"], r[2]["user_state"], r[2]["genepanel_name"]) == \
        ("Not started", "Medical review", None, None, state, {}, PANEL[0])
    assert r[1]["finalized"] is True and r[1]["status"] == "Done"  # left as it was
    ok(act(world, "u3", "start"))
    new_state = {"report": {"comment": "new report comment"}}
    ok(save(world, "u3", r[2]["id"], new_state))
    ok(act(world, "u3", "finalize", world.payload(a, technical_allele_ids=a)))
    got = ok(world.client("u1").get(f"{AN}/{world.analysis_id}/interpretations/{r[2]['id']}/"))
    assert got["state"] == new_state and got["finalized"] is True and got["status"] == "Done"
    assert history_rows(world, r[2]["id"]) == [(world.ids["u3"], state)]


def test_c11_c1_allele_workflow_start_review_finalize_reopen(world):
    allele = world.allele_ids[2]
    kw = {"kind": "allele", "workflow_id": allele}
    assert ok(world.client("u1").get(f"{AL}/{allele}/interpretations/")) == []
    # c1: the allele start needs the panel.
    refused(act(world, "u2", "start", {}, **kw), 400)
    assert world.rounds("allele", allele) == []
    ok(act(world, "u2", "start", {"gp_name": PANEL[0], "gp_version": PANEL[1], "extra": 1}, **kw))
    r = world.rounds("allele", allele)
    assert [(x["status"], x["workflow_status"], x["user_id"], x["genepanel_version"])
            for x in r] == [("Ongoing", "Interpretation", world.ids["u2"], PANEL[1])]
    aa = world.add_assessment(allele)
    # The payload's allele_ids are ignored: exactly one snapshot row, for the workflow allele.
    body = world.payload([allele, world.allele_ids[0]], aa_ids=[aa], analysis=False)
    ok(act(world, "u2", "markreview", body, **kw))
    ok(act(world, "u1", "start", {"gp_name": "HBOC", "gp_version": "v01"}, **kw))
    r = world.rounds("allele", allele)
    assert [x["workflow_status"] for x in r] == ["Interpretation", "Review"]
    assert r[1]["genepanel_version"] == "v01"  # start sets the panel again
    ok(act(world, "u1", "finalize", world.payload([allele], aa_ids=[aa], analysis=False), **kw))
    annotation = sql(world.url, "SELECT id FROM annotation WHERE allele_id = %s", (allele,))[0][0]
    for x in world.rounds("allele", allele):
        assert snapshot_rows(world, x["id"], "allele") == [
            (allele, annotation, None, aa, None, None)]
    ok(act(world, "u3", "reopen", **kw))
    r = world.rounds("allele", allele)
    assert (r[2]["status"], r[2]["workflow_status"]) == ("Not started", "Review")  # c25
    ok(act(world, "u3", "start", {"gp_name": PANEL[0], "gp_version": PANEL[1]}, **kw))
    ok(act(world, "u3", "finalize", world.payload([allele], aa_ids=[aa], analysis=False), **kw))
    listed = ok(world.client("u1").get(f"{AL}/{allele}/interpretations/"))
    assert [x["finalized"] for x in listed] == [False, True, True]
    assert set(listed[0]) == ANALYSIS_ROUND_KEYS | {"date_created"}
    snaps = ok(world.client("u1").get(f"{AL}/{allele}/snapshots/"))
    assert len(snaps) == 3 and set(snaps[0]) == SNAPSHOT_KEYS | {"alleleinterpretation_id"}


def test_allele_workflow_finalize_refuses_another_variants_assessment(world):
    """A variant workflow's finalize naming another variant (its allele_ids, annotation and
    assessment) passed the "assessments belong to allele_ids" check and finalized the round
    with a snapshot holding neither annotation nor classification of its own variant."""
    allele, other = world.allele_ids[0], world.allele_ids[1]
    kw = {"kind": "allele", "workflow_id": allele}
    ok(act(world, "u1", "start", {"gp_name": PANEL[0], "gp_version": PANEL[1]}, **kw))
    other_aa, own_aa = world.add_assessment(other), world.add_assessment(allele)
    before = tables(world.url)
    for aa_ids in ([other_aa], [own_aa, other_aa]):
        refused(act(world, "u1", "finalize", world.payload([other], aa_ids=aa_ids,
                                                           analysis=False), **kw), 400,
                f"alleleassessment_ids: alleleassessment {other_aa} does not belong to this "
                f"workflow's variant (allele {allele})")
    assert tables(world.url) == before
    # Its own assessment, with the payload's allele_ids not read (workflow.md 9).
    ok(act(world, "u1", "finalize", world.payload([other], aa_ids=[own_aa], analysis=False)
           | {"annotation_ids": world.payload([allele], analysis=False)["annotation_ids"]},
           **kw))
    [done] = world.rounds("allele", allele)
    assert snapshot_rows(world, done["id"], "allele")[0][3] == own_aa


def _set_user_config(world, username, config):
    sql(world.url, 'UPDATE "user" SET config = %s WHERE username = %s', (Jsonb(config), username))


def test_c15_c18_allele_finalize_only_in_configured_workflow_status(world):
    allele = world.allele_ids[1]
    kw = {"kind": "allele", "workflow_id": allele}
    _set_user_config(world, "u1", {"workflows": {"allele": {"finalize_requirements": {
        "workflow_status": ["Review"]}}}})
    ok(act(world, "u1", "start", {"gp_name": PANEL[0], "gp_version": PANEL[1]}, **kw))
    body = world.payload([allele], analysis=False)
    before = tables(world.url)
    refused(act(world, "u1", "finalize", body, **kw), 409,
            "Cannot finalize: interpretation workflow status is Interpretation, but must be "
            "one of: Review")
    assert tables(world.url) == before
    ok(act(world, "u1", "markreview", body, **kw))
    ok(act(world, "u1", "start", {"gp_name": PANEL[0], "gp_version": PANEL[1]}, **kw))
    ok(act(world, "u1", "finalize", body, **kw))


def test_c16_analysis_finalize_only_in_review_or_medical_review(world):
    a = world.allele_ids
    _set_user_config(world, "u1", {"workflows": {"analysis": {"finalize_requirements": {
        "workflow_status": ["Review", "Medical review"], "allow_unclassified": True}}}})
    ok(act(world, "u1", "start"))
    refused(act(world, "u1", "finalize", world.payload(a)), 409,
            "Cannot finalize: interpretation workflow status is Interpretation, but must be "
            "one of: Review, Medical review")
    ok(act(world, "u1", "markmedicalreview", world.payload(a)))
    ok(act(world, "u1", "start"))
    ok(act(world, "u1", "finalize", world.payload(a)))
    # QUIRK 17.3: an empty list blocks every finalize.
    ok(act(world, "u1", "reopen"))
    ok(act(world, "u1", "start"))
    _set_user_config(world, "u1", {"workflows": {"analysis": {"finalize_requirements": {
        "workflow_status": [], "allow_unclassified": True}}}})
    refused(act(world, "u1", "finalize", world.payload(a)), 409)


def test_c17_allow_unclassified_false_needs_a_classification_per_allele(world):
    a = world.allele_ids
    aas = [world.add_assessment(x) for x in a[:5]]
    ok(act(world, "u1", "start"))
    body = world.payload(a, aa_ids=aas)  # a[5] has no assessment in the payload
    before = tables(world.url)
    refused(act(world, "u1", "finalize", body), 409,
            "allow_unclassified is set to false, but some allele ids are missing classification")
    assert tables(world.url) == before
    # Technical or not relevant alleles need none.
    ok(act(world, "u1", "finalize", world.payload(a, aa_ids=aas, technical_allele_ids=[a[5]])))
    ok(act(world, "u1", "reopen"))
    ok(act(world, "u1", "start"))
    _set_user_config(world, "u1", {"workflows": {"analysis": {"finalize_requirements": {
        "workflow_status": None, "allow_unclassified": True}}}})
    ok(act(world, "u1", "finalize", body))


def test_c43_save_needs_the_owner_and_an_ongoing_round(world):
    round_id = world.rounds()[0]["id"]
    before = tables(world.url)
    refused(save(world, "u1", round_id, {"a": 1}), 409,
            "Interpretation not started. Call it's analysis' start action to begin "
            "interpretation.")
    ok(act(world, "u1", "start"))
    before = tables(world.url)
    refused(save(world, "u2", round_id, {"a": 1}), 409,
            "Interpretation owned by First1 Last1 cannot be updated by other user "
            "(First2 Last2)")
    assert tables(world.url) == before
    # override: the other user takes the round over and may save then.
    ok(act(world, "u2", "override"))
    assert world.rounds()[0]["user_id"] == world.ids["u2"]
    ok(save(world, "u2", round_id, {"a": 1}))
    refused(save(world, "u1", round_id, {"a": 2}), 409)
    ok(act(world, "u2", "finalize", world.payload(world.allele_ids,
                                                  technical_allele_ids=world.allele_ids)))
    before = tables(world.url)
    refused(save(world, "u2", round_id, {"a": 3}), 409,
            "Cannot PATCH interpretation with status 'DONE'")
    assert tables(world.url) == before
    # Bodies are checked strictly (unknown keys, missing state).
    refused(world.client("u2").request("PATCH", f"{AN}/{world.analysis_id}/interpretations/"
                                       f"{round_id}/", json_body={"state": {}}), 400)


def test_save_keeps_the_previous_state_when_it_changes_as_json(world):
    """JSON equality decides (workflow.md 4.2): an identical state adds no history row, a
    value that changes type (true -> 1, 1 -> 1.5) does, though Python's == calls them equal."""
    round_id = world.rounds()[0]["id"]
    ok(act(world, "u1", "start"))
    states = [{"notrelevant": True, "n": 1}, {"n": 1, "notrelevant": True},
              {"notrelevant": 1, "n": 1}, {"notrelevant": 1, "n": 1.5}, {"notrelevant": 1,
                                                                         "n": 1.5}]
    for state in states:
        ok(save(world, "u1", round_id, state))
    assert [s for _, s in history_rows(world, round_id)] == [{}, states[0], states[2]]
    assert world.rounds()[0]["state"] == states[-1]
    # Numbers the database writes otherwise (1e16 as 10000000000000000, -0.0 as 0.0): the
    # same document saved again (the UI's autosave) added a history row every time.
    odd = {"big": 1e16, "zero": -0.0}
    for _ in range(3):
        ok(save(world, "u1", round_id, odd))
    assert len(history_rows(world, round_id)) == 4


def test_save_mark_and_finalize_move_the_rounds_date_last_update(world):
    """The round's date_last_update (the overviews' and search's "last update") moves with
    every change of it: start, a save, the mark that ends it, the finalize of the next."""
    a = world.allele_ids

    def last_update(round_id):
        return sql(world.url, "SELECT date_last_update FROM analysisinterpretation "
                   "WHERE id = %s", (round_id,))[0][0]

    ok(act(world, "u1", "start"))
    first = world.rounds()[0]["id"]
    started = last_update(first)
    ok(save(world, "u1", first, {"report": {"comment": "one"}}))
    saved = last_update(first)
    assert saved > started
    ok(act(world, "u1", "markreview", world.payload(a, technical_allele_ids=a)))
    marked = last_update(first)
    assert marked > saved
    ok(act(world, "u2", "start"))
    second = world.rounds()[1]["id"]
    started = last_update(second)
    ok(act(world, "u2", "finalize", world.payload(a, technical_allele_ids=a)))
    assert last_update(second) > started
    assert last_update(first) == marked


def test_start_of_an_analysis_deleted_after_the_access_check_is_404(world, monkeypatch):
    """`ella-delete` committing between the start's access check and its read of the
    analysis' panel: a 500 (TypeError) where every other action answers 404."""
    from ella.deposit.delete import delete_analysis
    from ella.web.routes import workflow_rounds
    checked = workflow_rounds.require_analysis

    def checked_then_deleted(conn, user, analysis_id, *args, **kwargs):
        result = checked(conn, user, analysis_id, *args, **kwargs)
        with psycopg.connect(world.url) as other:
            delete_analysis(other, analysis_id)
        return result

    monkeypatch.setattr(workflow_rounds, "require_analysis", checked_then_deleted)
    result = world.client("u1").post(f"{AN}/{world.analysis_id}/actions/start/", {})
    assert (result.status, result.json) == (
        404, {"message": f"No analysis with id {world.analysis_id}"})


# -- every precondition of the transition table, violated once -------------------------------

def _workflow_at(world, where, kind):
    """Bring the workflow (analysis 1 / allele a[0]) to `where`: none, Not started, Ongoing,
    Done (finalized)."""
    kw = {"kind": kind}
    start_body = {"gp_name": PANEL[0], "gp_version": PANEL[1]} if kind == "allele" else {}
    if kind == "allele" and where != "none":
        ok(act(world, "u1", "start", start_body, **kw))
        ok(act(world, "u1", "markinterpretation", world.payload([world.allele_ids[0]],
                                                                analysis=False), **kw))
    if where in ("Ongoing", "Done"):
        ok(act(world, "u1", "start", start_body, **kw))
    if where == "Done":
        body = world.payload(world.allele_ids, technical_allele_ids=world.allele_ids) \
            if kind == "analysis" else world.payload([world.allele_ids[0]], analysis=False)
        ok(act(world, "u1", "finalize", body, **kw))


PRECONDITION_CASES = []
for _action, _t in TRANSITIONS.items():
    for _kind in _t.types:
        for _where in ("none", "Not started", "Ongoing", "Done"):
            _status = None if _where == "none" else _where
            if _status in _t.allowed or (_action == "save" and _where == "none"):
                continue
            if _kind == "analysis" and _where == "none":
                continue
            PRECONDITION_CASES.append((_action, _kind, _where))


def _expected_message(action, kind, where, world):
    t = TRANSITIONS[action]
    status = None if where == "none" else where
    template = t.refusals.get(status, t.refusals.get("*"))
    workflow_id = world.analysis_id if kind == "analysis" else world.allele_ids[0]
    return template.format(status=status, type=kind, id=workflow_id)


def _reset(world):
    """Back to the deposited state: one Not started analysis round, no allele rounds."""
    sql(world.url, "DELETE FROM analysisinterpretationsnapshot; "
        "DELETE FROM alleleinterpretationsnapshot; DELETE FROM interpretationstatehistory; "
        "DELETE FROM analysisinterpretation; DELETE FROM alleleinterpretation")
    sql(world.url, "INSERT INTO analysisinterpretation (analysis_id, genepanel_name, "
        "genepanel_version, state, user_state, status, workflow_status, date_created, "
        "date_last_update) VALUES (%s, %s, %s, '{}', '{}', 'Not started', 'Interpretation', "
        "now(), now())", (world.analysis_id, *PANEL))


def test_c44_c45_every_refused_transition_is_409_and_changes_nothing(world):
    """Every (action, workflow type, status of the round) the transition table refuses,
    violated once (one test looping over the cases: a fresh database per case is slow)."""
    assert len(PRECONDITION_CASES) > 30
    for action, kind, where in PRECONDITION_CASES:
        _reset(world)
        _workflow_at(world, where, kind)
        before = tables(world.url)
        if action == "save":
            round_id = world.rounds(kind, world.allele_ids[0] if kind == "allele"
                                    else None)[-1]["id"]
            result = save(world, "u1", round_id, {"changed": True}, kind=kind)
        else:
            body = {}
            if TRANSITIONS[action].payload == "round":
                body = world.payload([world.allele_ids[0]], analysis=kind == "analysis")
            if action == "start" and kind == "allele":
                body = {"gp_name": PANEL[0], "gp_version": PANEL[1]}
            result = act(world, "u2", action, body, kind=kind)
        case = (action, kind, where)
        assert result.status == 409, (case, result.status, result.body[:300])
        assert result.json == {"message": _expected_message(action, kind, where, world)}, case
        assert tables(world.url) == before, case


def test_the_statuses_each_action_accepts_are_workflow_md_3s():
    """Written out from workflow.md 3-4: the 409 test above takes its cases from the table,
    so an action the table let through on one more status (start or finalize of a round
    that is Done or Not started) dropped that case from it and passed."""
    from ella.workflow.rounds import NO_ROUND
    assert {action: (set(transition.types), set(transition.allowed))
            for action, transition in TRANSITIONS.items()} == {
        "start": ({"analysis", "allele"}, {NO_ROUND, "Not started"}),
        "save": ({"analysis", "allele"}, {"Ongoing"}),
        "override": ({"analysis", "allele"}, {"Ongoing"}),
        "marknotready": ({"analysis"}, {"Ongoing"}),
        "markinterpretation": ({"analysis", "allele"}, {"Ongoing"}),
        "markreview": ({"analysis", "allele"}, {"Ongoing"}),
        "markmedicalreview": ({"analysis"}, {"Ongoing"}),
        "finalize": ({"analysis", "allele"}, {"Ongoing"}),
        "reopen": ({"analysis", "allele"}, {"Done"}),
    }


def test_every_refusal_text_of_the_table_is_ellas():
    """Every refusal text of the transition table, written out from workflow.md 3-4 and
    api.md 1.4: the 409 test above takes its expected texts from the table, so a changed
    text would pass it."""
    from ella.workflow.rounds import NO_ROUND
    texts = {(action, status): text for action, transition in TRANSITIONS.items()
             for status, text in transition.refusals.items()}
    assert texts == {
        ("start", "*"): "Cannot start existing interpretation where status = {status}",
        ("save", "Done"): "Cannot PATCH interpretation with status 'DONE'",
        ("save", "Not started"): "Interpretation not started. Call it's analysis' start "
                                 "action to begin interpretation.",
        ("override", "*"): "Cannot reassign interpretation that is not 'Ongoing'.",
        ("marknotready", "*"): "Cannot mark as 'Not ready' when latest interpretation is "
                               "not 'Ongoing'",
        ("markinterpretation", "*"): "Cannot mark as 'Interpretation' when latest "
                                     "interpretation is not 'Ongoing'",
        ("markreview", "*"): "Cannot mark as 'Review' when latest interpretation is not "
                             "'Ongoing'",
        ("markmedicalreview", "*"): "Cannot mark as 'Medical review' when latest "
                                    "interpretation is not 'Ongoing'",
        ("finalize", NO_ROUND): "No interpretation found for {type} id {id}",
        ("finalize", "*"): "Cannot finalize when latest interpretation is not 'Ongoing'",
        ("reopen", NO_ROUND): "There are no existing interpretations for this item. Use the "
                              "start action instead.",
        ("reopen", "*"): "Interpretation is already 'Not started' or 'Ongoing'. Cannot "
                         "reopen.",
    }


def test_precondition_messages_are_ellas(world):
    """The table's refusal texts are ELLA's (api.md 1.4), spot-checked."""
    assert _expected_message("start", "analysis", "Ongoing", world) == \
        "Cannot start existing interpretation where status = Ongoing"
    assert _expected_message("markreview", "analysis", "Done", world) == \
        "Cannot mark as 'Review' when latest interpretation is not 'Ongoing'"
    assert _expected_message("finalize", "allele", "none", world) == \
        f"No interpretation found for allele id {world.allele_ids[0]}"
    assert _expected_message("reopen", "allele", "none", world) == \
        "There are no existing interpretations for this item. Use the start action instead."


def test_c45_c46_bad_round_payloads_are_400_and_change_nothing(world):
    a = world.allele_ids
    aa = world.add_assessment(a[5])
    elsewhere = sql(world.url, "INSERT INTO allele (genome_reference, chromosome, "
                    "start_position, open_end_position, change_type, change_from, change_to, "
                    "length, vcf_pos, vcf_ref, vcf_alt, caller_type) SELECT genome_reference, "
                    "chromosome, start_position + 5000, open_end_position + 5000, change_type, "
                    "change_from, change_to, length, vcf_pos + 5000, vcf_ref, vcf_alt, "
                    "caller_type FROM allele WHERE id = %s RETURNING id", (a[0],))[0][0]
    ok(act(world, "u1", "start"))
    before = tables(world.url)
    bad = [
        world.payload(a, excluded={"size": [a[0]]}),            # not a snapshot category
        {k: v for k, v in world.payload(a).items() if k != "excluded_allele_ids"},
        world.payload(a, extra_key=[]),                         # unknown key
        {**world.payload(a), "annotation_ids": [987654]},       # unknown annotation id
        world.payload(a[:2], aa_ids=[aa], technical_allele_ids=a),  # AA of another allele
        {**world.payload(a), "allele_ids": ["x"]},
        {**world.payload(a), "annotation_ids": [1, 1]},         # repeated id
        world.payload(a + [elsewhere]),                         # not in the analysis
        world.payload(a, excluded={"frequency": [elsewhere]}),
    ]
    for body in bad[:4] + bad[5:]:
        refused(act(world, "u1", "markreview", body), 400)
    refused(act(world, "u1", "finalize", bad[4]), 400)
    refused(act(world, "u1", "markreview", bad[-1]), 400,
            f"Allele(s) {elsewhere} are not part of analysis {world.analysis_id}")
    # A round that names no variant would end without its record (workflow.md 11.3: reading
    # it is an error from then on).
    for action in ("markreview", "finalize"):
        refused(act(world, "u1", action, world.payload([])), 400,
                f"allele_ids and excluded_allele_ids name no variant of analysis "
                f"{world.analysis_id}: a round ends with the record of the variants it showed")
    assert tables(world.url) == before
    # Unknown actions of a type: alleles have no marknotready.
    refused(act(world, "u1", "marknotready", {}, kind="allele"), 404)


def test_round_of_another_workflow_or_group_is_404_or_403(world):
    a = world.allele_ids
    ok(act(world, "u1", "start", {"gp_name": PANEL[0], "gp_version": PANEL[1]}, kind="allele",
           workflow_id=a[1]))
    allele_round = world.rounds("allele", a[1])[0]["id"]
    analysis_round = world.rounds()[0]["id"]
    c = world.client("u1")
    refused(c.get(f"{AL}/{a[0]}/interpretations/{allele_round}/"), 404)
    refused(c.get(f"{AN}/{world.analysis_id}/interpretations/{allele_round + 100}/"), 404)
    refused(save(world, "u1", allele_round, {}, kind="allele", workflow_id=a[0]), 404)
    refused(c.get(f"{AL}/{a[0]}/interpretations/{allele_round}/alleles/"), 404)
    refused(c.get(f"{AN}/987654/interpretations/"), 404)
    o = world.client("outsider")
    refused(o.get(f"{AN}/{world.analysis_id}/interpretations/{analysis_round}/"), 403)
    refused(o.post(f"{AN}/{world.analysis_id}/actions/start/", {}), 403)
    refused(o.get(f"{AL}/{a[1]}/interpretations/{allele_round}/"), 403)
    assert ok(o.get(f"{AL}/{a[1]}/interpretations/")) == []  # rounds of other panels hidden
    assert ok(o.get(f"{AL}/{a[1]}/snapshots/")) == []
    refused(o.post(f"{AL}/{a[2]}/actions/start/", {"gp_name": PANEL[0],
                                                     "gp_version": PANEL[1]}), 403)
    refused(c.post(f"{AL}/{a[2]}/actions/start/", {"gp_name": "nope", "gp_version": "v0"}), 404)


def test_allele_workflow_of_another_group_cannot_be_changed(world):
    """Every write route of a variant workflow refuses a user whose group lacks the panel of
    the round it would change (403), also one who may start variant workflows on a panel of
    their own; nothing changes. ELLA checks none of this (workflow.md 4). Only start and
    reopen are open to every group (here refused by the round's status alone)."""
    from ella.web import routes  # noqa: F401  (registers the routes)
    from ella.web.router import router
    a = world.allele_ids
    add_user(world.url, "v01only", "v01only", [("HBOC", "v01")])
    ok(act(world, "u1", "start", {"gp_name": PANEL[0], "gp_version": PANEL[1]}, kind="allele",
           workflow_id=a[3]))
    round_id = world.rounds("allele", a[3])[0]["id"]
    ok(world.client("u1").post(f"{AL}/{a[3]}/logs/", {"message": "note"}))
    log_id = sql(world.url, "SELECT max(id) FROM interpretationlog")[0][0]
    bodies = {"start": {"gp_name": "HBOC", "gp_version": "v01"},
              "interpretations": {"id": round_id, "state": {"x": 1}, "user_state": {}},
              "logs": {"message": "not mine"}}
    write_routes = [r for r in router.routes if r.method in ("POST", "PATCH", "DELETE")
                    and r.pattern.startswith(f"{AL}/<int:allele_id>/")]
    assert len(write_routes) >= 12
    before = tables(world.url), sql(world.url, "SELECT * FROM interpretationlog ORDER BY id")
    for user in ("v01only", "outsider"):
        for route in write_routes:
            path = route.pattern.replace("<int:allele_id>", str(a[3])).replace(
                "<int:interpretation_id>", str(round_id)).replace("<int:log_id>", str(log_id))
            name = next(part for part in reversed(path.split("/"))
                        if part and not part.isdigit())
            result = world.client(user).request(route.method, path,
                                                json_body=bodies.get(name, {}))
            # start and reopen meet the Ongoing round (409), unless start names a panel
            # the user's group lacks (the outsider's group has none).
            expected = 409 if name == "reopen" or (name, user) == ("start", "v01only") \
                else 403
            assert result.status == expected, (user, route.method, route.pattern,
                                               result.body[:200])
    assert (tables(world.url), sql(world.url, "SELECT * FROM interpretationlog ORDER BY id")) \
        == before
    # Reading stays open, as in ELLA: the variant page of another group's user loads.
    for user in ("v01only", "outsider"):
        log = ok(world.client(user).get(f"{AL}/{a[3]}/logs/"))
        assert [entry["message"] for entry in log["logs"]] == ["note"]
        ok(world.client(user).get(f"{AL}/{a[3]}/collisions/", query={"allele_ids": a[3]}))
    refused(world.client("outsider").get(f"{AL}/987654/logs/"), 404)
    refused(world.client("outsider").get(f"{AL}/987654/collisions/",
                                         query={"allele_ids": 987654}), 404)
    ok(act(world, "u2", "override", kind="allele", workflow_id=a[3]))  # the group can
    # The other group still starts variant workflows on its own panel.
    ok(act(world, "v01only", "start", {"gp_name": "HBOC", "gp_version": "v01"}, kind="allele",
           workflow_id=a[4]))


def test_a_not_started_or_finalized_variant_workflow_is_open_to_every_group(world):
    """As in ELLA, anyone may start a Not started round and reopen a finalized one: start
    sets the caller's (checked) panel, so a round left on a panel a group no longer has (a
    panel upgrade, or another group's `deposit alleles`) is never stuck."""
    a = world.allele_ids
    add_user(world.url, "v01only", "v01only", [("HBOC", "v01")])
    sql(world.url, "INSERT INTO alleleinterpretation (allele_id, genepanel_name, "
        "genepanel_version, user_state, state, status, workflow_status, date_created, "
        "date_last_update) VALUES (%s, %s, %s, '{}', '{}', 'Not started', 'Interpretation', "
        "now(), now())", (a[5], *PANEL))
    refused(act(world, "v01only", "start", {"gp_name": PANEL[0], "gp_version": PANEL[1]},
                kind="allele", workflow_id=a[5]), 403)  # not its panel
    ok(act(world, "v01only", "start", {"gp_name": "HBOC", "gp_version": "v01"}, kind="allele",
           workflow_id=a[5]))
    started = world.rounds("allele", a[5])[-1]
    v01only = sql(world.url, "SELECT id FROM \"user\" WHERE username = 'v01only'")[0][0]
    assert (started["status"], started["user_id"], started["genepanel_version"]) == \
        ("Ongoing", v01only, "v01")
    # Now the round is the v01 group's in work: the group that lost it cannot take it over.
    sql(world.url, "DELETE FROM usergroupgenepanel WHERE genepanel_version = 'v01' AND "
        "usergroup_id = (SELECT group_id FROM \"user\" WHERE username = 'u1')")
    refused(act(world, "u1", "override", kind="allele", workflow_id=a[5]), 403)
    sql(world.url, "UPDATE alleleinterpretation SET status = 'Done', finalized = true "
        "WHERE allele_id = %s", (a[5],))
    ok(act(world, "u1", "reopen", kind="allele", workflow_id=a[5]))
    assert [r["status"] for r in world.rounds("allele", a[5])] == ["Done", "Not started"]


def test_a_variant_log_entry_is_editable_only_where_its_author_may_edit_it(world):
    """Once another group starts the round on its own panel, the author's group may no
    longer change that round, nor its log (403): the log listed the entry as `editable`
    all the same, so the page offered an edit the server always refused."""
    allele = world.allele_ids[2]
    add_user(world.url, "v01only", "v01only", [("HBOC", "v01")])
    add_user(world.url, "v1only", "v1only", [PANEL])
    kw = {"kind": "allele", "workflow_id": allele}
    ok(act(world, "v1only", "start", {"gp_name": PANEL[0], "gp_version": PANEL[1]}, **kw))
    ok(act(world, "v1only", "markreview", world.payload([allele], analysis=False), **kw))
    author = world.client("v1only")
    logs = f"{AL}/{allele}/logs/"
    ok(author.post(logs, {"message": "please check exon 3"}))
    entry_id = ok(author.get(logs))["logs"][-1]["id"]
    assert ok(author.get(logs))["logs"][-1]["editable"] is True
    ok(act(world, "v01only", "start", {"gp_name": "HBOC", "gp_version": "v01"}, **kw))
    assert ok(author.get(logs))["logs"][-1]["editable"] is False
    refused(author.request("PATCH", f"{logs}{entry_id}/", json_body={"message": "exon 4"}),
            403)


class _OnPanels:
    """An access rule that allows the rounds on these panels (RoundAccess's first half)."""

    def __init__(self, *panels):
        self.panels = set(panels)

    def allows(self, round_row):
        return (round_row["genepanel_name"], round_row["genepanel_version"]) in self.panels


def test_the_round_changed_is_checked_under_the_lock(world):
    """`perform` itself refuses a round its `access` rule does not allow (the route's early
    check could be overtaken by a concurrent start that sets another panel)."""
    from ella.web.errors import Forbidden
    from ella.workflow import rounds
    from ella.workflow.assessments import finalize_allele
    from ella.workflow.log import create_log
    a = world.allele_ids
    ok(act(world, "u1", "start", {"gp_name": PANEL[0], "gp_version": PANEL[1]}, kind="allele",
           workflow_id=a[3]))
    before = tables(world.url)
    with psycopg.connect(world.url) as conn:
        with pytest.raises(Forbidden, match=f"allele {a[3]} is not available to your user"):
            rounds.perform(conn, rounds.ALLELE, a[3], "override", {"id": world.ids["u2"]},
                           access=_OnPanels(("HBOC", "v01")))
        conn.rollback()
        rounds.perform(conn, rounds.ALLELE, a[3], "override", {"id": world.ids["u2"]},
                       access=_OnPanels(PANEL))
        conn.rollback()
        with pytest.raises(Forbidden, match=f"allele {a[3]} is not available to your user"):
            finalize_allele(conn, {"id": world.ids["u1"]}, {}, "allele", a[3],
                            {"allele_id": a[3]}, access=_OnPanels(("HBOC", "v01")))
        conn.rollback()
        with pytest.raises(Forbidden, match=f"allele {a[3]} is not available to your user"):
            create_log(conn, {"id": world.ids["u1"]}, "allele", a[3], {"message": "x"},
                       access=_OnPanels(("HBOC", "v01")))
        conn.rollback()
        # The log waits for the workflow's lock (held here by a concurrent change).
        with psycopg.connect(world.url) as other:
            rounds.lock_workflow(other, rounds.ALLELE, a[3])
            conn.execute("SET lock_timeout = '200ms'")
            with pytest.raises(psycopg.errors.LockNotAvailable):
                create_log(conn, {"id": world.ids["u1"]}, "allele", a[3], {"message": "x"},
                           access=_OnPanels(PANEL))
            conn.rollback()
    assert tables(world.url) == before
    with psycopg.connect(world.url) as conn:
        create_log(conn, {"id": world.ids["u1"]}, "allele", a[3], {"message": "x"},
                   access=_OnPanels(PANEL))
    listed = ok(world.client("u1").get(f"/api/v1/workflows/alleles/{a[3]}/logs/"))
    assert [entry["message"] for entry in listed["logs"]] == ["x"]


# -- reads --------------------------------------------------------------------------------------

def test_c47_done_round_alleles_come_from_the_snapshot(world):
    a = world.allele_ids
    old = world.add_assessment(a[0], "3")
    ok(act(world, "u1", "start"))
    round_id = world.rounds()[0]["id"]
    ok(act(world, "u1", "finalize", world.payload(a, aa_ids=[old], technical_allele_ids=a)))
    new = world.add_assessment(a[0], "5", supersede=True)
    c = world.client("u1")
    url = f"{AN}/{world.analysis_id}/interpretations/{round_id}/alleles/"
    result = c.get(url, query=f"allele_ids={a[0]},{a[1]}&current=false")
    alleles = {x["id"]: x for x in ok(result)}
    assert result.header("Total-Count") == "2"
    assert alleles[a[0]]["allele_assessment"]["id"] == old
    assert alleles[a[0]]["annotation"]["annotation_id"] is not None
    assert "samples" in alleles[a[0]]
    current = {x["id"]: x for x in ok(c.get(url, query=f"allele_ids={a[0]}&current=true"))}
    assert current[a[0]]["allele_assessment"]["id"] == new
    refused(c.get(url), 400)  # allele_ids is required for analyses


def test_c47_each_done_round_shows_its_own_snapshot_not_a_later_rounds(world):
    """Two Done rounds snapshotting two versions of a classification: each round's variants
    come with the version its own snapshot recorded (a review must not show the
    interpretation round the reviewer's newer classification, nor the reverse)."""
    a = world.allele_ids
    old = world.add_assessment(a[0], "3")
    ok(act(world, "u1", "start"))
    ok(act(world, "u1", "markreview", world.payload(a, aa_ids=[old], technical_allele_ids=a)))
    new = world.add_assessment(a[0], "5", supersede=True)
    ok(act(world, "u2", "start"))
    ok(act(world, "u2", "finalize", world.payload(a, aa_ids=[new], technical_allele_ids=a)))
    first, second = (r["id"] for r in world.rounds())
    for round_id, expected, classification in ((first, old, "3"), (second, new, "5")):
        url = f"{AN}/{world.analysis_id}/interpretations/{round_id}/alleles/"
        [allele] = ok(world.client("u1").get(url, query=f"allele_ids={a[0]}&current=false"))
        assert (allele["allele_assessment"]["id"],
                allele["allele_assessment"]["classification"]) == (expected, classification)


def test_stats_count_the_second_allele_of_a_genotype(world):
    """The analysis' allele count (api.md 4.16) counts a multi-allelic genotype's second
    allele as well as its first."""
    genotypes = sql(world.url, "SELECT count(*) FROM genotype g JOIN sample s "
                    "ON s.id = g.sample_id WHERE s.analysis_id = %s", (world.analysis_id,))[0][0]
    c = world.client("u1")
    assert ok(c.get(f"{AN}/{world.analysis_id}/stats/")) == {"allele_count": genotypes}
    sql(world.url, "UPDATE genotype SET secondallele_id = %s WHERE id = (SELECT min(g.id) "
        "FROM genotype g JOIN sample s ON s.id = g.sample_id WHERE s.analysis_id = %s "
        "AND g.allele_id <> %s)", (world.allele_ids[-1], world.analysis_id,
                                   world.allele_ids[-1]))
    assert ok(c.get(f"{AN}/{world.analysis_id}/stats/")) == {"allele_count": genotypes + 1}


def test_finishallowed_compares_sample_ids_as_sets_and_stats(world):
    c = world.client("u1")
    samples = [r[0] for r in sql(world.url, "SELECT id FROM sample WHERE analysis_id = %s "
                                 "ORDER BY id DESC", (world.analysis_id,))]
    round_id = world.rounds()[0]["id"]
    url = f"{AN}/{world.analysis_id}/interpretations/{round_id}/finishallowed"
    assert ok(c.get(url, query={"q": {"sample_ids": samples}})) is None
    refused(c.get(url, query={"q": {"sample_ids": samples[1:]}}), 409,
            "Can not finish interpretation. Additional data have been added to this analysis. "
            "Please refresh.")
    refused(c.get(url), 400)
    stats = ok(c.get(f"{AN}/{world.analysis_id}/stats/"))
    assert stats == {"allele_count": sql(
        world.url, "SELECT count(g.allele_id) + count(g.secondallele_id) FROM genotype g "
        "JOIN sample s ON s.id = g.sample_id WHERE s.analysis_id = %s",
        (world.analysis_id,))[0][0]}


def test_c7_c8_real_ella_rounds_read_back_then_finalize_reopen_finalize(demo_api_app,
                                                                          demo_db_url):
    url = demo_db_url
    c1 = logged_in_client(demo_api_app, url, "testuser1")
    c2 = logged_in_client(demo_api_app, url, "testuser2")
    rows = sql(url, "SELECT id, status::text, finalized, workflow_status::text, user_state, "
               "state, genepanel_name, genepanel_version, user_id FROM analysisinterpretation "
               "WHERE analysis_id = 2 ORDER BY id")
    listed = ok(c1.get(f"{AN}/2/interpretations/"))
    assert [(x["id"], x["status"], x["finalized"], x["workflow_status"], x["user_state"],
             x["state"], x["genepanel_name"], x["genepanel_version"], x["user_id"])
            for x in listed] == [tuple(r) for r in rows]
    assert listed[0]["user"]["username"] == "testuser1" and set(listed[0]) == \
        ANALYSIS_ROUND_KEYS
    round_id = rows[0][0]
    # ELLA's Ongoing round belongs to testuser1: another user may not save it.
    refused(c2.request("PATCH", f"{AN}/2/interpretations/{round_id}/",
                       json_body={"state": {}, "user_state": {}}), 409)
    history = sql(url, "SELECT count(*) FROM interpretationstatehistory")[0][0]
    ok(c1.request("PATCH", f"{AN}/2/interpretations/{round_id}/",
                  json_body={"id": round_id, "state": {**rows[0][5], "x": 1},
                             "user_state": rows[0][4]}))
    assert sql(url, "SELECT count(*) FROM interpretationstatehistory")[0][0] == history + 1
    alleles = sorted({r[0] for r in sql(
        url, "SELECT g.allele_id FROM genotype g JOIN sample s ON s.id = g.sample_id "
        "WHERE s.analysis_id = 2")})
    annotations = [r[0] for r in sql(url, "SELECT id FROM annotation WHERE allele_id = ANY(%s) "
                                     "AND date_superceeded IS NULL", (alleles,))]
    aas = dict(sql(url, "SELECT allele_id, id FROM alleleassessment WHERE allele_id = ANY(%s) "
                   "AND date_superceeded IS NULL", (alleles,)))
    body = {"allele_ids": alleles, "annotation_ids": annotations, "custom_annotation_ids": [],
            "alleleassessment_ids": list(aas.values()), "allelereport_ids": [],
            "excluded_allele_ids": {}, "technical_allele_ids":
                [x for x in alleles if x not in aas]}
    ok(c1.post(f"{AN}/2/actions/finalize/", body))
    ok(c2.post(f"{AN}/2/actions/reopen/", {}))
    ok(c2.post(f"{AN}/2/actions/start/", {"gp_name": "HBOCUTV", "gp_version": "v01"}))
    ok(c2.post(f"{AN}/2/snapshots/", body))  # ELLA's alias of finalize
    after = ok(c1.get(f"{AN}/2/interpretations/"))
    assert [(x["status"], x["finalized"], x["user"]["username"]) for x in after] == [
        ("Done", True, "testuser1"), ("Done", True, "testuser2")]
    assert after[1]["state"] == {**rows[0][5], "x": 1}
    snaps = ok(c1.get(f"{AN}/2/snapshots/"))
    assert len(snaps) == 2 * len(alleles)
    old = ok(c1.get(f"{AN}/2/interpretations/{round_id}/alleles/",
                    query="allele_ids=" + ",".join(map(str, alleles))))
    assert {x["id"]: x.get("allele_assessment", {}).get("id") for x in old} == \
        {x: aas.get(x) for x in alleles}


# -- concurrency ---------------------------------------------------------------------------------

def _race(*calls):
    """Run the calls at the same moment in threads; their results in order."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(i, call):
        barrier.wait()
        results[i] = call()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _one_winner(results, message):
    statuses = sorted(r.status for r in results)
    assert statuses == [200, 409], [(r.status, r.body[:200]) for r in results]
    assert [r for r in results if r.status == 409][0].json == {"message": message}


def test_c1_c7_c43_concurrent_start_save_finalize_exactly_one_wins_50_times(world):
    a = world.allele_ids
    body = world.payload(a, technical_allele_ids=a)
    # Both users' clients log in before the race (login is not part of it).
    c1, c2 = world.client("u1"), world.client("u2")
    for i in range(50):
        results = _race(lambda: c1.post(f"{AN}/{world.analysis_id}/actions/start/", {}),
                        lambda: c2.post(f"{AN}/{world.analysis_id}/actions/start/", {}))
        _one_winner(results, "Cannot start existing interpretation where status = Ongoing")
        winner = "u1" if results[0].status == 200 else "u2"
        r = world.rounds()
        assert len(r) == i + 1 and r[-1]["status"] == "Ongoing" and \
            r[-1]["user_id"] == world.ids[winner]
        # Two saves by the owner: both succeed, serialised, so the history is a chain with
        # no lost state.
        round_id = r[-1]["id"]
        owner = world.client(winner)
        previous = r[-1]["state"]
        results = _race(lambda: save(world, winner, round_id, {"n": i, "by": "x"}),
                        lambda: save(world, winner, round_id, {"n": i, "by": "y"}))
        assert [x.status for x in results] == [200, 200]
        history = [s for _, s in history_rows(world, round_id)]
        final = world.rounds()[-1]["state"]
        assert len(history) == 2 and history[0] == previous
        assert {history[1]["by"], final["by"]} == {"x", "y"}
        results = _race(lambda: owner.post(f"{AN}/{world.analysis_id}/actions/finalize/", body),
                        lambda: c2.post(f"{AN}/{world.analysis_id}/actions/finalize/", body))
        _one_winner(results, "Cannot finalize when latest interpretation is not 'Ongoing'")
        assert len(snapshot_rows(world, round_id)) == len(a)
        results = _race(lambda: c1.post(f"{AN}/{world.analysis_id}/actions/reopen/", {}),
                        lambda: c2.post(f"{AN}/{world.analysis_id}/actions/reopen/", {}))
        _one_winner(results, "Interpretation is already 'Not started' or 'Ongoing'. "
                             "Cannot reopen.")
    r = world.rounds()
    assert len(r) == 51 and [x["finalized"] for x in r] == [True] * 50 + [None]
    assert sql(world.url, "SELECT count(*) FROM analysisinterpretationsnapshot")[0][0] == 50 * 6
    assert sql(world.url, "SELECT count(*) FROM interpretationstatehistory")[0][0] == 100


def test_c1_concurrent_first_start_of_an_allele_creates_one_round_50_times(world):
    allele = world.allele_ids[3]
    c1, c2 = world.client("u1"), world.client("u2")
    start = {"gp_name": PANEL[0], "gp_version": PANEL[1]}
    for _ in range(50):
        sql(world.url, "DELETE FROM alleleinterpretation WHERE allele_id = %s", (allele,))
        results = _race(lambda: c1.post(f"{AL}/{allele}/actions/start/", start),
                        lambda: c2.post(f"{AL}/{allele}/actions/start/", start))
        _one_winner(results, "Cannot start existing interpretation where status = Ongoing")
        r = world.rounds("allele", allele)
        assert len(r) == 1 and r[0]["status"] == "Ongoing"


# -- gene panels of a workflow ---------------------------------------------------------------

def test_workflow_genepanel_endpoints(world):
    a = world.allele_ids
    c = world.client("u1")
    genes = sql(world.url, "SELECT DISTINCT hgnc_id FROM annotationshadowtranscript "
                "WHERE allele_id = %s AND hgnc_id IS NOT NULL", (a[0],))
    assert genes, "the test variant has annotated genes"
    gene = genes[0][0]
    other_gene = sql(world.url, "SELECT hgnc_id FROM gene WHERE hgnc_id <> %s LIMIT 1",
                     (gene,))[0][0]
    for gene_id in (gene, other_gene):
        sql(world.url, "INSERT INTO geneassessment (evaluation, user_id, date_created, "
            "genepanel_name, genepanel_version, gene_id) VALUES ('{\"comment\": \"g\"}', %s, "
            "now(), %s, %s, %s)", (world.ids["u1"], *PANEL, gene_id))
    panel = ok(c.get(f"{AN}/{world.analysis_id}/genepanels/{PANEL[0]}/{PANEL[1]}/",
                     query=f"allele_ids={a[0]}"))
    assert set(panel) == {"name", "version", "official", "transcripts", "phenotypes",
                          "inheritances", "geneassessments"}
    assert panel["transcripts"]
    assert {t["gene"]["hgnc_id"] for t in panel["transcripts"]} == {gene}
    assert [g["gene_id"] for g in panel["geneassessments"]] == [gene]
    assert {i["transcript_name"] for i in panel["inheritances"]} == \
        {t["transcript_name"] for t in panel["transcripts"]}
    same = ok(c.get(f"{AL}/{a[0]}/genepanels/{PANEL[0]}/{PANEL[1]}/"))
    for result in (same, panel):
        for ga in result["geneassessments"]:
            ga.pop("seconds_since_update")
    assert same == panel
    refused(c.get(f"{AL}/{a[0]}/genepanels/nope/v1/"), 404)
    official = {tuple(r) for r in sql(world.url, "SELECT name, version FROM genepanel "
                                      "WHERE official")}
    choices = ok(c.get(f"{AL}/{a[0]}/genepanels/"))
    assert {(p["name"], p["version"]) for p in choices} == \
        official & {PANEL, ("HBOC", "v01")}
    assert ok(world.client("outsider").get(f"{AL}/{a[0]}/genepanels/")) == []


def test_open_round_unique_index_violation_is_a_409(world, monkeypatch):
    """A round created outside this module between our read and our insert (the partial
    unique index refuses the second open round) is answered like a lost race: 409."""
    from ella.web.errors import Conflict
    from ella.workflow import rounds
    allele = world.allele_ids[4]
    sql(world.url, "INSERT INTO alleleinterpretation (allele_id, genepanel_name, "
        "genepanel_version, state, user_state, status, workflow_status, date_created, "
        "date_last_update) VALUES (%s, %s, %s, '{}', '{}', 'Not started', 'Interpretation', "
        "now(), now())", (allele, *PANEL))
    monkeypatch.setattr(rounds, "latest_round", lambda *args: None)  # "saw no round"
    with psycopg.connect(world.url) as conn:
        with pytest.raises(Conflict, match="at the same time"):
            rounds.perform(conn, rounds.ALLELE, allele, "start", {"id": world.ids["u1"]},
                           panel=PANEL)
        conn.rollback()
    assert len(world.rounds("allele", allele)) == 1


def _started_then_upgraded(api_app, db_url, ella_config):
    """The owner (wfgroup) starts a variant round on HBOC v1.0.0; the group is then given
    v01 in its place. Returns (owner, colleague, outsider of othergroup with v01, allele id,
    annotation id)."""
    from workflow_helpers import analysis_alleles, setup_analysis
    owner, colleague, analyses, _ = setup_analysis(api_app, db_url, ella_config)
    add_user(db_url, "outsider", "othergroup", [("HBOC", "v01")])
    outsider = logged_in_client(api_app, db_url, "outsider")
    allele_id, annotation_id = analysis_alleles(db_url, analyses[0])[0]
    assert owner.post(f"/api/v1/workflows/alleles/{allele_id}/actions/start/",
                      {"gp_name": "HBOC", "gp_version": "v1.0.0"}).status == 200
    sql(db_url, "UPDATE usergroupgenepanel SET genepanel_version = 'v01' WHERE "
        "genepanel_name = 'HBOC' AND genepanel_version = 'v1.0.0'")
    return owner, colleague, outsider, allele_id, annotation_id


def test_a_variant_round_in_work_survives_its_groups_panel_upgrade(api_app, db_url, ella_config):
    """A user starts a variant round on HBOC v1.0.0; the group then gets the new version
    and loses the old one. The group can still finish the round in work (its owner saves,
    logs, finalizes the variant and marks it; a colleague can take it over), while another
    group cannot take it over. It used to be stuck: every action was 403."""
    from workflow_helpers import payload
    wf = "/api/v1/workflows/alleles"
    owner, colleague, outsider, allele_id, annotation_id = _started_then_upgraded(
        api_app, db_url, ella_config)
    round_id = sql(db_url, "SELECT id FROM alleleinterpretation WHERE allele_id = %s",
                   (allele_id,))[0][0]
    assert outsider.post(f"{wf}/{allele_id}/actions/override/", {}).status == 403
    assert outsider.request("PATCH", f"{wf}/{allele_id}/interpretations/{round_id}/",
                            json_body={"state": {}, "user_state": {}}).status == 403
    assert owner.request("PATCH", f"{wf}/{allele_id}/interpretations/{round_id}/",
                         json_body={"state": {"x": 1}, "user_state": {}}).status == 200
    assert owner.post(f"{wf}/{allele_id}/logs/", {"message": "after the upgrade"}).status == 200
    # The round's page reads its panel: the group may, another group may not.
    from test_acmg_api import ACMG
    for group in ("wfgroup", "othergroup"):
        sql(db_url, "UPDATE usergroup SET config = config || %s WHERE name = %s",
            (Jsonb({"acmg": ACMG}), group))
    old_panel = ("HBOC", "v1.0.0")
    reads = [("GET", f"{wf}/{allele_id}/genepanels/HBOC/v1.0.0/", None, None),
             ("GET", "/api/v1/workflows/similar_alleles/HBOC/v1.0.0/", None,
              {"allele_ids": str(allele_id)}),
             ("GET", "/api/v1/alleles/", None, {"q": f'{{"id":[{allele_id}]}}',
                                                "gp_name": "HBOC", "gp_version": "v1.0.0"}),
             ("GET", "/api/v1/igv/tracks/dynamic/genepanel/HBOC/v1.0.0/", None, None),
             ("POST", "/api/v1/acmg/alleles/", {"allele_ids": [allele_id],
                                                "gp_name": old_panel[0],
                                                "gp_version": old_panel[1]}, None)]
    reads += [("GET", f"{wf}/{allele_id}/interpretations/{round_id}/", None, None),
              ("GET", f"{wf}/{allele_id}/interpretations/{round_id}/alleles/", None,
               {"allele_ids": str(allele_id)})]
    for method, path, body, query in reads:
        for client, status in ((owner, 200), (colleague, 200), (outsider, 403)):
            result = client.request(method, path, json_body=body, query=query)
            assert result.status == status, (path, result.body)
    listed = {client: client.get(f"{wf}/{allele_id}/interpretations/").json
              for client in (owner, outsider)}
    assert [r["id"] for r in listed[owner]] == [round_id] and listed[outsider] == []
    finalized = owner.post(f"{wf}/{allele_id}/actions/finalizeallele/",
                           payload(allele_id, annotation_id))
    assert finalized.status == 200, finalized.body
    assert colleague.post(f"{wf}/{allele_id}/actions/override/", {}).status == 200
    marked = colleague.post(f"{wf}/{allele_id}/actions/markreview/", {
        "allele_ids": [allele_id], "annotation_ids": [annotation_id],
        "custom_annotation_ids": [],
        "alleleassessment_ids": [finalized.json["alleleassessment"]["id"]],
        "allelereport_ids": [finalized.json["allelereport"]["id"]]})
    assert marked.status == 200, marked.body
    # The next round is Not started on the old panel: anyone may start it, on their panel.
    assert owner.post(f"{wf}/{allele_id}/actions/start/",
                      {"gp_name": "HBOC", "gp_version": "v01"}).status == 200


def test_a_variant_sent_to_review_on_the_lost_version_is_the_reviewers_to_open(
        api_app, db_url, ella_config):
    """After the panel upgrade the owner writes a gene comment in the round (403: the
    round's panel was not the group's) and sends it to review: the variant is in the group's
    review list on the old version, but every read its page makes with that panel was 403,
    and the variant's rounds were hidden from the group, also its own finished one once a
    colleague started the review on the new version."""
    from workflow_helpers import payload
    wf = "/api/v1/workflows/alleles"
    owner, colleague, outsider, allele_id, annotation_id = _started_then_upgraded(
        api_app, db_url, ella_config)
    comment = {"gene_id": 1101, "genepanel_name": "HBOC", "genepanel_version": "v1.0.0",
               "evaluation": {"comment": "written while finishing the round"}}
    assert outsider.post("/api/v1/geneassessments/", comment).status == 403
    assert owner.post("/api/v1/geneassessments/", comment).status == 200
    finalized = owner.post(f"{wf}/{allele_id}/actions/finalizeallele/",
                           payload(allele_id, annotation_id)).json
    assert owner.post(f"{wf}/{allele_id}/actions/markreview/", {
        "allele_ids": [allele_id], "annotation_ids": [annotation_id],
        "custom_annotation_ids": [],
        "alleleassessment_ids": [finalized["alleleassessment"]["id"]],
        "allelereport_ids": [finalized["allelereport"]["id"]]}).status == 200
    first, review = [r[0] for r in sql(db_url, "SELECT id FROM alleleinterpretation WHERE "
                                               "allele_id = %s ORDER BY id", (allele_id,))]
    reads = [(f"{wf}/{allele_id}/genepanels/HBOC/v1.0.0/", None),
             ("/api/v1/workflows/similar_alleles/HBOC/v1.0.0/", {"allele_ids": str(allele_id)}),
             ("/api/v1/alleles/", {"q": f'{{"id":[{allele_id}]}}', "gp_name": "HBOC",
                                   "gp_version": "v1.0.0"}),
             (f"{wf}/{allele_id}/interpretations/{review}/", None)]
    for path, query in reads:
        assert colleague.get(path, query=query).status == 200, path
        assert outsider.get(path, query=query).status == 403, path
    assert [r["id"] for r in colleague.get(f"{wf}/{allele_id}/interpretations/").json] == [
        first, review]
    assert outsider.get(f"{wf}/{allele_id}/interpretations/").json == []
    # The review started on the group's panel: the group's own finished round stays shown.
    assert colleague.post(f"{wf}/{allele_id}/actions/start/",
                          {"gp_name": "HBOC", "gp_version": "v01"}).status == 200
    assert [r["id"] for r in colleague.get(f"{wf}/{allele_id}/interpretations/").json] == [
        first, review]
    assert [s["alleleinterpretation_id"] for s in colleague.get(
        f"{wf}/{allele_id}/snapshots/").json] == [first]


def test_the_groups_variant_work_stays_in_its_lists_after_a_panel_upgrade(world):
    """The group replaces HBOC v01 by v1.0.0 while u1 has a variant round in work on v01:
    the round stays the group's (RoundAccess), and so it stays in its work list, also once
    u1 sent it to review (the review round keeps v01). It was in none of the group's lists
    (only in those of groups with v01), so nobody of the group would find it."""
    def listed(user):
        body = ok(world.client(user).get(f"{API}/overviews/alleles/"))
        return {key: [item["allele"]["id"] for item in items] for key, items in body.items()}
    in_work, to_review, other = world.allele_ids[1:4]
    add_user(world.url, "g2user", "g2", [("HBOC", "v01")])
    for allele_id in (in_work, to_review, other):
        ok(act(world, "u1" if allele_id != other else "g2user", "start",
               {"gp_name": "HBOC", "gp_version": "v01"}, kind="allele", workflow_id=allele_id))
    sql(world.url, "DELETE FROM usergroupgenepanel WHERE usergroup_id = (SELECT id FROM "
        "usergroup WHERE name = 'wf') AND genepanel_version = 'v01'")
    ok(act(world, "u1", "markreview", world.payload([to_review], analysis=False),
           kind="allele", workflow_id=to_review))
    for user in ("u1", "u2"):
        assert listed(user) == {"not_started": [], "marked_review": [to_review],
                                "ongoing": [in_work]}, user
    # Another group's round on the old version is not the group's work: not listed.
    assert listed("g2user") == {"not_started": [], "marked_review": [to_review],
                                "ongoing": [in_work, other]}
    assert listed("outsider") == {"not_started": [], "marked_review": [], "ongoing": []}


def test_after_a_panel_upgrade_the_group_keeps_only_its_own_work(world):
    """The exception above is for the group's own work: a round it sent back to
    Interpretation on the old version that another group (which has that version) then
    took is that group's; a variant finalized on the old version is listed as in ELLA (a
    round on one of the group's panels), so not for the group that no longer has it."""
    sent_back, finalized = world.allele_ids[1:3]
    add_user(world.url, "g2user", "g2", [("HBOC", "v01")])
    for allele_id in (sent_back, finalized):
        ok(act(world, "u1", "start", {"gp_name": "HBOC", "gp_version": "v01"},
               kind="allele", workflow_id=allele_id))
    ok(act(world, "u1", "markinterpretation", world.payload([sent_back], analysis=False),
           kind="allele", workflow_id=sent_back))
    sql(world.url, "UPDATE alleleinterpretation SET status = 'Done', finalized = true "
        "WHERE allele_id = %s", (finalized,))
    sql(world.url, "DELETE FROM usergroupgenepanel WHERE usergroup_id = (SELECT id FROM "
        "usergroup WHERE name = 'wf') AND genepanel_version = 'v01'")
    # Not started after u1's round: still the group's (as a review would be)
    assert ok(world.client("u2").get(f"{API}/overviews/alleles/"))["not_started"][0][
        "allele"]["id"] == sent_back
    ok(act(world, "g2user", "start", {"gp_name": "HBOC", "gp_version": "v01"}, kind="allele",
           workflow_id=sent_back))
    listed = ok(world.client("u2").get(f"{API}/overviews/alleles/"))
    assert listed == {"not_started": [], "marked_review": [], "ongoing": []}
    assert ok(world.client("u2").get(f"{API}/overviews/alleles/finalized/")) == []
    assert [item["allele"]["id"] for item in ok(
        world.client("g2user").get(f"{API}/overviews/alleles/"))["ongoing"]] == [sent_back]
    # Nor may the first group take the other's round in work over, or read it, although a
    # member of it worked on the variant before.
    round_id = sql(world.url, "SELECT max(id) FROM alleleinterpretation WHERE allele_id = %s",
                   (sent_back,))[0][0]
    assert act(world, "u2", "override", kind="allele", workflow_id=sent_back).status == 403
    assert world.client("u2").get(
        f"{AL}/{sent_back}/interpretations/{round_id}/").status == 403
    assert sql(world.url, "SELECT u.username FROM alleleinterpretation r JOIN \"user\" u "
                          "ON u.id = r.user_id WHERE r.id = %s", (round_id,)) == [("g2user",)]


def test_after_a_panel_upgrade_a_variant_the_group_finalized_and_another_reopened_is_not_its(
        world):
    """A member finalized a variant on the old version; another group (which has that
    version) reopens it: the Not started round after the member's is that group's work, not
    a review of the first group's."""
    allele_id = world.allele_ids[1]
    add_user(world.url, "g2user", "g2", [("HBOC", "v01")])
    ok(act(world, "u1", "start", {"gp_name": "HBOC", "gp_version": "v01"}, kind="allele",
           workflow_id=allele_id))
    aa = world.add_assessment(allele_id)
    ok(act(world, "u1", "finalize", world.payload([allele_id], aa_ids=[aa], analysis=False),
           kind="allele", workflow_id=allele_id))
    sql(world.url, "DELETE FROM usergroupgenepanel WHERE usergroup_id = (SELECT id FROM "
        "usergroup WHERE name = 'wf') AND genepanel_version = 'v01'")
    ok(act(world, "g2user", "reopen", kind="allele", workflow_id=allele_id))
    assert ok(world.client("u2").get(f"{API}/overviews/alleles/")) == {
        "not_started": [], "marked_review": [], "ongoing": []}
    new_round = sql(world.url, "SELECT max(id) FROM alleleinterpretation WHERE allele_id = %s",
                    (allele_id,))[0][0]
    assert world.client("u2").get(
        f"{AL}/{allele_id}/interpretations/{new_round}/").status == 403
    assert [item["allele"]["id"] for item in ok(
        world.client("g2user").get(f"{API}/overviews/alleles/"))["not_started"]] == [allele_id]


def test_a_variant_round_in_work_does_not_follow_its_owner_into_another_group(
        api_app, db_url, ella_config):
    """The owner of a variant round in work on HBOC is moved to a group without any HBOC
    panel: that group (the owner included) neither changes nor reads the round and its
    panel. It could take over, save and finalize the first group's round."""
    from workflow_helpers import analysis_alleles, setup_analysis
    wf = "/api/v1/workflows/alleles"
    owner, colleague, analyses, _ = setup_analysis(api_app, db_url, ella_config)
    add_user(db_url, "newcolleague", "nohboc", [])
    allele_id, _ = analysis_alleles(db_url, analyses[0])[0]
    assert owner.post(f"{wf}/{allele_id}/actions/start/",
                      {"gp_name": "HBOC", "gp_version": "v1.0.0"}).status == 200
    round_id = sql(db_url, "SELECT id FROM alleleinterpretation WHERE allele_id = %s",
                   (allele_id,))[0][0]
    sql(db_url, "UPDATE \"user\" SET group_id = (SELECT id FROM usergroup WHERE name = "
        "'nohboc') WHERE username = 'wfuser1'")
    newcolleague = logged_in_client(api_app, db_url, "newcolleague")
    before = sql(db_url, "SELECT to_jsonb(ai)::text FROM alleleinterpretation ai")
    for client in (newcolleague, owner):
        assert client.post(f"{wf}/{allele_id}/actions/override/", {}).status == 403
        assert client.request("PATCH", f"{wf}/{allele_id}/interpretations/{round_id}/",
                              json_body={"state": {"x": 1}, "user_state": {}}).status == 403
        assert client.get(f"{wf}/{allele_id}/genepanels/HBOC/v1.0.0/").status == 403
        assert client.get(f"{wf}/{allele_id}/interpretations/").json == []
    assert sql(db_url, "SELECT to_jsonb(ai)::text FROM alleleinterpretation ai") == before
    # The group that has the panel takes the round over.
    assert colleague.post(f"{wf}/{allele_id}/actions/override/", {}).status == 200


def test_workflow_genepanel_transcripts_are_those_the_variant_is_annotated_on(demo_api_app,
                                                                            demo_db_url):
    """api.md 4.11: `transcripts` are the panel transcripts matching the variant's annotation
    transcripts; `inheritances` cover every panel transcript of its genes. Mendeliome v01 has
    two AKT1 (HGNC 391) transcripts; the variant is annotated on NM_005163.2 only."""
    with psycopg.connect(demo_db_url) as conn:
        allele_id = conn.execute(
            "INSERT INTO allele (genome_reference, chromosome, start_position, "
            "open_end_position, change_from, change_to, change_type, vcf_pos, vcf_ref, vcf_alt, "
            "length, caller_type) VALUES ('GRCh37', '14', 105246550, 105246551, 'C', 'T', "
            "'SNP', 105246551, 'C', 'T', 1, 'snv') RETURNING id").fetchone()[0]
        conn.execute(
            "INSERT INTO annotation (allele_id, annotations, schema_version, "
            "annotation_config_id, date_created) VALUES (%s, %s, 1, 1, now())",
            (allele_id, Jsonb({"transcripts": [
                {"transcript": "NM_005163.2", "hgnc_id": 391, "symbol": "AKT1",
                 "is_canonical": True, "consequences": ["missense_variant"], "strand": -1,
                 "in_last_exon": "no"}]})))
        conn.commit()
    client = logged_in_client(demo_api_app, demo_db_url, "testuser4")
    result = client.get(f"/api/v1/workflows/alleles/{allele_id}/genepanels/Mendeliome/v01/")
    assert result.status == 200, result.body
    assert [t["transcript_name"] for t in result.json["transcripts"]] == ["NM_005163.2"]
    assert sorted(i["transcript_name"] for i in result.json["inheritances"]) == \
        ["NM_001014432.1", "NM_005163.2"]


def test_a_group_config_without_the_variant_workflow_refuses_its_finalize(world):
    """A group `workflows` config may leave out a workflow (api.md 1.6); that workflow's
    finalize then has no requirements to check and is refused (409 naming the section, for
    finalize-allele as for finalize; ELLA: 500), rather than finalizing without the lab's
    requirements."""
    from workflow_helpers import analysis_alleles, payload
    config = {"workflows": {"analysis": {"finalize_requirements": {
        "workflow_status": ["Interpretation"], "allow_unclassified": True}}}}
    sql(world.url, "UPDATE usergroup SET config = %s WHERE name = 'wf'", (Jsonb(config),))
    allele = world.allele_ids[0]
    ok(act(world, "u1", "start", {"gp_name": PANEL[0], "gp_version": PANEL[1]},
           kind="allele", workflow_id=allele))
    annotation_id = dict(analysis_alleles(world.url, world.analysis_id))[allele]
    refused = act(world, "u1", "finalizeallele", payload(allele, annotation_id),
                  kind="allele", workflow_id=allele)
    assert refused.status == 409
    assert refused.json["message"] == ("Cannot finalize: the user config has no "
                                       "workflows.allele.finalize_requirements section")
    refused = act(world, "u1", "finalize", world.payload([allele], analysis=False),
                  kind="allele", workflow_id=allele)
    assert refused.status == 409 and "workflows.allele" in refused.json["message"]
