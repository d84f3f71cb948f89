"""The one logging configuration of every long-running process (API via gunicorn, analyses
watcher, polling loop) and of the CLI tools that log.

One line per event on stderr, `2024-01-31 12:00:00,123 [INFO] ella.watcher: message` (ELLA's
format), the time in UTC as every time the service stores or serves (the host's local time
disagreed with the database's audit rows by its offset, and repeated an hour of times when
summer time ended). Under supervisord stderr goes to the program's file in LOGPATH (/logs);
under systemd to journald. Level: LOG_LEVEL (default INFO).
"""

import logging.config
import time

from ella.config import log_level

FORMAT = "%(asctime)s [%(levelname)s] %(name)s: %(message)s"


class UtcFormatter(logging.Formatter):
    converter = time.gmtime


def dict_config(level=None):
    """A logging.config.dictConfig dict (also gunicorn's `logconfig_dict`); the level is
    LOG_LEVEL's unless given (ConfigError for a level logging does not know)."""
    level = level.upper() if level else log_level()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"line": {"class": "ella.logging_setup.UtcFormatter", "format": FORMAT}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "line",
                       "stream": "ext://sys.stderr"},
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            # gunicorn's own loggers go through the root handler: same format, same stream.
            "gunicorn.error": {"level": level, "handlers": [], "propagate": True},
            "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": True},
        },
    }


def setup(level=None):
    logging.config.dictConfig(dict_config(level))
