#!/bin/sh
# Render ops/nginx.conf for this site into SOCKET_DIR/nginx.conf and run nginx in the
# foreground (supervisord program `nginx`, systemd unit ella-nginx.service).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
python="$here/../.venv/bin/python"; [ -x "$python" ] || python=python3
conf="${SOCKET_DIR:-/socket}/nginx.conf"
"$python" "$here/render-nginx.py" "$conf"
# A master killed outright (the OOM killer, kill -9) leaves its workers running and holding
# the port: every restart failed "Address already in use", and outside a container they
# answered 502 until someone killed them. They are in the dead master's process group (the
# pid in its pid file; supervisord starts each program as a group leader), a group id that
# no other process can get while they live.
pidfile="${SOCKET_DIR:-/socket}/nginx.pid"
old=$(cat "$pidfile" 2>/dev/null || true)
case $old in ''|*[!0-9]*) old= ;; esac
if [ -n "$old" ] && ! kill -0 "$old" 2>/dev/null && kill -0 -"$old" 2>/dev/null; then
    echo "Stopping the workers left by nginx $old, which ended without them"
    kill -QUIT -"$old" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        kill -0 -"$old" 2>/dev/null || break
        sleep 0.5
    done
    kill -KILL -"$old" 2>/dev/null || true
fi
echo "Starting nginx listening on port ${PORT:-3114}"
# -e: errors before the config's own error_log is open go to stderr too, not /var/log/nginx.
exec nginx -e stderr -c "$conf"
