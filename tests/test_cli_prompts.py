"""The CLI's confirmation prompts hold no transaction while a person reads them.

An `ella-delete` left waiting for its 'y' kept its reads' transaction open: its locks made a
parallel `ella-db refresh` fail as "the database is in use", and vacuum could clean nothing
in the whole database until it was answered. Each command checks again, under lock, what it
showed (tests/test_delete.py, tests/test_deposit_filterconfigs.py)."""

import os
import subprocess

import psycopg
import pytest

from helpers import ROOT

PROMPTS = {
    # command, answer, exit status, a query and its answer after the command
    "delete analysis": (["ella-delete", "analysis", "2", "--reason", "r"], "y", 0,
                        "SELECT count(*) FROM analysis WHERE id = 2", 0),
    "modify user": (["ella-users", "modify", "testuser1", "--first_name", "Renamed"], "y", 0,
                    "SELECT count(*) FROM \"user\" WHERE first_name = 'Renamed'", 1),
    "deactivate filter config": (["ella-filterconfigs", "deactivate", "1", "--reason", "r"],
                                 "y", 0,
                                 "SELECT count(*) FROM filterconfig WHERE id = 1 AND active",
                                 0),
    "delete variant rounds": (["ella-delete", "alleleinterpretation", "3", "--reason", "r"],
                              "y", 0, "SELECT count(*) FROM alleleinterpretation", 0),
    "drop the database, declined": (["ella-db", "drop"], "no", 1,
                                    "SELECT count(*) FROM analysis", 6),
}


def _open_transactions(db_url):
    with psycopg.connect(db_url, autocommit=True) as conn:
        return conn.execute(
            "SELECT application_name, state FROM pg_stat_activity WHERE datname = "
            "current_database() AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'").fetchall()


@pytest.mark.parametrize("case", sorted(PROMPTS))
def test_no_transaction_is_open_while_the_prompt_waits(demo_db_url, case):
    command, answer, status, check, expected = PROMPTS[case]
    with psycopg.connect(demo_db_url) as conn:  # a round of allele 3 to delete
        conn.execute(
            "INSERT INTO alleleinterpretation (genepanel_name, genepanel_version, user_state, "
            "state, status, date_last_update, date_created, allele_id, user_id, "
            "workflow_status) VALUES ('HBOCUTV', 'v01', '{}', '{}', 'Ongoing', now(), now(), "
            "3, 1, 'Interpretation')")
    env = {k: v for k, v in os.environ.items() if k not in ("DB_URL", "ELLA_CONFIG")}
    process = subprocess.Popen([str(ROOT / "bin" / command[0]), *command[1:]],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               env={**env, "DB_URL": demo_db_url})
    try:
        while "confirm." not in (line := process.stderr.readline()):
            assert line, "the command ended before asking"
        waiting = _open_transactions(demo_db_url)
        out, err = process.communicate(answer + "\n", timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert waiting == []
    assert process.returncode == status, (out, err)
    with psycopg.connect(demo_db_url) as conn:
        assert conn.execute(check).fetchone()[0] == expected
