"""Streaming VCF reader (standard library only).

Reads plain or gzip/bgzip VCF text (recognised by its magic bytes), parses the header
(``##fileformat`` is required, ``##INFO``/``##FORMAT`` definitions, the VEP ``CSQ`` field
list, sample names) and yields one `Record` per data line, lazily. Records with several
ALT alleles are decomposed into one record per ALT (Number=A/R/G values re-indexed, GT
re-coded relative to that ALT, INFO ``OLD_MULTIALLELIC`` added), as the importer expects
decomposed input (spec/import.md 2.1, 2.8).

Value typing follows spec/import.md 2.2 (what cyvcf2 delivers): INFO Integer/Float give a
number for one value and a tuple for a comma list, ``.`` gives None, String/Character stay
raw text. INFO and non-GT FORMAT values are typed on first access; GT, CHROM, POS, REF and
ALT (bases or IUPAC codes, upper-cased, or a symbolic/breakend/* ALT), QUAL and the column
count are checked while reading, and a last line without its newline (a cut-off file) is
refused. Every problem raises `VcfError` naming the file and the line.
"""

import gzip
import logging
import math
import os
import re
import zlib

from ella.text import control_character

log = logging.getLogger(__name__)

FIXED_COLUMNS = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"]
# Bounds that keep memory bounded whatever a file holds (a few hundred KB of gzip can expand
# to one line of gigabytes): far above real VCFs (a line with thousands of samples or
# hundreds of CSQ transcripts is a few MB; headers have a few thousand lines).
MAX_LINE_CHARS = 32 * 1024 * 1024
MAX_HEADER_LINES = 200_000
# INFO items and sample fields the records of one decomposed line may hold in all: at most
# 20 per character of the line (at least 10,000), and 20,000,000 (~10 s). A patient's line of
# 6 ALTs, 60 INFO keys and 3 samples of 10 fields holds 540, a joint-called line of 6 ALTs and
# 35,000 samples about 0.3 per character; one of thousands of ALTs and samples (a few bytes
# gzipped) held billions, and a file of such lines kept the watcher for hours.
DECOMPOSED_VALUES_PER_CHAR = 20
MIN_DECOMPOSED_VALUES = 10_000
MAX_DECOMPOSED_VALUES = 20_000_000
MAX_SAMPLE_NAME = 500
# PostgreSQL's integer (positions, qualities, depths) and VCF's own Integer are 32-bit.
INT32_MAX = 2_147_483_647
# Contig names are short (the longest of GRCh38's alternates has under 30 characters); a
# longer CHROM is a broken line, and ELLA's allele index cannot hold one of thousands.
MAX_CHROM_LENGTH = 255
# Bases and IUPAC ambiguity codes (reference genomes have a few; callers may copy them).
_BASES = re.compile("[ACGTNRYKMSWBDHV]+")
VALUE_TYPES = {"Integer", "Float", "Flag", "String", "Character"}

# FORMAT keys reserved by VCF 4.3 (plus CN from its structural-variant section), assumed
# when a file has no ##FORMAT line for them.
RESERVED_FORMAT = {
    "AD": ("R", "Integer"), "ADF": ("R", "Integer"), "ADR": ("R", "Integer"),
    "DP": (1, "Integer"), "EC": ("A", "Integer"), "FT": (1, "String"),
    "GL": ("G", "Float"), "GP": ("G", "Float"), "GQ": (1, "Integer"),
    "GT": (1, "String"), "HQ": (2, "Integer"), "MQ": (1, "Integer"),
    "PL": ("G", "Integer"), "PP": ("G", "Integer"), "PQ": (1, "Integer"),
    "PS": (1, "Integer"), "CN": (1, "Integer"),
}


class VcfError(ValueError):
    """A VCF that cannot be read; the message names the file and line when known."""

    def __init__(self, message, path=None, line_no=None):
        self.reason = message
        self.path = path
        self.line_no = line_no
        where = ""
        if path is not None:
            where = f"{path}, line {line_no}: " if line_no is not None else f"{path}: "
        super().__init__(where + message)


class FieldDef:
    """One ##INFO or ##FORMAT definition. `number` is an int or 'A', 'R', 'G', '.'."""

    __slots__ = ("id", "number", "type", "description")

    def __init__(self, id, number, type, description=""):
        self.id, self.number, self.type, self.description = id, number, type, description

    def __repr__(self):
        return f"FieldDef({self.id!r}, {self.number!r}, {self.type!r})"


class VcfHeader:
    def __init__(self):
        self.fileformat = None
        # The '##' lines that may name a genome build (##reference, ##assembly, ##contig with
        # an assembly or a length), without the newline; the others are parsed, not kept.
        self.lines = []
        self.info = {}  # ID -> FieldDef, file order
        self.format = {}
        self.contigs = []
        self.columns = []
        self.samples = []
        self.csq_fields = None  # VEP CSQ sub-fields from the INFO description, if any
        # The INFO keys whose values are VEP entries, split per ALT when a line is decomposed:
        # CSQ, and the sources of the deposit's vep converters (VEP's --vcf_info_field ANN, a
        # second run's RefSeq field), set by the deposit before records are read.
        self.vep_sources = ("CSQ",)
        self._vep_fields = {}
        self._info_typers = {}

    def vep_fields(self, key):
        """The field list (`Format: a|b|...`) of INFO `key`'s header line, or None (read
        once: a multi-ALT line asks for it)."""
        if key == "CSQ":
            return self.csq_fields
        if key not in self._vep_fields:
            definition = self.info.get(key)
            self._vep_fields[key] = (vep_field_list(definition.description)
                                     if definition is not None else None)
        return self._vep_fields[key]

    def info_typer(self, key):
        """`info_typer` of this header's definition of INFO `key`, made once per key."""
        typer = self._info_typers.get(key)
        if typer is None:
            typer = self._info_typers[key] = info_typer(self.info.get(key))
        return typer

    def format_def(self, key):
        d = self.format.get(key)
        if d is None:
            number, type_ = RESERVED_FORMAT.get(key, (1, "String"))
            d = self.format[key] = FieldDef(key, number, type_)
        return d


def _parse_structured(text):
    """Parse `ID=AC,Number=A,Description="a, \\"b\\""` into a dict (header lines only)."""
    out = {}
    i, n = 0, len(text)
    while i < n:
        eq = text.find("=", i)
        if eq < 0:
            raise ValueError(f"expected key=value in '{text[i:]}'")
        key = text[i:eq].strip()
        i = eq + 1
        if i < n and text[i] == '"':
            i += 1
            chars = []
            while True:
                if i >= n:
                    raise ValueError("unterminated quoted value")
                c = text[i]
                if c == "\\" and i + 1 < n:
                    chars.append(text[i + 1])
                    i += 2
                    continue
                if c == '"':
                    i += 1
                    break
                chars.append(c)
                i += 1
            value = "".join(chars)
            while i < n and text[i] == " ":
                i += 1
            if i < n and text[i] != ",":
                raise ValueError(f"unexpected text after quoted value of {key}")
        else:
            end = text.find(",", i)
            end = n if end < 0 else end
            value = text[i:end]
            i = end
        out[key] = value
        i += 1  # skip the comma
    return out


# Number codes of VCF 4.4 (P: one per ploidy) and 4.5 (local alleles LA, LR, LG; M: one per
# base modification).
LATER_NUMBER_CODES = frozenset({"P", "LA", "LR", "LG", "M"})


def _field_def(line, kind):
    body = line[len(kind) + 3:]
    if not body.startswith("<") or not body.endswith(">"):
        raise ValueError(f"##{kind} line must look like ##{kind}=<ID=...>")
    attrs = _parse_structured(body[1:-1])
    fid = attrs.get("ID")
    if not fid:
        raise ValueError(f"##{kind} line without ID")
    number = attrs.get("Number", ".")
    if number in LATER_NUMBER_CODES:
        number = "."  # read as a list of any length (no field ELLA imports uses them)
    if number not in ("A", "R", "G", "."):
        if not number.isdigit():
            raise ValueError(f"##{kind} {fid}: bad Number '{number}'")
        number = int(number)
    type_ = attrs.get("Type", "String")
    if type_ not in VALUE_TYPES or (kind == "FORMAT" and type_ == "Flag"):
        raise ValueError(f"##{kind} {fid}: bad Type '{type_}'")
    return FieldDef(fid, number, type_, attrs.get("Description", ""))


def vep_field_list(description):
    """The sub-field names an ##INFO description gives after `Format:` (VEP's), or None."""
    idx = description.find("Format:")
    if idx < 0:
        return None
    return [f.strip() for f in description[idx + len("Format:"):].strip().split("|")]


# ---------------------------------------------------------------------------- values

def _to_int(s):
    if "_" in s:
        raise ValueError(s)
    return int(s)


def _to_float(s):
    if "_" in s:
        raise ValueError(s)
    return float(s)


_CONVERTERS = {"Integer": _to_int, "Float": _to_float}


def _undeclared(raw):
    return False if raw is None else raw


def _flag(raw):
    return True


def _as_is(raw):
    return raw


def info_typer(fdef):
    """The function typing raw values of one INFO definition as cyvcf2 does (spec/import.md
    2.2; raises ValueError). `fdef` None: the key is not in the header."""
    if fdef is None:
        return _undeclared
    if fdef.type == "Flag":
        return _flag
    conv = _CONVERTERS.get(fdef.type)
    if conv is None:
        return _as_is

    def typed(raw):
        if raw is None:
            return None
        if "," not in raw:
            return None if raw == "." or raw == "" else conv(raw)
        return tuple(None if v == "." or v == "" else conv(v) for v in raw.split(","))
    return typed


def _format_int(s):
    """A FORMAT Integer: VCF's are 32-bit, and they go into PostgreSQL integer columns."""
    value = _to_int(s)
    if not -INT32_MAX <= value <= INT32_MAX:
        raise ValueError(s)
    return value


_FORMAT_CONVERTERS = {"Integer": _format_int, "Float": _to_float}


def _type_format_value(fdef, raw):
    """Type one FORMAT value: Number=1 -> scalar, others -> list; '.' -> None."""
    if raw is None or raw == "." or raw == "":
        return None
    conv = _FORMAT_CONVERTERS.get(fdef.type)
    if fdef.number == 1:
        return conv(raw) if conv else raw
    if conv is None:
        return raw
    return [None if v == "." else conv(v) for v in raw.split(",")]


def _parse_gt(text):
    """'0/1' -> ((0, 1), False); '1|.' -> ((1, -1), True); '1' -> ((1,), False); VCF 4.4's
    explicit phasing of the first allele: '|1' -> ((1,), True), '/0|1' -> ((0, 1), True)."""
    body = text[1:] if text[:1] in ("|", "/") else text
    phased = "|" in text
    parts = body.replace("|", "/").split("/") if phased else body.split("/")
    out = []
    for p in parts:
        if p == ".":
            out.append(-1)
        elif p.isdigit() and p.isascii():
            out.append(int(p))
        else:
            raise ValueError(text)
    return tuple(out), phased


def format_gt(gt, phased=False):
    sep = "|" if phased else "/"
    return sep.join("." if a < 0 else str(a) for a in gt)


# ---------------------------------------------------------------------------- records

class Record:
    """One (single-ALT after decomposition) VCF data line.

    Attributes: chrom, pos (int), id, ref, alts (list), qual (raw text), filter (raw
    text), format_keys, gts (per sample tuple of allele indexes, -1 = missing; None when
    there is no GT), phased (per sample bool), gt_problems ([(sample index, why its GT cannot
    be imported)], or None), line_no, path. `info` is the typed INFO dict (file order), computed
    on first access.
    """

    __slots__ = ("_hdr", "path", "line_no", "chrom", "pos", "id", "ref", "alts", "qual",
                 "filter", "format_keys", "gts", "phased", "_info_text", "_info_items",
                 "_info", "_sample_text", "_sample_fields", "gt_problems")

    @property
    def alt(self):
        return self.alts[0] if self.alts else None

    @property
    def variant_quality(self):
        """int(QUAL) truncated, None for '.'."""
        return None if self.qual == "." else int(float(self.qual))

    def error(self, message):
        return VcfError(message, self.path, self.line_no)

    # INFO -----------------------------------------------------------------------
    def _items(self):
        items = self._info_items
        if items is None:
            items = {}
            if self._info_text != ".":
                for item in self._info_text.split(";"):
                    if not item:
                        continue  # empty item or trailing ';'
                    key, eq, value = item.partition("=")
                    if key not in items:
                        items[key] = value if eq else None
            self._info_items = items
        return items

    @property
    def info(self):
        if self._info is None:
            typers = self._hdr._info_typers
            typed = {}
            try:
                for key, raw in self._items().items():
                    typer = typers.get(key) or self._hdr.info_typer(key)
                    typed[key] = typer(raw)
            except ValueError:
                raise self.error(f"INFO {key}={raw} does not match its declared "
                                 f"Type={self._hdr.info[key].type}") from None
            self._info = typed
        return self._info

    def forget_info(self):
        """Drop the parsed INFO kept since its first use (it is parsed again when asked for):
        a deposit keeps records of batches in flight but needs their INFO only once. A
        record decomposed from a multi-ALT line keeps its raw items: they are its only INFO."""
        self._info = None
        if self._info_text is not None:
            self._info_items = None

    def info_def(self, key):
        """The header's ##INFO definition of `key` (FieldDef), or None."""
        return self._hdr.info.get(key)

    def get_info(self, key, default=None):
        """One INFO value; avoids parsing the whole INFO when the key is absent."""
        if self._info is None and self._info_items is None and key not in self._info_text:
            return default
        return self.info.get(key, default)

    # FORMAT ---------------------------------------------------------------------
    def _fields(self):
        if self._sample_fields is None:
            fields = [s.split(":") for s in self._sample_text]
            keys = len(self.format_keys)
            for index, sample_fields in enumerate(fields):
                # Fewer is allowed (trailing fields left out); more would pair the values
                # with the wrong keys (`10:20` of an AD that lost its comma made DP the AD's
                # second count). htslib refuses the line, so ELLA did not import it.
                if len(sample_fields) > keys:
                    raise self.error(
                        f"sample {self._hdr.samples[index]} has {len(sample_fields)} fields "
                        f"where FORMAT {':'.join(self.format_keys)} names {keys}")
            self._sample_fields = fields
        return self._sample_fields

    def format_value(self, sample_index, key):
        """Typed FORMAT value of one sample (Number=1: scalar, else list); None if absent."""
        if key == "GT":
            return self.gts[sample_index] if self.gts is not None else None
        # Split (and its field count checked) whatever the key: a line whose FORMAT names
        # GT alone was never checked, and its sample's other fields were dropped unsaid.
        fields = self._fields()[sample_index]
        try:
            k = self.format_keys.index(key)
        except ValueError:
            return None
        raw = fields[k] if k < len(fields) else None
        fdef = self._hdr.format_def(key)
        try:
            return _type_format_value(fdef, raw)
        except ValueError:
            range_note = " (a 32-bit integer)" if fdef.type == "Integer" else ""
            raise self.error(f"FORMAT {key}={raw} of sample {self._hdr.samples[sample_index]} "
                             f"does not match its declared Type={fdef.type}{range_note}") \
                from None

    def sample_data(self, sample_index):
        """All FORMAT values of one sample as a dict (typed)."""
        return {k: self.format_value(sample_index, k) for k in self.format_keys}

    def __repr__(self):
        return f"<Record {self.chrom}:{self.pos} {self.ref}>{','.join(self.alts)} line {self.line_no}>"


def _split_list(raw):
    """A Number=A/R/G value's comma list, or None for a missing one (kept as it is)."""
    return None if raw is None or raw == "." else raw.split(",")


def _pick(raw, values, number, alt_index, n_alleles, what, rec):
    """Re-index one Number=A/R/G comma list for ALT `alt_index` (1-based). `values` is
    `_split_list(raw)`, split once per record: split per ALT, a line of many ALTs took time
    growing with their square (with PL's Number=G, their cube)."""
    if values is None:
        return raw
    if number == "A":
        want = [alt_index - 1]
        expected = n_alleles - 1
    elif number == "R":
        want = [0, alt_index]
        expected = n_alleles
    else:  # G: haploid (one value per allele) or diploid genotype ordering
        if len(values) == n_alleles:
            want = [0, alt_index]
            expected = n_alleles
        else:
            base = alt_index * (alt_index + 1) // 2
            want = [0, base, base + alt_index]
            expected = n_alleles * (n_alleles + 1) // 2
    if len(values) != expected:
        raise rec.error(f"{what} has {len(values)} values, Number={number} needs {expected} "
                        f"for {n_alleles - 1} ALT alleles")
    return ",".join(values[i] for i in want)


def _recode_gt(gt, alt_index):
    return tuple(0 if a == 0 else 1 if a == alt_index else -1 for a in gt)


def _vep_alleles(ref, alts):
    """How VEP names the ALTs of one VCF line in CSQ's `Allele` (without --minimal): when an
    ALT's length differs from REF's (a `*` counts) and REF and all ALTs but `*` share their
    first base, that base is dropped (an empty allele is `-`; `*` stays `*`): GATK's A>AT,*
    gives `T` and `*`. Otherwise the ALTs as written."""
    indel = any(len(alt) != len(ref) for alt in alts)
    if indel and len({allele[:1] for allele in (ref, *alts) if allele != "*"}) == 1:
        return [alt if alt == "*" else alt[1:] or "-" for alt in alts]
    return list(alts)


def _csq_by_alt(raw, csq_fields, rec, key="CSQ"):
    """The CSQ (VEP) entries of INFO `key` of each ALT of a multi-ALT record ([text or None
    per ALT]), or None when there is no CSQ to split. VEP run on the undecomposed line
    writes the entries of all ALTs into one CSQ; copied whole, the second ALT got the first
    one's consequences and HGVS. Entries are told apart by ALLELE_NUM (VEP's
    --allele_number) or by `Allele`; when neither tells, the record is refused."""
    if raw is None or raw in (".", "") or not csq_fields:
        return None
    entries = raw.split(",")
    n_alt = len(rec.alts)
    fields = list(csq_fields)
    names, named = None, None
    if "ALLELE_NUM" in fields:
        at = fields.index("ALLELE_NUM")
        names = [str(i) for i in range(1, n_alt + 1)]
    elif "Allele" in fields:
        at = fields.index("Allele")
    if "ALLELE_NUM" in fields or "Allele" in fields:
        # Sets and one pass over the entries: a line of many ALTs, each with its entries,
        # took time growing with the square of their number.
        named = [_csq_value(e, at).upper() for e in entries]
        schemes = [names] if names else [_vep_alleles(rec.ref, rec.alts), list(rec.alts)]
        names = None
        for scheme in schemes:
            known = set(scheme)
            if len(known) == n_alt and all(name in known for name in named):
                names = scheme
                break
    if names is None:
        raise rec.error(f"the {key} of this line with {n_alt} ALT alleles cannot be split per "
                        "ALT (its entries' ALLELE_NUM or Allele do not name its ALTs); "
                        "decompose the VCF before annotating it, or run VEP with "
                        "--allele_number")
    by_name = {}
    for entry, name in zip(entries, named):
        by_name.setdefault(name, []).append(entry)
    return [",".join(by_name[name]) if name in by_name else None for name in names]


def _csq_value(entry, index):
    values = entry.split("|")
    return values[index] if index < len(values) else ""


def _format_split_number(hdr, key):
    """How a FORMAT value is split per ALT: its Number (A, R, G), "reserved" for one
    declared Number=. that VCF reserves as per-allele (older GATK's AD), or None."""
    if key == "GT":
        return None
    number = hdr.format_def(key).number
    if number in ("A", "R", "G"):
        return number
    if number == "." and RESERVED_FORMAT.get(key, ("",))[0] in ("A", "R", "G"):
        return "reserved"
    return None


# How far END - POS may be from a CNV's |SVLEN|: callers count END as the last deleted or
# duplicated base (POS + |SVLEN|) or one before it. (Also ella.alleles' check per record.)
END_SVLEN_SLACK = 1


def _check_line_end(rec, items, info_values):
    """A line of several CNVs has one END, their furthest end (VCF 4.4): one far beyond
    every CNV's end says the call is broken (a 300 kb event written with SVLENs of 500
    became two 500-base CNVs). Each split record checks that END reaches its own end
    (ella.alleles); a value that is no number is left to those checks."""
    if "END" not in items or "SVLEN" not in info_values or \
            not any(alt.startswith("<") for alt in rec.alts):
        return
    try:
        end = int(items["END"])
        longest = max(abs(int(v)) for v in info_values["SVLEN"] if v not in ("", "."))
    except (TypeError, ValueError):
        return
    if end - rec.pos > longest + END_SVLEN_SLACK:
        raise rec.error(f"INFO END {end} lies beyond the end of every CNV of the line: END - "
                        f"POS is {end - rec.pos:,}, the longest SVLEN length {longest:,}")


def decompose(rec, line_length=0):
    """Split a multi-ALT record into one record per ALT (a generator, one at a time: a line
    of many ALTs held all their records at once); single-ALT -> rec. `line_length` (its
    line's characters) bounds what its records may hold."""
    n_alt = len(rec.alts)
    if n_alt <= 1:
        yield rec
        return
    hdr = rec._hdr
    n_alleles = n_alt + 1
    items = rec._items()
    fields = rec._fields()
    block_id = f"{rec.chrom}:{rec.pos}:{rec.ref}/{'/'.join(rec.alts)}"
    vep_of_alt = {key: _csq_by_alt(items.get(key), hdr.vep_fields(key), rec, key)
                  for key in hdr.vep_sources}
    # Every per-ALT list split once for the whole record.
    info_values = {}
    for key, raw in items.items():
        d = hdr.info.get(key)
        if d is not None and (d.number in ("A", "R", "G") or
                              (d.number == "." and key == "SVLEN")):
            info_values[key] = _split_list(raw)
    format_numbers = [_format_split_number(hdr, key) for key in rec.format_keys]
    format_values = [{k: _split_list(value) for k, value in enumerate(sample_fields)
                      if k < len(format_numbers) and format_numbers[k]}
                     for sample_fields in fields]
    # What the records of this line hold in all: their INFO items and sample fields. A
    # line of thousands of ALTs and thousands of samples or INFO keys (a few KB gzipped)
    # would make billions of them.
    size = n_alt * (len(items) + sum(len(sample_fields) for sample_fields in fields))
    limit = min(MAX_DECOMPOSED_VALUES,
                max(MIN_DECOMPOSED_VALUES, DECOMPOSED_VALUES_PER_CHAR * line_length))
    if size > limit:
        raise rec.error(f"this line of {n_alt:,} ALT alleles would be {n_alt:,} records of "
                        f"{size // n_alt:,} INFO and sample values each, more than the "
                        f"{limit:,} values a line of {line_length:,} characters may make; "
                        "split it into one line per ALT (bcftools norm -m-) and check the "
                        "caller's output")
    _check_line_end(rec, items, info_values)
    vep_split = [key for key, by_alt in vep_of_alt.items()
                 if key in items and key not in info_values and by_alt is not None]
    for a in range(1, n_alleles):
        new = Record()
        for name in ("_hdr", "path", "line_no", "chrom", "pos", "id", "ref", "qual",
                     "filter", "format_keys"):
            setattr(new, name, getattr(rec, name))
        new.alts = [rec.alts[a - 1]]
        new._info_text = None
        new._info = None
        # The line's items, copied whole; only the per-ALT ones replaced (in place: the
        # file's order stays).
        new_items = dict(items)
        for key, values in info_values.items():
            number = hdr.info[key].number
            # VCF 4.2 declares SVLEN Number=. with one length per ALT (4.4: Number=A).
            new_items[key] = _pick(items[key], values, "A" if number == "." else number, a,
                                   n_alleles, f"INFO {key}", rec)
        for key in vep_split:
            if vep_of_alt[key][a - 1] is None:
                del new_items[key]  # VEP found nothing for this ALT
            else:
                new_items[key] = vep_of_alt[key][a - 1]
        new_items.setdefault("OLD_MULTIALLELIC", block_id)
        new._info_items = new_items
        new._sample_text = None
        new_fields = []
        for sample_fields, split in zip(fields, format_values):
            nf = list(sample_fields)
            for k, values in split.items():
                key, number = rec.format_keys[k], format_numbers[k]
                if number != "reserved":
                    nf[k] = _pick(nf[k], values, number, a, n_alleles, f"FORMAT {key}", rec)
                else:
                    # Older GATK declares AD Number=.: split it as VCF's reserved AD (Number=R)
                    # when its count fits; left whole (and ignored, as AD of >2 values) if not.
                    try:
                        nf[k] = _pick(nf[k], values, RESERVED_FORMAT[key][0], a, n_alleles, "",
                                      rec)
                    except VcfError:
                        pass
            new_fields.append(nf)
        if rec.gts is not None:
            new.gts = [_recode_gt(gt, a) for gt in rec.gts]
            new.phased = list(rec.phased)
            for nf, gt, ph in zip(new_fields, new.gts, new.phased):
                nf[0] = format_gt(gt, ph)
        else:
            new.gts, new.phased = None, None
        new.gt_problems = rec.gt_problems
        new._sample_fields = new_fields
        yield new


# ---------------------------------------------------------------------------- reader

# The empty block that ends every complete BGZF (bgzip) file: htslib's "EOF marker".
BGZF_END = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


def bgzf_cut_short(path):
    """Whether `path` is BGZF (a gzip member whose extra field is `BC`, as bgzip and
    htslib write) and lacks the empty block a complete one ends with. htslib ends its blocks
    at line ends, so a copy cut between two blocks reads to gzip as a whole, shorter VCF:
    it was imported without its last variants, unsaid. A file that cannot be read from its
    end (a pipe) is not checked."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(18)
            if len(head) < 18 or head[:4] != b"\x1f\x8b\x08\x04" or head[12:14] != b"BC":
                return False
            size = fh.seek(0, os.SEEK_END)
            if size < len(head) + len(BGZF_END):
                return True
            fh.seek(size - len(BGZF_END))
            return fh.read() != BGZF_END
    except OSError:
        return False


def _open_text(path, errors="strict"):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    # utf-8-sig: a byte-order mark some editors write is skipped, not read as text.
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8-sig", errors=errors, newline="")
    return open(path, "r", encoding="utf-8-sig", errors=errors, newline="")


_UNDECODABLE = re.compile("[\udc80-\udcff]")  # bytes surrogateescape kept


def _first_line_not_utf8(path):
    """The number of the first line with bytes that are no UTF-8, counted as the reader
    counts, or None. The reader decodes ahead of the line it reads (8 KB at a time), so its
    own count named a line up to a few hundred before the bad one."""
    try:
        with _open_text(path, errors="surrogateescape") as fh:
            number = 0
            # As bounded as the reader: an endless line (a gzip bomb) is not held whole.
            while line := fh.readline(MAX_LINE_CHARS + 3):
                number += 1
                if _UNDECODABLE.search(line):
                    return number
                if len(line) > MAX_LINE_CHARS + 2:
                    return None
    except (OSError, EOFError, zlib.error):
        pass
    return None


class VcfReader:
    """Iterate over the records of a VCF file; the header is read on construction.

    Use as a context manager or call close(). With decompose=False, a record with more
    than one ALT raises VcfError instead of being split.
    """

    def __init__(self, path, decompose=True, contig_lengths=None):
        self.path = str(path)
        self.decompose = decompose
        # {CHROM: length}: a record reaching beyond its contig's end is refused (a VCF of
        # another build, or a corrupt one); contigs not named are not checked.
        self.contig_lengths = contig_lengths or {}
        self.header = VcfHeader()
        self.line_no = 0
        self._gt_cache = {}
        self._formats_checked = set()  # FORMAT strings seen without a key named twice
        try:
            self._fh = _open_text(path)
        except OSError as exc:  # unreadable (permissions, a failing disk or share)
            raise VcfError(f"cannot be read: {exc.strerror or exc}", self.path) from None
        if bgzf_cut_short(path):
            self.close()
            raise VcfError("a bgzip file without the empty block that ends a complete one: cut "
                           "short (an incomplete copy?); copy it again", self.path)
        try:
            self._read_header()
        except BaseException:
            self.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def _error(self, message, line_no=None):
        return VcfError(message, self.path, self.line_no if line_no is None else line_no)

    def _next_line(self):
        """Next line (without line ending) or None at end of file."""
        try:
            line = self._fh.readline(MAX_LINE_CHARS + 3)  # the limit, CR LF and one more
            if not line:
                return None
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise self._error(f"compressed data is damaged or truncated ({exc})",
                              self.line_no + 1) from None
        except UnicodeDecodeError:
            raise self._error("text is not valid UTF-8",
                              _first_line_not_utf8(self.path) or self.line_no + 1) from None
        except OSError as exc:  # an I/O error of the disk or share mid-file
            raise self._error(f"cannot be read: {exc.strerror or exc}",
                              self.line_no + 1) from None
        self.line_no += 1
        if len(line) > MAX_LINE_CHARS and len(line.rstrip("\r\n")) > MAX_LINE_CHARS:
            raise self._error(f"the line is longer than {MAX_LINE_CHARS:,} characters (not a "
                              "VCF line: a damaged or wrong file)")
        if "\x00" in line:
            # PostgreSQL text cannot hold it, and no VCF field has it.
            raise self._error("the line contains a NUL character (binary data)")
        if line.endswith("\n"):
            self._last_complete = True
            return line[:-2] if line.endswith("\r\n") else line[:-1]
        if line.endswith("\r"):
            # The reader splits on a carriage return alone too (old Mac line endings, or a
            # stray CR inside a field); htslib would not, and the values would not be ELLA's.
            raise self._error("the line ends with a carriage return alone (CR line endings "
                              "or a stray CR in a field): VCF lines end with LF or CR LF")
        self._last_complete = False
        return line

    def _read_header(self):
        hdr = self.header
        line = self._next_line()
        if line is None or not line.startswith("##fileformat=VCF"):
            raise self._error("is not valid bcf or vcf: the first line must be "
                              "'##fileformat=VCFv4.x'", 1)
        hdr.fileformat = line[len("##fileformat="):]
        while True:
            line = self._next_line()
            if line is None or not line.startswith("#"):
                raise self._error("missing the '#CHROM POS ID REF ALT QUAL FILTER INFO' "
                                  "header line")
            if self.line_no > MAX_HEADER_LINES:
                raise self._error(f"the header has more than {MAX_HEADER_LINES:,} lines (not "
                                  "a VCF header: a damaged or wrong file)")
            if line.startswith("##"):
                if line.startswith(("##reference=", "##assembly=")) or (
                        line.startswith("##contig=") and ("assembly=" in line
                                                          or "length=" in line)):
                    hdr.lines.append(line)
                try:
                    self._header_meta(line)
                except ValueError as exc:
                    raise self._error(f"bad header line: {exc}") from None
                continue
            cols = line.split("\t")
            if cols[:8] != FIXED_COLUMNS or (len(cols) > 8 and cols[8] != "FORMAT"):
                raise self._error("header line must be '#CHROM POS ID REF ALT QUAL FILTER "
                                  "INFO' (tab-separated), then optionally FORMAT and samples")
            hdr.columns = cols
            hdr.samples = cols[9:]
            if len(set(hdr.samples)) != len(hdr.samples):
                raise self._error("duplicate sample names in the #CHROM line")
            if any(not sample.strip() for sample in hdr.samples):
                # (A trailing tab after FORMAT made a sample named ''.)
                raise self._error("a sample in the #CHROM line has no name")
            if any(control_character(sample) for sample in hdr.samples):  # (an ESC)
                raise self._error("a sample name in the #CHROM line has a control character")
            if any(len(sample) > MAX_SAMPLE_NAME for sample in hdr.samples):
                raise self._error(f"a sample name in the #CHROM line is longer than "
                                  f"{MAX_SAMPLE_NAME} characters")
            return

    def _check_format_keys(self, keys):
        """A FORMAT naming a key twice: which of the two values is the key's cannot be told
        (the first was read: `GT:AD:AD:GQ` stored the DP as missing, unsaid)."""
        twice = sorted({key for key in keys if keys.count(key) > 1})
        if twice:
            raise self._error(f"FORMAT {':'.join(keys)} names {', '.join(twice)} more than "
                              "once")

    def _first_definition(self, definitions, d, kind):
        """Whether `d` is the first ##INFO/##FORMAT line of its ID. A later one (an
        annotation tool declaring a key the header has) is ignored, as htslib (so ELLA)
        ignores it: read by the last, a Float AF became text, a CSQ took another field
        list."""
        first = definitions.get(d.id)
        if first is None:
            return True
        if (first.number, first.type) != (d.number, d.type) or (
                d.id == "CSQ" and first.description != d.description):
            log.warning("%s, line %s: ##%s %s is defined again (Number=%s,Type=%s); the first "
                        "definition (Number=%s,Type=%s) is used, as htslib does", self.path,
                        self.line_no, kind, d.id, d.number, d.type, first.number, first.type)
        return False

    def _header_meta(self, line):
        hdr = self.header
        if line.startswith("##INFO="):
            d = _field_def(line, "INFO")
            if self._first_definition(hdr.info, d, "INFO"):
                hdr.info[d.id] = d
                if d.id == "CSQ":
                    hdr.csq_fields = vep_field_list(d.description)
        elif line.startswith("##FORMAT="):
            d = _field_def(line, "FORMAT")
            if self._first_definition(hdr.format, d, "FORMAT"):
                reserved = RESERVED_FORMAT.get(d.id)
                if reserved and reserved != (d.number, d.type):
                    log.warning("%s: ##FORMAT %s is Number=%s,Type=%s; VCF 4.3 says "
                                "Number=%s,Type=%s", self.path, d.id, d.number, d.type,
                                *reserved)
                hdr.format[d.id] = d
        elif line.startswith("##contig=<"):
            hdr.contigs.append(_parse_structured(line[len("##contig=<"):-1]).get("ID"))

    def __iter__(self):
        ncols = len(self.header.columns)
        has_format = ncols > 8
        gt_cache = self._gt_cache
        samples = self.header.samples
        hdr = self.header
        path = self.path
        decomp = self.decompose
        while True:
            line = self._next_line()
            if line is None:
                return
            if not line:
                continue  # tolerate blank lines
            if not self._last_complete:
                # A VCF writer ends every line with a newline; a last line without one is
                # what a cut-off copy looks like, and its last values may be cut short.
                raise self._error("the last line has no newline at its end: the file may "
                                  "be truncated (an incomplete copy); if it is complete, end "
                                  "it with a newline")
            cols = line.split("\t")
            if len(cols) != ncols:
                raise self._error(f"expected {ncols} tab-separated columns, found {len(cols)}")
            chrom = cols[0]
            if not chrom or chrom.strip() != chrom or " " in chrom:
                raise self._error(f"CHROM '{chrom[:40]}' is empty or contains white space")
            if len(chrom) > MAX_CHROM_LENGTH:
                # (ELLA's allele index refused it at the end, naming no line)
                raise self._error(f"CHROM '{chrom[:40]}...' is longer than "
                                  f"{MAX_CHROM_LENGTH} characters")
            pos = cols[1]
            if not (pos.isdigit() and pos.isascii()):
                raise self._error(f"POS '{pos}' is not a non-negative integer")
            ref = cols[3]
            if not ref or ref == ".":
                raise self._error("REF is empty")
            if not _BASES.fullmatch(ref):
                ref = _upper_bases(ref)
                if ref is None:
                    raise self._error(_bases_problem("REF", cols[3]))
            # int() of a digit string that long is refused by Python itself (over 4,300).
            position = int(pos) if len(pos.lstrip("0")) <= 10 else INT32_MAX
            if position < 1 or position + len(ref) > INT32_MAX:
                raise self._error(f"POS {pos[:20]} is outside 1-{INT32_MAX - len(ref):,} (POS 0, "
                                  "a telomere, is not supported)")
            contig_length = self.contig_lengths.get(chrom)
            if contig_length is not None and position + len(ref) - 1 > contig_length:
                raise self._error(f"{chrom}:{position} (REF of {len(ref):,} bases) reaches "
                                  f"beyond the end of {chrom}, {contig_length:,} bases long "
                                  "(is the VCF of another genome build?)")
            alt = cols[4]
            alts = [] if alt == "." else alt.split(",")
            if "" in alts:
                raise self._error(f"empty allele in ALT '{alt}'")
            for i, allele in enumerate(alts):
                if not _BASES.fullmatch(allele) and not _special_alt(allele):
                    alts[i] = _upper_bases(allele)
                    if alts[i] is None:
                        raise self._error(_bases_problem("ALT", allele))
            if len(set(alts)) != len(alts):
                # `C,c` or `C,C`: both decomposed records would be one allele, with one
                # genotype naming it as first and second allele.
                raise self._error(f"ALT '{alt}' lists the same allele twice")
            qual = cols[5]
            if qual != ".":
                try:
                    quality = float(qual)
                except ValueError:
                    raise self._error(f"QUAL '{qual}' is not a number") from None
                if not math.isfinite(quality) or abs(quality) > INT32_MAX:
                    raise self._error(f"QUAL '{qual}' is not a finite number up to "
                                      f"{INT32_MAX:,}")
            rec = Record()
            rec._hdr = hdr
            rec.path = path
            rec.line_no = self.line_no
            rec.chrom = chrom
            rec.pos = position
            rec.id = cols[2]
            rec.ref = ref
            rec.alts = alts
            rec.qual = qual
            rec.filter = cols[6]
            rec._info_text = cols[7]
            rec._info_items = None
            rec._info = None
            rec._sample_fields = None
            rec.gts = rec.phased = rec.gt_problems = None
            if has_format:
                keys = rec.format_keys = cols[8].split(":")
                if cols[8] not in self._formats_checked:
                    self._check_format_keys(keys)
                    self._formats_checked.add(cols[8])
                rec._sample_text = cols[9:]
                if keys[0] == "GT":
                    n_alt = len(alts)
                    gts, phased = [], []
                    for i, s in enumerate(rec._sample_text):
                        g = s.split(":", 1)[0]
                        parsed = gt_cache.get(g)
                        if parsed is None:
                            try:
                                parsed = gt_cache[g] = _parse_gt(g)
                            except ValueError:
                                raise self._error(f"bad GT '{g}' for sample "
                                                  f"{samples[i]}") from None
                        if max(parsed[0]) > n_alt:
                            # An error only if the record is imported (import.md 2.7): a
                            # relative's `1/2` on a site the proband lacks is never stored.
                            rec.gt_problems = rec.gt_problems or []
                            rec.gt_problems.append((i, (
                                f"GT '{g}' of sample {samples[i]} refers to an allele that "
                                f"ALT '{alt}' does not have")))
                        gts.append(parsed[0])
                        phased.append(parsed[1])
                    rec.gts, rec.phased = gts, phased
                elif "GT" in keys:
                    raise self._error("GT must be the first FORMAT key")
            else:
                rec.format_keys = []
                rec._sample_text = []
            if len(alts) > 1:
                if not decomp:
                    raise self._error(f"record has {len(alts)} ALT alleles; decomposed "
                                      "input (one ALT per record) is required")
                yield from decompose(rec, len(line))
            else:
                yield rec


def _special_alt(allele):
    """Symbolic (<DEL>), contig insertion (C<ctg1>), breakend (G]17:198982]), single breakend
    (G. or .G) and overlapping-deletion (*) ALTs: not bases; alleles.py decides which of them
    it can import."""
    return allele == "*" or "<" in allele or "[" in allele or "]" in allele \
        or (len(allele) > 1 and (allele[0] == "." or allele[-1] == "."))


def _upper_bases(allele):
    """Bases are case-insensitive in VCF: lower-case ones in upper case (else 'g' and 'G'
    would be two alleles of one variant); None when `allele` is not bases at all."""
    upper = allele.upper()
    return upper if _BASES.fullmatch(upper) else None


def _bases_problem(column, allele):
    return (f"{column} '{allele}' has characters other than the bases A, C, G, T, N and IUPAC "
            "codes")


def open_vcf(path, decompose=True, contig_lengths=None):
    """Open a VCF (plain or gzip/bgzip); returns a VcfReader (iterable of Record)."""
    return VcfReader(path, decompose=decompose, contig_lengths=contig_lengths)


def read_header(path):
    """Only the header of a VCF file."""
    with VcfReader(path) as reader:
        return reader.header
