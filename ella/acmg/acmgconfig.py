"""The ACMG config of a user: per-gene resolution (acmg.md 3.2) and frequency commonness (3.3).

`acmg` is the `acmg` key of the user's merged config (group config, then the user's own);
DESIGN.md: never the file's `user.user_config`.
"""

import copy

from psycopg import sql

COMMONNESS_ORDER = ("common", "less_common", "low_freq", "null_freq", "num_threshold")
GROUPS = ("external", "internal")
# The values the rules compare a gene's settings with (acmg.md 4, rules 5-11).
DISEASE_MODES = ("ANY", "LOF", "MISS", "MISSCOMM", "MISSUNC")
LAST_EXON_SETTINGS = ("LEI", "LENI")
# What a gene override's `inheritance` may say: the values the rules test (acmg.md 2.6,
# REQ_GP_*; AD also for BS1 and the AD cutoffs). `"ad"` matched none and silently took
# REQ_GP_AD and BS1 from the gene.
OVERRIDE_INHERITANCES = ("AD", "AR", "XD", "XR")


class AcmgConfigError(ValueError):
    pass


def panel_inheritance(conn, name, version):
    """{hgnc_id: "AD" | "AR" | None}: AD/AR when all the gene's panel transcripts say so."""
    by_gene = {}
    for hgnc_id, inheritance in conn.execute(
            "SELECT t.gene_id, gt.inheritance FROM genepanel_transcript gt "
            "JOIN transcript t ON t.id = gt.transcript_id "
            "WHERE gt.genepanel_name = %s AND gt.genepanel_version = %s", (name, version)):
        by_gene.setdefault(hgnc_id, set()).add(inheritance)
    return {gene: (next(iter(values)) if values in ({"AD"}, {"AR"}) else None)
            for gene, values in by_gene.items()}


def _merge(base, override):
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def _is_hgnc_id(key):
    """ASCII digits only: str.isdigit() also takes '²', which int() refuses."""
    return str(key).isascii() and str(key).isdigit()


def gene_override(acmg, hgnc_id):
    """The `genes` entry for an HGNC id, its key read as a number (`"01101"` is 1101) as the
    frequency check reads it (acmg.md 3.2-3.3: one override sets both)."""
    if hgnc_id is None:
        return None
    for key, override in (acmg.get("genes") or {}).items():
        if _is_hgnc_id(key) and int(key) == int(hgnc_id):
            return override
    return None


def resolve_gene(acmg, inheritance_by_gene, hgnc_id):
    """The `genepanel` document of the rule engine for one gene (or None)."""
    result = {k: copy.deepcopy(v) for k, v in acmg.items() if k not in ("frequency", "genes")}
    thresholds = (acmg.get("frequency") or {}).get("thresholds") or {}
    if hgnc_id is None:
        result["freq_cutoffs"] = copy.deepcopy(thresholds.get("default"))
        return result
    inheritance = inheritance_by_gene.get(hgnc_id)
    if inheritance:
        result["inheritance"] = inheritance
    result["freq_cutoffs"] = copy.deepcopy(
        thresholds.get("AD") if inheritance == "AD" else thresholds.get("default"))
    override = gene_override(acmg, hgnc_id)
    if override:
        override = copy.deepcopy(override)
        frequency = override.pop("frequency", None)
        if frequency:
            result["freq_cutoffs"] = frequency["thresholds"]
        _merge(result, override)
    return result


def _column_names(acmg):
    groups = (acmg.get("frequency") or {}).get("groups") or {}
    return {g: [(p, k) for p, keys in (groups.get(g) or {}).items() for k in keys]
            for g in GROUPS}


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _threshold_problem(where, thresholds, columns):
    """Why one set of cutoffs ({external: {hi_freq_cutoff, lo_freq_cutoff}, internal: ...})
    cannot decide commonness, or None. A set whose groups have no frequency column would
    find every variant "absent from controls" (null_freq, PPxPM2)."""
    if not isinstance(thresholds, dict) or not thresholds:
        return f"{where} must be an object with external and/or internal cutoffs"
    unknown = sorted(str(g) for g in thresholds if g not in GROUPS)
    if unknown:
        return f"{where}: unknown group(s) {', '.join(unknown)} (allowed: external, internal)"
    for group, cutoffs in thresholds.items():
        for name in ("hi_freq_cutoff", "lo_freq_cutoff"):
            if not isinstance(cutoffs, dict) or not _is_number(cutoffs.get(name)):
                return f"{where}.{group}.{name} must be a number"
    if not any(columns[g] for g in thresholds):
        return (f"{where} tests no frequency column: acmg.frequency.groups has none for "
                f"{' or '.join(sorted(thresholds))}")
    return None


def _num_thresholds_problem(where, value):
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
            isinstance(keys, dict) and all(_is_number(n) for n in keys.values())
            for keys in value.values()):
        return f"{where} must map providers to {{key: number}}"
    return None


def _gene_setting_problem(where, settings):
    """Why `disease_mode` / `last_exon_important` of the config or of a gene override is not
    a value the rules know, or None. An unknown one matched no rule: `"LOFF"` silently took
    PVS1 from every null variant. Both may be left out (api.md's ACMGUserConfig), as ELLA
    allows: the rules that need them are then not suggested."""
    for key, allowed in (("disease_mode", DISEASE_MODES),
                         ("last_exon_important", LAST_EXON_SETTINGS)):
        if key not in settings:
            continue
        value = settings[key]
        # disease_mode may also be a list of modes, which the engine accepts (acmg.md 4).
        values = value if key == "disease_mode" and isinstance(value, list) else [value]
        if not values or not all(isinstance(v, str) and v in allowed for v in values):
            return (f"{where}.{key} is {value!r}; it must be one of {', '.join(allowed)}"
                    + (" (or a list of them)" if key == "disease_mode" else ""))
    return None


def acmg_config_problem(acmg, stored=False):
    """Why an ACMG config (a group's or user's `acmg`, acmg.md 3.1) cannot give the rules
    what they need, or None: its gene settings, then its frequency section. A `stored` one
    (read at a request: an adopted database's) may hold a gene override's `inheritance` the
    rules do not test (ELLA's panels write `AD/AR`): as in ELLA, no rule matches it."""
    problem = _gene_setting_problem("acmg", acmg)
    if problem:
        return problem
    genes = acmg.get("genes") or {}
    if isinstance(genes, dict):
        for gene, override in genes.items():
            if isinstance(override, dict):
                problem = _gene_setting_problem(f"acmg.genes.{gene}", override)
                if problem:
                    return problem
                inheritance = override.get("inheritance")
                if not stored and inheritance is not None and \
                        inheritance not in OVERRIDE_INHERITANCES:
                    return (f"acmg.genes.{gene}.inheritance is {inheritance!r}; it must be one "
                            f"of {', '.join(OVERRIDE_INHERITANCES)} (or null)")
    return frequency_config_problem(acmg)


def frequency_config_problem(acmg):
    """Why the `frequency` part of an ACMG config (acmg.md 3.1) cannot give a commonness for
    every variant, or None. A group's `acmg` replaces the default wholesale, so the whole
    frequency section must be there: groups, thresholds AD and default, and `thresholds` in
    every gene override with `frequency`."""
    frequency = acmg.get("frequency")
    if not isinstance(frequency, dict):
        return ("acmg.frequency.groups and acmg.frequency.thresholds are missing "
                "(acmg.md 3.1)")
    groups = frequency.get("groups")
    if not isinstance(groups, dict) or not groups:
        return "acmg.frequency.groups is missing"
    for group, providers in groups.items():
        if group not in GROUPS:
            return f"acmg.frequency.groups: unknown group {group} (allowed: external, internal)"
        if not isinstance(providers, dict) or not all(
                isinstance(keys, list) and all(isinstance(k, str) for k in keys)
                for keys in providers.values()):
            return f"acmg.frequency.groups.{group} must map providers to lists of keys"
    columns = _column_names(acmg)
    thresholds = frequency.get("thresholds")
    if not isinstance(thresholds, dict):
        return "acmg.frequency.thresholds is missing (AD and default)"
    for level in ("AD", "default"):
        problem = _threshold_problem(f"acmg.frequency.thresholds.{level}",
                                     thresholds.get(level), columns)
        if problem:
            return problem
    problem = _num_thresholds_problem("acmg.frequency.num_thresholds",
                                      frequency.get("num_thresholds"))
    if problem:
        return problem
    genes = acmg.get("genes") or {}
    if not isinstance(genes, dict):
        return "acmg.genes must be an object keyed by HGNC id"
    seen = {}
    for gene, override in genes.items():
        where = f"acmg.genes.{gene}"
        if not _is_hgnc_id(gene):
            return f"acmg.genes: {gene} is not an HGNC id (digits)"
        if int(gene) in seen:
            # "1101" and "01101" are one gene: the frequency check took one override and
            # the gene settings the other.
            return f"acmg.genes: {seen[int(gene)]} and {gene} name the same HGNC id"
        seen[int(gene)] = gene
        if not isinstance(override, dict):
            return f"{where} must be an object"
        if "frequency" not in override:
            continue
        gene_frequency = override["frequency"]
        if not isinstance(gene_frequency, dict):
            return f"{where}.frequency must be an object with thresholds"
        problem = (_threshold_problem(f"{where}.frequency.thresholds",
                                      gene_frequency.get("thresholds"), columns)
                   or _num_thresholds_problem(f"{where}.frequency.num_thresholds",
                                              gene_frequency.get("num_thresholds")))
        if problem:
            return problem
    return None


def commonness(conn, acmg, inheritance_by_gene, allele_ids):
    """{allele_id: commonness} for the given alleles (acmg.md 3.3)."""
    if not allele_ids:
        return {}
    problem = frequency_config_problem(acmg)
    if problem:
        raise AcmgConfigError(problem)
    columns = _column_names(acmg)
    existing = {r[0] for r in conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = "
        "'public.annotationshadowfrequency'::regclass AND attnum > 0 AND NOT attisdropped")}
    wanted = []
    for group in GROUPS:
        for provider, key in columns[group]:
            for name in (f"{provider}.{key}", f"{provider}_num.{key}"):
                if name not in existing:
                    raise AcmgConfigError(
                        f"acmg.frequency.groups: column {name} is not in the frequency shadow "
                        "table (it must be one of the global frequencies.groups)")
                wanted.append(name)
    query = sql.SQL("SELECT allele_id, {} FROM annotationshadowfrequency "
                    "WHERE allele_id = ANY(%s)").format(
        sql.SQL(", ").join(sql.Identifier(n) for n in wanted) if wanted else sql.SQL("NULL"))
    rows = {}
    for row in conn.execute(query, (list(allele_ids),)):
        rows[row[0]] = dict(zip(wanted, row[1:]))
    genes = {}
    for allele_id, hgnc_id in conn.execute(
            "SELECT DISTINCT allele_id, hgnc_id FROM annotationshadowtranscript "
            "WHERE allele_id = ANY(%s) AND hgnc_id IS NOT NULL", (list(allele_ids),)):
        genes.setdefault(allele_id, set()).add(hgnc_id)

    frequency = acmg["frequency"]
    overrides = {int(g): o["frequency"] for g, o in (acmg.get("genes") or {}).items()
                 if "frequency" in o}
    result = {}
    for allele_id in allele_ids:
        allele_genes = genes.get(allele_id, set())
        override_genes = sorted(allele_genes & set(overrides))
        if override_genes:
            # In several override genes: tested against each, and the categories found by
            # any of them count (filtering.md 2.1, which acmg.md 3.3 follows).
            # An override's num_thresholds replace the top-level ones when given; a null is
            # none given (read as "no minimum" it made a frequency of 10 alleles common:
            # BA1), `{}` is the way to ask for no minimum.
            tests = [(overrides[g]["thresholds"],
                      frequency.get("num_thresholds") if overrides[g].get("num_thresholds")
                      is None else overrides[g]["num_thresholds"])
                     for g in override_genes]
        else:
            ad = any(inheritance_by_gene.get(g) == "AD" for g in allele_genes)
            tests = [(frequency["thresholds"]["AD" if ad else "default"],
                      frequency.get("num_thresholds"))]
        row = rows.get(allele_id)
        found = set()
        for cutoffs, num_thresholds in tests:
            found |= _categories(row, columns, cutoffs, num_thresholds or {})
        result[allele_id] = next((c for c in COMMONNESS_ORDER if c in found), "num_threshold")
    return result


def _categories(row, columns, cutoffs, num_thresholds):
    """The commonness categories one set of cutoffs finds for a shadow row."""
    if row is None:
        return set()
    found = set()
    all_null = True
    for group in GROUPS:
        if group not in cutoffs:
            continue
        hi = cutoffs[group]["hi_freq_cutoff"]
        lo = cutoffs[group]["lo_freq_cutoff"]
        for provider, key in columns[group]:
            freq = row[f"{provider}.{key}"]
            if freq is None:
                continue
            all_null = False
            limit = (num_thresholds.get(provider) or {}).get(key)
            if limit is not None:
                num = row[f"{provider}_num.{key}"]
                if num is None or num < limit:
                    continue
            if freq >= hi:
                found.add("common")
            elif freq >= lo:
                found.add("less_common")
            else:
                found.add("low_freq")
    if all_null:
        found.add("null_freq")
    return found
