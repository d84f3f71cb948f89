"""Filter configs and filtered variants (api.md 2.9, 2.11, 4.10, 4.27; filtering.md 1.3).

Handlers are thin: access check first, then one call into `ella.filters.chain`."""

import logging

from ella.filters import FilterError
from ella.filters.chain import (analysis_filterconfigs, filter_analysis, group_filterconfig,
                                split_by_caller_type)
from ella.web.access import require_analysis
from ella.web.errors import ApiError, BadRequest, Forbidden, NotFound
from ella.web.router import router

API = "/api/v1"
log = logging.getLogger(__name__)
# Snapshot categories (the `filtered` enum) -> filter names (api.md 4.10).
SNAPSHOT_CATEGORIES = {
    "CLASSIFICATION": "classification", "CONSEQUENCE": "consequence", "FREQUENCY": "frequency",
    "GENE": "gene", "INHERITANCEMODEL": "inheritancemodel", "POLYPYRIMIDINE": "ppy",
    "QUALITY": "quality", "REGION": "region", "SEGREGATION": "segregation"}


@router.route("GET", f"{API}/workflows/analyses/<int:analysis_id>/filterconfigs/",
              access="analysis",
              summary="Filter configs of the caller's group usable for this analysis, in order")
def list_analysis_filterconfigs(ctx, analysis_id):
    require_analysis(ctx.conn, ctx.user, analysis_id)
    try:
        configs = analysis_filterconfigs(ctx.conn, ctx.user["group_id"], analysis_id)
    except FilterError as exc:  # a stored requirement that cannot be checked
        raise BadRequest(f"The filter configs of your user group cannot be chosen: "
                         f"{exc}") from None
    if not configs:
        # ELLA answers 500 here; ours is a 404 with a message (DESIGN.md status codes).
        raise NotFound(f"No filter config of your user group is usable for analysis "
                       f"{analysis_id}")
    return configs


def require_group_filterconfig(ctx, filterconfig_id):
    """The filter config if it is linked to the caller's group; another group's is a 403
    (reading it or running it alike), an unknown id 404."""
    config = group_filterconfig(ctx.conn, ctx.user["group_id"], filterconfig_id)
    if config is None:
        if ctx.conn.execute("SELECT 1 FROM filterconfig WHERE id = %s",
                            (filterconfig_id,)).fetchone():
            raise Forbidden(f"Filter config {filterconfig_id} is not available to your user "
                            "group")
        raise NotFound(f"No filter config with id {filterconfig_id}")
    return config


@router.route("GET", f"{API}/filterconfigs/<int:filterconfig_id>", access="group",
              summary="One filter config (linked to the caller's group)")
def get_filterconfig(ctx, filterconfig_id):
    return require_group_filterconfig(ctx, filterconfig_id)


def _run(ctx, analysis_id, filterconfig_id):
    require_group_filterconfig(ctx, filterconfig_id)
    try:
        result = filter_analysis(ctx.conn, ctx.config, analysis_id, filterconfig_id)
    except FilterError as exc:
        raise BadRequest(f"Filter config {filterconfig_id} cannot be run: {exc}") from None
    return split_by_caller_type(ctx.conn, result)


@router.route("GET", f"{API}/workflows/analyses/<int:analysis_id>/filteredalleles/",
              access="analysis",
              summary="Run a filter config on all variants of the analysis (filterconfig_id)")
def analysis_filtered_alleles(ctx, analysis_id):
    require_analysis(ctx.conn, ctx.user, analysis_id)
    filterconfig_id = ctx.request.int_arg("filterconfig_id")
    if filterconfig_id is None:
        raise BadRequest("Query parameter 'filterconfig_id' is required")
    return _run(ctx, analysis_id, filterconfig_id)


@router.route("GET", f"{API}/workflows/analyses/<int:analysis_id>/interpretations/"
              "<int:interpretation_id>/filteredalleles/", access="analysis",
              summary="Filtered variants of a round: run a filter config, or a Done round's "
                      "snapshot")
def interpretation_filtered_alleles(ctx, analysis_id, interpretation_id):
    require_analysis(ctx.conn, ctx.user, analysis_id)
    row = ctx.conn.execute("SELECT status::text FROM analysisinterpretation "
                           "WHERE id = %s AND analysis_id = %s",
                           (interpretation_id, analysis_id)).fetchone()
    if row is None:
        raise NotFound(f"No interpretation round {interpretation_id} in analysis {analysis_id}")
    filterconfig_id = ctx.request.int_arg("filterconfig_id")
    if filterconfig_id is not None:
        return _run(ctx, analysis_id, filterconfig_id)
    if row[0] != "Done":
        raise BadRequest("Query parameter 'filterconfig_id' is required unless the round is Done")
    return _from_snapshot(ctx.conn, analysis_id, interpretation_id)


def _from_snapshot(conn, analysis_id, interpretation_id):
    """A Done round's result: the nine snapshot categories, all present. A Done round of an
    analysis with variants has snapshots; without them the round's record is missing, which
    is an error (workflow.md 11.3), not an empty list."""
    by_type = {t: {name: [] for name in sorted(SNAPSHOT_CATEGORIES.values())}
               for t in ("cnv", "snv")}
    remaining = []
    for allele_id, filtered, caller_type in conn.execute(
            "SELECT s.allele_id, s.filtered::text, a.caller_type::text "
            "FROM analysisinterpretationsnapshot s JOIN allele a ON a.id = s.allele_id "
            "WHERE s.analysisinterpretation_id = %s ORDER BY s.allele_id", (interpretation_id,)):
        if filtered is None:
            remaining.append(allele_id)
        else:
            by_type[caller_type][SNAPSHOT_CATEGORIES[filtered]].append(allele_id)
    if not remaining and not any(ids for t in by_type.values() for ids in t.values()) \
            and conn.execute("SELECT 1 FROM genotype g JOIN sample s ON s.id = g.sample_id "
                             "WHERE s.analysis_id = %s AND s.proband LIMIT 1",
                             (analysis_id,)).fetchone():
        message = (f"Missing snapshots for interpretation {interpretation_id}: the record "
                   "of the variants it showed is not in the database")
        log.error("%s (analysis %s)", message, analysis_id)
        raise ApiError(message, status=500)
    return {"allele_ids": remaining, "excluded_alleles_by_caller_type": by_type}
