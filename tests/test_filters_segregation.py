"""segregation (filtering.md 2.8): de novo and combination cases through the real SQL."""

import pytest

from filter_helpers import World

HET, HOM, REF, NOCOV = "Heterozygous", "Homozygous", "Reference", "No coverage"
ONLY_DENOVO = {"denovo": {"enable": True}, "compound_heterozygous": {"enable": False},
               "recessive_homozygous": {"enable": False},
               "no_coverage_parents": {"enable": False},
               "parental_mosaicism": {"enable": False}}


@pytest.fixture
def trio(db_conn, ella_config):
    w = World(db_conn, ella_config)
    return w, w.family(sex="Female")


def _allele(w, fam, p, f, m, chromosome="1", start=None):
    allele = w.allele(chromosome, start) if start is not None else w.allele(chromosome)
    w.genotype(allele, fam["P"], data={fam["P"]: p, fam["F"]: f, fam["M"]: m})
    return allele


@pytest.mark.parametrize("p, f, m, denovo", [
    (HET, REF, REF, True), (HOM, REF, REF, True), (HOM, REF, HET, True), (HOM, HET, REF, True),
    (HOM, HET, HET, False), (HOM, HOM, HET, False), (HOM, HET, NOCOV, False),
    (HOM, NOCOV, HET, False),
])
def test_denovo_autosomal(trio, p, f, m, denovo):
    w, fam = trio
    allele = _allele(w, fam, p, f, m)
    # Only de novo enabled: everything not de novo is removed.
    assert w.run("segregation", [allele], ONLY_DENOVO) == (set() if denovo else {allele})


def test_denovo_gq_threshold(trio):
    w, fam = trio
    ok = _allele(w, fam, (HET, 0.5, 20), (REF, 0, 20), (REF, 0, 20))
    low = _allele(w, fam, (HET, 0.5, 20), (REF, 0, 19), (REF, 0, 20))
    config = {**ONLY_DENOVO, "denovo": {"enable": True,
                                        "gq_threshold": {"proband": 20, "mother": 20,
                                                         "father": 20}}}
    assert w.run("segregation", [ok, low], config) == {low}


def test_no_family_is_untouched(db_conn, ella_config):
    w = World(db_conn, ella_config)
    sample = w.sample("single")
    allele = w.allele()
    w.genotype(allele, sample)
    assert w.run("segregation", [allele], ONLY_DENOVO) == set()
