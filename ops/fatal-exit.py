#!/usr/bin/env python3
"""supervisord event listener (ops/supervisord.conf): when a program enters FATAL, i.e.
supervisord gave up restarting it, stop supervisord. The container then exits and its restart
policy starts it afresh, instead of running on without nginx, the API or the watcher.

supervisord itself exits 0 on SIGTERM, as after a plain `docker stop`; the marker file
$SOCKET_DIR/ella-fatal tells ops/entrypoint.sh to exit non-zero instead, so that the exit
is seen as a failure (`--restart on-failure`, `docker ps -a`)."""

import os
import signal
import sys

FATAL_MARKER = "ella-fatal"


def main():
    while True:
        sys.stdout.write("READY\n")
        sys.stdout.flush()
        header = dict(part.split(":", 1) for part in sys.stdin.readline().split())
        payload = sys.stdin.read(int(header.get("len", 0)))
        sys.stderr.write(f"a program could not be kept running ({payload.strip()}); "
                         "stopping supervisord\n")
        sys.stderr.flush()
        marker = os.path.join(os.environ.get("SOCKET_DIR", "/socket"), FATAL_MARKER)
        try:
            with open(marker, "w", encoding="utf-8") as handle:
                handle.write(payload.strip() + "\n")
        except OSError as exc:
            sys.stderr.write(f"could not write {marker}: {exc}\n")
        sys.stdout.write("RESULT 2\nOK")
        sys.stdout.flush()
        os.kill(os.getppid(), signal.SIGTERM)


if __name__ == "__main__":
    main()
