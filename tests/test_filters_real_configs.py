"""The real filter configs (tests/data/filterconfigs.json, ella-admin's set) on the real
imported test analyses (TestAnalysis-001, a trio; brca_sample_2, one sample): filtering.md
1.3-1.5 through `ella.filters.chain` and the API route."""

import json

import psycopg
import pytest

from api_helpers import add_user, logged_in_client
from deposit_helpers import BRCA_VCF, DATA, TEST_ANALYSIS_001, add_test_panels, deposit
from ella.deposit.filterconfigs import deposit_filterconfigs
from ella.filters.chain import (analysis_facts, analysis_filterconfigs, filter_analysis,
                                requirements_hold)

GROUPS = ("testgroup01", "testgroup02", "testgroup03")
PANELS = (("HBOC", "v1.0.0"), ("HBOC", "v01"))
# Which configs of the real set each analysis meets (1.4), and each group's offer (1.5).
EXPECTED_MATCHES = {"TestAnalysis-001": {"Default", "SingleDefault", "TrioDefault"},
                    "brca_sample_2.HBOC_v01": {"Default"}}
EXPECTED_OFFER = {
    ("TestAnalysis-001", "testgroup01"): ["Default"],
    ("TestAnalysis-001", "testgroup02"): ["TrioDefault", "SingleDefault"],
    ("TestAnalysis-001", "testgroup03"): ["Default", "TrioDefault", "SingleDefault"],
    ("brca_sample_2.HBOC_v01", "testgroup01"): ["Default"],
    ("brca_sample_2.HBOC_v01", "testgroup02"): [],
    ("brca_sample_2.HBOC_v01", "testgroup03"): ["Default"],
}


@pytest.fixture(scope="module")
def real_db(pg_server, template_db, ella_config):
    """One database (shared by the module; the tests only read) with the HBOC test panels,
    both real analyses, the three groups (with the panels) and the real filter configs."""
    name = pg_server.fresh_name("realfc")
    url = pg_server.create(name, template=template_db)
    add_test_panels(url)
    deposit(url, ella_config, TEST_ANALYSIS_001)
    deposit(url, ella_config, BRCA_VCF)
    with psycopg.connect(url) as conn:
        for group in GROUPS:
            group_id = conn.execute("INSERT INTO usergroup (name, config) VALUES (%s, '{}') "
                                    "RETURNING id", (group,)).fetchone()[0]
            for panel in PANELS:
                conn.execute("INSERT INTO usergroupgenepanel VALUES (%s, %s, %s)",
                             (group_id,) + panel)
        conn.commit()
        deposit_filterconfigs(conn, ella_config,
                              json.loads((DATA / "filterconfigs.json").read_text()))
    yield url
    pg_server.drop(name)


def _analyses(conn):
    return dict(conn.execute("SELECT name, id FROM analysis").fetchall())


def _configs(conn):
    return {name: (fc_id, filterconfig, requirements) for fc_id, name, filterconfig, requirements
            in conn.execute("SELECT id, name, filterconfig, requirements FROM filterconfig "
                            "WHERE active")}


def _all_alleles(conn, analysis_id):
    return {r[0] for r in conn.execute(
        "SELECT g.allele_id FROM genotype g JOIN sample s ON s.id = g.sample_id "
        "WHERE s.analysis_id = %(a)s UNION SELECT g.secondallele_id FROM genotype g "
        "JOIN sample s ON s.id = g.sample_id WHERE s.analysis_id = %(a)s "
        "AND g.secondallele_id IS NOT NULL", {"a": analysis_id})}


def _assert_partition(result, alleles, filterconfig):
    names = [f["name"] for f in filterconfig["filters"]]
    assert list(result["excluded_allele_ids"]) == list(dict.fromkeys(names))
    lists = [result["allele_ids"]] + list(result["excluded_allele_ids"].values())
    flat = [i for ids in lists for i in ids]
    # Every allele of the analysis lands in exactly one list.
    assert sorted(flat) == sorted(alleles)
    assert all(ids == sorted(ids) for ids in lists)


def test_facts_of_the_real_analyses(real_db):
    with psycopg.connect(real_db) as conn:
        analyses = _analyses(conn)
        trio = analysis_facts(conn, analyses["TestAnalysis-001"])
        single = analysis_facts(conn, analyses["brca_sample_2.HBOC_v01"])
    assert (trio["is_trio"], trio["is_family"], trio["is_single"]) == (True, True, False)
    assert (single["is_trio"], single["is_family"], single["is_single"]) == (False, False, True)


@pytest.mark.parametrize("analysis_name", sorted(EXPECTED_MATCHES))
def test_every_matching_real_config_partitions_the_analysis(real_db, ella_config,
                                                            analysis_name):
    with psycopg.connect(real_db) as conn:
        analysis_id = _analyses(conn)[analysis_name]
        facts = analysis_facts(conn, analysis_id)
        configs = _configs(conn)
        matching = {n for n, (_, _, req) in configs.items() if requirements_hold(req, facts)}
        assert matching == EXPECTED_MATCHES[analysis_name]
        alleles = _all_alleles(conn, analysis_id)
        assert len(alleles) == 6
        for name in sorted(matching):
            fc_id, filterconfig, _ = configs[name]
            result = filter_analysis(conn, ella_config, analysis_id, fc_id)
            _assert_partition(result, alleles, filterconfig)


@pytest.mark.parametrize("analysis_name, group", sorted(EXPECTED_OFFER))
def test_group_offer_in_order(real_db, analysis_name, group):
    with psycopg.connect(real_db) as conn:
        analysis_id = _analyses(conn)[analysis_name]
        group_id = conn.execute("SELECT id FROM usergroup WHERE name = %s",
                                (group,)).fetchone()[0]
        offered = [c["name"] for c in analysis_filterconfigs(conn, group_id, analysis_id)]
    assert offered == EXPECTED_OFFER[(analysis_name, group)]


def test_api_route_on_the_real_trio(real_db, ella_config):
    from ella.web.app import create_app
    add_user(real_db, "realfcuser", "testgroup02")
    app = create_app(ella_config, {"DB_URL": real_db, "COOKIE_SECURE": False})
    try:
        client = logged_in_client(app, real_db, "realfcuser")
        with psycopg.connect(real_db) as conn:
            analysis_id = _analyses(conn)["TestAnalysis-001"]
            alleles = _all_alleles(conn, analysis_id)
            configs = _configs(conn)
            single = _analyses(conn)["brca_sample_2.HBOC_v01"]
        listed = client.get(f"/api/v1/workflows/analyses/{analysis_id}/filterconfigs/")
        assert listed.status == 200, listed.body
        assert [c["name"] for c in listed.json] == ["TrioDefault", "SingleDefault"]
        fc_id, filterconfig, _ = configs["TrioDefault"]
        run = client.get(f"/api/v1/workflows/analyses/{analysis_id}/filteredalleles/",
                         query=f"filterconfig_id={fc_id}")
        assert run.status == 200, run.body
        by_type = run.json["excluded_alleles_by_caller_type"]
        names = list(dict.fromkeys(f["name"] for f in filterconfig["filters"]))
        assert list(by_type["snv"]) == names and list(by_type["cnv"]) == names
        merged = {n: sorted(by_type["snv"][n] + by_type["cnv"][n]) for n in names}
        _assert_partition({"allele_ids": run.json["allele_ids"], "excluded_allele_ids": merged},
                          alleles, filterconfig)
        with psycopg.connect(real_db) as conn:
            direct = filter_analysis(conn, ella_config, analysis_id, fc_id)
        assert direct == {"allele_ids": run.json["allele_ids"], "excluded_allele_ids": merged}
        none = client.get(f"/api/v1/workflows/analyses/{single}/filterconfigs/")
        assert none.status == 404
    finally:
        app._drop_connection()
