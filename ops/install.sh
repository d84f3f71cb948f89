#!/bin/sh
# The install steps of the Docker image, shared with CI (.ci/run, tests/test_deployment.py) and
# with hosts without containers, so that every step the Dockerfile runs is also tested.
#
#   ops/install.sh os [--image]            OS packages: nginx, supervisor, PostgreSQL client,
#                                          python3-venv when python3 lacks venv (on a systemd
#                                          host nginx's and supervisor's services are disabled);
#                                          --image (the Dockerfile's) then drops apt's package
#                                          lists, which a layer need not keep
#   ops/install.sh python VENV [SRC]       a venv at VENV with the project SRC (default: this
#                                          checkout) and its dependencies (wheels only, no
#                                          compiler needed). The project is installed in place
#                                          (editable): it reads sql/ and ops/ beside ella/, so
#                                          SRC must stay where it is (/ella in the image).
#   ops/install.sh user NAME [UID]         a system user NAME (and group NAME) without login,
#                                          if missing
#   ops/install.sh dirs OWNER DIR...       create DIRs (mount points, data layout) owned by OWNER
set -eu

here=$(cd "$(dirname "$0")" && pwd)
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

case ${1:-} in
os)
    image=
    case ${2:-} in
    --image) image=yes ;;
    '') ;;
    *) echo "usage: install.sh os [--image]" >&2; exit 2 ;;
    esac
    as_root apt-get update -qq
    # Debian's own python3 has no venv module (ensurepip) without python3-venv, which the
    # `python` step needs; an image's python (python:*-slim) brings its own.
    venv_package=
    python3 -c "import ensurepip, venv" 2>/dev/null || venv_package=python3-venv
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        nginx-light supervisor postgresql-client ca-certificates $venv_package >/dev/null
    # On a host booted with systemd the Debian packages enable and start their own nginx
    # (its default site on port 80, which our nginx with PORT=80 then cannot bind) and
    # supervisord; ours run from our units or our entrypoint instead. (In an image build, or
    # a container, systemd is not running: nothing to stop.)
    case $(systemctl is-system-running 2>/dev/null || true) in
    running | degraded | starting | initializing | maintenance)
        as_root systemctl disable --now nginx.service supervisor.service
        ;;
    esac
    # An image's layer keeps no package lists; a host (with systemd or not: a container CI
    # runs in, WSL) keeps its own: without them its next `apt-get install` fails until
    # `apt-get update`.
    if [ -n "$image" ]; then
        as_root rm -rf /var/lib/apt/lists/*
    fi
    ;;
python)
    venv=${2:?usage: install.sh python VENV [SRC]}
    src=${3:-$here/..}
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --no-cache-dir --upgrade pip
    # --only-binary: every dependency comes as a wheel, nothing needs a compiler (the project
    # itself is pure Python).
    "$venv/bin/python" -m pip install --quiet --no-cache-dir --only-binary=:all: --editable "$src"
    "$venv/bin/python" -c "import ella, gunicorn, psycopg, yaml, jsonschema, bcrypt"
    ;;
user)
    name=${2:?usage: install.sh user NAME [UID]}
    uid=${3:-}
    if ! id "$name" >/dev/null 2>&1; then
        if [ -n "$uid" ]; then
            as_root groupadd --system --gid "$uid" "$name"
            set -- --uid "$uid" --gid "$uid"
        else
            set -- --user-group
        fi
        as_root useradd --system --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin "$@" "$name"
    fi
    ;;
dirs)
    owner=${2:?usage: install.sh dirs OWNER DIR...}
    shift 2
    umask 027  # analyses and attachments: not listable by every local user
    for dir in "$@"; do
        # The walk below goes by the path's text: in new/../other, new/.. would count as a
        # parent made here, and an existing directory would be given away.
        case /$dir/ in
        */../* | */./*)
            echo "install.sh dirs: $dir: give the path without . or .. parts" >&2
            exit 2
            ;;
        esac
        # The parents mkdir -p makes are the owner's too: root's, under this umask, they
        # shut the owner out of its own directories (/data/analyses of .../incoming).
        existing=$dir
        while [ ! -e "$existing" ]; do existing=$(dirname "$existing"); done
        mkdir -p "$dir"
        [ "$(id -un)" = "$owner" ] && continue
        # DIR itself (also when it existed: a mounted disk), then the parents made here,
        # never one that existed (the walk once went on to / for an existing DIR).
        as_root chown "$owner:" "$dir"
        made=$(dirname "$dir")
        while [ "$existing" != "$dir" ] && [ "$made" != "$existing" ]; do
            as_root chown "$owner:" "$made"
            made=$(dirname "$made")
        done
    done
    ;;
*)
    echo "usage: install.sh os | python VENV [SRC] | user NAME [UID] | dirs OWNER DIR..." >&2
    exit 2
    ;;
esac
