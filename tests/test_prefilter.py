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
