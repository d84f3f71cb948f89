"""Allele rows and genotype data built from VCF records (no database).

`allele_from_record` gives the allele row of spec/datamodel.md 4.2 (import.md 2.4);
`iter_blocks` groups decomposed records into multiallelic blocks and `block_genotype`
gives the proband genotype with one `SampleData` per (sample, proband record) as
import.md 2.8-2.9 / datamodel.md 4.3 describe. A deposit module maps these to rows.
"""

import logging
import math
from dataclasses import dataclass, field

from ella.data_warnings import UNCALLED_LOSS, data_warning
from ella.vcf import END_SVLEN_SLACK, INT32_MAX

log = logging.getLogger(__name__)

# genotypesampledata's GQ, DP and CN columns are smallint in ELLA's schema.
SMALLINT_MAX = 32767

GENOME_REFERENCE = "GRCh37"
ALLELE_FIELDS = ("genome_reference", "chromosome", "start_position", "open_end_position",
                 "change_type", "change_from", "change_to", "length", "vcf_pos", "vcf_ref",
                 "vcf_alt", "caller_type")
SYMBOLIC_CNV = {"<DUP>": "dup", "<DUP:TANDEM>": "dup_tandem", "<DEL>": "del", "<DEL:ME>": "del_me"}


def build_allele(chrom, pos, ref, alt, svtype=None, svlen=None, cnv_enabled=False):
    """The allele row (dict, keys in ALLELE_FIELDS order). Raises ValueError."""
    pos0 = pos - 1
    if svtype is not None:
        if not cnv_enabled:
            raise ValueError("Feature 'cnv' is not enabled.")
        change_type = SYMBOLIC_CNV.get(alt) or {"DEL": "del", "DUP": "dup"}.get(svtype)
        if change_type is None:
            raise ValueError("ELLA only supports ALT=<DUP>,<DUP:TANDEM>,<DEL> or SVTYPE=DEL/DUP "
                             f"(got ALT={alt} SVTYPE={svtype})")
        if isinstance(svlen, tuple):
            if len(svlen) != 1:
                raise ValueError(f"INFO SVLEN gives {len(svlen)} lengths for one ALT")
            svlen = svlen[0]
        if svlen is None:
            raise ValueError("a structural variant needs INFO SVLEN (its length); it is missing")
        if not isinstance(svlen, int):
            raise ValueError(f"a structural variant needs an integer INFO SVLEN (got {svlen!r})")
        if svlen == 0:
            raise ValueError(f"SVLEN 0: a {change_type} needs a length")
        length = abs(svlen)
        end = pos0 + 1 if change_type in ("dup", "dup_tandem") else pos0 + length
        if max(end, length, pos0 + length) > INT32_MAX:
            # ELLA's allele columns are 32-bit integers.
            raise ValueError(f"SVLEN {svlen} puts the variant's end beyond {INT32_MAX:,}")
        symbolic = alt.startswith("<")
        return _row(chrom, pos0, end,
                    change_type, "" if symbolic else ref, "" if symbolic else alt, length,
                    pos, ref, alt, "cnv")

    if not alt or alt == "*" or any(c in alt for c in "<>[]."):
        # Symbolic (<DEL>), breakend (G]17:198982]), single breakend (G. or .G) and contig
        # insertion (C<ctg1>) ALTs are no bases to trim: trimmed, `G.` was an insertion of '.'.
        raise ValueError(f"unsupported ALT '{alt}' (a symbolic or breakend ALT needs INFO "
                         "SVTYPE DEL or DUP)")
    r, a = ref, alt
    # Suffix first, then prefix: equivalent paddings give the same normalised change.
    n = 0
    while n < len(r) and n < len(a) and r[-1 - n] == a[-1 - n]:
        n += 1
    if n:
        r, a = r[:-n], a[:-n]
    n = 0
    while n < len(r) and n < len(a) and r[n] == a[n]:
        n += 1
    if n:
        r, a = r[n:], a[n:]
        pos0 += n
    if not r and not a:
        raise ValueError(f"REF and ALT are equal ('{ref}')")
    if not r:
        return _row(chrom, pos0 - 1, pos0, "ins", "", a, 1, pos, ref, alt, "snv")
    if not a:
        return _row(chrom, pos0, pos0 + len(r), "del", r, "", len(r), pos, ref, alt, "snv")
    if len(r) == 1 and len(a) == 1:
        return _row(chrom, pos0, pos0 + 1, "SNP", r, a, 1, pos, ref, alt, "snv")
    return _row(chrom, pos0, pos0 + len(r), "indel", r, a, max(len(r), len(a)),
                pos, ref, alt, "snv")


def _row(chrom, start, end, change_type, change_from, change_to, length, pos, ref, alt, caller):
    return {"genome_reference": GENOME_REFERENCE, "chromosome": chrom, "start_position": start,
            "open_end_position": end, "change_type": change_type, "change_from": change_from,
            "change_to": change_to, "length": length, "vcf_pos": pos, "vcf_ref": ref,
            "vcf_alt": alt, "caller_type": caller}


def allele_from_record(rec, cnv_enabled=False):
    """Allele row of a single-ALT record; errors name the file and line."""
    if len(rec.alts) != 1:
        raise rec.error(f"expected exactly one ALT allele, found {len(rec.alts)}")
    svtype = rec.get_info("SVTYPE")
    try:
        row = build_allele(rec.chrom, rec.pos, rec.ref, rec.alts[0], svtype,
                           rec.get_info("SVLEN") if svtype is not None else None, cnv_enabled)
    except ValueError as exc:
        raise rec.error(str(exc)) from None
    if svtype is not None:
        _check_end(rec, row["length"])
    return row


def _check_end(rec, length):
    """The length comes from SVLEN (import.md 2.4), but an END before POS, or one that is
    no position, says the call itself is broken (also an END the header left untyped); so
    does one that puts the call's end elsewhere than SVLEN: stored by SVLEN alone, a 300 kb
    deletion with SVLEN -500 became 500 bases in an intron, which the region filter drops."""
    end = rec.get_info("END")
    if end is None or end in ("", "."):
        return
    try:
        end = int(end) if not isinstance(end, bool) else None
    except (TypeError, ValueError, OverflowError):  # (OverflowError: END=inf as a Float)
        end = None
    if end is None:
        raise rec.error(f"INFO END {rec.get_info('END')!r} is not a position")
    if end < rec.pos:
        raise rec.error(f"INFO END {end} lies before POS {rec.pos}")
    if rec.get_info("OLD_MULTIALLELIC") is not None:
        # Decomposed from a line of several CNVs: its one END is their furthest end (VCF
        # 4.4), so only an END short of this one's end disagrees.
        if (end - rec.pos) - length < -END_SVLEN_SLACK:
            raise rec.error(f"INFO END {end} ends before this ALT's SVLEN does: END - POS is "
                            f"{end - rec.pos:,}, the SVLEN length {length:,}")
    elif abs((end - rec.pos) - length) > END_SVLEN_SLACK:
        raise rec.error(f"INFO END {end} and SVLEN disagree: END - POS is {end - rec.pos:,}, "
                        f"the SVLEN length {length:,}")


# ---------------------------------------------------------------------------- genotypes

def has_variant(gt):
    """The sample carries the record's ALT (GT contains allele 1)."""
    return gt is not None and 1 in gt


def is_missing(gt):
    return gt is None or all(a < 0 for a in gt)


def is_multiallelic(gt):
    """GT 1/., ./1, 0/., ./0: another allele of the site is present."""
    return gt is not None and len(gt) == 2 and (gt[0] < 0) != (gt[1] < 0)


def gt_type(gt, no_coverage=False):
    """genotypesampledata.type for a decomposed GT (tuple, -1 = missing)."""
    if gt is None or all(a < 0 for a in gt):
        return "No coverage" if no_coverage else "Reference"
    if any(a > 1 for a in gt):
        raise ValueError(f"GT {gt} is not decomposed (allele index > 1)")
    if 1 not in gt:
        return "Reference"
    if all(a == 1 for a in gt):
        return "Homozygous"
    return "Heterozygous"


# GRCh37 pseudo-autosomal regions (1-based, as upstream's constants).
PAR1 = (60001, 2699520)
PAR2 = (154931044, 155260560)


def bare_chromosome(name):
    """`chrX` -> `X`: a GRCh37 VCF may name its contigs the UCSC way (hg19), and they are
    stored as written (import.md 2.1)."""
    return name[3:] if name[:3].lower() == "chr" else name


def is_xlinked(chromosome, start, open_end):
    """On X outside the pseudo-autosomal regions (0-based start, open end)."""
    return bare_chromosome(chromosome) == "X" and (
        open_end <= PAR1[0] or (start > PAR1[1] and open_end <= PAR2[0]) or start > PAR2[1])


def _cnv_type_from_copy_number(rec, copy_number, sex):
    """genotypesampledata.type of a CNV call without GT, from its CN; None where the CN
    does not tell (no CN, a sample's ploidy not known, a CN against the record's kind).

    A GT-less duplication counts as present in the proband (import.md 2.7), but its `./.`
    gave every sample the type Reference (2.9): the segregation filter then removed every
    such duplication of a trio, de novo or not, while the page showed the proband's CN 3."""
    if copy_number is None:
        return None
    ploidy = _ploidy(rec, sex)
    if ploidy is None:
        return None
    if copy_number == ploidy:
        return "Reference"
    gained = _is_cnv_dup(rec)
    if gained and copy_number > ploidy:
        return "Heterozygous" if ploidy == 2 and copy_number == 3 else "Homozygous"
    if not gained and copy_number < ploidy:
        return "Heterozygous" if ploidy == 2 and copy_number == 1 else "Homozygous"
    return None


def _ploidy(rec, sex):
    """A sample's normal copies of the record's chromosome at its position, or None where
    not known (unknown sex on X outside the pseudo-autosomal regions or on Y, a female's Y,
    the mitochondrion)."""
    start, chromosome = rec.pos - 1, bare_chromosome(rec.chrom)
    if chromosome == "Y" or is_xlinked(chromosome, start, start + 1):
        return {"Male": 1, "Female": None if chromosome == "Y" else 2}.get(sex)
    if chromosome in ("MT", "M"):
        return None
    return 2


def _uncalled_dup_absent(rec, proband_index, sexes):
    """A duplication the proband has without GT (`./.`) counts as present (import.md 2.7)
    unless its CN says the proband has no gain there: the normal copies or fewer, as a
    caller writes for the relatives of a joint call, or the DUP beside a `<DEL>` the
    proband has. ELLA imported it all the same, so the worklist showed the proband a
    duplication it does not have, one an interpreter could classify and report."""
    copy_number = _copy_number(rec, proband_index, rec._hdr.samples[proband_index])
    if copy_number is None:
        return False
    ploidy = _ploidy(rec, sexes[proband_index] if sexes else None)
    return ploidy is not None and copy_number <= ploidy


def _is_cnv_dup(rec):
    if rec.get_info("SVTYPE") is None:
        return False
    return rec.alts[0] in ("<DUP>", "<DUP:TANDEM>") or (
        rec.get_info("SVTYPE") == "DUP" and rec.alts[0] not in SYMBOLIC_CNV)


def variant_records(records, keep_spanning_deletions=False):
    """The records that can hold a variant of their own. Not imported, with a warning giving
    their count: a record without ALT (`.`, a reference-only site as callers write them in
    all-sites mode; no sample can carry a variant there, import.md 2.7) and, unless
    `keep_spanning_deletions`, a record whose ALT is `*` (a position deleted by an overlapping
    deletion recorded on its own line, as GATK writes them). An analysis keeps the `*` records
    in their multiallelic block, where they count for coverage and allele depth but are never
    a genotype's allele (block_genotype). ELLA refuses neither (it stores an allele `A>*`, and
    fails on a record without ALT)."""
    skipped = {"without ALT": 0, "with ALT '*' (spanning deletions)": 0}
    path = None
    for rec in records:
        if not rec.alts:
            skipped["without ALT"] += 1
        elif rec.alts[0] == "*":
            skipped["with ALT '*' (spanning deletions)"] += 1
            if keep_spanning_deletions:
                yield rec
        else:
            yield rec
            continue
        path = rec.path
    for what, count in skipped.items():
        if count:
            data_warning(log, "%s: %s records %s not imported", path, count, what)


def iter_blocks(records):
    """Group consecutive records with the same INFO OLD_MULTIALLELIC; yields lists."""
    block, block_id = [], None
    for rec in records:
        rid = rec.get_info("OLD_MULTIALLELIC")
        if block and (rid is None or rid != block_id):
            yield block
            block = []
        block.append(rec)
        block_id = rid
    if block:
        yield block


@dataclass
class SampleData:
    """One genotypesampledata row (without ids)."""
    sample_index: int
    sample: str
    secondallele: bool
    type: str
    multiallelic: bool
    genotype_quality: int | None
    sequencing_depth: int | None
    genotype_likelihood: list | None
    copy_number: int | None
    allele_depth: dict
    allele_ratio: float


@dataclass
class BlockGenotype:
    """The proband genotype of one block: its record(s) and per-sample data."""
    record: object
    secondrecord: object | None
    filter_status: str
    variant_quality: int | None
    samples: list = field(default_factory=list)


def _warn_of_uncalled_losses(left_out, proband_index, sexes):
    """A CNV deletion the proband has without GT (`./.`) but with a copy number below normal
    (2; a male's X outside the pseudo-autosomal regions or Y: 1; 2 where the normal copies
    are not known) is not imported (import.md 2.7 counts only duplications as present without
    a GT, as ELLA does): said with its line, where it only lowered the summary's genotype
    count. `left_out`: the block's (record, is a duplication) the proband's genotype leaves
    out."""
    for rec, dup in left_out:
        if dup or rec.get_info("SVTYPE") is None or not is_missing(rec.gts[proband_index]):
            continue
        copy_number = rec.format_value(proband_index, "CN")
        normal = _ploidy(rec, sexes[proband_index] if sexes else None) or 2
        if isinstance(copy_number, (int, float)) and not isinstance(copy_number, bool) \
                and copy_number < normal:
            data_warning(log, "%s, line %s: a CNV deletion the proband has without GT (CN %s) is "
                              "not imported: only duplications count as present without a GT "
                              "(import.md 2.7)", rec.path, rec.line_no, copy_number,
                         kind=UNCALLED_LOSS)


def block_genotype(block, proband_index=0, sexes=None):
    """BlockGenotype for a block of decomposed records, or None when the proband has no
    variant in it. Raises VcfError for genotypes that cannot be imported. `sexes`: each
    sample's sex ('Male', 'Female' or None), for the ploidy of a GT-less CNV's CN."""
    first = block[0]
    for rec in block:  # every record of a block: its genotypes are read together
        if rec.gts is None:
            raise rec.error("a genotype import needs FORMAT GT")
    dups = [_is_cnv_dup(r) for r in block]
    prob = [r for r, dup in zip(block, dups) if r.alts[0] != "*" and (
        has_variant(r.gts[proband_index]) or (
            dup and is_missing(r.gts[proband_index])
            and not _uncalled_dup_absent(r, proband_index, sexes)))]
    for rec in block:
        # The proband's own call naming an ALT the line lacks (a split that did not recode
        # GT: `2/2` on a one-ALT line) is no absence of the variant: the whole line was left
        # out without a word, where `1/2` on it was refused.
        for si, problem in rec.gt_problems or ():
            if si == proband_index:
                raise rec.error(problem)
    # Also beside a duplication the proband has (a `<DEL>,<DUP>` line): that deletion was
    # left out without a word.
    _warn_of_uncalled_losses([(r, d) for r, d in zip(block, dups) if r not in prob],
                             proband_index, sexes)
    if not prob:
        return None
    # A `*` record of the block (a deletion spans the site) is no allele of the genotype, but
    # a sample's call on it covers the site, and its reads count in the allele depths.
    for rec in block:  # an imported block's genotypes must all be readable (import.md 2.7)
        if rec.gt_problems:
            raise rec.error(rec.gt_problems[0][1])
    second = None
    if len(prob) == 2:
        g0, g1 = prob[0].gts[proband_index], prob[1].gts[proband_index]
        if g0 == (-1, 1) and g1 == (1, -1):
            prob.reverse()
        elif not (g0 == (1, -1) and g1 == (-1, 1)):
            raise prob[1].error(f"proband has the variant on two records of one multiallelic "
                                f"block, with GT {g0} and {g1} (expected 1/. and ./1)")
        second = prob[1]
    elif len(prob) > 2:
        raise prob[2].error("proband has more than two alleles in one multiallelic block")
    samples = first._hdr.samples
    ad_trusted = len(prob) == 1 or (prob[0].pos == prob[1].pos and prob[0].ref == prob[1].ref)
    result = BlockGenotype(prob[0], second, prob[0].filter, prob[0].variant_quality)
    for si, name in enumerate(samples):
        covered = any(dup or not is_missing(r.gts[si]) for r, dup in zip(block, dups))
        depth, alt_keys = _allele_depth(block, si) if ad_trusted else ({}, {})
        total = sum(depth.values())
        for n, rec in enumerate(prob):
            gt = rec.gts[si]
            try:
                kind = gt_type(gt, no_coverage=not covered)
            except ValueError as exc:
                raise rec.error(f"sample {name}: {exc}") from None
            copy_number = _copy_number(rec, si, name)
            if copy_number is not None and is_missing(gt) and rec.get_info("SVTYPE") is not None:
                kind = _cnv_type_from_copy_number(
                    rec, copy_number, sexes[si] if sexes else None) or kind
            multi = is_multiallelic(gt)
            pl = rec.format_value(si, "PL")
            # Number=G of one ALT: two likelihoods were stored for a diploid call, and shown.
            # A haploid call may have a diploid call's three (some callers' chrX calls; a
            # split line's PL is re-indexed by its count alike).
            fitting = {1: (2, 3), 2: (3,)}.get(len(gt)) if gt else None
            if isinstance(pl, (list, tuple)) and fitting and len(pl) not in fitting:
                raise rec.error(f"sample {name}: PL has {len(pl)} values, a "
                                f"{'diploid' if len(gt) == 2 else 'haploid'} call of one ALT "
                                f"needs {' or '.join(map(str, fitting))}")
            pl = [_whole(rec, name, "PL", v, INT32_MAX) for v in pl if v is not None] \
                if isinstance(pl, (list, tuple)) and pl else None
            own_depth = depth.get(alt_keys.get(id(rec))) if depth else None
            result.samples.append(SampleData(
                sample_index=si, sample=name, secondallele=n == 1, type=kind,
                multiallelic=multi,
                genotype_quality=_stored_int(rec, si, name, "GQ"),
                sequencing_depth=_stored_int(rec, si, name, "DP"),
                genotype_likelihood=None if multi or not pl else pl,
                copy_number=copy_number,
                allele_depth=dict(depth),
                allele_ratio=(own_depth / total) if own_depth and total else 0,
            ))
    return result


def _whole(rec, sample, key, value, limit=None):
    """An integer FORMAT value as stored: a header may declare the key a Float (FreeBayes'
    GQ) or a String; import.md 2.3 stores an int, so a number is rounded. `limit`: the
    largest magnitude its column holds (an integer[] of PostgreSQL's 32-bit integers)."""
    if isinstance(value, bool):
        raise rec.error(f"FORMAT {key} of sample {sample} is not a number: {value!r}")
    if not isinstance(value, int):
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise rec.error(f"FORMAT {key} of sample {sample} is not a number: "
                            f"{value!r}") from None
        if not math.isfinite(number):
            raise rec.error(f"FORMAT {key} of sample {sample} is not a finite number: "
                            f"{value!r}")
        value = round(number)
    if limit is not None and abs(value) > limit:
        shown = f"{value:,}" if abs(value) < 10 ** 15 else f"{value:.6g}"
        raise rec.error(f"FORMAT {key} of sample {sample}: {shown} is beyond the "
                        f"{limit:,} a stored value may be")
    return value


def _copy_number(rec, si, sample):
    """CN as stored; a CNV's must be a whole number of copies, not negative. Rounded, a
    Float CN of 2.5 on a duplication showed a normal 2; a negative one showed as "CN: -1".
    Both are refused with their line (a whole Float such as 3.0 is 3)."""
    value = rec.format_value(si, "CN")
    if value is None:  # (every SNV's sample: kept cheap on the deposit's hot path)
        return None
    if rec.get_info("SVTYPE") is None:
        # Not a CNV: some pipelines give every small variant its segment's copy number,
        # which is stored as before (rounded); a CNV's own CN is what the lab reads.
        return _stored_int(rec, si, sample, "CN")
    for item in value if isinstance(value, (list, tuple)) else [value]:
        if item is None or isinstance(item, (bool, int)):
            continue
        try:
            number = float(item)
        except (TypeError, ValueError):
            continue  # refused by _stored_int, as a GQ or DP would be
        if math.isfinite(number) and number != int(number):
            raise rec.error(f"FORMAT CN of sample {sample} is {item}: a copy number must be a "
                            "whole number (it is not rounded)")
    number = _stored_int(rec, si, sample, "CN")
    if number is not None and number < 0:
        raise rec.error(f"FORMAT CN of sample {sample} is {number}: a copy number is not "
                        "negative")
    return number


def _stored_int(rec, si, sample, key):
    """GQ, DP or CN of one sample for its smallint column: a scalar int or None. Values over
    the column's 32767 (deep amplicon panels reach DP 40000) are stored as 32767 with a
    warning, as ELLA's schema cannot hold them; AD keeps the exact depths."""
    value = rec.format_value(si, key)
    if isinstance(value, (list, tuple)):  # a header with another Number
        values = [v for v in value if v is not None]
        if len(values) > 1:
            raise rec.error(f"FORMAT {key} of sample {sample} has {len(values)} values; "
                            "one is stored")
        value = values[0] if values else None
    if value is None:
        return None
    number = _whole(rec, sample, key, value)
    if abs(number) > SMALLINT_MAX:
        data_warning(log, "%s, line %s: FORMAT %s=%s of sample %s stored as %s (the column's "
                          "limit)", rec.path, rec.line_no, key, number, sample,
                          SMALLINT_MAX if number > 0 else -SMALLINT_MAX)
        number = SMALLINT_MAX if number > 0 else -SMALLINT_MAX
    return number


def shared_alt_key(ref, alt):
    """The allele-depth key of an ALT that another record of its block shares."""
    return f"{alt} ({ref}>{alt})"


def alt_depth(depth, vcf_ref, vcf_alt):
    """The count of the allele (vcf_ref, vcf_alt) in an `allele_depth` dict, or None."""
    return depth.get(shared_alt_key(vcf_ref, vcf_alt), depth.get(vcf_alt))


def _allele_depth(block, si):
    """({"REF (A)": n, "G": m}, {id(record): its ALT's key}) from AD of all block records of
    one sample (import.md 2.9). Records whose ALTs are equal once trimmed (CAAAA>CAAA,CA
    decomposes into CA>C and CAAA>C) are keyed "C (CA>C)" and "C (CAAA>C)": keyed by the
    ALT alone, as ELLA does, the later count replaced the earlier one, and the proband's
    ratio was the other allele's (2/12 instead of 8/20, below the quality filter's cut-off)."""
    entries = []
    for rec in block:
        ad = rec.format_value(si, "AD")
        if isinstance(ad, (list, tuple)) and len(ad) > 2:
            # Not one value per allele of the (decomposed) record: its depths are no one's.
            data_warning(log, "%s, line %s: FORMAT AD of %s values of sample %s ignored (the "
                              "record has 2 alleles)", rec.path, rec.line_no, len(ad),
                         rec._hdr.samples[si])
            continue
        if not isinstance(ad, (list, tuple)) or len(ad) != 2 or all(v is None for v in ad):
            continue  # missing, a single number (VarScan's Number=1), or not decomposed
        if not all(v is None or type(v) is int for v in ad):
            # Whole numbers also where the header declares AD a Float (NaN or inf reached
            # PostgreSQL's JSON parser). (Integers, the usual case, pass as they are.)
            sample = rec._hdr.samples[si]
            ad = [None if v is None else _whole(rec, sample, "AD", v) for v in ad]
        entries.append((rec, ad))
    alt_counts = {}
    for rec, _ in entries:
        alt_counts[rec.alts[0]] = alt_counts.get(rec.alts[0], 0) + 1
    depth, ref_keys, alt_keys = {}, [], {}
    for rec, ad in entries:
        ref_key = f"REF ({rec.ref})"
        if ad[0] is not None:
            depth[ref_key] = ad[0]
            if ref_key not in ref_keys:
                ref_keys.append(ref_key)
        alt = rec.alts[0]
        alt_keys[id(rec)] = alt if alt_counts[alt] == 1 else shared_alt_key(rec.ref, alt)
        if ad[1] is not None:
            depth[alt_keys[id(rec)]] = ad[1]
    if len(ref_keys) > 1:
        counts = {depth.pop(k) for k in ref_keys}
        if len(counts) != 1:
            raise block[0].error(f"REF depths differ between the records of a multiallelic "
                                 f"block ({', '.join(ref_keys)})")
        depth = {"REF": counts.pop(), **depth}
    return depth, alt_keys
