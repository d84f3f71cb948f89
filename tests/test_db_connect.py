"""ella.db.connect: the settings of our sessions and its errors."""

import traceback
from urllib.parse import quote

import pytest

from ella.db import DatabaseError, check_db_url, connect
from helpers import run_cli


def test_sessions_run_without_jit_and_keep_the_urls_own_options(db_url):
    with connect(db_url) as conn:
        assert conn.execute("SHOW jit").fetchone()[0] == "off"
    separator = "&" if "?" in db_url else "?"
    with_options = db_url + separator + "options=" + quote("-c statement_timeout=1234")
    if "=" in db_url and "://" not in db_url:   # a key=value conninfo string
        with_options = db_url + " options='-c statement_timeout=1234'"
    with connect(with_options) as conn:
        assert conn.execute("SHOW jit").fetchone()[0] == "off"
        assert conn.execute("SHOW statement_timeout").fetchone()[0] == "1234ms"


def test_lists_of_small_ids_go_as_integer_arrays(db_url):
    """smallint[] against an integer column cannot be hashed by PostgreSQL (a filter of n rows
    over m ids compares n x m times): small ids must go as integer[] like large ones."""
    with connect(db_url) as conn:
        def array_type(value):
            return conn.execute("SELECT pg_typeof(%s)::text", (value,)).fetchone()[0]

        assert array_type([1, 2, 3]) == "integer[]"
        assert array_type([None, 7]) == "integer[]"
        assert array_type([-5]) == "integer[]"
        assert array_type([1, 40000]) == "integer[]"
        assert array_type([1, 2**40]) == "bigint[]"
        assert array_type([True]) == "boolean[]"
        # Scalars keep psycopg's own choice; the values are unchanged.
        assert array_type(3) == "smallint"
        assert conn.execute("SELECT %s::int[]", ([1, -2, None],)).fetchone()[0] == [1, -2, None]
        assert conn.execute("SELECT 3 = ANY(%s)", ([1, 2, 3],)).fetchone()[0] is True


@pytest.mark.parametrize("url", ["host=x port='", "postgresql://[::1"])
def test_a_malformed_url_is_one_clear_error(url):
    with pytest.raises(DatabaseError, match="DB_URL is not a valid PostgreSQL URL"):
        connect(url)


@pytest.mark.parametrize("url, secret", [
    ("postgresql://postgres:Super%Secret@x/ella", "Super%Secret"),  # bad percent escape
    ("postgresql://postgres:p@ssword@127.0.0.1:1/ella", "ssword"),  # unescaped "@"
    ("postgresql://u:abc:def@127.0.0.1:1/ella", "def"),
    ("ella:S3cretPW@127.0.0.1/ella", "S3cretPW"),  # no scheme: libpq quotes it whole
    # Blanks before a URL (`DB_URL= postgresql://...` in an env file): libpq reads it as
    # key=value and quoted it whole.
    (" postgresql://ella:Sup3rSecret@db.invalid/ella", "Sup3rSecret"),
    ("\tpostgresql://ella:Sup3rSecret@db.invalid/ella", "Sup3rSecret"),
    # A mistyped scheme: no URL to libpq, which quoted it whole.
    ("postgresql//ella:S3cretPw@nohost.invalid/ella", "S3cretPw"),
    ("//ella:S3cretPw@nohost.invalid/ella", "S3cretPw"),
    # A key=value password with unquoted blanks: libpq quoted its second word.
    ("host=/nonexistent user=ella password=correct horse battery dbname=ella", "horse"),
    ("host=/nonexistent user=ella password=correct horse battery dbname=ella", "battery"),
])
def test_messages_never_show_the_password(url, secret):
    """libpq quotes a malformed URL in its message, password included (whole or a part)."""
    with pytest.raises(DatabaseError) as caught:
        connect(url)
    assert secret not in str(caught.value)
    assert "***" in str(caught.value) or "password" not in str(caught.value).lower()
    # Nor does a traceback of it, should one ever be logged (libpq's error is not chained).
    shown = traceback.TracebackException.from_exception(caught.value)
    assert shown.__cause__ is None and shown.__suppress_context__
    assert secret not in "".join(shown.format_exception_only())


def test_blanks_around_a_url_are_named():
    with pytest.raises(DatabaseError, match=r"connection string \(it has blanks before or "
                                            r"after it\): .*\*\*\*"):
        connect(" postgresql://ella:Sup3rSecret@db.invalid/ella")


# An env file saved in Latin-1: the "å" of a password is byte 0xE5, which Python holds as a
# lone surrogate.
LATIN1_URL = "postgresql://ella:S\udce5ker1t@127.0.0.1:1/ella"


def test_a_db_url_that_is_no_utf8_is_one_clear_error():
    """Every program ended in a UnicodeEncodeError traceback (and the audited commands in
    a second one when the audit row was written)."""
    for check in (connect, check_db_url):
        with pytest.raises(DatabaseError, match="DB_URL is not UTF-8 text"):
            check(LATIN1_URL)
    for command in (("ella-broadcast", "new", "hello"), ("ella-db", "status"),
                    ("ella-users", "list")):
        result = run_cli(*command, env={"DB_URL": LATIN1_URL})
        assert result.returncode == 1, result
        assert result.stderr.strip().splitlines() == [
            "error: DB_URL is not UTF-8 text (saved in another encoding?): write it again in "
            "UTF-8, or percent-encode the characters that are not ASCII (the bytes of their "
            "UTF-8: å is %C3%A5)"], result.stderr


@pytest.mark.parametrize("url", ["postgresql://ella:p%E5ssword@127.0.0.1:1/ella",
                                 "postgresql://127.0.0.1:1/ella?application_name=%FF"])
def test_a_db_url_percent_encoded_in_latin1_is_one_clear_error(url):
    """%E5 (an "å" percent-encoded in Latin-1, as the advice above could be read) is no
    UTF-8: every program ended in a UnicodeDecodeError traceback."""
    message = ("DB_URL has a percent-encoded character that is no UTF-8 (%E5, Latin-1's å?): "
               "percent-encode the bytes of each character's UTF-8 (å is %C3%A5)")
    for check in (connect, check_db_url):
        with pytest.raises(DatabaseError) as raised:
            check(url)
        assert str(raised.value) == message
    for command in (("ella-db", "status"), ("ella-users", "list")):
        result = run_cli(*command, env={"DB_URL": url})
        assert result.returncode == 1, result
        assert result.stderr.strip().splitlines() == [f"error: {message}"], result.stderr


@pytest.mark.parametrize("url, shown", [
    ("postgresql://ella@ella-db.invalid/ella", "ella-db.invalid"),
    ("host=/nonexistent password= dbname=ella bogus", '"bogus"'),
    # An `@` in the query: the port was taken for the password.
    ("postgresql://localhost:5432/ella?host=/nonexistent&application_name=ella@lab",
     "/nonexistent/.s.PGSQL.5432"),
])
def test_a_db_url_without_a_password_masks_nothing(url, shown):
    """A URL with a user and no password was read without its scheme ("//ella" taken for
    the password): the user name was masked wherever it stood, also in the host name and
    in `role "ella" does not exist`, what the operator had to see. An empty key=value
    password took the keys after it."""
    with pytest.raises(DatabaseError) as caught:
        connect(url)
    assert shown in str(caught.value) and "***" not in str(caught.value), str(caught.value)


def test_a_role_that_does_not_exist_is_named(db_url):
    from psycopg.conninfo import conninfo_to_dict
    parts = conninfo_to_dict(db_url)  # as a URL with a scheme: the form that was misread
    url = (f"postgresql://reviewer@/{parts['dbname']}?host={quote(parts.get('host', ''))}"
           f"&port={parts.get('port', 5432)}")
    with pytest.raises(DatabaseError, match='role "reviewer" does not exist'):
        connect(url)
