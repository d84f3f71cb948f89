"""What every JSON and YAML input refuses or reads alike: an integer too long for JSON in
any YAML spelling, a control character in an annotation config, a byte-order mark before a
deposited JSON file, a key given twice in one JSON object."""

import json

import psycopg
import pytest
import yaml

from ella.annotation.legacy_config import legacy_annotation_config
from ella.config import ConfigError, parse_yaml
from ella.deposit.analysis_config import resolve_analysis_config
from ella.deposit.annotationconfig import (AnnotationConfigFileError,
                                          read_annotation_config_file)
from ella.deposit.filterconfigs import read_filterconfigs_file
from ella.deposit.users import read_json_list
from ella.jsonload import UnstorableJson, loads, numbered_as_entries
from helpers import ROOT, run_cli, table_snapshot

HUGE = ["0x" + "f" * 3700, "0b" + "1" * 15000, "0" + "7" * 5000]


@pytest.mark.parametrize("literal", HUGE, ids=["hex", "binary", "octal"])
def test_an_integer_too_long_for_json_is_refused_in_any_yaml_spelling(literal):
    """Decimal text of over 4,300 digits was refused by int(); hexadecimal, binary and
    octal ones were built, and the first json.dumps of the config was a traceback."""
    with pytest.raises(ConfigError, match=r"site\.yml: line 1, column 4: an integer of over "
                                          r"4,300 digits cannot be read"):
        parse_yaml(f"a: {literal}\n", environ={}, source="site.yml")
    assert parse_yaml("a: 0x" + "f" * 100, environ={}) == {"a": 16 ** 100 - 1}


def _annotation_config(tmp_path, text):
    path = tmp_path / "annotation-config.yml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


@pytest.mark.parametrize("literal", HUGE[:2], ids=["hex", "binary"])
def test_annotationconfig_update_refuses_a_huge_integer_in_one_line(db_url, tmp_path, literal):
    """It passed every check and `ella-annotationconfig update` ended in a traceback."""
    text = yaml.safe_dump(legacy_annotation_config())
    at = text.index("precision:")
    path = _annotation_config(tmp_path, text[:at] + f"precision: {literal}"
                              + text[text.index("\n", at):])
    before = table_snapshot(db_url)
    result = run_cli("ella-annotationconfig", "update", str(path), "--reason", "x",
                     db_url=db_url)
    assert result.returncode == 1, result
    assert result.stderr.startswith(f"error: {path}: not valid YAML: line ")
    assert "an integer of over 4,300 digits cannot be read" in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    after = table_snapshot(db_url)
    before.pop("clilog"), after.pop("clilog")
    assert after == before


def test_annotationconfig_with_a_nul_is_one_line_with_its_line(db_url, tmp_path):
    """PyYAML's ReaderError has no mark: its two-line text was printed, without a line."""
    path = _annotation_config(tmp_path, b"deposit: []\nview: 0x1\x00\n")
    result = run_cli("ella-annotationconfig", "update", str(path), "--reason", "x",
                     db_url=db_url)
    assert (result.returncode, result.stderr) == (1, (
        f"error: {path}: not valid YAML: line 2: the character U+0000 is not allowed in YAML "
        "(a control character)\n"))


@pytest.mark.parametrize("end", [b"\r", b"\r\n", b"\n"])
def test_an_annotationconfig_line_counts_a_cr_alone_as_yaml_does(tmp_path, end):
    """YAML ends a line at CR alone too: a file saved with old Mac line ends named "line 1"
    for a character on line 3."""
    path = _annotation_config(tmp_path, end.join([b"deposit: []", b"view: []",
                                                  b"note: a\x00"]) + end)
    with pytest.raises(AnnotationConfigFileError, match="not valid YAML: line 3: the "
                                                        "character U\\+0000"):
        read_annotation_config_file(path)


BOM = b"\xef\xbb\xbf"


def test_deposited_json_files_may_start_with_a_byte_order_mark(tmp_path):
    """Notepad's UTF-8 starts with one: `.analysis`, users, groups and filter config files
    were refused ("Unexpected UTF-8 BOM"), where the JSON-lines and panel files read it."""
    analysis = ROOT / "demo" / "analyses" / "TestAnalysis-001"
    copy = tmp_path / analysis.name
    copy.mkdir()
    for item in analysis.iterdir():
        (copy / item.name).write_bytes(
            (BOM if item.suffix == ".analysis" else b"") + item.read_bytes())
    assert resolve_analysis_config(copy)["name"] == "TestAnalysis-001"
    for name, read in (("users.json", read_json_list), ("usergroups.json", read_json_list),
                       ("filterconfigs.json", read_filterconfigs_file)):
        original = ROOT / "demo" / name
        path = tmp_path / name
        path.write_bytes(BOM + original.read_bytes())
        assert read(path) == json.loads(original.read_text(encoding="utf-8"))


def test_a_key_given_twice_in_a_json_object_is_refused(db_url, tmp_path):
    """json keeps the later value without a word: a groups file's second "name" renamed the
    group ("Added user group g2"); the YAML configs refuse a key written twice alike."""
    with pytest.raises(UnstorableJson, match=r"^\[0\] gives the key 'name' twice; the later"):
        loads('[{"name": "g1", "genepanels": [], "name": "g2"}]')
    # Named by its path: a key that many entries have once each is no clue.
    with pytest.raises(UnstorableJson, match=r"^\[2\]\.filterconfig\.frequency gives the "
                                             r"key 'num_thresholds' twice"):
        loads(json.dumps([{"name": "a"}, {"name": "b"}]).rstrip("]") + ', {"name": "c", '
              '"filterconfig": {"frequency": {"num_thresholds": 1, "num_thresholds": 2}}}]')
    assert loads('{"a": {"b": 1}, "c": {"b": 2}}') == {"a": {"b": 1}, "c": {"b": 2}}
    path = tmp_path / "groups.json"
    path.write_text('[{"name": "g1", "genepanels": [], "name": "g2"}]')
    result = run_cli("ella-users", "add_groups", str(path), db_url=db_url)
    assert result.returncode == 1, result
    # The tools number entries from 1, as their other messages do.
    assert f"{path}: entry 1 gives the key 'name' twice" in result.stderr
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM usergroup").fetchone() == (0,)


@pytest.mark.parametrize("text, message", [
    ('{"b": [1, {"c": NaN}]}', "b[1].c: NaN is not a number JSON or PostgreSQL can store"),
    ('[{"x": 1.5}, {"y": [0, -Infinity]}]',
     "[1].y[1]: -Infinity is not a number JSON or PostgreSQL can store"),
    ('{"n": 1e999}', "n: the number 1e999 is too large to store"),
    ('NaN', "(top level): NaN is not a number JSON or PostgreSQL can store"),
    # The refused value of a key given twice is the one named (not the later, kept one).
    ('{"a": NaN, "a": 1}', "a: NaN is not a number JSON or PostgreSQL can store"),
    # Where the place cannot be found again, the number is still refused, without it (a
    # RecursionError and a ValueError escaped the loaders).
    ('[NaN, ' + '[' * 200_000, "NaN is not a number JSON or PostgreSQL can store"),
    ('[NaN, ' + '9' * 5_000 + ']', "NaN is not a number JSON or PostgreSQL can store"),
])
def test_a_number_postgresql_cannot_store_is_named_with_its_path(text, message):
    with pytest.raises(UnstorableJson) as refused:
        loads(text)
    assert str(refused.value) == message


@pytest.mark.parametrize("text, message", [
    ('[{"a": 1}, {"name": "x\\u0000"}]', "entry 2: name contains a NUL character"),
    ('[{"name": "g1", "name": "g2"}]', "entry 1 gives the key 'name' twice"),
    ('[{"x": 1.5}, {"y": [0, -Infinity]}]',
     "entry 2: y[1]: -Infinity is not a number JSON or PostgreSQL can store"),
    ('[1, 2, ["\\u0000"]]', "entry 3: [0] contains a NUL character"),
    ('[1, NaN]', "entry 2: NaN is not a number JSON or PostgreSQL can store"),
    # Not in an entry: as loads says it.
    ('NaN', "(top level): NaN is not a number JSON or PostgreSQL can store"),
    ('{"groups": ["\\u0000"]}', "groups[0] contains a NUL character"),
    ('[' * 100_000, "nested too deeply (at most 100 levels)"),
    ('[' * 150 + ']' * 150, "entry 1: [0][0]"),
    # An object's key that reads like an index is no entry.
    ('{"[5]": "\\u0000"}', "[5] contains a NUL character"),
    (' {"[0]": {"x": NaN}}', "[0].x: NaN is not a number"),
    ('{"[1]": {"a": 1, "a": 2}}', "[1] gives the key 'a' twice"),
    ('\n [{"a": 1, "a": 2}]', "entry 1 gives the key 'a' twice"),
])
def test_the_tools_number_the_entries_of_a_list_file_from_1(text, message):
    """ella-users and ella-filterconfigs call an entry "entry 2 ('x')" in every other
    message; the JSON checks called the same entry [1]."""
    with pytest.raises(UnstorableJson) as refused:
        loads(text)
    assert numbered_as_entries(refused.value).startswith(message), str(refused.value)


def test_bytes_are_read_as_text_is():
    """The API hands `loads` the request body's bytes: a list's entry is told as from text,
    and an object is no list (the check of the top level read str only: a 500)."""
    for data, message in ((b' [1, NaN]', "entry 2: NaN is not a number"),
                          (b'{"[0]": NaN}', "[0]: NaN is not a number")):
        with pytest.raises(UnstorableJson) as refused:
            loads(data)
        assert numbered_as_entries(refused.value).startswith(message)
