"""gunicorn settings for `bin/ella-api` (and the Docker image / systemd unit).

Bind: the unix socket in SOCKET when set, else HOST:PORT (default 127.0.0.1:3114, the port
ELLA's nginx proxies to). Workers: NUM_WORKERS (default 2 x cores + 1); timeout:
GUNICORN_TIMEOUT seconds (default 500, as ELLA). Logs: ella/logging_setup.py, the one logging
config (stderr, one line per event; supervisord writes it to LOGPATH/api.log, systemd to journald).
"""

import ctypes
import os
import signal

import logging

from ella import config as ella_config, logging_setup
from ella.config import ConfigError, env_settings, load_config

_env = env_settings()
# Read once, here in the master (a mistake in it stops the start), and inherited by every
# worker it forks (ella.config.started_config): an edit of the file meanwhile waits for a
# restart, as ELLA's config does (config-cli-ops.md 2.1). A reload (`kill -HUP`) reads it again; a
# mistake then keeps the config that was served (it stopped the API with a traceback).
try:
    _config = load_config()
except ConfigError as exc:
    if ella_config.started_config is None:
        raise SystemExit(f"ella-api: {exc}") from None
    logging.getLogger("ella.api").error("ella-api: the config was not reloaded: %s; the "
                                        "workers keep serving the one read before", exc)
    _config = ella_config.started_config
ella_config.started_config = _config

bind = [f"unix:{_env['SOCKET']}"] if _env["SOCKET"] else [ella_config.tcp_bind(_env)]
workers = _env["NUM_WORKERS"]
timeout = _env["GUNICORN_TIMEOUT"]
worker_class = "sync"
backlog = 1024
# ELLA sends long query strings (lists of allele ids): no request-line limit, as ELLA
# (gunicorn takes no limit above 8190 but none at all). nginx in front bounds the line at
# 512k; gunicorn's own parser is quadratic in it, so the API is served through nginx.
limit_request_line = 0
# Header lines: nginx's limit decides (large_client_header_buffers, 512k); with gunicorn's
# default of 8190 bytes, a longer one passed nginx and got gunicorn's HTML 431.
limit_request_field_size = 512 * 1024
accesslog = "-"
errorlog = "-"
logconfig_dict = logging_setup.dict_config()
# Client address for the access log: the peer our nginx saw (X-Real-IP); resourcelog reads
# the last X-Forwarded-For hop.
access_log_format = '%({x-real-ip}i)s %(h)s "%(r)s" %(s)s %(b)s %(M)sms'
# As the API reads it (ella.config.forwarded_allow_ips): an empty variable is the default
# there, and gunicorn took it for "no proxy" (its scheme header then ignored).
forwarded_allow_ips = "*" if _env["FORWARDED_ALLOW_IPS"] == "*" else \
    ",".join(str(network) for network in _env["FORWARDED_ALLOW_IPS"])
# Only the scheme header our nginx sets: gunicorn's default also reads X-Forwarded-Ssl and
# X-Forwarded-Protocol, which many TLS proxies add, and answered every request with an HTML
# 400 ("Contradictory scheme headers") when they disagreed with nginx's X-Forwarded-Proto.
secure_scheme_headers = {"X-FORWARDED-PROTO": "https"}
# The unix socket (gunicorn binds it with this umask, default 0: world-writable) is for our
# nginx, which runs as the same user (the image's uid 1000, systemd's `ella`): nobody else
# may talk to the API past it. Started as root, nginx's workers are another user (nobody),
# so then the socket stays open to them.
umask = 0o027 if os.geteuid() != 0 else 0
# gunicorn >= 23 opens a control socket under ~/.gunicorn; the service user has no home.
control_socket_disable = True


PR_SET_PDEATHSIG = 1


def post_fork(server, worker):
    """A master killed outright (kill -9, the OOM killer) left its workers serving on, for up
    to GUNICORN_TIMEOUT/2 seconds, with their memory and database connections, next to the
    master supervisord started again: Linux now sends them SIGTERM when their master dies."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return  # not Linux: gunicorn's own check of the parent remains
    prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != server.pid:  # the master died before that took effect
        os._exit(0)  # (a SIGTERM here would meet the master's handler, inherited)
