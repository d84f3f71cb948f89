"""What the API benchmarks share: a throwaway embedded PostgreSQL with the demo data, and
calling the WSGI app in-process."""

import contextlib
import io
import json
import shutil
import socket
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from ella.config import load_config  # noqa: E402
from ella.demo import DEMO_PASSWORD, load_demo  # noqa: E402
from ella.devdb import Cluster  # noqa: E402
from ella.migrate import migrate  # noqa: E402
from ella.web.app import create_app  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def demo_database(prefix):
    """(db_url, config, workdir) of a new database with the schema and the demo data, in a
    cluster under a temp dir that is removed afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    cluster = Cluster(workdir / "pg", port=free_port())
    try:
        cluster.start()
        cluster.create_database("bench")
        db_url = cluster.url("bench")
        config = load_config(environ={})
        with psycopg.connect(db_url) as conn:
            migrate(conn, config, echo=lambda *_: None)
            load_demo(conn, config, echo=lambda *_: None)
        yield db_url, config, workdir
    finally:
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def call(app, method, path, cookie=None, body=None):
    """(status, body bytes, headers) of one request to the WSGI app."""
    path, _, query = path.partition("?")
    data = json.dumps(body).encode() if body is not None else b""
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
               "SERVER_NAME": "bench", "SERVER_PORT": "80", "REMOTE_ADDR": "127.0.0.1",
               "wsgi.input": io.BytesIO(data), "wsgi.url_scheme": "http",
               "CONTENT_LENGTH": str(len(data)), "CONTENT_TYPE": "application/json"}
    if cookie:
        environ["HTTP_COOKIE"] = cookie
    captured = {}

    def start_response(status, headers, exc_info=None):
        captured["status"], captured["headers"] = status, headers

    chunks = app(environ, start_response)
    try:
        payload = b"".join(chunks)
    finally:
        getattr(chunks, "close", lambda: None)()
    return int(captured["status"].split()[0]), payload, captured["headers"]


@contextlib.contextmanager
def logged_in_app(db_url, config, username):
    """(app, cookie): the WSGI app and a session of the demo user `username`."""
    app = create_app(config, {"DB_URL": db_url, "COOKIE_SECURE": False})
    try:
        status, body, headers = call(app, "POST", "/api/v1/users/actions/login/",
                                     body={"username": username, "password": DEMO_PASSWORD})
        assert status == 200, body
        yield app, next(v for k, v in headers if k.lower() == "set-cookie").split(";")[0]
    finally:
        app._drop_connection()
