"""`gene` (filtering.md 2.9): the allele's panel genes (via annotation <-> panel transcript
matching) are all (`mode: all`) or partly (`mode: one`) in the listed HGNC ids."""

from ella.filters import INT4_MAX, MATCHED_PANEL_ANNOTATIONS, ids_param, is_int, is_one_of, \
    matched, optional_bool, require

NAME = "gene"
KIND = "allele"


def check_config(config):
    genes = config.get("genes")
    require(isinstance(genes, list) and all(is_int(g, 1) for g in genes),
            f"gene filter: 'genes' must be a list of HGNC ids (integers from 1 to {INT4_MAX})")
    require(is_one_of(config.get("mode", "all"), ("all", "one")),
            f"gene filter: unknown mode {config.get('mode')!r} (all, one)")
    optional_bool(config, "inverse", NAME)


def run(ctx, allele_ids, config):
    check_config(config)
    mode = config.get("mode", "all")
    if not allele_ids:
        return set()
    test = "<@" if mode == "all" else "&&"
    rows = ctx.conn.execute(
        f"SELECT allele_id FROM ({MATCHED_PANEL_ANNOTATIONS}) m WHERE gene_id IS NOT NULL "
        f"GROUP BY allele_id HAVING array_agg(DISTINCT gene_id) {test} %(genes)s::int[]",
        {"ids": ids_param(allele_ids), "genes": [int(g) for g in config["genes"]],
         **ctx.panel_params}).fetchall()
    result = matched(rows, allele_ids)
    if config.get("inverse"):
        return set(allele_ids) - result
    return result
