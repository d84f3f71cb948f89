"""Pinned rules of the analysis and gene panel deposits (import.md 1.3, 1.4, 1.8, 2.6, 3.7,
4) that no other test checks on its own: .analysis defaults, the .ped columns' mappings,
sibling links, panel inheritance and --replace updates, annotation versioning."""

import json
import shutil

import psycopg

import trio_helpers
from deposit_helpers import (BRCA_VCF, TEST_ANALYSIS_001, add_test_panels, copy_folder,
                             deposit)
from ella.deposit.analysis_config import read_ped, resolve_analysis_config
from test_deposit_genepanel import TEST_ALL, deposit_folder, edited_copy
from test_import_cases import _family_folder, _samples


def _current_format_folder(tmp_path, **keys):
    """A folder with one VCF and a current-format .analysis holding `keys` besides name,
    panel and data."""
    folder = tmp_path / "a"
    folder.mkdir()
    shutil.copy(BRCA_VCF, folder / "x.vcf")
    (folder / "a.analysis").write_text(json.dumps({
        "name": "a", "genepanel_name": "HBOC", "genepanel_version": "v01",
        "data": [{"vcf": "x.vcf"}], **keys}))
    return folder


# --- .analysis files (import.md 1.3) ---------------------------------------------------------

def test_a_current_format_analysis_without_priority_has_priority_1(tmp_path):
    """import.md 1.3: "Defaults: `priority` 1" for a current-format .analysis that gives
    none."""
    assert resolve_analysis_config(_current_format_folder(tmp_path))["priority"] == 1


def test_a_legacy_analysis_without_priority_has_priority_1(tmp_path):
    """import.md 1.3 rule 2 (legacy format): "`priority` (string or int) -> int; absent ->
    1"."""
    folder = tmp_path / "x"
    folder.mkdir()
    shutil.copy(BRCA_VCF, folder / "x.vcf")
    (folder / "x.analysis").write_text(json.dumps({"name": "x",
                                                   "params": {"genepanel": "HBOC_v01"}}))
    assert resolve_analysis_config(folder)["priority"] == 1


def test_a_legacy_analysis_priority_is_a_whole_number_also_as_text(tmp_path):
    """import.md 1.3 rule 2: "`priority` (string or int) -> int". A fraction or a boolean is
    no priority: 2.9 was stored as 2 and true as 1 (false was "0 is less than the minimum")."""
    from ella.deposit.analysis_config import AnalysisConfigError
    folder = tmp_path / "x"
    folder.mkdir()
    shutil.copy(BRCA_VCF, folder / "x.vcf")
    for given, stored in (("2", 2), (" 3 ", 3), (3, 3), (2.0, 2)):
        (folder / "x.analysis").write_text(json.dumps({
            "name": "x", "params": {"genepanel": "HBOC_v01"}, "priority": given}))
        assert resolve_analysis_config(folder)["priority"] == stored, given
    for given, shown in ((2.9, "2.9"), (True, "True"), (False, "False"), ("2.9", "'2.9'"),
                         ("\u00b2", "'\u00b2'"), (None, "None"), ([2], "[2]"),
                         ("9" * 5000, "'" + "9" * 40 + "...'")):
        (folder / "x.analysis").write_text(json.dumps({
            "name": "x", "params": {"genepanel": "HBOC_v01"}, "priority": given}))
        try:
            resolve_analysis_config(folder)
        except AnalysisConfigError as exc:
            assert str(exc) == (f"{folder / 'x.analysis'}: priority {shown} is not a whole "
                                "number (1, 2 or 3)"), given
        else:
            raise AssertionError(f"priority {given!r} was accepted")
    (folder / "x.analysis").write_text(json.dumps({
        "name": "x", "params": {"genepanel": "HBOC_v01"}, "priority": "4"}))
    try:
        resolve_analysis_config(folder)
    except AnalysisConfigError as exc:
        assert str(exc).endswith("priority: 4 is greater than the maximum of 3")
    else:
        raise AssertionError("priority 4 was accepted")


def test_a_folder_without_analysis_file_has_priority_1(tmp_path):
    """import.md 1.3 rule 1 (a folder named `<analysis>-<panel>-<version>` without a
    .analysis): the config's defaults apply, "`priority` 1"."""
    folder = tmp_path / "sample_1-HBOC-v01"
    folder.mkdir()
    shutil.copy(BRCA_VCF, folder / "sample_1.vcf")
    assert resolve_analysis_config(folder)["priority"] == 1


def test_a_legacy_analysis_takes_only_the_ped_of_its_own_stem(tmp_path):
    """import.md 1.3 rule 2 (legacy format): "`ped` = `<analysis-file-stem>.ped` next to the
    file, if it exists": another .ped in the folder is not this analysis' pedigree."""
    folder = tmp_path / "x"
    folder.mkdir()
    shutil.copy(BRCA_VCF, folder / "x.vcf")
    (folder / "x.analysis").write_text(json.dumps({"name": "x",
                                                   "params": {"genepanel": "HBOC_v01"}}))
    (folder / "a_family.ped").write_text("FAM\tbrca_sample_2\t0\t0\t2\t2\t1\n")
    assert resolve_analysis_config(folder)["data"][0]["ped"] is None
    (folder / "x.ped").write_text("FAM\tbrca_sample_2\t0\t0\t2\t2\t1\n")
    assert resolve_analysis_config(folder)["data"][0]["ped"] == str((folder / "x.ped").resolve())


def test_date_analysis_requested_does_not_replace_date_requested(tmp_path):
    """import.md 1.3, current format: `date_requested` is the analysis' date;
    `date_analysis_requested` is "accepted, not used" (it never overrides a given
    `date_requested`)."""
    folder = _current_format_folder(tmp_path, date_requested="2024-01-31",
                                    date_analysis_requested="2020-05-05")
    config = resolve_analysis_config(folder)
    assert config["date_requested"] == "2024-01-31"
    assert "date_analysis_requested" not in config


# --- .ped files (import.md 1.4) --------------------------------------------------------------

def test_ped_proband_column_other_than_1_is_not_a_proband(tmp_path):
    """import.md 1.4 column 7: "`1` -> true, anything else -> false"; a relative whose
    column reads 2 or -9 (other PED conventions) is no second proband."""
    ped = tmp_path / "x.ped"
    ped.write_text("FAM\tP\tF\tM\t1\t2\t1\n"
                   "FAM\tF\t0\t0\t1\t1\t2\n"
                   "FAM\tM\t0\t0\t2\t1\t-9\n")
    assert {r["sample"]: r["proband"] for r in read_ped(ped)} == \
        {"P": True, "F": False, "M": False}


# --- samples (import.md 2.6) -----------------------------------------------------------------

def test_a_half_sibling_of_the_proband_gets_no_sibling_id(db_url, ella_config, tmp_path):
    """import.md 2.6: "otherwise non-proband samples with the same father *and* mother as
    the proband get `sibling_id = proband.id`": a sample sharing only the father (mother
    unknown, 0) is no sibling."""
    add_test_panels(db_url)
    folder = _family_folder(
        tmp_path, "TestFam\tTestSample-004\tTestSample-002\t0\t2\t1\t0", name="Fam-half")
    deposit(db_url, ella_config, folder)
    s = _samples(db_url, "Fam-half")
    assert s["TestSample-004"][2] is None
    assert s["TestSample-001"][1] is True


def test_a_sample_with_one_parent_is_linked_to_it(db_url, ella_config, tmp_path):
    """import.md 2.6: "Parents: `father_id`/`mother_id` on a sample point to the parent's
    sample row", also for a sample whose other parent is unknown (0)."""
    add_test_panels(db_url)
    folder = _family_folder(
        tmp_path, "TestFam\tTestSample-004\tTestSample-002\t0\t2\t1\t0", name="Fam-one")
    deposit(db_url, ella_config, folder)
    with psycopg.connect(db_url) as conn:
        assert conn.execute(
            "SELECT f.identifier, s.mother_id FROM sample s JOIN sample f ON f.id = s.father_id "
            "WHERE s.identifier = 'TestSample-004'").fetchall() == [("TestSample-002", None)]


def test_a_single_sample_without_ped_is_an_affected_proband(db_url, ella_config):
    """import.md 2.6: "Without `.ped`: ... a single sample becomes proband=true,
    affected=true, family/sex null"."""
    add_test_panels(db_url)
    deposit(db_url, ella_config, BRCA_VCF)
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT proband, affected, family_id, sex FROM sample").fetchall() \
            == [(True, True, None, None)]


def test_the_priority_of_the_analysis_file_is_logged_on_the_first_round(db_url, ella_config,
                                                                        tmp_path):
    """import.md 1.8 step 5: "If `priority` is truthy ... also insert an `interpretationlog`
    row with that `priority`" (the lab's 3, urgent, is what the work lists sort by)."""
    add_test_panels(db_url)
    deposit(db_url, ella_config, _current_format_folder(tmp_path, priority=3))
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT priority FROM interpretationlog").fetchall() == [(3,)]


def test_genotypes_belong_to_the_proband_whatever_its_vcf_column(demo_data_db_url,
                                                                 ella_config, tmp_path):
    """import.md 2.9: one `genotype` per proband block with `sample_id` = the proband sample,
    also when the proband is not the VCF's first sample column (here the last, after its
    parents)."""
    _, (pos, _) = trio_helpers.coding_positions("DVL1")
    S = trio_helpers.sample_col
    ped = [("FAM", "P", "F", "M", 1, 2, 1), ("FAM", "F", 0, 0, 1, 1, 0),
           ("FAM", "M", 0, 0, 2, 1, 0)]
    records = [("DVL1", "1", pos, "C", "T", [S("0/0", (40, 0)), S("0/0", (40, 0)),
                                             S("0/1", (20, 20))])]
    folder = trio_helpers.write_analysis(tmp_path, "ProbandLast", ["F", "M", "P"], ped, records)
    analysis_id = trio_helpers.deposit_folder(demo_data_db_url, ella_config, folder)
    samples = trio_helpers.samples_of(demo_data_db_url, analysis_id)
    with psycopg.connect(demo_data_db_url) as conn:
        assert conn.execute(
            "SELECT g.sample_id FROM genotype g JOIN sample s ON s.id = g.sample_id "
            "WHERE s.analysis_id = %s", (analysis_id,)).fetchall() == [(samples["P"]["id"],)]


# --- gene panels (import.md 4) ---------------------------------------------------------------

def test_one_phenotype_with_two_inheritances_is_two_phenotypes(db_conn, tmp_path):
    """import.md 4 step 4: phenotypes are "looked up by (gene_id, description, inheritance)
    (unique)": the same description of a gene as AD and as AR are two phenotypes of the
    panel, neither dropped."""
    def with_ar_copy(text):
        return text + "1101\tBRCA2\tAR\t612555\t{Breast-ovarian cancer, familial, 2}\t\t\t\n"

    folder = edited_copy(tmp_path, TEST_ALL, "Inh_v01", phenotypes=with_ar_copy)
    deposit_folder(db_conn, folder)
    assert db_conn.execute(
        "SELECT p.inheritance FROM genepanel_phenotype gp JOIN phenotype p "
        "ON p.id = gp.phenotype_id WHERE gp.genepanel_name = 'Inh' AND p.description = "
        "'{Breast-ovarian cancer, familial, 2}' ORDER BY 1").fetchall() == [("AD",), ("AR",)]


def test_each_transcript_link_keeps_its_own_inheritance(db_conn, tmp_path):
    """import.md 4 (transcripts file): `inheritance` is "stored on the panel-transcript
    link", per transcript row: two transcripts of one gene with AD/AR and AR keep theirs."""
    def second_hbb_transcript(text):
        line = next(x for x in text.splitlines() if "\tNM_000518.5\t" in x)
        return text + line.replace("NM_000518.5", "NM_000518.9").replace(
            "\tHBB\tAD/AR\t", "\tHBB\tAR\t") + "\n"

    folder = edited_copy(tmp_path, TEST_ALL, "TxInh_v01", transcripts=second_hbb_transcript)
    deposit_folder(db_conn, folder)
    assert db_conn.execute(
        "SELECT t.transcript_name, gt.inheritance FROM genepanel_transcript gt "
        "JOIN transcript t ON t.id = gt.transcript_id WHERE gt.genepanel_name = 'TxInh' "
        "AND t.gene_id = 4827 ORDER BY 1").fetchall() == [("NM_000518.5", "AD/AR"),
                                                          ("NM_000518.9", "AR")]


def test_an_empty_strand_is_the_plus_strand(db_conn, tmp_path):
    """import.md 4 (transcripts file): `strand` "`+` / `-` (default `+`)"."""
    folder = edited_copy(tmp_path, TEST_ALL, "Strand_v01", transcripts=lambda text: text.replace(
        "\tNM_000059.3\t0.0\t+\t", "\tNM_000059.3\t0.0\t\t"))
    deposit_folder(db_conn, folder)
    assert db_conn.execute("SELECT strand FROM transcript WHERE transcript_name = "
                           "'NM_000059.3'").fetchone() == ("+",)


# --- annotation versioning (import.md 3.7) ---------------------------------------------------

def test_the_same_annotation_under_a_new_annotation_config_supersedes_the_old(db_url,
                                                                              ella_config,
                                                                              tmp_path):
    """import.md 3.7: "if a current row exists whose JSON **or** config id differs -> set its
    `date_superceeded = now`, insert the new row with `previous_annotation_id` = old id":
    the same VCF deposited again after a new annotation config (identical converters) gives
    every allele a new current annotation of the new config."""
    add_test_panels(db_url)
    deposit(db_url, ella_config, TEST_ANALYSIS_001)
    with psycopg.connect(db_url) as conn:
        new_config = conn.execute(
            "INSERT INTO annotationconfig (deposit, view, date_created) SELECT deposit, view, "
            "now() FROM annotationconfig ORDER BY id DESC LIMIT 1 RETURNING id").fetchone()[0]
    second = copy_folder(TEST_ANALYSIS_001, tmp_path, "second")
    analysis_file = second / "TestAnalysis-001.analysis"
    analysis_file.write_text(analysis_file.read_text().replace('"TestAnalysis-001"',
                                                               '"TestAnalysis-002"'))
    stats = deposit(db_url, ella_config, second)
    assert (stats["annotations_new"], stats["annotations_unchanged"]) == (6, 0)
    with psycopg.connect(db_url) as conn:
        current = conn.execute(
            "SELECT new.annotation_config_id, old.date_superceeded IS NOT NULL, "
            "new.annotations = old.annotations FROM annotation new JOIN annotation old "
            "ON old.id = new.previous_annotation_id WHERE new.date_superceeded IS NULL"
        ).fetchall()
    assert current == [(new_config, True, True)] * 6
