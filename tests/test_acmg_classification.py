"""Suggested classification: ELLA's combination rules (acmg.md 4, acceptance criteria 24-37)
and the ClinGen SVI point engine."""

import itertools
import random
from collections import Counter

import pytest

from ella.acmg import points
from ella.acmg.classification import (base, benign, classify, contradiction,
                                      likely_benign, likely_pathogenic, normalize, occurrences,
                                      pathogenic, strength, suggested_classification, _rank)


def test_24_occurrences():
    assert occurrences(["BS2", "PM3", "BS4", "PVS1", "PVS3", "PM3", "PP2", "PM1"], "PM") == [
        "PM1", "PM3"]


def test_25_pathogenic_with_pvs():
    assert pathogenic(["BS2", "BS4", "PVS1", "BP7", "PS3", "PP1"]) == ["PVS1", "PS3"]
    assert pathogenic(["BS2", "PVS1", "BS4", "PVSX1"]) == ["PVS1", "PVSX1"]


def test_26_pathogenic_with_ps():
    assert pathogenic(["BS2", "PS4", "PM2", "PM1", "BA3", "PP3", "PP1"]) == [
        "PS4", "PM1", "PM2", "PP1", "PP3"]
    assert pathogenic(["PS4", "PM1", "PP1", "PP3", "PP4", "PP6"]) == [
        "PS4", "PM1", "PP1", "PP3", "PP4", "PP6"]
    assert pathogenic(["PS4", "PM1", "PP1", "PP3", "PP3", "PP4"]) == []
    assert pathogenic(["PM1", "PM2", "PM3", "PM4", "PP1", "PP2"]) == []


def test_27_likely_pathogenic():
    assert likely_pathogenic(["BS2", "PS4", "PP4", "PP6", "BA3", "PP3", "PP3", "PM1"]) == [
        "PS4", "PM1", "PS4", "PP3", "PP4", "PP6"]
    assert likely_pathogenic(["BS2", "PP4", "PP6", "PP1", "BA3", "PP3", "PP3", "PM1"]) == [
        "PM1", "PP1", "PP3", "PP4", "PP6"]
    assert likely_pathogenic(["BS2", "BP4", "BP6", "BP1", "PVS3", "BP3", "PM3", "BM1"]) == [
        "PVS3", "PM3"]
    assert likely_pathogenic(["PVSX1", "PP6", "BS2"])
    # acmg.md 4.2 example: every true branch contributes
    assert likely_pathogenic(["BS2", "PS4", "PP4", "PP6", "PP1", "BA3", "PP3", "PP3",
                              "PM1"]) == ["PS4", "PM1", "PS4", "PP1", "PP3", "PP4", "PP6",
                                          "PM1", "PP1", "PP3", "PP4", "PP6"]


def test_28_benign():
    assert benign(["BS2", "PS4", "BAX1", "PP6", "BA3", "BS1", "BS2", "PM1"]) == [
        "BA3", "BAX1", "BS1", "BS2"]
    assert benign(["PP7", "PP6", "BS2"]) == []


def test_29_likely_benign():
    assert likely_benign(["PP2", "PS4", "BS2", "PP6", "BA3", "BP3"]) == ["BS2", "BP3"]
    assert likely_benign(["BP2", "PS4", "PP6", "BA3", "BP3"]) == ["BP2", "BP3"]
    assert likely_benign(["BS1"]) == []


def test_30_contradiction():
    assert contradiction(["PVS1", "PM3", "PP1"]) == []
    assert contradiction(["BS1", "BP3"]) == []
    assert contradiction(["BS2", "PVS1", "PM3"]) == ["PVS1", "PM3", "BS2"]
    assert contradiction(["BS2", "PVS1", "PS3", "PS3", "PS3", "PP1"]) == [
        "PVS1", "PS3", "PP1", "BS2"]


@pytest.mark.parametrize("codes,contributors", [
    (["PVS1", "PS2", "BA1"], ["PVS1", "PS2", "BA1"]),
    (["BP4", "BP6", "PM1"], ["PM1", "BP4", "BP6"]),
    (["BS1", "BP6", "PP6", "BP7"], ["PP6", "BS1", "BP6", "BP7"]),
    (["BP6", "PM1"], ["PM1", "BP6"]),
])
def test_31_classify_contradiction(codes, contributors):
    result = classify(codes)
    assert (result["class"], result["message"], result["contributors"]) == (
        3, "Contradiction", contributors)


def test_32_precedence():
    assert _rank("PVS1") < _rank("PS1") < _rank("PM1") < _rank("PP1")
    assert _rank("PVSxPS3") == _rank("PVS1")
    assert _rank("PS3") < _rank("PMxPS3")


def test_33_base_and_strength():
    assert base("PMxPS1") == "PS1" and base("PS1") == "PS1"
    assert strength("PMxPS1") == "PM" and strength("PVS1") == "PVS"
    assert strength("PPxPM2") == "PP"


@pytest.mark.parametrize("codes,normalized", [
    (["PM1", "PVSxPM1", "PS3", "PMxPS3"], ["PVSxPM1", "PS3"]),
    (["PM1", "PP1", "PP1", "PP2", "PP3"], ["PM1", "PP1", "PP2", "PP3"]),
    (["PM1", "PP1", "PP2", "PP3", "PPxPM1"], ["PP1", "PP2", "PP3", "PM1"]),
    (["PMxPP1", "PM1", "PP1", "PP2", "PPxPS1"], ["PM1", "PMxPP1", "PP2", "PPxPS1"]),
    (["PSxPM1", "PS1", "PM1"], ["PS1", "PSxPM1"]),
    (["BSxBP1", "BP1", "BS1"], ["BSxBP1", "BS1"]),
    (["BS1", "BS2"], ["BS1", "BS2"]),
    (["PVS1", "BA1"], ["PVS1", "BA1"]),
])
def test_34_normalize(codes, normalized):
    assert normalize(codes) == normalized


@pytest.mark.parametrize("codes,klass,contributors", [
    (["PM1", "PP1", "PP1", "PP2", "PP3"], 3, []),
    (["PM1", "PP1", "PP2", "PP3", "PPxPM1"], 3, []),
    (["PMxPP1", "PM1", "PP1", "PP2", "PPxPS1"], 4, ["PM1", "PMxPP1", "PP1", "PP2", "PPxPS1"]),
    (["PSxPM1", "PS1", "PM1"], 5, ["PS1", "PSxPM1"]),
    (["BSxBP1", "BP1", "BS1"], 1, ["BS1", "BSxBP1"]),
    (["BS1", "BS2"], 1, ["BS1", "BS2"]),
    (["PVS1", "BA1"], 3, ["PVS1", "BA1"]),
])
def test_35_classify_with_precedence(codes, klass, contributors):
    result = classify(codes)
    assert (result["class"], result["contributors"]) == (klass, contributors)


# acmg.md 4.5 worked examples and api.md 4.23
@pytest.mark.parametrize("codes,klass,message,contributors", [
    (["PVS1", "PP3"], 4, "Likely pathogenic", ["PVS1", "PP3"]),
    (["PVS1"], 3, "None", []),
    (["BA1"], 1, "Benign", ["BA1"]),
    (["BA1", "PP3"], 3, "Contradiction", ["PP3", "BA1"]),
    (["PPxPM2", "PVS1"], 4, "Likely pathogenic", ["PVS1", "PPxPM2"]),
    (["PVS1", "PVSxPS3"], 5, "Pathogenic", ["PVS1", "PVSxPS3"]),
    (["PM2", "PPxPM2"], 3, "None", []),
    (["PS3", "PMxPS3"], 3, "None", []),
    (["PM1", "PM2", "PM4"], 4, "Likely pathogenic", ["PM1", "PM2", "PM4"]),
    (["BS1", "BP4"], 2, "Likely benign", ["BS1", "BP4"]),
    (["BS1", "BS2", "BP4"], 1, "Benign", ["BS1", "BS2"]),
    (["BSxBP1", "BP1"], 3, "None", []),
    (["PNWxPM2", "PVS1"], 3, "None", []),
    (["REQ_null_variant", "PVS1", "PM2"], 4, "Likely pathogenic", ["PVS1", "PM2"]),
    (["PVS1", "PM1", "PP1", "PP3"], 5, "Pathogenic", ["PVS1", "PP1", "PP3"]),
    (["PVS1", "PS2"], 5, "Pathogenic", ["PVS1", "PS2"]),
    (["OTHER", "BNWxBP1", "PVS1", "PP3"], 4, "Likely pathogenic", ["PVS1", "PP3"]),
    (["BAxBS1"], 1, "Benign", ["BAxBS1"]),
])
def test_worked_examples(codes, klass, message, contributors):
    result = classify(codes)
    names = {1: "Benign", 2: "Likely benign", 3: "Uncertain significance",
             4: "Likely pathogenic", 5: "Pathogenic"}
    assert result == {"class": klass, "classification": names[klass], "message": message,
                      "contributors": contributors,
                      "meta": {"engine": "ella", "version": "ACMG2015-ELLA-1.17"}}


@pytest.mark.parametrize("codes,klass,message,contributors", [
    # acmg.md 4.2: every OR-branch that holds contributes (PVS + PS, and two PS).
    (["PVS1", "PS1", "PS2"], 5, "Pathogenic", ["PVS1", "PS1", "PS2", "PS1", "PS2"]),
    # The contradiction's contributors are the codes as given (PPxPM1 too).
    (["PM1", "PPxPM1", "BP4"], 3, "Contradiction", ["PM1", "PPxPM1", "BP4"]),
    # Likely benign from one BS and one BP: with two BP, the BP branch alone.
    (["BS1", "BP1", "BP4"], 2, "Likely benign", ["BP1", "BP4"]),
])
def test_contributors_of_each_branch(codes, klass, message, contributors):
    result = classify(codes)
    assert (result["class"], result["message"], result["contributors"]) == \
        (klass, message, contributors)


def test_point_engine_evidence_netting_to_zero_is_named():
    """Evidence of 0 points is uncertain significance with its contributors, not "None"
    (which says nothing applies)."""
    result = points.classify(["PP3", "BP4"])
    assert (result["class"], result["message"], result["contributors"], result["meta"]["points"]) \
        == (3, "Uncertain significance", ["BP4", "PP3"], 0)


# -- properties 36/37 ---------------------------------------------------------------------

BASES = ["PVS1", "PS1", "PS2", "PS3", "PS4", "PM1", "PM2", "PM3", "PM4", "PM5", "PM6", "PP1",
         "PP2", "PP3", "PP4", "PP5", "BA1", "BS1", "BS2", "BS3", "BS4", "BP1", "BP2", "BP3",
         "BP4", "BP5", "BP6", "BP7"]
P_STRENGTHS = ["PVS", "PS", "PM", "PP"]
B_STRENGTHS = ["BA", "BS", "BP"]

PATTERNS = [
    (5, ["PVS", "PVS"]), (5, ["PVS", "PS"]), (5, ["PVS", "PM", "PM"]), (5, ["PVS", "PM", "PP"]),
    (5, ["PVS", "PP", "PP"]), (5, ["PS", "PS"]), (5, ["PS", "PM", "PM", "PM"]),
    (5, ["PS", "PM", "PM", "PP", "PP"]), (5, ["PS", "PM", "PP", "PP", "PP", "PP"]),
    (4, ["PVS", "PM"]), (4, ["PVS", "PP"]), (4, ["PS", "PM"]), (4, ["PS", "PP", "PP"]),
    (4, ["PM", "PM", "PM"]), (4, ["PM", "PM", "PP", "PP"]), (4, ["PM", "PP", "PP", "PP", "PP"]),
    (1, ["BA"]), (1, ["BS", "BS"]), (2, ["BS", "BP"]), (2, ["BP", "BP"]),
]


def multiset_class(strengths):
    have = Counter(strengths)
    if any(have[s] for s in P_STRENGTHS) and any(have[s] for s in B_STRENGTHS):
        return 3
    for klass, pattern in PATTERNS:
        if not Counter(pattern) - have:
            return klass
    return 3


def random_code(rng, b):
    ladder = P_STRENGTHS if b.startswith("P") else B_STRENGTHS
    s = rng.choice(ladder)
    return b if b.startswith(s) and b[len(s)].isdigit() else f"{s}x{b}"


def test_36_37_properties_on_random_code_sets():
    rng = random.Random(1)
    for _ in range(3000):
        codes = [random_code(rng, rng.choice(BASES)) for _ in range(rng.randint(0, 9))]
        result = classify(codes)
        assert result["class"] == classify(normalize(codes))["class"], codes
        assert result["class"] == multiset_class([strength(c) for c in normalize(codes)]), codes


def test_37_multiset_formulation_over_all_count_combinations():
    for n_pvs, n_ps, n_pm, n_pp in itertools.product(range(3), range(4), range(5), range(6)):
        codes = ([f"PVS{i}" for i in range(1, n_pvs + 1)] + [f"PS{i}" for i in range(1, n_ps + 1)]
                 + [f"PM{i}" for i in range(1, n_pm + 1)] + [f"PP{i}" for i in range(1, n_pp + 1)])
        strengths = [strength(c) for c in codes]
        assert classify(codes)["class"] == multiset_class(strengths), codes
    for n_ba, n_bs, n_bp in itertools.product(range(2), range(4), range(5)):
        codes = ([f"BA{i}" for i in range(1, n_ba + 1)] + [f"BS{i}" for i in range(1, n_bs + 1)]
                 + [f"BP{i}" for i in range(1, n_bp + 1)])
        assert classify(codes)["class"] == multiset_class([strength(c) for c in codes]), codes


# -- point engine -------------------------------------------------------------------------

def codes_for(counts):
    """Distinct codes (distinct base criteria) with the given number per strength."""
    return [f"{s}{i}" for s, n in counts.items() for i in range(1, n + 1)]


def expected_class(total, t):
    if total >= t["pathogenic"]:
        return 5
    if total >= t["likely_pathogenic"]:
        return 4
    if total <= t["benign"]:
        return 1
    if total <= t["likely_benign"]:
        return 2
    return 3


WEIGHTS = {"PVS": 8, "PS": 4, "PM": 2, "PP": 1, "BA": -8, "BS": -4, "BP": -1}


def test_point_engine_table_all_strength_combinations():
    thresholds = dict(points.DEFAULT_THRESHOLDS)
    assert thresholds == {"pathogenic": 10, "likely_pathogenic": 6, "likely_benign": -1,
                          "benign": -7}
    seen = Counter()
    for n_pvs, n_ps, n_pm, n_pp, n_ba, n_bs, n_bp in itertools.product(
            range(3), range(5), range(7), range(7), range(2), range(5), range(7)):
        counts = {"PVS": n_pvs, "PS": n_ps, "PM": n_pm, "PP": n_pp, "BA": n_ba, "BS": n_bs,
                  "BP": n_bp}
        total = sum(WEIGHTS[s] * n for s, n in counts.items())
        result = points.classify(codes_for(counts))
        assert result["meta"]["points"] == total
        assert result["class"] == expected_class(total, thresholds), counts
        seen[result["class"]] += 1
    assert set(seen) == {1, 2, 3, 4, 5}


@pytest.mark.parametrize("total,klass", [
    (10, 5), (9, 4), (6, 4), (5, 3), (0, 3), (-1, 2), (-6, 2), (-7, 1), (-20, 1), (30, 5)])
def test_point_engine_default_boundaries(total, klass):
    assert points.class_of_points(total, points.DEFAULT_THRESHOLDS) == klass


def test_point_engine_result_shape_and_dedup():
    result = points.classify(["PVS1", "PM2", "PPxPM2", "REQ_null_variant", "OTHER", "PNWxPP1"])
    assert result["class"] == 5 and result["classification"] == "Pathogenic"
    assert result["contributors"] == ["PVS1", "PM2"]
    assert result["meta"]["points"] == 10
    assert result["meta"]["engine"] == "points" and result["meta"]["version"]
    empty = points.classify(["REQ_no_freq"])
    assert (empty["class"], empty["message"], empty["contributors"]) == (3, "None", [])


def test_point_engine_threshold_change_changes_the_outcome():
    codes = ["PS1", "PM1", "PP1", "PP2"]   # 4 + 2 + 1 + 1 = 8 points
    default = suggested_classification(codes, {"classification": {"engine": {"name": "points"}}})
    assert (default["class"], default["meta"]["points"]) == (4, 8)
    lowered = suggested_classification(codes, {"classification": {"engine": {
        "name": "points", "thresholds": {"pathogenic": 8}}}})
    assert lowered["class"] == 5
    assert lowered["meta"]["thresholds"]["pathogenic"] == 8
    benign_codes = ["BS1", "BP1"]   # -5
    assert points.classify(benign_codes)["class"] == 2
    assert points.classify(benign_codes, {"benign": -5})["class"] == 1


def test_point_engine_rejects_bad_thresholds():
    with pytest.raises(ValueError):
        points.check_thresholds({"pathogenic": 5})   # below likely_pathogenic 6
    with pytest.raises(ValueError):
        points.check_thresholds({"vus": 1})
    # No evidence at all (0 points) would be Likely benign.
    with pytest.raises(ValueError, match="likely_benign < 0"):
        points.check_thresholds({"likely_benign": 0})


def test_engine_selection_defaults_to_ella():
    assert suggested_classification(["PVS1"], {})["meta"]["engine"] == "ella"
    assert suggested_classification(["PVS1"], {"classification": {"engine": {
        "name": "ella"}}})["class"] == 3
    assert suggested_classification(["PVS1"], {"classification": {"engine": {
        "name": "points"}}})["class"] == 4
