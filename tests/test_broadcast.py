"""`bin/ella-broadcast` against a real PostgreSQL."""

import psycopg

from helpers import run_cli


def test_new_list_deactivate(db_url):
    assert run_cli("ella-broadcast", "list", db_url=db_url).stdout.strip() == "No messages"
    first = run_cli("ella-broadcast", "new", "Maintenance", "tonight", "at", "18:00",
                    db_url=db_url)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "Message with id 1 added"
    second = run_cli("ella-broadcast", "new", "Second message", db_url=db_url)
    assert second.stdout.strip() == "Message with id 2 added"
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT id, message, active FROM broadcast ORDER BY id").fetchall() \
            == [(1, "Maintenance tonight at 18:00", True), (2, "Second message", True)]

    listed = run_cli("ella-broadcast", "list", db_url=db_url)
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["id", "date", "active", "message"]
    assert len(lines) == 4
    assert lines[2].split()[0] == "1" and lines[2].endswith("Maintenance tonight at 18:00")
    assert lines[2].split()[2] == "true"

    done = run_cli("ella-broadcast", "deactivate", "1", db_url=db_url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Message with id 1 set as inactive"
    active = run_cli("ella-broadcast", "list", db_url=db_url).stdout.splitlines()
    assert len(active) == 3 and active[2].startswith("2 ")
    every = run_cli("ella-broadcast", "list", "--all", db_url=db_url).stdout.splitlines()
    assert len(every) == 4 and every[2].split()[2] == "false"

    missing = run_cli("ella-broadcast", "deactivate", "99", db_url=db_url)
    assert missing.returncode == 1
    assert missing.stderr.strip() == "error: Found no message with id 99"

    with psycopg.connect(db_url) as conn:
        log = conn.execute('SELECT "group", groupcommand, command, output FROM clilog '
                           "ORDER BY id").fetchall()
    assert log == [
        ("broadcast", "new", "broadcast new Maintenance tonight at 18:00",
         "Message with id 1 added"),
        ("broadcast", "new", "broadcast new Second message", "Message with id 2 added"),
        ("broadcast", "deactivate", "broadcast deactivate 1",
         "Message with id 1 set as inactive"),
        ("broadcast", "deactivate", "broadcast deactivate 99", "Found no message with id 99"),
    ]


def test_tail_shows_last_ten_oldest_first(db_url):
    with psycopg.connect(db_url) as conn:
        for i in range(12):
            conn.execute("INSERT INTO broadcast (date_created, message, active) VALUES "
                         "(now() + make_interval(mins => %s), %s, %s)",
                         (i, f"message {i}", i % 2 == 0))
    lines = run_cli("ella-broadcast", "list", "--tail", db_url=db_url).stdout.splitlines()[2:]
    assert [line.split("  ")[-1].strip() for line in lines] == [
        f"message {i}" for i in range(2, 12)]
    active_only = run_cli("ella-broadcast", "list", db_url=db_url).stdout.splitlines()[2:]
    assert len(active_only) == 6


def test_empty_message_and_usage(db_url):
    empty = run_cli("ella-broadcast", "new", " ", db_url=db_url)
    assert empty.returncode == 1
    assert empty.stderr.strip() == "error: Message empty"
    two_lines = run_cli("ella-broadcast", "new", "Downtime\nat 18:00", db_url=db_url)
    assert (two_lines.returncode, two_lines.stderr) == (
        1, "error: the message holds a control character ('\\n'): write it on one line\n")
    assert run_cli("ella-broadcast", "new", db_url=db_url).returncode == 2
    assert run_cli("ella-broadcast", "deactivate", "x", db_url=db_url).returncode == 2
    for args in ([], ["new"], ["list"], ["deactivate"]):
        result = run_cli("ella-broadcast", *args, "--help")
        assert result.returncode == 0 and "usage: ella-broadcast" in result.stdout
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM broadcast").fetchone()[0] == 0
