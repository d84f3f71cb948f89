"""Filter rules that no other test pinned down (found by a mutation audit: each of these
tests fails when the rule it names is changed), with filtering.md's section for each. The
worst of them wrongly removed a variant: two heterozygous variants in a recessive gene, an
AD cut-off for a gene that is also AR, or for another version of the panel."""
import copy

import pytest

from filter_helpers import PANEL, World
from test_filters_allele import FREQUENCY as FREQ, freq_world  # noqa: F401 (fixture)

HET, HOM, REF = "Heterozygous", "Homozygous", "Reference"
NON = {"filter_mode": "recessive_non_candidates"}
NONE_ENABLED = {r: {"enable": False} for r in ("denovo", "compound_heterozygous",
                "recessive_homozygous", "no_coverage_parents", "parental_mosaicism")}


def only(*rules):
    return {**NONE_ENABLED, **{r: {"enable": True} for r in rules}}


@pytest.fixture
def world(db_conn, ella_config):
    return World(db_conn, ella_config)


def _fa(w, tx, hgnc, g):
    a = w.allele()
    w.annotate(a, [{"transcript": tx, "hgnc_id": hgnc}],
               frequencies={"ExAC": {"freq": {"G": g}, "num": {"G": 9000}}})
    return a


def test_a_gene_with_ad_and_ar_transcripts_is_not_ad_only(freq_world):
    """2.1: AD-only means all of the gene's panel transcripts are AD; the stricter AD
    cut-off removed a variant of a gene that is also AR."""
    freq_world.transcript("NM_4A.1", 400000, inheritance="AD")
    freq_world.transcript("NM_4B.1", 400000, inheritance="AR")
    a = _fa(freq_world, "NM_4A.1", 400000, 0.01)
    assert freq_world.run("frequency", [a], FREQ) == set()


def test_an_override_gene_is_not_also_tested_at_the_ad_cutoff(freq_world):
    """2.1: the AD set is the alleles not in a gene override."""
    config = copy.deepcopy(FREQ)
    config["genes"] = {"100000": {"thresholds": {"external": 0.5, "internal": 0.7}}}
    a = _fa(freq_world, "NM_1AD.1", 100000, 0.01)
    assert freq_world.run("frequency", [a], config) == set()


def test_ad_genes_come_from_the_analysis_panel_version(freq_world):
    """2 and 2.1: the panel is (name, version); a gene AD only in v2 must not get the AD
    cut-off in v1."""
    freq_world.conn.execute("INSERT INTO genepanel (name, version, genome_reference, official, "
                    "date_created) VALUES (%s, 'v2', 'GRCh37', true, now())", (PANEL[0],))
    tid = freq_world.transcript("NM_5.1", 500000, inheritance="AD")
    freq_world.conn.execute("UPDATE genepanel_transcript SET genepanel_version = 'v2' "
                    "WHERE transcript_id = %s", (tid,))
    a = _fa(freq_world, "NM_5.1", 500000, 0.01)
    assert freq_world.run("frequency", [a], FREQ) == set()


def test_genepanel_only_matches_a_panel_gene_by_symbol(world):
    """2.3: hgnc_id in the panel's genes OR symbol in their symbols."""
    world.transcript("NM_1.1", 1, symbol="GENE1")
    a = world.allele()
    world.annotate(a, [{"transcript": "NM_1.1", "hgnc_id": 999, "symbol": "GENE1",
                        "consequences": ["synonymous_variant"]}])
    assert world.run("consequence", [a], {"consequences": ["synonymous_variant"],
                                          "genepanel_only": True}) == {a}


def test_quality_reads_the_probands_data_only(world):
    """2.4: proband samples only; the parents' allele ratios kept a proband's low-ratio call."""
    fam = world.family()
    a = world.allele()
    world.genotype(a, fam["P"], data={fam["P"]: (HET, 0.2), fam["F"]: (REF, 0.5),
                                      fam["M"]: (REF, 0.5)})
    assert world.run("quality", [a], {"allele_ratio": 0.25}) == {a}


def test_a_class_without_outdated_days_never_goes_out_of_date(world):
    """2.5 and 0.4: class 1 never goes out of date."""
    a = world.allele()
    world.assess(a, "1", days_ago=4000)
    assert world.run("classification", [a], {"classes": ["1"], "exclude_outdated": True}) == {a}


def test_a_class_without_an_options_entry_never_matches_with_exclude_outdated(db_conn, ella_config):
    """2.5 QUIRK."""
    config = copy.deepcopy(ella_config)
    config["classification"]["options"] = [o for o in config["classification"]["options"]
                                           if o["value"] != "DR"]
    w = World(db_conn, config)
    a = w.allele()
    w.assess(a, "DR")
    assert w.run("classification", [a], {"classes": ["DR"], "exclude_outdated": True}) == set()
    assert w.run("classification", [a], {"classes": ["DR"]}) == {a}


MULTI = "criteria provided, multiple submitters, no conflicts"


def _cv(w, items):
    a = w.allele()
    w.annotate(a, external={"CLINVAR": {"variant_description": MULTI, "items": [
        {"rcv": r, "clinical_significance_descr": s} for r, s in items]}})
    return a


def test_only_scv_items_count(world):
    """2.6 step 2: alleles without an SCV item do not appear."""
    a = _cv(world, [("RCV000000001", "Pathogenic")])
    assert world.run("external", [a], {"clinvar": {"combinations": [
        ["pathogenic", ">=", 1]]}}) == set()


def test_the_scv_prefix_is_case_insensitive(world):
    """2.6 step 2."""
    a = _cv(world, [("scv000000001", "Pathogenic")])
    assert world.run("external", [a], {"clinvar": {"combinations": [
        ["pathogenic", ">=", 1]]}}) == {a}


def test_likely_pathogenic_counts_as_pathogenic(world):
    """2.6 step 2, the pathogenic list."""
    a = _cv(world, [("SCV1", "Likely pathogenic"), ("SCV2", "Likely pathogenic"),
                    ("SCV3", "Benign")])
    assert world.run("external", [a], {"clinvar": {"combinations": [
        ["pathogenic", ">", "benign"]]}}) == {a}


def test_the_gene_filters_mode_defaults_to_all(world):
    """2.9."""
    world.transcript("NM_1.1", 1)
    world.transcript("NM_2.1", 2)
    a = world.allele()
    world.annotate(a, [{"transcript": "NM_1.1", "hgnc_id": 1},
                       {"transcript": "NM_2.1", "hgnc_id": 2}])
    assert world.run("gene", [a], {"genes": [1]}) == set()


def test_a_transcript_prefix_match_needs_the_same_gene(world):
    """2.9: NM_1.1 is no version of NM_12.1."""
    world.transcript("NM_12.1", 2)
    a = world.allele()
    world.annotate(a, [{"transcript": "NM_1.1", "hgnc_id": 1}])
    assert world.run("gene", [a], {"genes": [2], "mode": "one"}) == set()


def test_the_region_rescue_reads_the_highest_annotation_version(world):
    """2.9 and 2.2 step 2."""
    world.transcript("NM_1.1", 1, "1", "+", (1000, 1500), (1230, 1430),
                     [(1100, 1160), (1200, 1260), (1300, 1360), (1400, 1460)])
    a = world.allele("1", 3000)
    world.annotate(a, [{"transcript": "NM_1.2", "hgnc_id": 1, "exon_distance": -50,
                        "coding_region_distance": None},
                       {"transcript": "NM_1.3", "hgnc_id": 1, "exon_distance": 0,
                        "coding_region_distance": 0}])
    assert world.run("region", [a], {"splice_region": [-10, 5], "utr_region": [-12, 20]}) \
        == set()


def test_a_polypyrimidine_tract_snp_on_plus_must_change_to_c_or_t(world):
    """2.12: C>A is kept."""
    world.transcript("NM_1.1", 1, "1", "+", (1000, 1500), (1100, 1450),
                     [(1100, 1160), (1200, 1260), (1300, 1360), (1400, 1460)])
    a = world.vcf_allele("1", 1291, "C", "A")
    assert world.run("ppy", [a], {"ppy_tract_region": [-20, -3]}) == set()


def _inh(world, sample, tx, hgnc, typ):
    a = world.allele()
    world.annotate(a, [{"transcript": tx, "hgnc_id": hgnc}])
    world.genotype(a, sample, data={sample: typ})
    return a


def test_two_heterozygous_variants_in_a_recessive_gene_are_candidates(world):
    """2.7: non-candidates are n(g) = 1; possible compound heterozygotes were removed."""
    world.transcript("NM_1.1", 1, inheritance="AR")
    s = world.sample("P1")
    a, b = _inh(world, s, "NM_1.1", 1, HET), _inh(world, s, "NM_1.1", 1, HET)
    assert world.run("inheritancemodel", [a, b], NON) == set()


def test_the_inheritance_model_reads_included_transcripts_only(world):
    """2.7 and 0.4: transcript ~ inclusion_regex."""
    world.transcript("NM_1.1", 1, inheritance="AR")
    s = world.sample("P1")
    b = _inh(world, s, "ENST00000001", 1, HET)
    assert world.run("inheritancemodel", [b], NON) == set()


def test_a_variant_one_vcf_of_the_family_keeps_is_kept(world):
    """README (filtering, deliberate differences): each variant is judged with its own
    VCF's samples and removed only when none keeps it."""
    fam = world.family(sex="Female")
    p2 = world.sample("P", family_id="fam", sex="Female")  # the proband's CNV/second VCF
    a = world.allele()
    world.genotype(a, fam["P"], data={fam["P"]: HET, fam["F"]: HET, fam["M"]: REF})
    world.genotype(a, p2, data={p2: HET})
    assert world.run("segregation", [a], only("denovo")) == set()


def test_compound_heterozygotes_pair_through_included_transcripts_only(world):
    """2.8: rows with transcript ~ inclusion_regex."""
    fam = world.family(sex="Female")
    v1, v2 = world.allele(), world.allele()
    world.genotype(v1, fam["P"], data={fam["P"]: HET, fam["F"]: HET, fam["M"]: REF})
    world.genotype(v2, fam["P"], data={fam["P"]: HET, fam["F"]: REF, fam["M"]: HET})
    world.annotate(v1, [{"transcript": "NM_G1.1", "symbol": "GENE1", "hgnc_id": 1}])
    world.annotate(v2, [{"transcript": "ENST00000001", "symbol": "GENE1", "hgnc_id": 1}])
    assert world.run("segregation", [v1, v2], only("compound_heterozygous")) == {v1, v2}


def test_a_filter_named_twice_reports_the_union_of_its_exclusions(world):
    """chain.run_filters: excluded_allele_ids of a filter named twice is the union of both runs."""
    big = world.allele(start=5000, end=5100, change_type="del", length=100)
    small = world.allele()
    chain = {"filters": [{"name": "size", "config": {"threshold": 10, "mode": ">"}},
                         {"name": "size", "config": {"threshold": 10, "mode": "<"}}]}
    assert world.chain([big, small], chain)["excluded_allele_ids"] == {
        "size": sorted([big, small])}
