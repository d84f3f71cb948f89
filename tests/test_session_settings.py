"""The service's sessions are the same whatever the site sets around them: time zone UTC,
ISO date styles and UTF-8, against libpq's environment (PGTZ, PGDATESTYLE, PGCLIENTENCODING,
which a site sets for psql) and a database's own defaults (ALTER DATABASE ... SET); the
operator's PGOPTIONS are kept."""

import json
import shutil
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from ella.db import connect
from ella.deposit.analysis import deposit_analysis
from ella.deposit.analysis_config import resolve_analysis_config
from ella.filters import FilterContext, classification
from ella.web.app import create_app

from api_client import Client
from api_helpers import TEST_PASSWORD, add_user, logged_in_client
from deposit_helpers import BRCA_VCF, TEST_ANALYSIS_001, add_test_panels, deposit
from helpers import run_cli

OSLO = ZoneInfo("Europe/Oslo")


def _alter_database(url, setting, value):
    with psycopg.connect(url, autocommit=True) as conn:
        name = conn.execute("SELECT current_database()").fetchone()[0]
        conn.execute(sql.SQL("ALTER DATABASE {} SET {} = {}").format(
            sql.Identifier(name), sql.Identifier(setting), sql.Literal(value)))


@pytest.fixture
def app(db_url, ella_config):
    """An app created after the test changed the environment or the database."""
    apps = []

    def make():
        apps.append(create_app(ella_config, {"DB_URL": db_url, "COOKIE_SECURE": False}))
        return apps[-1]
    yield make
    for made in apps:
        made._drop_connection()


def test_sessions_are_read_committed_whatever_the_site_sets(db_url, monkeypatch):
    """The checks that count or look up rows after a lock (import jobs per user, a panel's
    name) need each statement's own snapshot: a site's repeatable read or serializable
    default took it before the wait."""
    _alter_database(db_url, "default_transaction_isolation", "repeatable read")
    for options in ("", "-c default_transaction_isolation=serializable"):
        monkeypatch.setenv("PGOPTIONS", options)
        for autocommit in (False, True):
            with connect(db_url, autocommit=autocommit) as conn:
                assert conn.execute("SHOW transaction_isolation").fetchone()[0] == \
                    "read committed", (options, autocommit)
    with psycopg.connect(db_url) as conn:  # the site's setting is there, for other clients
        assert conn.execute("SHOW transaction_isolation").fetchone()[0] == "serializable"


def test_sessions_keep_their_settings_against_the_environment(db_url, monkeypatch):
    monkeypatch.setenv("PGTZ", "Europe/Oslo")
    monkeypatch.setenv("PGDATESTYLE", "German, DMY")
    monkeypatch.setenv("PGCLIENTENCODING", "LATIN1")
    monkeypatch.setenv("PGOPTIONS", "-c statement_timeout=123456")
    for autocommit in (False, True):
        with connect(db_url, autocommit=autocommit) as conn:
            settings = [conn.execute(f"SHOW {name}").fetchone()[0] for name in (
                "TimeZone", "DateStyle", "client_encoding", "statement_timeout", "jit")]
            assert settings == ["UTC", "ISO, MDY", "UTF8", "123456ms", "off"], autocommit
            conn.rollback()  # the settings are the session's, not a transaction's
            assert conn.execute("SHOW TimeZone").fetchone()[0] == "UTC"


def test_the_options_of_a_service_file_are_kept(db_url, tmp_path, monkeypatch):
    """A DB_URL of `service=ella` (pg_service.conf) whose entry sets `options`: they apply
    (our own `options` for jit used to replace them)."""
    entry = ["[ella]"] + [f"{key}={value}" for key, value in conninfo_to_dict(db_url).items()]
    service_file = tmp_path / "pg_service.conf"
    service_file.write_text("\n".join(entry + ["options=-c statement_timeout=4321"]) + "\n")
    monkeypatch.setenv("PGSERVICEFILE", str(service_file))
    monkeypatch.delenv("PGOPTIONS", raising=False)
    with connect("service=ella") as conn:
        assert [conn.execute(f"SHOW {name}").fetchone()[0] for name in (
            "statement_timeout", "jit", "TimeZone")] == ["4321ms", "off", "UTC"]


@pytest.mark.parametrize("where", ["database", "environment"])
def test_api_times_are_utc_iso_with_a_local_zone_and_date_style(db_url, app, monkeypatch,
                                                                 where):
    """A Norwegian site's defaults (local zone, dates as 28.11.2026) made the API's times
    +01:00 (PGTZ) and every timestamp read a 500 (psycopg reads ISO styles only)."""
    if where == "database":
        _alter_database(db_url, "timezone", "Europe/Oslo")
        _alter_database(db_url, "datestyle", "German, DMY")
    else:
        monkeypatch.setenv("PGTZ", "Europe/Oslo")
        monkeypatch.setenv("PGDATESTYLE", "German, DMY")
    add_user(db_url, "kari", "oslo")
    client = logged_in_client(app(), db_url, "kari")
    result = client.get("/api/v1/users/currentuser/")
    assert result.status == 200, result.body
    assert result.json["password_expiry"].endswith("+00:00"), result.json
    listed = run_cli("ella-users", "list", db_url=db_url,
                     env={"PGTZ": "Europe/Oslo", "PGDATESTYLE": "German, DMY"})
    assert listed.returncode == 0, listed.stderr[-500:]
    assert "+00:00" in listed.stdout and "+01:00" not in listed.stdout


@pytest.mark.parametrize("where", ["database", "environment"])
def test_names_outside_latin1_with_a_latin1_client_encoding(db_url, app, monkeypatch, where):
    """A site left with LATIN1 as client encoding: a Sámi name failed to load (500)."""
    with psycopg.connect(db_url) as conn:
        group = conn.execute("INSERT INTO usergroup (name, config) VALUES ('Kárášjohka', '{}') "
                             "RETURNING id").fetchone()[0]
        conn.execute('INSERT INTO "user" (username, first_name, last_name, group_id, password, '
                     "password_expiry, active, incorrect_logins) VALUES ('aslat', 'Áslat', "
                     "'Čuoŋo', %s, 'x', now() + interval '60 days', true, 0)", (group,))
    if where == "database":
        _alter_database(db_url, "client_encoding", "LATIN1")
    else:
        monkeypatch.setenv("PGCLIENTENCODING", "LATIN1")
    client = logged_in_client(app(), db_url, "aslat")
    result = client.get("/api/v1/users/currentuser/")
    assert result.status == 200, result.body
    assert result.json["last_name"] == "Čuoŋo"
    assert Client(client.app).login("aslat", TEST_PASSWORD + "x").status == 401


def _days_across_a_dst_change(now):
    """A number of days (30..366) between which and now Oslo's UTC offset changes."""
    for days in range(30, 367):
        if (now - timedelta(days=days)).astimezone(OSLO).utcoffset() != \
                now.astimezone(OSLO).utcoffset():
            return days
    raise AssertionError("no daylight saving change within a year")


def test_outdated_after_days_counts_whole_days_with_a_local_zone(db_url, ella_config,
                                                                 monkeypatch):
    """`outdated_after_days` N is N times 24 hours, as ELLA and `seconds_since_update`
    count; in a local zone it was N calendar days, an hour off across a DST change."""
    add_test_panels(db_url)
    deposit(db_url, ella_config, TEST_ANALYSIS_001)
    now = datetime.now(timezone.utc)
    days = _days_across_a_dst_change(now)
    shift = now.astimezone(OSLO).utcoffset() - \
        (now - timedelta(days=days)).astimezone(OSLO).utcoffset()
    exact_cutoff = now - timedelta(days=days)
    # Between the exact cut-off and the local calendar's, where the two answers differ.
    created = exact_cutoff + (timedelta(minutes=30) if shift > timedelta(0)
                              else -timedelta(minutes=30))
    add_user(db_url, "assessor", "assessors")
    with psycopg.connect(db_url) as conn:
        allele_id, annotation_id = conn.execute(
            "SELECT allele_id, id FROM annotation ORDER BY id LIMIT 1").fetchone()
        user = conn.execute("SELECT id FROM \"user\" WHERE username = 'assessor'").fetchone()[0]
        conn.execute("INSERT INTO alleleassessment (classification, evaluation, user_id, "
                     "date_created, allele_id, genepanel_name, genepanel_version, "
                     "annotation_id) VALUES ('3', '{}', %s, %s, %s, 'HBOC', 'v1.0.0', %s)",
                     (user, created, allele_id, annotation_id))
    config = dict(ella_config)
    config["classification"] = {**config["classification"], "options": [
        {"name": "Class 3", "value": "3", "outdated_after_days": days}]}
    monkeypatch.setenv("PGTZ", "Europe/Oslo")
    with connect(db_url) as conn:
        found = classification.run(FilterContext(conn, config, ("HBOC", "v1.0.0")),
                                   [allele_id], {"classes": ["3"], "exclude_outdated": True})
    assert (allele_id in found) == (created > exact_cutoff), (created, days, shift)


def test_a_date_requested_is_that_day_in_utc_with_a_local_zone(db_url, ella_config, tmp_path,
                                                               monkeypatch):
    add_test_panels(db_url)
    folder = tmp_path / "a"
    folder.mkdir()
    shutil.copy(BRCA_VCF, folder / "x.vcf")
    (folder / "a.analysis").write_text(json.dumps({
        "name": "a", "genepanel_name": "HBOC", "genepanel_version": "v01", "priority": 1,
        "date_requested": "2026-03-29", "data": [{"vcf": "x.vcf"}]}))
    monkeypatch.setenv("PGTZ", "Europe/Oslo")
    with connect(db_url) as conn, conn.transaction():
        deposit_analysis(conn, ella_config, resolve_analysis_config(folder))
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT date_requested FROM analysis").fetchone()[0] == \
            datetime(2026, 3, 29, tzinfo=timezone.utc)
