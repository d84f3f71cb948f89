#!/usr/bin/env python3
"""Minimal pre-import script (the default `import.preimport_script`).

Sites replace this with their own script and point `import.preimport_script`
at it. The polling process runs the script before it sends a sample-based
annotation job to the annotation service.

Contract
--------
Input: environment variables set by the polling process for the job
    GENEPANEL_NAME, GENEPANEL_VERSION  the job's gene panel
    SAMPLE_ID                          the sample to (re)analyse
    USERGROUP                          name of the requesting user's group
    PRIORITY                           analysis priority, an integer (1 if unset)
plus everything the polling process itself has in its environment (DB_URL, ...).

Output: one JSON object on stdout, exit status 0:
    {"variables": {name: value, ...}, "files": {name: path, ...}}
The variables are sent to the annotation service as form fields; every file is
read and sent along as an upload under its name (a site's script typically
writes gene panel transcripts, phenotypes, exon regions or a report config to
temporary files and lists them here). A non-zero exit status fails the job;
say why on stderr.

This one sends only the gene panel, the priority and the pipeline target, and
no files.
"""

import json
import os
import sys


def main():
    env = os.environ
    missing = [name for name in ("GENEPANEL_NAME", "GENEPANEL_VERSION", "SAMPLE_ID") if not env.get(name)]
    if missing:
        print(f"preimport: environment variable(s) not set: {', '.join(missing)}", file=sys.stderr)
        return 1
    priority = env.get("PRIORITY") or "1"
    try:
        int(priority)
    except ValueError:
        print(f"preimport: PRIORITY must be an integer, got {priority!r}", file=sys.stderr)
        return 1
    result = {
        "variables": {
            "GP_NAME": env["GENEPANEL_NAME"],
            "GP_VERSION": env["GENEPANEL_VERSION"],
            "PRIORITY": priority,
            "target": "ella",
        },
        "files": {},
    }
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
