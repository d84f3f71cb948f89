"""The polling loop against annotation services that misbehave in ways a job list must
survive: one task's answer that never comes whole, answers nested too deeply to read, a
redirect out of http(s), a job deleted while a cycle runs."""

import copy
import json
import http.server
import socket
import threading
import time

import psycopg
import pytest

import ella.polling as polling
from ella.polling import AnnotationService, Poller
from annotation_service import serving
from api_helpers import logged_in_client
from deposit_helpers import BRCA_VCF
from ella.web.app import create_app

PANEL = ("HBOC", "v01")
VCF_TEXT = BRCA_VCF.read_text()
NESTED = b"[" * 100000  # the start of JSON nested too deeply for json.loads


def add_job(db_url, user_id, status="SUBMITTED", task_id="", data=VCF_TEXT):
    with psycopg.connect(db_url) as conn:
        return conn.execute(
            "INSERT INTO annotationjob (task_id, status, status_history, mode, data, message, "
            "user_id, date_submitted, date_last_update, genepanel_name, genepanel_version) "
            "VALUES (%s, %s, '{}', 'Variants', %s, '', %s, now(), now(), %s, %s) RETURNING id",
            (task_id, status, data, user_id, *PANEL)).fetchone()[0]


def job(db_url, job_id):
    with psycopg.connect(db_url) as conn:
        return polling.load_job(conn, job_id)


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def send(self, status, body, content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def cycles(poller, n):
    for _ in range(n):
        poller.cycle()
        time.sleep(0.05)


def _slow_result_service(down=(False,)):
    """A service whose result of task `slow` comes a byte at a time, each in time, the whole
    never; the other results at once; no answer in time at all while `down[0]`."""
    class Service(Handler):
        def do_GET(self):
            if down[0]:
                time.sleep(0.3)
            elif self.path.endswith("/process/slow"):
                try:
                    self.wfile.write(b"HTTP/1.0 200 OK\r\nContent-Length: 100000\r\n\r\n")
                    for _ in range(100):
                        self.wfile.write(b"#")
                        self.wfile.flush()
                        time.sleep(0.02)
                except OSError:
                    pass
            else:
                self.send(200, VCF_TEXT.encode(), "text/plain")
    return Service


def test_one_results_answer_that_never_comes_whole_does_not_hold_up_the_others(
        db_url, ella_config, user_id):
    """A result that trickles in (or is too big to arrive within its twenty timeouts) was
    taken for an unreachable service: the cycle stopped at that job, and the next began with
    it again (by id), so no later job was ever deposited. It now waits behind the others."""
    with serving(_slow_result_service()) as url:
        slow = add_job(db_url, user_id, status="ANNOTATED", task_id="slow")
        ready = add_job(db_url, user_id, status="ANNOTATED", task_id="ready")
        poller = Poller(db_url, ella_config, service=AnnotationService(url, timeout=0.05),
                        interval=0.01, max_backoff=0.01)
        cycles(poller, 3)
        assert job(db_url, ready)["status"] == "DONE"
        waiting = job(db_url, slow)
        assert waiting["status"] == "ANNOTATED" and waiting["message"].endswith(
            "the answer took over 1 s; will retry")


def test_after_an_outage_one_result_that_never_comes_whole_does_not_hold_up_the_others(
        db_url, ella_config, user_id):
    """An outage defers every job; those deferred were then handled in id order again, so
    one whose result never came whole kept the others waiting for good. A job deferred
    again goes behind the others."""
    down = [True]
    with serving(_slow_result_service(down)) as url:
        slow = add_job(db_url, user_id, status="ANNOTATED", task_id="slow")
        ready = add_job(db_url, user_id, status="ANNOTATED", task_id="ready")
        poller = Poller(db_url, ella_config, service=AnnotationService(url, timeout=0.05),
                        interval=0.01, max_backoff=0.01)
        cycles(poller, 3)
        assert set(poller.deferred) == {slow, ready}
        down[0] = False
        cycles(poller, 3)
        assert job(db_url, ready)["status"] == "DONE"


def test_one_tasks_hanging_status_does_not_hold_up_submissions(db_url, ella_config, user_id):
    """Running jobs are followed before jobs are submitted: one task whose status never
    answered in time kept every new job from being sent."""
    posts = []

    class Service(Handler):
        def do_GET(self):
            if self.path.endswith("/status/stuck"):
                time.sleep(1)  # never in time
            try:
                self.send(200, b'{"active": true, "error": false}')
            except OSError:
                pass

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            posts.append(self.path)
            self.send(200, b'{"task_id": "new1"}')

    with serving(Service) as url:
        stuck = add_job(db_url, user_id, status="RUNNING", task_id="stuck")
        waiting = add_job(db_url, user_id, data="13-32893296-TG-T")
        poller = Poller(db_url, ella_config, service=AnnotationService(url, timeout=0.1),
                        interval=0.01, max_backoff=0.01)
        cycles(poller, 3)
        assert posts == ["/api/v1/annotate"]
        assert job(db_url, waiting)["status"] == "RUNNING"
        assert job(db_url, stuck)["status"] == "RUNNING"


def test_a_status_answer_nested_too_deeply_fails_the_job(db_url, ella_config, user_id,
                                                          caplog):
    """json.loads raises RecursionError (no ValueError) on `[[[[...`: the job stayed
    RUNNING, with a traceback every cycle. An unusable status answer fails the job."""
    class Service(Handler):
        def do_GET(self):
            self.send(200, NESTED)

    with serving(Service) as url:
        job_id = add_job(db_url, user_id, status="RUNNING", task_id="t")
        Poller(db_url, ella_config, service=AnnotationService(url, timeout=5)).cycle()
        failed = job(db_url, job_id)
        assert (failed["status"], failed["message"]) == (
            "FAILED (ANNOTATION)", "annotation service /status/t: the answer is JSON nested "
                                   "too deeply to read")
        assert not [r for r in caplog.records if r.exc_info]


def test_the_sample_search_of_an_answer_nested_too_deeply_is_502(db_url, ella_config,
                                                                  user_id):
    class Service(Handler):
        def do_GET(self):
            self.send(200, NESTED)

    with serving(Service) as url:
        config = copy.deepcopy(ella_config)
        config["app"]["annotation_service"] = url
        app = create_app(config, {"DB_URL": db_url, "COOKIE_SECURE": False})
        try:
            client = logged_in_client(app, db_url, "importer")
            result = client.get("/api/v1/import/service/samples/", query={"term": "x"})
            assert result.status == 502
            assert result.json["message"].endswith("the answer is JSON nested too deeply to read")
        finally:
            app._drop_connection()


def test_a_redirect_out_of_http_is_not_followed():
    """urllib follows a redirect to ftp://, where no deadline watches the connection: a
    server sending its greeting a byte at a time held the poller (or an API worker asking
    for the service's samples) as long as it liked."""
    ftp = socket.socket()
    ftp.bind(("127.0.0.1", 0))
    ftp.listen(4)
    connected = []

    def greet_slowly():
        try:
            conn, _ = ftp.accept()
        except OSError:
            return
        connected.append(True)
        try:
            for byte in b"220-" + b"x" * 100:
                conn.sendall(bytes([byte]))
                time.sleep(0.1)
        except OSError:
            pass
        finally:
            conn.close()
    threading.Thread(target=greet_slowly, daemon=True).start()

    class Redirect(Handler):
        def do_GET(self):
            self.send_response(302)
            self.send_header("Location", f"ftp://127.0.0.1:{ftp.getsockname()[1]}/x")
            self.send_header("Content-Length", "0")
            self.end_headers()

    try:
        with serving(Redirect) as url:
            with pytest.raises(polling.ServiceError) as failure:
                AnnotationService(url, timeout=0.3).status("t")
            assert failure.value.message == \
                "annotation service /status/t: a redirect to ftp:// is not followed (HTTP 302)"
            assert not connected
    finally:
        ftp.close()


@pytest.mark.parametrize("status_line, message", [
    (b"HTTP/1.0 304 ", "answered HTTP 304, a redirect that is not followed"),
    (b"HTTP/1.0 300 Multiple\x00Choices",
     "answered HTTP 300 Multiple\ufffdChoices, a redirect that is not followed")])
def test_a_redirect_urllib_does_not_follow_fails_the_job_saying_so(
        db_url, ella_config, user_id, status_line, message):
    """A 3xx urllib does not follow gave the job the reason phrase alone (empty for 304)."""
    class Service(Handler):
        def do_GET(self):
            self.wfile.write(status_line + b"\r\nContent-Length: 0\r\n\r\n")

    with serving(Service) as url:
        job_id = add_job(db_url, user_id, status="RUNNING", task_id="t")
        Poller(db_url, ella_config, service=AnnotationService(url, timeout=5)).cycle()
        failed = job(db_url, job_id)
        assert (failed["status"], failed["message"]) == (
            "FAILED (ANNOTATION)", "annotation service /status/t: " + message)


def test_a_relative_redirect_is_followed():
    class Service(Handler):
        def do_GET(self):
            if self.path.endswith("/status/a"):
                self.send_response(302)
                self.send_header("Location", "/api/v1/status/b")
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self.send(200, b'{"active": false, "error": false}')

    with serving(Service) as url:
        assert AnnotationService(url, timeout=5).status("a")["active"] is False


def test_a_job_deleted_while_a_cycle_runs_is_passed_by(db_url, ella_config, user_id, caplog):
    """A user deleting a job after the cycle listed it: its handler read None, and the loop
    logged an error with a traceback for an ordinary action."""
    deleted = []

    class Service(Handler):
        def do_GET(self):
            if not deleted:
                with psycopg.connect(db_url) as conn:
                    deleted.append(conn.execute(
                        "DELETE FROM annotationjob WHERE task_id = 'b' RETURNING id").fetchone())
            self.send(200, b'{"active": true, "error": false}')

    with serving(Service) as url:
        first = add_job(db_url, user_id, status="RUNNING", task_id="a")
        add_job(db_url, user_id, status="RUNNING", task_id="b")
        caplog.set_level("INFO", logger="ella.polling")
        updates = Poller(db_url, ella_config,
                         service=AnnotationService(url, timeout=5)).cycle()
        assert deleted[0] is not None
        assert updates == [(first, "RUNNING", "RUNNING")]
        assert not [r for r in caplog.records if r.levelname == "ERROR"]


def _endless_service(status_line, sent):
    """Answers every GET with `status_line` and a JSON string that never ends, counting the
    bytes it got out in `sent[0]`."""
    class Service(Handler):
        def do_GET(self):
            try:
                self.wfile.write(status_line + b"\r\nContent-Type: application/json\r\n\r\n"
                                 b'{"active": false, "message": "')
                while True:
                    self.wfile.write(b"a" * (1 << 16))
                    sent[0] += 1 << 16
            except OSError:
                pass
    return Service


@pytest.mark.parametrize("status_line", [b"HTTP/1.0 200 OK", b"HTTP/1.0 500 Oops"])
def test_an_answer_that_never_ends_is_read_only_up_to_its_limit(db_url, ella_config, user_id,
                                                                 monkeypatch, status_line):
    """A status answer without end was read whole until its deadline: 1.4 GB in 3 s at the
    smallest timeout, tens of GB at the default one (the OOM killer; restarted, the job came
    first again). It now fails the job once it passes the limit (an error's body is read up
    to it, and is then no JSON)."""
    monkeypatch.setattr(polling, "MAX_ANSWER_BYTES", 1 << 20)
    sent = [0]
    job_id = add_job(db_url, user_id, status="RUNNING", task_id="t1")
    with serving(_endless_service(status_line, sent)) as url:
        Poller(db_url, ella_config, service=AnnotationService(url, timeout=5)).cycle()
    failed = job(db_url, job_id)
    assert failed["status"] == "FAILED (ANNOTATION)"
    assert failed["message"] == (
        "annotation service /status/t1: the answer is larger than 1,048,576 bytes; not read "
        "further" if status_line.endswith(b"OK") else
        f"{polling.UNKNOWN_ERROR} (annotation service {url}/api/v1/status/t1: HTTP 500 Oops)")
    assert sent[0] < 16 << 20  # (what the sockets' buffers took beyond it)


def test_a_result_larger_than_its_limit_fails_the_job_unread(db_url, ella_config, user_id,
                                                             monkeypatch):
    monkeypatch.setattr(polling, "MAX_RESULT_BYTES", 100_000)

    class Service(Handler):
        def do_GET(self):
            self.send(200, b"#" * 100_001, "text/plain")

    job_id = add_job(db_url, user_id, status="ANNOTATED", task_id="big")
    with serving(Service) as url:
        Poller(db_url, ella_config, service=AnnotationService(url, timeout=5)).cycle()
    failed = job(db_url, job_id)
    assert failed["status"] == "FAILED (PROCESSING)"
    assert failed["message"] == ("annotation service /process/big: the answer is larger than "
                                 "100,000 bytes; not read further")


@pytest.mark.parametrize("how", ["status error", "HTTP error"])
def test_a_services_long_message_is_cut_as_every_error_is(db_url, ella_config, user_id, how):
    """The service's own message (a status with error: true, an HTTP error's body) was
    stored and logged whole: 200,000 characters in a job's message."""
    long_message = "annotation failed: " + "x" * 200_000

    class Service(Handler):
        def do_GET(self):
            if how == "status error":
                self.send(200, json.dumps({"active": False, "error": True,
                                           "message": long_message}).encode())
            else:
                self.send(500, json.dumps({"message": long_message}).encode())

    job_id = add_job(db_url, user_id, status="RUNNING", task_id="t1")
    with serving(Service) as url:
        Poller(db_url, ella_config, service=AnnotationService(url, timeout=5)).cycle()
    failed = job(db_url, job_id)
    assert failed["status"] == "FAILED (ANNOTATION)"
    assert failed["message"] == (long_message[:10_000]
                                 + f"... ({len(long_message) - 10_000:,} more characters)")
