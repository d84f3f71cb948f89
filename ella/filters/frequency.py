"""`frequency` (filtering.md 2.1): "common" alleles, tested against the shadow table
annotationshadowfrequency with per-gene, AD-gene or default thresholds.

Column names come from the (validated) config and are quoted with sql.Identifier; threshold
numbers are passed as literals of validated numbers."""

import re

from psycopg import sql

from ella.filters import (INT4_MAX, FilterError, ids_param, is_int, is_number, matched,
                          require)
from ella.refresh import frequency_pairs

NAME = "frequency"
KIND = "allele"
GROUP_NAMES = ("external", "internal")


HGNC_ID = re.compile(r"[0-9]{1,10}\Z")  # digits int() takes, whatever their number


def _condition(groups, thresholds, num_thresholds):
    """OR over every (provider, key) of every group named in `thresholds`."""
    parts = []
    for group, cutoff in thresholds.items():
        for provider, keys in (groups.get(group) or {}).items():
            for key in keys:
                test = sql.SQL("f.{} >= {}").format(
                    sql.Identifier(f"{provider}.{key}"), sql.Literal(float(cutoff)))
                num = (num_thresholds.get(provider) or {}).get(key)
                if num is not None:
                    test = sql.SQL("({} AND f.{} >= {})").format(
                        test, sql.Identifier(f"{provider}_num.{key}"), sql.Literal(int(num)))
                parts.append(test)
    return sql.SQL(" OR ").join(parts) if parts else sql.SQL("false")


def _check_thresholds(thresholds, groups, where):
    require(isinstance(thresholds, dict), f"frequency filter: {where} must be an object")
    for group, cutoff in thresholds.items():
        require(group in groups, f"frequency filter: {where}: group {group!r} is not in "
                                 "'groups'")
        require(is_number(cutoff, 0, 1), f"frequency filter: {where}.{group} must be a number "
                                         "from 0 to 1")


def check_config(config):
    groups = config.get("groups", {})
    require(isinstance(groups, dict), "frequency filter: 'groups' must be an object")
    for group, providers in groups.items():
        require(group in GROUP_NAMES, f"frequency filter: unknown group {group!r} (external, "
                                      "internal)")
        require(isinstance(providers, dict) and all(
            isinstance(keys, list) and all(isinstance(k, str) for k in keys)
            for keys in providers.values()),
            f"frequency filter: groups.{group} must map providers to lists of keys")
    thresholds = config.get("thresholds")
    require(isinstance(thresholds, dict) and "AD" in thresholds and "default" in thresholds,
            "frequency filter: 'thresholds' needs both 'AD' and 'default'")
    for name in ("AD", "default"):
        _check_thresholds(thresholds[name], groups, f"thresholds.{name}")
    num_thresholds = config.get("num_thresholds", {})
    require(isinstance(num_thresholds, dict) and all(
        isinstance(keys, dict) and all(is_int(n, 0) for n in keys.values())
        for keys in num_thresholds.values()),
        f"frequency filter: 'num_thresholds' must map providers to {{key: integer from 0 to "
        f"{INT4_MAX}}}")
    genes = config.get("genes", {})
    require(isinstance(genes, dict), "frequency filter: 'genes' must be an object")
    for gene, override in genes.items():
        require(HGNC_ID.match(gene) and 0 < int(gene) <= INT4_MAX,
                f"frequency filter: genes: {gene[:40]!r} is not an HGNC id")
        require(isinstance(override, dict) and "thresholds" in override,
                f"frequency filter: genes.{gene} needs 'thresholds'")
        _check_thresholds(override["thresholds"], groups, f"genes.{gene}.thresholds")


def _check(ctx, config):
    """check_config, and the groups against the global configuration."""
    check_config(config)
    configured = set(frequency_pairs(ctx.config))
    for group, providers in (config.get("groups") or {}).items():
        for provider, keys in providers.items():
            for key in keys:
                if (provider, key) not in configured:
                    raise FilterError(f"frequency filter: {provider}.{key} is not in the "
                                      "configuration (frequencies.groups)")


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
