"""import.md 8: the acceptance criteria the other import tests assert only in part.

Each test names its criterion. Everything that touches a database runs against the real
PostgreSQL of tests/conftest.py (db_url)."""

import itertools
import json
import re
import shutil

import psycopg
import pytest
from psycopg.types.json import Jsonb

from deposit_helpers import (TEST_ANALYSIS_001, TEST_ANALYSIS_003, add_test_panels, deposit)
from ella.annotation.converters import (Annotator, convert_hgmdextrarefs, extrarefs_fields)
from ella.deposit.analysis_config import resolve_analysis_config
from ella.vcf import open_vcf, read_header
from test_prefilter import _group_with_deposit_config, deposit_filterconfigs_for_lab
from ella.watcher import Watcher, WatcherError


def _analyses(url):
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT name, genepanel_name, genepanel_version, report, warnings "
                            "FROM analysis ORDER BY name").fetchall()


# --- W1 / W2: the exact messages -------------------------------------------------------------

def test_w1_w2_exact_messages_for_missing_paths(tmp_path, db_url, ella_config, monkeypatch):
    """W1/W2: `Couldn't read from watch path nonexisting, aborting...` and `Couldn't write to
    destination path nonexisting, aborting...` (the existing test matches a prefix only)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ok").mkdir()
    with pytest.raises(WatcherError) as exc:
        Watcher(db_url, ella_config, "nonexisting", "ok")
    assert str(exc.value) == "Couldn't read from watch path nonexisting, aborting..."
    with pytest.raises(WatcherError) as exc:
        Watcher(db_url, ella_config, "ok", "nonexisting")
    assert str(exc.value) == "Couldn't write to destination path nonexisting, aborting..."


# --- W3: READY decides -----------------------------------------------------------------------

def test_w3_ready_file_makes_a_folder_ready(tmp_path, db_url, ella_config):
    """W3: TestAnalysis-001 is ready because it has READY; the same folder without READY, and
    an empty folder, are not (our watcher has no public is_ready: asserted through poll)."""
    add_test_panels(db_url)
    incoming, dest = tmp_path / "incoming", tmp_path / "dest"
    incoming.mkdir()
    dest.mkdir()
    folder = incoming / "TestAnalysis-001"
    shutil.copytree(TEST_ANALYSIS_001, folder)
    (folder / "READY").unlink()
    (incoming / "TestAnalysis-002-not-ready").mkdir()
    watcher = Watcher(db_url, ella_config, incoming, dest)
    assert watcher.poll() == [] and watcher.failures == []
    assert folder.is_dir() and _analyses(db_url) == []
    (folder / "READY").touch()
    assert watcher.poll() == ["TestAnalysis-001"]
    assert (dest / "TestAnalysis-001").is_dir()
    assert (incoming / "TestAnalysis-002-not-ready").is_dir()
    assert not list(incoming.glob("*.import-error"))


# --- W5 with symlinked folders ---------------------------------------------------------------

def test_w5_one_poll_over_symlinked_folders(tmp_path, db_url, ella_config):
    """W5 with the folders as symlinks (import.md 8: "folders may be symlinks"; upstream's
    tests link the test data into the incoming directory): TestAnalysis-001 is imported and
    moved, report/warnings stored, the not-ready folder and TestAnalysis-003 (no READY) stay,
    and the poll does not raise."""
    add_test_panels(db_url)
    store, incoming, dest = tmp_path / "store", tmp_path / "incoming", tmp_path / "dest"
    for d in (store, incoming, dest):
        d.mkdir()
    shutil.copytree(TEST_ANALYSIS_001, store / "TestAnalysis-001")
    shutil.copytree(TEST_ANALYSIS_003, store / "TestAnalysis-003")
    (store / "TestAnalysis-002-not-ready").mkdir()
    for name in ("TestAnalysis-001", "TestAnalysis-003", "TestAnalysis-002-not-ready"):
        (incoming / name).symlink_to(store / name, target_is_directory=True)
    watcher = Watcher(db_url, ella_config, incoming, dest)
    assert watcher.poll() == ["TestAnalysis-001"]
    assert watcher.failures == []
    (name, panel, version, report, warnings), = _analyses(db_url)
    assert (name, panel, version) == ("TestAnalysis-001", "HBOC", "v1.0.0")
    assert "Report" in report and "Warning" in warnings
    assert not (incoming / "TestAnalysis-001").exists() and \
        not (incoming / "TestAnalysis-001").is_symlink()
    assert (dest / "TestAnalysis-001" / "READY").is_file()
    assert (incoming / "TestAnalysis-003").is_dir()
    assert (incoming / "TestAnalysis-002-not-ready").is_dir()


# --- C2: optional ped / technology, defaults ---------------------------------------------------

def test_c2_current_format_optional_items_and_defaults(tmp_path):
    """C2: a current-format `.analysis` whose data item gives a relative ped, a technology
    and a callerName, and which leaves priority out: the same result for the file and its
    folder, priority 1 by default, the given technology and callerName kept, the ped made
    absolute, report/warnings from the folder's files."""
    folder = tmp_path / "a"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(TEST_ANALYSIS_001 / "TestAnalysis-001.vcf", folder / "sub" / "x.vcf")
    shutil.copy(TEST_ANALYSIS_001 / "TestAnalysis-001.ped", folder / "sub" / "x.ped")
    # Another VCF, not a copy (a copy of one VCF under two names is refused).
    (folder / "y.vcf").write_text((TEST_ANALYSIS_001 / "TestAnalysis-001.vcf").read_text()
                                  .replace("\n#CHROM", "\n##second=1\n#CHROM"))
    (folder / "report.txt").write_text("Report text\n")
    (folder / "warnings.txt").write_text("Warning text\n")
    (folder / "a.analysis").write_text(json.dumps({
        "name": "a", "genepanel_name": "HBOC", "genepanel_version": "v1.0.0",
        "data": [{"vcf": "sub/x.vcf", "ped": "sub/x.ped", "technology": "Sanger",
                  "callerName": "freebayes"},
                 {"vcf": "y.vcf"}]}))
    by_folder = resolve_analysis_config(folder)
    assert by_folder == resolve_analysis_config(folder / "a.analysis")
    base = folder.resolve()
    assert by_folder["priority"] == 1
    assert (by_folder["name"], by_folder["genepanel_name"], by_folder["genepanel_version"]) == \
        ("a", "HBOC", "v1.0.0")
    assert by_folder["report"] == "Report text\n"
    assert by_folder["warnings"] == "Warning text\n"
    assert by_folder.get("date_requested") is None
    assert by_folder["data"] == [
        {"vcf": str(base / "sub" / "x.vcf"), "ped": str(base / "sub" / "x.ped"),
         "technology": "Sanger", "callerName": "freebayes"},
        {"vcf": str(base / "y.vcf"), "ped": None, "technology": "HTS"}]


# --- D3 at deposit level ----------------------------------------------------------------------

PREFILTER_HEADER = """##fileformat=VCFv4.1
##INFO=<ID=GNOMAD_GENOMES__AF,Number=A,Type=Float,Description="AF">
##INFO=<ID=GNOMAD_GENOMES__AN,Number=1,Type=Integer,Description="AN">
##INFO=<ID=OLD_MULTIALLELIC,Number=1,Type=String,Description="block">
##FORMAT=<ID=GT,Number=1,Type=String,Description="GT">
##FORMAT=<ID=AD,Number=R,Type=Integer,Description="AD">
##FORMAT=<ID=DP,Number=1,Type=Integer,Description="DP">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tP
"""


def _group(db_url, ella_config, entry):
    """The prefilter tests' group with this deposit entry, and their filter config."""
    _group_with_deposit_config(db_url, entry)
    deposit_filterconfigs_for_lab(db_url, ella_config)


def test_d3_prefilter_at_deposit_thresholds_blocks_and_order(db_url, ella_config, tmp_path):
    """D3 through a real deposit (group prefilters [["hi_frequency", "non_multiallelic"]]):
    AF 0.051/AN 5001 is removed, AF 0.049 and AN 4999 are kept; a decomposed multiallelic
    block (GT 1/. and ./1) of high-frequency records is kept whole, its allele depth built
    from every record of the block; the kept variants are stored in file order."""
    _group(db_url, ella_config, {"pattern": "^pf", "prefilters":
                                 [["hi_frequency", "non_multiallelic"]]})
    hi = "GNOMAD_GENOMES__AF=0.2;GNOMAD_GENOMES__AN=10000"
    block = f"{hi};OLD_MULTIALLELIC=13:400:A/G/T"
    rows = [
        (100, "A", "G", "GNOMAD_GENOMES__AF=0.051;GNOMAD_GENOMES__AN=5001", "0/1:10,10:20"),
        (200, "A", "G", "GNOMAD_GENOMES__AF=0.049;GNOMAD_GENOMES__AN=5001", "0/1:10,10:20"),
        (300, "A", "G", "GNOMAD_GENOMES__AF=0.051;GNOMAD_GENOMES__AN=4999", "0/1:10,10:20"),
        (400, "A", "G", block, "1/.:4,8:20"),
        (400, "A", "T", block, "./1:4,6:20"),
        (500, "A", "G", hi, "1/1:0,20:20"),
        (600, "C", "T", ".", "0/1:10,10:20"),
    ]
    path = tmp_path / "pf1.HBOC_v01.vcf"
    path.write_text(PREFILTER_HEADER + "".join(
        f"13\t{pos}\t.\t{ref}\t{alt}\t100\tPASS\t{info}\tGT:AD:DP\t{s}\n"
        for pos, ref, alt, info, s in rows))
    stats = deposit(db_url, ella_config, path)
    assert stats["prefiltered"] == 2
    with psycopg.connect(db_url) as conn:
        genotypes = conn.execute(
            "SELECT a1.vcf_pos, a1.vcf_alt, a2.vcf_alt FROM genotype g "
            "JOIN allele a1 ON a1.id = g.allele_id LEFT JOIN allele a2 ON "
            "a2.id = g.secondallele_id ORDER BY g.id").fetchall()
        depth = conn.execute(
            "SELECT d.allele_depth FROM genotypesampledata d JOIN genotype g ON "
            "g.id = d.genotype_id JOIN allele a ON a.id = g.allele_id WHERE a.vcf_pos = 400 "
            "AND NOT d.secondallele").fetchone()[0]
    assert genotypes == [(200, "G", None), (300, "G", None), (400, "G", "T"), (600, "T", None)]
    assert depth == {"REF (A)": 4, "G": 8, "T": 6}


# --- D4: a family deposit with multiallelic, haploid and phased records -----------------------

FAMILY_HEADER = """##fileformat=VCFv4.1
##INFO=<ID=OLD_MULTIALLELIC,Number=1,Type=String,Description="block">
##FORMAT=<ID=GT,Number=1,Type=String,Description="GT">
##FORMAT=<ID=AD,Number=R,Type=Integer,Description="AD">
##FORMAT=<ID=DP,Number=1,Type=Integer,Description="DP">
##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="GQ">
##FORMAT=<ID=PL,Number=G,Type=Integer,Description="PL">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tP\tF\tM\tS
"""
MISSING = "./.:.:.:.:."
FAMILY_RECORDS = [
    # plain het site: every sample has data
    ("1", 100, "A", "G", ".", ["0/1:10,10:20:99:100,0,100", "0/0:20,0:20:60:0,60,600",
                               "0/1:12,8:20:70:80,0,120", "1/1:0,20:20:50:500,50,0"]),
    # decomposed A>C,T: proband C/T (1/. + ./1); the mother has no coverage in the block
    ("1", 200, "A", "C", "OLD_MULTIALLELIC=1:200:A/C/T",
     ["1/.:5,9:20:40:1,2,3", "0/.:5,0:9:30:1,2,3", MISSING, "0/1:5,7:12:30:1,2,3"]),
    ("1", 200, "A", "T", "OLD_MULTIALLELIC=1:200:A/C/T",
     ["./1:5,6:20:40:1,2,3", "0/1:5,4:9:30:1,2,3", MISSING, "0/.:5,0:12:30:1,2,3"]),
    # only the father has it: not stored
    ("1", 300, "G", "A", ".", ["0/0:20,0:20:99:0,60,600", "0/1:10,10:20:99:100,0,100",
                               "0/0:20,0:20:99:0,60,600", "0/0:20,0:20:99:0,60,600"]),
    # haploid X in the male proband and father
    ("X", 400, "C", "T", ".", ["1:0,15:15:80:800,0", "0:15,0:15:80:0,800",
                               "0/1:8,7:15:80:70,0,80", "0/0:15,0:15:80:0,45,450"]),
    # phased; the sibling has no call
    ("1", 500, "T", "C", ".", ["0|1:9,11:20:90:110,0,90", "0|0:20,0:20:90:0,60,600",
                               "1|0:10,10:20:90:100,0,100", MISSING]),
]


def _family_folder(tmp_path):
    folder = tmp_path / "fam.HBOC_v01"
    folder.mkdir()
    (folder / "fam.vcf").write_text(FAMILY_HEADER + "".join(
        f"{c}\t{p}\t.\t{r}\t{a}\t5000\tPASS\t{i}\tGT:AD:DP:GQ:PL\t" + "\t".join(s) + "\n"
        for c, p, r, a, i, s in FAMILY_RECORDS))
    (folder / "fam.ped").write_text(
        "FAM\tP\tF\tM\t1\t2\t1\nFAM\tF\t0\t0\t1\t1\t0\nFAM\tM\t0\t0\t2\t2\t0\n"
        "FAM\tS\tF\tM\t2\t1\t0\n")
    return folder


def test_d4_family_deposit_rows(db_url, ella_config, tmp_path):
    """D4 (a fixed instance of upstream's randomised family test): samples from the ped
    (sex/affected/proband/family, parent links, a full sibling's sibling_id = proband); no
    proband variant -> no allele; one genotype per proband block (filter PASS, quality 5000)
    with 1 or 2 proband alleles; one genotypesampledata per sample and proband record, whose
    type/multiallelic/DP/PL/allele_depth follow import.md 2.9."""
    add_test_panels(db_url)
    deposit(db_url, ella_config, _family_folder(tmp_path))
    with psycopg.connect(db_url) as conn:
        samples = {r[0]: r[1:] for r in conn.execute(
            "SELECT identifier, id, sex::text, affected, proband, family_id, father_id, "
            "mother_id, sibling_id FROM sample")}
        alleles = conn.execute("SELECT chromosome, vcf_pos, vcf_alt FROM allele "
                               "ORDER BY chromosome, vcf_pos, vcf_alt").fetchall()
        genotypes = conn.execute(
            "SELECT g.id, a1.vcf_pos, a1.vcf_alt, a2.vcf_alt, g.sample_id, g.filter_status, "
            "g.variant_quality FROM genotype g JOIN allele a1 ON a1.id = g.allele_id "
            "LEFT JOIN allele a2 ON a2.id = g.secondallele_id ORDER BY a1.vcf_pos").fetchall()
        gsd = conn.execute(
            "SELECT a.vcf_pos, s.identifier, d.secondallele, d.type::text, d.multiallelic, "
            "d.sequencing_depth, d.genotype_quality, d.genotype_likelihood, d.allele_depth "
            "FROM genotypesampledata d JOIN genotype g ON g.id = d.genotype_id "
            "JOIN allele a ON a.id = g.allele_id JOIN sample s ON s.id = d.sample_id"
        ).fetchall()
    pid, fid, mid = samples["P"][0], samples["F"][0], samples["M"][0]
    assert samples["P"][1:] == ("Male", True, True, "FAM", fid, mid, None)
    assert samples["F"][1:] == ("Male", False, False, "FAM", None, None, None)
    assert samples["M"][1:] == ("Female", True, False, "FAM", None, None, None)
    assert samples["S"][1:] == ("Female", False, False, "FAM", fid, mid, pid)
    assert alleles == [("1", 100, "G"), ("1", 200, "C"), ("1", 200, "T"), ("1", 500, "C"),
                       ("X", 400, "T")]
    assert [g[1:] for g in genotypes] == [
        (100, "G", None, pid, "PASS", 5000), (200, "C", "T", pid, "PASS", 5000),
        (400, "T", None, pid, "PASS", 5000), (500, "C", None, pid, "PASS", 5000)]
    rows = {(pos, sample, second): rest for pos, sample, second, *rest in gsd}
    assert len(gsd) == len(rows) == 4 + 8 + 4 + 4
    assert rows[(100, "P", False)] == ["Heterozygous", False, 20, 99, [100, 0, 100],
                                       {"REF (A)": 10, "G": 10}]
    assert rows[(100, "F", False)][:2] == ["Reference", False]
    assert rows[(100, "S", False)][:2] == ["Homozygous", False]
    # the multiallelic block: two rows per sample; PL dropped where the GT is multiallelic
    assert rows[(200, "P", False)] == ["Heterozygous", True, 20, 40, None,
                                       {"REF (A)": 5, "C": 9, "T": 6}]
    assert rows[(200, "P", True)][:2] == ["Heterozygous", True]
    assert rows[(200, "F", False)][:2] == ["Reference", True]
    assert rows[(200, "F", True)][:2] == ["Heterozygous", False]
    assert rows[(200, "F", True)][4] == [1, 2, 3]
    assert rows[(200, "M", False)][:2] == rows[(200, "M", True)][:2] == ["No coverage", False]
    assert rows[(200, "S", False)][:2] == ["Heterozygous", False]
    assert rows[(200, "S", True)][:2] == ["Reference", True]
    # haploid and phased
    assert rows[(400, "P", False)][:2] == ["Homozygous", False]
    assert rows[(400, "F", False)][:2] == ["Reference", False]
    assert rows[(500, "P", False)][:2] == ["Heterozygous", False]
    assert rows[(500, "M", False)][:2] == ["Heterozygous", False]
    assert rows[(500, "S", False)][:2] == ["No coverage", False]


def test_d4_no_proband_variant_stores_no_alleles_or_genotypes(db_url, ella_config, tmp_path):
    """D4: a family whose proband carries none of the variants gives the samples but no
    alleles and no genotypes."""
    add_test_panels(db_url)
    folder = _family_folder(tmp_path)
    vcf = folder / "fam.vcf"
    vcf.write_text(FAMILY_HEADER + "1\t300\t.\tG\tA\t5000\tPASS\t.\tGT:AD:DP:GQ:PL\t"
                   "0/0:20,0:20:99:0,60,600\t0/1:10,10:20:99:100,0,100\t"
                   "1/1:0,20:20:99:600,60,0\t./.:.:.:.:.\n")
    deposit(db_url, ella_config, folder)
    with psycopg.connect(db_url) as conn:
        counts = conn.execute("SELECT (SELECT count(*) FROM sample), (SELECT count(*) FROM "
                              "allele), (SELECT count(*) FROM genotype), (SELECT count(*) "
                              "FROM genotypesampledata)").fetchone()
    assert counts == (4, 0, 0, 0)


# --- R1: HGMD extrarefs in any header field order ---------------------------------------------

EXTRAREFS = [  # (pmid, title, author, reftag, comments, disease) -> expected source_info
    ({"pmid": "22505045", "title": "T1", "author": "A", "reftag": "FCR",
      "comments": "Splicing@#SPanalysis", "disease": ""},
     {"pubmed_id": 22505045, "source": "HGMD",
      "source_info": "Functional characterisation. Splicing analysis"}),
    ({"pmid": "11", "title": "", "author": "", "reftag": "APR", "comments": "",
      "disease": "Some@#SPdisease"},
     {"pubmed_id": 11, "source": "HGMD", "source_info": "Additional phenotype. Some disease"}),
    ({"pmid": "13", "title": "x", "author": "y", "reftag": "SAR", "comments": "",
      "disease": "D"},
     {"pubmed_id": 13, "source": "HGMD", "source_info": "Additional report. No comments."}),
    ({"pmid": "nope", "title": "", "author": "", "reftag": "MCR", "comments": "c",
      "disease": ""}, None),
]


@pytest.mark.parametrize("order", list(itertools.permutations(
    ["pmid", "title", "author", "reftag", "comments", "disease"]))[::37])
def test_r1_extrarefs_with_arbitrary_header_field_order(order):
    """R1: the field names come from the header's `Format: (...)`, in whatever order; the
    references are the same for every order."""
    fields = extrarefs_fields(f"HGMD extra refs. Format: ({'|'.join(order)}) (from HGMD)")
    assert fields == list(order)
    value = ",".join("|".join(entry[f] for f in order) for entry, _ in EXTRAREFS)
    assert convert_hgmdextrarefs(value, fields) == [ref for _, ref in EXTRAREFS if ref]


@pytest.mark.parametrize("order", [("pmid", "title", "author", "reftag", "comments", "disease"),
                                   ("disease", "comments", "reftag", "author", "title", "pmid"),
                                   ("reftag", "pmid", "disease", "title", "comments", "author")])
def test_r1_extrarefs_header_order_through_the_annotator(tmp_path, order):
    """R1 end to end: the annotator reads the field order from the VCF's ##INFO header."""
    header = ("##fileformat=VCFv4.1\n"
              "##INFO=<ID=HGMD__extrarefs,Number=.,Type=String,Description=\"Format: ("
              + "|".join(order) + ") (from HGMD)\">\n"
              "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
    value = ",".join("|".join(entry[f] for f in order) for entry, _ in EXTRAREFS)
    path = tmp_path / "r1.vcf"
    path.write_text(header + f"13\t100\t.\tA\tG\t50\tPASS\tHGMD__extrarefs={value}\n")
    deposit_config = [{"name": "hgmdextrarefs", "converter_config": {"elements": [
        {"source": "HGMD__extrarefs", "target": "references", "target_mode": "extend"}]}}]
    annotator = Annotator(deposit_config, None, read_header(path))
    with open_vcf(path) as reader:
        (record,) = list(reader)
    got = annotator.annotate(record)
    assert got["references"] == sorted((ref for _, ref in EXTRAREFS if ref),
                                       key=lambda r: r["pubmed_id"])


# --- J3: the test double's task id, several jobs, the error text -------------------------------

def test_j3_cycles_with_two_jobs_task_id_and_deposit_error(db_url, ella_config):
    """J3: SUBMITTED -> RUNNING with the service's task id (`123456789` as upstream's double
    answers); the next cycle keeps RUNNING (active true), then ANNOTATED, then the deposit of a
    non-VCF body fails (`FAILED (DEPOSIT)`, message `<Error>: ... is not valid bcf or vcf
    ...`). With a second job submitted one cycle later, each cycle reports every job once,
    under the status it was handled in, and never a job of another status."""
    import copy
    from annotation_service import FakeAnnotationService
    from api_helpers import add_user
    from ella.polling import Poller, load_job

    service = FakeAnnotationService().start()
    try:
        service.task_prefix, service._counter = "12345678", 8  # first task: 123456789
        config = copy.deepcopy(ella_config)
        config["app"]["annotation_service"] = service.url
        add_test_panels(db_url)
        add_user(db_url, "importer", "importgroup", panels=[("HBOC", "v01")])

        def add_job(data):
            with psycopg.connect(db_url) as conn:
                user_id = conn.execute("SELECT id FROM \"user\" WHERE username = 'importer'"
                                       ).fetchone()[0]
                job_id = conn.execute(
                    "INSERT INTO annotationjob (task_id, status, status_history, mode, data, "
                    "message, user_id, date_submitted, date_last_update, genepanel_name, "
                    "genepanel_version, properties) VALUES ('', 'SUBMITTED', '{}', 'Analysis', "
                    "%s, '', %s, now(), now(), 'HBOC', 'v01', %s) RETURNING id",
                    (data, user_id, Jsonb({"analysis_name": f"j{data[:2]}",
                                           "create_or_append": "Create",
                                           "sample_type": "HTS"}))).fetchone()[0]
                conn.commit()
            return job_id

        def job(job_id):
            with psycopg.connect(db_url) as conn:
                return load_job(conn, job_id)

        service.results["a-not-a-vcf"] = "this is not a VCF\n"
        service.results["b-not-a-vcf"] = "this is not a VCF either\n"
        a = add_job("a-not-a-vcf")
        poller = Poller(db_url, config)
        assert poller.cycle() == [(a, "SUBMITTED", "RUNNING")]
        assert job(a)["task_id"] == "123456789"
        b = add_job("b-not-a-vcf")
        assert sorted(poller.cycle()) == [(a, "RUNNING", "RUNNING"), (b, "SUBMITTED", "RUNNING")]
        assert job(a)["status"] == "RUNNING" and job(b)["task_id"] == "1234567810"
        assert sorted(poller.cycle()) == [(a, "RUNNING", "ANNOTATED"), (b, "RUNNING", "RUNNING")]
        assert sorted(poller.cycle()) == [(a, "ANNOTATED", "FAILED (DEPOSIT)"),
                                          (b, "RUNNING", "ANNOTATED")]
        failed = job(a)
        assert failed["status"] == "FAILED (DEPOSIT)"
        assert re.match(r"^\w+: .*is not valid bcf or vcf", failed["message"]), failed["message"]
        assert poller.cycle() == [(b, "ANNOTATED", "FAILED (DEPOSIT)")]
        assert poller.cycle() == []
    finally:
        service.stop()
