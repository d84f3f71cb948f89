"""Allele filters (filtering.md 2.1-2.3, 2.5, 2.6, 2.9-2.12): the spec's cases, each through
the real SQL on PostgreSQL."""

import copy

import pytest
import yaml

from ella.config import load_config
from ella.filters import FilterError
from ella.refresh import refresh
from filter_helpers import World


@pytest.fixture
def world(db_conn, ella_config):
    return World(db_conn, ella_config)


# --- size (2.10) ---------------------------------------------------------------------------

def test_size(world):
    big = world.allele(start=1000, end=11001, change_type="del", length=10001)
    edge = world.allele(start=20000, end=30000, change_type="del", length=10000)
    fifty = world.allele(start=40000, end=40050, change_type="del", length=50)
    snp = world.allele(start=50000)
    assert world.run("size", [big, edge], {"threshold": 10000, "mode": ">"}) == {big}
    assert world.run("size", [fifty], {"threshold": 50, "mode": "<="}) == {fifty}
    assert world.run("size", [snp, big], {"threshold": 1, "mode": "=="}) == {snp}


def test_classification_days_written_as_decimals_in_the_config_file(world, tmp_path):
    """JSON Schema counts `outdated_after_days: 365.0` as an integer, so the config loads; the
    filter handed 365.0 to PostgreSQL as an integer and every run failed."""
    data = copy.deepcopy(world.config)
    del data["transcripts"]["consequences"]  # built in, not a file key
    for option in data["classification"]["options"]:
        if option.get("outdated_after_days") is not None:
            option["outdated_after_days"] = float(option["outdated_after_days"])
    path = tmp_path / "ella.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    world.config = load_config(path, environ={})
    days = [o["outdated_after_days"] for o in world.config["classification"]["options"]
            if o.get("outdated_after_days") is not None]
    assert days and all(type(d) is int for d in days)
    recent, old = world.allele(), world.allele()
    world.assess(recent, "2", days_ago=10)
    world.assess(old, "2", days_ago=400)
    assert world.run("classification", [recent, old],
                     {"classes": ["2"], "exclude_outdated": True}) == {recent}


# --- callertype (2.11) ---------------------------------------------------------------------

def test_callertype(world):
    cnv = world.allele(start=1000, end=5000, change_type="del", caller_type="cnv")
    snv = world.allele(start=6000)
    assert world.run("callertype", [cnv, snv], {"callerTypes": ["cnv"]}) == {cnv}
    assert world.run("callertype", [cnv, snv], {"callerTypes": ["snv"]}) == {snv}
    assert world.run("callertype", [cnv, snv], {"callerTypes": ["cnv", "snv"]}) == {cnv, snv}
    with pytest.raises(FilterError):
        world.run("callertype", [cnv, snv], {"callerTypes": []})


# --- classification (2.5) ------------------------------------------------------------------

def test_classification(world):
    four, recent2, old2, superseded = (world.allele() for _ in range(4))
    world.assess(four, "4")
    world.assess(recent2, "2", days_ago=10)
    world.assess(old2, "2", days_ago=400)
    world.assess(superseded, "5", superseded=True)
    world.assess(superseded, "3")
    everything = [four, recent2, old2, superseded]
    assert world.run("classification", everything, {"classes": ["3", "4", "5"]}) == {
        four, superseded}
    assert world.run("classification", everything,
                     {"classes": ["1", "2"], "exclude_outdated": True}) == {recent2}
    assert world.run("classification", everything,
                     {"classes": ["1", "2"], "exclude_outdated": False}) == {recent2, old2}
    assert world.run("classification", [superseded], {"classes": ["5"]}) == set()
    assert world.run("classification", everything, {"classes": []}) == set()
    with pytest.raises(FilterError):
        world.run("classification", everything, {"classes": ["non-existing-class"]})


# --- consequence (2.3) ---------------------------------------------------------------------

@pytest.fixture
def csq_world(world):
    world.transcript("NM_1.1", 1, symbol="GENE1")
    return world


def test_consequence(csq_world):
    w = csq_world
    panel = w.allele()
    w.annotate(panel, [{"transcript": "NM_1.1", "hgnc_id": 1, "symbol": "GENE1",
                        "consequences": ["synonymous_variant"]}])
    other_tx = w.allele()
    w.annotate(other_tx, [{"transcript": "SOME_OTHER_TRANSCRIPT", "hgnc_id": 1,
                           "symbol": "GENE1", "consequences": ["synonymous_variant"]}])
    random_gene = w.allele()
    w.annotate(random_gene, [{"transcript": "NM_SOMETHING", "hgnc_id": 999,
                              "symbol": "SOME_RANDOM_GENE",
                              "consequences": ["synonymous_variant"]}])
    syn_intron = w.allele()
    w.annotate(syn_intron, [{"transcript": "NM_1.1", "hgnc_id": 1, "symbol": "GENE1",
                             "consequences": ["synonymous_variant", "intron_variant"]}])
    syn = {"consequences": ["synonymous_variant"]}
    assert w.run("consequence", [panel], syn) == {panel}
    assert w.run("consequence", [other_tx], syn) == set()
    assert w.run("consequence", [random_gene], syn) == {random_gene}
    assert w.run("consequence", [random_gene], {**syn, "genepanel_only": True}) == set()
    assert w.run("consequence", [syn_intron], {"consequences": ["missense_variant"]}) == set()
    with pytest.raises(FilterError):
        w.run("consequence", [panel], {"consequences": ["not_a_consequence"]})


def test_consequence_exception_rescues_a_severe_transcript(csq_world):
    w = csq_world
    allele = w.allele()
    w.annotate(allele, [{"transcript": "NM_A.1", "consequences": ["synonymous_variant"]},
                        {"transcript": "NM_B.1", "consequences": ["stop_gained"]}])
    chain = {"filters": [{
        "name": "consequence",
        "config": {"consequences": ["synonymous_variant", "stop_retained_variant",
                                    "start_retained_variant"]},
        "exceptions": [{"name": "consequence",
                        "config": {"consequences": ["stop_gained", "frameshift_variant",
                                                    "missense_variant"]}}]}]}
    assert w.run("consequence", [allele], chain["filters"][0]["config"]) == {allele}
    assert w.chain([allele], chain) == {"allele_ids": [allele],
                                        "excluded_allele_ids": {"consequence": []}}


# --- gene (2.9) ----------------------------------------------------------------------------

def test_gene_matching_and_modes(world):
    world.transcript("NM_1.1", 1)
    world.transcript("NM_2.1", 2)
    world.transcript("NM_alternative1.1", 3)
    on1 = world.allele()
    world.annotate(on1, [{"transcript": "NM_1.1", "hgnc_id": 1}])
    alt = world.allele()   # annotated with a non-panel transcript of panel gene 3
    world.annotate(alt, [{"transcript": "NM_1.1", "hgnc_id": 3}])
    on2 = world.allele()
    world.annotate(on2, [{"transcript": "NM_2.1", "hgnc_id": 2}])
    both = world.allele()
    world.annotate(both, [{"transcript": "NM_1.1", "hgnc_id": 1},
                          {"transcript": "NM_2.1", "hgnc_id": 2}])
    assert world.run("gene", [on1], {"genes": [1], "mode": "all"}) == {on1}
    assert world.run("gene", [alt], {"genes": [3], "mode": "one"}) == set()
    assert world.run("gene", [on2], {"genes": [1], "mode": "all"}) == set()
    assert world.run("gene", [on1], {"genes": [1], "mode": "one"}) == {on1}
    assert world.run("gene", [both], {"genes": [1], "mode": "all"}) == set()
    assert world.run("gene", [both], {"genes": [1], "mode": "one"}) == {both}
    assert world.run("gene", [both], {"genes": [1, 2], "mode": "all"}) == {both}
    everything = {on1, alt, on2, both}
    for config in ({"genes": [1]}, {"genes": [1, 2], "mode": "one"}):
        direct = world.run("gene", everything, config)
        assert world.run("gene", everything, {**config, "inverse": True}) == everything - direct


def test_gene_prefers_exact_transcript_then_highest_version(world):
    world.transcript("NM_1.2", 1)
    allele = world.allele()
    world.annotate(allele, [{"transcript": "NM_1.1", "hgnc_id": 1}])
    assert world.run("gene", [allele], {"genes": [1]}) == {allele}


# --- size/ppy (2.12) -----------------------------------------------------------------------

@pytest.fixture
def ppy_world(world):
    world.transcript("NM_1.1", 1, "1", "+", (1000, 1500), (1100, 1450),
                     [(1100, 1160), (1200, 1260), (1300, 1360), (1400, 1460)])
    world.transcript("NM_2.1", 2, "2", "-", (2000, 2500), (2100, 2450),
                     [(2100, 2160), (2200, 2260), (2300, 2360), (2400, 2460)])
    return world


PPY = {"ppy_tract_region": [-20, -3]}


@pytest.mark.parametrize("record, expected", [
    (("1", 1291, "C", "T"), True),
    (("1", 1291, "G", "T"), False),
    (("1", 1398, "C", "T"), True),
    (("1", 1281, "CT", "C"), True),
    (("1", 1281, "AC", "A"), False),
    (("2", 2364, "AG", "A"), True),
    (("2", 2364, "A", "G"), True),
    (("2", 2364, "G", "A"), True),
    (("2", 2371, "C", "T"), False),
    (("2", 2371, "AAG", "A"), True),
    (("2", 2298, "C", "T"), False),
])
def test_ppy(ppy_world, record, expected):
    allele = ppy_world.vcf_allele(*record)
    assert ppy_world.run("ppy", [allele], PPY) == ({allele} if expected else set())


# --- region (2.2) --------------------------------------------------------------------------

REGION = {"splice_region": [-10, 5], "utr_region": [-12, 20]}
EXONS = [(1100, 1160), (1200, 1260), (1300, 1360), (1400, 1460)]


@pytest.fixture
def region_world(world):
    world.transcript("NM_1.1", 1, "1", "+", (1000, 1500), (1230, 1430), EXONS)
    world.transcript("NM_5.1", 5, "5", "-", (5000, 5500), (5230, 5430),
                     [(s + 4000, e + 4000) for s, e in EXONS])
    return world


@pytest.mark.parametrize("chromosome, start, kept", [
    ("1", 1300, True), ("1", 1600, False), ("1", 1200, False),
    ("1", 1290, True), ("1", 1289, False), ("1", 1164, True), ("1", 1265, False),
    ("1", 1465, False), ("1", 1199, True), ("1", 1198, True), ("1", 1260, True),
    ("1", 1261, True),
    ("1", 1218, True), ("1", 1449, True), ("1", 1451, False),
    ("5", 5441, True), ("5", 5443, False), ("5", 5210, True), ("5", 5209, False),
    ("5", 5294, False),
])
def test_region_positions(region_world, chromosome, start, kept):
    allele = region_world.allele(chromosome, start, start + 1)
    assert region_world.run("region", [allele], REGION) == (set() if kept else {allele})


def test_region_keeps_a_deletion_spanning_whole_transcripts(region_world):
    """Deviation from filtering.md 2.2 (README): ELLA's "near the transcript" test looks only
    at the allele's two ends, so a deletion of the whole gene was filtered out while one
    that ends inside it was kept."""
    w = region_world
    partial = w.allele("1", 900, 1310, "del", length=410, caller_type="cnv")
    whole = w.allele("1", 900, 1600, "del", length=700, caller_type="cnv")
    whole_minus = w.allele("5", 100, 9000, "del", length=8900, caller_type="cnv")
    beside = w.allele("1", 1600, 3000, "del", length=1400, caller_type="cnv")
    assert w.run("region", [partial, whole, whole_minus, beside], REGION) == {beside}


def test_region_keeps_a_duplication_of_coding_exons(region_world):
    """A duplication's row ends one base after its start (import.md 2.4), and the filter
    judged only that base: a duplication of the whole gene, or of coding exons from an
    intron on, was filtered out where the same deletion was kept."""
    w = region_world

    def duplication(chromosome, pos0, length):  # as build_allele makes <DUP>, SVLEN length
        return w.allele(chromosome, pos0, pos0 + 1, "dup", vcf_alt="<DUP>", length=length,
                        caller_type="cnv", vcf_pos=pos0 + 1)
    whole = duplication("1", 900, 700)
    from_intron = duplication("1", 1170, 250)  # intron 1160-1200, coding exons 1230-1460
    tandem = w.allele("1", 1170, 1171, "dup_tandem", vcf_alt="<DUP:TANDEM>", length=250,
                      caller_type="cnv", vcf_pos=1171)
    beside = duplication("1", 3000, 500)
    in_intron = duplication("1", 1170, 20)  # 1170-1190: no exon, no splice padding
    assert w.run("region", [whole, from_intron, tandem, beside, in_intron], REGION) == {
        beside, in_intron}


def test_region_hgvsc_rescue(region_world):
    w = region_world
    rescued = []
    for distance, crd in ((-10, None), (5, None), (0, -12), (0, 20)):
        allele = w.allele("1", 3000 + len(rescued) * 10)
        w.annotate(allele, [{"transcript": "NM_1.1", "hgnc_id": 1, "exon_distance": distance,
                             "coding_region_distance": crd}])
        rescued.append(allele)
    non_panel = w.allele("1", 3500)
    w.annotate(non_panel, [{"transcript": "NM_OTHER.1", "hgnc_id": 77, "exon_distance": 0,
                            "coding_region_distance": 0}])
    assert w.run("region", rescued + [non_panel], REGION) == {non_panel}
    zero = {"splice_region": [0, 0], "utr_region": [0, 0]}
    assert w.run("region", rescued + [non_panel], zero) == set(rescued) | {non_panel}


def _regions_hit(world, lo, hi, config):
    """Positions in [lo, hi) whose single-base allele is kept."""
    alleles = {world.allele("7", p, p + 1): p for p in range(lo, hi)}
    removed = world.run("region", alleles, config)
    return sorted(p for a, p in alleles.items() if a not in removed)


def _kept_by_spec(regions, pad, position):
    """filtering.md 2.2's overlap and nearness tests for a one-base allele at `position`."""
    start, end = position, position + 1
    near = (1000 - pad <= start <= 4000 - 1 + pad) or (1000 - pad < end < 4000 + pad)
    return near and any((rs <= start <= re) or (rs < end < re) or (start <= rs and end >= re)
                        for rs, re in regions)


LAYOUT = [(500, 800), (1050, 1150), (1700, 2000), (2300, 2500), (2800, 2990), (3500, 3700)]
CODING = [(1100, 1149), (1700, 1999), (2300, 2499), (2800, 2899)]


@pytest.mark.parametrize("strand, config, extra", [
    ("+", {"splice_region": [-1, 0], "utr_region": [-1, 0]},
     [(499, 499), (1049, 1049), (1699, 1699), (2299, 2299), (2799, 2799), (3499, 3499),
      (1099, 1099)]),
    ("+", {"splice_region": [0, 2], "utr_region": [0, 1]},
     [(800, 801), (1150, 1151), (2000, 2001), (2500, 2501), (2990, 2991), (3700, 3701),
      (2900, 2900)]),
    ("-", {"splice_region": [-1, 0], "utr_region": [-1, 0]},
     [(800, 800), (1150, 1150), (2000, 2000), (2500, 2500), (2990, 2990), (3700, 3700),
      (2900, 2900)]),
])
def test_region_construction(world, strand, config, extra):
    world.transcript("NM_7.1", 7, "7", strand, (1000, 4000), (1100, 2900), LAYOUT)
    # The spec lists the regions; which one-base alleles they keep follows from its overlap
    # and nearness tests.
    pad = max(abs(v) for v in config["splice_region"] + config["utr_region"])
    expected = [p for p in range(400, 3800) if _kept_by_spec(CODING + extra, pad, p)]
    assert _regions_hit(world, 400, 3800, config) == expected


# --- external (2.6) ------------------------------------------------------------------------

def _clinvar(status, significances):
    return {"CLINVAR": {"variant_description": status, "items": [
        {"rcv": f"SCV{i:09d}", "clinical_significance_descr": s}
        for i, s in enumerate(significances)]}}


MULTI = "criteria provided, multiple submitters, no conflicts"


def test_external_clinvar(world):
    strong = world.allele()
    world.annotate(strong, external=_clinvar(MULTI, ["Likely pathogenic", "PATHOGENIC",
                                                     "pathogenic", "Benign"]))
    single = world.allele()
    world.annotate(single, external=_clinvar("criteria provided, single submitter",
                                             ["Likely pathogenic", "PATHOGENIC", "pathogenic",
                                              "Benign"]))
    even = world.allele()
    world.annotate(even, external=_clinvar(MULTI, ["Pathogenic", "Benign"]))
    config = {"clinvar": {"num_stars": [">=", 2],
                          "combinations": [["pathogenic", ">", "benign"]]}}
    assert world.run("external", [strong, single, even], config) == {strong}

    benign3 = world.allele()
    world.annotate(benign3, external=_clinvar(MULTI, ["Benign", "likely benign", "Benign"]))
    benign0 = world.allele()
    world.annotate(benign0, external=_clinvar(MULTI, ["Pathogenic"]))
    inverse = {"clinvar": {"combinations": [["benign", ">", 2]], "inverse": True}}
    assert world.run("external", [benign3, benign0], inverse) == {benign0}


@pytest.mark.parametrize("status, stars", [
    ("criteria provided, conflicting classifications", 1),
    ("no classification provided", 0),
    ("no classifications from unflagged records", 0),
    ("no classification for the individual variant", 0),
])
def test_external_clinvar_names_of_2024(world, status, stars):
    """ClinVar's review statuses since 2024 ("interpretation" became "classification") and
    its low-penetrance classifications count as the older names do; a current release's
    variants met no `num_stars` condition at all, not even >= 0."""
    allele = world.allele()
    world.annotate(allele, external=_clinvar(status, ["Pathogenic, low penetrance",
                                                      "Likely pathogenic, low penetrance"]))
    assert world.run("external", [allele], {"clinvar": {"num_stars": ["==", stars]}}) == {allele}
    assert world.run("external", [allele], {"clinvar": {"num_stars": [">", stars]}}) == set()
    assert world.run("external", [allele], {"clinvar": {"combinations": [
        ["pathogenic", "==", 2]]}}) == {allele}


def test_external_hgmd_and_both(world):
    dm = world.allele()
    world.annotate(dm, external={"HGMD": {"tag": "DM"}})
    dp = world.allele()
    world.annotate(dp, external={"HGMD": {"tag": "DP"}})
    none = world.allele()
    world.annotate(none, external={})
    everything = [dm, dp, none]
    assert world.run("external", everything, {"hgmd": {"tags": ["DM", "DM?"]}}) == {dm}
    assert world.run("external", everything, {"hgmd": {"tags": [None]}}) == {none}

    both = world.allele()
    world.annotate(both, external={"HGMD": {"tag": "DM"}, **_clinvar(MULTI, ["Benign"])})
    clinvar_only = world.allele()
    world.annotate(clinvar_only, external=_clinvar(MULTI, ["Benign"]))
    config = {"clinvar": {"num_stars": [">=", 2]}, "hgmd": {"tags": ["DM"]}}
    assert world.run("external", [dm, both, clinvar_only], config) == {both}


# --- frequency (2.1) -----------------------------------------------------------------------

FREQUENCY = {
    "groups": {"external": {"ExAC": ["G", "FIN"], "1000g": ["G"]},
               "internal": {"internalDB": ["AF"]}},
    "num_thresholds": {"ExAC": {"G": 2000, "FIN": 2000}},
    "thresholds": {"AD": {"external": 0.005, "internal": 0.05},
                   "default": {"external": 0.3, "internal": 0.05}},
    "genes": {"300000": {"thresholds": {"external": 0.5, "internal": 0.7}}},
}


@pytest.fixture
def freq_world(db_conn, ella_config):
    config = copy.deepcopy(ella_config)
    config["frequencies"]["groups"] = FREQUENCY["groups"]
    refresh(db_conn, config, echo=lambda *_: None)
    w = World(db_conn, config)
    w.transcript("NM_1AD.1", 100000, inheritance="AD")
    w.transcript("NM_1AR.1", 200000, inheritance="AR")
    w.transcript("NM_2.1", 300000, inheritance="AD/AR")
    return w


def _freq(w, transcript, hgnc_id, **columns):
    """columns: ExAC_G=(freq, num) etc."""
    frequencies = {}
    for name, value in columns.items():
        provider, key = name.rsplit("_", 1)
        freq, num = value if isinstance(value, tuple) else (value, None)
        entry = frequencies.setdefault(provider, {"freq": {}})
        entry["freq"][key] = freq
        if num is not None:
            entry.setdefault("num", {})[key] = num
    allele = w.allele()
    w.annotate(allele, [{"transcript": transcript, "hgnc_id": hgnc_id}] if transcript else [],
               frequencies=frequencies)
    return allele


@pytest.mark.parametrize("transcript, hgnc, columns, common", [
    ("NM_1AD.1", 100000, {"ExAC_G": (0.0051, 9000)}, True),
    ("NM_1AD.1", 100000, {"ExAC_G": (0.005, 9000)}, True),
    ("NM_1AD.1", 100000, {"ExAC_G": (0.0049, 9000)}, False),
    ("NM_1AD.1", 100000, {"ExAC_G": (0, 9000)}, False),
    ("NM_1AD.1", 100000, {}, False),
    ("NM_1AR.1", 200000, {"ExAC_G": (0.31, 9000)}, True),
    ("NM_1AR.1", 200000, {"ExAC_G": (0.2999, 9000)}, False),
    ("NM_X.1", 102923232, {"ExAC_G": (0.31, 9000)}, True),
    (None, None, {"ExAC_G": (0.5, 9000)}, True),
    (None, None, {"ExAC_G": (0.00001, 9000)}, False),
    ("NM_2.1", 300000, {"internalDB_AF": 0.71}, True),
    ("NM_2.1", 300000, {"internalDB_AF": 0.69}, False),
    ("NM_1AD.1", 100000, {"ExAC_G": (0.0051, 9000), "internalDB_AF": 0.000001}, True),
    ("NM_1AD.1", 100000, {"ExAC_G": (0.0051, 1999)}, False),
    ("NM_1AD.1", 100000, {"ExAC_G": (0.0051, 1999), "ExAC_FIN": (0.0051, 2000)}, True),
    ("NM_1AD.1", 100000, {"ExAC_G": (0.0051, 1999), "1000g_G": 0.01}, True),
])
def test_frequency(freq_world, transcript, hgnc, columns, common):
    allele = _freq(freq_world, transcript, hgnc, **columns)
    assert freq_world.run("frequency", [allele], FREQUENCY) == ({allele} if common else set())


def test_frequency_refuses_groups_outside_the_configuration(freq_world):
    config = copy.deepcopy(FREQUENCY)
    config["groups"]["external"]["GNOMAD_GENOMES"] = ["G"]
    with pytest.raises(FilterError):
        freq_world.run("frequency", [1], config)
