"""Our log records never carry undecodable bytes (ella/logrecords.py): a file or folder name
that is no UTF-8 (a Latin-1 share) is shown with `\\xf8`-style escapes, whatever handler
takes the line (one writing UTF-8 failed on it, and so did pytest-xdist carrying a test's
captured log)."""

import logging
from pathlib import Path

import pytest

NAME = "Bj\udcf8rn"  # b"Bj\xf8rn" read with surrogateescape


class Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = []
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record):
        self.lines.append(self.format(record).encode("utf-8").decode())  # strict, as a file


@pytest.fixture
def lines():
    handler = Lines()
    logger = logging.getLogger("ella.test_logrecords")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield logger, handler.lines
    logger.removeHandler(handler)


def test_every_kind_of_argument_is_shown_escaped(lines):
    """A text, a path, an exception naming the file (the watcher's most common error line
    passed the exception: its text kept the bytes), `%(name)s` values, a message itself."""
    log, written = lines
    log.error("importing %s: %s", NAME, ValueError(f"/in/{NAME}/x.vcf, line 3: bad POS"))
    log.warning("%s", Path(f"/in/{NAME}"))
    log.info("%(folder)s waits", {"folder": NAME})
    log.info(f"{NAME} in the message, %d", 3)
    assert written == ["importing Bj\\xf8rn: /in/Bj\\xf8rn/x.vcf, line 3: bad POS",
                       "/in/Bj\\xf8rn", "Bj\\xf8rn waits", "Bj\\xf8rn in the message, 3"]


def test_a_lone_surrogate_beside_them_does_not_make_logging_raise(lines):
    log, written = lines
    log.warning("%s", NAME + "\ud800")
    assert written == ["Bj\\xf8rn\\ud800"]


def test_a_traceback_naming_such_a_file_is_shown_escaped(lines):
    log, written = lines
    try:
        raise OSError(f"cannot read /in/{NAME}/x.vcf")
    except OSError:
        log.exception("failed")
    assert written[0].startswith("failed\nTraceback")
    assert written[0].endswith("OSError: cannot read /in/Bj\\xf8rn/x.vcf")


def test_other_loggers_are_left_as_they_are():
    record = logging.getLogger("gunicorn.error").makeRecord(
        "gunicorn.error", logging.INFO, "x", 1, "%s", (NAME,), None)
    assert record.getMessage() == NAME


def test_a_line_break_in_an_argument_cannot_forge_a_second_line(lines):
    """A folder named `Bad\\n2026-... [INFO] ella.watcher: Analysis Forged successfully
    imported!` printed that forged line into the log, through any of our loggers (the VCF
    reader's warnings name the file too). A tab stays."""
    logger, written = lines
    forged = "Bad\n2026-11-30 17:00:00,000 [INFO] ella.watcher: Analysis Forged imported!"
    logger.warning("reading %s", Path("/incoming") / forged / "a\tb.vcf")
    logger.error("failed: %s", OSError(5, f"{forged}\r\x1b[2J"))
    assert written == ["reading /incoming/Bad\\n2026-11-30 17:00:00,000 [INFO] ella.watcher: "
                       "Analysis Forged imported!/a\tb.vcf",
                       "failed: [Errno 5] Bad\\n2026-11-30 17:00:00,000 [INFO] ella.watcher: "
                       "Analysis Forged imported!\\r\\x1b[2J"]
