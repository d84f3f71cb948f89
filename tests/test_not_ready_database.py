"""Nothing is imported into a database an upgrade left half done (pending migrations, or the
functions and triggers of another version: `ella-db compare` fails). Under systemd only the
API checked at its start; the watcher, the poller and `ella-deposit` imported through the old
triggers. Each now waits (or refuses), records nothing against the folder or job, and goes on
once `ella-db migrate` has run."""

import logging

import psycopg
import pytest

from deposit_helpers import BRCA_VCF, copy_test_analysis
from ella.polling import Poller
from ella.watcher import ERROR_SUFFIX, Watcher, WatcherError
from helpers import run_cli, table_snapshot
from test_polling import add_job, config, job, service, user_id  # noqa: F401 (fixtures)

NOT_READY = ("the database is not ready: the database's functions and triggers were "
             "installed by another version of this service (run `ella-db refresh`)")


def _left_by_an_upgrade(db_url):
    with psycopg.connect(db_url) as conn:
        conn.execute("COMMENT ON TABLE ella_sql_migration IS NULL")


def test_the_watcher_waits_for_the_upgrade(db_url, ella_config, watch_dirs):
    incoming, dest = watch_dirs
    copy_test_analysis(incoming / "Upgrade-1", "Upgrade-1")
    _left_by_an_upgrade(db_url)
    watcher = Watcher(db_url, ella_config, incoming, dest)
    with pytest.raises(WatcherError) as waited:
        watcher.poll()
    assert str(waited.value) == (f"{NOT_READY}; stopped before Upgrade-1, nothing recorded as "
                                 "failed (retried next time)")
    assert [p.name for p in incoming.iterdir() if p.name.endswith(ERROR_SUFFIX)] == []
    assert run_cli("ella-db", "migrate", db_url=db_url).returncode == 0
    assert watcher.poll() == ["Upgrade-1"]


def test_the_poller_keeps_the_jobs_waiting(db_url, config, user_id, caplog):  # noqa: F811
    job_id = add_job(db_url, user_id)
    _left_by_an_upgrade(db_url)
    poller = Poller(db_url, config)
    caplog.set_level(logging.WARNING, logger="ella.polling")
    assert poller.cycle() == [] and poller.cycle() == []
    assert job(db_url, job_id)["status"] == "SUBMITTED"
    assert [r.getMessage() for r in caplog.records] == [  # said once
        NOT_READY + "; the jobs wait"]
    assert run_cli("ella-db", "migrate", db_url=db_url).returncode == 0
    assert [update[0] for update in poller.cycle()] == [job_id]


@pytest.mark.parametrize("command", ["analysis", "alleles", "annotation"])
def test_ella_deposit_refuses(db_url, command):
    _left_by_an_upgrade(db_url)
    before = table_snapshot(db_url)
    result = run_cli("ella-deposit", command, str(BRCA_VCF), db_url=db_url)
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {NOT_READY}"
    after = table_snapshot(db_url)
    assert len(after.pop("clilog")) == len(before.pop("clilog")) + 1
    assert after == before


def test_a_config_whose_frequency_groups_differ_does_not_stop_imports(db_url, ella_config,
                                                                      watch_dirs):
    """A watcher started before a config change compared the table with its old copy of the
    config, and stayed refused after the `ella-db refresh` it asked for. The shadow columns
    are no reason to wait: the triggers write such rows, casting the table's own columns."""
    import copy
    changed = copy.deepcopy(ella_config)
    changed["frequencies"]["groups"]["external"]["GNOMAD_EXOMES"].append("NEW")
    incoming, dest = watch_dirs
    copy_test_analysis(incoming / "Groups-1", "Groups-1")
    assert Watcher(db_url, changed, incoming, dest).poll() == ["Groups-1"]


def test_ella_polling_once_says_so_in_its_exit_code(db_url):
    """`--once` exited 0 although nothing was done (cron and health scripts saw success)."""
    _left_by_an_upgrade(db_url)
    result = run_cli("ella-polling", "--once", db_url=db_url,
                     env={"ANNOTATION_SERVICE_URL": "http://127.0.0.1:9"})
    assert result.returncode == 1, result.stderr
    assert NOT_READY in result.stderr
