"""ACMG: suggested criteria (rule engine) and suggested classification (api.md 2.11, 4.23)."""

from ella import auth
from ella.acmg.acmgconfig import AcmgConfigError, acmg_config_problem
from ella.acmg.classification import suggested_classification
from ella.acmg.engine import suggested_criteria
from ella.allele_views import load_alleles
from ella.web.access import require_working_genepanel
from ella.web.errors import ApiError, BadRequest, NotFound
from ella.web.router import router
from ella.web.routes.config import user_config_for
from ella.web.validation import check_value, require_object
from ella.workflow.assessments import REF_KEYS

API = "/api/v1"
REFERENCEASSESSMENT_KEYS = {
    "id": (int, type(None)), "analysis_id": (int, type(None)),
    "date_created": (str, type(None)), "date_superceeded": (str, type(None)),
    "user_id": (int, type(None)), "genepanel_name": (str, type(None)),
    "genepanel_version": (str, type(None)), "reuse": (bool, type(None)),
    "reuseCheckedId": (int, type(None)),
}
# Each reference assessment costs the rule engine up to ~0.7 ms (its keys are matched against
# the "any reference" rules); ELLA's UI sends those of a round's variants, a few per assessed
# variant. 200,000 of them (7.9 MB) held a worker for 12 s and ~300 MB.
MAX_REFERENCEASSESSMENTS = 5000


class AcmgNotConfigured(ApiError):
    """The caller's group (and user) config has no `acmg` section: a deployment error."""
    status = 500


def _user_acmg_config(ctx):
    acmg = user_config_for(ctx.conn, ctx.config, ctx.user["id"]).get("acmg")
    # A user's own `acmg` replaces the group's: the message names the config to mend.
    own = "acmg" in ((auth.user_configs(ctx.conn, ctx.user["id"]) or (None, None))[1] or {})
    if not isinstance(acmg, dict) or not acmg:
        if own:
            raise AcmgNotConfigured(
                f"User '{ctx.user['username']}' has an empty ACMG config of their own, which "
                "replaces the group's: remove it or fill it in (acmg.md 3.1)")
        group = ctx.conn.execute("SELECT name FROM usergroup WHERE id = %s",
                                 (ctx.user["group_id"],)).fetchone()
        raise AcmgNotConfigured(
            f"User group '{group[0] if group else ctx.user['group_id']}' has no ACMG config: "
            "add an `acmg` section to the group's config (acmg.md 3.1)")
    # One stored before `ella-users` checked it (an adopted database): an unknown
    # `disease_mode` matched no rule and silently took PVS1 away.
    problem = acmg_config_problem(acmg, stored=True)
    if problem:
        whose = f" (in user '{ctx.user['username']}''s own config)" if own else ""
        raise AcmgNotConfigured(f"ACMG config error{whose}: {problem}")
    return acmg


def _request_body(body):
    data = require_object(body, {"allele_ids": list, "gp_name": str, "gp_version": str},
                          {"referenceassessments": list})
    ids = [check_value(v, int, f"body.allele_ids[{i}]")
           for i, v in enumerate(data["allele_ids"])]
    items = data.get("referenceassessments") or []
    if len(items) > MAX_REFERENCEASSESSMENTS:
        raise BadRequest(f"body.referenceassessments: {len(items)} entries, at most "
                         f"{MAX_REFERENCEASSESSMENTS} are accepted")
    refs = []
    for i, item in enumerate(items):
        where = f"body.referenceassessments[{i}]"
        ref = require_object(item, {"allele_id": int, "reference_id": int, "evaluation": dict},
                             REFERENCEASSESSMENT_KEYS, where=where)
        refs.append({**ref, "evaluation": _rule_inputs(ref["evaluation"], f"{where}.evaluation")})
    return ids, data["gp_name"], data["gp_version"], refs


def _rule_inputs(evaluation, where):
    """The evaluation's keys the rules read (`refassessment.*.ref_...`), each text or null.
    Others (comment, sources, relevance, an older UI's) are left out: the "any reference"
    rules matched nested and unknown keys too, one rule copy per key."""
    inputs = {}
    for key in REF_KEYS:
        if key in evaluation:
            value = evaluation[key]
            if value is not None and not isinstance(value, str):
                raise BadRequest(f"{where}.{key} must be a string or null")
            inputs[key] = value
    return inputs


@router.route("POST", f"{API}/acmg/alleles/", access="genepanel",
              summary="Suggested ACMG criteria per allele from the rule engine")
def suggested_acmg_codes(ctx):
    allele_ids, gp_name, gp_version, refs = _request_body(ctx.request.json())
    require_working_genepanel(ctx.conn, ctx.user, gp_name, gp_version)
    acmg = _user_acmg_config(ctx)
    alleles = load_alleles(ctx.conn, ctx.config, "a.id = ANY(%s)", (allele_ids,),
                           genepanel=(gp_name, gp_version))
    found = {a["id"] for a in alleles}
    missing = [i for i in allele_ids if i not in found]
    if missing:
        raise NotFound(f"No allele with id {missing[0]}")
    try:
        return suggested_criteria(ctx.conn, acmg, alleles, (gp_name, gp_version), refs)
    except AcmgConfigError as error:
        raise AcmgNotConfigured(f"ACMG config error: {error}") from None


@router.route("GET", f"{API}/acmg/classifications/", auth="open",
              summary="Suggested class from ACMG codes (codes=PVS1,PS2); the engine is "
                      "classification.engine of the app config")
def suggested_acmg_classification(ctx):
    raw = ctx.request.args.get("codes")
    codes = [c.strip() for c in (raw or "").split(",") if c.strip()]
    if not codes:
        raise BadRequest("Missing required argument 'codes' (codes=PVS1,PS2)")
    return suggested_classification(codes, ctx.config)
