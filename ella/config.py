"""Application configuration: the ELLA_CONFIG YAML file and the environment.

`load_config()` reads the YAML file named by `ELLA_CONFIG` (or an explicit
path), resolves the custom tags, validates the result against
`config_schema.json` and adds the sections that are built into the code.
The resulting dict is what `GET /api/v1/config/` serves.

Custom YAML tags (ELLA's semantics):

    !env NAME              the variable's value, read as a plain YAML scalar
                           ("5" -> 5, "true" -> True, "x" -> "x"); unset -> null
    !env [NAME, default]   the same, with `default` used when NAME is unset;
                           the list must have exactly two items
    !env_<type> ...        either form above, converted to the YAML 1.1 core
                           type <type> (bool, int, float, str, null, timestamp,
                           binary); bool accepts true/false/yes/no/on/off in any
                           case. An unset variable without default is the text
                           "null", which is an error for bool/int/float and the
                           string "null" for !env_str (as in ELLA).
    !file relpath          absolute path of `relpath` below the project root
                           (the directory holding the `ella` package); the
                           file must exist

Difference from ELLA: when `ELLA_CONFIG` is not set, ELLA refuses to start;
we load the shipped `ella/default_config.yaml` instead (equivalent to ELLA's
example config), so a fresh checkout runs without any set-up.

A bad config never ends in a traceback: every problem raises `ConfigError`
with a one-line message naming the file and, where it applies, the key path
or the line, so command-line tools can print `str(error)` and exit.

Settings that come only from the environment (database URL, port, paths of
the analysis folders, worker counts ...) are read in one place,
`env_settings()`.
"""

import copy
import json
import ipaddress
import os
import re
from pathlib import Path

import jsonschema
import yaml

from ella import jsonload
from ella.yamlload import RepeatedKeyLoader
from ella.acmg.acmgconfig import acmg_config_problem
from ella.text import NotUtf8, line_at, utf8_text

PACKAGE_DIR = Path(__file__).resolve().parent
# `!file` paths are relative to this directory (the checkout / install root).
PROJECT_ROOT = PACKAGE_DIR.parent
DEFAULT_CONFIG_PATH = PACKAGE_DIR / "default_config.yaml"
SCHEMA_PATH = PACKAGE_DIR / "config_schema.json"

# VEP consequence terms, most severe first. Added as `transcripts.consequences`;
# the order is used to pick a transcript's worst consequence.
CONSEQUENCES = [
    "transcript_ablation",
    "splice_acceptor_variant",
    "splice_donor_variant",
    "stop_gained",
    "frameshift_variant",
    "stop_lost",
    "start_lost",
    "initiator_codon_variant",
    "transcript_amplification",
    "inframe_insertion",
    "inframe_deletion",
    "missense_variant",
    "protein_altering_variant",
    "splice_region_variant",
    "splice_donor_5th_base_variant",
    "splice_donor_region_variant",
    "splice_polypyrimidine_tract_variant",
    "incomplete_terminal_codon_variant",
    "start_retained_variant",
    "stop_retained_variant",
    "synonymous_variant",
    "coding_sequence_variant",
    "mature_miRNA_variant",
    "5_prime_UTR_variant",
    "3_prime_UTR_variant",
    "non_coding_transcript_exon_variant",
    "intron_variant",
    "NMD_transcript_variant",
    "non_coding_transcript_variant",
    "upstream_gene_variant",
    "downstream_gene_variant",
    "TFBS_ablation",
    "TFBS_amplification",
    "TF_binding_site_variant",
    "regulatory_region_ablation",
    "regulatory_region_amplification",
    "feature_elongation",
    "regulatory_region_variant",
    "feature_truncation",
    "intergenic_variant",
]


class ConfigError(Exception):
    """A configuration problem; the message is a single line meant for users."""

    def __init__(self, message):
        super().__init__(" ".join(str(message).split("\n")))


# --------------------------------------------------------------------------
# YAML with the custom tags

_YAML_TAG_PREFIX = "tag:yaml.org,2002:"
# The scalar types `!env_<type>` can force (YAML 1.1 core types).
_FORCIBLE_TYPES = ("bool", "int", "float", "str", "null", "timestamp", "binary")


class _ConfigLoader(RepeatedKeyLoader):
    """Safe loader with ELLA's config tags; `environ` is set per load."""

    environ = None

    def check_keys(self, node, deep):
        # Keys name config entries, populations and columns: YAML 1.1 reads an unquoted
        # `NO` (Norway), `yes` or `1` as another type, and the entry then silently names
        # nothing (a frequency group `False`).
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str):
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key_node.value!r} is read as {_short(key)}, not "
                    f"as text (YAML reads yes/no/on/off unquoted as booleans): quote it",
                    key_node.start_mark)


def _tag_error(node, tag, problem):
    return yaml.constructor.ConstructorError(None, None, f"{tag}: {problem}", node.start_mark)


def _env_lookup(loader, node, tag):
    """Return (variable name, raw text, where the text came from) for an `!env...` node."""
    if isinstance(node, yaml.ScalarNode):
        name, default = node.value, None
    elif isinstance(node, yaml.SequenceNode):
        if len(node.value) != 2:
            raise _tag_error(
                node, tag, f"expected [NAME, default] (two items), got {len(node.value)} item(s)"
            )
        name_node, default_node = node.value
        if not isinstance(name_node, yaml.ScalarNode) or not isinstance(default_node, yaml.ScalarNode):
            raise _tag_error(node, tag, "NAME and default must both be plain values")
        name, default = name_node.value, default_node.value
    else:
        raise _tag_error(node, tag, "expected a variable name or [NAME, default]")
    if not name:
        raise _tag_error(node, tag, "empty variable name")
    value = loader.environ.get(name)
    # An empty variable counts as unset here too: a blank `NAME=` line in an env file must
    # not stop every command (`!env_bool` of '') or throw away the default.
    if value:
        return name, value, f"value of {name}"
    if default is not None:
        return name, default, f"default for unset or empty {name}"
    # An unset variable without default reads as YAML null.
    return name, "null", f"{name} is not set and has no default"


def _construct_as(loader, node, tag, value):
    scalar = yaml.ScalarNode(tag, value, node.start_mark, node.end_mark)
    return loader.construct_object(scalar, deep=True)


def _construct_env(loader, node):
    _, value, _ = _env_lookup(loader, node, "!env")
    # Type-resolve the text like an untagged plain scalar in the file.
    resolved = loader.resolve(yaml.ScalarNode, value, (True, False))
    return _construct_as(loader, node, resolved, value)


def _construct_env_typed(loader, type_name, node):
    tag = f"!env_{type_name}"
    if type_name not in _FORCIBLE_TYPES:
        raise _tag_error(node, tag, f"unknown type '{type_name}' (use one of {', '.join(_FORCIBLE_TYPES)})")
    _, value, origin = _env_lookup(loader, node, tag)
    try:
        return _construct_as(loader, node, _YAML_TAG_PREFIX + type_name, value)
    except (ValueError, KeyError, TypeError, AttributeError, yaml.YAMLError):
        raise _tag_error(node, tag, f"{value!r} is not a valid {type_name} ({origin})") from None


def _construct_file(loader, node):
    if not isinstance(node, yaml.ScalarNode) or not node.value:
        raise _tag_error(node, "!file", "expected a path relative to the project root")
    path = PROJECT_ROOT / node.value
    try:
        found = path.is_file()
    except OSError as exc:  # a name too long, a folder on the way not to be entered
        raise _tag_error(node, "!file", f"file '{node.value[:80]}' cannot be looked up: "
                                        f"{exc.strerror or exc}") from None
    if not found:
        raise _tag_error(node, "!file", f"file '{node.value}' not found (looked for {path})")
    return str(path)


_ConfigLoader.add_constructor("!env", _construct_env)
_ConfigLoader.add_multi_constructor("!env_", _construct_env_typed)
_ConfigLoader.add_constructor("!file", _construct_file)


def _yaml_error_text(error):
    """One line for a PyYAML error: line/column (1-based) and the problem."""
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    problem = getattr(error, "problem", None)
    if problem is None:
        return " ".join(str(error).split())
    context = getattr(error, "context", None)
    text = problem if not context else f"{problem} ({context})"
    if mark is not None:
        text = f"line {mark.line + 1}, column {mark.column + 1}: {text}"
    return text


MAX_EXPANDED_VALUES = 1_000_000


def _expanded_size(value, sizes):
    """How many values `value` holds once every alias is expanded (shared objects counted
    once per use, each computed once: linear in the file, not in the expansion)."""
    if not isinstance(value, (dict, list)):
        return 1
    if id(value) not in sizes:
        sizes[id(value)] = 0  # (a recursive alias ends at the checks after this)
        items = value.values() if isinstance(value, dict) else value
        sizes[id(value)] = 1 + sum(_expanded_size(item, sizes) for item in items)
    return sizes[id(value)]


def parse_yaml(text, environ=None, source="<config>"):
    """Parse config YAML text with the custom tags (no schema validation).

    Raises ConfigError naming `source` and the line for any YAML problem.
    """
    try:
        # (The loader checks the text for characters YAML does not allow as it is built.)
        loader = _ConfigLoader(text)
    except yaml.reader.ReaderError as error:
        line = line_at(text, error.position)
        raise ConfigError(f"{source}: line {line}: the character U+{error.character:04X} is "
                          "not allowed in YAML (a control character)") from None
    loader.environ = os.environ if environ is None else environ
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: {_yaml_error_text(error)}") from None
    except RecursionError:
        raise ConfigError(f"{source}: nested too deeply (at most {jsonload.MAX_DEPTH} "
                          "levels)") from None
    except ValueError as error:  # e.g. an integer of over 4,300 digits
        raise ConfigError(f"{source}: a value cannot be read: {error}") from None
    finally:
        loader.dispose()
    # Aliases share one object: a few lines of nested aliases ("billion laughs") expand to
    # more values than any walk of the config could visit.
    if _expanded_size(data, {}) > MAX_EXPANDED_VALUES:
        raise ConfigError(f"{source}: its aliases expand it to over {MAX_EXPANDED_VALUES:,} "
                          "values")
    # Deep nesting would end in a RecursionError in validation; NUL in a value in PostgreSQL.
    try:
        jsonload.check_storable(data)
    except jsonload.UnstorableJson as error:
        raise ConfigError(f"{source}: {error}") from None
    return data


# --------------------------------------------------------------------------
# Schema validation

_validator = None


def _get_validator():
    global _validator
    if _validator is None:
        with open(SCHEMA_PATH, encoding="utf-8") as f:
            schema = json.load(f)
        _validator = jsonschema.Draft7Validator(
            schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
        )
    return _validator


# The top-level keys a user group's or a user's own config may set (they replace the file's
# `user.user_config` keys one by one, merged_user_config).
USER_CONFIG_KEYS = ("overview", "workflows", "interpretation", "acmg", "deposit",
                    "comment_templates")


COMMENT_TEMPLATE_KEYS = {"name": str, "template": str, "comment_fields": list}


def comment_templates_problem(templates):
    """Why `comment_templates` is not a list of {name, template, comment_fields: [str]}
    (null or absent: no templates, config-cli-ops.md 7.3), or None. Items of another shape
    were stored and served to every user of the group, whose editors then broke. Other keys
    of an item are left to the UI, which reads only these three."""
    if templates is None:
        return None
    if not isinstance(templates, list):
        return "comment_templates must be a list (or null)"
    for index, item in enumerate(templates):
        where = f"comment_templates[{index}]"
        if not isinstance(item, dict):
            return f"{where} must be an object {{name, template, comment_fields}}"
        for key, kind in COMMENT_TEMPLATE_KEYS.items():
            if not isinstance(item.get(key), kind):
                return (f"{where}.{key} must be " + ("a list of strings" if kind is list
                                                      else "a string"))
        if not all(isinstance(field, str) for field in item["comment_fields"]):
            return f"{where}.comment_fields must be a list of strings"
    return None


def user_config_problem(value):
    """Why a group's or user's `config` would break the merged user config, or None: an
    unknown key, a non-object `acmg`/`deposit`, an ACMG config whose gene settings the rules
    do not know or whose frequency part cannot decide commonness, or a value the schema's `user.user_config` refuses for its key (e.g.
    `workflows` given as a string)."""
    unknown = sorted(str(k) for k in value if k not in USER_CONFIG_KEYS)
    if unknown:
        return f"unknown key(s) {', '.join(unknown)} (allowed: {', '.join(USER_CONFIG_KEYS)})"
    for key in ("acmg", "deposit"):
        # (`deposit` may be null, "no import rules", config-cli-ops.md 7.3)
        if key in value and not isinstance(value[key], dict) and not (
                key == "deposit" and value[key] is None):
            return f"{key} must be an object" + (" or null" if key == "deposit" else "")
    if "acmg" in value:
        problem = acmg_config_problem(value["acmg"])
        if problem:
            return problem
    problem = comment_templates_problem(value.get("comment_templates"))
    if problem:
        return problem
    schema = _get_validator().schema
    properties = schema["properties"]["user"]["properties"]["user_config"]["properties"]
    for key in sorted(set(value) & set(properties)):
        subschema = properties[key]
        if key == "workflows":
            subschema = _group_workflows_schema(subschema)
        validator = jsonschema.Draft7Validator(
            {**subschema, "definitions": schema.get("definitions", {})})
        error = jsonschema.exceptions.best_match(validator.iter_errors(value[key]))
        if error is not None:
            return f"{_key_path([key, *error.absolute_path])}: {error.message[:200]}"
    return None


def _group_workflows_schema(schema):
    """The application config's `user_config.workflows` schema as a group's or user's config
    may give it (api.md 4.3, workflow.md 6): `allele` and `analysis` optional, and their
    finalize requirements' `workflow_status` (a list) and `allow_unclassified` optional or
    null, which the workflow reads as "no requirement"."""
    relaxed = copy.deepcopy(schema)
    relaxed.pop("required", None)
    for workflow in relaxed.get("properties", {}).values():
        requirements = workflow.get("properties", {}).get("finalize_requirements", {})
        requirements.pop("required", None)
        for name, prop in requirements.get("properties", {}).items():
            requirements["properties"][name] = {"anyOf": [prop, {"type": "null"}]}
    return relaxed


def _key_path(path):
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _short(value, limit=60):
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _quoted(keys):
    return ", ".join(f"'{k}'" for k in keys)


def _describe(error):
    """(key path, problem) for one jsonschema error, both short."""
    path = list(error.absolute_path)
    kind = error.validator
    if kind == "additionalProperties":
        known = error.schema.get("properties", {})
        extra = [k for k in error.instance if k not in known]
        word = "key" if len(extra) == 1 else "keys"
        return _key_path(path), f"unknown {word} {_quoted(extra)}"
    if kind == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        word = "key" if len(missing) == 1 else "keys"
        return _key_path(path), f"missing required {word} {_quoted(missing)}"
    if kind == "not" and error.validator_value == {}:
        # `{"not": {}}` marks the keys the application adds itself.
        return _key_path(path), "this key is built into the application and must not be set in the config file"
    if kind == "type":
        expected = error.validator_value
        if isinstance(expected, list):
            expected = " or ".join(expected)
        hint = ""
        if isinstance(error.instance, bool) and "string" in expected:
            hint = " (YAML reads yes/no/on/off unquoted as booleans: quote the text)"
        return _key_path(path), f"{_short(error.instance)} is not of type {expected}{hint}"
    if kind == "enum":
        return _key_path(path), f"{_short(error.instance)} is not one of {_short(error.validator_value, 200)}"
    return _key_path(path), " ".join(error.message.split())


def validate_config(config, source="<config>"):
    """Validate a parsed config against the schema; raise ConfigError."""
    if not isinstance(config, dict):
        raise ConfigError(f"{source}: the config must be a mapping of sections, got {_short(config)}")
    errors = list(_get_validator().iter_errors(config))
    if not errors:
        _check_classification_engine(config, source)
        _check_frequency_groups(config, source)
        _check_annotation_service(config, source)
        _check_password_policy(config, source)
        return
    # An unknown key first: a misspelt one (`usr:`) also makes its intended key "missing",
    # and a config missing sections named only those, never the typo that explains them.
    unknown = [e for e in errors if e.validator == "additionalProperties"]
    error = jsonschema.exceptions.best_match(unknown or errors)
    key, problem = _describe(error)
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    raise ConfigError(f"{source}: {key}: {problem}{more}")


# PostgreSQL cuts longer identifiers short without a word: annotationshadowfrequency's
# column would then never match the config (`compare` fails for good, nothing can fix it).
IDENTIFIER_BYTES = 63


def _check_frequency_groups(config, source):
    """Each (provider, population) pair is a pair of annotationshadowfrequency columns,
    `<provider>.<pop>` and `<provider>_num.<pop>`: listed once, and names PostgreSQL keeps."""
    groups = (config.get("frequencies") or {}).get("groups") or {}
    seen = {}
    for group in ("external", "internal"):
        for provider, keys in (groups.get(group) or {}).items():
            for key in keys:
                where = f"frequencies.groups.{group}.{provider}"
                if (provider, key) in seen:
                    raise ConfigError(f"{source}: {where}: {key!r} is already listed in "
                                      f"{seen[provider, key]} (one pair, one column)")
                seen[provider, key] = where
                # By the columns' names too: ("A.B", "C") and ("A", "B.C") are one column.
                for name in (f"{provider}.{key}", f"{provider}_num.{key}"):
                    if name in seen:
                        raise ConfigError(f"{source}: {where}: {key!r} gives the column "
                                          f"{name!r}, which {seen[name]} gives too (one "
                                          "pair, one column)")
                    seen[name] = f"{where}: {key!r}"
                if "%" in provider or "%" in key:
                    # psycopg reads a '%' in a composed column name as a query placeholder:
                    # the frequency filter would fail at every run.
                    raise ConfigError(f"{source}: {where}: {key!r}: a '%' in a provider or "
                                      "population name is not supported; use another name")
                column = f"{provider}_num.{key}"
                if len(column.encode("utf-8")) > IDENTIFIER_BYTES:
                    raise ConfigError(f"{source}: {where}: the column {column!r} is longer "
                                      f"than PostgreSQL's {IDENTIFIER_BYTES} bytes; use a "
                                      "shorter provider or population name")


def _check_annotation_service(config, source):
    """The service's URL is shown in logs, job messages and the open `GET config/`: a user
    and password in it would be too (written with an unencoded `#`, `?` or `/`, the URL
    parser does not even find them). Not quoted here for the same reason."""
    url = (config.get("app") or {}).get("annotation_service")
    if isinstance(url, str) and "@" in url:
        raise ConfigError(f"{source}: app.annotation_service (ANNOTATION_SERVICE_URL): must "
                          "not carry a user name or password (no '@'); it is shown in logs, "
                          "job messages and GET /api/v1/config/")


def _check_password_policy(config, source):
    """A policy no password can meet locks every user out at their next password change;
    refused at load rather than found then. So are groups the users are not told of."""
    from ella.passwords import MAX_PASSWORD_BYTES
    auth = (config.get("user") or {}).get("auth") or {}
    where = f"{source}: user.auth"
    groups = auth.get("password_match_groups") or []
    needed = auth.get("password_num_match_groups", 0)
    if needed > len(groups):
        raise ConfigError(f"{where}.password_num_match_groups: {needed} is more than the "
                          f"{len(groups)} password_match_groups listed")
    minimum = auth.get("password_minimum_length", 0)
    if minimum > MAX_PASSWORD_BYTES:
        raise ConfigError(f"{where}.password_minimum_length: {minimum} is more than the "
                          f"{MAX_PASSWORD_BYTES} bytes a password may have (bcrypt's limit)")
    descriptions = auth.get("password_match_groups_descr") or []
    if len(descriptions) != len(groups):
        raise ConfigError(f"{where}.password_match_groups_descr: {len(descriptions)} "
                          f"description(s) for {len(groups)} password_match_groups (one "
                          "each, in the same order: users are told them)")


def _check_classification_engine(config, source):
    """What the schema cannot say: the point thresholds must be ordered."""
    engine = (config.get("classification") or {}).get("engine") or {}
    if "thresholds" not in engine:
        return
    from ella.acmg.points import check_thresholds
    try:
        check_thresholds(engine["thresholds"])
    except ValueError as error:
        raise ConfigError(f"{source}: classification.engine.thresholds: {error}") from None


# --------------------------------------------------------------------------
# Loading


def add_builtin_sections(config):
    """Add the sections the application provides (never read from the file).

    For now only `transcripts.consequences`; `acmg` and `custom_annotation`
    are added here once their modules exist.
    """
    config["transcripts"]["consequences"] = list(CONSEQUENCES)
    return config


def config_path(path=None, environ=None):
    """The config file to load: argument, else $ELLA_CONFIG, else the default."""
    environ = os.environ if environ is None else environ
    return str(path or environ.get("ELLA_CONFIG") or DEFAULT_CONFIG_PATH)


# The config gunicorn's master read at start, inherited by each worker it forks
# (ops/gunicorn.conf.py): a worker booted later (killed, timed out) read the file again,
# served an edited config beside the others, and a typo in it stopped the whole API.
started_config = None


def load_config(path=None, environ=None):
    """Read, resolve, validate and complete the application config."""
    environ = os.environ if environ is None else environ
    path = config_path(path, environ)
    try:
        with open(path, "rb") as f:
            text = utf8_text(f.read(), bom=False)  # (YAML reads a BOM itself)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except NotUtf8 as error:
        raise ConfigError(f"{path}: {error}") from None
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from None
    config = parse_yaml(text, environ, source=path)
    validate_config(config, source=path)
    return add_builtin_sections(integers_as_ints(config, _get_validator().schema))


def integers_as_ints(value, schema):
    """`value` with every number the schema types as an integer given as an int: JSON Schema
    (draft-07) counts 180.0 as an integer, while the code, and PostgreSQL when the number
    reaches it inside JSON, read `180.0` as a decimal (an `outdated_after_days` of 180.0
    failed every classification filter that excludes outdated classes)."""
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if isinstance(value, float) and value.is_integer() and "integer" in kinds:
        return int(value)
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        others = schema.get("additionalProperties")
        return {key: integers_as_ints(item, properties.get(
                    key, others if isinstance(others, dict) else {}))
                for key, item in value.items()}
    if isinstance(value, list):
        items = schema.get("items")
        return [integers_as_ints(item, items if isinstance(items, dict) else {})
                for item in value]
    return value


# --------------------------------------------------------------------------
# Using the config


def merged_user_config(config, usergroup_config, user_config):
    """A user's effective user config.

    The file's `user.user_config`, then the group's config, then the user's
    own config; each later one replaces whole top-level keys (no deep merge).
    """
    merged = copy.deepcopy(config["user"]["user_config"])
    merged.update(copy.deepcopy(usergroup_config or {}))
    merged.update(copy.deepcopy(user_config or {}))
    return merged


def feature_is_enabled(config, name):
    """`app.feature_flags.<name>`, false when absent."""
    return bool((config["app"].get("feature_flags") or {}).get(name, False))


# --------------------------------------------------------------------------
# Environment-only settings


def _env_text(environ, name, default=None):
    value = environ.get(name)
    # An empty variable counts as unset (`FOO= command` is a common way to clear one).
    return default if value is None or value == "" else value


def _env_int(environ, name, default, minimum, maximum=None):
    raw = _env_text(environ, name)
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"environment variable {name} must be an integer, got {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        limits = f"at least {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise ConfigError(f"environment variable {name} must be {limits}, got {value}")
    return value


MAX_WORKERS = 256
MAX_GUNICORN_TIMEOUT = 86400
# A host name's labels (letters, digits, hyphens; underscores, which some sites' names have).
_HOST_NAME = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
                        r"(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?")


def _env_host(environ):
    """HOST: the API's TCP address, an IP address (IPv6 also in brackets) or a host name.
    gunicorn took "::1" for a host and an empty port, and "0.0.0.0:80" for another port
    than PORT, without a word."""
    raw = _env_text(environ, "HOST", "127.0.0.1")
    bare = raw[1:-1] if raw.startswith("[") and raw.endswith("]") else raw
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        pass
    if bare is raw and len(raw) <= 253 and _HOST_NAME.fullmatch(raw):
        return raw
    raise ConfigError("environment variable HOST must be an IP address or a host name (the "
                      f"port is PORT), got {raw!r}")


def tcp_bind(settings):
    """gunicorn's HOST:PORT, an IPv6 address in brackets."""
    host = settings["HOST"]
    return f"[{host}]:{settings['PORT']}" if ":" in host else f"{host}:{settings['PORT']}"


def env_settings(environ=None):
    """Settings read from the environment only (not from the YAML file).

    Empty variables count as unset. Raises ConfigError for a malformed number.
    """
    environ = os.environ if environ is None else environ
    return {
        "DB_URL": _env_text(environ, "DB_URL"),
        "PORT": _env_int(environ, "PORT", 3114, 1, 65535),
        "HOST": _env_host(environ),
        "SOCKET": _env_text(environ, "SOCKET"),
        "ANALYSES_PATH": _env_text(environ, "ANALYSES_PATH"),
        "ANALYSES_INCOMING": _env_text(environ, "ANALYSES_INCOMING"),
        "IGV_DATA": _env_text(environ, "IGV_DATA"),
        # At most 256: each worker holds a database connection (a typo's thousands would
        # exhaust PostgreSQL's max_connections and turn every request into a 503).
        "NUM_WORKERS": _env_int(environ, "NUM_WORKERS",
                                min(2 * (os.cpu_count() or 1) + 1, MAX_WORKERS), 1,
                                MAX_WORKERS),
        # At most a day (a larger one crashed every worker in select(), booted in a loop).
        "GUNICORN_TIMEOUT": _env_int(environ, "GUNICORN_TIMEOUT", 500, 0, MAX_GUNICORN_TIMEOUT),
        "LOGPATH": _env_text(environ, "LOGPATH"),
        # Mark the session cookie Secure (only sent over HTTPS): set it behind TLS.
        "COOKIE_SECURE": _env_bool(environ, "COOKIE_SECURE"),
        "LOG_LEVEL": log_level(environ),
        "FORWARDED_ALLOW_IPS": forwarded_allow_ips(environ),
    }


def forwarded_allow_ips(environ=None):
    """FORWARDED_ALLOW_IPS (gunicorn's, default 127.0.0.1): the proxies whose
    X-Forwarded-For names the client, as a tuple of ip_network, or "*" for any peer."""
    environ = os.environ if environ is None else environ
    parts = [p.strip() for p in
             _env_text(environ, "FORWARDED_ALLOW_IPS", "127.0.0.1").split(",") if p.strip()]
    if "*" in parts:  # (as gunicorn reads it: any item `*` trusts every peer)
        return "*"
    networks = []
    for part in parts:
        try:
            # strict, as gunicorn: `10.0.0.1/24` (host bits set) is refused by both.
            networks.append(ipaddress.ip_network(part))
        except ValueError:
            raise ConfigError(f"environment variable FORWARDED_ALLOW_IPS must list IP "
                              f"addresses or networks (or be *), got {part!r}") from None
    return tuple(networks)


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def log_level(environ=None):
    """LOG_LEVEL, upper-cased: one of LOG_LEVELS, INFO when unset or empty."""
    environ = os.environ if environ is None else environ
    raw = _env_text(environ, "LOG_LEVEL")
    if raw is None:
        return "INFO"
    if raw.strip().upper() not in LOG_LEVELS:
        raise ConfigError(f"environment variable LOG_LEVEL must be one of "
                          f"{', '.join(LOG_LEVELS)}, got {raw!r}")
    return raw.strip().upper()


def _env_bool(environ, name, default=False):
    raw = _env_text(environ, name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"environment variable {name} must be true or false, got {raw!r}")


def max_upload_size(config):
    """app.max_upload_size: the largest attachment accepted, in bytes (0 turns uploads off);
    50 MiB when the config leaves it out."""
    value = config["app"].get("max_upload_size")
    return 50 * 1024 * 1024 if value is None else int(value)


def annotation_service_timeout(config):
    """import.annotation_service_timeout: seconds ella-polling waits for each read from the
    annotation service (a whole answer may take three of them, a result VCF twenty); 30
    when the config leaves it out."""
    value = ((config or {}).get("import") or {}).get("annotation_service_timeout")
    return 30.0 if value is None else float(value)


def max_unfinished_import_jobs(config):
    """import.max_unfinished_jobs_per_user: how many import jobs one user may have waiting for
    the poller (SUBMITTED, RUNNING, ANNOTATED) at once; 50 when the config leaves it out."""
    value = config["import"].get("max_unfinished_jobs_per_user")
    return 50 if value is None else int(value)
