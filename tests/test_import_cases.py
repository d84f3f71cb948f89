"""import.md 8: C1/C3 beyond what tests/test_deposit_analysis.py asserts; D4 sibling links."""
import gzip
import json
import re
import shutil
import unicodedata

import psycopg
import pytest

from deposit_helpers import BRCA_VCF, TEST_ANALYSIS_001, add_test_panels, deposit
from ella.deposit import analysis_config
from ella.deposit.analysis import deposit_analysis
from ella.deposit.analysis_config import AnalysisConfigError, read_ped, resolve_analysis_config
from ella.deposit.variants import DepositError
from helpers import table_snapshot


def test_c1_exact_dict_vcf_gz_priority_date_no_ped_no_txt(tmp_path):
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "x.vcf.gz").write_bytes(gzip.compress(BRCA_VCF.read_bytes()))
    (folder / "x.analysis").write_text(json.dumps({
        "name": "x", "params": {"genepanel": "HBOC_v01"}, "priority": "2",
        "date_requested": "2016-06-09", "type": "exome"}))
    got = resolve_analysis_config(folder)
    assert got == {
        "name": "x", "genepanel_name": "HBOC", "genepanel_version": "v01", "priority": 2,
        "date_requested": "2016-06-09", "report": None, "warnings": None,
        "data": [{"vcf": str((folder / "x.vcf.gz").resolve()), "ped": None,
                  "technology": "HTS"}]}


def test_c1_exact_dict_testanalysis_001():
    got = resolve_analysis_config(TEST_ANALYSIS_001)
    base = TEST_ANALYSIS_001.resolve()
    assert got == {
        "name": "TestAnalysis-001", "genepanel_name": "HBOC", "genepanel_version": "v1.0.0",
        "priority": 1, "date_requested": None,
        "report": (base / "report.txt").read_text(),
        "warnings": (base / "warnings.txt").read_text(),
        "data": [{"vcf": str(base / "TestAnalysis-001.vcf"),
                  "ped": str(base / "TestAnalysis-001.ped"), "technology": "HTS"}]}


def test_c3_dot_underscore_separators_priority_and_nulls(tmp_path):
    path = tmp_path / "sample_7.HBOC_v01.vcf"
    shutil.copy(BRCA_VCF, path)
    (tmp_path / "report.txt").write_text("r")
    (tmp_path / "warnings.txt").write_text("w")
    (tmp_path / "sample_7.ped").write_text("")
    got = resolve_analysis_config(path)
    assert (got["name"], got["genepanel_name"], got["genepanel_version"]) == \
        ("sample_7.HBOC_v01", "HBOC", "v01")
    assert got["priority"] == 1
    assert got["report"] is None and got["warnings"] is None
    assert got["data"] == [{"vcf": str(path.resolve()), "ped": None, "technology": "HTS"}]


def _family_folder(tmp_path, extra_ped_line, name="Fam-001"):
    """TestAnalysis-001 with a fourth VCF column TestSample-004 (a copy of the father's)."""
    folder = tmp_path / name
    shutil.copytree(TEST_ANALYSIS_001, folder)
    for p in folder.glob("TestAnalysis-001.*"):
        p.rename(folder / p.name.replace("TestAnalysis-001", name))
    analysis = folder / f"{name}.analysis"
    doc = json.loads(analysis.read_text())
    doc["name"] = name
    analysis.write_text(json.dumps(doc))
    vcf = folder / f"{name}.vcf"
    out = []
    for line in vcf.read_text().splitlines():
        if line.startswith("##"):
            out.append(line)
        elif line.startswith("#CHROM"):
            out.append(line + "\tTestSample-004")
        else:
            cols = line.split("\t")
            out.append(line + "\t" + cols[10])
    vcf.write_text("\n".join(out) + "\n")
    ped = folder / f"{name}.ped"
    ped.write_text(ped.read_text().rstrip("\n") + "\n" + extra_ped_line + "\n")
    return folder


def _samples(db_url, analysis_name):
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT s.identifier, s.id, s.proband, s.sibling_id FROM sample s JOIN analysis a "
            "ON a.id = s.analysis_id WHERE a.name = %s", (analysis_name,)).fetchall()
    return {r[0]: r[1:] for r in rows}


def test_d4_full_sibling_gets_sibling_id_proband(db_url, ella_config, tmp_path):
    add_test_panels(db_url)
    folder = _family_folder(
        tmp_path, "TestFam\tTestSample-004\tTestSample-002\tTestSample-003\t2\t1\t0")
    deposit(db_url, ella_config, folder)
    s = _samples(db_url, "Fam-001")
    proband_id = s["TestSample-001"][0]
    assert s["TestSample-004"][2] == proband_id
    assert s["TestSample-002"][2] is None and s["TestSample-003"][2] is None
    assert s["TestSample-001"][2] is None


def test_d4_without_parents_every_non_proband_is_a_sibling(db_url, ella_config, tmp_path):
    add_test_panels(db_url)
    folder = _family_folder(tmp_path, "TestFam\tTestSample-004\t0\t0\t1\t1\t0", name="Fam-002")
    ped = folder / "Fam-002.ped"
    lines = ped.read_text().splitlines()
    lines[0] = "TestFam\tTestSample-001\t0\t0\t1\t2\t1"
    ped.write_text("\n".join(lines) + "\n")
    deposit(db_url, ella_config, folder)
    s = _samples(db_url, "Fam-002")
    proband_id = s["TestSample-001"][0]
    assert {k: v[2] for k, v in s.items() if k != "TestSample-001"} == {
        "TestSample-002": proband_id, "TestSample-003": proband_id,
        "TestSample-004": proband_id}


def _without_mothers_column(folder, name):
    """The folder's VCF without TestSample-003 (the mother): a duo whose .ped still names
    her as the proband's mother."""
    vcf = folder / f"{name}.vcf"
    vcf.write_text("".join(line if line.startswith("##") else
                           "\t".join(line.rstrip("\n").split("\t")[:11]) + "\n"
                           for line in vcf.read_text().splitlines(keepends=True)))


def test_a_parent_the_ped_names_but_the_vcf_lacks_leaves_the_link_empty(db_url, ella_config,
                                                                        tmp_path):
    """import.md 2.6 ignores .ped rows of samples not in the VCF: a duo whose .ped names the
    unsequenced mother (or the proband's own CNV calls with the family's .ped) was refused
    ("mother 'TestSample-003' is not a sample of the VCF"), so it could not be imported."""
    add_test_panels(db_url)
    folder = _family_folder(tmp_path, "", name="Duo-001")
    _without_mothers_column(folder, "Duo-001")
    ped = folder / "Duo-001.ped"
    ped.write_text("".join(line for line in ped.read_text().splitlines(keepends=True)
                           if line.strip() and "\tTestSample-003\t0" not in line
                           and "TestSample-004" not in line))
    assert "TestSample-003" in ped.read_text()  # still the proband's mother there
    deposit(db_url, ella_config, folder)
    with psycopg.connect(db_url) as conn:
        assert conn.execute(
            "SELECT s.identifier, f.identifier, s.mother_id FROM sample s "
            "LEFT JOIN sample f ON f.id = s.father_id ORDER BY s.id").fetchall() == [
            ("TestSample-001", "TestSample-002", None), ("TestSample-002", None, None)]
        # Told on the analysis' page: a typo of a parent's name (a trio imported as a duo,
        # without its segregation filters) reads the same.
        [(warnings,)] = conn.execute("SELECT warnings FROM analysis").fetchall()
    assert (
        "The .ped (Duo-001.ped) names TestSample-003 as the mother of TestSample-001, but the "
        "VCF (Duo-001.vcf) has no sample TestSample-003: imported without that link (not a "
        "trio for the segregation filters). If TestSample-003 is a typo of a sample of the "
        "VCF, correct the .ped and import the analysis again.") in warnings


def test_a_family_split_over_vcfs_with_one_ped_imports_without_a_warning(db_url, ella_config,
                                                                         tmp_path):
    """The family's .ped with a VCF lacking the mother (the proband's and father's calls of
    another kind): refused before; her link stays empty there, and as she is a sample of the
    analysis' other VCF, no parent is missing (no warning)."""
    add_test_panels(db_url)
    folder = tmp_path / "Split-001"
    folder.mkdir()
    for name in ("a", "b"):
        shutil.copy(TEST_ANALYSIS_001 / "TestAnalysis-001.vcf", folder / f"{name}.vcf")
    _without_mothers_column(folder, "b")
    shutil.copy(TEST_ANALYSIS_001 / "TestAnalysis-001.ped", folder / "fam.ped")
    (folder / "Split-001.analysis").write_text(json.dumps({
        "name": "Split-001", "genepanel_name": "HBOC", "genepanel_version": "v1.0.0",
        "data": [{"vcf": "a.vcf", "ped": "fam.ped"}, {"vcf": "b.vcf", "ped": "fam.ped"}]}))
    deposit(db_url, ella_config, folder)
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT warnings FROM analysis").fetchall() in ([(None,)], [("",)])
        assert conn.execute("SELECT count(*), count(mother_id) FROM sample").fetchone() == (5, 1)


def test_a_father_female_by_another_files_ped_is_refused(db_url, ella_config, tmp_path):
    """Each .ped is checked alone for a father recorded as female; one of sex 0 took the sex
    another file of the analysis gives (female), and was stored as a female father."""
    add_test_panels(db_url)
    folder = tmp_path / "Two-001"
    folder.mkdir()
    for name in ("a", "b"):  # the trio, and the proband with the father
        shutil.copy(TEST_ANALYSIS_001 / "TestAnalysis-001.vcf", folder / f"{name}.vcf")
    _without_mothers_column(folder, "b")
    (folder / "a.ped").write_text(  # the father of unknown sex (0)
        (TEST_ANALYSIS_001 / "TestAnalysis-001.ped").read_text().replace(
            "TestSample-002\t0\t0\t1", "TestSample-002\t0\t0\t0"))
    (folder / "b.ped").write_text("TestFam\tTestSample-001\t0\t0\t1\t2\t1\n"
                                  "TestFam\tTestSample-002\t0\t0\t2\t1\t0\n")
    (folder / "Two-001.analysis").write_text(json.dumps({
        "name": "Two-001", "genepanel_name": "HBOC", "genepanel_version": "v1.0.0",
        "data": [{"vcf": "a.vcf", "ped": "a.ped"}, {"vcf": "b.vcf", "ped": "b.ped"}]}))
    before = table_snapshot(db_url)
    with pytest.raises(DepositError) as refused:
        deposit(db_url, ella_config, folder)
    assert str(refused.value) == (
        f"{folder / 'a.ped'}: TestSample-002 is the father of TestSample-001 but has sex "
        f"female in {folder / 'b.ped'}: one identifier is one person in every VCF of an "
        "analysis")
    assert table_snapshot(db_url) == before


def test_c1_legacy_folder_with_a_cnv_vcf_uses_the_variants_vcf(tmp_path):
    """import.md 1.2: a `.cnv.vcf` beside the VCF is ignored unless the `.analysis` names it
    (a legacy one names none); `x.cnv.vcf` sorts before `x.vcf` and was taken."""
    folder = tmp_path / "x"
    folder.mkdir()
    shutil.copy(BRCA_VCF, folder / "x.vcf")
    shutil.copy(BRCA_VCF, folder / "x.cnv.vcf")
    (folder / "x.analysis").write_text(json.dumps({"name": "x",
                                                   "params": {"genepanel": "HBOC_v01"}}))
    got = resolve_analysis_config(folder)
    assert [d["vcf"] for d in got["data"]] == [str((folder / "x.vcf").resolve())]


def test_c4_a_symlinked_folder_is_named_by_its_link(tmp_path):
    """import.md 1.3/1.6: without a .analysis the folder's name gives the analysis and panel
    names; a symlinked folder (the watcher takes links as folders) is named by the link, not
    by its target."""
    target = tmp_path / "run42"
    target.mkdir()
    shutil.copy(BRCA_VCF, target / "sample_1.vcf")
    link = tmp_path / "sample_1-HBOC-v01"
    link.symlink_to(target, target_is_directory=True)
    got = resolve_analysis_config(link)
    assert (got["name"], got["genepanel_name"], got["genepanel_version"]) == \
        ("sample_1-HBOC-v01", "HBOC", "v01")
    nested = tmp_path / "sub"
    nested.mkdir()
    assert resolve_analysis_config(nested / ".." / "sample_1-HBOC-v01")["name"] == \
        "sample_1-HBOC-v01"


@pytest.mark.parametrize("layout", ["legacy", "folder name"])
@pytest.mark.parametrize("odd", ["dangling link", "folder"])
def test_a_ped_that_is_no_file_is_refused(tmp_path, layout, odd):
    """A .ped that is a link to nothing (or a folder) was taken for no .ped: a single-sample
    analysis imported without its sex and family, unsaid."""
    folder = tmp_path / "x-HBOC-v01"
    folder.mkdir()
    shutil.copy(BRCA_VCF, folder / "x.vcf")
    if layout == "legacy":
        (folder / "x.analysis").write_text(json.dumps({"name": "x",
                                                       "params": {"genepanel": "HBOC_v01"}}))
    ped = folder / "x.ped"
    if odd == "folder":
        ped.mkdir()
    else:
        ped.symlink_to(tmp_path / "gone.ped")
    with pytest.raises(AnalysisConfigError) as refused:
        resolve_analysis_config(folder)
    assert str(refused.value).startswith(f"{ped}: ")
    ped.unlink() if odd != "folder" else ped.rmdir()
    assert resolve_analysis_config(folder)["data"][0]["ped"] is None


def test_c4_a_ped_pairs_with_its_vcf_anywhere_in_the_folder(tmp_path):
    """import.md 1.3: a .ped pairs with the VCF of the same stem (`file0.ped` <->
    `file0.vcf`), wherever in the folder it is; one beside the VCF comes first."""
    folder = tmp_path / "fam-HBOC-v01"
    (folder / "vcf").mkdir(parents=True)
    (folder / "ped").mkdir()
    shutil.copy(BRCA_VCF, folder / "vcf" / "file0.vcf")
    # Another VCF, not a copy (a copy of one VCF under two names is refused).
    (folder / "vcf" / "file1.vcf").write_text(
        BRCA_VCF.read_text().replace("\n#CHROM", "\n##second=1\n#CHROM"))
    (folder / "ped" / "file0.ped").write_text("")
    (folder / "ped" / "file1.ped").write_text("")
    (folder / "vcf" / "file1.ped").write_text("")
    got = resolve_analysis_config(folder)
    assert [(d["vcf"].rsplit("/", 2)[-2:], d["ped"].rsplit("/", 2)[-2:]) for d in got["data"]] \
        == [(["vcf", "file0.vcf"], ["ped", "file0.ped"]),
            (["vcf", "file1.vcf"], ["vcf", "file1.ped"])]


# --- what a folder may make the import read --------------------------------------------------

def _folder_with(tmp_path, name="TestAnalysis-001"):
    folder = tmp_path / "incoming" / name
    shutil.copytree(TEST_ANALYSIS_001, folder)
    return folder


@pytest.mark.parametrize("text_file", ["report.txt", "warnings.txt"])
def test_a_report_linked_to_a_file_outside_the_folder_is_refused(tmp_path, text_file):
    """Its text is shown to every user of the analysis: a link could show any file the
    service can read (here one beside the incoming directory)."""
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the users\n")
    folder = _folder_with(tmp_path)
    (folder / text_file).unlink()
    (folder / text_file).symlink_to(secret)
    with pytest.raises(AnalysisConfigError) as exc:
        resolve_analysis_config(folder)
    assert str(exc.value) == (f"{folder / text_file}: a link to a file outside the analysis "
                              f"folder ({secret}); copy the file into the folder")
    # A link inside the folder is the folder's own file.
    (folder / "texts").mkdir()
    shutil.copy(TEST_ANALYSIS_001 / text_file, folder / "texts" / text_file)
    (folder / text_file).unlink()
    (folder / text_file).symlink_to(folder / "texts" / text_file)
    assert resolve_analysis_config(folder)[text_file.split(".")[0]] == \
        (TEST_ANALYSIS_001 / text_file).read_text()


def test_the_report_of_a_folder_whose_analysis_file_is_in_a_subfolder_is_read(tmp_path):
    """import.md 1.3: report.txt and warnings.txt of the analysis folder, as ELLA reads
    them; only those beside the .analysis file were read, so a folder keeping its
    .analysis in a subfolder lost both (one beside it still counts when the folder has
    none)."""
    folder = tmp_path / "a5"
    (folder / "meta").mkdir(parents=True)
    shutil.copy(BRCA_VCF, folder / "meta" / "x.vcf")
    (folder / "meta" / "a5.analysis").write_text(json.dumps({
        "name": "a5", "genepanel_name": "HBOC", "genepanel_version": "v01",
        "data": [{"vcf": "x.vcf"}]}))
    (folder / "report.txt").write_text("the report\n")
    (folder / "meta" / "report.txt").write_text("beside the file\n")
    (folder / "meta" / "warnings.txt").write_text("a warning beside the file\n")
    got = resolve_analysis_config(folder)
    assert (got["report"], got["warnings"]) == ("the report\n", "a warning beside the file\n")


def test_a_huge_report_is_refused_naming_it(tmp_path, monkeypatch):
    monkeypatch.setattr(analysis_config, "MAX_TEXT_FILE_BYTES", 1000)
    folder = _folder_with(tmp_path)
    (folder / "report.txt").write_text("x" * 1001)
    with pytest.raises(AnalysisConfigError, match=r"report.txt: larger than 1,000 bytes"):
        resolve_analysis_config(folder)


def test_an_analysis_file_may_not_lead_out_of_its_folder(tmp_path):
    """A relative `..` path would import a VCF of another folder (one not READY yet);
    absolute paths stay allowed (import.md 1.3)."""
    other = tmp_path / "incoming" / "other-not-ready"
    other.mkdir(parents=True)
    shutil.copy(BRCA_VCF, other / "x.vcf")
    folder = tmp_path / "incoming" / "a1"
    folder.mkdir()
    doc = {"name": "a1", "genepanel_name": "HBOC", "genepanel_version": "v01",
           "data": [{"vcf": "../other-not-ready/x.vcf"}]}
    (folder / "a1.analysis").write_text(json.dumps(doc))
    with pytest.raises(AnalysisConfigError) as exc:
        resolve_analysis_config(folder)
    assert str(exc.value).endswith("vcf '../other-not-ready/x.vcf' leads out of the analysis "
                                   "folder")
    doc["data"] = [{"vcf": str(other / "x.vcf")}]
    (folder / "a1.analysis").write_text(json.dumps(doc))
    assert resolve_analysis_config(folder)["data"][0]["vcf"] == str(other / "x.vcf")
    # A .analysis in a subfolder may name a file of the analysis folder, not beyond it.
    (folder / "a1.analysis").unlink()
    (folder / "meta").mkdir()
    shutil.copy(BRCA_VCF, folder / "x.vcf")
    doc["data"] = [{"vcf": "../x.vcf"}]
    (folder / "meta" / "a1.analysis").write_text(json.dumps(doc))
    assert resolve_analysis_config(folder)["data"][0]["vcf"] == str(folder / "x.vcf")
    doc["data"] = [{"vcf": "../../other-not-ready/x.vcf"}]
    (folder / "meta" / "a1.analysis").write_text(json.dumps(doc))
    with pytest.raises(AnalysisConfigError, match="leads out of the analysis folder"):
        resolve_analysis_config(folder)
    (folder / "meta" / "a1.analysis").unlink()
    doc["data"] = [{"vcf": "./x.vcf"}]
    (folder / "a1.analysis").write_text(json.dumps(doc))
    assert resolve_analysis_config(folder)["data"][0]["vcf"] == str(folder / "x.vcf")


def test_names_too_long_or_with_control_characters_are_refused_with_the_file(tmp_path):
    """PostgreSQL refused them only at its unique index, naming no file."""
    folder = tmp_path / "a1"
    folder.mkdir()
    shutil.copy(BRCA_VCF, folder / "x.vcf")
    (folder / "a1.analysis").write_text(json.dumps({
        "name": "A" * 501, "genepanel_name": "HBOC", "genepanel_version": "v01",
        "data": [{"vcf": "x.vcf"}]}))
    with pytest.raises(AnalysisConfigError, match=r"a1.analysis: name: '.*' is too long"):
        resolve_analysis_config(folder)
    # A newline would forge lines in the watcher's log.
    (folder / "a1.analysis").write_text(json.dumps({
        "name": "a1\n2026-01-01 00:00:00,000 [INFO] ella.watcher: forged", "genepanel_name":
        "HBOC", "genepanel_version": "v01", "data": [{"vcf": "x.vcf"}]}))
    with pytest.raises(AnalysisConfigError, match=r"a1.analysis: name .* contains a control "
                                                   r"or invisible character"):
        resolve_analysis_config(folder)
    # C1 controls and the Unicode line and paragraph separators break a line too.
    for name in ("a1\n", "a\x07b", "a\tb", "a\x85b", "a\u2028b"):
        (folder / "a1.analysis").write_text(json.dumps({
            "name": name, "genepanel_name": "HBOC", "genepanel_version": "v01",
            "data": [{"vcf": "x.vcf"}]}))
        with pytest.raises(AnalysisConfigError, match="contains a control or invisible "
                                                      "character"):
            resolve_analysis_config(folder)


@pytest.mark.parametrize("name", ["ab\u202e21", "a\u200bb", "\ufeffa1", "a\u00adb", "a\u3164b"])
def test_a_new_analysis_name_with_an_invisible_character_is_refused(db_url, ella_config,
                                                                      tmp_path, name):
    """A right-to-left override shows `sample-123` as another name, a zero-width space makes
    two names look alike: a new analysis' name must read as it is stored. An append to an
    existing analysis (an adopted database's) names it as it is: not refused."""
    add_test_panels(db_url)
    folder = tmp_path / "a1"
    folder.mkdir()
    shutil.copy(BRCA_VCF, folder / "x.vcf")
    (folder / "a1.analysis").write_text(json.dumps({
        "name": name, "genepanel_name": "HBOC", "genepanel_version": "v01",
        "data": [{"vcf": "x.vcf"}]}))
    before = table_snapshot(db_url)
    with pytest.raises(DepositError, match=re.escape(
            f"Analysis name {name!r} contains a control or invisible character")):
        deposit(db_url, ella_config, folder)
    assert table_snapshot(db_url) == before
    with psycopg.connect(db_url) as conn:  # as an adopted database may hold it
        conn.execute("INSERT INTO analysis (name, genepanel_name, genepanel_version, "
                     "date_deposited, properties) VALUES (%s, 'HBOC', 'v01', now(), '{}')",
                     (name,))
        with conn.transaction():
            stats = deposit_analysis(conn, ella_config, resolve_analysis_config(folder),
                                     append=True)
    assert stats["samples"] == 1


@pytest.mark.parametrize("name, problem", [
    ("A-good ", "has blanks around it"), (" A-good", "has blanks around it"),
    ("  ", "has blanks around it"), ("A-good\u00a0", "has blanks around it"),
    ("A-good .HBOC_v01", "has blanks around it"),
    ("A\u00a0good", "has a space other than the plain one (a no-break space looks like it)"),
    ("A\u2009good", "has a space other than the plain one (a no-break space looks like it)")])
def test_a_new_analysis_name_that_reads_as_another_is_refused(db_url, ella_config, tmp_path,
                                                              name, problem):
    """"A-good " or "A-good" with a no-break space beside "A-good": a second analysis that
    every list shows as the first (stored beside it). A name with plain spaces inside is
    fine."""
    add_test_panels(db_url)
    folder = tmp_path / "a1"
    folder.mkdir()
    shutil.copy(BRCA_VCF, folder / "x.vcf")

    def analysis_file(analysis_name):
        (folder / "a1.analysis").write_text(json.dumps({
            "name": analysis_name, "genepanel_name": "HBOC", "genepanel_version": "v01",
            "data": [{"vcf": "x.vcf"}]}))
    analysis_file(name)
    before = table_snapshot(db_url)
    with pytest.raises(DepositError, match=re.escape(f"Analysis name {name!r} {problem}")):
        deposit(db_url, ella_config, folder)
    assert table_snapshot(db_url) == before
    analysis_file("A good one")
    assert deposit(db_url, ella_config, folder)["samples"] == 1


def test_ped_files_are_checked_line_by_line_in_linear_time(tmp_path):
    ped = tmp_path / "big.ped"
    ped.write_text("".join(f"F\tS{i}\t0\t0\t1\t1\t0\n" for i in range(50_000)))
    assert len(read_ped(ped)) == 50_000  # a quadratic duplicate check took minutes
    ped.write_text("F\tS1\t0\t0\t1\t1\t1\nF\tS2\t0\t0\t1\t1\t0\nF\tS1\t0\t0\t1\t1\t0\n")
    with pytest.raises(AnalysisConfigError, match="line 3: sample S1 is already on line 1"):
        read_ped(ped)
    ped.write_text("F\x00\tS1\t0\t0\t1\t1\t1\n")
    with pytest.raises(AnalysisConfigError, match="line 1: contains a NUL character"):
        read_ped(ped)
    ped.write_text(f"F\t{'S' * 501}\t0\t0\t1\t1\t1\n")
    with pytest.raises(AnalysisConfigError, match="line 1: an id is longer than 500"):
        read_ped(ped)


def test_an_indented_comment_line_of_a_ped_is_a_comment(tmp_path):
    """It was refused as a line without 7 columns."""
    ped = tmp_path / "fam.ped"
    ped.write_text("  # family id, sample, father, mother, sex, phenotype\n"
                   "\t#note\nF\tS1\t0\t0\t1\t2\t1\n")
    assert len(read_ped(ped)) == 1


def _folder_of(tmp_path, name):
    """A brca_sample_2 analysis folder named `name` (its analysis' name) on panel HBOC v01."""
    folder = tmp_path / name
    folder.mkdir(parents=True)
    shutil.copy(BRCA_VCF, folder / "x.vcf")
    return folder


def test_an_analysis_named_in_another_unicode_form_is_the_analysis_already_imported(
        db_url, ella_config, tmp_path):
    """The pipeline delivers Åse's analysis again from a Mac share, which writes `Å` as `A` and
    a combining ring: every screen shows the stored name, so it was a second analysis of the
    patient beside the first (import.md 8: importing the same analysis twice is refused)."""
    add_test_panels(db_url)
    composed = "\u00c5se-17.HBOC_v01"
    deposit(db_url, ella_config, _folder_of(tmp_path / "pc", composed))
    decomposed = unicodedata.normalize("NFD", composed)
    assert decomposed != composed
    before = table_snapshot(db_url)
    with pytest.raises(DepositError, match=re.escape(
            f"Analysis {decomposed} is already imported: analysis {composed!r} has the same "
            "name in another Unicode form.")):
        deposit(db_url, ella_config, _folder_of(tmp_path / "mac", decomposed))
    # Appending names it exactly: the message says which analysis is meant.
    with pytest.raises(DepositError, match=re.escape(
            f"Analysis {decomposed} does not exist: nothing to append to. (analysis "
            f"{composed!r} has the same name in another Unicode form")):
        with psycopg.connect(db_url) as conn, conn.transaction():
            deposit_analysis(conn, ella_config, resolve_analysis_config(
                tmp_path / "mac" / decomposed), append=True)
    assert table_snapshot(db_url) == before
    # Another name with the same letters is another analysis; an ASCII name compared with
    # the stored one's NFC form (the Kelvin sign's is a plain K) is the same one too.
    assert deposit(db_url, ella_config, _folder_of(tmp_path, "\u00c5sa-17.HBOC_v01"))[
        "records"] == 6
    deposit(db_url, ella_config, _folder_of(tmp_path, "\u212a-1.HBOC_v01"))
    with pytest.raises(DepositError, match="has the same name in another Unicode form"):
        deposit(db_url, ella_config, _folder_of(tmp_path / "k", "K-1.HBOC_v01"))
