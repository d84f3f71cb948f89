"""config-cli-ops.md 3.10 CLI cases: refresh -f, reset_password then change, the clilog user."""
import getpass
import re

import psycopg

from api_client import Client
from helpers import run_cli

CHANGE = "/api/v1/users/actions/changepassword/"


def _q(url, sql, params=()):
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def test_refresh_f_rebuilds_dropped_shadow_tables(db_url):
    with psycopg.connect(db_url) as conn:
        conn.execute("DROP TABLE annotationshadowtranscript CASCADE")
        conn.execute("DROP TABLE annotationshadowfrequency CASCADE")
    result = run_cli("ella-db", "refresh", "-f", "--reason", "test", db_url=db_url)
    assert result.returncode == 0, result.stderr
    names = {r[0] for r in _q(db_url, "SELECT tablename FROM pg_tables WHERE schemaname = "
                                      "'public' AND tablename LIKE 'annotationshadow%%'")}
    assert names == {"annotationshadowtranscript", "annotationshadowfrequency"}
    status = run_cli("ella-db", "compare", db_url=db_url)
    assert status.returncode == 0, status.stdout + status.stderr


def test_reset_password_then_change_then_login(demo_api_app, demo_db_url):
    out = run_cli("ella-users", "reset_password", "testuser1", db_url=demo_db_url)
    assert out.returncode == 0, out.stderr
    password = re.search(r"with password (\S+)", out.stdout).group(1)
    client = Client(demo_api_app)
    expired = client.login("testuser1", password)
    assert expired.status == 401 and "expired" in expired.json["message"]
    changed = client.post(CHANGE, {"username": "testuser1", "password": password,
                                   "new_password": "Test-new-pass-7"})
    assert changed.status == 200, changed.body
    assert client.login("testuser1", "Test-new-pass-7").status == 200


def test_clilog_user_is_the_os_user(demo_db_url):
    out = run_cli("ella-users", "reset_password", "testuser2", db_url=demo_db_url)
    assert out.returncode == 0, out.stderr
    user, = _q(demo_db_url, 'SELECT "user" FROM clilog ORDER BY id DESC LIMIT 1')[0]
    assert user == getpass.getuser()


def test_deposit_exists_checks_paths_without_a_database(tmp_path):
    """config-cli-ops.md 3.4 `deposit exists <path>...`: OK when all exist, else a usage error
    (exit 2); no database needed (DB_URL unset) and nothing logged."""
    (tmp_path / "a.vcf").write_text("")
    ok = run_cli("ella-deposit", "exists", str(tmp_path / "a.vcf"), str(tmp_path))
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "OK\n", "")
    missing = run_cli("ella-deposit", "exists", str(tmp_path / "a.vcf"), str(tmp_path / "b"))
    assert missing.returncode == 2 and missing.stdout == ""
    assert f"exists: PATH '{tmp_path / 'b'}' does not exist" in missing.stderr


def test_reason_none_or_empty_is_stored_as_null(demo_db_url):
    """config-cli-ops.md 3.2: a reason of "None" or nothing is NULL, also from --reason."""
    for reason in ("None", "", " locked after audit "):
        result = run_cli("ella-users", "lock", "testuser2", "--reason", reason,
                         db_url=demo_db_url, stdin="answer from stdin\n")
        assert result.returncode == 0, result.stderr
        assert "Enter reason" not in result.stderr  # given, so not asked again
    rows = _q(demo_db_url, "SELECT command, reason FROM clilog WHERE groupcommand = 'lock' "
                           "ORDER BY id")
    assert [r[1] for r in rows] == [None, None, "locked after audit"]
    assert rows[0][0] == "users lock testuser2 --reason None"
