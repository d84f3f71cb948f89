"""A small WSGI test client: builds the environ, keeps the session cookie, decodes JSON."""

import io
import json
from http.cookies import SimpleCookie
from urllib.parse import urlencode


class Result:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def json(self):
        return json.loads(self.body) if self.body else None

    def header(self, name):
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


class Client:
    def __init__(self, app, remote_addr="127.0.0.1"):
        self.app = app
        self.cookies = {}
        self.remote_addr = remote_addr

    def request(self, method, path, json_body=None, query=None, raw=None, headers=None,
                content_type="application/json"):
        captured, chunks = self.open(method, path, json_body, query, raw, headers, content_type)
        try:
            result = Result(captured["status"], captured["headers"], b"".join(chunks))
        finally:
            if hasattr(chunks, "close"):  # as a WSGI server does
                chunks.close()
        for key, value in result.headers:
            if key.lower() == "set-cookie":
                cookie = SimpleCookie()
                cookie.load(value)
                for name, morsel in cookie.items():
                    self.cookies[name] = morsel.value
        return result

    def open(self, method, path, json_body=None, query=None, raw=None, headers=None,
             content_type="application/json"):
        """({"status", "headers"}, the app's body iterable, unread): for streamed bodies."""
        body = raw if raw is not None else (json.dumps(json_body).encode()
                                            if json_body is not None else b"")
        if isinstance(query, dict):
            query = urlencode({k: json.dumps(v) if isinstance(v, (dict, list)) else v
                               for k, v in query.items()})
        environ = {
            # As a WSGI server hands the path over (PEP 3333): its UTF-8 bytes as Latin-1.
            "REQUEST_METHOD": method, "PATH_INFO": path.encode("utf-8").decode("latin-1"),
            "QUERY_STRING": query or "",
            "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": content_type if body else "",
            "wsgi.input": io.BytesIO(body), "REMOTE_ADDR": self.remote_addr,
            "SERVER_NAME": "localhost", "SERVER_PORT": "80", "wsgi.url_scheme": "http",
        }
        if self.cookies:
            environ["HTTP_COOKIE"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for key, value in (headers or {}).items():
            environ[key] = value
        captured = {}

        def start_response(status, response_headers):
            captured["status"] = int(status.split()[0])
            captured["headers"] = response_headers

        return captured, self.app(environ, start_response)

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, json_body=None, **kwargs):
        return self.request("POST", path, json_body=json_body, **kwargs)

    def login(self, username, password):
        return self.post("/api/v1/users/actions/login/",
                         {"username": username, "password": password})
