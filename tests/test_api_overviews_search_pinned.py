"""Behaviours of the work lists (overviews), the search and the list `q` filter that no other
test pinned down (a mutation audit of ella/web/routes/overviews.py, ella/web/routes/search.py
and ella/web/listing.py left each of these changes alive). Real PostgreSQL, the ELLA demo
database (testgroup01 = testuser1-3 with HBOC v01 and HBOCUTV v01; testgroup02 = testuser4-6
with Ciliopati v05 and Mendeliome v01; testgroup03 = testuser7-8 with all four)."""

import psycopg

from api_helpers import add_user, logged_in_client
from test_api_overviews import (ALLELE_CATEGORIES, ANALYSIS_CATEGORIES, _end, _log, _round,
                                category_ids, overview)
from test_api_search import OPTIONS, allele_ids, search

AI, LI = "analysisinterpretation", "alleleinterpretation"
HBOC = ("HBOC", "v01")


def _copy_panel(conn, name, version, new_version):
    """Another version of a demo panel, with the same transcripts and phenotypes."""
    conn.execute("INSERT INTO genepanel (name, version, genome_reference, official, "
                 "date_created, user_id) SELECT name, %s, genome_reference, official, "
                 "date_created, user_id FROM genepanel WHERE name = %s AND version = %s",
                 (new_version, name, version))
    conn.execute("INSERT INTO genepanel_transcript (genepanel_name, genepanel_version, "
                 "transcript_id, inheritance) SELECT genepanel_name, %s, transcript_id, "
                 "inheritance FROM genepanel_transcript WHERE genepanel_name = %s "
                 "AND genepanel_version = %s", (new_version, name, version))
    conn.execute("INSERT INTO genepanel_phenotype (genepanel_name, genepanel_version, "
                 "phenotype_id) SELECT genepanel_name, %s, phenotype_id "
                 "FROM genepanel_phenotype WHERE genepanel_name = %s "
                 "AND genepanel_version = %s", (new_version, name, version))


def _allele_category_ids(body):
    assert list(body) == ALLELE_CATEGORIES
    return {key: [item["allele"]["id"] for item in body[key]] for key in ALLELE_CATEGORIES}


def _headers(result):
    return [result.header(h) for h in ("Total-Count", "Total-Pages", "Page", "Per-Page")]


# -- 1. Ongoing in any workflow status ------------------------------------------------

def test_ongoing_in_review_or_medical_review_is_ongoing(demo_api_app, demo_db_url):
    """A change (overviews.py:28, `Ongoing` counted only with workflow_status Interpretation) passed
    every other test: a round started in Review or Medical review fell out of every list. api.md 4.4
    / workflow.md 12.1: `ongoing` = status Ongoing (any workflow_status), for analyses and for
    variants (4.5)."""
    with psycopg.connect(demo_db_url) as conn:
        _end(conn, AI, 1, False, 10)
        _round(conn, AI, "analysis_id", 1, "Ongoing", "Review", None, 2, 10)
        _end(conn, AI, 6, False, 11)
        _round(conn, AI, "analysis_id", 6, "Ongoing", "Medical review", None, 3, 11)
        _round(conn, LI, "allele_id", 3, "Done", "Interpretation", False, 1, 1, HBOC)
        _round(conn, LI, "allele_id", 3, "Ongoing", "Review", None, 2, 2, HBOC)
        conn.commit()
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    got = category_ids(overview(client, "analyses/").json, ANALYSIS_CATEGORIES)
    # Newest deposit first: 6, then 2 (Ongoing Interpretation in the demo), then 1.
    assert got == {"not_ready": [], "not_started": [7, 5, 4], "marked_review": [],
                   "marked_medicalreview": [], "ongoing": [6, 2, 1]}
    alleles = _allele_category_ids(overview(client, "alleles/").json)
    assert alleles == {"not_started": [], "marked_review": [], "ongoing": [3]}


# -- 2. panel version counts for analyses ---------------------------------------------

def test_an_analysis_on_another_version_of_a_group_panel_is_not_listed(demo_api_app,
                                                                       demo_db_url):
    """A change (overviews.py:99, group access by panel name only) passed every other test: an
    analysis on HBOC v02 showed in the work list of testgroup01, which has only HBOC v01.
    workflow.md 12.2: only analyses whose (genepanel_name, genepanel_version) is one of the group's
    panels (README: panel access is by name and version). Not in the finalized list nor the analyses
    search either; a group that has HBOC v02 does see them."""
    with psycopg.connect(demo_db_url) as conn:
        _copy_panel(conn, "HBOC", "v01", "v02")
        for analysis_id in (1, 5):
            conn.execute("UPDATE analysis SET genepanel_version = 'v02' WHERE id = %s",
                         (analysis_id,))
            conn.execute(f"UPDATE {AI} SET genepanel_version = 'v02' WHERE analysis_id = %s",
                         (analysis_id,))
        _end(conn, AI, 1, True, 10)  # 1 finalized, 5 waits for its interpretation
        conn.commit()
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    got = category_ids(overview(client, "analyses/").json, ANALYSIS_CATEGORIES)
    assert got == {"not_ready": [], "not_started": [7, 6, 4], "marked_review": [],
                   "marked_medicalreview": [], "ongoing": [2]}
    finalized = overview(client, "analyses/finalized/")
    assert finalized.json == [] and finalized.header("Total-Count") == "0"
    found = search(client, {"type": "analyses", "freetext": "brca_sample"})
    assert sorted(a["id"] for a in found.json["analyses"]) == [2, 4, 7]
    assert found.header("Total-Count") == "3"

    add_user(demo_db_url, "hbocv02user", "hbocv02group", [("HBOC", "v02")])
    other = logged_in_client(demo_api_app, demo_db_url, "hbocv02user")
    got = category_ids(overview(other, "analyses/").json, ANALYSIS_CATEGORIES)
    assert got == {"not_ready": [], "not_started": [5], "marked_review": [],
                   "marked_medicalreview": [], "ongoing": []}
    assert [a["id"] for a in overview(other, "analyses/finalized/").json] == [1]


# -- 3. finalized means the latest round ---------------------------------------------

def test_a_reopened_analysis_is_ongoing_not_finalized(demo_api_app, demo_db_url):
    """A change (overviews.py:116, finalized = any round finalized) passed every other test: an
    analysis finalized and then reopened (its newer round Ongoing) stayed in the finalized list and
    its Total-Count. api.md 4.4 / workflow.md 12.1: finalized = the latest round is finalized; the
    reopened analysis is in `ongoing` only."""
    with psycopg.connect(demo_db_url) as conn:
        _end(conn, AI, 4, True, 10)
        _round(conn, AI, "analysis_id", 4, "Ongoing", "Interpretation", None, 1, 20)
        _end(conn, AI, 5, True, 15)  # finalized and left so
        conn.commit()
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    got = category_ids(overview(client, "analyses/").json, ANALYSIS_CATEGORIES)
    assert got["ongoing"] == [4, 2]
    assert 4 not in got["not_started"] and 5 not in sum(got.values(), [])
    finalized = overview(client, "analyses/finalized/")
    assert [a["id"] for a in finalized.json] == [5]
    assert _headers(finalized) == ["1", "1", "1", "10000"]


# -- 4. variant rounds on a replaced panel version ------------------------------

def _rounds_on_a_replaced_version(url):
    """testgroup01 has HBOC v01; rounds on HBOC v00 (also v00group's panel): allele 3 in
    work by testuser2 (a member), 4 sent to review by testuser1, 5 in work by v00user of
    v00group, 6 finalized by testuser1 and then reopened."""
    with psycopg.connect(url) as conn:
        _copy_panel(conn, "HBOC", "v01", "v00")
        conn.commit()
    outsider_id = add_user(url, "v00user", "v00group", [("HBOC", "v00")])
    old = ("HBOC", "v00")
    with psycopg.connect(url) as conn:
        _round(conn, LI, "allele_id", 3, "Ongoing", "Interpretation", None, 2, 1, old)
        _round(conn, LI, "allele_id", 4, "Done", "Interpretation", False, 1, 2, old)
        _round(conn, LI, "allele_id", 4, "Not started", "Review", None, None, 3, old)
        _round(conn, LI, "allele_id", 5, "Ongoing", "Interpretation", None, outsider_id, 4,
               old)
        _round(conn, LI, "allele_id", 6, "Done", "Interpretation", True, 1, 5, old)
        _round(conn, LI, "allele_id", 6, "Not started", "Interpretation", None, None, 6, old)
        conn.commit()


def _group1_variant_lists(app, url):
    _rounds_on_a_replaced_version(url)
    body = overview(logged_in_client(app, url, "testuser1"), "alleles/").json
    return body, _allele_category_ids(body)


def test_a_members_round_on_a_replaced_panel_version_stays_in_the_groups_work(
        demo_api_app, demo_db_url):
    """A change (overviews.py:213, the group's work on another version of its panel dropped) passed
    every other test: a variant a member has in work on HBOC v00 (the group now has v01), and one a
    member sent to review on v00, fell out of the group's work lists. README (deliberate access
    differences, ~line 1030): a round a member has in work (Ongoing) stays the group's after the
    group's panel was replaced by a new version, also once the member sent it to review on the old
    version; a round reopened after a member finalized it is the work of whoever reopened it;
    another group's round in work is not the group's."""
    body, got = _group1_variant_lists(demo_api_app, demo_db_url)
    assert got["ongoing"] == [3] and got["marked_review"] == [4]
    assert body["ongoing"][0]["genepanel"] == {"name": "HBOC", "version": "v00"}
    assert body["marked_review"][0]["genepanel"] == {"name": "HBOC", "version": "v00"}
    # The group that has v00 sees all four.
    outsider = logged_in_client(demo_api_app, demo_db_url, "v00user")
    assert _allele_category_ids(overview(outsider, "alleles/").json) == {
        "not_started": [6], "marked_review": [4], "ongoing": [3, 5]}


def test_a_round_reopened_after_a_member_finalized_it_is_not_the_groups_work(
        demo_api_app, demo_db_url):
    """A change (overviews.py:142, any Not started round after a member's round) passed every other
    test: a variant a member finalized on HBOC v00 and someone reopened (a Not started round on v00)
    showed in the work list of the member's group, which has only v01. README (deliberate access
    differences, ~line 1030): a round a member has in work (Ongoing) stays the group's after the
    group's panel was replaced by a new version, also once the member sent it to review on the old
    version; a round reopened after a member finalized it is the work of whoever reopened it;
    another group's round in work is not the group's."""
    _, got = _group1_variant_lists(demo_api_app, demo_db_url)
    assert 6 not in sum(got.values(), [])
    assert got == {"not_started": [], "marked_review": [4], "ongoing": [3]}


def test_another_groups_round_in_work_on_a_replaced_version_is_not_the_groups(
        demo_api_app, demo_db_url):
    """A change (overviews.py:141, any Ongoing round on another version of a group panel) survived:
    a variant a user of another group (v00group, with HBOC v00) has in work showed in testgroup01's
    `ongoing` because testgroup01 has some version of HBOC. README (deliberate access differences,
    ~line 1030): a round a member has in work (Ongoing) stays the group's after the group's panel
    was replaced by a new version, also once the member sent it to review on the old version; a
    round reopened after a member finalized it is the work of whoever reopened it; another group's
    round in work is not the group's."""
    _, got = _group1_variant_lists(demo_api_app, demo_db_url)
    assert 5 not in sum(got.values(), [])
    assert got == {"not_started": [], "marked_review": [4], "ongoing": [3]}


# -- 5. filtered_transcripts from official panels --------------------------------------

def test_search_filtered_transcripts_come_from_official_panels_only(demo_api_app,
                                                                    demo_db_url):
    """A change (search.py:384, every panel of the group) passed every other test: a group panel
    that is not official added its transcripts to filtered_transcripts. api.md 4.14 (and the access
    table): `filtered_transcripts` = annotation transcripts matching the group's *official* panels.
    testgroup03 has HBOC (BRCA1 NM_007297.3) and Mendeliome (NM_007294.3)."""
    client = logged_in_client(demo_api_app, demo_db_url, "testuser7")
    found = search(client, {"type": "alleles", "freetext": "17:41223094"})
    assert found.json["alleles"][0]["allele"]["annotation"]["filtered_transcripts"] == [
        "NM_007294.3", "NM_007297.3"]
    with psycopg.connect(demo_db_url) as conn:
        conn.execute("UPDATE genepanel SET official = false WHERE name = 'Mendeliome'")
    found = search(client, {"type": "alleles", "freetext": "17:41223094"})
    assert allele_ids(found) == [1]
    assert found.json["alleles"][0]["allele"]["annotation"]["filtered_transcripts"] == [
        "NM_007297.3"]


# -- 6. a range includes a variant ending at its end ----------------------------------

def test_range_search_includes_a_variant_ending_exactly_at_the_end(demo_api_app,
                                                                   demo_db_url):
    """A change (search.py:331, `open_end_position < P2`) passed every other test: a range search
    left out the variant that ends exactly at P2. api.md 4.14: a range matches `start_position >=
    P-1` and `open_end_position <= P2`. Allele 4 is 13:32890645-32890647 (0-based, open end)."""
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    found = search(client, {"type": "alleles", "freetext": "13:32890607-32890647"})
    assert allele_ids(found) == [3, 4] and found.header("Total-Count") == "2"
    found = search(client, {"type": "alleles", "freetext": "13:32890607-32890646"})
    assert allele_ids(found) == [3]


# -- 7. a full page ------------------------------------------------------------------

def test_a_full_search_page_holds_exactly_per_page_items(demo_api_app, demo_db_url):
    """A change (search.py:161, one item more on a page) passed every other test: only the short
    last page was tested. api.md 1.7 / 4.14: offset (page - 1) x per_page, a page holds per_page
    items; the pages together hold every match once."""
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    pages = []
    for page in (1, 2, 3):
        result = search(client, {"type": "analyses", "freetext": "brca_sample"}, per_page=2,
                        page=page)
        assert _headers(result) == ["5", "3", str(page), "2"]
        pages.append([a["id"] for a in result.json["analyses"]])
    assert [len(p) for p in pages] == [2, 2, 1]
    assert sorted(sum(pages, [])) == [1, 2, 4, 5, 7]


# -- 8. CNV results carry no warnings ------------------------------------------------

def test_a_cnv_search_result_carries_no_warnings(demo_api_app, demo_db_url):
    """A change (search.py:480, the CNV exception dropped) passed every other test: a CNV whose
    annotation has a worst consequence got `warnings.worse_consequence`. api.md 4.14: every
    *non-CNV* result whose annotation has a worst_consequence carries the warning."""
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    (before,) = search(client, {"type": "alleles", "freetext": "13:32890607"}).json["alleles"]
    assert before["allele"]["annotation"]["worst_consequence"]
    assert "worse_consequence" in before["allele"]["warnings"]
    with psycopg.connect(demo_db_url) as conn:
        conn.execute("UPDATE allele SET caller_type = 'cnv' WHERE id = 3")
    (item,) = search(client, {"type": "alleles", "freetext": "13:32890607"}).json["alleles"]
    assert item["allele"]["caller_type"] == "cnv"
    assert item["allele"]["annotation"]["worst_consequence"]
    assert "warnings" not in item["allele"]


# -- 9. user options capped at 20 ----------------------------------------------------

def test_user_options_are_capped_at_20(demo_api_app, demo_db_url):
    """A change (search.py:88, no cap on the matching users) passed every other test: search/options
    returned every matching user of the group. As the gene options (LIMIT MAX_OPTIONS), the
    autocomplete lists at most 20 users (search.py MAX_OPTIONS), by last name then id."""
    added = [add_user(demo_db_url, f"many{n:02d}", "testgroup01") for n in range(25)]
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    result = client.get(OPTIONS, query={"q": {"user": "test"}})  # first name "Test"
    assert result.status == 200, result.body
    assert [u["username"] for u in result.json["user"]] == [f"many{n:02d}" for n in range(20)]
    assert len(added) == 25 and len(result.json["user"]) == 20


# -- 10. the list `q` filter -----------------------------------------------------

def test_q_lte_includes_the_value(demo_api_app, demo_db_url):
    """A change (listing.py:36, `$lte` as `<`) passed every other test: `{"$lte": v}` left out the
    rows equal to v. api.md 1.8: the operators are SQL's, `$lte` is <=."""
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    result = client.get("/api/v1/analyses/", query={"q": {"id": {"$lte": 4}}})
    assert result.status == 200, result.body
    assert [a["id"] for a in result.json] == [1, 2, 4]
    result = client.get("/api/v1/analyses/", query={"q": {"id": {"$gte": 4, "$lte": 5}}})
    assert [a["id"] for a in result.json] == [4, 5]


def test_q_text_false_is_false(demo_api_app, demo_db_url):
    """A change (listing.py:151, any boolean text read as true) passed every other test: `"false"`
    in `q` matched the true rows. listing.q_to_sql: values convert to the column's type, the texts
    "true"/"false" (any case) to the booleans they name."""
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    with psycopg.connect(demo_db_url) as conn:
        conn.execute("UPDATE \"user\" SET active = false WHERE username = 'testuser3'")
    for text in ("false", "FALSE", False):
        result = client.get("/api/v1/users/", query={"q": {"active": text}})
        assert result.status == 200, result.body
        assert [u["username"] for u in result.json] == ["testuser3"], text
    result = client.get("/api/v1/users/", query={"q": {"active": "true"}})
    assert sorted(u["username"] for u in result.json) == ["testuser1", "testuser2"]


# -- 11. ordering, defaults, counts -------------------------------------------------------

def test_category_lists_order_by_date_requested_before_date_deposited(demo_api_app,
                                                                      demo_db_url):
    """A change (overviews.py:100, ordered by date_deposited alone) passed every other test: the
    demo has no date_requested. api.md 4.4 / workflow.md 12.3: each category list is ordered by
    `date_requested` (falling back to `date_deposited`) descending."""
    with psycopg.connect(demo_db_url) as conn:
        conn.execute("UPDATE analysis SET date_requested = '2021-01-01T00:00:00+00' "
                     "WHERE id = 1")
        conn.execute("UPDATE analysis SET date_requested = '2019-01-01T00:00:00+00' "
                     "WHERE id = 7")
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    got = category_ids(overview(client, "analyses/").json, ANALYSIS_CATEGORIES)
    assert got["not_started"] == [1, 6, 5, 4, 7]


def test_priority_defaults_to_1_without_a_log_row(demo_api_app, demo_db_url):
    """A change (overviews.py:85, default priority 0) passed every other test: the demo's deposit
    wrote priority 1 in the log of every analysis. api.md 4.4: `priority` = latest non-null log
    priority, default 1."""
    with psycopg.connect(demo_db_url) as conn:
        conn.execute("DELETE FROM interpretationlog WHERE analysisinterpretation_id IN "
                     f"(SELECT id FROM {AI} WHERE analysis_id = 4)")
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    body = overview(client, "analyses/").json
    (item,) = [a for a in body["not_started"] if a["id"] == 4]
    assert item["priority"] == 1


def test_an_empty_newest_review_comment_means_no_review_comment(demo_api_app, demo_db_url):
    """A change (overviews.py:86, the key whenever a comment exists) passed every other test: a
    review comment cleared to "" gave `review_comment: ""`. workflow.md 12.3 / api.md 4.4:
    `review_comment` only when set (truthy), the latest non-null one."""
    with psycopg.connect(demo_db_url) as conn:
        _log(conn, AI, 1, 2, 1, review_comment="Check CNV")
        _log(conn, AI, 1, 2, 2, review_comment="")
        _log(conn, AI, 4, 2, 1, review_comment="Still here")
        conn.commit()
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    by_id = {a["id"]: a for a in overview(client, "analyses/").json["not_started"]}
    assert "review_comment" not in by_id[1]
    assert by_id[4]["review_comment"] == "Still here"


def _rounds_updated_out_of_order(url):
    """Allele 3: round A (HBOC v01) created first but updated last; round B (HBOCUTV v01,
    the latest by creation: Not started in Review) updated in between. Returns (A, B)."""
    with psycopg.connect(url) as conn:
        a = _round(conn, LI, "allele_id", 3, "Done", "Interpretation", False, 1, 1, HBOC)
        b = _round(conn, LI, "allele_id", 3, "Not started", "Review", None, None, 2,
                   ("HBOCUTV", "v01"))
        conn.execute(f"UPDATE {LI} SET date_last_update = '2020-10-21T00:00:00+00' "
                     "WHERE id = %s", (a,))
        conn.commit()
    return a, b


def test_a_variants_panel_is_that_of_its_round_updated_last(demo_api_app, demo_db_url):
    """A change (overviews.py:170, the panel of the round created last) passed every other test:
    every test's newest round was also the one updated last. workflow.md 12.3: the allele item's
    genepanel is that of the allele's round with the greatest date_last_update."""
    _rounds_updated_out_of_order(demo_db_url)
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    body = overview(client, "alleles/").json
    assert _allele_category_ids(body) == {"not_started": [], "marked_review": [3],
                                          "ongoing": []}
    assert body["marked_review"][0]["genepanel"] == {"name": "HBOC", "version": "v01"}


def test_a_variants_rounds_are_ordered_by_last_update(demo_api_app, demo_db_url):
    """A change (overviews.py:156, rounds ordered by id) passed every other test: in every test the
    rounds' ids and updates had the same order. api.md 4.5: `interpretations` ordered by
    `date_last_update`."""
    a, b = _rounds_updated_out_of_order(demo_db_url)
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    (item,) = overview(client, "alleles/").json["marked_review"]
    assert [r["id"] for r in item["interpretations"]] == [b, a]


def test_userstats_count_distinct_analyses(demo_api_app, demo_db_url):
    """A change (overviews.py:246, rounds counted instead of analyses) passed every other test: the
    user's analysis had a single round. api.md 4.5: analyses_cnt = distinct analyses with a round
    owned by the user."""
    with psycopg.connect(demo_db_url) as conn:
        _end(conn, AI, 2, False, 1)
        _round(conn, AI, "analysis_id", 2, "Ongoing", "Review", None, 1, 2)
        _round(conn, LI, "allele_id", 3, "Done", "Interpretation", False, 1, 3, HBOC)
        _round(conn, LI, "allele_id", 3, "Ongoing", "Review", None, 1, 4, HBOC)
        conn.commit()
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    assert overview(client, "userstats/").json == {"analyses_cnt": 1, "alleles_cnt": 1}
