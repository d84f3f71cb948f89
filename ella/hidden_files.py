"""New hidden files written beside the file they will replace (renamed over it when whole),
as `ella-igv-download` and `ella-refs` write their outputs."""

import os
import re
import uuid
from pathlib import Path


def hidden_name(directory, name, suffix):
    """`<directory>/.<name>.<pid>.<8 hex digits>.<suffix>`: a name no other run picks."""
    return Path(directory) / f".{name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.{suffix}"


def hidden_name_pattern(names, suffixes):
    """A regex matching the hidden names `hidden_name` gives files beside `names` with
    `suffixes` (whichever run made them)."""
    return re.compile(r"\.(?:%s)\.\d+\.[0-9a-f]{8}\.(?:%s)" % (
        "|".join(map(re.escape, names)), "|".join(map(re.escape, suffixes))))


def new_hidden_file(directory, name, suffix="part"):
    """(path, binary file open for writing) of a new hidden file beside `name`: created with
    O_EXCL, so never one that exists nor a link planted under its name (in a directory
    others may write, the write went wherever it pointed); permissions as the umask gives."""
    path = hidden_name(directory, name, suffix)
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    return path, os.fdopen(handle, "wb")
