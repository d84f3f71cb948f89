"""Annotation a deposit stores or refuses (import.md 3): the CSQ of a multi-ALT line split per
ALT, text PostgreSQL's jsonb cannot hold refused with its line, and a re-import that turns a
value's type (1 -> true) stored as a change."""

import base64
import json

import psycopg
import pytest
from psycopg.types.json import Jsonb

from ella.annotation.legacy_config import legacy_annotation_config
from ella.deposit.variants import DepositError
from ella.deposit.alleles import deposit_alleles
from ella.deposit.annotationconfig import update_annotation_config
from ella.deposit.shadow_values import shadow_value_problem
from ella.vcf import VcfError
from helpers import table_snapshot

CSQ_FIELDS = ("Allele", "Consequence", "SYMBOL", "Gene", "Feature_type", "Feature", "BIOTYPE",
              "EXON", "HGVSc", "HGVSp", "HGNC_ID", "SOURCE", "STRAND")


def _header(csq_fields=CSQ_FIELDS, extra=""):
    return ("##fileformat=VCFv4.1\n"
            '##INFO=<ID=CSQ,Number=.,Type=String,Description="Consequence annotations from '
            f'Ensembl VEP. Format: {"|".join(csq_fields)}">\n'
            '##INFO=<ID=CLINVARJSON,Number=1,Type=String,Description="ClinVar, base16 JSON">\n'
            + extra + "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")


def _entry(allele, consequence, hgvsc, csq_fields=CSQ_FIELDS, **more):
    values = {"Allele": allele, "Consequence": consequence, "SYMBOL": "BRCA2", "Gene": "675",
              "Feature_type": "Transcript", "Feature": "NM_000059.3",
              "BIOTYPE": "protein_coding", "EXON": "10/27", "HGVSc": f"NM_000059.3:{hgvsc}",
              "HGVSp": "", "HGNC_ID": "1101", "SOURCE": "RefSeq", "STRAND": "1", **more}
    return "|".join(values[name] for name in csq_fields)


def _vcf(tmp_path, lines, header=None, name="variants.vcf"):
    path = tmp_path / name
    path.write_text((header or _header()) + "".join(line + "\n" for line in lines))
    return path


def _deposit(db_url, config, path):
    """`ella-deposit annotation` of the file: alleles and annotation, nothing else."""
    with psycopg.connect(db_url) as conn:
        with conn.transaction():
            return deposit_alleles(conn, config, path, annotation_only=True)


def _current(db_url):
    with psycopg.connect(db_url) as conn:
        return dict(conn.execute(
            "SELECT a.vcf_ref || '>' || a.vcf_alt, n.annotations FROM allele a JOIN annotation "
            "n ON n.allele_id = a.id AND n.date_superceeded IS NULL").fetchall())


def _transcript(annotation):
    [transcript] = annotation["transcripts"]
    return transcript["consequences"], transcript["HGVSc"]


def test_csq_of_a_multi_alt_line_is_split_by_allele_num(db_url, ella_config, tmp_path):
    """VEP run before decomposition writes every ALT's entries into one CSQ: copied whole, T
    got G's missense and HGVS (with SOURCE set) or the deposit failed on 'two entries'."""
    fields = CSQ_FIELDS + ("ALLELE_NUM",)
    csq = ",".join([_entry("G", "missense_variant", "c.1000A>G", fields, ALLELE_NUM="1"),
                    _entry("T", "stop_gained", "c.1000A>T", fields, ALLELE_NUM="2")])
    path = _vcf(tmp_path, [f"13\t32906000\t.\tA\tG,T\t50\tPASS\tCSQ={csq}"],
                header=_header(fields))
    _deposit(db_url, ella_config, path)
    stored = _current(db_url)
    assert _transcript(stored["A>G"]) == (["missense_variant"], "c.1000A>G")
    assert _transcript(stored["A>T"]) == (["stop_gained"], "c.1000A>T")


def test_csq_of_a_multi_alt_line_is_split_by_vep_allele_names(db_url, ella_config, tmp_path):
    """Without ALLELE_NUM, `Allele` as VEP writes it: an indel line's shared first base
    dropped (AT>A,ATT: `-` and `TT`), also beside GATK's `*`, which VEP leaves out of the
    comparison and names `*` (A>AG,*: `G`; CT>CA,*: `A`, the `*` making it an indel line),
    and a line of substitutions as written (`G`, `T`)."""
    indels = ",".join([_entry("TT", "frameshift_variant", "c.1001dupT"),
                       _entry("-", "frameshift_variant", "c.1001delT")])
    snvs = ",".join([_entry("T", "stop_gained", "c.1003A>T"),
                     _entry("G", "missense_variant", "c.1003A>G")])
    with_star = _entry("G", "frameshift_variant", "c.1005dupG")
    mnp_with_star = _entry("A", "missense_variant", "c.1008T>A")
    path = _vcf(tmp_path, [f"13\t32906000\t.\tAT\tA,ATT\t50\tPASS\tCSQ={indels}",
                           f"13\t32906003\t.\tA\tG,T\t50\tPASS\tCSQ={snvs}",
                           f"13\t32906005\t.\tA\tAG,*\t50\tPASS\tCSQ={with_star}",
                           f"13\t32906007\t.\tCT\tCA,*\t50\tPASS\tCSQ={mnp_with_star}"])
    _deposit(db_url, ella_config, path)
    stored = _current(db_url)
    assert _transcript(stored["AT>A"]) == (["frameshift_variant"], "c.1001delT")
    assert _transcript(stored["AT>ATT"]) == (["frameshift_variant"], "c.1001dupT")
    assert _transcript(stored["A>G"]) == (["missense_variant"], "c.1003A>G")
    assert _transcript(stored["A>T"]) == (["stop_gained"], "c.1003A>T")
    assert _transcript(stored["A>AG"]) == (["frameshift_variant"], "c.1005dupG")
    assert _transcript(stored["CT>CA"]) == (["missense_variant"], "c.1008T>A")


def test_a_csq_that_cannot_be_split_per_alt_is_refused_with_its_line(db_url, ella_config,
                                                                     tmp_path):
    """Entries that name no ALT of the line (here VEP's --minimal names): refused, nothing
    written, rather than guessing which ALT they belong to."""
    csq = ",".join([_entry("C", "missense_variant", "c.1001T>C"),
                    _entry("G", "missense_variant", "c.1001T>G")])
    path = _vcf(tmp_path, [f"13\t32906000\t.\tAT\tAC,AG\t50\tPASS\tCSQ={csq}"])
    before = table_snapshot(db_url)
    with pytest.raises(VcfError, match=r"variants\.vcf, line 5: the CSQ of this line with 2 "
                                       r"ALT alleles cannot be split per ALT"):
        _deposit(db_url, ella_config, path)
    assert table_snapshot(db_url) == before


def _clinvar(traitname):
    """CLINVARJSON as the legacy config reads it; `traitname` is JSON text of one string."""
    text = ('{"variant_description": "criteria provided, single submitter", "variant_id": 1, '
            '"rcvs": {"RCV000001": {"traitnames": [' + traitname + '], '
            '"clinical_significance_descr": ["Pathogenic"], "variant_id": ["1"], '
            '"submitter": ["Lab"], "last_evaluated": ["2017-01-01"]}}}')
    return base64.b16encode(text.encode()).decode()


@pytest.mark.parametrize("traitname", ['"a\\u0000b"', '"a\\ud800b"'])
def test_text_jsonb_cannot_hold_is_refused_with_its_line(db_url, ella_config, tmp_path,
                                                         traitname):
    """A NUL or an unpaired surrogate decoded from CLINVARJSON: PostgreSQL refused the row
    with a raw error naming no line."""
    plain = _clinvar('"x"')
    path = _vcf(tmp_path, [f"13\t32906000\t.\tA\tG\t50\tPASS\tCLINVARJSON={plain}",
                           f"13\t32906001\t.\tA\tG\t50\tPASS\tCLINVARJSON={_clinvar(traitname)}"])
    before = table_snapshot(db_url)
    with pytest.raises(VcfError, match=r"line 6: annotation value external\.CLINVAR\.items\.0"
                                       r"\.traitnames has a NUL character or an unpaired "
                                       r"surrogate"):
        _deposit(db_url, ella_config, path)
    assert table_snapshot(db_url) == before
    # Characters beyond the BMP (a surrogate pair in JSON) are stored as they are.
    dna = _clinvar(json.dumps("Ménière \U0001F9EC"))
    path = _vcf(tmp_path, [f"13\t32906001\t.\tA\tG\t50\tPASS\tCLINVARJSON={dna}"],
                name="ok.vcf")
    _deposit(db_url, ella_config, path)
    assert _current(db_url)["A>G"]["external"]["CLINVAR"]["items"][0]["traitnames"] == \
        "Ménière \U0001F9EC"


def test_a_value_turned_from_1_into_true_is_a_new_annotation(db_url, ella_config, tmp_path):
    """Python's 1 == True kept the old annotation (summary 'unchanged'); in JSON they differ."""
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE annotationconfig SET deposit = %s", (json.dumps([
            {"name": "keyvalue", "converter_config": {"elements": [
                {"source": "X", "target": "prediction.x"}]}}]),))
        conn.commit()
    integer = _vcf(tmp_path, ["13\t32906000\t.\tA\tG\t50\tPASS\tX=1"], name="int.vcf",
                   header=_header(extra='##INFO=<ID=X,Number=1,Type=Integer,Description="x">\n'))
    flag = _vcf(tmp_path, ["13\t32906000\t.\tA\tG\t50\tPASS\tX"], name="flag.vcf",
                header=_header(extra='##INFO=<ID=X,Number=0,Type=Flag,Description="x">\n'))
    _deposit(db_url, ella_config, integer)
    assert _deposit(db_url, ella_config, integer)["annotations_unchanged"] == 1
    stats = _deposit(db_url, ella_config, flag)
    assert (stats["annotations_new"], stats["annotations_unchanged"]) == (1, 0)
    assert _current(db_url)["A>G"]["prediction"]["x"] is True


def test_a_csq_format_without_strand_is_a_clear_error(db_url, ella_config, tmp_path):
    """It was "Error when trying to convert source 'CSQ' ...: 'STRAND'" (a KeyError)."""
    fields = tuple(f for f in CSQ_FIELDS if f != "STRAND")
    csq = _entry("G", "missense_variant", "c.1000A>G", fields)
    path = _vcf(tmp_path, ["13\t32906000\t.\tA\tG\t50\tPASS\tCSQ=.",
                           f"13\t32906001\t.\tA\tG\t50\tPASS\tCSQ={csq}"],
                header=_header(fields))
    with pytest.raises(VcfError, match=r"line 6: .*\(converter vep, target transcripts\): "
                                       r"the CSQ entry of NM_000059.3 has no STRAND: the "
                                       r"header's CSQ Format lacks it"):
        _deposit(db_url, ella_config, path)


@pytest.mark.parametrize("converter, description", [
    ("meta", "Scores a_score|b_pred and also c_x|d_y"),
    ("hgmdextrarefs", "HGMD extra references without a format"),
])
def test_a_header_line_a_converter_cannot_read_names_the_file_and_field(
        db_url, ella_config, tmp_path, converter, description):
    """It said only "annotation config 2: expected exactly one match of ...": with several
    files on the command line the operator could not tell which file or ##INFO line."""
    config = {"deposit": [{"name": converter, "converter_config": {"elements": [
        {"source": "META", "target": "prediction.meta"}]}}], "view": []}
    with psycopg.connect(db_url) as conn:
        update_annotation_config(conn, config)
    extra = f'##INFO=<ID=META,Number=1,Type=String,Description="{description}">\n'
    path = _vcf(tmp_path, ["13\t32906892\t.\tA\tT\t.\tPASS\tMETA=0.5|D"],
                header=_header(extra=extra), name="scores.vcf")
    before = table_snapshot(db_url)
    with pytest.raises(DepositError) as info:
        _deposit(db_url, ella_config, path)
    assert str(info.value).startswith(f"{path}: annotation config ")
    assert "the ##INFO line of META: " in str(info.value)
    assert table_snapshot(db_url) == before


GNOMAD_AN = '##INFO=<ID=GNOMAD_EXOMES__AN,Number=1,Type=Integer,Description="an">\n'


@pytest.mark.parametrize("info,extra,named", [
    ("GNOMAD_EXOMES__AN=3000000000", GNOMAD_AN,
     'frequencies.GNOMAD_EXOMES.num.G = 3000000000 does not fit the integer column '
     '"GNOMAD_EXOMES_num.G" of annotationshadowfrequency (it is beyond a 32-bit integer)'),
    ("CSQ=" + _entry("G", "missense_variant", "c.1000A>G", HGNC_ID="3000000000"), "",
     "transcripts[0].hgnc_id = 3000000000 does not fit the integer column hgnc_id of "
     "annotationshadowtranscript (it is beyond a 32-bit integer)"),
    ("CSQ=" + _entry("G", "intron_variant", "c.100+3000000000A>G"), "",
     "transcripts[0].exon_distance = 3000000000 does not fit the integer column "
     "exon_distance of annotationshadowtranscript (it is beyond a 32-bit integer)"),
])
def test_a_value_the_shadow_tables_cannot_hold_is_refused_with_its_line(
        db_url, ella_config, tmp_path, info, extra, named):
    """The shadow rows cast some annotation values to integer: one beyond 32 bits failed the
    deposit with PostgreSQL's 'value "3000000000" is out of range for type integer', which
    named no file, line or value."""
    header = _header(extra=extra)
    path = _vcf(tmp_path, [f"13\t32906000\t.\tA\tG\t50\tPASS\t{info}"], header=header)
    before = table_snapshot(db_url)
    with pytest.raises(VcfError) as refused:
        _deposit(db_url, ella_config, path)
    line = len(header.splitlines()) + 1
    assert str(refused.value) == f"{path}, line {line}: annotation value {named}"
    assert table_snapshot(db_url) == before


def test_a_site_config_giving_a_count_as_a_float_is_refused_with_its_line(
        db_url, ella_config, tmp_path):
    """A deposit config that casts gnomAD's AN to float (`ella-annotationconfig update`
    refuses it now, but an adopted ELLA database may hold one): the shadow row's ::integer of
    "100.0" failed with 'invalid input syntax'."""
    config = legacy_annotation_config()
    for converter in config["deposit"]:
        for element in converter["converter_config"]["elements"]:
            if element["source"] == "GNOMAD_EXOMES__AN":
                element["target_type"] = "float"
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO annotationconfig (deposit, view, date_created) "
                     "VALUES (%s, %s, now())", (Jsonb(config["deposit"]), Jsonb(config["view"])))
    path = _vcf(tmp_path, ["13\t32906000\t.\tA\tG\t50\tPASS\tGNOMAD_EXOMES__AN=100"],
                header=_header(extra=GNOMAD_AN))
    before = table_snapshot(db_url)
    with pytest.raises(VcfError, match=r"line 6: annotation value frequencies\.GNOMAD_EXOMES\."
                                       r"num\.G = 100\.0 does not fit the integer column "):
        _deposit(db_url, ella_config, path)
    assert table_snapshot(db_url) == before


# Values the shadow rows cast, in JSON: each verdict is compared with what the test server
# itself does with the cast (PostgreSQL 16 reads "1_000" and "0x1F" as integers, older
# versions do not: the check follows the server's version).
INTEGER_CELLS = [1, -2147483648, 2147483647, None, 2147483648, -2147483649, 100.0, 1e20, True,
                 [1], {"a": 1}, "12", " -12\n", "007", "2147483648", "1.0", "abc", "", "1_000",
                 "0x1F", "0x80000000", "0o17", "0o9", "0b2", "0oFF", "0b1F", "0b101", "+ 1",
                 "\u0661\u0662", "\u2003 12", "1__0", "_1",
                 # Python's int() reads no more than 4,300 digits: the check crashed.
                 "1" * 5000, "-" + "1" * 5000, "0" * 5000 + "12", "-0000000000002147483648"]
DOUBLE_CELLS = [0.5, 3, 10 ** 308, None, 10 ** 400, True, [0.1], "0.5", " 1e-3 ", "NaN",
                "Infinity", "-inf", "+INF", "1e400", "abc", "", "0x1p3", "0x.8p1", "x", "max",
                "1_0", "\u0661", "1e-400", "5e-324", "0.000", " .5 ", "5.", "1e", "nan(123)",
                "0x", "0x1p", "1e+5"]


def _refused_by_postgresql(conn, query, value):
    try:
        with conn.transaction():
            conn.execute(query, (json.dumps({"v": value}),))
    except psycopg.DataError:
        return True
    return False


@pytest.mark.parametrize("value", INTEGER_CELLS, ids=lambda value: repr(value)[:30])
def test_the_integer_cells_refused_are_those_postgresql_refuses(db_conn, value):
    problem = shadow_value_problem({"transcripts": [{"hgnc_id": value}]}, [],
                                   db_conn.info.server_version)
    refused = _refused_by_postgresql(db_conn, "SELECT (%s::jsonb ->> 'v')::integer", value)
    assert (problem is not None) == refused, problem


@pytest.mark.parametrize("value", DOUBLE_CELLS, ids=lambda value: repr(value)[:30])
def test_the_double_cells_refused_are_those_postgresql_refuses(db_conn, value):
    problem = shadow_value_problem({"frequencies": {"P": {"freq": {"G": value}}}}, [("P", "G")],
                                   db_conn.info.server_version)
    refused = _refused_by_postgresql(db_conn, "SELECT (%s::jsonb ->> 'v')::double precision",
                                     value)
    assert (problem is not None) == refused, problem


@pytest.mark.parametrize("value,version,refused", [
    ("1_000", 150000, True), ("1_000", 160000, False), ("0x1F", 150000, True),
    ("0x1F", 160000, False), ("0o9", 160000, True), ("0b2", 160000, True),
    ("0x80000000", 160000, True), ("-0x80000000", 160000, False),
    ("1_" * 3000 + "1", 160000, True), ("-" + "9" * 5000, 150000, True)])
def test_integer_text_is_read_as_the_servers_version_reads_it(value, version, refused):
    problem = shadow_value_problem({"transcripts": [{"exon_distance": value}]}, [], version)
    assert (problem is not None) == refused, problem


def test_the_trigger_path_checks_the_columns_the_database_casts(db_url, ella_config,
                                                                tmp_path):
    """When the config's frequency groups differ from the shadow table (`ella-db refresh`
    due), the triggers write the shadow rows and cast the table's columns: a value of a
    column the config dropped failed raw, one of a column only the config has was refused
    although nothing casts it."""
    import copy
    config = copy.deepcopy(ella_config)
    groups = config["frequencies"]["groups"]["external"]["GNOMAD_EXOMES"]
    groups.remove("G")  # still a column of the table: the triggers cast it
    groups.append("ONLY_IN_CONFIG")
    header = _header(extra=GNOMAD_AN)
    path = _vcf(tmp_path, ["13\t32906000\t.\tA\tG\t50\tPASS\tGNOMAD_EXOMES__AN=3000000000"],
                header=header)
    before = table_snapshot(db_url)
    with pytest.raises(VcfError, match=r"annotation value frequencies\.GNOMAD_EXOMES\.num\.G "
                                       r"= 3000000000 does not fit the integer column"):
        _deposit(db_url, config, path)
    assert table_snapshot(db_url) == before
    # A value only the config's new column would hold is not cast by anything: stored.
    with psycopg.connect(db_url) as conn:
        update_annotation_config(conn, _config_with_only_in_config_count())
        conn.commit()
    extra = '##INFO=<ID=ONLY_COUNT,Number=1,Type=Integer,Description="x">\n'
    path = _vcf(tmp_path, ["13\t32906000\t.\tA\tG\t50\tPASS\tONLY_COUNT=3000000000"],
                header=_header(extra=extra), name="second.vcf")
    _deposit(db_url, config, path)
    assert _current(db_url)["A>G"]["frequencies"]["GNOMAD_EXOMES"]["num"] == {
        "ONLY_IN_CONFIG": 3000000000}


def _config_with_only_in_config_count():
    config = legacy_annotation_config()
    keyvalue = next(c for c in config["deposit"] if c["name"] == "keyvalue")
    keyvalue["converter_config"]["elements"].append({
        "source": "ONLY_COUNT", "target": "frequencies.GNOMAD_EXOMES.num.ONLY_IN_CONFIG",
        "target_type": "int"})
    return config
