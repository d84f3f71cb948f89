"""ella/jsonschemas/compiled.py, the Python twin of the SQL validate_json_schema used by bulk
deposits: on every case and corpus the SQL validator is tested with, both give the same
verdict; what it cannot mirror exactly it refuses (UnsupportedSchema) instead of guessing."""

import json

import psycopg
import pytest
from psycopg.types.json import Jsonb

from ella.jsonschemas.compiled import (SchemaVersions, UnsupportedSchema, compile_schema,
                                       translate_pattern)
from test_json_schema_validation import (KEYWORD_CASES, OURS, annotation_corpus, corpus_for,
                                         filterconfig_corpus, our_sql_verdicts, sql_valid_many)


def test_keyword_cases():
    """The verdicts test_json_schema_validation.py requires of the SQL function."""
    wrong = [case_id for case_id, schema, instance, expected in KEYWORD_CASES
             if compile_schema(schema)(instance) is not expected]
    assert wrong == []


def test_keyword_cases_against_sql(db_conn):
    for case_id, schema, instance, _ in KEYWORD_CASES:
        assert compile_schema(schema)(instance) == sql_valid_many(db_conn, schema, [instance])[0], \
            case_id


@pytest.mark.parametrize("key", sorted(OURS), ids=[f"{n}_v{v}" for n, v in sorted(OURS)])
def test_same_verdicts_as_sql_on_corpus(db_conn, key):
    corpus = corpus_for(key[0])
    check = compile_schema(OURS[key])
    sql = our_sql_verdicts(db_conn, key)
    assert sum(sql) >= 20 and len(sql) - sum(sql) >= 100
    assert [json.dumps(x)[:200] for x, s in zip(corpus, sql) if check(x) != s] == []


def test_ella_stored_documents_compile_and_agree(demo_db_url, db_conn):
    """An adopted ELLA database keeps ELLA's own schema documents: they compile, and give the
    verdicts of our documents on the whole corpus plus that database's own annotations and
    filter configs (test_json_schema_validation.py shows ELLA's and ours equivalent), and the
    SQL verdicts of ELLA's documents on their real documents and a tenth of the corpus."""
    with psycopg.connect(demo_db_url) as conn:
        stored = conn.execute("SELECT name, version, schema FROM jsonschema").fetchall()
        real = {"annotation": [r[0] for r in conn.execute("SELECT annotations FROM annotation")],
                "filterconfig": [r[0] for r in conn.execute(
                    "SELECT filterconfig FROM filterconfig")]}
    corpora = {"annotation": annotation_corpus(real["annotation"]),
               "filterconfig": filterconfig_corpus(real["filterconfig"])}
    assert stored
    for name, version, schema in stored:
        theirs, ours = compile_schema(schema), compile_schema(OURS[(name, version)])
        corpus = corpora[name]
        assert [json.dumps(x)[:200] for x in corpus if theirs(x) != ours(x)] == [], \
            (name, version)
        sample = real[name] + corpus[::10]
        sql = sql_valid_many(db_conn, schema, sample)
        assert [json.dumps(x)[:200] for x, s in zip(sample, sql) if theirs(x) != s] == [], \
            (name, version)


PATTERNS = ["rs[0-9]+", "[0-9]+/[0-9]+", "[A-Za-z]", "^abc$", "a.c", "^[^x]*$", "[]a]", "[^]a]b",
            "a{2}", "a{2,}b", "^a{1,2}$", "(ab|cd)+e?", "a\\.b", "x\\$", "^$", "a*?b",
            "[a-c-]", "-", "NM_[0-9]+\\.[0-9]+"]
SUBJECTS = ["", "a", "abc", "abc\n", "a\nc", "rs12", "x12/13", "12/", "]", "]b", "ab", "aab",
            "aaab", "abcde", "cde", "a.b", "axb", "x$", "xyz", "-", "b", "NM_000059.3", "\n"]


def test_translated_patterns_match_as_postgresql(db_conn):
    """Every (pattern, subject) pair: Python's verdict on the translation equals `subject ~
    pattern` in PostgreSQL (including $ before a final newline and . across newlines)."""
    rows = db_conn.execute(
        "SELECT p, s, s ~ p FROM unnest(%s::text[]) p, unnest(%s::text[]) s",
        (PATTERNS, SUBJECTS)).fetchall()
    wrong = [(p, s) for p, s, verdict in rows
             if (translate_pattern(p).search(s) is not None) != verdict]
    assert wrong == []


@pytest.mark.parametrize("pattern", [
    "\\d+", "[[:alpha:]]", "(?i)a", "\\bword", "\\y", "a{", "a{,3}", "a}", "[a", "\\", "\\n",
    "a\tb", 5])
def test_patterns_outside_the_subset_are_refused(pattern):
    with pytest.raises(UnsupportedSchema):
        translate_pattern(pattern)
    with pytest.raises(UnsupportedSchema):
        compile_schema({"properties": {"x": {"pattern": pattern}}})


@pytest.mark.parametrize("schema", [
    {"$ref": "other.json#/x"}, {"$ref": "#/definitions/missing"},
    {"properties": ["a"]}, {"required": [1]}, {"dependencies": {"a": [1]}},
    {"multipleOf": 0}, {"patternProperties": {"\\w": {}}}])
def test_unsupported_schemas_are_refused(schema):
    with pytest.raises(UnsupportedSchema):
        compile_schema(schema)


def test_numbers_compare_as_exact_decimals(db_conn):
    """Bounds and values compare as PostgreSQL numerics (the JSON text), not binary floats."""
    cases = [({"minimum": 0.1}, 0.1), ({"maximum": 0.1}, 0.1), ({"exclusiveMaximum": 0.3}, 0.3),
             ({"multipleOf": 0.1}, 0.3), ({"multipleOf": 0.01}, 0.07), ({"enum": [1]}, 1.0),
             ({"enum": [0.1]}, 0.1), ({"const": [1, {"a": 2}]}, [1.0, {"a": 2.0}]),
             ({"enum": [1]}, True), ({"uniqueItems": True}, [1, 1.0]),
             ({"uniqueItems": True}, [1, True]), ({"uniqueItems": True}, [{"a": 1}, {"a": 1.0}]),
             ({"type": "integer"}, 1e20), ({"type": "integer"}, 2.5)]
    for schema, value in cases:
        sql = db_conn.execute("SELECT validate_json_schema(%s, %s)",
                              (Jsonb(schema), Jsonb(value))).fetchone()[0]
        assert compile_schema(schema)(value) == sql, (schema, value)


def test_recursive_reference():
    tree = {"type": "object", "properties": {"children": {"type": "array",
                                                          "items": {"$ref": "#"}}}}
    check = compile_schema(tree)
    assert check({"children": [{"children": []}, {}]})
    assert not check({"children": [{"children": [1]}]})


def test_schema_versions_pick_the_highest_accepting_version():
    versions = [(1, {"type": "object"}), (3, {"type": "object", "required": ["b"]}),
                (2, {"type": "object", "required": ["a"]})]
    chooser = SchemaVersions(versions)
    assert [chooser.version_of(x) for x in ({"a": 1, "b": 1}, {"a": 1}, {}, [])] == \
        [3, 2, 1, None]
