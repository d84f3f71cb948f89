"""Production's database role, and the backup the README prescribes.

Production runs as a role that owns its database and is not a superuser (README,
Production 1); the rest of the suite runs as the test cluster's superuser, so these tests
make sure nothing the service does needs more. Then the backup: a `pg_dump -Fc` of a working
database restored with `pg_restore --no-owner` into an empty database of such a role is the
same database, which `ella-db compare` accepts and which takes the next import (sequences,
functions, triggers and shadow tables included)."""

import os
import subprocess

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from ella.web.app import create_app

from api_helpers import add_user, logged_in_client
from deposit_helpers import BRCA_VCF, TEST_ANALYSIS_001, add_test_panels, deposit
from helpers import pg_client, run_cli, table_snapshot


@pytest.fixture
def owned_db_url(pg_server):
    """An empty database owned by a role without superuser, CREATEDB or CREATEROLE, and that
    role's URL."""
    admin = pg_server.admin()
    if not admin.execute("SELECT rolsuper OR rolcreaterole FROM pg_roles "
                         "WHERE rolname = current_user").fetchone()[0]:
        pytest.skip("ELLA_TEST_DB_URL's role may not create roles")
    role, name = f"ella_owner_{os.getpid()}", pg_server.fresh_name("owned")
    admin.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE").format(
        sql.Identifier(role)))
    try:
        admin.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
            sql.Identifier(name), sql.Identifier(role)))
        yield make_conninfo(pg_server.url(name), user=role)
    finally:
        pg_server.drop(name)
        admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def _counts(url):
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT (SELECT count(*) FROM analysis), (SELECT count(*) FROM annotation), "
            "(SELECT count(*) FROM annotationshadowtranscript), "
            "(SELECT max(id) FROM analysis)").fetchone()


def test_the_service_runs_as_a_database_owner_without_superuser(owned_db_url, ella_config):
    for command in ("make-production", "refresh", "compare"):
        result = run_cli("ella-db", command, db_url=owned_db_url)
        assert result.returncode == 0, (command, result.stdout, result.stderr)
    add_test_panels(owned_db_url)
    deposit(owned_db_url, ella_config, TEST_ANALYSIS_001)
    assert _counts(owned_db_url)[2] > 0  # shadow rows written
    add_user(owned_db_url, "owner_test_user", "owner_test_group", [("HBOC", "v1.0.0")])
    app = create_app(ella_config, {"DB_URL": owned_db_url, "COOKIE_SECURE": False})
    try:
        client = logged_in_client(app, owned_db_url, "owner_test_user")
        response = client.get("/api/v1/workflows/analyses/1/interpretations/")
        assert response.status == 200, response.body
    finally:
        app._drop_connection()


def test_a_dump_restores_into_an_empty_database_that_works(db_url, owned_db_url, ella_config,
                                                           tmp_path):
    add_test_panels(db_url)
    deposit(db_url, ella_config, TEST_ANALYSIS_001)
    dump = tmp_path / "ella.dump"
    subprocess.run([pg_client("pg_dump"), "-Fc", "-f", str(dump), "-d", db_url], check=True,
                   capture_output=True)
    restored = subprocess.run([pg_client("pg_restore"), "--no-owner", "--exit-on-error", "-d",
                               owned_db_url, str(dump)], capture_output=True, text=True)
    assert restored.returncode == 0, restored.stderr

    assert table_snapshot(owned_db_url, skip=()) == table_snapshot(db_url, skip=())
    compare = run_cli("ella-db", "compare", db_url=owned_db_url)
    assert compare.returncode == 0 and "Migration status OK!" in compare.stdout, compare.stdout

    analyses, annotations, shadow_rows, last_id = _counts(owned_db_url)
    deposit(owned_db_url, ella_config, BRCA_VCF)
    after = _counts(owned_db_url)
    assert after[0] == analyses + 1 and after[3] > last_id  # the sequences came along
    # The new annotation got shadow rows: the triggers and the bulk path's tables work.
    assert after[1] > annotations and after[2] > shadow_rows
