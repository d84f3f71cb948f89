"""`bin/ella-annotationconfig update|list` (import.md 3.1, config-cli-ops.md 3.7) against a real
PostgreSQL: a new config becomes the active one that the next import uses; an equal one, or
any bad file, is refused with its problem and writes no row."""

import json
from pathlib import Path

import psycopg
import pytest
import yaml

from ella.annotation.legacy_config import legacy_annotation_config
from ella.deposit.annotationconfig import (AnnotationConfigFileError, MATCHES_ACTIVE,
                                           check_annotation_config, target_collision_warnings)
from helpers import run_cli

UPSTREAM = Path(__file__).resolve().parents[2] / "shared" / "data" / "annotation" \
    / "annotation-config-legacy.yml"
SCORE_CONVERTER = {"name": "keyvalue", "converter_config": {"elements": [
    {"source": "MY_SCORE", "target": "prediction.my_score", "target_type": "float"}]}}
VCF = ("##fileformat=VCFv4.1\n"
       '##INFO=<ID=MY_SCORE,Number=1,Type=Float,Description="a lab score">\n'
       "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
       "1\t100\t.\tA\tG\t50\tPASS\tMY_SCORE=0.75\n")


def _config_with_score():
    config = legacy_annotation_config()
    config["deposit"].append(SCORE_CONVERTER)
    return config


def _write(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    return str(path)


def _configs(db_url):
    with psycopg.connect(db_url) as conn:
        return conn.execute("SELECT id, deposit, view FROM annotationconfig ORDER BY id").fetchall()


def _clilog(db_url):
    with psycopg.connect(db_url) as conn:
        return conn.execute('SELECT "group", groupcommand, reason, output FROM clilog '
                            "WHERE \"group\" = 'annotationconfig' ORDER BY id").fetchall()


def test_update_makes_the_config_active_for_the_next_import(db_url, tmp_path):
    config = _config_with_score()
    path = _write(tmp_path, "annotation-config.yml", config)
    result = run_cli("ella-annotationconfig", "update", path, db_url=db_url,
                     stdin="a new lab score\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ("Updated annotation config (id 2): 11 converters, "
                                     "7 view sections")
    assert "Enter reason (optional): [None]:" in result.stderr
    (_, old_deposit, _), (new_id, deposit, view) = _configs(db_url)
    assert (new_id, deposit, view) == (2, config["deposit"], config["view"])
    assert old_deposit == legacy_annotation_config()["deposit"]  # the old row is unchanged
    assert _clilog(db_url) == [("annotationconfig", "update", "a new lab score",
                                result.stdout.strip())]

    listed = run_cli("ella-annotationconfig", "list", db_url=db_url)
    assert listed.returncode == 0, listed.stderr
    assert listed.stderr.startswith("Active annotation config: id 2, created ")
    assert json.loads(listed.stdout) == config

    vcf = _write(tmp_path, "variants.vcf", VCF)
    deposit = run_cli("ella-deposit", "annotation", vcf, db_url=db_url)
    assert deposit.returncode == 0, deposit.stderr
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT annotation_config_id, annotations FROM annotation"
                            ).fetchall() == [(2, {"prediction": {"my_score": 0.75}})]


def test_a_config_equal_to_the_active_one_is_refused(db_url, tmp_path):
    """ELLA's equality: the deposit list in any order, the view as it is."""
    reordered = legacy_annotation_config()
    reordered["deposit"].reverse()
    result = run_cli("ella-annotationconfig", "update", _write(tmp_path, "a.yml", reordered),
                     "--reason", "again", db_url=db_url)
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {MATCHES_ACTIVE}"
    assert [r[0] for r in _configs(db_url)] == [1]
    assert _clilog(db_url) == [("annotationconfig", "update", "again", MATCHES_ACTIVE)]

    new_view = legacy_annotation_config()
    new_view["view"].reverse()  # the order of the UI's sections is a change
    result = run_cli("ella-annotationconfig", "update", _write(tmp_path, "b.yml", new_view),
                     "--reason", "", db_url=db_url)
    assert result.returncode == 0, result.stderr
    assert [r[0] for r in _configs(db_url)] == [1, 2]


def _with(path, value):
    """The legacy config with `value` set at `path` (keys and list indexes)."""
    config = legacy_annotation_config()
    target = config
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return config


def _with_element(converter_name, element):
    """The legacy config with `element` added to its first `converter_name` converter."""
    config = legacy_annotation_config()
    converter = next(c for c in config["deposit"] if c["name"] == converter_name)
    converter["converter_config"]["elements"].append(element)
    return config


def _keyvalue(target, target_type="string"):
    return _with_element("keyvalue", {"source": "X", "target": target,
                                      "target_type": target_type})


def _keyvalues(*elements):
    """The legacy config with keyvalue elements (source, target, target_type, target_mode)."""
    config = legacy_annotation_config()
    converter = next(c for c in config["deposit"] if c["name"] == "keyvalue")
    for source, target, target_type, mode in elements:
        converter["converter_config"]["elements"].append(
            {"source": source, "target": target, "target_type": target_type,
             "target_mode": mode})
    return config


def _first_element_of(converter_name, **changes):
    """The legacy config with `changes` made to its first `converter_name` element."""
    config = legacy_annotation_config()
    converter = next(c for c in config["deposit"] if c["name"] == converter_name)
    converter["converter_config"]["elements"][0].update(changes)
    return config


BAD_FILES = [
    ("deposit: [\n  {name: vep\nview: []\n", "bad.yml: not valid YAML: line 3 column 5"),
    ("- deposit\n- view\n", "the file must hold a mapping with 'deposit' and 'view' lists"),
    ({"deposit": []}, "(top level): 'view' is a required property"),
    (_with(["deposit", 0, "name"], "vep2"), "deposit[0].name: 'vep2' is not one of"),
    (_with(["deposit", 2, "converter_config", "elements", 0, "target_type"], "integer"),
     "deposit[2].converter_config.elements[0].target_type: 'integer' is not one of"),
    (_with(["deposit", 1, "converter_config", "elements", 0, "split"], ","),
     "deposit[1]: converter clinvarjson: unknown key(s) split"),
    (_with(["deposit", 0, "converter_config", "elements", 0, "target_mode"], "replace"),
     "deposit[0].converter_config.elements[0].target_mode: 'replace' is not one of"),
    (_with(["view", 0, "section"], "classification"), "view[0].section: 'classification' is "
                                                      "not one of"),
    (_with(["view", 0, "config", "precision"], -2), "view[0].config.precision: -2 is less than"),
    ("deposit: []\nview:\n- {section: external, template: keyValue, source: 2024-01-31, "
     "config: {}}\n", "view[0].source is a date, not a JSON value (quote it)"),
    ("deposit: []\nview: []\nnote: \"\\0\"\n", "note contains a NUL character"),
    (b"deposit: []\nview: []\n# \xff\n", "line 3: not UTF-8 text (byte 23: b'\\xff')"),
    # PyYAML nests recursively: 1 KB of brackets was a RecursionError's traceback.
    ("[" * 1000 + "]" * 1000, "nested too deeply (at most 100 levels)"),
    ("deposit: []\nview: " + "[" * 600 + "]" * 600 + "\n", "nested too deeply"),
    # Python reads no integer of over 4,300 digits: a ValueError's traceback.
    ("deposit: []\nview: []\nnote: " + "9" * 5000 + "\n",
     "line 3 column 7: an integer of over 4,300 digits cannot be read"),
    # A key written twice: YAML kept the later value without a word.
    # Stored, these failed every later import of a VCF with the field (the annotation
    # schema, the shadow table's columns), far from the change.
    (_keyvalue("a..b"), "target 'a..b': a path with an empty part"),
    (_keyvalue("prediction."), "target 'prediction.': a path with an empty part"),
    (_keyvalue("transcripts"), "target 'transcripts': the annotation schema wants a list of "
                               "transcripts there, which only the vep converter(s) make"),
    (_keyvalue("references.x"), "the annotation schema wants a list of references there"),
    (_keyvalue("frequencies.GNOMAD_EXOMES.num.G", "float"),
     "a frequency num is a column of type int in the shadow table: give target_type 'int'"),
    (_keyvalue("frequencies.GNOMAD_EXOMES.freq.G", "string"),
     "a frequency freq is a column of type float in the shadow table: give target_type "
     "'float'"),
    ("deposit: []\nview: []\n", "deposit is empty: every later import would store its "
     "variants without annotation"),
    (_first_element_of("vep", target_mode="append"),
     "target 'transcripts': target_mode append would put the vep converter's list of "
     "transcripts inside another list; use insert or extend"),
    (_first_element_of("vep", target="transcripts.vep"),
     "target 'transcripts.vep': the vep converter makes the list of transcripts itself: give "
     "target 'transcripts'"),
    (_first_element_of("clinvarreferences", target_mode="append"),
     "target_mode append would put the clinvarreferences converter's list of references "
     "inside another list"),
    # More than the converter's function takes: a TypeError at every record with the field.
    (_first_element_of("hgmd", additional_sources=["HGMD__disease", "HGMD__tag", "X"]),
     "converter hgmd reads at most 2 additional_sources (the disease, then the tag), not 3"),
    (_first_element_of("hgmdprimaryreport", additional_sources=["HGMD__comments", "X"]),
     "converter hgmdprimaryreport reads at most 1 additional_sources (the comments), not 2"),
    ("deposit: []\nview: []\ndeposit: [{name: vep}]\n",
     "not valid YAML: line 3 column 1: the key 'deposit' is given twice in this mapping "
     "(first on line 1)"),
]


@pytest.mark.parametrize("content, message", BAD_FILES,
                         ids=[f"bad{i}" for i in range(len(BAD_FILES))])
def test_a_bad_file_is_refused_with_its_problem(db_url, tmp_path, content, message):
    path = tmp_path / "bad.yml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        _write(tmp_path, "bad.yml", content)
    result = run_cli("ella-annotationconfig", "update", str(path), "--reason", "x",
                     db_url=db_url)
    assert result.returncode == 1, result.stdout
    assert result.stderr.startswith(f"error: {path}: ") and message in result.stderr, \
        result.stderr
    assert "Traceback" not in result.stderr
    assert [r[0] for r in _configs(db_url)] == [1]


def test_usage_errors(db_url, tmp_path):
    missing = run_cli("ella-annotationconfig", "update", str(tmp_path / "nope.yml"),
                      db_url=db_url)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    folder = run_cli("ella-annotationconfig", "update", str(tmp_path), db_url=db_url)
    assert folder.returncode == 2 and "is a folder" in folder.stderr
    assert run_cli("ella-annotationconfig", db_url=db_url).returncode == 2
    assert [r[0] for r in _configs(db_url)] == [1]


def test_yaml_aliases_cannot_blow_up_the_check():
    """A few hundred bytes of nested aliases would expand to a billion values."""
    text = "deposit: []\nview: []\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9))
    with pytest.raises(AnnotationConfigFileError, match="more than 1,000,000 values"):
        check_annotation_config(yaml.safe_load(text))
    looped = yaml.safe_load("deposit: []\nview: []\nloop: &l [*l]\n")
    with pytest.raises(AnnotationConfigFileError, match="nested too deeply"):
        check_annotation_config(looped)


def test_ellas_configs_pass_the_check():
    check_annotation_config(legacy_annotation_config())
    assert target_collision_warnings(legacy_annotation_config()["deposit"]) == []
    # Lists several elements extend or append to, and separate leaves of one object, are fine.
    fine = _keyvalues(("X", "a.b", "int", "insert"), ("Y", "a.c", "int", "insert"),
                      ("Z", "l", "string", "append"), ("W", "l", "string", "append"))
    check_annotation_config(fine)
    assert target_collision_warnings(fine["deposit"]) == []


@pytest.mark.parametrize("elements, warning", [
    ([("X", "a.b", "int", "insert"), ("Y", "a.b", "int", "insert")],
     "(source 'Y') and deposit[2] (keyvalue) element 46 (source 'X') both place target 'a.b' "
     "(target_mode insert and insert)"),
    ([("X", "a.b", "int", "extend"), ("Y", "a.b", "int", "insert")],
     "both place target 'a.b' (target_mode extend and insert)"),
    ([("X", "a", "int", "insert"), ("Y", "a.b", "int", "insert")],
     "(source 'Y'): target 'a.b' is inside 'a', which deposit[2] (keyvalue) element 46 "
     "(source 'X') fills (target_mode insert)"),
])
def test_targets_that_cannot_both_be_placed_are_warned_about(db_url, tmp_path, elements,
                                                             warning):
    """A record holding both fields was refused at import ("already has a value", "is not an
    object"), far from the change. Warned, not refused: one field's old and new names in two
    pipelines never meet in one record, and that config works."""
    result = run_cli("ella-annotationconfig", "update",
                     _write(tmp_path, "c.yml", _keyvalues(*elements)), "--reason", "x",
                     db_url=db_url)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("Warning: ")]
    assert len(lines) == 1 and warning in lines[0], result.stdout
    assert lines[0].endswith("a VCF record holding both fields may be refused at import "
                             "(fine if they never meet in one record)")
    assert [r[0] for r in _configs(db_url)] == [1, 2]


def test_a_json_object_inserted_where_another_element_places_a_key_is_warned_about():
    config = legacy_annotation_config()
    config["deposit"].append({"name": "json", "converter_config": {"elements": [
        {"source": "XJSON", "target": "x", "target_mode": "insert"}]}})
    config["deposit"].append({"name": "keyvalue", "converter_config": {"elements": [
        {"source": "XY", "target": "x.y", "target_type": "int"}]}})
    check_annotation_config(config)
    [warning] = target_collision_warnings(config["deposit"])
    assert "target 'x.y' is inside 'x', which" in warning and "(json)" in warning
    if UPSTREAM.exists():  # ELLA's own file (../shared); test_legacy_annotationconfig compares
        check_annotation_config(yaml.safe_load(UPSTREAM.read_text()))


def test_two_updates_with_the_same_config_store_it_once(db_url, tmp_path):
    """The equality check and the insert happen under one table lock: an update that waits
    for another one that stores the same config sees it and refuses."""
    import threading

    from helpers import wait_for_lock_wait

    config = _config_with_score()
    path = _write(tmp_path, "same.yml", config)
    with psycopg.connect(db_url) as first:
        first.execute("LOCK TABLE annotationconfig IN SHARE ROW EXCLUSIVE MODE")
        results = []
        second = threading.Thread(target=lambda: results.append(run_cli(
            "ella-annotationconfig", "update", path, "--reason", "second", db_url=db_url)))
        second.start()
        wait_for_lock_wait(db_url, "ella-annotationconfig")
        first.execute("INSERT INTO annotationconfig (deposit, view, date_created) "
                      "VALUES (%s, %s, now())",
                      (json.dumps(config["deposit"]), json.dumps(config["view"])))
        first.commit()
        second.join(timeout=120)
    (result,) = results
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {MATCHES_ACTIVE}"
    assert [r[0] for r in _configs(db_url)] == [1, 2]


META_CONVERTER = {"name": "meta", "converter_config": {"elements": [
    {"source": "MY_META", "target": "external.my_meta",
     "subelements": [{"source": "score", "target_type": "float"}]}]}}


def test_a_config_with_a_meta_converter_is_stored_and_used(db_url, tmp_path):
    """`meta` takes its keys from the VCF's ##INFO line: the check (without a VCF) refused
    every config with one, and an import refused every VCF without that line. Now only a
    record that carries the field without its header line is an error."""
    config = legacy_annotation_config()
    config["deposit"].append(META_CONVERTER)
    result = run_cli("ella-annotationconfig", "update", _write(tmp_path, "meta.yml", config),
                     "--reason", "meta", db_url=db_url)
    assert result.returncode == 0, result.stderr
    header = "##fileformat=VCFv4.1\n"
    columns = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    with_line = header + '##INFO=<ID=MY_META,Number=1,Type=String,Description="Format: ' \
        'score|label">\n' + columns
    cases = [("plain.vcf", header + columns + "1\t100\t.\tA\tG\t50\tPASS\t.\n", 0),
             ("meta.vcf", with_line + "1\t200\t.\tA\tG\t50\tPASS\tMY_META=0.5|x\n", 0),
             ("headless.vcf", header + columns + "1\t300\t.\tA\tG\t50\tPASS\tMY_META=1|y\n", 1)]
    for name, text, status in cases:
        deposited = run_cli("ella-deposit", "annotation", _write(tmp_path, name, text),
                            db_url=db_url)
        assert deposited.returncode == status, (name, deposited.stderr)
    assert "no ##INFO header line for MY_META" in deposited.stderr
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT a.start_position, n.annotations FROM annotation n "
                            "JOIN allele a ON a.id = n.allele_id ORDER BY 1").fetchall()
    assert rows == [(99, {}), (199, {"external": {"my_meta": {"score": 0.5}}})]
