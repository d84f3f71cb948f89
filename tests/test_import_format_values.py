"""import.md 2.3: GQ, DP and CN are stored as scalar ints whatever a header declares (a
warning for a header that disagrees with VCF 4.3), and within ELLA's smallint columns."""

import psycopg
import pytest

from deposit_helpers import BRCA_VCF, add_test_panels, deposit
from ella.vcf import VcfError
from helpers import table_snapshot


def _vcf(tmp_path, format_header, sample_column):
    lines = BRCA_VCF.read_text().splitlines()
    records = [i for i, line in enumerate(lines) if not line.startswith("#")]
    first = lines[records[0]].split("\t")
    first[9] = sample_column
    lines[records[0]] = "\t".join(first)
    lines.insert(1, format_header)
    path = tmp_path / "fb_sample.HBOC_v01.vcf"
    path.write_text("\n".join(lines) + "\n")
    return path, int(first[1])


def _refused(db_url, ella_config, path, pos):
    """(the VcfError's message, the line number of the record at `pos`) of depositing
    `path`, which must write nothing."""
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1)
                if text.startswith(f"13\t{pos}\t"))
    before = table_snapshot(db_url)
    with pytest.raises(VcfError) as info:
        deposit(db_url, ella_config, path)
    assert table_snapshot(db_url) == before
    return str(info.value), line


def _stored(db_url, pos):
    with psycopg.connect(db_url) as conn:
        return conn.execute(
            "SELECT d.genotype_quality, d.sequencing_depth, d.genotype_likelihood "
            "FROM genotypesampledata d JOIN genotype g ON g.id = d.genotype_id "
            "JOIN allele a ON a.id = g.allele_id WHERE a.vcf_pos = %s", (pos,)).fetchone()


def test_a_float_gq_is_rounded_and_a_deep_dp_is_capped(db_url, ella_config, tmp_path, caplog):
    """FreeBayes declares GQ a Float; an amplicon panel's DP of 40000 does not fit ELLA's
    smallint column: the analysis imports (it failed in the database, without a line)."""
    add_test_panels(db_url)
    path, pos = _vcf(tmp_path, '##FORMAT=<ID=GQ,Number=1,Type=Float,Description="GQ">',
                     "0/1:107,80:40000:99.6:2048,0,2917")
    deposit(db_url, ella_config, path)
    assert _stored(db_url, pos) == (100, 32767, [2048, 0, 2917])
    assert any("DP=40000" in r.getMessage() and "stored as 32767" in r.getMessage()
               for r in caplog.records)


def test_a_float_pl_is_rounded(db_url, ella_config, tmp_path):
    add_test_panels(db_url)
    path, pos = _vcf(tmp_path, '##FORMAT=<ID=PL,Number=G,Type=Float,Description="PL">',
                     "0/1:107,80:187:99:2048.4,0,2916.6")
    deposit(db_url, ella_config, path)
    assert _stored(db_url, pos) == (99, 187, [2048, 0, 2917])


@pytest.mark.parametrize("sample, problem", [
    ("0/1:107,80:40:99:1,2", "sample brca_sample_2: PL has 2 values, a diploid call of one ALT "
                             "needs 3"),
    ("1:0,80:40:99:1,2,3,4", "sample brca_sample_2: PL has 4 values, a haploid call of one ALT "
                             "needs 2 or 3"),
])
def test_a_pl_of_the_wrong_count_is_refused_with_its_line(db_url, ella_config, tmp_path,
                                                          sample, problem):
    """Checked when a multi-ALT line is split, not on a line of one ALT: a diploid call's
    two likelihoods were stored and shown to interpreters. (A haploid call with a diploid
    call's three is read, as some callers write chrX: tests/test_trio_analyses.py.)"""
    add_test_panels(db_url)
    path, pos = _vcf(tmp_path, "##source=test", sample)
    message, line = _refused(db_url, ella_config, path, pos)
    assert message == f"{path}, line {line}: {problem}", message


def test_a_small_variants_copy_number_is_stored_rounded_as_before(db_url, ella_config,
                                                                   tmp_path):
    """Some pipelines give every small variant its segment's copy number: only a CNV's own
    CN must be a whole, non-negative number (a Float 2.4 here refused the whole analysis)."""
    add_test_panels(db_url)
    path, pos = _vcf(tmp_path, '##FORMAT=<ID=CN,Number=1,Type=Float,Description="CN">',
                     "0/1:107,80:187:99:2048,0,2917:2.4")
    text = path.read_text().replace("\tGT:AD:DP:GQ:PL\t0/1:107,80:187:99:2048,0,2917:2.4",
                                    "\tGT:AD:DP:GQ:PL:CN\t0/1:107,80:187:99:2048,0,2917:2.4", 1)
    path.write_text(text)
    deposit(db_url, ella_config, path)
    with psycopg.connect(db_url) as conn:
        assert conn.execute(
            "SELECT d.copy_number FROM genotypesampledata d JOIN genotype g ON "
            "g.id = d.genotype_id JOIN allele a ON a.id = g.allele_id WHERE a.vcf_pos = %s",
            (pos,)).fetchone() == (2,)


def test_spanning_deletion_alleles_are_not_imported(db_url, ella_config, tmp_path, caplog):
    """A GATK site A>C,* (the `*` marks a position deleted by an overlapping deletion on its
    own line) imports its real allele; a record whose only ALT is `*` imports nothing. The
    whole analysis was refused ("unsupported ALT '*'")."""
    add_test_panels(db_url)
    lines = BRCA_VCF.read_text().splitlines()
    last = lines[-1].split("\t")
    pos = int(last[1])
    lines += [f"13\t{pos + 50}\t.\tA\tC,*\t50\tPASS\t.\tGT:AD:DP:GQ\t1/2:0,10,10:20:99",
              f"13\t{pos + 60}\t.\tG\t*\t50\tPASS\t.\tGT:AD:DP:GQ\t0/1:10,10:20:99"]
    path = tmp_path / "gatk_sample.HBOC_v01.vcf"
    path.write_text("\n".join(lines) + "\n")
    records = sum(1 for line in lines if not line.startswith("#"))
    # The summary counts the records imported: the two `*` ones are not.
    assert deposit(db_url, ella_config, path)["records"] == records - 1
    with psycopg.connect(db_url) as conn:
        stored = conn.execute("SELECT vcf_pos, vcf_ref, vcf_alt FROM allele WHERE vcf_pos > %s "
                              "ORDER BY vcf_pos", (pos,)).fetchall()
        assert stored == [(pos + 50, "A", "C")]
        assert conn.execute("SELECT count(*) FROM allele WHERE vcf_alt = '*'").fetchone()[0] == 0
    assert any("2 records with ALT '*'" in r.getMessage() for r in caplog.records)


def test_reference_only_records_are_not_imported(db_url, ella_config, tmp_path):
    """An all-sites VCF has records with ALT `.`; the analysis failed with an IndexError."""
    add_test_panels(db_url)
    lines = BRCA_VCF.read_text().splitlines()
    pos = int(lines[-1].split("\t")[1])
    lines += [f"13\t{pos + 50}\t.\tA\t.\t50\tPASS\t.\tGT:AD:DP:GQ\t0/0:20:20:99"]
    path = tmp_path / "allsites_sample.HBOC_v01.vcf"
    path.write_text("\n".join(lines) + "\n")
    deposit(db_url, ella_config, path)
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM allele WHERE vcf_pos > %s",
                            (pos,)).fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM analysis").fetchone()[0] == 1


def test_spanning_deletion_records_are_skipped_in_variants_mode(db_url, ella_config, tmp_path):
    from ella.deposit.alleles import deposit_alleles
    add_test_panels(db_url)
    lines = [line for line in BRCA_VCF.read_text().splitlines() if line.startswith("#")]
    lines += ["13\t32893296\t.\tTG\tT\t50\tPASS\t.\tGT\t0/1",
              "13\t32893318\t.\tG\t*\t50\tPASS\t.\tGT\t0/1"]
    path = tmp_path / "variants.HBOC_v01.vcf"
    path.write_text("\n".join(lines) + "\n")
    with psycopg.connect(db_url) as conn:
        deposit_alleles(conn, ella_config, path, panel=("HBOC", "v01"))
        conn.commit()
        assert conn.execute("SELECT vcf_pos, vcf_alt FROM allele").fetchall() == \
            [(32893296, "T")]


def test_a_cnv_is_refused_in_variants_mode(db_url, ella_config, tmp_path):
    """import.md 2.4: a CNV cannot be deposited in Variants mode (no variant workflow for a
    CNV); it was stored with a Not started round. The file's other records are not stored
    either (one transaction)."""
    import copy

    import pytest

    from ella.deposit.alleles import deposit_alleles
    from ella.vcf import VcfError
    config = copy.deepcopy(ella_config)
    config["app"]["feature_flags"]["cnv"] = True
    add_test_panels(db_url)
    lines = [line for line in BRCA_VCF.read_text().splitlines() if line.startswith("#")]
    lines[1:1] = ['##INFO=<ID=SVTYPE,Number=1,Type=String,Description="SV type">',
                  '##INFO=<ID=SVLEN,Number=1,Type=Integer,Description="SV length">']
    lines += ["13\t32893296\t.\tTG\tT\t50\tPASS\t.\tGT\t0/1",
              "13\t32893400\t.\tN\t<DEL>\t50\tPASS\tSVTYPE=DEL;SVLEN=-300\tGT\t0/1"]
    path = tmp_path / "cnv.HBOC_v01.vcf"
    path.write_text("\n".join(lines) + "\n")
    with psycopg.connect(db_url) as conn:
        with pytest.raises(VcfError, match=f"line {len(lines)}: a CNV cannot be deposited as a variant"):
            deposit_alleles(conn, config, path, panel=("HBOC", "v01"))
        conn.rollback()
        assert conn.execute("SELECT count(*) FROM allele").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM alleleinterpretation").fetchone()[0] == 0


@pytest.mark.parametrize("declared, sample_column, problem", [
    # PL declared a Float: rounded, but beyond the integer[] column it failed in the
    # database (a psycopg error naming neither file nor line).
    ('##FORMAT=<ID=PL,Number=G,Type=Float,Description="PL">', "0/1:107,80:187:99:1e300,0,5",
     "FORMAT PL of sample brca_sample_2: 1e+300 is beyond the 2,147,483,647"),
    ('##FORMAT=<ID=PL,Number=G,Type=Float,Description="PL">',
     "0/1:107,80:187:99:2147483648,0,5",
     "FORMAT PL of sample brca_sample_2: 2,147,483,648 is beyond the 2,147,483,647"),
    # AD declared a Float: NaN or inf went into allele_depth and PostgreSQL's JSON parser
    # refused the whole deposit.
    ('##FORMAT=<ID=AD,Number=R,Type=Float,Description="AD">', "0/1:nan,80:187:99:2048,0,2917",
     "FORMAT AD of sample brca_sample_2 is not a finite number: nan"),
    ('##FORMAT=<ID=AD,Number=R,Type=Float,Description="AD">', "0/1:107,inf:187:99:2048,0,2917",
     "FORMAT AD of sample brca_sample_2 is not a finite number: inf"),
])
def test_a_float_declared_value_no_column_can_hold_is_refused_with_its_line(
        db_url, ella_config, tmp_path, declared, sample_column, problem):
    add_test_panels(db_url)
    path, pos = _vcf(tmp_path, declared, sample_column)
    message, line = _refused(db_url, ella_config, path, pos)
    assert message.startswith(f"{path}, line {line}: {problem}"), message


def test_a_float_declared_ad_is_stored_as_whole_depths(db_url, ella_config, tmp_path):
    add_test_panels(db_url)
    path, pos = _vcf(tmp_path, '##FORMAT=<ID=AD,Number=R,Type=Float,Description="AD">',
                     "0/1:107.0,80.0:187:99:2048,0,2917")
    deposit(db_url, ella_config, path)
    with psycopg.connect(db_url) as conn:
        assert conn.execute(
            "SELECT d.allele_depth FROM genotypesampledata d JOIN genotype g ON "
            "g.id = d.genotype_id JOIN allele a ON a.id = g.allele_id WHERE a.vcf_pos = %s",
            (pos,)).fetchone()[0] == {"REF (TG)": 107, "T": 80}


@pytest.mark.parametrize("key, sample_column", [
    ("DP", "0/1:107,80:187,5:99:2048,0,2917"),
    ("GQ", "0/1:107,80:187:99,12:2048,0,2917"),
])
def test_a_gq_or_dp_of_several_values_is_refused_with_its_line(db_url, ella_config, tmp_path,
                                                               key, sample_column):
    """import.md 2.3: DP and GQ are one number. A header declaring one Number=. lets a sample
    give several: one of them stored as the depth or quality would be a guess, so the
    record is refused (a single value under Number=. is stored as usual)."""
    add_test_panels(db_url)
    declared = f'##FORMAT=<ID={key},Number=.,Type=Integer,Description="{key}">'
    path, pos = _vcf(tmp_path, declared, sample_column)
    message, line = _refused(db_url, ella_config, path, pos)
    assert message == (f"{path}, line {line}: FORMAT {key} of sample brca_sample_2 has 2 "
                       "values; one is stored"), message
    path, pos = _vcf(tmp_path, declared, "0/1:107,80:187:99:2048,0,2917")
    deposit(db_url, ella_config, path)
    assert _stored(db_url, pos) == (99, 187, [2048, 0, 2917])
