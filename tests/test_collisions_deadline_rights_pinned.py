"""Collisions, similar variants, the annotation service's deadline, import rights and
`append_genepanel_to_usergroup`: behaviours the other tests leave open.

* Collisions (workflow.md 13, api.md 4.17): the variant route checks its own variant only and
  answers `[]` for an empty `allele_ids`; a workflow never collides with itself, and only
  with its own type (an analysis and a variant workflow that share an id are not the same
  work); only started, unfinished analyses count; only the requested variants' variant
  workflows count; a variant that is the second allele of a genotype counts; an analysis
  gives one entry per variant however many of its samples carry it; a Not started round
  shows no user; a superseded classification, however valid its class, does not end a
  collision.
* Similar variants (workflow.md 14, api.md 4.22): the default distance (100 bp) and count
  (10), the half-open bounds, nearest first, current assessments only, the same chromosome,
  no reference assessments in the answer.
* The deadline of requests to the annotation service (import.md 7.3, 7.4): a
  connection made after the deadline is cut at once; a finished request leaves no timer
  behind; an https:// service is spoken to over TLS.
* Import rights (api.md 3.1 `import_groups`): the group's own panels by name and version.
* `ella-deposit append_genepanel_to_usergroup` (config-cli-ops.md 3.4): a link is per group,
  panel name and version; the group is named exactly; two concurrent runs link a panel
  once.
"""

import copy
import http.server
import socket
import threading
import time
import urllib.error

import psycopg
import pytest

from ella.deposit.usergroup_genepanel import (UsergroupGenepanelError,
                                               append_genepanel_to_usergroup)
from ella.http_deadline import Deadline
from ella.import_rights import may_import_on
from ella.workflow.collisions import collisions, similar_alleles
from filter_helpers import PANEL as FILTER_PANEL
from filter_helpers import World as DataWorld
from helpers import wait_for_lock_wait
from test_workflow_rounds import AL, AN, PANEL, World, act, ok

START = {"gp_name": PANEL[0], "gp_version": PANEL[1]}


# --- collisions through the API -------------------------------------------------------------

@pytest.fixture
def world(api_app, db_url, ella_config):
    return World(api_app, db_url, ella_config)


def _seen(result):
    return [(e["type"], e["allele_id"], e["analysis_id"]) for e in ok(result)]


def test_collision_routes_check_their_own_work_and_variants(world):
    """workflow.md 13: the variant route checks its own variant only (the listed ids are
    ignored) and answers [] for an empty list; a workflow is removed from its own type's set
    only (13.2); only the requested variants' variant workflows count (13.4)."""
    aid = world.analysis_id
    # An analysis and a variant workflow with the same id are different work.
    assert aid in world.allele_ids, "the deposited analysis shares an id with a variant"
    same = aid
    other = next(a for a in world.allele_ids if a != same)
    ok(act(world, "u1", "start"))
    ok(act(world, "u1", "start", START, kind="allele", workflow_id=same))
    c = world.client("u2")
    # The variant route: its own variant, whatever is listed.
    assert _seen(c.get(f"{AL}/{other}/collisions/", query={"allele_ids": same})) == \
        [("analysis", other, aid)]
    assert ok(c.get(f"{AL}/{other}/collisions/", query="allele_ids=")) == []
    # Its own variant workflow is no collision; the analysis holding the variant is.
    assert _seen(c.get(f"{AL}/{same}/collisions/", query={"allele_ids": same})) == \
        [("analysis", same, aid)]
    # The analysis route: the variant workflow whose id is the analysis' own still collides.
    assert _seen(c.get(f"{AN}/{aid}/collisions/", query={"allele_ids": same})) == \
        [("allele", same, None)]
    # A variant workflow on a variant not asked about is not reported.
    assert ok(c.get(f"{AN}/{aid}/collisions/", query={"allele_ids": other})) == []


# --- collisions on hand-made analyses ---------------------------------------------------------

@pytest.fixture
def data(db_conn, ella_config):
    return DataWorld(db_conn, ella_config)


def _round(conn, analysis_id, status, user_id=None, workflow_status="Interpretation",
           finalized=None):
    conn.execute(
        "INSERT INTO analysisinterpretation (analysis_id, genepanel_name, genepanel_version, "
        "status, workflow_status, finalized, user_id, date_last_update, date_created) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, now(), clock_timestamp())",
        (analysis_id, *FILTER_PANEL, status, workflow_status, finalized, user_id))


def _group_with_the_panel(data):
    """The id of the group of `data`'s user, given the analyses' panel (so it sees them)."""
    (group_id,) = data.conn.execute('SELECT group_id FROM "user" WHERE id = %s',
                                    (data._user(),)).fetchone()
    data.conn.execute("INSERT INTO usergroupgenepanel VALUES (%s, %s, %s)",
                      (group_id, *FILTER_PANEL))
    return group_id


def _analysis(data, name, samples=1):
    analysis_id = data.analysis(name)
    return analysis_id, [data.sample(f"{name}-{n}") for n in range(samples)]


def test_only_started_unfinished_analyses_collide(data, ella_config):
    """workflow.md 13.1: an analysis collides when its latest round is Ongoing, or it has
    more than one round and the latest is not finalized; a fresh one (one Not started round)
    and a finalized one do not, whatever rounds other analyses have."""
    allele = data.allele(start=4000)
    user = data._user()
    rounds = {"fresh": [("Not started", None)],
              "finalized": [("Done", True)],
              "waiting": [("Done", False), ("Not started", None)],
              "finalized later": [("Done", False), ("Done", True)],
              "ongoing": [("Ongoing", None)]}
    ids = {}
    for name, statuses in rounds.items():
        ids[name], (sample,) = _analysis(data, name)
        data.genotype(allele, sample)
        for status, finalized in statuses:
            _round(data.conn, ids[name], status, user, finalized=finalized)
    asking, _ = _analysis(data, "asking")
    found = collisions(data.conn, ella_config, "analysis", asking, [allele], None)
    assert [e["allele_id"] for e in found] == [allele, allele]
    named = {e["analysis_id"] for e in collisions(data.conn, ella_config, "analysis", asking,
                                                  [allele], _group_with_the_panel(data))}
    assert named == {ids["waiting"], ids["ongoing"]}


def test_the_second_allele_of_a_genotype_collides(data, ella_config):
    """workflow.md 13.3: every variant of the analysis counts, also one that is the second
    allele of a genotype (a multi-allelic site)."""
    first, second = data.allele(start=5000), data.allele(start=5000, change_to="T")
    busy, (sample,) = _analysis(data, "busy")
    genotype = data.genotype(first, sample)
    data.conn.execute("UPDATE genotype SET secondallele_id = %s WHERE id = %s",
                      (second, genotype))
    _round(data.conn, busy, "Ongoing", data._user())
    asking, _ = _analysis(data, "asking")
    found = collisions(data.conn, ella_config, "analysis", asking, [second], None)
    assert [(e["type"], e["allele_id"]) for e in found] == [("analysis", second)]


def test_a_variant_in_two_samples_of_an_analysis_is_one_collision(data, ella_config):
    """workflow.md 13.3: entries are distinct per (analysis, variant), also when a second
    sample of the analysis (appended later) carries the variant too."""
    allele = data.allele(start=6000)
    busy, samples = _analysis(data, "busy", samples=2)
    for sample in samples:
        data.genotype(allele, sample)
    _round(data.conn, busy, "Ongoing", data._user())
    asking, _ = _analysis(data, "asking")
    found = collisions(data.conn, ella_config, "analysis", asking, [allele], None)
    assert [(e["type"], e["allele_id"]) for e in found] == [("analysis", allele)]


def test_a_not_started_round_shows_no_user(data, ella_config):
    """workflow.md 13.5 / api.md 4.17: `user` is null when the latest round is Not started
    (e.g. waiting for review), even where that round names a user; the round's
    workflow_status is shown."""
    allele = data.allele(start=7000)
    busy, (sample,) = _analysis(data, "busy")
    data.genotype(allele, sample)
    user = data._user()
    _round(data.conn, busy, "Done", user, finalized=False)
    _round(data.conn, busy, "Not started", user, workflow_status="Review")
    asking, _ = _analysis(data, "asking")
    group_id = _group_with_the_panel(data)
    found = collisions(data.conn, ella_config, "analysis", asking, [allele], group_id)
    assert [(e["allele_id"], e["analysis_id"], e["workflow_status"], e["user"])
            for e in found] == [(allele, busy, "Review", None)]
    data.conn.execute("UPDATE analysisinterpretation SET status = 'Ongoing' "
                      "WHERE analysis_id = %s AND status = 'Not started'", (busy,))
    found = collisions(data.conn, ella_config, "analysis", asking, [allele], group_id)
    assert [e["user"]["username"] for e in found] == ["filtertester"]


def test_only_a_current_valid_classification_ends_a_collision(data, ella_config):
    """workflow.md 13.3 / 8.6: a variant collides unless its current classification is valid.
    A superseded class 1 (which never goes out of date) under a current class 3 of 5,000 days
    ago (outdated) is no valid classification; a current class 1 is."""
    stale, settled = data.allele(start=8000), data.allele(start=8010)
    data.assess(stale, "1", days_ago=6000, superseded=True)
    data.assess(stale, "3", days_ago=5000)
    data.assess(settled, "1", days_ago=5000)
    busy, (sample,) = _analysis(data, "busy")
    for allele in (stale, settled):
        data.genotype(allele, sample)
    _round(data.conn, busy, "Ongoing", data._user())
    asking, _ = _analysis(data, "asking")
    found = collisions(data.conn, ella_config, "analysis", asking, [stale, settled], None)
    assert [(e["type"], e["allele_id"]) for e in found] == [("analysis", stale)]


def test_a_class_outdated_after_zero_days_never_ends_a_collision(data, ella_config):
    """outdated_after_days 0 (the config allows it) makes every classification of that class
    outdated at once, as the classification filter's exclude_outdated reads it: a variant
    classified yesterday still collides (0 is not "never outdated", which is no entry)."""
    allele = data.allele(start=8100)
    data.assess(allele, "3", days_ago=1)
    busy, (sample,) = _analysis(data, "busy")
    data.genotype(allele, sample)
    _round(data.conn, busy, "Ongoing", data._user())
    asking, _ = _analysis(data, "asking")
    assert collisions(data.conn, ella_config, "analysis", asking, [allele], None) == []
    config = copy.deepcopy(ella_config)
    for option in config["classification"]["options"]:
        if option["value"] == "3":
            option["outdated_after_days"] = 0
    found = collisions(data.conn, config, "analysis", asking, [allele], None)
    assert [(e["type"], e["allele_id"]) for e in found] == [("analysis", allele)]


# --- similar variants -----------------------------------------------------------------------

def _similar(data, config, query):
    return [a["id"] for a in similar_alleles(data.conn, config, FILTER_PANEL, [query])[
        str(query)]]


def _without_settings(config):
    config = copy.deepcopy(config)
    config.pop("similar_alleles", None)
    return config


def test_similar_variants_default_distance_and_half_open_bounds(data, ella_config):
    """workflow.md 14: d defaults to 100; a candidate matches when q.start - d <= c.start <
    q.open_end + d or q.start - d < c.open_end < q.open_end + d (positions half-open)."""
    query = data.allele(start=1000)  # [1000, 1001)
    starts_inside = data.allele(start=1100)  # start 1100 < 1101
    starts_after = data.allele(start=1101)  # start 1101, end 1102: outside
    ends_at_limit = data.allele(start=899, end=900)  # end 900 is not > 900
    ends_inside = data.allele(start=895, end=901)  # end 901 > 900
    for allele in (starts_inside, starts_after, ends_at_limit, ends_inside):
        data.assess(allele, "3")
    assert _similar(data, _without_settings(ella_config), query) == [starts_inside,
                                                                     ends_inside]


def test_similar_variants_default_count_keeps_the_nearest(data, ella_config):
    """workflow.md 14: at most max_variants (default 10), the nearest ones, nearest first."""
    query = data.allele(start=2000)
    near = [data.allele(start=2000 + 7 * n) for n in range(1, 13)]
    for allele in reversed(near):
        data.assess(allele, "2")
    assert _similar(data, _without_settings(ella_config), query) == near[:10]


def test_similar_variants_need_a_current_assessment_on_the_same_chromosome(data,
                                                                          ella_config):
    """workflow.md 14: candidates have a current assessment (an outdated one counts, a
    superseded one does not) and lie on the query's chromosome; api.md 4.22: no reference
    assessments in the answer."""
    query = data.allele(start=3000)
    superseded = data.allele(start=3010)
    data.assess(superseded, "3", superseded=True)
    outdated = data.allele(start=3020)
    data.assess(outdated, "3", days_ago=5000)
    elsewhere = data.allele(chromosome="2", start=3000)
    data.assess(elsewhere, "3")
    reference = data.conn.execute("INSERT INTO reference (title, pubmed_id, published) "
                                  "VALUES ('Paper', 9100, true) RETURNING id").fetchone()[0]
    data.conn.execute(
        "INSERT INTO referenceassessment (reference_id, evaluation, user_id, date_created, "
        "genepanel_name, genepanel_version, allele_id) VALUES (%s, '{}', %s, now(), %s, %s, "
        "%s)", (reference, data._user(), *FILTER_PANEL, outdated))
    found = similar_alleles(data.conn, ella_config, FILTER_PANEL, [query])[str(query)]
    assert [a["id"] for a in found] == [outdated]
    assert "reference_assessments" not in found[0]


# --- the annotation service's deadline ------------------------------------------------------

def test_a_connection_made_after_the_deadline_is_cut_at_once():
    """A connection that completes after the deadline passed (a slow TCP handshake) is shut
    as it is watched: its reads end at once instead of waiting for the service."""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        ours.settimeout(5)
        with Deadline(0.01) as deadline:
            time.sleep(0.2)
            deadline.watch(ours)
            started = time.monotonic()
            assert ours.recv(1) == b""
            assert time.monotonic() - started < 2
            assert deadline.cut


def test_a_finished_request_leaves_no_timer_behind():
    """Each request's deadline timer ends with the request: a poller sending a request every
    few seconds, each with a deadline of minutes, gathered idle threads."""
    def new_timers():
        return {t for t in threading.enumerate() if isinstance(t, threading.Timer)} - before

    before = set(threading.enumerate())
    with Deadline(120):
        assert new_timers()
    until = time.monotonic() + 5
    while new_timers() and time.monotonic() < until:
        time.sleep(0.01)
    assert not new_timers()


class _Plain(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"plain")


def test_an_https_service_is_spoken_to_over_tls():
    """An https:// annotation service URL is reached over TLS: a server answering plain HTTP
    on that port is an error, not an answer."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Plain)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        with Deadline(10) as deadline:
            with deadline.opener().open(f"http://127.0.0.1:{port}/", timeout=5) as answer:
                assert answer.read() == b"plain"
        with Deadline(10) as deadline, pytest.raises(urllib.error.URLError):
            deadline.opener().open(f"https://127.0.0.1:{port}/", timeout=5)
    finally:
        server.shutdown()
        server.server_close()


# --- import rights --------------------------------------------------------------------------

def _panel(conn, name, version):
    conn.execute("INSERT INTO genepanel (name, version, genome_reference, official, "
                 "date_created) VALUES (%s, %s, 'GRCh37', true, now())", (name, version))


def _group(conn, name, panels=()):
    group_id = conn.execute("INSERT INTO usergroup (name, config) VALUES (%s, '{}') "
                            "RETURNING id", (name,)).fetchone()[0]
    for panel in panels:
        conn.execute("INSERT INTO usergroupgenepanel VALUES (%s, %s, %s)", (group_id, *panel))
    return group_id


def test_a_group_imports_on_its_own_panels_by_name_and_version(db_conn):
    """api.md 3.1: a group may import on its own panels, and those of a group it imports
    for: the panel's name and version both, never another group's panel."""
    for panel in (("PanelA", "v1"), ("PanelA", "v2"), ("PanelB", "v1"), ("PanelC", "v1")):
        _panel(db_conn, *panel)
    lab = _group(db_conn, "lab", [("PanelA", "v1")])
    clinic = _group(db_conn, "clinic", [("PanelC", "v1")])
    _group(db_conn, "other", [("PanelB", "v1")])
    db_conn.execute("INSERT INTO usergroupimport VALUES (%s, %s)", (lab, clinic))
    assert may_import_on(db_conn, lab, "PanelA", "v1")
    assert may_import_on(db_conn, lab, "PanelC", "v1")
    assert not may_import_on(db_conn, lab, "PanelB", "v1")  # same version, other name
    assert not may_import_on(db_conn, lab, "PanelA", "v2")
    assert not may_import_on(db_conn, clinic, "PanelA", "v1")  # imports for nobody


# --- append_genepanel_to_usergroup ----------------------------------------------------------

def _links(conn):
    return sorted(conn.execute("SELECT g.name, l.genepanel_name, l.genepanel_version FROM "
                               "usergroupgenepanel l JOIN usergroup g ON g.id = "
                               "l.usergroup_id").fetchall())


def test_a_panel_link_is_per_group_name_and_version(db_conn):
    """config-cli-ops.md 3.4: linking adds the panel to the group's list; the same panel in
    another group, or another version in this group, is no reason to say it exists; a group
    is found by its exact name."""
    for version in ("v1", "v2"):
        _panel(db_conn, "PanelA", version)
    _group(db_conn, "lab", [("PanelA", "v1")])
    _group(db_conn, "clinic")
    assert append_genepanel_to_usergroup(db_conn, "PanelA", "v2", "lab") is True
    assert append_genepanel_to_usergroup(db_conn, "PanelA", "v1", "clinic") is True
    assert append_genepanel_to_usergroup(db_conn, "PanelA", "v1", "lab") is False
    # The group is named exactly, as the panel is.
    with pytest.raises(UsergroupGenepanelError, match="^User group LAB does not exist$"):
        append_genepanel_to_usergroup(db_conn, "PanelA", "v2", "LAB")
    assert _links(db_conn) == [("clinic", "PanelA", "v1"), ("lab", "PanelA", "v1"),
                               ("lab", "PanelA", "v2")]


def test_two_concurrent_links_of_one_panel_add_it_once(db_url):
    """Two runs linking the same panel to the same group at once: the second waits for the
    first and says it exists (the link table has no unique key to stop a second row)."""
    with psycopg.connect(db_url) as conn:
        _panel(conn, "PanelA", "v1")
        _group(conn, "lab")
    results = []
    with psycopg.connect(db_url) as first, psycopg.connect(db_url) as second:
        # The first run's transaction is still open (not committed) when the second starts.
        first.execute("SELECT 1")
        assert append_genepanel_to_usergroup(first, "PanelA", "v1", "lab") is True
        worker = threading.Thread(target=lambda: results.append(
            append_genepanel_to_usergroup(second, "PanelA", "v1", "lab")) or second.commit())
        worker.start()
        try:
            wait_for_lock_wait(db_url, timeout=5)
        except AssertionError:
            pass  # it did not wait: the rows tell below
        first.commit()
        worker.join(30)
        assert results == [False]
        assert _links(first) == [("lab", "PanelA", "v1")]
