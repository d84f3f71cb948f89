#!/bin/sh
# Render ops/nginx.conf for this site into SOCKET_DIR/nginx.conf and run nginx in the
# foreground (supervisord program `nginx`, systemd unit ella-nginx.service).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
python="$here/../.venv/bin/python"; [ -x "$python" ] || python=python3
conf="${SOCKET_DIR:-/socket}/nginx.conf"
"$python" "$here/render-nginx.py" "$conf"
echo "Starting nginx listening on port ${PORT:-3114}"
# -e: errors before the config's own error_log is open go to stderr too, not /var/log/nginx.
exec nginx -e stderr -c "$conf"
