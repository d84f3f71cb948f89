"""Pinned rules of `ella-delete`, the deposit prefilter and post-processors, annotation configs
and broadcasts (import.md 1.9, 1.11, 3.1; config-cli-ops.md 3.7; api.md 4.26; README)."""

from datetime import datetime, timedelta, timezone

import psycopg
import pytest
import yaml

from ella.annotation.legacy_config import legacy_annotation_config
from ella.deposit.delete import (allele_summary, alleleinterpretation_rounds,
                                 analysis_summary)
from ella.deposit.prefilter import prefiltered
from ella.vcf import open_vcf
from api_client import Client
from api_helpers import add_user, logged_in_client
from deposit_helpers import BRCA_VCF, deposit
from helpers import run_cli
from test_postprocessors import _lab as lab_group

ALLELE_ID = 3  # demo database: BRCA2 c.10G>T, its panel transcript NM_000059.3 in HBOCUTV
ANALYSIS_ID = 2  # demo database: one round, Ongoing (Interpretation)


# --- ella-delete ---------------------------------------------------------------------------

def _add_allele_rounds(url, specs):
    """Rounds of ALLELE_ID (panel HBOCUTV v01, user 1), oldest first: (workflow_status,
    status, finalized) each, one day apart; their ids."""
    ids = []
    with psycopg.connect(url) as conn:
        for days, (workflow, status, finalized) in zip(range(len(specs), 0, -1), specs):
            ids.append(conn.execute(
                "INSERT INTO alleleinterpretation (genepanel_name, genepanel_version, "
                "user_state, state, status, date_last_update, date_created, allele_id, "
                "user_id, finalized, workflow_status) VALUES ('HBOCUTV', 'v01', '{}', '{}', "
                "%s, now() - make_interval(days => %s), now() - make_interval(days => %s), "
                "%s, 1, %s, %s) RETURNING id",
                (status, days, days, ALLELE_ID, finalized, workflow)).fetchone()[0])
    return ids


def test_default_delete_keeps_every_round_up_to_the_last_finalized_one(demo_db_url):
    """Default `delete alleleinterpretation`: the rounds created after the *last* finalized
    round (config-cli-ops.md 3.7; README "delete a variant's rounds after its last finalized
    one"): a round between two finalized rounds is history and stays."""
    ids = _add_allele_rounds(demo_db_url, [
        ("Interpretation", "Done", True), ("Review", "Done", False),
        ("Interpretation", "Done", True), ("Review", "Ongoing", None)])
    with psycopg.connect(demo_db_url) as conn:
        chosen = [r["id"] for r in alleleinterpretation_rounds(conn, ALLELE_ID, False)]
    assert chosen == ids[3:]


def test_default_delete_without_a_finalized_round_takes_every_round(demo_db_url):
    """A variant never finalized: every round was created after the (absent) last finalized
    one, so the default deletes them all (delete.py contract; config-cli-ops.md 3.7)."""
    ids = _add_allele_rounds(demo_db_url, [
        ("Interpretation", "Done", False), ("Review", "Ongoing", None)])
    result = run_cli("ella-delete", "alleleinterpretation", str(ALLELE_ID), "--reason", "r",
                     db_url=demo_db_url, stdin="y\n")
    assert result.returncode == 0, result.stderr
    assert "Deleted 2 interpretation round(s)" in result.stdout
    with psycopg.connect(demo_db_url) as conn:
        assert conn.execute("SELECT count(*) FROM alleleinterpretation WHERE id = ANY(%s)",
                            (ids,)).fetchone()[0] == 0


def test_delete_alleleinterpretation_lists_hgvsc_of_the_panel_transcripts_only(demo_db_url):
    """`delete alleleinterpretation` shows "HGVSc per panel transcript" (config-cli-ops.md
    3.7): the variant's other annotated transcripts (ENST..., not in HBOCUTV) are not listed."""
    _add_allele_rounds(demo_db_url, [("Interpretation", "Ongoing", False)])
    with psycopg.connect(demo_db_url) as conn:
        summary = allele_summary(conn, ALLELE_ID)
    assert summary["hgvsc"] == [("HBOCUTV_v01", "NM_000059.3", "BRCA2", "c.10G>T")]


def test_delete_analysis_shows_the_status_of_the_latest_round(demo_db_url):
    """`delete analysis` shows the *latest* interpretation's `status (workflow_status)`
    (config-cli-ops.md 3.7), not that of an older round."""
    with psycopg.connect(demo_db_url) as conn:
        conn.execute("INSERT INTO analysisinterpretation (analysis_id, genepanel_name, "
                     "genepanel_version, user_state, state, status, finalized, "
                     "workflow_status, date_created, date_last_update) SELECT analysis_id, "
                     "genepanel_name, genepanel_version, '{}', '{}', 'Done', false, 'Review', "
                     "date_created - interval '30 days', date_created - interval '30 days' "
                     "FROM analysisinterpretation WHERE analysis_id = %s", (ANALYSIS_ID,))
        summary = analysis_summary(conn, ANALYSIS_ID)
        conn.commit()
    assert (summary["status"], summary["workflow_status"], summary["interpretations"]) == \
        ("Ongoing", "Interpretation", 2)
    result = run_cli("ella-delete", "analysis", str(ANALYSIS_ID), "--reason", "r",
                     db_url=demo_db_url, stdin="n\n")
    assert "Latest interpretation: Ongoing (Interpretation)" in result.stdout


# --- prefilter -----------------------------------------------------------------------------

HEADER = """##fileformat=VCFv4.1
##INFO=<ID=GNOMAD_GENOMES__AF,Number=A,Type=Float,Description="AF">
##INFO=<ID=GNOMAD_GENOMES__AN,Number=1,Type=Integer,Description="AN">
##INFO=<ID=MQ,Number=1,Type=Float,Description="MQ">
##INFO=<ID=OLD_MULTIALLELIC,Number=1,Type=String,Description="block">
##INFO=<ID=SVTYPE,Number=1,Type=String,Description="SV type">
##FORMAT=<ID=GT,Number=1,Type=String,Description="GT">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tP
"""
HIGH = "GNOMAD_GENOMES__AF=0.2;GNOMAD_GENOMES__AN=10000"


def _records(tmp_path, lines):
    """Records of (chrom, pos, ref, alt, info, gt) lines."""
    path = tmp_path / "p.vcf"
    path.write_text(HEADER + "".join(
        f"{chrom}\t{pos}\t.\t{ref}\t{alt}\t100\tPASS\t{info}\tGT\t{gt}\n"
        for chrom, pos, ref, alt, info, gt in lines))
    with open_vcf(path) as reader:
        return list(reader)


def _kept(conn, prefilters, records):
    dropped = prefiltered(conn.cursor(), prefilters, records, 0)
    return [(r.chrom, r.pos) for r in records if id(r) not in dropped]


def test_frequency_and_mapping_quality_thresholds_are_strict(db_conn, tmp_path):
    """`hi_frequency`: AF > 0.05 and AN > 5000; `low_mapping_quality`: MQ < 20 (import.md
    1.9): a record exactly at a threshold is kept."""
    records = _records(tmp_path, [
        ("13", 100, "A", "G", "GNOMAD_GENOMES__AF=0.05;GNOMAD_GENOMES__AN=10000", "0/1"),
        ("13", 200, "A", "G", "GNOMAD_GENOMES__AF=0.2;GNOMAD_GENOMES__AN=5000", "0/1"),
        ("13", 300, "A", "G", HIGH, "0/1")])
    assert _kept(db_conn, [["hi_frequency"]], records) == [("13", 100), ("13", 200)]
    records = _records(tmp_path, [("13", 100, "A", "G", "MQ=20", "0/1"),
                                  ("13", 200, "A", "G", "MQ=19.9", "0/1")])
    assert _kept(db_conn, [["low_mapping_quality"]], records) == [("13", 100)]


def test_a_missing_frequency_counts_as_zero(db_conn, tmp_path):
    """`hi_frequency` "(missing = 0)" (import.md 1.9): no AF, however large the AN, is not a
    high frequency."""
    records = _records(tmp_path, [("13", 100, "A", "G", "GNOMAD_GENOMES__AN=10000", "0/1")])
    assert _kept(db_conn, [["hi_frequency"]], records) == [("13", 100)]


def test_a_block_record_whose_proband_gt_is_only_0_and_1_is_non_multiallelic(db_conn,
                                                                               tmp_path):
    """`non_multiallelic` holds with OLD_MULTIALLELIC when the proband GT only contains 0/1
    (import.md 1.9): such a high-frequency record is dropped; `./1` keeps it."""
    block = f"{HIGH};OLD_MULTIALLELIC=13:100:A/G/T"
    records = _records(tmp_path, [("13", 100, "A", "G", block, "0/1"),
                                  ("13", 500, "A", "T", block, "./1")])
    assert _kept(db_conn, [["hi_frequency", "non_multiallelic"]], records) == [("13", 500)]


def test_nearby_counts_records_of_the_same_chromosome_only_but_structural_ones_too(
        db_conn, tmp_path):
    """`position_not_nearby`: no other proband record within 3 bp on the *same chromosome*
    (import.md 1.9). A structural record is never dropped but is a proband record: its
    neighbour is nearby."""
    records = _records(tmp_path, [
        ("13", 100, "A", "G", HIGH, "0/1"), ("17", 101, "A", "G", HIGH, "0/1"),
        ("13", 500, "A", "<DEL>", "SVTYPE=DEL", "0/1"), ("13", 502, "A", "G", HIGH, "0/1")])
    assert _kept(db_conn, [["hi_frequency", "position_not_nearby"]], records) == \
        [("13", 500), ("13", 502)]


def test_a_classification_of_another_alt_at_the_position_does_not_count(db_conn, tmp_path):
    """`no_classification`: no assessment of an allele with the same (chromosome, vcf_pos,
    vcf_ref, vcf_alt) (import.md 1.9): a classified A>T does not keep an A>G."""
    db_conn.execute("INSERT INTO genepanel VALUES ('P', 'v1', 'GRCh37', true, now(), NULL)")
    db_conn.execute("INSERT INTO usergroup (name) VALUES ('g')")
    user_id = db_conn.execute(
        "INSERT INTO \"user\" (username, first_name, last_name, group_id, password, "
        "password_expiry, active, incorrect_logins) SELECT 'u', 'U', 'U', id, 'x', now(), "
        "true, 0 FROM usergroup RETURNING id").fetchone()[0]
    allele_id = db_conn.execute(
        "INSERT INTO allele (genome_reference, chromosome, start_position, open_end_position, "
        "change_from, change_to, change_type, vcf_pos, vcf_ref, vcf_alt, length, caller_type) "
        "VALUES ('GRCh37', '13', 99, 100, 'A', 'T', 'SNP', 100, 'A', 'T', 1, 'snv') RETURNING id"
    ).fetchone()[0]
    db_conn.execute("INSERT INTO alleleassessment (classification, user_id, date_created, "
                    "allele_id, genepanel_name, genepanel_version) VALUES ('1', %s, now(), %s, "
                    "'P', 'v1')", (user_id, allele_id))
    records = _records(tmp_path, [("13", 100, "A", "G", HIGH, "0/1"),
                                  ("13", 500, "A", "G", HIGH, "0/1")])
    assert _kept(db_conn, [["hi_frequency", "no_classification"]], records) == []


# --- post-processors -----------------------------------------------------------------------

def _lab(db_url, ella_config, postprocess):
    """Group 'lab' (HBOC panels) whose analyses named run* are post-processed; user id 1;
    a filter config excluding class 5."""
    lab_group(db_url, ella_config, {"pattern": "^run", "postprocess": postprocess})


def _snv_vcf(tmp_path, name):
    """The SNVs of the real brca_sample_2 VCF as analysis `<name>.HBOC_v01`."""
    lines = [line for line in BRCA_VCF.read_text().splitlines(keepends=True)
             if line.startswith("#") or (len(line.split("\t")[3]) == 1
                                         and len(line.split("\t")[4]) == 1)]
    path = tmp_path / f"{name}.HBOC_v01.vcf"
    path.write_text("".join(lines))
    return path


def _classify(db_url, analysis_id, classification, limit=None):
    """Class `classification` for the analysis' variants (the first `limit` by id); their
    assessment ids by allele."""
    with psycopg.connect(db_url) as conn:
        return dict(conn.execute(
            "INSERT INTO alleleassessment (classification, user_id, date_created, allele_id, "
            "genepanel_name, genepanel_version) SELECT %s::alleleassessment_classification, 1, "
            "now(), a, 'HBOC', 'v01' FROM (SELECT DISTINCT g.allele_id AS a FROM genotype g "
            "JOIN sample s ON s.id = g.sample_id WHERE s.analysis_id = %s ORDER BY 1 LIMIT %s) "
            "x RETURNING allele_id, id", (classification, analysis_id, limit)).fetchall())


def _review_comments(db_url, analysis_id):
    with psycopg.connect(db_url) as conn:
        return [r[0] for r in conn.execute(
            "SELECT l.review_comment FROM interpretationlog l JOIN analysisinterpretation r "
            "ON r.id = l.analysisinterpretation_id WHERE r.analysis_id = %s "
            "AND l.review_comment IS NOT NULL", (analysis_id,))]


def test_all_classified_is_not_written_while_a_variant_is_unclassified(db_url, ella_config,
                                                                       tmp_path):
    """`analysis_tag_all_classified` writes `ALL CLASSIFIED` only when *all* non-filtered
    variants have valid classifications (import.md 1.9)."""
    _lab(db_url, ella_config, ["analysis_tag_all_classified"])
    first = deposit(db_url, ella_config, _snv_vcf(tmp_path, "run1"))
    assert len(_classify(db_url, first["analysis_id"], "4", limit=1)) == 1
    second = deposit(db_url, ella_config, _snv_vcf(tmp_path, "run2"))
    assert _review_comments(db_url, second["analysis_id"]) == []


def test_auto_finalize_snapshots_the_filtered_variants_with_their_current_rows(
        db_url, ella_config, tmp_path):
    """`analysis_finalize_without_findings` writes the round's snapshot (import.md 1.9): one
    row per variant of allele_ids and the excluded ids; a kept variant's row names its current
    annotation and assessment (workflow.md 9 and 15), an excluded one's only its filter
    category, as ELLA's post-processor and a round the UI ends write it (datamodel.md 3.6:
    "NULL for excluded alleles"): a class 5 the filter config excluded was not shown."""
    _lab(db_url, ella_config, ["analysis_finalize_without_findings"])
    first = deposit(db_url, ella_config, _snv_vcf(tmp_path, "run1"))
    assessments = _classify(db_url, first["analysis_id"], "1")
    class5 = min(assessments)
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE alleleassessment SET classification = '5' WHERE allele_id = %s",
                     (class5,))
    done = deposit(db_url, ella_config, _snv_vcf(tmp_path, "run2"))
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT s.allele_id, s.filtered::text, s.alleleassessment_id, "
            "s.annotation_id IS NOT NULL FROM analysisinterpretationsnapshot s "
            "JOIN analysisinterpretation r ON r.id = s.analysisinterpretation_id "
            "WHERE r.analysis_id = %s AND r.finalized ORDER BY 1", (done["analysis_id"],)
        ).fetchall()
    assert len(rows) == len(assessments) > 1
    assert {r[0]: r[1:] for r in rows}[class5] == ("CLASSIFICATION", None, False)
    assert all(r[2] == assessments[r[0]] and r[3] for r in rows if r[0] != class5)


# --- ella-annotationconfig -----------------------------------------------------------------

def _update(db_url, tmp_path, config_or_text):
    path = tmp_path / "config.yml"
    if isinstance(config_or_text, str):
        path.write_text(config_or_text)
    else:
        path.write_text(yaml.safe_dump(config_or_text))
    return run_cli("ella-annotationconfig", "update", str(path), "--reason", "x", db_url=db_url)


def _config_ids(db_url):
    with psycopg.connect(db_url) as conn:
        return [r[0] for r in conn.execute("SELECT id FROM annotationconfig ORDER BY id")]


def _legacy_with(change):
    config = legacy_annotation_config()
    change(config)
    return config


META = {"name": "meta", "converter_config": {"elements": [
    {"source": "MY_META", "target": "external.my_meta", "meta_pattern": "Format: (",
     "subelements": [{"source": "score", "target_type": "float"}]}]}}
ITEM_LIST = {"section": "external", "template": "itemList", "source": "x",
             "config": {"items": [{"subsource": "a"}]}}


@pytest.mark.parametrize("config, message", [
    (_legacy_with(lambda c: c["deposit"].append(META)),
     "meta_pattern 'Format: (' is not a regular expression"),
    (_legacy_with(lambda c: c.update(extra=1)),
     "(top level): Additional properties are not allowed ('extra' was unexpected)"),
    (_legacy_with(lambda c: c["view"][0].pop("config")), "view[0]: 'config' is a required"),
    (_legacy_with(lambda c: c["deposit"][0]["converter_config"].pop("elements")),
     "deposit[0].converter_config: 'elements' is a required property"),
    ("deposit: []\nview:\n- {section: external, template: itemList, source: x, config: "
     "{items: [{subsource: a, extra: .nan}]}}\n", "view[0].config.items[0].extra is not a "
                                                  "finite number"),
    ("deposit: []\nview:\n- {section: external, template: itemList, source: x, config: "
     "{items: [{subsource: a, 1: x}]}}\n", "view[0].config.items[0] has the key 1, which is "
                                           "not text"),
], ids=["meta_pattern", "top-level key", "view config", "elements", "nan", "int key"])
def test_a_config_not_matching_ellas_shape_is_refused(db_url, tmp_path, config, message):
    """`annotationconfig update` validates the whole file first (import.md 3.1: ELLA's
    annotationconfig.json; README: "values JSON can hold, the shape, ... `meta_pattern`
    regexes"): refused with its problem, no traceback, no row."""
    result = _update(db_url, tmp_path, config)
    assert result.returncode == 1, result.stdout
    assert message in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert _config_ids(db_url) == [1]


def test_a_file_over_10_mib_is_refused(db_url, tmp_path):
    """An annotation config file is read up to 10 MiB (ELLA's is 20 kB): a larger one is
    refused before it is parsed."""
    text = yaml.safe_dump(legacy_annotation_config()) + ("# padding\n" * (1_100_000))
    result = _update(db_url, tmp_path, text)
    assert result.returncode == 1
    assert "larger than 10 MiB" in result.stderr
    assert _config_ids(db_url) == [1]


# --- broadcasts ----------------------------------------------------------------------------

def _broadcasts(db_url, rows):
    """Insert (message, active, minutes from now) rows in this order (ids ascending)."""
    with psycopg.connect(db_url) as conn:
        for message, active, minutes in rows:
            conn.execute("INSERT INTO broadcast (date_created, message, active) VALUES "
                         "(now() + make_interval(mins => %s), %s, %s)",
                         (minutes, message, active))


def _listed(result):
    return [line.split("  ")[-1].strip() for line in result.stdout.splitlines()[2:]]


def test_broadcasts_are_ordered_by_creation_time(api_app, db_url):
    """`GET broadcasts/`: active rows ordered by creation time (api.md 4.26); `broadcast list`
    the same, `--tail` the last 10 by creation date printed oldest first (config-cli-ops.md
    3.7), also where ids are not in that order."""
    _broadcasts(db_url, [("later", True, 10), ("earlier", True, -10)]
                + [(f"old {i}", False, -100 + i) for i in range(10)])
    assert [b["message"] for b in Client(api_app).get("/api/v1/broadcasts/").json] == \
        ["earlier", "later"]
    assert _listed(run_cli("ella-broadcast", "list", db_url=db_url)) == ["earlier", "later"]
    tail = _listed(run_cli("ella-broadcast", "list", "--tail", db_url=db_url))
    assert tail == [f"old {i}" for i in range(2, 10)] + ["earlier", "later"]


def test_the_password_notice_appears_only_within_7_days_of_expiry(api_app, db_url):
    """The personal notice appears only for a user whose password_expiry is less than 7 days
    away (api.md 4.26)."""
    add_user(db_url, "bob", "lab")
    client = logged_in_client(api_app, db_url, "bob")
    for days, shown in ((7.5, False), (6.5, True)):
        with psycopg.connect(db_url) as conn:
            conn.execute("UPDATE \"user\" SET password_expiry = %s WHERE username = 'bob'",
                         (datetime.now(timezone.utc) + timedelta(days=days),))
        messages = [b["message"] for b in client.get("/api/v1/broadcasts/").json]
        assert any("will expire in" in m for m in messages) == shown, (days, messages)
