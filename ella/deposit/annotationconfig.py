"""Annotation configs (ELLA's `annotationconfig update|list`; import.md 3.1).

An annotation config is a YAML file with two lists: `deposit` (how a VCF's INFO fields become
the annotation JSON; `ella.annotation.converters`) and `view` (how the UI shows it). Rows of
`annotationconfig` are never changed: `update` inserts a new row and the newest row is the
active one, used by every later import. A file equal to the active config (`deposit` compared
ignoring order, `view` as is) is refused, so the history holds real changes only.

Everything is checked before writing: YAML syntax (with its line), values JSON can hold, the
shape (our schema below, equivalent to ELLA's `annotationconfig.json`), and each deposit
element against its converter's own keys and options, so a config that is stored can be used
by the next import.
"""

import json
import math
import re

import jsonschema
import yaml

from ella import jsonload
from ella.yamlload import RepeatedKeyLoader
from ella.annotation.converters import (CONVERTERS, AnnotationConfigError, Annotator,
                                        DEFAULT_META_PATTERN)
from ella.text import NotUtf8, line_at, utf8_text

MAX_FILE_BYTES = 10 * 1024 * 1024  # ELLA's legacy config is 20 kB

_TYPES = ["int", "string", "float", "bool"]
_TEXT = {"type": "string", "minLength": 1}
_SEPARATOR = {"type": "string", "minLength": 1}

SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["deposit", "view"],
    "additionalProperties": False,
    "properties": {
        "deposit": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "converter_config"],
                "additionalProperties": False,
                "properties": {
                    "name": {"enum": list(CONVERTERS)},
                    "converter_config": {
                        "type": "object",
                        "required": ["elements"],
                        "additionalProperties": False,
                        "properties": {"elements": {"type": "array", "items": {
                            "type": "object",
                            "required": ["source", "target"],
                            "additionalProperties": False,
                            "properties": {
                                "source": _TEXT,
                                "target": _TEXT,
                                "target_mode": {"enum": ["insert", "extend", "append",
                                                         "merge"]},
                                "additional_sources": {"type": "array", "items": _TEXT},
                                "target_type": {"enum": _TYPES},
                                "target_type_throw": {"type": "boolean"},
                                "split": _SEPARATOR,
                                "item_separator": _SEPARATOR,
                                "keyvalue_separator": _SEPARATOR,
                                "list_separator": _SEPARATOR,
                                "value_separator": _SEPARATOR,
                                "encoding": {"enum": ["base16", "base32", "base64"]},
                                "subpath": _TEXT,
                                "meta_pattern": _TEXT,
                                "subelements": {"type": "array", "items": {
                                    "type": "object",
                                    "required": ["source"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "source": _TEXT,
                                        "target_type": {"enum": _TYPES},
                                        "target_type_throw": {"type": "boolean"},
                                        "split": _SEPARATOR,
                                    }}},
                            }}}},
                    },
                },
            },
        },
        "view": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["section", "template", "source", "config"],
                "additionalProperties": False,
                "properties": {
                    "section": {"enum": ["frequency", "prediction", "external"]},
                    "template": {"enum": ["keyValue", "itemList", "frequencyDetails",
                                          "clinvarDetails"]},
                    "source": {"type": "string"},
                    "title": {"type": "string"},
                    "url": {"type": "string"},
                    "url_empty": {"type": "string"},
                    "config": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "columns": {"type": "object",
                                        "additionalProperties": {"type": "string"}},
                            "rows": {"type": "object",
                                     "additionalProperties": {"type": "string"}},
                            "names": {"type": "object",
                                      "additionalProperties": {"type": "string"}},
                            "warnings": {"type": "string"},
                            "key_column": {"type": "string"},
                            "precision": {"type": "integer", "minimum": 0},
                            "scientific_threshold": {"type": "integer", "minimum": 0},
                            "indications": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {
                                    "keys": {"type": "array", "items": {"type": "string"}},
                                    "threshold": {"type": "integer", "minimum": 0},
                                },
                            },
                            "items": {"type": "array", "items": {
                                "type": "object",
                                "properties": {
                                    "subsource": {"type": "string"},
                                    "url": {"type": "string"},
                                    "type": {"enum": ["primitives", "objects"]},
                                }}},
                        },
                    },
                },
            },
        },
    },
}
_VALIDATOR = jsonschema.Draft7Validator(SCHEMA)

MATCHES_ACTIVE = "The annotation config matches the current active annotation config."


class AnnotationConfigFileError(Exception):
    """A config file or config that cannot be stored; the message says where and why."""


def read_annotation_config_file(path):
    """The parsed YAML of `path` (any shape; `check_annotation_config` checks it)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise AnnotationConfigFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise AnnotationConfigFileError(f"{path}: larger than {MAX_FILE_BYTES // 2**20} MiB; "
                                        "not an annotation config")
    try:
        text = utf8_text(data, bom=False)  # (YAML reads a BOM itself)
    except NotUtf8 as exc:
        raise AnnotationConfigFileError(f"{path}: {exc}") from None
    try:
        return yaml.load(text, Loader=RepeatedKeyLoader)  # a SafeLoader
    except yaml.reader.ReaderError as exc:  # (no mark: its text was two lines)
        line = line_at(text, exc.position)
        raise AnnotationConfigFileError(
            f"{path}: not valid YAML: line {line}: the character U+{exc.character:04X} is not "
            "allowed in YAML (a control character)") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise AnnotationConfigFileError(f"{path}: not valid YAML: {where}{problem}") from None
    except RecursionError:  # PyYAML builds nested values recursively: `[[[...` of a KB
        raise AnnotationConfigFileError(f"{path}: nested too deeply (at most "
                                        f"{jsonload.MAX_DEPTH} levels)") from None
    except ValueError as exc:  # e.g. an integer of over 4,300 digits
        raise AnnotationConfigFileError(f"{path}: a value cannot be read: {exc}") from None


def _path_text(path):
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


MAX_NODES = 1_000_000  # YAML aliases can make a small file a huge (or endless) document


def _json_problem(value):
    """(path, problem) of the first part of a YAML value JSON cannot hold (dates, binary,
    non-text keys, NaN), or None."""
    stack = [(value, [])]
    seen = 0
    while stack:
        seen += 1
        if seen > MAX_NODES:
            return [], f"holds more than {MAX_NODES:,} values (repeated YAML aliases?)"
        item, path = stack.pop()
        if len(path) > jsonload.MAX_DEPTH:
            return path[:5], f"is nested too deeply (at most {jsonload.MAX_DEPTH} levels)"
        if isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str):
                    return path, f"has the key {key!r}, which is not text"
                stack.append((child, path + [key]))
        elif isinstance(item, list):
            stack.extend((child, path + [i]) for i, child in enumerate(item))
        elif isinstance(item, float) and not math.isfinite(item):
            return path, "is not a finite number"
        elif item is not None and not isinstance(item, (str, int, float, bool)):
            return path, f"is a {type(item).__name__}, not a JSON value (quote it)"
    return None


def check_annotation_config(config):
    """Raise AnnotationConfigFileError with the path of the first problem of a parsed
    config."""
    if not isinstance(config, dict):
        raise AnnotationConfigFileError("the file must hold a mapping with 'deposit' and 'view' "
                                        "lists")
    problem = _json_problem(config)
    if problem is not None:
        raise AnnotationConfigFileError(f"{_path_text(problem[0])} {problem[1]}")
    try:
        jsonload.check_storable(config)
    except jsonload.UnstorableJson as exc:
        raise AnnotationConfigFileError(str(exc)) from None
    errors = list(_VALIDATOR.iter_errors(config))
    if errors:
        error = jsonschema.exceptions.best_match(errors)
        message = error.message if len(error.message) <= 200 else error.message[:200] + "..."
        raise AnnotationConfigFileError(f"{_path_text(error.absolute_path)}: {message}")
    if not config["deposit"]:
        # Then every import stores its variants' annotation as {}, a re-import superseding
        # the transcripts and frequencies interpreters work from.
        raise AnnotationConfigFileError("deposit is empty: every later import would store its "
                                        "variants without annotation (no transcripts, "
                                        "frequencies or external data)")
    for index, converter in enumerate(config["deposit"]):
        for element in converter["converter_config"]["elements"]:
            pattern = element.get("meta_pattern", DEFAULT_META_PATTERN)
            try:
                re.compile(pattern)
            except re.error as exc:
                raise AnnotationConfigFileError(
                    f"deposit[{index}] ({converter['name']}): meta_pattern {pattern!r} is not a "
                    f"regular expression: {exc}") from None
        try:
            Annotator([converter])  # the converter's own keys and options
        except AnnotationConfigError as exc:
            raise AnnotationConfigFileError(f"deposit[{index}]: {exc}") from None
        for element in converter["converter_config"]["elements"]:
            problem = _target_problem(converter["name"], element)
            if problem:
                raise AnnotationConfigFileError(
                    f"deposit[{index}] ({converter['name']}): target {element['target']!r}: "
                    f"{problem}")


# The converters whose values are the lists the annotation schema wants under `transcripts`
# and `references`.
LIST_TARGETS = {"transcripts": {"vep"},
                "references": {"clinvarreferences", "hgmdprimaryreport", "hgmdextrarefs"}}
# The frequency fields the shadow table has columns for, and the cast each needs.
SHADOW_FREQUENCY_TYPES = {"freq": "float", "num": "int"}


def _target_problem(name, element):
    """Why an element's target would make annotation the next import refuses (the schema,
    the shadow columns), or None: stored, such a config failed every later import of a VCF
    with that field, far from the change."""
    parts = element["target"].split(".")
    if "" in parts:
        return "a path with an empty part (two dots, or one at an end)"
    allowed = LIST_TARGETS.get(parts[0])
    if allowed is not None and name not in allowed:
        return (f"the annotation schema wants a list of {parts[0]} there, which only the "
                f"{', '.join(sorted(allowed))} converter(s) make")
    if allowed is not None and len(parts) > 1:
        return (f"the {name} converter makes the list of {parts[0]} itself: give target "
                f"{parts[0]!r}")
    if allowed is not None and element.get("target_mode") == "append":
        return (f"target_mode append would put the {name} converter's list of {parts[0]} "
                "inside another list; use insert or extend")
    if (name == "keyvalue" and parts[0] == "frequencies" and len(parts) == 4
            and parts[2] in SHADOW_FREQUENCY_TYPES):
        wanted = SHADOW_FREQUENCY_TYPES[parts[2]]
        if element.get("target_type") != wanted:
            return (f"a frequency {parts[2]} is a column of type {wanted} in the shadow "
                    f"table: give target_type {wanted!r}")
    return None


def target_collision_warnings(deposit):
    """Warnings (text) for elements that cannot both place their values in one record: one
    target where one of them inserts (or one merges objects and the other adds to a list), or
    a target inside one a `keyvalue`, inserting or list element fills. A VCF record holding
    both fields is then refused at import ("already has a value", "is not an object"), an
    exome's first such record failing the whole deposit; two names of one field in different
    pipelines, which never meet in one record, are fine. Warned, not refused, for that."""
    placed = {}  # target -> [(where, mode, converter name)]
    for index, converter in enumerate(deposit):
        for number, element in enumerate(converter["converter_config"]["elements"]):
            where = (f"deposit[{index}] ({converter['name']}) element {number} (source "
                     f"{element['source']!r})")
            placed.setdefault(element["target"], []).append(
                (where, element.get("target_mode", "insert"), converter["name"]))
    warnings = []
    after = ("a VCF record holding both fields may be refused at import (fine if they never "
             "meet in one record)")
    for target, elements in placed.items():
        for later, (where, mode, _) in enumerate(elements[1:], start=1):
            for first, first_mode, _ in elements[:later]:
                modes = {mode, first_mode}
                if "insert" in modes or ("merge" in modes and modes & {"extend", "append"}):
                    warnings.append(f"{where} and {first} both place target {target!r} "
                                    f"(target_mode {first_mode} and {mode}): {after}")
                    break
    for target, elements in placed.items():
        inside = sorted(t for t in placed if t.startswith(target + "."))
        if not inside:
            continue
        for where, mode, name in elements:
            if name == "keyvalue" or mode != "merge":
                warnings.append(f"{placed[inside[0]][0][0]}: target {inside[0]!r} is inside "
                                f"{target!r}, which {where} fills (target_mode {mode}): "
                                f"{after}")
                break
    return warnings


def _canonical(item):
    return json.dumps(item, sort_keys=True, separators=(",", ":"))


def same_config(a, b):
    """ELLA's equality: `deposit` ignoring its order, `view` as is."""
    return (sorted(map(_canonical, a["deposit"])) == sorted(map(_canonical, b["deposit"]))
            and _canonical(a["view"]) == _canonical(b["view"]))


def active_annotation_config(conn):
    """(id, {"deposit", "view"}, date_created) of the newest row, or None."""
    row = conn.execute("SELECT id, deposit, view, date_created FROM annotationconfig "
                       "ORDER BY id DESC LIMIT 1").fetchone()
    if row is None:
        return None
    return row[0], {"deposit": row[1], "view": row[2]}, row[3]


def update_annotation_config(conn, config):
    """Insert `config` (checked) as the new active row and return its id; refuse one equal to
    the active config. One `update` at a time, so that check holds when the row goes in."""
    check_annotation_config(config)
    with conn.transaction():
        conn.execute("LOCK TABLE annotationconfig IN SHARE ROW EXCLUSIVE MODE")
        active = active_annotation_config(conn)
        if active is not None and same_config(active[1], config):
            raise AnnotationConfigFileError(MATCHES_ACTIVE)
        return conn.execute(
            "INSERT INTO annotationconfig (deposit, view, date_created) "
            "VALUES (%s::json, %s::json, now()) RETURNING id",
            (json.dumps(config["deposit"]), json.dumps(config["view"]))).fetchone()[0]
