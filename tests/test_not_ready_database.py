"""Nothing is imported into a database an upgrade left half done (pending migrations, or the
functions and triggers of another version: `ella-db compare` fails). Under systemd only the
API checked at its start; the watcher, the poller and `ella-deposit` imported through the old
triggers. Each now waits (or refuses), records nothing against the folder or job, and goes on
once `ella-db migrate` has run."""

import logging

import psycopg
import pytest
import yaml

from deposit_helpers import BRCA_VCF, copy_test_analysis
from ella.annotation.legacy_config import legacy_annotation_config
from ella.polling import Poller
from ella.watcher import ERROR_SUFFIX, Watcher, WatcherError
from helpers import ROOT, run_cli, table_snapshot
from test_polling import add_job, job

DEMO = ROOT / "demo"
TEST_ALL = ROOT / "tests" / "data" / "genepanels" / "test-ALL_v01"
REFERENCES = ROOT / "tests" / "data" / "pubmed" / "references-from-xml.jsonl"
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


# Every command that writes, with arguments that get it past its own file and argument checks
# (the state check comes before anything is written; `--reason` keeps prompts away).
def _writers(tmp_path):
    annotation_config = tmp_path / "annotation-config.yml"
    annotation_config.write_text(yaml.safe_dump(legacy_annotation_config()))
    custom = tmp_path / "custom.jsonl"
    custom.write_text('{"allele_id": 1, "user_id": 1, "annotations": {}}\n')
    deposit = [
        ("ella-deposit", "genepanel", "--folder", str(TEST_ALL)),
        ("ella-deposit", "references", str(REFERENCES)),
        ("ella-deposit", "custom_annotation", str(custom)),
        ("ella-deposit", "append_genepanel_to_usergroup", "HBOC", "v01", "testgroup01"),
        ("ella-refs", "deposit", str(REFERENCES)),
    ]
    others = [
        ("ella-users", "add_groups", str(DEMO / "usergroups.json")),
        ("ella-users", "add_many", str(DEMO / "users.json")),
        ("ella-users", "reset_password", "testuser1"),
        ("ella-users", "modify", "testuser1", "--first_name", "Ny"),
        ("ella-users", "lock", "testuser1", "--reason", "probe"),
        ("ella-users", "activate", "testuser1", "--reason", "probe"),
        ("ella-filterconfigs", "update", str(DEMO / "filterconfigs.json"), "--reason", "probe"),
        ("ella-filterconfigs", "deactivate", "1", "--reason", "probe"),
        ("ella-broadcast", "new", "Maintenance", "tonight"),
        ("ella-broadcast", "deactivate", "1"),
        ("ella-delete", "analysis", "1", "--reason", "probe"),
        ("ella-delete", "alleleinterpretation", "1", "--reason", "probe"),
        ("ella-annotationconfig", "update", str(annotation_config), "--reason", "probe"),
    ]
    return deposit, others


def _refused(db_url, args, message):
    before = table_snapshot(db_url)
    result = run_cli(*args, db_url=db_url, stdin="n\n")
    assert (result.returncode, result.stderr) == (1, f"error: {message}\n"), args
    after = table_snapshot(db_url)
    after.pop("clilog", None), before.pop("clilog", None)
    assert after == before, args


@pytest.mark.parametrize("revision, message", [
    ("ffff00001111", "not an ELLA database this service knows"),  # a newer ELLA's, say
    ("0143c6e15141", "upgrade it with ELLA first")])                  # an older ELLA's
def test_no_writer_writes_into_another_ella_revision(demo_db_url, tmp_path, revision, message):
    """Only the imports checked the database: gene panels, references, users, filter
    configs, messages, deletions and annotation configs were written into a schema this
    version does not know (and exited 0)."""
    with psycopg.connect(demo_db_url) as conn:
        conn.execute("UPDATE alembic_version SET version_num = %s", (revision,))
    deposit, others = _writers(tmp_path)
    for args in deposit + others:
        before = table_snapshot(demo_db_url)
        result = run_cli(*args, db_url=demo_db_url, stdin="n\n")
        assert result.returncode == 1 and result.stderr.startswith(
            "error: the database is not ready: ") and message in result.stderr, (args, result)
        after = table_snapshot(demo_db_url)
        after.pop("clilog"), before.pop("clilog")
        assert after == before, args


def test_after_an_upgrade_ella_deposit_refuses_and_the_other_writers_work(adopted_demo_db_url,
                                                                          tmp_path):
    """README, Production 9: until `ella-db migrate` (or refresh) has run, `ella-deposit`
    refuses; so do `ella-refs deposit` (its twin). Users, groups, filter configs, messages
    and deletions use none of the functions and triggers, and a refresh may first need a
    group's or a filter config's frequency groups changed by them."""
    _left_by_an_upgrade(adopted_demo_db_url)
    deposit, others = _writers(tmp_path)
    for args in deposit:
        _refused(adopted_demo_db_url, args, NOT_READY)
    for args in others:
        result = run_cli(*args, db_url=adopted_demo_db_url, stdin="n\n")
        assert "not ready" not in result.stderr, (args, result.stderr)
        assert result.returncode in (0, 1), (args, result.stderr)  # 1: "nothing to delete"
    with psycopg.connect(adopted_demo_db_url) as conn:
        assert conn.execute("SELECT count(*) FROM broadcast WHERE message = "
                            "'Maintenance tonight'").fetchone() == (1,)


def test_a_pending_migration_stops_every_writer(adopted_demo_db_url, tmp_path):
    with psycopg.connect(adopted_demo_db_url) as conn:
        pending = conn.execute("DELETE FROM ella_sql_migration WHERE filename <> (SELECT "
                               "min(filename) FROM ella_sql_migration) RETURNING filename"
                               ).fetchall()
    assert pending
    deposit, others = _writers(tmp_path)
    for args in deposit + others[::4]:
        before = table_snapshot(adopted_demo_db_url)
        result = run_cli(*args, db_url=adopted_demo_db_url, stdin="n\n")
        assert result.returncode == 1 and "the database is not ready: pending migrations: " \
            in result.stderr, (args, result.stderr)
        after = table_snapshot(adopted_demo_db_url)
        after.pop("clilog"), before.pop("clilog")
        assert after == before, args


def test_writers_work_on_an_ella_database_not_adopted_yet_but_ella_deposit_does_not(
        demo_db_url, tmp_path):
    """ELLA's own database at its head revision has the tables these commands write, and
    ELLA writes them the same way; the imports and deposits need this version's functions
    (`ella-db adopt` installs them)."""
    deposit, others = _writers(tmp_path)
    _refused(demo_db_url, deposit[1], "the database is not ready: the ELLA database has not "
                                      "been adopted (run `ella-db adopt`)")
    result = run_cli("ella-broadcast", "new", "Hello", db_url=demo_db_url)
    assert result.returncode == 0, result.stderr


def test_with_the_shadow_tables_missing_the_light_writers_work(db_url, tmp_path):
    """A refresh due because the shadow tables are gone (an interrupted make-production): as
    with another version's functions, users and groups may be changed (the refresh may need
    it), the deposits refuse, and `ella-users activity` only reads."""
    with psycopg.connect(db_url) as conn:
        conn.execute("DROP TABLE annotationshadowtranscript, annotationshadowfrequency")
    result = run_cli("ella-users", "lock", "nobody", "--reason", "x", db_url=db_url)
    assert result.stderr == "error: no user named 'nobody'\n"  # past the state check
    assert run_cli("ella-broadcast", "new", "Refresh", "tonight", db_url=db_url).returncode == 0
    assert run_cli("ella-users", "activity", db_url=db_url).returncode == 0
    result = run_cli("ella-deposit", "references", str(REFERENCES), db_url=db_url)
    assert result.returncode == 1 and "the shadow tables are missing" in result.stderr, \
        result.stderr
