"""A database created with the C locale (LC_CTYPE 'C', e.g. by a minimal container without
LANG): PostgreSQL then folds the case of ASCII letters only. Name matching the service does
itself ignores case for every letter; `ella-db` warns about the rest (the reference search's
vector, ILIKE), and says which locale to use."""

import psycopg
import pytest
from psycopg import sql

from ella.db import connect
from ella.migrate import migrate

from api_helpers import logged_in_client
from helpers import run_cli


def _database(pg_server, prefix, encoding, locale):
    name = pg_server.fresh_name(prefix)
    pg_server.admin().execute(sql.SQL(
        "CREATE DATABASE {} TEMPLATE template0 ENCODING {} LC_COLLATE {} LC_CTYPE {}").format(
            sql.Identifier(name), sql.Literal(encoding), sql.Literal(locale),
            sql.Literal(locale)))
    try:
        yield pg_server.url(name)
    finally:
        pg_server.drop(name)


@pytest.fixture
def c_locale_url(pg_server):
    yield from _database(pg_server, "clocale", "UTF8", "C")


@pytest.fixture
def c_locale_db(c_locale_url, ella_config):
    with psycopg.connect(c_locale_url) as conn:
        migrate(conn, ella_config, echo=lambda *_: None)
        group = conn.execute("INSERT INTO usergroup (name, config) VALUES ('Ålesund', '{}') "
                             "RETURNING id").fetchone()[0]
        conn.execute('INSERT INTO "user" (username, first_name, last_name, group_id, password, '
                     "password_expiry, active, incorrect_logins) VALUES ('oyvind', 'Øyvind', "
                     "'Ærlig', %s, 'x', now(), true, 0)", (group,))
    return c_locale_url


def test_ella_db_warns_about_a_c_locale(c_locale_url):
    made = run_cli("ella-db", "make-production", "--reason", "", db_url=c_locale_url)
    assert made.returncode == 0, made.stderr
    assert "Warning: the database's LC_CTYPE is C" in made.stdout
    assert "C.UTF-8" in made.stdout
    status = run_cli("ella-db", "status", db_url=c_locale_url)
    assert "Warning: the database's LC_CTYPE is C" in status.stdout


def test_no_warning_with_a_utf8_locale(db_url):
    status = run_cli("ella-db", "status", db_url=db_url)
    assert status.returncode == 0 and "Warning" not in status.stdout, status.stdout


def test_users_list_finds_a_group_by_its_name_in_any_case(c_locale_db):
    for given in ("Ålesund", "ålesund", "ÅLESUND"):
        listed = run_cli("ella-users", "list", "--group", given, db_url=c_locale_db)
        assert listed.returncode == 0 and "oyvind" in listed.stdout, (given, listed.stdout)


def test_search_options_find_users_by_name_in_any_case(c_locale_db, ella_config):
    from ella.web.app import create_app
    app = create_app(ella_config, {"DB_URL": c_locale_db, "COOKIE_SECURE": False})
    try:
        client = logged_in_client(app, c_locale_db, "oyvind")
        for prefix in ("øy", "ØY", "ær", "Æ"):
            result = client.get("/api/v1/search/options/", query={"q": {"user": prefix}})
            assert result.status == 200, result.body
            assert [u["username"] for u in result.json["user"]] == ["oyvind"], prefix
        result = client.get("/api/v1/search/options/", query={"q": {"user": "y"}})
        assert result.json["user"] == []  # a prefix of the first or last name only
    finally:
        app._drop_connection()


@pytest.fixture
def sql_ascii_url(pg_server):
    """SQL_ASCII: what initdb picks in an environment without a UTF-8 locale."""
    yield from _database(pg_server, "sqlascii", "SQL_ASCII", "C.UTF-8")


@pytest.mark.parametrize("command", [("make-production",), ("migrate",),
                                     ("upgrade", "head")])
def test_a_new_schema_is_refused_in_a_database_not_in_utf8(sql_ascii_url, command):
    """It was made without a word; the API then answered 500 for any JSON value holding a
    non-ASCII letter (PostgreSQL cannot read `\\u00e5` into jsonb outside UTF8)."""
    made = run_cli("ella-db", *command, "--reason", "", db_url=sql_ascii_url)
    assert made.returncode == 1
    assert made.stderr.strip() == (
        "error: The database's encoding is SQL_ASCII, not UTF8: JSON holding a non-ASCII "
        "letter (æ, ø, å in a comment or evaluation) cannot be stored; create it with "
        "ENCODING 'UTF8' and a UTF-8 locale (e.g. LC_CTYPE 'C.UTF-8', TEMPLATE template0)")
    with psycopg.connect(sql_ascii_url) as conn:
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
                            ).fetchone()[0] == 0


def test_a_managed_database_not_in_utf8_is_warned_about(sql_ascii_url, ella_config):
    """One already in use (adopted, or made by an earlier version) keeps working as it did;
    `status` and a make-production re-run say what is wrong."""
    with connect(sql_ascii_url) as conn:
        migrate(conn, ella_config, echo=lambda *_: None)
    for command in ("status", "make-production"):
        result = run_cli("ella-db", command, "--reason", "", db_url=sql_ascii_url) \
            if command != "status" else run_cli("ella-db", command, db_url=sql_ascii_url)
        assert result.returncode == 0, result.stderr
        assert "Warning: the database's encoding is SQL_ASCII, not UTF8" in result.stdout


def test_analysis_search_finds_names_in_any_case(c_locale_db, ella_config):
    """ILIKE in a database of the C locale tells `Ø` from `ø`: "øyvind" did not find the
    analysis Øyvind-Trio."""
    from filter_helpers import PANEL, World
    from api_helpers import add_user
    from ella.web.app import create_app
    with psycopg.connect(c_locale_db) as conn:
        World(conn, ella_config).analysis("Øyvind-Trio")
    add_user(c_locale_db, "searcher", "searchers", panels=[PANEL])
    app = create_app(ella_config, {"DB_URL": c_locale_db, "COOKIE_SECURE": False})
    try:
        client = logged_in_client(app, c_locale_db, "searcher")
        for text in ("øyvind", "ØYVIND-t"):
            result = client.get("/api/v1/search/", query={
                "q": {"type": "analyses", "freetext": text}})
            assert result.status == 200, result.body
            assert [a["name"] for a in result.json["analyses"]] == ["Øyvind-Trio"], text
    finally:
        app._drop_connection()


@pytest.mark.parametrize("url_fixture", ["sql_ascii_url", "c_locale_url"])
def test_a_panel_named_in_another_unicode_form_is_found_whatever_the_encoding(
        request, url_fixture, ella_config):
    """The stored panel `Åse` written decomposed (a Mac's folder): a new `Åse` typed composed
    is refused also in a SQL_ASCII database, whose length() counts bytes (the names beyond
    ASCII were looked for by `octet_length(name) <> length(name)`, which never held)."""
    from deposit_helpers import TEST_ALL
    from ella.deposit.genepanel import (GenepanelError, deposit_genepanel, folder_files,
                                        read_panel_files)
    url = request.getfixturevalue(url_fixture)
    panel = read_panel_files(*folder_files(TEST_ALL))
    with connect(url) as conn:
        migrate(conn, ella_config, echo=lambda *_: None)
        deposit_genepanel(conn, "A\u030ase", "v1", panel)
        conn.commit()
        with pytest.raises(GenepanelError, match="existing panel 'A\u030ase' in another "
                                                 "Unicode form"):
            deposit_genepanel(conn, "\u00c5se", "v1", panel)
        assert conn.execute("SELECT DISTINCT name FROM genepanel"
                            ).fetchall() == [("A\u030ase",)]
