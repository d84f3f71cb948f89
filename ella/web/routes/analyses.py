"""Analyses: list, one analysis, the analyses containing a variant (api.md 2.3, 2.4, 3.2, 4.6).

Every analysis shown is one of the caller's group's gene panels (ELLA applies that to the
analyses list and the single analysis only; we also apply it to `alleles/<id>/analyses/`).
`analysis_objects` builds ELLA's Analysis shape and is meant to be reused by other areas
(overviews, search) that embed analyses.
"""

from ella import auth
from ella.web.access import accessible_panel_condition, require_analysis
from ella.web.errors import NotFound
from ella.web.http import Response
from ella.web.listing import page_args, page_headers, q_to_sql
from ella.web.router import router

API = "/api/v1"

# Columns of the analysis table a client may filter on with `q` (trusted SQL, typed).
ANALYSIS_Q_COLUMNS = {
    "id": ("a.id", "integer"),
    "name": ("a.name", "text"),
    "genepanel_name": ("a.genepanel_name", "text"),
    "genepanel_version": ("a.genepanel_version", "text"),
    "warnings": ("a.warnings", "text"),
    "report": ("a.report", "text"),
    "date_deposited": ("a.date_deposited", "timestamptz"),
    "date_requested": ("a.date_requested", "timestamptz"),
}

SAMPLE_KEYS = ("id", "identifier", "sample_type", "date_deposited", "affected", "proband",
               "family_id", "father_id", "mother_id", "sibling_id", "sex")
INTERPRETATION_KEYS = ("id", "status", "analysis_id", "finalized", "workflow_status",
                       "date_last_update", "genepanel_name", "genepanel_version", "user_id")


def analysis_objects(conn, analysis_ids):
    """ELLA's Analysis objects (api.md 3.2) for these ids, in the order given; unknown ids are
    skipped. Samples and interpretation rounds are ordered by id."""
    ids = list(dict.fromkeys(analysis_ids))
    if not ids:
        return []
    rows = conn.execute(
        "SELECT a.id, a.name, a.date_requested, a.date_deposited, a.report, a.warnings, "
        "gp.name, gp.version, gp.official FROM analysis a "
        "JOIN genepanel gp ON gp.name = a.genepanel_name AND gp.version = a.genepanel_version "
        "WHERE a.id = ANY(%s)", (ids,)).fetchall()
    analyses = {}
    for (aid, name, requested, deposited, report, warnings, gp_name, gp_version,
         official) in rows:
        analyses[aid] = {
            "id": aid, "name": name, "date_requested": requested, "date_deposited": deposited,
            "interpretations": [],
            "genepanel": {"name": gp_name, "version": gp_version, "official": official},
            "samples": [], "report": report, "warnings": warnings, "attachments": []}
    for row in conn.execute(
            "SELECT s.analysis_id, s.id, s.identifier, s.sample_type::text, s.date_deposited, "
            "s.affected, s.proband, s.family_id, s.father_id, s.mother_id, s.sibling_id, "
            "s.sex::text FROM sample s WHERE s.analysis_id = ANY(%s) ORDER BY s.id", (ids,)):
        analyses[row[0]]["samples"].append(dict(zip(SAMPLE_KEYS, row[1:])))
    rounds = conn.execute(
        "SELECT i.id, i.status::text, i.analysis_id, i.finalized, i.workflow_status::text, "
        "i.date_last_update, i.genepanel_name, i.genepanel_version, i.user_id "
        "FROM analysisinterpretation i WHERE i.analysis_id = ANY(%s) ORDER BY i.id",
        (ids,)).fetchall()
    user_ids = sorted({r[8] for r in rounds if r[8] is not None})
    users = {u["id"]: u for u in auth.users(conn, "u.id = ANY(%s)", (user_ids,), full=False)} \
        if user_ids else {}
    for row in rounds:
        interpretation = dict(zip(INTERPRETATION_KEYS, row))
        interpretation["user"] = users.get(interpretation["user_id"])
        analyses[interpretation["analysis_id"]]["interpretations"].append(interpretation)
    return [analyses[i] for i in ids if i in analyses]


@router.route("GET", f"{API}/analyses/", access="analysis",
              summary="Analyses of the caller's group's gene panels (q, paginated)")
def list_analyses(ctx):
    condition, params = q_to_sql(ctx.request.json_arg("q"), ANALYSIS_Q_COLUMNS)
    page, per_page = page_args(ctx.request)
    # q's parameters are positional; the shared access condition's one named parameter is
    # turned positional so both go into one statement.
    access = accessible_panel_condition("a", placeholder="%s")
    where = f"({condition}) AND {access}"
    all_params = params + [ctx.user["group_id"]]
    total = ctx.conn.execute(f"SELECT count(*) FROM analysis a WHERE {where}",
                             all_params).fetchone()[0]
    ids = [r[0] for r in ctx.conn.execute(
        f"SELECT a.id FROM analysis a WHERE {where} ORDER BY a.id LIMIT %s OFFSET %s",
        all_params + [per_page, (page - 1) * per_page])]
    return Response.json(analysis_objects(ctx.conn, ids),
                         headers=page_headers(page, per_page, total))


@router.route("GET", f"{API}/analyses/<int:analysis_id>/", access="analysis",
              summary="One analysis with its samples and interpretation rounds")
def get_analysis(ctx, analysis_id):
    require_analysis(ctx.conn, ctx.user, analysis_id)
    return analysis_objects(ctx.conn, [analysis_id])[0]


@router.route("GET", f"{API}/alleles/<int:allele_id>/analyses/", access="analysis",
              log_response=True,
              summary="Analyses (of the caller's group's gene panels) containing a variant")
def allele_analyses(ctx, allele_id):
    # ELLA lists every analysis with the variant to any user; we list only those of the
    # caller's group's panels (an analysis of another group is not shown at all).
    if not ctx.conn.execute("SELECT 1 FROM allele WHERE id = %s", (allele_id,)).fetchone():
        raise NotFound(f"No allele with id {allele_id}")
    ids = [r[0] for r in ctx.conn.execute(
        "SELECT a.id FROM analysis a WHERE EXISTS (SELECT 1 FROM sample s JOIN genotype g "
        "ON g.sample_id = s.id WHERE s.analysis_id = a.id AND (g.allele_id = %(allele_id)s "
        "OR g.secondallele_id = %(allele_id)s)) AND " + accessible_panel_condition("a")
        + " ORDER BY a.id", {"allele_id": allele_id, "group_id": ctx.user["group_id"]})]
    return analysis_objects(ctx.conn, ids)
