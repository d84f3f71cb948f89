"""The interpretation log ("work log") of a workflow (workflow.md 10, api.md 4.18).

Entries hang on rounds; a new entry goes to the latest round whatever its status. Only the
author may edit (message only) or delete an entry, and only while it belongs to the latest
round. Refusals keep ELLA's texts: someone else's entry is 403, an older round's 409.
"""


from ella.allele_views import (_users_by_id, filtered_transcript_names, panel_index,
                               panel_transcripts)
from ella.db import clock_now
from ella.web.errors import BadRequest, Conflict, Forbidden, NotFound
from ella.workflow.assessments import WORKFLOW_TABLES, latest_round
from ella.workflow.rounds import TYPES, lock_workflow

LOG_COLUMNS = ("id", "date_created", "message", "priority", "review_comment",
               "warning_cleared", "user_id", "alleleassessment_id", "allelereport_id",
               "round_id")


def _round_ids(conn, workflow_type, workflow_id):
    table, column = WORKFLOW_TABLES[workflow_type]
    return [r[0] for r in conn.execute(f"SELECT id FROM {table} WHERE {column} = %s",
                                       (workflow_id,))]


def _hgvsc(conn, allele_ids, panel):
    """{allele_id: sorted ["<symbol> <HGVSc>" | "<chr>:<pos> <ref>><alt>"]} (api.md 4.18): one
    text per annotation transcript matching the panel (same HGNC id and accession, as the
    UI's `filtered_transcripts`), the position text for one without HGVSc, and the position
    text alone when no transcript matches (ELLA's outer join)."""
    if not allele_ids:
        return {}
    index = panel_index(panel)
    result = {}
    rows = conn.execute(
        "SELECT a.id, a.chromosome, a.vcf_pos, a.vcf_ref, a.vcf_alt, n.annotations "
        "FROM allele a LEFT JOIN annotation n ON n.allele_id = a.id "
        "AND n.date_superceeded IS NULL WHERE a.id = ANY(%s)", (sorted(allele_ids),))
    for allele_id, chrom, pos, ref, alt, annotations in rows:
        position = f"{chrom}:{pos} {ref}>{alt}"
        transcripts = [t for t in (annotations or {}).get("transcripts") or []
                       if isinstance(t, dict)]
        by_name = {t.get("transcript"): t for t in transcripts}
        texts = []
        for name in filtered_transcript_names(transcripts, index):
            transcript = by_name[name]
            texts.append(f"{transcript.get('symbol')} {transcript['HGVSc']}"
                         if transcript.get("HGVSc") else position)
        result[allele_id] = sorted(texts or [position])
    return result


def list_logs(conn, user, workflow_type, workflow_id, access=None):
    """{"logs": [...], "users": [...]}, oldest first. `access` (a RoundAccess) is what the
    edit and delete routes check on a variant's round: no entry is `editable` without it."""
    table, _ = WORKFLOW_TABLES[workflow_type]
    round_ids = _round_ids(conn, workflow_type, workflow_id)
    if not round_ids:
        return {"logs": [], "users": []}
    latest = latest_round(conn, workflow_type, workflow_id)
    rows = [dict(zip(LOG_COLUMNS, r)) for r in conn.execute(
        "SELECT id, date_created, message, priority, review_comment, warning_cleared, user_id, "
        f"alleleassessment_id, allelereport_id, {table}_id FROM interpretationlog "
        f"WHERE {table}_id = ANY(%s) ORDER BY date_created, id", (round_ids,))]
    aa_ids = [r["alleleassessment_id"] for r in rows if r["alleleassessment_id"]]
    ar_ids = [r["allelereport_id"] for r in rows if r["allelereport_id"]]
    aas = {r[0]: r[1:] for r in conn.execute(
        "SELECT aa.id, aa.allele_id, aa.classification::text, p.classification::text "
        "FROM alleleassessment aa LEFT JOIN alleleassessment p "
        "ON p.id = aa.previous_assessment_id WHERE aa.id = ANY(%s)", (aa_ids,))}
    ars = dict(conn.execute("SELECT id, allele_id FROM allelereport WHERE id = ANY(%s)",
                            (ar_ids,)).fetchall())
    panel = panel_transcripts(conn, latest["genepanel_name"], latest["genepanel_version"])
    hgvsc = _hgvsc(conn, {a[0] for a in aas.values()} | set(ars.values()), panel)
    changeable = not (latest["status"] == "Done" and latest["finalized"]) and (
        access is None or access.allows(latest))
    logs = []
    for r in rows:
        entry = {k: r[k] for k in ("id", "date_created", "message", "priority",
                                   "review_comment", "warning_cleared", "user_id")}
        entry["editable"] = bool(r["round_id"] == latest["id"] and changeable
                                 and r["user_id"] == user["id"] and r["message"] is not None)
        if r["alleleassessment_id"] in aas:
            allele_id, classification, previous = aas[r["alleleassessment_id"]]
            entry["alleleassessment"] = {"allele_id": allele_id,
                                         "hgvsc": hgvsc.get(allele_id, []),
                                         "classification": classification,
                                         "previous_classification": previous}
        if r["allelereport_id"] in ars:
            allele_id = ars[r["allelereport_id"]]
            entry["allelereport"] = {"allele_id": allele_id, "hgvsc": hgvsc.get(allele_id, [])}
        logs.append(entry)
    users = _users_by_id(conn, [r["user_id"] for r in rows])
    return {"logs": logs, "users": [users[i] for i in sorted(users)]}


def create_log(conn, user, workflow_type, workflow_id, body, access=None):
    """A new entry on the latest round; body already shape-checked. `access`, when given,
    says whether the caller may change that round (`allows`), else 403; checked under the
    workflow's lock, so a concurrent start or reopen cannot move the round out of reach
    between the route's access check and the insert."""
    values = {k: body.get(k) for k in ("message", "priority", "review_comment",
                                       "warning_cleared")}
    if all(v is None for v in values.values()):
        raise BadRequest("One of message, priority, review_comment or warning_cleared "
                         "must be given")
    if values["priority"] is not None and not 1 <= values["priority"] <= 3:
        # The UI's labels (analysis.priority.display): 1 Normal, 2 High, 3 Urgent.
        raise BadRequest(f"priority must be 1, 2 or 3, not {values['priority']}")
    if workflow_type == "allele" and values["warning_cleared"] is not None:
        raise BadRequest("warning_cleared is not supported for alleles as they have no warnings")
    # Under the workflow's lock: a concurrent start, reopen or finalize cannot move the
    # latest round between this read and the insert.
    lock_workflow(conn, TYPES[workflow_type], workflow_id)
    latest = latest_round(conn, workflow_type, workflow_id)
    if access is not None and latest is not None and not access.allows(latest):
        raise Forbidden(f"The interpretation of {workflow_type} {workflow_id} is not available "
                        "to your user group")
    if latest is None:
        # ELLA tries to create a round without a gene panel here and fails (workflow.md 10).
        raise Conflict(f"The {workflow_type} {workflow_id} has no interpretation round yet; "
                       "start one before writing to its log")
    table, _ = WORKFLOW_TABLES[workflow_type]
    conn.execute(f"INSERT INTO interpretationlog ({table}_id, user_id, date_created, message, "
                 "priority, review_comment, warning_cleared) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                 # The database's clock, as every other round and log time (the log is
                 # read in time order).
                 (latest["id"], user["id"], clock_now(conn), values["message"],
                  values["priority"], values["review_comment"], values["warning_cleared"]))


def _own_latest_entry(conn, user, workflow_type, workflow_id, log_id, verb, access=None):
    """The entry may be changed exactly when the log lists it as `editable`. ELLA checks only
    the author and the round; here a finalized round's entries and the entries that record
    something other than a message (a classification, report, priority, review comment or
    cleared warning) are part of the audit trail and stay as written; a message that came
    with such a record can be edited but not deleted. `access`: as for `create_log`."""
    # The workflow's lock first, as every round action takes it: a finalize committing
    # between the checks below and the change would otherwise go unseen.
    lock_workflow(conn, TYPES[workflow_type], workflow_id)
    table, _ = WORKFLOW_TABLES[workflow_type]
    row = conn.execute(f"SELECT l.user_id, l.{table}_id, l.message, num_nonnulls(l.priority, "
                       "l.review_comment, l.warning_cleared, l.alleleassessment_id, "
                       "l.allelereport_id) > 0 FROM interpretationlog l "
                       f"WHERE l.id = %s AND l.{table}_id = ANY(%s) FOR UPDATE",
                       (log_id, _round_ids(conn, workflow_type, workflow_id))).fetchone()
    if row is None:
        raise NotFound(f"No interpretation log entry {log_id} in this workflow")
    if row[0] != user["id"]:
        raise Forbidden(f"Cannot {verb} interpretation log, item doesn't match user's id.")
    if row[2] is None or (verb == "delete" and row[3]):
        raise Forbidden(f"Cannot {verb} interpretation log: the entry records a "
                        "classification, report, priority, review comment or cleared "
                        "warning.")
    latest = latest_round(conn, workflow_type, workflow_id)
    if access is not None and not access.allows(latest):
        # A start by another group may have committed since the route's check: the log
        # then lists the entry as not editable.
        raise Forbidden(f"The interpretation of {workflow_type} {workflow_id} is not available "
                        "to your user group")
    if row[1] != latest["id"]:
        raise Conflict(f"Can only {verb} entries created for latest interpretation id.")
    if latest["status"] == "Done" and latest["finalized"]:
        raise Conflict(f"Cannot {verb} entries of a finalized interpretation.")


def edit_log(conn, user, workflow_type, workflow_id, log_id, message, access=None):
    _own_latest_entry(conn, user, workflow_type, workflow_id, log_id, "edit", access)
    conn.execute("UPDATE interpretationlog SET message = %s WHERE id = %s", (message, log_id))


def delete_log(conn, user, workflow_type, workflow_id, log_id, access=None):
    _own_latest_entry(conn, user, workflow_type, workflow_id, log_id, "delete", access)
    conn.execute("DELETE FROM interpretationlog WHERE id = %s", (log_id,))
