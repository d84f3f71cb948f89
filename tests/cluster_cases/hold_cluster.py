"""Run by tests/test_harness_cluster.py only (not collected by itself): holds the session's
throwaway cluster up until the run is stopped, after saying where it is."""

import os
import time
from pathlib import Path


def test_hold_the_cluster(db_url):
    Path(os.environ["HARNESS_READY_FILE"]).write_text(db_url)
    time.sleep(300)
