"""Structural variants and CNVs from a copy-number caller's VCF (import.md 2.4): symbolic
`<DEL>`/`<DUP>` with SVLEN, as analyses with the `cnv` feature on."""

import copy
import json
import shutil

import psycopg
import pytest

from api_helpers import add_user, logged_in_client
from deposit_helpers import BRCA_VCF, add_test_panels, deposit
from helpers import table_snapshot
from workflow_helpers import analysis_alleles, payload, start_round
from ella.db import connect
from ella.deposit.analysis import deposit_analysis
from ella.vcf import VcfError

HEADER = """##fileformat={version}
##INFO=<ID=SVTYPE,Number=1,Type=String,Description="Type of structural variant">
##INFO=<ID=SVLEN,Number={svlen},Type=Integer,Description="Length difference">
##INFO=<ID=END,Number=1,Type=Integer,Description="End position">
##ALT=<ID=DEL,Description="Deletion">
##ALT=<ID=DUP,Description="Duplication">
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=CN,Number=1,Type=Integer,Description="Copy number">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tPROBAND
"""
FIRST_RECORD_LINE = 10


@pytest.fixture
def cnv_config(ella_config):
    config = copy.deepcopy(ella_config)
    config["app"]["feature_flags"]["cnv"] = True
    return config


def _vcf(tmp_path, records, version="VCFv4.2", svlen=".", name="cnvcall"):
    path = tmp_path / f"{name}.HBOC_v01.vcf"
    path.write_text(HEADER.format(version=version, svlen=svlen)
                    + "".join("\t".join(r) + "\n" for r in records))
    return path


def _refused_writing_nothing(db_url, config, path, message):
    """The deposit of `path` fails with `message` (a regex) at its end, and no row changes."""
    before = table_snapshot(db_url)
    with pytest.raises(VcfError, match=message + "$"):
        deposit(db_url, config, path)
    assert table_snapshot(db_url) == before


def _rows(db_url, sql):
    with psycopg.connect(db_url) as conn:
        return conn.execute(sql).fetchall()


def test_two_deletions_from_one_position_are_two_variants(db_url, cnv_config, tmp_path):
    """Nested calls share CHROM, POS, REF and ALT (`N`, `<DEL>`) and differ in SVLEN, so in
    their end and length, which are part of the allele: they were refused as a repeat."""
    add_test_panels(db_url)
    path = _vcf(tmp_path, [
        ["13", "32972000", "a", "N", "<DEL>", "50", "PASS", "SVTYPE=DEL;SVLEN=-1000",
         "GT:CN", "0/1:1"],
        ["13", "32972000", "b", "N", "<DEL>", "50", "PASS", "SVTYPE=DEL;SVLEN=-5000",
         "GT:CN", "0/1:1"]])
    deposit(db_url, cnv_config, path)
    assert _rows(db_url, "SELECT start_position, open_end_position, length FROM allele "
                         "ORDER BY length") == [(32971999, 32972999, 1000),
                                                (32971999, 32976999, 5000)]
    assert _rows(db_url, "SELECT count(*) FROM genotype") == [(2,)]
    # The same deletion twice is still a repeat.
    path = _vcf(tmp_path, [
        ["13", "32980000", ".", "N", "<DEL>", "50", "PASS", "SVTYPE=DEL;SVLEN=-700",
         "GT:CN", "0/1:1"]] * 2, name="repeated")
    with pytest.raises(VcfError, match=f"line {FIRST_RECORD_LINE + 1}: variant 13:32980000 "
                                       f"N><DEL> is already on line {FIRST_RECORD_LINE}"):
        deposit(db_url, cnv_config, path)


def test_a_length_of_0_or_beyond_ellas_integer_columns_is_refused_with_its_line(
        db_url, cnv_config, tmp_path):
    """POS + |SVLEN| is the allele's end, a 32-bit column: COPY failed with PostgreSQL's
    error, naming neither the file nor the line."""
    add_test_panels(db_url)
    path = _vcf(tmp_path, [
        ["13", "32972000", ".", "N", "<DEL>", "50", "PASS", "SVTYPE=DEL;SVLEN=-2147483000",
         "GT:CN", "0/1:1"]])
    with pytest.raises(VcfError) as refused:
        deposit(db_url, cnv_config, path)
    assert str(refused.value) == (
        f"{path}, line {FIRST_RECORD_LINE}: SVLEN -2147483000 puts the variant's end beyond "
        "2,147,483,647")
    assert _rows(db_url, "SELECT count(*) FROM analysis") == [(0,)]
    # A duplication's row ends one base after its start, but the stretch it duplicates is
    # its length: past 32 bits it was imported, and the region filter then failed for every
    # variant of the analysis (integer out of range). (On a contig without a known length:
    # on chromosome 13 the position itself is refused, beyond its end.)
    path = _vcf(tmp_path, [
        ["GL000207.1", "2000000000", ".", "N", "<DUP>", "50", "PASS",
         "SVTYPE=DUP;SVLEN=200000000",
         "GT:CN", "0/1:3"]], name="longdup")
    with pytest.raises(VcfError, match=f"line {FIRST_RECORD_LINE}: SVLEN 200000000 puts the "
                                       "variant's end beyond 2,147,483,647"):
        deposit(db_url, cnv_config, path)
    # No length at all was stored as a deletion of nothing (start = end).
    path = _vcf(tmp_path, [
        ["13", "32972000", ".", "N", "<DEL>", "50", "PASS", "SVTYPE=DEL;SVLEN=0",
         "GT:CN", "0/1:1"]], name="nolength")
    with pytest.raises(VcfError, match=f"line {FIRST_RECORD_LINE}: SVLEN 0: a del needs a "
                                       "length"):
        deposit(db_url, cnv_config, path)


def test_a_multi_alt_cnv_with_vcf_4_2s_svlen_gets_one_length_per_alt(db_url, cnv_config,
                                                                     tmp_path):
    """VCF 4.2 declares SVLEN `Number=.` with one length per ALT (4.4: Number=A): the whole
    list went to both ALTs, and the analysis was refused with 'got None'."""
    add_test_panels(db_url)
    path = _vcf(tmp_path, [
        ["13", "32972000", ".", "N", "<DEL>,<DUP>", "50", "PASS",
         "SVTYPE=CNV;SVLEN=-1000,2000", "GT:CN", "1/2:2"]])
    deposit(db_url, cnv_config, path)
    assert _rows(db_url, "SELECT vcf_alt, change_type::text, length FROM allele "
                         "ORDER BY vcf_alt") == [("<DEL>", "del", 1000), ("<DUP>", "dup", 2000)]
    # VCF 4.4: one END for the line, the furthest of its ALTs' ends (here the DUP's).
    path = _vcf(tmp_path, [
        ["13", "32972000", ".", "N", "<DEL>,<DUP>", "50", "PASS",
         "SVTYPE=CNV;SVLEN=-1000,2000;END=32974000", "GT:CN", "1/2:2"]], name="oneend")
    deposit(db_url, cnv_config, path)
    # One far beyond every ALT's end too (the 300 kb deletion written with SVLENs of 500).
    path = _vcf(tmp_path, [
        ["13", "32920000", ".", "N", "<DEL>,<DUP>", "50", "PASS",
         "SVTYPE=CNV;SVLEN=-500,500;END=33220000", "GT:CN", "1/2:2"]], name="farend")
    _refused_writing_nothing(db_url, cnv_config, path, rf"line {FIRST_RECORD_LINE}: INFO END "
                             r"33220000 lies beyond the end of every CNV of the line: END - "
                             r"POS is 300,000, the longest SVLEN length 500")
    # One that stops short of an ALT's end is refused.
    path = _vcf(tmp_path, [
        ["13", "32972000", ".", "N", "<DEL>,<DUP>", "50", "PASS",
         "SVTYPE=CNV;SVLEN=-1000,2000;END=32973000", "GT:CN", "1/2:2"]], name="shortend")
    with pytest.raises(VcfError, match=f"line {FIRST_RECORD_LINE}: INFO END 32973000 ends "
                                       "before this ALT's SVLEN does: END - POS is 1,000, the "
                                       "SVLEN length 2,000"):
        deposit(db_url, cnv_config, path)
    # One length for two ALTs is refused with what is wrong.
    path = _vcf(tmp_path, [
        ["13", "32972000", ".", "N", "<DEL>,<DUP>", "50", "PASS", "SVTYPE=CNV;SVLEN=-1000",
         "GT:CN", "1/2:2"]], name="onelength")
    with pytest.raises(VcfError, match=f"line {FIRST_RECORD_LINE}: INFO SVLEN has 1 values, "
                                       "Number=A needs 2 for 2 ALT alleles"):
        deposit(db_url, cnv_config, path)


def test_the_igv_variants_track_draws_a_duplication_over_its_length(api_app, db_url,
                                                                    cnv_config, tmp_path):
    """A duplication's allele row ends one base after its start (import.md 2.4); the track
    wrote that as END, so IGV drew a 2 kb duplication one base long. END is POS + |SVLEN|,
    as the caller writes it (the allele row's end made every CNV one base short)."""
    add_test_panels(db_url)
    add_user(db_url, "cnvreader", "cnvgroup", panels=[("HBOC", "v01")])
    deposit(db_url, cnv_config, _vcf(tmp_path, [
        ["13", "32910000", ".", "N", "<DUP>", "50", "PASS", "SVTYPE=DUP;SVLEN=2000",
         "GT:CN", "0/1:3"],
        ["13", "32972000", ".", "N", "<DEL>", "50", "PASS", "SVTYPE=DEL;SVLEN=-1000",
         "GT:CN", "0/1:1"]]))
    (analysis_id,) = _rows(db_url, "SELECT id FROM analysis")[0]
    allele_ids = ",".join(str(r[0]) for r in _rows(db_url, "SELECT id FROM allele"))
    track = logged_in_client(api_app, db_url, "cnvreader").get(
        f"/api/v1/igv/tracks/dynamic/variants/{analysis_id}/", query={"allele_ids": allele_ids})
    assert track.status == 200
    records = [line.split("\t") for line in track.body.decode().splitlines()
               if not line.startswith("#")]
    assert [(r[1], r[4], r[7]) for r in records] == [
        ("32910000", "<DUP>", "SVTYPE=DUP;SVLEN=2000;END=32912000"),
        ("32972000", "<DEL>", "SVTYPE=DEL;SVLEN=-1000;END=32973000")]


def test_the_display_genotype_of_a_duplication_gives_its_copy_number(api_app, db_url,
                                                                     cnv_config, tmp_path):
    """api.md 3.4 `formatted`: a heterozygous duplication read `(2000nt)/-`, as a deletion
    does, and one called without GT (stored as Reference, import.md 2.9) `3000nt/3000nt`,
    as no variant."""
    add_test_panels(db_url)
    add_user(db_url, "cnvreader", "cnvgroup", panels=[("HBOC", "v01")])
    deposit(db_url, cnv_config, _vcf(tmp_path, [
        ["13", "32910000", ".", "N", "<DUP>", "50", "PASS", "SVTYPE=DUP;SVLEN=2000",
         "GT:CN", "0/1:3"],
        ["13", "32930000", ".", "N", "<DUP>", "50", "PASS", "SVTYPE=DUP;SVLEN=3000",
         "GT:CN", "./.:4"],
        ["13", "32950000", ".", "N", "<DUP>", "50", "PASS", "SVTYPE=DUP;SVLEN=500",
         "GT", "0/1"],
        ["13", "32972000", ".", "N", "<DEL>", "50", "PASS", "SVTYPE=DEL;SVLEN=-1000",
         "GT:CN", "0/1:1"]]))
    ids = [r[0] for r in _rows(db_url, "SELECT id FROM allele ORDER BY vcf_pos")]
    alleles = logged_in_client(api_app, db_url, "cnvreader").get(
        "/api/v1/alleles/", query={"q": {"id": ids}, "gp_name": "HBOC", "gp_version": "v01",
                                   "analysis_id": _rows(db_url, "SELECT id FROM analysis")[0][0]})
    assert alleles.status == 200, alleles.body
    shown = {a["vcf_pos"]: a["samples"][0]["genotype"]["formatted"] for a in alleles.json}
    assert shown == {32910000: "CN: 3 (2000nt)", 32930000: "CN: 4 (3000nt)",
                     32950000: "(500nt)/-", 32972000: "(1000nt)/-"}
    # The IGV variants track wrote the one called without GT as 0/0 (no variant); its CN 4
    # now gives it the type Homozygous.
    (analysis_id,) = _rows(db_url, "SELECT id FROM analysis")[0]
    track = logged_in_client(api_app, db_url, "cnvreader").get(
        f"/api/v1/igv/tracks/dynamic/variants/{analysis_id}/",
        query={"allele_ids": ",".join(map(str, ids))})
    assert [line.split("\t")[9] for line in track.body.decode().splitlines()
            if not line.startswith("#")] == ["0/1:3", "1/1:4", "0/1:.", "0/1:1"]


def test_an_end_before_pos_is_refused_with_its_line(db_url, cnv_config, tmp_path):
    """The length comes from SVLEN (import.md 2.4); an END before POS says the call is
    broken, and it was imported silently."""
    add_test_panels(db_url)
    path = _vcf(tmp_path, [
        ["13", "32972000", ".", "N", "<DEL>", "50", "PASS",
         "SVTYPE=DEL;SVLEN=-1000;END=32000000", "GT:CN", "0/1:1"]])
    _refused_writing_nothing(db_url, cnv_config, path, rf"line {FIRST_RECORD_LINE}: INFO END "
                                                       r"32000000 lies before POS 32972000")
    # Also an END the header declares as text, or one that is no position; a missing value
    # is fine. With the feature off, that is said first.
    header_text = HEADER.replace("ID=END,Number=1,Type=Integer", "ID=END,Number=1,Type=String")
    header_float = HEADER.replace("ID=END,Number=1,Type=Integer", "ID=END,Number=1,Type=Float")
    for header, end, problem in (
            (header_text, "32000000", "INFO END 32000000 lies before POS 32972000"),
            (header_text, "x1", "INFO END 'x1' is not a position"),
            # A Float END of inf was an OverflowError traceback.
            (header_float, "inf", "INFO END inf is not a position"),
            (header_float, "1e400", "INFO END inf is not a position")):
        path.write_text(header.format(version="VCFv4.2", svlen=".") + "\t".join(
            ["13", "32972000", ".", "N", "<DEL>", "50", "PASS",
             f"SVTYPE=DEL;SVLEN=-1000;END={end}", "GT:CN", "0/1:1"]) + "\n")
        with pytest.raises(VcfError, match=rf"line {FIRST_RECORD_LINE}: {problem}$"):
            deposit(db_url, cnv_config, path)
    off = copy.deepcopy(cnv_config)
    off["app"]["feature_flags"]["cnv"] = False
    with pytest.raises(VcfError, match=r"Feature 'cnv' is not enabled\.$"):
        deposit(db_url, off, path)
    path.write_text(header_text.format(version="VCFv4.2", svlen=".") + "\t".join(
        ["13", "32972000", ".", "N", "<DEL>", "50", "PASS", "SVTYPE=DEL;SVLEN=-1000;END=.",
         "GT:CN", "0/1:1"]) + "\n")
    deposit(db_url, cnv_config, path)
    assert _rows(db_url, "SELECT open_end_position - start_position FROM allele") == [(1000,)]



def test_an_end_that_disagrees_with_svlen_is_refused_with_its_line(db_url, cnv_config,
                                                                   tmp_path):
    """Stored by SVLEN alone, a deletion whose caller wrote END 300 kb on (over BRCA2's
    exons) with SVLEN -500 became 500 bases in an intron, which the region filter drops:
    the lab never saw it. END one off SVLEN's end either way is each caller's convention."""
    add_test_panels(db_url)
    path = _vcf(tmp_path, [
        ["13", "32920000", ".", "N", "<DEL>", "50", "PASS",
         "SVTYPE=DEL;SVLEN=-500;END=33220000", "GT:CN", "0/1:1"]])
    _refused_writing_nothing(db_url, cnv_config, path, rf"line {FIRST_RECORD_LINE}: INFO END "
                             r"33220000 and SVLEN disagree: END - POS is 300,000, the SVLEN "
                             r"length 500")
    path = _vcf(tmp_path, [
        ["13", "32920000", ".", "N", "<DEL>", "50", "PASS", "SVTYPE=DEL;SVLEN=-500;END=32920500",
         "GT:CN", "0/1:1"],
        ["13", "32930000", ".", "N", "<DUP>", "50", "PASS", "SVTYPE=DUP;SVLEN=500;END=32930499",
         "GT:CN", "0/1:3"]])
    deposit(db_url, cnv_config, path)
    assert _rows(db_url, "SELECT length FROM allele ORDER BY vcf_pos") == [(500,), (500,)]


@pytest.mark.parametrize("header_type, cn, problem", [
    # Rounded, 2.5 on a duplication showed a normal "CN: 2".
    ("Float", "2.5", "FORMAT CN of sample PROBAND is 2.5: a copy number must be a whole "
                     "number (it is not rounded)"),
    ("Integer", "-1", "FORMAT CN of sample PROBAND is -1: a copy number is not negative"),
    ("String", "-2", "FORMAT CN of sample PROBAND is -2: a copy number is not negative")])
def test_a_copy_number_that_is_no_count_of_copies_is_refused_with_its_line(
        db_url, cnv_config, tmp_path, header_type, cn, problem):
    add_test_panels(db_url)
    path = _vcf(tmp_path, [["13", "32930000", ".", "N", "<DUP>", "50", "PASS",
                            "SVTYPE=DUP;SVLEN=3000", "GT:CN", f"0/1:{cn}"]])
    path.write_text(path.read_text().replace("ID=CN,Number=1,Type=Integer",
                                             f"ID=CN,Number=1,Type={header_type}"))
    with pytest.raises(VcfError) as failure:
        deposit(db_url, cnv_config, path)
    assert str(failure.value).endswith(f"line {FIRST_RECORD_LINE}: {problem}"), failure.value
    # A whole number written as a Float is that number.
    path.write_text(path.read_text().replace(
        f"0/1:{cn}", "0/1:3" if header_type == "Integer" else "0/1:3.0"))
    deposit(db_url, cnv_config, path)
    assert _rows(db_url, "SELECT copy_number FROM genotypesampledata") == [(3,)]


def test_the_classifications_track_draws_a_duplication_over_its_length(api_app, db_url,
                                                                       cnv_config, tmp_path):
    """A classified 5 kb duplication was one base long in IGV (its allele row ends one base
    after its start, import.md 2.4), as the variants track was before."""
    add_test_panels(db_url)
    add_user(db_url, "cnvreader", "cnvgroup", panels=[("HBOC", "v01")])
    deposit(db_url, cnv_config, _vcf(tmp_path, [
        ["13", "32900000", ".", "N", "<DUP>", "50", "PASS", "SVTYPE=DUP;SVLEN=5000",
         "GT:CN", "0/1:3"]]))
    (analysis_id,) = _rows(db_url, "SELECT id FROM analysis")[0]
    start_round(db_url, analysis_id, "cnvreader")
    [(allele_id, annotation_id)] = analysis_alleles(db_url, analysis_id)
    client = logged_in_client(api_app, db_url, "cnvreader")
    assert client.post(f"/api/v1/workflows/analyses/{analysis_id}/actions/finalizeallele/",
                       payload(allele_id, annotation_id, classification="5")).status == 200
    track = client.get("/api/v1/igv/tracks/dynamic/classifications/").body.decode()
    [fields] = [line.split("\t") for line in track.splitlines() if not line.startswith("#")]
    # Its 5,000 bases from POS, as a deletion's row is drawn there (and the regions track).
    assert fields[3:5] == ["32900000", "32904999"]


def test_the_variants_track_has_one_column_per_sample(api_app, db_url, cnv_config, tmp_path):
    """A patient's SNV and CNV files (`callerName`, import.md 1.3) are two sample rows of
    one identifier: the track wrote two columns of that name (a VCF's names are unique;
    api.md 2.14: one column per sample identifier), each showing the other's variants as
    missing."""
    add_test_panels(db_url)
    add_user(db_url, "cnvreader", "cnvgroup", panels=[("HBOC", "v01")])
    folder = tmp_path / "pair"
    folder.mkdir()
    shutil.copy(BRCA_VCF, folder / "snv.vcf")
    cnv = _vcf(folder, [["13", "32900000", ".", "N", "<DEL>", "50", "PASS",
                         "SVTYPE=DEL;SVLEN=-5000", "GT:CN", "0/1:1"]])
    cnv.write_text(cnv.read_text().replace("\tPROBAND", "\tbrca_sample_2"))
    (folder / "pair.analysis").write_text(json.dumps({
        "name": "pair1", "genepanel_name": "HBOC", "genepanel_version": "v01", "priority": 1,
        "data": [{"vcf": "snv.vcf", "technology": "HTS"},
                 {"vcf": cnv.name, "technology": "HTS", "callerName": "cnvnator"}]}))
    deposit(db_url, cnv_config, folder)
    (analysis_id,) = _rows(db_url, "SELECT id FROM analysis")[0]
    assert _rows(db_url, "SELECT count(*) FROM sample") == [(2,)]
    ids = ",".join(str(r[0]) for r in _rows(db_url, "SELECT id FROM allele"))
    track = logged_in_client(api_app, db_url, "cnvreader").get(
        f"/api/v1/igv/tracks/dynamic/variants/{analysis_id}/", query={"allele_ids": ids})
    lines = track.body.decode().splitlines()
    [header] = [line for line in lines if line.startswith("#CHROM")]
    assert header.split("\t")[9:] == ["brca_sample_2"]
    records = [line.split("\t") for line in lines if not line.startswith("#")]
    assert len(records) == 7 and all(len(r) == 10 for r in records)
    assert [r[9] for r in records if r[4] == "<DEL>"] == ["0/1:1"]
    assert all(r[9] in ("0/1", "1/1") for r in records if r[4] != "<DEL>")


def test_a_deletion_called_without_gt_is_not_imported_and_said_so(db_url, cnv_config,
                                                                  tmp_path, caplog):
    """import.md 2.7 (and ELLA) count only duplications as present without a GT: a loss the
    caller wrote as `./.` with CN 1 only lowered the summary's genotype count."""
    add_test_panels(db_url)
    stats = deposit(db_url, cnv_config, _vcf(tmp_path, [
        ["13", "32900000", ".", "N", "<DEL>", "50", "PASS", "SVTYPE=DEL;SVLEN=-5000",
         "GT:CN", "./.:1"],
        ["13", "32930000", ".", "N", "<DEL>", "50", "PASS", "SVTYPE=DEL;SVLEN=-3000",
         "GT:CN", "0/1:1"]]))
    assert stats["genotypes"] == 1
    assert [r.getMessage() for r in caplog.records if "without GT" in r.getMessage()] == [
        f"{tmp_path / 'cnvcall.HBOC_v01.vcf'}, line {FIRST_RECORD_LINE}: a CNV deletion the "
        "proband has without GT (CN 1) is not imported: only duplications count as present "
        "without a GT (import.md 2.7)"]
    # The interpreters are told on the analysis' page (it was in the log only); also of one
    # beside a duplication on the same line (left out without a word), which CN 1 says the
    # proband does not have either.
    more = deposit(db_url, cnv_config, _vcf(tmp_path, [
        ["13", "32950000", ".", "N", "<DEL>,<DUP>", "50", "PASS",
         "SVTYPE=DEL,DUP;SVLEN=-4000,4000", "GT:CN", "./.:1"]], name="multi"))
    assert more["genotypes"] == 0
    assert _rows(db_url, "SELECT warnings FROM analysis WHERE name = 'multi.HBOC_v01'") == [(
        "1 CNV deletion(s) the proband has without GT (CN below normal) not imported: only "
        "duplications count as present without a GT (import.md 2.7). See "
        f"multi.HBOC_v01.vcf, line {FIRST_RECORD_LINE}.",)]
    assert _rows(db_url, "SELECT warnings FROM analysis WHERE name = 'cnvcall.HBOC_v01'") == [(
        "1 CNV deletion(s) the proband has without GT (CN below normal) not imported: only "
        "duplications count as present without a GT (import.md 2.7). See "
        f"cnvcall.HBOC_v01.vcf, line {FIRST_RECORD_LINE}.",)]


def test_a_duplication_without_gt_whose_copy_number_is_no_gain_is_not_imported(
        db_url, cnv_config, tmp_path):
    """A duplication called without GT counts as present (import.md 2.7) only where its CN
    is a gain: one with the proband's normal copies (a joint call's site of a relative's
    gain) or fewer was imported as the proband's duplication, for an interpreter to classify
    and report. Where the normal copies are not known (a sample of unknown sex on X) it
    still counts as present, as in ELLA."""
    add_test_panels(db_url)
    dup = ["13", None, ".", "N", "<DUP>", "50", "PASS", "SVTYPE=DUP;SVLEN=3000", "GT:CN", None]
    records = [dup[:1] + [pos] + dup[2:9] + [call] for pos, call in (
        ("32900000", "./.:2"), ("32910000", "./.:1"), ("32920000", "./.:3"),
        ("32930000", "./.:."), ("32940000", "0/1:2"))]
    records.append(["X", "32950000", ".", "N", "<DUP>", "50", "PASS",
                    "SVTYPE=DUP;SVLEN=3000", "GT:CN", "./.:1"])
    deposit(db_url, cnv_config, _vcf(tmp_path, records))
    assert _rows(db_url, """
        SELECT a.chromosome, a.start_position, gsd.type, gsd.copy_number
        FROM genotype g JOIN allele a ON a.id = g.allele_id
        JOIN genotypesampledata gsd ON gsd.genotype_id = g.id
        ORDER BY a.chromosome, a.start_position""") == [
        ("13", 32919999, "Heterozygous", 3),
        ("13", 32929999, "Reference", None),   # no CN: present, as ELLA's `./.` (2.9)
        ("13", 32939999, "Heterozygous", 2),   # a GT says so whatever the CN
        ("X", 32949999, "Reference", 1)]       # unknown sex: one copy may be normal


def test_a_males_x_deletion_without_gt_of_one_copy_is_no_loss(db_url, cnv_config, tmp_path):
    """One copy is a male's normal X outside the pseudo-autosomal regions: a `./.:1` deletion
    there is nothing he has, and is not said to be a loss left out (it was: "CN below 2").
    CN 0 is one."""
    add_test_panels(db_url)
    path = _vcf(tmp_path, [
        ["X", "32950000", ".", "N", "<DEL>", "50", "PASS", "SVTYPE=DEL;SVLEN=-4000", "GT:CN",
         "./.:1"],
        ["X", "33950000", ".", "N", "<DEL>", "50", "PASS", "SVTYPE=DEL;SVLEN=-4000", "GT:CN",
         "./.:0"]], name="malex")
    (tmp_path / "malex.ped").write_text("F\tPROBAND\t0\t0\t1\t2\t1\n")
    config = {"name": "malex", "genepanel_name": "HBOC", "genepanel_version": "v01",
              "priority": 1, "report": None, "warnings": None,
              "data": [{"vcf": str(path), "ped": str(tmp_path / "malex.ped"),
                        "technology": "HTS"}]}
    with connect(db_url) as conn, conn.transaction():
        assert deposit_analysis(conn, cnv_config, config)["genotypes"] == 0
    assert _rows(db_url, "SELECT warnings FROM analysis WHERE name = 'malex'") == [(
        "1 CNV deletion(s) the proband has without GT (CN below normal) not imported: only "
        "duplications count as present without a GT (import.md 2.7). See "
        f"malex.HBOC_v01.vcf, line {FIRST_RECORD_LINE + 1}.",)]
