"""acmg.md 5: the acceptance criteria the other ACMG tests assert only in part: 36 with a
reduction written here rather than the implementation's `normalize`; 38/39 with the gene
inheritance read from a gene panel in PostgreSQL."""

import copy
import random

import psycopg

from ella.acmg.acmgconfig import panel_inheritance, resolve_gene
from ella.acmg.classification import classify
from ella.deposit.genepanel import deposit_genepanel, folder_files, read_panel_files
from helpers import ROOT
from test_acmg_api import ACMG as API_ACMG

# -- 36 with an independent reduction ----------------------------------------------------------

P_LADDER = ["PVS", "PS", "PM", "PP"]
B_LADDER = ["BA", "BS", "BP"]
P_BASES = ["PVS1", "PS1", "PS2", "PS3", "PS4", "PM1", "PM2", "PM3", "PM4", "PM5", "PM6", "PP1",
           "PP2", "PP3", "PP4", "PP5"]
B_BASES = ["BA1", "BS1", "BS2", "BS3", "BS4", "BP1", "BP2", "BP3", "BP4", "BP5", "BP6", "BP7"]


def _split(code):
    """(strength, base) of `code`, worked out here from the code grammar (acmg.md 1.1)."""
    if "x" in code:
        strength, base = code.split("x", 1)
        return strength, base
    strength = code.rstrip("0123456789")
    return strength, code


def _rank(strength):
    return (P_LADDER + B_LADDER).index(strength) if strength in P_LADDER + B_LADDER else 99


def strongest_per_base(codes):
    best = {}
    for code in codes:
        strength, base = _split(code)
        if base not in best or _rank(strength) < _rank(_split(best[base])[0]):
            best[base] = code
    return list(best.values())


def _random_code(rng):
    base = rng.choice(P_BASES + B_BASES)
    ladder = P_LADDER if base.startswith("P") else B_LADDER
    strength = rng.choice(ladder)
    return base if base.startswith(strength) and base[len(strength)].isdigit() \
        else f"{strength}x{base}"


def test_36_class_equals_class_of_strongest_code_per_base():
    """36: for any set of (possibly strength-modified) codes the class equals the class of the
    list reduced to the strongest code per base criterion (reduction written here, not the
    implementation's normalize)."""
    rng = random.Random(20240601)
    for _ in range(4000):
        codes = [_random_code(rng) for _ in range(rng.randint(0, 10))]
        reduced = strongest_per_base(codes)
        assert classify(codes)["class"] == classify(reduced)["class"], (codes, reduced)
    # the worked cases of 35 reduce as expected too
    assert sorted(strongest_per_base(["PM1", "PP1", "PP2", "PP3", "PPxPM1"])) == \
        ["PM1", "PP1", "PP2", "PP3"]
    assert sorted(strongest_per_base(["PSxPM1", "PS1", "PM1"])) == ["PS1", "PSxPM1"]


# -- 38/39 with the panel's inheritance read from PostgreSQL -----------------------------------

# acmg.md 3.1's defaults (the API tests' config), without their gene override.
ACMG = {**copy.deepcopy(API_ACMG), "genes": {}}


def _hboc(db_url):
    panel = read_panel_files(*folder_files(ROOT / "genepanels" / "ella-demo" / "HBOC_v01"))
    with psycopg.connect(db_url) as conn:
        deposit_genepanel(conn, "HBOC", "v01", panel)
        conn.commit()


def test_38_non_ad_genes_get_default_cutoffs_and_top_level_values(db_url):
    """38: a gene of the panel that is not AD-only (here BRCA1 made AR, BRCA2 made "AD/AR"),
    without an override, gets thresholds.default and the top-level disease_mode /
    last_exon_important; an AD-only gene gets thresholds.AD."""
    _hboc(db_url)
    with psycopg.connect(db_url) as conn:
        assert panel_inheritance(conn, "HBOC", "v01") == {1100: "AD", 1101: "AD"}
        ad = resolve_gene(ACMG, panel_inheritance(conn, "HBOC", "v01"), 1100)
        assert ad == {"disease_mode": "ANY", "last_exon_important": "LEI", "inheritance": "AD",
                      "freq_cutoffs": ACMG["frequency"]["thresholds"]["AD"]}
        conn.execute("UPDATE genepanel_transcript gt SET inheritance = CASE t.gene_id WHEN 1100 "
                     "THEN 'AR' ELSE 'AD/AR' END FROM transcript t WHERE t.id = gt.transcript_id")
        inheritance = panel_inheritance(conn, "HBOC", "v01")
    assert inheritance == {1100: "AR", 1101: None}
    assert resolve_gene(ACMG, inheritance, 1100) == {
        "disease_mode": "ANY", "last_exon_important": "LEI", "inheritance": "AR",
        "freq_cutoffs": ACMG["frequency"]["thresholds"]["default"]}
    assert resolve_gene(ACMG, inheritance, 1101) == {
        "disease_mode": "ANY", "last_exon_important": "LEI",
        "freq_cutoffs": ACMG["frequency"]["thresholds"]["default"]}


def test_39_override_of_a_panel_gene(db_url):
    """39: an override for "1101" replaces freq_cutoffs with its thresholds and its
    disease_mode / last_exon_important / inheritance replace the panel's and top-level ones;
    the other gene is unaffected."""
    _hboc(db_url)
    acmg = copy.deepcopy(ACMG)
    override = {"external": {"hi_freq_cutoff": 0.55, "lo_freq_cutoff": 0.45},
                "internal": {"hi_freq_cutoff": 0.33, "lo_freq_cutoff": 0.22}}
    acmg["genes"]["1101"] = {"frequency": {"thresholds": override}, "disease_mode": "MISS",
                             "last_exon_important": "LENI", "inheritance": "XD"}
    with psycopg.connect(db_url) as conn:
        inheritance = panel_inheritance(conn, "HBOC", "v01")
    assert resolve_gene(acmg, inheritance, 1101) == {
        "disease_mode": "MISS", "last_exon_important": "LENI", "inheritance": "XD",
        "freq_cutoffs": override}
    assert resolve_gene(acmg, inheritance, 1100) == {
        "disease_mode": "ANY", "last_exon_important": "LEI", "inheritance": "AD",
        "freq_cutoffs": ACMG["frequency"]["thresholds"]["AD"]}
