"""Analyses and gene panels through the WSGI app on the real ELLA database (api.md 2.3-2.5,
3.2, 3.6, 4.6, 4.12, 4.21)."""

import json
import threading

import psycopg

from api_client import Client
from api_helpers import logged_in_client
from ella.deposit.genepanel import PANEL_NAMES_LOCK
from helpers import wait_for_lock_wait

API = "/api/v1"
HBOC_ANALYSES = [1, 2, 4, 5, 6, 7]

USER_KEYS = {"id": int, "username": str, "first_name": str, "last_name": str,
             "full_name": str, "abbrev_name": str, "active": bool, "user_group_name": str}
SAMPLE_KEYS = {"id": int, "identifier": str, "sample_type": str, "date_deposited": str,
               "affected": bool, "proband": bool, "family_id": (str, type(None)),
               "father_id": (int, type(None)), "mother_id": (int, type(None)),
               "sibling_id": (int, type(None)), "sex": (str, type(None))}
INTERPRETATION_KEYS = {"id": int, "status": str, "analysis_id": int,
                       "finalized": (bool, type(None)), "workflow_status": str,
                       "date_last_update": str, "genepanel_name": str, "genepanel_version": str,
                       "user_id": (int, type(None)), "user": (dict, type(None))}
ANALYSIS_KEYS = {"id": int, "name": str, "date_requested": (str, type(None)),
                 "date_deposited": str, "interpretations": list, "genepanel": dict,
                 "samples": list, "report": (str, type(None)), "warnings": (str, type(None)),
                 "attachments": list}


def check_shape(obj, keys, where):
    assert set(obj) == set(keys), (where, sorted(obj))
    for key, typ in keys.items():
        value = obj[key]
        assert isinstance(value, typ) and not (isinstance(value, bool) and typ is int), \
            (where, key, value)


def check_analysis(analysis):
    check_shape(analysis, ANALYSIS_KEYS, "analysis")
    check_shape(analysis["genepanel"], {"name": str, "version": str, "official": bool},
                "genepanel")
    assert analysis["attachments"] == []
    for sample in analysis["samples"]:
        check_shape(sample, SAMPLE_KEYS, "sample")
    ids = [i["id"] for i in analysis["interpretations"]]
    assert ids == sorted(ids)
    for interpretation in analysis["interpretations"]:
        check_shape(interpretation, INTERPRETATION_KEYS, "interpretation")
        assert interpretation["analysis_id"] == analysis["id"]
        if interpretation["user"] is not None:
            check_shape(interpretation["user"], USER_KEYS, "user")
            assert interpretation["user"]["id"] == interpretation["user_id"]


def ids(result):
    assert result.status == 200, result.body
    return [a["id"] for a in result.json]


def sql(url, query, params=()):
    """Run one statement on the test database (committed); its rows, if it returns any."""
    with psycopg.connect(url) as conn:
        cur = conn.execute(query, params)
        rows = cur.fetchall() if cur.description else []
        conn.commit()
        return rows


def test_analyses_for_the_group(demo_api_app, demo_db_url):
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")

    one = client.get(f"{API}/analyses/2/")
    assert one.status == 200
    assert one.header("Content-Type") == "application/json"
    analysis = one.json
    check_analysis(analysis)
    assert analysis["name"] == "brca_sample_1.HBOCUTV_v01"
    assert analysis["genepanel"] == {"name": "HBOCUTV", "version": "v01", "official": True}
    assert analysis["date_requested"] is None and analysis["date_deposited"].endswith("+00:00")
    assert [s["identifier"] for s in analysis["samples"]] == ["brca_sample_1"]
    assert analysis["samples"][0]["sample_type"] == "HTS" and analysis["samples"][0]["proband"]
    [round_] = analysis["interpretations"]
    assert round_["status"] == "Ongoing" and round_["workflow_status"] == "Interpretation"
    assert round_["finalized"] is None
    assert round_["user"]["username"] == "testuser1" and round_["user"]["abbrev_name"]
    assert "state" not in round_ and "user_state" not in round_
    # A not-started round has no user.
    not_started = client.get(f"{API}/analyses/1/").json["interpretations"][0]
    assert not_started["status"] == "Not started" and not_started["user"] is None

    listing = client.get(f"{API}/analyses/")
    assert ids(listing) == HBOC_ANALYSES
    for item in listing.json:
        check_analysis(item)
    assert listing.json[1] == analysis
    assert listing.header("Total-Count") == "6" and listing.header("Total-Pages") == "1"
    assert listing.header("Page") == "1" and listing.header("Per-Page") == "10000"

    page = client.get(f"{API}/analyses/", query={"page": 2, "per_page": 2})
    assert ids(page) == [4, 5]
    assert (page.header("Total-Count"), page.header("Total-Pages"), page.header("Page"),
            page.header("Per-Page")) == ("6", "3", "2", "2")
    assert client.get(f"{API}/analyses/", query={"per_page": 999}).header("Per-Page") == "50"
    assert ids(client.get(f"{API}/analyses/", query={"page": 9})) == []

    assert ids(client.get(f"{API}/analyses/", query={"q": {"id": [1, 7, 9999]}})) == [1, 7]
    assert ids(client.get(f"{API}/analyses/", query={"q": {"id": []}})) == []
    assert ids(client.get(f"{API}/analyses/", query={"q": "null"})) == HBOC_ANALYSES
    assert ids(client.get(f"{API}/analyses/", query={"q": {"genepanel_name": "HBOC"}})) == [1, 5]
    assert ids(client.get(f"{API}/analyses/",
                          query={"q": {"name": {"$ilike": "%MASTER%"}}})) == [7]
    assert ids(client.get(f"{API}/analyses/", query={"q": {"id": {"$gte": "5"}}})) == [5, 6, 7]
    evil = client.get(f"{API}/analyses/", query={"q": {"name": "x' OR '1'='1"}})
    assert ids(evil) == [] and evil.header("Total-Count") == "0"
    for bad in ('{"id": ', '{"nope": 1}', '{"id": {"$regex": 1}}', '{"id": "abc"}', '[1]'):
        result = client.get(f"{API}/analyses/", query={"q": bad})
        assert result.status == 400 and result.json["message"], bad
    assert client.get(f"{API}/analyses/", query={"page": "x"}).status == 400

    missing = client.get(f"{API}/analyses/9999/")
    assert missing.status == 404 and "9999" in missing.json["message"]


def test_allele_analyses_lists_only_group_analyses_and_logs_response(demo_api_app,
                                                                      demo_db_url):
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    expected = [r[0] for r in sql(
        demo_db_url, "SELECT DISTINCT s.analysis_id FROM genotype g JOIN sample s "
        "ON s.id = g.sample_id WHERE g.allele_id = 3 OR g.secondallele_id = 3 ORDER BY 1")]
    assert expected == [2, 5]
    result = client.get(f"{API}/alleles/3/analyses/")
    assert ids(result) == expected
    for item in result.json:
        check_analysis(item)
    logged = sql(demo_db_url, "SELECT response, statuscode FROM resourcelog WHERE resource = "
                 "%s ORDER BY id DESC LIMIT 1", (f"{API}/alleles/3/analyses/",))
    assert logged[0][1] == 200 and json.loads(logged[0][0]) == result.json
    # Other analyses' responses are not stored.
    client.get(f"{API}/analyses/2/")
    assert sql(demo_db_url, "SELECT response FROM resourcelog WHERE resource = %s "
               "ORDER BY id DESC LIMIT 1", (f"{API}/analyses/2/",)) == [(None,)]
    assert client.get(f"{API}/alleles/99999/analyses/").status == 404
    # An analysis of a panel outside the group is left out: take HBOC away from the group.
    sql(demo_db_url, "DELETE FROM usergroupgenepanel WHERE usergroup_id = (SELECT group_id "
        "FROM \"user\" WHERE username = 'testuser1') AND genepanel_name = 'HBOC'")
    assert ids(client.get(f"{API}/alleles/3/analyses/")) == [2]
    assert ids(client.get(f"{API}/analyses/")) == [2, 4, 6, 7]
    assert client.get(f"{API}/analyses/5/").status == 403


def test_other_group_and_anonymous_are_refused(demo_api_app, demo_db_url):
    anonymous = Client(demo_api_app)
    for path in ("analyses/", "analyses/2/", "alleles/3/analyses/", "genepanels/",
                 "genepanels/HBOC/v01/", "genepanels/HBOC/v01/stats/"):
        result = anonymous.get(f"{API}/{path}")
        assert result.status == 403 and result.json["message"], path
    assert anonymous.post(f"{API}/genepanels/", {"name": "x"}).status == 403

    client = logged_in_client(demo_api_app, demo_db_url, "testuser4")
    listing = client.get(f"{API}/analyses/")
    assert ids(listing) == [] and listing.header("Total-Count") == "0"
    for analysis_id in HBOC_ANALYSES:
        result = client.get(f"{API}/analyses/{analysis_id}/")
        assert result.status == 403 and result.json["message"]
    assert ids(client.get(f"{API}/alleles/3/analyses/")) == []
    panels = client.get(f"{API}/genepanels/")
    assert panels.json == [{"name": "Ciliopati", "version": "v05", "official": True},
                           {"name": "Mendeliome", "version": "v01", "official": True}]
    for path in ("genepanels/HBOC/v01/", "genepanels/HBOCUTV/v01/stats/"):
        assert client.get(f"{API}/{path}").status == 403
    assert client.get(f"{API}/genepanels/Mendeliome/v01/").status == 200
    assert client.get(f"{API}/genepanels/Nope/v01/").status == 404


def test_genepanels_list_single_and_stats(demo_api_app, demo_db_url):
    client = logged_in_client(demo_api_app, demo_db_url, "testuser7")
    listing = client.get(f"{API}/genepanels/")
    assert listing.status == 200
    assert [(p["name"], p["version"]) for p in listing.json] == [
        ("Ciliopati", "v05"), ("HBOC", "v01"), ("HBOCUTV", "v01"), ("Mendeliome", "v01")]
    for panel in listing.json:
        check_shape(panel, {"name": str, "version": str, "official": bool}, "panel")
    assert (listing.header("Total-Count"), listing.header("Total-Pages"),
            listing.header("Page"), listing.header("Per-Page")) == ("4", "1", "1", "10000")
    # Headers but no slicing (as ELLA).
    unsliced = client.get(f"{API}/genepanels/", query={"per_page": 1, "page": 2})
    assert len(unsliced.json) == 4 and unsliced.header("Per-Page") == "1"
    assert unsliced.header("Total-Pages") == "4"
    hboc = client.get(f"{API}/genepanels/", query={"q": {"name": {"$like": "HBOC%"}}})
    assert [p["name"] for p in hboc.json] == ["HBOC", "HBOCUTV"]
    assert client.get(f"{API}/genepanels/", query={"q": {"name": []}}).json == []
    assert client.get(f"{API}/genepanels/", query={"q": {"official": False}}).json == []
    assert client.get(f"{API}/genepanels/", query={"q": {"name": "'; DROP TABLE gene; --"}}
                      ).json == []
    assert client.get(f"{API}/genepanels/", query={"q": {"bogus": 1}}).status == 400
    assert client.get(f"{API}/genepanels/", query={"q": "{"}).status == 400

    single = client.get(f"{API}/genepanels/HBOC/v01/")
    assert single.status == 200
    assert single.json == {"name": "HBOC", "version": "v01", "genes": [
        {"hgnc_id": 1100, "hgnc_symbol": "BRCA1", "inheritance": "AD",
         "transcripts": [{"id": 1, "transcript_name": "NM_007297.3", "tags": None}],
         "phenotypes": [{"id": 1, "inheritance": "AD",
                         "description": "{Breast-ovarian cancer, familial, 1}"}]},
        {"hgnc_id": 1101, "hgnc_symbol": "BRCA2", "inheritance": "AD",
         "transcripts": [{"id": 2, "transcript_name": "NM_000059.3", "tags": None}],
         "phenotypes": [{"id": 2, "inheritance": "AD",
                         "description": "{Breast-ovarian cancer, familial, 2}"}]}]}
    big = client.get(f"{API}/genepanels/Mendeliome/v01/").json
    symbols = [g["hgnc_symbol"] for g in big["genes"]]
    assert symbols == sorted(symbols) and len(symbols) == 3549
    for gene in big["genes"]:
        check_shape(gene, {"hgnc_id": int, "hgnc_symbol": str, "inheritance": str,
                           "transcripts": list, "phenotypes": list}, "gene")
        inheritances = [p["inheritance"] for p in gene["phenotypes"]]
        assert inheritances == sorted(inheritances)
        names = [t["transcript_name"] for t in gene["transcripts"]]
        assert names == sorted(names) and names
    assert client.get(f"{API}/genepanels/HBOC/v99/").status == 404
    assert client.get(f"{API}/genepanels/HBOC'--/v01/").status == 404

    stats = client.get(f"{API}/genepanels/HBOC/v01/stats/")
    assert stats.status == 200
    overlap = stats.json["overlap"]
    assert overlap[0] == {"name": "HBOCUTV", "version": "v01", "addition_cnt": 5,
                          "overlap_cnt": 2, "missing_cnt": 0}
    assert overlap[1] == {"name": "Mendeliome", "version": "v01", "addition_cnt": 3547,
                          "overlap_cnt": 2, "missing_cnt": 0}
    assert ("HBOC", "v01") not in [(o["name"], o["version"]) for o in overlap]
    assert len(overlap) <= 5
    assert client.get(f"{API}/genepanels/Nope/v1/stats/").status == 404


NEW_PANEL = {"name": "NewPanel", "version": "NewVersion",
             "usergroups": ["testgroup01", "testgroup02"],
             "genes": [{"hgnc_id": 1101, "inheritance": "AD/AR", "hgnc_symbol": "BRCA2",
                        "transcripts": [{"id": 2, "transcript_name": "NM_000059.3",
                                         "tags": None}],
                        "phenotypes": [{"id": 2}]},
                       {"hgnc_id": 1100, "inheritance": "AR", "transcripts": [{"id": 1}],
                        "phenotypes": []}]}


def test_a_group_that_may_not_create_panels_learns_no_panel_names(demo_api_app, demo_db_url):
    """The name was checked before the groups: a 409 for an existing panel (403 for another
    name) told a group without import rights which panels exist, which its list hides."""
    client = logged_in_client(demo_api_app, demo_db_url, "testuser4")
    body = {**NEW_PANEL, "usergroups": ["testgroup02"]}
    for name, version in (("NoSuchPanel", "v01"), ("HBOC", "v01")):
        result = client.post(f"{API}/genepanels/", {**body, "name": name, "version": version})
        assert (result.status, result.json["message"]) == (
            403, "Your user group may not create gene panels for group testgroup02")


def test_create_genepanel(demo_api_app, demo_db_url):
    sql(demo_db_url, "INSERT INTO usergroupimport SELECT 1, id FROM usergroup "
        "WHERE name IN ('testgroup01', 'testgroup02')")
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    url = f"{API}/genepanels/"

    def refused(body, status, text=None):
        result = client.post(url, body)
        assert result.status == status, (body, result.body)
        if text:
            assert text in result.json["message"], result.json
    refused({**NEW_PANEL, "name": ""}, 400, "No name given for genepanel")
    refused({k: v for k, v in NEW_PANEL.items() if k != "version"}, 400,
            "No version given for genepanel")
    refused({**NEW_PANEL, "genes": []}, 400, "Missing or empty required field genes")
    refused({k: v for k, v in NEW_PANEL.items() if k != "usergroups"}, 400,
            "Missing or empty required field usergroups")
    refused({**NEW_PANEL, "name": 5}, 400)
    refused({**NEW_PANEL, "genes": "BRCA2"}, 400)
    refused({**NEW_PANEL, "genes": [{"hgnc_id": "x", "inheritance": "AD"}]}, 400)
    refused({**NEW_PANEL, "genes": [{"hgnc_id": 1101, "inheritance": "AD",
                                     "transcripts": [{"id": 999999}]}]}, 404, "999999")
    refused({**NEW_PANEL, "genes": [{"hgnc_id": 1101, "inheritance": "AD",
                                     "transcripts": [{"id": 1}]}]}, 400, "belongs to gene")
    # Listed again under its own gene, the wrong listing is no less wrong (it was dropped).
    refused({**NEW_PANEL, "genes": [
        {"hgnc_id": 1101, "inheritance": "AR", "transcripts": [{"id": 1}]},
        {"hgnc_id": 1100, "inheritance": "AD", "transcripts": [{"id": 1}]}]}, 400,
        "Transcript 1 is listed under genes 1101 and 1100")
    refused({**NEW_PANEL, "genes": [
        {"hgnc_id": 1100, "inheritance": "AR", "transcripts": [{"id": 1}]},
        {"hgnc_id": 1101, "inheritance": "AD", "transcripts": [{"id": 2}],
         "phenotypes": [{"id": 2}]},
        {"hgnc_id": 1100, "inheritance": "AD", "phenotypes": [{"id": 2}]}]}, 400,
        "Phenotype 2 is listed under genes 1101 and 1100")
    # One gene listed twice, its transcript with two inheritances: the first was dropped.
    refused({**NEW_PANEL, "genes": [
        {"hgnc_id": 1101, "inheritance": "AD", "transcripts": [{"id": 2}]},
        {"hgnc_id": 1101, "inheritance": "AR", "transcripts": [{"id": 2}]}]}, 400,
        "Transcript 2 is listed with inheritance 'AD' and 'AR'")
    for name, version, message in (
            ("a/b", "v1", "Invalid gene panel name"),
            ("HBOC", "v01 ", "The gene panel version 'v01 ' starts or ends with a blank"),
            (" HBOC", "v01", "starts or ends with a blank"),
            ("N" * 201, "v1", "The gene panel name is longer than 200 characters"),
            # genepanels/NewPanel/../ reaches the server as genepanels/ from any browser.
            ("NewPanel", "..", "The gene panel version '..' cannot be part of its address"),
            (".", "v1", "The gene panel name '.' cannot be part of its address")):
        refused({**NEW_PANEL, "name": name, "version": version}, 400, message)
    refused({**NEW_PANEL, "genes": [{"hgnc_id": 1101, "inheritance": "AD",
                                     "phenotypes": [{"id": "1; DROP TABLE gene"}]}]}, 400)
    refused({**NEW_PANEL, "usergroups": ["testgroup03"]}, 403, "testgroup03")
    refused({**NEW_PANEL, "usergroups": ["nogroup"]}, 404, "nogroup")
    refused({**NEW_PANEL, "name": "HBOC", "version": "v01"}, 409)
    refused([NEW_PANEL], 400)
    assert client.request("POST", url, raw=b"{nope").status == 400
    assert sql(demo_db_url, "SELECT count(*) FROM genepanel WHERE name = 'NewPanel'") == [(0,)]

    created = client.post(url, NEW_PANEL)
    assert created.status == 200 and created.body == b"null"
    row = sql(demo_db_url, "SELECT official, genome_reference, user_id FROM genepanel "
              "WHERE name = 'NewPanel' AND version = 'NewVersion'")
    assert row == [(False, "GRCh37", 1)]
    single = client.get(f"{API}/genepanels/NewPanel/NewVersion/").json
    assert [(g["hgnc_symbol"], g["inheritance"], [t["id"] for t in g["transcripts"]],
             [p["id"] for p in g["phenotypes"]]) for g in single["genes"]] == [
        ("BRCA1", "AR", [1], []), ("BRCA2", "AD/AR", [2], [2])]
    # Granted to both groups, not to the third; the list shows official panels only.
    granted = sql(demo_db_url, "SELECT g.name FROM usergroupgenepanel u JOIN usergroup g "
                  "ON g.id = u.usergroup_id WHERE u.genepanel_name = 'NewPanel' ORDER BY 1")
    assert granted == [("testgroup01",), ("testgroup02",)]
    assert "NewPanel" not in [p["name"] for p in client.get(url).json]
    refused(NEW_PANEL, 409)
    # A gene with phenotypes but no transcripts shows a null inheritance; a copy of the
    # panel as shown is taken (it was a 400), a gene with transcripts still needs one.
    phenotype_only = {**NEW_PANEL, "version": "V2", "genes": [
        {"hgnc_id": 1100, "inheritance": "AR", "transcripts": [{"id": 1}]},
        {"hgnc_id": 1101, "inheritance": "AD", "transcripts": [], "phenotypes": [{"id": 2}]}]}
    # ... but a panel needs a transcript, as a panel file does (its export deposits again).
    refused({**phenotype_only, "genes": phenotype_only["genes"][1:]}, 400,
            "A gene panel needs at least one gene with transcripts")
    assert client.post(url, phenotype_only).status == 200
    shown = client.get(f"{API}/genepanels/NewPanel/V2/").json["genes"]
    assert [(g["hgnc_id"], g["inheritance"]) for g in shown] == [(1100, "AR"), (1101, None)]
    copy = {**NEW_PANEL, "version": "V3", "genes": [
        {"hgnc_id": g["hgnc_id"], "inheritance": g["inheritance"],
         "transcripts": g["transcripts"], "phenotypes": g["phenotypes"]} for g in shown]}
    assert client.post(url, copy).status == 200
    for inheritance in (None, "", " "):  # a panel file's transcript needs one too
        refused({**NEW_PANEL, "version": "V4", "genes": [
            {"hgnc_id": 1101, "inheritance": inheritance, "transcripts": [{"id": 2}]}]}, 400,
            "inheritance must be a non-empty string for a gene with transcripts")


def test_an_existing_name_gets_new_versions_as_it_is(demo_api_app, demo_db_url):
    """An adopted database's panel named with a blank at its end (which a new name may not
    have) gets a new version through the API, as through `ella-deposit genepanel`."""
    sql(demo_db_url, "INSERT INTO genepanel (name, version, genome_reference, official, "
        "date_created) VALUES ('HBOC ', 'v01', 'GRCh37', true, now())")
    sql(demo_db_url, "INSERT INTO usergroupimport SELECT 1, id FROM usergroup "
        "WHERE name = 'testgroup01'")
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    body = {**NEW_PANEL, "usergroups": ["testgroup01"], "genes": [
        {"hgnc_id": 1101, "inheritance": "AD", "transcripts": [{"id": 2}]}]}
    assert client.post(f"{API}/genepanels/", {**body, "name": "HBOC ", "version": "v02"}
                       ).status == 200
    refused = client.post(f"{API}/genepanels/", {**body, "name": "HBOC  ", "version": "v02"})
    assert refused.status == 400 and "starts or ends with a blank" in refused.json["message"]


def test_a_new_name_that_is_a_panel_in_another_unicode_form_is_refused(demo_api_app,
                                                                       demo_db_url):
    """`Åse` typed on a Mac (`A` and a combining ring) beside the stored `Åse`: two panels
    every list shows alike, which groups and analyses could not tell apart."""
    sql(demo_db_url, "INSERT INTO genepanel (name, version, genome_reference, official, "
        "date_created) VALUES ('\u00c5se', 'v01', 'GRCh37', true, now())")
    sql(demo_db_url, "INSERT INTO usergroupimport SELECT 1, id FROM usergroup "
        "WHERE name = 'testgroup01'")
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    body = {**NEW_PANEL, "usergroups": ["testgroup01"], "version": "v02", "genes": [
        {"hgnc_id": 1101, "inheritance": "AD", "transcripts": [{"id": 2}]}]}
    refused = client.post(f"{API}/genepanels/", {**body, "name": "A\u030ase"})
    assert refused.status == 400, refused.body
    assert refused.json["message"] == (
        "The gene panel name 'A\u030ase' is that of the existing panel '\u00c5se' in another "
        "Unicode form: name it exactly as stored")
    assert sql(demo_db_url, "SELECT count(*) FROM genepanel WHERE name = 'A\u030ase'") == [(0,)]
    # Its next version under the stored name, and another name, are made.
    assert client.post(f"{API}/genepanels/", {**body, "name": "\u00c5se"}).status == 200
    assert client.post(f"{API}/genepanels/", {**body, "name": "\u00c5sa"}).status == 200


def test_a_version_or_space_that_reads_as_an_existing_panel_is_refused(demo_api_app,
                                                                        demo_db_url):
    """`v1 é` typed decomposed beside the stored composed one, and `New\u00a0Panel` (a
    no-break space) beside `New Panel`, were made: panels every list shows alike."""
    sql(demo_db_url, "INSERT INTO usergroupimport SELECT 1, id FROM usergroup "
        "WHERE name = 'testgroup01'")
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    body = {**NEW_PANEL, "usergroups": ["testgroup01"], "genes": [
        {"hgnc_id": 1101, "inheritance": "AD", "transcripts": [{"id": 2}]}]}
    assert client.post(f"{API}/genepanels/", {**body, "name": "P1",
                                              "version": "v1 \u00e9"}).status == 200
    before = sql(demo_db_url, "SELECT name, version FROM genepanel ORDER BY 1, 2")
    refused = client.post(f"{API}/genepanels/", {**body, "name": "P1", "version": "v1 e\u0301"})
    assert refused.status == 400 and refused.json["message"] == (
        "The gene panel version 'v1 e\u0301' is the existing version 'v1 \u00e9' of P1 in "
        "another Unicode form: give the version exactly as stored, or another"), refused.body
    for name, version, label, value in (("New\u00a0Panel", "v1", "name", "New\u00a0Panel"),
                                        ("P1", "v\u20022", "version", "v\u20022")):
        refused = client.post(f"{API}/genepanels/", {**body, "name": name, "version": version})
        assert refused.status == 400 and refused.json["message"] == (
            f"The gene panel {label} {value!r} has a space other than the plain one (a "
            "no-break space looks like it)"), refused.body
    assert sql(demo_db_url, "SELECT name, version FROM genepanel ORDER BY 1, 2") == before
    # The same version under another name, and other versions, are made.
    assert client.post(f"{API}/genepanels/", {**body, "name": "P2",
                                              "version": "v1 e\u0301"}).status == 200
    assert client.post(f"{API}/genepanels/", {**body, "name": "P1",
                                              "version": "v2 \u00e9"}).status == 200


def test_a_panel_a_deposit_is_making_in_another_unicode_form_is_waited_for(demo_api_app,
                                                                           demo_db_url):
    """An operator's `ella-deposit genepanel` of `Åse` written on a Mac (decomposed) has not
    committed yet when a user creates `Åse` (composed): the request waits for the deposit
    and then refuses the name (it saw nothing to compare with and made a look-alike)."""
    sql(demo_db_url, "INSERT INTO usergroupimport SELECT 1, id FROM usergroup "
        "WHERE name = 'testgroup01'")
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    body = {**NEW_PANEL, "name": "\u00c5se", "usergroups": ["testgroup01"], "genes": [
        {"hgnc_id": 1101, "inheritance": "AD", "transcripts": [{"id": 2}]}]}
    results = []
    with psycopg.connect(demo_db_url) as deposit:
        # What `deposit_genepanel` holds until it commits: the panel names' lock, its row.
        deposit.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (PANEL_NAMES_LOCK,))
        deposit.execute("INSERT INTO genepanel (name, version, genome_reference, official, "
                        "date_created) VALUES ('A\u030ase', 'v01', 'GRCh37', true, now())")
        request = threading.Thread(target=lambda: results.append(
            client.post(f"{API}/genepanels/", body)))
        request.start()
        try:
            wait_for_lock_wait(demo_db_url)
        finally:
            deposit.commit()
            request.join()
            demo_api_app._drop_connection()
    assert results[0].status == 400, results[0].body
    assert "in another Unicode form" in results[0].json["message"]
    assert sql(demo_db_url, "SELECT count(*) FROM genepanel WHERE name = '\u00c5se'") == [(0,)]


def test_simultaneous_creates_of_one_panel_give_200_and_409(demo_api_app, demo_db_url):
    """Two requests for the same new panel at the same moment: one creates it, the other
    gets 409 (it was a 500 when both passed the existence check before either inserted)."""
    sql(demo_db_url, "INSERT INTO usergroupimport SELECT 1, id FROM usergroup "
        "WHERE name IN ('testgroup01', 'testgroup02')")
    clients = [logged_in_client(demo_api_app, demo_db_url, "testuser1") for _ in range(2)]
    rounds = 15
    barrier = threading.Barrier(2)
    results = [[], []]

    def create(index):
        try:
            for number in range(rounds):
                barrier.wait(timeout=30)
                result = clients[index].post(f"{API}/genepanels/",
                                             {**NEW_PANEL, "name": f"Race{number}"})
                results[index].append((result.status, result.json))
        finally:
            demo_api_app._drop_connection()  # this thread's connection

    threads = [threading.Thread(target=create, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for number, pair in enumerate(zip(*results)):
        assert sorted(status for status, _ in pair) == [200, 409], (number, pair)
        assert {"message": f"Gene panel Race{number} NewVersion already exists"} in \
            [body for _, body in pair]
    assert sql(demo_db_url, "SELECT count(*), count(DISTINCT genepanel_name) FROM "
               "usergroupgenepanel WHERE genepanel_name LIKE 'Race%%'") == [(2 * rounds, rounds)]


def test_a_panel_linked_twice_to_the_group_is_listed_once(demo_api_app, demo_db_url):
    """The link table has no unique key: an adopted database (or a manual insert) may hold a
    group's panel twice. ELLA lists it once; the join listed it twice (Total-Count too)."""
    sql(demo_db_url, "INSERT INTO usergroupgenepanel VALUES (1, 'HBOC', 'v01')")
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    listing = client.get(f"{API}/genepanels/")
    assert [(p["name"], p["version"]) for p in listing.json] == [("HBOC", "v01"),
                                                                ("HBOCUTV", "v01")]
    assert listing.header("Total-Count") == "2"
    current = client.get(f"{API}/users/currentuser/").json
    assert [(p["name"], p["version"]) for p in current["group"]["genepanels"]] == [
        ("HBOC", "v01"), ("HBOCUTV", "v01")]


def test_an_analysis_on_another_version_of_the_groups_panel_is_refused(demo_api_app,
                                                                      demo_db_url):
    """A group sees an analysis through its panel version only: one on a version of the same
    panel the group does not have is refused (a check by name alone let it through)."""
    sql(demo_db_url, "INSERT INTO genepanel (name, version, genome_reference, official, "
                     "date_created) SELECT genepanel_name, 'v99', 'GRCh37', true, now() "
                     "FROM analysis WHERE id = 2")
    sql(demo_db_url, "UPDATE analysis SET genepanel_version = 'v99' WHERE id = 2")
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    assert client.get(f"{API}/analyses/1/").status == 200
    assert client.get(f"{API}/analyses/2/").status == 403
    assert 2 not in ids(client.get(f"{API}/analyses/"))
