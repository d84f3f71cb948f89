"""Criteria of the shipped rule set one by one (acmg.md 2.6 and its summary of criteria
logic): for each, the evidence that gives it and the evidence next to it that must not. A
rule of ruleset.json that names the wrong code, value, inheritance or quality level makes
one of these fail (the rule set's own test only counts its rules)."""

import pytest

from test_acmg_rules import GP, annotation, suggested

MISSENSE = ["missense_variant"]


def _refs(**evaluation):
    return {"1_1": evaluation}


OVERLAP = {"ref_aa_overlap": "overlap_pat"}

CASES = [
    # (id, consequences, commonness, panel, refs, prediction, given, not given)
    ("PVS1 in a gene where only loss of function causes disease", ["stop_gained"],
     "null_freq", {"disease_mode": "LOF"}, None, None, ["REQ_GP_LOF_only", "PVS1"], []),
    ("PS4 needs absence from controls", MISSENSE, "low_freq", {},
     _refs(ref_population_affecteds="in_many_aff"), None, ["REQ_>=4affected"], ["PS4"]),
    ("BP4 from a non-conserved position", MISSENSE, "null_freq", {}, None,
     {"ortholog_conservation": "non-conserved"}, ["BP4"], ["PP3"]),
    ("BS4 from non-segregation", MISSENSE, "null_freq", {},
     _refs(ref_segregation="no_segr", ref_segregation_quality="segr_HQ"), None, ["BS4"],
     ["PSxPP1", "BPxBS4"]),
    ("PSxPP1 from cosegregation", MISSENSE, "null_freq", {},
     _refs(ref_segregation="segr", ref_segregation_quality="segr_HQ"), None, ["PSxPP1"],
     ["BS4", "PMxPP1", "PP1"]),
    ("BPxBS4 from moderate-quality non-segregation", MISSENSE, "null_freq", {},
     _refs(ref_segregation="no_segr", ref_segregation_quality="segr_MQ"), None, ["BPxBS4"],
     ["BS4"]),
    ("PMxPP1 from moderate-quality cosegregation", MISSENSE, "null_freq", {},
     _refs(ref_segregation="segr", ref_segregation_quality="segr_MQ"), None, ["PMxPP1"],
     ["PP1", "PSxPP1"]),
    ("PP1 from weak-quality cosegregation", MISSENSE, "null_freq", {},
     _refs(ref_segregation="segr", ref_segregation_quality="segr_WQ"), None, ["PP1"],
     ["PMxPP1", "PSxPP1"]),
    ("PM3 in trans in a recessive gene", MISSENSE, "null_freq", {"inheritance": "AR"},
     _refs(ref_phase="in_trans_pathogenic"), None, ["PM3"], ["BP2"]),
    ("BP2 in trans in a dominant gene", MISSENSE, "null_freq", {"inheritance": "AD"},
     _refs(ref_phase="in_trans_pathogenic"), None, ["BP2"], ["PM3"]),
    ("PM5 for a novel, similar amino acid", MISSENSE, "null_freq", {},
     _refs(**OVERLAP, ref_aa_overlap_same_novel="novel_aa", ref_aa_overlap_sim="sim_prop",
           ref_aa_overlap_quality="overlap_HQ"), None, ["PM5"], ["PPxPM5"]),
    ("PPxPM5 for a novel, different amino acid", MISSENSE, "null_freq", {},
     _refs(**OVERLAP, ref_aa_overlap_same_novel="novel_aa", ref_aa_overlap_sim="diff_prop",
           ref_aa_overlap_quality="overlap_HQ"), None, ["PPxPM5"], ["PM5"]),
    ("PMxPS1 for the same amino acid, moderate quality", MISSENSE, "null_freq", {},
     _refs(**OVERLAP, ref_aa_overlap_same_novel="same_aa",
           ref_aa_overlap_quality="overlap_MQ"), None, ["PMxPS1"], ["PS1"]),
    ("PS3 from abnormal RNA", MISSENSE, "null_freq", {},
     _refs(ref_rna="rna_abnormal", ref_rna_quality="rna_HQ"), None, ["PS3"], ["BS3"]),
    ("BS3 from normal RNA", MISSENSE, "null_freq", {},
     _refs(ref_rna="rna_normal", ref_rna_quality="rna_HQ"), None, ["BS3"], ["PS3"]),
    ("PMxPS3 from abnormal RNA, moderate quality", MISSENSE, "null_freq", {},
     _refs(ref_rna="rna_abnormal", ref_rna_quality="rna_MQ"), None, ["PMxPS3"], ["PS3"]),
    ("BS3 without microsatellite instability", MISSENSE, "null_freq", {},
     _refs(ref_msi="no_msi", ref_msi_quality="msi_HQ"), None, ["BS3"], ["PS3"]),
    ("PS3 with microsatellite instability", MISSENSE, "null_freq", {},
     _refs(ref_msi="msi", ref_msi_quality="msi_HQ"), None, ["PS3"], ["BS3"]),
    ("PSxPM1 at a critical site", MISSENSE, "null_freq", {}, None,
     {"domain": "critical_site"}, ["PSxPM1"], ["PM1"]),
    ("PM1 in a critical domain", MISSENSE, "null_freq", {}, None,
     {"domain": "critical_domain"}, ["PM1"], ["PSxPM1"]),
    ("PM4 for an in-frame deletion outside a repeat", ["inframe_deletion"], "null_freq", {},
     None, {"repeat": "non_repeat"}, ["REQ_inframe", "PM4"], ["BP3"]),
    ("BP3 for an in-frame insertion in a repeat", ["inframe_insertion"], "null_freq", {},
     None, {"repeat": "repeat"}, ["BP3"], ["PM4"]),
    ("PM6 for an unconfirmed de novo", MISSENSE, "null_freq", {},
     _refs(ref_de_novo="de_novo_unconfirmed"), None, ["PM6"], ["PS2"]),
    ("PS2 for a confirmed de novo", MISSENSE, "null_freq", {},
     _refs(ref_de_novo="de_novo_confirmed"), None, ["PS2"], ["PM6"]),
    ("PP3 for a manually judged new splice site", MISSENSE, "null_freq", {}, None,
     {"splice_Effect_manual": "de_novo"}, ["PP3"], ["BP4"]),
    ("BP1 for a protein-altering variant where only loss of function causes disease",
     ["protein_altering_variant"], "null_freq", {"disease_mode": "LOF"}, None, None,
     ["REQ_missense", "BP1"], []),
    ("PP2 where missense variants are uncommon (a disease mode list)", MISSENSE, "null_freq",
     {"disease_mode": ["MISSUNC", "ANY"]}, None, None, ["PP2"], []),
    ("no PP2 where missense variants are common", MISSENSE, "null_freq",
     {"disease_mode": ["MISSCOMM", "ANY"]}, None, None, [], ["PP2"]),
    ("an X-linked recessive panel gene", MISSENSE, "null_freq", {"inheritance": "XR"}, None,
     None, ["REQ_GP_XR"], ["REQ_GP_XD", "REQ_GP_AD"]),
]


@pytest.mark.parametrize("consequences, commonness, panel, refs, prediction, given, absent",
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_criterion(consequences, commonness, panel, refs, prediction, given, absent):
    codes = suggested(annotation(consequences, prediction=prediction), commonness,
                      gp={**GP, **panel}, refs=refs)
    assert [code for code in given if code not in codes] == [], codes
    assert [code for code in absent if code in codes] == [], codes
