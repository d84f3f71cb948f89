"""`frequency` (filtering.md 2.1): "common" alleles, tested against the shadow table
annotationshadowfrequency with per-gene, AD-gene or default thresholds.

Column names come from the (validated) config and are quoted with sql.Identifier; threshold
numbers are passed as literals of validated numbers."""

from psycopg import sql

from ella.filters import FilterError, ids_param, matched
from ella.refresh import frequency_pairs

NAME = "frequency"
KIND = "allele"
GROUP_NAMES = ("external", "internal")


def _number(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FilterError(f"frequency filter: {what} must be a number")
    return value


def _condition(groups, thresholds, num_thresholds):
    """OR over every (provider, key) of every group named in `thresholds`."""
    parts = []
    for group, cutoff in thresholds.items():
        for provider, keys in (groups.get(group) or {}).items():
            for key in keys:
                test = sql.SQL("f.{} >= {}").format(
                    sql.Identifier(f"{provider}.{key}"),
                    sql.Literal(float(_number(cutoff, f"threshold {group}"))))
                num = (num_thresholds.get(provider) or {}).get(key)
                if num is not None:
                    test = sql.SQL("({} AND f.{} >= {})").format(
                        test, sql.Identifier(f"{provider}_num.{key}"),
                        sql.Literal(int(_number(num, f"num_threshold {provider}.{key}"))))
                parts.append(test)
    return sql.SQL(" OR ").join(parts) if parts else sql.SQL("false")


def _check(ctx, config):
    groups = config.get("groups") or {}
    thresholds = config.get("thresholds")
    if not isinstance(thresholds, dict) or "AD" not in thresholds or "default" not in thresholds:
        raise FilterError("frequency filter: 'thresholds' needs both 'AD' and 'default'")
    configured = set(frequency_pairs(ctx.config))
    for group, providers in groups.items():
        if group not in GROUP_NAMES:
            raise FilterError(f"frequency filter: unknown group {group!r}")
        for provider, keys in (providers or {}).items():
            for key in keys:
                if (provider, key) not in configured:
                    raise FilterError(f"frequency filter: {provider}.{key} is not in the "
                                      "configuration (frequencies.groups)")
    used = [thresholds["AD"], thresholds["default"]] + [
        (g or {}).get("thresholds") for g in (config.get("genes") or {}).values()]
    for item in used:
        if not isinstance(item, dict):
            raise FilterError("frequency filter: every gene override needs 'thresholds'")
        for group in item:
            if group not in groups:
                raise FilterError(f"frequency filter: threshold group {group!r} is not in "
                                  "'groups'")


def run(ctx, allele_ids, config):
    _check(ctx, config)
    if not allele_ids:
        return set()
    groups = config.get("groups") or {}
    thresholds = config["thresholds"]
    num_thresholds = config.get("num_thresholds") or {}
    genes = {int(k): v["thresholds"] for k, v in (config.get("genes") or {}).items()}
    override_tests = [
        sql.SQL("(o.hgnc_id = {} AND ({}))").format(
            sql.Literal(gene), _condition(groups, gene_thresholds, num_thresholds))
        for gene, gene_thresholds in sorted(genes.items())]
    query = sql.SQL(
        "WITH input AS (SELECT unnest(%(ids)s::int[]) AS allele_id), "
        "override AS (SELECT DISTINCT allele_id, hgnc_id FROM annotationshadowtranscript "
        "  WHERE allele_id = ANY(%(ids)s) AND hgnc_id = ANY(%(genes)s::int[])), "
        "ad_genes AS (SELECT t.gene_id FROM genepanel_transcript gt "
        "  JOIN transcript t ON t.id = gt.transcript_id "
        "  WHERE gt.genepanel_name = %(gp_name)s AND gt.genepanel_version = %(gp_version)s "
        "  GROUP BY t.gene_id HAVING bool_and(gt.inheritance = 'AD')), "
        "ad AS (SELECT DISTINCT a.allele_id FROM annotationshadowtranscript a "
        "  WHERE a.allele_id = ANY(%(ids)s) AND a.hgnc_id IN (SELECT gene_id FROM ad_genes) "
        "  AND a.allele_id NOT IN (SELECT allele_id FROM override)), "
        "dflt AS (SELECT allele_id FROM input "
        "  WHERE allele_id NOT IN (SELECT allele_id FROM override) "
        "  AND allele_id NOT IN (SELECT allele_id FROM ad)) "
        "SELECT f.allele_id FROM annotationshadowfrequency f JOIN ad USING (allele_id) "
        "  WHERE {ad} "
        "UNION SELECT f.allele_id FROM annotationshadowfrequency f JOIN dflt USING (allele_id) "
        "  WHERE {default} "
        "UNION SELECT f.allele_id FROM annotationshadowfrequency f "
        "  JOIN override o USING (allele_id) WHERE {override}").format(
            ad=_condition(groups, thresholds["AD"], num_thresholds),
            default=_condition(groups, thresholds["default"], num_thresholds),
            override=sql.SQL(" OR ").join(override_tests) if override_tests
            else sql.SQL("false"))
    rows = ctx.conn.execute(query, {"ids": ids_param(allele_ids), "genes": sorted(genes),
                                    **ctx.panel_params}).fetchall()
    return matched(rows, allele_ids)
