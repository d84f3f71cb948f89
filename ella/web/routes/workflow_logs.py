"""The interpretation log of a workflow (api.md 2.9, 2.10, 4.18; workflow.md 10)."""

from ella.web.access import RoundAccess, require_allele, require_analysis
from ella.web.router import router
from ella.web.routes.workflow_finalize import require_allele_workflow
from ella.web.validation import (REVIEW_COMMENT_LIMIT, TEXT_LIMIT, check_text_length,
                                  require_object)
from ella.workflow.log import create_log, delete_log, edit_log, list_logs

API = "/api/v1"
KINDS = {"analyses": ("analysis", "analysis"), "alleles": ("allele", "allele")}
_OPT = {"message": (str, type(None)), "priority": (int, type(None)),
        "review_comment": (str, type(None)), "warning_cleared": (bool, type(None))}


def _access(ctx, workflow_type, workflow_id, write=True):
    """Analysis logs follow the analysis' panel. A variant's log can be read by every group
    (as in ELLA; whoever may start its round must be able to load its page), written only
    by a group allowed to change its round (`RoundAccess`)."""
    if workflow_type == "analysis":
        require_analysis(ctx.conn, ctx.user, workflow_id)
    elif write:
        require_allele_workflow(ctx.conn, ctx.user, workflow_id)
    else:
        require_allele(ctx.conn, workflow_id)


def _round_access(ctx, workflow_type):
    """A variant workflow's round, checked again under its lock by the writers: a concurrent
    start can give it another group's panel after `_access`."""
    return RoundAccess(ctx.conn, ctx.user) if workflow_type == "allele" else None


def _register(segment, workflow_type, id_name):
    base = f"{API}/workflows/{segment}/<int:{id_name}>/logs/"

    def get_logs(ctx, **params):
        _access(ctx, workflow_type, params[id_name], write=False)
        access = RoundAccess(ctx.conn, ctx.user) if workflow_type == "allele" else None
        return list_logs(ctx.conn, ctx.user, workflow_type, params[id_name], access=access)

    def post_log(ctx, **params):
        _access(ctx, workflow_type, params[id_name])
        body = require_object(ctx.request.json(), {}, _OPT)
        check_text_length(body.get("message"), TEXT_LIMIT, "body.message")
        check_text_length(body.get("review_comment"), REVIEW_COMMENT_LIMIT,
                          "body.review_comment")
        create_log(ctx.conn, ctx.user, workflow_type, params[id_name], body,
                   access=_round_access(ctx, workflow_type))
        return None

    def patch_log(ctx, log_id, **params):
        _access(ctx, workflow_type, params[id_name])
        body = require_object(ctx.request.json(), {"message": str})
        check_text_length(body["message"], TEXT_LIMIT, "body.message")
        edit_log(ctx.conn, ctx.user, workflow_type, params[id_name], log_id, body["message"],
                 access=_round_access(ctx, workflow_type))
        return None

    def delete_log_route(ctx, log_id, **params):
        _access(ctx, workflow_type, params[id_name])
        delete_log(ctx.conn, ctx.user, workflow_type, params[id_name], log_id,
                   access=_round_access(ctx, workflow_type))
        return None

    access = "analysis" if workflow_type == "analysis" else "allele"
    for fn, name in ((get_logs, "get"), (post_log, "post"), (patch_log, "patch"),
                     (delete_log_route, "delete")):
        fn.__name__ = f"{name}_{workflow_type}_log"
    router.add("GET", base, get_logs, access=access, summary="The workflow's work log")
    router.add("POST", base, post_log, access=access,
               summary="Add a message, priority, review comment or cleared warning")
    router.add("PATCH", base + "<int:log_id>/", patch_log, access=access,
               summary="Edit the caller's own message in the latest round")
    router.add("DELETE", base + "<int:log_id>/", delete_log_route, access=access,
               summary="Delete the caller's own entry in the latest round")


_register("analyses", "analysis", "analysis_id")
_register("alleles", "allele", "allele_id")
