"""`bin/ella-demo` (what `make run` loads): everything lands, and re-running adds nothing."""

import psycopg

from ella.demo import DEMO_PASSWORD
from ella.passwords import verify_password
from helpers import run_cli, table_snapshot


def test_demo_loads_and_is_idempotent(db_url):
    result = run_cli("ella-demo", db_url=db_url)
    assert result.returncode == 0, result.stderr
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT name, version FROM genepanel ORDER BY 1, 2").fetchall() == [
            ("Ciliopati", "v05"), ("HBOC", "v01"), ("HBOC", "v1.0.0"), ("HBOCUTV", "v01"),
            ("Mendeliome", "v01")]
        assert conn.execute("SELECT name FROM analysis ORDER BY 1").fetchall() == [
            ("TestAnalysis-001",), ("brca_sample_2.HBOC_v01",)]
        assert conn.execute("SELECT count(*) FROM filterconfig WHERE active").fetchone() == (3,)
        users = conn.execute('SELECT username, password, password_expiry > now() FROM "user" '
                             "ORDER BY 1").fetchall()
        assert [u[0] for u in users] == ["testuser1", "testuser2", "testuser3", "testuser4"]
        assert all(verify_password(DEMO_PASSWORD, u[1]) and u[2] for u in users)
        # Every demo analysis' panel is reachable by at least one group.
        assert conn.execute(
            "SELECT count(*) FROM analysis a WHERE NOT EXISTS (SELECT 1 FROM usergroupgenepanel g "
            "WHERE g.genepanel_name = a.genepanel_name "
            "AND g.genepanel_version = a.genepanel_version)").fetchone() == (0,)
    before = table_snapshot(db_url)
    assert run_cli("ella-demo", db_url=db_url).returncode == 0
    after = table_snapshot(db_url)
    before.pop("clilog"), after.pop("clilog")
    assert after == before


def test_demo_refuses_a_database_that_is_not_ready(empty_db_url):
    result = run_cli("ella-demo", db_url=empty_db_url)
    assert result.returncode == 1 and "not ready" in result.stderr
