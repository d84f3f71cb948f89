"""Tests for ella.config: YAML tags, schema validation, environment settings."""

import copy
import ipaddress
import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from ella import config as cfg
from ella.config import ConfigError
from helpers import run_cli

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def default_config():
    return cfg.load_config(environ={})


def plain_config(default_config):
    """The default config as it must appear in a file (without built-in keys)."""
    data = copy.deepcopy(default_config)
    del data["transcripts"]["consequences"]
    return data


def write_config(tmp_path, data, name="ella.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def load_error(path, environ=None):
    with pytest.raises(ConfigError) as info:
        cfg.load_config(path, environ=environ or {})
    message = str(info.value)
    assert "\n" not in message
    return message


# --- the shipped default ------------------------------------------------------


def test_schema_is_valid_draft7():
    schema = json.loads(cfg.SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)


def test_default_config_loads_and_validates(default_config):
    assert sorted(default_config) == sorted(
        ["app", "user", "analysis", "frequencies", "classification", "report",
         "transcripts", "igv", "import", "similar_alleles"]
    )
    # the loaded default validates again once the built-in keys are removed
    cfg.validate_config(plain_config(default_config))


def test_default_config_values_without_environment(default_config):
    app = default_config["app"]
    assert app["links_to_clipboard"] is True
    assert app["non_production_warning"] is None
    assert app["annotation_service"] == "http://172.17.0.1:6000"
    assert app["attachment_storage"] is None
    assert app["max_upload_size"] == 52428800
    assert app["feature_flags"] == {"cnv": False, "pydantic": False}
    igv = default_config["igv"]["reference"]
    assert igv["fastaURL"] == "api/v1/igv/human_g1k_v37_decoy.fasta"
    assert igv["cytobandURL"] == "api/v1/igv/cytoBand.txt"
    assert default_config["user"]["auth"]["password_minimum_length"] == 8
    assert [o["value"] for o in default_config["classification"]["options"]] == [
        "1", "2", "3", "4", "5", "RF", "DR", "NP"
    ]
    assert default_config["similar_alleles"] == {"max_variants": 10, "max_genomic_distance": 100}


def test_default_config_reads_the_same_environment_variables_as_ella():
    environ = {
        "OFFLINE_MODE": "no",
        "NON_PRODUCTION_WARNING": "STAGING",
        "ANNOTATION_SERVICE_URL": "http://anno:6000",
        "ATTACHMENT_STORAGE": "/data/attachments",
        "ENABLE_CNV": "True",
        "ENABLE_PYDANTIC": "off",
        "DEV_IGV_FASTA": "https://example.org/ref.fa",
        "DEV_IGV_CYTOBAND": "https://example.org/cyto.txt",
    }
    config = cfg.load_config(environ=environ)
    assert config["app"]["links_to_clipboard"] is False
    assert config["app"]["non_production_warning"] == "STAGING"
    assert config["app"]["annotation_service"] == "http://anno:6000"
    assert config["app"]["attachment_storage"] == "/data/attachments"
    assert config["app"]["feature_flags"] == {"cnv": True, "pydantic": False}
    assert config["igv"]["reference"] == {
        "fastaURL": "https://example.org/ref.fa",
        "cytobandURL": "https://example.org/cyto.txt",
    }


def test_default_frequency_groups(default_config):
    pops = ["G", "AFR", "AMR", "ASJ", "EAS", "FIN", "NFE", "OTH", "SAS"]
    expected = (
        [("GNOMAD_GENOMES", p) for p in pops]
        + [("GNOMAD_EXOMES", p) for p in pops]
        + [("inDB", "OUSWES")]
    )
    groups = default_config["frequencies"]["groups"]
    pairs = [
        (provider, key)
        for kind in ("external", "internal")
        for provider, keys in groups[kind].items()
        for key in keys
    ]
    assert pairs == expected
    assert len(pairs) == 19
    assert list(groups["internal"]) == ["inDB"]


def test_builtin_consequences_added(default_config):
    consequences = default_config["transcripts"]["consequences"]
    assert len(consequences) == 40 == len(set(consequences))
    assert consequences[0] == "transcript_ablation"
    assert consequences[11] == "missense_variant"
    assert consequences[20] == "synonymous_variant"
    assert consequences[-1] == "intergenic_variant"
    assert consequences.index("5_prime_UTR_variant") < consequences.index("3_prime_UTR_variant")
    # a fresh list each time: callers may not corrupt the module constant
    assert consequences is not cfg.CONSEQUENCES
    assert "acmg" not in default_config and "custom_annotation" not in default_config


def test_default_preimport_script_exists_and_follows_the_contract(default_config, db_url,
                                                                  tmp_path):
    from deposit_helpers import add_test_panels
    add_test_panels(db_url)
    script = Path(default_config["import"]["preimport_script"])
    assert script.is_absolute()
    assert script == PROJECT_ROOT / "ops" / "preimport.py"
    assert os.access(script, os.X_OK)
    env = dict(os.environ, GENEPANEL_NAME="HBOC", GENEPANEL_VERSION="v01",
               SAMPLE_ID="S1", USERGROUP="testgroup01", PRIORITY="2", DB_URL=db_url,
               ELLA_PREIMPORT_DIR=str(tmp_path))
    out = json.loads(subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                                    text=True, check=True).stdout)
    assert out["variables"] == {"GP_NAME": "HBOC", "GP_VERSION": "v01", "PRIORITY": "2",
                                "target": "ella"}
    assert out["files"] == {
        "TRANSCRIPTS": str(tmp_path / "HBOC_v01_genes_transcripts.tsv"),
        "PHENOTYPES": str(tmp_path / "HBOC_v01_phenotypes.tsv"),
        "EXON_REGIONS": str(tmp_path / "HBOC_v01_exon_regions.bed")}
    assert all(Path(path).stat().st_size > 0 for path in out["files"].values())
    env.pop("GENEPANEL_NAME")
    failed = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True)
    assert failed.returncode != 0 and "GENEPANEL_NAME" in failed.stderr


# --- choosing the file ------------------------------------------------------------


def test_path_from_ella_config_variable(tmp_path, default_config):
    data = plain_config(default_config)
    data["similar_alleles"]["max_variants"] = 3
    path = write_config(tmp_path, data)
    assert cfg.load_config(environ={"ELLA_CONFIG": str(path)})["similar_alleles"]["max_variants"] == 3
    # an explicit argument wins over the variable
    assert cfg.load_config(cfg.DEFAULT_CONFIG_PATH, environ={"ELLA_CONFIG": str(path)})[
        "similar_alleles"]["max_variants"] == 10


def test_without_ella_config_the_shipped_default_is_used():
    assert cfg.config_path(environ={}) == str(cfg.DEFAULT_CONFIG_PATH)
    assert cfg.config_path(environ={"ELLA_CONFIG": ""}) == str(cfg.DEFAULT_CONFIG_PATH)


# --- !env tags ---------------------------------------------------------------------


def parse(text, **environ):
    return cfg.parse_yaml(text, environ=environ, source="t.yaml")


def parse_error(text, **environ):
    with pytest.raises(ConfigError) as info:
        parse(text, **environ)
    message = str(info.value)
    assert "\n" not in message and message.startswith("t.yaml: line ")
    return message


@pytest.mark.parametrize("raw, value", [
    ("5", 5), ("1.5", 1.5), ("true", True), ("No", False), ("hello", "hello"),
    ("null", None), ("", None), ("http://x:1/y", "http://x:1/y"),
])
def test_env_set_is_type_resolved(raw, value):
    result = parse("a: !env X", X=raw)["a"]
    assert result == value and type(result) is type(value)


def test_env_unset_is_null():
    assert parse("a: !env X") == {"a": None}


def test_env_empty_counts_as_unset():
    """A blank `X=` line in an env file: the default applies, and a typed tag with a
    default does not fail on ''."""
    assert parse("a: !env [X, 'fallback']", X="") == {"a": "fallback"}
    assert parse("a: !env_bool [X, true]", X="") == {"a": True}
    assert parse("a: !env_int [X, 3]", X="") == {"a": 3}
    assert parse("a: !env X", X="") == {"a": None}
    assert "X is not set" in parse_error("a: !env_bool X", X="")


def test_default_config_with_empty_variables():
    environ = {name: "" for name in ("OFFLINE_MODE", "ENABLE_CNV", "ANNOTATION_SERVICE_URL",
                                     "NON_PRODUCTION_WARNING", "ATTACHMENT_STORAGE")}
    assert cfg.load_config(environ=environ) == cfg.load_config(environ={})


def test_env_with_default():
    assert parse("a: !env [X, 'fallback']") == {"a": "fallback"}
    assert parse("a: !env [X, 'fallback']", X="given") == {"a": "given"}
    # the default is type-resolved as well
    assert parse("a: !env [X, '5']") == {"a": 5}
    assert parse("a: !env [X, true]") == {"a": True}


def test_env_bool():
    assert parse("a: !env_bool X", X="yes") == {"a": True}
    assert parse("a: !env_bool X", X="OFF") == {"a": False}
    assert parse("a: !env_bool [X, true]") == {"a": True}
    assert parse("a: !env_bool [X, true]", X="false") == {"a": False}


def test_env_bool_rejects_other_values():
    message = parse_error("a: !env_bool X", X="maybe")
    assert "!env_bool" in message and "'maybe'" in message and "X" in message


def test_env_typed_unset_without_default_is_an_error():
    assert "X is not set" in parse_error("a: !env_bool X")
    assert "X is not set" in parse_error("a: !env_int X")
    assert "X is not set" in parse_error("a: !env_float X")


def test_env_int_float_str():
    assert parse("a: !env_int X", X="42") == {"a": 42}
    assert "!env_int" in parse_error("a: !env_int X", X="4.2")
    result = parse("a: !env_float X", X="1")["a"]
    assert result == 1.0 and type(result) is float
    assert parse("a: !env_str X", X="5") == {"a": "5"}
    assert parse("a: !env_str [X, true]") == {"a": "true"}
    # as in ELLA: unset without default is the text "null"
    assert parse("a: !env_str X") == {"a": "null"}


def test_env_float_not_a_number_is_refused():
    with pytest.raises(ConfigError) as info:
        parse("a:\n  b: !env_float [T, 30]", T="nan")
    assert str(info.value) == "t.yaml: a.b is nan, not a number JSON or PostgreSQL can store"


def test_env_unknown_type():
    assert "unknown type 'nope'" in parse_error("a: !env_nope X", X="1")


@pytest.mark.parametrize("text", ["a: !env [A, b, c]", "a: !env [A]", "a: !env_int [A, 1, 2]"])
def test_env_list_needs_exactly_two_items(text):
    assert "two items" in parse_error(text)


def test_env_error_names_the_line():
    assert parse_error("a: 1\nb:\n  c: !env_int X\n").startswith("t.yaml: line 3,")


# --- !file -------------------------------------------------------------------------


def test_file_existing_is_absolute_path_below_project_root():
    result = parse("s: !file 'ella/config_schema.json'")["s"]
    assert result == str(PROJECT_ROOT / "ella" / "config_schema.json")


def test_file_missing_is_an_error():
    message = parse_error("s: !file 'ops/no-such-script.py'")
    assert "!file" in message and "ops/no-such-script.py" in message and "not found" in message


def test_file_missing_in_a_config_file_names_the_file(tmp_path):
    text = cfg.DEFAULT_CONFIG_PATH.read_text(encoding="utf-8").replace(
        "!file 'ops/preimport.py'", "!file 'ops/missing.py'")
    assert "!file 'ops/missing.py'" in text
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    message = load_error(path)
    assert message.startswith(f"{path}: line ") and "ops/missing.py" in message


# --- bad config files --------------------------------------------------------------


def test_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    assert load_error(path) == f"config file not found: {path}"
    assert load_error(None, environ={"ELLA_CONFIG": str(path)}) == f"config file not found: {path}"


def test_yaml_syntax_error_has_line_number(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("app:\n  a: 1\n  b: [1, 2\nuser: {}\n", encoding="utf-8")
    message = load_error(path)
    assert message.startswith(f"{path}: line 4,")


@pytest.mark.parametrize("text, message", [
    # Deeper than the YAML parser's recursion: was a RecursionError traceback.
    ("app: " + "[" * 100000, "nested too deeply (at most 100 levels)"),
    ("app: " + "[" * 600 + "]" * 600, "nested too deeply (at most 100 levels)"),
    # Parsed, but would recurse without end in validation.
    ("app: " + "[" * 150 + "]" * 150, "app[0][0]"),
    ("app: " + "[" * 150 + "]" * 150, "... is nested too deeply (at most 100 levels)"),
    ('app:\n  x: "a\\0b"\n', "app.x contains a NUL character (\\u0000), which PostgreSQL "
                               "cannot store"),
    # Passed the schema's bounds (NaN compares false): GET config/ served NaN, no JSON to
    # the browser, and every call to the annotation service failed.
    ("import:\n  annotation_service_timeout: .nan\n",
     "import.annotation_service_timeout is nan, not a number JSON or PostgreSQL can store"),
    ("import:\n  annotation_service_timeout: .inf\n",
     "import.annotation_service_timeout is inf, not a number JSON or PostgreSQL can store"),
    ("app:\n  x: [-.Inf]\n", "app.x[0] is -inf, not a number JSON or PostgreSQL can store"),
])
def test_config_postgresql_or_python_cannot_take(tmp_path, text, message):
    path = tmp_path / "deep.yaml"
    path.write_text(text, encoding="utf-8")
    error = load_error(path)
    assert error.startswith(f"{path}: ") and message in error


def test_empty_file(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("", encoding="utf-8")
    assert "must be a mapping" in load_error(path)


def broken(tmp_path, default_config, change):
    data = plain_config(default_config)
    change(data)
    path = write_config(tmp_path, data)
    return path, load_error(path)


def test_unknown_key(tmp_path, default_config):
    path, message = broken(tmp_path, default_config, lambda d: d["app"].update(foo=1))
    assert message == f"{path}: app: unknown key 'foo'"


def test_unknown_top_level_key(tmp_path, default_config):
    path, message = broken(tmp_path, default_config, lambda d: d.update(extra={}))
    assert message == f"{path}: (top level): unknown key 'extra'"


def test_wrong_type(tmp_path, default_config):
    def change(d):
        d["similar_alleles"]["max_variants"] = "ten"
    path, message = broken(tmp_path, default_config, change)
    assert message == f"{path}: similar_alleles.max_variants: 'ten' is not of type integer"


def test_bool_is_not_an_integer(tmp_path, default_config):
    def change(d):
        d["user"]["auth"]["password_num_match_groups"] = True
    _, message = broken(tmp_path, default_config, change)
    assert "user.auth.password_num_match_groups: True is not of type integer" in message


@pytest.mark.parametrize("change, expected", [
    (lambda auth: auth.update(password_num_match_groups=5),
     "user.auth.password_num_match_groups: 5 is more than the 4 password_match_groups listed"),
    (lambda auth: auth.update(password_match_groups=[], password_match_groups_descr=[]),
     "user.auth.password_num_match_groups: 3 is more than the 0 password_match_groups listed"),
    (lambda auth: auth.update(password_minimum_length=73),
     "user.auth.password_minimum_length: 73 is more than the 72 bytes a password may have"),
    (lambda auth: auth["password_match_groups_descr"].pop(),
     "user.auth.password_match_groups_descr: 3 description(s) for 4 password_match_groups"),
    # Users would not be told which groups count (the page lists the descriptions).
    (lambda auth: auth.update(password_match_groups_descr=[]),
     "user.auth.password_match_groups_descr: 0 description(s) for 4 password_match_groups"),
])
def test_a_password_policy_no_password_can_meet_is_refused(tmp_path, default_config,
                                                           change, expected):
    """Such a policy was accepted at load; every user was then refused at their next
    password change, and one-time passwords could not be made."""
    _, message = broken(tmp_path, default_config, lambda d: change(d["user"]["auth"]))
    assert expected in message


def test_the_strictest_policy_that_can_be_met_loads(tmp_path, default_config):
    def change(d):
        d["user"]["auth"].update(password_num_match_groups=4, password_minimum_length=72)
    data = plain_config(default_config)
    change(data)
    assert cfg.load_config(write_config(tmp_path, data))["user"]["auth"][
        "password_num_match_groups"] == 4


def test_missing_section(tmp_path, default_config):
    path, message = broken(tmp_path, default_config, lambda d: d.pop("igv"))
    assert message == f"{path}: (top level): missing required key 'igv'"


def test_missing_nested_key(tmp_path, default_config):
    def change(d):
        del d["analysis"]["sidebar"]["quick"]["columns"]
    _, message = broken(tmp_path, default_config, change)
    assert message.endswith("analysis.sidebar.quick: missing required key 'columns'")


def test_value_below_minimum(tmp_path, default_config):
    def change(d):
        d["user"]["auth"]["password_minimum_length"] = -1
    path, message = broken(tmp_path, default_config, change)
    assert message == f"{path}: user.auth.password_minimum_length: -1 is less than the minimum of 0"


def test_password_expiry_days_beyond_the_calendar_are_refused(tmp_path, default_config):
    """"Never expires" written as 10,000,000 days made every password change a 500: the
    expiry would be after the year 9999."""
    from ella.passwords import password_expiry

    def change(d):
        d["user"]["auth"]["password_expiry_days"] = 10_000_000
    path, message = broken(tmp_path, default_config, change)
    assert message == (f"{path}: user.auth.password_expiry_days: 10000000 is greater than the "
                       "maximum of 2000000")
    assert password_expiry(2_000_000).year < 9999  # the largest allowed still has a date


def test_bad_enum_in_list_names_index(tmp_path, default_config):
    def change(d):
        d["classification"]["options"][2]["value"] = "6"
    _, message = broken(tmp_path, default_config, change)
    assert "classification.options[2].value: '6' is not one of" in message


def test_null_only_where_allowed(tmp_path, default_config):
    data = plain_config(default_config)
    data["app"]["non_production_warning"] = "TEST"
    data["app"]["attachment_storage"] = None
    cfg.validate_config(data)
    _, message = broken(tmp_path, default_config, lambda d: d["app"].update(annotation_service=None))
    assert "app.annotation_service: None is not of type string" in message


def test_invalid_password_regex(tmp_path, default_config):
    def change(d):
        d["user"]["auth"]["password_match_groups"][0] = "[A-Z"
    _, message = broken(tmp_path, default_config, change)
    assert "user.auth.password_match_groups[0]" in message


@pytest.mark.parametrize("key", ["acmg", "custom_annotation"])
def test_builtin_top_level_keys_are_forbidden(tmp_path, default_config, key):
    path, message = broken(tmp_path, default_config, lambda d: d.update({key: {"codes": {}}}))
    assert message.startswith(f"{path}: {key}: ")
    assert "built into the application" in message


def test_transcripts_consequences_is_forbidden(tmp_path, default_config):
    def change(d):
        d["transcripts"]["consequences"] = ["missense_variant"]
    path, message = broken(tmp_path, default_config, change)
    assert message.startswith(f"{path}: transcripts.consequences: ")


def test_several_problems_reported_as_one_line(tmp_path, default_config):
    def change(d):
        d["app"]["foo"] = 1
        d["similar_alleles"]["max_variants"] = "x"
    _, message = broken(tmp_path, default_config, change)
    assert "(and 1 more problem(s))" in message


def test_an_unknown_key_is_named_before_missing_ones(tmp_path, default_config):
    """A config of a few sections with one misspelt key was refused for the missing
    sections only ("missing required keys 'user', ... (and 14 more problem(s))")."""
    path = tmp_path / "short.yml"
    path.write_text("app:\n  bogus: 1\nusr:\n  auth: {}\n")
    assert load_error(path).startswith(f"{path}: (top level): unknown key 'usr' (and ")
    path.write_text("app:\n  bogus: 1\n")
    assert load_error(path).startswith(f"{path}: app: unknown key 'bogus' (and ")


def test_feature_flags_accept_any_bool_name(tmp_path, default_config):
    data = plain_config(default_config)
    data["app"]["feature_flags"]["new_thing"] = True
    cfg.validate_config(data)
    data["app"]["feature_flags"]["new_thing"] = "yes"
    with pytest.raises(ConfigError, match="app.feature_flags.new_thing"):
        cfg.validate_config(data)


# --- environment-only settings -----------------------------------------------------


def test_the_default_number_of_workers_keeps_to_the_limit(monkeypatch):
    """On a 192-core host the default (2 x cores + 1) was 385 connections' worth."""
    monkeypatch.setattr(os, "cpu_count", lambda: 192)
    assert cfg.env_settings({})["NUM_WORKERS"] == 256
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert cfg.env_settings({})["NUM_WORKERS"] == 5


def test_env_settings_defaults():
    settings = cfg.env_settings({})
    assert settings == {
        "DB_URL": None,
        "PORT": 3114,
        "HOST": "127.0.0.1",
        "SOCKET": None,
        "ANALYSES_PATH": None,
        "ANALYSES_INCOMING": None,
        "IGV_DATA": None,
        "NUM_WORKERS": min(2 * (os.cpu_count() or 1) + 1, 256),
        "GUNICORN_TIMEOUT": 500,
        "LOGPATH": None,
        "COOKIE_SECURE": False,
        "LOG_LEVEL": "INFO",
        "FORWARDED_ALLOW_IPS": (ipaddress.ip_network("127.0.0.1/32"),),
    }


@pytest.mark.parametrize("given, host, bind", [
    ("::1", "::1", "[::1]:3114"), ("[::1]", "::1", "[::1]:3114"),
    ("0.0.0.0", "0.0.0.0", "0.0.0.0:3114"), ("api.lab.example", "api.lab.example",
                                             "api.lab.example:3114"),
    ("ella_api", "ella_api", "ella_api:3114")])
def test_host_is_an_address_or_a_name_and_binds_with_port(given, host, bind):
    """gunicorn took HOST "::1" for a host and an empty port (an error naming neither)."""
    settings = cfg.env_settings({"HOST": given})
    assert (settings["HOST"], cfg.tcp_bind(settings)) == (host, bind)


@pytest.mark.parametrize("given", ["0.0.0.0:80", "localhost ", "[api.lab]", "a b", "host/x",
                                   "-lab", "x" * 64])
def test_host_with_a_port_or_blanks_is_refused(given):
    """"0.0.0.0:80" listened on port 80, PORT set or not; a blank gave a retried bind."""
    with pytest.raises(ConfigError) as raised:
        cfg.env_settings({"HOST": given})
    assert str(raised.value) == ("environment variable HOST must be an IP address or a host "
                                 f"name (the port is PORT), got {given!r}")


def test_gunicorn_timeout_is_at_most_a_day():
    """A timeout of trillions of seconds crashed every worker in select(), restarted in a
    loop."""
    assert cfg.env_settings({"GUNICORN_TIMEOUT": "86400"})["GUNICORN_TIMEOUT"] == 86400
    with pytest.raises(ConfigError, match=r"^environment variable GUNICORN_TIMEOUT must be "
                                          r"between 0 and 86400, got 4000000000000$"):
        cfg.env_settings({"GUNICORN_TIMEOUT": "4000000000000"})


def test_forwarded_allow_ips_lists_addresses_and_networks():
    assert cfg.env_settings({"FORWARDED_ALLOW_IPS": " *"})["FORWARDED_ALLOW_IPS"] == "*"
    assert cfg.forwarded_allow_ips({"FORWARDED_ALLOW_IPS": "127.0.0.1,*"}) == "*"  # gunicorn's
    with pytest.raises(ConfigError, match="got '10.0.0.1/24'"):  # host bits: gunicorn refuses
        cfg.forwarded_allow_ips({"FORWARDED_ALLOW_IPS": "10.0.0.1/24"})
    assert cfg.forwarded_allow_ips({"FORWARDED_ALLOW_IPS": "10.1.2.3,fd00::/8, "}) == (
        ipaddress.ip_network("10.1.2.3/32"), ipaddress.ip_network("fd00::/8"))
    with pytest.raises(ConfigError, match="FORWARDED_ALLOW_IPS must list IP addresses or "
                                          "networks \\(or be \\*\\), got 'nginx.lab'"):
        cfg.env_settings({"FORWARDED_ALLOW_IPS": "10.1.2.3,nginx.lab"})


def test_env_settings_from_environment():
    settings = cfg.env_settings({
        "DB_URL": "postgresql:///vardb", "PORT": "5000", "HOST": "0.0.0.0",
        "SOCKET": "/socket/api.sock", "ANALYSES_PATH": "/data/analyses/imported",
        "ANALYSES_INCOMING": "/data/analyses/incoming", "IGV_DATA": "/data/igv-data",
        "NUM_WORKERS": "4", "GUNICORN_TIMEOUT": "60", "LOGPATH": "/logs", "LOG_LEVEL": " debug",
    })
    assert settings["LOG_LEVEL"] == "DEBUG"
    assert settings["DB_URL"] == "postgresql:///vardb"
    assert settings["PORT"] == 5000
    assert settings["HOST"] == "0.0.0.0"
    assert settings["SOCKET"] == "/socket/api.sock"
    assert settings["IGV_DATA"] == "/data/igv-data"
    assert settings["NUM_WORKERS"] == 4
    assert settings["GUNICORN_TIMEOUT"] == 60
    assert settings["LOGPATH"] == "/logs"


@pytest.mark.parametrize("name, value", [
    ("PORT", "http"), ("PORT", "70000"), ("NUM_WORKERS", "0"), ("GUNICORN_TIMEOUT", "soon"),
    ("NUM_WORKERS", "1000"),
])
def test_env_settings_bad_integer(name, value):
    with pytest.raises(ConfigError) as info:
        cfg.env_settings({name: value})
    assert str(info.value).startswith(f"environment variable {name} must be")
    assert value in str(info.value)


def test_a_bad_log_level_names_the_variable():
    with pytest.raises(ConfigError) as info:
        cfg.env_settings({"LOG_LEVEL": "LOUD"})
    assert str(info.value) == ("environment variable LOG_LEVEL must be one of DEBUG, INFO, "
                               "WARNING, ERROR, CRITICAL, got 'LOUD'")


@pytest.mark.parametrize("tool", ["ella-watcher", "ella-polling", "ella-api"])
def test_the_long_running_programs_refuse_a_bad_log_level_in_one_line(tool, db_url, tmp_path):
    """Under supervisord each would otherwise go FATAL with a traceback that does not name
    the variable."""
    for name in ("in", "out"):
        (tmp_path / name).mkdir()
    result = run_cli(tool, *(["--once"] if tool != "ella-api" else []), db_url=db_url, env={
        "LOG_LEVEL": "LOUD", "ANALYSES_INCOMING": str(tmp_path / "in"),
        "ANALYSES_PATH": str(tmp_path / "out"), "ANNOTATION_SERVICE_URL": "http://127.0.0.1:9",
        "PORT": "39111"})
    assert result.returncode == 1
    assert result.stderr == ("error: environment variable LOG_LEVEL must be one of DEBUG, "
                             "INFO, WARNING, ERROR, CRITICAL, got 'LOUD'\n")


# --- user config merge and feature flags -------------------------------------------


def test_merged_user_config(default_config):
    base = default_config["user"]["user_config"]
    group = {"overview": {"views": ["analyses"]}, "acmg": {"frequency": {"num_thresholds": {}}}}
    user = {"overview": {"views": ["variants"]}, "comment_templates": []}
    merged = cfg.merged_user_config(default_config, group, user)
    # top-level keys are replaced whole: the user's overview wins over the group's
    assert merged["overview"] == {"views": ["variants"]}
    assert merged["acmg"] == group["acmg"]
    assert merged["comment_templates"] == []
    assert merged["workflows"] == base["workflows"]
    assert merged["interpretation"] == base["interpretation"]
    # shallow: a partial workflows in the group replaces the file's whole workflows
    partial = cfg.merged_user_config(default_config, {"workflows": {"allele": {}}}, None)
    assert partial["workflows"] == {"allele": {}}


def test_merged_user_config_none_and_no_aliasing(default_config):
    base = copy.deepcopy(default_config["user"]["user_config"])
    merged = cfg.merged_user_config(default_config, None, None)
    assert merged == base
    merged["workflows"]["allele"]["finalize_requirements"]["workflow_status"].append("X")
    assert default_config["user"]["user_config"] == base


def test_feature_is_enabled(default_config):
    assert cfg.feature_is_enabled(default_config, "cnv") is False
    assert cfg.feature_is_enabled(default_config, "unknown") is False
    enabled = cfg.load_config(environ={"ENABLE_CNV": "true"})
    assert cfg.feature_is_enabled(enabled, "cnv") is True
    no_flags = copy.deepcopy(default_config)
    del no_flags["app"]["feature_flags"]
    assert cfg.feature_is_enabled(no_flags, "cnv") is False


@pytest.mark.parametrize("raw, expected", [("true", True), ("1", True), ("off", False)])
def test_cookie_secure_flag(raw, expected):
    assert cfg.env_settings({"COOKIE_SECURE": raw})["COOKIE_SECURE"] is expected


def test_bad_cookie_secure_flag():
    with pytest.raises(cfg.ConfigError, match="COOKIE_SECURE must be true or false"):
        cfg.env_settings({"COOKIE_SECURE": "maybe"})


def test_classification_engine_defaults_to_ella(default_config):
    assert default_config["classification"]["engine"] == {"name": "ella"}


def test_classification_engine_is_optional(tmp_path, default_config):
    data = plain_config(default_config)
    data["classification"].pop("engine")
    assert "engine" not in cfg.load_config(write_config(tmp_path, data))["classification"]


def test_classification_engine_points_with_thresholds(tmp_path, default_config):
    data = plain_config(default_config)
    data["classification"]["engine"] = {"name": "points", "thresholds": {"pathogenic": 12}}
    loaded = cfg.load_config(write_config(tmp_path, data))
    assert loaded["classification"]["engine"]["thresholds"] == {"pathogenic": 12}


@pytest.mark.parametrize("engine,problem", [
    ({"name": "bayes"}, "classification.engine.name"),
    ({"name": "points", "thresholds": {"vus": 1}}, "classification.engine.thresholds"),
    ({"name": "points", "thresholds": {"pathogenic": 4}}, "classification.engine.thresholds"),
])
def test_classification_engine_errors(tmp_path, default_config, engine, problem):
    def change(d):
        d["classification"]["engine"] = engine
    _, message = broken(tmp_path, default_config, change)
    assert problem in message


@pytest.mark.parametrize("config", [
    # api.md 1.6/4.3: a group's or user's `workflows` may leave out a workflow ...
    {"workflows": {"analysis": {"finalize_requirements": {"workflow_status": ["Review"],
                                                          "allow_unclassified": True}}}},
    # ... and a requirement; workflow.md 6: each may be null ("no requirement").
    {"workflows": {"allele": {"finalize_requirements": {"workflow_status": ["Review"]}},
                   "analysis": {"finalize_requirements": {"workflow_status": None,
                                                          "allow_unclassified": None}}}},
    {"workflows": {}},
])
def test_group_workflow_configs_the_spec_allows(config):
    assert cfg.user_config_problem(config) is None


@pytest.mark.parametrize("config, problem", [
    ({"workflows": {"analysis": {"finalize_requirements": {"workflow_status": "Review"}}}},
     "workflows.analysis.finalize_requirements.workflow_status: 'Review' is not valid"),
    ({"workflows": {"analysis": {"finalize_requirements": {"workflow_status": ["Done"]}}}},
     "workflow_status[0]"),
    ({"workflows": {"allele": {"finalize_requirements": {"allow_unclassified": True}}}},
     "Additional properties are not allowed ('allow_unclassified' was unexpected)"),
    ({"workflows": {"analysis": {}}}, "'finalize_requirements' is a required property"),
    ({"workflows": {"both": {}}}, "'both' was unexpected"),
])
def test_group_workflow_configs_still_checked(config, problem):
    found = cfg.user_config_problem(config)
    assert found is not None and problem in found, found


@pytest.mark.parametrize("section, key, value", [
    ("similar_alleles", "max_variants", -1),                # PostgreSQL refuses LIMIT -1
    ("similar_alleles", "max_genomic_distance", 2**31),     # beyond an integer column
    ("app", "max_upload_size", -1),
])
def test_numbers_the_service_cannot_use_are_refused(tmp_path, default_config, section, key,
                                                    value):
    data = plain_config(default_config)
    data[section][key] = value
    assert f"{section}.{key}" in load_error(write_config(tmp_path, data))


def test_outdated_after_days_stays_within_postgresqls_dates(tmp_path, default_config):
    """now() - 2.5 million days is before 4713 BC, the first date PostgreSQL has."""
    data = plain_config(default_config)
    data["classification"]["options"][0]["outdated_after_days"] = 2_500_000
    assert "outdated_after_days" in load_error(write_config(tmp_path, data))


def test_frequency_groups_whose_columns_postgresql_cannot_make_are_refused(
        default_config, tmp_path):
    """Each (provider, population) pair becomes annotationshadowfrequency columns: a pair
    listed twice failed refresh with PostgreSQL's "specified more than once", and a column
    name over 63 bytes was cut short silently (refresh said done; `compare` failed for
    good, and no refresh could fix it)."""
    data = plain_config(default_config)
    data["frequencies"]["groups"]["external"]["GNOMAD_GENOMES"].append("AFR")
    message = load_error(write_config(tmp_path, data))
    assert message.endswith("frequencies.groups.external.GNOMAD_GENOMES: 'AFR' is already "
                            "listed in frequencies.groups.external.GNOMAD_GENOMES (one pair, "
                            "one column)"), message
    data = plain_config(default_config)
    data["frequencies"]["groups"]["internal"]["GNOMAD_EXOMES"] = ["G"]
    assert "frequencies.groups.internal.GNOMAD_EXOMES: 'G' is already listed in " \
        "frequencies.groups.external.GNOMAD_EXOMES" in load_error(write_config(tmp_path, data))
    data = plain_config(default_config)
    provider = "GNOMAD_GENOMES_V4_1_JOINT_CALLSET_WITH_LOCAL_ANNOTATION_XY"  # 58 bytes
    data["frequencies"]["groups"]["external"] = {provider: ["G"]}
    message = load_error(write_config(tmp_path, data))
    assert message.endswith(f"frequencies.groups.external.{provider}: the column "
                            f"'{provider}_num.G' is longer than PostgreSQL's 63 bytes; use a "
                            "shorter provider or population name"), message
    data["frequencies"]["groups"]["external"] = {provider[:-3]: ["G"]}  # 62 bytes: fits
    cfg.load_config(write_config(tmp_path, data), environ={})
    # Two pairs that make one column name: refresh failed on "specified more than once".
    data = plain_config(default_config)
    data["frequencies"]["groups"]["external"].update({"A.B": ["C"], "A": ["B.C"]})
    assert load_error(write_config(tmp_path, data)).endswith(
        "frequencies.groups.external.A: 'B.C' gives the column 'A.B.C', which "
        "frequencies.groups.external.A.B: 'C' gives too (one pair, one column)")



@pytest.mark.parametrize("provider, key", [("GNOMAD", "G%AF"), ("GNO%MAD", "G")])
def test_a_percent_in_a_frequency_name_is_refused(default_config, tmp_path, provider, key):
    """A '%' in a provider or population name loaded and refreshed, then failed every
    frequency filter run: psycopg read the column name's '%' as a placeholder."""
    data = plain_config(default_config)
    data["frequencies"]["groups"]["external"] = {provider: [key]}
    assert load_error(write_config(tmp_path, data)).endswith(
        f"frequencies.groups.external.{provider}: {key!r}: a '%' in a provider or population "
        "name is not supported; use another name")


@pytest.mark.parametrize("text, line", [
    ("user:\n  auth:\n    password_minimum_length: 8\n    password_minimum_length: 0\n", 4),
    ("similar_alleles: {a: 1}\napp: {}\nsimilar_alleles: {b: 2}\n", 3),
    ('a:\n  "k": 1\n  k: 2\n', 3),
])
def test_a_key_given_twice_is_refused(text, line):
    """YAML keeps a repeated key's later value without a word: a pasted
    `password_minimum_length: 0` under the real one turned the policy off."""
    message = parse_error(text)
    assert message.startswith(f"t.yaml: line {line},") and "is given twice" in message


def test_a_key_over_a_merge_is_an_override():
    assert parse("base: &b {a: 1, b: 2}\nx:\n  <<: *b\n  a: 3\n")["x"] == {"a": 3, "b": 2}
    # Also in a mapping merged into one built before it (PyYAML builds outer mappings
    # first, and merging rewrote the nested one's node: its override read as a repeat).
    nested = parse("base: &b {a: 1, c: 3}\ndefs:\n  m: &m\n    <<: *b\n    a: 2\n"
                   "x:\n  <<: *m\n")
    assert nested["defs"]["m"] == {"a": 2, "c": 3}


def _alias_bomb(levels):
    text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
    for level in range(1, levels):
        text += f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 10) + "]\n"
    return text


def test_a_yaml_alias_bomb_is_refused_at_once(tmp_path):
    """Twelve lines of nested aliases ("billion laughs") are 10**12 values once expanded:
    the check of the values walked them all, and every program hung at start."""
    path = tmp_path / "bomb.yaml"
    path.write_text(_alias_bomb(12))
    result = subprocess.run([str(PROJECT_ROOT / "bin" / "ella-db"), "compare"],
                            env={"PATH": os.environ["PATH"], "ELLA_CONFIG": str(path),
                                 "DB_URL": "postgresql:///none?host=/nonexistent"},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and result.stderr == (
        f"error: {path}: its aliases expand it to over 1,000,000 values\n")
    # Aliases as configs use them are fine.
    cfg.parse_yaml(_alias_bomb(3), environ={})


@pytest.mark.parametrize("text, environ", [
    ("app: {max_upload_size: " + "9" * 5000 + "}\n", {}),
    ("app: {max_upload_size: !env MAXUP}\n", {"MAXUP": "9" * 5000})])
def test_an_integer_python_will_not_read_is_a_config_error(text, environ):
    """Over 4,300 digits: PyYAML's ValueError was a traceback, then an error without its line
    and with advice for Python code (sys.set_int_max_str_digits)."""
    with pytest.raises(ConfigError) as raised:
        cfg.parse_yaml(text, environ=environ)
    assert str(raised.value) == ("<config>: line 1, column 24: an integer of over 4,300 digits "
                                 "cannot be read")


def test_an_inclusion_regex_python_cannot_read_or_an_absurd_upload_size_is_refused(
        default_config, tmp_path):
    """The regex was accepted and every read of a variant's transcripts answered 500;
    nginx refused a client_max_body_size beyond its 2**63 (nginx never started)."""
    data = plain_config(default_config)
    data["transcripts"]["inclusion_regex"] = "NM_["
    assert "transcripts.inclusion_regex" in load_error(write_config(tmp_path, data))
    data = plain_config(default_config)
    data["app"]["max_upload_size"] = 10**20
    assert "app.max_upload_size" in load_error(write_config(tmp_path, data))


def _default_config_text_with(old, new):
    text = cfg.DEFAULT_CONFIG_PATH.read_text(encoding="utf-8")
    assert old in text
    return text.replace(old, new, 1)


def test_a_key_yaml_reads_as_a_boolean_is_refused_with_its_line(tmp_path):
    """An unquoted population or provider key `NO` (Norway) was loaded as the key False:
    a frequency group that names no annotation field, without a word."""
    path = tmp_path / "ella.yaml"
    text = _default_config_text_with("inDB: [OUSWES]", "inDB: [OUSWES]\n      NO: [X]")
    path.write_text(text, encoding="utf-8")
    line = text.splitlines().index("      NO: [X]") + 1
    message = load_error(path)
    assert message.startswith(f"{path}: line {line}, column 7: the key 'NO' is read as "
                              "False, not as text")
    assert message.endswith("quote it")
    path.write_text(text.replace("NO: [X]", "'NO': [X]"), encoding="utf-8")
    assert "NO" in cfg.load_config(path, environ={})["frequencies"]["groups"]["internal"]


def test_merge_keys_still_work():
    assert cfg.parse_yaml("a: &x {b: 1}\nc:\n  <<: *x\n  d: 2\n", environ={}) == {
        "a": {"b": 1}, "c": {"b": 1, "d": 2}}
    with pytest.raises(ConfigError, match="the key 'yes' is read as True"):
        cfg.parse_yaml("a: &x {yes: 1}\nc:\n  <<: *x\n", environ={})


def test_a_value_yaml_reads_as_a_boolean_gets_a_hint(tmp_path):
    path = tmp_path / "ella.yaml"
    path.write_text(_default_config_text_with("inDB: [OUSWES]", "inDB: [OUSWES, NO]"),
                    encoding="utf-8")
    assert load_error(path).endswith(
        "frequencies.groups.internal.inDB[1]: False is not of type string (YAML reads "
        "yes/no/on/off unquoted as booleans: quote the text)")


def test_a_control_character_is_a_config_error_with_its_line(tmp_path):
    """YAML refuses it while its loader is built, which stood outside the error handling:
    every program ended in a ReaderError traceback at start."""
    path = tmp_path / "ella.yaml"
    path.write_bytes(b'app:\n  x: "a\x01"\n')
    assert load_error(path) == (f"{path}: line 2: the character U+0001 is not allowed in "
                                "YAML (a control character)")
    result = run_cli("ella-db", "status", env={"ELLA_CONFIG": str(path)})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "the character U+0001 is not allowed" in result.stderr


def test_a_control_characters_line_counts_a_cr_alone_as_yaml_does(tmp_path):
    """YAML ends a line at CR alone too (its marks count so): a config saved with old Mac
    line ends named "line 1" for a character on line 3."""
    path = tmp_path / "ella.yaml"
    path.write_bytes(b'app:\r  y: 1\r  x: "a\x01"\r')
    assert load_error(path) == (f"{path}: line 3: the character U+0001 is not allowed in "
                                "YAML (a control character)")


@pytest.mark.parametrize("value", ["a" * 5000, "a/" * 3000])
def test_a_file_tag_whose_path_cannot_be_looked_up_is_a_config_error(value):
    """An OSError (the name too long) came through as a traceback."""
    with pytest.raises(ConfigError, match=r"^c\.yaml: line 1, column 4: !file: file '.{80}' "
                                          r"cannot be looked up: File name too long$"):
        cfg.parse_yaml(f'x: !file "{value}"', environ={}, source="c.yaml")
