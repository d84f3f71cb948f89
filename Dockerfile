# ELLA-compatible service: `docker build -t ella .` (see README, Production).
# Every RUN step is ops/install.sh, which CI also runs outside Docker (.ci/run,
# tests/test_deployment.py), so the image's steps are tested where no Docker engine exists.

# Build stage: the virtualenv with the project and its dependencies (all wheels).
FROM python:3.11-slim-bookworm AS build
WORKDIR /ella
COPY pyproject.toml README.md ./
COPY ella ./ella
COPY ops/install.sh ./ops/install.sh
RUN ./ops/install.sh python /ella/.venv /ella

# Final stage: the OS packages, the venv and the source; no compiler, no build tools.
FROM python:3.11-slim-bookworm
ENV LANG=C.UTF-8 \
    LC_ALL=C.UTF-8 \
    PYTHONUNBUFFERED=1 \
    PYTHONIOENCODING=utf-8 \
    ELLA_HOME=/ella \
    PATH=/ella/.venv/bin:/ella/bin:$PATH \
    DATA_DIR=/data \
    LOGPATH=/logs \
    SOCKET_DIR=/socket \
    PORT=3114 \
    ANALYSES_INCOMING=/data/analyses/incoming \
    ANALYSES_PATH=/data/analyses/imported \
    ATTACHMENT_STORAGE=/data/attachments \
    IGV_DATA=/data/igv-data
COPY ops/install.sh /usr/local/sbin/ella-install
RUN ella-install os --image \
    && ella-install user ella 1000 \
    && ella-install dirs ella /data /data/attachments /data/analyses/incoming \
        /data/analyses/imported /data/igv-data /logs /socket
COPY --from=build /ella/.venv /ella/.venv
COPY --chown=root:root . /ella
# The user ella (uid 1000): own /data, /logs and /socket mounts for uid 1000.
USER 1000:1000
WORKDIR /ella
EXPOSE 3114
VOLUME ["/data", "/logs", "/socket"]
# Healthy while nginx answers and the API behind it reaches the database: a program that
# supervisord gave up on (FATAL) makes the container unhealthy instead of silently "Up".
# Past any http_proxy of the environment (a site's, for outbound tools): through it, the
# container was always unhealthy.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.build_opener(urllib.request.ProxyHandler({})).open('http://127.0.0.1:' + (os.environ.get('PORT') or '3114') + '/api/v1/health/', timeout=8)"]
# CMD, not ENTRYPOINT: `docker run ... ella bin/ella-db make-production` runs a tool instead.
CMD ["/ella/ops/entrypoint.sh"]
