"""Storing alleles and their annotation in bulk (shared by analysis and variant deposits).

Alleles are found by all of their built fields (import.md 2.5) and inserted when new; the
lookup and insert are set-based over a temporary table filled with COPY. Annotation is
versioned (import.md 3.7): a current row with equal JSON and config id is kept, otherwise it
is superseded and the new row links to it. `AnnotationWriter` explains how the JSON is
validated and the shadow tables are filled.
"""

import json
import logging
import math
import re
from typing import NamedTuple, Optional

import psycopg
from psycopg import sql

from ella.alleles import ALLELE_FIELDS
from ella.annotation.converters import AnnotationConfigError, AnnotationConversionError
from ella.db import clock_now
from ella.deposit.shadow_values import shadow_frequency_pairs, shadow_value_problem
from ella.jsonschemas.compiled import SchemaVersions, UnsupportedSchema
from ella.refresh import (frequency_column_differences, frequency_shadow_insert,
                          hold_frequency_columns, transcript_shadow_insert)
from ella.vcf import VcfError

log = logging.getLogger(__name__)


class DepositError(Exception):
    """Bad input or a conflict with the database; the deposit is rolled back."""


# Builds other than GRCh37 that a VCF header may name (##reference, ##contig assembly=...),
# also by the file names of GATK's hg38 bundle (Homo_sapiens_assembly38.fasta, b38).
_OTHER_BUILDS = re.compile(r"(GRCh38|hg38|GRCh36|hg18|NCBI36|NCBI35|hg17|CHM13|T2T|hs38|"
                           r"assembly38|(?<![a-z0-9])b38(?![a-z0-9]))", re.IGNORECASE)
# Or by the length a ##contig line gives a primary chromosome: GRCh37's (= hg19's) are these,
# every other build's differ (GRCh38's chromosome 13 is 114364328 long).
GRCH37_LENGTHS = {
    "1": 249250621, "2": 243199373, "3": 198022430, "4": 191154276, "5": 180915260,
    "6": 171115067, "7": 159138663, "8": 146364022, "9": 141213431, "10": 135534747,
    "11": 135006516, "12": 133851895, "13": 115169878, "14": 107349540, "15": 102531392,
    "16": 90354753, "17": 81195210, "18": 78077248, "19": 59128983, "20": 63025520,
    "21": 48129895, "22": 51304566, "X": 155270560, "Y": 59373566}
# The lengths by the names a VCF may give the chromosomes (`1` as b37, `chr1` as hg19), for
# refusing a record beyond its chromosome's end (VcfReader's contig_lengths).
GRCH37_CONTIG_LENGTHS = {**GRCH37_LENGTHS,
                         **{f"chr{name}": length for name, length in GRCH37_LENGTHS.items()}}
_CONTIG = re.compile(r"^##contig=<(?=.*\bID=(?:chr)?([0-9]{1,2}|X|Y)[,>])"
                     r"(?=.*\blength=(\d+)[,>])", re.IGNORECASE)


def check_genome_build(header, path):
    """ELLA stores GRCh37 coordinates only: refuse a VCF whose header names another build or
    gives a primary chromosome another length than GRCh37's."""
    for line in header.lines:
        problem = None
        if line.startswith(("##reference=", "##assembly=")) or (
                line.startswith("##contig=") and "assembly=" in line):
            match = _OTHER_BUILDS.search(line)
            problem = f"on genome build {match.group(1)}" if match else None
        contig = _CONTIG.match(line) if problem is None else None
        if contig:
            chromosome, length = contig.group(1).upper(), contig.group(2).lstrip("0")
            expected = GRCH37_LENGTHS.get(chromosome)
            # Compared as text: int() refuses a digit string over 4,300 long.
            if expected is not None and length != str(expected):
                problem = (f"not on GRCh37: chromosome {chromosome} is {length[:20] or 0} "
                           f"long, GRCh37's {expected}")
        if problem:
            raise DepositError(f"{path}: the VCF is {problem} ({line[:120]}); only GRCh37 is "
                               "supported")


# Deposits that store variants run one at a time. Two at once could both find a variant's
# annotation or variant workflow missing (or equal) and write it, and the one committing
# second would fail on a unique index: a whole analysis lost to a harmless overlap.
IMPORT_LOCK = "ella.deposit.variants"


def wait_for_other_imports(cur):
    """Take the import lock for this transaction (released at commit or rollback), waiting
    for a running import to finish. Call it first, before the deposit writes anything, so
    that two deposits never hold rows the other one needs."""
    if cur.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s))",
                   (IMPORT_LOCK,)).fetchone()[0]:
        return
    log.warning("another import is writing to this database: waiting for it to finish")
    cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (IMPORT_LOCK,))


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


# The text fields of ELLA's unique allele index, whose entries hold at most 2704 bytes.
_INDEXED_TEXT = ("chromosome", "change_from", "change_to", "vcf_ref", "vcf_alt")
# The allele's other fields and the headers take some 60 bytes of an index entry, and
# PostgreSQL compresses a long entry before refusing it: only an allele of more indexed text
# than this can be too long (a long repeat may fit where a shorter random insertion does not).
_INDEX_TEXT_MAY_EXCEED = 2600


def store_alleles(cur, rows, places=None):
    """Allele ids for `rows` (dicts with ALLELE_FIELDS), inserting the missing ones.
    `places`, the (file, line) of each row's VCF record, name an allele the database cannot
    store.

    Returns (ids in row order, number of newly created alleles)."""
    if not rows:
        return [], 0
    _ensure_allele_stage(cur)
    columns = ("idx",) + ALLELE_FIELDS
    with cur.copy(f"COPY deposit_allele_stage ({', '.join(columns)}) FROM STDIN") as copy:
        for idx, row in enumerate(rows):
            copy.write_row((idx,) + tuple(row[f] for f in ALLELE_FIELDS))
    field_list = ", ".join(ALLELE_FIELDS)
    join = " AND ".join(f"a.{f} = s.{f}" for f in ALLELE_FIELDS)
    # Only the alleles not stored yet are offered: an INSERT draws an id from allele_id_seq
    # for every row it tries, also one ON CONFLICT skips, and ELLA's ids are 32-bit: every
    # re-import of stored variants used up as many ids as it had variants.
    # ON CONFLICT: a concurrent deposit of the same allele waits for, then reuses, the other.
    try:
        created = cur.execute(f"""
            INSERT INTO allele ({field_list})
            SELECT DISTINCT {field_list} FROM deposit_allele_stage s
            WHERE NOT EXISTS (SELECT FROM allele a WHERE {join})
            ON CONFLICT ON CONSTRAINT "ucAllele" DO NOTHING
            RETURNING id""").fetchall()
    except psycopg.errors.ProgramLimitExceeded as exc:
        raise _too_long_for_the_index(rows, places, str(exc).splitlines()[0]) from None
    found = dict(cur.execute(
        f"SELECT s.idx, a.id FROM deposit_allele_stage s JOIN allele a ON {join}").fetchall())
    missing = [i for i in range(len(rows)) if i not in found]
    if missing:
        row = rows[missing[0]]
        raise DepositError(f"allele {row['chromosome']}:{row['vcf_pos']} "
                           f"{row['vcf_ref']}>{row['vcf_alt']} could not be stored (an allele "
                           "with the same key but another genome reference exists)")
    return [found[i] for i in range(len(rows))], len(created)


def _too_long_for_the_index(rows, places, reason):
    """The error for a batch ELLA's allele index refused (the transaction is aborted, so the
    entry cannot be tried alone): the allele long enough to be it, with its file and line,
    or, when several are, each of them."""
    def text_length(i):
        return sum(len(rows[i][f]) for f in _INDEXED_TEXT)

    def described(i):
        row = rows[i]
        return (f"allele {row['chromosome'][:40]}:{row['vcf_pos']} (REF {len(row['vcf_ref'])} "
                f"bases, ALT {len(row['vcf_alt'])} bases)")

    suspects = [i for i in range(len(rows)) if text_length(i) > _INDEX_TEXT_MAY_EXCEED] or \
        [max(range(len(rows)), key=text_length)]
    if len(suspects) == 1:
        message = f"{described(suspects[0])} is too long for ELLA's allele index: {reason}"
        return VcfError(message, *places[suspects[0]]) if places else DepositError(message)
    listed = "; ".join((f"{places[i][0]}, line {places[i][1]}: " if places else "")
                       + described(i) for i in suspects[:5])
    more = f"; and {len(suspects) - 5} more" if len(suspects) > 5 else ""
    return DepositError(f"one of these alleles is too long for ELLA's allele index ({reason}; "
                        f"the index compresses each entry first): {listed}{more}")


class PreparedAnnotation(NamedTuple):
    text: str  # the annotation JSON as text
    version: Optional[int]  # the annotation schema version it matches; None: not checked here


def _non_finite_path(doc, path=""):
    """Dot path of the first NaN/Infinity in `doc` (for the error message)."""
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) \
        if isinstance(doc, (list, tuple)) else ()
    for key, value in items:
        where = f"{path}.{key}" if path else str(key)
        if isinstance(value, float) and not math.isfinite(value):
            return where
        found = _non_finite_path(value, where)
        if found:
            return found
    return None


def _unstorable_text_path(doc, path=""):
    """Dot path of the first key or string in `doc` with a NUL or a surrogate code point (in
    a Python string only an unpaired one), which PostgreSQL's jsonb cannot hold."""
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) \
        if isinstance(doc, (list, tuple)) else ()
    for key, value in items:
        where = f"{path}.{key}" if path else str(key)
        if isinstance(key, str) and UNSTORABLE_TEXT.search(key):
            return where
        if isinstance(value, str) and UNSTORABLE_TEXT.search(value):
            return where
        found = _unstorable_text_path(value, where)
        if found:
            return found
    return None


# What PostgreSQL text and jsonb cannot hold: NUL, and a surrogate code point (in a Python
# string always an unpaired one, decoded from JSON's \ud800).
UNSTORABLE_TEXT = re.compile("[\x00\ud800-\udfff]")


def _unchanged(stored, new):
    return stored == new and same_json(stored, new)  # == first: quick for a changed one


def same_json(a, b):
    """JSON equality as jsonb has it: numbers by value (1 = 1.0), but `true` is no 1 (Python's
    == says True == 1, and a re-import turning 1 into true kept the old annotation)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() \
            and all(same_json(value, b[key]) for key, value in a.items())
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) \
            and all(same_json(x, y) for x, y in zip(a, b))
    return a == b and not isinstance(b, (dict, list, tuple))


class AnnotationWriter:
    """Stores annotations for one deposit (import.md 3.7), choosing how once.

    Bulk path (the normal case): the documents are validated here with the Python twin of the
    database's JSON-schema validator (ella/jsonschemas/compiled.py) and the shadow rows are
    written set-based after each COPY; the transaction tells the annotation triggers so with
    `ella.bulk_annotation = 'on'` (sql/triggers/). This avoids 2-4 ms of PL/pgSQL per row.
    Trigger path: when the stored annotation schemas cannot be compiled exactly, when the
    shadow table's columns differ from the configuration (`ella-db refresh` fixes that), or
    for a batch with a document the validator refuses (the database then reports it as
    always). The rows written are the same either way.
    """

    def __init__(self, cur, app_config, config_id):
        self.cur = cur
        self.app_config = app_config
        self.config_id = config_id
        self.schemas = None
        # No refresh may change the shadow table's columns until this deposit commits: one
        # committing after the check below left the bulk path writing the old columns (a
        # new column NULL in every row of the deposit, which `compare` called fine). Taken
        # before the deposit writes `allele`, which a refresh locks after this lock.
        hold_frequency_columns(cur.connection)
        # The values the shadow rows will cast: those of the live table's columns (the
        # config's differ from them exactly when the triggers write the rows) on this server.
        self.frequency_pairs = shadow_frequency_pairs(cur.connection)
        self.server_version = cur.connection.info.server_version
        self.trigger_path_reason = self._bulk_path_refusal()
        if self.trigger_path_reason:
            log.warning("annotations are validated row by row in the database: %s",
                        self.trigger_path_reason)

    def _bulk_path_refusal(self):
        versions = self.cur.execute(
            "SELECT version, schema FROM jsonschema WHERE name = 'annotation'").fetchall()
        if not versions:
            return "the jsonschema table has no 'annotation' schema"
        try:
            self.schemas = SchemaVersions(versions)
        except UnsupportedSchema as exc:
            return f"an annotation schema cannot be checked outside the database ({exc})"
        differences = frequency_column_differences(self.cur.connection, self.app_config)
        if differences:
            return ("annotationshadowfrequency does not match the configured frequency groups "
                    f"({'; '.join(differences)}); run `ella-db refresh`")
        return None

    def prepare(self, annotator, record):
        """The annotation of one VCF record as a `PreparedAnnotation`: converted, dumped and
        checked against the schema. Uses no database, so a deposit can prepare one batch
        while the previous one is being written. Errors name the record's file and line."""
        try:
            doc = annotator.annotate(record)
        except (AnnotationConversionError, AnnotationConfigError) as exc:
            raise record.error(str(exc)) from None
        try:
            text = json.dumps(doc, allow_nan=False)
        except ValueError:
            raise record.error(f"annotation value {_non_finite_path(doc)} is not a finite "
                               "number (NaN or Infinity), which JSON cannot store") from None
        if ("\\u0000" in text or "\\ud" in text) and _unstorable_text_path(doc):
            # A NUL or a lone surrogate (from JSON a converter decoded, e.g. CLINVARJSON):
            # PostgreSQL's jsonb refuses both, and its error named no line.
            raise record.error(f"annotation value {_unstorable_text_path(doc)} has a NUL "
                               "character or an unpaired surrogate, which PostgreSQL cannot "
                               "store")
        problem = shadow_value_problem(doc, self.frequency_pairs, self.server_version)
        if problem:
            raise record.error(f"annotation value {problem}")
        if self.trigger_path_reason:
            return PreparedAnnotation(text, None)
        # The converters build documents of JSON types only (string keys; tuples are arrays)
        # and the text has no NaN/Infinity, so checking `doc` is checking the stored text.
        version = self.schemas.version_of(doc)
        if version is None:
            # The database would refuse it too, without the line (and its reason cut short).
            raise record.error("the annotation does not match the annotation JSON schema: "
                               + self.schemas.problem(doc))
        return PreparedAnnotation(text, version)

    def store(self, prepared_by_allele):
        """Make each allele's current annotation the one prepared for it
        (`prepared_by_allele[allele_id]`, from `prepare`).

        Returns (created, unchanged) counts."""
        if not prepared_by_allele:
            return 0, 0
        cur = self.cur
        allele_ids = list(prepared_by_allele)
        current = {allele_id: (annotation_id, annotations, cfg) for allele_id, annotation_id,
                   annotations, cfg in cur.execute(
                       "SELECT allele_id, id, annotations, annotation_config_id FROM annotation "
                       "WHERE allele_id = ANY(%s) AND date_superceeded IS NULL", (allele_ids,))}
        to_insert, to_supersede, unchanged = [], [], 0
        for allele_id, prepared in prepared_by_allele.items():
            existing = current.get(allele_id)
            # Compared as stored (tuples are lists there).
            if existing and existing[2] == self.config_id \
                    and _unchanged(existing[1], json.loads(prepared.text)):
                unchanged += 1
                continue
            previous_id = existing[0] if existing else None
            if previous_id is not None:
                to_supersede.append(previous_id)
            to_insert.append((allele_id, prepared, previous_id))
        if not to_insert:
            return 0, unchanged
        if any(prepared.version is None for _, prepared, _ in to_insert):
            self._insert(to_supersede, to_insert, use_versions=False)
        else:
            cur.execute("SELECT set_config('ella.bulk_annotation', 'on', true)")
            self._insert(to_supersede, to_insert, use_versions=True)
            self._replace_shadow_rows([allele_id for allele_id, _, _ in to_insert])
            cur.execute("SELECT set_config('ella.bulk_annotation', 'off', true)")
        return len(to_insert), unchanged

    def _insert(self, to_supersede, to_insert, use_versions):
        cur = self.cur
        if to_supersede:
            # Locked before the time is taken: a finalize-allele that names one of them
            # share-locks it until it commits, and its assessment is dated before this
            # supersedes the annotation (an UPDATE's values are taken before it waits).
            # NO KEY UPDATE, as the UPDATE itself: a round's snapshots only key-share-lock
            # the rows they name, and FOR UPDATE made them deadlock with this.
            cur.execute("SELECT id FROM annotation WHERE id = ANY(%s) ORDER BY id "
                        "FOR NO KEY UPDATE", (to_supersede,))
        # Under the import lock, so after any annotation another deposit committed: the
        # transaction's start (`now()`) could be earlier than such a row's creation.
        now = clock_now(cur)
        if to_supersede:
            # Before the insert: at most one current annotation per allele (partial unique
            # index).
            cur.execute("UPDATE annotation SET date_superceeded = %s WHERE id = ANY(%s)",
                        (now, to_supersede))
        try:
            with cur.copy("COPY annotation (allele_id, annotations, previous_annotation_id, "
                          "date_created, annotation_config_id, schema_version) "
                          "FROM STDIN") as copy:
                for allele_id, prepared, previous_id in to_insert:
                    copy.write_row((allele_id, prepared.text, previous_id, now,
                                    self.config_id, prepared.version if use_versions else None))
        except psycopg.Error as exc:
            if getattr(exc, "sqlstate", None) == "JSONV":
                first = str(exc).splitlines()[0]
                raise DepositError("an annotation does not match the annotation JSON schema: "
                                   + first[:300]) from exc
            raise

    def _replace_shadow_rows(self, allele_ids):
        """What the shadow trigger does per row, for the whole batch: the alleles' old shadow
        rows go, the rows of their (new) current annotation come in."""
        cur = self.cur
        cur.execute("DELETE FROM annotationshadowtranscript WHERE allele_id = ANY(%s)",
                    (allele_ids,))
        cur.execute("DELETE FROM annotationshadowfrequency WHERE allele_id = ANY(%s)",
                    (allele_ids,))
        where = sql.SQL("a.allele_id = ANY(%s) AND a.date_superceeded IS NULL")
        cur.execute(transcript_shadow_insert("annotationshadowtranscript", where), (allele_ids,))
        cur.execute(frequency_shadow_insert(self.app_config, "annotationshadowfrequency", where),
                    (allele_ids,))
