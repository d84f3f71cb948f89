"""segregation (filtering.md 2.8): de novo and combination cases through the real SQL."""

import pytest

from ella.filters import segregation
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


# --- filtering.md 2.8 cases 2-6 --------------------------------------------------------------

NONE_ENABLED = {rule: {"enable": False} for rule in ONLY_DENOVO}


def _only(*rules, **extra):
    config = {**NONE_ENABLED, **{rule: {"enable": True} for rule in rules}}
    for rule, settings in extra.items():
        config[rule] = {**config[rule], **settings}
    return config


ALL_RULES = _only(*ONLY_DENOVO)
X_NONPAR = 60000   # 0-based 60000-60001: X-linked (open_end <= 60001)
X_PAR = 60001      # 0-based 60001-60002: pseudo-autosomal
X_MOSAIC = 59991   # 0-based 59991-59992: X-linked


def _fam(db_conn, ella_config, sex="Male", parents=True, siblings=()):
    w = World(db_conn, ella_config)
    return w, w.family(sex=sex, father=parents, mother=parents, siblings=siblings)


def _gt(w, fam, types, chromosome="1", start=None, symbol=None):
    """An allele with one genotype of the proband; `types`: {sample key: type or
    (type, allele ratio, gq)}; `symbol`: annotate it on NM_<symbol>.1 of that gene."""
    allele = w.allele(chromosome, start) if start is not None else w.allele(chromosome)
    w.genotype(allele, fam["P"], data={fam[k]: v for k, v in types.items()})
    if symbol:
        w.annotate(allele, [{"transcript": f"NM_{symbol}.1", "symbol": symbol, "hgnc_id": 1}])
    return allele


def _kept(w, alleles, config):
    """The alleles the segregation filter keeps (= the sub-rules' union with parents)."""
    return set(alleles) - w.run("segregation", alleles, config)


# case 2: de novo on X (non-PAR and PAR), with GQ thresholds
@pytest.mark.parametrize("sex, start, p, f, m, denovo", [
    ("Female", X_NONPAR, HET, REF, REF, True),
    ("Female", X_NONPAR, HOM, REF, REF, True),
    ("Female", X_NONPAR, HOM, REF, HET, True),
    ("Male", X_NONPAR, HOM, REF, REF, True),
    ("Male", X_NONPAR, HET, REF, REF, False),
    ("Male", X_NONPAR, HOM, REF, HET, False),
    ("Male", X_PAR, HOM, REF, REF, True),
    # Sex unknown (.ped sex 0): neither X rule; in the PAR the autosomal rule still applies.
    (None, X_NONPAR, HET, REF, REF, False),
    (None, X_NONPAR, HOM, REF, REF, False),
    (None, X_PAR, HET, REF, REF, True),
])
def test_denovo_x(db_conn, ella_config, sex, start, p, f, m, denovo):
    w, fam = _fam(db_conn, ella_config, sex=sex)
    allele = _gt(w, fam, {"P": p, "F": f, "M": m}, "X", start)
    assert _kept(w, [allele], ONLY_DENOVO) == ({allele} if denovo else set())


@pytest.mark.parametrize("gqs, denovo", [
    ((20, 20, 20), True), ((19, 20, 20), False), ((20, 19, 20), False), ((20, 20, 19), False),
    ((None, 20, 20), True),
])
def test_denovo_x_gq_threshold(db_conn, ella_config, gqs, denovo):
    w, fam = _fam(db_conn, ella_config, sex="Male")
    p, f, m = gqs
    allele = _gt(w, fam, {"P": (HOM, 1.0, p), "F": (REF, 0.0, f), "M": (REF, 0.0, m)}, "X",
                 X_NONPAR)
    config = _only("denovo", denovo={"gq_threshold": {"proband": 20, "mother": 20,
                                                      "father": 20}})
    assert _kept(w, [allele], config) == ({allele} if denovo else set())


# case 3: compound heterozygous
@pytest.mark.parametrize("variants, expected", [
    ([("GENE1", HOM, HET, HET), ("GENE1", HET, REF, HET), ("GENE1", HET, HET, REF),
      ("GENE2", HOM, HET, HET)], {1, 2}),
    ([("GENE1", HET, HET, REF), ("GENE1", HET, REF, HET), ("GENE2", HOM, HET, HET)], {0, 1}),
    ([("GENE1", HOM, HET, HET), ("GENE1", HET, REF, HET), ("GENE2", HET, HET, REF),
      ("GENE2", HOM, HET, HET)], set()),
    ([("GENE1", HOM, REF, REF), ("GENE1", HET, NOCOV, HET), ("GENE1", HET, HET, REF)], set()),
])
def test_compound_heterozygous_trio(db_conn, ella_config, variants, expected):
    w, fam = _fam(db_conn, ella_config)
    alleles = [_gt(w, fam, {"P": p, "F": f, "M": m}, symbol=gene) for gene, p, f, m in variants]
    assert _kept(w, alleles, _only("compound_heterozygous")) == {alleles[i] for i in expected}


def test_compound_heterozygous_pairs_no_variants_of_transcripts_without_a_symbol(
        db_conn, ella_config):
    """filtering.md 2.8 groups by symbol in SQL, where NULL symbols make one group; ELLA
    then selects the alleles with `symbol IN (<qualifying symbols>)`, which no NULL symbol
    passes. So variants of transcripts without a symbol (of unrelated genes, as far as
    anyone knows) are never a pair, as in ELLA."""
    w, fam = _fam(db_conn, ella_config)
    a = _gt(w, fam, {"P": HET, "F": HET, "M": REF})
    b = _gt(w, fam, {"P": HET, "F": REF, "M": HET})
    for allele in (a, b):
        w.annotate(allele, [{"transcript": "NM_7.1", "hgnc_id": 7}])
    assert _kept(w, [a, b], _only("compound_heterozygous")) == set()


@pytest.mark.parametrize("sibling_types, both", [((HET, REF), False), ((HET, HET), True)])
def test_compound_heterozygous_affected_sibling(db_conn, ella_config, sibling_types, both):
    w, fam = _fam(db_conn, ella_config, siblings=[True])
    a = _gt(w, fam, {"P": HET, "F": HET, "M": REF, "S0": sibling_types[0]}, symbol="GENE1")
    b = _gt(w, fam, {"P": HET, "F": REF, "M": HET, "S0": sibling_types[1]}, symbol="GENE1")
    assert _kept(w, [a, b], _only("compound_heterozygous")) == ({a, b} if both else set())


def _compound_rule(w, alleles):
    """The compound heterozygous sub-rule alone (without parents the combination never
    uses it, filtering.md 2.8)."""
    ctx = w.ctx()
    family = segregation.Family(w.conn, w.analysis_id)
    return segregation.compound_heterozygous(ctx, segregation._rows(ctx, alleles, family),
                                             family)


def test_compound_heterozygous_no_parents_unaffected_sibling_hom(db_conn, ella_config):
    w, fam = _fam(db_conn, ella_config, parents=False, siblings=[False])
    a = _gt(w, fam, {"P": HET, "S0": HOM}, symbol="GENE1")
    b = _gt(w, fam, {"P": HET, "S0": HOM}, symbol="GENE1")
    assert _compound_rule(w, [a, b]) == set()


@pytest.mark.parametrize("genes, expected", [(("GENE1", "GENE1"), True),
                                             (("GENE1", "GENE2"), False)])
def test_compound_heterozygous_no_parents_affected_sibling(db_conn, ella_config, genes,
                                                           expected):
    w, fam = _fam(db_conn, ella_config, parents=False, siblings=[True])
    a = _gt(w, fam, {"P": HET, "S0": HET}, symbol=genes[0])
    b = _gt(w, fam, {"P": HET, "S0": HET}, symbol=genes[1])
    assert _compound_rule(w, [a, b]) == ({a, b} if expected else set())
    # Without parents the filter itself removes nothing here.
    assert w.run("segregation", [a, b], ALL_RULES) == set()


# case 4: recessive homozygous (autosomal incl. X PAR, and X-linked)
@pytest.mark.parametrize("start, types, siblings, match", [
    (X_PAR, {"P": HOM, "F": HET, "M": HET}, (), True),
    (X_NONPAR, {"P": HOM, "F": HET, "M": HET}, (), False),
    (X_PAR, {"P": HOM, "F": HET, "M": HET, "S0": HOM}, (True,), True),
    (X_PAR, {"P": HOM, "F": HET, "M": HET, "S0": HET}, (True,), False),
    (X_PAR, {"P": HOM, "F": HET, "M": HET, "S0": HOM}, (False,), False),
    (X_PAR, {"P": HOM, "F": HET, "M": HET, "S0": HET}, (False,), True),
    (X_NONPAR, {"P": HOM, "F": REF, "M": HET}, (), True),
    (X_NONPAR, {"P": HOM, "F": HET, "M": REF}, (), False),
    (X_NONPAR, {"P": HET, "F": REF, "M": HET}, (), False),
    (X_NONPAR, {"P": HOM, "F": REF, "M": HET, "S0": HOM}, (False,), False),
    (X_NONPAR, {"P": HOM, "F": REF, "M": HET, "S0": HOM}, (True,), True),
])
def test_recessive_homozygous(db_conn, ella_config, start, types, siblings, match):
    w, fam = _fam(db_conn, ella_config, sex="Male", siblings=siblings)
    allele = _gt(w, fam, types, "X", start)
    assert _kept(w, [allele], _only("recessive_homozygous")) == ({allele} if match else set())


def test_x_named_the_ucsc_way_is_x(db_conn, ella_config):
    """A GRCh37 VCF with hg19 names stores `chrX`: a son's X-linked recessive variant from
    his carrier mother was judged by the autosomal rule (both parents carriers) and
    removed."""
    w, fam = _fam(db_conn, ella_config, sex="Male")
    allele = _gt(w, fam, {"P": HOM, "F": REF, "M": HET}, "chrX", X_NONPAR)
    assert _kept(w, [allele], _only("recessive_homozygous")) == {allele}


# case 5: parental mosaicism (types default to Reference; (type, allele ratio))
@pytest.mark.parametrize("start, p, m, f, match", [
    (None, (HET, 0.31), (REF, 0.3), (REF, 0.0), True),
    (None, (HET, 0.30), (REF, 0.3), (REF, 0.0), False),
    (None, (HET, 0.31), (NOCOV, 0.3), (REF, 0.0), False),
    (None, (HET, 0.31), (HET, 0.5), (REF, 0.3), False),
    (None, (HET, 0.31), (REF, 0.0), (REF, 0.3), True),
    (X_MOSAIC, (HET, 0.5), (REF, 0.3), (REF, 0.0), True),
    (X_MOSAIC, (HOM, 0.5), (REF, 0.3), (REF, 0.0), True),
    (X_MOSAIC, (HET, 0.5), (REF, 0.0), (REF, 0.8), True),
    (X_MOSAIC, (HOM, 0.5), (REF, 0.0), (REF, 0.5), True),
    (X_MOSAIC, (HET, 0.5), (HET, 0.5), (REF, 0.8), False),
    (X_MOSAIC, (HET, 0.5), (REF, 0.3), (HOM, 1.0), False),
])
def test_parental_mosaicism(db_conn, ella_config, start, p, m, f, match):
    w, fam = _fam(db_conn, ella_config, sex="Male")
    chromosome = "1" if start is None else "X"
    allele = _gt(w, fam, {"P": p, "F": f, "M": m}, chromosome, start)
    assert _kept(w, [allele], _only("parental_mosaicism")) == ({allele} if match else set())


# case 6: combinations
def test_only_denovo_removes_every_other_family_allele(db_conn, ella_config):
    w, fam = _fam(db_conn, ella_config, sex="Female")
    denovo = _gt(w, fam, {"P": HET, "F": REF, "M": REF})
    inherited = _gt(w, fam, {"P": HET, "F": HET, "M": REF})
    recessive = _gt(w, fam, {"P": HOM, "F": HET, "M": HET})
    nocov = _gt(w, fam, {"P": HET, "F": NOCOV, "M": REF})
    nocov_mother = _gt(w, fam, {"P": HET, "F": REF, "M": NOCOV})  # "F or M" (2.8)
    outside = w.allele()   # no genotype in the family: segregation not applicable
    alleles = [denovo, inherited, recessive, nocov, nocov_mother, outside]
    assert w.run("segregation", alleles, ONLY_DENOVO) == {inherited, recessive, nocov,
                                                          nocov_mother}
    assert w.run("segregation", alleles, ALL_RULES) == {inherited}


def test_recessive_homozygous_removes_hom_in_unaffected_siblings(db_conn, ella_config):
    w, fam = _fam(db_conn, ella_config, sex="Female", siblings=[False])
    # De novo (kept by that rule) but also Hom in the unaffected sibling: removed.
    hom_sib = _gt(w, fam, {"P": HOM, "F": REF, "M": REF, "S0": HOM})
    het_sib = _gt(w, fam, {"P": HOM, "F": REF, "M": REF, "S0": HET})
    assert w.run("segregation", [hom_sib, het_sib], ALL_RULES) == {hom_sib}
    assert w.run("segregation", [hom_sib, het_sib],
                 {**ALL_RULES, "recessive_homozygous": {"enable": False}}) == set()


def test_the_sibling_rule_needs_every_unaffected_sibling_homozygous(db_conn, ella_config):
    """filtering.md 2.8: removed when the proband and *every* unaffected sibling are Hom; one
    Het unaffected sibling keeps the variant."""
    w, fam = _fam(db_conn, ella_config, parents=False, siblings=[False, False])
    both_hom = _gt(w, fam, {"P": HOM, "S0": HOM, "S1": HOM})
    one_het = _gt(w, fam, {"P": HOM, "S0": HOM, "S1": HET})
    assert w.run("segregation", [both_hom, one_het], ALL_RULES) == {both_hom}


def test_without_parents_only_the_sibling_rule_removes(db_conn, ella_config):
    w, fam = _fam(db_conn, ella_config, parents=False, siblings=[False, True])
    removed = _gt(w, fam, {"P": HOM, "S0": HOM, "S1": HOM})
    het = _gt(w, fam, {"P": HET, "S0": HET, "S1": HET})
    sib_het = _gt(w, fam, {"P": HOM, "S0": HET, "S1": HOM})
    assert w.run("segregation", [removed, het, sib_het], ALL_RULES) == {removed}
    assert w.run("segregation", [removed, het, sib_het],
                 {**ALL_RULES, "recessive_homozygous": {"enable": False}}) == set()


# --- the variant tags of api.md 3.4 ------------------------------------------------------------

def test_tags_name_every_rule_a_variant_meets_whether_enabled_or_not(db_conn, ella_config):
    w, fam = _fam(db_conn, ella_config, sex="Male")
    denovo = _gt(w, fam, {"P": (HET, 0.5, 50), "F": (REF, 0, 50), "M": (REF, 0, 50)})
    low_gq = _gt(w, fam, {"P": (HET, 0.5, 50), "F": (REF, 0, 10), "M": (REF, 0, 50)})
    mosaic = _gt(w, fam, {"P": (HET, 0.5, 50), "F": (HET, 0.2, 50), "M": (REF, 0.0, 50)})
    recessive = _gt(w, fam, {"P": HOM, "F": HET, "M": HET})
    x_recessive = _gt(w, fam, {"P": HOM, "F": REF, "M": HET}, chromosome="X", start=X_NONPAR)
    compound = [_gt(w, fam, {"P": HET, "F": HET, "M": REF}, symbol="GENE7"),
                _gt(w, fam, {"P": HET, "F": REF, "M": HET}, symbol="GENE7")]
    inherited = _gt(w, fam, {"P": HET, "F": HET, "M": REF})
    alleles = [denovo, low_gq, mosaic, recessive, x_recessive, *compound, inherited]
    gq = {"denovo": {"gq_threshold": {"proband": 20, "mother": 20, "father": 20}}}
    found = segregation.tags(w.ctx(), alleles, _only(**gq))  # no rule enabled
    assert found == {denovo: ["denovo"], mosaic: ["parental_mosaicism"],
                     recessive: ["autosomal_recessive_homozygous"],
                     x_recessive: ["xlinked_recessive_homozygous"],
                     compound[0]: ["compound_heterozygous"],
                     compound[1]: ["compound_heterozygous"]}
    # Without the threshold the low-GQ variant is de novo too.
    assert segregation.tags(w.ctx(), [low_gq], NONE_ENABLED) == {low_gq: ["denovo"]}


def test_no_tags_without_a_family(db_conn, ella_config):
    w = World(db_conn, ella_config)
    single = w.sample("single")
    allele = w.allele()
    w.genotype(allele, single)
    assert segregation.tags(w.ctx(), [allele], NONE_ENABLED) == {}


def test_tags_without_parents(db_conn, ella_config):
    w, fam = _fam(db_conn, ella_config, parents=False, siblings=[True])
    # Parents unknown: only the compound heterozygous rule (proband and affected sibling).
    pair = [_gt(w, fam, {"P": HET, "S0": HET}, symbol="GENE8") for _ in range(2)]
    hom = _gt(w, fam, {"P": HOM, "S0": HOM})
    assert segregation.tags(w.ctx(), pair + [hom], NONE_ENABLED) == {
        pair[0]: ["compound_heterozygous"], pair[1]: ["compound_heterozygous"]}
