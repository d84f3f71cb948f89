"""Collisions (the same variant in other unfinished work, workflow.md 13) and similar alleles
(nearby classified variants, workflow.md 14)."""

from ella.allele_views import _users_by_id, load_alleles
from ella.web.access import accessible_panel_condition


def valid_assessment_condition(config, alias="aa"):
    """(SQL, params): the alleleassessment row `alias` is current and not outdated
    (workflow.md 8.6). A classification missing from the options is never valid."""
    options = (config.get("classification") or {}).get("options") or []
    never, dated = [], []
    for option in options:
        days = option.get("outdated_after_days")
        if days is None:
            never.append(str(option["value"]))
        else:
            dated.append((str(option["value"]), int(days)))
    parts = [f"{alias}.classification::text = ANY(%s)"]
    params = [never]
    for value, days in dated:
        parts.append(f"({alias}.classification::text = %s AND {alias}.date_created > "
                     "now() - make_interval(days => %s))")
        params += [value, days]
    return f"({alias}.date_superceeded IS NULL AND ({' OR '.join(parts)}))", params


def _uncommitted(conn, table, column):
    """{workflow id: latest round (user_id, workflow_status, status)} of workflows with
    uncommitted work: latest round Ongoing, or more than one round and the latest not
    finalized."""
    rows = conn.execute(
        f"SELECT l.{column}, l.user_id, l.workflow_status::text, l.status::text FROM ("
        f"  SELECT DISTINCT ON ({column}) {column}, user_id, workflow_status, status, finalized,"
        f"  count(*) OVER (PARTITION BY {column}) AS rounds FROM {table}"
        f"  ORDER BY {column}, date_created DESC, id DESC) l "
        "WHERE l.status = 'Ongoing' OR (l.rounds > 1 AND NOT coalesce(l.finalized, false))")
    return {r[0]: {"user_id": r[1], "workflow_status": r[2], "status": r[3]} for r in rows}


def collisions(conn, config, workflow_type, workflow_id, allele_ids, group_id):
    """Collision entries for `allele_ids` (the allele workflow checks only its own allele).

    Any group may read a variant's collisions (api.md 1.6), but an analysis outside the
    caller's group's panels is reported without its id, name and user: patient analysis
    names are not shown to a group that may not open the analysis (as `alleles/<id>/analyses/`
    does not list it). The warning itself, and the round's status, stay."""
    if not allele_ids:
        return []
    if workflow_type == "allele":
        allele_ids = [workflow_id]
    entries = []
    analyses = _uncommitted(conn, "analysisinterpretation", "analysis_id")
    if workflow_type == "analysis":
        analyses.pop(workflow_id, None)
    if analyses:
        valid_sql, valid_params = valid_assessment_condition(config)
        # First and second alleles as two equality tests (hashed `= ANY`): an OR in the
        # join compared every genotype of the other analyses with every requested variant.
        other_analyses = sorted(analyses)
        rows = conn.execute(
            "WITH hit AS (SELECT s.analysis_id, g.allele_id FROM genotype g "
            "JOIN sample s ON s.id = g.sample_id "
            "WHERE s.analysis_id = ANY(%s) AND g.allele_id = ANY(%s) UNION "
            "SELECT s.analysis_id, g.secondallele_id FROM genotype g "
            "JOIN sample s ON s.id = g.sample_id "
            "WHERE s.analysis_id = ANY(%s) AND g.secondallele_id = ANY(%s)) "
            f"SELECT hit.analysis_id, an.name, hit.allele_id, "
            f"{accessible_panel_condition('an', placeholder='%s')} FROM hit "
            "JOIN analysis an ON an.id = hit.analysis_id WHERE NOT EXISTS ("
            "SELECT 1 FROM alleleassessment aa WHERE aa.allele_id = hit.allele_id "
            f"AND {valid_sql}) ORDER BY hit.analysis_id, hit.allele_id",
            [other_analyses, allele_ids, other_analyses, allele_ids, group_id, *valid_params])
        for analysis_id, name, allele_id, visible in rows:
            latest = analyses[analysis_id]
            entries.append({"type": "analysis", "allele_id": allele_id,
                            "analysis_id": analysis_id if visible else None,
                            "analysis_name": name if visible else None,
                            "workflow_status": latest["workflow_status"],
                            "_user_id": latest["user_id"] if visible else None,
                            "_status": latest["status"]})
    alleles = _uncommitted(conn, "alleleinterpretation", "allele_id")
    if workflow_type == "allele":
        alleles.pop(workflow_id, None)
    for allele_id in sorted(set(alleles) & set(allele_ids)):
        latest = alleles[allele_id]
        entries.append({"type": "allele", "allele_id": allele_id, "analysis_id": None,
                        "analysis_name": None, "workflow_status": latest["workflow_status"],
                        "_user_id": latest["user_id"], "_status": latest["status"]})
    users = _users_by_id(conn, [e["_user_id"] for e in entries])
    result = []
    for entry in entries:
        user_id, status = entry.pop("_user_id"), entry.pop("_status")
        entry["user"] = users.get(user_id) if status != "Not started" else None
        result.append(entry)
    return result


def similar_alleles(conn, config, genepanel, allele_ids):
    """{"<id>": [Allele]} of nearby variants with a current assessment (workflow.md 14)."""
    settings = config.get("similar_alleles") or {}
    distance = int(settings.get("max_genomic_distance", 100))
    limit = int(settings.get("max_variants", 10))
    # One query for all the variants of an analysis (the UI asks for every one at once).
    # The distance is added as bigint: the schema allows one up to 2^31 - 1.
    matches = {str(query_id): [] for query_id in allele_ids}
    # Driven by the classified variants, gathered once: a per-variant search among all of
    # its chromosome's alleles, each then checked for an assessment, took 12 ms a variant
    # once the database held classifications (203 s for an exome's 18,000).
    rows = conn.execute(
        "WITH classified AS MATERIALIZED ("
        " SELECT a.id, a.chromosome, a.start_position, a.open_end_position FROM allele a"
        " WHERE a.id IN (SELECT aa.allele_id FROM alleleassessment aa"
        "                WHERE aa.date_superceeded IS NULL)),"
        " ranked AS ("
        " SELECT q.id AS query_id, c.id AS match_id, row_number() OVER ("
        "   PARTITION BY q.id ORDER BY abs((c.start_position + c.open_end_position) / 2"
        "   - (q.start_position + q.open_end_position) / 2), c.id) AS rank"
        " FROM allele q JOIN classified c ON c.chromosome = q.chromosome AND c.id <> q.id"
        " WHERE q.id = ANY(%(ids)s) AND ("
        " (c.start_position <= q.start_position AND c.open_end_position >= q.open_end_position)"
        " OR (c.start_position >= q.start_position"
        "     AND c.open_end_position <= q.open_end_position)"
        " OR (c.start_position >= q.start_position - %(d)s::bigint"
        "     AND c.start_position < q.open_end_position + %(d)s::bigint)"
        " OR (c.open_end_position > q.start_position - %(d)s::bigint"
        "     AND c.open_end_position < q.open_end_position + %(d)s::bigint)))"
        " SELECT query_id, match_id FROM ranked WHERE rank <= %(n)s"
        " ORDER BY query_id, rank",
        {"ids": list(allele_ids), "d": distance, "n": limit}).fetchall()
    for query_id, match_id in rows:
        matches[str(query_id)].append(match_id)
    wanted = sorted({i for ids in matches.values() for i in ids})
    loaded = {}
    if wanted:
        # No custom annotation (api.md 4.22): an empty link list embeds none.
        for allele in load_alleles(conn, config, "a.id = ANY(%s)", (wanted,),
                                   genepanel=genepanel, link={"customannotation_id": []}):
            allele.pop("reference_assessments", None)
            loaded[allele["id"]] = allele
    return {key: [loaded[i] for i in ids if i in loaded] for key, ids in matches.items()}
