"""`inheritancemodel` (filtering.md 2.7): recessive (non-)candidates from the proband
genotypes and the panel's inheritance per gene."""

from ella.filters import GENOTYPE_ROWS, ids_param, matched, require

NAME = "inheritancemodel"
KIND = "analysis"

CRITERIA = {
    # (per gene criterion, how an allele with several panel genes combines them)
    "recessive_non_candidates": ("g.all_ar AND g.n = 1 AND g.all_het", "bool_and"),
    "recessive_candidates": ("NOT g.all_ad AND ((g.n = 1 AND g.any_hom) OR g.n > 1)", "bool_or"),
}


def check_config(config):
    mode = config.get("filter_mode")
    require(isinstance(mode, str) and mode in CRITERIA,
            f"inheritancemodel filter: unknown filter_mode {mode!r} ({', '.join(CRITERIA)})")


def run(ctx, allele_ids, config):
    check_config(config)
    mode = config["filter_mode"]
    if not allele_ids:
        return set()
    criterion, combine = CRITERIA[mode]
    rows_sql = GENOTYPE_ROWS.format(samples="s.proband")
    query = f"""
WITH p AS (SELECT DISTINCT r.allele_id, r.type FROM ({rows_sql}) r WHERE r.type IS NOT NULL),
inh AS (SELECT t.gene_id, gt.inheritance FROM genepanel_transcript gt
        JOIN transcript t ON t.id = gt.transcript_id
        WHERE gt.genepanel_name = %(gp_name)s AND gt.genepanel_version = %(gp_version)s),
joined AS (SELECT p.allele_id, p.type, a.hgnc_id, inh.inheritance FROM p
           JOIN annotationshadowtranscript a ON a.allele_id = p.allele_id
            AND (%(regex)s::text IS NULL OR a.transcript ~ %(regex)s::text)
           JOIN inh ON inh.gene_id = a.hgnc_id),
genes AS (SELECT hgnc_id, count(DISTINCT allele_id) AS n,
                 bool_and(inheritance = 'AR') AS all_ar, bool_and(inheritance = 'AD') AS all_ad,
                 bool_and(type = 'Heterozygous') AS all_het, bool_or(type = 'Homozygous') AS any_hom
          FROM joined GROUP BY hgnc_id)
SELECT j.allele_id FROM (SELECT DISTINCT allele_id, hgnc_id FROM joined) j
JOIN genes g USING (hgnc_id) GROUP BY j.allele_id HAVING {combine}({criterion})
"""
    params = {"ids": ids_param(allele_ids), "analysis_id": ctx.analysis_id,
              "regex": ctx.inclusion_regex, **ctx.panel_params}
    return matched(ctx.conn.execute(query, params).fetchall(), allele_ids)
