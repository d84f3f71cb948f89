"""`region` (filtering.md 2.2): alleles outside every region of interest (coding exons,
splice and UTR paddings) of the panel's transcripts, unless their HGVSc distances put them
inside the paddings."""

from ella.filters import MATCHED_PANEL_ANNOTATIONS, PANEL_TRANSCRIPTS, ids_param, is_int, \
    matched, overlap_ctes, overlaps, require, without_merge_joins

MAX_PADDING = 1_000_000

# The shared annotation <-> panel transcript matching, for the candidates only.
MATCHED_PANEL_ANNOTATIONS_OF_CANDIDATES = MATCHED_PANEL_ANNOTATIONS.replace(
    "a.allele_id = ANY(%(ids)s)", "a.allele_id IN (SELECT id FROM candidates)")
assert MATCHED_PANEL_ANNOTATIONS_OF_CANDIDATES != MATCHED_PANEL_ANNOTATIONS

NAME = "region"
KIND = "allele"

QUERY = f"""
WITH alleles AS MATERIALIZED (
    -- A duplication's row ends one base after its start (import.md 2.4); what it
    -- duplicates runs its length, as a deletion's row does (unlike ELLA, which filtered out
    -- a duplication of coding exons that starts in an intron).
    SELECT id, chromosome, start_position AS s,
           CASE WHEN caller_type = 'cnv' AND change_type IN ('dup', 'dup_tandem')
                THEN greatest(open_end_position, start_position + length)
                ELSE open_end_position END AS e
    FROM allele WHERE id = ANY(%(ids)s)),
tx AS MATERIALIZED ({PANEL_TRANSCRIPTS}),
exons AS (
    SELECT t.id AS tid, t.chromosome, t.strand, t.cds_start AS cs, t.cds_end - 1 AS ce,
           x.es, x.ee_open - 1 AS ee
    FROM tx t, unnest(t.exon_starts, t.exon_ends) AS x(es, ee_open)),
exon_regions AS (
    -- Per exon its coding part (c), upstream (u) and downstream (d) splice padding, in
    -- transcript orientation; an interval with end < start is dropped (set to NULL).
    SELECT tid, chromosome, strand,
           CASE WHEN cs IS NOT NULL AND es <= ce AND ee >= cs AND least(ee, ce) >= greatest(es, cs)
                THEN greatest(es, cs) END AS c_rs,
           CASE WHEN cs IS NOT NULL AND es <= ce AND ee >= cs AND least(ee, ce) >= greatest(es, cs)
                THEN least(ee, ce) END AS c_re,
           CASE WHEN %(s0)s < 0 THEN CASE WHEN strand = '+' THEN es + %(s0)s ELSE ee + 1 END
                END AS u_rs,
           CASE WHEN %(s0)s < 0 THEN CASE WHEN strand = '+' THEN es - 1 ELSE ee - %(s0)s END
                END AS u_re,
           CASE WHEN %(s1)s > 0 THEN CASE WHEN strand = '+' THEN ee + 1 ELSE es - %(s1)s END
                END AS d_rs,
           CASE WHEN %(s1)s > 0 THEN CASE WHEN strand = '+' THEN ee + %(s1)s ELSE es - 1 END
                END AS d_re
    FROM exons),
utr_regions AS (
    -- Per transcript with a CDS the UTR paddings upstream (u) and downstream (d).
    SELECT id AS tid, chromosome, strand, NULL::integer AS c_rs, NULL::integer AS c_re,
           CASE WHEN %(u0)s < 0 THEN CASE WHEN strand = '+' THEN cds_start + %(u0)s
                                          ELSE cds_end END END AS u_rs,
           CASE WHEN %(u0)s < 0 THEN CASE WHEN strand = '+' THEN cds_start - 1
                                          ELSE cds_end - 1 - %(u0)s END END AS u_re,
           CASE WHEN %(u1)s > 0 THEN CASE WHEN strand = '+' THEN cds_end
                                          ELSE cds_start - %(u1)s END END AS d_rs,
           CASE WHEN %(u1)s > 0 THEN CASE WHEN strand = '+' THEN cds_end - 1 + %(u1)s
                                          ELSE cds_start - 1 END END AS d_re
    FROM tx WHERE cds_start IS NOT NULL),
regions AS MATERIALIZED (
    SELECT r.*, least(c_rs, u_rs, d_rs) AS lo, greatest(c_re, u_re, d_re) AS hi
    FROM (SELECT * FROM exon_regions UNION ALL SELECT * FROM utr_regions) r
    WHERE coalesce(c_rs, u_rs, d_rs) IS NOT NULL),
{overlap_ctes(" OR ".join(overlaps(f"{k}_rs", f"{k}_re") for k in "cud"))},
kept AS (
    -- Only regions of transcripts near the allele count (filtering.md 2.2), and, unlike
    -- ELLA, those of a transcript the allele spans: a whole-gene deletion is kept.
    SELECT DISTINCT o.id AS allele_id FROM overlapping o
      JOIN alleles a ON a.id = o.id JOIN tx t ON t.id = o.tid
     WHERE (t.tx_start - %(pad)s <= a.s AND a.s <= t.tx_end - 1 + %(pad)s)
           OR (t.tx_start - %(pad)s < a.e AND a.e < t.tx_end + %(pad)s)
           OR (a.s < t.tx_start - %(pad)s AND a.e >= t.tx_end + %(pad)s)),
candidates AS (
    SELECT id FROM alleles WHERE id NOT IN (SELECT allele_id FROM kept)),
rescued AS (
    SELECT DISTINCT m.allele_id FROM ({MATCHED_PANEL_ANNOTATIONS_OF_CANDIDATES}) m
     WHERE m.exon_distance BETWEEN %(s0)s AND %(s1)s
       AND (m.coding_region_distance IS NULL
            OR m.coding_region_distance BETWEEN %(u0)s AND %(u1)s))
SELECT id FROM candidates WHERE id NOT IN (SELECT allele_id FROM rescued)
"""


def _pair(config, key):
    value = config.get(key)
    # Paddings beyond a million bases are no longer "near" anything; the bound keeps the
    # sums in the query within PostgreSQL's integer.
    require(isinstance(value, list) and len(value) == 2
            and is_int(value[0], -MAX_PADDING, 0) and is_int(value[1], 0, MAX_PADDING),
            f"region filter: {key!r} must be [int <= 0, int >= 0] (at most {MAX_PADDING:,} "
            "bases)")
    return value


def check_config(config):
    _pair(config, "splice_region")
    _pair(config, "utr_region")


def run(ctx, allele_ids, config):
    s0, s1 = _pair(config, "splice_region")
    u0, u1 = _pair(config, "utr_region")
    if not allele_ids:
        return set()
    params = {"ids": ids_param(allele_ids), "s0": s0, "s1": s1, "u0": u0, "u1": u1,
              "pad": max(abs(s0), abs(s1), abs(u0), abs(u1)), **ctx.panel_params}
    with without_merge_joins(ctx.conn):
        rows = ctx.conn.execute(QUERY, params).fetchall()
    return matched(rows, allele_ids)
