"""`ella-db` beside a working service and another runner: refresh against a newer database and
a deposit in progress, its post-commit ANALYZE, make-production behind another runner, and
ELLA's runbook command names (config-cli-ops.md 3.3, 3.8)."""

import os
import signal
import subprocess
import threading
import time

import psycopg

from helpers import ROOT, run_cli, wait_for_lock_wait

RUNNER_LOCK = 0x454C4C41  # ella.migrate's advisory lock of make-production/migrate/adopt


def _start(db_url, *args):
    env = {k: v for k, v in os.environ.items() if k not in ("DB_URL", "ELLA_CONFIG")}
    env["DB_URL"] = db_url
    return subprocess.Popen([str(ROOT / "bin" / "ella-db"), *args], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _trigger_function_body(db_url):
    with psycopg.connect(db_url) as conn:
        return conn.execute("SELECT prosrc FROM pg_proc WHERE proname = "
                            "'delete_annotationshadow'").fetchone()[0]


def test_refresh_refuses_a_database_newer_code_migrated_or_with_migrations_pending(db_url):
    """refresh re-installed this code's functions and triggers over those of the newer code
    that had migrated the database, and said it had refreshed."""
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO ella_sql_migration (filename, checksum, how) "
                     "VALUES ('9999_from_newer_code.sql', 'x', 'applied')")
        conn.execute("CREATE OR REPLACE FUNCTION delete_annotationshadow(al_id integer) "
                     "RETURNS void AS $$ BEGIN RAISE NOTICE 'newer'; END; $$ "
                     "LANGUAGE plpgsql")
    result = run_cli("ella-db", "refresh", db_url=db_url)
    assert result.returncode == 1
    assert result.stderr == "error: migration 9999_from_newer_code.sql was applied to this " \
        "database but is missing from sql/migrations/ (this code is older than the database?)\n"
    assert "newer" in _trigger_function_body(db_url)
    with psycopg.connect(db_url) as conn:  # older code's database: the baseline not applied
        conn.execute("DELETE FROM ella_sql_migration")
    result = run_cli("ella-db", "refresh", db_url=db_url)
    assert result.returncode == 1
    assert result.stderr.startswith("error: migrations are pending (0000_baseline_")
    assert result.stderr.endswith("run `ella-db migrate`, which refreshes too\n")
    assert "newer" in _trigger_function_body(db_url)


def test_refresh_and_a_deposit_between_its_alleles_and_annotations_do_not_deadlock(db_url):
    """A deposit writes a batch's alleles, then their annotations. refresh locked
    `annotation` and then needed `allele`: a deadlock, and one of the two was aborted."""
    with psycopg.connect(db_url) as deposit:
        config_id = deposit.execute("SELECT max(id) FROM annotationconfig").fetchone()[0]
        version = deposit.execute("SELECT max(version) FROM jsonschema WHERE name = "
                                  "'annotation'").fetchone()[0]
        allele_id = deposit.execute(
            "INSERT INTO allele (genome_reference, chromosome, start_position, "
            "open_end_position, change_from, change_to, change_type, vcf_pos, vcf_ref, "
            "vcf_alt, length, caller_type) VALUES ('GRCh37', '13', 32890600, 32890601, 'A', "
            "'G', 'SNP', 32890601, 'A', 'G', 1, 'snv') RETURNING id").fetchone()[0]
        refresh = _start(db_url, "refresh")
        try:
            wait_for_lock_wait(db_url, application_name="ella", timeout=30)
            deposit.execute(  # waited, or deadlocked, before
                "INSERT INTO annotation (allele_id, annotations, date_created, schema_version, "
                "annotation_config_id) VALUES (%s, %s, now(), %s, %s)",
                (allele_id, '{"transcripts": [], "frequencies": {}}', version, config_id))
            deposit.commit()
            stdout, stderr = refresh.communicate(timeout=60)
        finally:
            if refresh.poll() is None:
                refresh.kill()
    assert refresh.returncode == 0, stderr
    assert "Shadow tables have been refreshed." in stdout
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM annotationshadowfrequency WHERE allele_id "
                            "= %s", (allele_id,)).fetchone() == (1,)


def test_a_signal_during_the_analyze_after_the_commit_does_not_hide_the_refresh(db_url):
    """refresh commits, then analyzes the new tables: a SIGTERM there (or its lock wait
    without end) ended it as 'terminated', and the lines saying it was done never came.
    The VACUUM races the holder for the new table (see the next test): a few tries, one of
    which must catch the VACUUM waiting."""
    for _ in range(3):
        outcome = _signal_while_the_vacuum_waits(db_url)
        if outcome is not None:
            break
    else:
        raise AssertionError("the VACUUM never waited for the lock")
    stdout, stderr, returncode = outcome
    assert stdout.splitlines()[-2:] == [
        "Shadow tables have been refreshed.",
        # The command still ends as terminated: this says the refresh was not lost.
        "VACUUM (ANALYZE) interrupted: the refresh is committed and stays (autovacuum will "
        "analyze the new tables)"], stdout
    assert "AnnotationShadowTranscript count: 0" in stdout
    assert (returncode, stderr) == (143, "error: terminated (SIGTERM)\n")


def _signal_while_the_vacuum_waits(db_url):
    """The refresh's (stdout, stderr, exit status) after a SIGTERM while its VACUUM waited
    for a lock; None when the VACUUM got the new table first and never waited (the refresh
    then ran through)."""
    with psycopg.connect(db_url) as blocker, psycopg.connect(db_url) as holder:
        # refresh pauses at its trigger on `reference` (after the swap) while this is held.
        blocker.execute("LOCK TABLE reference IN ROW EXCLUSIVE MODE")
        refresh = _start(db_url, "refresh")
        try:
            wait_for_lock_wait(db_url, application_name="ella", timeout=30)
            # A lock on the new shadow table, queued first: the VACUUM waits behind it.
            locker = threading.Thread(target=lambda: holder.execute(
                "LOCK TABLE annotationshadowtranscript IN SHARE UPDATE EXCLUSIVE MODE"))
            locker.start()
            wait_for_lock_wait(db_url, count=2, timeout=30)
            blocker.rollback()
            locker.join(timeout=30)
            time.sleep(0.5)
            try:
                wait_for_lock_wait(db_url, application_name="ella", timeout=10)  # the VACUUM
            except AssertionError:
                refresh.communicate(timeout=60)
                return None
            refresh.send_signal(signal.SIGTERM)
            stdout, stderr = refresh.communicate(timeout=30)
        finally:
            if refresh.poll() is None:
                refresh.kill()
    return stdout, stderr, refresh.returncode


def test_the_analyze_after_the_commit_waits_for_its_lock_a_bounded_time(db_url):
    # The holder waits on the shadow table the refresh replaces; at the refresh's commit it
    # looks the name up again and locks the new table, racing the refresh's own VACUUM,
    # which on a loaded machine can come first. Nothing outside can get between the commit
    # and the VACUUM more surely: a few tries, one of which must see the bounded wait.
    outputs = []
    for _ in range(3):
        returncode, stdout, stderr = _refresh_while_the_shadow_table_is_locked(db_url)
        assert returncode == 0, stderr
        outputs.append(stdout)
        if "VACUUM (ANALYZE) annotationshadowtranscript skipped: the table is in use " \
                "(autovacuum will analyze it)" in stdout:
            return
    raise AssertionError(f"the VACUUM never waited for the lock: {outputs}")


def _refresh_while_the_shadow_table_is_locked(db_url):
    with psycopg.connect(db_url) as holder:
        refresh = None
        # Taken once the refresh has committed: its VACUUM then waits for this lock.
        with psycopg.connect(db_url) as blocker:
            blocker.execute("LOCK TABLE reference IN ROW EXCLUSIVE MODE")
            refresh = _start(db_url, "refresh")
            wait_for_lock_wait(db_url, application_name="ella", timeout=30)
            locker = threading.Thread(target=lambda: holder.execute(
                "LOCK TABLE annotationshadowtranscript IN SHARE UPDATE EXCLUSIVE MODE"))
            locker.start()
            wait_for_lock_wait(db_url, count=2, timeout=30)
        locker.join(timeout=30)
        try:
            stdout, stderr = refresh.communicate(timeout=60)  # ~10 s of lock wait
        finally:
            if refresh.poll() is None:
                refresh.kill()
    return refresh.returncode, stdout, stderr


def test_make_production_behind_another_runner_says_that_it_waits(db_url):
    with psycopg.connect(db_url, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (RUNNER_LOCK,))
        runner = _start(db_url, "migrate")
        try:
            wait_for_lock_wait(db_url, application_name="ella", timeout=30)
            other.execute("SELECT pg_advisory_unlock(%s)", (RUNNER_LOCK,))
            stdout, stderr = runner.communicate(timeout=60)
        finally:
            if runner.poll() is None:
                runner.kill()
    assert runner.returncode == 0, stderr
    assert stdout.splitlines()[:2] == [
        "Another make-production, migrate or adopt is running on this database: waiting for "
        "it to finish (Ctrl-C stops waiting; nothing is changed before then)",
        "Database is up to date; nothing to apply."], stdout


def test_ellas_runbook_commands(db_url):
    """config-cli-ops.md 3.8's upgrade runbook is `database upgrade head`, then `refresh`."""
    upgrade = run_cli("ella-db", "upgrade", "head", db_url=db_url)
    assert upgrade.returncode == 0 and "Database is up to date" in upgrade.stdout, upgrade.stderr
    history = run_cli("ella-db", "history", db_url=db_url)
    assert history.returncode == 0 and "Applied migrations:" in history.stdout
    other = run_cli("ella-db", "upgrade", "4c2844fef850", db_url=db_url)
    assert other.returncode == 1 and other.stderr.startswith(
        "error: upgrade goes to head only, not to '4c2844fef850'")
    down = run_cli("ella-db", "downgrade", "base", db_url=db_url)
    assert down.returncode == 1 and down.stderr == (
        "error: downgrade is not supported: migrations are not undone here; restore the "
        "backup taken before the upgrade (README, Production: Back up)\n")
    with psycopg.connect(db_url) as conn:
        logged = [r[0] for r in conn.execute("SELECT groupcommand FROM clilog ORDER BY id")]
    assert logged[-3:] == ["upgrade", "upgrade", "downgrade"], logged


def test_adopt_refuses_a_database_newer_code_migrated(adopted_demo_db_url):
    """It said "already managed by this service; nothing to adopt" and exited 0, where every
    other command refuses such a database."""
    with psycopg.connect(adopted_demo_db_url) as conn:
        conn.execute("INSERT INTO ella_sql_migration (filename, checksum, how) "
                     "VALUES ('9999_from_newer_code.sql', 'x', 'applied')")
    result = run_cli("ella-db", "adopt", db_url=adopted_demo_db_url)
    assert result.returncode == 1
    assert result.stderr == "error: migration 9999_from_newer_code.sql was applied to this " \
        "database but is missing from sql/migrations/ (this code is older than the database?)\n"
    with psycopg.connect(adopted_demo_db_url) as conn:
        conn.execute("DELETE FROM ella_sql_migration WHERE filename LIKE '9999%%'")
    again = run_cli("ella-db", "adopt", db_url=adopted_demo_db_url)
    assert again.returncode == 0, again.stderr
    assert "already managed by this service; nothing to adopt" in again.stdout


def test_status_and_compare_name_what_a_damaged_ella_database_lacks(demo_db_url):
    """Before adoption they advised `ella-db adopt`, which then refused the copy for the
    index it lacked: the operator went in a circle."""
    with psycopg.connect(demo_db_url) as conn:
        conn.execute("DROP INDEX ix_assessment_alleleid_unique")
    lacking = ("the database lacks part of ELLA's head schema: index "
               "ix_assessment_alleleid_unique of alleleassessment is missing")
    status = run_cli("ella-db", "status", db_url=demo_db_url)
    assert status.returncode == 0, status.stderr
    assert f"Note: {lacking}; `ella-db adopt` refuses it: restore it from ELLA's backup" \
        in status.stdout
    assert f"ELLA's schema: {lacking}." in status.stdout
    assert "run `ella-db adopt`" not in status.stdout
    compare = run_cli("ella-db", "compare", db_url=demo_db_url)
    assert compare.returncode == 1 and f"Not ready: {lacking}; `ella-db adopt` refuses" \
        in compare.stdout
    adopt = run_cli("ella-db", "adopt", db_url=demo_db_url)
    assert adopt.returncode == 1 and lacking in adopt.stderr
