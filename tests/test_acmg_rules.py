"""The ACMG rule language and the shipped rule set (acmg.md 2, acceptance criteria 1-23, 40-43)."""

import json

import pytest

from ella.acmg.engine import data_document, shipped_rules, suggest_codes
from ella.acmg.rules import (AllRule, AndRule, AtLeastRule, GtRule, InRule, LtRule, NotRule,
                             OrRule, RangeRule, apply_rules, expand_multi_source, flatten,
                             parse_rule, parse_rules)


def codes_of(found):
    return [r.code for r in found]


# -- rule model (grm) ---------------------------------------------------------------------

def test_1_in_with_list_data_matches_on_intersection():
    rule = InRule(["a", "b"], "src", "C")
    assert rule.query(["x", "b", "y"]) == [rule]
    assert rule.match(["x", "b", "y"]) == ["b"]
    assert rule.query(["x", "y"]) == []


def test_2_in_with_scalar_data():
    assert InRule(["de_novo"], "s", "C").query("de_novo")
    assert InRule([99], "s", "C").query(99)
    assert not InRule([99], "s", "C").query(98)


def test_3_in_with_empty_values_never_matches():
    assert InRule([], "s", "C").query(["a"]) == []
    assert InRule([], "s", "C").query([]) == []


def test_4_and_returns_all_subrules_or_nothing():
    a, b = InRule(["x"], "s", "C"), InRule(["y"], "s", "C")
    assert AndRule([a, b], None, "C").query(["x", "y"]) == [a, b]
    assert AndRule([a, b], None, "C").query(["x"]) == []
    assert AndRule([a, b], None, "C").query([]) == []
    nested = AndRule([AndRule([a], None, "C"), b], None, "C")
    assert nested.query(["x", "y"]) == [a, b]


def test_5_or_returns_the_matching_subrules_in_order():
    a, b, c = InRule(["x"], "s", "C"), InRule(["y"], "s", "C"), InRule(["z"], "s", "C")
    rule = OrRule([a, b, c], None, "C")
    assert rule.query(["z", "x"]) == [a, c]
    assert rule.query(["q"]) == []
    assert rule.query([]) == []


def test_6_gt_is_strict_and_converts_strings():
    rule = GtRule(0.4, "freq", "C")
    assert rule.query(0.4) == []
    assert rule.query("0.6") == [rule]
    assert GtRule(67, "s", "C").query("68")
    assert rule.query(0.6)[0].source == "freq"


def test_gt_and_lt_compare_integers_beyond_floats():
    """float(10**400) raises OverflowError: an annotation value that large ended the
    request in a 500 (parsed JSON keeps integers whole)."""
    huge = 10 ** 400
    assert GtRule(0.4, "s", "C").query(huge) and not LtRule(0.4, "s", "C").query(huge)
    assert LtRule(0.4, "s", "C").query(-huge) and not GtRule(0.4, "s", "C").query(-huge)
    assert GtRule(10 ** 399, "s", "C").query(huge)
    assert not GtRule(2 ** 53, "s", "C").query(2 ** 53 + 1.0)  # (as float() compared)


def test_7_lt_is_strict():
    rule = LtRule(0.4, "s", "C")
    assert rule.query(0.3999999)
    assert not rule.query(0.4)
    assert rule.query("-678")


def test_8_range_is_exclusive():
    rule = RangeRule([-67.3, 4], "s", "C")
    assert rule.query(-67.2999999)
    assert not rule.query(4.00002)
    assert not rule.query(-875)
    assert not rule.query(4)
    assert not rule.query(-67.3)


def test_9_nested_or_of_ands_returns_the_matching_branch_leaves():
    rule = parse_rule({"$or": [{"$and": [{"a": "1"}, {"b": "2"}]},
                               {"$and": [{"c": "3"}, {"d": "4"}]}]}, "C")
    # Evaluated against one value: only branch two matches "3"+"4"
    found = rule.query(["3", "4"])
    assert [(r.source, r.value) for r in found] == [("c", ["3"]), ("d", ["4"])]


def test_10_all_requires_every_code():
    rule = AllRule(["BP1", "BP2"], None, "C", True)
    assert rule.query(["BP2", "BP1", "BP1", "PP3"])
    assert not rule.query(["BP1", "PP3"])


def test_11_all_with_wildcard():
    rule = AllRule(["BP6", "PP*"], None, "C", True)
    assert rule.query(["PP3", "BP6"])
    assert not rule.query(["rBP7-1", "BP6"])


def test_12_atleast_counts_distinct_codes():
    rule = AtLeastRule(3, ["rBP7-1", "rBP7-2", "rBP7-3"], None, "C", True)
    assert not rule.query(["rBP7-1", "rBP7-3", "rBP7-1"])
    assert rule.query(["rBP7-1", "rBP7-3", "rBP7-2"])


def test_13_atleast_wildcard_counts_each_matching_code():
    rule = AtLeastRule(3, ["BP7", "BP8", "BP9", "BP1*"], None, "C", True)
    assert rule.query(["BP7", "BP1234234", "BP9"])
    assert not rule.query(["BP1567", "BP1987", "BP23"])  # two wildcard hits only
    assert AtLeastRule(3, ["BP7", "BP1*"], None, "C", True).query(["BP1567", "BP1987", "BP7"])
    assert not AtLeastRule(3, ["BP7", "BP8", "BP9", "BP1*"], None, "C", True).query(
        ["BP1567", "BP23"])


def test_14_not():
    sub = InRule(["x"], "s", "C")
    rule = NotRule(sub, "s", "C")
    assert rule.query(["x"]) == []
    assert rule.query(["y"]) == [sub]
    assert rule.query([]) == [sub]


# -- rule language (grl) ------------------------------------------------------------------

def test_15_scalar_rule_parses_to_in():
    rule = parse_rule({"src": "v"}, "CODE")
    assert isinstance(rule, InRule)
    assert (rule.value, rule.source, rule.code) == (["v"], "src", "CODE")


def test_16_several_entries_with_one_code_are_kept_in_order():
    parsed = parse_rules([{"code": "A", "rule": {"s": "1"}}, {"code": "B", "rule": {"s": "2"}},
                          {"code": "A", "rule": {"s": "3"}}])
    assert list(parsed) == ["A", "B"]
    assert [r.value for r in parsed["A"]] == [["1"], ["3"]]


def test_17_gt_lt_range_keep_raw_values():
    assert parse_rule({"s": {"$lt": "34323"}}, "C").value == "34323"
    assert parse_rule({"s": {"$gt": 3}}, "C").value == 3
    assert parse_rule({"s": {"$range": [1, 2]}}, "C").value == [1, 2]


def test_18_and_or_nest_with_own_sources():
    rule = parse_rule({"$and": [{"a": "1"}, {"$or": [{"b": "2"}, {"c": {"$and": [
        {"$in": ["3"]}, {"$gt": 2}]}}]}]}, "C")
    assert isinstance(rule, AndRule) and rule.source is None
    inner = rule.value[1]
    assert isinstance(inner, OrRule)
    assert [r.source for r in inner.value[1].value] == ["c", "c"]
    assert rule.value[0].source == "a"


def test_19_aggregate_all_atleast_not():
    rule = parse_rule({"$$aggregate": {"$all": ["A", "B"]}}, "C")
    assert isinstance(rule, AllRule) and rule.aggregate and rule.value == ["A", "B"]
    rule = parse_rule({"$$aggregate": {"$atleast": [2, "a", "b", "c"]}}, "C")
    assert isinstance(rule, AtLeastRule) and rule.threshold == 2 and rule.value == ["a", "b", "c"]
    rule = parse_rule({"$$aggregate": {"$and": ["X", {"$not": {"$in": ["Y"]}}]}}, "C")
    assert rule.aggregate and isinstance(rule.value[1], NotRule)
    assert isinstance(rule.value[1].value, InRule) and rule.value[1].value.aggregate
    assert rule.query(["X"]) and not rule.query(["X", "Y"])


# -- applier (gra) ------------------------------------------------------------------------

def test_20_flatten():
    flat = flatten({"transcript": {"Consequence": ["synonymous_variant"], "x": {"y": 1}},
                    "n": None})
    assert flat == {"transcript.Consequence": ["synonymous_variant"], "transcript.x.y": 1,
                    "n": None}


def test_21_multi_source_expansion_keeps_position():
    rules = [parse_rule({"a": "1"}, "A"),
             parse_rule({"refassessment.*.ref_segregation": "segr"}, "B"),
             parse_rule({"c": "1"}, "C")]
    flat = flatten({"refassessment": {"0": {"ref_segregation": "segr"},
                                      "1": {"other": "x"}}})
    expanded = expand_multi_source(rules, flat)
    assert [(r.code, r.source) for r in expanded] == [
        ("A", "a"), ("B", "refassessment.0.ref_segregation"), ("C", "c")]
    assert isinstance(expanded[1], InRule) and expanded[1].value == ["segr"]
    # no matching key: the rule disappears
    assert [r.code for r in expand_multi_source(rules, {})] == ["A", "C"]


SAMPLE_RULES = [
    {"code": "BP1", "rule": {"transcript.Consequence": "synonymous_variant"}},
    {"code": "BP1", "rule": {"transcript.Consequence": {"$in": ["synonymous_variant", "x"]}}},
    {"code": "BP2", "rule": {"transcript.missing": "a"}},
    {"code": "rBP7-1", "rule": {"freq": {"$lt": 0.01}}},
    {"code": "rBP7-2", "rule": {"freq": {"$gt": 0.01}}},
    {"code": "rBP7-3", "rule": {"freq": 0.02}},
    {"code": "rBP7-4", "rule": {"freq": 0.005}},
    {"code": "BP7", "rule": {"$$aggregate": {"$all": ["rBP7-1", "rBP7-2"]}}},
    {"code": "BP8", "rule": {"$$aggregate": {"$atleast": [2, "rBP7-1", "rBP7-4", "rBP7-3"]}}},
    {"code": "PP7", "rule": {"$$aggregate": {"$all": ["PP8"]}}},  # PP8 passes only later
    {"code": "PP8", "rule": {"$$aggregate": {"$all": ["BP*"]}}},
    {"code": "GP1", "rule": {"genepanel.inheritance": {"$not": {"$in": ["AR"]}}}},
    {"code": "PP9", "rule": {"refassessment.*.ref_segregation": "no_segr"}},
    {"code": "PP10", "rule": {"refassessment.*.ref_segregation": "segr"}},
    {"code": "PP11", "rule": {"$$aggregate": {"$or": ["PP10", "PP9"]}}},
    {"code": "PP11.1", "rule": {"transcript": {"$or": [{"$in": ["x"]}]}}},  # composite: inert
    {"code": "PP11.2", "rule": {"$$aggregate": {"$and": ["PP11", {"$not": {"$in": ["PP9"]}}]}}},
    {"code": "PP11.2.1", "rule": {"$$aggregate": {"$in": ["PP11.2"]}}},
    {"code": "PP11.3", "rule": {"$$aggregate": {"$in": ["PP11.1"]}}},
    {"code": "PP12", "rule": {"score": {"$range": [1, 2]}}},
    {"code": "PP13", "rule": {"score": {"$range": [2, 4]}}},
    {"code": "PP14", "rule": {"$and": [{"freq": 0.005}, {"score": 3}]}},  # top-level: inert
]
SAMPLE_DATA = {"transcript": {"Consequence": ["synonymous_variant"]}, "freq": 0.005,
               "score": 3, "genepanel": {"inheritance": "AD"},
               "refassessment": {"1_2": {"ref_segregation": "segr"},
                                 "1_3": {"ref_segregation": "other"}}}


def test_22_sample_rules_passed_and_not_passed():
    passed, notpassed = apply_rules(parse_rules(SAMPLE_RULES), SAMPLE_DATA)
    assert codes_of(passed) == ["BP1", "BP1", "rBP7-1", "rBP7-4", "BP8", "PP8", "GP1", "PP10",
                                "PP11", "PP11.2", "PP11.2.1", "PP13"]
    assert codes_of(notpassed) == ["BP2", "rBP7-2", "rBP7-3", "BP7", "PP7", "PP9", "PP9",
                                   "PP10", "PP11.1", "PP11.3", "PP12", "PP14"]


def test_23_first_passed_rule_reports_its_source():
    passed, _ = apply_rules(parse_rules(SAMPLE_RULES), SAMPLE_DATA)
    assert passed[0].source == "transcript.Consequence"


# -- shipped rule set ---------------------------------------------------------------------

def test_shipped_rules_are_120_in_spec_order():
    rules = shipped_rules()
    flat = [r for rs in rules.values() for r in rs]
    assert len(flat) == 120
    assert flat[0].code == "REQ_GP_AD" and flat[60].code == "PVS1" and flat[-1].code == "BPxBS4"


GP = {"inheritance": "AD", "disease_mode": "ANY", "last_exon_important": "LEI"}


def annotation(consequences, in_last_exon="no", prediction=None, n_transcripts=1):
    transcripts = [{"transcript": f"NM_00{i}.1", "hgnc_id": 10 + i, "consequences": consequences,
                    "in_last_exon": in_last_exon} for i in range(max(n_transcripts, 1))]
    doc = {"transcripts": transcripts,
           "filtered_transcripts": [t["transcript"] for t in transcripts[:n_transcripts]]}
    if prediction:
        doc["prediction"] = prediction
    return doc


def suggested(ann, commonness="null_freq", gp=GP, refs=None):
    doc = data_document(ann, commonness, lambda gene: dict(gp), refs)
    return [c["code"] for c in suggest_codes(doc)]


def test_40_mmr_loss_with_ihc_hq_gives_ps3_and_bs3():
    refs = {"1_1": {"ref_ihc": "mmr_loss"}, "1_2": {"ref_ihc_quality": "ihc_HQ"}}
    codes = suggested(annotation(["missense_variant"]), "low_freq", refs=refs)
    assert "PS3" in codes and "BS3" in codes


def test_41_synonymous_null_freq():
    assert suggested(annotation(["synonymous_variant"])) == [
        "REQ_GP_AD", "REQ_GP_last_exon_important", "REQ_GP_LOF_missense", "REQ_no_aa_change",
        "REQ_not_in_last_exon", "REQ_no_freq", "PPxPM2"]


def test_42_manual_no_splice_effect_adds_bp4_bp7():
    codes = suggested(annotation(["synonymous_variant"],
                                 prediction={"splice_Effect_manual": "no_effect"}))
    assert codes == ["REQ_GP_AD", "REQ_GP_last_exon_important", "REQ_GP_LOF_missense",
                     "REQ_no_aa_change", "REQ_no_splice_effect", "REQ_not_in_last_exon",
                     "REQ_no_freq", "PPxPM2", "BP4", "BP7"]


def test_43_stop_gained():
    codes = suggested(annotation(["stop_gained"]))
    assert codes == ["REQ_GP_AD", "REQ_GP_last_exon_important", "REQ_GP_LOF_missense",
                     "REQ_not_in_last_exon", "REQ_null_variant", "REQ_no_freq", "PVS1", "PPxPM2"]
    leni = {**GP, "last_exon_important": "LENI"}
    assert "PVS1" not in suggested(annotation(["stop_gained"], "yes"), gp=leni)
    assert "PVS1" in suggested(annotation(["stop_gained"], "yes"))
    no_transcript = suggested(annotation(["stop_gained"], n_transcripts=0), "common")
    assert no_transcript == ["REQ_GP_AD", "REQ_GP_last_exon_important", "REQ_GP_LOF_missense",
                             "REQ_hi_freq", "BA1"]
    two = suggested(annotation(["stop_gained"], n_transcripts=2), "common")
    assert two == no_transcript


def test_the_rules_read_the_panels_transcript():
    """acmg.md 2.1: T is the transcript filtered_transcripts[0] names, not the first one:
    an intronic transcript outside the panel hid the panel transcript's stop gain (PVS1)."""
    ann = {"transcripts": [
        {"transcript": "NM_001.1", "hgnc_id": 11, "consequences": ["intron_variant"],
         "in_last_exon": "no"},
        {"transcript": "NM_002.1", "hgnc_id": 12, "consequences": ["stop_gained"],
         "in_last_exon": "no"}], "filtered_transcripts": ["NM_002.1"]}
    codes = suggested(ann)
    assert "REQ_null_variant" in codes and "PVS1" in codes


def test_output_shape_of_source_aggregate_and_composite_rules():
    doc = data_document(annotation(["stop_gained"]), "null_freq", lambda g: dict(GP),
                        {"3_7": {"ref_segregation": "segr"}, "3_8": {"ref_segregation_quality":
                                                                    "segr_HQ"}})
    out = suggest_codes(doc)
    by_code = {c["code"]: c for c in out}
    assert by_code["REQ_null_variant"] == {
        "code": "REQ_null_variant", "source": "transcript.consequences", "op": "$in",
        "match": ["stop_gained"],
        "value": ["start_lost", "initiator_codon_variant", "transcript_ablation",
                  "splice_donor_variant", "splice_acceptor_variant", "stop_gained",
                  "frameshift_variant"]}
    assert by_code["PVS1"] == {"code": "PVS1", "source": None, "match": None, "op": None}
    # REQ codes from different references combine
    assert by_code["REQ_segregation"]["source"] == "refassessment.3_7.ref_segregation"
    assert by_code["PSxPP1"] == {"code": "PSxPP1", "source": None, "op": "$all",
                                 "value": ["REQ_segregation", "REQ_segregation_HQ"],
                                 "match": ["REQ_segregation", "REQ_segregation_HQ"]}
    json.dumps(out)


def test_inert_rules_never_fire():
    # REQ_no_splice_effect #38 and BP4 #111 are composite rules without a source
    ann = annotation(["synonymous_variant"])
    ann["transcripts"][0]["splice_Effect"] = "predicted_conserved"
    ann["prediction"] = {"splice_Effect": "predicted_conserved"}
    codes = suggested(ann)
    assert "REQ_no_splice_effect" not in codes and "BP4" not in codes and "BP7" not in codes


@pytest.mark.parametrize("refs,expected", [
    ({"1_1": {"ref_population_affecteds": "in_many_aff"}}, "PS4"),
    ({"1_1": {"ref_population_affecteds": "in_more_aff"}}, "PMxPS4"),
    ({"1_1": {"ref_population_affecteds": "in_few_aff"}}, "PPxPS4"),
    ({"1_1": {"ref_aa_overlap": "overlap_pat", "ref_aa_overlap_same_novel": "same_aa",
              "ref_aa_overlap_quality": "overlap_HQ"}}, "PS1"),
    ({"1_1": {"ref_de_novo": "de_novo_confirmed"}}, "PS2"),
    ({"1_1": {"ref_domain_overlap": "mut_hotspot", "ref_domain_benign":
              "no_benign_variation"}}, "PM1"),
    ({"1_1": {"ref_population_healthy": "in_healthy"}}, "BS2"),
    ({"1_1": {"ref_phase": "in_cis_pathogenic"}}, "BP2"),
])
def test_reference_based_criteria(refs, expected):
    assert expected in suggested(annotation(["missense_variant"]), refs=refs)
