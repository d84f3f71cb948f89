"""Analysis filters (filtering.md 2.4, 2.7, 2.8) and the chain's exception semantics (1.3)."""

import pytest

from filter_helpers import World

HET, HOM, REF, NOCOV = "Heterozygous", "Homozygous", "Reference", "No coverage"


@pytest.fixture
def world(db_conn, ella_config):
    return World(db_conn, ella_config)


# --- quality (2.4) -------------------------------------------------------------------------

def _q(world, samples, **genotype):
    """One allele with a genotype in each given proband sample: [(ar, qual, status)]."""
    allele = world.allele()
    for sample, (ar, qual, status) in samples:
        world.genotype(allele, sample, qual, status, {sample: (HET, ar)})
    return allele


@pytest.mark.parametrize("config, ar, qual, status, filtered", [
    ({"qual": 100, "allele_ratio": 0.25}, 0.24, 100, None, False),
    ({"qual": 100, "allele_ratio": 0.25}, 0.26, 99, None, False),
    ({"qual": 100, "allele_ratio": 0.25}, 0.24, 99, None, True),
    ({"allele_ratio": 0.25}, None, 50, None, False),
    ({"allele_ratio": 0.25}, 0.0, 50, None, False),
    ({"allele_ratio": 0.25}, 0.24, 50, None, True),
    ({"qual": 100}, 0.5, None, None, False),
    ({"qual": 100}, 0.5, 99, None, True),
    ({"qual": 100}, 0.5, 101, "FAIL", False),
    ({"filter_status": {"pattern": "\\."}}, 0.5, 50, ".", False),
    ({"filter_status": {"pattern": "\\."}}, 0.5, 50, None, False),
    ({"filter_status": {"pattern": "PASS", "filter_empty": True}}, 0.5, 50, ".", True),
    ({"filter_status": {"pattern": "PASS", "filter_empty": True}}, 0.5, 50, None, True),
    ({"filter_status": {"pattern": "PASS", "filter_empty": True, "inverse": True}},
     0.5, 50, ".", False),
    ({"filter_status": {"pattern": "PASS", "filter_empty": True, "inverse": True}},
     0.5, 50, None, False),
    ({"filter_status": {"pattern": "PASS", "inverse": True}}, 0.5, 50, "FAIL", True),
])
def test_quality_one_sample(world, config, ar, qual, status, filtered):
    sample = world.sample("P1")
    allele = _q(world, [(sample, (ar, qual, status))])
    assert world.run("quality", [allele], config) == ({allele} if filtered else set())


def test_quality_two_samples(world):
    s1, s2 = world.sample("P1"), world.sample("P2")
    mixed = _q(world, [(s1, (0.24, 50, "PASS")), (s2, (0.26, 50, "PASS"))])
    low = _q(world, [(s1, (0.24, 50, "PASS")), (s2, (0.24, 50, "PASS"))])
    assert world.run("quality", [mixed, low], {"allele_ratio": 0.25}) == {low}
    vqsr = _q(world, [(s1, (0.5, 50, "VQSRTrancheSNP99.00to99.90")), (s2, (0.5, 50, "PASS"))])
    assert world.run("quality", [vqsr], {"filter_status": {"pattern": ".*VQSR.*"}}) == set()
    only2 = _q(world, [(s2, (0.24, 50, None))])
    only1 = _q(world, [(s1, (0.24, 50, None))])
    assert world.run("quality", [only1, only2], {"allele_ratio": 0.25}) == {only1, only2}


# --- inheritancemodel (2.7) ----------------------------------------------------------------

NON = {"filter_mode": "recessive_non_candidates"}
CAND = {"filter_mode": "recessive_candidates"}


def _inh_allele(world, genes, types):
    """Allele annotated on NM_<gene>.1 for each gene, with one genotype type per sample."""
    allele = world.allele()
    world.annotate(allele, [{"transcript": f"NM_{g}.1", "hgnc_id": g} for g in genes])
    for sample, typ in types:
        world.genotype(allele, sample, data={sample: typ})
    return allele


@pytest.mark.parametrize("inheritances, typ, mode, expected", [
    (["AR"], HET, NON, True), (["XR"], HET, NON, False), (["AD"], HET, NON, False),
    (["AR", "AD"], HET, NON, False), (["AR"], HOM, NON, False),
    (["AD"], HOM, CAND, False), (["AD/AR"], HOM, CAND, True), (["AD/AR"], HET, CAND, False),
])
def test_inheritancemodel_single(world, inheritances, typ, mode, expected):
    for i, inheritance in enumerate(inheritances):
        world.transcript(f"NM_1.{i + 1}" if i == 0 else f"NM_1x{i}.1", 1, inheritance=inheritance)
    sample = world.sample("P1")
    allele = _inh_allele(world, [1], [(sample, typ)])
    assert world.run("inheritancemodel", [allele], mode) == ({allele} if expected else set())


def test_inheritancemodel_several_genes(world):
    world.transcript("NM_1.1", 1, inheritance="AD")
    world.transcript("NM_2.1", 2, inheritance="AR")
    s1 = world.sample("P1")
    a = _inh_allele(world, [1, 2], [(s1, HET)])
    assert world.run("inheritancemodel", [a], NON) == set()


def test_inheritancemodel_genes_xr_ar_mixed(world):
    world.transcript("NM_11.1", 11, inheritance="XR")
    world.transcript("NM_12.1", 12, inheritance="AR")
    world.transcript("NM_12b.1", 12, inheritance="AR")
    world.transcript("NM_13.1", 13, inheritance="XR")
    world.transcript("NM_13b.1", 13, inheritance="AD")
    s1 = world.sample("P1")
    world.sample("P2")  # a second sample that carries none of the variants
    a0 = _inh_allele(world, [11, 13], [(s1, HET)])
    a1 = _inh_allele(world, [11, 13], [(s1, HET)])
    a2 = _inh_allele(world, [12], [(s1, HET)])
    assert world.run("inheritancemodel", [a0, a1, a2], NON) == {a2}


def test_inheritancemodel_two_samples(world):
    world.transcript("NM_1.1", 1, inheritance="AR")
    world.transcript("NM_2.1", 2, inheritance="AR")
    s1, s2 = world.sample("P1"), world.sample("P2")
    het_het = _inh_allele(world, [1], [(s1, HET), (s2, HET)])
    hom_het = _inh_allele(world, [2], [(s1, HOM), (s2, HET)])
    assert world.run("inheritancemodel", [het_het], NON) == {het_het}
    assert world.run("inheritancemodel", [hom_het], NON) == set()
    assert world.run("inheritancemodel", [het_het], CAND) == set()
    assert world.run("inheritancemodel", [hom_het], CAND) == {hom_het}


def test_inheritancemodel_candidates(world):
    world.transcript("NM_1.1", 1, inheritance="AD")
    world.transcript("NM_2.1", 2, inheritance="AD/AR")
    world.transcript("NM_3.1", 3, inheritance="")
    s1 = world.sample("P1")
    ad_a = _inh_allele(world, [1], [(s1, HOM)])
    ad_b = _inh_allele(world, [1], [(s1, HET)])
    assert world.run("inheritancemodel", [ad_a, ad_b], CAND) == set()
    hom = _inh_allele(world, [2], [(s1, HOM)])
    het = _inh_allele(world, [2], [(s1, HET)])
    assert world.run("inheritancemodel", [hom, het], CAND) == {hom, het}
    other = _inh_allele(world, [3], [(s1, HET)])
    assert world.run("inheritancemodel", [hom, other], CAND) == {hom}


# --- exceptions (1.3): allele type vs analysis type ----------------------------------------

def test_allele_exception_only_sees_what_its_filter_removes(world):
    w = world
    sample = w.sample("P1")
    small, big = w.allele(), w.allele(start=5000, end=5100, change_type="del", length=100)
    for a in (small, big):
        w.genotype(a, sample)
        w.assess(a, "5")
    chain = {"filters": [{"name": "size", "config": {"threshold": 10, "mode": ">"},
                          "exceptions": [{"name": "classification",
                                          "config": {"classes": ["5"]}}]},
                         {"name": "size", "config": {"threshold": 10, "mode": "<"}}]}
    # `small` is classified too, but the exception only protects it from the first filter.
    assert w.chain([small, big], chain) == {"allele_ids": [big],
                                            "excluded_allele_ids": {"size": [small]}}


def test_analysis_exception_counts_all_remaining_alleles_in_the_gene(world):
    w = world
    w.transcript("NM_1.1", 1, inheritance="AR")
    sample = w.sample("P1")
    common = _inh_allele(w, [1], [(sample, HET)])
    rare = _inh_allele(w, [1], [(sample, HET)])
    w.assess(common, "2")
    chain = {"filters": [{"name": "classification", "config": {"classes": ["2"]},
                          "exceptions": [{"name": "inheritancemodel", "config": CAND}]}]}
    # Analysis-type exception: sees both alleles of the gene (n = 2) -> candidate, rescued.
    assert w.chain([common, rare], chain)["allele_ids"] == [common, rare]
    # The same rule run only on what the filter removes (allele-type semantics) sees n = 1.
    assert w.run("inheritancemodel", [common], CAND) == set()
