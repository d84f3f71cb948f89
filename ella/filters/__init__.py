"""Filter chains (filtering.md): one module per filter, `chain.py` runs a filterconfig.

Every filter module defines `NAME`, `KIND` ("allele" or "analysis"),
`check_config(config)` (raises FilterError for a config the filter cannot run; no database,
no global configuration: the deposit of filter configs calls it too) and
`run(ctx, allele_ids, config) -> set`: the subset of `allele_ids` it matches ("would filter
out" as a filter, "rescues" as an exception). Allele filters use `ctx.genepanel`; analysis
filters also need `ctx.analysis_id`.
"""

import math
from contextlib import contextmanager
from dataclasses import dataclass

from psycopg import adapters, postgres
from psycopg.adapt import Dumper


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


# Values a config passes to PostgreSQL as `integer` must fit it.
INT4_MAX = 2**31 - 1


def is_int(value, minimum=-INT4_MAX - 1, maximum=INT4_MAX):
    return isinstance(value, int) and not isinstance(value, bool) and \
        minimum <= value <= maximum


def is_number(value, minimum=-math.inf, maximum=math.inf):
    # An int is always finite, also one too large for a float (isfinite would raise).
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        (isinstance(value, int) or math.isfinite(value)) and minimum <= value <= maximum


def is_one_of(value, choices):
    """`value in choices` for any JSON value (a list in a dict lookup raises TypeError)."""
    return isinstance(value, str) and value in choices


def require(condition, message):
    """FilterError(message) unless `condition`: the config checks read as a list of rules."""
    if not condition:
        raise FilterError(message)


def optional_bool(config, key, filter_name):
    require(isinstance(config.get(key, False), bool),
            f"{filter_name} filter: {key!r} must be true or false")


# Comparison operators a config may name; mapped to fixed SQL text, never taken from input.
SQL_OPERATORS = {">": ">", "<": "<", ">=": ">=", "<=": "<=", "==": "="}


def sql_operator(op):
    if not is_one_of(op, SQL_OPERATORS):
        raise FilterError(f"unknown comparison operator {op!r}")
    return SQL_OPERATORS[op]


class AlleleIds(list):
    """A list of allele ids passed to PostgreSQL as one integer[] parameter."""


class _AlleleIdsDumper(Dumper):
    """integer[] in text form, built directly: psycopg's generic list dumper checks every
    element for quoting, which costs ~80 ms for the 50,000 ids of an exome."""
    oid = postgres.types["int4"].array_oid

    def dump(self, obj):
        return ("{" + ",".join(map(str, obj)) + "}").encode()


adapters.register_dumper(AlleleIds, _AlleleIdsDumper)


def ids_param(allele_ids):
    return AlleleIds(sorted(int(i) for i in allele_ids))


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
# A transcript name's version as allele_views._version reads it (filtering.md 2.9): the
# integer after the first dot (its first 18 digits), minus 0.5 when more follows (`NM_1.3b`,
# `NM_1.3.1`); -1 without one.
TRANSCRIPT_VERSION = (
    "CASE WHEN {name} ~ '^[^.]*[.][0-9]+$' "
    "       THEN substring({name} FROM '^[^.]*[.]([0-9]{{1,18}})')::numeric "
    "     WHEN {name} ~ '^[^.]*[.][0-9]' "
    "       THEN substring({name} FROM '^[^.]*[.]([0-9]{{1,18}})')::numeric - 0.5 "
    "     ELSE -1 END")

MATCHED_PANEL_ANNOTATIONS = (
    "SELECT DISTINCT ON (a.allele_id, t.id) a.allele_id, t.id AS transcript_id, t.gene_id, "
    "a.exon_distance, a.coding_region_distance "
    "FROM annotationshadowtranscript a "
    f"JOIN ({PANEL_TRANSCRIPTS}) t "
    "  ON t.transcript_name LIKE split_part(a.transcript, '.', 1) || '%%' "
    "  AND t.gene_id = a.hgnc_id "
    "WHERE a.allele_id = ANY(%(ids)s) "
    "ORDER BY a.allele_id, t.id, (a.transcript = t.transcript_name) DESC, "
    f"  {TRANSCRIPT_VERSION.format(name='a.transcript')} DESC")

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


# Overlap join of alleles and regions (filtering.md 2.2 and 2.12), as SQL CTEs: both sides are
# filed into bins of 2**BIN_BITS bases, each interval into every bin from its start's to its
# end's, and meet in a hash join on (chromosome, bin). Intervals shorter than half a bin (nearly
# all) touch at most two bins, listed without a set-returning function, which keeps the
# planner's row estimates sane; the few long ones (CNVs, long exons) get theirs from
# generate_series. Every pair found is then tested exactly by the caller's `test`; filtering.md's
# overlap tests each imply that the allele [s, e] and the interval share a position, and so a
# bin, so no overlapping pair is missed.
#
# Needs CTEs `alleles (id, chromosome, s, e)` and `regions (tid, chromosome, strand, lo, hi,
# ...)`, where [lo, hi] bounds every interval of the row that `test` looks at; defines
# `overlapping (id, tid, strand)`.
BIN_BITS = 12
_SHORT = 1 << (BIN_BITS - 1)


def _bins(table, lo, hi):
    return f"""
    SELECT x.*, x.{lo} >> {BIN_BITS} AS bin FROM {table} x WHERE x.{hi} - x.{lo} < {_SHORT}
    UNION ALL
    SELECT x.*, x.{hi} >> {BIN_BITS} FROM {table} x
     WHERE x.{hi} - x.{lo} < {_SHORT} AND x.{hi} >> {BIN_BITS} <> x.{lo} >> {BIN_BITS}
    UNION ALL
    SELECT x.*, b.bin FROM {table} x,
           generate_series(x.{lo} >> {BIN_BITS}, x.{hi} >> {BIN_BITS}) AS b(bin)
     WHERE x.{hi} - x.{lo} >= {_SHORT}"""


def overlap_ctes(test):
    return f"""
allele_bins AS ({_bins("alleles", "s", "e")}),
region_bins AS ({_bins("regions", "lo", "hi")}),
overlapping AS (
    SELECT DISTINCT a.id, r.tid, r.strand FROM allele_bins a JOIN region_bins r
        ON r.chromosome = a.chromosome AND r.bin = a.bin
     WHERE {test})"""


def overlaps(rs, re):
    """filtering.md 2.2's overlap test of the allele [a.s, a.e) with the interval [rs, re] of
    region r (three-valued: an interval with a NULL end never overlaps)."""
    rs, re = f"r.{rs}", f"r.{re}"
    return (f"({re} >= {rs} AND (({rs} <= a.s AND a.s <= {re}) OR ({rs} < a.e AND a.e < {re}) "
            f"OR (a.s <= {rs} AND a.e >= {re})))")


@contextmanager
def without_merge_joins(conn):
    """Statements inside run with merge joins disabled, in a transaction or savepoint of their
    own. The overlap joins above are cheapest as hash joins, but the planner cannot estimate
    the bin rows and picks merge joins that sort every region (seconds instead of a fraction
    of one, bench/filter). The setting is transaction-local and put back afterwards; if a
    statement fails, rolling back the savepoint puts it back."""
    with conn.transaction():
        previous = conn.execute("SELECT current_setting('enable_mergejoin')").fetchone()[0]
        conn.execute("SELECT set_config('enable_mergejoin', 'off', true)")
        yield
        conn.execute("SELECT set_config('enable_mergejoin', %s, true)", (previous,))
