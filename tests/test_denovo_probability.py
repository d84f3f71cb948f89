"""p_denovo (api.md 3.4): the model in closed form for trios whose likelihoods leave one or
two genotype combinations possible, so each expected value can be derived by hand."""

import math

import pytest

from ella.filters.denovo_probability import denovo_probability

MU = 1e-8
NEVER = 10000  # a PL this large makes a genotype impossible (10**-1000)
HET_CHILD = [NEVER, 0, NEVER]
REF = [0, NEVER, NEVER]
TYPES = ["Reference", "Reference", "Heterozygous"]  # father, mother, proband


def _autosomal_expected(parent_het_pl):
    """Child surely het, one parent surely 0/0, the other 0/0 or (PL x) 0/1:
    de novo: 0.81 * 0.81 * 2mu(1-mu); inherited: 0.18 * 0.81 * (0.5 mu + 0.5 (1-mu)) * 10^-x/10."""
    denovo = 0.81 * 0.81 * 2 * MU * (1 - MU)
    inherited = 0.18 * 0.81 * 0.5 * 10 ** (-parent_het_pl / 10)
    return denovo / (denovo + inherited)


@pytest.mark.parametrize("x", [30, 60, 80])
def test_autosomal_het_against_the_closed_form_for_either_parent(x):
    """Whether the father or the mother might be the carrier, the same probability: ELLA
    counts a heterozygous child's father-gives-the-variant path as a mutation and would give
    ~1.0 for a doubtful father but the closed form for a doubtful mother."""
    expected = _autosomal_expected(x)
    doubtful = [0, x, NEVER]
    by_father = denovo_probability(HET_CHILD, doubtful, REF, TYPES, False, False)
    by_mother = denovo_probability(HET_CHILD, REF, doubtful, TYPES, False, False)
    assert by_father == pytest.approx(expected, rel=1e-9)
    assert by_mother == pytest.approx(expected, rel=1e-9)


def test_certain_parents_make_the_call_certain():
    assert denovo_probability(HET_CHILD, REF, REF, TYPES, False, False) == pytest.approx(1.0)


def test_homozygous_child_of_a_het_mother():
    """Child surely 1/1, father surely 0/0, mother surely 0/1 (the denovo rule's Hom/Ref/Het):
    the only explanation left is one new mutation, so 1."""
    p = denovo_probability([NEVER, NEVER, 0], REF, [NEVER, 0, NEVER],
                           ["Reference", "Heterozygous", "Homozygous"], False, False)
    assert p == pytest.approx(1.0)


@pytest.mark.parametrize("child_pl", [[NEVER, 0], [NEVER, 7, 0]])
def test_x_linked_son_against_the_closed_form(child_pl):
    """A son's X: hemizygous, from his mother. Mother 0/0 or (PL 60) 0/1:
    de novo 0.81 mu; inherited 0.18 * 0.5 * 10^-6. A three-value PL loses its het entry."""
    p = denovo_probability(child_pl, [0, NEVER], [0, 60, NEVER],
                           ["Reference", "Reference", "Homozygous"], True, True)
    denovo, inherited = 0.81 * MU, 0.18 * 0.5 * 1e-6
    assert p == pytest.approx(denovo / (denovo + inherited), rel=1e-9)


def test_x_linked_daughter_gets_her_fathers_x():
    """A daughter's X from a hemizygous father: father surely 0 (the het entry of his
    three-value PL is dropped, however small), mother 0/0 or (PL 60) 0/1, daughter surely
    het: de novo 0.81 * 2mu(1-mu); inherited from the mother 0.18 * ((1-mu)0.5 + mu 0.5)
    * 10^-6."""
    p = denovo_probability(HET_CHILD, [0, 0, NEVER], [0, 60, NEVER], TYPES, True, False)
    denovo = 0.81 * 2 * MU * (1 - MU)
    inherited = 0.18 * 0.5 * 1e-6
    assert p == pytest.approx(denovo / (denovo + inherited), rel=1e-9)
    # If the father could carry it, the daughter's het is explained without a mutation.
    carrier_father = denovo_probability(HET_CHILD, [0, 0, 20], REF, TYPES, True, False)
    assert carrier_father == pytest.approx(
        0.9 * 0.81 * 2 * MU / (0.9 * 0.81 * 2 * MU + 0.1 * 0.81 * 1e-2), rel=1e-6)


def test_large_likelihoods_do_not_underflow():
    """PLs in the thousands (deep coverage) make every 10**(-PL/10) zero in floating point;
    the sum is taken around its largest term."""
    p = denovo_probability([3000, 0, 3000], [0, 2000, 4000], [0, 2500, 5000], TYPES,
                           False, False)
    assert p == pytest.approx(1.0)
    assert math.isfinite(p)


@pytest.mark.parametrize("pls, types, xlinked", [
    ((None, REF, REF), TYPES, False),                     # no PL (multiallelic: stored null)
    ((HET_CHILD, [], REF), TYPES, False),                 # empty PL
    ((HET_CHILD, [0, 3], REF), TYPES, False),             # two values for a diploid call
    ((HET_CHILD, REF, [0, 3, 9, 9]), TYPES, False),       # four values
    ((HET_CHILD, [0, NEVER], REF),                        # a het haploid father on X
     ["Heterozygous", "Reference", "Heterozygous"], True),
    ((HET_CHILD, REF, REF), ["Reference", "No coverage", "Heterozygous"], False),
])
def test_not_computable(pls, types, xlinked):
    assert denovo_probability(*pls, types, xlinked, False) is None
