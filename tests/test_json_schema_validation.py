"""JSON-schema validation: the PL/pgSQL validator of sql/triggers/010_json_schema_validation.sql,
the schema_version() function and triggers, and our schema documents in ella/jsonschemas/
(datamodel.md 5.3 and 6).

Python's jsonschema (Draft 7) is the reference for the validator; ELLA 1.17's own schema
documents are the reference for our documents (the tests that need them skip when they are not
available, see their docstrings).
"""

import copy
import functools
import hashlib
import json
from pathlib import Path

import psycopg
import pytest
from jsonschema import Draft7Validator
from psycopg.types.json import Jsonb

from ella.jsonschemas import load_schema_documents

import shared_verdicts

TESTS_DIR = Path(__file__).resolve().parent
ROOT = TESTS_DIR.parent
DATA_DIR = TESTS_DIR / "data"
SHARED_DIR = TESTS_DIR.parent.parent / "shared"   # ../shared relative to the repository root
SHARED_SCHEMAS = SHARED_DIR / "data" / "schemas"

OURS = {(name, version): doc for name, version, doc in load_schema_documents()}
JSONV_PREFIX = "schema_name={name}, data="
JSONV_SUFFIX = " ---- failed to validate against any of the existing schemas"


def py_valid(schema, instance):
    return Draft7Validator(schema).is_valid(instance)


def sql_valid(conn, schema, instance):
    return conn.execute("SELECT validate_json_schema(%s, %s)",
                        (Jsonb(schema), Jsonb(instance))).fetchone()[0]


def sql_valid_many(conn, schema, instances):
    """validate_json_schema for many instances in one round trip, in order."""
    rows = conn.execute(
        "SELECT validate_json_schema(%s, i.value) "
        "FROM jsonb_array_elements(%s) WITH ORDINALITY AS i(value, pos) ORDER BY i.pos",
        (Jsonb(schema), Jsonb(instances))).fetchall()
    return [r[0] for r in rows]


def sql_schema_version(conn, data, name, allow_null=True):
    return conn.execute("SELECT schema_version(%s, %s, %s)",
                        (Jsonb(data), name, allow_null)).fetchone()[0]


def read_annotations():
    out = []
    for path in sorted(DATA_DIR.glob("*-annotations.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                out.append((f"{path.name}:{number}", json.loads(line)["annotations"]))
    return out


def read_filterconfigs():
    items = json.loads((DATA_DIR / "filterconfigs.json").read_text(encoding="utf-8"))
    return [(item["name"], item["filterconfig"]) for item in items]


ANNOTATIONS = read_annotations()
FILTERCONFIGS = read_filterconfigs()


# --------------------------------------------------------------------------------------------
# 1. The validator, keyword by keyword, against Python's Draft7Validator.
# --------------------------------------------------------------------------------------------

# (id, schema, instance, expected verdict)
KEYWORD_CASES = [
    ("type-string-ok", {"type": "string"}, "a", True),
    ("type-string-bad", {"type": "string"}, 1, False),
    ("type-integer-ok", {"type": "integer"}, 3, True),
    ("type-integer-float-without-fraction", {"type": "integer"}, 3.0, True),
    ("type-integer-fraction", {"type": "integer"}, 3.5, False),
    ("type-integer-bool", {"type": "integer"}, True, False),
    ("type-number-ok", {"type": "number"}, 1.5, True),
    ("type-number-string", {"type": "number"}, "1", False),
    ("type-boolean-zero", {"type": "boolean"}, 0, False),
    ("type-null-ok", {"type": "null"}, None, True),
    ("type-null-false", {"type": "null"}, False, False),
    ("type-object-array", {"type": "object"}, [], False),
    ("type-array-object", {"type": "array"}, {}, False),
    ("type-list-ok", {"type": ["integer", "null"]}, None, True),
    ("type-list-bad", {"type": ["integer", "null"]}, "x", False),
    ("properties-ok", {"properties": {"a": {"type": "integer"}}}, {"a": 1}, True),
    ("properties-bad", {"properties": {"a": {"type": "integer"}}}, {"a": "x"}, False),
    ("properties-absent-key", {"properties": {"a": {"type": "integer"}}}, {}, True),
    ("properties-non-object", {"properties": {"a": {"type": "integer"}}}, "a", True),
    ("properties-array-with-key-name", {"properties": {"a": {"type": "integer"}}}, ["a"], True),
    ("required-ok", {"required": ["a"]}, {"a": None}, True),
    ("required-missing", {"required": ["a"]}, {"b": 1}, False),
    ("required-non-object", {"required": ["a"]}, [], True),
    ("items-schema-ok", {"items": {"type": "integer"}}, [1, 2], True),
    ("items-schema-bad", {"items": {"type": "integer"}}, [1, "x"], False),
    ("items-tuple-ok-extra", {"items": [{"type": "integer"}, {"type": "string"}]}, [1, "a", None], True),
    ("items-tuple-short", {"items": [{"type": "integer"}, {"type": "string"}]}, [1], True),
    ("items-tuple-bad", {"items": [{"type": "integer"}, {"type": "string"}]}, ["a"], False),
    ("additionalItems-false-bad", {"items": [{}, {}], "additionalItems": False}, [1, 2, 3], False),
    ("additionalItems-false-ok", {"items": [{}, {}], "additionalItems": False}, [1, 2], True),
    ("additionalItems-schema-ok", {"items": [{}], "additionalItems": {"type": "integer"}}, ["x", 1, 2], True),
    ("additionalItems-schema-bad", {"items": [{}], "additionalItems": {"type": "integer"}}, ["x", "y"], False),
    ("additionalItems-ignored-for-schema-items",
     {"items": {"type": "integer"}, "additionalItems": False}, [1, 2, 3], True),
    ("minimum-equal", {"minimum": 2}, 2, True),
    ("minimum-below", {"minimum": 2}, 1.5, False),
    ("minimum-non-number", {"minimum": 2}, "x", True),
    ("maximum-equal", {"maximum": 2}, 2, True),
    ("maximum-above", {"maximum": 2}, 2.5, False),
    ("exclusiveMinimum-number-equal", {"exclusiveMinimum": 2}, 2, False),
    ("exclusiveMinimum-number-above", {"exclusiveMinimum": 2}, 2.1, True),
    ("exclusiveMaximum-number-equal", {"exclusiveMaximum": 2}, 2, False),
    ("exclusiveMaximum-number-below", {"exclusiveMaximum": 2}, 1.9, True),
    ("exclusiveMinimum-draft4-equal", {"minimum": 2, "exclusiveMinimum": True}, 2, False),
    ("exclusiveMinimum-draft4-above", {"minimum": 2, "exclusiveMinimum": True}, 3, True),
    ("exclusiveMinimum-draft4-false", {"minimum": 2, "exclusiveMinimum": False}, 2, True),
    ("exclusiveMaximum-draft4-equal", {"maximum": 2, "exclusiveMaximum": True}, 2, False),
    ("exclusiveMaximum-draft4-below", {"maximum": 2, "exclusiveMaximum": True}, 1, True),
    ("anyOf-ok", {"anyOf": [{"type": "integer"}, {"type": "string"}]}, "a", True),
    ("anyOf-bad", {"anyOf": [{"type": "integer"}, {"type": "string"}]}, None, False),
    ("allOf-ok", {"allOf": [{"type": "integer"}, {"minimum": 3}]}, 3, True),
    ("allOf-bad", {"allOf": [{"type": "integer"}, {"minimum": 3}]}, 2, False),
    ("oneOf-first-only", {"oneOf": [{"type": "integer"}, {"minimum": 2}]}, 1, True),
    ("oneOf-both", {"oneOf": [{"type": "integer"}, {"minimum": 2}]}, 3, False),
    ("oneOf-second-only", {"oneOf": [{"type": "integer"}, {"minimum": 2}]}, "x", True),
    ("oneOf-none", {"oneOf": [{"type": "integer"}, {"type": "string"}]}, None, False),
    ("not-ok", {"not": {"type": "string"}}, 1, True),
    ("not-bad", {"not": {"type": "string"}}, "a", False),
    ("uniqueItems-ok", {"uniqueItems": True}, [1, 2, "1"], True),
    ("uniqueItems-duplicate", {"uniqueItems": True}, [1, 2, 1], False),
    ("uniqueItems-duplicate-objects", {"uniqueItems": True}, [{"a": [1]}, {"a": [1]}], False),
    ("uniqueItems-int-and-float", {"uniqueItems": True}, [1, 1.0], False),
    ("uniqueItems-int-and-bool", {"uniqueItems": True}, [1, True], True),
    ("uniqueItems-false", {"uniqueItems": False}, [1, 1], True),
    ("additionalProperties-false-ok", {"properties": {"a": {}}, "additionalProperties": False}, {"a": 1}, True),
    ("additionalProperties-false-bad", {"properties": {"a": {}}, "additionalProperties": False}, {"b": 1}, False),
    ("additionalProperties-pattern-exempt",
     {"properties": {"a": {}}, "patternProperties": {"^x": {}}, "additionalProperties": False},
     {"a": 1, "x1": 2}, True),
    ("additionalProperties-pattern-not-matching",
     {"properties": {"a": {}}, "patternProperties": {"^x": {}}, "additionalProperties": False},
     {"a": 1, "y": 2}, False),
    ("additionalProperties-schema-ok", {"additionalProperties": {"type": "integer"}}, {"a": 1}, True),
    ("additionalProperties-schema-bad", {"additionalProperties": {"type": "integer"}}, {"a": "s"}, False),
    ("ref-definition-ok", {"definitions": {"pos": {"minimum": 0}}, "items": {"$ref": "#/definitions/pos"}}, [1], True),
    ("ref-definition-bad", {"definitions": {"pos": {"minimum": 0}}, "items": {"$ref": "#/definitions/pos"}}, [-1], False),
    ("ref-escaped-slash-ok", {"definitions": {"a/b": {"type": "integer"}}, "$ref": "#/definitions/a~1b"}, 1, True),
    ("ref-escaped-slash-bad", {"definitions": {"a/b": {"type": "integer"}}, "$ref": "#/definitions/a~1b"}, "x", False),
    ("ref-escaped-tilde-ok",
     {"definitions": {"c~d": {"type": "string"}}, "properties": {"p": {"$ref": "#/definitions/c~0d"}}},
     {"p": "s"}, True),
    ("ref-escaped-tilde-bad",
     {"definitions": {"c~d": {"type": "string"}}, "properties": {"p": {"$ref": "#/definitions/c~0d"}}},
     {"p": 1}, False),
    ("ref-root-recursive-ok",
     {"type": "object", "properties": {"child": {"$ref": "#"}}, "additionalProperties": False},
     {"child": {"child": {}}}, True),
    ("ref-root-recursive-bad",
     {"type": "object", "properties": {"child": {"$ref": "#"}}, "additionalProperties": False},
     {"child": {"child": {"x": 1}}}, False),
    ("ref-through-array-index",
     {"anyOf": [{"type": "string"}, {"type": "null"}], "items": {"$ref": "#/anyOf/0"}}, [1], False),
    ("ref-siblings-ignored",
     {"definitions": {"i": {"type": "integer"}}, "properties": {"p": {"$ref": "#/definitions/i", "minimum": 5}}},
     {"p": 1}, True),
    ("enum-ok", {"enum": [1, "a", None, {"k": [1]}]}, "a", True),
    ("enum-number-equal-value", {"enum": [1, "a", None, {"k": [1]}]}, 1.0, True),
    ("enum-null", {"enum": [1, "a", None, {"k": [1]}]}, None, True),
    ("enum-object", {"enum": [1, "a", None, {"k": [1]}]}, {"k": [1]}, True),
    ("enum-bad", {"enum": [1, "a", None, {"k": [1]}]}, "b", False),
    ("enum-bool-is-not-1", {"enum": [1, "a", None, {"k": [1]}]}, True, False),
    ("const-ok", {"const": {"a": [1, 2]}}, {"a": [1, 2]}, True),
    ("const-bad-order", {"const": {"a": [1, 2]}}, {"a": [2, 1]}, False),
    ("const-false-is-not-0", {"const": False}, 0, False),
    ("minLength-ok", {"minLength": 2}, "ab", True),
    ("minLength-bad", {"minLength": 2}, "a", False),
    ("maxLength-bad", {"maxLength": 3}, "abcd", False),
    ("maxLength-counts-characters", {"maxLength": 2}, "n\u00e9", True),
    ("length-non-string", {"minLength": 2}, 5, True),
    ("minProperties-bad", {"minProperties": 1}, {}, False),
    ("minProperties-ok", {"minProperties": 1}, {"a": 1}, True),
    ("maxProperties-bad", {"maxProperties": 2}, {"a": 1, "b": 2, "c": 3}, False),
    ("maxProperties-ok", {"maxProperties": 2}, {"a": 1, "b": 2}, True),
    ("minItems-bad", {"minItems": 1}, [], False),
    ("minItems-ok", {"minItems": 1}, [1], True),
    ("maxItems-bad", {"maxItems": 2}, [1, 2, 3], False),
    ("maxItems-ok", {"maxItems": 2}, [1, 2], True),
    ("dependencies-array-ok", {"dependencies": {"a": ["b"]}}, {"a": 1, "b": 2}, True),
    ("dependencies-array-bad", {"dependencies": {"a": ["b"]}}, {"a": 1}, False),
    ("dependencies-absent-trigger", {"dependencies": {"a": ["b"]}}, {"b": 1}, True),
    ("dependencies-schema-bad", {"dependencies": {"a": {"required": ["c"]}}}, {"a": 1}, False),
    ("dependencies-schema-ok", {"dependencies": {"a": {"required": ["c"]}}}, {"a": 1, "c": 1}, True),
    ("pattern-unanchored", {"pattern": "rs[0-9]+"}, "xrs12y", True),
    ("pattern-bad", {"pattern": "rs[0-9]+"}, "rsX", False),
    ("pattern-anchored-bad", {"pattern": "^a+$"}, "ab", False),
    ("pattern-non-string", {"pattern": "^a+$"}, 1, True),
    ("patternProperties-ok", {"patternProperties": {"^n_": {"type": "integer"}, "_s$": {"type": "string"}}},
     {"n_1": 1, "x_s": "a", "other": []}, True),
    ("patternProperties-bad", {"patternProperties": {"^n_": {"type": "integer"}, "_s$": {"type": "string"}}},
     {"n_1": "a"}, False),
    ("patternProperties-two-patterns-one-key",
     {"patternProperties": {"^n_": {"type": "integer"}, "_s$": {"type": "string"}}}, {"n_s": 1}, False),
    ("multipleOf-int-ok", {"multipleOf": 3}, 9, True),
    ("multipleOf-int-bad", {"multipleOf": 3}, 10, False),
    ("multipleOf-decimal-ok", {"multipleOf": 2.5}, 7.5, True),
    ("multipleOf-decimal-bad", {"multipleOf": 2.5}, 7, False),
    ("multipleOf-decimal-rounding", {"multipleOf": 0.1}, 0.3, True),
    ("boolean-schema-false", {"properties": {"a": False}}, {"a": 1}, False),
    ("boolean-schema-false-absent", {"properties": {"a": False}}, {}, True),
    ("boolean-schema-true", {"items": True}, [1, "x"], True),
    ("unknown-keywords-ignored", {"format": "date", "x-custom": 1, "optional": ["a"]}, "not a date", True),
]

# Cases where Python's Draft7Validator gives another verdict, on purpose:
DIVERGENT_FROM_DRAFT7 = {
    # Draft 7 only knows the numeric form; with a boolean, Python compares against True (= 1).
    # We support ELLA's draft-4 boolean form, as its validator does.
    "exclusiveMinimum-draft4-equal",
    "exclusiveMaximum-draft4-below",
    # PostgreSQL numerics are exact decimals: 0.3 is a multiple of 0.1. Python uses binary floats.
    "multipleOf-decimal-rounding",
}


@pytest.mark.parametrize("case_id, schema, instance, expected",
                         KEYWORD_CASES, ids=[c[0] for c in KEYWORD_CASES])
def test_keyword_case_matches_draft7(case_id, schema, instance, expected):
    """The expected verdicts of the table are Python's Draft 7 verdicts, except the listed
    deliberate divergences."""
    if case_id in DIVERGENT_FROM_DRAFT7:
        assert py_valid(schema, instance) is not expected
    else:
        assert py_valid(schema, instance) is expected


def test_validate_json_schema_keywords(db_conn):
    # one database for the whole table; every wrong verdict is listed
    wrong = [case_id for case_id, schema, instance, expected in KEYWORD_CASES
             if sql_valid(db_conn, schema, instance) is not expected]
    assert wrong == []


def test_keyword_cases_cover_accept_and_reject_for_every_keyword():
    keywords = ["type", "properties", "required", "items", "additionalItems", "minimum", "maximum",
                "exclusiveMinimum", "exclusiveMaximum", "anyOf", "allOf", "oneOf", "not",
                "uniqueItems", "additionalProperties", "$ref", "enum", "const", "minLength",
                "maxLength", "minProperties", "maxProperties", "minItems", "maxItems",
                "dependencies", "pattern", "patternProperties", "multipleOf"]

    def uses(schema, keyword):
        if isinstance(schema, dict):
            return keyword in schema or any(uses(v, keyword) for v in schema.values())
        if isinstance(schema, list):
            return any(uses(v, keyword) for v in schema)
        return False

    for keyword in keywords:
        verdicts = {expected for _, schema, _, expected in KEYWORD_CASES if uses(schema, keyword)}
        assert verdicts == {True, False}, keyword


TYPE_CASES = [
    ("integer", 7, True), ("integer", 7.0, True), ("integer", 7.25, False), ("integer", "7", False),
    ("number", 7.25, True), ("number", False, False), ("string", "", True), ("string", None, False),
    ("boolean", False, True), ("null", None, True), ("object", {}, True), ("object", [], False),
    ("array", [], True), ("array", "[]", False),
]


def test_validate_json_schema_type_helper(db_conn):
    wrong = [case for case in TYPE_CASES if db_conn.execute(
        "SELECT _validate_json_schema_type(%s, %s)", (case[0], Jsonb(case[1]))).fetchone()[0] is not case[2]]
    assert wrong == []


def test_pattern_properties_raise_no_notices(db_conn):
    notices = []
    db_conn.add_notice_handler(lambda diag: notices.append(diag.message_primary))
    schema = {"patternProperties": {"^a": {"type": "integer"}, "b$": {"type": "integer"}}}
    assert sql_valid(db_conn, schema, {"ab": 1, "a1": 2, "xb": 3, "zz": "x"}) is True
    assert sql_schema_version(db_conn, FILTERCONFIGS[0][1], "filterconfig") == 3
    assert notices == []
    db_conn.execute("DO $$ BEGIN RAISE NOTICE 'probe'; END $$")   # the handler does see notices
    assert notices == ["probe"]


def test_sql_file_is_rerunnable(db_conn):
    """`ella-db refresh` applies the file again, as one multi-statement string."""
    text = (TESTS_DIR.parent / "sql" / "triggers" / "010_json_schema_validation.sql").read_text()
    db_conn.execute(text)
    db_conn.execute(text)
    triggers = db_conn.execute(
        "SELECT tgrelid::regclass::text, tgname FROM pg_trigger "
        "WHERE tgname IN ('annotation_schema_version', 'filterconfig_schema_version') ORDER BY 1").fetchall()
    assert triggers == [("annotation", "annotation_schema_version"),
                        ("filterconfig", "filterconfig_schema_version")]
    assert sql_schema_version(db_conn, FILTERCONFIGS[0][1], "filterconfig") == 3


def test_ref_outside_the_document_is_an_error(db_conn):
    with pytest.raises(psycopg.Error, match="unsupported"):
        with db_conn.transaction():
            sql_valid(db_conn, {"$ref": "other.json#/definitions/x"}, 1)
    with pytest.raises(psycopg.Error, match="does not resolve"):
        with db_conn.transaction():
            sql_valid(db_conn, {"$ref": "#/definitions/missing"}, 1)


def test_validator_functions_keep_ellas_signatures(db_conn):
    rows = db_conn.execute(
        "SELECT proname, pg_get_function_arguments(oid), pg_get_function_result(oid), provolatile "
        "FROM pg_proc WHERE pronamespace = 'public'::regnamespace AND proname = ANY(%s)",
        (["_validate_json_schema_type", "validate_json_schema", "schema_version",
          "annotation_schema_version", "filterconfig_schema_version"],)).fetchall()
    assert sorted(rows) == [
        ("_validate_json_schema_type", "type text, data jsonb", "boolean", "i"),
        ("annotation_schema_version", "", "trigger", "v"),
        ("filterconfig_schema_version", "", "trigger", "v"),
        ("schema_version", "data jsonb, schema_name text, allow_null boolean DEFAULT true",
         "integer", "i"),
        ("validate_json_schema", "schema jsonb, data jsonb, root_schema jsonb DEFAULT NULL::jsonb",
         "boolean", "i"),
    ]


# --------------------------------------------------------------------------------------------
# 2. schema_version() and the triggers.
# --------------------------------------------------------------------------------------------

def test_schema_version_returns_highest_accepting_version(db_conn):
    db_conn.execute(
        "INSERT INTO jsonschema (name, version, schema) VALUES "
        "('probe', 1, %s), ('probe', 2, %s), ('probe', 3, %s)",
        (Jsonb({"type": "object"}), Jsonb({"type": "object", "required": ["a"]}),
         Jsonb({"type": "object", "required": ["a", "b"]})))
    assert sql_schema_version(db_conn, {"a": 1, "b": 2}, "probe") == 3
    assert sql_schema_version(db_conn, {"a": 1}, "probe") == 2
    assert sql_schema_version(db_conn, {}, "probe") == 1
    assert sql_schema_version(db_conn, [], "probe") is None
    assert sql_schema_version(db_conn, {}, "no-such-schema") is None
    with pytest.raises(psycopg.Error) as raised:
        with db_conn.transaction():
            sql_schema_version(db_conn, [1, "x"], "probe", allow_null=False)
    assert raised.value.sqlstate == "JSONV"
    assert raised.value.diag.message_primary == (
        'schema_name=probe, data=[1, "x"]' + JSONV_SUFFIX)


def filterconfig_row_version(conn, filterconfig):
    return conn.execute(
        "INSERT INTO filterconfig (name, filterconfig, active, requirements) "
        "VALUES ('probe', %s, false, '[]') RETURNING schema_version",
        (Jsonb(filterconfig),)).fetchone()[0]


def test_filterconfig_trigger_sets_and_recomputes_schema_version(db_conn):
    assert filterconfig_row_version(db_conn, FILTERCONFIGS[0][1]) == 3
    v2_only = {"filters": [{"name": "classification", "config": {}}]}
    assert filterconfig_row_version(db_conn, v2_only) == 2
    v1_only = {"filters": [{"name": "segregation", "config": {}}]}
    row_id, version = db_conn.execute(
        "INSERT INTO filterconfig (name, filterconfig, active, schema_version) "
        "VALUES ('probe-update', %s, true, 99) RETURNING id, schema_version",
        (Jsonb(v1_only),)).fetchone()
    assert version == 1
    # every UPDATE re-validates, even one that does not touch the JSON
    db_conn.execute("UPDATE filterconfig SET schema_version = 42 WHERE id = %s", (row_id,))
    db_conn.execute("UPDATE filterconfig SET filterconfig = %s WHERE id = %s",
                    (Jsonb({"filters": [{"name": "size", "config": {"threshold": 5, "mode": ">"}}]}), row_id))
    assert db_conn.execute("SELECT schema_version FROM filterconfig WHERE id = %s",
                           (row_id,)).fetchone()[0] == 3
    with pytest.raises(psycopg.Error) as raised:
        with db_conn.transaction():
            db_conn.execute("UPDATE filterconfig SET filterconfig = %s WHERE id = %s",
                            (Jsonb({"filters": [{"name": "nonsense", "config": {}}]}), row_id))
    assert raised.value.sqlstate == "JSONV"
    assert raised.value.diag.message_primary.startswith(JSONV_PREFIX.format(name="filterconfig"))


# --------------------------------------------------------------------------------------------
# 3. Our documents: real data validates, and the spec'd rejections.
# --------------------------------------------------------------------------------------------

def test_schema_documents_are_self_contained():
    assert sorted(OURS) == [("annotation", 1), ("filterconfig", 1), ("filterconfig", 2),
                            ("filterconfig", 3)]

    def refs(node):
        if isinstance(node, dict):
            if "$ref" in node:
                yield node["$ref"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    for key, doc in OURS.items():
        Draft7Validator.check_schema(doc)
        assert "$id" not in json.dumps(doc), key
        for ref in refs(doc):
            assert ref.startswith("#/"), (key, ref)
            target = doc
            for token in ref[2:].split("/"):
                target = target[token.replace("~1", "/").replace("~0", "~")]
            assert isinstance(target, dict), (key, ref)


def test_schema_rows_are_our_documents(db_conn):
    rows = db_conn.execute("SELECT name, version, schema FROM jsonschema ORDER BY name, version").fetchall()
    assert [(n, v) for n, v, _ in rows] == sorted(OURS)
    for name, version, schema in rows:
        assert schema == OURS[(name, version)]


def test_expected_annotations_validate(db_conn):
    assert len(ANNOTATIONS) == 12
    for label, annotations in ANNOTATIONS:
        assert py_valid(OURS[("annotation", 1)], annotations), label
        assert sql_schema_version(db_conn, annotations, "annotation", allow_null=False) == 1, label


def test_fixture_filterconfigs_validate(db_conn):
    assert len(FILTERCONFIGS) == 3
    for label, filterconfig in FILTERCONFIGS:
        assert py_valid(OURS[("filterconfig", 3)], filterconfig), label
        assert sql_schema_version(db_conn, filterconfig, "filterconfig", allow_null=False) == 3, label


def _annotation_variant(change):
    doc = copy.deepcopy(ANNOTATIONS[-1][1])
    change(doc)
    return doc


def _first_transcript(change):
    return lambda doc: change(doc["transcripts"][0])


def _set(key, value):
    return lambda d: d.__setitem__(key, value)


ANNOTATION_CASES = [
    # (id, annotations, accepted?)
    ("transcript-without-transcript", _annotation_variant(_first_transcript(lambda t: t.pop("transcript"))), False),
    ("unknown-consequence", _annotation_variant(_first_transcript(_set("consequences", ["made_up_variant"]))), False),
    ("bad-dbsnp", _annotation_variant(_first_transcript(_set("dbsnp", ["12345"]))), False),
    ("strand-zero", _annotation_variant(_first_transcript(_set("strand", 0))), False),
    ("in-last-exon-maybe", _annotation_variant(_first_transcript(_set("in_last_exon", "maybe"))), False),
    ("transcript-extra-key", _annotation_variant(_first_transcript(_set("extra", 1))), False),
    ("exon-not-n-of-total", _annotation_variant(_first_transcript(_set("exon", "3-27"))), False),
    ("hgnc-id-string", _annotation_variant(_first_transcript(_set("hgnc_id", "1101"))), False),
    ("exon-distance-null", _annotation_variant(_first_transcript(_set("exon_distance", None))), True),
    ("new-splice-term", _annotation_variant(_first_transcript(_set("consequences", ["splice_donor_region_variant"]))), True),
    ("reference-without-source-info",
     _annotation_variant(lambda d: d["references"][0].pop("source_info")), False),
    ("reference-pubmed-id-string",
     _annotation_variant(lambda d: d["references"][0].__setitem__("pubmed_id", "8589730")), False),
    ("transcripts-not-a-list", _annotation_variant(_set("transcripts", {})), False),
    ("free-top-level-keys", _annotation_variant(_set("anything", {"goes": [1]})), True),
    ("empty-document", {}, True),
    ("not-an-object", [], False),
    # provider objects are not validated (ELLA's literal ".*" property) ...
    ("frequency-provider-unchecked",
     _annotation_variant(lambda d: d["frequencies"].__setitem__("GNOMAD_EXOMES", {"freq": "n/a"})), True),
    # ... except one literally named ".*"
    ("frequency-provider-literal-dot-star-bad", {"frequencies": {".*": {"freq": {"G": 2}}}}, False),
    ("frequency-provider-literal-dot-star-ok",
     {"frequencies": {".*": {"freq": {"G": 0.5}, "count": {"G": 3}, "filter": {"G": ["PASS"]}}}}, True),
    ("frequencies-not-an-object", {"frequencies": []}, False),
]


@pytest.mark.parametrize("case_id, annotations, accepted",
                         ANNOTATION_CASES, ids=[c[0] for c in ANNOTATION_CASES])
def test_annotation_case_in_python(case_id, annotations, accepted):
    assert py_valid(OURS[("annotation", 1)], annotations) is accepted


def test_annotation_cases_in_sql(db_conn):
    wrong = [case_id for case_id, annotations, accepted in ANNOTATION_CASES
             if sql_schema_version(db_conn, annotations, "annotation") != (1 if accepted else None)]
    assert wrong == []


def test_inserting_invalid_annotation_raises_jsonv(db_conn):
    cases = dict((c[0], c[1]) for c in ANNOTATION_CASES)
    for case_id in ("transcript-without-transcript", "unknown-consequence", "bad-dbsnp"):
        with pytest.raises(psycopg.Error) as raised:
            with db_conn.transaction():
                db_conn.execute(
                    "INSERT INTO annotation (annotations, date_created, annotation_config_id) "
                    "VALUES (%s, now(), 1)", (Jsonb(cases[case_id]),))
        assert raised.value.sqlstate == "JSONV", case_id
        message = raised.value.diag.message_primary
        assert message.startswith(JSONV_PREFIX.format(name="annotation") + "{"), case_id
        assert message.endswith(JSONV_SUFFIX), case_id


def _chain(*filters):
    return {"filters": list(filters)}


def _filter(name, config, **extra):
    return {"name": name, "config": config, **extra}


SEGREGATION_FULL = {"no_coverage_parents": {"enable": True}, "denovo": {"enable": False},
                    "parental_mosaicism": {"enable": True}, "compound_heterozygous": {"enable": True},
                    "recessive_homozygous": {"enable": False}}

FILTERCONFIG_CASES = [
    # (id, filterconfig, versions that accept it)
    ("minimal", _chain(_filter("frequency", {})), {1, 2, 3}),
    ("empty-chain", _chain(), {1, 2, 3}),
    ("unknown-filter-name", _chain(_filter("nonsense", {})), set()),
    ("classification-without-classes", _chain(_filter("classification", {})), {1, 2}),
    ("classification-class-U", _chain(_filter("classification", {"classes": ["U", "5"]})), {1, 2}),
    ("classification-class-NP", _chain(_filter("classification", {"classes": ["NP"]})), {3}),
    ("classification-exclude-outdated",
     _chain(_filter("classification", {"classes": ["5"], "exclude_outdated": True})), {3}),
    ("classification-duplicate-class", _chain(_filter("classification", {"classes": ["5", "5"]})), set()),
    ("segregation-empty", _chain(_filter("segregation", {})), {1}),
    ("segregation-with-keys", _chain(_filter("segregation", SEGREGATION_FULL)), {2, 3}),
    ("segregation-gq-threshold",
     _chain(_filter("segregation", {**SEGREGATION_FULL, "denovo": {
         "enable": True, "gq_threshold": {"proband": 20, "mother": 20, "father": 20}}})), {2, 3}),
    ("segregation-gq-threshold-incomplete",
     _chain(_filter("segregation", {**SEGREGATION_FULL, "denovo": {
         "enable": True, "gq_threshold": {"proband": 20}}})), set()),
    ("segregation-option-not-an-object",
     _chain(_filter("segregation", {**SEGREGATION_FULL, "denovo": 5})), {2, 3}),
    ("segregation-missing-option",
     _chain(_filter("segregation", {k: v for k, v in SEGREGATION_FULL.items() if k != "denovo"})), set()),
    ("size", _chain(_filter("size", {"threshold": 1000, "mode": ">="})), {3}),
    ("size-negative", _chain(_filter("size", {"threshold": -1, "mode": ">="})), set()),
    ("callertype", _chain(_filter("callertype", {"callerTypes": ["cnv"]})), {3}),
    ("callertype-unknown", _chain(_filter("callertype", {"callerTypes": ["sv"]})), set()),
    ("quality-filter-status",
     _chain(_filter("quality", {"qual": 100, "filter_status": {"pattern": "PASS", "inverse": True}})), {2, 3}),
    ("quality-filter-status-without-pattern",
     _chain(_filter("quality", {"filter_status": {"inverse": True}})), set()),
    ("quality-allele-ratio-above-1", _chain(_filter("quality", {"allele_ratio": 1.5})), set()),
    ("consequence-new-splice-term",
     _chain(_filter("consequence", {"consequences": ["splice_donor_region_variant"]})), {3}),
    ("consequence-old-term", _chain(_filter("consequence", {"consequences": ["missense_variant"],
                                                             "genepanel_only": True})), {1, 2, 3}),
    ("consequence-missing-list", _chain(_filter("consequence", {"genepanel_only": True})), set()),
    ("region-ok", _chain(_filter("region", {"splice_region": [-20, 6], "utr_region": [0, 0]})), {1, 2, 3}),
    ("region-three-numbers", _chain(_filter("region", {"splice_region": [-20, 6, 1]})), set()),
    ("region-positive-start", _chain(_filter("region", {"splice_region": [1, 6]})), set()),
    ("ppy-positive-end", _chain(_filter("ppy", {"ppy_tract_region": [-20, 3]})), set()),
    ("inheritancemodel-bad-mode", _chain(_filter("inheritancemodel", {"filter_mode": "dominant"})), set()),
    ("gene-ok", _chain(_filter("gene", {"genes": [1100, 1101], "mode": "one", "inverse": False})), {1, 2, 3}),
    ("gene-symbols", _chain(_filter("gene", {"genes": ["BRCA1"]})), set()),
    ("frequency-gene-threshold",
     _chain(_filter("frequency", {"genes": {"1101": {"thresholds": {"external": 0.1}}}})), {1, 2, 3}),
    ("frequency-gene-key-without-digit",
     _chain(_filter("frequency", {"genes": {"ATM": {"thresholds": {"external": 0.1}}}})), set()),
    ("frequency-gene-key-any-digit",
     _chain(_filter("frequency", {"genes": {"BRCA2": {"thresholds": {"external": 0.1}}}})), {1, 2, 3}),
    ("frequency-threshold-above-1",
     _chain(_filter("frequency", {"thresholds": {"default": {"external": 2}}})), set()),
    ("frequency-num-threshold-negative",
     _chain(_filter("frequency", {"num_thresholds": {"GNOMAD": {"G": -1}}})), set()),
    ("frequency-external-group-not-list",
     _chain(_filter("frequency", {"groups": {"external": {"GNOMAD": "G"}}})), set()),
    ("external-hgmd-null-tag",
     _chain(_filter("external", {"hgmd": {"tags": [None, "DM"], "inverse": True}})), {1, 2, 3}),
    ("external-hgmd-unknown-tag", _chain(_filter("external", {"hgmd": {"tags": ["XX"]}})), set()),
    ("external-clinvar-stars-out-of-range",
     _chain(_filter("external", {"clinvar": {"num_stars": [">=", 5]}})), set()),
    ("external-clinvar-first-combination-bad",
     _chain(_filter("external", {"clinvar": {"combinations": [["likely", ">", "benign"]]}})), set()),
    ("external-clinvar-later-combination-unchecked",
     _chain(_filter("external", {"clinvar": {"combinations": [["pathogenic", ">", 1], ["likely", "?", -1]]}})),
     {1, 2, 3}),
    ("exception-ok",
     _chain(_filter("frequency", {}, exceptions=[_filter("classification", {"classes": ["5"]})])), {1, 2, 3}),
    ("exception-unknown-name",
     _chain(_filter("frequency", {}, exceptions=[_filter("nonsense", {})])), set()),
    ("exception-with-exceptions",
     _chain(_filter("frequency", {}, exceptions=[_filter("region", {}, exceptions=[])])), set()),
    ("exception-v3-only-filter",
     _chain(_filter("frequency", {}, exceptions=[_filter("callertype", {"callerTypes": ["snv"]})])), {3}),
    ("filter-extra-key", _chain(_filter("frequency", {}, comment="x")), set()),
    ("filter-without-config", _chain({"name": "frequency"}), set()),
    ("config-extra-key", _chain(_filter("region", {"splice": [0, 0]})), set()),
    ("root-extra-key", {"filters": [], "name": "x"}, set()),
    ("root-without-filters", {}, set()),
]


@pytest.mark.parametrize("case_id, filterconfig, versions",
                         FILTERCONFIG_CASES, ids=[c[0] for c in FILTERCONFIG_CASES])
def test_filterconfig_case_in_python(case_id, filterconfig, versions):
    assert {v for v in (1, 2, 3) if py_valid(OURS[("filterconfig", v)], filterconfig)} == versions


def test_filterconfig_cases_in_sql(db_conn):
    wrong = []
    for case_id, filterconfig, versions in FILTERCONFIG_CASES:
        accepting = {v for v, ok in db_conn.execute(
            "SELECT version, validate_json_schema(schema, %s) FROM jsonschema WHERE name = 'filterconfig'",
            (Jsonb(filterconfig),)).fetchall() if ok}
        highest = sql_schema_version(db_conn, filterconfig, "filterconfig")
        if accepting != versions or highest != max(versions, default=None):
            wrong.append((case_id, accepting, highest))
    assert wrong == []


# --------------------------------------------------------------------------------------------
# 4. A larger corpus: the SQL validator agrees with Python, and our documents with ELLA's.
# --------------------------------------------------------------------------------------------

_REPLACEMENTS = [None, True, -1, 0.5, 2, "text", [], {}]


def _paths(node, path=()):
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, path + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, path + (index,))


def _replaced(doc, path, value):
    doc = copy.deepcopy(doc)
    if not path:
        return value
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return doc


def mutations(docs):
    """Variants of the documents, each differing from its original in one place: a key removed
    or added, a list shortened or given a duplicate, a value replaced by one of another kind.
    Each kind of change is made once per structural position (list indices ignored) over all
    the documents, which keeps the corpus small but reaches every part of the schemas that
    the documents touch."""
    seen = set()
    for doc in docs:
        for path, value in _paths(doc):
            shape = tuple("*" if isinstance(step, int) else step for step in path)
            variants = []
            if isinstance(value, dict):
                variants += [(("drop", key), {k: v for k, v in value.items() if k != key})
                             for key in value]
                variants.append((("add",), {**value, "unexpected_key": 1}))
            if isinstance(value, list) and value:
                variants += [(("shorter",), value[:-1]), (("duplicate",), value + value[:1])]
            variants += [(("replace", json.dumps(r)), r) for r in _REPLACEMENTS
                         if json.dumps(r) != json.dumps(value)]
            for change, new_value in variants:
                if (shape, change) not in seen:
                    seen.add((shape, change))
                    yield _replaced(doc, path, new_value)


def annotation_corpus(extra=()):
    originals = [a for _, a in ANNOTATIONS] + [c[1] for c in ANNOTATION_CASES] + list(extra)
    return originals + list(mutations(originals))


def filterconfig_corpus(extra=()):
    originals = [f for _, f in FILTERCONFIGS] + [c[1] for c in FILTERCONFIG_CASES] + list(extra)
    return originals + list(mutations(originals))


@functools.cache
def _corpus_json(name):
    return json.dumps(annotation_corpus() if name == "annotation" else filterconfig_corpus())


def corpus_for(name):
    return json.loads(_corpus_json(name))


def draft7_verdicts(schema, name):
    """Python jsonschema's verdicts for `schema` on the corpus `name` (computed once per run,
    tests/shared_verdicts.py)."""
    def compute():
        validator = Draft7Validator(schema)
        return [validator.is_valid(x) for x in corpus_for(name)]
    return shared_verdicts.verdicts("draft7", schema, _corpus_json(name), compute)


def our_python_verdicts(key):
    return draft7_verdicts(OURS[key], key[0])


@pytest.mark.parametrize("key", sorted(OURS), ids=[f"{n}_v{v}" for n, v in sorted(OURS)])
def test_corpus_has_accepted_and_rejected_documents(key):
    verdicts = our_python_verdicts(key)
    assert sum(verdicts) >= 20 and len(verdicts) - sum(verdicts) >= 100


SQL_VALIDATOR = ROOT / "sql" / "triggers" / "010_json_schema_validation.sql"


def our_sql_verdicts(conn, key):
    """validate_json_schema's verdicts for our document `key` on the corpus. The function is
    pure, so the verdicts are computed once per test run (tests/shared_verdicts.py), on
    whichever database asks first (tests/test_json_schema_compiled.py needs them too)."""
    validator = "sql " + hashlib.sha256(SQL_VALIDATOR.read_bytes()).hexdigest()
    return shared_verdicts.verdicts(
        validator, OURS[key], _corpus_json(key[0]),
        lambda: sql_valid_many(conn, OURS[key], corpus_for(key[0])))


@pytest.mark.parametrize("key", sorted(OURS), ids=[f"{n}_v{v}" for n, v in sorted(OURS)])
def test_sql_validator_agrees_with_python_on_corpus(db_conn, key):
    corpus = corpus_for(key[0])
    python = our_python_verdicts(key)
    sql = our_sql_verdicts(db_conn, key)
    disagreements = [json.dumps(x)[:300] for x, p, s in zip(corpus, python, sql) if p != s]
    assert disagreements == []


def _inline_refs(node, document, base_dir):
    """A copy of `node` with every $ref replaced by what it points to, as ELLA stores its
    documents: "#/..." pointers into `document`, other refs are files relative to `base_dir`
    (whose own "#/..." pointers are into that file). $id keys are dropped so that nothing is
    ever fetched."""
    if isinstance(node, list):
        return [_inline_refs(item, document, base_dir) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"]
        if ref.startswith("#"):
            target = document
            for token in filter(None, ref[1:].split("/")):
                target = target[token.replace("~1", "/").replace("~0", "~")]
            return _inline_refs(target, document, base_dir)
        path = base_dir / ref
        other = json.loads(path.read_text(encoding="utf-8"))
        return _inline_refs(other, other, path.parent)
    return {k: _inline_refs(v, document, base_dir) for k, v in node.items() if k != "$id"}


def ella_documents_from_shared_files():
    out = {}
    for name, version in (("annotation", 1), ("filterconfig", 3)):
        path = SHARED_SCHEMAS / f"{name}_v{version}.json"
        doc = json.loads(path.read_text(encoding="utf-8"))
        out[(name, version)] = _inline_refs(doc, doc, path.parent)
    return out


def _assert_same_verdicts(key, theirs, documents=None):
    """Our document `key` and `theirs` give the same verdicts on `documents` (by default the
    corpus, whose verdicts are shared with the other tests)."""
    if documents is None:
        documents = corpus_for(key[0])
        mine, reference = our_python_verdicts(key), draft7_verdicts(theirs, key[0])
    else:
        mine = [Draft7Validator(OURS[key]).is_valid(x) for x in documents]
        reference = [Draft7Validator(theirs).is_valid(x) for x in documents]
    differences = [json.dumps(x)[:300] for x, a, b in zip(documents, mine, reference) if a != b]
    assert differences == [], key


needs_shared = pytest.mark.skipif(not SHARED_DIR.is_dir(),
                                  reason="../shared (ELLA's reference schema files) is not present")


@needs_shared
def test_equivalent_to_ella_schema_files():
    """Our annotation v1 and filterconfig v3 give the same verdicts as ELLA's own schema files
    (refs inlined as ELLA stores them) on the whole corpus. ELLA's files are read from
    ../shared/data/schemas/ next to the repository; the test skips when that is missing."""
    for key, theirs in ella_documents_from_shared_files().items():
        _assert_same_verdicts(key, theirs)


def test_equivalent_to_ella_stored_documents(demo_db_url):
    """Our four documents give the same verdicts as the four documents stored in a real ELLA
    database's `jsonschema` table (the ELLA demo database of tests/data), on the corpus plus
    that database's own annotations and filter configs."""
    with psycopg.connect(demo_db_url) as conn:
        stored = {(n, v): s for n, v, s in conn.execute("SELECT name, version, schema FROM jsonschema")}
        their_annotations = [r[0] for r in conn.execute("SELECT annotations FROM annotation")]
        their_filterconfigs = [r[0] for r in conn.execute("SELECT filterconfig FROM filterconfig")]
    assert sorted(stored) == sorted(OURS)
    with_theirs = {"annotation": annotation_corpus(their_annotations),
                   "filterconfig": filterconfig_corpus(their_filterconfigs)}
    # The corpus built with that database's documents: the corpus (verdicts shared with the
    # other tests) and the documents it lacks (theirs and their own mutations).
    not_in_corpus = {}
    for name, documents in with_theirs.items():
        in_corpus = {json.dumps(x, sort_keys=True) for x in corpus_for(name)}
        not_in_corpus[name] = [x for x in documents
                               if json.dumps(x, sort_keys=True) not in in_corpus]
    assert not_in_corpus["annotation"]
    for key, theirs in stored.items():
        _assert_same_verdicts(key, theirs)
        _assert_same_verdicts(key, theirs, not_in_corpus[key[0]])


@needs_shared
def test_sql_validator_on_ella_documents(db_conn):
    """An adopted ELLA database keeps ELLA's own documents but gets our validator: on ELLA's
    documents (files from ../shared/data/schemas/, refs inlined; skipped when missing) our SQL
    validator must give Python's verdicts too."""
    for key, theirs in ella_documents_from_shared_files().items():
        corpus = corpus_for(key[0])
        python = draft7_verdicts(theirs, key[0])
        assert tuple(sql_valid_many(db_conn, theirs, corpus)) == python, key
