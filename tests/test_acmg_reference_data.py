"""Built-in `acmg` config section (config-cli-ops.md 2.1 item 4 and 7.2, api.md 4.3)."""

from ella.acmg.reference_data import acmg_config_section

ACMG_CODES = (["PVS1"] + [f"PS{i}" for i in range(1, 5)] + [f"PM{i}" for i in range(1, 7)]
              + [f"PP{i}" for i in range(1, 6)] + ["BA1"] + [f"BS{i}" for i in range(1, 5)]
              + [f"BP{i}" for i in range(1, 8)])
GP_CODES = ["REQ_GP_AD", "REQ_GP_AR", "REQ_GP_XD", "REQ_GP_XR", "REQ_GP_last_exon_important",
            "REQ_GP_last_exon_not_important", "REQ_GP_LOF_missense", "REQ_GP_LOF_only",
            "REQ_GP_missense_only", "REQ_GP_missense_common", "REQ_GP_missense_uncommon"]
NOTES_CODES = {"PVS1", "PS1", "PS2", "PS3", "PS4", "PM2", "PM3", "PM5", "PP1", "PP3", "BS4",
               "BP4", "BP5"}


def test_top_level_shape():
    section = acmg_config_section()
    assert list(section) == ["formatting", "codes", "explanation"]


def test_operators_and_codes_exact():
    section = acmg_config_section()
    assert section["formatting"] == {"operators": {
        "$in": "=", "$gt": ">", "$lt": "<", "$not": "!=", "$range": "within", "$all": "=",
        "$at_least": "at least"}}
    assert section["codes"] == {"pathogenic": ["PVS", "PS", "PM", "PP", "PNW"],
                                "benign": ["BNW", "BP", "BS", "BA"],
                                "other": ["OTHER"]}


def test_entry_count_and_groups():
    # The spec's figure of 86 checks out against its own tables:
    # 28 ACMG criteria + OTHER + 11 REQ_GP_* + 46 other REQ_* = 86.
    explanation = acmg_config_section()["explanation"]
    assert len(explanation) == 86
    keys = list(explanation)
    assert keys[:29] == ACMG_CODES + ["OTHER"]
    assert keys[29:40] == GP_CODES
    others = keys[40:]
    assert len(others) == 46
    assert all(k.startswith("REQ_") and not k.startswith("REQ_GP_") for k in others)
    # No strength-modified or PNW/BNW entries.
    assert not [k for k in keys if "x" in k.split("_")[0] or k.startswith(("PNW", "BNW"))]
    # What the UI offers for manual adding: every non-REQ key.
    assert [k for k in keys if not k.startswith("REQ")] == ACMG_CODES + ["OTHER"]


def test_every_entry_well_formed():
    for code, entry in acmg_config_section()["explanation"].items():
        assert set(entry) <= {"short_criteria", "criteria", "sources", "notes"}, code
        assert isinstance(entry["short_criteria"], str) and entry["short_criteria"], code
        assert isinstance(entry["criteria"], str) and entry["criteria"], code
        assert isinstance(entry["sources"], list), code
        assert all(isinstance(s, str) for s in entry["sources"]), code
        if not code.startswith("REQ_") or code.startswith("REQ_GP_"):
            assert entry["sources"] == [], code
        else:
            assert entry["sources"], code
        if "notes" in entry:
            assert isinstance(entry["notes"], str)
            assert all(line.startswith("- ") for line in entry["notes"].split("\n")), code


def test_notes_only_on_the_13_spec_entries():
    explanation = acmg_config_section()["explanation"]
    assert {k for k, v in explanation.items() if "notes" in v} == NOTES_CODES


def test_spot_checks():
    explanation = acmg_config_section()["explanation"]
    pvs1 = explanation["PVS1"]
    assert pvs1["sources"] == []
    assert pvs1["criteria"] == (
        "Predicted loss-of-function change (stop-gain, frameshift, canonical splice site, start "
        "loss, exon deletion) where loss of function is the gene's established disease mechanism.")
    notes = pvs1["notes"].split("\n")
    assert len(notes) == 4 and all(n.startswith("- Caution:") for n in notes)

    assert explanation["REQ_overlap_MQ"]["sources"] == ["PMxPS1", "PPxPM5"]
    assert explanation["REQ_segregation"]["sources"] == ["PP1", "PMxPP1", "PSxPP1"]
    assert explanation["REQ_>=4affected"]["sources"] == ["PS4"]
    assert explanation["REQ_IHC_MQ"]["sources"] == ["PMxPS3"]
    assert explanation["REQ_MMR_loss"]["criteria"] == (
        "Immunohistochemistry shows loss of the mismatch-repair protein in tumour tissue.")
    assert "notes" not in explanation["REQ_MMR_loss"]


def test_returned_data_is_a_fresh_copy():
    first = acmg_config_section()
    first["formatting"]["operators"]["$in"] = "changed"
    first["codes"]["pathogenic"].append("XX")
    first["explanation"]["PVS1"]["sources"].append("PS1")
    first["explanation"]["PVS1"]["criteria"] = "changed"
    del first["explanation"]["BP7"]
    second = acmg_config_section()
    assert second["formatting"]["operators"]["$in"] == "="
    assert second["codes"]["pathogenic"] == ["PVS", "PS", "PM", "PP", "PNW"]
    assert second["explanation"]["PVS1"]["sources"] == []
    assert second["explanation"]["PVS1"]["criteria"] != "changed"
    assert "BP7" in second["explanation"]
