"""The ACMG config of a user: per-gene resolution (acmg.md 3.2) and frequency commonness (3.3).

`acmg` is the `acmg` key of the user's merged config (group config, then the user's own);
DESIGN.md: never the file's `user.user_config`.
"""

import copy

from psycopg import sql

COMMONNESS_ORDER = ("common", "less_common", "low_freq", "null_freq", "num_threshold")
GROUPS = ("external", "internal")


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
    override = (acmg.get("genes") or {}).get(str(hgnc_id))
    if override:
        override = copy.deepcopy(override)
        frequency = override.pop("frequency", None)
        if frequency:
            result["freq_cutoffs"] = frequency["thresholds"]
        _merge(result, override)
    return result


def _column_names(acmg):
    groups = (acmg.get("frequency") or {}).get("groups") or {}
    if not groups:
        raise AcmgConfigError("acmg.frequency.groups is missing from the ACMG config")
    return {g: [(p, k) for p, keys in (groups.get(g) or {}).items() for k in keys]
            for g in GROUPS}


def commonness(conn, acmg, inheritance_by_gene, allele_ids):
    """{allele_id: commonness} for the given alleles (acmg.md 3.3)."""
    if not allele_ids:
        return {}
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

    frequency = acmg.get("frequency") or {}
    overrides = {int(g): o["frequency"] for g, o in (acmg.get("genes") or {}).items()
                 if isinstance(o, dict) and o.get("frequency") and str(g).isdigit()}
    result = {}
    for allele_id in allele_ids:
        allele_genes = genes.get(allele_id, set())
        override_genes = sorted(allele_genes & set(overrides))
        if override_genes:
            chosen = overrides[override_genes[0]]
            cutoffs = chosen["thresholds"]
            num_thresholds = chosen.get("num_thresholds", frequency.get("num_thresholds"))
        else:
            ad = any(inheritance_by_gene.get(g) == "AD" for g in allele_genes)
            cutoffs = (frequency.get("thresholds") or {}).get("AD" if ad else "default") or {}
            num_thresholds = frequency.get("num_thresholds")
        result[allele_id] = _category(rows.get(allele_id), columns, cutoffs, num_thresholds or {})
    return result


def _category(row, columns, cutoffs, num_thresholds):
    if row is None:
        return "num_threshold"
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
    return next((c for c in COMMONNESS_ORDER if c in found), "num_threshold")
