"""`classification` (filtering.md 2.5): the current assessment's class is listed, optionally
only while it is not outdated (classification.options' outdated_after_days)."""

from psycopg.types.json import Jsonb

from ella.filters import ids_param, is_one_of, matched, optional_bool, require

NAME = "classification"
KIND = "allele"
CLASSES = ("1", "2", "3", "4", "5", "DR", "NP", "RF")


def check_config(config):
    classes = config.get("classes")
    require(isinstance(classes, list), "classification filter: 'classes' must be a list")
    unknown = [c for c in classes if not is_one_of(c, CLASSES)]
    require(not unknown, f"classification filter: unknown classes {unknown} "
                         f"({', '.join(CLASSES)})")
    optional_bool(config, "exclude_outdated", NAME)


def run(ctx, allele_ids, config):
    check_config(config)
    classes = config["classes"]
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
