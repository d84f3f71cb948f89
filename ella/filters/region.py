"""`region` (filtering.md 2.2): alleles outside every region of interest (coding exons,
splice and UTR paddings) of the panel's transcripts, unless their HGVSc distances put them
inside the paddings."""

from ella.filters import MATCHED_PANEL_ANNOTATIONS, PANEL_TRANSCRIPTS, FilterError, ids_param, \
    matched

NAME = "region"
KIND = "allele"

QUERY = f"""
WITH alleles AS (
    SELECT id, chromosome, start_position AS s, open_end_position AS e
    FROM allele WHERE id = ANY(%(ids)s)),
tx AS ({PANEL_TRANSCRIPTS}),
near AS (
    SELECT a.id AS allele_id, t.id AS tid FROM alleles a JOIN tx t
      ON t.chromosome = a.chromosome
     AND ((t.tx_start - %(pad)s <= a.s AND a.s <= t.tx_end - 1 + %(pad)s)
          OR (t.tx_start - %(pad)s < a.e AND a.e < t.tx_end + %(pad)s))),
near_tx AS (SELECT * FROM tx WHERE id IN (SELECT tid FROM near)),
exons AS (
    SELECT t.id AS tid, t.strand, t.cds_start AS cs, t.cds_end - 1 AS ce,
           x.es, x.ee_open - 1 AS ee
    FROM near_tx t, unnest(t.exon_starts, t.exon_ends) AS x(es, ee_open)),
regions AS (
    SELECT tid, greatest(es, cs) AS rs, least(ee, ce) AS re FROM exons
     WHERE cs IS NOT NULL AND es <= ce AND ee >= cs
    UNION ALL
    SELECT tid, CASE WHEN strand = '+' THEN es + %(s0)s ELSE ee + 1 END,
                CASE WHEN strand = '+' THEN es - 1 ELSE ee - %(s0)s END FROM exons
    UNION ALL
    SELECT tid, CASE WHEN strand = '+' THEN ee + 1 ELSE es - %(s1)s END,
                CASE WHEN strand = '+' THEN ee + %(s1)s ELSE es - 1 END FROM exons
    UNION ALL
    SELECT id, CASE WHEN strand = '+' THEN cds_start + %(u0)s ELSE cds_end END,
               CASE WHEN strand = '+' THEN cds_start - 1 ELSE cds_end - 1 - %(u0)s END
      FROM near_tx WHERE cds_start IS NOT NULL
    UNION ALL
    SELECT id, CASE WHEN strand = '+' THEN cds_end ELSE cds_start - %(u1)s END,
               CASE WHEN strand = '+' THEN cds_end - 1 + %(u1)s ELSE cds_start - 1 END
      FROM near_tx WHERE cds_start IS NOT NULL),
kept AS (
    SELECT DISTINCT n.allele_id FROM near n
      JOIN regions r ON r.tid = n.tid
      JOIN alleles a ON a.id = n.allele_id
     WHERE r.re >= r.rs
       AND ((r.rs <= a.s AND a.s <= r.re) OR (r.rs < a.e AND a.e < r.re)
            OR (a.s <= r.rs AND a.e >= r.re))),
rescued AS (
    SELECT DISTINCT m.allele_id FROM ({MATCHED_PANEL_ANNOTATIONS}) m
     WHERE m.allele_id NOT IN (SELECT allele_id FROM kept)
       AND m.exon_distance BETWEEN %(s0)s AND %(s1)s
       AND (m.coding_region_distance IS NULL
            OR m.coding_region_distance BETWEEN %(u0)s AND %(u1)s))
SELECT id FROM alleles
 WHERE id NOT IN (SELECT allele_id FROM kept) AND id NOT IN (SELECT allele_id FROM rescued)
"""


def _pair(config, key):
    value = config.get(key)
    if not (isinstance(value, list) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            and value[0] <= 0 <= value[1]):
        raise FilterError(f"region filter: {key!r} must be [int <= 0, int >= 0]")
    return value


def run(ctx, allele_ids, config):
    s0, s1 = _pair(config, "splice_region")
    u0, u1 = _pair(config, "utr_region")
    if not allele_ids:
        return set()
    params = {"ids": ids_param(allele_ids), "s0": s0, "s1": s1, "u0": u0, "u1": u1,
              "pad": max(abs(s0), abs(s1), abs(u0), abs(u1)), **ctx.panel_params}
    return matched(ctx.conn.execute(QUERY, params).fetchall(), allele_ids)
