"""`ppy` (filtering.md 2.12): C/T (or, on `-` strand, A/G) changes in the polypyrimidine
tract before each exon of the panel's transcripts."""

from ella.filters import PANEL_TRANSCRIPTS, FilterError, ids_param, matched

NAME = "ppy"
KIND = "allele"

# `-` strand uses the exclusive exon end as upstream does (covers -21..-4 for [-20, -3]).
QUERY = f"""
WITH alleles AS (
    SELECT id, chromosome, start_position AS s, open_end_position AS e, change_type::text AS ct,
           change_from, change_to, vcf_alt
    FROM allele WHERE id = ANY(%(ids)s)),
tx AS ({PANEL_TRANSCRIPTS}),
regions AS (
    SELECT t.chromosome, t.strand,
           CASE WHEN t.strand = '+' THEN x.es + %(r0)s ELSE x.ee - %(r1)s END AS rs,
           CASE WHEN t.strand = '+' THEN x.es + %(r1)s ELSE x.ee - %(r0)s END AS re
    FROM tx t, unnest(t.exon_starts, t.exon_ends) AS x(es, ee)
    WHERE t.chromosome IN (SELECT chromosome FROM alleles))
SELECT DISTINCT a.id FROM alleles a JOIN regions r
  ON r.chromosome = a.chromosome
 AND ((r.rs <= a.s AND a.s <= r.re) OR (r.rs < a.e AND a.e < r.re)
      OR (a.s <= r.rs AND a.e > r.re))
WHERE (r.strand = '+' AND (
        (a.ct = 'SNP' AND a.change_from IN ('C', 'T') AND a.change_to IN ('C', 'T'))
        OR (a.ct = 'del' AND a.change_from IN ('C', 'T', 'CT', 'CC', 'TT', 'TC')
            AND a.vcf_alt != 'A')))
   OR (r.strand = '-' AND (
        (a.ct = 'SNP' AND a.change_from IN ('A', 'G') AND a.change_to IN ('A', 'G'))
        OR (a.ct = 'del' AND a.change_from IN ('G', 'A', 'GA', 'GG', 'AA', 'AG')
            AND a.vcf_alt != 'C')))
"""


def run(ctx, allele_ids, config):
    region = config.get("ppy_tract_region")
    if not (isinstance(region, list) and len(region) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v < 0 for v in region)):
        raise FilterError("ppy filter: 'ppy_tract_region' must be [int < 0, int < 0]")
    if not allele_ids:
        return set()
    params = {"ids": ids_param(allele_ids), "r0": region[0], "r1": region[1],
              **ctx.panel_params}
    return matched(ctx.conn.execute(QUERY, params).fetchall(), allele_ids)
