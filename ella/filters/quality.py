"""`quality` (filtering.md 2.4): alleles failing the configured QUAL / allele ratio / FILTER
conditions in every proband sample that has them."""

import psycopg

from ella.db import postgres_regex_problem
from ella.filters import GENOTYPE_ROWS, FilterError, ids_param, is_number, matched, \
    optional_bool, require

NAME = "quality"
KIND = "analysis"


def check_config(config):
    require(any(key in config for key in ("qual", "allele_ratio", "filter_status")),
            "quality filter: configure at least one of qual, allele_ratio, filter_status")
    if "qual" in config:
        require(is_number(config["qual"], 0), "quality filter: 'qual' must be a number >= 0")
    if "allele_ratio" in config:
        require(is_number(config["allele_ratio"], 0, 1),
                "quality filter: 'allele_ratio' must be a number from 0 to 1")
    if "filter_status" in config:
        status = config["filter_status"]
        require(isinstance(status, dict) and isinstance(status.get("pattern"), str),
                "quality filter: 'filter_status' needs a 'pattern' (a regex)")
        for key in ("inverse", "filter_empty"):
            optional_bool(status, key, NAME)


def run(ctx, allele_ids, config):
    check_config(config)
    conditions, params = [], {}
    if "qual" in config:
        conditions.append("(r.variant_quality IS NOT NULL AND r.variant_quality < %(qual)s)")
        params["qual"] = config["qual"]
    if "allele_ratio" in config:
        # 0.0 ratios are unreliable and never filtered.
        conditions.append("(r.allele_ratio IS NOT NULL AND r.allele_ratio < %(ar)s "
                          "AND r.allele_ratio != 0.0)")
        params["ar"] = config["allele_ratio"]
    if "filter_status" in config:
        status = config["filter_status"]
        params["pattern"] = status["pattern"]
        if status.get("filter_empty"):
            test = ("(r.filter_status ~ %(pattern)s OR r.filter_status IS NULL "
                    "OR r.filter_status = '.')")
        else:
            test = ("(r.filter_status ~ %(pattern)s AND r.filter_status IS NOT NULL "
                    "AND r.filter_status != '.')")
        conditions.append(f"(NOT {test})" if status.get("inverse") else test)
    if not allele_ids:
        return set()
    rows_sql = GENOTYPE_ROWS.format(samples="s.proband AND gsd.sample_id = x.sample_id")
    # Per (allele, proband sample): fails if every configured condition holds.
    query = (f"SELECT r.allele_id FROM ({rows_sql}) r GROUP BY r.allele_id "
             f"HAVING bool_and(COALESCE({' AND '.join(conditions)}, false))")
    params.update(ids=ids_param(allele_ids), analysis_id=ctx.analysis_id)
    try:
        rows = ctx.conn.execute(query, params).fetchall()
    except psycopg.errors.InvalidRegularExpression as exc:
        # Stored before the deposit checked it with PostgreSQL (pattern_problem).
        raise FilterError(f"quality filter: filter_status.pattern is not a valid regex: "
                          f"{exc.diag.message_primary}") from None
    return matched(rows, allele_ids)


def pattern_problem(conn, config):
    """Why PostgreSQL refuses the config's filter_status pattern as a regex (its dialect is
    not Python's), or None. Runs in a savepoint, so the caller's transaction goes on."""
    pattern = (config.get("filter_status") or {}).get("pattern")
    problem = postgres_regex_problem(conn, pattern) if isinstance(pattern, str) else None
    return problem and (f"quality filter: filter_status.pattern {pattern[:80]!r} is not a "
                        f"valid PostgreSQL regex: {problem}")
