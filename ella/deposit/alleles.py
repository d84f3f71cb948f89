"""Variants without an analysis (import.md 2.10): `deposit alleles` and `deposit annotation`.

Every record of the VCF becomes an allele with annotation, whatever its genotypes. `alleles`
mode checks that each record lies in a transcript of the gene panel and opens a variant
workflow round (alleleinterpretation) for alleles that have none; `annotation` mode only
refreshes annotation (no panel check, no rounds). Records are written in batches, each in a
background thread while the next is converted (pipeline.py). Does not commit: the caller does.
"""

import time
from typing import NamedTuple

from ella.alleles import allele_from_record, variant_records
from ella.annotation.converters import AnnotationConfigError, Annotator
from ella.config import feature_is_enabled
from ella.db import clock_now
from ella.deposit.analysis import check_genepanel
from ella.deposit.pipeline import WritePipeline
from ella.deposit.variants import (GRCH37_CONTIG_LENGTHS, AnnotationWriter, DepositError,
                                   active_annotation_config, check_genome_build, store_alleles,
                                   wait_for_other_imports)
from ella.vcf import open_vcf

BATCH_SIZE = 1000


def _outside_panel(cur, records, panel):
    """Records (non-SV) not inside any transcript of the panel."""
    candidates = [r for r in records if r.get_info("SVTYPE") is None]
    if not candidates:
        return []
    inside = {row[0] for row in cur.execute(
        "SELECT DISTINCT k.idx FROM unnest(%s::integer[], %s::varchar[], %s::integer[]) "
        "AS k(idx, chromosome, pos0) "
        "JOIN transcript t ON t.chromosome = k.chromosome "
        " AND t.tx_start <= k.pos0 AND k.pos0 <= t.tx_end "
        "JOIN genepanel_transcript gt ON gt.transcript_id = t.id "
        " AND gt.genepanel_name = %s AND gt.genepanel_version = %s",
        (list(range(len(candidates))), [r.chrom for r in candidates],
         [r.pos - 1 for r in candidates], *panel)).fetchall()}
    return [r for i, r in enumerate(candidates) if i not in inside]


def deposit_alleles(conn, app_config, vcf_path, panel=None, annotation_only=False,
                    progress=None):
    """Returns a summary dict. `panel` = (name, version), required unless annotation_only."""
    started = time.monotonic()
    cur = conn.cursor()
    wait_for_other_imports(cur)
    if not annotation_only:
        if not panel:
            raise DepositError("a gene panel is needed to deposit alleles")
        check_genepanel(cur, *panel)
    config_id, deposit_config = active_annotation_config(cur)
    stats = {"file": str(vcf_path), "records": 0, "alleles_new": 0, "alleles_existing": 0,
             "annotations_new": 0, "annotations_unchanged": 0, "interpretations_new": 0}
    with open_vcf(vcf_path, contig_lengths=GRCH37_CONTIG_LENGTHS) as reader:
        check_genome_build(reader.header, vcf_path)
        try:
            annotator = Annotator(deposit_config, reader.header.csq_fields, reader.header)
        except AnnotationConfigError as exc:
            raise DepositError(f"{vcf_path}: annotation config {config_id}: {exc}") from None
        importer = _VariantImport(cur, app_config, config_id, annotator,
                                  None if annotation_only else panel, stats)
        with importer.read_cur, WritePipeline(
                importer.write, cancel=cur.connection.cancel_safe) as pipeline:
            for records in _chunks(variant_records(reader), BATCH_SIZE):
                pipeline.submit(importer.prepare(records))
                if progress:
                    progress(stats)
    stats["seconds"] = time.monotonic() - started
    return stats


def _chunks(records, size):
    chunk = []
    for record in records:
        chunk.append(record)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _PreparedVariants(NamedTuple):
    places: list  # (file, line) per record, to name it in an error (not the whole record)
    alleles: list  # allele row per record, in file order
    annotations: list  # PreparedAnnotation per record


class _VariantImport:
    """`prepare` (the panel check's read and the Python work) runs in the caller's thread,
    `write` (everything a batch stores) in the WritePipeline's thread, as for analyses.
    `panel` None: annotation mode (no panel check, no variant workflows)."""

    def __init__(self, cur, app_config, config_id, annotator, panel, stats):
        self.cur = cur
        self.read_cur = cur.connection.cursor()  # the caller's thread's own cursor
        self.cnv = feature_is_enabled(app_config, "cnv")
        self.writer = AnnotationWriter(cur, app_config, config_id)
        self.annotator = annotator
        self.panel = panel
        self.stats = stats
        self.counted = set()  # allele ids this file's earlier batches counted

    def prepare(self, records):
        self.stats["records"] += len(records)
        if self.panel:
            outside = _outside_panel(self.read_cur, records, self.panel)
            if outside:
                lines = "; ".join(f"{r.chrom}\t{r.pos}\t{r.id}\t{r.ref}\t{r.alt}"
                                  for r in outside[:20])
                more = f" (and {len(outside) - 20} more)" if len(outside) > 20 else ""
                raise DepositError(f"The following variants are not inside the genepanel "
                                   f"{self.panel[0]}_{self.panel[1]}: {lines}{more}")
        alleles = [allele_from_record(r, self.cnv) for r in records]
        if self.panel:
            for record, allele in zip(records, alleles):
                if allele["caller_type"] == "cnv":
                    # import.md 2.4: a variant workflow is never opened for a CNV.
                    raise record.error("a CNV cannot be deposited as a variant without an "
                                       "analysis (variant workflows do not take CNVs); "
                                       "deposit it with its analysis, or its annotation "
                                       "with `deposit annotation`")
        return _PreparedVariants([(r.path, r.line_no) for r in records], alleles,
                                 [self.writer.prepare(self.annotator, r) for r in records])

    def write(self, batch):
        cur, stats = self.cur, self.stats
        ids, created = store_alleles(cur, batch.alleles, batch.places)
        # A variant the file repeats is counted once, also when its records fall into two
        # batches (the second counted the allele the first created as an existing one).
        uncounted = set(ids) - self.counted
        self.counted |= uncounted
        stats["alleles_new"] += created
        stats["alleles_existing"] += len(uncounted) - created
        if self.panel:
            # The variants' rows, against every workflow action on a variant's own workflow
            # (`lock_workflow` takes its row FOR NO KEY UPDATE): a round a user starts
            # meanwhile is waited for and then seen by the insert below (its own statement,
            # so its snapshot is taken after the wait), instead of failing the whole file on
            # the one-open-round index. SHARE, not more: finalize-allele in an analysis
            # share-locks the variant too, and waited for the whole file (30 s, then 503) for
            # variants whose annotation the file leaves as it is. Before their annotations:
            # finalize-allele locks a variant's row, then its annotation.
            cur.execute("SELECT id FROM allele WHERE id = ANY(%s) ORDER BY id "
                        "FOR SHARE", (sorted(set(ids)),))
        # An allele twice in one batch: its last record's annotation counts, as in a file
        # read top to bottom.
        new, unchanged = self.writer.store(dict(zip(ids, batch.annotations)))
        stats["annotations_new"] += new
        stats["annotations_unchanged"] += unchanged
        if self.panel:
            now = clock_now(cur)  # every round is dated by the database's clock
            created_rounds = cur.execute(
                "INSERT INTO alleleinterpretation (genepanel_name, genepanel_version, "
                "user_state, state, status, date_last_update, date_created, allele_id, "
                "workflow_status) "
                "SELECT %s, %s, '{}', '{}', 'Not started', %s, %s, a.id, 'Interpretation' "
                "FROM unnest(%s::integer[]) AS a(id) WHERE NOT EXISTS "
                "(SELECT 1 FROM alleleinterpretation ai WHERE ai.allele_id = a.id) "
                "GROUP BY a.id RETURNING id",
                (*self.panel, now, now, sorted(set(ids)))).fetchall()
            stats["interpretations_new"] += len(created_rounds)


def summary_line(stats):
    return (f"{stats['file']}: {stats['records']} records, alleles {stats['alleles_new']} new / "
            f"{stats['alleles_existing']} existing, annotations {stats['annotations_new']} new / "
            f"{stats['annotations_unchanged']} unchanged, {stats['interpretations_new']} new "
            f"variant workflows, {stats['seconds']:.1f} s")
