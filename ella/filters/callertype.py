"""`callertype` (filtering.md 2.11): the allele's caller type (snv/cnv) is listed."""

from ella.filters import FilterError, ids_param, matched

NAME = "callertype"
KIND = "allele"
CALLER_TYPES = ("snv", "cnv")


def run(ctx, allele_ids, config):
    types = config.get("callerTypes")
    if not types or any(t not in CALLER_TYPES for t in types):
        raise FilterError("callertype filter: 'callerTypes' must be a non-empty list of "
                          "'snv'/'cnv'")
    if not allele_ids:
        return set()
    rows = ctx.conn.execute(
        "SELECT id FROM allele WHERE id = ANY(%(ids)s) AND caller_type::text = ANY(%(types)s)",
        {"ids": ids_param(allele_ids), "types": list(types)}).fetchall()
    return matched(rows, allele_ids)
