"""Analysis deposit on the real test analyses (import.md 1.8, 2.x, 3.7, 8)."""

import gzip
import json
import os
import shutil
import subprocess
import sys

import psycopg
import pytest

from ella.db import connect
from ella.deposit.analysis import deposit_analysis
from ella.deposit.analysis_config import AnalysisConfigError, resolve_analysis_config
from ella.deposit.variants import DepositError
from ella.vcf import VcfError
from deposit_helpers import (BRCA_VCF, DATA, TEST_ANALYSIS_001, TEST_ANALYSIS_003,
                             add_test_panels, copy_folder, deposit)
from helpers import ROOT, table_snapshot

ALLELE_COLUMNS = ("genome_reference", "chromosome", "start_position", "open_end_position",
                  "change_type", "change_from", "change_to", "length", "vcf_pos", "vcf_ref",
                  "vcf_alt", "caller_type")


@pytest.fixture
def panel_db(db_url):
    add_test_panels(db_url)
    return db_url


def _jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _alleles_and_annotations(url, analysis_name):
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            f"SELECT {', '.join('a.' + c for c in ALLELE_COLUMNS)}, an.annotations "
            "FROM analysis x JOIN sample s ON s.analysis_id = x.id "
            "JOIN genotype g ON g.sample_id = s.id JOIN allele a ON a.id = g.allele_id "
            "JOIN annotation an ON an.allele_id = a.id AND an.date_superceeded IS NULL "
            "WHERE x.name = %s ORDER BY g.id", (analysis_name,)).fetchall()
    return [dict(zip(ALLELE_COLUMNS, r[:-1])) for r in rows], [r[-1] for r in rows]


@pytest.mark.parametrize("source, name, expected", [
    (TEST_ANALYSIS_001, "TestAnalysis-001", "TestAnalysis-001"),
    (BRCA_VCF, "brca_sample_2.HBOC_v01", "brca_sample_2.HBOC_v01"),
])
def test_real_analyses_import_with_expected_alleles_and_annotation(panel_db, ella_config,
                                                                   source, name, expected):
    stats = deposit(panel_db, ella_config, source)
    assert stats["alleles_new"] == 6 and stats["genotypes"] == 6
    alleles, annotations = _alleles_and_annotations(panel_db, name)
    expected_alleles = _jsonl(DATA / "vcf" / f"{expected}.expected-alleles.jsonl")
    expected_annotations = _jsonl(DATA / f"{expected}.expected-annotations.jsonl")
    # Genotypes are written in file order, so the rows line up with the expected files.
    assert alleles == expected_alleles
    assert annotations == [e["annotations"] for e in expected_annotations]


def test_trio_rows(panel_db, ella_config):
    deposit(panel_db, ella_config, TEST_ANALYSIS_001)
    with psycopg.connect(panel_db) as conn:
        analysis = conn.execute("SELECT id, genepanel_name, genepanel_version, report, warnings "
                                "FROM analysis").fetchone()
        assert analysis[1:3] == ("HBOC", "v1.0.0")
        assert "Report" in analysis[3] and "Warning" in analysis[4]
        samples = {r[0]: r[1:] for r in conn.execute(
            "SELECT identifier, proband, affected, sex, family_id, father_id IS NOT NULL, "
            "mother_id IS NOT NULL, sibling_id FROM sample ORDER BY id")}
        assert samples["TestSample-001"] == (True, True, "Male", "TestFam", True, True, None)
        assert samples["TestSample-002"][:3] == (False, False, "Male")
        assert samples["TestSample-003"][:3] == (False, False, "Female")
        # Genotypes only for the proband; one genotypesampledata row per sample.
        assert conn.execute("SELECT count(DISTINCT sample_id) FROM genotype").fetchone() == (1,)
        gsd = conn.execute("SELECT type, multiallelic, genotype_quality, sequencing_depth, "
                           "genotype_likelihood, allele_depth, allele_ratio FROM "
                           "genotypesampledata ORDER BY id LIMIT 3").fetchall()
        assert gsd == [("Heterozygous", False, 99, 187, [2048, 0, 2917],
                        {"REF (A)": 107, "G": 80}, 80 / 187)] * 3
        assert conn.execute("SELECT count(*) FROM genotypesampledata").fetchone() == (18,)
        assert conn.execute("SELECT filter_status, variant_quality FROM genotype LIMIT 1"
                            ).fetchone() == ("PASS", 5000)
        rounds = conn.execute("SELECT status, workflow_status, state, user_state "
                              "FROM analysisinterpretation").fetchall()
        assert rounds == [("Not started", "Interpretation", {}, {})]
        assert conn.execute("SELECT priority, user_id FROM interpretationlog").fetchall() == \
            [(1, None)]
        # The shadow tables were filled by the triggers.
        assert conn.execute("SELECT count(DISTINCT allele_id) FROM annotationshadowfrequency"
                            ).fetchone() == (6,)


def test_importing_the_same_analysis_twice_is_refused(panel_db, ella_config):
    deposit(panel_db, ella_config, TEST_ANALYSIS_001)
    before = table_snapshot(panel_db)
    with pytest.raises(DepositError, match="Analysis TestAnalysis-001 is already imported."):
        deposit(panel_db, ella_config, TEST_ANALYSIS_001)
    assert table_snapshot(panel_db) == before


def test_shared_variants_reuse_alleles_and_unchanged_annotation(panel_db, ella_config, tmp_path):
    deposit(panel_db, ella_config, TEST_ANALYSIS_001)
    second = copy_folder(TEST_ANALYSIS_001, tmp_path, "second")
    analysis_file = second / "TestAnalysis-001.analysis"
    analysis_file.write_text(analysis_file.read_text().replace('"TestAnalysis-001"',
                                                               '"TestAnalysis-002"'))
    stats = deposit(panel_db, ella_config, second)
    assert (stats["alleles_new"], stats["alleles_existing"]) == (0, 6)
    assert (stats["annotations_new"], stats["annotations_unchanged"]) == (0, 6)
    with psycopg.connect(panel_db) as conn:
        assert conn.execute("SELECT count(*) FROM allele").fetchone() == (6,)
        assert conn.execute("SELECT count(*) FROM annotation").fetchone() == (6,)


def test_one_variant_written_with_other_padding_is_an_allele_of_its_own(panel_db, ella_config,
                                                                        tmp_path):
    """import.md 2.5: alleles are found by all built fields, vcf_pos/vcf_ref/vcf_alt too: the
    deletion TG>T written as ATG>AT (one base before) and TGC>TC (one after) normalises to
    the same change but is a second and third allele row, and each genotype names the allele
    of its own record (found by the normalised change only, the three records got one
    allele)."""
    lines = BRCA_VCF.read_text().splitlines()
    first = lines[next(i for i, line in enumerate(lines) if not line.startswith("#"))]
    fields = first.split("\t")
    assert fields[1:5] == ["32893296", "CD076760", "TG", "T"]
    padded = [("32893295", "ATG", "AT"), ("32893296", "TGC", "TC")]
    lines += ["\t".join(fields[:1] + [pos, fields[2], ref, alt] + fields[5:])
              for pos, ref, alt in padded]
    path = tmp_path / "padded.HBOC_v01.vcf"
    path.write_text("\n".join(lines) + "\n")
    stats = deposit(panel_db, ella_config, path)
    assert (stats["alleles_new"], stats["genotypes"]) == (8, 8)
    with psycopg.connect(panel_db) as conn:
        stored = conn.execute(
            "SELECT a.vcf_pos, a.vcf_ref, a.vcf_alt, a.start_position, a.open_end_position, "
            "a.change_type::text, a.change_from, a.change_to, a.length "
            "FROM genotype g JOIN allele a ON a.id = g.allele_id "
            "WHERE a.start_position = 32893296 ORDER BY g.id").fetchall()
        assert stored == [(pos, ref, alt, 32893296, 32893297, "del", "G", "", 1)
                          for pos, ref, alt in [(32893296, "TG", "T"), (32893295, "ATG", "AT"),
                                                (32893296, "TGC", "TC")]]
        assert conn.execute("SELECT count(DISTINCT allele_id) FROM genotype").fetchone() == (8,)
        assert conn.execute("SELECT count(*) FROM annotation WHERE date_superceeded IS NULL "
                            "GROUP BY allele_id ORDER BY 1 DESC LIMIT 1").fetchone() == (1,)


def test_new_annotation_supersedes_the_old_one(panel_db, ella_config, tmp_path):
    deposit(panel_db, ella_config, TEST_ANALYSIS_001)
    second = copy_folder(TEST_ANALYSIS_001, tmp_path, "second")
    analysis_file = second / "TestAnalysis-001.analysis"
    analysis_file.write_text(analysis_file.read_text().replace('"TestAnalysis-001"',
                                                               '"TestAnalysis-002"'))
    vcf = second / "TestAnalysis-001.vcf"
    # New HGMD data for every record: the annotation changes, the alleles do not.
    vcf.write_text(vcf.read_text().replace("HGMD__tag=DM", "HGMD__tag=DP"))
    stats = deposit(panel_db, ella_config, second)
    assert stats["annotations_new"] > 0
    with psycopg.connect(panel_db) as conn:
        history = conn.execute(
            "SELECT new.previous_annotation_id = old.id, old.date_superceeded IS NOT NULL, "
            "new.annotations -> 'external' -> 'HGMD' ->> 'tag', "
            "old.annotations -> 'external' -> 'HGMD' ->> 'tag' "
            "FROM annotation new JOIN annotation old ON old.id = new.previous_annotation_id"
        ).fetchall()
        assert history and set(history) == {(True, True, "DP", "DM")}
        assert conn.execute("SELECT count(*) FROM annotation WHERE date_superceeded IS NULL"
                            ).fetchone() == (6,)


def _expect_failure(url, config, path, exc_type, match):
    before = table_snapshot(url)
    with pytest.raises(exc_type, match=match):
        deposit(url, config, path)
    assert table_snapshot(url) == before


def test_an_allele_stored_for_another_genome_reference_is_refused(panel_db, ella_config):
    """import.md 2.5: the lookup compares genome_reference too, which the unique index
    ucAllele leaves out: a row of another build with the same key (an older database's) is
    neither reused for a GRCh37 variant nor can a GRCh37 row be added beside it; the deposit
    is refused with the variant named, not with a KeyError naming none."""
    row = _jsonl(DATA / "vcf" / "brca_sample_2.HBOC_v01.expected-alleles.jsonl")[0]
    row["genome_reference"] = "GRCh38"
    with psycopg.connect(panel_db) as conn:
        conn.execute(f"INSERT INTO allele ({', '.join(row)}) VALUES "
                     f"({', '.join(['%s'] * len(row))})", list(row.values()))
    _expect_failure(panel_db, ella_config, BRCA_VCF, DepositError,
                    rf"allele 13:{row['vcf_pos']} {row['vcf_ref']}>{row['vcf_alt']} could not "
                    r"be stored \(an allele with the same key but another genome reference "
                    r"exists\)")


def test_broken_legacy_analysis_fails_and_writes_nothing(panel_db, ella_config):
    _expect_failure(panel_db, ella_config, TEST_ANALYSIS_003, AnalysisConfigError,
                    "legacy .analysis file has no 'name'")


def test_vcf_without_fileformat_is_rejected(panel_db, ella_config, tmp_path):
    folder = copy_folder(TEST_ANALYSIS_003, tmp_path, "broken")
    (folder / "TestAnalysis-003.analysis").write_text(
        '{"name": "TestAnalysis-003", "params": {"genepanel": "HBOC_v1.0.0"}}')
    shutil.copy(TEST_ANALYSIS_001 / "TestAnalysis-001.ped", folder / "TestAnalysis-003.ped")
    _expect_failure(panel_db, ella_config, folder, VcfError, r"TestAnalysis-003.vcf.*line 1")


def _single_vcf(tmp_path, transform, name="case.HBOC_v01.vcf"):
    path = tmp_path / name
    path.write_text(transform(BRCA_VCF.read_text()))
    return path


def _replace_last_record(text, fn):
    lines = text.rstrip("\n").split("\n")
    lines[-1] = fn(lines[-1])
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("label, transform, match", [
    ("truncated mid-line", lambda t: t.rstrip("\n")[:-4000], r"line \d+"),
    ("wrong column count", lambda t: _replace_last_record(t, lambda l: l + "\textra"),
     r"line \d+.*column"),
    ("bad GT", lambda t: _replace_last_record(t, lambda l: l.replace("0/1:", "0/x:")),
     r"line \d+.*GT"),
    ("genome build", lambda t: t.replace("##contig=<ID=13>",
                                         "##contig=<ID=13,assembly=GRCh38>"), "GRCh38"),
    # GATK's hg38 bundle names the build only by its file name, or by chromosome 1's length.
    ("GATK's hg38 bundle", lambda t: t.replace(
        "##contig=<ID=13>", "##contig=<ID=13>\n"
        "##reference=file:///resources/Homo_sapiens_assembly38.fasta"), "assembly38"),
    ("a b38 resource folder", lambda t: t.replace(
        "##contig=<ID=13>", "##contig=<ID=13>\n##reference=/resources/b38/genome.fasta"), "b38"),
    ("GRCh38 contig lengths", lambda t: t.replace(
        "##contig=<ID=13>", "##contig=<ID=13,length=114364328>"),
     "chromosome 13 is 114364328 long, GRCh37's 115169878"),
    # A record past its chromosome's end (GRCh37's 13 is 115,169,878 long) was imported.
    ("a record beyond its chromosome", lambda t: _replace_last_record(
        t, lambda l: l.replace("13\t32906890\t", "13\t115169879\t")),
     r"line \d+: 13:115169879 \(REF of 1 bases\) reaches beyond the end of 13, "
     r"115,169,878 bases long \(is the VCF of another genome build\?\)"),
    ("a REF beyond its chromosome", lambda t: _replace_last_record(
        t, lambda l: l.replace("13\t32906890\tCD076760\tA\t",
                               "13\t115169878\tCD076760\tAC\t")),
     r"13:115169878 \(REF of 2 bases\) reaches beyond the end of 13"),
    # Python's int() refuses a digit string over 4,300 long: these were tracebacks.
    ("a contig length of 5,000 digits", lambda t: t.replace(
        "##contig=<ID=13>", "##contig=<ID=13,length=" + "1" * 5000 + ">"),
     "chromosome 13 is 1{20} long, GRCh37's 115169878"),
])
def test_bad_vcf_gives_its_own_error_and_writes_nothing(panel_db, ella_config, tmp_path,
                                                         label, transform, match):
    path = _single_vcf(tmp_path, transform)
    _expect_failure(panel_db, ella_config, path, (VcfError, DepositError), match)


def test_grch37_headers_pass_the_genome_build_check(tmp_path):
    from ella.deposit.variants import check_genome_build
    from ella.vcf import open_vcf
    path = tmp_path / "b37.vcf"
    from ella.deposit.variants import GRCH37_LENGTHS
    contigs = "".join(f"##contig=<ID={'chr' if n % 2 else ''}{chromosome},length={length},"
                      "assembly=b37>\n"
                      for n, (chromosome, length) in enumerate(GRCH37_LENGTHS.items()))
    path.write_text("##fileformat=VCFv4.2\n##reference=gs://fc-b38f0d2e-1c2d-4e5f-b38e-"
                    "0123456789ab/human_g1k_v37_decoy.fasta\n" + contigs +
                    "##contig=<ID=MT,length=16569>\n##contig=<ID=GL000207.1,length=4262>\n"
                    "##contig=<ID=hs37d5,length=35477943,md5=b38f0000000000000000000000000000>\n"
                    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                    "1\t100\t.\tA\tG\t50\tPASS\t.\n")
    with open_vcf(path) as reader:
        check_genome_build(reader.header, str(path))  # no error


def test_missing_gene_panel(db_url, ella_config):
    _expect_failure(db_url, ella_config, BRCA_VCF, DepositError,
                    "Genepanel HBOC version v01 not available")


def test_malformed_analysis_json(panel_db, ella_config, tmp_path):
    folder = copy_folder(TEST_ANALYSIS_001, tmp_path)
    (folder / "TestAnalysis-001.analysis").write_text('{"name": "x", "params": ')
    _expect_failure(panel_db, ella_config, folder, AnalysisConfigError, "not valid JSON.*line")


def test_gzip_vcf_imports_the_same(panel_db, ella_config, tmp_path):
    path = tmp_path / "brca_sample_2.HBOC_v01.vcf.gz"
    path.write_bytes(gzip.compress(BRCA_VCF.read_bytes()))
    stats = deposit(panel_db, ella_config, path)
    assert stats["name"] == "brca_sample_2.HBOC_v01" and stats["genotypes"] == 6


def _analysis_warnings(url, name):
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT warnings FROM analysis WHERE name = %s",
                            (name,)).fetchone()[0] or ""


def test_a_vcf_with_ucsc_chromosome_names_gets_a_warning(panel_db, ella_config, tmp_path):
    """A GRCh37 VCF named the hg19 way (`chr13`) is stored as written (import.md 2.1), and
    the gene panels name chromosomes without `chr`: the region filter found no panel
    transcript at any of its variants and removed every one its HGVSc did not rescue, while
    the analysis page showed nothing amiss. Once, also after an Append of another such VCF
    (of variants on other chromosomes)."""
    def ucsc(text, chromosome="13"):
        return "\n".join(line if line.startswith("##") and not line.startswith("##contig")
                         else line.replace("##contig=<ID=13", f"##contig=<ID=chr{chromosome}")
                         if line.startswith("#") else f"chr{chromosome}" + line[2:]
                         for line in text.split("\n") if line) + "\n"
    deposit(panel_db, ella_config, _single_vcf(tmp_path, ucsc))
    warnings = _analysis_warnings(panel_db, "case.HBOC_v01")
    assert warnings == ("A VCF of this analysis names chromosomes with 'chr' (chr1), the gene "
                        "panels without it: the region filter finds no panel transcript at its "
                        "variants' positions and keeps only those whose HGVSc puts them in a "
                        "panel transcript's exons or splice regions (a variant without such an "
                        "HGVSc, a structural one for example, is removed). Check the analysis "
                        "without the region filter, or import the VCF again with its "
                        "chromosomes renamed (e.g. bcftools annotate --rename-chrs).")
    with psycopg.connect(panel_db) as conn:
        assert {r[0] for r in conn.execute("SELECT chromosome FROM allele")} == {"chr13"}
    other = tmp_path / "other"
    other.mkdir()
    with connect(panel_db) as conn, conn.transaction():
        deposit_analysis(conn, ella_config, resolve_analysis_config(
            _single_vcf(other, lambda text: ucsc(text, "17"))), append=True)
    assert _analysis_warnings(panel_db, "case.HBOC_v01") == warnings
    deposit(panel_db, ella_config, BRCA_VCF)  # GRCh37's own names: no such line
    assert "'chr'" not in _analysis_warnings(panel_db, "brca_sample_2.HBOC_v01")


def test_multisample_vcf_without_ped_is_refused(panel_db, ella_config, tmp_path):
    folder = copy_folder(TEST_ANALYSIS_001, tmp_path)
    (folder / "TestAnalysis-001.ped").unlink()
    _expect_failure(panel_db, ella_config, folder, DepositError, ".ped file required")


# --- configuration resolution (import.md 8, C1-C4) -------------------------------------------

def test_c1_legacy_analysis_file(tmp_path):
    config = resolve_analysis_config(TEST_ANALYSIS_001 / "TestAnalysis-001.analysis")
    assert config == resolve_analysis_config(TEST_ANALYSIS_001)
    assert {k: config[k] for k in ("name", "genepanel_name", "genepanel_version", "priority",
                                   "date_requested")} == {
        "name": "TestAnalysis-001", "genepanel_name": "HBOC", "genepanel_version": "v1.0.0",
        "priority": 1, "date_requested": None}
    item = config["data"][0]
    assert item["vcf"].endswith("TestAnalysis-001.vcf") and item["ped"].endswith(".ped")
    assert item["technology"] == "HTS"


def test_c2_current_format_with_data_list(tmp_path):
    folder = tmp_path / "a"
    folder.mkdir()
    shutil.copy(BRCA_VCF, folder / "x.vcf")
    (folder / "a.analysis").write_text(json.dumps({
        "name": "a", "genepanel_name": "HBOC", "genepanel_version": "v01", "priority": 2,
        "date_requested": "2024-01-31",
        "data": [{"vcf": "x.vcf", "callerName": "gatk"}]}))
    config = resolve_analysis_config(folder)
    assert config == resolve_analysis_config(folder / "a.analysis")
    assert config["priority"] == 2 and config["date_requested"] == "2024-01-31"
    assert config["data"] == [{"vcf": str((folder / "x.vcf").resolve()), "ped": None,
                               "technology": "HTS", "callerName": "gatk"}]
    (folder / "a.analysis").write_text(json.dumps({
        "name": "a", "genepanel_name": "HBOC", "genepanel_version": "v01", "priority": 1,
        "data": [{"vcf": "missing.vcf"}]}))
    with pytest.raises(AnalysisConfigError, match="missing.vcf.*does not exist"):
        resolve_analysis_config(folder)


@pytest.mark.parametrize("written, stored", [("2024-01-31", "2024-01-31"),
                                             ("20240131", "2024-01-31"),
                                             ("2024-W05-3", "2024-01-31"),
                                             ("2016-6-9", "2016-06-09"),
                                             ("2016-06-9", "2016-06-09")])
def test_a_date_requested_is_stored_as_the_day_it_names(panel_db, ella_config, tmp_path,
                                                        written, stored):
    """Python reads ISO forms PostgreSQL does not (a week date): the import failed in the
    insert, without the file. ELLA reads %Y-%m-%d with strptime, which takes a month or day
    without its leading zero: such a file was refused."""
    folder = tmp_path / "a"
    folder.mkdir()
    shutil.copy(BRCA_VCF, folder / "x.vcf")
    (folder / "a.analysis").write_text(json.dumps({
        "name": "a", "genepanel_name": "HBOC", "genepanel_version": "v01",
        "date_requested": written, "data": [{"vcf": "x.vcf"}]}))
    deposit(panel_db, ella_config, folder)
    with psycopg.connect(panel_db) as conn:
        assert conn.execute("SELECT date_requested::date::text FROM analysis").fetchone() == \
            (stored,)


def test_c3_single_vcf_name(tmp_path):
    path = tmp_path / "sample_123-Mendeliome-v01.vcf.gz"
    path.write_bytes(gzip.compress(BRCA_VCF.read_bytes()))
    (tmp_path / "report.txt").write_text("ignored")
    config = resolve_analysis_config(path)
    assert (config["name"], config["genepanel_name"], config["genepanel_version"]) == \
        ("sample_123-Mendeliome-v01", "Mendeliome", "v01")
    assert config["report"] is None and config["data"][0]["ped"] is None


def test_c4_folder_without_analysis_file(tmp_path):
    folder = tmp_path / "abc.HBOC_v1.0.0"
    folder.mkdir()
    shutil.copy(BRCA_VCF, folder / "file1.vcf")
    (folder / "file0.vcf").write_text(BRCA_VCF.read_text().replace("\n#CHROM", "\n##x=0\n#CHROM"))
    (folder / "file0.ped").write_text("")
    (folder / "warnings.txt").write_text("Warning!")
    config = resolve_analysis_config(folder)
    assert config["name"] == "abc.HBOC_v1.0.0" and config["genepanel_version"] == "v1.0.0"
    assert [d["vcf"].rsplit("/", 1)[1] for d in config["data"]] == ["file0.vcf", "file1.vcf"]
    assert config["data"][0]["ped"].endswith("file0.ped") and config["data"][1]["ped"] is None
    assert config["warnings"] == "Warning!" and config["report"] is None


def test_folder_name_without_panel_is_an_error(tmp_path):
    folder = tmp_path / "TestAnalysis"
    folder.mkdir()
    with pytest.raises(AnalysisConfigError, match="cannot tell the gene panel"):
        resolve_analysis_config(folder)


# --- inputs refused before anything is written (audit findings) ------------------------------

def _analysis_file(tmp_path, data, **extra):
    folder = tmp_path / "a"
    folder.mkdir(exist_ok=True)
    shutil.copy(BRCA_VCF, folder / "x.vcf")
    (folder / "a.analysis").write_text(json.dumps({
        "name": "a", "genepanel_name": "HBOC", "genepanel_version": "v01", "priority": 1,
        "data": data, **extra}))
    return folder


@pytest.mark.parametrize("data, extra, match", [
    (None, {}, r"a\.analysis: data: None is not of type 'array'"),
    (5, {}, r"data: 5 is not of type 'array'"),
    ([{"vcf": "x.vcf"}], {"name": "a\u0000b"}, "name contains a NUL character"),
    ([{"vcf": "x.vcf"}], {"x": json.loads("[" * 150 + "]" * 150)},
     r"x(\[0\]){19}\[0\.\.\. is nested too deeply \(at most 100 levels\)"),
    ([{"vcf": "."}], {}, r"vcf '.*/a' is a folder, not a file"),
    ([{"vcf": "x.vcf"}, {"vcf": "./x.vcf"}], {}, r"vcf file '.*x\.vcf' is listed more than once"),
])
def test_analysis_file_problems_are_one_line_errors(tmp_path, data, extra, match):
    with pytest.raises(AnalysisConfigError, match=match):
        resolve_analysis_config(_analysis_file(tmp_path, data, **extra))


def test_an_analysis_file_too_large_or_with_a_number_too_long_is_one_line(tmp_path):
    """A .analysis file was read whole whatever its size (one of 40 MB: 250 MB and 10 s
    before a check refused it); a number of over 4,300 digits was a traceback."""
    folder = _analysis_file(tmp_path, [{"vcf": "x.vcf"}])
    path = folder / "a.analysis"
    path.write_text(path.read_text()[:-1] + ', "pad": "' + "x" * 1024 * 1024 + '"}')
    with pytest.raises(AnalysisConfigError, match=r"a\.analysis: larger than 1,048,576 bytes"):
        resolve_analysis_config(folder)
    path.write_text(path.read_text().split(', "pad"')[0] + ', "priority": ' + "1" * 5000 + "}")
    with pytest.raises(AnalysisConfigError, match=r"a\.analysis: a number is too long to read"):
        resolve_analysis_config(folder)


def test_the_same_vcf_twice_under_two_names_is_refused(tmp_path):
    """`bgzip -k` leaves `x.vcf` beside `x.vcf.gz`; both were imported, every sample and
    genotype of the analysis twice. A VCF differing in one line is another VCF."""
    folder = tmp_path / "abc.HBOC_v01"
    folder.mkdir()
    shutil.copy(BRCA_VCF, folder / "x.vcf")
    (folder / "x.vcf.gz").write_bytes(gzip.compress(BRCA_VCF.read_bytes()))
    with pytest.raises(AnalysisConfigError, match=r"vcf file '.*/x\.vcf\.gz' holds the same VCF "
                       r"as '.*/x\.vcf' \(its samples and variants would be imported twice\): "
                       "keep one of them"):
        resolve_analysis_config(folder)
    # Also listed by a .analysis under two names; a file past the first MiB compared whole.
    big = BRCA_VCF.read_text() + "".join(
        f"13\t{32890000 + i}\t.\tA\tG\t50\tPASS\t.\tGT\t0/1\n" for i in range(40000))
    assert len(big) > 1 << 20
    (folder / "x.vcf").write_text(big)
    (folder / "copy.vcf").write_text(big)
    (folder / "x.vcf.gz").unlink()
    (folder / "abc.analysis").write_text(json.dumps({
        "name": "abc", "genepanel_name": "HBOC", "genepanel_version": "v01", "priority": 1,
        "data": [{"vcf": "x.vcf"}, {"vcf": "copy.vcf"}]}))
    with pytest.raises(AnalysisConfigError, match=r"'.*/copy\.vcf' holds the same VCF"):
        resolve_analysis_config(folder)
    (folder / "copy.vcf").write_text(big[:-4] + "1/1\n")  # its last genotype differs
    assert len(resolve_analysis_config(folder)["data"]) == 2


TRIO_PED = (TEST_ANALYSIS_001 / "TestAnalysis-001.ped").read_text()


@pytest.mark.parametrize("ped, match", [
    (TRIO_PED + "TestFam\tTestSample-003\t0\t0\t1\t1\t0\n",
     r"line 4: sample TestSample-003 is already on line 3"),
    (TRIO_PED.replace("TestSample-001\tTestSample-002", "TestSample-001\tTestSample-001"),
     r"line 1: sample TestSample-001 is given as its own parent"),
    (TRIO_PED.replace("TestSample-002\t0\t0\t1", "TestSample-002\t0\t0\t2"),
     r"line 2: TestSample-002 is the father of TestSample-001 \(line 1\) but has sex female"),
    (TRIO_PED.replace("TestSample-003\t0\t0\t2", "TestSample-003\t0\t0\t1"),
     r"line 3: TestSample-003 is the mother of TestSample-001 \(line 1\) but has sex male"),
])
def test_inconsistent_pedigrees_are_refused(panel_db, ella_config, tmp_path, ped, match):
    folder = copy_folder(TEST_ANALYSIS_001, tmp_path)
    (folder / "TestAnalysis-001.ped").write_text(ped)
    _expect_failure(panel_db, ella_config, folder, AnalysisConfigError, match)


def test_a_repeated_variant_line_is_refused(panel_db, ella_config, tmp_path):
    lines = BRCA_VCF.read_text().splitlines(keepends=True)
    records = [i for i, line in enumerate(lines) if not line.startswith("#")]
    lines.insert(records[-1] + 1, lines[records[2]])
    path = tmp_path / "repeat.HBOC_v01.vcf"
    path.write_text("".join(lines))
    chrom, pos, _, ref, alt = lines[records[2]].split("\t")[:5]
    _expect_failure(panel_db, ella_config, path, VcfError,
                    rf"line {records[-1] + 2}: variant {chrom}:{pos} {ref}>{alt} is already on "
                    rf"line {records[2] + 1}")


def test_concurrent_deposits_of_one_analysis_one_wins_the_other_is_told(panel_db, ella_config):
    """Both pass the "already imported" check; the second waits on the first's insert and,
    when that commits, gets the same clear refusal instead of a unique-violation."""
    import threading
    import time
    outcome = {}
    with psycopg.connect(panel_db) as first:
        with first.transaction():
            deposit_analysis(first, ella_config, resolve_analysis_config(BRCA_VCF))

            def second():
                try:
                    deposit(panel_db, ella_config, BRCA_VCF)
                except Exception as exc:  # handed to the test thread
                    outcome["error"] = exc
            thread = threading.Thread(target=second)
            thread.start()
            with psycopg.connect(panel_db, autocommit=True) as watcher:
                for _ in range(200):
                    if watcher.execute("SELECT count(*) FROM pg_stat_activity WHERE "
                                       "wait_event_type = 'Lock'").fetchone()[0]:
                        break
                    time.sleep(0.05)
                else:
                    pytest.fail("the second deposit never waited for the first")
        thread.join(60)
    assert isinstance(outcome.get("error"), DepositError), outcome
    assert str(outcome["error"]) == "Analysis brca_sample_2.HBOC_v01 is already imported."
    with psycopg.connect(panel_db) as conn:
        assert conn.execute("SELECT count(*) FROM analysis").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM genotype").fetchone() == (6,)


@pytest.mark.parametrize("config, match", [
    ({"deposit": [{"pattern": ".*"}]}, "user group 'stored': config.deposit must be an object"),
    ({"deposit": {"analysis": [{"pattern": "("}]}},
     r"user group 'stored': config.deposit.analysis\[0\]: pattern '\(' is not a valid regex"),
    ({"deposit": {"analysis": [{"pattern": "nomatch", "postprocess": ["nope"]}]}},
     r"config.deposit.analysis\[0\]: Invalid postprocess method 'nope'"),
    # (a TypeError traceback: a list is no hashable name)
    ({"deposit": {"analysis": [{"pattern": "nomatch", "postprocess": [["nope"]]}]}},
     r"config.deposit.analysis\[0\]: Invalid postprocess method \['nope'\]"),
])
def test_a_stored_group_deposit_config_ella_users_would_refuse(panel_db, ella_config, config,
                                                               match):
    """A group config stored without `ella-users add_groups` (an adopted database, an edit
    by hand) is checked by the same rules at deposit time: a message naming the group, not
    a crash, and nothing written."""
    from psycopg.types.json import Jsonb
    with psycopg.connect(panel_db) as conn:
        group_id = conn.execute("INSERT INTO usergroup (name, config) VALUES ('stored', %s) "
                                "RETURNING id", (Jsonb(config),)).fetchone()[0]
        conn.execute("INSERT INTO usergroupgenepanel VALUES (%s, 'HBOC', 'v01')", (group_id,))
    _expect_failure(panel_db, ella_config, BRCA_VCF, DepositError, match)


@pytest.mark.parametrize("pattern, refused", [
    ("(a+)+$", True), ("(a*)*", True), ("((a+)b)+", True), ("a{2,}(b+)+", True),
    # A bounded repeat of an unbounded one, an unbounded repeat of a varying one, and such
    # a shape inside an atomic group or a conditional backtrack as much (`(a{1,3})+$` takes
    # 0.2 s on 24 a's and a b, 1.8 times as long with each a more).
    ("(a+){1,30}$", True), ("(.*a){20}$", True), ("(a{1,3})+", True),
    ("(?>(a+)+$)", True), ("(x)?(?(1)(a+)+|b)", True),
    # What labs write: kept.
    (".*", False), ("^Diag-.*", False), ("(HBOC|Mendeliome).*", False), ("(a|b)+", False),
    ("^wgs.*-(HBOC|Cardio)_v\\d+$", False), ("^(?:x.+)?y", False), ("(ab{2})+", False),
    ("^(\\d{1,3}\\.){3}\\d{1,3}$", False), ("^(?!brca).*", False),
])
def test_a_deposit_pattern_that_repeats_a_repetition_is_refused(pattern, refused):
    """A group's deposit pattern is matched against every analysis name of its panels:
    `(a+)+$` on a name of forty a's and a b ran for hours, holding the watcher."""
    from ella.deposit.analysis import check_deposit_entries
    config = {"deposit": {"analysis": [{"pattern": pattern}]}}
    if refused:
        with pytest.raises(DepositError, match="repeats a repetition"):
            check_deposit_entries(config, "group g")
    else:
        check_deposit_entries(config, "group g")


def _resolve_without_reading_rights(folder):
    """resolve_analysis_config(folder) as a process that permissions bind (as root, with the
    DAC-override capabilities dropped): (exit code, the error's message)."""
    code = ("import sys\n"
            "from ella.deposit.analysis_config import AnalysisConfigError, "
            "resolve_analysis_config\n"
            "try:\n"
            f"    config = resolve_analysis_config({str(folder)!r})\n"
            "except AnalysisConfigError as exc:\n"
            "    sys.exit(str(exc))\n"
            "print(sorted(d['vcf'].rsplit('/', 1)[1] for d in config['data']))\n")
    bounded = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] \
        if os.geteuid() == 0 else []
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([*bounded, sys.executable, "-c", code], capture_output=True,
                            text=True, env=env, timeout=120)
    return result.returncode, (result.stderr or result.stdout).strip()


def test_a_subfolder_the_service_may_not_read_fails_the_analysis(tmp_path):
    """A pipeline user's subfolder made with umask 077: its VCF was left out without a word,
    and the rest imported and moved as the whole analysis. A hidden one is not the
    analysis' (a share's .snapshot) and stays ignored."""
    folder = tmp_path / "S1.HBOC_v01"
    (folder / "p1").mkdir(parents=True)
    (folder / "p2").mkdir()
    (folder / ".snapshot").mkdir()
    text = BRCA_VCF.read_text()
    (folder / "p1" / "a.vcf").write_text(text)
    (folder / "p2" / "b.vcf").write_text(text.replace("brca_sample_2", "other_sample"))
    (folder / "p2").chmod(0)
    (folder / ".snapshot").chmod(0)
    try:
        code, said = _resolve_without_reading_rights(folder)
        assert (code, said) == (1, f"{folder / 'p2'}: a subfolder this service may not read "
                                   "(permission denied): its files would be left out of the "
                                   "analysis; make it readable for the service's user")
        (folder / "p2").chmod(0o755)
        assert _resolve_without_reading_rights(folder) == (0, "['a.vcf', 'b.vcf']")
    finally:
        (folder / "p2").chmod(0o755)
        (folder / ".snapshot").chmod(0o755)
