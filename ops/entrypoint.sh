#!/bin/sh
# Entrypoint of the Docker image (and usable on a host): check the environment, create the
# data directory layout, refuse to start on a database that is not at head, then run
# supervisord (ops/supervisord.conf) in the foreground as the container's main process.
set -eu

ELLA_HOME=${ELLA_HOME:-$(cd "$(dirname "$0")/.." && pwd)}
die() { echo "ella entrypoint: $*" >&2; exit 1; }
# supervisord splits its programs' command lines at blanks, and a blank ends a value of
# nginx.conf: from such a checkout no program started, and supervisord stayed up regardless.
case $ELLA_HOME in
    *[[:space:]]*) die "ELLA_HOME='$ELLA_HOME' contains a blank, which supervisord and nginx cannot take: move or link the checkout to a path without one" ;;
esac

# Required: no default makes sense for these.
for name in DB_URL ELLA_CONFIG; do
    eval "value=\${$name:-}"
    [ -n "$value" ] || die "environment variable $name is not set (see README, Production: environment)"
done
[ -r "$ELLA_CONFIG" ] || die "ELLA_CONFIG=$ELLA_CONFIG: no such readable file"
# nginx would refuse it only once supervisord runs, which then gives nginx up and stays up.
# A relative path is the checkout's, as ops/render-nginx.py (run in ELLA_HOME) reads it.
ui_path=${ELLA_UI_PATH:-}
case $ui_path in ""|/*) ;; *) ui_path=$ELLA_HOME/$ui_path ;; esac
if [ -n "$ui_path" ] && [ ! -r "$ui_path/index.html" ]; then
    die "ELLA_UI_PATH=$ELLA_UI_PATH: no index.html there (a build of ELLA's web UI)"
fi

# Defaults: the image's mount points (/data, /logs, /socket, /tmp).
DATA_DIR=${DATA_DIR:-/data}
export ELLA_HOME DATA_DIR
export LOGPATH="${LOGPATH:-/logs}"
export SOCKET_DIR="${SOCKET_DIR:-/socket}"
export PORT="${PORT:-3114}"
export ANALYSES_INCOMING="${ANALYSES_INCOMING:-$DATA_DIR/analyses/incoming}"
export ANALYSES_PATH="${ANALYSES_PATH:-$DATA_DIR/analyses/imported}"
export ATTACHMENT_STORAGE="${ATTACHMENT_STORAGE:-$DATA_DIR/attachments}"
export IGV_DATA="${IGV_DATA:-$DATA_DIR/igv-data}"
case $PORT in ''|*[!0-9]*) die "environment variable PORT must be a port number, got '$PORT'";; esac

# Patient data and logs on the host mounts: readable by the service's group at most (as the
# systemd units' UMask=0027), the directories created here too; Docker's default 022 left
# them readable (and listable) by every local user.
umask 027
for dir in "$LOGPATH" "$SOCKET_DIR" "$ANALYSES_INCOMING" "$ANALYSES_PATH" \
           "$ATTACHMENT_STORAGE" "$IGV_DATA"; do
    mkdir -p "$dir" 2>/dev/null || die "cannot create $dir (is the volume mounted writable for $(id -un)?)"
    [ -w "$dir" ] || die "$dir is not writable for $(id -un)"
done
# Started as root, nginx's workers are another user (nobody): they must pass through the
# socket's directory (created 0750 above), or every API request is a 502.
if [ "$(id -u)" = 0 ]; then
    chmod o+x "$SOCKET_DIR"
fi

# A stop (docker stop) from here on is kept: before supervisord runs it ends the start
# (it was lost while the check below ran, and the whole stack started anyway); after, it is
# passed on to supervisord.
supervisord_pid=
stop_asked=
trap 'stop_asked=1; [ -z "$supervisord_pid" ] || kill -TERM "$supervisord_pid" 2>/dev/null || true' TERM INT HUP

# `ella-db compare` names the command that brings the database to head (make-production,
# adopt, migrate or refresh); when it cannot even check (no connection, a bad variable) its
# error line says why, and no schema advice would help.
if ! out=$("$ELLA_HOME/bin/ella-db" compare 2>&1); then
    echo "$out" >&2
    case $out in
        *"Not ready: "*"ella-db "*)
            die "the database is not at head: run the bin/ella-db command named above with the same environment, then start again (e.g. docker run --rm --env-file ella.env ella bin/ella-db <command>)" ;;
        *"Not ready: "*)
            die "this service cannot run on the database (the reason above); nothing was started" ;;
        *)
            die "cannot check the database and the config (the error above); nothing was started" ;;
    esac
fi

# supervisord runs as our child, not in our place: it exits 0 also when ops/fatal-exit.py
# stopped it because a program could not be kept running, which must be a failure (exit 1)
# for the restart policy and `docker ps`. The listener leaves a marker file for that.
fatal_marker="$SOCKET_DIR/ella-fatal"
rm -f "$fatal_marker"
if [ -n "$stop_asked" ]; then
    echo "ella entrypoint: stopped before the programs were started" >&2
    exit 0
fi
# In a session of its own, which its programs share (it starts each as a process group
# leader, not a session): what is left of that session once it has gone is ended below.
# Job control off (`sh -m` and interactive shells turn it on): the background job then leads
# no process group, so setsid makes supervisord itself a session leader instead of forking.
# Forked, $! was setsid's own short life, and the entrypoint exited with supervisord running.
set +m
setsid supervisord -c "${SUPERVISOR_CONFIG:-$ELLA_HOME/ops/supervisord.conf}" &
supervisord_pid=$!
[ -z "$stop_asked" ] || kill -TERM "$supervisord_pid" 2>/dev/null || true
# `wait` returns early when a trapped signal arrives; wait until supervisord has exited.
status=0
while kill -0 "$supervisord_pid" 2>/dev/null; do
    wait "$supervisord_pid" && status=0 || status=$?
done
# supervisord killed outright (kill -9, the OOM killer) left nginx, the API and the workers
# running without it: on a host, a start after that ran a second watcher beside the first,
# and nginx could not bind its port while the old one answered 502.
python3 "$ELLA_HOME/ops/end-session.py" "$supervisord_pid" || true
if [ -e "$fatal_marker" ]; then
    cause=$(cat "$fatal_marker" 2>/dev/null || true)
    echo "ella entrypoint: stopped because a program could not be kept running: ${cause:-(not recorded: see fatal-exit.log in $LOGPATH)}" >&2
    exit 1
fi
exit "$status"
