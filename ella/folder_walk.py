"""The paths below a folder, for the watcher's fingerprint and the analysis-file search.

`Path.rglob` recursed (one generator frame per level): a delivered folder nested a thousand
deep raised RecursionError, which ended the watcher's whole pass. This walks with a list.
"""

import os
from pathlib import Path


def paths_below(folder, unreadable=None):
    """Every path below `folder` (not `folder` itself), in no particular order, as
    `Path(folder).rglob("*")` finds them: hidden ones too, linked folders listed but not
    entered, a subfolder that cannot be listed passed by (not ours to read, or removed while
    we look); one this process may not list is first given to `unreadable`, which may
    raise."""
    pending = [Path(folder)]
    while pending:
        below = pending.pop()
        try:
            with os.scandir(below) as entries:
                children = [Path(entry.path) for entry in entries]
        except PermissionError:
            if unreadable is not None:
                unreadable(below)
            continue
        except (FileNotFoundError, NotADirectoryError):
            continue
        for path in children:
            yield path
            if path.is_dir() and not path.is_symlink():
                pending.append(path)
