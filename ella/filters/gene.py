"""`gene` (filtering.md 2.9): the allele's panel genes (via annotation <-> panel transcript
matching) are all (`mode: all`) or partly (`mode: one`) in the listed HGNC ids."""

from ella.filters import MATCHED_PANEL_ANNOTATIONS, FilterError, ids_param, matched

NAME = "gene"
KIND = "allele"


def run(ctx, allele_ids, config):
    if "genes" not in config:
        raise FilterError("gene filter: 'genes' is required")
    mode = config.get("mode", "all")
    if mode not in ("all", "one"):
        raise FilterError(f"gene filter: unknown mode {mode!r}")
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
