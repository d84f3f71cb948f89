"""Route behaviours of assessments, work logs, gene panels, analyses and users pinned down
against api.md and README.md, on real PostgreSQL databases through the WSGI app."""

from api_helpers import add_user, logged_in_client
from test_api_genepanels_analyses import sql
from workflow_helpers import analysis_alleles, new_round, setup_analysis

API = "/api/v1"


# --- assessments ---------------------------------------------------------------------------

def test_total_count_of_an_assessment_list_counts_the_filtered_items(demo_api_app,
                                                                     demo_db_url):
    """api.md 1.7: `Total-Count` is the total number of items after filtering (q), and
    `Total-Pages` follows from it."""
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    expected = sql(demo_db_url, "SELECT count(*) FROM alleleassessment "
                   "WHERE classification = 'NP'")[0][0]
    everything = sql(demo_db_url, "SELECT count(*) FROM alleleassessment")[0][0]
    assert 0 < expected < everything
    result = client.get(f"{API}/alleleassessments/",
                        query={"q": {"classification": "NP"}, "per_page": 1})
    assert result.status == 200 and len(result.json) == 1
    assert result.header("Total-Count") == str(expected)
    assert result.header("Total-Pages") == str(expected)
    none = client.get(f"{API}/allelereports/", query={"q": {"allele_id": [999999]}})
    assert none.json == [] and none.header("Total-Count") == "0"


def test_a_reference_assessment_needs_a_panel_of_the_callers_group(demo_api_app, demo_db_url):
    """README (deliberate access differences): the gene/reference assessment POSTs check the
    panel; a panel outside the caller's group is 403 (also without an analysis), an unknown
    panel 404, and nothing is written."""
    allele_id = sql(demo_db_url, "SELECT min(id) FROM allele")[0][0]
    reference_id = sql(demo_db_url, "INSERT INTO reference (authors, title, journal, year, "
                       "pubmed_id, published) VALUES ('A B', 'T', 'J', '2001', 987654321, "
                       "true) RETURNING id")[0][0]
    body = {"allele_id": allele_id, "reference_id": reference_id,
            "evaluation": {"relevance": "Yes"},
            "genepanel_name": "HBOC", "genepanel_version": "v01"}
    other = logged_in_client(demo_api_app, demo_db_url, "testuser4")
    refused = other.post(f"{API}/referenceassessments/", body)
    assert refused.status == 403, refused.body
    unknown = other.post(f"{API}/referenceassessments/", {**body, "genepanel_version": "v99"})
    assert unknown.status == 404, unknown.body
    assert sql(demo_db_url, "SELECT count(*) FROM referenceassessment WHERE reference_id = %s",
               (reference_id,)) == [(0,)]
    own = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    assert own.post(f"{API}/referenceassessments/", body).status == 200


# --- gene panels -----------------------------------------------------------------------------

def _genes(url, count):
    """[(hgnc_id, transcript id)] of `count` genes, one transcript each."""
    return sql(url, "SELECT DISTINCT ON (gene_id) gene_id, id FROM transcript "
               "ORDER BY gene_id, id LIMIT %s", (count,))


def _panel(url, name, version, genes, official=True, age_days=0):
    sql(url, "INSERT INTO genepanel (name, version, genome_reference, official, date_created) "
        "VALUES (%s, %s, 'GRCh37', %s, now() - make_interval(days => %s))",
        (name, version, official, age_days))
    for _, transcript_id in genes:
        sql(url, "INSERT INTO genepanel_transcript (genepanel_name, genepanel_version, "
            "transcript_id, inheritance) VALUES (%s, %s, %s, 'AD')",
            (name, version, transcript_id))
    return (name, version)


def _stats_group(app, url):
    """A group whose panels are only these (input panel StatsIn v1 of genes g0-g3):
    StatsA v1 = g0-g23 (all 4 shared, 20 more), StatsB v1 = g0-g1 (the latest StatsB; the
    older StatsB v9 = g0), StatsC1-C5 v1 = g0 + g24+n, StatsN v1 = g30 (shares nothing),
    StatsU v1 = g0-g3 not official."""
    g = _genes(url, 31)
    panels = [
        _panel(url, "StatsIn", "v1", g[0:4]),
        _panel(url, "StatsA", "v1", g[0:24]),
        _panel(url, "StatsB", "v1", g[0:2], age_days=1),
        _panel(url, "StatsB", "v9", g[0:1], age_days=30),
        _panel(url, "StatsN", "v1", g[30:31]),
        _panel(url, "StatsU", "v1", g[0:4], official=False),
    ] + [_panel(url, f"StatsC{n}", "v1", [g[0], g[24 + n]]) for n in range(1, 6)]
    add_user(url, "statsuser", "statsgroup", panels)
    return logged_in_client(app, url, "statsuser")


def test_panel_stats_compare_latest_official_overlapping_panels_by_score(demo_api_app,
                                                                         demo_db_url):
    """api.md 4.12 stats: compared with the latest version (by creation) of each official
    panel of the group, only panels sharing >= 1 gene, ordered by
    2*overlap/input_count + input_count/(missing+addition+1) descending, at most 5."""
    client = _stats_group(demo_api_app, demo_db_url)
    result = client.get(f"{API}/genepanels/StatsIn/v1/stats/")
    assert result.status == 200, result.body
    # StatsB: 2*2/4 + 4/(2+0+1) = 2.33; StatsA: 2*4/4 + 4/(0+20+1) = 2.19;
    # each StatsC: 2*1/4 + 4/(3+1+1) = 1.3 (equal scores: by name).
    assert result.json == {"overlap": [
        {"name": "StatsB", "version": "v1", "addition_cnt": 0, "overlap_cnt": 2,
         "missing_cnt": 2},
        {"name": "StatsA", "version": "v1", "addition_cnt": 20, "overlap_cnt": 4,
         "missing_cnt": 0},
        {"name": "StatsC1", "version": "v1", "addition_cnt": 1, "overlap_cnt": 1,
         "missing_cnt": 3},
        {"name": "StatsC2", "version": "v1", "addition_cnt": 1, "overlap_cnt": 1,
         "missing_cnt": 3},
        {"name": "StatsC3", "version": "v1", "addition_cnt": 1, "overlap_cnt": 1,
         "missing_cnt": 3}]}
    # A panel sharing no gene with any other has no similar panels.
    alone = client.get(f"{API}/genepanels/StatsN/v1/stats/")
    assert alone.status == 200 and alone.json == {"overlap": []}


def test_genepanel_list_is_ordered_by_name_then_version(demo_api_app, demo_db_url):
    """api.md 2.5 / 1.7: `GET genepanels/` lists the group's official panels ordered by
    name, version (two versions of one name included)."""
    client = _stats_group(demo_api_app, demo_db_url)
    listing = client.get(f"{API}/genepanels/")
    assert listing.status == 200
    assert [(p["name"], p["version"]) for p in listing.json] == [
        ("StatsA", "v1"), ("StatsB", "v1"), ("StatsB", "v9"), ("StatsC1", "v1"),
        ("StatsC2", "v1"), ("StatsC3", "v1"), ("StatsC4", "v1"), ("StatsC5", "v1"),
        ("StatsIn", "v1"), ("StatsN", "v1")]


def test_a_created_panels_inheritance_is_stored_without_surrounding_blanks(demo_api_app,
                                                                         demo_db_url):
    """README (POST genepanels/ row): an inheritance is stripped of surrounding blanks, as a
    panel file's cell (the filters compare it exactly)."""
    sql(demo_db_url, "INSERT INTO usergroupimport SELECT 1, id FROM usergroup "
        "WHERE name = 'testgroup01'")
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    body = {"name": "BlankPanel", "version": "v1", "usergroups": ["testgroup01"],
            "genes": [{"hgnc_id": 1101, "inheritance": " AD ", "transcripts": [{"id": 2}]}]}
    created = client.post(f"{API}/genepanels/", body)
    assert created.status == 200, created.body
    assert sql(demo_db_url, "SELECT inheritance FROM genepanel_transcript "
               "WHERE genepanel_name = 'BlankPanel'") == [("AD",)]
    shown = client.get(f"{API}/genepanels/BlankPanel/v1/").json["genes"]
    assert [g["inheritance"] for g in shown] == ["AD"]


# --- analyses --------------------------------------------------------------------------------

def test_analyses_of_a_variant_include_those_holding_it_as_second_allele(demo_api_app,
                                                                        demo_db_url):
    """api.md 2.3 `alleles/<id>/analyses/`: the analyses containing the variant, also as a
    genotype's second allele (multi-allelic site)."""
    in_two = {r[0] for r in sql(demo_db_url, "SELECT g.allele_id FROM genotype g JOIN sample s "
                                "ON s.id = g.sample_id WHERE s.analysis_id = 2")}
    allele_id = sql(demo_db_url, "SELECT min(id) FROM allele WHERE NOT id = ANY(%s)",
                    (sorted(in_two),))[0][0]
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    before = [a["id"] for a in client.get(f"{API}/alleles/{allele_id}/analyses/").json]
    assert 2 not in before
    sql(demo_db_url, "UPDATE genotype SET secondallele_id = %s WHERE id = (SELECT min(g.id) "
        "FROM genotype g JOIN sample s ON s.id = g.sample_id WHERE s.analysis_id = 2 "
        "AND g.secondallele_id IS NULL)", (allele_id,))
    after = client.get(f"{API}/alleles/{allele_id}/analyses/")
    assert after.status == 200
    assert [a["id"] for a in after.json] == sorted(set(before) | {2})


def test_an_analysis_lists_its_interpretation_rounds_by_id(demo_api_app, demo_db_url):
    """api.md 3.2: an Analysis' `interpretations` are ordered by id (oldest round first)."""
    new_round(demo_db_url, 2)
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    rounds = client.get(f"{API}/analyses/2/").json["interpretations"]
    assert len(rounds) == 2
    assert [r["id"] for r in rounds] == sorted(r["id"] for r in rounds)
    assert [r["status"] for r in rounds] == ["Done", "Not started"]
    listed = [a for a in client.get(f"{API}/analyses/").json if a["id"] == 2]
    assert [r["status"] for r in listed[0]["interpretations"]] == ["Done", "Not started"]


# --- users -----------------------------------------------------------------------------------

def test_an_inactive_user_of_the_group_is_still_shown(demo_api_app, demo_db_url):
    """api.md 3.1 UserFull (`users/`, `users/<id>/`) carries `active`: a deactivated user of
    the caller's group is shown, with `active` false, not hidden as unknown."""
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    user_id = sql(demo_db_url, "UPDATE \"user\" SET active = false WHERE username = "
                  "'testuser2' RETURNING id")[0][0]
    one = client.get(f"{API}/users/{user_id}/")
    assert one.status == 200, one.body
    assert one.json["username"] == "testuser2" and one.json["active"] is False
    listed = [u for u in client.get(f"{API}/users/").json if u["id"] == user_id]
    assert len(listed) == 1 and listed[0]["active"] is False


# --- work logs -------------------------------------------------------------------------------

def test_an_own_note_is_not_editable_once_another_group_has_the_round(api_app, db_url,
                                                                       ella_config):
    """README (deliberate access differences): log entries of a variant round whose panel is
    outside the caller's group cannot be changed (403); the log shows them as not `editable`
    (api.md 4.18), as the edit and delete routes would refuse them."""
    c1, _, analyses, _ = setup_analysis(api_app, db_url, ella_config)
    add_user(db_url, "outsider", "othergroup", [("HBOC", "v01")])
    outsider = logged_in_client(api_app, db_url, "outsider")
    allele_id = analysis_alleles(db_url, analyses[0])[0][0]
    sql(db_url, "INSERT INTO alleleinterpretation (allele_id, genepanel_name, "
        "genepanel_version, status, workflow_status, date_last_update, date_created) "
        "VALUES (%s, 'HBOC', 'v01', 'Not started', 'Interpretation', now(), now())",
        (allele_id,))
    url = f"{API}/workflows/alleles/{allele_id}/logs/"
    assert outsider.post(url, {"message": "outsider's note"}).status == 200
    assert outsider.get(url).json["logs"][-1]["editable"] is True
    started = c1.post(f"{API}/workflows/alleles/{allele_id}/actions/start/",
                      {"gp_name": "HBOC", "gp_version": "v1.0.0"})
    assert started.status == 200, started.body
    logs = outsider.get(url)
    assert logs.status == 200
    entry = logs.json["logs"][-1]
    assert entry["message"] == "outsider's note" and entry["editable"] is False
    assert outsider.request("PATCH", f"{url}{entry['id']}/", {"message": "x"}).status == 403


def test_a_log_edit_without_a_message_string_is_refused_and_changes_nothing(api_app, db_url,
                                                                          ella_config):
    """api.md 4.18: `PATCH logs/<log_id>/` takes the body `{message: str}`; a body without
    it, or with a null one, is a 400 and the entry keeps its message (and stays editable)."""
    c1, _, analyses, _ = setup_analysis(api_app, db_url, ella_config)
    url = f"{API}/workflows/analyses/{analyses[0]}/logs/"
    assert c1.post(url, {"message": "called the lab"}).status == 200
    entry = c1.get(url).json["logs"][-1]
    for body in ({}, {"message": None}, {"message": 5}):
        refused = c1.request("PATCH", f"{url}{entry['id']}/", body)
        assert refused.status == 400, (body, refused.body)
    after = c1.get(url).json["logs"][-1]
    assert after["message"] == "called the lab" and after["editable"] is True


def test_a_group_named_twice_in_a_new_panel_is_granted_once(demo_api_app, demo_db_url):
    """api.md 4.21: the panel is granted to the named groups; a group named twice (as a
    hand-made body may) is granted once, not a server error."""
    sql(demo_db_url, "INSERT INTO usergroupimport SELECT 1, id FROM usergroup "
        "WHERE name = 'testgroup01'")
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    body = {"name": "TwicePanel", "version": "v1", "usergroups": ["testgroup01"] * 2,
            "genes": [{"hgnc_id": 1101, "inheritance": "AD", "transcripts": [{"id": 2}]}]}
    created = client.post(f"{API}/genepanels/", body)
    assert created.status == 200, created.body
    assert sql(demo_db_url, "SELECT g.name FROM usergroupgenepanel u JOIN usergroup g "
               "ON g.id = u.usergroup_id WHERE u.genepanel_name = 'TwicePanel'") == \
        [("testgroup01",)]
