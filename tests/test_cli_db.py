"""`bin/ella-db` as an operator uses it: exit codes, one-line errors, confirmation, clilog."""

import re

import psycopg
import pytest

from helpers import query, run_cli, table_snapshot

SUBCOMMANDS = ["make-production", "migrate", "refresh", "status", "compare", "current", "drop",
               "adopt"]


@pytest.mark.parametrize("sub", SUBCOMMANDS)
def test_every_subcommand_has_help(sub):
    result = run_cli("ella-db", sub, "--help")
    assert result.returncode == 0
    assert "usage: ella-db " + sub in result.stdout


def test_usage_errors_exit_2():
    assert run_cli("ella-db").returncode == 2
    result = run_cli("ella-db", "frobnicate")
    assert result.returncode == 2 and "invalid choice" in result.stderr


def _one_line_error(result):
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_missing_config_file(db_url, tmp_path):
    line = _one_line_error(run_cli("ella-db", "status", db_url=db_url,
                                   env={"ELLA_CONFIG": str(tmp_path / "nope.yml")}))
    assert "config file not found" in line and "nope.yml" in line


def test_config_with_yaml_error(db_url, tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("app:\n  links_to_clipboard: [true\n")
    line = _one_line_error(run_cli("ella-db", "status", db_url=db_url,
                                   env={"ELLA_CONFIG": str(bad)}))
    assert "bad.yml" in line and "line" in line


def test_config_violating_the_schema(db_url, tmp_path):
    from ella.config import PROJECT_ROOT
    text = (PROJECT_ROOT / "ella" / "default_config.yaml").read_text()
    bad = tmp_path / "bad.yml"
    bad.write_text(text.replace("password_minimum_length: 8", "password_minimum_length: -1"))
    line = _one_line_error(run_cli("ella-db", "status", db_url=db_url,
                                   env={"ELLA_CONFIG": str(bad)}))
    assert "user.auth.password_minimum_length" in line and "minimum" in line


@pytest.mark.parametrize("tool, args", [
    ("ella-db", ["status"]), ("ella-watcher", ["--once", "--analyses", ".", "--dest", "."]),
    ("ella-polling", ["--once"])])
def test_missing_db_url(tool, args):
    """Every tool says how to set it, also for `make run`'s own database (a newcomer's
    first tool run after `make run` ended at a bare "DB_URL is not set")."""
    line = _one_line_error(run_cli(tool, *args))
    assert line == ("error: DB_URL is not set: give the PostgreSQL URL of the ELLA database "
                    "(e.g. postgresql:///ella?host=/path/to/socket; for the local database of "
                    '`make run`: export DB_URL="$(make -s db-url)")'), line


def test_unreachable_database(tmp_path):
    line = _one_line_error(run_cli("ella-db", "status",
                                   db_url=f"postgresql:///nope?host={tmp_path}&port=1"))
    assert "cannot connect to the database" in line


def test_make_production_status_compare(empty_db_url):
    result = run_cli("ella-db", "compare", db_url=empty_db_url)
    assert result.returncode == 1 and "does not match" in result.stdout
    assert "Not ready: the database is empty (run `ella-db make-production`)" in result.stdout
    result = run_cli("ella-db", "status", db_url=empty_db_url)
    assert "Applied migrations: none" in result.stdout
    assert "Note: the database is empty (run `ella-db make-production`)" in result.stdout
    result = run_cli("ella-db", "make-production", "--reason", "first setup", db_url=empty_db_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("All done!")
    result = run_cli("ella-db", "compare", db_url=empty_db_url)
    assert result.returncode == 0 and "Migration status OK!" in result.stdout
    result = run_cli("ella-db", "status", db_url=empty_db_url)
    assert "State: ours" in result.stdout and "Pending migrations: none" in result.stdout
    # The history (ELLA's `database history`): each file, when and how.
    history = result.stdout.split("Applied migrations:\n", 1)[1].split("Pending")[0]
    assert re.findall(r"^  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+0000  applied  (\S+)$",
                      history, re.M) == ["0000_baseline_4c2844fef850.sql",
                                         "0001_legacy_annotationconfig_4c2844fef850.sql"]
    assert run_cli("ella-db", "current", db_url=empty_db_url).stdout.strip() == "4c2844fef850"
    with psycopg.connect(empty_db_url) as conn:
        rows = conn.execute('SELECT "user", "group", groupcommand, command, reason, output '
                            "FROM clilog ORDER BY id").fetchall()
    assert len(rows) == 1  # status/compare/current are read-only and not logged
    user, group, groupcommand, command, reason, output = rows[0]
    assert (group, groupcommand, command, reason) == (
        "database", "make-production", "database make-production --reason first setup",
        "first setup")
    assert user and "All done!" in output


@pytest.mark.parametrize("recorded", ["functions and triggers: sha256:0123", None])
def test_functions_of_another_version_are_told_and_migrate_refreshes_them(db_url, recorded):
    """An upgrade can change sql/triggers/ without a migration: a skipped `ella-db refresh`
    kept the old functions, and compare, health/ and the entrypoint said all was well. Now
    they say to refresh; `migrate` (and so `make-production`, `make run`) refreshes. A
    database refreshed before the fingerprint was recorded has none and is refreshed too."""
    with psycopg.connect(db_url) as conn:
        conn.execute(f"COMMENT ON TABLE ella_sql_migration IS "
                     f"{'NULL' if recorded is None else repr(recorded)}")
    compare = run_cli("ella-db", "compare", db_url=db_url)
    assert compare.returncode == 1
    assert ("Not ready: the database's functions and triggers were installed by another "
            "version of this service (run `ella-db refresh`)") in compare.stdout
    assert ("Functions and triggers: the database's functions and triggers were installed by "
            "another version of this service; run `ella-db refresh`.") in \
        run_cli("ella-db", "status", db_url=db_url).stdout
    migrated = run_cli("ella-db", "migrate", db_url=db_url)
    assert migrated.returncode == 0, migrated.stderr
    assert ("The database's functions and triggers were installed by another version of this "
            "service: refreshing.") in migrated.stdout
    assert run_cli("ella-db", "compare", db_url=db_url).returncode == 0
    assert "Functions and triggers: this version's." in \
        run_cli("ella-db", "status", db_url=db_url).stdout
    again = run_cli("ella-db", "migrate", db_url=db_url)  # now current: nothing to do
    assert "Database is up to date; nothing to apply." in again.stdout


def test_compare_names_part_of_ellas_schema_dropped_after_adoption(db_url):
    """`compare` (and so the entrypoint) said a database was at head after a unique index of
    ELLA's was dropped by hand (two current assessments of one variant could then be
    stored): only `adopt` checked ELLA's schema. `status` says it too."""
    assert run_cli("ella-db", "compare", db_url=db_url).returncode == 0
    assert "ELLA's schema: complete." in run_cli("ella-db", "status", db_url=db_url).stdout
    with psycopg.connect(db_url) as conn:
        index = "ix_assessment_alleleid_unique"  # one current assessment per variant
        conn.execute(f"DROP INDEX {index}")
    compare = run_cli("ella-db", "compare", db_url=db_url)
    assert compare.returncode == 1
    assert (f"Not ready: the database lacks part of ELLA's head schema: index {index} of "
            "alleleassessment is missing") in compare.stdout
    assert f"ELLA's schema: the database lacks part of ELLA's head schema: index {index}" in \
        run_cli("ella-db", "status", db_url=db_url).stdout


def test_make_production_refuses_a_foreign_database(empty_db_url):
    with psycopg.connect(empty_db_url) as conn:
        conn.execute("CREATE TABLE patients (id integer)")
        conn.commit()
    line = _one_line_error(run_cli("ella-db", "make-production", db_url=empty_db_url))
    assert "not empty" in line and "alembic_version" in line


def test_adopt_via_cli_logs_itself_and_changes_no_data(demo_db_url):
    # `status` says what `compare` says: adopt first.
    result = run_cli("ella-db", "status", db_url=demo_db_url)
    assert result.returncode == 0 and "State: ella" in result.stdout
    assert "Note: the ELLA database has not been adopted (run `ella-db adopt`)" in result.stdout
    before = table_snapshot(demo_db_url)
    result = run_cli("ella-db", "adopt", "--reason", "migration day", db_url=demo_db_url)
    assert result.returncode == 0, result.stderr
    after = table_snapshot(demo_db_url)
    new_clilog = sorted(set(after["clilog"]) - set(before["clilog"]))
    assert len(new_clilog) == 1
    assert query(demo_db_url, "SELECT reason FROM clilog ORDER BY id DESC LIMIT 1") == [
        ("migration day",)]
    after["clilog"] = before["clilog"]
    assert after == before
    assert run_cli("ella-db", "compare", db_url=demo_db_url).returncode == 0


def test_drop_needs_confirmation(db_url):
    result = run_cli("ella-db", "drop", db_url=db_url, stdin="no\n")
    assert result.returncode == 1 and "Lacking confirmation" in result.stderr
    assert run_cli("ella-db", "compare", db_url=db_url).returncode == 0  # still there
    result = run_cli("ella-db", "drop", db_url=db_url, stdin="CONFIRM\n")
    assert result.returncode == 0 and "Database dropped!" in result.stdout
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
                            ).fetchone()[0] == 0


def test_drop_with_yes(db_url):
    assert run_cli("ella-db", "drop", "--yes", db_url=db_url).returncode == 0
    assert run_cli("ella-db", "make-production", db_url=db_url).returncode == 0


def test_refresh_via_cli(db_url):
    result = run_cli("ella-db", "refresh", db_url=db_url)
    assert result.returncode == 0, result.stderr
    assert "AnnotationShadowTranscript count: 0" in result.stdout


def test_sigterm_while_refresh_waits_for_a_lock_cancels_it_cleanly(db_url):
    """The waiting query is cancelled (as on Ctrl-C): one error line and exit 143, not
    psycopg's "error ignored in rollback ... another command is already in progress"."""
    import os
    import signal
    import subprocess
    import time

    from helpers import ROOT
    env = {k: v for k, v in os.environ.items() if k not in ("DB_URL", "ELLA_CONFIG")}
    env["DB_URL"] = db_url
    with psycopg.connect(db_url) as busy, psycopg.connect(db_url, autocommit=True) as watch:
        busy.execute("LOCK TABLE allele IN ACCESS SHARE MODE")  # refresh needs it exclusively
        process = subprocess.Popen([str(ROOT / "bin" / "ella-db"), "refresh"], env=env,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 30
            while not watch.execute(
                    "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND "
                    "wait_event_type = 'Lock'").fetchone():
                assert time.monotonic() < deadline, "refresh never waited for the lock"
                assert process.poll() is None, process.communicate()
                time.sleep(0.05)
            process.send_signal(signal.SIGTERM)
            stdout, stderr = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
        busy.rollback()
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert stderr.strip() == "error: terminated (SIGTERM)", stderr
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT output FROM clilog ORDER BY id DESC LIMIT 1").fetchone()[0] \
            .endswith("terminated (SIGTERM)")
