"""Finalize allele (create/reuse assessments), collisions and similar alleles
(api.md 2.9, 2.10, 2.11, 4.15, 4.17, 4.22; workflow.md 4.6, 13, 14)."""

from ella.web.access import (RoundAccess, require_allele, require_analysis,
                             require_working_genepanel)
from ella.web.errors import BadRequest, Forbidden
from ella.web.routes.config import user_config_for
from ella.web.router import router
from ella.workflow.assessments import finalize_allele, latest_round, parse_finalize_body
from ella.workflow.collisions import collisions, similar_alleles

API = "/api/v1"


def require_allele_workflow(conn, user, allele_id):
    """The allele must exist (404); when its workflow has a round, the user's group must be
    allowed to change it (`RoundAccess`, 403)."""
    require_allele(conn, allele_id)
    latest = latest_round(conn, "allele", allele_id)
    if latest is not None and not RoundAccess(conn, user).allows(latest):
        raise Forbidden(f"The interpretation of allele {allele_id} is not available to your "
                        "user group")


def _finalize(ctx, workflow_type, workflow_id):
    body = parse_finalize_body(ctx.request.json())
    user_config = user_config_for(ctx.conn, ctx.config, ctx.user["id"])
    # A variant workflow's round is checked again under its lock (a concurrent start could
    # have given it another group's panel since require_allele_workflow).
    access = RoundAccess(ctx.conn, ctx.user) if workflow_type == "allele" else None
    return finalize_allele(ctx.conn, ctx.user, user_config, workflow_type, workflow_id, body,
                           access=access)


@router.route("POST", f"{API}/workflows/analyses/<int:analysis_id>/actions/finalizeallele/",
              access="analysis",
              summary="Create or reuse one variant's assessment, reference assessments and report")
def finalizeallele_analysis(ctx, analysis_id):
    require_analysis(ctx.conn, ctx.user, analysis_id)
    return _finalize(ctx, "analysis", analysis_id)


@router.route("POST", f"{API}/workflows/alleles/<int:allele_id>/actions/finalizeallele/",
              access="allele",
              summary="Create or reuse the variant's assessment, reference assessments and report")
def finalizeallele_allele(ctx, allele_id):
    require_allele_workflow(ctx.conn, ctx.user, allele_id)
    return _finalize(ctx, "allele", allele_id)


@router.route("GET", f"{API}/workflows/analyses/<int:analysis_id>/collisions/",
              access="analysis", summary="Other unfinished workflows with these variants")
def collisions_analysis(ctx, analysis_id):
    require_analysis(ctx.conn, ctx.user, analysis_id)
    allele_ids = ctx.request.id_list_arg("allele_ids", required=True)
    return collisions(ctx.conn, ctx.config, "analysis", analysis_id, allele_ids,
                      ctx.user["group_id"])


@router.route("GET", f"{API}/workflows/alleles/<int:allele_id>/collisions/",
              access="allele", summary="Other unfinished workflows with this variant")
def collisions_allele(ctx, allele_id):
    # A read, open to every group as in ELLA (api.md 1.6): a user who may start the
    # variant's round must be able to load its page.
    require_allele(ctx.conn, allele_id)
    allele_ids = ctx.request.id_list_arg("allele_ids", required=True)
    return collisions(ctx.conn, ctx.config, "allele", allele_id, allele_ids,
                      ctx.user["group_id"])


@router.route("GET", f"{API}/workflows/similar_alleles/<genepanel_name>/<genepanel_version>/",
              access="genepanel", summary="Nearby classified variants of each given variant")
def similar_alleles_route(ctx, genepanel_name, genepanel_version):
    require_working_genepanel(ctx.conn, ctx.user, genepanel_name, genepanel_version)
    if ctx.request.args.get("allele_ids") is None:
        raise BadRequest('Missing required arg "allele_ids"')
    allele_ids = ctx.request.id_list_arg("allele_ids")
    return similar_alleles(ctx.conn, ctx.config, (genepanel_name, genepanel_version),
                           allele_ids)
