"""`classification` (filtering.md 2.5): the current assessment's class is listed, optionally
only while it is not outdated (classification.options' outdated_after_days)."""

from psycopg.types.json import Jsonb

from ella.filters import FilterError, ids_param, matched

NAME = "classification"
KIND = "allele"
CLASSES = ("1", "2", "3", "4", "5", "DR", "NP", "RF")


def run(ctx, allele_ids, config):
    classes = config.get("classes")
    if classes is None:
        raise FilterError("classification filter: 'classes' is required")
    unknown = [c for c in classes if c not in CLASSES]
    if unknown:
        raise FilterError(f"classification filter: unknown classes {unknown}")
    if not allele_ids or not classes:
        return set()
    sql = ("SELECT aa.allele_id FROM alleleassessment aa WHERE aa.allele_id = ANY(%(ids)s) "
           "AND aa.date_superceeded IS NULL AND aa.classification::text = ANY(%(classes)s)")
    params = {"ids": ids_param(allele_ids), "classes": list(classes)}
    if config.get("exclude_outdated"):
        # A class without an options entry never matches (upstream behaviour).
        options = [{"value": str(o.get("value")), "days": o.get("outdated_after_days")}
                   for o in (ctx.config.get("classification") or {}).get("options") or []]
        sql += (" AND EXISTS (SELECT 1 FROM jsonb_to_recordset(%(options)s) "
                "o(value text, days integer) WHERE o.value = aa.classification::text "
                "AND (o.days IS NULL OR aa.date_created > now() - make_interval(days => o.days)))")
        params["options"] = Jsonb(options)
    return matched(ctx.conn.execute(sql, params).fetchall(), allele_ids)
