"""Analysis deposit (import.md 1.8, 2.6-2.9): one analysis, its samples, the proband's
alleles with annotation, genotypes and per-sample genotype data, and the first
interpretation round.

`deposit_analysis` does its work on the caller's connection without committing, so the
caller decides the transaction (the CLI commits at the end; the watcher moves the folder
first and then commits). Any error leaves nothing behind once the caller rolls back.
Records are streamed from the VCF and written in batches with COPY; a batch is written in a
background thread while the next one is converted (pipeline.py).
"""

import re
import time
from pathlib import Path
from typing import NamedTuple

import psycopg
from psycopg.types.json import Jsonb

from ella.alleles import (allele_from_record, bare_chromosome, block_genotype, iter_blocks,
                          variant_records)
from ella.annotation.converters import AnnotationConfigError, Annotator
from ella.config import feature_is_enabled
from ella.data_warnings import UNCALLED_LOSS, collecting
from ella.db import clock_now
from ella.deposit.analysis_config import AnalysisConfigError, new_name_problem, read_ped
from ella.deposit.postprocess import check_postprocessors, run_postprocessors
from ella.deposit.pipeline import WritePipeline
from ella.deposit.prefilter import NEARBY_BP, PrefilterError, check_prefilters, prefiltered
from ella.deposit.variants import (GRCH37_CONTIG_LENGTHS, AnnotationWriter, DepositError,
                                   active_annotation_config, check_genome_build, store_alleles,
                                   wait_for_other_imports)
from ella.text import repeats_a_repetition, same_text_other_form
from ella.vcf import VcfError, open_vcf

BATCH_SIZE = 2000


class GenepanelNotAvailable(DepositError):
    """The analysis' gene panel is not in the database (yet): a pipeline may deliver the
    analysis before an administrator deposits its panel."""

    def __init__(self, name, version):
        super().__init__(f"Genepanel {name} version {version} not available in varDB")
        self.genepanel = (name, version)


def check_genepanel(cur, name, version):
    if not cur.execute("SELECT 1 FROM genepanel WHERE name = %s AND version = %s",
                       (name, version)).fetchone():
        raise GenepanelNotAvailable(name, version)


def check_deposit_entries(config, where, stored=False):
    """A user group's `config.deposit.analysis` (import.md 1.9): a list of objects with a
    regex `pattern` and optional `prefilters` and `postprocess` names. Raises DepositError
    naming the entry; `ella-users add_groups` checks this so that a bad entry cannot block
    every later import of the group's panels. `stored`: a config read at a deposit (one
    post-processor named twice is run once there; keys no deposit reads are passed over, as
    an adopted ELLA database holds them). Returns warnings for the operator."""
    notes = []
    deposit = config.get("deposit") if isinstance(config, dict) else None
    if deposit is None:
        return notes
    if not isinstance(deposit, dict):
        raise DepositError(f"{where}: config.deposit must be an object")
    unknown = sorted(set(deposit) - {"analysis"})
    if unknown and not stored:
        raise DepositError(f"{where}: config.deposit has no key {unknown[0]!r} (only "
                           "'analysis', a list of entries)")
    entries = deposit.get("analysis")
    if entries is None:
        return notes
    if not isinstance(entries, list):
        raise DepositError(f"{where}: config.deposit.analysis must be a list")
    for index, entry in enumerate(entries):
        label = f"{where}: config.deposit.analysis[{index}]"
        pattern = entry.get("pattern") if isinstance(entry, dict) else None
        if not isinstance(pattern, str):
            raise DepositError(f"{label} must be an object with a 'pattern' (a regex)")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise DepositError(f"{label}: pattern {pattern!r} is not a valid regex "
                               f"({exc})") from None
        if repeats_a_repetition(pattern):
            # Matched against every analysis name of the group's panels: `(a+)+$` on a name
            # of forty a's and a b ran for hours, and held the watcher with it.
            raise DepositError(f"{label}: pattern {pattern!r} repeats a repetition (as in "
                               "`(a+)+`), which can take hours to match a name: write it "
                               "without")
        if not stored:
            notes += _unread_entry_keys(entry, label)
        try:
            check_prefilters(entry.get("prefilters") or [], label)
        except PrefilterError as exc:
            raise DepositError(str(exc)) from None
        check_postprocessors(entry.get("postprocess") or [], label, stored)
    return notes


DEPOSIT_ENTRY_KEYS = ("pattern", "prefilters", "postprocess")


def _unread_entry_keys(entry, label):
    """Keys of an entry that no deposit reads: a misspelt `postproces` meant every matching
    analysis went without its post-processing, unsaid. Refused; ELLA's own shape
    `"prefilter": true` (the name in its documentation, read by its code neither) only gets
    a warning, so the group files of an ELLA site load as they are."""
    notes = []
    for key in sorted(set(entry) - set(DEPOSIT_ENTRY_KEYS)):
        if key == "prefilter" and isinstance(entry[key], bool):
            notes.append(f"{label}: 'prefilter' is not read (neither by ELLA): this entry "
                         "prefilters nothing; prefilter sets are given as 'prefilters', a "
                         "list of lists of criteria")
            continue
        hint = (" (prefilter sets are 'prefilters', a list of lists of criteria)"
                if key == "prefilter" else "")
        raise DepositError(f"{label}: unknown key {key!r}{hint}; an entry has "
                           f"{', '.join(repr(k) for k in DEPOSIT_ENTRY_KEYS)}")
    return notes


def deposit_config_for(cur, analysis_name, panel_name, panel_version):
    """(user group id, group name, entry) of the one matching entry of the user groups'
    `config.deposit.analysis` lists, or None.

    Only groups with access to the analysis' gene panel are considered (import.md 1.9).
    Prefilter and post-processor names are checked here, before anything is written."""
    matches = []
    rows = cur.execute(
        "SELECT DISTINCT ug.id, ug.name, ug.config FROM usergroup ug "
        "JOIN usergroupgenepanel ugp ON ugp.usergroup_id = ug.id "
        "WHERE ugp.genepanel_name = %s AND ugp.genepanel_version = %s ORDER BY ug.name",
        (panel_name, panel_version)).fetchall()
    for group_id, group, config in rows:
        # The rules `ella-users add_groups` applies; a group stored otherwise (an adopted
        # database, a manual edit) gets a message naming it instead of a crash.
        check_deposit_entries(config or {}, f"user group {group!r}", stored=True)
        entries = (((config or {}).get("deposit") or {}).get("analysis")) or []
        for entry in entries:
            if re.search(entry["pattern"], analysis_name):
                matches.append((group_id, group, entry))
    if len(matches) > 1:
        raise DepositError(f"analysis {analysis_name}: more than one user-group deposit config "
                           "matches: " + ", ".join(f"{g} ({e['pattern']!r})"
                                                   for _, g, e in matches))
    if not matches:
        return None
    group_id, group, entry = matches[0]
    try:
        check_prefilters(entry.get("prefilters") or [], f"user group {group!r}")
    except PrefilterError as exc:
        raise DepositError(str(exc)) from None
    check_postprocessors(entry.get("postprocess") or [], f"user group {group!r}", stored=True)
    return group_id, group, entry


# --- samples -------------------------------------------------------------------------------

def sample_rows(vcf_samples, ped_path, vcf_path):
    """The VCF's people as its .ped (or, for a single sample, the absence of one) says:
    (rows in VCF column order: sample, family_id, father, mother, sex ('Male', 'Female' or
    None), affected, proband; the proband's index). Raises DepositError for a family the
    segregation filter cannot take."""
    if not vcf_samples:
        raise DepositError(f"{vcf_path}: the VCF has no sample columns")
    if ped_path:
        ped = {row["sample"]: row for row in read_ped(ped_path)}
        missing = [s for s in vcf_samples if s not in ped]
        if missing:
            raise DepositError(f"{ped_path}: sample(s) {', '.join(missing)} of the VCF are not "
                               "in the .ped file")
        rows = [ped[s] for s in vcf_samples]
    elif len(vcf_samples) > 1:
        raise DepositError(f"{vcf_path}: .ped file required when importing multiple samples")
    else:
        rows = [{"sample": vcf_samples[0], "family_id": None, "father": None, "mother": None,
                 "sex": None, "affected": True, "proband": True}]
    probands = [i for i, r in enumerate(rows) if r["proband"]]
    if len(probands) != 1:
        raise DepositError(f"{ped_path or vcf_path}: exactly one proband is needed, found "
                           f"{len(probands)}")
    families = {r["family_id"] for r in rows}
    if len(families) != 1:
        raise DepositError(f"{ped_path}: all samples must have one family id, found "
                           f"{', '.join(sorted(str(f) for f in families))}")
    for role in ("father", "mother"):
        named = {}
        for r in rows:
            if r[role]:
                named.setdefault(r[role], r["line"])
        if len(named) > 1:
            raise DepositError(f"{ped_path}: at most one father and one mother per analysis; "
                               f"{role}s " + ", ".join(f"{parent} (line {line})"
                                                       for parent, line in named.items()))
    proband = rows[probands[0]]
    if _is_trio(rows, probands[0]) and not proband["affected"]:
        # A trio's segregation filters need an affected proband (filtering.md 2.8):
        # imported, the analysis' own trio filter config could never run.
        raise DepositError(f"{ped_path}, line {proband['line']}: the proband "
                           f"{proband['sample']} of a trio is not marked affected (phenotype "
                           "2); the segregation filters need an affected proband")
    # A parent the .ped names without a column in this VCF (not sequenced: a duo, siblings
    # whose parents were not; or the proband's own CNV calls delivered with the family's
    # .ped) is no sample of it: the link stays empty (import.md 2.6: .ped rows of other
    # samples are ignored). Refused, such families could not be imported at all.
    return rows, probands[0]


def _is_trio(rows, proband_index):
    names = {r["sample"] for r in rows}
    proband = rows[proband_index]
    return proband["father"] in names and proband["mother"] in names


def create_samples(cur, analysis_id, rows, proband_index, ped_path, technology,
                   vcf_path, analysis_samples=()):
    """Insert the samples of `sample_rows`; returns their ids in VCF column order.
    `analysis_samples`: the names of every VCF of the analysis (a parent in another one, a
    family split over files, is no missing parent)."""
    proband = rows[proband_index]
    trio = _is_trio(rows, proband_index)
    now = clock_now(cur)
    ids = []
    for r in rows:
        ids.append(cur.execute(
            "INSERT INTO sample (identifier, analysis_id, sample_type, date_deposited, affected, "
            "family_id, proband, sex) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (r["sample"], analysis_id, technology, now, r["affected"], r["family_id"],
             r["proband"], r["sex"])).fetchone()[0])
    by_name = {r["sample"]: sample_id for r, sample_id in zip(rows, ids)}
    for r, sample_id in zip(rows, ids):
        if r["father"] or r["mother"]:
            cur.execute("UPDATE sample SET father_id = %s, mother_id = %s WHERE id = %s",
                        (by_name.get(r["father"]), by_name.get(r["mother"]), sample_id))
    any_parents = any(r["father"] or r["mother"] for r in rows)
    for r, sample_id in zip(rows, ids):
        if r["proband"]:
            continue
        sibling = (not any_parents) or (
            r["father"] == proband["father"] and r["mother"] == proband["mother"]
            and (r["father"] or r["mother"]))
        if sibling:
            cur.execute("UPDATE sample SET sibling_id = %s WHERE id = %s",
                        (ids[proband_index], sample_id))
    for r in rows:
        for role in ("father", "mother"):
            if r[role] and r[role] not in by_name and r[role] not in analysis_samples:
                # Not sequenced (a duo), or a typo the deposit cannot tell from one: the
                # interpreters are told (a trio whose father's name was mistyped became a duo
                # without its segregation filters, unsaid).
                _add_warning(cur, analysis_id, UNSEQUENCED_PARENT_WARNING.format(
                    ped=Path(ped_path).name, parent=r[role], role=role, sample=r["sample"],
                    vcf=Path(vcf_path).name,
                    trio=" (not a trio for the segregation filters)" if r["proband"] else ""))
    if trio and proband["sex"] is None:
        # ELLA imports it, and its de novo rules on X are a male's and a female's only
        # (filtering.md 2.8): the interpreters are told on the analysis' page.
        _add_warning(cur, analysis_id, UNKNOWN_PROBAND_SEX_WARNING.format(
            sample=proband["sample"], ped=Path(ped_path).name))
    affected_parents = [r for r in rows if r["affected"]
                        and r["sample"] in (proband["father"], proband["mother"])]
    if trio and affected_parents:
        # filtering.md 2.8 reads no parent's phenotype: its rules assume healthy parents, so
        # a variant inherited from an affected one (a dominant disease) is removed.
        names = " and ".join(r["sample"] for r in affected_parents)
        _add_warning(cur, analysis_id, AFFECTED_PARENT_WARNING.format(
            who=f"parent {names} is" if len(affected_parents) == 1 else f"parents {names} are",
            ped=Path(ped_path).name))
    return ids


def _stored_people(cur, analysis_id):
    """The people of an analysis' stored samples (an append adds a VCF to them), keyed as
    `_check_people_across_vcfs` keeps them."""
    people = {}
    for identifier, sex, family_id, affected, proband, father, mother in cur.execute(
            "SELECT s.identifier, s.sex::text, s.family_id, s.affected, s.proband, "
            "f.identifier, m.identifier FROM sample s LEFT JOIN sample f ON f.id = s.father_id "
            "LEFT JOIN sample m ON m.id = s.mother_id WHERE s.analysis_id = %s ORDER BY s.id",
            (analysis_id,)).fetchall():
        _remember(people, {"sample": identifier, "sex": sex, "family_id": family_id,
                           "father": father, "mother": mother, "proband": proband,
                           "affected": affected},
                  "the analysis' samples", phenotype_given=family_id is not None)
    return people


PERSON_KEYS = (("sex", "sex"), ("family_id", "family"), ("father", "father"),
               ("mother", "mother"))
ONE_PERSON = "one identifier is one person in every VCF of an analysis"


def _remember(people, r, where, phenotype_given):
    """Merge one sample row into `people` ({identifier: {key: (value, where)}, roles});
    raises DepositError where it contradicts what another file said. A VCF without .ped
    says nothing of the phenotype (`phenotype_given` false)."""
    person = people.setdefault(r["sample"], {"roles": {}})
    for key, what in PERSON_KEYS + ((("affected", "affected"),) if phenotype_given else ()):
        value = r[key]
        if value is None:
            continue
        if key in person and person[key][0] != value:
            if key == "affected":
                raise DepositError(
                    f"{where}: sample {r['sample']} is {'' if value else 'not '}affected, "
                    f"but {'' if person[key][0] else 'not '}affected in {person[key][1]}: "
                    f"{ONE_PERSON}")
            raise DepositError(f"{where}: sample {r['sample']} has {what} {value!r}, but "
                               f"{person[key][0]!r} in {person[key][1]}: {ONE_PERSON}")
        person.setdefault(key, (value, where))
    person["roles"].setdefault("proband" if r["proband"] else "relative", where)
    if len(person["roles"]) > 1:
        raise DepositError(f"{where}: sample {r['sample']} is the proband in "
                           f"{person['roles']['proband']} but a relative in "
                           f"{person['roles']['relative']}: {ONE_PERSON}")


def _check_people_across_vcfs(people, rows, item):
    """An analysis of several VCFs has one sample row per person per VCF (import.md 2.6);
    one identifier is one person (the segregation filter, the IGV track): the files must
    agree on who is who. Two probands or two families made every variant list of the
    analysis' own trio filter config a 400; a sex or phenotype given two ways made the
    X-linked and segregation rules depend on the file a variant came in. A VCF without
    .ped says nothing about sex, family or phenotype."""
    where = item.get("ped") or item["vcf"]
    for r in rows:
        _remember(people, r, where, phenotype_given=bool(item.get("ped")))
    families = {p["family_id"][0] for p in people.values() if "family_id" in p}
    if len(families) > 1:
        raise DepositError(f"{where}: family {', '.join(sorted(map(str, families)))}: the VCFs "
                           "of an analysis hold one family (the segregation filter takes one)")
    probands = sorted(name for name, p in people.items()
                      if "proband" in p["roles"] and "family_id" in p)
    if len(probands) > 1:
        raise DepositError(f"{where}: the probands {', '.join(probands)} of one family in "
                           "several VCFs must be one person with one identifier (the "
                           "segregation filter takes one affected proband)")


def _fill_in_sexes(people, families):
    """A sample of unknown sex (.ped sex 0, or a VCF without .ped) whose sex another file of
    the analysis gives (or a stored sample an append adds to) takes it: the X-linked rules
    of the segregation filter and a CNV's type without GT read it (they called nothing on
    chromosome X for that file). Stored samples keep theirs: their CNV calls were typed
    with it."""
    known = {name: p["sex"][0] for name, p in people.items() if "sex" in p}
    for rows, _ in families:
        for r in rows:
            if r["sex"] is None and r["sample"] in known:
                r["sex"] = known[r["sample"]]


def _check_parents_sexes(people, families, items):
    """A father female or a mother male by the sex another file of the analysis gives (each
    .ped alone is checked as it is read): one such parent's CNV calls on X without GT would be
    typed as the other sex's."""
    for item, (rows, _) in zip(items, families):
        for r in rows:
            for role, wrong in (("father", "Female"), ("mother", "Male")):
                sex, where = people.get(r[role], {}).get("sex", (None, None))
                if r[role] and sex == wrong:
                    raise DepositError(
                        f"{item.get('ped') or item['vcf']}: {r[role]} is the {role} of "
                        f"{r['sample']} but has sex {wrong.lower()} in {where}: {ONE_PERSON}")


def _add_warning(cur, analysis_id, warning):
    """`warning` on a line of its own after the analysis' warnings (the lab's text kept as it
    is); once, also for an analysis of several VCFs of the family."""
    cur.execute("UPDATE analysis SET warnings = CASE WHEN coalesce(warnings, '') = '' "
                "THEN %(w)s WHEN right(warnings, 1) = %(nl)s THEN warnings || %(w)s "
                "ELSE warnings || %(nl)s || %(w)s END "
                "WHERE id = %(id)s AND strpos(coalesce(warnings, ''), %(w)s) = 0",
                {"w": warning, "nl": "\n", "id": analysis_id})


UNKNOWN_PROBAND_SEX_WARNING = (
    "The sex of the proband {sample} is unknown ({ped}): the segregation filter calls no "
    "variant on chromosome X outside the pseudoautosomal regions de novo, and removes one "
    "(heterozygous or homozygous) whose parents are both homozygous reference. Check "
    "chromosome X without the segregation filter.")
UNCALLED_LOSSES_WARNING = (
    "{count} CNV deletion(s) the proband has without GT (CN below normal) not imported: only "
    "duplications count as present without a GT (import.md 2.7). See {where}.")


def _without_folder(where):
    """'<path>, line N' as '<file name>, line N' (the analysis folder is the lab's)."""
    path, _, line = where.rpartition(", line ")
    return f"{Path(path).name}, line {line}" if path else where


# A VCF of GRCh37 named the UCSC way (hg19) is stored as written (import.md 2.1), while gene
# panels name chromosomes without `chr` (a panel file with `chr` is refused): the region
# filter (filtering.md 2.2) finds no panel transcript at any of its variants' positions.
UCSC_NAMES_WARNING = (
    "A VCF of this analysis names chromosomes with 'chr' (chr1), the gene panels without it: "
    "the region filter finds no panel transcript at its variants' positions and keeps only "
    "those whose HGVSc puts them in a panel transcript's exons or splice regions (a variant "
    "without such an HGVSc, a structural one for example, is removed). Check the analysis "
    "without the region filter, or import the VCF again with its chromosomes renamed (e.g. "
    "bcftools annotate --rename-chrs).")
UNSEQUENCED_PARENT_WARNING = (
    "The .ped ({ped}) names {parent} as the {role} of {sample}, but the VCF ({vcf}) has no "
    "sample {parent}: imported without that link{trio}. If {parent} is a typo of a sample "
    "of the VCF, correct the .ped and import the analysis again.")
AFFECTED_PARENT_WARNING = (
    "The proband's {who} marked affected ({ped}): the segregation filter "
    "assumes healthy parents and removes a variant inherited from an affected one (a "
    "dominant disease). Check without the segregation filter.")


# --- records ---------------------------------------------------------------------------------

# A batch is cut (once it holds BATCH_SIZE blocks) only where the next block starts on
# another chromosome or this far past every position of the batch on its own: the
# prefilter looks for "nearby" records (NEARBY_BP) within a batch. Wider than NEARBY_BP, as
# the records of a decomposed block need not be in position order (trimming a REF moves a
# record right), so a later block can start before an earlier block's last record. A batch
# that reaches BATCH_SIZE * 4 blocks without such a gap is cut at the next gap over
# NEARBY_BP (a WGS has a gap over 1 kb every few variants).
BATCH_GAP_BP = 1000


def _batches(blocks, size):
    """Lists of blocks, cut as BATCH_GAP_BP says."""
    batch, ends = [], {}  # ends: chromosome -> the largest POS of the batch's records on it
    for block in blocks:
        if len(batch) >= size:
            end = ends.get(block[0].chrom)
            gap = BATCH_GAP_BP if len(batch) < size * 4 else NEARBY_BP
            if end is None or min(r.pos for r in block) - end > gap:
                yield batch
                batch, ends = [], {}
        batch.append(block)
        for r in block:
            if r.pos > ends.get(r.chrom, 0):
                ends[r.chrom] = r.pos
    if batch:
        yield batch


class _PreparedBatch(NamedTuple):
    genotypes: list  # BlockGenotype per kept block
    records: list  # their records, in file order
    alleles: list  # allele row per record
    annotations: list  # PreparedAnnotation per record


class _VcfImport:
    """Writes one VCF's proband variants: alleles, annotation, genotypes.

    `prepare` (Python work, and the prefilter's read) runs in the caller's thread, `write`
    (everything the batch stores) in the WritePipeline's thread."""

    def __init__(self, cur, app_config, sample_ids, proband_index, sexes, annotator,
                 config_id, prefilters, stats):
        self.cur = cur
        self.read_cur = cur.connection.cursor()  # the caller's thread's own cursor
        self.cnv = feature_is_enabled(app_config, "cnv")
        self.sample_ids = sample_ids
        self.proband_index = proband_index
        self.sexes = sexes
        self.annotator = annotator
        self.writer = AnnotationWriter(cur, app_config, config_id)
        self.prefilters = prefilters
        self.checks_nearby = any("position_not_nearby" in c for c in prefilters)
        self.earlier_ends = {}  # chromosome -> the largest proband POS of earlier batches
        self.stats = stats
        self.genotype_seq = cur.execute(
            "SELECT pg_get_serial_sequence('genotype', 'id')").fetchone()[0]
        self.line_of_variant = {}  # (chrom, pos, ref, alt[, end, length]) -> line
        self.ucsc_names = False  # a proband variant's chromosome is named `chr...`

    def prepare(self, blocks):
        """The batch converted, or None when nothing of it is to be stored."""
        genotypes = [bg for bg in (block_genotype(b, self.proband_index, self.sexes)
                                   for b in blocks) if bg]
        if self.prefilters:
            proband_records = [r for bg in genotypes for r in (bg.record, bg.secondrecord) if r]
            if self.checks_nearby:
                self._refuse_unsorted(proband_records)
            drop = prefiltered(self.read_cur, self.prefilters, proband_records,
                               self.proband_index)
            kept = [bg for bg in genotypes
                    if not all(id(r) in drop for r in (bg.record, bg.secondrecord) if r)]
            self.stats["prefiltered"] += len(genotypes) - len(kept)
            genotypes = kept
        if not genotypes:
            return None
        records = [r for bg in genotypes for r in (bg.record, bg.secondrecord) if r]
        if not self.ucsc_names:
            self.ucsc_names = any(bare_chromosome(r.chrom) != r.chrom for r in records)
        alleles = [allele_from_record(r, self.cnv) for r in records]
        self._refuse_repeats(records, alleles)
        batch = _PreparedBatch(genotypes, records, alleles,
                               [self.writer.prepare(self.annotator, r) for r in records])
        for r in records:
            r.forget_info()  # the batch may wait in the pipeline; its INFO is not needed again
        return batch

    def _refuse_unsorted(self, records):
        """`position_not_nearby` looks for neighbours within a batch, which holds all of
        them in a VCF sorted by position (`_batches`). A record back within NEARBY_BP of an
        earlier batch's positions could be one whose neighbour was dropped for want of it:
        refused, as the lab can sort the file."""
        ends = self.earlier_ends
        for r in records:
            end = ends.get(r.chrom)
            if end is not None and r.pos <= end + NEARBY_BP:
                raise r.error(f"{r.chrom}:{r.pos} comes after {r.chrom}:{end} earlier in the "
                              "file: the VCF is not sorted by position, which the deposit "
                              "config's prefilter position_not_nearby needs (a variant could "
                              "be dropped whose neighbour is elsewhere in the file); sort it, "
                              "e.g. with bcftools sort")
        for r in records:
            if r.pos > ends.get(r.chrom, 0):
                ends[r.chrom] = r.pos

    def _refuse_repeats(self, records, alleles):
        """The same variant twice in one VCF would give the sample two genotypes of it."""
        seen = self.line_of_variant
        for r, allele in zip(records, alleles):
            key = (r.chrom, r.pos, r.ref, r.alt)
            if allele["caller_type"] == "cnv":  # <DEL> of 1 kb and of 5 kb: two variants
                key += (allele["open_end_position"], allele["length"])
            first = seen.setdefault(key, r.line_no)
            if first != r.line_no:
                raise r.error(f"variant {r.chrom}:{r.pos} {r.ref}>{r.alt} is already on line "
                              f"{first}")

    def write(self, batch):
        started = time.monotonic()
        ids, created = store_alleles(self.cur, batch.alleles,
                                     [(r.path, r.line_no) for r in batch.records])
        self.stats["alleles_new"] += created
        self.stats["alleles_existing"] += len(set(ids)) - created
        new, unchanged = self.writer.store(dict(zip(ids, batch.annotations)))
        self.stats["annotations_new"] += new
        self.stats["annotations_unchanged"] += unchanged
        allele_of = {id(r): allele_id for r, allele_id in zip(batch.records, ids)}
        self._genotypes(batch.genotypes, allele_of)
        self.stats["write_seconds"] += time.monotonic() - started

    def _genotypes(self, genotypes, allele_of):
        cur = self.cur
        gids = [r[0] for r in cur.execute("SELECT nextval(%s) FROM generate_series(1, %s)",
                                          (self.genotype_seq, len(genotypes))).fetchall()]
        proband_id = self.sample_ids[self.proband_index]
        with cur.copy("COPY genotype (id, allele_id, secondallele_id, sample_id, "
                      "variant_quality, filter_status) FROM STDIN") as copy:
            for gid, bg in zip(gids, genotypes):
                copy.write_row((gid, allele_of[id(bg.record)],
                                allele_of[id(bg.secondrecord)] if bg.secondrecord else None,
                                proband_id, bg.variant_quality, bg.filter_status))
        with cur.copy("COPY genotypesampledata (genotype_id, secondallele, multiallelic, type, "
                      "sample_id, genotype_quality, sequencing_depth, genotype_likelihood, "
                      "allele_depth, allele_ratio, copy_number) FROM STDIN") as copy:
            for gid, bg in zip(gids, genotypes):
                for sd in bg.samples:
                    copy.write_row((gid, sd.secondallele, sd.multiallelic, sd.type,
                                    self.sample_ids[sd.sample_index], sd.genotype_quality,
                                    sd.sequencing_depth, sd.genotype_likelihood,
                                    Jsonb(sd.allele_depth), sd.allele_ratio, sd.copy_number))
        self.stats["genotypes"] += len(genotypes)


def _append_target(cur, name):
    """Append mode (import.md 1.10): the existing analysis' id. Key-share-locked: its
    deletion waits for the append, its workflow's actions do not (FOR UPDATE held every
    round action and gene comment of it for the whole import: 30 s, then 503)."""
    row = cur.execute("SELECT id FROM analysis WHERE name = %s FOR KEY SHARE",
                      (name,)).fetchone()
    if row is None:
        others = same_text_other_form(cur, "analysis", name)
        raise DepositError(f"Analysis {name} does not exist: nothing to append to." + (
            f" ({_other_forms(others)} the same name in another Unicode form: name it "
            "exactly as stored.)" if others else ""))
    analysis_id = row[0]
    if cur.execute("SELECT 1 FROM sample WHERE analysis_id = %s AND (father_id IS NOT NULL "
                   "OR mother_id IS NOT NULL)", (analysis_id,)).fetchone():
        raise DepositError("Appending to a family analysis is not supported.")
    return analysis_id


def _reopen_if_done(cur, analysis_id):
    """After an append's variants are in: a `Done` latest round gets a new one (import.md
    1.10). Its workflow locked as its actions lock it, so that a round a user finalized
    while the variants went in is seen and reopened too."""
    cur.execute("SELECT id FROM analysis WHERE id = %s FOR NO KEY UPDATE", (analysis_id,))
    latest = cur.execute(
        "SELECT status::text, genepanel_name, genepanel_version, state, workflow_status "
        "FROM analysisinterpretation WHERE analysis_id = %s ORDER BY date_created DESC, id DESC "
        "LIMIT 1", (analysis_id,)).fetchone()
    if latest and latest[0] == "Done":
        now = clock_now(cur)
        cur.execute(
            "INSERT INTO analysisinterpretation (genepanel_name, genepanel_version, user_state, "
            "state, status, date_last_update, date_created, analysis_id, workflow_status) "
            "VALUES (%s, %s, '{}', %s, 'Not started', %s, %s, %s, %s)",
            (latest[1], latest[2], Jsonb(latest[3] or {}), now, now, analysis_id, latest[4]))


def deposit_analysis(conn, app_config, analysis_config, progress=None, append=False):
    """Import one resolved analysis config (see analysis_config.py). Does not commit.

    With `append` the VCFs are added to the existing analysis of that name (import.md 1.10):
    new sample rows under it, a `Done` latest round re-opened, no user-group deposit config
    (no prefilters, no post-processing). A new analysis gets its group's post-processors
    (import.md 1.9) after all variants are stored; `stats["postprocessed"]` lists them.
    Returns a summary dict. Raises DepositError / AnalysisConfigError / VcfError."""
    started = time.monotonic()
    cur = conn.cursor()
    wait_for_other_imports(cur)
    name = analysis_config["name"]
    panel = (analysis_config["genepanel_name"], analysis_config["genepanel_version"])
    check_genepanel(cur, *panel)
    deposit_match = None
    if append:
        analysis_id = _append_target(cur, name)
        prefilters = []
    elif cur.execute("SELECT 1 FROM analysis WHERE name = %s FOR KEY SHARE",
                     (name,)).fetchone():
        # (Locked: an `ella-delete` of it committing meanwhile is waited for, and then the
        # name is free; read plainly, the folder was failed as "already imported".)
        raise DepositError(f"Analysis {name} is already imported.")
    elif others := same_text_other_form(cur, "analysis", name):
        # The same analysis again, from a folder a Mac wrote (`Å` decomposed): shown by the
        # same name, it would be a second analysis of that patient beside the first.
        raise DepositError(f"Analysis {name} is already imported: {_other_forms(others)} the "
                           "same name in another Unicode form.")
    elif problem := new_name_problem(_without_panel_suffix(name, *panel)):
        raise DepositError(f"Analysis name {name!r} {problem}")
    else:
        analysis_id = None
        deposit_match = deposit_config_for(cur, name, *panel)
        prefilters = (deposit_match[2].get("prefilters") if deposit_match else None) or []
    config_id, deposit_config = active_annotation_config(cur)
    if analysis_id is None:
        analysis_id = _create_analysis(cur, name, panel, analysis_config)
    stats = {"analysis_id": analysis_id, "name": name, "samples": 0, "records": 0,
             "alleles_new": 0, "alleles_existing": 0, "genotypes": 0, "annotations_new": 0,
             "annotations_unchanged": 0, "prefiltered": 0, "postprocessed": [],
             "write_seconds": 0.0}
    with collecting(UNCALLED_LOSS) as losses:
        ucsc_names = _import_data(cur, app_config, analysis_config, analysis_id, prefilters,
                                  config_id, deposit_config, stats, progress)
    if ucsc_names:
        # One text whatever the chromosome, so that an Append of another such VCF adds no
        # second line (`_add_warning` skips a line that is there).
        _add_warning(cur, analysis_id, UCSC_NAMES_WARNING)
    if losses.total:
        # Said only in the log, the interpreters never learnt of a deletion the caller
        # reported (ELLA, too, imports none of them).
        _add_warning(cur, analysis_id, UNCALLED_LOSSES_WARNING.format(
            count=losses.total, where="; ".join(
                _without_folder(w.split(": a CNV deletion", 1)[0]) for w in losses.first)
            + (f"; and {losses.total - len(losses.first)} more"
               if losses.total > len(losses.first) else "")))
    if append:
        _reopen_if_done(cur, analysis_id)
    if deposit_match and deposit_match[2].get("postprocess"):
        group_id, group, entry = deposit_match
        stats["postprocessed"] = run_postprocessors(conn, app_config, analysis_id, group_id,
                                                    group, entry["postprocess"])
    stats["seconds"] = time.monotonic() - started
    return stats


def _other_forms(names):
    """`analysis 'X' has` or `analyses 'X', 'Y' have`, for an error message."""
    listed = ", ".join(repr(n) for n in names)
    return f"analysis {listed} has" if len(names) == 1 else f"analyses {listed} have"


def _without_panel_suffix(name, panel_name, panel_version):
    """An analysis name without its `.<panel>_<version>` (or `-<panel>-<version>`) ending:
    that part names an existing panel, checked when the panel was made (an adopted
    database's panel still gets new analyses)."""
    for suffix in (f".{panel_name}_{panel_version}", f"-{panel_name}-{panel_version}"):
        if name.endswith(suffix):
            return name[:-len(suffix)]
    return name


def _create_analysis(cur, name, panel, analysis_config):
    now = clock_now(cur)
    try:
        analysis_id = cur.execute(
            "INSERT INTO analysis (name, genepanel_name, genepanel_version, warnings, report, "
            "date_deposited, date_requested) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (name, *panel, analysis_config.get("warnings"), analysis_config.get("report"), now,
             analysis_config.get("date_requested"))).fetchone()[0]
    except psycopg.errors.UniqueViolation:
        # Another deposit of the same analysis committed after our check above.
        raise DepositError(f"Analysis {name} is already imported.") from None
    interpretation_id = cur.execute(
        "INSERT INTO analysisinterpretation (genepanel_name, genepanel_version, user_state, "
        "state, status, date_last_update, date_created, analysis_id, workflow_status) "
        "VALUES (%s, %s, '{}', '{}', 'Not started', %s, %s, %s, 'Interpretation') RETURNING id",
        (*panel, now, now, analysis_id)).fetchone()[0]
    if analysis_config.get("priority"):
        cur.execute("INSERT INTO interpretationlog (analysisinterpretation_id, date_created, "
                    "priority) VALUES (%s, %s, %s)",
                    (interpretation_id, now, analysis_config["priority"]))
    return analysis_id


def _import_data(cur, app_config, analysis_config, analysis_id, prefilters, config_id,
                 deposit_config, stats, progress):
    people = _stored_people(cur, analysis_id)  # an append's analysis has some
    # Every file's people first: one person is one person in each of them, whatever the
    # files' order (a sex one .ped gives is the sex of that sample in every VCF).
    families = []
    for item in analysis_config["data"]:
        with open_vcf(item["vcf"], contig_lengths=GRCH37_CONTIG_LENGTHS) as reader:
            check_genome_build(reader.header, item["vcf"])
            rows, proband_index = sample_rows(reader.header.samples, item.get("ped"),
                                              item["vcf"])
        _check_people_across_vcfs(people, rows, item)
        families.append((rows, proband_index))
    _fill_in_sexes(people, families)
    _check_parents_sexes(people, families, analysis_config["data"])
    ucsc_names = False  # returned: whether a VCF names chromosomes with `chr`
    for item, (rows, proband_index) in zip(analysis_config["data"], families):
        with open_vcf(item["vcf"], contig_lengths=GRCH37_CONTIG_LENGTHS) as reader:
            header = reader.header
            if header.samples != [r["sample"] for r in rows]:
                # Its samples were read before the files ahead of it were imported: their
                # columns would be paired with the .ped's rows of the first read.
                raise DepositError(f"{item['vcf']}: the VCF changed while the analysis was "
                                   "imported (its samples are not those read first); "
                                   "deposit it again once it is written")
            sample_ids = create_samples(cur, analysis_id, rows, proband_index, item.get("ped"),
                                        item["technology"], item["vcf"], set(people))
            sexes = [r["sex"] for r in rows]
            stats["samples"] += len(sample_ids)
            try:
                annotator = Annotator(deposit_config, header.csq_fields, header)
            except AnnotationConfigError as exc:
                raise DepositError(f"{item['vcf']}: annotation config {config_id}: "
                                   f"{exc}") from None
            importer = _VcfImport(cur, app_config, sample_ids, proband_index, sexes,
                                  annotator, config_id, prefilters, stats)
            with importer.read_cur, WritePipeline(
                    importer.write, cancel=cur.connection.cancel_safe) as pipeline:
                blocks_of = iter_blocks(variant_records(reader, keep_spanning_deletions=True))
                for blocks in _batches(_counting(blocks_of, stats), BATCH_SIZE):
                    batch = importer.prepare(blocks)
                    if batch is not None:
                        pipeline.submit(batch)
                    if progress:
                        progress(stats)
            ucsc_names = ucsc_names or importer.ucsc_names
    return ucsc_names


def _counting(blocks, stats):
    for block in blocks:
        # A `*` record is in its block for depth and coverage only; it is not imported.
        stats["records"] += sum(rec.alts[0] != "*" for rec in block)
        yield block


def summary_line(stats):
    return (f"Analysis {stats['name']} deposited: {stats['records']} records, "
            f"alleles {stats['alleles_new']} new / {stats['alleles_existing']} existing, "
            f"{stats['genotypes']} genotypes, {stats['samples']} samples, annotations "
            f"{stats['annotations_new']} new / {stats['annotations_unchanged']} unchanged"
            + (f", {stats['prefiltered']} prefiltered" if stats["prefiltered"] else "")
            + (f", post-processed ({', '.join(stats['postprocessed'])})"
               if stats.get("postprocessed") else "")
            + f", {stats['seconds']:.1f} s")


__all__ = ["deposit_analysis", "summary_line", "DepositError", "AnalysisConfigError",
           "VcfError", "check_genepanel", "create_samples", "sample_rows"]
