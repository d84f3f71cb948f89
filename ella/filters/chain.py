"""Running a filterconfig (filtering.md 1.3), requirements and per-group selection (1.4,
api.md 4.27).

Set arithmetic is Python; every filter does its work in SQL (see the filter modules)."""

import re

from ella.allele_views import ANALYSIS_ALLELE_IDS
from ella.filters import FilterContext, FilterError
from ella.filters import (callertype, classification, consequence, external, frequency, gene,
                          inheritancemodel, ppy, quality, region, segregation, size)

FILTERS = {m.NAME: m for m in (frequency, region, classification, external, ppy,
                               inheritancemodel, consequence, quality, segregation, gene, size,
                               callertype)}


def filter_module(name):
    if not isinstance(name, str) or name not in FILTERS:
        raise FilterError(f"unknown filter {name!r}")
    return FILTERS[name]


def _check_entry(entry, where):
    if not isinstance(entry, dict):
        raise FilterError(f"{where}: must be an object with a name and a config")
    module = filter_module(entry.get("name"))
    config = entry.get("config") or {}
    if not isinstance(config, dict):
        raise FilterError(f"{where}: config must be an object")
    try:
        module.check_config(config)
    except FilterError as exc:
        raise FilterError(f"{where}: {exc}") from None


def _integral_floats_as_ints(value):
    """JSON Schema (draft-07, which ELLA's filterconfig schema follows) counts 10.0 as an
    integer, and ELLA's filters take it as one: such numbers are checked and run as ints."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_integral_floats_as_ints(item) for item in value]
    if isinstance(value, dict):
        return {key: _integral_floats_as_ints(item) for key, item in value.items()}
    return value


def check_filterconfig(filterconfig):
    """The filterconfig as its filters run it (10.0 read as 10), or FilterError naming the
    first filter (or exception) whose config its filter cannot run; the same rules whether
    the config is deposited or run. What is stored stays as it was given."""
    filterconfig = _integral_floats_as_ints(filterconfig)
    filters = filterconfig.get("filters") if isinstance(filterconfig, dict) else None
    if not isinstance(filters, list):
        raise FilterError("a filterconfig needs a list of 'filters'")
    for index, entry in enumerate(filters):
        _check_entry(entry, f"filters[{index}]")
        exceptions = entry.get("exceptions") or []
        if not isinstance(exceptions, list):
            raise FilterError(f"filters[{index}].exceptions must be a list")
        for exc_index, exception in enumerate(exceptions):
            _check_entry(exception, f"filters[{index}].exceptions[{exc_index}]")
    return filterconfig


def run_filters(ctx, allele_ids, filterconfig, timings=None):
    """Run the chain on `allele_ids`; returns {"allele_ids": sorted remaining,
    "excluded_allele_ids": {filter name: sorted ids}}.

    Exceptions: an allele-type exception only sees what its filter removes; an analysis-type
    exception sees every allele still in the chain before the filter (so it can count other
    variants in the same gene). A filter name used twice unions its excluded ids (DESIGN.md).
    `timings`, if a list, receives (filter name, seconds) per filter including exceptions."""
    import time
    filterconfig = check_filterconfig(filterconfig)  # nothing runs if a later one could not
    remaining = set(allele_ids)
    excluded = {}
    for entry in filterconfig["filters"]:
        started = time.perf_counter()
        module = filter_module(entry["name"])
        _check_mode(ctx, module)
        out = module.run(ctx, remaining, entry.get("config") or {})
        rescued = set()
        for exception in entry.get("exceptions") or []:
            exc_module = filter_module(exception["name"])
            _check_mode(ctx, exc_module)
            source = out if exc_module.KIND == "allele" else remaining
            rescued |= exc_module.run(ctx, source, exception.get("config") or {}) & out
        removed = out - rescued
        excluded[entry["name"]] = sorted(set(excluded.get(entry["name"], [])) | removed)
        remaining -= removed
        if timings is not None:
            timings.append((entry["name"], time.perf_counter() - started))
    return {"allele_ids": sorted(remaining), "excluded_allele_ids": excluded}


def _check_mode(ctx, module):
    if module.KIND == "analysis" and ctx.analysis_id is None:
        raise FilterError(f"filter {module.NAME!r} needs an analysis")


def segregation_tags(conn, config, genepanel, analysis_id, allele_ids, filterconfig):
    """{allele_id: [tag]} from the first segregation filter of `filterconfig` (a filter
    config's document), {} when it has none (api.md 3.4)."""
    filterconfig = check_filterconfig(filterconfig)
    entry = next((e for e in filterconfig["filters"] if e["name"] == segregation.NAME), None)
    if entry is None:
        return {}
    ctx = FilterContext(conn, config, genepanel, analysis_id)
    return segregation.tags(ctx, allele_ids, entry.get("config") or {})


def analysis_allele_ids(conn, analysis_id):
    """Every allele with a genotype (first or second allele) in a sample of the analysis."""
    return [r[0] for r in conn.execute(f"{ANALYSIS_ALLELE_IDS} ORDER BY 1",
                                       {"analysis_id": analysis_id})]


def load_filterconfig(conn, filterconfig_id):
    row = conn.execute("SELECT filterconfig FROM filterconfig WHERE id = %s",
                       (filterconfig_id,)).fetchone()
    if row is None:
        raise LookupError(f"No filter config with id {filterconfig_id}")
    return row[0]


def filter_analysis(conn, config, analysis_id, filterconfig_id, timings=None):
    """The production path: the filterconfig on all variants of the analysis, in its panel."""
    name, version = conn.execute(
        "SELECT genepanel_name, genepanel_version FROM analysis WHERE id = %s",
        (analysis_id,)).fetchone()
    filterconfig = load_filterconfig(conn, filterconfig_id)
    ctx = FilterContext(conn, config, (name, version), analysis_id)
    return run_filters(ctx, analysis_allele_ids(conn, analysis_id), filterconfig, timings)


def split_by_caller_type(conn, result):
    """api.md 4.10's shape: excluded ids split by the allele's caller type."""
    ids = sorted({i for ids in result["excluded_allele_ids"].values() for i in ids})
    types = dict(conn.execute("SELECT id, caller_type::text FROM allele WHERE id = ANY(%s)",
                              (ids,)).fetchall()) if ids else {}
    by_type = {"cnv": {}, "snv": {}}
    for name, excluded in result["excluded_allele_ids"].items():
        for caller_type in by_type:
            by_type[caller_type][name] = [i for i in excluded if types.get(i) == caller_type]
    return {"allele_ids": result["allele_ids"], "excluded_alleles_by_caller_type": by_type}


# --- requirements and selection ------------------------------------------------------------

def analysis_facts(conn, analysis_id):
    name, gp_name = conn.execute("SELECT name, genepanel_name FROM analysis WHERE id = %s",
                                 (analysis_id,)).fetchone()
    samples = conn.execute("SELECT id, proband, family_id, father_id, mother_id FROM sample "
                           "WHERE analysis_id = %s", (analysis_id,)).fetchall()
    ids = {s[0] for s in samples}
    is_family = any(s[2] is not None for s in samples)
    is_trio = any(s[1] and s[3] in ids and s[4] in ids for s in samples)
    return {"name": name, "genepanel_name": gp_name or "", "is_family": is_family,
            "is_single": not is_family, "is_trio": is_trio}


def requirements_hold(requirements, facts):
    """Every requirement must hold; regexes match from the start (Python re.match)."""
    for requirement in requirements or []:
        if requirement.get("function") != "analysis":
            raise FilterError(f"unknown requirement function {requirement.get('function')!r}")
        for key, value in (requirement.get("params") or {}).items():
            if key in ("name", "genepanel_name"):
                try:
                    if not re.match(value, facts[key]):
                        return False
                except re.error as exc:  # stored without `ella-filterconfigs update`
                    raise FilterError(f"requirement {key} {value!r} is not a valid regex "
                                      f"({exc})") from None
            elif key in ("is_trio", "is_family", "is_single"):
                if facts[key] != value:
                    return False
            else:
                raise FilterError(f"unknown requirement parameter {key!r}")
    return True


FILTERCONFIG_COLUMNS = "fc.id, fc.name, fc.filterconfig, fc.active, fc.requirements"


def filterconfig_object(row):
    return {"id": row[0], "name": row[1], "filterconfig": row[2], "active": row[3],
            "requirements": row[4]}


def group_active_filterconfigs(conn, usergroup_id):
    """The group's active configs in the group's order (usergroupfilterconfig.order)."""
    rows = conn.execute(
        f"SELECT {FILTERCONFIG_COLUMNS} FROM filterconfig fc "
        "JOIN usergroupfilterconfig ugfc ON ugfc.filterconfig_id = fc.id "
        'WHERE ugfc.usergroup_id = %s AND fc.active ORDER BY ugfc."order", fc.id',
        (usergroup_id,)).fetchall()
    return [filterconfig_object(r) for r in rows]


def analysis_filterconfigs(conn, usergroup_id, analysis_id):
    """Active configs of the group whose requirements hold for the analysis, in the group's
    order (first = default)."""
    facts = analysis_facts(conn, analysis_id)
    return [c for c in group_active_filterconfigs(conn, usergroup_id)
            if requirements_hold(c["requirements"], facts)]


def filterconfigs_without_analysis(conn, usergroup_id):
    """Selection when there is no analysis (filtering.md 1.5): with several active configs
    only those without requirements (nothing to check them against), else the zero or one."""
    configs = group_active_filterconfigs(conn, usergroup_id)
    if len(configs) > 1:
        return [c for c in configs if not c["requirements"]]
    return configs


def group_filterconfig(conn, usergroup_id, filterconfig_id):
    """The config if linked to the group, else None."""
    row = conn.execute(
        f"SELECT {FILTERCONFIG_COLUMNS} FROM filterconfig fc WHERE fc.id = %s AND EXISTS "
        "(SELECT 1 FROM usergroupfilterconfig u WHERE u.filterconfig_id = fc.id "
        "AND u.usergroup_id = %s)", (filterconfig_id, usergroup_id)).fetchone()
    return filterconfig_object(row) if row else None
