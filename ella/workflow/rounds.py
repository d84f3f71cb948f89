"""Interpretation rounds: the workflow state machine (workflow.md 2-6, 9; api.md 4.7, 4.8, 4.16).

One table, `TRANSITIONS`, says for every action which status the latest round (or, for save,
the given round) must have, what happens to that round, whether snapshots are written, and
which round comes next. `perform` is the only code that changes rounds; it reads the table.

Concurrency: every action first locks the workflow's own row (`analysis` / `allele`,
FOR NO KEY UPDATE, which does not block foreign-key checks of other writers) and only then
reads the rounds, so two requests on one workflow run one after the other and the second one
sees what the first one committed: of two concurrent starts or finalizes exactly one wins and
the other gets 409 with the precondition's message. A unique violation of the open-round
partial index (a round created outside this module at the same moment) is a 409 as well.

Times are `clock_timestamp()`, taken after the lock, so a round created later always has a
later `date_created` even when its transaction began earlier.

Error codes (DESIGN.md): a state precondition that fails is 409 (ELLA: 500 with the same
message), bad input 400, an unknown workflow or round (or a round of another workflow) 404.
"""

import json
from dataclasses import dataclass, field

import psycopg
from psycopg.types.json import Jsonb

from ella import auth
from ella.allele_views import ANALYSIS_ALLELE_IDS
from ella.db import clock_now
from ella.web.errors import BadRequest, Conflict, Forbidden, NotFound
from ella.web.validation import check_value, require_object


@dataclass(frozen=True)
class WorkflowType:
    name: str               # "analysis" | "allele" (as in messages and user config)
    segment: str            # URL segment
    parent: str             # table of the workflow object
    table: str              # round table
    column: str             # round column pointing at the workflow object
    snapshot_table: str
    round_column: str       # column of snapshot/history/log rows pointing at the round
    workflow_statuses: tuple


ANALYSIS = WorkflowType("analysis", "analyses", "analysis", "analysisinterpretation",
                        "analysis_id", "analysisinterpretationsnapshot",
                        "analysisinterpretation_id",
                        ("Not ready", "Interpretation", "Review", "Medical review"))
ALLELE = WorkflowType("allele", "alleles", "allele", "alleleinterpretation", "allele_id",
                      "alleleinterpretationsnapshot", "alleleinterpretation_id",
                      ("Interpretation", "Review"))
TYPES = {"analysis": ANALYSIS, "allele": ALLELE}

KEEP = object()  # "this field of the acted-on round does not change"
NO_ROUND = None  # the status of the latest round of a workflow without rounds


@dataclass(frozen=True)
class Transition:
    """One action. `allowed`: statuses the round acted on may have (NO_ROUND = the workflow
    has no round; the action then creates one). `refusals`: status -> message for the others
    ("*" = any other status); `{status}`, `{type}` and `{id}` are filled in."""
    action: str
    types: tuple
    allowed: frozenset
    refusals: dict
    status: object = KEEP            # new status of the acted-on round
    finalized: object = KEEP         # new `finalized` of the acted-on round
    owner: str = "keep"              # "keep" | "caller": user_id of the acted-on round
    panel: bool = False              # gene panel set again (analysis panel / start body)
    touch: bool = False              # date_last_update = now
    owner_only: bool = False         # only the round's owner may act (save)
    requirements: bool = False       # finalize requirements of the caller's config (§6)
    snapshots: bool = False          # snapshot rows of the round (§9)
    payload: str | None = None       # None | "round" (§4.8) | "start" | "save"
    next_round: str | None = None    # None | workflow_status of the next round | "same"
    copied: tuple = field(default=("state", "genepanel"))  # into the next round (§5)


_NOT_ONGOING_MARK = "Cannot mark as '{target}' when latest interpretation is not 'Ongoing'"


def _mark(action, target, types):
    return Transition(
        action, types, frozenset({"Ongoing"}),
        {"*": _NOT_ONGOING_MARK.replace("{target}", target)},
        status="Done", finalized=False, touch=True, snapshots=True, payload="round",
        next_round=target)


TRANSITIONS = {t.action: t for t in (
    Transition("start", ("analysis", "allele"), frozenset({NO_ROUND, "Not started"}),
               {"*": "Cannot start existing interpretation where status = {status}"},
               status="Ongoing", owner="caller", panel=True, touch=True, payload="start"),
    Transition("save", ("analysis", "allele"), frozenset({"Ongoing"}),
               {"Done": "Cannot PATCH interpretation with status 'DONE'",
                "Not started": "Interpretation not started. Call it's analysis' start action "
                               "to begin interpretation."},
               touch=True, owner_only=True, payload="save"),
    Transition("override", ("analysis", "allele"), frozenset({"Ongoing"}),
               {"*": "Cannot reassign interpretation that is not 'Ongoing'."},
               owner="caller"),
    _mark("marknotready", "Not ready", ("analysis",)),
    _mark("markinterpretation", "Interpretation", ("analysis", "allele")),
    _mark("markreview", "Review", ("analysis", "allele")),
    _mark("markmedicalreview", "Medical review", ("analysis",)),
    Transition("finalize", ("analysis", "allele"), frozenset({"Ongoing"}),
               {NO_ROUND: "No interpretation found for {type} id {id}",
                "*": "Cannot finalize when latest interpretation is not 'Ongoing'"},
               status="Done", finalized=True, touch=True, requirements=True, snapshots=True,
               payload="round"),
    Transition("reopen", ("analysis", "allele"), frozenset({"Done"}),
               {NO_ROUND: "There are no existing interpretations for this item. Use the start "
                          "action instead.",
                "*": "Interpretation is already 'Not started' or 'Ongoing'. Cannot reopen."},
               next_round="same"),
)}


def actions_of(wtype):
    """The actions a workflow type has, in table order."""
    return [t.action for t in TRANSITIONS.values() if wtype.name in t.types]


# -- snapshots (§9) -------------------------------------------------------------------------

SNAPSHOT_CATEGORIES = {
    "classification": "CLASSIFICATION", "consequence": "CONSEQUENCE", "frequency": "FREQUENCY",
    "gene": "GENE", "inheritancemodel": "INHERITANCEMODEL", "ppy": "POLYPYRIMIDINE",
    "quality": "QUALITY", "region": "REGION", "segregation": "SEGREGATION"}

# payload list -> (table, snapshot column)
_SNAPSHOT_ID_LISTS = (("annotation_ids", "annotation", "annotation_id"),
                      ("custom_annotation_ids", "customannotation", "customannotation_id"),
                      ("alleleassessment_ids", "alleleassessment", "alleleassessment_id"),
                      ("allelereport_ids", "allelereport", "allelereport_id"))
ID_LISTS = ("allele_ids", "annotation_ids", "custom_annotation_ids", "alleleassessment_ids",
            "allelereport_ids")


def id_list(value, where):
    """A list of integer ids (numeric strings accepted); 400 otherwise."""
    value = check_value(value, list, where)
    return [check_value(v, int, f"{where}[{i}]") for i, v in enumerate(value)]


def parse_round_payload(wtype, body):
    """MarkAnalysisInterpretationRequest / MarkAlleleInterpretationRequest (§4.8)."""
    required = {key: list for key in ID_LISTS}
    if wtype is ANALYSIS:
        required["excluded_allele_ids"] = dict
        optional = {"technical_allele_ids": list, "notrelevant_allele_ids": list}
    else:
        optional = {"excluded_allele_ids": (dict, type(None))}
    data = require_object(body, required, optional)
    result = {key: id_list(data[key], f"body.{key}") for key in ID_LISTS}
    for key in ("technical_allele_ids", "notrelevant_allele_ids"):
        result[key] = id_list(data.get(key, []), f"body.{key}")
    excluded = {}
    if wtype is ANALYSIS:
        for name, ids in data["excluded_allele_ids"].items():
            excluded[name] = id_list(ids, f"body.excluded_allele_ids.{name}")
    result["excluded_allele_ids"] = excluded  # ignored for the allele workflow
    return result


def _ids_by_allele(conn, table, ids, key):
    """{allele_id: id} for the ids of `table`; every id must exist, none repeat (400)."""
    if len(set(ids)) != len(ids):
        raise BadRequest(f"{key} repeats an id")
    rows = dict(conn.execute(f"SELECT id, allele_id FROM {table} WHERE id = ANY(%s)",
                             (ids,)).fetchall()) if ids else {}
    missing = [i for i in ids if i not in rows]
    if missing:
        raise BadRequest(f"{key}: no {table} with id {', '.join(map(str, missing))}")
    return {allele_id: row_id for row_id, allele_id in rows.items()}


def _write_snapshots(conn, wtype, workflow_id, round_id, payload):
    if wtype is ANALYSIS:
        allele_ids = list(dict.fromkeys(payload["allele_ids"] + [
            a for ids in payload["excluded_allele_ids"].values() for a in ids]))
        # The analysis' variants once, joined by hash: a per-variant EXISTS rescanned the
        # analysis' genotypes for each variant (minutes for an exome).
        known = dict(conn.execute(
            f"WITH own AS ({ANALYSIS_ALLELE_IDS}) SELECT a.id, own.allele_id IS NOT NULL "
            "FROM allele a LEFT JOIN own ON own.allele_id = a.id WHERE a.id = ANY(%(ids)s)",
            {"analysis_id": workflow_id, "ids": allele_ids}).fetchall())
        missing = [a for a in allele_ids if a not in known]
        if missing:
            raise BadRequest(f"No allele with id {', '.join(map(str, missing))}")
        # A round's snapshot records the analysis' own variants only.
        outside = [a for a in allele_ids if not known[a]]
        if outside:
            raise BadRequest(f"Allele(s) {', '.join(map(str, outside))} are not part of "
                             f"analysis {workflow_id}")
        # The round's snapshot is the record of what it showed (workflow.md 11.3 reads a
        # finished round from it and counts one without rows as missing data).
        if not allele_ids and conn.execute(
                "SELECT 1 FROM genotype g JOIN sample s ON s.id = g.sample_id "
                "WHERE s.analysis_id = %s AND s.proband LIMIT 1", (workflow_id,)).fetchone():
            raise BadRequest(f"allele_ids and excluded_allele_ids name no variant of analysis "
                             f"{workflow_id}: a round ends with the record of the variants "
                             "it showed")
    else:
        allele_ids = [workflow_id]  # (workflow.md 9: the payload's allele_ids are not read)
    filtered = {}
    for name, ids in payload["excluded_allele_ids"].items():
        if ids and name not in SNAPSHOT_CATEGORIES:
            raise BadRequest(f"excluded_allele_ids: filter {name!r} cannot be recorded in a "
                             f"snapshot (known: {', '.join(sorted(SNAPSHOT_CATEGORIES))})")
        for allele_id in ids:
            filtered.setdefault(allele_id, SNAPSHOT_CATEGORIES[name])
    maps = {column: _ids_by_allele(conn, table, payload[key], key)
            for key, table, column in _SNAPSHOT_ID_LISTS}
    columns = [wtype.round_column, "allele_id", "filtered"] + [c for _, _, c in _SNAPSHOT_ID_LISTS]
    now = clock_now(conn)
    with conn.cursor().copy(
            f"COPY {wtype.snapshot_table} (date_created, {', '.join(columns)}) FROM STDIN") as copy:
        for allele_id in allele_ids:
            copy.write_row([now, round_id, allele_id, filtered.get(allele_id)]
                           + [maps[c].get(allele_id) for _, _, c in _SNAPSHOT_ID_LISTS])
    return len(allele_ids)


# -- finalize requirements (§6, §4.7) -------------------------------------------------------

def _check_finalize(conn, wtype, round_row, payload, user_config):
    # Step 2: assessments and reports must belong to alleles of the round. A variant
    # workflow's is its own variant, whatever the payload's allele_ids (which its snapshot
    # does not read): an assessment of another variant finalized the round with a record
    # holding no classification of its own.
    is_analysis = wtype is ANALYSIS
    allele_ids = set(payload["allele_ids"]) if is_analysis else {round_row["workflow_id"]}
    for key, table in (("alleleassessment_ids", "alleleassessment"),
                       ("allelereport_ids", "allelereport")):
        ids = payload[key]
        owners = conn.execute(f"SELECT id, allele_id FROM {table} WHERE id = ANY(%s)",
                              (ids,)).fetchall() if ids else []
        stray = sorted(i for i, a in owners if a not in allele_ids)
        if stray:
            raise BadRequest(f"{key}: {table} {', '.join(map(str, stray))} does not belong to "
                             + ("any of allele_ids" if is_analysis else
                                f"this workflow's variant (allele {round_row['workflow_id']})"))
    workflows = (user_config or {}).get("workflows") or {}
    if wtype.name not in workflows or not isinstance(workflows[wtype.name], dict):
        raise Conflict(f"Cannot finalize: the user config has no workflows.{wtype.name} "
                       "section")
    requirements = workflows[wtype.name].get("finalize_requirements") or {}
    if wtype is ANALYSIS and requirements.get("allow_unclassified") is False:
        classified = set()
        if payload["alleleassessment_ids"]:
            classified = {r[0] for r in conn.execute(
                "SELECT allele_id FROM alleleassessment WHERE id = ANY(%s)",
                (payload["alleleassessment_ids"],))}
        unclassified = (allele_ids - set(payload["notrelevant_allele_ids"])
                        - set(payload["technical_allele_ids"]) - classified)
        if unclassified:
            raise Conflict("allow_unclassified is set to false, but some allele ids are "
                           "missing classification")
    statuses = requirements.get("workflow_status")
    # QUIRK kept (workflow.md 17.3): an empty list blocks every finalize.
    if statuses is not None and round_row["workflow_status"] not in statuses:
        raise Conflict(f"Cannot finalize: interpretation workflow status is "
                       f"{round_row['workflow_status']}, but must be one of: "
                       f"{', '.join(statuses)}")


# -- reading rounds --------------------------------------------------------------------------

_ROUND_COLUMNS = ("id", "status", "finalized", "workflow_status", "user_state", "state",
                  "date_last_update", "genepanel_name", "genepanel_version", "user_id",
                  "date_created")
_ROUND_SELECT = ("r.id, r.status::text, r.finalized, r.workflow_status::text, r.user_state, "
                 "r.state, r.date_last_update, r.genepanel_name, r.genepanel_version, "
                 "r.user_id, r.date_created")


def _round_rows(conn, wtype, where, params, suffix=""):
    rows = conn.execute(f"SELECT {_ROUND_SELECT}, r.{wtype.column} FROM {wtype.table} r "
                        f"WHERE {where} {suffix}", params).fetchall()
    result = []
    for row in rows:
        item = dict(zip(_ROUND_COLUMNS, row))
        item["workflow_id"] = row[-1]
        result.append(item)
    return result


def latest_round(conn, wtype, workflow_id):
    """The round with the greatest date_created (ties: greatest id), or None (§0)."""
    rows = _round_rows(conn, wtype, f"r.{wtype.column} = %s", (workflow_id,),
                       "ORDER BY r.date_created DESC, r.id DESC LIMIT 1")
    return rows[0] if rows else None


def get_round(conn, wtype, workflow_id, round_id):
    """The round `round_id` of this workflow; 404 when unknown or another workflow's."""
    rows = _round_rows(conn, wtype, "r.id = %s", (round_id,))
    if not rows or rows[0]["workflow_id"] != workflow_id:
        raise NotFound(f"Interpretation id {round_id} is not part of {wtype.name} with id "
                       f"{workflow_id}")
    return rows[0]


def round_objects(conn, wtype, rounds):
    """AnalysisInterpretation / AlleleInterpretation objects (api.md 3.3)."""
    user_ids = sorted({r["user_id"] for r in rounds if r["user_id"] is not None})
    users = {u["id"]: u for u in auth.users(conn, "u.id = ANY(%s)", (user_ids,), full=False)} \
        if user_ids else {}
    result = []
    for r in rounds:
        item = {key: r[key] for key in _ROUND_COLUMNS
                if key != "date_created" or wtype is ALLELE}
        item["state"] = item["state"] if item["state"] is not None else {}
        item["user_state"] = item["user_state"] if item["user_state"] is not None else {}
        item["user"] = users.get(r["user_id"])
        result.append(item)
    return result


def list_rounds(conn, wtype, workflow_id, panels=None):
    """All rounds of the workflow by id; only those of `panels` when given (a set)."""
    rounds = _round_rows(conn, wtype, f"r.{wtype.column} = %s", (workflow_id,), "ORDER BY r.id")
    if panels is not None:
        rounds = [r for r in rounds if (r["genepanel_name"], r["genepanel_version"]) in panels]
    return rounds


def snapshots(conn, wtype, where, params):
    """Snapshot objects (api.md 3.3) of rounds matching `where` (over round alias r)."""
    keys = ("id", "date_created", "allele_id", wtype.round_column, "annotation_id",
            "customannotation_id", "alleleassessment_id", "allelereport_id")
    rows = conn.execute(
        f"SELECT s.id, s.date_created, s.allele_id, s.{wtype.round_column}, s.annotation_id, "
        f"s.customannotation_id, s.alleleassessment_id, s.allelereport_id "
        f"FROM {wtype.snapshot_table} s JOIN {wtype.table} r ON r.id = s.{wtype.round_column} "
        f"WHERE {where} ORDER BY s.id", params).fetchall()
    return [dict(zip(keys, row)) for row in rows]


def snapshot_link(conn, wtype, round_id):
    """`link` (allele_views.load_alleles) of exactly the versions a round's snapshots hold;
    reference assessments are those linked to the snapshotted assessments (§11.2)."""
    link = {"annotation_id": [], "customannotation_id": [], "alleleassessment_id": [],
            "allelereport_id": []}
    for row in conn.execute(
            f"SELECT annotation_id, customannotation_id, alleleassessment_id, allelereport_id "
            f"FROM {wtype.snapshot_table} WHERE {wtype.round_column} = %s", (round_id,)):
        for key, value in zip(link, row):
            if value is not None:
                link[key].append(value)
    link["referenceassessment_id"] = [r[0] for r in conn.execute(
        "SELECT referenceassessment_id FROM alleleassessmentreferenceassessment "
        "WHERE alleleassessment_id = ANY(%s) AND referenceassessment_id IS NOT NULL",
        (link["alleleassessment_id"],))]
    return link


# -- performing an action --------------------------------------------------------------------

def lock_workflow(conn, wtype, workflow_id):
    """Serialise every change of one workflow (404 when it does not exist)."""
    row = conn.execute(f"SELECT id FROM {wtype.parent} WHERE id = %s FOR NO KEY UPDATE",
                       (workflow_id,)).fetchone()
    if row is None:
        raise NotFound(f"No {wtype.name} with id {workflow_id}")


def _refuse(transition, wtype, workflow_id, status):
    template = transition.refusals.get(status, transition.refusals.get("*"))
    return Conflict(template.format(status=status, type=wtype.name, id=workflow_id))


def _full_name(conn, user_id):
    first, last = conn.execute('SELECT first_name, last_name FROM "user" WHERE id = %s',
                               (user_id,)).fetchone()
    return f"{first} {last}"


def perform(conn, wtype, workflow_id, action, user, payload=None, user_config=None,
            panel=None, round_id=None, access=None):
    """Run `action` on the workflow (analysis or allele id) for `user` (a dict with id).

    payload: the parsed round payload (mark*, finalize) or {"state", "user_state"} (save);
    panel: (name, version) for start (analysis: the analysis panel; allele: from the body);
    round_id: the round a save acts on; access: when given, an object whose
    `allows(round)` says whether the caller may change the round acted on, else 403
    (checked under the workflow's lock, so a concurrent start cannot move the round out of
    reach in between; see ella.web.access.RoundAccess).
    Returns a summary dict (what was written)."""
    transition = TRANSITIONS[action]
    if wtype.name not in transition.types:
        raise NotFound(f"No action {action} for {wtype.name} workflows")
    try:
        return _perform(conn, wtype, transition, workflow_id, user, payload, user_config,
                        panel, round_id, access)
    except psycopg.errors.UniqueViolation:
        raise Conflict(f"Another request changed the interpretation of {wtype.name} "
                       f"{workflow_id} at the same time; reload and try again") from None


def _perform(conn, wtype, t, workflow_id, user, payload, user_config, panel, round_id,
             access):
    lock_workflow(conn, wtype, workflow_id)
    if round_id is not None:
        current = get_round(conn, wtype, workflow_id, round_id)
    else:
        current = latest_round(conn, wtype, workflow_id)
    if access is not None and current is not None and not access.allows(current):
        raise Forbidden(f"The interpretation of {wtype.name} {workflow_id} is not available to "
                        "your user group")
    status = current["status"] if current else NO_ROUND
    if status not in t.allowed:
        raise _refuse(t, wtype, workflow_id, status)
    if t.owner_only and current["user_id"] is not None and current["user_id"] != user["id"]:
        raise Conflict(f"Interpretation owned by {_full_name(conn, current['user_id'])} cannot "
                       f"be updated by other user ({_full_name(conn, user['id'])})")
    if t.requirements:
        _check_finalize(conn, wtype, current, payload, user_config)

    summary = {"action": t.action, "snapshots": 0, "history": 0, "created_round": None}
    now = clock_now(conn)
    if current is None:
        # The one action allowed without a round (start) creates it, Not started, then
        # applies its changes below like on any Not started round.
        current_id = conn.execute(
            f"INSERT INTO {wtype.table} ({wtype.column}, genepanel_name, genepanel_version, "
            "user_state, state, status, workflow_status, date_created, date_last_update) "
            "VALUES (%s, %s, %s, '{}', '{}', 'Not started', 'Interpretation', %s, %s) "
            "RETURNING id", (workflow_id, panel[0], panel[1], now, now)).fetchone()[0]
        summary["created_round"] = current_id
        current = latest_round(conn, wtype, workflow_id)
    round_id = current["id"]
    summary["round_id"] = round_id

    if t.snapshots:
        summary["snapshots"] = _write_snapshots(conn, wtype, workflow_id, round_id, payload)

    sets, params = [], []
    if t.payload == "save":
        old_state = current["state"] if current["state"] is not None else {}
        # JSON equality as the database stores it (jsonb: true is not 1, 1.0 is 1; 1e16 and
        # -0.0 come back as 10000000000000000 and 0.0, so the same document sent again
        # wrote a history row every time).
        if conn.execute("SELECT %s::jsonb IS DISTINCT FROM %s::jsonb",
                        (Jsonb(payload["state"]), Jsonb(old_state))).fetchone()[0]:
            conn.execute(f"INSERT INTO interpretationstatehistory ({wtype.round_column}, "
                         "user_id, date_created, state) VALUES (%s, %s, %s, %s)",
                         (round_id, user["id"], now, Jsonb(old_state)))
            summary["history"] = 1
        sets += ["state = %s", "user_state = %s"]
        params += [Jsonb(payload["state"]), Jsonb(payload["user_state"])]
    if t.status is not KEEP:
        sets.append("status = %s")
        params.append(t.status)
    if t.finalized is not KEEP:
        sets.append("finalized = %s")
        params.append(t.finalized)
    if t.owner == "caller":
        sets.append("user_id = %s")
        params.append(user["id"])
    if t.panel:
        sets += ["genepanel_name = %s", "genepanel_version = %s"]
        params += list(panel)
    if t.touch:
        sets.append("date_last_update = %s")
        params.append(now)
    if sets:
        conn.execute(f"UPDATE {wtype.table} SET {', '.join(sets)} WHERE id = %s",
                     params + [round_id])

    if t.next_round is not None:
        workflow_status = current["workflow_status"] if t.next_round == "same" else t.next_round
        state = current["state"] if "state" in t.copied and current["state"] is not None else {}
        summary["created_round"] = conn.execute(
            f"INSERT INTO {wtype.table} ({wtype.column}, genepanel_name, genepanel_version, "
            "user_state, state, status, workflow_status, finalized, user_id, date_created, "
            "date_last_update) VALUES (%s, %s, %s, '{}', %s, 'Not started', %s, NULL, NULL, "
            "%s, %s) RETURNING id",
            (workflow_id, current["genepanel_name"], current["genepanel_version"],
             Jsonb(json.loads(json.dumps(state))), workflow_status, now, now)).fetchone()[0]
    return summary


# -- finishallowed (§11) ---------------------------------------------------------------------

def check_finish_allowed(conn, analysis_id, sample_ids):
    """409 unless the analysis' samples are exactly `sample_ids` (compared as sets)."""
    current = {r[0] for r in conn.execute("SELECT id FROM sample WHERE analysis_id = %s",
                                          (analysis_id,))}
    if current != set(sample_ids):
        raise Conflict("Can not finish interpretation. Additional data have been added to this "
                       "analysis. Please refresh.")


def analysis_allele_count(conn, analysis_id):
    """Number of genotype-allele links of the analysis' samples (workflow.md 11)."""
    return conn.execute(
        "SELECT count(g.allele_id) + count(g.secondallele_id) FROM genotype g "
        "JOIN sample s ON s.id = g.sample_id WHERE s.analysis_id = %s",
        (analysis_id,)).fetchone()[0]
