"""`ppy` (filtering.md 2.12): C/T (or, on `-` strand, A/G) changes in the polypyrimidine
tract before each exon of the panel's transcripts."""

from ella.filters import PANEL_TRANSCRIPTS, ids_param, is_int, matched, overlap_ctes, require, \
    without_merge_joins

NAME = "ppy"
KIND = "allele"
MAX_DISTANCE = 1_000_000  # keeps exon position sums within PostgreSQL's integer

PLUS = """(a.ct = 'SNP' AND a.change_from IN ('C', 'T') AND a.change_to IN ('C', 'T'))
        OR (a.ct = 'del' AND a.change_from IN ('C', 'T', 'CT', 'CC', 'TT', 'TC')
            AND a.vcf_alt != 'A')"""
MINUS = """(a.ct = 'SNP' AND a.change_from IN ('A', 'G') AND a.change_to IN ('A', 'G'))
        OR (a.ct = 'del' AND a.change_from IN ('G', 'A', 'GA', 'GG', 'AA', 'AG')
            AND a.vcf_alt != 'C')"""

# ppy's own overlap test (filtering.md 2.12): the third case needs open_end > re.
OVERLAP = ("(r.rs <= a.s AND a.s <= r.re) OR (r.rs < a.e AND a.e < r.re) "
           "OR (a.s <= r.rs AND a.e > r.re)")

# `-` strand uses the exclusive exon end as upstream does (covers -21..-4 for [-20, -3]).
# Only alleles that could match on one strand or the other are looked at.
QUERY = f"""
WITH alleles AS MATERIALIZED (
    SELECT id, chromosome, start_position AS s, open_end_position AS e, ct, change_from,
           change_to, vcf_alt
    FROM (SELECT *, change_type::text AS ct FROM allele WHERE id = ANY(%(ids)s)) a
    WHERE ({PLUS}) OR ({MINUS})),
tx AS ({PANEL_TRANSCRIPTS}),
tracts AS (
    SELECT t.id AS tid, t.chromosome, t.strand,
           CASE WHEN t.strand = '+' THEN x.es + %(r0)s ELSE x.ee - %(r1)s END AS rs,
           CASE WHEN t.strand = '+' THEN x.es + %(r1)s ELSE x.ee - %(r0)s END AS re
    FROM tx t, unnest(t.exon_starts, t.exon_ends) AS x(es, ee)),
regions AS MATERIALIZED (
    SELECT tid, chromosome, strand, rs, re, least(rs, re) AS lo, greatest(rs, re) AS hi
    FROM tracts),
{overlap_ctes(OVERLAP)}
SELECT DISTINCT a.id FROM overlapping o JOIN alleles a ON a.id = o.id
WHERE (o.strand = '+' AND ({PLUS})) OR (o.strand = '-' AND ({MINUS}))
"""


def check_config(config):
    region = config.get("ppy_tract_region")
    require(isinstance(region, list) and len(region) == 2
            and all(is_int(v, -MAX_DISTANCE, -1) for v in region),
            "ppy filter: 'ppy_tract_region' must be [int < 0, int < 0], e.g. [-20, -3] (at "
            f"most {MAX_DISTANCE:,} bases)")


def run(ctx, allele_ids, config):
    check_config(config)
    region = config["ppy_tract_region"]
    if not allele_ids:
        return set()
    params = {"ids": ids_param(allele_ids), "r0": region[0], "r1": region[1],
              **ctx.panel_params}
    with without_merge_joins(ctx.conn):
        rows = ctx.conn.execute(QUERY, params).fetchall()
    return matched(rows, allele_ids)
