"""Resolving what an analysis import consists of (import.md 1.3) and reading .ped files (1.4).

Input is a folder, a `.analysis` file or a single VCF file; the result is always the same
plain dict ("analysis config"): name, genepanel_name, genepanel_version, priority,
date_requested, report, warnings, data = [{vcf, ped, technology, callerName?}].
Every problem raises AnalysisConfigError with one line naming the file and what is wrong.
"""

import gzip
import hashlib
import json
import os
import re
import unicodedata
import zlib
from datetime import date, datetime
from fnmatch import fnmatchcase
from pathlib import Path

import functools

import jsonschema

from ella import jsonload
from ella.folder_walk import paths_below
from ella.text import (NotUtf8, control_character, file_problem, has_odd_space, is_utf8,
                       line_and_column, line_at, utf8_text)

# `<anything>[.-]<panel name>[-_]<panel version>`, greedy (the version is after the last - or _).
NAME_PATTERN = re.compile(
    r"^(?P<analysis_name>.+[.-](?P<genepanel_name>.+)[-_](?P<genepanel_version>.+))$")
VCF_SUFFIX = re.compile(r"\.vcf(\.gz)?$")
CNV_VCF_SUFFIX = re.compile(r"\.cnv\.vcf(\.gz)?$")

_DATA_ITEM = {
    "type": "object", "additionalProperties": False,
    "required": ["vcf", "technology"],
    "properties": {
        "vcf": {"type": "string", "minLength": 1},
        "ped": {"type": ["string", "null"]},
        "technology": {"enum": ["HTS", "Sanger"]},
        "callerName": {"type": "string"},
    },
}
# Longer names are damaged files, not names (PostgreSQL would refuse them only at the
# unique index, without saying which file).
MAX_NAME_LENGTH = 500
# report.txt / warnings.txt are shown with the analysis: a few KB in practice.
MAX_TEXT_FILE_BYTES = 10 * 1024 * 1024
MAX_PED_BYTES = 10 * 1024 * 1024
# A .analysis file is a few hundred bytes; read whole, one of gigabytes took memory 5 times
# its size before any check.
MAX_ANALYSIS_FILE_BYTES = 1024 * 1024
CONFIG_SCHEMA = {
    "type": "object", "additionalProperties": False,
    "required": ["name", "genepanel_name", "genepanel_version", "priority", "data"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME_LENGTH},
        "genepanel_name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME_LENGTH},
        "genepanel_version": {"type": "string", "minLength": 1, "maxLength": MAX_NAME_LENGTH},
        "priority": {"type": "integer", "minimum": 1, "maximum": 3},
        "date_requested": {"type": ["string", "null"]},
        "date_analysis_requested": {"type": ["string", "null"]},
        "report": {"type": ["string", "null"]},
        "warnings": {"type": ["string", "null"]},
        "data": {"type": "array", "items": _DATA_ITEM},
    },
}


class AnalysisConfigError(Exception):
    pass


# Format characters that are letters of some scripts (Persian, Indic): zero-width non-joiner
# and joiner.
_JOINERS = frozenset("\u200c\u200d")
# Invisible characters outside category Cf: Unicode's Default_Ignorable_Code_Point that are
# marks, letters or unassigned (the combining grapheme joiner, Hangul fillers, Khmer
# inherent vowels, variation selectors, reserved ones renderers show as nothing), and
# blank symbols (Braille blank, musical null notehead). `HBOC` followed by one read as the
# official `HBOC` on every screen.
_INVISIBLE = re.compile("[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u2065\u2800\u3164"
                        "\ufe00-\ufe0f\uffa0\ufff0-\ufff8\U0001d159\U000e0000-\U000e0fff]")



@functools.lru_cache(maxsize=None)
def _config_validator():
    """CONFIG_SCHEMA's validator, the schema itself checked once: `jsonschema.validate`
    checked the schema at every call, 18 ms of a folder's 20 (a watcher pass over a thousand
    folders took 10 s)."""
    cls = jsonschema.validators.validator_for(CONFIG_SCHEMA)
    cls.check_schema(CONFIG_SCHEMA)
    return cls(CONFIG_SCHEMA)

def has_control_character(name, new=True):
    """Whether a name holds a character that breaks its line (a newline would forge lines in
    the logs and split a panel export's comment line; also C1 controls and the Unicode line
    and paragraph separators) or, for a `new` name, hides or reorders its text (a
    right-to-left override shows `sample-123` as another name, a zero-width space makes a
    name look like another: a name read off a screen must be the name stored). Zero-width
    joiners and non-joiners are letters of Persian and Indic writing. An existing name (an
    append, a panel again) is checked for line breaks only: an adopted database's names
    stay usable. The messages call these "control or invisible characters"."""
    if control_character(name) is not None:
        return True
    if new and any(unicodedata.category(c) == "Cf" and c not in _JOINERS for c in name):
        return True
    return bool(new and _INVISIBLE.search(name))


def new_name_problem(name):
    """Why `name` cannot be a new analysis' or filter config's name (one read off a screen
    and picked from lists), or None: "A-1 " or "A-1" with a no-break space beside "A-1" read
    as that analysis."""
    if has_control_character(name):
        return "contains a control or invisible character"
    if name != name.strip():
        return "has blanks around it"
    if has_odd_space(name):
        return "has a space other than the plain one (a no-break space looks like it)"
    return None


def _hidden(path, folder):
    """A name starting with a dot, the file's or a folder's between it and `folder`: a macOS
    AppleDouble file (`._X.vcf`, the resource fork a Mac leaves on a share), a copy tool's
    partial file, an editor's lock (`.#x.analysis`), a file server's `.snapshot` folder of
    older copies. None of them is the analysis' (a shell's or Python's glob skips them too)."""
    return any(part.startswith(".") for part in path.relative_to(folder).parts)


def _analysis_paths(folder):
    """The paths below an analysis folder; AnalysisConfigError for a subfolder (not a hidden
    one) this service may not list: its VCFs were left out of the import without a word (a
    pipeline user's umask 077), and the rest imported as the whole analysis."""
    folder = Path(folder)

    def refuse(subfolder):
        if subfolder != folder and not _hidden(subfolder, folder):
            raise AnalysisConfigError(f"{subfolder}: a subfolder this service may not read "
                                      "(permission denied): its files would be left out of "
                                      "the analysis; make it readable for the service's user")
    return paths_below(folder, unreadable=refuse)


def _found(folder, pattern):
    """The analysis files matching `pattern` anywhere in `folder`, sorted by path."""
    folder = Path(folder)
    return sorted(p for p in _analysis_paths(folder) if fnmatchcase(p.name, pattern)
                  and p.is_file() and not _hidden(p, folder))


def _vcf_files(folder):
    return [p for p in _found(folder, "*") if VCF_SUFFIX.search(p.name)]


def _read_optional_text(folder, name, root=None):
    """report.txt / warnings.txt of `folder`, or None. Its text is shown to every user who
    may see the analysis, so it must be a file of the analysis folder (`root`, by default
    `folder`): a link to a file outside it is refused (it could show any file the service
    can read)."""
    path = Path(folder) / name
    if not path.is_file():
        if os.path.lexists(path):
            # A folder or a link to nothing: the analysis was imported without its report.
            raise AnalysisConfigError(f"{path}: {file_problem(path)}")
        return None
    if not path.resolve().is_relative_to(Path(root or folder).resolve()):
        raise AnalysisConfigError(f"{path}: a link to a file outside the analysis folder "
                                  f"({path.resolve()}); copy the file into the folder")
    text = _read_text(path, MAX_TEXT_FILE_BYTES, "a report is shown with the analysis",
                      bom=False)
    if "\x00" in text:
        line = line_at(text, text.index("\x00"))
        raise AnalysisConfigError(f"{path}: line {line}: contains a NUL character")
    return text


def _read_text(path, limit, why, bom=True):
    """The UTF-8 text of a file of at most `limit` bytes (`why`: what the limit is for), a
    byte-order mark skipped unless `bom` is false; AnalysisConfigError naming the line of a
    byte that is no UTF-8."""
    try:
        if Path(path).stat().st_size > limit:
            raise AnalysisConfigError(f"{path}: larger than {limit:,} bytes ({why})")
        data = Path(path).read_bytes()
    except OSError as exc:
        raise AnalysisConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        return utf8_text(data, bom=bom)
    except NotUtf8 as exc:
        raise AnalysisConfigError(f"{path}: {exc}") from None


def _names_from(stem, where):
    if not is_utf8(stem):
        # Bytes that are no UTF-8 (a Latin-1 share) stay in the name as surrogates, which
        # no text column takes: the import failed with Python's codec message.
        shown = os.fsencode(stem).decode("utf-8", "backslashreplace")
        raise AnalysisConfigError(
            f"the name '{shown}' that would give the analysis and its gene panel is not "
            "UTF-8 text: rename it, or give the folder a .analysis file naming them")
    match = NAME_PATTERN.match(stem)
    if not match:
        raise AnalysisConfigError(
            f"{where}: cannot tell the gene panel from the name {stem!r}: expected "
            "<analysis>.<panel>_<version> or <analysis>-<panel>-<version> "
            "(or put a .analysis file in the folder)")
    return match.group("analysis_name"), match.group("genepanel_name"), \
        match.group("genepanel_version")


def _check_date(value, where):
    if value is None:
        return None
    try:
        # ELLA's reading (strptime %Y-%m-%d: also 2016-6-9, without leading zeros), then
        # the other ISO forms Python reads (20160609, a week date) as earlier versions did.
        parsed = datetime.strptime(value, "%Y-%m-%d").date()
    except (TypeError, ValueError):
        try:
            parsed = date.fromisoformat(value)
        except (TypeError, ValueError) as exc:
            raise AnalysisConfigError(f"{where}: date_requested {value!r} is not a date "
                                      "(YYYY-MM-DD)") from exc
    # As YYYY-MM-DD: Python also reads forms PostgreSQL does not (2020-W01-1, a week date),
    # which failed later in the insert, without the file.
    return parsed.isoformat()


def _finish(config, where, base_dir, root=None):
    """Apply defaults, validate, resolve and check the data paths (relative to `base_dir`,
    and inside the analysis folder `root`, by default `base_dir`)."""
    config.setdefault("priority", 1)
    config.setdefault("report", None)
    config.setdefault("warnings", None)
    config.setdefault("data", [])
    for item in config["data"] if isinstance(config["data"], list) else ():
        if isinstance(item, dict):
            item.setdefault("technology", "HTS")
            item.setdefault("ped", None)
    try:
        # (The error `jsonschema.validate` would raise: the best match, not the first.)
        error = jsonschema.exceptions.best_match(_config_validator().iter_errors(config))
        if error is not None:
            raise error
    except jsonschema.ValidationError as exc:
        path = ".".join(str(p) for p in exc.absolute_path) or "(top level)"
        raise AnalysisConfigError(f"{where}: {path}: {exc.message}") from None
    for key, value in config.items():
        if isinstance(value, str) and "\x00" in value:
            raise AnalysisConfigError(f"{where}: {key} contains a NUL character")
    # (Line breaks only: an append names an existing analysis; a new one's name is checked
    # for invisible characters by the deposit.)
    if has_control_character(config["name"], new=False):
        raise AnalysisConfigError(f"{where}: name {config['name']!r} contains a control or "
                                  "invisible character")
    if not config["data"]:
        raise AnalysisConfigError(f"{where}: no VCF file to import")
    for item in config["data"]:
        for key in ("vcf", "ped"):
            if item.get(key):
                path = Path(item[key])
                if not path.is_absolute():
                    # A relative path names a file of this folder (links in it are
                    # followed); `..` must not lead out of it, e.g. into a folder that is
                    # not READY yet. Absolute paths are the pipeline's choice (import.md 1.3).
                    path = Path(base_dir) / path
                    inside = Path(os.path.normpath(path)).is_relative_to(
                        Path(os.path.normpath(root or base_dir)))
                    if not inside:
                        raise AnalysisConfigError(f"{where}: {key} {item[key]!r} leads out of "
                                                  "the analysis folder")
                if path.is_dir():
                    raise AnalysisConfigError(f"{where}: {key} {str(path)!r} is a folder, not "
                                              "a file")
                if not path.is_file():
                    raise AnalysisConfigError(f"{where}: {key} file {str(path)!r} "
                                              f"{file_problem(path)}")
                item[key] = str(path.resolve())
    vcfs = [item["vcf"] for item in config["data"]]
    twice = sorted({vcf for vcf in vcfs if vcfs.count(vcf) > 1})
    if twice:
        raise AnalysisConfigError(f"{where}: vcf file {twice[0]!r} is listed more than once "
                                  "(its samples and variants would be imported twice)")
    copy = _a_copy(vcfs)
    if copy:
        raise AnalysisConfigError(f"{where}: vcf file {copy[1]!r} holds the same VCF as "
                                  f"{copy[0]!r} (its samples and variants would be imported "
                                  "twice): keep one of them")
    if "date_analysis_requested" in config and config.get("date_requested") is None:
        # ELLA's legacy format maps both keys onto the same column; its current format
        # ignores this one (import.md 1.3), which we keep when `date_requested` is absent.
        config["date_requested"] = config["date_analysis_requested"]
    config.pop("date_analysis_requested", None)
    config["date_requested"] = _check_date(config.get("date_requested"), where)
    return config


# Two VCFs of one analysis are compared whole only if their first MiB (decompressed) is the
# same: different files of a family differ in their first records.
COPY_PREFIX = 1 << 20


def _a_copy(vcfs):
    """(first, second) of the first two VCFs with the same text (a `bgzip -k` left `x.vcf`
    beside `x.vcf.gz`, a copy under another name), else None. A file that cannot be read
    is left to the VCF reader, which says what is wrong with it."""
    if len(vcfs) < 2:
        return None
    try:
        prefixes = {}
        for vcf in vcfs:
            with _decompressed(vcf) as f:
                prefixes.setdefault(f.read(COPY_PREFIX), []).append(vcf)
        for same_start in prefixes.values():
            digests = {}
            for vcf in same_start:
                digest = _digest(vcf)
                if digest in digests:
                    return digests[digest], vcf
                digests[digest] = vcf
    except (OSError, EOFError, zlib.error):
        return None
    return None


def _decompressed(path):
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else open(path, "rb")


def _digest(path):
    digest = hashlib.sha256()
    with _decompressed(path) as f:
        for chunk in iter(lambda: f.read(COPY_PREFIX), b""):
            digest.update(chunk)
    return digest.digest()


def _from_analysis_file(path, root=None):
    """The config of a .analysis file; `root` is the analysis folder it lies in (possibly
    in a subfolder of it), by default the file's own folder."""
    path = Path(path)
    text = _read_text(path, MAX_ANALYSIS_FILE_BYTES, "not an analysis file")  # (BOM: Notepad)
    try:
        raw = jsonload.loads(text)
    except json.JSONDecodeError as exc:
        line, column = line_and_column(text, exc.pos)  # (read without newline translation)
        raise AnalysisConfigError(f"{path}: not valid JSON (line {line}, column {column}: "
                                  f"{exc.msg})") from exc
    except jsonload.UnstorableJson as exc:
        raise AnalysisConfigError(f"{path}: {exc}") from None
    if not isinstance(raw, dict):
        raise AnalysisConfigError(f"{path}: must be a JSON object")
    folder = path.parent
    if "params" in raw:
        config = _from_legacy(raw, path, folder)
    elif "genepanel_name" not in raw and "genepanel_version" not in raw:
        # (A legacy file that lost its params was "Additional properties are not allowed
        # ('type' was unexpected)".)
        raise AnalysisConfigError(f"{path}: names no gene panel: give genepanel_name and "
                                  "genepanel_version (or, in ELLA's legacy format, "
                                  "params.genepanel)")
    else:
        config = dict(raw)
    # In the analysis folder (import.md 1.3, as ELLA reads them), else beside the .analysis
    # file in its subfolder: a folder's report was lost when the file lay in a subfolder.
    for key, name in (("report", "report.txt"), ("warnings", "warnings.txt")):
        config[key] = next((text for place in dict.fromkeys((root or folder, folder))
                            if (text := _read_optional_text(place, name, root)) is not None),
                           None)
    return _finish(config, str(path), folder, root)


def _legacy_priority(value, path):
    """A legacy file's priority: a whole number, also written as text ("2", as ELLA's
    pipelines wrote it). 2.9 was stored as 2 and true as 1."""
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() \
            and len(value.strip()) <= 9:
        value = int(value)
    elif isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        shown = value if not isinstance(value, str) or len(value) <= 40 else value[:40] + "..."
        raise AnalysisConfigError(f"{path}: priority {shown!r} is not a whole number (1, 2 "
                                  "or 3)")
    return value


def _from_legacy(raw, path, folder):
    """ELLA's legacy .analysis: {"name", "params": {"genepanel": "<name>_<version>"}, ...}."""
    if not raw.get("name") or not isinstance(raw.get("name"), str):
        raise AnalysisConfigError(f"{path}: legacy .analysis file has no 'name'")
    genepanel = (raw.get("params") or {}).get("genepanel") if isinstance(raw.get("params"),
                                                                        dict) else None
    if not isinstance(genepanel, str) or "_" not in genepanel:
        raise AnalysisConfigError(f"{path}: params.genepanel must be '<name>_<version>'")
    panel_name, panel_version = genepanel.split("_", 1)
    priority = _legacy_priority(raw.get("priority", 1), path)
    # The first VCF, but not a `.cnv.vcf` beside the variants' VCF: import.md 1.2 ignores
    # those unless the `.analysis` names them, and a legacy one names none (`X.cnv.vcf`
    # sorts before `X.vcf`).
    vcfs = [v for v in _vcf_files(folder) if not CNV_VCF_SUFFIX.search(v.name)] \
        or _vcf_files(folder)
    if not vcfs:
        raise AnalysisConfigError(f"{path}: no .vcf or .vcf.gz file in {folder}")
    ped = folder / f"{path.stem}.ped"
    _refuse_odd_ped(ped)
    config = {"name": raw["name"], "genepanel_name": panel_name,
              "genepanel_version": panel_version, "priority": priority,
              "data": [{"vcf": vcfs[0].name if vcfs[0].parent == folder else str(vcfs[0]),
                        "ped": ped.name if ped.is_file() else None, "technology": "HTS"}]}
    for key in ("date_requested", "date_analysis_requested"):
        if raw.get(key):
            config["date_requested"] = raw[key]
    return config


def _refuse_odd_ped(ped):
    """A .ped that is a folder or a link to nothing is the pedigree gone missing: read as no
    .ped, a single-sample analysis was imported without its sex and family, unsaid (as the
    current format and report.txt refuse it)."""
    if os.path.lexists(ped) and not Path(ped).is_file():
        raise AnalysisConfigError(f"{ped}: {file_problem(ped)}")


def _from_folder(folder):
    folder = Path(folder)
    # Files only: a dangling link is none.
    analysis_files = _found(folder, "*.analysis")
    if len(analysis_files) > 1:
        raise AnalysisConfigError(f"{folder}: multiple .analysis files "
                                  f"({', '.join(p.name for p in analysis_files)}) are not "
                                  "supported")
    if analysis_files:
        return _from_analysis_file(analysis_files[0], root=folder)
    # A .analysis that is no file (a folder, a link to nothing) is the analysis' settings
    # gone missing: read from the folder's name instead, it could be imported on another
    # gene panel than the file names.
    odd = sorted(p for p in _analysis_paths(folder) if p.name.endswith(".analysis")
                 and not p.is_file() and not _hidden(p, folder))
    if odd:
        raise AnalysisConfigError(f"{odd[0]}: {file_problem(odd[0])}: the analysis' settings "
                                  "cannot be read (fix or remove it)")
    # The name as given, also for a symlinked folder (import.md 1.6: links count as
    # folders); `..` is collapsed without following links.
    name, panel, version = _names_from(Path(os.path.normpath(folder)).name, str(folder))
    vcfs = _vcf_files(folder)
    if not vcfs:
        raise AnalysisConfigError(f"{folder}: no .vcf or .vcf.gz file")
    # A .ped pairs with a VCF by stem anywhere in the folder (import.md 1.3), the one beside
    # the VCF first.
    for odd in _analysis_paths(folder):
        if odd.name.endswith(".ped") and not _hidden(odd, folder):
            _refuse_odd_ped(odd)
    peds = _found(folder, "*.ped")
    data = []
    for vcf in vcfs:
        stem = vcf.name.split(".")[0]
        beside = vcf.parent / f"{stem}.ped"
        ped = beside if beside.is_file() else next((p for p in peds if p.stem == stem), None)
        data.append({"vcf": str(vcf), "ped": str(ped) if ped else None, "technology": "HTS"})
    config = {"name": name, "genepanel_name": panel, "genepanel_version": version,
              "priority": 1, "data": data,
              "report": _read_optional_text(folder, "report.txt"),
              "warnings": _read_optional_text(folder, "warnings.txt")}
    return _finish(config, str(folder), folder)


def _from_vcf(path):
    path = Path(path)
    stem = VCF_SUFFIX.sub("", path.name)
    name, panel, version = _names_from(stem, str(path))
    config = {"name": name, "genepanel_name": panel, "genepanel_version": version,
              "priority": 1, "report": None, "warnings": None,
              "data": [{"vcf": str(path), "ped": None, "technology": "HTS"}]}
    return _finish(config, str(path), path.parent)


def resolve_analysis_config(path):
    """The analysis config for a folder, a .analysis file or a VCF file."""
    path = Path(path).absolute()
    if path.is_dir():
        return _from_folder(path)
    if not path.is_file():
        raise AnalysisConfigError(f"{path}: no such file or folder")
    if path.suffix == ".analysis":
        return _from_analysis_file(path)
    if VCF_SUFFIX.search(path.name):
        return _from_vcf(path)
    raise AnalysisConfigError(f"{path}: expected a folder, a .analysis file or a .vcf[.gz] file")


# --- pedigree ------------------------------------------------------------------------------

SEX = {"1": "Male", "2": "Female"}


def read_ped(path):
    """[{family_id, sample, father, mother, sex, affected, proband}] from a 7-column .ped."""
    rows, seen = [], {}
    # A byte-order mark (a Windows editor's) is skipped, as in VCFs and panel files: it
    # made the first family id "\ufeffFAM", another family than "FAM".
    text = _read_text(path, MAX_PED_BYTES, "not a pedigree")
    for lineno, line in enumerate(text.splitlines(), 1):
        # A comment line indented by an editor or a spreadsheet is one still (it was a
        # "7 columns" error).
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if "\x00" in line:
            raise AnalysisConfigError(f"{path}, line {lineno}: contains a NUL character")
        fields = line.rstrip("\r").split("\t")
        if len(fields) != 7:
            raise AnalysisConfigError(f"{path}, line {lineno}: expected 7 tab-separated "
                                      f"columns, found {len(fields)}")
        family, sample, father, mother, sex, affected, proband = (f.strip() for f in fields)
        if not family or not sample:
            raise AnalysisConfigError(f"{path}, line {lineno}: family id and sample id must "
                                      "not be empty")
        if max(map(len, (family, sample, father, mother))) > MAX_NAME_LENGTH:
            raise AnalysisConfigError(f"{path}, line {lineno}: an id is longer than "
                                      f"{MAX_NAME_LENGTH} characters")
        row = {"family_id": family, "sample": sample,
               "father": None if father == "0" else father,
               "mother": None if mother == "0" else mother,
               "sex": SEX.get(sex), "affected": affected == "2",
               "proband": proband == "1", "line": lineno}
        if sample in seen:
            raise AnalysisConfigError(f"{path}, line {lineno}: sample {sample} is already on "
                                      f"line {seen[sample]}")
        seen[sample] = lineno
        if sample in (row["father"], row["mother"]):
            raise AnalysisConfigError(f"{path}, line {lineno}: sample {sample} is given as "
                                      "its own parent")
        rows.append(row)
    if not rows:
        raise AnalysisConfigError(f"{path}: no samples")
    _check_parents_sex(path, rows)
    return rows


def _check_parents_sex(path, rows):
    """A father recorded as female or a mother as male is a mix-up in the pedigree (an
    unknown sex, 0, is fine)."""
    by_sample = {r["sample"]: r for r in rows}
    for row in rows:
        for role, wrong in (("father", "Female"), ("mother", "Male")):
            parent = by_sample.get(row[role])
            if parent and parent["sex"] == wrong:
                raise AnalysisConfigError(
                    f"{path}, line {parent['line']}: {parent['sample']} is the {role} of "
                    f"{row['sample']} (line {row['line']}) but has sex {wrong.lower()}")
