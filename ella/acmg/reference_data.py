"""Built-in ACMG reference data: the `acmg` section the server adds to the config.

config-cli-ops.md 2.1 item 4 and 7.2; api.md 4.3 (`acmg` row). The section is
`{"formatting": {"operators": {...}}, "codes": {...}, "explanation": {...}}`.

`explanation.json` holds the 86 `explanation` entries in the spec's order: the 28 ACMG/AMP
criteria, `OTHER`, the 11 `REQ_GP_*` codes and the 46 other `REQ_*` codes. Keys, field names
and `sources` match upstream exactly; `short_criteria`, `criteria` and `notes` are our own
wording of the meaning the spec gives (the spec asks for our own wording, not upstream's text).
"""

import copy
import json
from functools import lru_cache
from pathlib import Path

DATA_FILE = Path(__file__).resolve().parent / "explanation.json"

# Display operators for rule-engine match operators.
OPERATORS = {
    "$in": "=",
    "$gt": ">",
    "$lt": "<",
    "$not": "!=",
    "$range": "within",
    "$all": "=",
    "$at_least": "at least",
}

# Code prefixes per group; the prefix order is also the sort order.
CODES = {
    "pathogenic": ["PVS", "PS", "PM", "PP", "PNW"],
    "benign": ["BNW", "BP", "BS", "BA"],
    "other": ["OTHER"],
}


@lru_cache(maxsize=1)
def _load_explanation():
    with DATA_FILE.open(encoding="utf-8") as handle:
        return json.load(handle)


def acmg_explanation():
    """A fresh copy of `{code: {short_criteria, criteria, sources, notes?}}` in spec order."""
    return copy.deepcopy(_load_explanation())


def acmg_config_section():
    """A fresh copy of the whole built-in `acmg` config section."""
    return {
        "formatting": {"operators": dict(OPERATORS)},
        "codes": {group: list(prefixes) for group, prefixes in CODES.items()},
        "explanation": acmg_explanation(),
    }
