"""`size` (filtering.md 2.10): allele length compared with a threshold."""

from ella.filters import FilterError, ids_param, matched, sql_operator

NAME = "size"
KIND = "allele"


def run(ctx, allele_ids, config):
    if "threshold" not in config or "mode" not in config:
        raise FilterError("size filter: 'threshold' and 'mode' are required")
    op = sql_operator(config["mode"])
    if not allele_ids:
        return set()
    rows = ctx.conn.execute(
        f"SELECT id FROM allele WHERE id = ANY(%(ids)s) AND length {op} %(threshold)s",
        {"ids": ids_param(allele_ids), "threshold": int(config["threshold"])}).fetchall()
    return matched(rows, allele_ids)
