"""`bin/ella-demo` (what `make run` loads): everything lands, and re-running adds nothing."""

import psycopg

from ella.demo import DEMO_PASSWORD
from ella.passwords import verify_password
from api_helpers import add_user
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


def test_demo_refuses_a_database_with_users_or_analyses_of_its_own(db_url):
    """The demo adds four users with a known password: never beside a lab's own users or
    analyses (a DB_URL left pointing at production), unless forced."""
    run_cli("ella-demo", db_url=db_url)
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE analysis SET name = 'Patient-0001' "
                     "WHERE name = 'TestAnalysis-001'")
    add_user(db_url, "labuser", "labgroup")
    before = table_snapshot(db_url)
    result = run_cli("ella-demo", db_url=db_url)
    assert result.returncode == 1
    assert "the database holds 1 user (labuser), 1 analysis (Patient-0001) and 1 user group " \
           "(labgroup) the demo did not add" in result.stderr and "--force" in result.stderr
    after = table_snapshot(db_url)
    before.pop("clilog"), after.pop("clilog")
    assert after == before
    forced = run_cli("ella-demo", "--force", db_url=db_url)
    assert forced.returncode == 0, forced.stderr
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM analysis WHERE name = 'TestAnalysis-001'"
                            ).fetchone() == (1,)


def test_the_check_make_run_asks_first_writes_nothing(db_url, empty_db_url):
    """`make run` with a DB_URL runs `ella-db make-production` (which migrates a database
    this service manages) and then the demo, which refused a lab's database only after it
    had been migrated. `ella-demo --check` refuses it first, and writes nothing at all."""
    from helpers import ROOT
    recipe = (ROOT / "Makefile").read_text().split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert recipe.index("bin/ella-demo --check") < recipe.index("bin/ella-db make-production")
    empty = run_cli("ella-demo", "--check", db_url=empty_db_url)
    assert empty.returncode == 0, empty.stderr
    with psycopg.connect(empty_db_url) as conn:
        assert conn.execute("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON "
                            "n.oid = c.relnamespace WHERE n.nspname = 'public'").fetchone() == (0,)
    add_user(db_url, "labuser", "labgroup")
    before = table_snapshot(db_url)
    refused = run_cli("ella-demo", "--check", db_url=db_url)
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "error: the database holds 1 user (labuser) and 1 user group (labgroup) the demo did "
        "not add: the demo adds users "
        "with a known password, so it is loaded only into a database of its own (is DB_URL "
        "the one you meant?). Give --force to load it anyway.")
    assert table_snapshot(db_url) == before  # not even a clilog row
    assert run_cli("ella-demo", "--check", "--force", db_url=db_url).returncode == 0
    assert table_snapshot(db_url) == before


def test_demo_refuses_a_lab_database_set_up_before_its_users(db_url, tmp_path):
    """A lab's database with its own gene panels and user groups but no users yet got the
    demo's four users with the known password."""
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO usergroup (name, config) VALUES ('Lab', '{}')")
        # A panel of the demo's name in another version is the lab's own (OUS's names).
        conn.execute("INSERT INTO genepanel (name, version, genome_reference, official, "
                     "date_created) VALUES ('LabPanel', 'v1', 'GRCh37', true, now()), "
                     "('HBOC', 'v02', 'GRCh37', true, now())")
    before = table_snapshot(db_url)
    for args in (["--check"], []):
        refused = run_cli("ella-demo", *args, db_url=db_url)
        assert refused.returncode == 1
        assert "the database holds 1 user group (Lab) and 2 gene panels (HBOC v02, " \
               "LabPanel v1) the demo did not add" in refused.stderr, refused.stderr
        after = table_snapshot(db_url)
        before.pop("clilog", None), after.pop("clilog", None)
        assert after == before


def test_rerunning_the_demo_keeps_what_the_user_changed(db_url):
    """'Re-running adds only what is missing': a demo group given another panel, a demo filter
    config in a new version and a demo user moved to another group stay as they were left."""
    assert run_cli("ella-demo", db_url=db_url).returncode == 0
    assert run_cli("ella-deposit", "append_genepanel_to_usergroup", "Mendeliome", "v01",
                   "testgroup01", db_url=db_url).returncode == 0
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE filterconfig SET active = false WHERE name = 'TrioDefault'")
    moved = run_cli("ella-users", "modify", "testuser1", "--last_name", "Renamed",
                    "--user_group", "testgroup02", db_url=db_url, stdin="y\n")
    assert moved.returncode == 0, moved.stderr
    before = table_snapshot(db_url)
    result = run_cli("ella-demo", db_url=db_url)
    assert result.returncode == 0, result.stderr
    assert "User group" not in result.stdout and "Filter config" not in result.stdout
    after = table_snapshot(db_url)
    before.pop("clilog"), after.pop("clilog")
    assert after == before
