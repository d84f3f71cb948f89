"""Filter config requirements and per-group selection (filtering.md 1.4, 1.5)."""

import pytest
from psycopg.types.json import Jsonb

from ella.filters import FilterError
from ella.filters.chain import (analysis_facts, analysis_filterconfigs,
                                filterconfigs_without_analysis, requirements_hold)
from filter_helpers import PANEL, World

SIZE = {"filters": [{"name": "size", "config": {"threshold": 1, "mode": ">"}}]}


def _req(**params):
    return [{"function": "analysis", "params": params}]


FACTS = {"name": "TestAnalysis-001", "genepanel_name": "HBOC", "is_trio": True,
         "is_family": True, "is_single": False}


@pytest.mark.parametrize("requirements, holds", [
    ([], True),
    (_req(), True),
    (_req(is_trio=True), True), (_req(is_trio=False), False),
    (_req(is_family=True), True), (_req(is_family=False), False),
    (_req(is_single=False), True), (_req(is_single=True), False),
    # regexes: Python re.match, anchored at the start only
    (_req(name="Test"), True), (_req(name="Analysis"), False), (_req(name=".*Analysis"), True),
    (_req(name="^(?!brca).*"), True), (_req(name="^(?!Test).*"), False),
    (_req(name="^(?!HG002|NA12878).*"), True),
    (_req(genepanel_name="HBOC"), True), (_req(genepanel_name="HB"), True),
    (_req(genepanel_name="BOC"), False), (_req(genepanel_name="HBOC$"), True),
    # all params of one object, and all objects, must hold
    (_req(is_trio=True, name="Test"), True), (_req(is_trio=True, name="brca"), False),
    (_req(is_trio=True) + _req(name="brca"), False),
    (_req(is_trio=True) + _req(genepanel_name="HBOC"), True),
])
def test_requirements(requirements, holds):
    assert requirements_hold(requirements, FACTS) is holds


def test_requirement_regexes_against_other_names():
    single = {**FACTS, "name": "brca_sample_2.HBOC_v01", "is_trio": False, "is_family": False,
              "is_single": True}
    assert not requirements_hold(_req(name="^(?!brca).*"), single)
    assert requirements_hold(_req(is_single=True, name="^(?!HG002|NA12878).*"), single)
    assert not requirements_hold(_req(name="^(?!HG002|NA12878).*"), {**single,
                                                                    "name": "NA12878-x"})


@pytest.mark.parametrize("requirements", [
    [{"function": "genepanel", "params": {}}],
    _req(is_duo=True),
])
def test_unknown_requirement_is_an_error(requirements):
    with pytest.raises(FilterError):
        requirements_hold(requirements, FACTS)


@pytest.fixture
def world(db_conn, ella_config):
    return World(db_conn, ella_config)


def test_facts_single(world):
    world.sample("single")
    facts = analysis_facts(world.conn, world.analysis_id)
    assert facts == {"name": "FilterAnalysis", "genepanel_name": PANEL[0], "is_trio": False,
                     "is_family": False, "is_single": True}


def test_facts_trio(world):
    world.family()
    facts = analysis_facts(world.conn, world.analysis_id)
    assert (facts["is_trio"], facts["is_family"], facts["is_single"]) == (True, True, False)


@pytest.mark.parametrize("father, mother", [(True, False), (False, True), (False, False)])
def test_facts_family_without_both_parents(world, father, mother):
    world.family(father=father, mother=mother, siblings=[True])
    facts = analysis_facts(world.conn, world.analysis_id)
    assert (facts["is_trio"], facts["is_family"], facts["is_single"]) == (False, True, False)


def test_facts_parents_must_be_in_the_analysis(world):
    other = world.analysis("Other")
    father = world.sample("F", proband=False, affected=False, sex="Male")
    mother = world.sample("M", proband=False, affected=False, sex="Female")
    world.analysis("Mine")
    proband = world.sample("P", family_id="fam")
    world.conn.execute("UPDATE sample SET father_id = %s, mother_id = %s WHERE id = %s",
                       (father, mother, proband))
    facts = analysis_facts(world.conn, world.analysis_id)
    assert (facts["is_trio"], facts["is_family"]) == (False, True)
    assert analysis_facts(world.conn, other)["is_family"] is False


def test_facts_family_id_on_any_sample(world):
    world.sample("P")
    world.sample("S", proband=False, family_id="fam")
    facts = analysis_facts(world.conn, world.analysis_id)
    assert (facts["is_family"], facts["is_single"], facts["is_trio"]) == (True, False, False)


def _config(conn, name, requirements=(), active=True):
    return conn.execute(
        "INSERT INTO filterconfig (name, filterconfig, requirements, active) "
        "VALUES (%s, %s, %s, %s) RETURNING id",
        (name, Jsonb(SIZE), Jsonb(list(requirements)), active)).fetchone()[0]


def _group(conn, name, links):
    group = conn.execute("INSERT INTO usergroup (name, config) VALUES (%s, '{}') RETURNING id",
                         (name,)).fetchone()[0]
    for fc_id, order in links:
        conn.execute('INSERT INTO usergroupfilterconfig (usergroup_id, filterconfig_id, "order") '
                     "VALUES (%s, %s, %s)", (group, fc_id, order))
    return group


def test_group_selection_order_requirements_and_active(world):
    conn = world.conn
    world.family()   # a trio named FilterAnalysis on FilterPanel
    always = _config(conn, "Always")
    trio = _config(conn, "Trio", _req(is_trio=True))
    single = _config(conn, "Single", _req(is_single=True))
    by_name = _config(conn, "ByName", _req(name="Filter"))
    not_name = _config(conn, "NotName", _req(name="^(?!Filter).*"))
    by_panel = _config(conn, "ByPanel", _req(genepanel_name="FilterPanel$"))
    inactive = _config(conn, "Inactive", active=False)
    first = _group(conn, "first", [(always, 30), (trio, 10), (single, 0), (by_name, 20),
                                   (not_name, 5), (by_panel, 40), (inactive, 1)])
    second = _group(conn, "second", [(always, 0), (trio, 7)])
    empty = _group(conn, "empty", [(single, 0)])
    offered = analysis_filterconfigs(conn, first, world.analysis_id)
    # Ascending order; the first one is the default.
    assert [c["name"] for c in offered] == ["Trio", "ByName", "Always", "ByPanel"]
    assert [c["id"] for c in offered] == [trio, by_name, always, by_panel]
    assert [c["name"] for c in analysis_filterconfigs(conn, second, world.analysis_id)] == \
        ["Always", "Trio"]
    assert analysis_filterconfigs(conn, empty, world.analysis_id) == []
    assert offered[0] == {"id": trio, "name": "Trio", "filterconfig": SIZE, "active": True,
                          "requirements": _req(is_trio=True)}


def test_group_selection_single_analysis(world):
    conn = world.conn
    world.sample("single")
    trio = _config(conn, "Trio", _req(is_trio=True))
    single = _config(conn, "Single", _req(is_single=True, is_family=False))
    family = _config(conn, "Family", _req(is_family=True))
    group = _group(conn, "g", [(trio, 0), (family, 1), (single, 2)])
    assert [c["name"] for c in analysis_filterconfigs(conn, group, world.analysis_id)] == \
        ["Single"]


def test_group_selection_without_an_analysis(world):
    """filtering.md 1.5: several active configs -> only those without requirements; a single
    config is offered whatever its requirements; inactive ones never."""
    conn = world.conn
    plain_late = _config(conn, "PlainLate")
    trio = _config(conn, "Trio", _req(is_trio=True))
    plain_early = _config(conn, "PlainEarly", [])
    inactive = _config(conn, "Inactive", active=False)
    several = _group(conn, "several", [(plain_late, 9), (trio, 0), (plain_early, 1),
                                       (inactive, 2)])
    only_required = _group(conn, "only_required", [(trio, 0), (inactive, 1)])
    all_required = _group(conn, "all_required",
                          [(trio, 0), (_config(conn, "Single", _req(is_single=True)), 1)])
    nothing = _group(conn, "nothing", [(inactive, 0)])
    assert [c["name"] for c in filterconfigs_without_analysis(conn, several)] == \
        ["PlainEarly", "PlainLate"]
    assert [c["name"] for c in filterconfigs_without_analysis(conn, only_required)] == ["Trio"]
    assert filterconfigs_without_analysis(conn, all_required) == []
    assert filterconfigs_without_analysis(conn, nothing) == []
