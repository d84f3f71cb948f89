"""The de novo probability shown beside a de-novo-tagged trio variant (api.md 3.4 `p_denovo`).

The model is FILTUS' (Vigeland et al., Bioinformatics 2016, supplement), as ELLA uses it: the
posterior probability of the called trio genotypes among all genotype combinations, given each
member's phred-scaled genotype likelihoods (PL), Hardy-Weinberg priors at an allele frequency
of 0.1 for the parents, and Mendelian transmission with a mutation rate of 1e-8. On X outside
the pseudo-autosomal regions the father, and a male proband, are haploid.

Two places where ELLA's code departs from that model are not copied (README, "Routes", on
`p_denovo`): a heterozygous child there counts only the father-gives-the-first-allele path
(inheriting the variant from a heterozygous father is all but ruled out, so p_denovo comes out
too high when the father's PL leans towards a het), and on X a father never transmits his
allele to a daughter."""

from math import log10

from ella.filters.segregation import denovo_calls, is_xlinked

MUTATION_RATE = 1e-8
PRIOR_ALLELE_FREQUENCY = 0.1

DIPLOID = ((0, 0), (0, 1), (1, 1))
HAPLOID = ((0,), (1,))
DIPLOID_INDEX = {"Reference": 0, "Heterozygous": 1, "Homozygous": 2}
HAPLOID_INDEX = {"Reference": 0, "Homozygous": 1}


def _priors(ploidy):
    q = PRIOR_ALLELE_FREQUENCY
    if ploidy is HAPLOID:
        return (1 - q, q)
    return ((1 - q) ** 2, 2 * q * (1 - q), q ** 2)


def _transmits(parent, allele):
    """Probability that `parent` (a genotype tuple) passes on `allele`."""
    if allele not in parent:
        return MUTATION_RATE
    if all(a == allele for a in parent):
        return 1 - MUTATION_RATE
    return 0.5


def _transmission(father, mother, child):
    if len(child) == 1:  # a son's X comes from his mother
        return _transmits(mother, child[0])
    a, b = child
    if a == b:
        return _transmits(father, a) * _transmits(mother, a)
    return _transmits(father, a) * _transmits(mother, b) \
        + _transmits(father, b) * _transmits(mother, a)


def _likelihoods(pl, ploidy):
    """Per-genotype log10 likelihoods from a PL list, or None when the PL does not fit."""
    if not pl or any(not isinstance(v, int) for v in pl):
        return None
    if ploidy is HAPLOID and len(pl) == 3:
        pl = (pl[0], pl[2])  # a diploid call's het likelihood means nothing for one X
    if len(pl) != len(ploidy):
        return None
    return [-v / 10 for v in pl]


def denovo_probability(pl_proband, pl_father, pl_mother, types, xlinked, proband_male):
    """The posterior probability of the called genotypes `types` (father, mother, proband:
    "Reference", "Heterozygous" or "Homozygous"), or None when a PL is missing or does not
    fit the ploidy, or a call has no place in the model (a heterozygous haploid call)."""
    father_ploidy = HAPLOID if xlinked else DIPLOID
    child_ploidy = HAPLOID if xlinked and proband_male else DIPLOID
    ploidies = (father_ploidy, DIPLOID, child_ploidy)
    likelihoods = [_likelihoods(pl, ploidy) for pl, ploidy in
                   zip((pl_father, pl_mother, pl_proband), ploidies)]
    if any(lk is None for lk in likelihoods):
        return None
    called = []
    for typ, ploidy in zip(types, ploidies):
        index = (HAPLOID_INDEX if ploidy is HAPLOID else DIPLOID_INDEX).get(typ)
        if index is None:
            return None
        called.append(index)
    log_priors = [[log10(p) for p in _priors(ploidy)] for ploidy in ploidies[:2]]

    def log_joint(f, m, c):
        transmission = _transmission(father_ploidy[f], DIPLOID[m], child_ploidy[c])
        return (log_priors[0][f] + log_priors[1][m] + log10(transmission)
                + likelihoods[0][f] + likelihoods[1][m] + likelihoods[2][c])

    terms = [log_joint(f, m, c) for f in range(len(father_ploidy))
             for m in range(len(DIPLOID)) for c in range(len(child_ploidy))]
    # In log space around the largest term: PLs in the thousands underflow 10**(-PL/10).
    top = max(terms)
    total = sum(10 ** (t - top) for t in terms)
    return 10 ** (log_joint(*called) - top) / total


def add_p_denovo(alleles, denovo_ids):
    """Sets `p_denovo` on the proband genotype of every allele shape (allele_views) in
    `denovo_ids` whose proband has both parents' genotypes, which are a de novo pattern
    themselves (a variant in two VCFs of the trio, de novo in one, inherited in the other,
    showed the inherited calls' posterior too); left out where it cannot be computed (a
    missing or multiallelic PL)."""
    for allele in alleles:
        if allele["id"] not in denovo_ids:
            continue
        xlinked = is_xlinked(allele["chromosome"], allele["start_position"],
                             allele["open_end_position"])
        for sample in allele.get("samples", []):
            if "father" not in sample or "mother" not in sample:
                continue
            genotypes = [sample[k]["genotype"] for k in ("father", "mother")] \
                + [sample["genotype"]]
            if not denovo_calls(sample["genotype"]["type"], genotypes[0]["type"],
                                genotypes[1]["type"], xlinked, sample["sex"]):
                continue
            p = denovo_probability(
                sample["genotype"]["genotype_likelihood"],
                genotypes[0]["genotype_likelihood"], genotypes[1]["genotype_likelihood"],
                [g["type"] for g in genotypes], xlinked, sample["sex"] == "Male")
            if p is not None:
                sample["genotype"]["p_denovo"] = p
