"""Deposit-time prefilter (import.md 1.9, acceptance criterion D3)."""

import psycopg
import pytest
from psycopg.types.json import Jsonb

from ella.deposit.filterconfigs import deposit_filterconfigs
from ella.deposit.prefilter import prefiltered
from ella.deposit.variants import DepositError
from ella.vcf import VcfError, open_vcf
from deposit_helpers import BRCA_VCF, add_test_panels, deposit
from helpers import table_snapshot

HEADER = """##fileformat=VCFv4.1
##INFO=<ID=GNOMAD_GENOMES__AF,Number=A,Type=Float,Description="AF">
##INFO=<ID=GNOMAD_GENOMES__AN,Number=1,Type=Integer,Description="AN">
##INFO=<ID=MQ,Number=1,Type=Float,Description="MQ">
##INFO=<ID=OLD_MULTIALLELIC,Number=1,Type=String,Description="block">
##FORMAT=<ID=GT,Number=1,Type=String,Description="GT">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tP
"""
HIGH = "GNOMAD_GENOMES__AF=0.2;GNOMAD_GENOMES__AN=10000"


def _records(tmp_path, lines):
    path = tmp_path / "p.vcf"
    path.write_text(HEADER + "".join(f"13\t{pos}\t.\t{ref}\t{alt}\t100\tPASS\t{info}\tGT\t{gt}\n"
                                     for pos, ref, alt, info, gt in lines))
    with open_vcf(path) as reader:
        return list(reader)


def _kept(cur, prefilters, records):
    dropped = prefiltered(cur, prefilters, records, 0)
    return [r.pos for r in records if id(r) not in dropped]


def test_d3_frequency_thresholds(db_conn, tmp_path):
    records = _records(tmp_path, [
        (100, "A", "G", "GNOMAD_GENOMES__AF=0.051;GNOMAD_GENOMES__AN=5001", "0/1"),
        (200, "A", "G", "GNOMAD_GENOMES__AF=0.049;GNOMAD_GENOMES__AN=5001", "0/1"),
        (300, "A", "G", "GNOMAD_GENOMES__AF=0.051;GNOMAD_GENOMES__AN=4999", "0/1"),
        (400, "A", "G", ".", "0/1"),
    ])
    assert _kept(db_conn.cursor(), [["hi_frequency"]], records) == [200, 300, 400]


def test_d3_nearby_high_frequency_records_are_both_kept(db_conn, tmp_path):
    records = _records(tmp_path, [(100, "A", "G", HIGH, "0/1"), (102, "C", "T", HIGH, "0/1"),
                                  (500, "A", "G", HIGH, "0/1")])
    assert _kept(db_conn.cursor(), [["hi_frequency", "position_not_nearby"]], records) == \
        [100, 102]


def test_d3_nearby_is_within_3_bp_either_way_in_any_order(db_conn, tmp_path):
    """3 bp apart is nearby, 4 is not; records need not be sorted (import.md 2: the real
    TestAnalysis-001.vcf is not)."""
    records = _records(tmp_path, [(pos, "A", "G", HIGH, "0/1")
                                  for pos in (110, 103, 204, 100, 200, 300)])
    assert _kept(db_conn.cursor(), [["hi_frequency", "position_not_nearby"]], records) == \
        [103, 100]


def test_d3_classified_record_is_kept(db_conn, tmp_path):
    records = _records(tmp_path, [(100, "A", "G", HIGH, "0/1"), (500, "A", "G", HIGH, "0/1")])
    db_conn.execute("INSERT INTO genepanel VALUES ('P', 'v1', 'GRCh37', true, now(), NULL)")
    db_conn.execute("INSERT INTO usergroup (name) VALUES ('g')")
    db_conn.execute("INSERT INTO \"user\" (username, first_name, last_name, group_id, password, "
                    "password_expiry, active, incorrect_logins) SELECT 'u', 'U', 'U', id, 'x', "
                    "now(), true, 0 FROM usergroup")
    allele_id = db_conn.execute(
        "INSERT INTO allele (genome_reference, chromosome, start_position, open_end_position, "
        "change_from, change_to, change_type, vcf_pos, vcf_ref, vcf_alt, length, caller_type) "
        "VALUES ('GRCh37', '13', 99, 100, 'A', 'G', 'SNP', 100, 'A', 'G', 1, 'snv') RETURNING id"
    ).fetchone()[0]
    db_conn.execute("INSERT INTO alleleassessment (classification, user_id, date_created, "
                    "allele_id, genepanel_name, genepanel_version) SELECT '1', id, now(), %s, "
                    "'P', 'v1' FROM \"user\"", (allele_id,))
    assert _kept(db_conn.cursor(), [["hi_frequency", "no_classification"]], records) == [100]


def test_d3_multiallelic_records_are_kept(db_conn, tmp_path):
    block = f"{HIGH};OLD_MULTIALLELIC=13:100:A/G/T"
    records = _records(tmp_path, [(100, "A", "G", block, "1/."), (100, "A", "T", block, "./1"),
                                  (500, "A", "G", HIGH, "0/1")])
    assert _kept(db_conn.cursor(), [["hi_frequency", "non_multiallelic"]], records) == [100, 100]


def test_d3_mapping_quality_or_not_nearby(db_conn, tmp_path):
    records = _records(tmp_path, [(1, "A", "G", "MQ=60", "0/1"), (3, "A", "G", "MQ=0", "0/1"),
                                  (5, "A", "G", "MQ=60", "0/1")])
    assert _kept(db_conn.cursor(), [["low_mapping_quality"], ["position_not_nearby"]],
                 records) == [1, 5]


def test_values_the_header_did_not_type_as_numbers(db_conn, tmp_path):
    """An AF declared as a String, an MQ without its ##INFO line: read as numbers (they were
    compared as text: a TypeError and a traceback). A value that is no number is the
    record's error with its line, and only where the config compares it."""
    header = HEADER.replace("ID=GNOMAD_GENOMES__AF,Number=A,Type=Float",
                            "ID=GNOMAD_GENOMES__AF,Number=A,Type=String")
    header = "".join(line for line in header.splitlines(keepends=True) if "ID=MQ," not in line)
    path = tmp_path / "untyped.vcf"
    path.write_text(header + "".join(
        f"13\t{pos}\t.\tA\tG\t100\tPASS\t{info}\tGT\t0/1\n" for pos, info in [
            (100, HIGH + ";MQ=10"), (200, "GNOMAD_GENOMES__AF=0.01;GNOMAD_GENOMES__AN=10000;MQ=30"),
            (250, "GNOMAD_GENOMES__AF=.;MQ=."),  # VCF's missing value: absent, as when typed
            (300, "MQ=abc")]))
    with open_vcf(path) as reader:
        records = list(reader)
    assert _kept(db_conn.cursor(), [["hi_frequency"]], records) == [200, 250, 300]
    assert _kept(db_conn.cursor(), [["low_mapping_quality"]], records[:3]) == [200, 250]
    with pytest.raises(VcfError, match=r"line 10: INFO MQ is 'abc', not a number"):
        _kept(db_conn.cursor(), [["low_mapping_quality"]], records)


def _records_with(tmp_path, header_lines, infos):
    """Records at 100, 200, ... with these INFO texts, under HEADER with these ##INFO lines
    replaced (by ID) or added."""
    header = HEADER
    for line in header_lines:
        key = line.split("ID=")[1].split(",")[0]
        kept = [h for h in header.splitlines(keepends=True) if f"ID={key}," not in h]
        header = "".join(kept[:1] + [line + "\n"] + kept[1:])
    path = tmp_path / "lists.vcf"
    path.write_text(header + "".join(f"13\t{100 * (i + 1)}\t.\tA\tG\t100\tPASS\t{info}\tGT\t0/1\n"
                                     for i, info in enumerate(infos)))
    with open_vcf(path) as reader:
        return list(reader)


def test_a_bare_mq_key_is_no_value(db_conn, tmp_path):
    """`MQ` without a value (no ##INFO line, or one declaring a Flag) was read as MQ 0 or 1,
    below 20: the record was dropped. No value counts as infinity (import.md 1.9)."""
    for header in ([], ['##INFO=<ID=MQ,Number=0,Type=Flag,Description="MQ">']):
        # (The header's own Float MQ line left out: a second definition is ignored.)
        lines = "".join(h for h in HEADER.splitlines(keepends=True) if "ID=MQ," not in h)
        path = tmp_path / "bare.vcf"
        path.write_text(lines.replace("#CHROM", "".join(h + "\n" for h in header) + "#CHROM")
                        + "13\t100\t.\tA\tG\t100\tPASS\tMQ\tGT\t0/1\n"
                        + "13\t200\t.\tA\tG\t100\tPASS\tMQ=10\tGT\t0/1\n")
        with open_vcf(path) as reader:
            records = list(reader)
        # (Declared a Flag, MQ holds no number at all, not even written as MQ=10.)
        assert _kept(db_conn.cursor(), [["low_mapping_quality"]], records) == \
            ([100, 200] if header else [100]), header


def test_a_value_list_counts_the_records_own_allele_or_keeps_the_record(db_conn, tmp_path):
    """Number=R is [REF, ALT] after decomposition: the ALT's value counts (the REF's 0.99
    dropped a rare variant). Several values that cannot say which is this ALT's (Number=.,
    copied whole to each decomposed record) count as the one that keeps the record: the
    lowest frequency or allele number, the highest mapping quality."""
    af_r = '##INFO=<ID=GNOMAD_GENOMES__AF,Number=R,Type=Float,Description="AF">'
    records = _records_with(tmp_path, [af_r], [
        "GNOMAD_GENOMES__AF=0.99,0.01;GNOMAD_GENOMES__AN=10000",
        "GNOMAD_GENOMES__AF=0.01,0.2;GNOMAD_GENOMES__AN=10000"])
    assert _kept(db_conn.cursor(), [["hi_frequency"]], records) == [100]
    unknown = ['##INFO=<ID=GNOMAD_GENOMES__AF,Number=.,Type=Float,Description="AF">',
               '##INFO=<ID=GNOMAD_GENOMES__AN,Number=.,Type=Integer,Description="AN">',
               '##INFO=<ID=MQ,Number=.,Type=Float,Description="MQ">']
    records = _records_with(tmp_path, unknown, [
        "GNOMAD_GENOMES__AF=0.2,0.01;GNOMAD_GENOMES__AN=10000",
        "GNOMAD_GENOMES__AF=0.2,0.3;GNOMAD_GENOMES__AN=10000,4000",
        "GNOMAD_GENOMES__AF=0.2,0.3;GNOMAD_GENOMES__AN=10000,6000",
        "GNOMAD_GENOMES__AF=.,0.3;GNOMAD_GENOMES__AN=10000"])
    assert _kept(db_conn.cursor(), [["hi_frequency"]], records) == [100, 200]
    records = _records_with(tmp_path, unknown, ["MQ=10,30", "MQ=10,19", "MQ=.,10"])
    assert _kept(db_conn.cursor(), [["low_mapping_quality"]], records) == [100]


def test_an_empty_list_of_criteria_is_refused():
    """"All of no criteria" holds for every record: `[[]]` dropped every SNV of every
    analysis the group's pattern matched."""
    from ella.deposit.prefilter import PrefilterError, check_prefilters
    with pytest.raises(PrefilterError, match=r"^lab: an empty list of criteria in prefilters "
                                             r"would drop every variant"):
        check_prefilters([["hi_frequency"], []], "lab")


def test_structural_variants_are_never_prefiltered(db_conn, tmp_path):
    records = _records(tmp_path, [(100, "A", "G", HIGH, "0/1")])
    # Give the record an SVTYPE through its INFO text (its parsed INFO is computed lazily).
    records[0]._info_text += ";SVTYPE=DEL"
    records[0]._info_items = records[0]._info = None
    assert _kept(db_conn.cursor(), [["hi_frequency"]], records) == [100]


def _group_with_deposit_config(db_url, entry):
    add_test_panels(db_url)
    with psycopg.connect(db_url) as conn:
        group_id = conn.execute("INSERT INTO usergroup (name, config) VALUES ('lab', %s) "
                                "RETURNING id", (Jsonb({"deposit": {"analysis": [entry]}}),)
                                ).fetchone()[0]
        conn.execute("INSERT INTO usergroupgenepanel VALUES (%s, 'HBOC', 'v01')", (group_id,))
        conn.commit()


def test_group_prefilter_applies_at_deposit(db_url, ella_config):
    # No two records of the real VCF are within 3 bp: "not nearby" drops every one.
    _group_with_deposit_config(db_url, {"pattern": "^brca_sample", "prefilters":
                                        [["position_not_nearby"]]})
    stats = deposit(db_url, ella_config, BRCA_VCF)
    with psycopg.connect(db_url) as conn:
        positions = sorted(r[0] for r in conn.execute("SELECT vcf_pos FROM allele"))
    assert (stats["prefiltered"], stats["genotypes"], positions) == (6, 0, [])


def test_group_postprocess_runs_after_prefilter(db_url, ella_config):
    # Post-processors now run (tests/test_postprocessors.py); with every record prefiltered
    # no variant remains for the group's filter config: NO VARIANTS.
    _group_with_deposit_config(db_url, {"pattern": "^brca", "prefilters":
                                        [["position_not_nearby"]], "postprocess":
                                        ["analysis_tag_all_classified"]})
    deposit_filterconfigs_for_lab(db_url, ella_config)
    stats = deposit(db_url, ella_config, BRCA_VCF)
    with psycopg.connect(db_url) as conn:
        comments = [r[0] for r in conn.execute(
            "SELECT review_comment FROM interpretationlog WHERE review_comment IS NOT NULL")]
    assert (stats["genotypes"], stats["postprocessed"], comments) == \
        (0, ["analysis_tag_all_classified"], ["NO VARIANTS"])


def test_unknown_group_postprocessor_is_refused_clearly(db_url, ella_config):
    _group_with_deposit_config(db_url, {"pattern": "^brca", "postprocess":
                                        ["analysis_tag_all_classified", "tag_everything"]})
    before = table_snapshot(db_url)
    with pytest.raises(DepositError, match="Invalid postprocess method 'tag_everything'"):
        deposit(db_url, ella_config, BRCA_VCF)
    assert table_snapshot(db_url) == before


def deposit_filterconfigs_for_lab(db_url, ella_config):
    with psycopg.connect(db_url) as conn:
        deposit_filterconfigs(conn, ella_config, [
            {"name": "lab", "usergroups": [{"name": "lab", "order": 0}], "requirements": [],
             "filterconfig": {"filters": [{"name": "classification",
                                           "config": {"classes": ["5"]}}]}}])
        conn.commit()


def test_two_matching_deposit_configs_are_an_error(db_url, ella_config):
    _group_with_deposit_config(db_url, {"pattern": "^brca", "prefilters": []})
    with psycopg.connect(db_url) as conn:
        group_id = conn.execute("INSERT INTO usergroup (name, config) VALUES ('other', %s) "
                                "RETURNING id", (Jsonb({"deposit": {"analysis": [
                                    {"pattern": "sample"}]}}),)).fetchone()[0]
        conn.execute("INSERT INTO usergroupgenepanel VALUES (%s, 'HBOC', 'v01')", (group_id,))
        conn.commit()
    with pytest.raises(DepositError, match="more than one user-group deposit config"):
        deposit(db_url, ella_config, BRCA_VCF)


# --- "nearby" across the deposit's batches (BATCH_SIZE blocks each) -------------------------

@pytest.fixture
def probe_group(db_url):
    """Group `lab` prefilters analyses named `probe...`: high frequency and not nearby."""
    _group_with_deposit_config(db_url, {"pattern": "^probe", "prefilters": [
        ["hi_frequency", "position_not_nearby"]]})


def _deposit_lines(db_url, ella_config, tmp_path, lines):
    """Deposit records (pos, ref, alt, info, gt) on chromosome 13 as analysis
    `probe.HBOC_v01`; returns the stored proband positions."""
    folder = tmp_path / "probe.HBOC_v01"
    folder.mkdir()
    (folder / "probe.HBOC_v01.vcf").write_text(
        HEADER.replace("#CHROM", "##contig=<ID=13>\n#CHROM") + "".join(
            f"13\t{pos}\t.\t{ref}\t{alt}\t100\tPASS\t{info}\tGT\t{gt}\n"
            for pos, ref, alt, info, gt in lines))
    deposit(db_url, ella_config, folder)
    with psycopg.connect(db_url) as conn:
        return sorted(r[0] for r in conn.execute("SELECT vcf_pos FROM allele"))


def _filler(n, start, step=10):
    return [(start + step * i, "A", "G", HIGH, "0/1") for i in range(n)]


def test_a_block_whose_records_go_down_in_position_is_not_cut_from_its_neighbour(
        db_url, ella_config, tmp_path, probe_group):
    """A decomposed block written 5,000,012 then 5,000,010 (its records need not be in
    position order) ends the batch's 2,000th block; the next record, 5,000,014, is 2 bp
    from 5,000,012. The cut was made by the block's last record (4 bp away), and 5,000,014
    was dropped as not nearby."""
    from ella.deposit.analysis import BATCH_SIZE
    block = f"{HIGH};OLD_MULTIALLELIC=13:5000010:CTTA/C/CTTG"
    lines = _filler(BATCH_SIZE - 1, 1_000_000) + [
        (5_000_012, "A", "G", block, "1/."), (5_000_010, "CTTA", "C", block, "./1"),
        (5_000_014, "A", "G", HIGH, "0/1")] + _filler(50, 6_000_000)
    assert _deposit_lines(db_url, ella_config, tmp_path, lines) == [
        5_000_010, 5_000_012, 5_000_014]


def test_an_unsorted_vcf_is_refused_when_nearby_would_look_across_batches(
        db_url, ella_config, tmp_path, probe_group):
    """POS 5 and POS 7 are 2 bp apart but 2,100 records apart in the file: they were judged
    in different batches, and both dropped as not nearby. Refused with the line, nothing
    written; a file whose records go back only within one batch is prefiltered exactly
    (test_d3_nearby_is_within_3_bp_either_way_in_any_order)."""
    lines = [(5, "A", "G", HIGH, "0/1")] + _filler(2100, 1_000_000, step=2000) + [
        (7, "C", "T", HIGH, "0/1")]
    before = table_snapshot(db_url)
    with pytest.raises(VcfError, match=(
            r"probe\.HBOC_v01\.vcf, line 2110: 13:7 comes after 13:4996000 earlier in the "
            r"file: the VCF is not sorted by position, which the deposit config's prefilter "
            r"position_not_nearby needs .*; sort it, e.g\. with bcftools sort$")):
        _deposit_lines(db_url, ella_config, tmp_path, lines)
    assert table_snapshot(db_url) == before


def test_batches_are_cut_at_gaps_wider_than_a_block_can_reach():
    """Cut (once BATCH_SIZE blocks are in) before a block over 1 kb past every position of
    the batch on its chromosome, or on another chromosome; a batch four times that size
    without such a gap is cut at the next gap over 3 bp."""
    from collections import namedtuple
    from ella.deposit.analysis import _batches
    rec = namedtuple("rec", "chrom pos")
    blocks = ([[rec("1", 10 * i)] for i in range(5)]  # 10 bp apart: no cut
              + [[rec("1", 2000), rec("1", 40)]]  # not past 40: no cut; the batch ends at 2000
              + [[rec("1", 2900)]]  # 900 bp past 2000: no cut
              + [[rec("1", 4100)]]  # 1,200 bp past 2900: cut (7 blocks)
              + [[rec("2", 100)], [rec("1", 6000)], [rec("3", 1)]]  # cut: another chromosome
              + [[rec("3", 1 + 5 * i)] for i in range(1, 30)])  # 5 bp apart: cut at 12
    sizes = [len(b) for b in _batches(blocks, 3)]
    assert sizes == [7, 3, 12, 12, 6]



def test_a_compound_heterozygote_site_is_kept_whole_when_one_of_its_alts_is_kept(
        db_url, ella_config, tmp_path):
    """A 1/2 site whose first ALT is common and whose second is rare: the rare ALT is not
    prefiltered, so the genotype is stored with both its alleles (dropping the block because
    one ALT is common would lose the rare one). A block whose ALTs are all common goes."""
    _group_with_deposit_config(db_url, {"pattern": "^probe", "prefilters": [["hi_frequency"]]})
    rare = "GNOMAD_GENOMES__AF=0.001;GNOMAD_GENOMES__AN=10000"
    mixed = "OLD_MULTIALLELIC=13:100:A/G/T"
    common = "OLD_MULTIALLELIC=13:500:C/G/T"
    positions = _deposit_lines(db_url, ella_config, tmp_path, [
        (100, "A", "G", f"{HIGH};{mixed}", "1/."), (100, "A", "T", f"{rare};{mixed}", "./1"),
        (500, "C", "G", f"{HIGH};{common}", "1/."), (500, "C", "T", f"{HIGH};{common}", "./1")])
    with psycopg.connect(db_url) as conn:
        genotypes = conn.execute(
            "SELECT a1.vcf_alt, a2.vcf_alt FROM genotype g JOIN allele a1 ON a1.id = g.allele_id "
            "JOIN allele a2 ON a2.id = g.secondallele_id").fetchall()
    assert (positions, genotypes) == ([100, 100], [("G", "T")])
