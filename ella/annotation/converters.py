"""Annotation converters: typed VCF INFO values -> ELLA's annotation JSON (spec/import.md 3).

Public API
----------
- `annotate_record(record, deposit_config, csq_fields, header=None) -> dict`: the annotation
  JSON of one decomposed VCF record, built by every element of `deposit_config` (the
  `deposit` list of an annotation config, e.g. `legacy_annotation_config()["deposit"]`).
- `Annotator(deposit_config, csq_fields=None, header=None)`: the same, set up once per VCF
  (`annotator.annotate(record)`); use it when annotating many records.
- `place(annotation, target, value, target_mode)`: the target path / target mode logic.
- Single converters, usable on their own: `convert_keyvalue`, `convert_mapping`,
  `convert_json`, `convert_meta`, `convert_vep`, `convert_clinvarjson`,
  `convert_clinvarreferences`, `convert_hgmd`, `convert_hgmdprimaryreport`,
  `convert_hgmdextrarefs`, plus the VEP helpers `hgvsc_distances`, `in_last_exon`,
  `shorten_hgvsc`.
- `AnnotationConversionError` (a ValueError) for any conversion failure, with the message
  `Error when trying to convert source '<key>' with value ...`; `AnnotationConfigError` for
  a bad deposit element.

Values are returned as Python objects (tuples from multi-valued INFO numbers stay tuples,
so `extend` of (1, 3) with (2, 4) gives (1, 3, 2, 4)); serialise with `json.dumps`.
Floats come from the exact decimal text of the VCF (spec/import.md 2.2), so they equal the
expected files exactly; ELLA itself stores float32-widened values, which we do not copy.

Choices where the spec is silent (documented here, tested in
tests/test_annotation_converters.py):
- keyvalue/mapping casting of a missing value (`None`, i.e. an INFO `.`) gives None instead of
  a cast error.
- `hgnc_id` from VEP's `HGNC_ID` accepts a leading `HGNC:` (newer VEP).
- ClinVar pubmed ids that are not integers are skipped.
"""

import base64
import binascii
import contextlib
import functools
import json
import logging
import math
import re
from urllib.parse import unquote

from ella.data_warnings import data_warning
from ella.vcf import vep_field_list

from . import hgnc

log = logging.getLogger(__name__)


class AnnotationConfigError(ValueError):
    """A deposit element that cannot be used (unknown converter or key, bad option)."""


class AnnotationConversionError(ValueError):
    """A converter failed on a value; aborts the whole deposit."""


class CastError(ValueError):
    pass


# --------------------------------------------------------------------------- casting

_TRUE = {"true", "yes", "on", "t", "y", "1"}
_FALSE = {"false", "no", "off", "f", "n", "0"}


def _to_bool(value):
    if isinstance(value, str):
        v = value.strip().lower()
        if v in _TRUE:
            return True
        if v in _FALSE:
            return False
        raise CastError(f"cannot cast {value!r} to bool")
    return bool(value)


def _to_int(value):
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise CastError(f"cannot cast {value!r} to int")  # int() raised OverflowError
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str):
        return int(value.strip())  # int("1.0") fails, as upstream
    raise CastError(f"cannot cast {value!r} to int")


def _to_float(value):
    if isinstance(value, (int, float, str)):
        return float(value)
    raise CastError(f"cannot cast {value!r} to float")


def _to_string(value):
    return value if isinstance(value, str) else str(value)


def _dot_is_missing(caster):
    """`caster` with VCF's missing value `.` read as None: a field a header types as a number
    reads so (import.md 2.2), but one typed String (real headers type some gnomAD
    frequencies so) kept the text, and its numeric cast refused the whole deposit."""
    def cast_or_none(value):
        return None if value == "." else caster(value)
    return cast_or_none


TARGET_TYPES = {
    "identity": lambda v: v,
    "int": _dot_is_missing(_to_int),
    "float": _dot_is_missing(_to_float),
    "bool": _dot_is_missing(_to_bool),
    "string": _to_string,
}


def cast(value, target_type):
    """Cast one value; raises CastError. None stays None."""
    if value is None:
        return None
    try:
        return TARGET_TYPES[target_type](value)
    except CastError:
        raise
    except (TypeError, ValueError) as exc:
        raise CastError(f"cannot cast {value!r} to {target_type}: {exc}") from None


def _check_target_type(target_type):
    if target_type not in TARGET_TYPES:
        raise AnnotationConfigError(f"unknown target_type '{target_type}' "
                                    f"(one of {', '.join(TARGET_TYPES)})")


# --------------------------------------------------------------------------- simple converters

def convert_keyvalue(value, target_type="identity", split=None, target_type_throw=True):
    """Cast `value` (or, with `split`, each part of the string) by `target_type`.

    A failed cast raises CastError, or gives None when `target_type_throw` is false.
    """
    _check_target_type(target_type)
    try:
        if split is not None and value is not None:
            if not isinstance(value, str):
                raise CastError(f"cannot split non-string value {value!r}")
            return [cast(part, target_type) for part in value.split(split)]
        return cast(value, target_type)
    except CastError:
        if target_type_throw:
            raise
        return None


def keyvalue_converter(target_type="identity", split=None, target_type_throw=True):
    """`convert_keyvalue` with its options bound once: the same results and errors, without
    re-checking the options for every value (an exome has millions of them)."""
    _check_target_type(target_type)
    if split is not None:
        return lambda value: convert_keyvalue(value, target_type, split, target_type_throw)
    if target_type == "identity":
        return lambda value: value
    caster = TARGET_TYPES[target_type]

    def convert(value):
        if value is None:
            return None
        try:
            return caster(value)
        except CastError:
            if target_type_throw:
                raise
            return None
        except (TypeError, ValueError) as exc:
            if target_type_throw:
                raise CastError(f"cannot cast {value!r} to {target_type}: {exc}") from None
            return None
    return convert


def convert_mapping(value, item_separator=",", keyvalue_separator=":", target_type="string",
                    target_type_throw=True):
    """`k1:v1,k2:v2` -> {"k1": v1, "k2": v2}, values cast by target_type.

    An item without the separator raises, as in ELLA (it was dropped without a word when
    target_type_throw is false); one whose value fails its cast raises, or is skipped when
    target_type_throw is false (import.md 3.2).
    """
    _check_target_type(target_type)
    if value is None:
        return None
    if not isinstance(value, str):
        raise CastError(f"mapping needs a string, got {value!r}")
    result = {}
    for item in value.split(item_separator):
        if keyvalue_separator not in item:
            raise CastError(f"item {item!r} has no '{keyvalue_separator}'")
        key, item_value = item.split(keyvalue_separator, 1)
        try:
            result[key] = cast(item_value, target_type)
        except CastError:
            if target_type_throw:
                raise
    return result


def decode(value, encoding="base16"):
    """Decode a base16/base32/base64 string to text."""
    if not isinstance(value, str):
        raise CastError(f"expected an encoded string, got {value!r}")
    try:
        if encoding == "base16":
            raw = base64.b16decode(value, casefold=True)
        elif encoding == "base32":
            raw = base64.b32decode(value, casefold=True)
        elif encoding == "base64":
            raw = base64.b64decode(value, validate=True)
        else:
            raise AnnotationConfigError(f"unknown encoding '{encoding}'")
    except binascii.Error as exc:
        raise CastError(f"not valid {encoding}: {exc}") from None
    return raw.decode("utf-8")


def _decode_json(value, encoding="base16"):
    try:
        return json.loads(decode(value, encoding))
    except json.JSONDecodeError as exc:
        raise CastError(f"decoded value is not JSON: {exc}") from None


def convert_json(value, encoding="base16", subpath=None):
    """Decoded JSON; with `subpath` (dot path) only that part, None when missing."""
    data = _decode_json(value, encoding)
    if subpath:
        for part in subpath.split("."):
            if isinstance(data, dict) and part in data:
                data = data[part]
            else:
                return None
    return data


DEFAULT_META_PATTERN = r"(?i)[a-z_]+\|[a-z_\|]+"


def meta_keys(description, meta_pattern=DEFAULT_META_PATTERN, value_separator="|"):
    """Key names from an ##INFO Description: exactly one match of meta_pattern, split."""
    matches = re.findall(meta_pattern, description or "")
    if len(matches) != 1:
        raise AnnotationConfigError(f"expected exactly one match of {meta_pattern!r} in "
                                    f"description {description!r}, found {len(matches)}")
    return matches[0].split(value_separator)


def convert_meta(value, keys, subelements, value_separator="|", list_separator=None):
    """Pipe-separated value(s) -> dict (list of dicts with list_separator), keeping and
    casting only the `subelements` (keyvalue element configs keyed by `source`)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise CastError(f"meta needs a string, got {value!r}")

    def one(text):
        # Zipped, as ELLA does (import.md 3.2): values beyond the keys are dropped, keys
        # beyond the values are absent.
        raw = dict(zip(keys, text.split(value_separator)))
        out = {}
        for sub in subelements:
            name = sub["source"]
            if name not in raw:
                continue
            out[name] = convert_keyvalue(raw[name], sub.get("target_type", "identity"),
                                         sub.get("split"), sub.get("target_type_throw", True))
        return out

    if list_separator is not None:
        return [one(item) for item in value.split(list_separator)]
    return one(value)


# --------------------------------------------------------------------------- ClinVar / HGMD

_CLINVAR_ITEM_KEYS = ["traitnames", "clinical_significance_descr", "variant_id", "submitter",
                      "last_evaluated"]


def convert_clinvarjson(value, encoding="base16"):
    data = _decode_json(value, encoding)
    if (isinstance(data, dict) and isinstance(data.get("variant_description"), str)
            and isinstance(data.get("variant_id"), int)
            and not isinstance(data.get("variant_id"), bool)
            and isinstance(data.get("rcvs"), dict)
            and all(_clinvar_entry(entry) for entry in data["rcvs"].values())):
        return {"variant_description": data["variant_description"],
                "variant_id": data["variant_id"],
                "items": [{"rcv": rcv, **{key: ", ".join(entry[key])
                                          for key in _CLINVAR_ITEM_KEYS}}
                          for rcv, entry in data["rcvs"].items()]}
    # Not in the shape import.md 3.4 describes (an entry without one of the lists, or a
    # text where a list belongs): stored as decoded, as ELLA stores it (made-up "" values
    # and a text read as a list of one were converted).
    return data


def _clinvar_entry(entry):
    return isinstance(entry, dict) and all(
        isinstance(entry.get(key), list) and all(isinstance(v, str) for v in entry[key])
        for key in _CLINVAR_ITEM_KEYS)


def _int_or_none(value):
    if isinstance(value, float) and value.is_integer():
        return int(value)  # (12345.0 is PubMed id 12345, as ELLA's int() reads it)
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def convert_clinvarreferences(value, encoding="base16"):
    data = _decode_json(value, encoding)
    refs = []
    if not isinstance(data, dict):
        return refs
    for key in ("pubmeds", "pubmed_ids"):
        pmids = data.get(key)
        if isinstance(pmids, (str, int)):
            pmids = [pmids]  # one id (iterating "12345" made references 1, 2, 3, 4 and 5)
        elif not isinstance(pmids, list):
            if pmids is not None:
                data_warning(log, "ClinVar %s %r is not a list of pubmed ids; skipped", key, pmids)
            pmids = []
        for pmid in pmids:
            pubmed_id = _int_or_none(pmid)
            if pubmed_id is None:
                data_warning(log, "ClinVar pubmed id %r is not an integer; skipped", pmid)
                continue
            refs.append({"pubmed_id": pubmed_id, "source": "CLINVAR", "source_info": ""})
    return refs


_HGMD_ESCAPES = [("@#EQ", "="), ("@#CM", ","), ("@#SC", ";"), ("@#SP", " "), ("@#TA", "\t")]


def hgmd_unescape(text):
    if not isinstance(text, str):
        return text
    for code, char in _HGMD_ESCAPES:
        text = text.replace(code, char)
    return text


def convert_hgmd(acc_num, disease=None, tag=None):
    return {"acc_num": acc_num, "disease": hgmd_unescape(disease), "tag": tag}


def _comments_text(comments):
    if comments is None or not isinstance(comments, str) or comments.strip() in ("", "None"):
        return "No comments."
    return hgmd_unescape(comments)


def convert_hgmdprimaryreport(pmid, comments=None):
    pubmed_id = _int_or_none(pmid)
    if pubmed_id is None:
        data_warning(log, "HGMD__pmid %r is not an integer; no primary report reference", pmid)
        return []
    return [{"pubmed_id": pubmed_id, "source": "HGMD",
             "source_info": f"Primary literature report. {_comments_text(comments)}"}]


REFTAGS = {"APR": "Additional phenotype", "FCR": "Functional characterisation",
           "MCR": "Molecular characterisation", "SAR": "Additional report"}


def extrarefs_fields(description):
    """Field names of HGMD__extrarefs from `Format: (pmid|title|...)` in its Description."""
    m = re.search(r"Format:\s*\(([^)]*)\)", description or "")
    if not m:
        raise AnnotationConfigError("HGMD extrarefs: no 'Format: (a|b|...)' in the ##INFO "
                                    f"description {description!r}")
    return m.group(1).split("|")


def convert_hgmdextrarefs(value, fields):
    refs = []
    if value is None:
        return refs
    for entry in value.split(","):
        d = dict(zip(fields, entry.split("|")))
        pubmed_id = _int_or_none(d.get("pmid"))
        if pubmed_id is None:
            data_warning(log, "HGMD extraref pmid %r is not an integer; skipped", d.get("pmid"))
            continue
        reftag = d.get("reftag") or ""
        # Only a missing or empty comment is "No comments." here (import.md 3.5; the
        # primary report's rule also took the text "None" for none).
        comments = (d.get("comments") or "").strip()
        if reftag == "APR" and not comments and d.get("disease"):
            info = hgmd_unescape(d["disease"])
        else:
            info = hgmd_unescape(comments) if comments else "No comments."
        refs.append({"pubmed_id": pubmed_id, "source": "HGMD",
                     "source_info": f"{REFTAGS.get(reftag, 'Reftag not specified')}. {info}"})
    return refs


# --------------------------------------------------------------------------- VEP

TRANSCRIPT_PREFIXES = ("NM_", "NR_", "ENST")
REFSEQ_SOURCE_PRIORITY = ["RefSeq_gff", "RefSeq_Interim_gff", "RefSeq"]
SILENT_SYMBOL_SOURCES = {"Clone_based_vega_gene", "Clone_based_ensembl_gene"}

_POS = r"([*-]?)(\d+)(?:([+-])(\d+))?"
_HGVSC_RE = re.compile(r"[cn]\." + _POS + r"(?:_" + _POS + r")?"
                       r"(?:[ACGTURYKMSWBDHVN]|del|dup|ins|inv)")


def hgvsc_distances(hgvsc):
    """(exon_distance, coding_region_distance) of an HGVSc without transcript prefix."""
    if not hgvsc:
        return None, None
    m = _HGVSC_RE.match(hgvsc)
    if not m:
        return None, None
    if m.group(6) is None:
        # One position (the common case): the general rule below, unrolled.
        utr, num, sign, offset = m.group(1, 2, 3, 4)
        if sign:
            distance = int(sign + offset)
            if distance != 0:
                return distance, None
        if not utr:
            return 0, 0
        return 0, int(num) if utr == "*" else -int(num)
    positions = [m.group(1, 2, 3, 4)]
    if m.group(6) is not None:
        positions.append(m.group(5, 6, 7, 8))
    offsets = [int(sign + num) for _, _, sign, num in positions if sign]
    if len(offsets) == len(positions):
        exon_distance = min(offsets, key=abs)  # first of equal magnitude
    else:
        exon_distance = 0  # no offset, or a range with one exonic end
    if exon_distance != 0:
        return exon_distance, None
    if any(not utr for utr, _, _, _ in positions):
        return 0, 0
    utr = [int(num) if mark == "*" else -int(num) for mark, num, _, _ in positions]
    return 0, min(utr, key=abs)


def in_last_exon(exon):
    """"yes" when EXON is i/N with i == N, else "no"; malformed EXON raises ValueError."""
    if not exon:
        return "no"
    if "/" not in exon:
        raise CastError(f"malformed EXON {exon!r}")
    number, total = exon.split("/", 1)
    return "yes" if number.strip() == total.strip() else "no"


_LONG_DELDUP = re.compile(r"(del|dup)([ACGTN]{10,})")
_LONG_INS = re.compile(r"ins([ACGTN]{10,})")


def shorten_hgvsc(hgvsc):
    """(HGVSc_short, inserted sequence or None): long del/dup sequences dropped, long
    inserted sequence replaced by its length."""
    short = _LONG_DELDUP.sub(r"\1", hgvsc)
    insertion = None
    m = _LONG_INS.search(short)
    if m:
        insertion = m.group(1)
        short = short[:m.start()] + f"ins({len(insertion)})" + short[m.end():]
    return short, insertion


def _hgnc_id(entry):
    raw = (entry.get("HGNC_ID") or "").strip()
    if raw:
        if raw.upper().startswith("HGNC:"):
            raw = raw[5:]
        return int(raw)
    hgnc_id = hgnc.id_from_gene(entry.get("Gene"))
    if hgnc_id is None:
        hgnc_id = hgnc.id_from_symbol(entry.get("SYMBOL"))
    return hgnc_id


@functools.lru_cache(maxsize=4096)
def _consequences(text):
    """Sorted consequence terms of a CSQ Consequence value ('a&b')."""
    return tuple(sorted(c for c in (text or "").split("&") if c))


def _vep_transcript(entry):
    """One CSQ entry (dict of the fields in _VEP_FIELDS) -> transcript dict, or None when no
    HGNC id can be found."""
    hgnc_id = _hgnc_id(entry)
    if hgnc_id is None:
        if entry.get("SYMBOL_SOURCE") not in SILENT_SYMBOL_SOURCES:
            data_warning(log, "no HGNC id for %s (SYMBOL %r, Gene %r); transcript dropped",
                              entry.get("Feature"), entry.get("SYMBOL"), entry.get("Gene"))
        return None
    if "STRAND" not in entry:  # (a bare KeyError 'STRAND' said neither where nor why)
        raise ValueError(f"the CSQ entry of {entry.get('Feature')} has no STRAND: the header's "
                         "CSQ Format lacks it (VEP writes it by default) or the entry has "
                         "fewer fields")
    get = entry.get
    # Always present: transcript, hgnc_id, symbol, strand, is_canonical, consequences,
    # in_last_exon, exon_distance and coding_region_distance (symbol and the distances may be
    # None). The other keys only with a non-empty value.
    t = {
        "transcript": entry["Feature"],
        "hgnc_id": hgnc_id,
        "symbol": get("SYMBOL") or hgnc.symbol_from_id(hgnc_id),
        "strand": int(entry["STRAND"]),
        "is_canonical": get("CANONICAL") == "YES",
        "consequences": list(_consequences(get("Consequence"))),
        "in_last_exon": in_last_exon(get("EXON")),
    }
    for key, csq_key in (("exon", "EXON"), ("intron", "INTRON"),
                         ("amino_acids", "Amino_acids"), ("codons", "Codons")):
        value = get(csq_key)
        if value:
            t[key] = value
    existing = get("Existing_variation")
    if existing:
        t["dbsnp"] = [v for v in existing.split("&") if v.startswith("rs")]
    # VEP percent-encodes what INFO cannot hold (VCF 4.3 1.2): a synonymous change's `=`
    # arrives as `p.Glu425%3D`; HGVS has no `%` of its own.
    hgvsc, hgvsp = (unquote(v) if v and "%" in v else v for v in (get("HGVSc"), get("HGVSp")))
    if hgvsc:
        hgvsc = hgvsc.split(":", 1)[1] if ":" in hgvsc else hgvsc
        t["HGVSc"] = hgvsc
        t["HGVSc_short"], insertion = shorten_hgvsc(hgvsc)
        if insertion:
            t["HGVSc_insertion"] = insertion
    if hgvsp:
        if ":" in hgvsp:
            t["protein"], t["HGVSp"] = hgvsp.split(":", 1)
        else:
            t["HGVSp"] = hgvsp
    t["exon_distance"], t["coding_region_distance"] = hgvsc_distances(t.get("HGVSc"))
    return t


def _pick_source(feature, entries):
    if len(entries) == 1:
        return entries[0]
    by_source = {}
    for e in entries:
        source = e.get("SOURCE")
        if source not in REFSEQ_SOURCE_PRIORITY:
            raise CastError(f"transcript {feature} occurs {len(entries)} times and one entry "
                            f"has SOURCE {source!r}; cannot choose")
        by_source.setdefault(source, e)
    for source in REFSEQ_SOURCE_PRIORITY:
        if source in by_source:
            return by_source[source]
    raise AssertionError("unreachable")


# The CSQ fields the conversion reads; the rest of an entry is never looked at.
_VEP_FIELDS = ("Feature_type", "Feature", "SOURCE", "HGNC_ID", "Gene", "SYMBOL",
               "SYMBOL_SOURCE", "STRAND", "CANONICAL", "Consequence", "EXON", "INTRON",
               "Amino_acids", "Codons", "Existing_variation", "HGVSc", "HGVSp")


def vep_converter(csq_fields, source="CSQ"):
    """`convert_vep` for one VCF's CSQ field list (that of INFO `source`). An entry is read
    as dict(zip(csq_fields, values)) reads it (values missing at the end are absent); with
    unique field names (VEP's own lists) only the fields the conversion uses are picked, by
    positions found once."""
    if not csq_fields:
        def missing_fields(value):
            raise AnnotationConfigError(f"vep converter: the VCF header has no {source} field "
                                        "list (its ##INFO line's 'Format: a|b|...')")
        return missing_fields
    csq_fields = tuple(csq_fields)
    if len(set(csq_fields)) == len(csq_fields):
        index = {name: i for i, name in enumerate(csq_fields)}
        positions = tuple((name, index[name]) for name in _VEP_FIELDS if name in index)
        type_index = index.get("Feature_type")

        def transcript_entry(values):
            n = len(values)
            if type_index is None or type_index >= n or values[type_index] != "Transcript":
                return None
            return {name: values[i] for name, i in positions if i < n}
    else:
        # A repeated name means its last position that the entry has: zip decides.
        def transcript_entry(values):
            entry = dict(zip(csq_fields, values))
            return entry if entry.get("Feature_type") == "Transcript" else None

    def convert(value):
        if value is None:
            return []
        by_feature = {}
        for raw in value.split(","):
            entry = transcript_entry(raw.split("|"))
            if entry is None:
                continue
            feature = entry.get("Feature") or ""
            if not feature.startswith(TRANSCRIPT_PREFIXES):
                continue
            by_feature.setdefault(feature, []).append(entry)
        transcripts = []
        for feature, entries in by_feature.items():
            if len(entries) > 1:
                # As ELLA: an entry without an HGNC id is dropped before the sources compete,
                # so a RefSeq_gff entry without one does not take a RefSeq entry's place.
                entries = [e for e in entries if _hgnc_id(e) is not None] or entries[:1]
            t = _vep_transcript(_pick_source(feature, entries))
            if t is not None:
                transcripts.append(t)
        transcripts.sort(key=lambda t: t["transcript"])
        return transcripts
    return convert


def convert_vep(value, csq_fields):
    """CSQ string -> list of transcript dicts sorted by transcript (spec/import.md 3.3)."""
    return vep_converter(csq_fields)(value)


# --------------------------------------------------------------------------- placing values

TARGET_MODES = ("insert", "extend", "append", "merge")


def _merge(old, new):
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(old.get(key), dict):
            _merge(old[key], value)
        else:
            old[key] = value
    return old


def place(annotation, target, value, target_mode="insert"):
    """Put `value` at dot path `target` of `annotation` (dict, changed in place)."""
    parts = target.split(".")
    node = annotation
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ValueError(f"target '{target}': '{part}' is not an object")
        node = child
    leaf = parts[-1]
    exists = leaf in node
    if target_mode == "insert":
        if exists:
            raise ValueError(f"target '{target}' already has a value (target_mode insert)")
        node[leaf] = value
    elif target_mode == "extend":
        if not exists:
            node[leaf] = value
        else:
            old = node[leaf]
            if type(old) is not type(value) or not isinstance(old, (list, tuple, str)):
                raise ValueError(f"target '{target}': cannot extend {type(old).__name__} "
                                 f"with {type(value).__name__}")
            node[leaf] = old + value
    elif target_mode == "append":
        if not exists:
            node[leaf] = [value]
        elif isinstance(node[leaf], list):
            node[leaf].append(value)
        else:
            raise ValueError(f"target '{target}': cannot append to {type(node[leaf]).__name__}")
    elif target_mode == "merge":
        if not exists:
            node[leaf] = value
        else:
            if not isinstance(node[leaf], dict) or not isinstance(value, dict):
                raise ValueError(f"target '{target}': merge needs objects")
            _merge(node[leaf], value)
    else:
        raise ValueError(f"unknown target_mode '{target_mode}'")
    return annotation


def placer(target, target_mode="insert"):
    """`place` with the target path split once: a function (annotation, value)."""
    if target_mode not in TARGET_MODES:
        raise ValueError(f"unknown target_mode '{target_mode}'")
    parts = target.split(".")
    parents, leaf = tuple(parts[:-1]), parts[-1]
    if target_mode != "insert":
        return lambda annotation, value: place(annotation, target, value, target_mode)

    def put(annotation, value):
        node = annotation
        for part in parents:
            child = node.get(part)
            if child is None and part not in node:
                child = node[part] = {}
            elif not isinstance(child, dict):
                raise ValueError(f"target '{target}': '{part}' is not an object")
            node = child
        if leaf in node:
            raise ValueError(f"target '{target}' already has a value (target_mode insert)")
        node[leaf] = value
    return put


# --------------------------------------------------------------------------- config / driver

_COMMON_KEYS = {"source", "target", "target_mode", "additional_sources"}
_CONVERTER_KEYS = {
    "keyvalue": {"target_type", "target_type_throw", "split"},
    "mapping": {"item_separator", "keyvalue_separator", "target_type", "target_type_throw"},
    "json": {"encoding", "subpath"},
    "meta": {"meta_pattern", "value_separator", "list_separator", "subelements"},
    "vep": set(),
    "clinvarjson": {"encoding"},
    "clinvarreferences": {"encoding"},
    "hgmd": set(),
    "hgmdprimaryreport": set(),
    "hgmdextrarefs": set(),
}
CONVERTERS = tuple(_CONVERTER_KEYS)
# What the converters that read additional_sources read from them, in order (the others
# ignore them, as ELLA's do).
_ADDITIONAL_SOURCES_READ = {"hgmd": "the disease, then the tag",
                            "hgmdprimaryreport": "the comments"}
_MOST_ADDITIONAL_SOURCES = {"hgmd": 2, "hgmdprimaryreport": 1}


class _Element:
    """One deposit element bound to its converter function."""

    def __init__(self, name, element, csq_fields, info_defs):
        unknown = set(element) - _COMMON_KEYS - _CONVERTER_KEYS[name]
        if unknown:
            raise AnnotationConfigError(f"converter {name}: unknown key(s) "
                                        f"{', '.join(sorted(unknown))} in element {element}")
        for key in ("source", "target"):
            if not isinstance(element.get(key), str) or not element[key]:
                raise AnnotationConfigError(f"converter {name}: element needs '{key}'")
        self.name = name
        self.source = element["source"]
        self.target = element["target"]
        self.target_mode = element.get("target_mode", "insert")
        if self.target_mode not in TARGET_MODES:
            raise AnnotationConfigError(f"unknown target_mode '{self.target_mode}'")
        self.additional_sources = list(element.get("additional_sources") or [])
        most = _MOST_ADDITIONAL_SOURCES.get(name)
        if most is not None and len(self.additional_sources) > most:
            # The converter's function takes no more: every record with the field failed
            # the import with a TypeError about positional arguments.
            raise AnnotationConfigError(
                f"converter {name} reads at most {most} additional_sources ("
                f"{_ADDITIONAL_SOURCES_READ[name]}), not {len(self.additional_sources)}")
        self.put = placer(self.target, self.target_mode)
        opts = {k: v for k, v in element.items() if k in _CONVERTER_KEYS[name]}
        if "target_type" in opts:
            _check_target_type(opts["target_type"])
        self.apply = self._apply
        if name == "keyvalue" and self.target_mode == "insert" and opts.get("split") is None:
            self.apply = _keyvalue_insert(keyvalue_converter(**opts), opts.get(
                "target_type", "identity"), self.target)
        if name == "vep":
            # The field list of its own source's header line: read with CSQ's, the entries of
            # VEP run with --vcf_info_field ANN, or of a second run, landed under other
            # fields' names (an HGVSp as the HGVSc) or were dropped.
            if self.source == "CSQ" or self.source not in info_defs:
                fields = csq_fields if self.source == "CSQ" else None
            else:
                fields = vep_field_list(info_defs[self.source].description)
            convert = vep_converter(fields, self.source)
            self.fn = lambda v, *a: convert(v)
        elif name == "keyvalue":
            convert = keyvalue_converter(**opts)
            self.fn = lambda v, *a: convert(v)
        elif name == "mapping":
            self.fn = lambda v, *a: convert_mapping(v, **opts)
        elif name == "json":
            self.fn = lambda v, *a: convert_json(v, **opts)
        elif name == "clinvarjson":
            self.fn = lambda v, *a: convert_clinvarjson(v, **opts)
        elif name == "clinvarreferences":
            self.fn = lambda v, *a: convert_clinvarreferences(v, **opts)
        elif name == "hgmd":
            self.fn = convert_hgmd
        elif name == "hgmdprimaryreport":
            self.fn = convert_hgmdprimaryreport
        elif name == "hgmdextrarefs":
            self._fields = None
            definition = info_defs.get(self.source)
            description = getattr(definition, "description", None)
            with _naming_header_line(self.source):
                fields = extrarefs_fields(description) if description is not None else None

            def extrarefs(v, *a):
                if fields is None:
                    raise AnnotationConfigError(f"no ##INFO header line for {self.source}")
                return convert_hgmdextrarefs(v, fields)
            self.fn = extrarefs
        elif name == "meta":
            definition = info_defs.get(self.source)
            separator = opts.get("value_separator", "|")
            # The keys come from the source's ##INFO line; without one (a config checked
            # without a VCF, or a VCF that lacks the field) only a record that carries the
            # field is an error, as for hgmdextrarefs.
            with _naming_header_line(self.source):
                keys = None if definition is None else meta_keys(
                    definition.description, opts.get("meta_pattern", DEFAULT_META_PATTERN),
                    separator)
            subelements = opts.get("subelements") or []
            for sub in subelements:
                if "target_type" in sub:
                    _check_target_type(sub["target_type"])
            unknown = [sub.get("source") for sub in subelements
                       if keys is not None and sub.get("source") not in keys]
            if unknown:
                # A config's typo (`Count` for `count`) left that value out of every record
                # without a word; ELLA refuses it.
                raise AnnotationConfigError(
                    f"meta {self.source}: subelement(s) {', '.join(map(repr, unknown))} are "
                    f"not among the keys its ##INFO line names ({'|'.join(keys)})")

            def meta(v, *a):
                if keys is None and v is not None:
                    raise AnnotationConfigError(f"no ##INFO header line for {self.source}")
                return convert_meta(v, keys, subelements, separator, opts.get("list_separator"))
            self.fn = meta


    def _apply(self, annotation, value, info):
        """Convert `value` (of INFO self.source; `info` for additional sources) and put it."""
        if self.additional_sources:
            result = self.fn(value, *[info.get(s) for s in self.additional_sources])
        else:
            result = self.fn(value)
        self.put(annotation, result)


@contextlib.contextmanager
def _naming_header_line(source):
    """A header problem says which ##INFO line it is in (a deposit of several VCFs names
    the file)."""
    try:
        yield
    except AnnotationConfigError as exc:
        raise AnnotationConfigError(f"the ##INFO line of {source}: {exc}") from None


# The Python type a keyvalue target_type casts to; a value that already has it is unchanged
# by the cast (int(5) is 5), so the cast is skipped.
_CAST_RESULT_TYPE = {"int": int, "float": float, "string": str}


def _keyvalue_insert(convert, target_type, target):
    """`_Element._apply` for the common element (keyvalue, insert, no split): an exome deposit
    calls it for every INFO field of every variant, so the cast is skipped when the value
    already has the target type. Same results and errors as convert + `placer(target)`."""
    put = placer(target)
    identity = target_type == "identity"
    result_type = _CAST_RESULT_TYPE.get(target_type)

    def apply(annotation, value, info):
        if not identity and (value is None or type(value) is not result_type):
            value = convert(value)
        put(annotation, value)
    return apply


class Annotator:
    """Deposit config set up for one VCF; `annotate(record)` -> annotation JSON (dict)."""

    def __init__(self, deposit_config, csq_fields=None, header=None):
        info_defs = getattr(header, "info", None) or {}
        if csq_fields is None:
            csq_fields = getattr(header, "csq_fields", None)
        self.by_source = {}
        vep_sources = {"CSQ"}
        for converter in deposit_config:
            name = converter.get("name")
            if name not in _CONVERTER_KEYS:
                raise AnnotationConfigError(f"unknown converter '{name}'")
            for element in (converter.get("converter_config") or {}).get("elements") or []:
                el = _Element(name, element, csq_fields, info_defs)
                self.by_source.setdefault(el.source, []).append(el)
                if name == "vep":
                    vep_sources.add(el.source)
        if header is not None:
            # A multi-ALT line's entries of these sources are split per ALT, as CSQ's: copied
            # whole, the second ALT got the first one's consequences and HGVS.
            header.vep_sources = tuple(sorted(vep_sources))

    def annotate(self, record):
        info = record.info if not isinstance(record, dict) else record
        annotation = {}
        by_source = self.by_source
        for key, value in info.items():
            elements = by_source.get(key)
            if elements is None:
                continue
            for el in elements:
                try:
                    el.apply(annotation, value, info)
                except AnnotationConfigError:
                    raise
                except Exception as exc:
                    shown = value if not isinstance(value, str) or len(value) <= 200 \
                        else value[:200] + "..."
                    raise AnnotationConversionError(
                        f"Error when trying to convert source '{key}' with value {shown!r} "
                        f"(converter {el.name}, target {el.target}): {exc}") from exc
        references = annotation.get("references")
        if isinstance(references, list):
            references.sort(key=_reference_order)
        return annotation


def _reference_order(reference):
    """By PubMed id, as ELLA orders them; a reference whose id is missing or not a number
    (a site's own json converter) after those, instead of a TypeError."""
    pubmed_id = reference.get("pubmed_id") if isinstance(reference, dict) else 0
    if isinstance(pubmed_id, int) and not isinstance(pubmed_id, bool):
        return (0, pubmed_id, "")
    return (1, 0, str(pubmed_id))


def annotate_record(record, deposit_config, csq_fields, header=None):
    """Annotation JSON of one decomposed VCF record.

    `header` (a `VcfHeader`) supplies ##INFO descriptions for hgmdextrarefs/meta; when
    omitted, the header the record was read with is used.
    """
    if header is None:
        header = getattr(record, "_hdr", None)
    return Annotator(deposit_config, csq_fields, header).annotate(record)
