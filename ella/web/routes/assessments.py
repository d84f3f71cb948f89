"""Allele assessments, allele reports, reference assessments, custom annotations and gene
assessments: lists, single items and the POST routes outside a workflow (api.md 2.3, 3.5,
4.19, 4.20, 6 #5).

The lists are not restricted to the caller's group (as ELLA: assessments are shared knowledge
across groups). Creating rows supersedes the current one in the same transaction; the current
row is locked (SELECT ... FOR NO KEY UPDATE) so two concurrent posts cannot both win: the loser sees
no current row or a different id and gets 409 (the partial unique indexes back this up).
A custom annotation's POST names no version it saw (api.md 4.19): it is merged over whatever
is current once the lock is held, so the later of two saves of one group wins, as in ELLA.
"""


import psycopg
from psycopg.types.json import Jsonb

from ella.allele_views import Q_COLUMNS, SHAPES
from ella.db import clock_now
from ella.deposit.custom_annotation import (changed_annotations, check_annotations,
                                            mismatched_pubmed_id, missing_reference_ids,
                                            pubmed_mismatch_text)
from ella.web.access import (require_allele, require_analysis, require_genepanel,
                             require_working_genepanel)
from ella.web.errors import BadRequest, Conflict, NotFound
from ella.web.http import Response
from ella.web.listing import page_args, page_headers, q_to_sql
from ella.web.router import router
from ella.web.validation import TEXT_LIMIT, check_text_length, require_object
from ella.workflow.assessments import (allele_in_analysis,
                                       normalise_referenceassessment_evaluation,
                                       validate_evaluation)

API = "/api/v1"


def _list(ctx, table, slice_items):
    request = ctx.request
    where, params = q_to_sql(request.json_arg("q"), Q_COLUMNS[table])
    page, per_page = page_args(request)
    total = ctx.conn.execute(f"SELECT count(*) FROM {table} x WHERE {where}", params).fetchone()[0]
    if slice_items:
        items = SHAPES[table](ctx.conn, where, params + [per_page, (page - 1) * per_page],
                              suffix="LIMIT %s OFFSET %s")
    else:
        items = SHAPES[table](ctx.conn, where, params)
    return Response.json(items, headers=page_headers(page, per_page, total))


def _one(ctx, table, item_id, label):
    found = SHAPES[table](ctx.conn, "x.id = %s", (item_id,))
    if not found:
        raise NotFound(f"No {label} with id {item_id}")
    return found[0]


@router.route("GET", f"{API}/alleleassessments/", summary="Allele assessments (q, paginated)")
def list_alleleassessments(ctx):
    return _list(ctx, "alleleassessment", True)


@router.route("GET", f"{API}/alleleassessments/<int:aa_id>/", summary="One allele assessment")
def get_alleleassessment(ctx, aa_id):
    return _one(ctx, "alleleassessment", aa_id, "allele assessment")


@router.route("GET", f"{API}/allelereports/", summary="Allele reports (q, paginated)")
def list_allelereports(ctx):
    return _list(ctx, "allelereport", True)


@router.route("GET", f"{API}/allelereports/<int:ar_id>/", summary="One allele report")
def get_allelereport(ctx, ar_id):
    return _one(ctx, "allelereport", ar_id, "allele report")


@router.route("GET", f"{API}/referenceassessments/",
              summary="Reference assessments (q; pagination headers, no slicing)")
def list_referenceassessments(ctx):
    return _list(ctx, "referenceassessment", False)


@router.route("GET", f"{API}/referenceassessments/<int:ra_id>/",
              summary="One reference assessment")
def get_referenceassessment(ctx, ra_id):
    return _one(ctx, "referenceassessment", ra_id, "reference assessment")


@router.route("GET", f"{API}/customannotations/",
              summary="Custom annotations (q; pagination headers, no slicing)")
def list_customannotations(ctx):
    return _list(ctx, "customannotation", False)


@router.route("GET", f"{API}/geneassessments/", summary="Gene assessments (q, paginated)")
def list_geneassessments(ctx):
    return _list(ctx, "geneassessment", True)


@router.route("GET", f"{API}/geneassessments/<int:ga_id>/", summary="One gene assessment")
def get_geneassessment(ctx, ga_id):
    return _one(ctx, "geneassessment", ga_id, "gene assessment")


# --- creating rows -----------------------------------------------------------------------

def _insert(conn, sql, params, what):
    """INSERT ... RETURNING id; a lost race on the one-current-row index is a 409."""
    try:
        with conn.transaction():
            return conn.execute(sql, params).fetchone()[0]
    except psycopg.errors.UniqueViolation:
        raise Conflict(f"A current {what} was created at the same time; reload and try "
                       "again") from None


def strip_nulls(value):
    """Remove null-valued keys of objects nested in objects, as ELLA does; a list is kept as
    it is (a user's reference without a PubMed id keeps its `"pubmed_id": null`)."""
    if isinstance(value, dict):
        return {k: strip_nulls(v) for k, v in value.items() if v is not None}
    return value


@router.route("POST", f"{API}/customannotations/",
              summary="New current custom annotation of an allele (merged with the previous)")
def create_customannotation(ctx):
    body = require_object(ctx.request.json(), {"allele_id": int, "annotations": dict},
                          {"user_id": (int, type(None))})
    conn = ctx.conn
    require_allele(conn, body["allele_id"])
    # The variant's row first, as finalize-allele share-locks it while it names the
    # current custom annotation (also none): a first one is not made under its feet.
    conn.execute("SELECT id FROM allele WHERE id = %s FOR NO KEY UPDATE", (body["allele_id"],))
    current = conn.execute(
        "SELECT id, annotations FROM customannotation WHERE allele_id = %s "
        "AND date_superceeded IS NULL FOR NO KEY UPDATE", (body["allele_id"],)).fetchone()
    # As `ella-deposit custom_annotation` checks a line (ELLA checks nothing here): the
    # configured keys and options, references of ELLA's shape that exist; what the request
    # changes only (null removes). Under the row's lock: the current row is the one merged.
    changed = changed_annotations(strip_nulls(body["annotations"]),
                                  current[1] if current is not None else None)
    try:
        check_annotations(changed)
    except ValueError as exc:
        raise BadRequest(f"body.annotations: {exc}") from None
    missing = missing_reference_ids(conn, changed)
    if missing:
        raise BadRequest(f"body.annotations: no reference with id {missing[0]}")
    mismatch = mismatched_pubmed_id(conn, changed)
    if mismatch:
        raise BadRequest(f"body.annotations: {pubmed_mismatch_text(*mismatch)}")
    now = clock_now(conn)
    annotations = dict(body["annotations"])
    previous_id = None
    if current is not None:
        previous_id = current[0]
        annotations = {**(current[1] or {}), **annotations}
        conn.execute("UPDATE customannotation SET date_superceeded = %s WHERE id = %s",
                     (now, previous_id))
    new_id = _insert(conn, "INSERT INTO customannotation (annotations, allele_id, user_id, "
                     "previous_annotation_id, date_created) VALUES (%s, %s, %s, %s, %s) "
                     "RETURNING id",
                     (Jsonb(strip_nulls(annotations)), body["allele_id"],
                      ctx.user["id"], previous_id, now), "custom annotation")
    return SHAPES["customannotation"](conn, "x.id = %s", (new_id,))[0]


@router.route("POST", f"{API}/geneassessments/", access="genepanel",
              summary="New gene assessment (gene comment), superseding the current one")
def create_geneassessment(ctx):
    body = require_object(
        ctx.request.json(),
        {"gene_id": int, "genepanel_name": str, "genepanel_version": str, "evaluation": dict},
        {"analysis_id": (int, type(None)), "presented_geneassessment_id": (int, type(None))})
    evaluation = require_object(body["evaluation"], {"comment": str}, where="body.evaluation")
    check_text_length(evaluation["comment"], TEXT_LIMIT, "body.evaluation.comment")
    conn = ctx.conn
    if not conn.execute("SELECT 1 FROM gene WHERE hgnc_id = %s", (body["gene_id"],)).fetchone():
        raise NotFound(f"No gene with HGNC id {body['gene_id']}")
    # Also the panel of a variant round the group may still finish (it lost that version).
    require_working_genepanel(conn, ctx.user, body["genepanel_name"], body["genepanel_version"])
    if body.get("analysis_id") is not None:
        require_analysis(conn, ctx.user, body["analysis_id"], lock=True)
    current = conn.execute("SELECT id FROM geneassessment WHERE gene_id = %s "
                           "AND date_superceeded IS NULL FOR NO KEY UPDATE",
                           (body["gene_id"],)).fetchone()
    now = clock_now(conn)
    previous_id = None
    if current is not None:
        presented = body.get("presented_geneassessment_id")
        if presented != current[0]:
            raise Conflict(f"'presented_geneassessment_id': {presented} does not match latest "
                           f"existing geneassessment id: {current[0]}")
        previous_id = current[0]
        conn.execute("UPDATE geneassessment SET date_superceeded = %s WHERE id = %s",
                     (now, previous_id))
    new_id = _insert(
        conn, "INSERT INTO geneassessment (evaluation, user_id, usergroup_id, date_created, "
        "genepanel_name, genepanel_version, previous_assessment_id, gene_id, analysis_id) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (Jsonb(evaluation), ctx.user["id"], ctx.user["group_id"], now,
         body["genepanel_name"], body["genepanel_version"], previous_id, body["gene_id"],
         body.get("analysis_id")), "gene assessment")
    return SHAPES["geneassessment"](conn, "x.id = %s", (new_id,))[0]


@router.route("POST", f"{API}/referenceassessments/", access="genepanel",
              summary="New reference assessment outside a workflow, superseding the current "
                      "one of the allele and reference")
def create_referenceassessment(ctx):
    body = require_object(
        ctx.request.json(),
        {"allele_id": int, "reference_id": int, "evaluation": dict, "genepanel_name": str,
         "genepanel_version": str},
        {"id": (int, type(None)), "analysis_id": (int, type(None))})
    # The model finalizeallele enforces (workflow.md 8.3: no other keys), stored the same way.
    validate_evaluation("referenceAssessmentEvaluation", body["evaluation"], "body.evaluation")
    conn = ctx.conn
    require_allele(conn, body["allele_id"])
    if not conn.execute("SELECT 1 FROM reference WHERE id = %s",
                        (body["reference_id"],)).fetchone():
        raise NotFound(f"No reference with id {body['reference_id']}")
    require_genepanel(conn, ctx.user, body["genepanel_name"], body["genepanel_version"])
    if body.get("analysis_id") is not None:
        require_analysis(conn, ctx.user, body["analysis_id"], lock=True)
        # As finalizeallele: an assessment is recorded as made in an analysis of the variant.
        if not allele_in_analysis(conn, body["analysis_id"], body["allele_id"]):
            raise BadRequest(f"Allele {body['allele_id']} is not part of analysis "
                             f"{body['analysis_id']}")
    current = conn.execute("SELECT id FROM referenceassessment WHERE allele_id = %s "
                           "AND reference_id = %s AND date_superceeded IS NULL "
                           "FOR NO KEY UPDATE",
                           (body["allele_id"], body["reference_id"])).fetchone()
    if body.get("id") is not None:
        # Presenting an id reuses that assessment; it must still be the current one.
        if current is None or current[0] != body["id"]:
            raise Conflict(f"Found no matching referenceassessment for allele_id: "
                           f"{body['allele_id']}, reference_id: {body['reference_id']}, id: "
                           f"{body['id']}. Either the assessment is outdated or it doesn't "
                           "exist.")
        return SHAPES["referenceassessment"](conn, "x.id = %s", (current[0],))[0]
    now = clock_now(conn)
    previous_id = None
    if current is not None:
        previous_id = current[0]
        conn.execute("UPDATE referenceassessment SET date_superceeded = %s WHERE id = %s",
                     (now, previous_id))
    new_id = _insert(
        conn, "INSERT INTO referenceassessment (reference_id, evaluation, user_id, "
        "date_created, genepanel_name, genepanel_version, allele_id, previous_assessment_id, "
        "analysis_id, usergroup_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "RETURNING id",
        (body["reference_id"], Jsonb(normalise_referenceassessment_evaluation(
            body["evaluation"])), ctx.user["id"],
         now, body["genepanel_name"], body["genepanel_version"], body["allele_id"],
         previous_id, body.get("analysis_id"), ctx.user["group_id"]), "reference assessment")
    return SHAPES["referenceassessment"](conn, "x.id = %s", (new_id,))[0]
