"""ELLA 1.17's built-in custom-annotation option lists (config-cli-ops.md 7.1).

`custom_annotation.json` holds what `GET /api/v1/config/` returns under `custom_annotation`:
the external-database entries and the manual prediction entries, in display order. Keys are
exact strings (two of them contain a no-break space), because they are map keys in stored
`customannotation.annotations`.
"""

import copy
import json
from functools import lru_cache
from pathlib import Path

DATA_FILE = Path(__file__).resolve().parent / "custom_annotation.json"


@lru_cache(maxsize=1)
def _load():
    with DATA_FILE.open(encoding="utf-8") as handle:
        return json.load(handle)


def custom_annotation_config():
    """A fresh copy of `{"external": [...], "prediction": [...]}`."""
    return copy.deepcopy(_load())


def allowed_keys():
    """{group: {key: entry}} for the groups `external` and `prediction`."""
    data = _load()
    return {group: {entry["key"]: entry for entry in data[group]}
            for group in ("external", "prediction")}
