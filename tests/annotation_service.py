"""A real local HTTP server (stdlib, 127.0.0.1) speaking the annotation-service protocol
(import.md 7.3), for the polling and import-job API tests.

Submitted variant text is "annotated" by returning the result the test registered for it
(`results[input]`), else the input itself: the test VCFs are already annotated VCFs.
"""

import contextlib
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class FakeAnnotationService:
    def __init__(self):
        self.tasks = {}            # task_id -> {"input", "polls", "error", "message"}
        self.results = {}          # input text -> annotated VCF text
        self.sample_results = {}   # sample id -> annotated VCF text
        self.samples = {}          # sample search answer (name -> info)
        self.requests = []         # (method, path)
        self.sample_submissions = []  # raw multipart bodies
        self.fail = {}             # endpoint kind -> (http status, message or None)
        self.active_polls = 1      # status answers with active=true before active=false
        self.error_task = None     # (message) : status answers error=true with this message
        self.process_gate = None   # threading.Event: /process waits on it
        self.process_started = threading.Event()
        self.task_prefix = "task"
        self.status_answer = None  # when set: every task's status answer, as it is
        self.task_id_answer = None  # when set: the value of every submission's task_id
        self._counter = 0
        self._lock = threading.Lock()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status, body, content_type="application/json"):
                data = body.encode() if isinstance(body, str) else body
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _fail(self, kind):
                if kind in service.fail:
                    status, message = service.fail[kind]
                    self._send(status, json.dumps({"message": message}) if message else "oops",
                               "application/json" if message else "text/plain")
                    return True
                return False

            def do_GET(self):
                url = urlparse(self.path)
                service.requests.append(("GET", self.path))
                path = url.path
                if path == "/api/v1/status":
                    if not self._fail("alive"):
                        self._send(200, "{}")
                elif path.startswith("/api/v1/status/"):
                    if self._fail("status"):
                        return
                    task = service.tasks.get(path.rsplit("/", 1)[1])
                    if task is None:
                        return self._send(404, json.dumps({"message": "No such task"}))
                    task["polls"] += 1
                    if service.status_answer is not None:
                        return self._send(200, json.dumps(service.status_answer))
                    if service.error_task is not None:
                        return self._send(200, json.dumps(
                            {"active": False, "error": True, "message": service.error_task}))
                    active = task["polls"] <= service.active_polls
                    self._send(200, json.dumps({"active": active, "error": False}))
                elif path.startswith("/api/v1/process/"):
                    service.process_started.set()
                    if service.process_gate is not None:
                        service.process_gate.wait(60)
                    if self._fail("process"):
                        return
                    task = service.tasks.get(path.rsplit("/", 1)[1])
                    if task is None:
                        return self._send(404, json.dumps({"message": "No such task"}))
                    if task.get("sample_id"):
                        text = service.sample_results.get(task["sample_id"], "not a vcf")
                    else:
                        text = service.results.get(task["input"], task["input"])
                    self._send(200, text, "text/plain")
                elif path.rstrip("/") == "/api/v1/samples":
                    query = parse_qs(url.query)
                    service.last_sample_query = query
                    self._send(200, json.dumps(service.samples))
                else:
                    self._send(404, json.dumps({"message": "not found"}))

            def do_POST(self):
                service.requests.append(("POST", self.path))
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/api/v1/annotate":
                    if self._fail("annotate"):
                        return
                    task_id = service._new_task(input=json.loads(body)["input"])
                    if service.task_id_answer is not None:  # the first task keeps it
                        if isinstance(service.task_id_answer, str):
                            service.tasks.setdefault(service.task_id_answer,
                                                     service.tasks[task_id])
                        task_id = service.task_id_answer
                    self._send(200, json.dumps({"task_id": task_id}))
                elif self.path == "/api/v1/samples/annotate":
                    if self._fail("annotate"):
                        return
                    service.sample_submissions.append((self.headers["Content-Type"], body))
                    marker = b'name="sample_id"\r\n\r\n'
                    start = body.index(marker) + len(marker)
                    sample_id = json.loads(body[start:body.index(b"\r\n", start)])
                    task_id = service._new_task(input=None, sample_id=sample_id)
                    self._send(200, json.dumps({"task_id": task_id}))
                else:
                    self._send(404, json.dumps({"message": "not found"}))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _new_task(self, **task):
        with self._lock:
            self._counter += 1
            task_id = f"{self.task_prefix}{self._counter}"
        self.tasks[task_id] = {**task, "polls": 0}
        return task_id

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        if self.process_gate is not None:
            self.process_gate.set()
        self.server.shutdown()
        self.server.server_close()


def closed_port_url():
    """A URL where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def trickling_service(trickled="body"):
    """The URL of a service (or a proxy in front of one) that sends every answer a byte every
    0.2 s: its status line and headers too when `trickled` is "headers". Each read gets a
    byte well within any timeout; only a deadline for the whole answer ends it."""
    class Trickle(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _trickle(self):
            head = b"HTTP/1.0 200 OK\r\nContent-Length: 40\r\n\r\n"
            if trickled == "body":
                self.wfile.write(head)
            data = (head if trickled == "headers" else b"") + b" " * 40
            try:
                for byte in data:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.2)
            except OSError:
                pass  # the client is gone

        do_GET = do_POST = _trickle

    with serving(Trickle) as url:
        yield url


@contextlib.contextmanager
def serving(handler):
    """The URL of a local HTTP server answering with `handler` (a BaseHTTPRequestHandler
    class), stopped afterwards."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def slow_handler(seconds, body=b"{}", received=None):
    """A BaseHTTPRequestHandler class answering every GET and POST with `body` (200, JSON)
    after `seconds`; the request paths are appended to `received` when given."""
    class Slow(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _answer(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if received is not None:
                received.append(self.path)
            time.sleep(seconds)
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass  # the client is gone

        do_GET = do_POST = _answer
    return Slow
