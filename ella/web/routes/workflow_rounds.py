"""Interpretation rounds over HTTP (api.md 2.9, 2.10, 3.3, 4.7, 4.8, 4.16; workflow.md 3-6, 9,
11): the rounds of a workflow, saving state, the actions of the state machine, snapshots,
finishallowed and stats. The state machine itself is `ella.workflow.rounds`.

Access: every analysis route calls `require_analysis` first (before the body is read), so
another group's analysis is 403 and an unknown one 404. Allele routes check that the allele
exists (404); a gene panel named by an allele route (start body) must be one of the caller's
group's panels (`require_genepanel`), and an allele workflow's save and the actions on a
round in work (override, mark*, finalize) act only on a round whose panel is one of the
group's or that is the group's work on a version of one it lost (a member's round, the Not
started one after a member sent it to review: `RoundAccess`; 403; ELLA does not check).
`start` and `reopen` are open to every group, as in ELLA (a Not started round is anyone's, a
finalized one is shared): `start` sets the caller's panel, so a round of a panel the group
lost (a panel upgrade) is never stuck. A variant's rounds (the list, a round, snapshots) are
read by the same rule; a round of another workflow than the URL's is 404.
Differences from ELLA (which answers 500): state preconditions 409, bad input 400.
"""

from ella.allele_views import ALLELE_ORDER, AlleleLoader, geneassessment_shapes
from ella.web.access import (RoundAccess, require_analysis, require_genepanel,
                              require_working_genepanel)
from ella.web.errors import BadRequest, Forbidden, NotFound
from ella.web.http import JsonPartsResponse
from ella.web.listing import page_args, page_headers
from ella.filters import FilterError
from ella.filters.chain import segregation_tags
from ella.filters.denovo_probability import add_p_denovo
from ella.web.routes.alleles import shapes_in_parts
from ella.web.routes.config import user_config_for
from ella.web.routes.filters import require_group_filterconfig
from ella.web.routes.workflow_finalize import require_allele_workflow
from ella.web.router import router
from ella.web.validation import require_object
from ella.workflow import rounds
from ella.workflow.rounds import ALLELE, ANALYSIS

API = "/api/v1"
PREFIX = {ANALYSIS: f"{API}/workflows/analyses/<int:analysis_id>",
          ALLELE: f"{API}/workflows/alleles/<int:allele_id>"}
ACCESS = {ANALYSIS: "analysis", ALLELE: "allele"}


def _workflow(ctx, wtype, params, change=False):
    """The workflow id of the URL, access checked: analysis 404/403, allele 404; with
    `change` also 403 for an allele whose latest round has a panel outside the group's
    (before the body is read; `perform` checks the round it changes again under the lock)."""
    if wtype is ANALYSIS:
        require_analysis(ctx.conn, ctx.user, params["analysis_id"])
        return params["analysis_id"]
    allele_id = params["allele_id"]
    if change:
        require_allele_workflow(ctx.conn, ctx.user, allele_id)
        return allele_id
    if not ctx.conn.execute("SELECT 1 FROM allele WHERE id = %s", (allele_id,)).fetchone():
        raise NotFound(f"No allele with id {allele_id}")
    return allele_id


# Variant-workflow actions any group may take (see the module docstring).
OPEN_TO_ALL_GROUPS = frozenset({"start", "reopen"})


def _round_access(ctx, wtype, action):
    """Who may `action` a round: an analysis' rounds are the analysis' (its access is checked
    by `_workflow`); an allele's, by `RoundAccess`."""
    if wtype is not ALLELE or action in OPEN_TO_ALL_GROUPS:
        return None
    return RoundAccess(ctx.conn, ctx.user)


def _readable_round(ctx, wtype, workflow_id, interpretation_id):
    """A round the caller's group may read: an analysis' (its access is checked by
    `_workflow`), or a variant's on its panels or of its work (RoundAccess), so a round the
    group may finish after a panel upgrade can be shown."""
    round_row = rounds.get_round(ctx.conn, wtype, workflow_id, interpretation_id)
    if wtype is ALLELE and not RoundAccess(ctx.conn, ctx.user).allows(round_row):
        raise Forbidden(f"Interpretation {interpretation_id} is not available to your user "
                        "group")
    return round_row


# -- reads ---------------------------------------------------------------------------------

def _list_interpretations(wtype):
    def list_interpretations(ctx, **params):
        workflow_id = _workflow(ctx, wtype, params)
        found = rounds.list_rounds(ctx.conn, wtype, workflow_id)
        if wtype is ALLELE:  # (an analysis' rounds are the analysis')
            access = RoundAccess(ctx.conn, ctx.user)
            found = [r for r in found if access.allows(r)]
        return rounds.round_objects(ctx.conn, wtype, found)
    return list_interpretations


def _get_interpretation(wtype):
    def get_interpretation(ctx, interpretation_id, **params):
        workflow_id = _workflow(ctx, wtype, params)
        found = _readable_round(ctx, wtype, workflow_id, interpretation_id)
        return rounds.round_objects(ctx.conn, wtype, [found])[0]
    return get_interpretation


def _save_interpretation(wtype):
    def save_interpretation(ctx, interpretation_id, **params):
        workflow_id = _workflow(ctx, wtype, params, change=True)
        body = require_object(ctx.request.json(), {"state": dict, "user_state": dict},
                              {"id": (int, type(None))})
        rounds.perform(ctx.conn, wtype, workflow_id, "save", ctx.user,
                       payload=body, round_id=interpretation_id,
                       access=_round_access(ctx, wtype, "save"))
        return None
    return save_interpretation


def _segregation_tags(ctx, round_row, analysis_id, allele_ids, filterconfig_id):
    """api.md 3.4: with a filter config of the caller's group that has a segregation filter,
    the variants get the tags of the segregation rules they meet ({allele id: [tag]})."""
    filterconfig = require_group_filterconfig(ctx, filterconfig_id)["filterconfig"]
    try:
        return segregation_tags(
            ctx.conn, ctx.config, (round_row["genepanel_name"], round_row["genepanel_version"]),
            analysis_id, allele_ids, filterconfig)
    except FilterError as exc:
        raise BadRequest(f"Filter config {filterconfig_id} cannot be run: {exc}") from None


def _add_tags(loaded, found):
    """The segregation tags `found` on the shapes, and a de novo one's proband `p_denovo`."""
    for allele in loaded:
        allele["tags"] = sorted(set(allele["tags"]) | set(found.get(allele["id"], [])))
    add_p_denovo(loaded, {a for a, tags in found.items() if "denovo" in tags})


def _analysis_list_json(ctx, loader, round_row, analysis_id, allele_ids, filterconfig_id):
    """The JSON array of the variants' shapes, ordered as load_alleles orders them, as byte
    strings to send one after the other."""
    ordered = [row[0] for row in ctx.conn.execute(
        f"SELECT a.id FROM allele a WHERE a.id = ANY(%s) ORDER BY {ALLELE_ORDER}",
        (allele_ids,))]
    if filterconfig_id is None:
        return shapes_in_parts(loader, ordered)
    found = _segregation_tags(ctx, round_row, analysis_id, ordered, filterconfig_id)
    return shapes_in_parts(loader, ordered, lambda loaded: _add_tags(loaded, found))


def _interpretation_alleles(wtype):
    def interpretation_alleles(ctx, interpretation_id, **params):
        workflow_id = _workflow(ctx, wtype, params)
        round_row = _readable_round(ctx, wtype, workflow_id, interpretation_id)
        # Total-Count is the number of ids requested, repeats included (api.md 4.9, as ELLA).
        requested = ctx.request.id_list_arg("allele_ids", required=wtype is ANALYSIS,
                                            unique=False) or []
        allele_ids = list(dict.fromkeys(requested))
        current = ctx.request.args.get("current") == "true"
        filterconfig_id = ctx.request.int_arg("filterconfig_id")
        page, per_page = page_args(ctx.request)
        link = None
        if round_row["status"] == "Done" and not current:
            link = rounds.snapshot_link(ctx.conn, wtype, interpretation_id)
        loader = AlleleLoader(
            ctx.conn, ctx.config,
            genepanel=(round_row["genepanel_name"], round_row["genepanel_version"]),
            analysis_id=workflow_id if wtype is ANALYSIS else None, link=link)
        if wtype is ALLELE:
            return loader.load("a.id = ANY(%s)", (allele_ids,)) if allele_ids else []
        parts = _analysis_list_json(ctx, loader, round_row, workflow_id, allele_ids,
                                    filterconfig_id)
        # Pagination headers but no slicing (api.md 1.7): the UI asks for what it shows.
        return JsonPartsResponse(parts, headers=page_headers(page, per_page, len(requested)))
    return interpretation_alleles


def _list_snapshots(wtype):
    def list_snapshots(ctx, **params):
        workflow_id = _workflow(ctx, wtype, params)
        where, values = f"r.{wtype.column} = %s", [workflow_id]
        if wtype is ALLELE:
            # Only snapshots of rounds the caller's group may read (workflow.md 9: those of
            # its panels; also of its work on a version it lost, as RoundAccess says).
            access = RoundAccess(ctx.conn, ctx.user)
            readable = [r["id"] for r in rounds.list_rounds(ctx.conn, wtype, workflow_id)
                        if access.allows(r)]
            where += " AND r.id = ANY(%s)"
            values.append(readable)
        return rounds.snapshots(ctx.conn, wtype, where, values)
    return list_snapshots


# -- actions -------------------------------------------------------------------------------

def _action(wtype, action):
    transition = rounds.TRANSITIONS[action]

    def run_action(ctx, **params):
        workflow_id = _workflow(ctx, wtype, params, change=action not in OPEN_TO_ALL_GROUPS)
        payload = panel = user_config = None
        if transition.payload == "round":
            payload = rounds.parse_round_payload(wtype, ctx.request.json())
        if transition.payload == "start":
            if wtype is ANALYSIS:
                # Body ignored (the UI sends the panel); the round gets the analysis' panel.
                panel = ctx.conn.execute(
                    "SELECT genepanel_name, genepanel_version FROM analysis WHERE id = %s",
                    (workflow_id,)).fetchone()
                if panel is None:  # deleted since the access check (`ella-delete`)
                    raise NotFound(f"No analysis with id {workflow_id}")
                panel = tuple(panel)
            else:
                body = ctx.request.json()
                if not isinstance(body, dict):
                    raise BadRequest("The body must be a JSON object")
                picked = require_object({k: body.get(k) for k in ("gp_name", "gp_version")},
                                        {"gp_name": str, "gp_version": str})
                panel = (picked["gp_name"], picked["gp_version"])
                require_genepanel(ctx.conn, ctx.user, *panel)
        if transition.requirements:
            user_config = user_config_for(ctx.conn, ctx.config, ctx.user["id"])
        rounds.perform(ctx.conn, wtype, workflow_id, action, ctx.user, payload=payload,
                       user_config=user_config, panel=panel,
                       access=_round_access(ctx, wtype, action))
        return None
    run_action.__name__ = f"{wtype.name}_{action}"
    return run_action


def _add(method, pattern, handler, kind, **options):
    if not handler.__name__.startswith(kind):
        handler.__name__ = f"{kind}_{handler.__name__}"
    router.add(method, pattern, handler, **options)


def _register():
    for wtype in (ANALYSIS, ALLELE):
        prefix, access, kind = PREFIX[wtype], ACCESS[wtype], wtype.name
        interpretations = f"{prefix}/interpretations/"
        one = f"{prefix}/interpretations/<int:interpretation_id>/"
        _add("GET", interpretations, _list_interpretations(wtype), kind, access=access,
             summary=f"All interpretation rounds of the {kind} (group's panels), by id")
        _add("GET", one, _get_interpretation(wtype), kind, access=access,
             summary=f"One interpretation round of the {kind} with state and user_state")
        _add("PATCH", one, _save_interpretation(wtype), kind, access=access,
             summary="Save state/user_state of the Ongoing round (owner only)")
        _add("GET", one + "alleles/", _interpretation_alleles(wtype), kind, access=access,
             summary="The round's variants (snapshot versions for a Done round unless "
                     "current=true)")
        for action in rounds.actions_of(wtype):
            if action == "save":
                continue
            handler = _action(wtype, action)
            _add("POST", f"{prefix}/actions/{action}/", handler, kind, access=access,
             summary=f"Workflow action {action} ({kind})")
        # ELLA's alias: POST snapshots/ finalizes; GET of either lists the snapshots.
        router.add("POST", f"{prefix}/snapshots/", _action(wtype, "finalize"), access=access,
             summary="Alias of actions/finalize/")
        listing = _list_snapshots(wtype)
        _add("GET", f"{prefix}/actions/finalize/", listing, kind, access=access,
             summary=f"Snapshot rows of all rounds of the {kind}")
        _add("GET", f"{prefix}/snapshots/", listing, kind, access=access,
             summary=f"Snapshot rows of all rounds of the {kind}")


_register()


@router.route("GET", f"{PREFIX[ANALYSIS]}/interpretations/<int:interpretation_id>/finishallowed",
              access="analysis",
              summary="409 when samples were added to the analysis since the page was loaded")
def finish_allowed(ctx, analysis_id, interpretation_id):
    require_analysis(ctx.conn, ctx.user, analysis_id)
    rounds.get_round(ctx.conn, ANALYSIS, analysis_id, interpretation_id)
    q = ctx.request.json_arg("q")
    if not isinstance(q, dict) or "sample_ids" not in q:
        raise BadRequest('Query parameter q must be {"sample_ids": [...]}')
    sample_ids = rounds.id_list(q["sample_ids"], "q.sample_ids")
    rounds.check_finish_allowed(ctx.conn, analysis_id, sample_ids)
    return None


@router.route("GET", f"{PREFIX[ANALYSIS]}/stats/", access="analysis",
              summary="Number of variants (genotype-allele links) of the analysis")
def analysis_stats(ctx, analysis_id):
    require_analysis(ctx.conn, ctx.user, analysis_id)
    return {"allele_count": rounds.analysis_allele_count(ctx.conn, analysis_id)}


# -- gene panels of a workflow (api.md 4.11, workflow.md 11) --------------------------------

def genepanel_for_alleles(conn, name, version, allele_ids):
    """GenepanelForAlleles (api.md 4.11): the panel transcripts matching the alleles' current
    annotation transcripts; phenotypes and inheritances of those transcripts' genes, and those
    genes' current gene assessments (the intended filter; ELLA's query returns too many,
    workflow.md 17.9)."""
    official = conn.execute("SELECT official FROM genepanel WHERE name = %s AND version = %s",
                            (name, version)).fetchone()[0]
    annotated = conn.execute(
        "SELECT DISTINCT hgnc_id, transcript FROM annotationshadowtranscript "
        "WHERE allele_id = ANY(%s) AND hgnc_id IS NOT NULL", (allele_ids,)).fetchall() \
        if allele_ids else []
    genes = sorted({hgnc_id for hgnc_id, _ in annotated})
    # `transcripts`: the panel transcripts an annotation transcript of the variants matches
    # (same gene and accession, filtering.md 2.9); `inheritances`: all of those genes'.
    matched = {(hgnc_id, name.split(".")[0]) for hgnc_id, name in annotated}
    transcripts, inheritances = [], []
    for row in conn.execute(
            "SELECT t.transcript_name, t.genome_reference, t.chromosome, t.tx_start, t.tx_end, "
            "t.strand, t.tags, t.cds_start, t.cds_end, t.exon_starts, t.exon_ends, g.hgnc_id, "
            "g.hgnc_symbol, gt.inheritance FROM genepanel_transcript gt "
            "JOIN transcript t ON t.id = gt.transcript_id JOIN gene g ON g.hgnc_id = t.gene_id "
            "WHERE gt.genepanel_name = %s AND gt.genepanel_version = %s "
            "AND t.gene_id = ANY(%s) ORDER BY t.transcript_name", (name, version, genes)):
        keys = ("transcript_name", "genome_reference", "chromosome", "tx_start", "tx_end",
                "strand", "tags", "cds_start", "cds_end", "exon_starts", "exon_ends")
        item = dict(zip(keys, row[:11]))
        item["gene"] = {"hgnc_id": row[11], "hgnc_symbol": row[12]}
        if (row[11], row[0].split(".")[0]) in matched:
            transcripts.append(item)
        inheritances.append({"hgnc_id": row[11], "inheritance": row[13],
                             "transcript_name": row[0]})
    phenotypes = [
        {"id": pid, "description": description, "inheritance": inheritance, "omim_id": omim,
         "gene": {"hgnc_id": hgnc_id, "hgnc_symbol": symbol}}
        for pid, description, inheritance, omim, hgnc_id, symbol in conn.execute(
            "SELECT p.id, p.description, p.inheritance, p.omim_id, g.hgnc_id, g.hgnc_symbol "
            "FROM genepanel_phenotype gp JOIN phenotype p ON p.id = gp.phenotype_id "
            "JOIN gene g ON g.hgnc_id = p.gene_id WHERE gp.genepanel_name = %s "
            "AND gp.genepanel_version = %s AND p.gene_id = ANY(%s) ORDER BY p.id",
            (name, version, genes))]
    return {"name": name, "version": version, "official": official,
            "transcripts": transcripts, "phenotypes": phenotypes,
            "inheritances": inheritances,
            "geneassessments": geneassessment_shapes(
                conn, "x.date_superceeded IS NULL AND x.gene_id = ANY(%s)", (genes,))}


@router.route("GET", f"{PREFIX[ANALYSIS]}/genepanels/<gp_name>/<gp_version>/",
              access="analysis",
              summary="Gene panel part relevant to the given variants (allele_ids), with gene "
                      "assessments")
def analysis_genepanel(ctx, analysis_id, gp_name, gp_version):
    require_analysis(ctx.conn, ctx.user, analysis_id)
    require_working_genepanel(ctx.conn, ctx.user, gp_name, gp_version)
    allele_ids = ctx.request.id_list_arg("allele_ids") or []
    return genepanel_for_alleles(ctx.conn, gp_name, gp_version, allele_ids)


@router.route("GET", f"{PREFIX[ALLELE]}/genepanels/<gp_name>/<gp_version>/", access="genepanel",
              summary="Gene panel part relevant to the variant, with gene assessments")
def allele_genepanel(ctx, allele_id, gp_name, gp_version):
    require_working_genepanel(ctx.conn, ctx.user, gp_name, gp_version)
    _workflow(ctx, ALLELE, {"allele_id": allele_id})
    return genepanel_for_alleles(ctx.conn, gp_name, gp_version, [allele_id])


@router.route("GET", f"{PREFIX[ALLELE]}/genepanels/", access="genepanel",
              summary="The group's official panels with a transcript overlapping the variant "
                      "(panel chooser before start)")
def allele_genepanels(ctx, allele_id):
    _workflow(ctx, ALLELE, {"allele_id": allele_id})
    rows = ctx.conn.execute(
        "SELECT DISTINCT gp.name, gp.version, gp.official FROM allele a "
        "JOIN transcript t ON t.chromosome = a.chromosome AND t.tx_start < a.open_end_position "
        "AND t.tx_end > a.start_position "
        "JOIN genepanel_transcript gt ON gt.transcript_id = t.id "
        "JOIN genepanel gp ON gp.name = gt.genepanel_name AND gp.version = gt.genepanel_version "
        "JOIN usergroupgenepanel ugp ON ugp.genepanel_name = gp.name "
        "AND ugp.genepanel_version = gp.version "
        "WHERE a.id = %s AND ugp.usergroup_id = %s AND gp.official "
        "ORDER BY gp.name, gp.version", (allele_id, ctx.user["group_id"])).fetchall()
    return [{"name": n, "version": v, "official": o} for n, v, o in rows]
