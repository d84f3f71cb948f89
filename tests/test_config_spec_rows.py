"""config-cli-ops.md section 2: the configuration key tables against the config schema and
GET /api/v1/config/ (the shipped default is ELLA's example key for key)."""

import copy
import os
import re

import pytest
import yaml

from api_client import Client
from ella import config as cfg
from ella.config import ConfigError, max_unfinished_import_jobs
from helpers import ROOT

# ../shared beside the repository (CI has it; a clone may not).
SPEC = ROOT.parent / "shared" / "spec" / "config-cli-ops.md"


def _plain_default():
    data = cfg.load_config(environ={})
    for key in ("acmg", "custom_annotation"):
        data.pop(key, None)
    del data["transcripts"]["consequences"]
    return data


def _load(tmp_path, data):
    path = tmp_path / "ella.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return cfg.load_config(str(path), environ={})


# --- sidebar comment_type needs all four keys (ELLA's schema requires them) ---------------

@pytest.mark.parametrize("missing", ["unclassified", "classified", "not_relevant", "technical"])
def test_sidebar_comment_type_needs_all_four_sections(tmp_path, missing):
    """config-cli-ops.md 2.5: `comment_type` is an "object with the same four keys" as
    classification_options (whose four are required); ELLA's config.schema.json has
    `"required": ["unclassified", "classified", "not_relevant", "technical"]` for it.
    Ours (ella/config_schema.json, definitions.sidebar.comment_type) has `"required": []`,
    so a config ELLA refuses at start-up loads here."""
    data = _plain_default()
    comment_type = data["analysis"]["sidebar"]["quick"]["comment_type"]
    del comment_type[missing]
    with pytest.raises(ConfigError, match="comment_type"):
        _load(tmp_path, data)


# --- passing probes: rows without a test that pins them -----------------------------------

def _spec_example():
    """ELLA's example config as the spec gives it, verbatim: its `!file
    'scripts/preimport.py'` is our ops/preimport.py (a site's ELLA config names it so; it
    was refused as not found)."""
    text = SPEC.read_text()
    example = re.search(r"### 2\.10.*?```yaml\n(.*?)```", text, re.S).group(1)
    return cfg.parse_yaml(example, environ={})


@pytest.mark.skipif(not SPEC.exists(), reason="spec not beside the repository")
def test_default_config_is_the_spec_example_key_for_key():
    """2.3-2.9 "Example" columns / 2.10: every key of the shipped default equals ELLA's
    example (sidebar views, priority labels, classification options with sort_index and
    flags, classification_text, gene_groups.MMR, overview views, autoIgnoreReferencePubmedIds,
    valid_resource_files, import, similar_alleles); only the pre-import script path and our
    documented additions `classification.engine`, `import.max_unfinished_jobs_per_user` and
    `import.annotation_service_timeout` differ."""
    spec = _spec_example()
    ours = _plain_default()
    assert ours["import"].pop("preimport_script").endswith("ops/preimport.py")
    assert os.path.samefile(spec["import"].pop("preimport_script"),
                            ROOT / "ops" / "preimport.py")
    assert ours["classification"].pop("engine") == {"name": "ella"}
    assert ours["import"].pop("max_unfinished_jobs_per_user") == 50
    assert ours["import"].pop("annotation_service_timeout") == 30
    assert ours == spec


def test_config_route_serves_the_ui_only_keys_as_in_the_file(api_app, ella_config):
    """2.1 item 5: GET /api/v1/config/ serves the full config. Keys only the UI reads
    (no server code uses them) must come through unchanged."""
    served = Client(api_app).get("/api/v1/config/").json
    for path in (("app",), ("analysis",), ("report",), ("igv",), ("similar_alleles",),
                 ("classification", "gene_groups"), ("classification", "options"),
                 ("user", "auth"), ("user", "user_config", "interpretation"),
                 ("user", "user_config", "overview")):
        want, got = ella_config, served
        for key in path:
            want, got = want[key], got[key]
        assert got == want, path


@pytest.mark.parametrize("mutate", [
    lambda d: d["analysis"]["sidebar"]["list"].pop("shade_multiple_in_gene"),
    lambda d: d["analysis"]["sidebar"]["quick"].__setitem__("narrow_comment", "yes"),
    lambda d: d["analysis"]["sidebar"]["full"]["classification_options"].pop("technical"),
    lambda d: d["analysis"]["sidebar"]["full"]["classification_options"].__setitem__(
        "technical", ["class5"]),
    lambda d: d["analysis"]["sidebar"]["full"]["columns"].append("foo"),
    lambda d: d["analysis"]["sidebar"].pop("visual"),
    lambda d: d["analysis"]["priority"]["display"].__setitem__("4", "Later"),
    lambda d: d["classification"]["gene_groups"].__setitem__("HBOC", ["BRCA1"]),
    lambda d: d["classification"]["options"].append({"name": "Class 6", "value": "6"}),
    lambda d: d["classification"]["options"][0].__setitem__("sort_index", 1.5),
    lambda d: d["classification"]["options"][0].__setitem__("include_report", "yes"),
    lambda d: d["report"]["classification_text"].pop("5"),
    lambda d: d["report"]["classification_text"].__setitem__("NP", 5),
    lambda d: d["user"]["user_config"]["interpretation"].__setitem__(
        "autoIgnoreReferencePubmedIds", ["123"]),
    lambda d: d["user"]["user_config"]["workflows"]["allele"]["finalize_requirements"]
    .__setitem__("workflow_status", ["Medical review"]),
    lambda d: d["igv"].__setitem__("valid_resource_files", "cytoBand.txt"),
    lambda d: d["import"].__setitem__("automatic_deposit_with_sample_id", "no"),
    lambda d: d["import"].__setitem__("max_unfinished_jobs_per_user", 0),
    lambda d: d["import"].__setitem__("max_unfinished_jobs_per_user", "50"),
    lambda d: d["import"].__setitem__("max_unfinished_jobs_per_user", 100001),
    lambda d: d["import"].__setitem__("annotation_service_timeout", 0.5),
    lambda d: d["import"].__setitem__("annotation_service_timeout", "30"),
    lambda d: d["import"].__setitem__("annotation_service_timeout", True),
    lambda d: d["import"].__setitem__("annotation_service_timeout", 3601),
], ids=["shade-required", "narrow-bool", "options-4-keys", "options-enum", "columns-enum",
        "5-views", "priority-exact-keys", "gene-groups-MMR-only", "value-enum",
        "sort-index-int", "include-report-bool", "text-1-5-required", "text-strings",
        "autoignore-ints", "allele-statuses", "resource-files-list", "auto-deposit-bool",
        "max-unfinished-jobs-0", "max-unfinished-jobs-text", "max-unfinished-jobs-over-100000",
        "service-timeout-under-1", "service-timeout-text", "service-timeout-bool",
        "service-timeout-over-3600"])
def test_schema_rules_of_the_key_tables(tmp_path, mutate):
    """2.3-2.9: types, required keys and enums of keys the suite checks only through the
    default config loading."""
    data = _plain_default()
    mutate(data)
    with pytest.raises(ConfigError):
        _load(tmp_path, data)


def test_schema_accepts_what_the_key_tables_allow(tmp_path):
    data = _plain_default()
    data["analysis"]["sidebar"]["full"].pop("comment_type")       # "no" in Req.
    data["analysis"]["sidebar"]["quick"].pop("narrow_comment")    # "no" in Req.
    data["report"]["classification_text"]["NP"] = "Not provided"  # other keys allowed
    data["app"].pop("feature_flags")                              # "no" in Req.
    data["classification"]["options"] = [{"name": v, "value": v}
                                         for v in ("1", "2", "3", "4", "5", "NP", "RF", "DR")]
    data["user"]["user_config"]["overview"]["views"] = ["analyses", "variants", "import"]
    data["import"].pop("max_unfinished_jobs_per_user")             # ours, optional
    loaded = _load(tmp_path, copy.deepcopy(data))
    assert loaded["report"]["classification_text"]["NP"] == "Not provided"
    assert max_unfinished_import_jobs(loaded) == 50
