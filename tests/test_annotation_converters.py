"""Annotation converters (spec/import.md 3, acceptance criteria D5, D6, V1-V6, K1, J1, R1).

No database. The end-to-end tests compare our annotation of every record of the two real
VCFs with tests/data/*.expected-annotations.jsonl (produced by upstream ELLA 1.17's
converters). Floats are parsed from the exact decimal VCF text on both sides, so no float
tolerance is needed (upstream itself would store float32-widened values; we deliberately do
not, see spec/import.md 2.2).
"""

import base64
import itertools
import json
from pathlib import Path

import pytest

from ella.annotation import hgnc
from ella.annotation.converters import (AnnotationConfigError, AnnotationConversionError,
                                        Annotator, CastError, annotate_record,
                                        convert_clinvarjson, convert_clinvarreferences,
                                        convert_hgmd, convert_hgmdextrarefs,
                                        convert_hgmdprimaryreport, convert_json,
                                        convert_keyvalue, convert_mapping, convert_meta,
                                        convert_vep, extrarefs_fields, hgvsc_distances,
                                        in_last_exon, meta_keys, place, shorten_hgvsc)
from ella.annotation.legacy_config import legacy_annotation_config
from ella.data_warnings import collecting
from ella.vcf import open_vcf, read_header

DATA = Path(__file__).resolve().parent / "data"
DEPOSIT = legacy_annotation_config()["deposit"]


def jsonish(value):
    return json.loads(json.dumps(value))


# --------------------------------------------------------------------------- end to end

@pytest.mark.parametrize("name", ["TestAnalysis-001", "brca_sample_2.HBOC_v01"])
def test_real_vcfs_match_expected_annotations(name):
    vcf = DATA / "vcf" / f"{name}.vcf"
    expected = [json.loads(line) for line in
                (DATA / f"{name}.expected-annotations.jsonl").read_text().splitlines() if line]
    header = read_header(vcf)
    with open_vcf(vcf) as reader:
        records = list(reader)
    assert len(records) == len(expected) == 6
    for record, exp in zip(records, expected):
        assert (record.chrom, record.pos, record.ref, record.alt) == \
            (exp["chromosome"], exp["vcf_pos"], exp["vcf_ref"], exp["vcf_alt"])
        got = annotate_record(record, DEPOSIT, header.csq_fields)
        assert jsonish(got) == exp["annotations"], f"{name} {record.pos}"


def test_real_vcf_annotator_reuse_and_spot_values():
    vcf = DATA / "vcf" / "brca_sample_2.HBOC_v01.vcf"
    header = read_header(vcf)
    annotator = Annotator(DEPOSIT, header.csq_fields, header)
    with open_vcf(vcf) as reader:
        by_pos = {r.pos: annotator.annotate(r) for r in reader}
    a = by_pos[32893377]
    assert a["frequencies"]["GNOMAD_EXOMES"]["count"]["AFR"] == 109
    assert a["frequencies"]["GNOMAD_EXOMES"]["freq"]["G"] == 0.0004834
    assert a["frequencies"]["GNOMAD_EXOMES"]["filter"]["G"] == ["PASS"]
    assert a["frequencies"]["inDB"]["indications"]["OUSWES"] == {"MigraForst": "1", "PU": "1"}
    assert "hemi" not in a["frequencies"]["GNOMAD_EXOMES"]  # no Hemi INFO keys
    pmids = [r["pubmed_id"] for r in a["references"]]
    assert pmids == sorted(pmids)
    nm = [t for t in by_pos[32893296]["transcripts"] if t["transcript"] == "NM_000059.3"][0]
    assert nm == {"consequences": ["frameshift_variant"], "hgnc_id": 1101, "symbol": "BRCA2",
                  "HGVSc": "c.151delG", "HGVSc_short": "c.151delG",
                  "HGVSp": "p.Glu51AsnfsTer29", "protein": "NP_000050.2", "strand": 1,
                  "amino_acids": "E/X", "dbsnp": ["rs80359287"], "exon": "3/27",
                  "codons": "Gaa/aa", "transcript": "NM_000059.3", "is_canonical": True,
                  "exon_distance": 0, "coding_region_distance": 0, "in_last_exon": "no"}


# --------------------------------------------------------------------------- synthetic VCFs

CSQ_FIELDS = ["Allele", "Consequence", "SYMBOL", "Gene", "Feature_type", "Feature", "EXON",
              "INTRON", "HGVSc", "HGVSp", "Amino_acids", "Codons", "Existing_variation",
              "STRAND", "SYMBOL_SOURCE", "HGNC_ID", "CANONICAL", "SOURCE"]

HEADER = (
    "##fileformat=VCFv4.1\n"
    "##INFO=<ID=I1,Number=1,Type=Integer,Description=\"int\">\n"
    "##INFO=<ID=IL,Number=.,Type=Integer,Description=\"ints\">\n"
    "##INFO=<ID=F1,Number=1,Type=Float,Description=\"float\">\n"
    "##INFO=<ID=S1,Number=.,Type=String,Description=\"string\">\n"
    "##INFO=<ID=S2,Number=.,Type=String,Description=\"string\">\n"
    "##INFO=<ID=FL,Number=0,Type=Flag,Description=\"flag\">\n"
    "##INFO=<ID=META,Number=.,Type=String,Description=\"Stuff. Format: name|count|score\">\n"
    "##INFO=<ID=HGMD__extrarefs,Number=.,Type=String,Description=\"Format: "
    "(reftag|comments|disease|pmid) (from somewhere)\">\n"
    "##INFO=<ID=HGMD__pmid,Number=.,Type=String,Description=\"None\">\n"
    "##INFO=<ID=HGMD__comments,Number=.,Type=String,Description=\"None\">\n"
    "##INFO=<ID=CSQ,Number=.,Type=String,Description=\"VEP. Format: "
    + "|".join(CSQ_FIELDS) + "\">\n"
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
)


def one_record(tmp_path, info):
    path = tmp_path / "t.vcf"
    path.write_text(HEADER + f"13\t100\t.\tA\tG\t50\tPASS\t{info}\n")
    with open_vcf(path) as reader:
        (record,) = list(reader)
    return record


def kv(elements, name="keyvalue"):
    return [{"name": name, "converter_config": {"elements": elements}}]


def run(tmp_path, info, deposit):
    record = one_record(tmp_path, info)
    return annotate_record(record, deposit, read_header(tmp_path / "t.vcf").csq_fields)


def test_target_paths_d5(tmp_path):
    deposit = kv([{"source": "I1", "target": "key"},
                  {"source": "I1", "target": "path.to.target"}])
    assert run(tmp_path, "I1=5", deposit) == {"key": 5, "path": {"to": {"target": 5}}}


def test_missing_info_key_writes_nothing(tmp_path):
    deposit = kv([{"source": "I1", "target": "a.b"}, {"source": "F1", "target": "c"}])
    assert run(tmp_path, "F1=0.5", deposit) == {"c": 0.5}
    assert run(tmp_path, ".", deposit) == {}


def test_insert_twice_is_an_error(tmp_path):
    deposit = kv([{"source": "I1", "target": "x"}, {"source": "F1", "target": "x"}])
    with pytest.raises(AnnotationConversionError,
                       match=r"Error when trying to convert source 'F1' with value"):
        run(tmp_path, "I1=1;F1=2.5", deposit)


def test_target_modes_through_annotate(tmp_path):
    deposit = kv([{"source": "IL", "target": "e", "target_mode": "extend"},
                  {"source": "S1", "target": "e2", "target_mode": "extend", "split": ","},
                  {"source": "S2", "target": "e2", "target_mode": "extend", "split": ","},
                  {"source": "IL", "target": "ap", "target_mode": "append"},
                  {"source": "I1", "target": "ap", "target_mode": "append"}])
    got = run(tmp_path, "IL=1,3;I1=2;S1=a,b;S2=c", deposit)
    assert got == {"e": (1, 3), "e2": ["a", "b", "c"], "ap": [(1, 3), 2]}


def test_place_modes_d6():
    a = {}
    place(a, "x", (1, 3), "extend")
    place(a, "x", (2, 4), "extend")
    assert a == {"x": (1, 3, 2, 4)}
    b = {}
    place(b, "y.z", (1, 3), "append")
    place(b, "y.z", 2, "append")
    assert b == {"y": {"z": [(1, 3), 2]}}
    c = {}
    place(c, "m", {"foobar": {"a": 1, "b": 1}}, "merge")
    place(c, "m", {"foobar": {"a": 2, "c": 2}}, "merge")
    assert c == {"m": {"foobar": {"a": 2, "b": 1, "c": 2}}}
    d = {}
    place(d, "n", None)  # insert of a null result
    assert d == {"n": None}
    with pytest.raises(ValueError):
        place(d, "n", 1, "insert")
    with pytest.raises(ValueError):
        place({"x": [1]}, "x", (2,), "extend")  # types must match


# --------------------------------------------------------------------------- keyvalue / mapping

def test_keyvalue_casts_k1():
    assert convert_keyvalue("1") == "1"  # identity
    assert convert_keyvalue((1, 2)) == (1, 2)
    assert convert_keyvalue("12", "int") == 12
    assert convert_keyvalue(7, "int") == 7
    with pytest.raises(CastError):
        convert_keyvalue("1.0", "int")
    assert convert_keyvalue("1.5", "float") == 1.5
    assert convert_keyvalue(3, "float") == 3.0 and isinstance(convert_keyvalue(3, "float"), float)
    assert convert_keyvalue(12, "string") == "12"
    for text in ["true", "Yes", "on", "t", "y", "1"]:
        assert convert_keyvalue(text, "bool") is True
    for text in ["false", "NO", "off", "f", "n", "0"]:
        assert convert_keyvalue(text, "bool") is False
    assert convert_keyvalue(True, "bool") is True
    assert convert_keyvalue(0, "bool") is False
    with pytest.raises(CastError):
        convert_keyvalue("maybe", "bool")
    assert convert_keyvalue("maybe", "bool", target_type_throw=False) is None
    with pytest.raises(AnnotationConfigError):
        convert_keyvalue("1", "decimal")


def test_an_infinite_float_cast_to_int_is_a_cast_failure(tmp_path):
    """int(inf) raises OverflowError: with `target_type_throw: false` (the legacy config's
    Hemi elements) it failed the whole record instead of giving null, as NaN does."""
    for value in (float("inf"), float("-inf")):
        assert convert_keyvalue(value, "int", target_type_throw=False) is None
        with pytest.raises(CastError):
            convert_keyvalue(value, "int")
    deposit = kv([{"source": "F1", "target": "h", "target_type": "int",
                   "target_type_throw": False}])
    assert run(tmp_path, "F1=inf", deposit) == {"h": None}
    assert run(tmp_path, "F1=nan", deposit) == {"h": None}


def test_keyvalue_split_k1():
    assert convert_keyvalue("1|2|3", split="|") == ["1", "2", "3"]
    assert convert_keyvalue("1|2|3", "int", split="|") == [1, 2, 3]
    with pytest.raises(CastError):
        convert_keyvalue("1|2|dabla", "int", split="|")
    assert convert_keyvalue("1|2|dabla", "int", split="|", target_type_throw=False) is None


def test_keyvalue_throw_false_through_annotate(tmp_path):
    deposit = kv([{"source": "S1", "target": "h", "target_type": "int",
                   "target_type_throw": False},
                  {"source": "S2", "target": "k", "target_type": "int"}])
    assert run(tmp_path, "S1=abc", deposit) == {"h": None}
    with pytest.raises(AnnotationConversionError, match="source 'S2' with value 'abc'"):
        run(tmp_path, "S2=abc", deposit)


def test_mapping():
    assert convert_mapping("MigraForst:1,PU:1") == {"MigraForst": "1", "PU": "1"}
    assert convert_mapping("a=1;b=x:y", item_separator=";", keyvalue_separator="=") == \
        {"a": "1", "b": "x:y"}
    assert convert_mapping("a:1,b:2", target_type="int") == {"a": 1, "b": 2}
    assert convert_mapping("a:1:2") == {"a": "1:2"}  # split once
    with pytest.raises(CastError):
        convert_mapping("a:1,b:x", target_type="int")
    assert convert_mapping("a:1,b:x", target_type="int", target_type_throw=False) == {"a": 1}
    # An item without the separator is refused also then, as in ELLA (`PU` was dropped
    # without a word): target_type_throw is about casts.
    for throw in (True, False):
        with pytest.raises(CastError, match="item 'c' has no ':'"):
            convert_mapping("a:1,c", target_type_throw=throw)


# --------------------------------------------------------------------------- json / meta

def test_json_encodings_and_subpath_j1():
    data = {"a1": {"b1": {"c": [1, 2]}}, "x": "y"}
    text = json.dumps(data).encode()
    b16 = base64.b16encode(text).decode()
    assert convert_json(b16) == data
    assert convert_json(base64.b32encode(text).decode(), encoding="base32") == data
    assert convert_json(base64.b64encode(text).decode(), encoding="base64") == data
    assert convert_json(b16, subpath="a1.b1.c") == [1, 2]
    assert convert_json(b16, subpath="a1.nope.c") is None
    with pytest.raises(CastError):
        convert_json("not hex!")


def test_references_of_a_json_converter_without_pubmed_ids(tmp_path):
    """References come out by PubMed id; ones without a numeric id (a site's own json
    converter) go last instead of failing the import with a TypeError."""
    references = [{"pubmed_id": 30}, {"title": "no id"}, {"pubmed_id": 10}, {"pubmed_id": "x"}]
    b16 = base64.b16encode(json.dumps(references).encode()).decode()
    deposit = kv([{"source": "S1", "target": "references", "target_mode": "extend"}], "json")
    assert run(tmp_path, f"S1={b16}", deposit)["references"] == [
        {"pubmed_id": 10}, {"pubmed_id": 30}, {"title": "no id"}, {"pubmed_id": "x"}]


def test_json_through_annotate(tmp_path):
    b16 = base64.b16encode(b'{"a": {"b": 3}}').decode()
    deposit = kv([{"source": "S1", "target": "prediction.x", "subpath": "a.b"}], "json")
    assert run(tmp_path, f"S1={b16}", deposit) == {"prediction": {"x": 3}}


def test_meta_converter(tmp_path):
    keys = meta_keys("Stuff. Format: name|count|score")
    assert keys == ["name", "count", "score"]
    subs = [{"source": "name"}, {"source": "count", "target_type": "int"}]
    assert convert_meta("x|3|0.5", keys, subs) == {"name": "x", "count": 3}
    assert convert_meta("x|3|0.5&y|4|1", keys, subs, list_separator="&") == \
        [{"name": "x", "count": 3}, {"name": "y", "count": 4}]
    # Values and keys are zipped (import.md 3.2): fewer values leave keys out, more are
    # dropped; a mismatch used to fail the whole deposit.
    assert convert_meta("x", keys, subs) == {"name": "x"}
    assert convert_meta("x|3|0.5|extra", keys, subs) == {"name": "x", "count": 3}
    with pytest.raises(AnnotationConfigError):
        meta_keys("no keys here")
    deposit = kv([{"source": "META", "target": "m", "subelements": subs}], "meta")
    assert run(tmp_path, "META=x|3|0.5", deposit) == {"m": {"name": "x", "count": 3}}
    # A subelement the ##INFO line does not name (a typo: `Count`) left that value out of
    # every record without a word; ELLA refuses it.
    typo = kv([{"source": "META", "target": "m",
                "subelements": [{"source": "Count", "target_type": "int"}]}], "meta")
    with pytest.raises(AnnotationConfigError, match=(
            r"meta META: subelement\(s\) 'Count' are not among the keys its ##INFO line "
            r"names \(name\|count\|score\)")):
        run(tmp_path, "META=x|3|0.5", typo)


# --------------------------------------------------------------------------- VEP

DISTANCES = [
    ("c.4535G>T", 0, 0), ("n.4535G>T", 0, 0), ("c.4535-213G>T", -213, None),
    ("c.4535+213G>T", 213, None), ("c.*35-21G>T", -21, None), ("c.4535+0dupTTT", 0, 0),
    ("c.*4535G>T", 0, 4535), ("c.-4535G>T", 0, -4535), ("c.820-131_820-130delAA", -130, None),
    ("c.248-1_248insA", 0, 0), ("c.-315_-314delAC", 0, -314),
    ("c.13+6_14-8dupTTATTTAT", 6, None), ("c.13-8_14+6dupTTATTTAT", 6, None),
    ("c.*1-6_8dupTTATTTAT", 0, 0), ("c.248+8_249-3del", -3, None), ("c.*-15A>C", None, None),
    ("", None, None), ("c.?", None, None), ("c.-12_*4del", 0, 4), ("c.10_11inv", 0, 0),
]


@pytest.mark.parametrize("hgvsc,exon_distance,coding_distance", DISTANCES)
def test_hgvsc_distances_v1(hgvsc, exon_distance, coding_distance):
    assert hgvsc_distances(hgvsc) == (exon_distance, coding_distance)


def test_in_last_exon_v2():
    assert in_last_exon("20/20") == "yes"
    assert in_last_exon("19/20") == "no"
    assert in_last_exon("") == "no"
    assert in_last_exon(None) == "no"
    with pytest.raises(ValueError):
        in_last_exon("20__20")


@pytest.mark.parametrize("hgvsc,short,insertion", [
    ("c.4416-77_4416-48delCTCTTCTCTTCTCTTCTCTTCTCTTCTCTT", "c.4416-77_4416-48del", None),
    ("c.123_133dupCGACGACGCAG", "c.123_133dup", None),
    ("c.131_132insACTTGCTGCTT", "c.131_132ins(11)", "ACTTGCTGCTT"),
    ("c.123_133delCGACGACGCAGinsACTTGCTGCTT", "c.123_133delins(11)", "ACTTGCTGCTT"),
    ("c.123_124delCGinsACTTGCTGCTT", "c.123_124delCGins(11)", "ACTTGCTGCTT"),
    ("c.123_131delCGACGACGC", "c.123_131delCGACGACGC", None),  # 9 nt: kept
    ("c.131_132insACTTGCTGC", "c.131_132insACTTGCTGC", None),
])
def test_shorten_hgvsc_v6(hgvsc, short, insertion):
    assert shorten_hgvsc(hgvsc) == (short, insertion)


def csq_entry(**fields):
    base = {"Allele": "G", "Consequence": "missense_variant", "SYMBOL": "BRCA2",
            "Gene": "ENSG00000139618", "Feature_type": "Transcript", "Feature": "NM_000059.3",
            "STRAND": "1", "HGNC_ID": "1101"}
    base.update(fields)
    return "|".join(base.get(f, "") for f in CSQ_FIELDS)


def vep(*entries):
    return convert_vep(",".join(entries), CSQ_FIELDS)


def test_vep_feature_filter_and_sort_v3():
    out = vep(csq_entry(Feature="NR_1.1"), csq_entry(Feature="XM_1.1"),
              csq_entry(Feature="ENST0001"), csq_entry(Feature="NM_2.1"),
              csq_entry(Feature="XR_9.1"), csq_entry(Feature="ENSR0001"),
              csq_entry(Feature="NM_0.1", Feature_type="RegulatoryFeature"),
              csq_entry(Feature="NM_1.1"))
    assert [t["transcript"] for t in out] == ["ENST0001", "NM_1.1", "NM_2.1", "NR_1.1"]


def test_vep_hgnc_id_sources_v4():
    def one(**kw):
        out = vep(csq_entry(**kw))
        return (out[0]["hgnc_id"], out[0]["symbol"]) if out else None
    assert one(HGNC_ID="1101") == (1101, "BRCA2")
    assert one(HGNC_ID="HGNC:1100", SYMBOL="") == (1100, "BRCA1")
    assert one(HGNC_ID="", Gene="672", SYMBOL="") == (1100, "BRCA1")
    assert one(HGNC_ID="", Gene="ENSG00000139618", SYMBOL="") == (1101, "BRCA2")
    assert one(HGNC_ID="", Gene="", SYMBOL="BRCA1") == (1100, "BRCA1")
    assert one(HGNC_ID="", Gene="nope", SYMBOL="A1BGAS") is None  # previous symbol only
    assert one(HGNC_ID="", Gene="", SYMBOL="NOSUCHGENE") is None
    assert one(HGNC_ID="", Gene="", SYMBOL="X", SYMBOL_SOURCE="Clone_based_vega_gene") is None


def test_vep_source_priority_v5():
    entries = [csq_entry(SOURCE=s, Codons=s) for s in
               ["RefSeq", "RefSeq_gff", "RefSeq_Interim_gff"]]
    entries.append(csq_entry(SOURCE="RefSeq_Interim_gff", Codons="second"))
    for perm in itertools.permutations(entries):
        (t,) = vep(*perm)
        assert t["codons"] == "RefSeq_gff"
    for perm in itertools.permutations(entries[:1] + entries[2:]):
        (t,) = vep(*perm)
        assert t["codons"] in ("RefSeq_Interim_gff", "second")
    # As ELLA, an entry without an HGNC id is dropped before the sources compete: a
    # RefSeq_gff entry without one took the place of the RefSeq entry, and the transcript
    # went missing.
    without_id = csq_entry(SOURCE="RefSeq_gff", HGNC_ID="", Gene="", SYMBOL="NOSUCHGENE",
                           Codons="RefSeq_gff")
    for perm in itertools.permutations([without_id, entries[0]]):
        (t,) = vep(*perm)
        assert (t["codons"], t["hgnc_id"]) == ("RefSeq", 1101)
    assert vep(without_id, csq_entry(SOURCE="RefSeq", HGNC_ID="", Gene="",
                                     SYMBOL="NOSUCHGENE")) == []
    with pytest.raises(CastError):
        vep(csq_entry(), csq_entry())  # duplicate without SOURCE
    with pytest.raises(CastError):
        vep(csq_entry(SOURCE="RefSeq"), csq_entry(SOURCE="Ensembl"))


def test_vep_fields():
    (t,) = vep(csq_entry(Consequence="splice_region_variant&intron_variant", CANONICAL="YES",
                         STRAND="-1", EXON="", INTRON="3/26",
                         HGVSc="NM_000059.3:c.316+5G>A", HGVSp="",
                         Existing_variation="COSM1&rs123&rs456", Amino_acids="",
                         Codons=""))
    assert t == {"transcript": "NM_000059.3", "hgnc_id": 1101, "symbol": "BRCA2",
                 "strand": -1, "is_canonical": True, "in_last_exon": "no",
                 "consequences": ["intron_variant", "splice_region_variant"],
                 "intron": "3/26", "dbsnp": ["rs123", "rs456"], "HGVSc": "c.316+5G>A",
                 "HGVSc_short": "c.316+5G>A", "exon_distance": 5,
                 "coding_region_distance": None}
    (t,) = vep(csq_entry(Consequence="", HGVSc="", HGVSp="", EXON="27/27"))
    assert t["consequences"] == [] and t["exon_distance"] is None
    assert t["coding_region_distance"] is None and t["in_last_exon"] == "yes"
    assert "HGVSc" not in t and "HGVSp" not in t and "protein" not in t and "dbsnp" not in t
    (t,) = vep(csq_entry(HGVSc="NM_000059.3:c.198A>G", HGVSp="NM_000059.3:c.198A>G(p.=)",
                         Amino_acids="E/X", Codons="Gaa/aa", EXON="3/27"))
    assert (t["protein"], t["HGVSp"]) == ("NM_000059.3", "c.198A>G(p.=)")
    assert (t["amino_acids"], t["codons"], t["exon"]) == ("E/X", "Gaa/aa", "3/27")
    (t,) = vep(csq_entry(HGVSc="NM_000059.3:c.131_132insACTTGCTGCTT",
                         HGVSp="NP_000050.2:p.Glu51AsnfsTer29"))
    assert t["HGVSc_short"] == "c.131_132ins(11)" and t["HGVSc_insertion"] == "ACTTGCTGCTT"
    assert (t["protein"], t["HGVSp"]) == ("NP_000050.2", "p.Glu51AsnfsTer29")


def test_vep_percent_encoded_hgvs_is_decoded():
    """VEP writes a synonymous change's `=` as `%3D` (INFO cannot hold `=`, VCF 4.3 1.2): it
    was stored and shown as `p.Glu425%3D`, and a search for `p.Glu425=` found nothing."""
    (t,) = vep(csq_entry(HGVSc="NM_000059.3:c.1275A%3ET", HGVSp="NP_000050.3:p.Glu425%3D"))
    assert (t["protein"], t["HGVSp"], t["HGVSc"]) == ("NP_000050.3", "p.Glu425=",
                                                      "c.1275A>T")


def test_vep_repeated_field_names_read_as_zip_does():
    """A CSQ Format naming a field twice: a value comes from the name's last position that
    the entry has (what dict(zip(fields, values)) gives), short entries included."""
    fields = ["Feature_type", "Feature", "STRAND", "HGNC_ID", "Extra", "STRAND"]
    short, full = "Transcript|NM_1.1|1|1101", "Transcript|NM_2.1|1|1101|x|-1"
    assert [(t["transcript"], t["strand"]) for t in convert_vep(f"{short},{full}", fields)] \
        == [("NM_1.1", 1), ("NM_2.1", -1)]
    # Feature_type repeated: the later position decides when the entry reaches it.
    fields = ["Feature_type", "Feature", "STRAND", "HGNC_ID", "Feature_type"]
    assert convert_vep("Transcript|NM_1.1|1|1101|RegulatoryFeature", fields) == []
    assert [t["transcript"] for t in convert_vep("Transcript|NM_1.1|1|1101", fields)] \
        == ["NM_1.1"]


def test_vep_entries_shorter_or_longer_than_the_field_list():
    short = "|".join(csq_entry().split("|")[:CSQ_FIELDS.index("STRAND")])
    with pytest.raises(ValueError, match="the CSQ entry of NM_000059.3 has no STRAND"):
        vep(short)  # annotate reports it as a conversion error, with the line
    (t,) = vep(csq_entry() + "|extra|values")
    assert t["transcript"] == "NM_000059.3" and t["strand"] == 1
    no_type = [f for f in CSQ_FIELDS if f != "Feature_type"]
    assert convert_vep("|".join(csq_entry().split("|")[:len(no_type)]), no_type) == []


def test_vep_through_annotate(tmp_path):
    deposit = kv([{"source": "CSQ", "target": "transcripts"}], "vep")
    got = run(tmp_path, "CSQ=" + csq_entry(Feature="NM_2.1") + "," + csq_entry(), deposit)
    assert [t["transcript"] for t in got["transcripts"]] == ["NM_000059.3", "NM_2.1"]


# --------------------------------------------------------------------------- ClinVar / HGMD

def b16(obj):
    return base64.b16encode(json.dumps(obj).encode()).decode()


def test_clinvarjson():
    data = {"variant_description": "reviewed by expert panel", "variant_id": 51138,
            "pubmeds": ["1"],
            "rcvs": {"RCV2": {"traitnames": ["A", "B"], "clinical_significance_descr":
                              ["Pathogenic"], "variant_id": ["51138"], "submitter": [],
                              "last_evaluated": ["08/09/2016"], "rsID": ["1"]},
                     "SCV1": {"traitnames": [], "clinical_significance_descr": ["Benign"],
                              "variant_id": [], "submitter": ["ENIGMA"],
                              "last_evaluated": ["01/01/2001"]}}}
    assert convert_clinvarjson(b16(data)) == {
        "variant_description": "reviewed by expert panel", "variant_id": 51138,
        "items": [{"rcv": "RCV2", "traitnames": "A, B", "clinical_significance_descr":
                   "Pathogenic", "variant_id": "51138", "submitter": "",
                   "last_evaluated": "08/09/2016"},
                  {"rcv": "SCV1", "traitnames": "", "clinical_significance_descr": "Benign",
                   "variant_id": "", "submitter": "ENIGMA", "last_evaluated": "01/01/2001"}]}
    # Not the shape import.md 3.4 describes (one value where ClinVar gives a list, an entry
    # without one of the lists): stored as decoded, as ELLA stores it (made-up "" values
    # and a text read as a list of one were converted).
    one = dict(data, rcvs={"RCV3": {"traitnames": "Breast cancer", "variant_id": ["51138"],
                                    "clinical_significance_descr": ["Pathogenic"],
                                    "submitter": [], "last_evaluated": []}})
    assert convert_clinvarjson(b16(one)) == one
    missing = dict(data, rcvs={"RCV3": {"traitnames": ["A"], "variant_id": ["51138"],
                                        "clinical_significance_descr": ["Pathogenic"],
                                        "submitter": []}})
    assert convert_clinvarjson(b16(missing)) == missing
    other = {"variant_id": "51138", "rcvs": {}}
    assert convert_clinvarjson(b16(other)) == other  # not the expected shape: unchanged


def test_clinvarreferences_r1():
    refs = convert_clinvarreferences(b16({"pubmeds": ["3", "1"], "pubmed_ids": [2]}))
    assert refs == [{"pubmed_id": p, "source": "CLINVAR", "source_info": ""} for p in (3, 1, 2)]
    # A whole number written as a float is that id, as ELLA's int() reads it (it was skipped).
    assert [r["pubmed_id"] for r in convert_clinvarreferences(b16({"pubmeds": [12345.0]}))] \
        == [12345]
    assert convert_clinvarreferences(b16({"variant_id": 1})) == []


def test_clinvar_pubmeds_of_one_id_not_in_a_list():
    """`"pubmeds": "12345"` was iterated character by character: references 1, 2, 3, 4
    and 5, silently wrong. One id is one reference; what is no id at all is skipped."""
    def ids(data):
        return [r["pubmed_id"] for r in convert_clinvarreferences(b16(data))]
    assert ids({"pubmeds": "12345"}) == [12345]
    assert ids({"pubmeds": 12345, "pubmed_ids": "678"}) == [12345, 678]
    assert ids({"pubmeds": {"12345": 1}}) == []
    assert ids({"pubmeds": "1, 2"}) == []  # not one integer: skipped, as an item would be


def test_hgmd_and_unescape():
    assert convert_hgmd("CD076760", "Breast@#SPcancer@#CM@#SPmale@#SCx@#EQ1@#TAy", "DM") == \
        {"acc_num": "CD076760", "disease": "Breast cancer, male;x=1\ty", "tag": "DM"}
    assert convert_hgmd("CD1") == {"acc_num": "CD1", "disease": None, "tag": None}


def test_hgmdprimaryreport_r1():
    for comments in (None, "", "None"):
        assert convert_hgmdprimaryreport("18042939", comments) == [
            {"pubmed_id": 18042939, "source": "HGMD",
             "source_info": "Primary literature report. No comments."}]
    assert convert_hgmdprimaryreport("1", "aka@#SPThr77Thr")[0]["source_info"] == \
        "Primary literature report. aka Thr77Thr"
    assert convert_hgmdprimaryreport("abc", "x") == []


def test_hgmdextrarefs_r1():
    fields = extrarefs_fields("Format: (reftag|comments|disease|pmid) (from x)")
    assert fields == ["reftag", "comments", "disease", "pmid"]
    value = ",".join(["FCR|Splicing@#SPanalysis||22505045", "APR||Some@#SPdisease|11",
                      "APR|a@#CMb|Dis|12", "SAR|||13", "MCR|m||14", "|||15", "XYZ|c||16",
                      "SAR|||notanumber", "FCR|None||17"])
    assert convert_hgmdextrarefs(value, fields) == [
        {"pubmed_id": 22505045, "source": "HGMD",
         "source_info": "Functional characterisation. Splicing analysis"},
        {"pubmed_id": 11, "source": "HGMD", "source_info": "Additional phenotype. Some disease"},
        {"pubmed_id": 12, "source": "HGMD", "source_info": "Additional phenotype. a,b"},
        {"pubmed_id": 13, "source": "HGMD", "source_info": "Additional report. No comments."},
        {"pubmed_id": 14, "source": "HGMD", "source_info": "Molecular characterisation. m"},
        {"pubmed_id": 15, "source": "HGMD", "source_info": "Reftag not specified. No comments."},
        {"pubmed_id": 16, "source": "HGMD", "source_info": "Reftag not specified. c"},
        # Only the primary report reads the text "None" as no comment (import.md 3.5).
        {"pubmed_id": 17, "source": "HGMD", "source_info": "Functional characterisation. None"},
    ]


def test_references_extend_and_sort_through_annotate(tmp_path):
    deposit = (kv([{"source": "HGMD__pmid", "additional_sources": ["HGMD__comments"],
                    "target": "references", "target_mode": "extend"}], "hgmdprimaryreport")
               + kv([{"source": "HGMD__extrarefs", "target": "references",
                      "target_mode": "extend"}], "hgmdextrarefs"))
    got = run(tmp_path, "HGMD__extrarefs=SAR|x||30,FCR|||5;HGMD__pmid=20", deposit)
    assert [(r["pubmed_id"], r["source_info"]) for r in got["references"]] == [
        (5, "Functional characterisation. No comments."),
        (20, "Primary literature report. No comments."),  # HGMD__comments missing -> null
        (30, "Additional report. x")]


# --------------------------------------------------------------------------- config and HGNC

def test_config_errors():
    with pytest.raises(AnnotationConfigError, match="unknown key"):
        Annotator(kv([{"source": "A", "target": "a", "required": True}]))
    with pytest.raises(AnnotationConfigError, match="unknown converter"):
        Annotator([{"name": "nope", "converter_config": {"elements": []}}])
    with pytest.raises(AnnotationConfigError):
        Annotator(kv([{"source": "A", "target": "a", "target_mode": "replace"}]))
    with pytest.raises(AnnotationConfigError):
        Annotator(kv([{"source": "A", "target": "a", "target_type": "decimal"}]))


def test_hgnc_lookups_loaded_once():
    assert hgnc.id_from_symbol("BRCA1") == 1100
    assert hgnc.id_from_symbol("A1BGAS") is None  # previous symbol, not approved
    assert hgnc.id_from_gene("672") == 1100
    assert hgnc.id_from_gene("ENSG00000139618") == 1101
    assert hgnc.symbol_from_id(1101) == "BRCA2"
    assert hgnc.symbol_from_id(37133) == "A1BG-AS1"
    tables = hgnc._get_tables()
    hgnc.id_from_symbol("BRCA2")
    assert hgnc._get_tables() is tables


# ------------------------------------------------ rules a mutation audit found unpinned

@pytest.mark.parametrize("hgvsc,short,insertion", [
    ("c.123_132delCGACGACGCA", "c.123_132del", None),  # exactly 10 nt: shortened (3.3)
    ("c.123_132dupCGACGACGCA", "c.123_132dup", None),
    ("c.131_132insACTTGCTGCT", "c.131_132ins(10)", "ACTTGCTGCT"),
])
def test_a_sequence_of_exactly_ten_nucleotides_is_shortened(hgvsc, short, insertion):
    assert shorten_hgvsc(hgvsc) == (short, insertion)


@pytest.mark.parametrize("hgvsc,exon_distance,coding_distance", [
    ("c.100N>A", 0, 0), ("c.-12R>G", 0, -12), ("n.55U>C", 0, 0), ("c.20+3Y>T", 3, None)])
def test_distances_of_an_iupac_or_rna_base(hgvsc, exon_distance, coding_distance):
    """import.md 3.3: a position is followed by a nucleotide or IUPAC code (or del, dup,
    ins, inv); the filters read these distances from the shadow rows."""
    assert hgvsc_distances(hgvsc) == (exon_distance, coding_distance)


def test_clinvar_json_with_a_variant_id_that_is_no_integer_is_stored_as_decoded():
    """import.md 3.4: converted only with an integer variant_id; otherwise stored as is."""
    data = {"variant_description": "x", "variant_id": "51138",
            "rcvs": {"RCV1": {"traitnames": ["a"], "clinical_significance_descr": ["a"],
                              "variant_id": ["a"], "submitter": ["a"],
                              "last_evaluated": ["a"]}}}
    assert convert_clinvarjson(b16(data)) == data


def test_a_pubmed_id_clinvar_gives_twice_is_two_references():
    """import.md 3.5: one reference per id of pubmeds and pubmed_ids (the stored JSON, which
    decides whether a new annotation supersedes the old one, 3.7)."""
    assert convert_clinvarreferences(b16({"pubmeds": [123], "pubmed_ids": [123]})) == \
        [{"pubmed_id": 123, "source": "CLINVAR", "source_info": ""}] * 2


def test_a_protein_change_without_its_protein_is_kept():
    (t,) = vep(csq_entry(HGVSp="p.Met1Val"))
    assert t["HGVSp"] == "p.Met1Val" and "protein" not in t


def test_a_clone_based_gene_without_hgnc_id_is_dropped_without_a_warning():
    """import.md 3.3: a transcript without an HGNC id is dropped with a warning (it reaches
    the interpreters' analysis warnings), silently for clone-based genes."""
    unknown = {"HGNC_ID": "", "Gene": "ENSG99999999999", "SYMBOL": "NOTAGENE"}
    with collecting() as warned:
        assert vep(csq_entry(**unknown, SYMBOL_SOURCE="Clone_based_vega_gene")) == []
        assert vep(csq_entry(**unknown, SYMBOL_SOURCE="Clone_based_ensembl_gene")) == []
    assert warned.total == 0
    with collecting() as warned:
        assert vep(csq_entry(**unknown, SYMBOL_SOURCE="HGNC")) == []
    assert warned.total == 1 and "no HGNC id for NM_000059.3" in warned.first[0]


LEGACY_HEADER = (
    "##fileformat=VCFv4.1\n"
    '##INFO=<ID=GNOMAD_EXOMES__Hemi,Number=1,Type=String,Description="hemizygous">\n'
    '##INFO=<ID=GNOMAD_EXOMES__AS_FilterStatus,Number=1,Type=String,Description="filter">\n'
    '##INFO=<ID=inDB__filter_OUSWES,Number=1,Type=String,Description="filter">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")


def test_the_legacy_configs_tolerance_and_separators(tmp_path):
    """import.md 3.6, by behaviour (the comparison with ELLA's own file needs ../shared):
    Hemi is not an integer on autosomes (`NA`: stored as null, the import goes on),
    gnomAD's AS_FilterStatus splits on `|`, inDB's filter on `,`."""
    path = tmp_path / "legacy.vcf"
    path.write_text(LEGACY_HEADER + "13\t100\t.\tA\tG\t50\tPASS\tGNOMAD_EXOMES__Hemi=NA;"
                    "GNOMAD_EXOMES__AS_FilterStatus=RF|AC0;inDB__filter_OUSWES=A,B\n")
    with open_vcf(path) as reader:
        (record,) = list(reader)
    annotation = annotate_record(record, DEPOSIT, read_header(path).csq_fields)
    frequencies = annotation["frequencies"]
    assert frequencies["GNOMAD_EXOMES"]["hemi"]["G"] is None
    assert frequencies["GNOMAD_EXOMES"]["filter"]["G"] == ["RF", "AC0"]
    assert frequencies["inDB"]["filter"]["OUSWES"] == ["A", "B"]


# -- a vep element on a source other than CSQ ----------------------------------------------

def _vep_vcf(tmp_path, header_lines, records):
    path = tmp_path / "vep.vcf"
    path.write_text("##fileformat=VCFv4.1\n" + "".join(line + "\n" for line in header_lines)
                    + "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                    + "".join(f"13\t32893296\t.\t{ref}\t{alts}\t50\tPASS\t{info}\n"
                              for ref, alts, info in records))
    return path


def _vep_on(*sources):
    return [{"name": "vep", "converter_config": {"elements": [
        {"source": source, "target": target} for source, target in sources]}}]


CSQ_LINE = ('##INFO=<ID=CSQ,Number=.,Type=String,Description="VEP. Format: '
            'Feature_type|Feature|Consequence|HGNC_ID|STRAND|HGVSc|HGVSp">')
ANN_LINE = ('##INFO=<ID=ANN,Number=.,Type=String,Description="VEP RefSeq. Format: '
            'Allele|Feature_type|Feature|Consequence|HGNC_ID|STRAND|HGVSp|HGVSc">')


def test_a_vep_element_reads_its_own_sources_field_list(tmp_path):
    """VEP run with --vcf_info_field ANN (or a second run under another key) was read with
    CSQ's field list: its HGVSp stored as the HGVSc, or its transcripts dropped; without a
    CSQ header line the deposit was refused."""
    ann = "ANN=G|Transcript|NM_000059.3|stop_gained|1101|1|NP_000050.2:p.Glu51Ter|" \
          "NM_000059.3:c.151G>T"
    for header in ([CSQ_LINE, ANN_LINE], [ANN_LINE]):
        path = _vep_vcf(tmp_path, header, [("A", "G", ann)])
        with open_vcf(path) as reader:
            annotator = Annotator(_vep_on(("ANN", "transcripts")), None, reader.header)
            [transcript] = annotator.annotate(next(iter(reader)))["transcripts"]
        assert (transcript["transcript"], transcript["HGVSc"], transcript["HGVSp"],
                transcript["consequences"]) == ("NM_000059.3", "c.151G>T", "p.Glu51Ter",
                                                ["stop_gained"])
    path = _vep_vcf(tmp_path, [CSQ_LINE], [("A", "G", ann)])
    with open_vcf(path) as reader:
        annotator = Annotator(_vep_on(("ANN", "transcripts")), None, reader.header)
        with pytest.raises(AnnotationConfigError, match="the VCF header has no ANN field list"):
            annotator.annotate(next(iter(reader)))


def test_a_multi_alt_lines_entries_of_a_vep_source_are_split_per_alt(tmp_path):
    """CSQ was split per ALT, another vep converter's source copied whole: the second ALT
    got the first one's consequences."""
    ann = ("ANN=G|Transcript|NM_000059.3|stop_gained|1101|1||NM_000059.3:c.151A>G,"
           "T|Transcript|NM_000059.3|missense_variant|1101|1||NM_000059.3:c.151A>T")
    path = _vep_vcf(tmp_path, [ANN_LINE], [("A", "G,T", ann)])
    with open_vcf(path) as reader:
        annotator = Annotator(_vep_on(("ANN", "transcripts")), None, reader.header)
        got = [annotator.annotate(record)["transcripts"] for record in reader]
    assert [[t["consequences"] for t in transcripts] for transcripts in got] == [
        [["stop_gained"]], [["missense_variant"]]]


def test_a_dot_in_a_string_typed_field_cast_to_a_number_is_missing(tmp_path):
    """Real headers type some gnomAD frequencies `Type=String`: their `.` kept the text and
    its float cast refused the whole deposit, where the same `.` of a Float field reads as
    missing. Both are missing now; other text still fails the cast."""
    for target_type in ("int", "float", "bool"):
        assert convert_keyvalue(".", target_type) is None
    assert convert_keyvalue("0.1,.,0.3", "float", split=",") == [0.1, None, 0.3]
    with pytest.raises(CastError):
        convert_keyvalue("n/a", "float")
    path = _vep_vcf(tmp_path, ['##INFO=<ID=AF_SAS,Number=1,Type=String,Description="x">',
                               '##INFO=<ID=AF_AFR,Number=1,Type=Float,Description="x">'],
                    [("A", "G", "AF_SAS=.;AF_AFR=.")])
    config = [{"name": "keyvalue", "converter_config": {"elements": [
        {"source": source, "target": f"freq.{source}", "target_type": "float"}
        for source in ("AF_SAS", "AF_AFR")]}}]
    with open_vcf(path) as reader:
        annotation = Annotator(config, None, reader.header).annotate(next(iter(reader)))
    assert annotation == {"freq": {"AF_SAS": None, "AF_AFR": None}}
