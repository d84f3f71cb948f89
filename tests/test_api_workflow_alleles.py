"""`GET workflows/analyses/<id>/interpretations/<iid>/alleles/` (api.md 4.9): segregation tags
with a filter config (3.4) and pagination headers without slicing (1.7)."""

import json

import psycopg
from psycopg.types.json import Jsonb

from api_helpers import add_user, logged_in_client
from filter_helpers import PANEL, World

HET, REF = "Heterozygous", "Reference"
SEGREGATION = {"name": "segregation", "config": {
    "no_coverage_parents": {"enable": False}, "denovo": {"enable": True},
    "parental_mosaicism": {"enable": False}, "compound_heterozygous": {"enable": False},
    "recessive_homozygous": {"enable": False}}}


def _new_round(conn, analysis_id):
    return conn.execute(
        "INSERT INTO analysisinterpretation (genepanel_name, genepanel_version, status, "
        "date_last_update, date_created, analysis_id, workflow_status, state, user_state) "
        "VALUES (%s, %s, 'Not started', now(), now(), %s, 'Interpretation', '{}', '{}') "
        "RETURNING id", PANEL + (analysis_id,)).fetchone()[0]


def _trio(db_url, ella_config):
    """A trio analysis with a de novo and an inherited variant, its round, and filter configs
    with and without a segregation filter linked to the user's group (+ one that is not)."""
    with psycopg.connect(db_url) as conn:
        w = World(conn, ella_config)
        w.transcript("NM_1.1", 1, chromosome="1", tx=(99000, 200000))
        fam = w.family(sex="Female")
        alleles = []
        for start, father in ((150000, REF), (150100, HET)):
            allele = w.allele("1", start)
            w.genotype(allele, fam["P"], data={fam["P"]: (HET, 0.5, 99),
                                               fam["F"]: (father, 0.5 if father == HET else 0.0,
                                                          99),
                                               fam["M"]: (REF, 0.0, 99)})
            alleles.append(allele)
        round_id = _new_round(conn, w.analysis_id)
        configs = {}
        for name, filters in (("Trio", [SEGREGATION]), ("Plain", [{"name": "callertype",
                                                                   "config": {"callerTypes":
                                                                              ["cnv"]}}]),
                              ("Other", [SEGREGATION])):
            configs[name] = conn.execute(
                "INSERT INTO filterconfig (name, filterconfig, active, requirements) "
                "VALUES (%s, %s, true, '[]') RETURNING id",
                (name, Jsonb({"filters": filters}))).fetchone()[0]
        analysis_id = w.analysis_id
    add_user(db_url, "segtester", "seggroup", panels=[PANEL])
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO usergroupfilterconfig (usergroup_id, filterconfig_id, "
                     '"order") SELECT u.id, f, 0 FROM usergroup u, unnest(%s::int[]) f '
                     "WHERE u.name = 'seggroup'", ([configs["Trio"], configs["Plain"]],))
    return analysis_id, round_id, alleles, configs


def test_segregation_tags_with_a_filter_config(api_app, db_url, ella_config):
    analysis_id, round_id, (denovo, inherited), configs = _trio(db_url, ella_config)
    client = logged_in_client(api_app, db_url, "segtester")
    url = f"/api/v1/workflows/analyses/{analysis_id}/interpretations/{round_id}/alleles/"

    def tags(filterconfig_id=None):
        query = {"allele_ids": f"{denovo},{inherited}", "current": "true"}
        if filterconfig_id is not None:
            query["filterconfig_id"] = filterconfig_id
        result = client.get(url, query=query)
        assert result.status == 200, result.body
        return {a["id"]: a["tags"] for a in result.json}

    with_tags = tags(configs["Trio"])
    assert "denovo" in with_tags[denovo] and "denovo" not in with_tags[inherited]
    assert "denovo" not in tags()[denovo]                      # no filter config
    assert "denovo" not in tags(configs["Plain"])[denovo]      # no segregation filter
    other = client.get(url, query={"allele_ids": str(denovo),
                                   "filterconfig_id": configs["Other"]})
    assert other.status == 403                                  # not the group's config


def test_pagination_headers_without_slicing(api_app, db_url, ella_config):
    analysis_id, round_id, alleles, _ = _trio(db_url, ella_config)
    client = logged_in_client(api_app, db_url, "segtester")
    result = client.get(f"/api/v1/workflows/analyses/{analysis_id}/interpretations/{round_id}/"
                        "alleles/", query={"allele_ids": ",".join(map(str, alleles)),
                                           "per_page": 1})
    assert result.status == 200
    assert [a["id"] for a in result.json] == sorted(alleles)
    assert result.header("Total-Count") == "2" and result.header("Per-Page") == "1"
    # Repeated ids: each variant once, but Total-Count is the number of ids requested
    # (api.md 4.9, as ELLA counts them).
    repeated = [alleles[0], alleles[0], alleles[1]]
    result = client.get(f"/api/v1/workflows/analyses/{analysis_id}/interpretations/{round_id}/"
                        "alleles/", query={"allele_ids": ",".join(map(str, repeated))})
    assert [a["id"] for a in result.json] == sorted(alleles)
    assert result.header("Total-Count") == "3"


def test_a_list_built_in_slices_equals_the_list_built_at_once(api_app, db_url, ella_config,
                                                              monkeypatch):
    """The round's variant list is built LIST_SLICE variants at a time (its shapes at once
    took hundreds of MB for an exome): the order over all variants, the segregation tags and
    p_denovo, and a nearby warning between variants of different slices are as one build's."""
    import ella.web.routes.alleles as allele_routes
    with psycopg.connect(db_url) as conn:
        w = World(conn, ella_config)
        w.transcript("NM_1.1", 1, chromosome="1", tx=(99000, 200000))
        fam = w.family(sex="Female")
        alleles = []
        # Two variants 1 bp apart fall into different slices of two.
        for start, father in ((150000, REF), (150100, HET), (150101, REF), (150300, HET),
                              (150500, REF)):
            allele = w.allele("1", start)
            w.genotype(allele, fam["P"], data={
                fam["P"]: (HET, 0.5, 99), fam["F"]: (father, 0.5 if father == HET else 0.0, 99),
                fam["M"]: (REF, 0.0, 99)})
            alleles.append(allele)
        round_id = _new_round(conn, w.analysis_id)
        trio = conn.execute(
            "INSERT INTO filterconfig (name, filterconfig, active, requirements) "
            "VALUES ('Trio', %s, true, '[]') RETURNING id",
            (Jsonb({"filters": [SEGREGATION]}),)).fetchone()[0]
        analysis_id = w.analysis_id
    add_user(db_url, "slicer", "slicegroup", panels=[PANEL])
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO usergroupfilterconfig (usergroup_id, filterconfig_id, "
                     '"order") SELECT id, %s, 0 FROM usergroup WHERE name = %s',
                     (trio, "slicegroup"))
    client = logged_in_client(api_app, db_url, "slicer")
    url = f"/api/v1/workflows/analyses/{analysis_id}/interpretations/{round_id}/alleles/"
    query = {"allele_ids": ",".join(map(str, reversed(alleles))), "filterconfig_id": str(trio)}
    whole = client.get(url, query=query)
    by_query = client.get("/api/v1/alleles/", query={"q": json.dumps({"id": alleles}),
                                                     "analysis_id": str(analysis_id)})
    monkeypatch.setattr(allele_routes, "LIST_SLICE", 2)
    sliced = client.get(url, query=query)
    # `alleles/?q=` too (18,000 ids asked at once held +363 MB of shapes).
    by_query_sliced = client.get("/api/v1/alleles/", query={"q": json.dumps({"id": alleles}),
                                                            "analysis_id": str(analysis_id)})
    assert by_query.status == by_query_sliced.status == 200, by_query.body
    assert by_query_sliced.body == by_query.body and len(by_query.json) == 5
    assert by_query_sliced.header("Total-Count") == "5"
    assert whole.status == sliced.status == 200
    assert sliced.body == whole.body
    shown = sliced.json
    assert [a["id"] for a in shown] == alleles  # by position, not as asked
    assert [("denovo" in a["tags"]) for a in shown] == [True, False, True, False, True]
    assert [("nearby_allele" in a.get("warnings", {})) for a in shown] == [
        False, True, True, False, False]
    assert sliced.header("Total-Count") == "5"
