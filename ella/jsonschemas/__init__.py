"""ELLA's JSON schema documents (datamodel.md 6): one file per schema name and version.

The files are our own documents, equivalent in accept/reject behaviour to ELLA 1.17's.
`ella-db refresh` inserts the (name, version) pairs missing from the `jsonschema` table.
"""

import json
import re
from pathlib import Path

SCHEMA_DIR = Path(__file__).resolve().parent
_FILE_NAME = re.compile(r"(?P<name>[a-z][a-z0-9_]*)_v(?P<version>[1-9][0-9]*)\.json")


def load_schema_documents():
    """Return [(name, version, document)] for every `<name>_v<version>.json` here, sorted."""
    documents = []
    for path in SCHEMA_DIR.glob("*.json"):
        match = _FILE_NAME.fullmatch(path.name)
        if match is None:
            raise ValueError(f"unexpected file name in {SCHEMA_DIR.name}/: {path.name} "
                             "(expected <name>_v<version>.json)")
        with path.open(encoding="utf-8") as handle:
            documents.append((match["name"], int(match["version"]), json.load(handle)))
    documents.sort(key=lambda item: (item[0], item[1]))
    return documents
