"""Deleting an analysis or a variant's interpretation rounds (ELLA's `delete ...` commands).

Only reads and deletes on the given connection; the caller decides about commit/rollback.
What goes with a deleted row is decided by the schema's foreign keys (ON DELETE CASCADE /
SET NULL): an analysis takes its samples, genotypes, genotype sample data and interpretation
rounds (with their snapshots, state history and work log); its alleles, annotations and
assessments/reports stay, with `analysis_id` set NULL. An allele interpretation round takes
its snapshots, state history and work log; allele assessments are never touched.
"""

from ella.auth import abbrev_name


def _latest_review_comment(conn, column, ids):
    if not ids:
        return None
    row = conn.execute(
        f"SELECT review_comment FROM interpretationlog WHERE {column} = ANY(%s) "
        "AND review_comment IS NOT NULL ORDER BY date_created DESC, id DESC LIMIT 1",
        (list(ids),)).fetchone()
    return row[0] if row else None


def analysis_summary(conn, analysis_id):
    """What `delete analysis` shows, or None for an unknown id: {id, name, review_comment,
    status, workflow_status, interpretations} (status of the latest round, None if none)."""
    row = conn.execute("SELECT id, name FROM analysis WHERE id = %s", (analysis_id,)).fetchone()
    if row is None:
        return None
    rounds = conn.execute(
        "SELECT id, status::text, workflow_status::text FROM analysisinterpretation "
        "WHERE analysis_id = %s ORDER BY date_created, id", (analysis_id,)).fetchall()
    latest = rounds[-1] if rounds else (None, None, None)
    return {
        "id": row[0],
        "name": row[1],
        "review_comment": _latest_review_comment(conn, "analysisinterpretation_id",
                                                 [r[0] for r in rounds]),
        "status": latest[1],
        "workflow_status": latest[2],
        "interpretations": len(rounds),
    }


class ConfirmationOutdated(Exception):
    """What would be deleted is no longer what the operator confirmed."""


def delete_analysis(conn, analysis_id, confirmed=None):
    """Delete the analysis (the rest follows by foreign key); its name, or None if absent.

    Under the analysis workflow's lock (every round action takes it). With `confirmed` (the
    `analysis_summary` the operator was shown), ConfirmationOutdated instead when a round
    was started, marked, finalized or reopened meanwhile, or its review comment changed."""
    # The workflow's lock first, as every round action (and finalize-allele) takes it first.
    conn.execute("SELECT id FROM analysis WHERE id = %s FOR UPDATE", (analysis_id,))
    if confirmed is not None:
        if analysis_summary(conn, analysis_id) != confirmed:
            raise ConfirmationOutdated(
                f"analysis {analysis_id} changed while you confirmed (its interpretation was "
                "started, marked, finalized or reopened): nothing deleted; run the command "
                "again")
    # The assessments whose analysis_id the delete sets to NULL, locked first in the order
    # finalize-allele locks a variant's rows (reference assessments, then the allele
    # assessment and report): the foreign keys' own order crossed it, and a finalize-allele
    # of one of the variants in another analysis deadlocked with the delete.
    for table in ("referenceassessment", "alleleassessment", "allelereport",
                  "geneassessment"):
        conn.execute(f"SELECT id FROM {table} WHERE analysis_id = %s ORDER BY id "
                     "FOR NO KEY UPDATE", (analysis_id,))
    row = conn.execute("DELETE FROM analysis WHERE id = %s RETURNING name",
                       (analysis_id,)).fetchone()
    return row[0] if row else None


def allele_summary(conn, allele_id):
    """What `delete alleleinterpretation` shows about the variant, or None for an unknown id:
    {id, description, hgvsc: [(panel, transcript, symbol, hgvsc)], review_comment}. HGVSc is
    listed for the transcripts of the panels used by the variant's rounds."""
    row = conn.execute(
        "SELECT id, genome_reference, chromosome, vcf_pos, vcf_ref, vcf_alt FROM allele "
        "WHERE id = %s", (allele_id,)).fetchone()
    if row is None:
        return None
    _, reference, chromosome, pos, ref, alt = row
    hgvsc = conn.execute(
        "SELECT DISTINCT ai.genepanel_name || '_' || ai.genepanel_version, ast.transcript, "
        "ast.symbol, ast.hgvsc "
        "FROM alleleinterpretation ai "
        "JOIN genepanel_transcript gt ON gt.genepanel_name = ai.genepanel_name "
        "  AND gt.genepanel_version = ai.genepanel_version "
        "JOIN transcript t ON t.id = gt.transcript_id "
        "JOIN annotationshadowtranscript ast ON ast.allele_id = ai.allele_id "
        "  AND split_part(ast.transcript, '.', 1) = split_part(t.transcript_name, '.', 1) "
        "WHERE ai.allele_id = %s AND ast.hgvsc IS NOT NULL ORDER BY 1, 2",
        (allele_id,)).fetchall()
    round_ids = [r[0] for r in conn.execute(
        "SELECT id FROM alleleinterpretation WHERE allele_id = %s", (allele_id,))]
    return {
        "id": allele_id,
        "description": f"{chromosome}-{pos}-{ref}-{alt} ({reference})",
        "hgvsc": [tuple(r) for r in hgvsc],
        "review_comment": _latest_review_comment(conn, "alleleinterpretation_id", round_ids),
    }


def alleleinterpretation_rounds(conn, allele_id, delete_all):
    """The variant's rounds that `delete alleleinterpretation` would delete, oldest first:
    all of them with `delete_all`, else those created after the last finalized round (all
    when none was finalized). Each: {id, workflow_status, status, finalized, username, user
    (abbreviated name), date_last_update, date_created}."""
    rows = conn.execute(
        "SELECT ai.id, ai.workflow_status::text, ai.status::text, ai.finalized, u.username, "
        "ai.date_last_update, ai.date_created, u.first_name, u.last_name "
        'FROM alleleinterpretation ai LEFT JOIN "user" u ON u.id = ai.user_id '
        "WHERE ai.allele_id = %s ORDER BY ai.date_created, ai.id", (allele_id,)).fetchall()
    keys = ("id", "workflow_status", "status", "finalized", "username", "date_last_update",
            "date_created")
    rounds = []
    for r in rows:
        round_ = dict(zip(keys, r))
        # ELLA lists a round's user by the abbreviated name the UI shows ("H. Ibsen").
        round_["user"] = abbrev_name(r[7], r[8]) if r[4] is not None else None
        rounds.append(round_)
    if delete_all:
        return rounds
    finalized = [i for i, r in enumerate(rounds) if r["finalized"]]
    return rounds[finalized[-1] + 1:] if finalized else rounds


class RoundsChanged(ConfirmationOutdated):
    """The rounds to delete are no longer those the operator confirmed."""


def round_states(rounds):
    """What the operator confirms of each round: (id, workflow status, status, finalized)."""
    return [(r["id"], r["workflow_status"], r["status"], r["finalized"]) for r in rounds]


def delete_alleleinterpretations(conn, allele_id, delete_all, confirmed=None):
    """Delete the rounds chosen by `alleleinterpretation_rounds`; their ids (oldest first).

    Under the variant workflow's lock (as every round action takes it). With `confirmed`
    (`round_states` of the rounds the operator was shown), RoundsChanged instead when a
    start, mark, reopen or finalize changed them meanwhile (also a round shown as Ongoing
    and finalized since, which `--delete-all` still selects): never delete rounds nobody
    confirmed."""
    conn.execute("SELECT id FROM allele WHERE id = %s FOR NO KEY UPDATE", (allele_id,))
    rounds = alleleinterpretation_rounds(conn, allele_id, delete_all)
    ids = [r["id"] for r in rounds]
    if confirmed is not None and round_states(rounds) != list(confirmed):
        raise RoundsChanged(f"the interpretation rounds of allele {allele_id} changed while "
                            "you confirmed (a round was started, marked, reopened or finalized): "
                            "nothing deleted; run the command again")
    if ids:
        conn.execute("DELETE FROM alleleinterpretation WHERE id = ANY(%s)", (ids,))
    return ids
