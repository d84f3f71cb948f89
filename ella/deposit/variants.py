"""Storing alleles and their annotation in bulk (shared by analysis and variant deposits).

Alleles are found by all of their built fields (import.md 2.5) and inserted when new; the
lookup and insert are set-based over a temporary table filled with COPY. Annotation is
versioned (import.md 3.7): a current row with equal JSON and config id is kept, otherwise it
is superseded and the new row links to it. The database triggers validate the JSON and fill
the shadow tables.
"""

import json
import re

import psycopg

from ella.alleles import ALLELE_FIELDS


class DepositError(Exception):
    """Bad input or a conflict with the database; the deposit is rolled back."""


# Builds other than GRCh37 that a VCF header may name (##reference, ##contig assembly=...).
_OTHER_BUILDS = re.compile(r"(GRCh38|hg38|GRCh36|hg18|NCBI36|NCBI35|hg17|CHM13|T2T|hs38)",
                           re.IGNORECASE)


def check_genome_build(header, path):
    """ELLA stores GRCh37 coordinates only: refuse a VCF whose header names another build."""
    for line in header.lines:
        if line.startswith(("##reference=", "##assembly=")) or (
                line.startswith("##contig=") and "assembly=" in line):
            match = _OTHER_BUILDS.search(line)
            if match:
                raise DepositError(f"{path}: the VCF is on genome build {match.group(1)} "
                                   f"({line[:120]}); only GRCh37 is supported")


def active_annotation_config(cur):
    """(id, deposit converter list) of the newest annotationconfig row (ELLA's rule)."""
    row = cur.execute("SELECT id, deposit FROM annotationconfig ORDER BY id DESC LIMIT 1").fetchone()
    if row is None:
        raise DepositError("the database has no annotation config (annotationconfig is empty); "
                           "load one before importing")
    return row


def _ensure_allele_stage(cur):
    cur.execute("""
        CREATE TEMPORARY TABLE IF NOT EXISTS deposit_allele_stage (
            idx integer, genome_reference varchar, chromosome varchar, start_position integer,
            open_end_position integer, change_type change_type, change_from varchar,
            change_to varchar, length integer, vcf_pos integer, vcf_ref varchar,
            vcf_alt varchar, caller_type caller_type
        ) ON COMMIT DROP""")
    cur.execute("TRUNCATE deposit_allele_stage")


def store_alleles(cur, rows):
    """Allele ids for `rows` (dicts with ALLELE_FIELDS), inserting the missing ones.

    Returns (ids in row order, number of newly created alleles)."""
    if not rows:
        return [], 0
    _ensure_allele_stage(cur)
    columns = ("idx",) + ALLELE_FIELDS
    with cur.copy(f"COPY deposit_allele_stage ({', '.join(columns)}) FROM STDIN") as copy:
        for idx, row in enumerate(rows):
            copy.write_row((idx,) + tuple(row[f] for f in ALLELE_FIELDS))
    field_list = ", ".join(ALLELE_FIELDS)
    # ON CONFLICT: a concurrent deposit of the same allele waits for, then reuses, the other.
    created = cur.execute(f"""
        INSERT INTO allele ({field_list})
        SELECT DISTINCT {field_list} FROM deposit_allele_stage
        ON CONFLICT ON CONSTRAINT "ucAllele" DO NOTHING
        RETURNING id""").fetchall()
    join = " AND ".join(f"a.{f} = s.{f}" for f in ALLELE_FIELDS)
    found = dict(cur.execute(
        f"SELECT s.idx, a.id FROM deposit_allele_stage s JOIN allele a ON {join}").fetchall())
    missing = [i for i in range(len(rows)) if i not in found]
    if missing:
        row = rows[missing[0]]
        raise DepositError(f"allele {row['chromosome']}:{row['vcf_pos']} "
                           f"{row['vcf_ref']}>{row['vcf_alt']} could not be stored (an allele "
                           "with the same key but another genome reference exists)")
    return [found[i] for i in range(len(rows))], len(created)


def normalised_json(value):
    """What jsonb gives back for `value` (tuples become lists), for equality checks."""
    return json.loads(json.dumps(value))


def store_annotations(cur, annotations_by_allele, config_id):
    """Make each allele's current annotation equal `annotations_by_allele[allele_id]`.

    Returns (created, unchanged) counts."""
    if not annotations_by_allele:
        return 0, 0
    allele_ids = list(annotations_by_allele)
    current = {allele_id: (annotation_id, annotations, cfg) for allele_id, annotation_id,
               annotations, cfg in cur.execute(
                   "SELECT allele_id, id, annotations, annotation_config_id FROM annotation "
                   "WHERE allele_id = ANY(%s) AND date_superceeded IS NULL", (allele_ids,))}
    to_insert, to_supersede, unchanged = [], [], 0
    for allele_id, annotations in annotations_by_allele.items():
        document = normalised_json(annotations)
        existing = current.get(allele_id)
        if existing and existing[2] == config_id and existing[1] == document:
            unchanged += 1
            continue
        previous_id = existing[0] if existing else None
        if previous_id is not None:
            to_supersede.append(previous_id)
        to_insert.append((allele_id, json.dumps(document), previous_id))
    if to_supersede:
        # Before the insert: at most one current annotation per allele (partial unique index).
        cur.execute("UPDATE annotation SET date_superceeded = now() WHERE id = ANY(%s)",
                    (to_supersede,))
    if to_insert:
        try:
            with cur.copy("COPY annotation (allele_id, annotations, previous_annotation_id, "
                          "date_created, annotation_config_id) FROM STDIN") as copy:
                for allele_id, document, previous_id in to_insert:
                    copy.write_row((allele_id, document, previous_id, "now", config_id))
        except psycopg.Error as exc:
            if getattr(exc, "sqlstate", None) == "JSONV":
                first = str(exc).splitlines()[0]
                raise DepositError("an annotation does not match the annotation JSON schema: "
                                   + first[:300]) from exc
            raise
    return len(to_insert), unchanged
