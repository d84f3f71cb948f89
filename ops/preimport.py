#!/usr/bin/env python3
"""The default pre-import script (`import.preimport_script`), as ELLA's (import.md 7.6).

The polling process runs it before it sends a sample re-analysis to the annotation service.
Sites may replace it and point `import.preimport_script` at their own.

Contract
--------
Input: environment variables set by the polling process for the job
    GENEPANEL_NAME, GENEPANEL_VERSION  the job's gene panel
    SAMPLE_ID                          the sample to (re)analyse
    USERGROUP                          name of the requesting user's group
    PRIORITY                           analysis priority, an integer (1 if unset)
    ELLA_PREIMPORT_DIR                 a folder for the files, removed after they are read
plus everything the polling process itself has in its environment (DB_URL, ...).

Output: one JSON object on stdout, exit status 0:
    {"variables": {name: value, ...}, "files": {name: path, ...}}
The variables are sent to the annotation service as form fields; every file is read and sent
along as an upload under its name. A non-zero exit status fails the job; say why on stderr.

This one sends the gene panel as ELLA's does: files TRANSCRIPTS, PHENOTYPES and EXON_REGIONS
(import.md 4.6, read from DB_URL) and variables GP_NAME, GP_VERSION, PRIORITY and
target=ella. ELLA's script also sends a REPORT_CONFIG file, whose content the specification
does not give; a site that needs it adds it in its own script.
"""

import json
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project, when run as a file

import psycopg  # noqa: E402

from ella.db import DatabaseError, connect  # noqa: E402
from ella.genepanel_export import (PanelNotFound, exon_regions_bed, phenotypes_tsv,  # noqa: E402
                                   transcripts_tsv)

EXPORTS = (("TRANSCRIPTS", "genes_transcripts.tsv", transcripts_tsv),
           ("PHENOTYPES", "phenotypes.tsv", phenotypes_tsv),
           ("EXON_REGIONS", "exon_regions.bed", exon_regions_bed))


def fail(message):
    print(f"preimport: {message}", file=sys.stderr)
    return 1


class Terminated(KeyboardInterrupt):
    """SIGTERM: unwinds as Ctrl-C does (Python's default ended the process at once, and the
    run's own folder stayed behind); psycopg cancels the statement it waits for."""


def _terminated(signum, frame):
    raise Terminated()


def main():
    signal.signal(signal.SIGTERM, _terminated)
    env = os.environ
    names = ("GENEPANEL_NAME", "GENEPANEL_VERSION", "SAMPLE_ID", "DB_URL")
    missing = [name for name in names if not env.get(name)]
    if missing:
        return fail(f"environment variable(s) not set: {', '.join(missing)}")
    for name in names:
        try:
            env[name].encode("utf-8")
        except UnicodeEncodeError:  # (a byte that is no UTF-8: a traceback from psycopg)
            return fail(f"{name} is not UTF-8 text")
    priority = env.get("PRIORITY") or "1"
    try:
        int(priority)
    except ValueError:
        return fail(f"PRIORITY must be an integer, got {priority!r}")
    name, version = env["GENEPANEL_NAME"], env["GENEPANEL_VERSION"]
    given = env.get("ELLA_PREIMPORT_DIR")
    folder = Path(given or tempfile.mkdtemp(prefix="ella-preimport-"))
    try:
        files = write_exports(folder, name, version, env["DB_URL"])
    except BaseException as exc:
        if not given:  # our own folder: a failed run leaves nothing behind
            shutil.rmtree(folder, ignore_errors=True)
        if isinstance(exc, ExportFailed):
            return fail(str(exc))
        if isinstance(exc, KeyboardInterrupt):
            fail("interrupted")
            return 143 if isinstance(exc, Terminated) else 130
        raise
    result = {
        "variables": {"GP_NAME": name, "GP_VERSION": version, "PRIORITY": priority,
                      "target": "ella"},
        "files": files,
    }
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


class ExportFailed(Exception):
    """Why the panel's files could not be written (one line)."""


def export_file_name(name, version, suffix):
    """ELLA's `<name>_<version>_<suffix>`; just `<suffix>` where that is longer than a file
    name may be (255 bytes: a 130-letter name of `Ø`s), in a folder of this run's own."""
    full = f"{name}_{version}_{suffix}".replace("/", "_")
    return full if len(os.fsencode(full)) <= 255 else suffix


def write_exports(folder, name, version, db_url):
    """{key: path} of the files written into `folder`."""
    files = {}
    try:
        with connect(db_url, application_name="ella-preimport") as conn:
            for key, suffix, export in EXPORTS:
                path = folder / export_file_name(name, version, suffix)
                path.write_bytes(export(conn, name, version))
                files[key] = str(path)
    except PanelNotFound as exc:
        raise ExportFailed(str(exc)) from None
    except DatabaseError as exc:  # cannot connect; the message names why, password masked
        raise ExportFailed(f"database: {exc}") from None
    except psycopg.Error as exc:
        raise ExportFailed("database: " + (str(exc).strip().splitlines()[0]
                                           if str(exc).strip() else repr(exc))) from None
    except OSError as exc:
        raise ExportFailed(f"cannot write into {folder}: {exc.strerror or exc}") from None
    return files


if __name__ == "__main__":
    sys.exit(main())
