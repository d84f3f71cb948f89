"""import.md 8 V1 (upstream's full ~60-case distance table, through convert_vep as upstream
runs it), V3/V4 (upstream's exact inputs), D2 (random padding, as upstream's property test)."""

import random

import pytest

from ella.alleles import build_allele
from ella.annotation.converters import convert_vep

CSQ_KEYS = ("Allele|Consequence|IMPACT|SYMBOL|Gene|Feature_type|Feature|BIOTYPE|EXON|INTRON|"
            "HGVSc|HGVSp|cDNA_position|CDS_position|Protein_position|Amino_acids|Codons|"
            "Existing_variation|ALLELE_NUM|DISTANCE|STRAND|FLAGS|SYMBOL_SOURCE|HGNC_ID|"
            "CANONICAL|ENSP|REFSEQ_MATCH|SOURCE|GIVEN_REF|USED_REF|BAM_EDIT|SIFT|PolyPhen|"
            "DOMAINS|HGVS_OFFSET|HGVSg|CLIN_SIG|SOMATIC|PHENO|PUBMED|MOTIF_NAME|MOTIF_POS|"
            "HIGH_INF_POS|MOTIF_SCORE_CHANGE|RefSeq_gff|RefSeq_Interim_gff").split("|")
BASE = {**{k: "" for k in CSQ_KEYS}, "Feature_type": "Transcript", "Feature": "NM_SOMETHING",
        "SYMBOL": "SomeSymbol", "HGNC_ID": "1100", "STRAND": "1"}


def raw(**mods):
    data = {**BASE, **mods}
    return "|".join(str(data[k]) for k in CSQ_KEYS)


UPSTREAM_DISTANCES = [
    ("NM_007294.3:c.4535-213G>T", -213, None),
    ("NM_007294.3:c.4535+213G>T", 213, None),
    ("NM_007294.3:c.*35-21G>T", -21, None),
    ("NM_007294.3:c.-35+21G>T", 21, None),
    ("ENST123123:c.4535+1insAAA", 1, None),
    ("ENST123123:c.4535-1dupTTT", -1, None),
    ("ENST123123:c.4535+0dupTTT", 0, 0),
    ("ENST123123:n.4535+1insAAA", 1, None),
    ("ENST123123:n.4535-1dupTTT", -1, None),
    ("ENST123123:c.4535G>T", 0, 0),
    ("NM_007294.3:c.4535G>T", 0, 0),
    ("ENST123123:n.4535G>T", 0, 0),
    ("NM_007294.3:n.4535G>T", 0, 0),
    ("NM_007294.3:c.*4535G>T", 0, 4535),
    ("NM_007294.3:c.-4535G>T", 0, -4535),
    ("NM_007294.3:c.820-131_820-130delAA", -130, None),
    ("NM_007294.3:n.1901_1904delAAGT", 0, 0),
    ("NM_007294.3:c.248-1_248insA", 0, 0),
    ("NM_007294.3:c.248+1_248insA", 0, 0),
    ("NM_007294.3:c.248_248-1insA", 0, 0),
    ("NM_007294.3:c.248_248+1insA", 0, 0),
    ("NM_007294.3:c.-315_-314delAC", 0, -314),
    ("NM_007294.3:c.-264+88_-264+89delTT", 88, None),
    ("NM_007294.3:c.-264-89_-264-88delTT", -88, None),
    ("NM_007294.3:c.*264+88_*264+89delTT", 88, None),
    ("NM_007294.3:c.*264-89_*264-88delTT", -88, None),
    ("NM_007294.3:c.1597-10_1597-3dupTTATTTAT", -3, None),
    ("NM_007294.3:c.13+6_14-8dupTTATTTAT", 6, None),
    ("NM_007294.3:c.13-6_14+8dupTTATTTAT", -6, None),
    ("NM_007294.3:c.13-8_14+6dupTTATTTAT", 6, None),
    ("NM_007294.3:c.13+8_14-6dupTTATTTAT", -6, None),
    ("NM_007294.3:c.*13+6_*14-8dupTTATTTAT", 6, None),
    ("NM_007294.3:c.*13-6_*14+8dupTTATTTAT", -6, None),
    ("NM_007294.3:c.*13-8_*14+6dupTTATTTAT", 6, None),
    ("NM_007294.3:c.*13+8_*14-6dupTTATTTAT", -6, None),
    ("NM_007294.3:c.-13+6_-14-8dupTTATTTAT", 6, None),
    ("NM_007294.3:c.-13-6_-14+8dupTTATTTAT", -6, None),
    ("NM_007294.3:c.-13-8_-14+6dupTTATTTAT", 6, None),
    ("NM_007294.3:c.-13+8_-14-6dupTTATTTAT", -6, None),
    ("NM_007294.3:c.*1+6_8dupTTATTTAT", 0, 0),
    ("NM_007294.3:c.*1-6_8dupTTATTTAT", 0, 0),
    ("NM_007294.3:c.-1-8_6dupTTATTTAT", 0, 0),
    ("NM_007294.3:c.-1+8_6dupTTATTTAT", 0, 0),
    ("NM_007294.3:c.6_-1+8dupTTATTTAT", 0, 0),
    ("NM_007294.3:c.6_-1-8dupTTATTTAT", 0, 0),
    ("NM_007294.3:c.8_*1-6dupTTATTTAT", 0, 0),
    ("NM_007294.3:c.8_*1+6dupTTATTTAT", 0, 0),
    ("NM_007294.3:c.248+3_249-8del", 3, None),
    ("NM_007294.3:c.248-3_249+8del", -3, None),
    ("NM_007294.3:c.248+8_249-3del", -3, None),
    ("NM_007294.3:c.248-8_249+3del", 3, None),
    ("NM_007294.3:c.*-15A>C", None, None),
]


@pytest.mark.parametrize("hgvsc, exon_distance, coding_distance", UPSTREAM_DISTANCES)
def test_v1_upstream_distance_table_through_convert_vep(hgvsc, exon_distance, coding_distance):
    (t,) = convert_vep(raw(HGVSc=hgvsc), CSQ_KEYS)
    assert (t["exon_distance"], t["coding_region_distance"]) == (exon_distance, coding_distance)


def test_v2_in_last_exon_through_convert_vep():
    assert convert_vep(raw(EXON="20/20"), CSQ_KEYS)[0]["in_last_exon"] == "yes"
    assert convert_vep(raw(EXON="19/20"), CSQ_KEYS)[0]["in_last_exon"] == "no"
    assert convert_vep(raw(), CSQ_KEYS)[0]["in_last_exon"] == "no"
    with pytest.raises(Exception):
        convert_vep(raw(EXON="20__20"), CSQ_KEYS)


def test_v3_upstream_transcript_filter():
    data = ",".join([raw(Feature="NM_000090.3"), raw(Feature="ENST123456"),
                     raw(Feature="NM_000091.2"),
                     raw(Feature="NOT_NM_OR_ENST__I_WILL_BE_FILTERED"),
                     raw(Feature="NM_foobar", Feature_type="Other")])
    assert [t["transcript"] for t in convert_vep(data, CSQ_KEYS)] == [
        "ENST123456", "NM_000090.3", "NM_000091.2"]


def test_v4_upstream_hgnc_fetching():
    data = ",".join([
        raw(Feature="NM_000000.1", Gene="GENE_WITHOUT_HGNC_ID", HGNC_ID=""),
        raw(Feature="NM_000001.1", SYMBOL="BRCA1", HGNC_ID=""),
        raw(Feature="NM_000002.1", Gene="672", HGNC_ID="", SYMBOL=""),
        raw(Feature="NM_000003.1", Gene="ENSG00000139618", HGNC_ID="", SYMBOL="")])
    got = [(t["transcript"], t["symbol"], t["hgnc_id"]) for t in convert_vep(data, CSQ_KEYS)]
    assert got == [("NM_000001.1", "BRCA1", 1100), ("NM_000002.1", "BRCA1", 1100),
                   ("NM_000003.1", "BRCA2", 1101)]


def test_v5_upstream_refseq_priority_with_a_second_transcript():
    import itertools
    base = [dict(Feature="NM_000001.1", SYMBOL="RefSeq", SOURCE="RefSeq"),
            dict(Feature="NM_000001.1", SYMBOL="RefSeq_Interim_gff", SOURCE="RefSeq_Interim_gff"),
            dict(Feature="NM_000001.1", SYMBOL="RefSeq_gff", SOURCE="RefSeq_gff"),
            dict(Feature="NM_000002.1")]
    for p in itertools.permutations(base):
        got = convert_vep(",".join(raw(**x) for x in p), CSQ_KEYS)
        assert [(t["transcript"], t["symbol"]) for t in got] == [
            ("NM_000001.1", "RefSeq_gff"), ("NM_000002.1", "SomeSymbol")]
    rest = [b for b in base if b.get("SYMBOL") != "RefSeq_gff"]
    assert convert_vep(",".join(raw(**x) for x in rest), CSQ_KEYS)[0]["symbol"] == \
        "RefSeq_Interim_gff"
    rest = [b for b in rest if b.get("SYMBOL") != "RefSeq_Interim_gff"]
    assert convert_vep(",".join(raw(**x) for x in rest), CSQ_KEYS)[0]["symbol"] == "RefSeq"


KEYS = ["start_position", "open_end_position", "change_type", "change_from", "change_to",
        "length"]


def _standard(rng):
    """Upstream's positions() strategy: no common suffix; a common prefix only as the one
    VCF padding base of an ins/del."""
    from os.path import commonprefix
    bases = "ACGT"
    while True:
        ref = "".join(rng.choice(bases) for _ in range(rng.randint(1, 6)))
        alt = "".join(rng.choice(bases) for _ in range(rng.randint(1, 6)))
        if commonprefix([ref[::-1], alt[::-1]]):
            continue
        cp = len(commonprefix([ref, alt]))
        if cp == 1 and not (len(ref) == 1 or len(alt) == 1):
            continue
        if cp > 1:
            continue
        return "1", rng.randint(10 ** 4, 10 ** 7), ref, alt


UPSTREAM_EXAMPLES = [
    (("1", 123, "T", "C"), [("C", "CC")]), (("1", 123, "A", "T"), [("AA", "T")]),
    (("1", 123, "T", "TT"), [("A", "")]), (("1", 123, "T", "TA"), [("C", "CC")]),
    (("1", 123, "T", "TT"), [("C", "T")]), (("1", 123, "CT", "C"), [("", "CC")]),
    (("1", 123, "TCAG", "T"), [("", "CAGCAG")]), (("1", 123, "CT", "AG"), [("AA", "")]),
    (("1", 123, "C", "AG"), [("", "AA")]), (("1", 123, "C", "AG"), [("AG", "AA")]),
]


def _expected(chrom, pos, ref, alt):
    """Upstream's test_allele_from_record oracle for a standard representation."""
    if len(ref) == len(alt) == 1:
        return ("SNP", pos - 1, pos, ref, alt)
    if alt[0] != ref[0]:
        return ("indel", pos - 1, pos - 1 + len(ref), ref, alt)
    if len(ref) < len(alt):
        return ("ins", pos - 1, pos, "", alt[1:])
    return ("del", pos, pos + len(ref) - 1, ref[1:], "")


def test_d1_d2_upstream_property_tests():
    rng = random.Random(1234)
    cases = list(UPSTREAM_EXAMPLES)
    for _ in range(5000):
        cases.append((_standard(rng), [("".join(rng.choice("ACGT") for _ in range(
            rng.randint(1, 4))), "".join(rng.choice("ACGT") for _ in range(rng.randint(1, 4))))
            for _ in range(rng.randint(1, 4))]))
    for standard, padding in cases:
        chrom, pos, ref, alt = standard
        base = build_allele(chrom, pos, ref, alt)
        if standard not in [c[0] for c in UPSTREAM_EXAMPLES]:
            assert (base["change_type"], base["start_position"], base["open_end_position"],
                    base["change_from"], base["change_to"]) == _expected(*standard), standard
        for prefix, suffix in padding:
            padded = build_allele(chrom, pos - len(prefix), prefix + ref + suffix,
                                  prefix + alt + suffix)
            assert [padded[k] for k in KEYS] == [base[k] for k in KEYS], (standard, prefix,
                                                                          suffix)


@pytest.mark.parametrize("hgvsc, short, insertion", [
    ("c.4416-77_4416-48delCTCTTCTCTTCTCTTCTCTTCTCTTCTCTT", "c.4416-77_4416-48del", None),
    ("c.123_133dupCGACGACGCAG", "c.123_133dup", None),
    ("c.131_132insACTTGCTGCTT", "c.131_132ins(11)", "ACTTGCTGCTT"),
    ("c.123_133delCGACGACGCAGinsACTTGCTGCTT", "c.123_133delins(11)", "ACTTGCTGCTT"),
    ("c.123_124delCGinsACTTGCTGCTT", "c.123_124delCGins(11)", "ACTTGCTGCTT"),
])
def test_v6_upstream_long_names_through_convert_vep(hgvsc, short, insertion):
    (t,) = convert_vep(raw(HGVSc="NM_000000.1:" + hgvsc, HGNC_ID="1"), CSQ_KEYS)
    assert (t["HGVSc"], t["HGVSc_short"], t.get("HGVSc_insertion")) == (hgvsc, short, insertion)
