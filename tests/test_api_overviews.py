"""Work lists (overviews) on the real ELLA demo database (api.md 2.8, 4.4, 4.5; workflow.md 12).

The six analyses carry the rounds ELLA itself wrote; the category of each one is derived from
those rounds by the rule of workflow.md 12.1 and also compared with the result worked out by
hand. Further rounds and log rows (finalized analyses, allele workflows) are added in the
per-test copy of the database.
"""

import psycopg
import pytest

from api_client import Client
from api_helpers import logged_in_client
from test_api_genepanels_analyses import (ANALYSIS_KEYS, INTERPRETATION_KEYS, USER_KEYS,
                                          check_analysis, check_shape)

API = "/api/v1"
ANALYSIS_CATEGORIES = ["not_ready", "not_started", "marked_review", "marked_medicalreview",
                       "ongoing"]
ALLELE_CATEGORIES = ["not_started", "marked_review", "ongoing"]
OVERVIEW_ANALYSIS_KEYS = {**ANALYSIS_KEYS, "priority": int}
ALLELE_OVERVIEW_KEYS = {"genepanel": dict, "allele": dict, "date_created": str,
                        "priority": int, "review_comment": (str, type(None)),
                        "interpretations": list, "warnings": type(None)}
ALLELE_ROUND_KEYS = {key: typ for key, typ in INTERPRETATION_KEYS.items()
                     if key != "analysis_id"} | {"allele_id": int}
ALLELE_KEYS = {"id", "genome_reference", "chromosome", "start_position", "open_end_position",
               "change_from", "change_to", "change_type", "vcf_pos", "vcf_ref", "vcf_alt",
               "length", "caller_type", "annotation", "tags"}


def sql(url, query, params=()):
    with psycopg.connect(url) as conn:
        cur = conn.execute(query, params)
        rows = cur.fetchall() if cur.description else None
        conn.commit()
        return rows


def category(status, workflow_status, finalized):
    """workflow.md 12.1, from the latest round."""
    if status == "Ongoing":
        return "ongoing"
    if status == "Not started":
        return {"Not ready": "not_ready", "Interpretation": "not_started",
                "Review": "marked_review", "Medical review": "marked_medicalreview"}[
            workflow_status]
    return "finalized" if finalized else None


def expected_analysis_categories(url, panels):
    """{category: [analysis ids ordered by date_requested/date_deposited desc]} from the rounds
    in the database, for analyses of these panels."""
    rows = sql(url, "SELECT a.id, a.genepanel_name, a.genepanel_version, "
               "COALESCE(a.date_requested, a.date_deposited), i.status::text, "
               "i.workflow_status::text, i.finalized, i.date_created "
               "FROM analysis a JOIN analysisinterpretation i ON i.analysis_id = a.id")
    latest = {}
    for aid, gp_name, gp_version, when, status, wf, finalized, created in rows:
        if (gp_name, gp_version) in panels and (aid not in latest or created > latest[aid][0]):
            latest[aid] = (created, when, category(status, wf, finalized))
    result = {key: [] for key in ANALYSIS_CATEGORIES + ["finalized"]}
    for aid, (_, when, cat) in sorted(latest.items(), key=lambda kv: (-kv[1][1].timestamp(),
                                                                        kv[0])):
        if cat:
            result[cat].append(aid)
    return result


def overview(client, path, status=200, query=None):
    result = client.request("GET", f"{API}/overviews/{path}", query=query)
    assert result.status == status, result.body
    return result


def category_ids(body, categories):
    assert list(body) == categories
    return {key: [item["id"] for item in body[key]] for key in categories}


def check_overview_analysis(item):
    keys = dict(OVERVIEW_ANALYSIS_KEYS)
    if "review_comment" in item:
        keys["review_comment"] = str
        assert item["review_comment"]
    if "warning_cleared" in item:
        keys["warning_cleared"] = bool
        assert item["warning_cleared"] is True
    analysis = {k: v for k, v in item.items()
                if k not in ("priority", "review_comment", "warning_cleared")}
    check_analysis(analysis)
    check_shape(item, keys, "overview analysis")
    assert item["priority"] in (1, 2, 3)


GROUP1_PANELS = {("HBOC", "v01"), ("HBOCUTV", "v01")}


def test_analysis_categories_of_the_rounds_ella_wrote(demo_api_app, demo_db_url):
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    body = overview(client, "analyses/").json
    got = category_ids(body, ANALYSIS_CATEGORIES)
    derived = expected_analysis_categories(demo_db_url, GROUP1_PANELS)
    assert got == {key: derived[key] for key in ANALYSIS_CATEGORIES}
    # Worked out by hand: analysis 2 was started by testuser1 in ELLA, the rest wait for
    # their first interpretation (newest deposit first); nothing is finalized.
    assert got == {"not_ready": [], "not_started": [7, 6, 5, 4, 1], "marked_review": [],
                   "marked_medicalreview": [], "ongoing": [2]}
    assert derived["finalized"] == []
    for key in ANALYSIS_CATEGORIES:
        for item in body[key]:
            check_overview_analysis(item)
    ongoing = body["ongoing"][0]
    assert ongoing["interpretations"][0]["user"]["username"] == "testuser1"
    check_shape(ongoing["interpretations"][0]["user"], USER_KEYS, "user")
    # ELLA's deposit wrote priority 1 (the default) and nothing else in the log.
    assert all(item["priority"] == 1 and "review_comment" not in item
               and "warning_cleared" not in item for item in body["not_started"])
    # The same objects as analyses/<id>/ plus the overview fields.
    single = client.request("GET", f"{API}/analyses/2/").json
    assert {k: v for k, v in ongoing.items() if k != "priority"} == single

    # testuser7's group has all panels: the same lists.
    assert overview(logged_in_client(demo_api_app, demo_db_url, "testuser7"),
                    "analyses/").json == body


def test_other_group_sees_only_its_panels(demo_api_app, demo_db_url):
    _add_rounds(demo_db_url)
    client = logged_in_client(demo_api_app, demo_db_url, "testuser4")
    assert overview(client, "analyses/").json == {key: [] for key in ANALYSIS_CATEGORIES}
    finalized = overview(client, "analyses/finalized/", query="per_page=10&page=1")
    assert finalized.json == []
    assert finalized.header("Total-Count") == "0" and finalized.header("Total-Pages") == "1"
    # Alleles: only those with a round of a Mendeliome/Ciliopati panel (alleles 7 and 9).
    alleles = overview(client, "alleles/").json
    assert {k: [i["allele"]["id"] for i in v] for k, v in alleles.items()} == {
        "not_started": [9], "marked_review": [], "ongoing": []}
    assert alleles["not_started"][0]["genepanel"] == {"name": "Mendeliome", "version": "v01"}


def _log(conn, table, round_id, user_id, when, **values):
    column = f"{table}_id"
    conn.execute(f"INSERT INTO interpretationlog ({column}, user_id, date_created, message, "
                 "priority, review_comment, warning_cleared) VALUES (%s, %s, "
                 "'2020-10-20 00:00+00'::timestamptz + %s * interval '1 minute', %s, %s, %s, %s)",
                 (round_id, user_id, when, values.get("message"), values.get("priority"),
                  values.get("review_comment"), values.get("warning_cleared")))


def _round(conn, table, column, wid, status, wf, finalized, user_id, when, panel=None):
    panel = panel or conn.execute(
        "SELECT genepanel_name, genepanel_version FROM analysis WHERE id = %s",
        (wid,)).fetchone()
    return conn.execute(
        f"INSERT INTO {table} ({column}, genepanel_name, genepanel_version, status, "
        "workflow_status, finalized, user_id, date_created, date_last_update) VALUES "
        "(%s, %s, %s, %s, %s, %s, %s, "
        "'2020-10-20 00:00+00'::timestamptz + %s * interval '1 minute', "
        "'2020-10-20 00:00+00'::timestamptz + %s * interval '1 minute') RETURNING id",
        (wid, panel[0], panel[1], status, wf, finalized, user_id, when, when)).fetchone()[0]


def _end(conn, table, round_id, finalized, when):
    conn.execute(f"UPDATE {table} SET status = 'Done', finalized = %s, "
                 "date_last_update = '2020-10-20 00:00+00'::timestamptz + %s * interval '1 minute' "
                 "WHERE id = %s", (finalized, when, round_id))


def _add_rounds(url):
    """Workflows in every category, as ELLA's actions leave them (workflow.md 4)."""
    with psycopg.connect(url) as conn:
        ai, li = "analysisinterpretation", "alleleinterpretation"
        # 1: interpretation by testuser2 marked for review.
        _end(conn, ai, 1, False, 10)
        _round(conn, ai, "analysis_id", 1, "Not started", "Review", None, None, 10)
        _log(conn, ai, 1, 2, 5, review_comment="old comment", priority=3)
        _log(conn, ai, 1, 2, 9, review_comment="Check CNV", priority=2, warning_cleared=True)
        _log(conn, ai, 1, 2, 9.5, message="just a message")
        # 4: finalized, then the newest finalized (updated last).
        _end(conn, ai, 4, True, 30)
        # 5: interpretation, review finalized earlier.
        _end(conn, ai, 5, False, 11)
        r = _round(conn, ai, "analysis_id", 5, "Ongoing", "Review", None, 3, 12)
        _end(conn, ai, r, True, 20)
        # 6: marked for medical review; the newest warning_cleared is false.
        _end(conn, ai, 6, False, 13)
        r = _round(conn, ai, "analysis_id", 6, "Not started", "Medical review", None, None, 13)
        _log(conn, ai, 6, 1, 1, warning_cleared=True)
        _log(conn, ai, r, 1, 14, warning_cleared=False)
        # 7: not ready (deposit post-processor).
        conn.execute(f"UPDATE {ai} SET workflow_status = 'Not ready' WHERE id = 7")
        # Alleles (HBOC v01 unless said otherwise).
        hboc, mendeliome = ("HBOC", "v01"), ("Mendeliome", "v01")
        _round(conn, li, "allele_id", 3, "Not started", "Interpretation", None, None, 1, hboc)
        r = _round(conn, li, "allele_id", 4, "Done", "Interpretation", False, 1, 2, hboc)
        _round(conn, li, "allele_id", 4, "Not started", "Review", None, None, 3, hboc)
        _log(conn, li, r, 1, 3, review_comment="please review", priority=3)
        _round(conn, li, "allele_id", 5, "Ongoing", "Interpretation", None, 2, 4, hboc)
        r = _round(conn, li, "allele_id", 6, "Done", "Interpretation", True, 1, 5, hboc)
        r = _round(conn, li, "allele_id", 7, "Done", "Interpretation", False, 1, 6,
                   mendeliome)
        _round(conn, li, "allele_id", 7, "Done", "Review", True, 2, 40, hboc)
        _round(conn, li, "allele_id", 8, "Done", "Interpretation", True, 1, 7, hboc)
        _round(conn, li, "allele_id", 9, "Not started", "Interpretation", None, None, 8,
               mendeliome)
        conn.commit()


def test_all_analysis_categories(demo_api_app, demo_db_url):
    _add_rounds(demo_db_url)
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    body = overview(client, "analyses/").json
    got = category_ids(body, ANALYSIS_CATEGORIES)
    derived = expected_analysis_categories(demo_db_url, GROUP1_PANELS)
    assert got == {key: derived[key] for key in ANALYSIS_CATEGORIES}
    assert got == {"not_ready": [7], "not_started": [], "marked_review": [1],
                   "marked_medicalreview": [6], "ongoing": [2]}
    for key in ANALYSIS_CATEGORIES:
        for item in body[key]:
            check_overview_analysis(item)
    review = body["marked_review"][0]
    # Newest non-null values over all rounds of the analysis.
    assert (review["priority"], review["review_comment"], review["warning_cleared"]) == \
        (2, "Check CNV", True)
    assert [i["id"] for i in review["interpretations"]] == sorted(
        i["id"] for i in review["interpretations"])
    medical = body["marked_medicalreview"][0]
    assert "warning_cleared" not in medical and "review_comment" not in medical
    assert medical["priority"] == 1

    finalized = overview(client, "analyses/finalized/")
    # Newest round update first: 4 (finalized last), then 5.
    assert [a["id"] for a in finalized.json] == [4, 5]
    assert sorted(derived["finalized"]) == [4, 5]
    for item in finalized.json:
        check_overview_analysis(item)
    assert [finalized.header(h) for h in ("Total-Count", "Total-Pages", "Page", "Per-Page")] \
        == ["2", "1", "1", "10000"]


def test_finalized_analyses_pagination(demo_api_app, demo_db_url):
    _add_rounds(demo_db_url)
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    pages = []
    for page in (1, 2, 3):
        result = overview(client, "analyses/finalized/", query=f"per_page=1&page={page}")
        assert [result.header(h) for h in ("Total-Count", "Total-Pages", "Page", "Per-Page")] \
            == ["2", "2", str(page), "1"]
        pages.append([a["id"] for a in result.json])
    assert pages == [[4], [5], []]
    result = overview(client, "analyses/finalized/", query="per_page=500&page=1")
    assert result.header("Per-Page") == "50" and [a["id"] for a in result.json] == [4, 5]
    for query in ("page=0", "page=x", "per_page=0", "per_page=-1", "per_page=ten"):
        for path in ("analyses/finalized/", "alleles/finalized/"):
            result = overview(client, path, status=400, query=query)
            assert "message" in result.json


def check_allele_overview(item, panels):
    check_shape(item, ALLELE_OVERVIEW_KEYS, "allele overview")
    assert item["warnings"] is None
    check_shape(item["genepanel"], {"name": str, "version": str}, "genepanel")
    allele = item["allele"]
    assert ALLELE_KEYS <= set(allele) <= ALLELE_KEYS | {"allele_assessment", "warnings"}
    if "allele_assessment" in allele:
        check_shape(allele["allele_assessment"],
                    {"id": int, "date_created": str, "classification": str}, "assessment")
    rounds = item["interpretations"]
    assert [r["date_last_update"] for r in rounds] == sorted(r["date_last_update"]
                                                              for r in rounds)
    for r in rounds:
        check_shape(r, ALLELE_ROUND_KEYS, "allele round")
        assert r["allele_id"] == allele["id"]
        if r["user"] is not None:
            check_shape(r["user"], USER_KEYS, "user")
    assert any((r["genepanel_name"], r["genepanel_version"]) in panels for r in rounds)
    latest_update = max(rounds, key=lambda r: r["date_last_update"])
    assert item["genepanel"] == {"name": latest_update["genepanel_name"],
                                 "version": latest_update["genepanel_version"]}


def test_allele_overviews(demo_api_app, demo_db_url):
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    # ELLA's demo database has no allele workflow rounds.
    assert overview(client, "alleles/").json == {key: [] for key in ALLELE_CATEGORIES}
    _add_rounds(demo_db_url)
    body = overview(client, "alleles/").json
    assert list(body) == ALLELE_CATEGORIES
    got = {key: [i["allele"]["id"] for i in body[key]] for key in ALLELE_CATEGORIES}
    # Allele 9 has only a Mendeliome round (not testgroup01's).
    assert got == {"not_started": [3], "marked_review": [4], "ongoing": [5]}
    for key in ALLELE_CATEGORIES:
        for item in body[key]:
            check_allele_overview(item, GROUP1_PANELS)
    review = body["marked_review"][0]
    assert (review["priority"], review["review_comment"]) == (3, "please review")
    assert [r["workflow_status"] for r in review["interpretations"]] == ["Interpretation",
                                                                         "Review"]
    assert review["interpretations"][0]["user"]["username"] == "testuser1"
    assert review["date_created"].startswith("2020-10-20T00:02:00")
    not_started = body["not_started"][0]
    assert (not_started["priority"], not_started["review_comment"]) == (1, None)
    assert not_started["allele"]["allele_assessment"]["id"] == 1
    assert not_started["allele"]["allele_assessment"]["classification"] == "4"
    assert not_started["genepanel"] == {"name": "HBOC", "version": "v01"}

    finalized = overview(client, "alleles/finalized/")
    # Allele 7: its newest round is HBOC (the Mendeliome round gives it no extra visibility
    # here); ordered by the newest round update.
    assert [i["allele"]["id"] for i in finalized.json] == [7, 8, 6]
    for item in finalized.json:
        check_allele_overview(item, GROUP1_PANELS)
    assert finalized.json[0]["date_created"].startswith("2020-10-20T00:06:00")
    assert [finalized.header(h) for h in ("Total-Count", "Total-Pages", "Page", "Per-Page")] \
        == ["3", "1", "1", "10000"]
    page2 = overview(client, "alleles/finalized/", query="per_page=2&page=2")
    assert [i["allele"]["id"] for i in page2.json] == [6]
    assert [page2.header(h) for h in ("Total-Count", "Total-Pages", "Page", "Per-Page")] \
        == ["3", "2", "2", "2"]

    # testgroup02 sees allele 7 through its Mendeliome round, with the panel of the newest
    # round (HBOC), as ELLA does.
    outsider = logged_in_client(demo_api_app, demo_db_url, "testuser4")
    assert [i["allele"]["id"] for i in overview(outsider, "alleles/finalized/").json] == [7]


def test_userstats(demo_api_app, demo_db_url):
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    assert overview(client, "userstats/").json == {"analyses_cnt": 1, "alleles_cnt": 0}
    _add_rounds(demo_db_url)
    assert overview(client, "userstats/").json == {"analyses_cnt": 1, "alleles_cnt": 4}
    other = logged_in_client(demo_api_app, demo_db_url, "testuser3")
    assert overview(other, "userstats/").json == {"analyses_cnt": 1, "alleles_cnt": 0}


@pytest.mark.parametrize("path", ["analyses/", "analyses/finalized/", "alleles/",
                                  "alleles/finalized/", "userstats/"])
def test_login_required(demo_api_app, path):
    result = Client(demo_api_app).request("GET", f"{API}/overviews/{path}")
    assert result.status == 403
    assert result.json == {"message": "Authentication required"}
