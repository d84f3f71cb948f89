#!/usr/bin/env python3
"""`end-session.py SID`: stop every process left in session SID (ops/entrypoint.sh runs
supervisord as that session's leader; its programs stay in it). Nothing is left after a
normal stop; after supervisord was killed outright its programs are: each gets SIGTERM, and
SIGKILL after STOP_SECONDS. Prints one line naming what it stopped."""

import os
import signal
import sys
import time

STOP_SECONDS = 20


def session_members(sid):
    """{pid: name} of the live processes of session `sid` (from /proc), this one excepted."""
    members = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as handle:
                stat = handle.read()
        except OSError:
            continue  # gone meanwhile
        # "pid (name) state ppid pgrp session ...": the name may hold spaces and brackets.
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z" and int(fields[3]) == sid:
            members[int(entry)] = name
    return members


def signal_all(pids, signum):
    for pid in pids:
        try:
            os.kill(pid, signum)
        except (ProcessLookupError, PermissionError):
            pass


def main(argv):
    if len(argv) != 2 or not argv[1].isdigit():
        print("usage: end-session.py SID", file=sys.stderr)
        return 2
    sid = int(argv[1])
    left = session_members(sid)
    if not left:
        return 0
    names = ", ".join(f"{name} ({pid})" for pid, name in sorted(left.items()))
    print(f"ella entrypoint: supervisord ended without stopping its programs; stopping {names}",
          file=sys.stderr)
    signal_all(left, signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    while time.monotonic() < deadline:
        left = session_members(sid)
        if not left:
            return 0
        time.sleep(0.5)
    signal_all(left, signal.SIGKILL)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
