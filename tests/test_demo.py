"""`bin/ella-demo` (what `make run` loads): everything lands, and re-running adds nothing."""

import os
import shutil
import subprocess

import psycopg
import pytest

from ella.demo import DEMO_PASSWORD
from ella.deposit.genepanel import deposit_genepanel, folder_files, read_panel_files
from ella.passwords import verify_password
from api_helpers import add_user
from helpers import ROOT, run_cli, table_snapshot, wait_for_lock_wait


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


def _project_copy(tmp_path):
    """The project's runnable parts copied (its own demo/ and genepanels/ella-demo, to
    damage), its .venv linked."""
    copy = tmp_path / "project"
    copy.mkdir()
    for name in ("ella", "bin", "demo", "genepanels", "sql", "ops", "scripts"):
        shutil.copytree(ROOT / name, copy / name, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    (copy / ".venv").symlink_to(ROOT / ".venv")
    return copy


def _demo_of(copy, *args, db_url):
    env = {k: v for k, v in os.environ.items() if k not in ("DB_URL", "ELLA_CONFIG")}
    return subprocess.run([str(copy / "bin" / "ella-demo"), *args], capture_output=True,
                          text=True, env=env | {"DB_URL": db_url}, stdin=subprocess.DEVNULL,
                          timeout=300, cwd=copy)


@pytest.mark.parametrize("damage", ["stray panel folder", "users.json missing",
                                    "analysis missing", "panel folder missing"])
def test_a_damaged_demo_file_is_one_line_also_in_the_check(db_url, tmp_path, damage):
    """`ella-demo --check`, what `make run` runs first, ended in a traceback where the load
    said one line; a missing genepanels/ella-demo was a traceback in both."""
    copy = _project_copy(tmp_path)
    panels = copy / "genepanels" / "ella-demo"
    if damage == "stray panel folder":
        (panels / ".ipynb_checkpoints").mkdir()
    elif damage == "users.json missing":
        (copy / "demo" / "users.json").unlink()
    elif damage == "analysis missing":
        (copy / "demo" / "analyses" / "brca_sample_2.HBOC_v01.vcf").unlink()
    else:
        shutil.rmtree(panels)
    before = table_snapshot(db_url)
    for args in ((), ("--check",)):
        result = _demo_of(copy, *args, db_url=db_url)
        assert result.returncode == 1, result
        assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("error: "), \
            result.stderr
    if damage == "panel folder missing":
        assert f"{panels} cannot be read: No such file or directory" in result.stderr
    after = table_snapshot(db_url)
    before.pop("clilog"), after.pop("clilog")
    assert after == before


def test_a_lab_panel_named_like_a_demo_panel_is_no_demo_data(db_url):
    """The demo's panel names are a real lab's (OUS's): a lab's own HBOC v01 was taken for
    the demo's, and the demo loaded its users with the known password beside it."""
    lab_panel = ROOT / "genepanels" / "ella-demo" / "Ciliopati_v05"  # other transcripts
    deposited = run_cli("ella-deposit", "genepanel", "--folder", str(lab_panel),
                        "--genepanel_name", "HBOC", "--genepanel_version", "v01",
                        db_url=db_url)
    assert deposited.returncode == 0, deposited.stderr
    before = table_snapshot(db_url)
    for args in (("--check",), ()):
        result = run_cli("ella-demo", *args, db_url=db_url)
        assert result.returncode == 1, result
        assert ("the database holds 1 gene panel (HBOC v01 (not the demo's content)) the "
                "demo did not add") in result.stderr
    after = table_snapshot(db_url)
    before.pop("clilog"), after.pop("clilog")
    assert after == before


def test_a_panel_another_run_deposited_is_not_claimed(db_url):
    """Two `ella-demo` at once: the second said (and audited) "Gene panel ... deposited"
    for the panel the first had deposited while it waited."""
    folder = ROOT / "genepanels" / "ella-demo" / "Ciliopati_v05"
    env = {k: v for k, v in os.environ.items() if k not in ("DB_URL", "ELLA_CONFIG")}
    with psycopg.connect(db_url) as first:
        first.execute("SELECT 1")  # a transaction open: the deposit stays uncommitted
        deposit_genepanel(first, "Ciliopati", "v05", read_panel_files(*folder_files(folder)))
        second = subprocess.Popen([str(ROOT / "bin" / "ella-demo")], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=env | {"DB_URL": db_url})
        try:
            wait_for_lock_wait(db_url)
        finally:
            first.commit()
        out, err = second.communicate(timeout=300)
    assert second.returncode == 0, err
    assert "Gene panel HBOC v01 deposited" in out
    assert "Gene panel Ciliopati v05 deposited" not in out, out
