#!/usr/bin/env python3
"""supervisord event listener (ops/supervisord.conf): when a program enters FATAL, i.e.
supervisord gave up restarting it, stop supervisord. The container then exits and its restart
policy starts it afresh, instead of running on without nginx, the API or the watcher."""

import os
import signal
import sys


def main():
    while True:
        sys.stdout.write("READY\n")
        sys.stdout.flush()
        header = dict(part.split(":", 1) for part in sys.stdin.readline().split())
        payload = sys.stdin.read(int(header.get("len", 0)))
        sys.stderr.write(f"a program could not be kept running ({payload.strip()}); "
                         "stopping supervisord\n")
        sys.stderr.flush()
        sys.stdout.write("RESULT 2\nOK")
        sys.stdout.flush()
        os.kill(os.getppid(), signal.SIGTERM)


if __name__ == "__main__":
    main()
