"""`size` (filtering.md 2.10): allele length compared with a threshold."""

from ella.filters import INT4_MAX, SQL_OPERATORS, ids_param, is_int, is_one_of, matched, \
    require, sql_operator

NAME = "size"
KIND = "allele"


def check_config(config):
    require(is_int(config.get("threshold"), 0),
            f"size filter: 'threshold' must be an integer from 0 to {INT4_MAX}")
    require(is_one_of(config.get("mode"), SQL_OPERATORS),
            f"size filter: 'mode' must be one of {', '.join(SQL_OPERATORS)}")


def run(ctx, allele_ids, config):
    check_config(config)
    op = sql_operator(config["mode"])
    if not allele_ids:
        return set()
    rows = ctx.conn.execute(
        f"SELECT id FROM allele WHERE id = ANY(%(ids)s) AND length {op} %(threshold)s",
        {"ids": ids_param(allele_ids), "threshold": int(config["threshold"])}).fetchall()
    return matched(rows, allele_ids)
