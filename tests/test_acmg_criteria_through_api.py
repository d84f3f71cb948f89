"""acmg.md section 5 (acceptance criteria) where tests/test_acmg_rules.py and
tests/test_acmg_classification.py assert a criterion only on the engine: 18 at any depth, 22
with its exact not-passed list, and 31-43 through the HTTP API on the real ELLA database
(POST acmg/alleles/ reads the panel's inheritance, the shadow frequencies and a custom
annotation itself; the engine tests hand it a built data document)."""

import copy
import json

import psycopg
import pytest
from psycopg.types.json import Jsonb

from api_helpers import logged_in_client
from ella.acmg.rules import apply_rules, parse_rules
from test_acmg_api import ACMG as API_ACMG, annotated_snv
from test_acmg_rules import SAMPLE_RULES

ACMG_ALLELES = "/api/v1/acmg/alleles/"


def run(rules, doc):
    passed, notpassed = apply_rules(parse_rules(json.loads(json.dumps(rules))),
                                    json.loads(json.dumps(doc)))
    return [r.code for r in passed], [r.code for r in notpassed], passed


# -- 18 at depth -------------------------------------------------------------------------------

def test_c18_nesting_to_any_depth():
    expr = {"$in": ["A"]}
    for level in range(60):
        expr = {"$and" if level % 2 else "$or": [expr]}
    rules = [{"code": "A", "rule": {"s": "1"}}, {"code": "D", "rule": {"$$aggregate": expr}}]
    passed, _, objs = run(rules, {"s": "1"})
    assert passed == ["A", "D"]
    leaves = objs[1].query(["A"])
    assert [r.value for r in leaves] == [["A"]]
    # source-level: leaves keep the inherited source at any depth
    deep = {"s": {"$in": ["1"]}}
    for level in range(30):
        deep = {"$or": [deep, {"t": "2"}]}
    parsed = parse_rules([{"code": "X", "rule": deep}])["X"][0]
    leaves = parsed.query("1")
    assert [r.source for r in leaves] == ["s"]


# -- 22 with the criterion's exact lists --------------------------------------------------------

SAMPLE_DATA = {"transcript": {"Consequence": ["synonymous_variant"]}, "freq": 0.005,
               "score": 3, "genepanel": {"inheritance": "AD"},
               "refassessment": {"1_2": {"ref_segregation": "segr"},
                                 "1_3": {"ref_other": "segr"}}}


def test_c22_exact_passed_and_not_passed_lists():
    passed, notpassed, objs = run(SAMPLE_RULES, SAMPLE_DATA)
    assert passed == ["BP1", "BP1", "rBP7-1", "rBP7-4", "BP8", "PP8", "GP1", "PP10", "PP11",
                      "PP11.2", "PP11.2.1", "PP13"]
    assert notpassed == ["BP2", "rBP7-2", "rBP7-3", "BP7", "PP7", "PP9", "PP11.1", "PP11.3",
                         "PP12", "PP14"]
    assert objs[0].source == "transcript.Consequence"   # 23
    assert {o.code: o.source for o in objs}["PP10"] == "refassessment.1_2.ref_segregation"


# -- 40-43 through the API on the real ELLA database ---------------------------------------------

ACMG = {**copy.deepcopy(API_ACMG), "genes": {}}   # acmg.md 3.1 defaults, no gene override


def _set_group_acmg(conn, acmg):
    conn.execute("UPDATE usergroup SET config = config || %s WHERE name = 'testgroup01'",
                 (Jsonb({"acmg": acmg}),))


def _new_allele(conn, transcripts, frequencies=None):
    return annotated_snv(conn, {"transcripts": transcripts, "frequencies": frequencies or {}},
                         chromosome="13")


def _tx(name, consequences, in_last_exon="no", hgnc_id=1101, symbol="BRCA2"):
    return {"transcript": name, "hgnc_id": hgnc_id, "symbol": symbol, "strand": -1,
            "consequences": consequences, "in_last_exon": in_last_exon, "is_canonical": True}


@pytest.fixture
def demo(demo_api_app, demo_db_url):
    client = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    conn = psycopg.connect(demo_db_url, autocommit=True)
    yield client, conn
    conn.close()


def _codes(client, allele_id, refs=()):
    result = client.post(ACMG_ALLELES, {"allele_ids": [allele_id], "gp_name": "HBOCUTV",
                                        "gp_version": "v01", "referenceassessments": list(refs)})
    assert result.status == 200, result.body
    return [c["code"] for c in result.json[str(allele_id)]["codes"]]


def _make_brca2_ad(conn):
    conn.execute("UPDATE genepanel_transcript gt SET inheritance = 'AD' FROM transcript t "
                 "WHERE t.id = gt.transcript_id AND t.gene_id = 1101 "
                 "AND gt.genepanel_name = 'HBOCUTV'")


def test_c40_mmr_loss_and_ihc_hq_give_ps3_and_bs3_over_http(demo):
    client, conn = demo
    _set_group_acmg(conn, ACMG)
    refs = [{"allele_id": 6, "reference_id": 1, "evaluation": {"ref_ihc": "mmr_loss"}},
            {"allele_id": 6, "reference_id": 2, "evaluation": {"ref_ihc_quality": "ihc_HQ"}}]
    codes = _codes(client, 6, refs)
    assert "REQ_MMR_loss" in codes and "REQ_IHC_HQ" in codes
    assert "PS3" in codes and "BS3" in codes, codes
    # the same evaluation in one reference too
    one = [{"allele_id": 6, "reference_id": 1,
            "evaluation": {"ref_ihc": "mmr_loss", "ref_ihc_quality": "ihc_HQ"}}]
    codes = _codes(client, 6, one)
    assert "PS3" in codes and "BS3" in codes, codes


C41 = ["REQ_GP_AD", "REQ_GP_last_exon_important", "REQ_GP_LOF_missense", "REQ_no_aa_change",
       "REQ_not_in_last_exon", "REQ_no_freq", "PPxPM2"]


def test_c41_c42_synonymous_null_freq_and_manual_no_splice_effect_over_http(demo):
    client, conn = demo
    _set_group_acmg(conn, ACMG)
    _make_brca2_ad(conn)
    allele_id = _new_allele(conn, [_tx("NM_000059.3", ["synonymous_variant"]),
                                   _tx("ENST00000380152", ["synonymous_variant"])])
    assert _codes(client, allele_id) == C41
    result = client.post("/api/v1/customannotations/", {
        "allele_id": allele_id, "annotations": {"prediction": {"splice_Effect_manual":
                                                               "no_effect"}}})
    assert result.status == 200, result.body
    assert _codes(client, allele_id) == [
        "REQ_GP_AD", "REQ_GP_last_exon_important", "REQ_GP_LOF_missense", "REQ_no_aa_change",
        "REQ_no_splice_effect", "REQ_not_in_last_exon", "REQ_no_freq", "PPxPM2", "BP4", "BP7"]


def test_c43_stop_gained_last_exon_leni_and_no_single_transcript_over_http(demo):
    client, conn = demo
    _set_group_acmg(conn, ACMG)
    _make_brca2_ad(conn)
    not_last = _new_allele(conn, [_tx("NM_000059.3", ["stop_gained"])])
    assert _codes(client, not_last) == [
        "REQ_GP_AD", "REQ_GP_last_exon_important", "REQ_GP_LOF_missense",
        "REQ_not_in_last_exon", "REQ_null_variant", "REQ_no_freq", "PVS1", "PPxPM2"]
    last = _new_allele(conn, [_tx("NM_000059.3", ["stop_gained"], "yes")])
    assert "PVS1" in _codes(client, last)
    _set_group_acmg(conn, {**ACMG, "last_exon_important": "LENI"})
    codes = _codes(client, last)
    assert "REQ_GP_last_exon_not_important" in codes and "REQ_in_last_exon" in codes
    assert "PVS1" not in codes, codes
    # the gene override route to LENI (acmg.md 3.2 step 4) has the same effect
    _set_group_acmg(conn, {**ACMG, "genes": {"1101": {"last_exon_important": "LENI"}}})
    assert "PVS1" not in _codes(client, last)

    _set_group_acmg(conn, ACMG)
    common = {"GNOMAD_EXOMES": {"freq": {"G": 0.4}, "num": {"G": 240000}}}
    # no panel transcript at all
    none = _new_allele(conn, [_tx("NM_999999.1", ["stop_gained"], hgnc_id=999,
                                  symbol="X")], common)
    assert _codes(client, none) == ["REQ_GP_last_exon_important", "REQ_GP_LOF_missense",
                                    "REQ_hi_freq", "BA1"]
    # two panel transcripts (BRCA2's and PALB2's; two versions of one accession count once,
    # filtering.md 2.9)
    two = _new_allele(conn, [_tx("NM_000059.3", ["stop_gained"]),
                             _tx("NM_024675.3", ["stop_gained"], hgnc_id=26144,
                                 symbol="PALB2")], common)
    assert _codes(client, two) == ["REQ_GP_last_exon_important", "REQ_GP_LOF_missense",
                                   "REQ_hi_freq", "BA1"]


def test_c38_c39_resolver_over_http(demo):
    """38: a non-AD gene (the real panel's `AD/AR`) without override gets thresholds.default
    and the top-level settings, no inheritance; 39: an override replaces the cutoffs and
    disease_mode / last_exon_important / inheritance."""
    client, conn = demo
    freq = {"GNOMAD_EXOMES": {"freq": {"G": 0.003}, "num": {"G": 240000}}}
    allele_id = _new_allele(conn, [_tx("NM_000059.3", ["missense_variant"])], freq)
    _set_group_acmg(conn, ACMG)
    # 38: AD/AR -> default thresholds (ext hi 0.01, lo 1.0): low_freq; no REQ_GP_AD/AR
    assert _codes(client, allele_id) == ["REQ_GP_last_exon_important", "REQ_GP_LOF_missense",
                                         "REQ_missense", "REQ_not_in_last_exon"]
    _make_brca2_ad(conn)
    # AD-only -> AD thresholds (0.001 <= 0.003 < 0.005): less_common, BS1
    assert _codes(client, allele_id) == [
        "REQ_GP_AD", "REQ_GP_last_exon_important", "REQ_GP_LOF_missense", "REQ_less_common",
        "REQ_missense", "REQ_not_in_last_exon", "BS1"]
    # 39: override thresholds (lo 0.004: low_freq) and settings
    override = {"frequency": {"thresholds": {
        "external": {"hi_freq_cutoff": 0.5, "lo_freq_cutoff": 0.004},
        "internal": {"hi_freq_cutoff": 0.5, "lo_freq_cutoff": 0.004}}},
        "disease_mode": "LOF", "last_exon_important": "LENI", "inheritance": "AR"}
    _set_group_acmg(conn, {**ACMG, "genes": {"1101": override}})
    assert _codes(client, allele_id) == [
        "REQ_GP_AR", "REQ_GP_last_exon_not_important", "REQ_GP_LOF_only", "REQ_missense",
        "REQ_not_in_last_exon", "BP1"]


@pytest.mark.parametrize("codes,klass,contributors", [
    ("PVS1,PS2,BA1", 3, ["PVS1", "PS2", "BA1"]),
    ("BS1,BP6,PP6,BP7", 3, ["PP6", "BS1", "BP6", "BP7"]),
    ("PMxPP1,PM1,PP1,PP2,PPxPS1", 4, ["PM1", "PMxPP1", "PP1", "PP2", "PPxPS1"]),
    ("PSxPM1,PS1,PM1", 5, ["PS1", "PSxPM1"]),
    ("BSxBP1,BP1,BS1", 1, ["BS1", "BSxBP1"]),
    ("PM1,PP1,PP2,PP3,PPxPM1", 3, []),
    ("BS2,PVS1,BS4,PVSX1", 3, ["PVS1", "PVSX1", "BS2", "BS4"]),
    ("PVSX1,PP6", 4, ["PVSX1", "PP6"]),
])
def test_c31_c35_classifications_over_http(demo_api_app, codes, klass, contributors):
    from api_client import Client
    result = Client(demo_api_app).get("/api/v1/acmg/classifications/", query={"codes": codes})
    assert result.status == 200, result.body
    assert (result.json["class"], result.json["contributors"]) == (klass, contributors)
