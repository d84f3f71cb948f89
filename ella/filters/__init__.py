"""Filter chains (filtering.md): one module per filter, `chain.py` runs a filterconfig.

Every filter module defines `NAME`, `KIND` ("allele" or "analysis") and
`run(ctx, allele_ids, config) -> set`: the subset of `allele_ids` it matches ("would filter
out" as a filter, "rescues" as an exception). Allele filters use `ctx.genepanel`; analysis
filters also need `ctx.analysis_id`.
"""

from dataclasses import dataclass


class FilterError(Exception):
    """A filterconfig that cannot be run (bad config for a filter, unsupported data)."""


@dataclass
class FilterContext:
    conn: object
    config: dict            # the global ELLA configuration
    genepanel: tuple        # (name, version)
    analysis_id: int = None

    @property
    def panel_params(self):
        return {"gp_name": self.genepanel[0], "gp_version": self.genepanel[1]}

    @property
    def inclusion_regex(self):
        return ((self.config.get("transcripts") or {}).get("inclusion_regex")) or None


# Comparison operators a config may name; mapped to fixed SQL text, never taken from input.
SQL_OPERATORS = {">": ">", "<": "<", ">=": ">=", "<=": "<=", "==": "="}


def sql_operator(op):
    if op not in SQL_OPERATORS:
        raise FilterError(f"unknown comparison operator {op!r}")
    return SQL_OPERATORS[op]


def ids_param(allele_ids):
    return sorted(int(i) for i in allele_ids)


def matched(rows, allele_ids):
    """The ids from a query's rows, checked to be a subset of the input."""
    result = {r[0] for r in rows}
    assert result <= set(allele_ids), "a filter returned alleles outside its input"
    return result


# Panel transcripts with their gene and inheritance, as a SQL fragment (parameters
# gp_name, gp_version).
PANEL_TRANSCRIPTS = (
    "SELECT t.id, t.gene_id, t.transcript_name, t.chromosome, t.strand, t.tx_start, "
    "t.tx_end, t.cds_start, t.cds_end, t.exon_starts, t.exon_ends, gt.inheritance "
    "FROM genepanel_transcript gt JOIN transcript t ON t.id = gt.transcript_id "
    "WHERE gt.genepanel_name = %(gp_name)s AND gt.genepanel_version = %(gp_version)s")

# Annotation transcript <-> panel transcript matching (filtering.md 2.9), shared by the gene
# filter and the region filter's HGVSc rescue: per (allele, panel transcript) one annotation
# row, the exact name if present, else the highest version ("2a" counts as 1.5). Parameters:
# ids, gp_name, gp_version.
MATCHED_PANEL_ANNOTATIONS = (
    "SELECT DISTINCT ON (a.allele_id, t.id) a.allele_id, t.id AS transcript_id, t.gene_id, "
    "a.exon_distance, a.coding_region_distance "
    "FROM annotationshadowtranscript a "
    f"JOIN ({PANEL_TRANSCRIPTS}) t "
    "  ON t.transcript_name LIKE split_part(a.transcript, '.', 1) || '%%' "
    "  AND t.gene_id = a.hgnc_id "
    "WHERE a.allele_id = ANY(%(ids)s) "
    "ORDER BY a.allele_id, t.id, (a.transcript = t.transcript_name) DESC, "
    "  CASE WHEN split_part(a.transcript, '.', 2) ~ '^[0-9]+$' "
    "         THEN split_part(a.transcript, '.', 2)::numeric "
    "       WHEN split_part(a.transcript, '.', 2) ~ '^[0-9]+' "
    "         THEN substring(split_part(a.transcript, '.', 2) FROM '^[0-9]+')::numeric - 0.5 "
    "       ELSE -1 END DESC")

# One row per (genotype, allele slot, sample data) for the input alleles and the samples of
# one analysis (filtering.md 0.3), restricted by `{samples}`: a condition on `s` (sample).
# Parameters: ids, analysis_id.
GENOTYPE_ROWS = (
    "SELECT x.allele_id, x.sample_id AS genotype_sample_id, x.variant_quality, x.filter_status, "
    "  gsd.sample_id, gsd.id AS gsd_id, gsd.type::text AS type, gsd.allele_ratio, "
    "  gsd.genotype_quality, s.sex::text AS sex "
    "FROM (SELECT g.id, g.allele_id, false AS second, g.sample_id, g.variant_quality, "
    "        g.filter_status FROM genotype g WHERE g.allele_id = ANY(%(ids)s) "
    "      UNION ALL "
    "      SELECT g.id, g.secondallele_id, true, g.sample_id, g.variant_quality, "
    "        g.filter_status FROM genotype g WHERE g.secondallele_id = ANY(%(ids)s)) x "
    "JOIN genotypesampledata gsd ON gsd.genotype_id = x.id AND gsd.secondallele = x.second "
    "JOIN sample s ON s.id = gsd.sample_id "
    "WHERE s.analysis_id = %(analysis_id)s AND {samples}")
