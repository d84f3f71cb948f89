"""Low-level readers and helpers pinned at their edges: JSON input, YAML integers, log
records and the logging setup, the database clock, password rules and stored hashes."""

import logging
import subprocess
import sys
import time

import bcrypt
import pytest

from ella.config import ConfigError, parse_yaml
from ella.db import clock_now, connect
from ella.jsonload import UnstorableJson, loads
from ella.passwords import check_password_strength, looks_like_bcrypt_hash, matched_groups
from helpers import ROOT


def _nested(levels):
    return "[" * levels + "]" * levels


def test_json_nested_100_levels_is_read_and_101_refused():
    """README: deposited JSON and the API's bodies are refused when nested "deeper than 100
    levels"; 100 levels are read."""
    assert loads(_nested(100)) is not None
    with pytest.raises(UnstorableJson, match=r"nested too deeply \(at most 100 levels\)"):
        loads(_nested(101))


def test_a_long_path_to_a_refused_part_is_cut_in_the_message():
    """README: a refused part of deposited JSON is named by its path; a very long one is cut
    (at 60 characters and `...`) so the message stays one readable line."""
    key = "k" * 30
    text = ('{"%s": ' % key) * 5 + '"a\\u0000b"' + "}" * 5
    with pytest.raises(UnstorableJson) as refused:
        loads(text)
    where = str(refused.value).split(" contains ")[0]
    assert where == ".".join([key] * 5)[:60] + "..."
    assert "NUL character" in str(refused.value)


@pytest.mark.parametrize("literal", ["-0x" + "f" * 3700, "-0b" + "1" * 15000])
def test_a_negative_integer_too_long_for_json_is_refused_in_yaml(literal):
    """README: a config holding "an integer of over 4,300 digits in any spelling (`0x...`
    too)" stops every command; a minus sign makes it no shorter."""
    with pytest.raises(ConfigError, match=r"an integer of over 4,300 digits cannot be read"):
        parse_yaml(f"a: {literal}\n", environ={}, source="site.yml")


def test_yaml_integer_limit_is_4300_digits_exactly():
    """README: an integer of over 4,300 digits is refused: the first integer of 4,301
    digits (10**4300, written in hexadecimal) is, the last of 4,300 is read."""
    assert parse_yaml(f"a: {hex(10 ** 4300 - 1)}\n", environ={}) == {"a": 10 ** 4300 - 1}
    with pytest.raises(ConfigError, match=r"an integer of over 4,300 digits cannot be read"):
        parse_yaml(f"a: {hex(10 ** 4300)}\n", environ={}, source="site.yml")


def test_a_log_line_shows_the_byte_0x80_of_a_name_escaped():
    """Our log lines show a file name's undecodable bytes as `\\xNN` (ella/logrecords.py,
    README: "written as backslash escapes"): 0x80, the first such byte, too."""
    lines = []

    class Lines(logging.Handler):
        def emit(self, record):
            lines.append(record.getMessage())

    handler = Lines(logging.DEBUG)
    logger = logging.getLogger("ella.test_low_level_pinned")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        logger.info("reading %s", "a\udc80b\udcffc")
    finally:
        logger.removeHandler(handler)
    assert lines == ["reading a\\x80b\\xffc"]


def test_the_database_clock_moves_within_one_transaction(db_url):
    """The time of a row that supersedes another is the server's clock when written, not
    the transaction's start (ella.db.clock_now): two reads in one transaction differ."""
    with connect(db_url) as conn:
        first = clock_now(conn)
        time.sleep(0.02)
        second = clock_now(conn)
        assert conn.info.transaction_status.name == "INTRANS"
    assert second > first


def test_password_groups_are_matched_from_the_start():
    """api.md, `password_match_groups`: "character groups (regex, matched from the start
    of the string)": a group written without `.*` counts only at the start."""
    auth = {"password_minimum_length": 1, "password_num_match_groups": 2,
            "password_match_groups": ["[A-Z]", "[0-9]"]}
    assert check_password_strength("A1", auth) == (False, [
        "Password must contain characters from at least 2 of these groups: [A-Z], [0-9]"])
    assert matched_groups("xA1", auth) == []
    assert matched_groups("A1", auth) == ["[A-Z]"]


def test_a_users_file_hash_may_cost_4_to_14():
    """README, `ella-users add_many`: "a `password` in the file must be a bcrypt hash
    `$2a$`/`$2b$`/`$2y$` of cost 4 to 14"."""
    salt_and_hash = bcrypt.hashpw(b"secret", bcrypt.gensalt(4)).decode()[7:]
    for cost, accepted in (("03", False), ("04", True), ("14", True), ("15", False),
                           ("31", False)):
        assert looks_like_bcrypt_hash(f"$2b${cost}${salt_and_hash}") is accepted, cost


LOGGING_PROBE = """
import logging
early = logging.getLogger("ella.made_before_setup")
from ella.logging_setup import setup
setup("info")
early.info("still heard")
logging.getLogger("ella.later").debug("not at INFO")
"""


def test_log_lines_keep_loggers_made_before_the_setup():
    """config-cli-ops.md, Python logging: "existing loggers kept", format
    `%(asctime)s [%(levelname)s] %(name)s: %(message)s`; README: "one line per event". A
    module's logger made at import, before the process configures logging, still writes."""
    result = subprocess.run([sys.executable, "-c", LOGGING_PROBE], cwd=ROOT, text=True,
                            capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = (result.stdout + result.stderr).splitlines()
    assert len(lines) == 1, lines
    assert lines[0].endswith(" [INFO] ella.made_before_setup: still heard"), lines
