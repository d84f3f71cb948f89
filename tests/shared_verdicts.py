"""Validator verdicts on a corpus, computed once per test run and shared by the pytest-xdist
workers.

The JSON-schema tests ask the same questions in several tests, and each worker asked them
again: Python's jsonschema needs 2-4 ms per document (15 s per worker for our four documents
on the corpus), the SQL validator about as long. The answers go into files in a directory the
controller creates before the workers start (conftest.py, `ELLA_TEST_SHARED_DIR`), named by a
hash of the question (which validator, which schema document, which documents), so that a
stored answer can only be the answer to the same question. Within one run every worker has
the same code, and the directory is removed when the run ends.
"""

import fcntl
import hashlib
import json
import os
import tempfile
from pathlib import Path

SHARED_DIR_VARIABLE = "ELLA_TEST_SHARED_DIR"


def verdicts(validator, schema, documents_json, compute):
    """The tuple of booleans `compute()` gives, for the question named by `validator` (a word
    for the validator, e.g. "draft7" or "sql"), `schema` and `documents_json` (the documents
    as JSON text). One worker computes it while the others wait for it."""
    question = json.dumps([validator, schema], sort_keys=True) + "\n" + documents_json
    name = hashlib.sha256(question.encode()).hexdigest()
    directory = os.environ.get(SHARED_DIR_VARIABLE)
    if not directory:  # a run without the controller's directory: nothing to share
        return tuple(compute())
    answer = Path(directory) / f"{name}.json"
    with open(Path(directory) / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if answer.exists():
            return tuple(json.loads(answer.read_text()))
        result = tuple(compute())  # as computed: a NULL verdict stays None
        with tempfile.NamedTemporaryFile("w", dir=directory, delete=False) as out:
            json.dump(result, out)
        os.replace(out.name, answer)  # a reader never sees half a file
        return result
