"""Run by tests/test_harness_cluster.py only (not collected by itself), with SIGINT ignored
as a shell's background job inherits it."""

import signal
import subprocess
import sys
import time

import pytest


def test_ctrl_c_interrupts_the_test_process():
    with pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)
        time.sleep(5)


def test_ctrl_c_stops_a_tool_the_test_starts():
    child = subprocess.Popen([sys.executable, "-c", "import time; print(1, flush=True); "
                              "time.sleep(30)"], stdout=subprocess.PIPE)
    try:
        child.stdout.readline()
        child.send_signal(signal.SIGINT)
        assert child.wait(timeout=10) != 0
    finally:
        child.kill()
        child.wait()
