"""ella.db.connect: the settings of our sessions and its errors."""

import traceback
from urllib.parse import quote

import pytest

from ella.db import DatabaseError, connect


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
