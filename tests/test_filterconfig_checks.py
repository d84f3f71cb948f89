"""Filter configs the schema lets through but a filter cannot run (filtering.md 2): refused
when deposited, naming the entry and the filter, and, when such a config is already stored
(an older deposit, an adopted ELLA database), a FilterError (API: 400) instead of a crash
(500) or a silently wrong result."""

import copy
import json

import psycopg
import pytest

from api_helpers import add_user, logged_in_client
from ella.deposit.filterconfigs import FilterconfigError, deposit_filterconfigs
from ella.filters import FilterError
from filter_helpers import PANEL, World
from helpers import run_cli

FREQ = {"name": "frequency", "config": {
    "groups": {"external": {"GNOMAD_GENOMES": ["G"]}, "internal": {"inDB": ["OUSWES"]}},
    "thresholds": {"AD": {"external": 0.005, "internal": 0.05},
                   "default": {"external": 0.01, "internal": 0.05}}}}
OFF = {"enable": False}
SEGREGATION = {"denovo": {"enable": True}, "compound_heterozygous": OFF,
               "recessive_homozygous": OFF, "no_coverage_parents": OFF,
               "parental_mosaicism": OFF}


def frequency(**changes):
    entry = copy.deepcopy(FREQ)
    entry["config"].update(changes)
    return entry


def segregation(**changes):
    return {"name": "segregation", "config": {**SEGREGATION, **changes}}


# case -> (the filter entry, what the refusal says after "filters[0]: "); the cases in
# REFUSED_BY_SCHEMA never get past schema v3 at deposit, only stored ones reach the check.
REFUSED_BY_SCHEMA = {"clinvar category a list", "segregation gq_threshold incomplete"}
BAD = {
    # Each of these crashed filtering (a 500 from filteredalleles) before.
    "clinvar combination of two": (
        {"name": "external", "config": {"clinvar": {"combinations": [["pathogenic", ">"]]}}},
        "external filter: clinvar.combinations[0] must be [category, operator, category or "
        "integer >= 0]"),
    "clinvar num_stars of one": (
        {"name": "external", "config": {"clinvar": {"num_stars": [">="]}}},
        "external filter: clinvar.num_stars must be [operator, stars 0-4]"),
    "clinvar operator in a later combination": (
        {"name": "external", "config": {"clinvar": {"combinations": [
            ["pathogenic", ">", "benign"], ["benign", "!=", 0]]}}},
        "external filter: clinvar.combinations[1] must be"),
    "clinvar category a list": (
        {"name": "external", "config": {"clinvar": {"combinations": [[["x"], ">", 1]]}}},
        "external filter: clinvar.combinations[0] must be"),
    "frequency gene key not an HGNC id": (
        frequency(genes={"BRCA1": {"thresholds": {"external": 0.5}}}),
        "frequency filter: genes: 'BRCA1' is not an HGNC id"),
    "frequency gene key beyond integer": (
        frequency(genes={"99999999999": {"thresholds": {"external": 0.5}}}),
        "frequency filter: genes: '99999999999' is not an HGNC id"),
    "frequency gene key of more digits than int() takes": (
        frequency(genes={"9" * 5000: {"thresholds": {"external": 0.5}}}),
        f"frequency filter: genes: {'9' * 40!r} is not an HGNC id"),
    "gene id beyond integer": (
        {"name": "gene", "config": {"genes": [99999999999]}},
        "gene filter: 'genes' must be a list of HGNC ids (integers from 1 to 2147483647)"),
    "segregation gq_threshold a number": (
        segregation(denovo={"enable": True, "gq_threshold": 20}),
        'segregation filter: denovo.gq_threshold must be {"proband", "mother", "father"}'),
    "segregation gq_threshold incomplete": (
        segregation(denovo={"enable": True, "gq_threshold": {"proband": 20}}),
        "segregation filter: denovo.gq_threshold must be"),
    "segregation switch not an object": (
        segregation(no_coverage_parents=True),
        'segregation filter: no_coverage_parents must each be {"enable": true or false}'),
    "size threshold beyond integer": (
        {"name": "size", "config": {"threshold": 2**31, "mode": ">"}},
        "size filter: 'threshold' must be an integer from 0 to 2147483647"),
    # Each of these was accepted and then refused at every use.
    "region without paddings": (
        {"name": "region", "config": {}},
        "region filter: 'splice_region' must be [int <= 0, int >= 0]"),
    "region padding of one value": (
        {"name": "region", "config": {"splice_region": [-20], "utr_region": [0, 0]}},
        "region filter: 'splice_region' must be"),
    "ppy tract ending at the exon": (
        {"name": "ppy", "config": {"ppy_tract_region": [-20, 0]}},
        "ppy filter: 'ppy_tract_region' must be [int < 0, int < 0]"),
    "quality without a condition": (
        {"name": "quality", "config": {}},
        "quality filter: configure at least one of qual, allele_ratio, filter_status"),
    "frequency thresholds without AD": (
        frequency(thresholds={"default": {"external": 0.01}}),
        "frequency filter: 'thresholds' needs both 'AD' and 'default'"),
    "frequency threshold group not in groups": (
        frequency(groups={"external": {"GNOMAD_GENOMES": ["G"]}}),
        "frequency filter: thresholds.AD: group 'internal' is not in 'groups'"),
    "frequency gene override without thresholds": (
        frequency(genes={"300000": {}}),
        "frequency filter: genes.300000 needs 'thresholds'"),
    "frequency groups as a list": (
        frequency(groups={"external": ["GNOMAD_GENOMES"], "internal": {"inDB": ["OUSWES"]}}),
        "frequency filter: groups.external must map providers to lists of keys"),
    "hgmd without tags": (
        {"name": "external", "config": {"hgmd": {"tags": []}}},
        "external filter: hgmd 'tags' must be a non-empty list of HGMD tags"),
    "callertype without types": (
        {"name": "callertype", "config": {"callerTypes": []}},
        "callertype filter: 'callerTypes' must be a non-empty list of 'snv'/'cnv'"),
}


def entry(*filters, name="Checked"):
    return [{"name": name, "usergroups": [{"name": "checkgroup", "order": 0}],
             "requirements": [], "filterconfig": {"filters": list(filters)}}]


@pytest.fixture
def world(db_conn, ella_config):
    db_conn.execute("INSERT INTO usergroup (name, config) VALUES ('checkgroup', '{}'::jsonb)")
    w = World(db_conn, ella_config)
    w.transcript("NM_1.1", 1, symbol="GENE1")
    sample = w.sample("P1")
    w.allele_id = w.allele()
    w.annotate(w.allele_id, [{"transcript": "NM_1.1", "hgnc_id": 1, "symbol": "GENE1"}],
               frequencies={"GNOMAD_GENOMES": {"freq": {"G": 0.5}, "num": {"G": 10000}}},
               external={"CLINVAR": {"variant_description": "reviewed by expert panel",
                                     "items": [{"rcv": "SCV1",
                                                "clinical_significance_descr": "Benign"}]}})
    w.genotype(w.allele_id, sample, qual=50, filter_status="PASS",
               data={sample: ("Heterozygous", 0.5, 99)})
    return w


def _stored(conn, filters, name="Stored"):
    """A config stored as an older deposit or ELLA could have (past our checks)."""
    return conn.execute("INSERT INTO filterconfig (name, filterconfig, requirements, active) "
                        "VALUES (%s, %s, '[]', true) RETURNING id",
                        (name, json.dumps({"filters": filters}))).fetchone()[0]


@pytest.mark.parametrize("case", sorted(BAD))
def test_deposit_refuses_what_the_filter_cannot_run(world, case):
    bad, message = BAD[case]
    if case in REFUSED_BY_SCHEMA:
        message = ""
        prefix = "entry 1 ('Checked'): filterconfig is not valid against filterconfig schema " \
            "version 3: filterconfig.filters[0]"
    else:
        prefix = f"entry 1 ('Checked'): filterconfig.filters[0]: {message}"
    before = world.conn.execute("SELECT count(*) FROM filterconfig").fetchone()
    with pytest.raises(FilterconfigError) as refused:
        deposit_filterconfigs(world.conn, world.config, entry(bad))
    assert str(refused.value).startswith(prefix), str(refused.value)
    # As an exception of another filter, the path says so.
    with pytest.raises(FilterconfigError) as refused:
        deposit_filterconfigs(world.conn, world.config, entry(
            {"name": "callertype", "config": {"callerTypes": ["snv"]}, "exceptions": [bad]}))
    assert "filterconfig.filters[0].exceptions[0]" in str(refused.value)
    assert message in str(refused.value)
    assert world.conn.execute("SELECT count(*) FROM filterconfig").fetchone() == before


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_stored_config_the_filter_cannot_run_is_a_filter_error(world, case):
    bad, message = BAD[case]
    with pytest.raises(FilterError) as refused:
        world.chain([world.allele_id], {"filters": [
            {"name": "callertype", "config": {"callerTypes": ["cnv"]}}, bad]})
    assert str(refused.value).startswith(f"filters[1]: {message}")


def test_quality_patterns_are_checked_by_postgresql(world):
    """PostgreSQL applies the pattern, so PostgreSQL judges it: Python's `(?P<x>...)` is not
    a PostgreSQL regex, and PostgreSQL's `\\m` is not Python's."""
    for pattern in ("(PASS", "(?P<x>PASS)"):
        bad = {"name": "quality", "config": {"filter_status": {"pattern": pattern}}}
        with pytest.raises(FilterconfigError) as refused:
            deposit_filterconfigs(world.conn, world.config, entry(bad))
        assert str(refused.value).startswith(
            f"entry 1 ('Checked'): filterconfig.filters[0]: quality filter: "
            f"filter_status.pattern {pattern!r} is not a valid PostgreSQL regex: invalid "
            "regular expression"), str(refused.value)
    good = {"name": "quality", "config": {"filter_status": {"pattern": r"\mPASS\M"}}}
    deposit_filterconfigs(world.conn, world.config, entry(good))
    # Stored before the check: a FilterError when run.
    with pytest.raises(FilterError, match="quality filter: filter_status.pattern is not a "
                                          "valid regex: invalid regular expression"):
        with world.conn.transaction():
            world.chain([world.allele_id], {"filters": [
                {"name": "quality", "config": {"filter_status": {"pattern": "(PASS"}}}]})


def test_num_thresholds_outside_the_groups_are_accepted_as_in_ella(world):
    """filtering.md 1.1 checks the frequency filters' `groups`; a `num_thresholds` entry for
    a pair the filter does not read (here one the configuration lacks) is never used."""
    config = frequency(num_thresholds={"GNOMAD_GENOMES": {"G": 5000}, "ExAC": {"G": 5000}})
    result = deposit_filterconfigs(world.conn, world.config, entry(config))
    assert result["configs"][0]["change"] == "Filterconfig created"
    assert world.chain([world.allele_id], {"filters": [config]})["allele_ids"] == []


def test_api_answers_400_for_a_stored_config_it_cannot_run(api_app, db_url, ella_config):
    with psycopg.connect(db_url) as conn:
        w = World(conn, ella_config)
        conn.commit()
        add_user(db_url, "checker", "checkgroup", panels=[PANEL])
        w.transcript("NM_1.1", 1, symbol="GENE1")
        sample = w.sample("P1")
        allele = w.allele()
        w.genotype(allele, sample, qual=50, filter_status="PASS",
                   data={sample: ("Heterozygous", 0.5, 99)})
        ids = {}
        for case in ("clinvar combination of two", "segregation gq_threshold a number"):
            ids[case] = _stored(conn, [BAD[case][0]], name=case)
        ids["bad regex"] = _stored(conn, [{"name": "quality", "config": {
            "filter_status": {"pattern": "(PASS"}}}], name="bad regex")
        conn.execute("INSERT INTO usergroupfilterconfig (usergroup_id, filterconfig_id, "
                     '"order") SELECT u.id, f, 0 FROM usergroup u, unnest(%s::int[]) f '
                     "WHERE u.name = 'checkgroup'", (list(ids.values()),))
        conn.commit()
        analysis_id = w.analysis_id
    client = logged_in_client(api_app, db_url, "checker")
    for case, fc_id in ids.items():
        result = client.get(f"/api/v1/workflows/analyses/{analysis_id}/filteredalleles/",
                            query=f"filterconfig_id={fc_id}")
        assert result.status == 400, (case, result.status, result.body[:300])
        message = BAD[case][1] if case in BAD else "quality filter: filter_status.pattern is " \
            "not a valid regex"
        assert message in result.json["message"], (case, result.json)


def test_cli_refuses_in_one_line_and_writes_nothing(db_url, tmp_path):
    """The groups-as-list config ended in an AttributeError traceback."""
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO usergroup (name, config) VALUES ('checkgroup', '{}'::jsonb)")
    bad, message = BAD["frequency groups as a list"]
    path = tmp_path / "filterconfigs.json"
    path.write_text(json.dumps(entry(bad)))
    result = run_cli("ella-filterconfigs", "update", str(path), "--reason", "check",
                     db_url=db_url)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == \
        f"error: {path}: entry 1 ('Checked'): filterconfig.filters[0]: {message}"
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM filterconfig").fetchone() == (0,)


# JSON Schema (draft-07, which ELLA's filterconfig schema follows) counts 10.0 as an integer,
# and ELLA's filters take it as one; the deposit refused each with "must be an integer".
# case -> (as written, the same with ints)
INTEGRAL_FLOATS = {
    "size threshold": ({"name": "size", "config": {"threshold": 10.0, "mode": ">"}},
                       {"name": "size", "config": {"threshold": 10, "mode": ">"}}),
    "region": ({"name": "region", "config": {"splice_region": [-20.0, 6.0],
                                             "utr_region": [0.0, 0]}},
               {"name": "region", "config": {"splice_region": [-20, 6], "utr_region": [0, 0]}}),
    "ppy": ({"name": "ppy", "config": {"ppy_tract_region": [-20.0, -3.0]}},
            {"name": "ppy", "config": {"ppy_tract_region": [-20, -3]}}),
    "gene": ({"name": "gene", "config": {"genes": [1.0], "mode": "one"}},
             {"name": "gene", "config": {"genes": [1], "mode": "one"}}),
    "clinvar stars": ({"name": "external", "config": {"clinvar": {"num_stars": [">=", 2.0]}}},
                      {"name": "external", "config": {"clinvar": {"num_stars": [">=", 2]}}}),
    "num_thresholds": (frequency(num_thresholds={"GNOMAD_GENOMES": {"G": 2000.0}}),
                       frequency(num_thresholds={"GNOMAD_GENOMES": {"G": 2000}})),
}


@pytest.mark.parametrize("case", sorted(INTEGRAL_FLOATS))
def test_whole_numbers_written_with_a_fraction_deposit_and_run_as_ints(world, case):
    written, as_ints = INTEGRAL_FLOATS[case]
    deposit_filterconfigs(world.conn, world.config, entry(written))
    stored = world.conn.execute("SELECT filterconfig::text FROM filterconfig").fetchone()[0]
    assert ".0" in stored  # stored as given
    # Run with their SQL parameters as ints (a float one broke int4 arithmetic).
    result = world.chain([world.allele_id], {"filters": [written]})
    assert result == world.chain([world.allele_id], {"filters": [as_ints]})


def test_a_qual_threshold_beyond_a_float_deposits_and_filters(world):
    """JSON allows any integer, and filtering.md 2.4 asks only for a number >= 0: 10**400
    crashed the deposit's check (a traceback) and, stored, every run (a 500)."""
    huge = {"name": "quality", "config": {"qual": 10 ** 400}}
    deposit_filterconfigs(world.conn, world.config, entry(huge))
    assert world.chain([world.allele_id], {"filters": [huge]}) == {
        "allele_ids": [], "excluded_allele_ids": {"quality": [world.allele_id]}}  # QUAL 50
