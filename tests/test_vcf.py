"""VCF reader, allele building and genotype data (no database)."""

import gzip
import json
import shutil
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import pytest

from ella.alleles import (allele_from_record, block_genotype, build_allele, gt_type,
                          is_multiallelic, iter_blocks, variant_records)
import ella.vcf as vcf_module
from ella.data_warnings import collecting
from ella.vcf import VcfError, open_vcf, read_header

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "vcf"
TA001 = DATA / "TestAnalysis-001.vcf"
TA003 = DATA / "TestAnalysis-003.vcf"
BRCA = DATA / "brca_sample_2.HBOC_v01.vcf"

HEADER = """##fileformat=VCFv4.1
##INFO=<ID=AC,Number=A,Type=Integer,Description="Allele count">
##INFO=<ID=AF,Number=A,Type=Float,Description="Allele frequency, \\"quoted\\", with commas">
##INFO=<ID=RD,Number=R,Type=Integer,Description="Depth per allele">
##INFO=<ID=GX,Number=G,Type=Integer,Description="Per genotype">
##INFO=<ID=DB,Number=0,Type=Flag,Description="dbSNP">
##INFO=<ID=NAME,Number=A,Type=String,Description="Names">
##INFO=<ID=MQ,Number=1,Type=Float,Description="Mapping quality">
##INFO=<ID=SVTYPE,Number=1,Type=String,Description="SV type">
##INFO=<ID=SVLEN,Number=.,Type=Integer,Description="SV length">
##INFO=<ID=OLD_MULTIALLELIC,Number=1,Type=String,Description="Original site">
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
"""


def write_vcf(tmp_path, records, samples=("P",), name="test.vcf", header=HEADER):
    cols = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"
    if samples:
        cols += "\tFORMAT\t" + "\t".join(samples)
    path = tmp_path / name
    body = "".join("\t".join(r) + "\n" if isinstance(r, (list, tuple)) else r
                   for r in records)
    path.write_text(header + cols + "\n" + body)
    return path


def read_all(path, **kw):
    with open_vcf(path, **kw) as reader:
        return list(reader)


def load_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# ---------------------------------------------------------------------------- real files

@pytest.mark.parametrize("vcf,expected", [
    (TA001, "TestAnalysis-001.expected-alleles.jsonl"),
    (BRCA, "brca_sample_2.HBOC_v01.expected-alleles.jsonl"),
])
def test_real_vcf_alleles_equal_expected(vcf, expected):
    rows = [allele_from_record(r) for r in read_all(vcf)]
    assert rows == load_jsonl(DATA / expected)
    assert list(rows[0]) == list(load_jsonl(DATA / expected)[0])  # same key order


def test_header_of_real_file():
    hdr = read_header(BRCA)
    assert hdr.fileformat == "VCFv4.1"
    assert hdr.samples == ["brca_sample_2"]
    assert hdr.contigs == ["13"]
    assert hdr.csq_fields[:4] == ["Allele", "Consequence", "IMPACT", "SYMBOL"]
    assert hdr.info["EXAC__AC"].number == "A" and hdr.info["EXAC__AC"].type == "Integer"
    assert hdr.info["CSQ"].number == "."


def test_real_info_typing():
    rec = read_all(TA001)[0]
    info = rec.info
    assert info["AC"] == 1 and info["AN"] == 2 and info["AF"] == 0.5
    assert isinstance(info["CSQ"], str) and "," in info["CSQ"]  # String is not split
    keys = list(info)
    assert keys[:4] == ["AC", "AF", "AN", "CSQ"]  # file order
    assert rec.info == rec.info  # cached, stable


def test_testanalysis_001_genotypes():
    recs = read_all(TA001)
    assert [r.pos for r in recs][:2] == [32893344, 32890607]  # unsorted input kept in order
    blocks = list(iter_blocks(recs))
    assert len(blocks) == 6
    g = block_genotype(blocks[0], proband_index=0)
    assert g.record is recs[0] and g.secondrecord is None
    assert g.filter_status == "PASS" and g.variant_quality == 5000
    assert [s.sample for s in g.samples] == ["TestSample-001", "TestSample-002", "TestSample-003"]
    for s in g.samples:
        assert s.type == "Heterozygous"
        assert s.multiallelic is False and s.secondallele is False
        assert s.genotype_quality == 99 and s.sequencing_depth == 187
        assert s.genotype_likelihood == [2048, 0, 2917]
        assert s.copy_number is None
        assert s.allele_depth == {"REF (A)": 107, "G": 80}
        assert s.allele_ratio == 80 / 187
    g3 = block_genotype(blocks[2])
    assert g3.samples[0].allele_depth == {"REF (GAC)": 107, "G": 80}


def test_testanalysis_003_rejected_without_fileformat():
    with pytest.raises(VcfError) as exc:
        open_vcf(TA003)
    msg = str(exc.value)
    assert "TestAnalysis-003.vcf" in msg and "line 1" in msg and "##fileformat" in msg


def test_gzip_and_bgzip_like_input_identical(tmp_path):
    gz = tmp_path / "plain-name.vcf"  # detection by magic bytes, not by name
    data = TA001.read_bytes()
    half = len(data) // 2
    with open(gz, "wb") as fh:  # two gzip members, as bgzip writes
        fh.write(gzip.compress(data[:half]) + gzip.compress(data[half:]))
    plain, zipped = read_all(TA001), read_all(gz)
    assert len(plain) == len(zipped) == 6
    for a, b in zip(plain, zipped):
        assert allele_from_record(a) == allele_from_record(b)
        assert a.info == b.info
        assert a.sample_data(2) == b.sample_data(2)


def test_truncated_gzip_is_an_error(tmp_path):
    gz = tmp_path / "t.vcf.gz"
    gz.write_bytes(gzip.compress(TA001.read_bytes())[:-200])
    with pytest.raises(VcfError) as exc:
        read_all(gz)
    assert "t.vcf.gz" in str(exc.value) and "truncated" in str(exc.value)


def _bgzf_block(data):
    """One BGZF block of `data`, as bgzip writes it: a gzip member whose extra field `BC`
    gives the block's size."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = compressor.compress(data) + compressor.flush()
    header = (b"\x1f\x8b\x08\x04\0\0\0\0\0\xff" + struct.pack("<H", 6) + b"BC"
              + struct.pack("<HH", 2, 18 + len(body) + 8 - 1))
    return header + body + struct.pack("<II", zlib.crc32(data), len(data))


def test_a_bgzip_file_cut_between_two_blocks_is_an_error(tmp_path):
    """htslib ends its blocks at line ends: cut between two, the file read to gzip as a
    whole VCF without its last variants, imported unsaid. A complete one ends with an empty
    block."""
    lines = TA001.read_bytes().splitlines(keepends=True)
    header = b"".join(line for line in lines if line.startswith(b"#"))
    records = [line for line in lines if not line.startswith(b"#")]
    blocks = [_bgzf_block(header)] + [_bgzf_block(b"".join(records[i:i + 2]))
                                      for i in range(0, len(records), 2)]
    assert _bgzf_block(b"") == vcf_module.BGZF_END
    whole = tmp_path / "whole.vcf.gz"
    whole.write_bytes(b"".join(blocks) + vcf_module.BGZF_END)
    assert len(read_all(whole)) == len(read_all(TA001)) == 6
    cut = tmp_path / "cut.vcf.gz"
    cut.write_bytes(b"".join(blocks[:-1]))  # the last block and the end lost
    with pytest.raises(VcfError) as exc:
        read_all(cut)
    assert str(exc.value) == (f"{cut}: a bgzip file without the empty block that ends a "
                              "complete one: cut short (an incomplete copy?); copy it again")
    plain_members = tmp_path / "members.vcf.gz"  # gzip members without BC: not bgzip
    plain_members.write_bytes(gzip.compress(header) + gzip.compress(b"".join(records)))
    assert len(read_all(plain_members)) == 6


def test_a_gzip_bomb_line_is_refused_before_it_is_held(tmp_path):
    """A few KB of gzip that expand to one line of 40 MB: refused at the line length limit
    (32 Mi characters), naming the line, without reading the rest of the line."""
    bomb = tmp_path / "bomb.vcf.gz"
    with gzip.open(bomb, "wb", compresslevel=1) as out:
        out.write((HEADER + "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n").encode())
        out.write(b"1\t100\t.\tA\tC\t50\tPASS\tX=" + b"A" * (40 << 20) + b"\n")
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(VcfError) as exc:
        read_all(bomb)
    assert str(exc.value).endswith("bomb.vcf.gz, line 14: the line is longer than 33,554,432 "
                                   "characters (not a VCF line: a damaged or wrong file)")


@pytest.mark.parametrize("ending", ["\n", "\r\n"])
def test_the_line_limit_counts_the_line_without_its_ending(tmp_path, monkeypatch, ending):
    record = "1\t100\t.\tA\tC\t50\tPASS\tNAME=" + "A" * 300  # longer than the header's
    path = tmp_path / "x.vcf"
    path.write_bytes((HEADER + "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                      + record + ending).encode())
    monkeypatch.setattr(vcf_module, "MAX_LINE_CHARS", len(record))
    assert len(read_all(path)) == 1
    monkeypatch.setattr(vcf_module, "MAX_LINE_CHARS", len(record) - 1)
    with pytest.raises(VcfError, match="line 14: the line is longer than"):
        read_all(path)


def test_a_header_of_absurd_length_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(vcf_module, "MAX_HEADER_LINES", 50)
    path = write_vcf(tmp_path, [], header=HEADER + "##comment=x\n" * 60)
    with pytest.raises(VcfError, match="line 51: the header has more than 50 lines"):
        read_all(path)
    monkeypatch.setattr(vcf_module, "MAX_HEADER_LINES", 200)
    assert read_all(path) == []


def test_only_the_header_lines_naming_a_build_are_kept(tmp_path):
    lines = ["##reference=file:///ref/human_g1k_v37.fasta", "##contig=<ID=1,assembly=b37>",
             "##assembly=GRCh37"]
    path = write_vcf(tmp_path, [], header=HEADER + "##contig=<ID=2>\n##source=x\n"
                     + "".join(line + "\n" for line in lines))
    with open_vcf(path) as reader:
        assert reader.header.lines == lines
        assert reader.header.contigs == ["2", "1"]


def test_a_sample_name_longer_than_500_characters_is_refused(tmp_path):
    path = write_vcf(tmp_path, [], samples=("P", "S" * 501))
    with pytest.raises(VcfError, match="line 13: a sample name in the #CHROM line is longer "
                                       "than 500 characters"):
        read_all(path)


@pytest.mark.parametrize("record", [
    ["1\x00", "100", ".", "A", "C", "50", "PASS", "."],
    ["1", "100", ".", "A", "C", "50", "PA\x00SS", "."],
])
def test_a_nul_character_is_refused_with_its_line(tmp_path, record):
    """PostgreSQL text cannot hold NUL; the database refused it with no file or line."""
    path = write_vcf(tmp_path, [record], samples=())
    with pytest.raises(VcfError) as exc:
        read_all(path)
    assert str(exc.value).endswith("line 14: the line contains a NUL character (binary data)")


@pytest.mark.parametrize("compressed", [False, True])
def test_bytes_that_are_no_utf8_are_refused_with_their_own_line(tmp_path, compressed):
    """The reader decodes 8 KB ahead of the line it reads: a Latin-1 byte on line 600 was
    reported on the line being read when that block was decoded, hundreds of lines before."""
    record = "\t".join(GOOD[:7]) + "\tNOTE=x\tGT:DP\t0/1:5\n"
    lines = [record.replace("10", str(10 + i), 1) for i in range(600)]
    lines[586] = lines[586].replace("NOTE=x", "NOTE=caf\u00e9")
    path = write_vcf(tmp_path, lines, name="broken.vcf")
    raw = path.read_text().encode("latin-1")
    path.write_bytes(gzip.compress(raw) if compressed else raw)
    with pytest.raises(VcfError) as exc:
        read_all(path)
    assert exc.value.line_no == FIRST_RECORD_LINE + 586, str(exc.value)
    assert str(exc.value).endswith(f"line {FIRST_RECORD_LINE + 586}: text is not valid UTF-8")


def test_the_search_for_the_bad_line_reads_no_more_than_the_reader(tmp_path):
    """The second pass that finds the line of a non-UTF-8 byte read whole lines: after the
    bad byte, a gzip file of 1 MB holding an 800 MB line took gigabytes (the reader stops at
    its line limit). Run in a child process with an address-space limit of 1.5 GB, where
    that ends in a MemoryError instead of the VcfError."""
    path = tmp_path / "bomb.vcf.gz"
    script = textwrap.dedent(f"""
        import gzip, resource, sys
        sys.path.insert(0, {str(ROOT)!r})
        from ella.vcf import VcfError, open_vcf
        with gzip.open({str(path)!r}, "wb", compresslevel=1) as fh:
            fh.write(b"##fileformat=VCFv4.2\\n##note=caf\\xe9 ")
            block = b"A" * (1 << 24)
            for _ in range(48):
                fh.write(block)
        limit = 1500 << 20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        try:
            with open_vcf({str(path)!r}) as reader:
                for _ in reader:
                    pass
        except VcfError as exc:
            print("VcfError", exc.line_no)
        except MemoryError:
            print("MemoryError")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=600)
    assert result.stdout.split() == ["VcfError", "2"], (result.stdout, result.stderr[-2000:])


# ---------------------------------------------------------------------------- typing

def test_info_typing_rules(tmp_path):
    path = write_vcf(tmp_path, [
        ["1", "10", ".", "A", "G", "50", "PASS",
         "AC=3;AF=.;DB;MQ=0.0004834;NOHDR=x,y;BARE;;NAME=a,b;", "GT", "0/1"],
        ["1", "11", ".", "A", "G", ".", ".", ".", "GT", "0/1"],
    ])
    r1, r2 = read_all(path)
    assert r1.info == {"AC": 3, "AF": None, "DB": True, "MQ": 0.0004834, "NOHDR": "x,y",
                       "BARE": False, "NAME": "a,b"}
    assert r2.info == {} and r2.variant_quality is None and r1.variant_quality == 50
    assert r1.get_info("SVTYPE") is None and r1.get_info("AC") == 3


def test_info_list_typing(tmp_path):
    path = write_vcf(tmp_path, [
        ["1", "10", ".", "A", "G", "50", "PASS", "RD=3,.,4", "GT", "0/1"]])
    assert read_all(path)[0].info["RD"] == (3, None, 4)


# ---------------------------------------------------------------------------- decomposition

def test_multiallelic_decomposition_reindexes_and_recodes(tmp_path):
    path = write_vcf(tmp_path, [
        ["2", "100", "rs1", "ATT", "A,AG,ATC", "30.7", "PASS",
         "AC=1,2,3;AF=0.1,0.2,0.3;RD=10,11,12,13;GX=0,1,2,3,4,5,6,7,8,9;NAME=x,y,z;DB;MQ=5",
         "GT:AD:DP:GQ:PL", "1/2:5,6,7,8:26:40:0,1,2,3,4,5,6,7,8,9",
         "0/1:9,3,.,0:12:20:10,11,12,13,14,15,16,17,18,19", "./.:.:.:.:."],
    ], samples=("P", "F", "M"))
    recs = read_all(path)
    assert [r.alts for r in recs] == [["A"], ["AG"], ["ATC"]]
    assert all(r.pos == 100 and r.ref == "ATT" and r.line_no == recs[0].line_no for r in recs)
    r1, r2, r3 = recs
    assert r1.info["AC"] == 1 and r2.info["AC"] == 2 and r3.info["AC"] == 3
    assert r2.info["AF"] == 0.2
    assert r2.info["RD"] == (10, 12)
    # diploid G order: 00,01,11,02,12,22,03,13,23,33 -> for ALT 2: 00,02,22
    assert r2.info["GX"] == (0, 3, 5)
    assert r3.info["GX"] == (0, 6, 9)
    assert r2.info["NAME"] == "y" and r2.info["DB"] is True and r2.info["MQ"] == 5
    assert r1.info["OLD_MULTIALLELIC"] == "2:100:ATT/A/AG/ATC"
    assert [r.gts[0] for r in recs] == [(1, -1), (-1, 1), (-1, -1)]
    assert [r.gts[1] for r in recs] == [(0, 1), (0, -1), (0, -1)]
    assert r2.format_value(0, "AD") == [5, 7]
    assert r2.format_value(1, "AD") == [9, None]
    assert r2.format_value(0, "PL") == [0, 3, 5]
    assert r2.format_value(2, "PL") is None
    assert r2.sample_data(0)["GT"] == (-1, 1)
    assert r2._fields()[0][0] == "./1"

    blocks = list(iter_blocks(recs))
    assert len(blocks) == 1 and len(blocks[0]) == 3
    g = block_genotype(blocks[0], proband_index=0)
    assert g.record is r1 and g.secondrecord is r2  # 1/. is allele, ./1 second allele
    assert g.variant_quality == 30 and g.filter_status == "PASS"
    rows = {(s.sample, s.secondallele): s for s in g.samples}
    assert len(g.samples) == 6
    p1, p2 = rows[("P", False)], rows[("P", True)]
    assert p1.type == p2.type == "Heterozygous"
    assert p1.multiallelic and p2.multiallelic
    assert p1.genotype_likelihood is None  # multiallelic rows drop PL
    assert p1.sequencing_depth == 26 and p1.genotype_quality == 40
    # same POS and REF in all records -> one REF key, per-ALT depths
    assert p1.allele_depth == {"REF (ATT)": 5, "A": 6, "AG": 7, "ATC": 8}
    assert p1.allele_ratio == 6 / 26 and p2.allele_ratio == 7 / 26
    f1, f2 = rows[("F", False)], rows[("F", True)]
    assert f1.type == "Heterozygous" and not f1.multiallelic
    assert f1.genotype_likelihood == [10, 11, 12]
    assert f2.type == "Reference" and f2.multiallelic
    assert f1.allele_depth == {"REF (ATT)": 9, "A": 3, "ATC": 0}
    m1 = rows[("M", False)]
    assert m1.type == "No coverage" and not m1.multiallelic and m1.allele_depth == {}
    assert m1.allele_ratio == 0


def test_forgotten_info_is_read_again(tmp_path):
    """A deposit drops each record's parsed INFO once converted; asking again gives the same
    values, for plain records and for records decomposed from a multi-ALT line."""
    path = write_vcf(tmp_path, [
        ["1", "100", ".", "A", "G", "30", "PASS", "AC=1;AF=0.5;NAME=x;DB", "GT", "0/1"],
        ["2", "100", ".", "ATT", "A,AG", "30", "PASS", "AC=1,2;NAME=x,y;DB", "GT", "1/2"],
    ])
    records = read_all(path)
    assert len(records) == 3
    first = [dict(r.info) for r in records]
    for r in records:
        r.forget_info()
    assert [r.info for r in records] == first
    assert [r.get_info("AC") for r in records] == [1, 1, 2]
    assert records[2].info["OLD_MULTIALLELIC"] == "2:100:ATT/A/AG"


def test_decomposed_block_with_shifted_ref(tmp_path):
    # pre-decomposed and normalised input: REF keys collapse to "REF"
    path = write_vcf(tmp_path, [
        ["1", "100", ".", "ATT", "A", "9", "PASS", "OLD_MULTIALLELIC=1:100:ATT/A/AT",
         "GT:AD", "1/.:5,6", "0/.:3,0"],
        ["1", "100", ".", "AT", "A", "9", "PASS", "OLD_MULTIALLELIC=1:100:ATT/A/AT",
         "GT:AD", "./1:5,7", "./0:3,0"],
        ["1", "200", ".", "C", "T", "9", "q10", "OLD_MULTIALLELIC=1:200:C/T/G",
         "GT:AD", "0/1:4,4", "./.:."],
        ["1", "200", ".", "C", "G", "9", "PASS", "OLD_MULTIALLELIC=1:200:C/T/G",
         "GT:AD", "0/.:4,1", "./.:."],
    ], samples=("P", "S"))
    blocks = list(iter_blocks(read_all(path)))
    assert [len(b) for b in blocks] == [2, 2]
    g = block_genotype(blocks[0])
    assert g.secondrecord is not None
    # proband records differ in REF -> allele depth not trustworthy
    assert all(s.allele_depth == {} and s.allele_ratio == 0 for s in g.samples)
    sib = [s for s in g.samples if s.sample == "S"]
    assert [s.type for s in sib] == ["Reference", "Reference"]
    g2 = block_genotype(blocks[1])
    assert g2.secondrecord is None and g2.filter_status == "q10"
    assert g2.samples[0].allele_depth == {"REF (C)": 4, "T": 4, "G": 1}
    assert g2.samples[1].type == "No coverage"


def test_a_proband_with_three_alts_in_one_block_is_refused(tmp_path):
    """A genotype holds two alleles at most: a proband shown carrying three ALTs of one site
    (a mis-split file, a triploid call) is an error naming the record, never an import of
    the first allele alone."""
    site = "OLD_MULTIALLELIC=1:100:C/T/G/A"
    path = write_vcf(tmp_path, [
        ["1", "100", ".", "C", "T", "9", "PASS", site, "GT", "0/1"],
        ["1", "100", ".", "C", "G", "9", "PASS", site, "GT", "0/1"],
        ["1", "100", ".", "C", "A", "9", "PASS", site, "GT", "0/1"],
    ])
    [block] = iter_blocks(read_all(path))
    with pytest.raises(VcfError, match="proband has more than two alleles in one "
                                       "multiallelic block"):
        block_genotype(block)


def test_ref_keys_collapse(tmp_path):
    path = write_vcf(tmp_path, [
        ["1", "100", ".", "ATT", "A", "9", "PASS", "OLD_MULTIALLELIC=x", "GT:AD", "0/1:5,6"],
        ["1", "101", ".", "TT", "T", "9", "PASS", "OLD_MULTIALLELIC=x", "GT:AD", "0/.:5,2"],
    ])
    g = block_genotype(next(iter_blocks(read_all(path))))
    assert g.samples[0].allele_depth == {"REF": 5, "A": 6, "T": 2}
    assert g.samples[0].allele_ratio == 6 / 13


def test_alts_equal_once_trimmed_keep_their_own_depth(tmp_path):
    """CAAAA>CAAA,CA (two deletion lengths of a homopolymer) decomposes into CA>C and
    CAAA>C: both ALTs are "C". Keyed by the ALT alone (as ELLA does) the second count
    replaced the first, and the proband's ratio was 2/12 instead of 8/20 (below the quality
    filter's 0.25)."""
    site = "OLD_MULTIALLELIC=1:100:CAAAA/CAAA/CA"
    path = write_vcf(tmp_path, [
        ["1", "100", ".", "CA", "C", "50", "PASS", site, "GT:AD", "0/1:10,8"],
        ["1", "100", ".", "CAAA", "C", "50", "PASS", site, "GT:AD", "0/0:10,2"],
    ])
    [block] = iter_blocks(read_all(path))
    g = block_genotype(block)
    assert g.record.ref == "CA" and g.secondrecord is None
    assert g.samples[0].allele_depth == {"REF": 10, "C (CA>C)": 8, "C (CAAA>C)": 2}
    assert g.samples[0].allele_ratio == 8 / 20


def test_an_ad_of_one_number_is_ignored(tmp_path):
    """VarScan2 declares AD with Number=1 (the ALT's depth only): no depth, no ratio, as for
    any AD without two values (import.md 2.9); it was a TypeError that failed the import."""
    header = HEADER + ('##FORMAT=<ID=RD,Number=1,Type=Integer,Description="Ref depth">\n'
                       '##FORMAT=<ID=AD,Number=1,Type=Integer,Description="Alt depth">\n')
    path = write_vcf(tmp_path, [["1", "100", ".", "A", "G", ".", "PASS", ".", "GT:RD:AD",
                                 "0/1:10:8"]], header=header)
    g = block_genotype(read_all(path))
    assert g.samples[0].allele_depth == {} and g.samples[0].allele_ratio == 0


AD_R = '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths">\n'


def _analysis_blocks(path):
    """Blocks as an analysis deposit reads them."""
    return list(iter_blocks(variant_records(read_all(path), keep_spanning_deletions=True)))


def test_a_spanning_deletion_counts_for_coverage_and_depth_but_is_no_allele(tmp_path):
    """A>C,* (GATK): the `*` record is not imported, but a father homozygous for the
    overlapping deletion (2/2, 20 reads) is covered, so `Reference`, not `No coverage`, and
    the proband's ratio counts the reads of the deletion (10/20; it was 1.0 without them)."""
    path = write_vcf(tmp_path, [["1", "100", ".", "A", "C,*", "50", "PASS", ".", "GT:AD",
                                 "1/2:0,10,10", "2/2:0,0,20", "./.:."]],
                     samples=("P", "F", "M"), header=HEADER + AD_R)
    [block] = _analysis_blocks(path)
    g = block_genotype(block)
    assert (g.record.alt, g.secondrecord) == ("C", None)
    by_sample = {s.sample: s for s in g.samples}
    assert [by_sample[n].type for n in "PFM"] == ["Heterozygous", "Reference", "No coverage"]
    assert by_sample["P"].allele_depth == {"REF (A)": 0, "C": 10, "*": 10}
    assert by_sample["P"].allele_ratio == 0.5
    # A proband carrying only the deletion has no genotype here.
    only_star = write_vcf(tmp_path, [["1", "100", ".", "A", "C,*", "50", "PASS", ".", "GT:AD",
                                      "0/2:10,0,10"]], name="star.vcf", header=HEADER + AD_R)
    assert [block_genotype(b) for b in _analysis_blocks(only_star)] == [None]


def test_records_without_alt_are_not_imported(tmp_path, caplog):
    """ALT `.`: a reference-only site (all-sites calling); the deposit failed with an
    IndexError traceback."""
    path = write_vcf(tmp_path, [["1", "100", ".", "A", ".", "50", "PASS", ".", "GT", "0/0"],
                                ["1", "200", ".", "A", "G", "50", "PASS", ".", "GT", "0/1"],
                                ["1", "300", ".", "A", "*", "50", "PASS", ".", "GT", "0/1"]])
    assert [r.pos for r in variant_records(read_all(path))] == [200]
    messages = [r.getMessage() for r in caplog.records]
    assert any("1 records without ALT not imported" in m for m in messages)
    assert any("1 records with ALT '*' (spanning deletions) not imported" in m
               for m in messages)
    assert [b[0].pos for b in _analysis_blocks(path)] == [200, 300]


def test_an_ad_declared_number_dot_is_split_as_the_reserved_number_r(tmp_path):
    """Older GATK declares AD Number=.; decomposed, each record kept all three counts and
    its AD was ignored (no depth, ratio 0)."""
    header = HEADER + '##FORMAT=<ID=AD,Number=.,Type=Integer,Description="Allelic depths">\n'
    path = write_vcf(tmp_path, [["1", "100", ".", "A", "C,G", "50", "PASS", ".", "GT:AD",
                                 "1/2:2,10,8"]], header=header)
    [block] = iter_blocks(read_all(path))
    g = block_genotype(block)
    assert g.samples[0].allele_depth == {"REF (A)": 2, "C": 10, "G": 8}
    assert g.samples[0].allele_ratio == 10 / 20


def test_no_proband_variant_gives_no_genotype(tmp_path):
    path = write_vcf(tmp_path, [
        ["1", "100", ".", "A", "G", "9", "PASS", ".", "GT", "0/0", "1/1"],
        ["1", "101", ".", "A", "G", "9", "PASS", ".", "GT", "./.", "0/1"],
        ["1", "102", ".", "A", "G", "9", "PASS", ".", "GT", "0", "1"],
    ], samples=("P", "F"))
    assert [block_genotype(b) for b in iter_blocks(read_all(path))] == [None, None, None]


def test_reject_multiallelic_when_not_decomposing(tmp_path):
    path = write_vcf(tmp_path, [["1", "5", ".", "A", "G,T", "9", "PASS", ".", "GT", "1/2"]])
    with pytest.raises(VcfError, match="test.vcf, line 14: .*2 ALT"):
        read_all(path, decompose=False)


# ---------------------------------------------------------------------------- genotypes

def test_gt_forms(tmp_path):
    path = write_vcf(tmp_path, [
        ["X", "5", ".", "A", "G", "9", "PASS", ".", "GT:DP", "1:7", "0|1:8", "1|1", "./.", "."],
    ], samples=("P", "A", "B", "C", "D"))
    rec = read_all(path)[0]
    assert rec.gts == [(1,), (0, 1), (1, 1), (-1, -1), (-1,)]
    assert rec.phased == [False, True, True, False, False]
    assert rec.format_value(2, "DP") is None  # trailing field dropped
    g = block_genotype([rec])
    assert [s.type for s in g.samples] == ["Homozygous", "Heterozygous", "Homozygous",
                                           "No coverage", "No coverage"]
    assert not any(s.multiallelic for s in g.samples)


def test_vcf_4_4_explicit_phasing_of_the_first_allele(tmp_path):
    """VCF 4.4 (1.6.2) lets the first allele carry its phasing: '|1' is a phased haploid
    call, '/0|1' a phased diploid one (both were refused as bad GT)."""
    path = write_vcf(tmp_path, [["X", "5", ".", "A", "G", "9", "PASS", ".", "GT", "|1", "/0|1",
                                 "/1"]], samples=("P", "A", "B"))
    rec = read_all(path)[0]
    assert rec.gts == [(1,), (0, 1), (1,)] and rec.phased == [True, True, False]
    assert [s.type for s in block_genotype([rec]).samples] == [
        "Homozygous", "Heterozygous", "Homozygous"]


@pytest.mark.parametrize("number", ["P", "LA", "LR", "LG", "M"])
def test_vcf_4_4_and_4_5_number_codes_are_read(tmp_path, number):
    """Number=P (VCF 4.4) and LA, LR, LG, M (VCF 4.5) refused the whole file as 'bad
    Number' (import.md 2.1 takes VCFv4.1 or later); they are read as Number=."""
    header = HEADER.replace("VCFv4.1", "VCFv4.5") + (
        f'##FORMAT=<ID=XX,Number={number},Type=Integer,Description="x">\n')
    path = write_vcf(tmp_path, [["1", "100", ".", "A", "C", "50", "PASS", ".", "GT:XX",
                                 "0/1:3,4"]], header=header)
    rec = read_all(path)[0]
    assert rec.format_value(0, "XX") == [3, 4]
    assert allele_from_record(rec)["change_type"] == "SNP"


def test_a_block_record_without_gt_is_refused_with_its_line(tmp_path):
    """GT on the block's first record only: the second one's missing GT was a TypeError
    (a traceback naming no file or line)."""
    path = write_vcf(tmp_path, [
        ["1", "100", ".", "A", "C", "50", "PASS", "OLD_MULTIALLELIC=1:100:A/C/G", "GT", "0/1"],
        ["1", "100", ".", "A", "G", "50", "PASS", "OLD_MULTIALLELIC=1:100:A/C/G", ".", "."]])
    block = read_all(path)
    with pytest.raises(VcfError) as info:
        block_genotype(block)
    assert str(info.value) == f"{path}, line {FIRST_RECORD_LINE + 1}: a genotype import " \
                              "needs FORMAT GT"


def test_gt_type_and_multiallelic_table():
    cases = {(0, 1): "Heterozygous", (1, 0): "Heterozygous", (1, -1): "Heterozygous",
             (-1, 1): "Heterozygous", (1, 1): "Homozygous", (1,): "Homozygous",
             (0, 0): "Reference", (0,): "Reference", (0, -1): "Reference",
             (-1, 0): "Reference", (-1, -1): "Reference", (-1,): "Reference"}
    for gt, kind in cases.items():
        assert gt_type(gt) == kind
    assert gt_type((-1, -1), no_coverage=True) == "No coverage"
    assert gt_type((0, -1), no_coverage=True) == "Reference"
    assert [is_multiallelic(g) for g in [(1, -1), (-1, 1), (0, -1), (-1, 0)]] == [True] * 4
    assert [is_multiallelic(g) for g in [(0, 1), (1, 1), (-1, -1), (1,), (-1,)]] == [False] * 5
    with pytest.raises(ValueError):
        gt_type((1, 2))


# ---------------------------------------------------------------------------- alleles

# import.md 2.4's table (criterion D1): (chrom, pos, ref, alt) -> (change_type, start,
# open end, change_from, change_to, length).
ALLELE_TABLE = [
    ("17", 41226488, "C", "A", ("SNP", 41226487, 41226488, "C", "A", 1)),
    ("11", 41226488, "C", "CGCT", ("ins", 41226487, 41226488, "", "GCT", 1)),
    ("X", 41226488, "AATT", "A", ("del", 41226488, 41226491, "ATT", "", 3)),
    ("14", 41226488, "C", "AGCT", ("indel", 41226487, 41226488, "C", "AGCT", 4)),
    ("3", 41226488, "ACGT", "C", ("indel", 41226487, 41226491, "ACGT", "C", 4)),
    ("4", 41226488, "AT", "GC", ("indel", 41226487, 41226489, "AT", "GC", 2)),
]


@pytest.mark.parametrize("chrom,pos,ref,alt,expected", ALLELE_TABLE + [
    ("13", 32890645, "GAC", "G", ("del", 32890645, 32890647, "AC", "", 2)),
    ("1", 123, "T", "TT", ("ins", 121, 122, "", "T", 1)),
    ("1", 122, "AT", "ATT", ("ins", 121, 122, "", "T", 1)),
    ("1", 100, "AA", "A", ("del", 99, 100, "A", "", 1)),
    # demo database examples (datamodel.md 4.2)
    ("17", 41223094, "T", "C", ("SNP", 41223093, 41223094, "T", "C", 1)),
    ("13", 32900700, "G", "GGTCAAGTTCTTTA",
     ("ins", 32900699, 32900700, "", "GTCAAGTTCTTTA", 1)),
    ("13", 32893243, "G", "TACCCTTATAATGAC",
     ("indel", 32893242, 32893243, "G", "TACCCTTATAATGAC", 15)),
])
def test_allele_table(tmp_path, chrom, pos, ref, alt, expected):
    path = write_vcf(tmp_path, [[chrom, str(pos), ".", ref, alt, "9", "PASS", ".", "GT", "0/1"]])
    row = allele_from_record(read_all(path)[0])
    ctype, start, end, frm, to, length = expected
    assert row == {"genome_reference": "GRCh37", "chromosome": chrom, "start_position": start,
                   "open_end_position": end, "change_type": ctype, "change_from": frm,
                   "change_to": to, "length": length, "vcf_pos": pos, "vcf_ref": ref,
                   "vcf_alt": alt, "caller_type": "snv"}


def test_padding_gives_same_normalised_allele():
    keys = ["start_position", "open_end_position", "change_type", "change_from", "change_to",
            "length"]
    base = build_allele("1", 1000, "C", "CAG")
    for pos, ref, alt in [(999, "GC", "GCAG"), (1000, "CT", "CAGT"), (999, "GCT", "GCAGT")]:
        other = build_allele("1", pos, ref, alt)
        assert [other[k] for k in keys] == [base[k] for k in keys]


CNV_RECORDS = [
    ["1", "1000", ".", "N", "<DUP>", "9", "PASS", "SVTYPE=DUP;SVLEN=500", "GT:CN", "./.:3"],
    ["1", "2000", ".", "N", "<DUP:TANDEM>", "9", "PASS", "SVTYPE=DUP;SVLEN=50", "GT", "0/1"],
    ["1", "3000", ".", "N", "<DEL>", "9", "PASS", "SVTYPE=DEL;SVLEN=-300", "GT", "0/1"],
    ["1", "4000", ".", "N", "<DEL:ME>", "9", "PASS", "SVTYPE=DEL;SVLEN=-20", "GT", "0/1"],
    ["1", "5000", ".", "ACGT", "A", "9", "PASS", "SVTYPE=DEL;SVLEN=-3", "GT", "0/1"],
]


def test_cnv_alleles_with_flag(tmp_path):
    recs = read_all(write_vcf(tmp_path, CNV_RECORDS))
    rows = [allele_from_record(r, cnv_enabled=True) for r in recs]
    got = [(r["change_type"], r["start_position"], r["open_end_position"], r["length"],
            r["change_from"], r["change_to"], r["caller_type"]) for r in rows]
    assert got == [
        ("dup", 999, 1000, 500, "", "", "cnv"),
        ("dup_tandem", 1999, 2000, 50, "", "", "cnv"),
        ("del", 2999, 3299, 300, "", "", "cnv"),
        ("del_me", 3999, 4019, 20, "", "", "cnv"),
        ("del", 4999, 5002, 3, "ACGT", "A", "cnv"),
    ]
    # a CNV dup with proband GT ./. counts as present; its CN gives the type (below)
    g = block_genotype([recs[0]])
    assert g is not None and g.samples[0].copy_number == 3
    assert g.samples[0].type == "Heterozygous"


@pytest.mark.parametrize("chrom, pos, alt, sexes, cns, types", [
    # Autosomal duplication without GT: proband CN 3, parents CN 2 and 3.
    ("1", "1000", "<DUP>", None, ["3", "2", "3"], ["Heterozygous", "Reference", "Heterozygous"]),
    ("1", "1000", "<DUP>", None, ["4", ".", "5"], ["Homozygous", "Reference", "Homozygous"]),
    # A CN against the record's kind tells nothing: the spec's type (2.9) stays.
    ("1", "1000", "<DUP>", None, ["3", "1", "3"], ["Heterozygous", "Reference", "Heterozygous"]),
    # Deletions: a relative's GT-less call (the proband's own is not imported, 2.7).
    ("1", "1000", "<DEL>", None, ["0/1:1", "1", "0"], ["Heterozygous", "Heterozygous",
                                                       "Homozygous"]),
    ("1", "1000", "<DEL>", None, ["0/1:1", "2", "3"], ["Heterozygous", "Reference",
                                                       "No coverage"]),
    # X outside the pseudo-autosomal regions: a male has one copy, a female two; a sample
    # whose sex is not known keeps the spec's type.
    ("X", "5000000", "<DUP>", ["Male", "Male", "Female"], ["2", "1", "3"],
     ["Homozygous", "Reference", "Heterozygous"]),
    ("X", "5000000", "<DUP>", [None, None, None], ["2", "1", "3"],
     ["Reference", "Reference", "Reference"]),
    ("X", "100000", "<DUP>", ["Male", "Male", "Female"], ["3", "2", "2"],   # PAR1: two copies
     ["Heterozygous", "Reference", "Reference"]),
    ("Y", "5000000", "<DUP>", ["Male", "Male", "Female"], ["2", "1", "1"],
     ["Homozygous", "Reference", "Reference"]),
    # A GRCh37 VCF with UCSC names (hg19): a male's one X was a heterozygous deletion.
    ("chrX", "5000000", "<DEL>", ["Male", "Male", "Female"], ["0/1:0", "1", "1"],
     ["Heterozygous", "Reference", "Heterozygous"]),
    ("chrY", "5000000", "<DUP>", ["Male", "Male", "Female"], ["2", "1", "0"],
     ["Homozygous", "Reference", "Reference"]),
])
def test_a_cnv_call_without_gt_is_typed_by_its_copy_number(tmp_path, chrom, pos, alt, sexes,
                                                          cns, types):
    """A duplication without GT counts as present in the proband (import.md 2.7), but its
    `./.` gave every sample the type Reference (2.9): a trio's segregation filter removed
    every such duplication, de novo or not. A GT-less CNV call's CN now gives its type
    against the sample's ploidy (copies of the chromosome there)."""
    svlen = "SVLEN=-500" if alt == "<DEL>" else "SVLEN=500"
    columns = [c if ":" in c else f"./.:{c}" for c in cns]
    vcf = tmp_path / "cnv.vcf"
    vcf.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=1>\n##contig=<ID=X>\n##contig=<ID=Y>\n"
        "##contig=<ID=chrX>\n##contig=<ID=chrY>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="GT">\n'
        '##FORMAT=<ID=CN,Number=1,Type=Integer,Description="CN">\n'
        '##INFO=<ID=SVTYPE,Number=1,Type=String,Description="t">\n'
        '##INFO=<ID=SVLEN,Number=1,Type=Integer,Description="l">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tP\tF\tM\n"
        + "\t".join([chrom, pos, ".", "N", alt, "9", "PASS", f"SVTYPE={alt[1:4]};{svlen}",
                     "GT:CN"] + columns) + "\n")
    g = block_genotype(read_all(vcf), 0, sexes)
    assert [s.type for s in g.samples] == types


def test_cnv_without_flag_and_unsupported(tmp_path):
    recs = read_all(write_vcf(tmp_path, CNV_RECORDS + [
        ["1", "6000", ".", "N", "<INV>", "9", "PASS", "SVTYPE=INV;SVLEN=10", "GT", "0/1"],
        ["1", "7000", ".", "N", "<DUP>", "9", "PASS", "SVTYPE=DUP", "GT", "0/1"],
    ]))
    for rec in recs[:5]:
        with pytest.raises(VcfError, match="Feature 'cnv' is not enabled."):
            allele_from_record(rec)
    with pytest.raises(VcfError, match="ELLA only supports ALT=<DUP>,<DUP:TANDEM>,<DEL>"):
        allele_from_record(recs[5], cnv_enabled=True)
    with pytest.raises(VcfError, match="SVLEN"):
        allele_from_record(recs[6], cnv_enabled=True)
    with pytest.raises(VcfError, match="symbolic or breakend ALT needs INFO SVTYPE"):
        build_allele_from_line(tmp_path, ["1", "5", ".", "A", "<NON_REF>", "9", ".", ".",
                                          "GT", "0/1"])


@pytest.mark.parametrize("alt", ["G.", ".G", "G<ctg1>", "]13:123456]G"])
def test_breakend_and_contig_insertion_alts_are_no_base_change(tmp_path, alt):
    """Single breakends (G., .G) and a contig insertion (G<ctg1>) were trimmed like bases
    and stored as an insertion of '.' or of '<ctg1>'."""
    with pytest.raises(VcfError, match=f"unsupported ALT '{alt}'"):
        build_allele_from_line(tmp_path, ["1", "5", ".", "G", alt, "9", ".", ".", "GT", "0/1"])


def build_allele_from_line(tmp_path, line):
    return allele_from_record(read_all(write_vcf(tmp_path, [line], name="one.vcf"))[0])


# ---------------------------------------------------------------------------- malformed

GOOD = ["1", "10", ".", "A", "G", "50", "PASS", "AC=1", "GT:DP", "0/1:5"]
FIRST_RECORD_LINE = HEADER.count("\n") + 2  # header lines + #CHROM line + 1


def assert_line_error(tmp_path, lines, line_no, *fragments, access=None):
    path = write_vcf(tmp_path, lines, name="broken.vcf")
    with pytest.raises(VcfError) as exc:
        recs = read_all(path)
        if access:
            for r in recs:
                access(r)
    msg = str(exc.value)
    assert "broken.vcf" in msg and f"line {line_no}:" in msg, msg
    for f in fragments:
        assert f in msg, msg
    assert exc.value.line_no == line_no


def test_wrong_column_count(tmp_path):
    assert_line_error(tmp_path, ["\t".join(GOOD) + "\n", "\t".join(GOOD[:7]) + "\n"],
                      FIRST_RECORD_LINE + 1, "expected 10", "found 7")


def test_truncated_last_line(tmp_path):
    text = "\t".join(GOOD)
    assert_line_error(tmp_path, [text + "\n", text[:15]], FIRST_RECORD_LINE + 1, "truncated")


def test_bad_pos(tmp_path):
    assert_line_error(tmp_path, [["1", "1x0"] + GOOD[2:]], FIRST_RECORD_LINE, "POS '1x0'")
    # Python's int() refuses a digit string over 4,300 long: it was a traceback.
    assert_line_error(tmp_path, [["1", "1" * 5000] + GOOD[2:]], FIRST_RECORD_LINE,
                      f"POS {'1' * 20} is outside 1-")


def test_bad_gt(tmp_path):
    assert_line_error(tmp_path, [GOOD, GOOD[:9] + ["0/x:5"]], FIRST_RECORD_LINE + 1,
                      "bad GT '0/x'", "sample P")


def test_gt_index_beyond_alt(tmp_path):
    """import.md 2.7: an error when the record is imported (its genotypes are read), not
    when it is read: a relative's bad GT on a record the proband lacks is never stored. The
    proband's own (`0/2`, `2/2` on a one-ALT line: a split that did not recode GT) is an
    error whether or not it also names ALT 1: such a line was left out without a word."""
    from ella.alleles import block_genotype
    for gt in ("1/2", "0/2", "2/2"):
        assert_line_error(tmp_path, [GOOD[:9] + [f"{gt}:5"]], FIRST_RECORD_LINE, f"GT '{gt}'",
                          "refers to an allele that ALT", access=lambda r: block_genotype([r]))
    (record,) = read_all(write_vcf(tmp_path, [GOOD[:9] + ["0/0:5", "1/2:5"]],
                                   samples=("P", "F"), name="lacking.vcf"))
    assert block_genotype([record]) is None  # the proband lacks the variant: not imported


def test_integer_info_with_text(tmp_path):
    assert_line_error(tmp_path, [GOOD, GOOD[:7] + ["AC=many"] + GOOD[8:]],
                      FIRST_RECORD_LINE + 1, "INFO AC=many", "Type=Integer",
                      access=lambda r: r.info)


def test_integer_format_with_text(tmp_path):
    assert_line_error(tmp_path, [GOOD[:9] + ["0/1:deep"]], FIRST_RECORD_LINE,
                      "FORMAT DP=deep", "Type=Integer",
                      access=lambda r: r.format_value(0, "DP"))


def test_bad_qual(tmp_path):
    assert_line_error(tmp_path, [GOOD[:5] + ["high"] + GOOD[6:]], FIRST_RECORD_LINE, "QUAL")


def test_number_a_count_mismatch_on_decomposition(tmp_path):
    assert_line_error(tmp_path, [["1", "10", ".", "A", "G,T", "50", "PASS", "AC=1", "GT", "1/2"]],
                      FIRST_RECORD_LINE, "INFO AC has 1 values")


def test_missing_chrom_line_and_bad_header(tmp_path):
    p = tmp_path / "nochrom.vcf"
    p.write_text("##fileformat=VCFv4.2\n1\t10\t.\tA\tG\t.\t.\t.\n")
    with pytest.raises(VcfError, match=r"nochrom.vcf, line 2: missing the '#CHROM"):
        open_vcf(p)
    p2 = tmp_path / "badinfo.vcf"
    p2.write_text("##fileformat=VCFv4.2\n##INFO=<ID=X,Number=Z,Type=Integer>\n")
    with pytest.raises(VcfError, match=r"badinfo.vcf, line 2: bad header line.*Number 'Z'"):
        open_vcf(p2)


def test_empty_file_rejected(tmp_path):
    p = tmp_path / "empty.vcf"
    p.write_text("")
    with pytest.raises(VcfError, match="empty.vcf, line 1"):
        open_vcf(p)


def test_streaming_does_not_read_ahead(tmp_path):
    # a broken line after the first record is only reported when reached
    path = write_vcf(tmp_path, [GOOD, ["1", "bad"] + GOOD[2:]])
    with open_vcf(path) as reader:
        it = iter(reader)
        assert next(it).pos == 10
        with pytest.raises(VcfError):
            next(it)


def test_variant_only_vcf_without_samples(tmp_path):
    path = write_vcf(tmp_path, [GOOD[:8]], samples=())
    rec = read_all(path)[0]
    assert rec.gts is None and rec.format_keys == []
    assert allele_from_record(rec)["change_type"] == "SNP"


def test_copy_of_real_file_keeps_name_in_errors(tmp_path):
    dst = tmp_path / "copy.vcf"
    shutil.copy(TA003, dst)
    with pytest.raises(VcfError, match="copy.vcf, line 1"):
        open_vcf(dst)


def test_last_line_without_newline_is_refused(tmp_path):
    """A cut-off copy can end inside a sample column with every column present (here AD
    '107,8' cut to '107,'): refused, not imported with wrong values."""
    text = "\t".join(GOOD[:8] + ["GT:AD:DP", "0/1:107,8:115"])
    assert_line_error(tmp_path, [text + "\n", text[:-6]], FIRST_RECORD_LINE + 1,
                      "no newline at its end", "truncated")


def test_crlf_line_endings_read_as_lf(tmp_path):
    path = write_vcf(tmp_path, [GOOD])
    crlf = tmp_path / "crlf.vcf"
    crlf.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert [(r.chrom, r.pos, r.info, r.gts) for r in read_all(crlf)] == \
        [(r.chrom, r.pos, r.info, r.gts) for r in read_all(path)]


def test_carriage_return_alone_is_refused_with_its_line(tmp_path):
    path = write_vcf(tmp_path, [GOOD])
    mac = tmp_path / "mac.vcf"
    mac.write_bytes(path.read_bytes().replace(b"\n", b"\r"))
    with pytest.raises(VcfError, match=r"mac.vcf, line 1: the line ends with a carriage "
                                       r"return alone"):
        read_all(mac)
    # A stray CR inside a field of a record: that record's line is named.
    fields = list(GOOD)
    fields[9] = "0/1\r:5"
    assert_line_error(tmp_path, [fields], FIRST_RECORD_LINE, "carriage return alone")


@pytest.mark.parametrize("column, value, fragment", [
    (0, "", "CHROM '' is empty or contains white space"),
    (0, "13 ", "CHROM '13 ' is empty"),
    # ELLA's allele index refused it at the end of the deposit, naming no line.
    (0, "c" * 256, "CHROM 'cccccccccccccccccccccccccccccccccccccccc...' is longer than 255"),
    (1, "0", "POS 0 is outside 1-"),
    (1, "99999999999", "POS 99999999999 is outside"),
    (3, "X1", "REF 'X1' has characters other than the bases"),
    (3, "G T", "REF 'G T' has characters other"),
    (4, "T1", "ALT 'T1' has characters other"),
    (4, "T,c1", "ALT 'c1' has characters other"),
    # Decomposed, both would be one allele, and a 1/2 genotype would name it twice.
    (4, "C,c", "ALT 'C,c' lists the same allele twice"),
    (4, "G,G", "ALT 'G,G' lists the same allele twice"),
    (5, "nan", "QUAL 'nan' is not a finite number"),
    (5, "inf", "QUAL 'inf' is not a finite number"),
    (5, "1e300", "QUAL '1e300' is not a finite number up to 2,147,483,647"),
])
def test_fields_ella_cannot_store_are_refused(tmp_path, column, value, fragment):
    """Values that would become a second allele for the same variant (lower case, white
    space) or fail in the database without a line number."""
    fields = list(GOOD)
    fields[column] = value
    assert_line_error(tmp_path, [fields], FIRST_RECORD_LINE, fragment)


def test_symbolic_breakend_iupac_and_upper_case_alleles_are_read(tmp_path):
    alts = ("<DEL>", "<INS:ME:ALU>", "C<ctg1>", "G]17:198982]", "]13:123456]T", "G.", ".G", "*",
            "ACGTN")
    records = [["1", "10", ".", "N", alt] + GOOD[5:] for alt in alts]
    assert tuple(r.alt for r in read_all(write_vcf(tmp_path, records))) == alts
    iupac = [["3", "60830534", ".", "M", "A"] + GOOD[5:]]  # an ambiguity code copied to REF
    assert [(r.ref, r.alt) for r in read_all(write_vcf(tmp_path, iupac, name="m.vcf"))] == \
        [("M", "A")]


def test_lower_case_bases_are_read_in_upper_case(tmp_path):
    """VCF bases are case-insensitive; upper-cased, 'g>t' is the same allele as 'G>T'."""
    records = [["1", "10", ".", "g", "t,Ca", "50", "PASS", "AC=1,1", "GT", "1/2"]]
    assert [(r.ref, r.alt) for r in read_all(write_vcf(tmp_path, records))] == \
        [("G", "T"), ("G", "CA")]


def test_format_integers_beyond_32_bits_are_refused(tmp_path):
    path = write_vcf(tmp_path, [GOOD[:8] + ["GT:DP", "0/1:99999999999"]], name="broken.vcf")
    record = read_all(path)[0]
    with pytest.raises(VcfError, match=r"line \d+: FORMAT DP=99999999999 of sample P does not "
                                       r"match its declared Type=Integer \(a 32-bit integer\)"):
        record.format_value(0, "DP")


def test_a_byte_order_mark_is_skipped(tmp_path):
    path = write_vcf(tmp_path, [GOOD])
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert [r.pos for r in read_all(path)] == [10]
    gz = tmp_path / "bom.vcf.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert [r.pos for r in read_all(gz)] == [10]


MANY_ALTS_HEADER = (
    "##fileformat=VCFv4.2\n"
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allele depths">\n'
    '##FORMAT=<ID=PL,Number=G,Type=Integer,Description="Phred likelihoods">\n'
    '##INFO=<ID=CSQ,Number=.,Type=String,Description="Consequence annotations from Ensembl '
    'VEP. Format: Allele|Consequence|Feature">\n')


def _many_alts_vcf(tmp_path, n_alts, keys="GT:AD:PL", csq=True):
    """One line of `n_alts` distinct insertions of REF A (AA..., AC..., ...), each ALT with
    its own AD, PL and CSQ values (AD of ALT i is i, its PL triple names it)."""
    import itertools
    alts = []
    for length in itertools.count(1):
        alts += ["A" + "".join(b) for b in itertools.product("ACGT", repeat=length)]
        if len(alts) >= n_alts:
            alts = alts[:n_alts]
            break
    info = "CSQ=" + ",".join(f"{a[1:]}|missense_variant|T{i}" for i, a in
                             enumerate(alts, 1)) if csq else "."
    values = {"GT": lambda: "0/1", "AD": lambda: ",".join(map(str, range(n_alts + 1))),
              "PL": lambda: ",".join(map(str, range((n_alts + 1) * (n_alts + 2) // 2)))}
    sample = ":".join(values[k]() for k in keys.split(":"))
    line = f"13\t32893296\t.\tA\t{','.join(alts)}\t50\tPASS\t{info}\t{keys}\t{sample}\n"
    path = tmp_path / "many.vcf"
    path.write_text(MANY_ALTS_HEADER + "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"
                    "\tFORMAT\tP\n" + line)
    return path, alts, len(line)


def test_a_line_of_many_alts_is_split_right_and_each_list_once(tmp_path, monkeypatch):
    """A line of many ALTs cost time growing with the square of its length (with PL, the
    cube): each ALT split every per-ALT list of the line again. 1,600 ALTs with PL took 9 s
    and 400,000 with AD would take minutes, so one small gzip file held the watcher for
    hours. Each list is now split once per line."""
    path, alts, _ = _many_alts_vcf(tmp_path, 300)
    splits = []
    real_split = vcf_module._split_list
    monkeypatch.setattr(vcf_module, "_split_list",
                        lambda raw: splits.append(raw) or real_split(raw))
    records = read_all(path)
    assert len(records) == 300 and len(splits) == 2  # AD and PL, once each
    for i in (1, 150, 300):
        rec = records[i - 1]
        assert rec.alts == [alts[i - 1]]
        assert rec.format_value(0, "AD") == [0, i]
        base = i * (i + 1) // 2
        assert rec.format_value(0, "PL") == [0, base, base + i]
        assert rec.info["CSQ"] == f"{alts[i - 1][1:]}|missense_variant|T{i}"


def test_a_line_of_many_alts_is_read_one_record_at_a_time(tmp_path):
    """The records of all ALTs of a line were built before the first was returned: a 2 MB
    line of 200,000 ALTs took 200 MB (at the line limit, gigabytes)."""
    import tracemalloc
    path, _, size = _many_alts_vcf(tmp_path, 20_000, keys="GT", csq=False)
    tracemalloc.start()
    try:
        with open_vcf(path) as reader:
            count = sum(1 for _ in reader)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 20_000
    # ~25 times the line now (its ALTs as Python strings); ~110 times before.
    assert peak < 50 * size, f"{peak:,} bytes to read a line of {size:,}"


def test_a_line_whose_records_would_hold_far_more_than_it_is_refused(tmp_path):
    """1,000 ALTs and 999 samples in 10 KB (a few bytes gzipped) decompose into a million
    genotype fields; a file of such lines held the watcher for hours. A line's records may
    hold at most 20 values per character of it (and 10,000 whatever its length)."""
    alts = [f"A{a}{b}{c}{d}{e}" for a in "ACGT" for b in "ACGT" for c in "ACGT"
            for d in "ACGT" for e in "ACGT"][:1000]
    samples = [f"S{i}" for i in range(999)]
    path = write_vcf(tmp_path, [["13", "100", ".", "A", ",".join(alts), "50", "PASS", ".",
                                 "GT"] + ["0/1"] * 999], samples=samples)
    with pytest.raises(VcfError, match=r"line \d+: this line of 1,000 ALT alleles would be "
                                       r"1,000 records of 999 INFO and sample values each"):
        read_all(path)
    # A trio's line of 6 ALTs is far within it.
    path = write_vcf(tmp_path, [["13", "100", ".", "A", ",".join(alts[:6]), "50", "PASS",
                                 "AC=1,1,1,1,1,1", "GT", "0/1", "0/0", "1/1"]],
                     samples=("P", "F", "M"), name="trio.vcf")
    assert len(read_all(path)) == 6


def test_a_long_line_may_make_at_most_twenty_million_values(tmp_path):
    """However long a line is, its records hold at most 20,000,000 values in all (~10 s):
    a 1.5 MB line may make 30 million by the per-character rule, and 5,000 ALTs times 5,000
    samples would be 25 million."""
    alts = [f"A{a}{b}{c}{d}{e}{f}{g}" for a in "ACGT" for b in "ACGT" for c in "ACGT"
            for d in "ACGT" for e in "ACGT" for f in "ACGT" for g in "ACGT"][:5000]
    samples = [f"S{i}" for i in range(5000)]
    line = ["13", "100", ".", "A", ",".join(alts), "50", "PASS", "NOTE=" + "x" * 1_500_000,
            "GT"] + ["0/1"] * 5000
    path = write_vcf(tmp_path, [line], samples=samples)
    with pytest.raises(VcfError, match=r"this line of 5,000 ALT alleles would be 5,000 "
                                       r"records of 5,001 INFO and sample values each, more "
                                       r"than the 20,000,000 values a line of 1,5\d\d,\d{3} "
                                       r"characters may make"):
        read_all(path)


FORMAT_DEPTHS = ('##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Depths">\n'
                 '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">\n'
                 '##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="Quality">\n')


def test_a_sample_with_more_fields_than_format_keys_is_refused_with_its_line(tmp_path):
    """`0/1:10:20:30:99` for GT:AD:DP:GQ (the AD lost its comma) was read by position: the
    AD's second count became the DP and the DP the GQ, stored without a word. htslib refuses
    the line. Fewer fields than keys is VCF (trailing ones left out)."""
    path = write_vcf(tmp_path, [
        ["1", "100", ".", "A", "C", "50", "PASS", ".", "GT:AD:DP:GQ", "0/1:10,20:30", "0/0"],
        ["1", "300", ".", "A", "C", "50", "PASS", ".", "GT:AD:DP:GQ", "0/1:10:20:30:99", "0/0"]],
        samples=("P", "F"), header=HEADER + FORMAT_DEPTHS)
    first, broken = read_all(path)
    assert first.sample_data(0) == {"GT": (0, 1), "AD": [10, 20], "DP": 30, "GQ": None}
    message = "sample {} has 5 fields where FORMAT GT:AD:DP:GQ names 4$"
    with pytest.raises(VcfError, match=f"line {broken.line_no}: " + message.format("P")):
        broken.format_value(0, "DP")
    # A line of several ALTs, split as it is read: refused there.
    path = write_vcf(tmp_path, [
        ["1", "200", ".", "A", "C,G", "50", "PASS", ".", "GT:AD:DP:GQ", "0/1", "0/1:1:2:3:4"]],
        samples=("P", "F"), header=HEADER + FORMAT_DEPTHS)
    with pytest.raises(VcfError, match=f"line {broken.line_no - 1}: " + message.format("F")):
        read_all(path)


@pytest.mark.parametrize("keys", ["GT", "GT:FT"])
def test_a_sample_with_more_fields_than_a_format_of_gt_alone_is_refused(tmp_path, keys):
    """The field count was checked only when a key FORMAT names was read: with GT (or GT and
    a key the deposit does not read) alone, `0/1:107,80:187` was imported with its depths
    dropped unsaid."""
    path = write_vcf(tmp_path, [
        ["1", "300", ".", "A", "C", "50", "PASS", ".", keys, "0/1:107,80:187:99:2048,0,2917"]],
        header=HEADER + FORMAT_DEPTHS)
    record, = read_all(path)
    with pytest.raises(VcfError, match=f"line {record.line_no}: sample P has 5 fields where "
                                       f"FORMAT {keys} names {len(keys.split(':'))}$"):
        record.format_value(0, "DP")


def test_a_format_naming_a_key_twice_is_refused(tmp_path):
    """`GT:AD:AD:GQ`: the first AD was read, and the DP under the second name dropped."""
    path = write_vcf(tmp_path, [
        ["1", "100", ".", "A", "C", "50", "PASS", ".", "GT:AD:DP", "0/1:10,20:30"],
        ["1", "300", ".", "A", "C", "50", "PASS", ".", "GT:AD:AD:GQ", "0/1:10,20:30:99"]],
        header=HEADER + FORMAT_DEPTHS)
    with pytest.raises(VcfError, match="line 18: FORMAT GT:AD:AD:GQ names AD more than once$"):
        read_all(path)


@pytest.mark.parametrize("samples, problem", [
    (("P", ""), "a sample in the #CHROM line has no name"),
    (("P", " "), "a sample in the #CHROM line has no name"),
    (("P\x1b[31m",), "a sample name in the #CHROM line has a control character"),
])
def test_a_sample_without_a_name_or_with_a_control_character_is_refused(tmp_path, samples,
                                                                        problem):
    """A tab after FORMAT made a sample named '' (stored so); an ESC in a name broke every
    line it was shown on."""
    path = write_vcf(tmp_path, [["1", "100", ".", "A", "C", "50", "PASS", ".", "GT"]
                                + ["0/1"] * len(samples)], samples=samples)
    with pytest.raises(VcfError, match=f"{problem}$"):
        read_all(path)


def test_a_repeated_info_or_format_definition_is_ignored_as_htslib_does(tmp_path, caplog):
    """An annotation tool declaring a key the header has: the last definition was used, so
    a Float AF became the text '0.5' where ELLA (htslib keeps the first) read 0.5."""
    header = (HEADER + '##INFO=<ID=AF,Number=A,Type=String,Description="again">\n'
              + FORMAT_DEPTHS + '##FORMAT=<ID=DP,Number=1,Type=String,Description="again">\n'
              + '##INFO=<ID=MQ,Number=1,Type=Float,Description="same again">\n')
    path = write_vcf(tmp_path, [["1", "100", ".", "A", "C", "50", "PASS", "AF=0.5;MQ=60",
                                 "GT:DP", "0/1:12"]], header=header)
    (record,) = read_all(path)
    assert record.info["AF"] == 0.5 and record.format_value(0, "DP") == 12
    assert [r.getMessage().split(": ", 1)[1] for r in caplog.records
            if "defined again" in r.getMessage()] == [
        "##INFO AF is defined again (Number=A,Type=String); the first definition "
        "(Number=A,Type=Float) is used, as htslib does",
        "##FORMAT DP is defined again (Number=1,Type=String); the first definition "
        "(Number=1,Type=Integer) is used, as htslib does"]


# ------------------------------------------------ rules a mutation audit found unpinned

def test_filter_and_quality_are_those_of_the_probands_record(tmp_path):
    """import.md 2.9: filter_status and variant_quality of the proband's (first) record of
    a block, not the block's first record, which the proband need not have (decomposed
    input keeps each record's FILTER and QUAL): a failed call was stored as PASS."""
    site = "OLD_MULTIALLELIC=1:100:C/T/G"
    path = write_vcf(tmp_path, [
        ["1", "100", ".", "C", "T", "10", "q10", site, "GT:AD", "0/.:4,0"],
        ["1", "100", ".", "C", "G", "99", "PASS", site, "GT:AD", "./1:4,6"],
    ])
    g = block_genotype(next(iter_blocks(read_all(path))))
    assert (g.record.alts, g.filter_status, g.variant_quality) == (["G"], "PASS", 99)


def test_the_allele_ratio_divides_by_the_allele_depths_not_dp(tmp_path):
    """import.md 2.9: AD[alt] / sum(AD). DP counts more reads (filtered, uninformative):
    divided by it, a heterozygous call's ratio fell below the quality filter's cut-off."""
    path = write_vcf(tmp_path, [
        ["1", "100", ".", "A", "G", "50", "PASS", ".", "GT:AD:DP", "0/1:10,5:20"]])
    (sample,) = block_genotype(next(iter_blocks(read_all(path)))).samples
    assert sample.allele_ratio == 5 / 15 and sample.sequencing_depth == 20


def test_an_ad_with_more_values_than_the_record_has_alleles_is_ignored(tmp_path):
    """import.md 2.9: AD of more than two values on a decomposed record is ignored, with a
    warning (its first two were stored as the depths)."""
    path = write_vcf(tmp_path, [
        ["1", "100", ".", "A", "G", "50", "PASS", ".", "GT:AD", "0/1:10,5,3"]])
    with collecting() as warned:
        (sample,) = block_genotype(next(iter_blocks(read_all(path)))).samples
    assert (sample.allele_depth, sample.allele_ratio) == ({}, 0)
    assert warned.total == 1 and "AD of 3 values" in warned.first[0]


def test_ref_depths_that_differ_within_a_block_are_refused(tmp_path):
    """import.md 2.9: the REF counts of a block's records must be equal; one of two was
    kept as "REF" silently."""
    path = write_vcf(tmp_path, [
        ["1", "100", ".", "ATT", "A", "9", "PASS", "OLD_MULTIALLELIC=x", "GT:AD", "0/1:5,6"],
        ["1", "101", ".", "TT", "T", "9", "PASS", "OLD_MULTIALLELIC=x", "GT:AD", "0/.:4,2"],
    ])
    with pytest.raises(VcfError, match="REF depths differ between the records of a "
                                       "multiallelic block"):
        block_genotype(next(iter_blocks(read_all(path))))


def test_a_haploid_calls_likelihoods_on_a_multi_alt_line_are_split(tmp_path):
    """A haploid call (a male's X) has one PL value per allele: split per ALT as a diploid
    call's are (the whole VCF was refused: "Number=G needs 6")."""
    path = write_vcf(tmp_path, [
        ["X", "100", ".", "A", "C,G", "50", "PASS", ".", "GT:PL", "1:10,0,20"]])
    first, second = read_all(path)
    assert first.format_value(0, "PL") == [10, 0]
    assert second.format_value(0, "PL") == [10, 20]


def test_records_beyond_their_chromosome_are_refused_with_contig_lengths(tmp_path):
    """A deposit reads with GRCh37's lengths, as `1` and `chr1`: a record ending on the last
    base passes, one reaching past it is refused with its line; other contigs (MT, decoys)
    and readers without lengths are not checked."""
    from ella.deposit.variants import GRCH37_CONTIG_LENGTHS
    end = GRCH37_CONTIG_LENGTHS["X"]
    fine = [("X", str(end), ".", "A", "G", "50", "PASS", ".", "GT", "0/1"),
            ("chrX", str(end - 1), ".", "AC", "A", "50", "PASS", ".", "GT", "0/1"),
            ("MT", "99999999", ".", "A", "G", "50", "PASS", ".", "GT", "1")]
    assert len(read_all(write_vcf(tmp_path, fine),
                        contig_lengths=GRCH37_CONTIG_LENGTHS)) == 3
    for chrom, pos, ref in (("X", end + 1, "A"), ("chrX", end, "AC")):
        path = write_vcf(tmp_path, fine + [(chrom, str(pos), ".", ref, "G", "50", "PASS",
                                            ".", "GT", "0/1")])
        with pytest.raises(VcfError, match=rf"line \d+: {chrom}:{pos} \(REF of {len(ref)} "
                                           rf"bases\) reaches beyond the end of {chrom}, "
                                           "155,270,560 bases long"):
            read_all(path, contig_lengths=GRCH37_CONTIG_LENGTHS)
        assert len(read_all(path)) == 4


@pytest.mark.parametrize("ref, alt", [("A", "A"), ("A", "a"), ("CAT", "CAT")])
def test_a_record_whose_alt_equals_its_ref_is_refused_with_its_line(tmp_path, ref, alt):
    """import.md 2.4 trims the bases REF and ALT share: when nothing is left the record is
    no variant. Stored, it became an insertion of nothing (change_type ins, change_to '')."""
    assert_line_error(tmp_path, [["1", "10", ".", ref, alt, "50", "PASS", ".", "GT:DP",
                                  "0/1:5"]], FIRST_RECORD_LINE,
                      f"REF and ALT are equal ('{ref}')", access=allele_from_record)


@pytest.mark.parametrize("first, second", [("0/1", "0/1"), ("1/1", "./1"), ("1/.", "1/."),
                                           ("./1", "./1")])
def test_a_proband_on_two_records_of_a_block_needs_one_slash_dot_and_dot_slash_one(
        tmp_path, first, second):
    """import.md 2.8: a proband contributes two alleles of one block only as `1/.` on one
    record and `./1` on the other; anything else is an error. Accepted, `0/1` twice (a
    mis-split site) was stored as a compound genotype of two alleles."""
    site = "OLD_MULTIALLELIC=1:100:C/T/G"
    path = write_vcf(tmp_path, [
        ["1", "100", ".", "C", "T", "50", "PASS", site, "GT:AD", f"{first}:4,6"],
        ["1", "100", ".", "C", "G", "50", "PASS", site, "GT:AD", f"{second}:4,5"],
    ])
    [block] = iter_blocks(read_all(path))
    with pytest.raises(VcfError, match=rf"line {FIRST_RECORD_LINE + 1}: proband has the "
                                       "variant on two records of one multiallelic block"):
        block_genotype(block)


@pytest.mark.parametrize("info, fmt, what", [
    ("AC=1,2,3", "0/1:4,6,0", "INFO AC has 3 values, Number=A needs 2 for 2 ALT alleles"),
    ("RD=1,2,3,4", "0/1:4,6,0", "INFO RD has 4 values, Number=R needs 3 for 2 ALT alleles"),
    ("AC=1,2", "0/1:4,6,0,1", "FORMAT AD has 4 values, Number=R needs 3 for 2 ALT alleles"),
])
def test_a_per_allele_list_longer_than_the_line_has_alleles_is_refused(tmp_path, info, fmt,
                                                                       what):
    """Splitting a multi-ALT line picks each ALT's values by position: a list longer than
    the line has ALTs (alleles) cannot be told apart, so it is refused like a shorter one
    (read as is, the ALTs got values that may be another allele's)."""
    assert_line_error(tmp_path, [["1", "10", ".", "A", "G,T", "50", "PASS", info, "GT:AD",
                                  fmt]], FIRST_RECORD_LINE, what)


def test_a_gt_naming_an_allele_a_multi_alt_line_lacks_is_refused_when_imported(tmp_path):
    """The split records of `A C,G` recode GT `1/3` to `1/.`: the `3` names no ALT of the
    line, and the line is refused where it is imported (proband `1/3`, or a relative's
    `1/3` beside the proband's `0/1`), as on a line of one ALT (test_gt_index_beyond_alt);
    a line the proband lacks is not imported."""
    for samples, error in ((["1/3:5", "0/0:5"], True), (["0/1:5", "1/3:5"], True),
                           (["0/0:5", "1/3:5"], False)):
        path = write_vcf(tmp_path, [["1", "10", ".", "A", "C,G", "50", "PASS", ".", "GT:DP",
                                     *samples]], samples=("P", "F"), name="split.vcf")
        [block] = iter_blocks(read_all(path))
        if not error:
            assert block_genotype(block) is None
            continue
        with pytest.raises(VcfError, match=rf"line {FIRST_RECORD_LINE}: GT '1/3' of sample "
                                           r"\w refers to an allele that ALT 'C,G' does "
                                           "not have"):
            block_genotype(block)


def test_a_format_with_gt_elsewhere_than_first_is_refused_with_its_line(tmp_path):
    """VCF requires GT to be the first FORMAT key; `DP:GT` is refused when read (the
    genotypes would not be read at all, and a variants-only deposit took the file)."""
    assert_line_error(tmp_path, [GOOD, GOOD[:8] + ["DP:GT", "5:0/1"]], FIRST_RECORD_LINE + 1,
                      "GT must be the first FORMAT key")
