"""`consequence` (filtering.md 2.3): some transcript (matching transcripts.inclusion_regex,
optionally of a panel gene) has one of the listed VEP consequences."""

from ella.filters import FilterError, ids_param, matched, optional_bool, require

NAME = "consequence"
KIND = "allele"


def check_config(config):
    consequences = config.get("consequences")
    require(isinstance(consequences, list) and all(isinstance(c, str) for c in consequences),
            "consequence filter: 'consequences' must be a list of VEP consequence terms")
    optional_bool(config, "genepanel_only", NAME)


def run(ctx, allele_ids, config):
    check_config(config)
    consequences = config["consequences"]
    known = set((ctx.config.get("transcripts") or {}).get("consequences") or [])
    unknown = [c for c in consequences if c not in known]
    if unknown:
        raise FilterError(f"consequence filter: consequences not in the configuration "
                          f"(transcripts.consequences): {', '.join(unknown)}")
    if not allele_ids or not consequences:
        return set()
    params = {"ids": ids_param(allele_ids), "csq": list(consequences),
              "regex": ctx.inclusion_regex, **ctx.panel_params}
    sql = ("SELECT DISTINCT a.allele_id FROM annotationshadowtranscript a "
           "WHERE a.allele_id = ANY(%(ids)s) AND a.consequences && %(csq)s::text[] "
           "AND (%(regex)s::text IS NULL OR a.transcript ~ %(regex)s::text)")
    if config.get("genepanel_only"):
        sql += (" AND (a.hgnc_id IN (SELECT t.gene_id FROM genepanel_transcript gt "
                "JOIN transcript t ON t.id = gt.transcript_id "
                "WHERE gt.genepanel_name = %(gp_name)s AND gt.genepanel_version = %(gp_version)s)"
                " OR a.symbol IN (SELECT g.hgnc_symbol FROM genepanel_transcript gt "
                "JOIN transcript t ON t.id = gt.transcript_id JOIN gene g ON g.hgnc_id = t.gene_id "
                "WHERE gt.genepanel_name = %(gp_name)s AND gt.genepanel_version = %(gp_version)s))")
    return matched(ctx.conn.execute(sql, params).fetchall(), allele_ids)
