"""`callertype` (filtering.md 2.11): the allele's caller type (snv/cnv) is listed."""

from ella.filters import ids_param, matched, require

NAME = "callertype"
KIND = "allele"
CALLER_TYPES = ("snv", "cnv")


def check_config(config):
    types = config.get("callerTypes")
    require(isinstance(types, list) and types and all(t in CALLER_TYPES for t in types),
            "callertype filter: 'callerTypes' must be a non-empty list of 'snv'/'cnv'")


def run(ctx, allele_ids, config):
    check_config(config)
    types = config["callerTypes"]
    if not allele_ids:
        return set()
    rows = ctx.conn.execute(
        "SELECT id FROM allele WHERE id = ANY(%(ids)s) AND caller_type::text = ANY(%(types)s)",
        {"ids": ids_param(allele_ids), "types": list(types)}).fetchall()
    return matched(rows, allele_ids)
