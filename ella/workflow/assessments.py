"""Finalize allele: create or reuse a variant's allele assessment, reference assessments and
allele report inside an Ongoing round (workflow.md 4.6, 8; api.md 4.15).

Assessments are append-only: a new version is a new row, the old one gets `date_superceeded`
and the new one points back through `previous_*_id`. Concurrency: the workflow's latest round
is locked first (`SELECT ... FOR UPDATE`), so two finalizeallele calls in one workflow run one
after the other and the second sees the first one's rows (READ COMMITTED re-reads per
statement): its presented id is stale and it gets 409. Across workflows the current rows are
locked too (FOR NO KEY UPDATE, which a foreign key's check does not wait for), and the
partial unique indexes (one current row per allele / allele+reference) turn any remaining
race into a 409 instead of a second current row.

Errors: ELLA answers its business errors with 500; we answer a state that changed under the
caller (round not Ongoing, stale annotation or presented ids, a reused reference assessment
that is no longer current, a workflow status the config does not allow) with 409 and
malformed or impossible input with 400, keeping ELLA's message texts.
"""

import itertools
import json
from functools import lru_cache
from pathlib import Path

import jsonschema
import psycopg
from psycopg.types.json import Jsonb

from ella.allele_views import (alleleassessment_shapes, allelereport_shapes,
                               referenceassessment_shapes)
from ella.db import clock_now
from ella.web.errors import BadRequest, Conflict, Forbidden
from ella.web.validation import check_value
from ella.workflow.rounds import TYPES, lock_workflow

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "jsonschemas" / "api"
# Of the errors of an evaluation, the one reported is the first by path among this many.
MAX_ERRORS_SORTED = 100
# An evaluation's ACMG lists (a real one names a few dozen codes at most): checking 120,000
# entries against the schema held a worker for 15 s.
MAX_ACMG_ENTRIES = 1000
MAX_ACMG_MATCHES = 100
CLASSIFICATIONS = ("1", "2", "3", "4", "5", "NP", "RF", "DR")
WORKFLOW_TABLES = {"analysis": ("analysisinterpretation", "analysis_id"),
                   "allele": ("alleleinterpretation", "allele_id")}
REF_KEYS = ("ref_quality", "ref_auth_classification", "ref_segregation",
            "ref_segregation_quality", "ref_ihc", "ref_msi", "ref_prot", "ref_prediction",
            "ref_prot_quality", "ref_population_affecteds", "ref_rna", "ref_rna_quality",
            "ref_aa_overlap", "ref_aa_overlap_same_novel", "ref_domain_overlap",
            "ref_population_healthy", "ref_prediction_tool", "ref_msi_quality",
            "ref_aa_overlap_aa", "ref_aa_overlap_sim", "ref_aa_overlap_aa_ref",
            "ref_aa_overlap_quality", "ref_phase", "ref_ihc_quality", "ref_domain_benign",
            "ref_de_novo",
            # Not in workflow.md 8.3's list, but ELLA's reference form stores it and the
            # rules read it (REQ_repeat, acmg.md 2.1).
            "ref_repeat_overlap")
BEYOND_ELLAS_MODEL = frozenset({"ref_repeat_overlap"})


# --- evaluation documents ----------------------------------------------------------------

@lru_cache(maxsize=None)
def _validator(name):
    with (SCHEMA_DIR / f"{name}.json").open(encoding="utf-8") as handle:
        schema = json.load(handle)
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def validate_evaluation(name, document, where):
    """400 naming the first problem when `document` does not fit schema `name`."""
    # The first errors only (they come lazily): every error of a list of 200,000 wrong items
    # cost seconds and hundreds of MB per request.
    errors = sorted(itertools.islice(_validator(name).iter_errors(document), MAX_ERRORS_SORTED),
                    key=lambda e: list(e.path))
    if errors:
        error = errors[0]
        path = "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in error.path)
        raise BadRequest(f"Invalid {where}{path}: {error.message}")


def check_acmg_sizes(evaluation, where):
    """400 for ACMG lists beyond any real evaluation, before the (slow) schema check."""
    acmg = evaluation.get("acmg")
    if not isinstance(acmg, dict):
        return  # (the schema check names it)
    for key in ("included", "suggested"):
        entries = acmg.get(key)
        if not isinstance(entries, list):
            continue
        if len(entries) > MAX_ACMG_ENTRIES:
            raise BadRequest(f"Invalid {where}.acmg.{key}: {len(entries)} entries, at most "
                             f"{MAX_ACMG_ENTRIES} are accepted")
        for index, entry in enumerate(entries):
            match = entry.get("match") if isinstance(entry, dict) else None
            if isinstance(match, list) and len(match) > MAX_ACMG_MATCHES:
                raise BadRequest(f"Invalid {where}.acmg.{key}[{index}].match: {len(match)} "
                                 f"entries, at most {MAX_ACMG_MATCHES} are accepted")


def normalise_alleleassessment_evaluation(evaluation):
    """All keys of ELLA's request model, absent optional ones as null (workflow.md 8.2)."""
    acmg = evaluation["acmg"]
    return {
        "acmg": {
            "included": [{"uuid": i["uuid"], "code": i["code"], "comment": i["comment"],
                          "op": i.get("op"), "match": i.get("match"),
                          "source": i.get("source")} for i in acmg["included"]],
            "suggested": [{"code": s["code"], "op": s.get("op"), "match": s.get("match"),
                           "source": s.get("source")} for s in acmg["suggested"]],
            "suggested_classification": acmg.get("suggested_classification"),
        },
        **{key: {"comment": evaluation[key]["comment"]}
           for key in ("external", "frequency", "reference", "prediction", "classification")},
        "similar": evaluation.get("similar"),
        "comment": evaluation.get("comment"),
    }


def normalise_referenceassessment_evaluation(evaluation):
    """All keys of ELLA's model with null for absent ones (workflow.md 8.3); the one beyond
    its model (ref_repeat_overlap) only when sent: back on ELLA, its UI sends a stored
    evaluation back when a comment is edited, and ELLA's model refuses a key it lacks."""
    result = {key: evaluation.get(key) for key in ("comment", "sources", "relevance")}
    result.update({key: evaluation.get(key) for key in REF_KEYS
                   if key in evaluation or key not in BEYOND_ELLAS_MODEL})
    return result


# --- request body ------------------------------------------------------------------------

_INT = (int,)
_OPT_INT = (int, type(None))
_OPT_STR = (str, type(None))


def _check(obj, required, optional, where):
    if not isinstance(obj, dict):
        raise BadRequest(f"{where} must be a JSON object")
    unknown = sorted(set(obj) - set(required) - set(optional))
    if unknown:
        raise BadRequest(f"Unknown key(s) in {where}: {', '.join(unknown)}")
    missing = [k for k in required if k not in obj]
    if missing:
        raise BadRequest(f"Missing key(s) in {where}: {', '.join(missing)}")
    for key, types in {**required, **optional}.items():
        if key in obj:
            # Numeric strings become integers, as ELLA's request models coerce them (api.md
            # 1.2); integers must fit PostgreSQL's.
            obj[key] = check_value(obj[key], types, f"{where}.{key}")
    return obj


def parse_finalize_body(body):
    """The FinalizeAlleleRequest checked for shape and types (400 otherwise)."""
    _check(body, {"allele_id": _INT, "annotation_id": _INT, "alleleassessment": (dict,),
                  "referenceassessments": (list,), "allelereport": (dict,)},
           {"custom_annotation_id": _OPT_INT}, "body")
    aa = body["alleleassessment"]
    if aa.get("reuse") is True:
        _check(aa, {"reuse": (bool,), "allele_id": _INT, "presented_alleleassessment_id": _INT},
               {}, "body.alleleassessment")
    else:
        _check(aa, {"reuse": (bool,), "allele_id": _INT, "attachment_ids": (list,),
                    "classification": (str,), "evaluation": (dict,)},
               {"reuseCheckedId": _OPT_INT, "genepanel_name": _OPT_STR,
                "genepanel_version": _OPT_STR, "presented_alleleassessment_id": _OPT_INT},
               "body.alleleassessment")
        if aa["classification"] not in CLASSIFICATIONS:
            raise BadRequest(f"body.alleleassessment.classification must be one of "
                             f"{', '.join(CLASSIFICATIONS)}")
        aa["attachment_ids"] = [
            check_value(i, int, f"body.alleleassessment.attachment_ids[{n}]")
            for n, i in enumerate(aa["attachment_ids"])]
        check_acmg_sizes(aa["evaluation"], "body.alleleassessment.evaluation")
        validate_evaluation("alleleAssessmentEvaluation", aa["evaluation"],
                            "body.alleleassessment.evaluation")
    for index, ra in enumerate(body["referenceassessments"]):
        where = f"body.referenceassessments[{index}]"
        if isinstance(ra, dict) and "id" in ra:
            _check(ra, {"id": _INT, "allele_id": _INT, "reference_id": _INT},
                   {"evaluation": (dict, type(None)), "reuse": (bool, type(None)),
                    "reuseCheckedId": _OPT_INT}, where)
        else:
            _check(ra, {"allele_id": _INT, "reference_id": _INT, "evaluation": (dict,)},
                   {"genepanel_name": _OPT_STR, "genepanel_version": _OPT_STR}, where)
            validate_evaluation("referenceAssessmentEvaluation", ra["evaluation"],
                                f"{where}.evaluation")
        if ra["allele_id"] != body["allele_id"]:
            raise BadRequest(f"{where}.allele_id must be the finalized allele "
                             f"{body['allele_id']}")
    # One assessment per reference: a new one next to a reused one would supersede the reused
    # row and link both (stale evidence); two new ones, or one reused twice, are contradictory.
    seen = set()
    for index, ra in enumerate(body["referenceassessments"]):
        if ra["reference_id"] in seen:
            raise BadRequest(f"body.referenceassessments[{index}]: reference "
                             f"{ra['reference_id']} is assessed more than once in this request")
        seen.add(ra["reference_id"])
    ar = body["allelereport"]
    if ar.get("reuse") is True:
        _check(ar, {"reuse": (bool,), "allele_id": _INT, "presented_allelereport_id": _INT},
               {}, "body.allelereport")
    else:
        _check(ar, {"reuse": (bool,), "allele_id": _INT, "evaluation": (dict,)},
               {"presented_allelereport_id": _OPT_INT}, "body.allelereport")
        validate_evaluation("alleleReportEvaluation", ar["evaluation"],
                            "body.allelereport.evaluation")
    for key in ("alleleassessment", "allelereport"):
        if body[key]["allele_id"] != body["allele_id"]:
            raise BadRequest(f"body.{key}.allele_id must equal body.allele_id")
    return body


# --- helpers -----------------------------------------------------------------------------

def latest_round(conn, workflow_type, workflow_id, lock=False):
    """The latest round as a dict (or None); `lock` takes a row lock on it."""
    table, column = WORKFLOW_TABLES[workflow_type]
    row = conn.execute(
        f"SELECT id, status::text, workflow_status::text, genepanel_name, genepanel_version, "
        f"finalized, user_id FROM {table} WHERE {column} = %s "
        f"ORDER BY date_created DESC, id DESC LIMIT 1{' FOR UPDATE' if lock else ''}",
        (workflow_id,)).fetchone()
    if row is None:
        return None
    return dict(zip(("id", "status", "workflow_status", "genepanel_name", "genepanel_version",
                     "finalized", "user_id"), row))


def allele_in_analysis(conn, analysis_id, allele_id):
    return conn.execute(
        "SELECT 1 FROM genotype g JOIN sample s ON s.id = g.sample_id "
        "WHERE s.analysis_id = %s AND (g.allele_id = %s OR g.secondallele_id = %s) LIMIT 1",
        (analysis_id, allele_id, allele_id)).fetchone() is not None


def _insert(conn, sql, params, what):
    """INSERT ... RETURNING id; losing a race on a one-current-row index is a 409."""
    try:
        with conn.transaction():
            return conn.execute(sql, params).fetchone()[0]
    except psycopg.errors.UniqueViolation:
        raise Conflict(f"A current {what} of this allele was created at the same time; "
                       "reload and try again") from None


# The two assessment tables whose current row finalizing an allele reuses or supersedes.
_CURRENT_ROW_TABLES = ("alleleassessment", "allelereport")


ANNOTATION_NAMES = {"annotation": "annotation", "customannotation": "custom annotation"}


def _current_id(conn, table, allele_id, lock):
    """Id of the allele's current row of `table` (None if none), locked (`lock`: FOR SHARE,
    or FOR NO KEY UPDATE to supersede it) until commit. NO KEY UPDATE, as the UPDATE of
    date_superceeded itself: a round's snapshots key-share-lock the rows they name, and
    FOR UPDATE made a mark or finalize in another workflow deadlock with this."""
    assert table in _CURRENT_ROW_TABLES + ("annotation", "customannotation")
    assert lock in ("SHARE", "SHARE NOWAIT", "NO KEY UPDATE")
    query = f"SELECT id FROM {table} WHERE allele_id = %s AND date_superceeded IS NULL " \
        f"FOR {lock}"
    row = conn.execute(query, (allele_id,)).fetchone()
    if row is None:
        # A writer that superseded the row we waited for hides its new row from this
        # statement's snapshot; the next statement sees (and locks) it.
        row = conn.execute(query, (allele_id,)).fetchone()
    return row[0] if row else None


def _locked_current(conn, table, allele_id, payload):
    """Id of the allele's current row of `table` (None if none), locked until commit. The
    client must have seen it: a different `presented_<table>_id` is a stale view (409)."""
    assert table in _CURRENT_ROW_TABLES
    existing = _current_id(conn, table, allele_id, "NO KEY UPDATE")
    presented = payload.get(f"presented_{table}_id")
    if existing is not None and presented != existing:
        raise Conflict(f"'presented_{table}_id': {presented} does not match latest "
                       f"existing {table} id: {existing}")
    return existing


def _reuse_or_supersede(conn, table, what, allele_id, existing, reuse, now):
    """With `reuse`, the current row's id (there must be one); otherwise supersede the current
    row, if any, and return None: the caller inserts the new one."""
    assert table in _CURRENT_ROW_TABLES
    if reuse:
        if existing is None:
            raise BadRequest(f"There is no current {what} of allele {allele_id} to reuse")
        return existing
    if existing is not None:
        conn.execute(f"UPDATE {table} SET date_superceeded = %s WHERE id = %s", (now, existing))
    return None


def finalize_requirement_statuses(user_config, workflow_type):
    """The workflow statuses a round must have to be finalized; a user config without the
    workflow's section refuses, as the round's finalize does (409; ELLA: 500), rather than
    dropping the lab's requirement."""
    try:
        requirements = user_config["workflows"][workflow_type]["finalize_requirements"]
        return requirements.get("workflow_status") or []
    except (KeyError, TypeError, AttributeError):
        raise Conflict(f"Cannot finalize: the user config has no workflows.{workflow_type}."
                       "finalize_requirements section") from None


# --- finalize allele ---------------------------------------------------------------------

def finalize_allele(conn, user, user_config, workflow_type, workflow_id, body,
                    access=None):
    """workflow.md 4.6, steps in its order. `body` has passed `parse_finalize_body`;
    `access`, when given, must allow the latest round (`allows`; 403 otherwise; checked under
    the lock). Returns {alleleassessment, allelereport,
    referenceassessments}."""
    allele_id = body["allele_id"]
    analysis_id = workflow_id if workflow_type == "analysis" else None

    # 1. The latest round, locked: finalizeallele calls of one workflow run one at a time.
    # The workflow's row first, as every round action locks it: taking the round first let
    # a finalizeallele and a markreview/finalize of the same workflow deadlock.
    lock_workflow(conn, TYPES[workflow_type], workflow_id)
    round_ = latest_round(conn, workflow_type, workflow_id, lock=True)
    if round_ is not None and access is not None and not access.allows(round_):
        raise Forbidden(f"The interpretation of {workflow_type} {workflow_id} is not "
                        "available to your user group")
    if round_ is None or round_["status"] != "Ongoing":
        raise Conflict("Cannot finalize allele when latest interpretation is not 'Ongoing'")

    # 2. The allele belongs to the workflow.
    if workflow_type == "allele":
        if allele_id != workflow_id:
            raise BadRequest(f"body.allele_id {allele_id} is not the allele {workflow_id} of "
                             "this workflow")
    elif not allele_in_analysis(conn, workflow_id, allele_id):
        raise BadRequest(f"Allele {allele_id} is not part of analysis {workflow_id}")

    # 3./4. The annotation the user saw is still the current one, and stays so until this
    # commits: a deposit or a custom annotation that supersedes it meanwhile waits (a
    # plain read let the new assessment name an annotation superseded before it). The
    # variant's row too: the writers of custom annotations lock it, so also an allele's
    # first custom annotation waits.
    # Not waited for when an import is superseding one of them: it holds it until the whole
    # file is in (a minute for an exome), and the user's request would end in 503 after the
    # lock limit, then 409 once it committed. Said at once instead.
    conn.execute("SELECT id FROM allele WHERE id = %s FOR SHARE", (allele_id,))
    for table, given in (("annotation", body["annotation_id"]),
                         ("customannotation", body.get("custom_annotation_id"))):
        try:
            current = _current_id(conn, table, allele_id, "SHARE NOWAIT")
        except psycopg.errors.LockNotAvailable:
            raise Conflict(f"Cannot finalize: the variant's {ANNOTATION_NAMES[table]} is being "
                           "updated right now (by an import or another user); nothing was "
                           "saved. Reload the variant when that has finished.") from None
        if current != given:
            raise Conflict(f"Cannot finalize: provided {table.replace('custom', 'custom_')}_id "
                           "does not match latest annotation id")

    # 5. Reference assessments.
    payload_ras = body["referenceassessments"]
    reference_ids = sorted({ra["reference_id"] for ra in payload_ras})
    current_ras = {}
    if reference_ids:
        for ra_id, reference_id in conn.execute(
                "SELECT id, reference_id FROM referenceassessment WHERE allele_id = %s "
                "AND reference_id = ANY(%s) AND date_superceeded IS NULL ORDER BY id "
                "FOR NO KEY UPDATE", (allele_id, reference_ids)):
            current_ras[reference_id] = ra_id
        known = {r[0] for r in conn.execute("SELECT id FROM reference WHERE id = ANY(%s)",
                                            (reference_ids,))}
        unknown = [r for r in reference_ids if r not in known]
        if unknown:
            raise BadRequest(f"No reference with id {unknown[0]}")
    # The time of everything this call writes, taken after the locks it waited for: one taken
    # before dated the successor of a reference assessment committed meanwhile before it
    # (and superseded that row before its creation).
    now = clock_now(conn)
    reused_ra_ids, created_ra_ids = [], []
    for ra in payload_ras:
        if "id" not in ra:
            continue
        if current_ras.get(ra["reference_id"]) != ra["id"]:
            raise Conflict(f"Found no matching referenceassessment for allele_id: "
                           f"{allele_id}, reference_id: {ra['reference_id']}, id: {ra['id']}. "
                           "Either the assessment is outdated or it doesn't exist.")
        reused_ra_ids.append(ra["id"])
    for ra in payload_ras:
        if "id" in ra:
            continue
        previous = current_ras.get(ra["reference_id"])
        if previous is not None:
            conn.execute("UPDATE referenceassessment SET date_superceeded = %s WHERE id = %s",
                         (now, previous))
        created_ra_ids.append(_insert(
            conn, "INSERT INTO referenceassessment (reference_id, evaluation, user_id, "
            "usergroup_id, date_created, genepanel_name, genepanel_version, allele_id, "
            "previous_assessment_id, analysis_id) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (ra["reference_id"], Jsonb(normalise_referenceassessment_evaluation(ra["evaluation"])),
             user["id"], user["group_id"], now, round_["genepanel_name"],
             round_["genepanel_version"], allele_id, previous, analysis_id),
            "reference assessment"))

    # 6. Allele assessment.
    payload_aa = body["alleleassessment"]
    existing_aa = _locked_current(conn, "alleleassessment", allele_id, payload_aa)
    aa_created = False
    aa_id = _reuse_or_supersede(conn, "alleleassessment", "allele assessment", allele_id,
                                existing_aa, payload_aa["reuse"], now)
    if aa_id is None:
        aa_id = _insert(
            conn, "INSERT INTO alleleassessment (classification, evaluation, user_id, "
            "usergroup_id, date_created, previous_assessment_id, allele_id, genepanel_name, "
            "genepanel_version, analysis_id, annotation_id, custom_annotation_id) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (payload_aa["classification"],
             Jsonb(normalise_alleleassessment_evaluation(payload_aa["evaluation"])),
             user["id"], user["group_id"], now, existing_aa, allele_id,
             round_["genepanel_name"], round_["genepanel_version"], analysis_id,
             body["annotation_id"], body.get("custom_annotation_id")),
            "allele assessment")
        aa_created = True
        ra_links = created_ra_ids + reused_ra_ids
        if ra_links:
            conn.execute("INSERT INTO alleleassessmentreferenceassessment "
                         "(alleleassessment_id, referenceassessment_id) "
                         "SELECT %s, unnest(%s::int[])", (aa_id, ra_links))
        attachment_ids = sorted(set(payload_aa["attachment_ids"]))
        linked = [r[0] for r in conn.execute(
            "INSERT INTO alleleassessmentattachment (alleleassessment_id, attachment_id) "
            "SELECT %s, id FROM attachment WHERE id = ANY(%s) ORDER BY id RETURNING "
            "attachment_id", (aa_id, attachment_ids))]
        if len(linked) != len(attachment_ids):
            # ELLA drops such an id silently: the assessment would lack an attachment its
            # author linked. Nothing is stored (the request rolls back).
            missing = sorted(set(attachment_ids) - set(linked))
            raise BadRequest(f"No attachment with id {missing[0]} "
                             "(body.alleleassessment.attachment_ids)")

    # 7. The config's workflow statuses allow creating assessments in this round.
    if aa_created or created_ra_ids:
        allowed = finalize_requirement_statuses(user_config, workflow_type)
        if allowed and round_["workflow_status"] not in allowed:
            raise Conflict(f"Cannot finalize: interpretation workflow status is "
                           f"{round_['workflow_status']}, but must be one of: "
                           f"{', '.join(allowed)}")

    # 8. New reference assessments need a new allele assessment.
    if created_ra_ids and not aa_created:
        raise BadRequest("Trying to create referenceassessments for allele, while not also "
                         "creating alleleassessment")

    # 9. Allele report.
    payload_ar = body["allelereport"]
    existing_ar = _locked_current(conn, "allelereport", allele_id, payload_ar)
    ar_created = False
    ar_id = _reuse_or_supersede(conn, "allelereport", "allele report", allele_id, existing_ar,
                                payload_ar["reuse"], now)
    if ar_id is None:
        # ELLA never fills allelereport.alleleassessment_id (workflow.md 17 #4); neither do we.
        ar_id = _insert(
            conn, "INSERT INTO allelereport (evaluation, user_id, usergroup_id, date_created, "
            "previous_report_id, allele_id, analysis_id) VALUES (%s, %s, %s, %s, %s, %s, %s) "
            "RETURNING id",
            (Jsonb({"comment": payload_ar["evaluation"]["comment"]}), user["id"],
             user["group_id"], now, existing_ar, allele_id, analysis_id), "allele report")
        ar_created = True

    # 10. Something must have been created.
    if not (aa_created or ar_created):
        raise BadRequest("Nothing to finalize: the allele assessment and the allele report "
                         "are both reused")

    # 11. The work log records what was created.
    table, _ = WORKFLOW_TABLES[workflow_type]
    conn.execute(f"INSERT INTO interpretationlog ({table}_id, user_id, date_created, "
                 "alleleassessment_id, allelereport_id) VALUES (%s, %s, %s, %s, %s)",
                 (round_["id"], user["id"], now, aa_id if aa_created else None,
                  ar_id if ar_created else None))

    # 12. Created-or-reused objects; reference assessments created first, then reused.
    ras = {r["id"]: r for r in referenceassessment_shapes(
        conn, "x.id = ANY(%s)", (created_ra_ids + reused_ra_ids,))}
    return {
        "alleleassessment": alleleassessment_shapes(conn, "x.id = %s", (aa_id,))[0],
        "allelereport": allelereport_shapes(conn, "x.id = %s", (ar_id,))[0],
        "referenceassessments": [ras[i] for i in created_ra_ids + reused_ra_ids],
    }
