"""ACMG over HTTP and against the database: POST acmg/alleles/, GET acmg/classifications/
(api.md 2.11, 4.23), the ACMG config resolver and frequency commonness (acmg.md 3)."""

import copy

import psycopg
import pytest
from psycopg.types.json import Jsonb

from api_client import Client
from api_helpers import logged_in_client
from ella.acmg.acmgconfig import AcmgConfigError, commonness, frequency_config_problem, \
    resolve_gene
from ella.acmg.engine import suggested_criteria
from ella.web.app import create_app

ACMG_ALLELES = "/api/v1/acmg/alleles/"
CLASSIFICATIONS = "/api/v1/acmg/classifications/"
GNOMAD_KEYS = ["G", "AFR", "AMR", "EAS", "FIN", "NFE", "OTH", "SAS"]

# acmg.md 3.1 defaults, with the fixture's BRCA2 override
ACMG = {
    "disease_mode": "ANY",
    "last_exon_important": "LEI",
    "frequency": {
        "groups": {"external": {"GNOMAD_GENOMES": GNOMAD_KEYS, "GNOMAD_EXOMES": GNOMAD_KEYS},
                   "internal": {"inDB": ["OUSWES"]}},
        "thresholds": {
            "AD": {"external": {"hi_freq_cutoff": 0.005, "lo_freq_cutoff": 0.001},
                   "internal": {"hi_freq_cutoff": 0.05, "lo_freq_cutoff": 1.0}},
            "default": {"external": {"hi_freq_cutoff": 0.01, "lo_freq_cutoff": 1.0},
                        "internal": {"hi_freq_cutoff": 0.05, "lo_freq_cutoff": 1.0}},
        },
        "num_thresholds": {p: {k: 5000 for k in GNOMAD_KEYS}
                           for p in ("GNOMAD_GENOMES", "GNOMAD_EXOMES")},
    },
    "genes": {"1101": {
        "frequency": {"thresholds": {
            "external": {"hi_freq_cutoff": 0.008, "lo_freq_cutoff": 0.0005},
            "internal": {"hi_freq_cutoff": 0.008, "lo_freq_cutoff": 0.0005}}},
        "disease_mode": "ANY", "last_exon_important": "LENI",
        "comment": "BRCA2: last exon not important"}},
}


# -- resolver (acceptance criteria 38, 39) -----------------------------------------------

def test_38_gene_without_override_gets_defaults():
    resolved = resolve_gene(ACMG, {1502: None}, 1502)
    assert resolved == {"disease_mode": "ANY", "last_exon_important": "LEI",
                        "freq_cutoffs": ACMG["frequency"]["thresholds"]["default"]}
    assert resolve_gene(ACMG, {}, None)["freq_cutoffs"] == ACMG["frequency"]["thresholds"][
        "default"]
    ad = resolve_gene(ACMG, {7: "AD"}, 7)
    assert ad["inheritance"] == "AD"
    assert ad["freq_cutoffs"] == ACMG["frequency"]["thresholds"]["AD"]


def test_39_gene_override_replaces_cutoffs_and_values():
    acmg = copy.deepcopy(ACMG)
    acmg["genes"]["1101"] = {
        "frequency": {"thresholds": {"external": {"hi_freq_cutoff": 0.55, "lo_freq_cutoff": 0.45},
                                     "internal": {"hi_freq_cutoff": 0.33,
                                                  "lo_freq_cutoff": 0.22}}},
        "disease_mode": "MISS", "last_exon_important": "LENI", "inheritance": "XD"}
    resolved = resolve_gene(acmg, {1101: "AD"}, 1101)
    assert resolved == {"disease_mode": "MISS", "last_exon_important": "LENI",
                        "inheritance": "XD",
                        "freq_cutoffs": acmg["genes"]["1101"]["frequency"]["thresholds"]}
    assert acmg["genes"]["1101"]["frequency"]   # the config itself is untouched


# -- commonness (acmg.md 3.3 cases, on this project's frequency columns) -------------------

COMMON_ACMG = {
    "frequency": {
        "groups": {"external": {"GNOMAD_EXOMES": ["G", "FIN"], "GNOMAD_GENOMES": ["G"]},
                   "internal": {"inDB": ["OUSWES"]}},
        "thresholds": {
            "AD": {"external": {"hi_freq_cutoff": 0.005, "lo_freq_cutoff": 0.001},
                   "internal": {"hi_freq_cutoff": 0.05, "lo_freq_cutoff": 0.01}},
            "default": {"external": {"hi_freq_cutoff": 0.3, "lo_freq_cutoff": 0.1},
                        "internal": {"hi_freq_cutoff": 0.05, "lo_freq_cutoff": 0.01}}},
        "num_thresholds": {"GNOMAD_EXOMES": {"G": 2000, "FIN": 2000}},
    },
    "genes": {"300000": {"frequency": {"thresholds": {
        "external": {"hi_freq_cutoff": 0.5, "lo_freq_cutoff": 0.1},
        "internal": {"hi_freq_cutoff": 0.7, "lo_freq_cutoff": 0.6}}}},
              # A stricter override on a higher HGNC id (the order must not matter).
              "400000": {"frequency": {"thresholds": {
                  "external": {"hi_freq_cutoff": 0.01, "lo_freq_cutoff": 0.001}}}}},
}
AD_GENE, AR_GENE, OVERRIDE_GENE, OTHER_GENE = 1100, 1200, 300000, 999
STRICT_OVERRIDE_GENE = 400000


def annotated_snv(conn, annotation, chromosome="1"):
    """A new SNV after every existing allele, with `annotation` as its current annotation."""
    pos = conn.execute("SELECT coalesce(max(start_position), 1000) + 10 FROM allele"
                       ).fetchone()[0]
    allele_id = conn.execute(
        "INSERT INTO allele (genome_reference, chromosome, start_position, open_end_position, "
        "change_from, change_to, change_type, vcf_pos, vcf_ref, vcf_alt, length, caller_type) "
        "VALUES ('GRCh37', %s, %s, %s, 'A', 'G', 'SNP', %s, 'A', 'G', 1, 'snv') RETURNING id",
        (chromosome, pos, pos + 1, pos + 1)).fetchone()[0]
    conn.execute("INSERT INTO annotation (allele_id, annotations, date_created, "
                 "annotation_config_id) VALUES (%s, %s, now(), 1)", (allele_id, Jsonb(annotation)))
    return allele_id


def _allele(conn, genes, frequencies):
    return annotated_snv(conn, {
        "transcripts": [{"transcript": f"NM_{g}.1", "hgnc_id": g, "symbol": f"G{g}",
                         "consequences": ["missense_variant"], "strand": 1,
                         "in_last_exon": "no", "is_canonical": True} for g in genes],
        "frequencies": frequencies})


def exomes(g=None, g_num=9000, fin=None, fin_num=9000):
    freq, num = {}, {}
    if g is not None:
        freq["G"], num["G"] = g, g_num
    if fin is not None:
        freq["FIN"], num["FIN"] = fin, fin_num
    return {"GNOMAD_EXOMES": {"freq": freq, "num": num}}


@pytest.mark.parametrize("genes,frequencies,expected", [
    ([AD_GENE], exomes(0.0051), "common"),
    ([AR_GENE], exomes(0.25), "less_common"),
    ([OTHER_GENE], exomes(0.001), "low_freq"),
    ([AD_GENE], {}, "null_freq"),
    ([OVERRIDE_GENE], exomes(0.3), "less_common"),
    ([OVERRIDE_GENE, AD_GENE], exomes(0.006), "low_freq"),
    ([AD_GENE], exomes(0.0051, g_num=1999), "num_threshold"),
    # No allele number where a threshold asks for one: not a frequency to trust (BA1/BS1
    # are not suggested from it).
    ([AD_GENE], {"GNOMAD_EXOMES": {"freq": {"G": 0.0051}, "num": {}}}, "num_threshold"),
    ([AD_GENE], exomes(0.0051, g_num=1999, fin=0.0051, fin_num=2000), "common"),
    ([AD_GENE], {**exomes(0.0051, g_num=1999),
                 "GNOMAD_GENOMES": {"freq": {"G": 0.01}, "num": {"G": 10}}}, "common"),
    ([AD_GENE], {**exomes(0.0051), "GNOMAD_GENOMES": {"freq": {"G": 0.0001}, "num": {}}},
     "common"),
    ([AD_GENE], {**exomes(0.002), "GNOMAD_GENOMES": {"freq": {"G": 0.0001}, "num": {}}},
     "less_common"),
    ([AD_GENE], exomes(0.0001), "low_freq"),
    ([AD_GENE], {"inDB": {"freq": {"OUSWES": 0.06}, "num": {"OUSWES": 100}}}, "common"),
    # In two override genes: tested against each (filtering.md 2.1); 0.3 is common for the
    # stricter one although the other (and lower HGNC id) says less_common.
    ([OVERRIDE_GENE, STRICT_OVERRIDE_GENE], exomes(0.3), "common"),
    ([OVERRIDE_GENE, STRICT_OVERRIDE_GENE], exomes(0.005), "less_common"),
    ([STRICT_OVERRIDE_GENE], exomes(0.3), "common"),
    # The strict override tests only external columns: an internal frequency alone is
    # "not tested" for it, but the other override finds it.
    ([STRICT_OVERRIDE_GENE], {"inDB": {"freq": {"OUSWES": 0.65}, "num": {}}}, "null_freq"),
    ([OVERRIDE_GENE, STRICT_OVERRIDE_GENE], {"inDB": {"freq": {"OUSWES": 0.65}, "num": {}}},
     "less_common"),
    ([OVERRIDE_GENE, STRICT_OVERRIDE_GENE], {}, "null_freq"),
    # The cutoffs themselves (acmg.md 3.3: common at >= hi, less common at >= lo): BA1 and
    # BS1 for a frequency exactly at the cutoff.
    ([AD_GENE], exomes(0.005), "common"),
    ([AD_GENE], exomes(0.001), "less_common"),
    # On an AD gene and another: the AD cutoffs (any AD transcript), not the default ones.
    ([AD_GENE, AR_GENE], exomes(0.0051), "common"),
])
def test_commonness(db_conn, genes, frequencies, expected):
    allele_id = _allele(db_conn, genes, frequencies)
    inheritance = {AD_GENE: "AD", AR_GENE: "AR", OVERRIDE_GENE: None}
    assert commonness(db_conn, COMMON_ACMG, inheritance, [allele_id]) == {allele_id: expected}


def test_a_variant_without_frequency_data_is_below_the_number_threshold(db_conn):
    """acmg.md 3.3: num_threshold also for an allele without a shadow row (no annotation):
    taken for absent from controls, it got PPxPM2."""
    allele_id = db_conn.execute(
        "INSERT INTO allele (genome_reference, chromosome, start_position, open_end_position, "
        "change_from, change_to, change_type, vcf_pos, vcf_ref, vcf_alt, length, caller_type) "
        "VALUES ('GRCh37', '2', 5000, 5001, 'A', 'G', 'SNP', 5001, 'A', 'G', 1, 'snv') "
        "RETURNING id").fetchone()[0]
    assert commonness(db_conn, COMMON_ACMG, {}, [allele_id]) == {allele_id: "num_threshold"}


def test_an_override_with_null_num_thresholds_keeps_the_top_level_ones(db_conn):
    """acmg.md 3.3: an override gene uses its num_thresholds if given, else the top-level
    ones; a null is none given (it disabled every minimum: 10 alleles made it common, BA1),
    while `{}` asks for no minimum."""
    few_alleles = exomes(0.6, g_num=10)
    for given, expected in ((None, "num_threshold"), ({}, "common")):
        acmg = copy.deepcopy(COMMON_ACMG)
        acmg["genes"]["300000"]["frequency"]["num_thresholds"] = given
        allele_id = _allele(db_conn, [OVERRIDE_GENE], few_alleles)
        assert commonness(db_conn, acmg, {}, [allele_id]) == {allele_id: expected}


def test_two_override_genes_give_ba1_for_a_common_variant(db_conn):
    """Through the rule engine: the stricter of two override genes makes the variant
    common, so BA1 is suggested (it was not when only the lowest HGNC id's override
    counted)."""
    frequencies = exomes(0.3)
    annotation_genes = [OVERRIDE_GENE, STRICT_OVERRIDE_GENE]
    allele_id = _allele(db_conn, annotation_genes, frequencies)
    annotation = db_conn.execute("SELECT annotations FROM annotation WHERE allele_id = %s",
                                 (allele_id,)).fetchone()[0]
    result = suggested_criteria(db_conn, COMMON_ACMG, [{"id": allele_id,
                                                        "annotation": annotation}],
                                ("NOPANEL", "v0"))
    codes = [c["code"] for c in result[str(allele_id)]["codes"]]
    assert "BA1" in codes and "REQ_hi_freq" in codes, codes


def _acmg_without(*path):
    acmg = copy.deepcopy(COMMON_ACMG)
    node = acmg
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return acmg


def _acmg_with(value, *path):
    acmg = copy.deepcopy(COMMON_ACMG)
    node = acmg
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return acmg


@pytest.mark.parametrize("acmg,message", [
    (_acmg_without("frequency", "thresholds", "AD"),
     "acmg.frequency.thresholds.AD must be an object"),
    (_acmg_without("frequency", "thresholds"),
     "acmg.frequency.thresholds is missing (AD and default)"),
    (_acmg_without("frequency", "groups"), "acmg.frequency.groups is missing"),
    (_acmg_with({}, "frequency", "thresholds", "default"),
     "acmg.frequency.thresholds.default must be an object"),
    (_acmg_with({"external": {"hi_freq_cutoff": 0.1}}, "frequency", "thresholds", "default"),
     "acmg.frequency.thresholds.default.external.lo_freq_cutoff must be a number"),
    (_acmg_with({"external": {"hi_freq_cutoff": "0.1", "lo_freq_cutoff": 0.01}},
                "frequency", "thresholds", "default"),
     "acmg.frequency.thresholds.default.external.hi_freq_cutoff must be a number"),
    (_acmg_with({"externl": {"hi_freq_cutoff": 0.1, "lo_freq_cutoff": 0.01}},
                "frequency", "thresholds", "default"),
     "acmg.frequency.thresholds.default: unknown group(s) externl"),
    # Cutoffs for a group without columns test nothing: every variant would be null_freq.
    (_acmg_with({"external": {}}, "frequency", "groups"),
     "acmg.frequency.thresholds.AD tests no frequency column"),
    (_acmg_with({"num_thresholds": {}}, "genes", "300000", "frequency"),
     "acmg.genes.300000.frequency.thresholds must be an object"),
    (_acmg_with({"GNOMAD_EXOMES": 5}, "frequency", "num_thresholds"),
     "acmg.frequency.num_thresholds must map providers to {key: number}"),
    (_acmg_with({"frequency": {}}, "genes", "BRCA2"),
     "acmg.genes: BRCA2 is not an HGNC id"),
    # One gene twice: the frequency check used one override, the gene settings the other.
    (_acmg_with({"last_exon_important": "LENI"}, "genes", "0300000"),
     "acmg.genes: 300000 and 0300000 name the same HGNC id"),
    # str.isdigit() takes a superscript two, int() does not (it was a ValueError).
    (_acmg_with({"last_exon_important": "LENI"}, "genes", "1101\u00b2"),
     "acmg.genes: 1101\u00b2 is not an HGNC id"),
])
def test_incomplete_acmg_frequency_config_is_refused(db_conn, acmg, message):
    allele_id = _allele(db_conn, [AD_GENE], exomes(0.5))
    with pytest.raises(AcmgConfigError) as refused:
        commonness(db_conn, acmg, {AD_GENE: "AD"}, [allele_id])
    assert message in str(refused.value)
    assert frequency_config_problem(acmg).startswith(message)
    assert frequency_config_problem(COMMON_ACMG) is None


# -- HTTP on the real ELLA database --------------------------------------------------------

def _set_group_acmg(db_url, group_name, acmg):
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE usergroup SET config = config || %s WHERE name = %s",
                     (Jsonb({"acmg": acmg}), group_name))


def _allele_id(db_url, vcf_pos, ref, alt):
    with psycopg.connect(db_url) as conn:
        return conn.execute("SELECT id FROM allele WHERE chromosome = '13' AND vcf_pos = %s "
                            "AND vcf_ref = %s AND vcf_alt = %s", (vcf_pos, ref, alt)).fetchone()[0]


@pytest.fixture
def client(demo_api_app, demo_db_url):
    return logged_in_client(demo_api_app, demo_db_url, "testuser1")


def test_suggested_codes_for_a_brca2_stop_gained(client, demo_db_url):
    _set_group_acmg(demo_db_url, "testgroup01", ACMG)
    allele_id = _allele_id(demo_db_url, 32890607, "G", "T")
    result = client.post(ACMG_ALLELES, {"allele_ids": [str(allele_id)], "gp_name": "HBOCUTV",
                                        "gp_version": "v01", "referenceassessments": []})
    assert result.status == 200, result.body
    assert list(result.json) == [str(allele_id)]
    codes = result.json[str(allele_id)]["codes"]
    by_code = {c["code"]: c for c in codes}
    assert by_code["REQ_GP_last_exon_not_important"] == {
        "code": "REQ_GP_last_exon_not_important", "match": ["LENI"], "op": "$in",
        "source": "genepanel.last_exon_important", "value": ["LENI"]}
    assert by_code["REQ_null_variant"]["match"] == ["stop_gained"]
    assert by_code["PVS1"] == {"code": "PVS1", "source": None, "match": None, "op": None}
    criteria = [c["code"] for c in codes if not c["code"].startswith("REQ")]
    assert "PVS1" in criteria and "BA1" not in criteria


def test_suggested_codes_with_the_databases_own_group_config(client, demo_db_url):
    allele_id = _allele_id(demo_db_url, 32890607, "G", "T")
    result = client.post(ACMG_ALLELES, {"allele_ids": [allele_id], "gp_name": "HBOCUTV",
                                        "gp_version": "v01"})
    assert result.status == 200, result.body
    # api.md 4.23's captured response for this variant, complete (acmg.md 5 item 43)
    codes = result.json[str(allele_id)]["codes"]
    assert [c["code"] for c in codes] == [
        "REQ_GP_last_exon_not_important", "REQ_GP_LOF_missense", "REQ_not_in_last_exon",
        "REQ_null_variant", "REQ_no_freq", "PVS1", "PPxPM2"]
    assert codes[-1] == {"code": "PPxPM2", "source": None, "match": None, "op": None}


def test_suggestions_equal_those_ella_stored_in_its_assessments(client, demo_db_url):
    """ELLA kept its own rule engine's suggestions in each assessment's evaluation.acmg.suggested
    (testuser1's group config, HBOCUTV v01): ours for the same variants are the same."""
    with psycopg.connect(demo_db_url) as conn:
        stored = conn.execute("SELECT allele_id, evaluation FROM alleleassessment").fetchall()
    assert len(stored) == 6
    result = client.post(ACMG_ALLELES, {"allele_ids": [a for a, _ in stored],
                                        "gp_name": "HBOCUTV", "gp_version": "v01",
                                        "referenceassessments": []})
    assert result.status == 200, result.body

    def codes(items):
        return sorted((c["code"], tuple(c.get("match") or ()), c.get("source") or "")
                      for c in items)
    for allele_id, evaluation in stored:
        assert codes(result.json[str(allele_id)]["codes"]) == \
            codes(evaluation["acmg"]["suggested"]), allele_id


def test_reference_assessments_feed_the_rules(client, demo_db_url):
    _set_group_acmg(demo_db_url, "testgroup01", ACMG)
    allele_id = _allele_id(demo_db_url, 32890607, "G", "T")
    refs = [{"allele_id": allele_id, "reference_id": 1,
             "evaluation": {"ref_segregation": "segr"}},
            {"allele_id": allele_id, "reference_id": 2, "id": 5, "reuse": True,
             "evaluation": {"ref_segregation_quality": "segr_HQ"}}]
    result = client.post(ACMG_ALLELES, {"allele_ids": [allele_id], "gp_name": "HBOCUTV",
                                        "gp_version": "v01", "referenceassessments": refs})
    assert result.status == 200, result.body
    codes = result.json[str(allele_id)]["codes"]
    sources = {c["code"]: c["source"] for c in codes}
    assert sources["REQ_segregation"] == f"refassessment.{allele_id}_1.ref_segregation"
    assert "PSxPP1" in sources


def test_reference_assessments_reach_only_their_own_variant(client, demo_db_url):
    """acmg.md 2.1: `refassessment` holds the request's reference assessments of that
    allele only; one variant's confirmed de novo must not give another PS2."""
    _set_group_acmg(demo_db_url, "testgroup01", ACMG)
    first = _allele_id(demo_db_url, 32890607, "G", "T")
    with psycopg.connect(demo_db_url) as conn:
        other = conn.execute("SELECT min(id) FROM allele WHERE id <> %s",
                             (first,)).fetchone()[0]
    refs = [{"allele_id": first, "reference_id": 1,
             "evaluation": {"ref_de_novo": "de_novo_confirmed"}}]
    result = client.post(ACMG_ALLELES, {"allele_ids": [first, other], "gp_name": "HBOCUTV",
                                        "gp_version": "v01", "referenceassessments": refs})
    assert result.status == 200, result.body
    sources = {allele: {c["code"]: c["source"] for c in result.json[str(allele)]["codes"]}
               for allele in (first, other)}
    assert "PS2" in sources[first]
    assert "PS2" not in sources[other]
    assert not [s for s in sources[other].values() if s and s.startswith("refassessment")]


def test_group_without_acmg_config_is_a_clear_error(client, demo_db_url):
    with psycopg.connect(demo_db_url) as conn:
        conn.execute("UPDATE usergroup SET config = config - 'acmg' WHERE name = 'testgroup01'")
    allele_id = _allele_id(demo_db_url, 32890607, "G", "T")
    result = client.post(ACMG_ALLELES, {"allele_ids": [allele_id], "gp_name": "HBOCUTV",
                                        "gp_version": "v01"})
    assert result.status == 500
    assert "testgroup01" in result.json["message"] and "ACMG" in result.json["message"]


def test_a_users_own_broken_acmg_config_is_named_as_the_users(client, demo_db_url):
    """The user's own `acmg` replaces the group's; the message named the group either way,
    sending the administrator to a config that was fine."""
    _set_group_acmg(demo_db_url, "testgroup01", ACMG)
    allele_id = _allele_id(demo_db_url, 32890607, "G", "T")
    body = {"allele_ids": [allele_id], "gp_name": "HBOCUTV", "gp_version": "v01"}
    for own, message in (
            ({**copy.deepcopy(ACMG), "disease_mode": "LOFF"},
             "ACMG config error (in user 'testuser1''s own config): acmg.disease_mode is "
             "'LOFF'"),
            ({}, "User 'testuser1' has an empty ACMG config of their own, which replaces the "
                 "group's: remove it or fill it in (acmg.md 3.1)")):
        with psycopg.connect(demo_db_url) as conn:
            conn.execute("UPDATE \"user\" SET config = coalesce(config, '{}') || %s "
                         "WHERE username = 'testuser1'", (Jsonb({"acmg": own}),))
        result = client.post(ACMG_ALLELES, body)
        assert result.status == 500 and result.json["message"].startswith(message), \
            result.json


def test_acmg_config_without_frequency_groups_is_a_clear_error(client, demo_db_url):
    _set_group_acmg(demo_db_url, "testgroup01", {"disease_mode": "ANY",
                                                 "last_exon_important": "LEI"})
    allele_id = _allele_id(demo_db_url, 32890607, "G", "T")
    result = client.post(ACMG_ALLELES, {"allele_ids": [allele_id], "gp_name": "HBOCUTV",
                                        "gp_version": "v01"})
    assert result.status == 500
    assert "acmg.frequency.groups" in result.json["message"]


@pytest.mark.parametrize("change, message", [
    ({"disease_mode": "LOFF"}, "acmg.disease_mode is 'LOFF'; it must be one of ANY, LOF, MISS, "
                               "MISSCOMM, MISSUNC (or a list of them)"),
    ({"last_exon_important": "LEN"}, "acmg.last_exon_important is 'LEN'; it must be one of "
                                     "LEI, LENI"),
    ({"genes": {"1101": {"disease_mode": "lof"}}}, "acmg.genes.1101.disease_mode is 'lof'"),
    ({"disease_mode": None}, "acmg.disease_mode is None"),
])
def test_gene_settings_the_rules_do_not_know_are_a_clear_error(client, demo_db_url, change,
                                                                message):
    """A group config stored before `ella-users` checked these (an adopted database): an
    unknown value matched no rule, and a null variant silently lost PVS1."""
    _set_group_acmg(demo_db_url, "testgroup01", {**copy.deepcopy(ACMG), **change})
    allele_id = _allele_id(demo_db_url, 32890607, "G", "T")
    result = client.post(ACMG_ALLELES, {"allele_ids": [allele_id], "gp_name": "HBOCUTV",
                                        "gp_version": "v01"})
    assert result.status == 500 and message in result.json["message"], result.json
    # A list of known modes is what the engine accepts (acmg.md 4); both may be left out,
    # as api.md's ACMGUserConfig allows (ELLA then suggests no rule that needs them).
    without = {k: v for k, v in copy.deepcopy(ACMG).items()
               if k not in ("disease_mode", "last_exon_important")}
    # A stored gene override's inheritance the rules do not test (ELLA's panels write
    # `AD/AR`) matches no rule, as in ELLA; `ella-users` refuses it in a new config.
    for acmg in ({**copy.deepcopy(ACMG), "disease_mode": ["LOF", "MISS"]}, without,
                 {**copy.deepcopy(ACMG), "genes": {"1101": {"inheritance": "AR"}}},
                 {**copy.deepcopy(ACMG), "genes": {"1101": {"inheritance": "AD/AR"}}}):
        _set_group_acmg(demo_db_url, "testgroup01", acmg)
        assert client.post(ACMG_ALLELES, {"allele_ids": [allele_id], "gp_name": "HBOCUTV",
                                          "gp_version": "v01"}).status == 200, acmg


def test_gene_override_without_thresholds_is_a_clear_error(client, demo_db_url):
    acmg = copy.deepcopy(ACMG)
    acmg["genes"] = {"1101": {"frequency": {"num_thresholds": {"GNOMAD_EXOMES": {"G": 10}}}}}
    _set_group_acmg(demo_db_url, "testgroup01", acmg)
    allele_id = _allele_id(demo_db_url, 32890607, "G", "T")
    result = client.post(ACMG_ALLELES, {"allele_ids": [allele_id], "gp_name": "HBOCUTV",
                                        "gp_version": "v01"})
    assert result.status == 500
    assert result.json["message"] == ("ACMG config error: acmg.genes.1101.frequency.thresholds "
                                      "must be an object with external and/or internal cutoffs")


def test_suggested_codes_request_errors(client, demo_db_url, demo_api_app):
    _set_group_acmg(demo_db_url, "testgroup01", ACMG)
    body = {"allele_ids": [1], "gp_name": "HBOCUTV", "gp_version": "v01"}
    assert client.post(ACMG_ALLELES, {**body, "extra": 1}).status == 400
    assert client.post(ACMG_ALLELES, {**body, "allele_ids": ["x"]}).status == 400
    assert client.post(ACMG_ALLELES, {k: v for k, v in body.items() if k != "gp_name"}
                       ).status == 400
    assert client.post(ACMG_ALLELES, {**body, "referenceassessments": [
        {"allele_id": 1, "reference_id": 1, "evaluation": {}, "bogus": 1}]}).status == 400
    assert client.post(ACMG_ALLELES, {**body, "gp_name": "NOPE"}).status == 404
    assert client.post(ACMG_ALLELES, {**body, "allele_ids": [987654]}).status == 404
    assert Client(demo_api_app).post(ACMG_ALLELES, body).status == 403
    other = logged_in_client(demo_api_app, demo_db_url, "testuser4")
    assert other.post(ACMG_ALLELES, {**body, "gp_name": "HBOC"}).status == 403


def test_classifications_open_route(demo_api_app):
    anonymous = Client(demo_api_app)
    result = anonymous.get(CLASSIFICATIONS, query={"codes": "PVS1,PS2"})
    assert result.status == 200
    assert result.json == {"class": 5, "classification": "Pathogenic", "message": "Pathogenic",
                           "contributors": ["PVS1", "PS2"],
                           "meta": {"engine": "ella", "version": "ACMG2015-ELLA-1.17"}}
    assert anonymous.get(CLASSIFICATIONS, query={"codes": "PVS1"}).json["message"] == "None"
    assert anonymous.get(CLASSIFICATIONS).status == 400
    assert anonymous.get(CLASSIFICATIONS, query={"codes": ""}).status == 400


def test_classifications_with_the_point_engine(demo_db_url, ella_config):
    config = copy.deepcopy(ella_config)
    config["classification"]["engine"] = {"name": "points"}
    app = create_app(config, {"DB_URL": demo_db_url})
    result = Client(app).get(CLASSIFICATIONS, query={"codes": "PS1,PM1,PP1,PP2"})
    assert result.status == 200
    assert result.json["class"] == 4
    assert result.json["meta"]["engine"] == "points" and result.json["meta"]["points"] == 8
    config["classification"]["engine"] = {"name": "points", "thresholds": {"pathogenic": 8}}
    app = create_app(config, {"DB_URL": demo_db_url})
    assert Client(app).get(CLASSIFICATIONS, query={"codes": "PS1,PM1,PP1,PP2"}).json[
        "class"] == 5


def test_only_the_rules_reference_keys_reach_the_engine(client, demo_db_url):
    """The "any reference" rules (`refassessment.*.ref_segregation`) matched keys nested under
    any key of an evaluation, one rule copy each: 200,000 such keys held a worker for 12 s.
    Only the keys ELLA's reference form stores reach the rules now, as text or null."""
    _set_group_acmg(demo_db_url, "testgroup01", ACMG)
    allele_id = _allele_id(demo_db_url, 32890607, "G", "T")
    body = {"allele_ids": [allele_id], "gp_name": "HBOCUTV", "gp_version": "v01"}
    nested = {"comment": "seen in a family", "relevance": "Yes", "sources": ["manual"],
              **{f"k{i}": {"ref_segregation": "segr"} for i in range(50)}}
    result = client.post(ACMG_ALLELES, {**body, "referenceassessments": [
        {"allele_id": allele_id, "reference_id": 1, "evaluation": nested}]})
    assert result.status == 200, result.body
    codes = [c["code"] for c in result.json[str(allele_id)]["codes"]]
    assert "REQ_segregation" not in codes
    # The same finding under its own key still counts, once.
    result = client.post(ACMG_ALLELES, {**body, "referenceassessments": [
        {"allele_id": allele_id, "reference_id": 1,
         "evaluation": {**nested, "ref_segregation": "segr"}}]})
    assert [c["code"] for c in result.json[str(allele_id)]["codes"]].count(
        "REQ_segregation") == 1
    for value in ({"ref_segregation": "segr"}, ["segr"], 1):
        result = client.post(ACMG_ALLELES, {**body, "referenceassessments": [
            {"allele_id": allele_id, "reference_id": 1,
             "evaluation": {"ref_segregation": value}}]})
        assert result.status == 400, value
        assert result.json["message"] == ("body.referenceassessments[0].evaluation."
                                          "ref_segregation must be a string or null")


def test_reference_assessments_per_request_are_capped(client, demo_db_url):
    _set_group_acmg(demo_db_url, "testgroup01", ACMG)
    allele_id = _allele_id(demo_db_url, 32890607, "G", "T")
    body = {"allele_ids": [allele_id], "gp_name": "HBOCUTV", "gp_version": "v01"}
    refs = [{"allele_id": allele_id, "reference_id": i, "evaluation": {"ref_de_novo": None}}
            for i in range(1, 5002)]
    result = client.post(ACMG_ALLELES, {**body, "referenceassessments": refs})
    assert result.status == 400
    assert result.json["message"] == ("body.referenceassessments: 5001 entries, at most 5000 "
                                      "are accepted")
    assert client.post(ACMG_ALLELES, {**body, "referenceassessments": refs[:5000]}
                       ).status == 200


def test_every_reference_key_the_rules_read_reaches_them():
    """The route keeps an evaluation's REF_KEYS only: a rule reading another would never pass."""
    from ella.acmg.engine import shipped_rules
    from ella.workflow.assessments import REF_KEYS
    sources = {r.source for rules in shipped_rules().values() for rule in rules
               for r in rule.rules() if r.source and r.source.startswith("refassessment.")}
    assert sources and {s.rsplit(".", 1)[1] for s in sources} <= set(REF_KEYS)
