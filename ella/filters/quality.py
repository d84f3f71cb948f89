"""`quality` (filtering.md 2.4): alleles failing the configured QUAL / allele ratio / FILTER
conditions in every proband sample that has them."""

from ella.filters import GENOTYPE_ROWS, FilterError, ids_param, matched

NAME = "quality"
KIND = "analysis"


def run(ctx, allele_ids, config):
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
        if "pattern" not in status:
            raise FilterError("quality filter: filter_status needs 'pattern'")
        params["pattern"] = status["pattern"]
        if status.get("filter_empty"):
            test = ("(r.filter_status ~ %(pattern)s OR r.filter_status IS NULL "
                    "OR r.filter_status = '.')")
        else:
            test = ("(r.filter_status ~ %(pattern)s AND r.filter_status IS NOT NULL "
                    "AND r.filter_status != '.')")
        conditions.append(f"(NOT {test})" if status.get("inverse") else test)
    if not conditions:
        raise FilterError("quality filter: configure at least one of qual, allele_ratio, "
                          "filter_status")
    if not allele_ids:
        return set()
    rows_sql = GENOTYPE_ROWS.format(samples="s.proband AND gsd.sample_id = x.sample_id")
    # Per (allele, proband sample): fails if every configured condition holds.
    query = (f"SELECT r.allele_id FROM ({rows_sql}) r GROUP BY r.allele_id "
             f"HAVING bool_and(COALESCE({' AND '.join(conditions)}, false))")
    params.update(ids=ids_param(allele_ids), analysis_id=ctx.analysis_id)
    return matched(ctx.conn.execute(query, params).fetchall(), allele_ids)
