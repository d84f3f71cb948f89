"""Alleles with annotation and assessments (api.md 2.3, 3.4, 4.9 `GET alleles/`)."""

from ella.allele_views import (ALLELE_ORDER, ALLELE_Q_COLUMNS, LINK_KEYS, AlleleLoader,
                               genes_of_alleles)
from ella.web.access import require_analysis, require_working_genepanel
from ella.web.errors import BadRequest
from ella.web.http import JsonPartsResponse, to_json
from ella.web.listing import page_args, page_headers, q_to_sql
from ella.web.router import router

API = "/api/v1"


def _id_list(value, key):
    values = value if isinstance(value, list) else [value]
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2**31:
            raise BadRequest(f"link.{key} must be an id or a list of ids")
    return values


def parse_link(request):
    """The `link` query parameter (api.md 1.8): {key: [ids]} or None."""
    link = request.json_arg("link")
    if link is None:
        return None
    if not isinstance(link, dict):
        raise BadRequest("Query parameter 'link' must be a JSON object")
    unknown = sorted(set(link) - set(LINK_KEYS))
    if unknown:
        raise BadRequest(f"Unknown key(s) in link: {', '.join(unknown)} "
                         f"(known: {', '.join(LINK_KEYS)})")
    return {key: _id_list(value, key) for key, value in link.items()}


@router.route("GET", f"{API}/alleles/", access="analysis",
              summary="Alleles with annotation and current (or link-selected) assessments; "
                      "q, link, gp_name+gp_version, analysis_id")
def list_alleles(ctx):
    request = ctx.request
    where, params = q_to_sql(request.json_arg("q"), ALLELE_Q_COLUMNS)
    link = parse_link(request)
    gp_name, gp_version = request.args.get("gp_name"), request.args.get("gp_version")
    if bool(gp_name) != bool(gp_version):
        raise BadRequest("gp_name and gp_version must be given together")
    genepanel = None
    if gp_name:
        require_working_genepanel(ctx.conn, ctx.user, gp_name, gp_version)
        genepanel = (gp_name, gp_version)
    analysis_id = request.int_arg("analysis_id", None, minimum=0)
    if analysis_id is not None:
        require_analysis(ctx.conn, ctx.user, analysis_id)
    page, per_page = page_args(request)
    ordered = [row[0] for row in ctx.conn.execute(
        f"SELECT a.id FROM allele a WHERE {where} ORDER BY {ALLELE_ORDER}", params)]
    loader = AlleleLoader(ctx.conn, ctx.config, genepanel, analysis_id, link)
    # Headers, but no slicing (as ELLA); built a slice at a time (18,000 ids asked at once
    # held +363 MB of shapes).
    return JsonPartsResponse(shapes_in_parts(loader, ordered),
                             headers=page_headers(page, per_page, len(ordered)))


# Variants shaped and turned into JSON at a time: a list of thousands (a round's variants,
# ~17,000 for an exome) held hundreds of MB as shapes; its JSON is a tenth of that.
LIST_SLICE = 1000


def shapes_in_parts(loader, ordered_ids, each_slice=None):
    """The JSON array of the shapes of `ordered_ids` (in that order, as `loader` loads them
    ordered), as byte strings to send one after the other; `each_slice(shapes)` may add to
    a slice's shapes before they are written."""
    parts = []
    for start in range(0, len(ordered_ids), LIST_SLICE):
        loaded = loader.load("a.id = ANY(%s)", (ordered_ids[start:start + LIST_SLICE],))
        if each_slice is not None:
            each_slice(loaded)
        if loaded:
            if parts:
                parts.append(b", ")
            parts.append(to_json(loaded)[1:-1].encode("ascii"))  # json.dumps: ASCII
    return [b"["] + parts + [b"]"]


@router.route("GET", f"{API}/alleles/by-gene/", access=None,
              summary="Allele ids grouped by gene (allele_ids required)")
def alleles_by_gene(ctx):
    allele_ids = ctx.request.id_list_arg("allele_ids", required=True)
    if not allele_ids:
        return []
    return genes_of_alleles(ctx.conn, ctx.config, allele_ids)
