"""Work lists: the overview of analyses and variants by workflow category (api.md 2.8, 4.4,
4.5; workflow.md 12).

A workflow's category is decided in SQL by its latest interpretation round (greatest
`date_created`). Only workflows of the caller's group's panels are listed: analyses whose
panel is one of the group's, alleles with any allele round of such a panel. The overview-only
fields (priority, review_comment, warning_cleared) are the newest non-null values of the
interpretation log over all rounds of the workflow (workflow.md 10).
"""

from ella import auth
from ella.allele_views import load_alleles
from ella.web.access import accessible_panel_condition
from ella.web.http import Response
from ella.web.listing import page_args, page_headers
from ella.web.router import router
from ella.web.routes.analyses import analysis_objects

API = "/api/v1"

ANALYSIS_CATEGORIES = ("not_ready", "not_started", "marked_review", "marked_medicalreview",
                       "ongoing")
ALLELE_CATEGORIES = ("not_started", "marked_review", "ongoing")

# Category of a workflow from its latest round `l` (workflow.md 12.1). A Done round that is not
# finalized (does not occur as a latest round) and finalized rounds give NULL.
_CATEGORY_SQL = (
    "CASE WHEN l.status = 'Ongoing' THEN 'ongoing' "
    "WHEN l.status = 'Not started' THEN CASE l.workflow_status::text "
    "WHEN 'Not ready' THEN 'not_ready' WHEN 'Interpretation' THEN 'not_started' "
    "WHEN 'Review' THEN 'marked_review' WHEN 'Medical review' THEN 'marked_medicalreview' "
    "END END")

# The latest round of every workflow, with the last update of any of its rounds (the order of
# the finalized lists). One pass over the rounds: ELLA's schema has no index on the rounds'
# analysis_id/allele_id, so a per-workflow subquery would scan every round once per workflow.
_LATEST_ANALYSIS_ROUND = (
    "SELECT DISTINCT ON (ai.analysis_id) ai.analysis_id, ai.status, ai.workflow_status, "
    "ai.finalized, max(ai.date_last_update) OVER (PARTITION BY ai.analysis_id) AS last_update "
    "FROM analysisinterpretation ai "
    "ORDER BY ai.analysis_id, ai.date_created DESC, ai.id DESC")

_LATEST_ALLELE_ROUND = (
    "SELECT DISTINCT ON (li.allele_id) li.allele_id, li.status, li.workflow_status, "
    "li.finalized, li.id AS round_id, li.user_id, li.genepanel_name, "
    "max(li.date_last_update) OVER (PARTITION BY li.allele_id) AS last_update, "
    # The round before the latest, in the same pass (ELLA's schema has no index on
    # alleleinterpretation.allele_id: a subquery per variant read every round).
    "lead(li.user_id) OVER previous AS previous_user_id, "
    "lead(li.finalized) OVER previous AS previous_finalized "
    "FROM alleleinterpretation li "
    "WINDOW previous AS (PARTITION BY li.allele_id ORDER BY li.date_created DESC, li.id DESC) "
    "ORDER BY li.allele_id, li.date_created DESC, li.id DESC")


def _log_values(conn, round_table, round_column, workflow_column, workflow_ids):
    """{workflow id: {key: newest non-null value}} for priority, review_comment and
    warning_cleared of the interpretation log over all rounds of each workflow."""
    values = {}
    if not workflow_ids:
        return values
    for wid, key, value in conn.execute(
            f"SELECT DISTINCT ON (r.{workflow_column}, k.key) r.{workflow_column}, k.key, "
            "k.value FROM interpretationlog il "
            f"JOIN {round_table} r ON r.id = il.{round_column} "
            "CROSS JOIN LATERAL (VALUES ('priority', to_jsonb(il.priority)), "
            "('review_comment', to_jsonb(il.review_comment)), "
            "('warning_cleared', to_jsonb(il.warning_cleared))) AS k(key, value) "
            f"WHERE r.{workflow_column} = ANY(%s) AND k.value IS NOT NULL "
            "AND k.value <> 'null'::jsonb "
            f"ORDER BY r.{workflow_column}, k.key, il.date_created DESC, il.id DESC",
            (list(workflow_ids),)):
        values.setdefault(wid, {})[key] = value
    return values


def overview_analyses(conn, analysis_ids):
    """OverviewAnalysis objects (api.md 3.2) in the order given: ELLA's Analysis shape plus
    `priority` (default 1), `review_comment` and `warning_cleared` (present only when set)."""
    analyses = analysis_objects(conn, analysis_ids)
    log = _log_values(conn, "analysisinterpretation", "analysisinterpretation_id",
                      "analysis_id", [a["id"] for a in analyses])
    for analysis in analyses:
        values = log.get(analysis["id"], {})
        analysis["priority"] = values.get("priority") or 1
        if values.get("review_comment"):
            analysis["review_comment"] = values["review_comment"]
        if values.get("warning_cleared"):
            analysis["warning_cleared"] = True
    return analyses


@router.route("GET", f"{API}/overviews/analyses/", access="group",
              summary="Analyses of the caller's group's panels by workflow category")
def analyses_overview(ctx):
    rows = ctx.conn.execute(
        f"SELECT a.id, {_CATEGORY_SQL} AS category FROM analysis a "
        f"JOIN ({_LATEST_ANALYSIS_ROUND}) l ON l.analysis_id = a.id "
        f"WHERE {accessible_panel_condition('a')} AND {_CATEGORY_SQL} IS NOT NULL "
        "ORDER BY COALESCE(a.date_requested, a.date_deposited) DESC, a.id",
        {"group_id": ctx.user["group_id"]}).fetchall()
    by_id = {a["id"]: a for a in overview_analyses(ctx.conn, [r[0] for r in rows])}
    result = {key: [] for key in ANALYSIS_CATEGORIES}
    for analysis_id, category in rows:
        result[category].append(by_id[analysis_id])
    return result


@router.route("GET", f"{API}/overviews/analyses/finalized/", access="group",
              summary="Finalized analyses of the caller's group's panels, newest first "
                      "(paginated)")
def analyses_finalized(ctx):
    page, per_page = page_args(ctx.request)
    params = {"group_id": ctx.user["group_id"]}
    where = (f"FROM analysis a JOIN ({_LATEST_ANALYSIS_ROUND}) l ON l.analysis_id = a.id "
             f"WHERE l.finalized IS TRUE AND {accessible_panel_condition('a')}")
    total = ctx.conn.execute(f"SELECT count(*) {where}", params).fetchone()[0]
    ids = [r[0] for r in ctx.conn.execute(
        f"SELECT a.id {where} ORDER BY l.last_update DESC, a.id DESC "
        "LIMIT %(limit)s OFFSET %(offset)s",
        {**params, "limit": per_page, "offset": (page - 1) * per_page})]
    return Response.json(overview_analyses(ctx.conn, ids),
                         headers=page_headers(page, per_page, total))


# -- alleles ------------------------------------------------------------------------------

_ALLELE_ROUND_KEYS = ("id", "status", "finalized", "workflow_status", "allele_id",
                      "genepanel_name", "genepanel_version", "date_last_update", "user_id")
_ALLELE_ACCESS = ("EXISTS (SELECT 1 FROM alleleinterpretation gi WHERE gi.allele_id = al.id "
                  f"AND {accessible_panel_condition('gi')})")
# Also in the work list (README, access differences): a variant whose latest round is on
# another version of one of the group's panels (the group's panel was replaced by a new
# version) and is the group's work: in work by a member, or not started after a member's
# unfinalized round (sent to review; not a round reopened after a member finalized it, which
# is the work of whoever reopened it). `l` is the latest round (_LATEST_ALLELE_ROUND).
_GROUP_MEMBERS = 'SELECT u.id FROM "user" u WHERE u.group_id = %(group_id)s'
_ALLELE_WORK_OF_GROUP = (
    "(EXISTS (SELECT 1 FROM usergroupgenepanel ugn WHERE ugn.usergroup_id = %(group_id)s "
    "AND ugn.genepanel_name = l.genepanel_name) AND ("
    f"(l.status = 'Ongoing' AND l.user_id IN ({_GROUP_MEMBERS})) OR "
    f"(l.status = 'Not started' AND l.previous_finalized IS NOT TRUE "
    f"AND l.previous_user_id IN ({_GROUP_MEMBERS}))))")


def overview_alleles(conn, config, allele_ids):
    """AlleleOverview objects (api.md 4.5) in the order given."""
    ids = list(dict.fromkeys(allele_ids))
    if not ids:
        return []
    rounds = {}
    round_rows = conn.execute(
        "SELECT li.id, li.status::text, li.finalized, li.workflow_status::text, li.allele_id, "
        "li.genepanel_name, li.genepanel_version, li.date_last_update, li.user_id "
        "FROM alleleinterpretation li WHERE li.allele_id = ANY(%s) "
        "ORDER BY li.allele_id, li.date_last_update, li.id", (ids,)).fetchall()
    user_ids = sorted({r[8] for r in round_rows if r[8] is not None})
    users = {u["id"]: u for u in auth.users(conn, "u.id = ANY(%s)", (user_ids,), full=False)} \
        if user_ids else {}
    for row in round_rows:
        interpretation = dict(zip(_ALLELE_ROUND_KEYS, row))
        interpretation["user"] = users.get(interpretation["user_id"])
        rounds.setdefault(interpretation["allele_id"], []).append(interpretation)
    # Panel of the round updated last; creation time of the first round.
    summary = {aid: (gp_name, gp_version, created) for aid, gp_name, gp_version, created in
               conn.execute(
                   "SELECT DISTINCT ON (li.allele_id) li.allele_id, li.genepanel_name, "
                   "li.genepanel_version, min(li.date_created) OVER (PARTITION BY li.allele_id) "
                   "FROM alleleinterpretation li WHERE li.allele_id = ANY(%s) "
                   "ORDER BY li.allele_id, li.date_last_update DESC, li.id DESC", (ids,))}
    by_panel = {}
    for aid in ids:
        if aid in summary:
            by_panel.setdefault(summary[aid][:2], []).append(aid)
    loaded = {}
    for panel, panel_ids in by_panel.items():
        for allele in load_alleles(conn, config, "a.id = ANY(%s)", (panel_ids,),
                                   genepanel=panel):
            for key in ("allele_report", "reference_assessments", "samples"):
                allele.pop(key, None)
            assessment = allele.get("allele_assessment")
            if assessment is not None:
                allele["allele_assessment"] = {
                    "id": assessment["id"], "date_created": assessment["date_created"],
                    "classification": assessment["classification"]}
            loaded[allele["id"]] = allele
    log = _log_values(conn, "alleleinterpretation", "alleleinterpretation_id", "allele_id", ids)
    result = []
    for aid in ids:
        if aid not in loaded:
            continue
        gp_name, gp_version, created = summary[aid]
        values = log.get(aid, {})
        result.append({
            "genepanel": {"name": gp_name, "version": gp_version},
            "allele": loaded[aid],
            "date_created": created,
            "priority": values.get("priority") or 1,
            "review_comment": values.get("review_comment"),
            "interpretations": rounds.get(aid, []),
            "warnings": None,
        })
    return result


@router.route("GET", f"{API}/overviews/alleles/", access="group",
              summary="Variants (allele workflow) with a round of the caller's group's panels, "
                      "by workflow category")
def alleles_overview(ctx):
    rows = ctx.conn.execute(
        f"SELECT al.id, {_CATEGORY_SQL} AS category FROM allele al "
        f"JOIN ({_LATEST_ALLELE_ROUND}) l ON l.allele_id = al.id "
        f"WHERE ({_ALLELE_ACCESS} OR {_ALLELE_WORK_OF_GROUP}) AND {_CATEGORY_SQL} IN "
        "('not_started', 'marked_review', 'ongoing') ORDER BY al.id",
        {"group_id": ctx.user["group_id"]}).fetchall()
    by_id = {a["allele"]["id"]: a
             for a in overview_alleles(ctx.conn, ctx.config, [r[0] for r in rows])}
    result = {key: [] for key in ALLELE_CATEGORIES}
    for allele_id, category in rows:
        if allele_id in by_id:
            result[category].append(by_id[allele_id])
    return result


@router.route("GET", f"{API}/overviews/alleles/finalized/", access="group",
              summary="Finalized variants (allele workflow) of the caller's group's panels, "
                      "newest first (paginated)")
def alleles_finalized(ctx):
    page, per_page = page_args(ctx.request)
    params = {"group_id": ctx.user["group_id"]}
    where = (f"FROM allele al JOIN ({_LATEST_ALLELE_ROUND}) l ON l.allele_id = al.id "
             f"WHERE l.finalized IS TRUE AND {_ALLELE_ACCESS}")
    total = ctx.conn.execute(f"SELECT count(*) {where}", params).fetchone()[0]
    ids = [r[0] for r in ctx.conn.execute(
        f"SELECT al.id {where} ORDER BY l.last_update DESC, al.id DESC "
        "LIMIT %(limit)s OFFSET %(offset)s",
        {**params, "limit": per_page, "offset": (page - 1) * per_page})]
    return Response.json(overview_alleles(ctx.conn, ctx.config, ids),
                         headers=page_headers(page, per_page, total))


@router.route("GET", f"{API}/overviews/userstats/", access=None,
              summary="Number of analyses and variants the caller has interpreted")
def user_stats(ctx):
    analyses_cnt, alleles_cnt = ctx.conn.execute(
        "SELECT (SELECT count(DISTINCT analysis_id) FROM analysisinterpretation "
        "WHERE user_id = %(user_id)s), (SELECT count(DISTINCT allele_id) "
        "FROM alleleinterpretation WHERE user_id = %(user_id)s)",
        {"user_id": ctx.user["id"]}).fetchone()
    return {"analyses_cnt": analyses_cnt, "alleles_cnt": alleles_cnt}
