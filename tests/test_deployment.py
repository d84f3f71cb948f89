"""Deployment files (ops/, Dockerfile): checked with the real tools, as CI installs them.

A test that needs nginx, supervisord, systemd-analyze or hadolint is skipped only when the
tool is absent; .ci/run installs every one of them (ops/install.sh os, apt, pip), so CI skips
nothing. The Docker build itself needs a Docker engine and is not run here; instead every RUN
step of the Dockerfile is an ops/install.sh step that these tests (or .ci/run) execute.
"""

import base64
import configparser
import http.client
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg
import pytest

from ella import logging_setup
from helpers import ROOT

OPS = ROOT / "ops"
DEFAULT_CONFIG = ROOT / "ella" / "default_config.yaml"
UNITS = sorted((OPS / "systemd").glob("*.service"))
TOOL_ENV = {k: v for k, v in os.environ.items()
            if k not in ("DB_URL", "ELLA_CONFIG", "SOCKET", "HOST", "PORT")}


def _tool(name):
    found = shutil.which(name) or (shutil.which(name, path=str(ROOT / ".venv" / "bin")))
    if not found:
        pytest.skip(f"{name} is not installed (.ci/run installs it)")
    return found


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def site():
    """A site's directories in a temp dir that nginx's unprivileged workers can traverse."""
    base = Path(tempfile.mkdtemp(prefix="ella-deploy-"))
    base.chmod(0o755)
    paths = {name: base / name for name in ("data", "logs", "socket", "tmp", "ui")}
    for name in ("logs", "socket", "tmp", "ui"):
        paths[name].mkdir()
        paths[name].chmod(0o755)
    (paths["ui"] / "index.html").write_text("<html>ELLA web UI build</html>\n")
    (paths["ui"] / "app.js").write_text("console.log('ui');\n")
    paths["base"] = base
    yield paths
    shutil.rmtree(base, ignore_errors=True)


def _site_env(site, **extra):
    env = dict(TOOL_ENV)
    env.update({
        "ELLA_CONFIG": str(DEFAULT_CONFIG),
        "DATA_DIR": str(site["data"]),
        "LOGPATH": str(site["logs"]),
        "SOCKET_DIR": str(site["socket"]),
        "TMP_DIR": str(site["tmp"]),
        "ELLA_UI_PATH": str(site["ui"]),
        "PORT": str(_free_port()),
        "NUM_WORKERS": "2",
    })
    for name in ("ANALYSES_INCOMING", "ANALYSES_PATH", "ATTACHMENT_STORAGE", "IGV_DATA"):
        env.pop(name, None)
    env.update(extra)
    return env


# --- shell scripts, Dockerfile ----------------------------------------------------------------

def test_shell_scripts_parse():
    for script in sorted(OPS.glob("*.sh")):
        result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert result.returncode == 0, f"{script.name}: {result.stderr}"
        assert os.access(script, os.X_OK), f"{script.name} is not executable"


def test_dockerfile_runs_only_tested_install_steps():
    """Every RUN of the Dockerfile is an ops/install.sh step that CI runs outside Docker:
    `os` and `user` in .ci/run, `python` and `dirs` below."""
    text = (ROOT / "Dockerfile").read_text()
    joined = re.sub(r"\\\n\s*", " ", text)
    runs = [line[4:] for line in joined.splitlines() if line.startswith("RUN ")]
    assert runs
    steps = set()
    for run in runs:
        for command in run.split("&&"):
            words = command.split()
            assert words[0] in ("ella-install", "./ops/install.sh"), command
            steps.add(words[1])
    assert steps == {"os", "user", "dirs", "python"}
    ci = (ROOT / ".ci" / "run").read_text()
    assert "ops/install.sh os" in ci and "ops/install.sh user ella" in ci
    # Every COPY source exists and is not excluded by .dockerignore.
    ignored = (ROOT / ".dockerignore").read_text().split()
    for line in joined.splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            for source in line.split()[1:-1]:
                if source.startswith("--"):
                    continue
                assert (ROOT / source).exists(), source
                assert source.rstrip("/") not in ignored, source
    assert 'CMD ["/ella/ops/entrypoint.sh"]' in text
    assert re.search(r"^USER \d+:\d+$", text, re.M), "the image runs as a non-root user"


def test_hadolint_dockerfile():
    hadolint = _tool("hadolint")
    result = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_install_script_python_step(tmp_path):
    """The build stage's step: a venv with the project from wheels, no compiler needed."""
    venv = tmp_path / "venv"
    result = subprocess.run([str(OPS / "install.sh"), "python", str(venv), str(ROOT)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    check = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import gunicorn, ella.web.app, ella.config; "
                            "ella.config.load_config(environ={}); print(ella.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert check.stdout.strip() == str(ROOT / "ella" / "__init__.py"), check.stderr


def test_ci_names_a_python_too_old_before_it_installs_anything(tmp_path):
    """On Ubuntu 22.04 or Debian 11 (Python 3.10, 3.9) CI installed packages and then failed
    in pip with a resolver message."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "python3").write_text('#!/bin/sh\n[ "$1" = -V ] && echo "Python 3.10.12" && '
                                  "exit 0\nexit 1\n")
    (fake / "python3").chmod(0o755)
    for name in ("apt-get", "sudo", "make"):  # none may be reached
        (fake / name).write_text(f"#!/bin/sh\necho {name} reached >&2\nexit 3\n")
        (fake / name).chmod(0o755)
    result = subprocess.run(["bash", str(ROOT / ".ci" / "run")], capture_output=True,
                            text=True, env={**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"})
    assert (result.returncode, result.stderr) == (1, (
        "error: python3 is Python 3.10.12; the project needs Python 3.11 or newer (Debian 12, "
        "Ubuntu 24.04)\n"))


@pytest.mark.parametrize("state, options, disabled, dropped", [
    ("running", [], True, False), ("degraded", [], True, False), ("offline", [], False, False),
    ("offline", ["--image"], False, True)])
def test_install_script_os_step_leaves_debians_services_off(tmp_path, state, options,
                                                            disabled, dropped):
    """On a host booted with systemd, Debian's nginx package starts its default site on
    port 80 (where our nginx with PORT=80 then cannot listen) and supervisor its own
    supervisord; the step stops and disables both. In an image build nothing runs.
    Only the image build (`--image`) drops apt's package lists: a host without systemd
    (a container CI runs in) lost them too, and its next apt-get install failed."""
    fake = tmp_path / "bin"
    fake.mkdir()
    calls = tmp_path / "calls"
    for name in ("apt-get", "systemctl", "rm", "sudo"):
        script = fake / name
        script.write_text("#!/bin/sh\n"
                          f'echo "{name} $*" >> {calls}\n'
                          f'[ "{name} $1" = "systemctl is-system-running" ] && echo {state}\n'
                          f'[ "{name}" = sudo ] && exec "$@"\n'
                          "exit 0\n")
        script.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"}
    result = subprocess.run([str(OPS / "install.sh"), "os", *options], capture_output=True,
                            text=True, env=env)
    assert result.returncode == 0, result.stderr
    run = [line for line in calls.read_text().splitlines() if not line.startswith("sudo ")]
    assert ("systemctl disable --now nginx.service supervisor.service" in run) == disabled
    assert any(line.startswith("apt-get install") for line in run)
    assert any(line.startswith("rm -rf /var/lib/apt/lists/") for line in run) == dropped
    bad = subprocess.run([str(OPS / "install.sh"), "os", "--imag"], capture_output=True,
                         text=True, env=env)
    assert (bad.returncode, bad.stderr) == (2, "usage: install.sh os [--image]\n")


@pytest.mark.parametrize("has_venv", [True, False])
def test_install_script_os_step_adds_python3_venv_where_python_lacks_it(tmp_path, has_venv):
    """Debian's python3 has no venv module without python3-venv, so the `python` step
    failed on a fresh host after the README's `os` step; an image's python has its own."""
    fake = tmp_path / "bin"
    fake.mkdir()
    calls = tmp_path / "calls"
    for name in ("apt-get", "systemctl", "rm"):
        (fake / name).write_text(f'#!/bin/sh\necho "{name} $*" >> {calls}\nexit 0\n')
        (fake / name).chmod(0o755)
    (fake / "python3").write_text(f"#!/bin/sh\nexit {0 if has_venv else 1}\n")
    (fake / "python3").chmod(0o755)
    result = subprocess.run([str(OPS / "install.sh"), "os"], capture_output=True, text=True,
                            env={**TOOL_ENV, "PATH": f"{fake}:{os.environ['PATH']}"})
    assert result.returncode == 0, result.stderr
    [install] = [line for line in calls.read_text().splitlines()
                 if line.startswith("apt-get install")]
    assert install.split()[-1] == ("ca-certificates" if has_venv else "python3-venv")


def test_install_script_dirs_and_usage(tmp_path):
    owner = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    targets = [tmp_path / "data" / "analyses" / "incoming", tmp_path / "logs"]
    result = subprocess.run([str(OPS / "install.sh"), "dirs", owner, *map(str, targets)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert all(t.is_dir() for t in targets)
    for made in (tmp_path / "data", tmp_path / "data" / "analyses", *targets):
        assert made.stat().st_mode & 0o777 == 0o750, made  # not listable by everyone
    bad = subprocess.run([str(OPS / "install.sh"), "bogus"], capture_output=True, text=True)
    assert bad.returncode == 2 and "usage" in bad.stderr


def test_install_script_dirs_gives_the_owner_the_parents_it_creates(tmp_path):
    """As the image's build step runs it: as root, for the service user. Under umask 027 the
    parents mkdir -p made (/data/analyses of /data/analyses/incoming) were root's 0750,
    and the owner could not reach its own directories."""
    if os.geteuid() != 0:
        pytest.skip("the build step runs as root")
    owner = "nobody"
    uid = pwd.getpwnam(owner).pw_uid
    tmp_path.chmod(0o755)
    data = tmp_path / "data"
    targets = [data / "analyses" / "incoming", data / "analyses" / "imported", data / "logs"]
    result = subprocess.run([str(OPS / "install.sh"), "dirs", owner, *map(str, targets)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for made in (data, data / "analyses", *targets):
        assert (made.stat().st_uid, made.stat().st_mode & 0o777) == (uid, 0o750), made
    assert tmp_path.stat().st_uid == 0  # what existed stays as it was


def test_install_script_dirs_on_an_existing_directory_chowns_that_directory_alone(tmp_path):
    """`dirs ella /data` with /data a mounted disk, or run again on an upgrade: for a DIR
    that existed the walk over the made parents never ended, chowning every parent up to /
    (which it then chowned over and over). chown is a logging stand-in here, so a return of
    that defect touches nothing."""
    shim = tmp_path / "shim"
    shim.mkdir()
    log = tmp_path / "chown.log"
    (shim / "chown").write_text(f'#!/bin/sh\necho "$*" >> {log}\n')
    (shim / "chown").chmod(0o755)
    (shim / "sudo").write_text('#!/bin/sh\nexec "$@"\n')  # as a user other than root
    (shim / "sudo").chmod(0o755)
    env = dict(os.environ, PATH=f"{shim}:{os.environ['PATH']}")
    existing = tmp_path / "data"
    existing.mkdir()
    new = tmp_path / "data" / "analyses" / "incoming"
    for _ in range(2):
        result = subprocess.run([str(OPS / "install.sh"), "dirs", "nobody", str(existing),
                                 str(new)], env=env, capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
    chowned = [line.split()[-1] for line in log.read_text().splitlines()]
    assert chowned == [str(existing), str(new), str(new.parent),  # the first run made both
                       str(existing), str(new)]                   # the second made none
    # The walk goes by the path's text: data/x/.. counted as a parent made, and the existing
    # data was given away. Such a path is refused.
    for odd in (f"{existing}/x/../other", f"{existing}/./other"):
        result = subprocess.run([str(OPS / "install.sh"), "dirs", "nobody", odd], env=env,
                                capture_output=True, text=True, timeout=30)
        assert (result.returncode, result.stderr) == (
            2, f"install.sh dirs: {odd}: give the path without . or .. parts\n")
    assert len(log.read_text().splitlines()) == 5 and not (existing / "other").exists()


def test_gunicorn_post_fork_ends_a_worker_whose_master_is_already_gone(tmp_path):
    """The master dying between the fork and the hook: the worker ends there (a SIGTERM to
    itself met the master's handler, inherited over the fork, which only queues it)."""
    script = tmp_path / "worker.py"
    script.write_text(
        "import os, runpy, signal, sys, time\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        f"hooks = runpy.run_path({str(OPS / 'gunicorn.conf.py')!r})\n"
        "signal.signal(signal.SIGTERM, lambda *a: None)  # as gunicorn's arbiter\n"
        "class Master:\n"
        "    pid = os.getppid() + 1000000  # not our parent any more\n"
        "hooks['post_fork'](Master(), None)\n"
        "time.sleep(0.2)\n"
        "print('still running')\n")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            timeout=60, cwd=ROOT, env=TOOL_ENV)
    assert result.returncode == 0 and "still running" not in result.stdout, \
        result.stdout + result.stderr


def _gunicorn(tmp_path, db_url, config=DEFAULT_CONFIG, workers=1):
    """gunicorn as `bin/ella-api` execs it (past the command's own check of the database);
    returns (process, log file, port)."""
    port = _free_port()
    env = {**TOOL_ENV, "DB_URL": db_url, "HOST": "127.0.0.1", "PORT": str(port),
           "NUM_WORKERS": str(workers), "ELLA_CONFIG": str(config), "PYTHONPATH": str(ROOT)}
    log = tmp_path / "gunicorn.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config",
                                 str(OPS / "gunicorn.conf.py"), "ella.web.wsgi:application"],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    return proc, log, port


def test_a_worker_booting_while_the_database_is_away_answers_503_and_is_not_respawned(
        tmp_path):
    """A worker that replaced one that ended (killed, timed out) while the database was
    away exited with code 1, and gunicorn booted another at once: ~9 a second until the
    database came back. It now serves, answering 503, as the running workers do."""
    closed = _free_port()  # nothing listens there
    proc, log, port = _gunicorn(
        tmp_path, f"postgresql://ella@127.0.0.1:{closed}/ella?connect_timeout=2")
    try:
        status, _, body = _wait_for(
            lambda: (r := _get(f"http://127.0.0.1:{port}/api/v1/health/")) and r, 30,
            "the API")
        assert status == 503 and b"not available" in body, body
        time.sleep(2)
        assert proc.poll() is None
        assert log.read_text().count("Booting worker") == 1, log.read_text()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_a_worker_whose_database_goes_during_its_check_still_boots(db_url, monkeypatch,
                                                                    caplog):
    """Connected, then the database restarts during the head check: the error escaped the
    import, a boot error (exit 3) that stopped the whole API."""
    import importlib

    import psycopg.errors

    import ella.migrate

    def gone(*args, **kwargs):
        raise psycopg.errors.AdminShutdown("terminating connection due to administrator "
                                           "command")
    monkeypatch.setattr(ella.migrate, "at_head", gone)
    monkeypatch.setenv("DB_URL", db_url)
    monkeypatch.setenv("ELLA_CONFIG", str(DEFAULT_CONFIG))
    monkeypatch.delitem(sys.modules, "ella.web.wsgi", raising=False)
    with caplog.at_level("WARNING", logger="ella.api"):
        module = importlib.import_module("ella.web.wsgi")
    assert callable(module.application)
    assert "answering 503 until the database is back" in caplog.text
    monkeypatch.delitem(sys.modules, "ella.web.wsgi")


def _workers(pid):
    listed = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(child) for child in listed.split()]


@pytest.fixture
def two_worker_api(tmp_path, db_url):
    """gunicorn with two workers serving a config whose `non_production_warning` is FIRST:
    (process, log file, config file, the default config's text, a function reading the
    warning a worker serves)."""
    source = DEFAULT_CONFIG.read_text()
    config = tmp_path / "ella_config.yml"
    config.write_text(source.replace("!env NON_PRODUCTION_WARNING", "'FIRST'"))
    proc, log, port = _gunicorn(tmp_path, db_url, config, workers=2)

    def warning():
        status, _, body = _get(f"http://127.0.0.1:{port}/api/v1/config/")
        return status == 200 and json.loads(body)["app"]["non_production_warning"]

    try:
        assert _wait_for(warning, 60, "the API") == "FIRST"
        _wait_for(lambda: len(_workers(proc.pid)) == 2, 60, "two workers")
        yield proc, log, config, source, warning
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)


@pytest.mark.parametrize("edit", ["another value", "a mistake"])
def test_a_worker_booted_again_serves_the_config_the_api_started_with(two_worker_api, edit):
    """config-cli-ops.md 2.1: the config is read once at start; a change needs a restart. A
    worker gunicorn booted again (killed, timed out) read the edited file: it served another
    config beside the others, and a mistake in the file was its boot error, which stopped
    the whole API although nobody had restarted it."""
    proc, log, config, source, warning = two_worker_api
    config.write_text(source.replace("!env NON_PRODUCTION_WARNING", "'SECOND'")
                      if edit == "another value" else
                      source.replace("max_upload_size: 52428800", "max_upload_size: 50MB"))
    killed = _workers(proc.pid)[0]
    os.kill(killed, signal.SIGKILL)
    _wait_for(lambda: killed not in _workers(proc.pid) and len(_workers(proc.pid)) == 2,
              60, "the worker booted again")
    time.sleep(2)
    assert proc.poll() is None, log.read_text()
    assert {warning() for _ in range(40)} == {"FIRST"}


def test_a_reload_serves_an_edited_config_and_keeps_the_one_served_on_a_mistake(
        two_worker_api):
    """`kill -HUP` (gunicorn's reload) reads the config again; a mistake in it stopped the
    master with a traceback, and the API with it."""
    proc, log, config, source, warning = two_worker_api

    def reloaded(text):
        config.write_text(text)
        before = set(_workers(proc.pid))
        os.kill(proc.pid, signal.SIGHUP)
        _wait_for(lambda: not set(_workers(proc.pid)) & before
                  and len(_workers(proc.pid)) == 2, 60, "new workers")
        time.sleep(1)
        assert proc.poll() is None, log.read_text()
        return {warning() for _ in range(20)}

    assert reloaded(source.replace("!env NON_PRODUCTION_WARNING", "'SECOND'")) == {"SECOND"}
    assert reloaded(source.replace("max_upload_size: 52428800",
                                   "max_upload_size: 50MB")) == {"SECOND"}
    assert "the config was not reloaded" in log.read_text()
    assert "Traceback" not in log.read_text()


def test_a_worker_finding_the_database_not_at_head_stops_gunicorn(tmp_path, empty_db_url):
    """Not at head (changed under the running API): the worker's boot error stops the
    master, so that supervisord or systemd decide with their back-off (`bin/ella-api` then
    refuses to start, naming the cause), instead of a boot loop."""
    proc, log, _ = _gunicorn(tmp_path, empty_db_url)
    try:
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    text = log.read_text()
    assert code == 3, text
    assert text.count("Booting worker") == 1 and "the database is not ready" in text, text


def test_the_image_healthcheck_reads_an_empty_port_as_unset(tmp_path):
    """README, Configuration: an empty variable counts as unset (the entrypoint listens on
    3114 for PORT=); the HEALTHCHECK asked port 80 then, and the container was reported
    unhealthy for ever."""
    command = json.loads(re.search(r"HEALTHCHECK[^\n]*\\\n\s*CMD (\[.*\])",
                                   (ROOT / "Dockerfile").read_text()).group(1))
    assert command[:2] == ["python3", "-c"]
    asked = []

    def open_url(opener, url, timeout=None):
        asked.append(url)
    for port, expected in (("", "3114"), ("8080", "8080")):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(urllib.request.OpenerDirector, "open", open_url)
            patch.setenv("PORT", port)
            exec(command[2], {})
        assert asked.pop() == f"http://127.0.0.1:{expected}/api/v1/health/"


# --- nginx --------------------------------------------------------------------------------------

def _render(site, env, output):
    return subprocess.run([sys.executable, str(OPS / "render-nginx.py"), str(output)],
                          capture_output=True, text=True, env=env)


def test_nginx_conf_passes_nginx_t(site):
    nginx = _tool("nginx")
    env = _site_env(site)
    output = site["socket"] / "nginx.conf"
    result = _render(site, env, output)
    assert result.returncode == 0, result.stderr
    text = output.read_text()
    assert "${" not in text
    assert f"listen {env['PORT']} default_server;" in text
    assert f"server unix:{site['socket']}/api.sock" in text
    assert f"root {site['ui']};" in text
    # The attachment limit comes from the config (app.max_upload_size, 50 MiB by default),
    # plus the 64 KiB of form the API allows around the file, plus 1 MiB.
    assert "client_max_body_size 53542912;" in text
    check = subprocess.run([nginx, "-t", "-e", str(site["logs"] / "nginx-t.log"), "-c",
                            str(output)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert "test is successful" in check.stderr


def test_nginx_render_port_upstream_and_errors(site):
    env = _site_env(site, API_UPSTREAM="127.0.0.1:3115", ELLA_UI_PATH="")
    output = site["tmp"] / "n.conf"
    assert _render(site, env, output).returncode == 0
    text = output.read_text()
    assert "server 127.0.0.1:3115 fail_timeout=0;" in text
    assert f"root {OPS / 'webui-placeholder'};" in text
    bad_ui = _render(site, _site_env(site, ELLA_UI_PATH=str(site["tmp"])), output)
    assert bad_ui.returncode == 1
    assert bad_ui.stderr.count("\n") == 1 and "no index.html" in bad_ui.stderr
    bad_port = _render(site, _site_env(site, PORT="http"), output)
    assert bad_port.returncode == 1 and "PORT" in bad_port.stderr
    # A relative UI path is made absolute: nginx read it from its own prefix (/usr/share/
    # nginx), and every UI page was a 500 while the health check stayed green.
    relative = subprocess.run([sys.executable, str(OPS / "render-nginx.py"), str(output)],
                              capture_output=True, text=True, cwd=OPS.parent,
                              env=_site_env(site, ELLA_UI_PATH="ops/webui-placeholder"))
    assert relative.returncode == 0, relative.stderr
    assert f"root {OPS / 'webui-placeholder'};" in output.read_text()
    # A path nginx.conf cannot take unquoted is refused in one line naming the variable
    # (nginx then refused the whole config: FATAL, the container in a restart loop).
    for odd in ("ui build", "ui#1", "ui$x"):
        ui = site["tmp"] / odd
        ui.mkdir()
        (ui / "index.html").write_text("<html>ui</html>\n")
        refused = _render(site, _site_env(site, ELLA_UI_PATH=str(ui)), output)
        assert refused.returncode == 1 and refused.stderr.count("\n") == 1, refused.stderr
        assert refused.stderr.startswith(f"render-nginx: ELLA_UI_PATH: nginx.conf cannot "
                                         f"take {str(ui)!r}"), refused.stderr
    # A small attachment limit does not lower nginx's below the API's 10 MiB JSON bodies
    # (import jobs carry whole VCFs).
    text = DEFAULT_CONFIG.read_text()
    assert "max_upload_size: 52428800" in text
    small = site["tmp"] / "small.yaml"
    small.write_text(text.replace("max_upload_size: 52428800", "max_upload_size: 1048576"))
    assert _render(site, _site_env(site, ELLA_CONFIG=str(small)), output).returncode == 0
    assert f"client_max_body_size {11 * 1024 * 1024};" in output.read_text()
    # A SOCKET_DIR it cannot write (full, read-only, gone) is one line, not a traceback
    # (four of them in nginx.log, one per supervisord retry).
    unwritable = site["tmp"] / "no-such-dir" / "nginx.conf"
    failed = _render(site, env, unwritable)
    assert failed.returncode == 1 and failed.stderr == (
        f"render-nginx: cannot write {unwritable}: No such file or directory\n")


def test_the_systemd_unit_gives_nginx_an_access_log_it_can_open(site):
    """Under systemd, stdout is the journal's stream socket, and nginx cannot open a socket
    as /dev/stdout: with the default access log, ella-nginx.service never started."""
    nginx = _tool("nginx")
    unit = (OPS / "systemd" / "ella-nginx.service").read_text()
    access_log = re.search(r"^Environment=ACCESS_LOG=(\S+)$", unit, re.M).group(1)
    output = site["socket"] / "nginx.conf"
    for value, starts in (("", False), (access_log, True)):
        assert _render(site, _site_env(site, ACCESS_LOG=value), output).returncode == 0
        journal, other_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        with journal, other_end:
            check = subprocess.run([nginx, "-t", "-e", "stderr", "-c", str(output)],
                                   stdout=journal.fileno(), stderr=subprocess.PIPE, text=True)
        assert (check.returncode == 0) is starts, check.stderr
    assert "access_log syslog:server=unix:" in output.read_text()
    bad = _render(site, _site_env(site, ACCESS_LOG="/x; include /etc/passwd"), output)
    assert bad.returncode == 1 and "ACCESS_LOG: nginx.conf cannot take" in bad.stderr


def _group_members(pgid):
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def _listening(port, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.2)
    return False


def test_nginx_start_stops_the_workers_a_killed_master_left(site):
    """kill -9 of nginx's master (the OOM killer) leaves its workers holding the port: every
    restart failed "Address already in use" (supervisord then stopped the whole stack, and
    outside a container the orphans answered 502 until killed by hand)."""
    _tool("nginx")
    env = _site_env(site)
    port = int(env["PORT"])

    def start():  # as supervisord starts a program: the leader of a process group
        return subprocess.Popen([str(OPS / "nginx-start.sh")], env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
    first = start()
    second = None
    try:
        assert _listening(port)
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        orphans = _group_members(first.pid)
        assert orphans and _listening(port, 2)  # the workers live on, holding the port
        second = start()
        deadline = time.monotonic() + 15
        while _group_members(first.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _group_members(first.pid) == []
        assert _listening(port) and second.poll() is None, "the new nginx did not start"
    finally:
        for pid in _group_members(first.pid):
            os.kill(pid, signal.SIGKILL)
        if second is not None:
            second.send_signal(signal.SIGQUIT)
            second.wait(timeout=20)


# --- entrypoint ---------------------------------------------------------------------------------

def _entrypoint(env, cwd=None):
    return subprocess.run([str(OPS / "entrypoint.sh")], capture_output=True, text=True,
                          env=env, timeout=120, stdin=subprocess.DEVNULL, cwd=cwd)


@pytest.mark.parametrize("missing", ["DB_URL", "ELLA_CONFIG"])
def test_entrypoint_refuses_a_missing_variable(site, missing):
    env = _site_env(site, DB_URL="postgresql:///nowhere")
    env.pop(missing)
    result = _entrypoint(env)
    assert result.returncode == 1
    assert result.stderr == (f"ella entrypoint: environment variable {missing} is not set "
                             "(see README, Production: environment)\n")
    assert not (site["data"]).exists(), "nothing is created before the checks pass"


def test_entrypoint_refuses_a_checkout_path_with_a_blank(site, tmp_path):
    """supervisord splits a program's command line at blanks (and nginx.conf's values end at
    one): from "/opt/ELLA prod" no program started, not even the one that stops the stack when
    another cannot start, and supervisord ran on serving nothing."""
    (tmp_path / "ELLA prod").symlink_to(ROOT, target_is_directory=True)
    env = _site_env(site, DB_URL="postgresql:///nowhere")
    env.pop("ELLA_HOME", None)
    result = subprocess.run([str(tmp_path / "ELLA prod" / "ops" / "entrypoint.sh")],
                            capture_output=True, text=True, env=env, timeout=120,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 1
    assert result.stderr == (
        f"ella entrypoint: ELLA_HOME='{tmp_path}/ELLA prod' contains a blank, which "
        "supervisord and nginx cannot take: move or link the checkout to a path without one\n")
    assert not (site["data"]).exists(), "nothing is created before the checks pass"
    result = _entrypoint(dict(env, ELLA_HOME=f"{ROOT}/\t"))
    assert result.returncode == 1 and "contains a blank" in result.stderr, result.stderr


def test_entrypoint_refuses_a_ui_path_without_index(site, tmp_path):
    env = _site_env(site, DB_URL="postgresql:///nowhere", ELLA_UI_PATH=str(tmp_path))
    result = _entrypoint(env)
    assert result.returncode == 1
    assert result.stderr == (f"ella entrypoint: ELLA_UI_PATH={tmp_path}: no index.html there "
                             "(a build of ELLA's web UI)\n")
    assert not (site["data"]).exists(), "nothing is created before the checks pass"


def test_entrypoint_reads_a_relative_ui_path_in_the_checkout_as_nginx_does(site, tmp_path):
    """Run from another directory, the entrypoint looked for a relative ELLA_UI_PATH there,
    while nginx (started in ELLA_HOME) reads it from the checkout: one in the checkout was
    refused, one only beside the caller passed and nginx then failed."""
    (tmp_path / "beside" / "ui").mkdir(parents=True)
    (tmp_path / "beside" / "ui" / "index.html").write_text("not the checkout's\n")
    env = _site_env(site, DB_URL="postgresql://nobody@127.0.0.1:1/none?connect_timeout=2",
                    ELLA_UI_PATH="ops/webui-placeholder")
    result = _entrypoint(env, cwd=tmp_path)
    assert result.returncode == 1 and "no index.html" not in result.stderr, result.stderr
    assert "cannot check the database" in result.stderr, result.stderr  # past the UI check
    env["ELLA_UI_PATH"] = "beside/ui"
    result = _entrypoint(env, cwd=tmp_path)
    assert result.stderr == ("ella entrypoint: ELLA_UI_PATH=beside/ui: no index.html there "
                             "(a build of ELLA's web UI)\n")


def test_entrypoint_refuses_a_database_not_at_head(site, empty_db_url):
    result = _entrypoint(_site_env(site, DB_URL=empty_db_url))
    assert result.returncode == 1
    assert "Not ready: the database is empty (run `ella-db make-production`)" in result.stderr
    assert "ella entrypoint: the database is not at head: run the bin/ella-db command named " \
           "above" in result.stderr
    assert "Traceback" not in result.stderr
    # The data layout exists already (it needs no database), under the entrypoint's umask:
    # analyses and attachments were listable by every local user (0755).
    for sub in ("", "attachments", "analyses", "analyses/incoming", "analyses/imported",
                "igv-data"):
        assert (site["data"] / sub).is_dir(), sub
        assert (site["data"] / sub).stat().st_mode & 0o777 == 0o750, sub


def test_entrypoint_names_adopt_for_an_ella_database(site, demo_db_url):
    result = _entrypoint(_site_env(site, DB_URL=demo_db_url))
    assert result.returncode == 1
    assert "Not ready: the ELLA database has not been adopted (run `ella-db adopt`)" in \
        result.stderr
    assert "make-production" not in result.stderr and "migrate" not in result.stderr


@pytest.mark.parametrize("problem, expected", [
    ({"DB_URL": "postgresql://ella:S3cretPW@127.0.0.1:1/ella"}, "cannot connect to the database"),
    ({"NUM_WORKERS": "many"}, "environment variable NUM_WORKERS must be an integer"),
])
def test_entrypoint_gives_no_schema_advice_when_it_cannot_check(site, db_url, problem,
                                                                 expected):
    result = _entrypoint(_site_env(site, **{"DB_URL": db_url, **problem}))
    assert result.returncode == 1
    assert expected in result.stderr
    assert result.stderr.endswith("ella entrypoint: cannot check the database and the config "
                                  "(the error above); nothing was started\n"), result.stderr
    assert "at head" not in result.stderr and "S3cretPW" not in result.stderr


def test_entrypoint_names_no_command_for_a_database_no_command_fixes(site, db_url):
    """A revision this code does not know (an image older than the database): the
    entrypoint said to run "the bin/ella-db command named above", and none was named."""
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'abcdef123456'")
    result = _entrypoint(_site_env(site, DB_URL=db_url))
    assert result.returncode == 1
    assert "Not ready: alembic_version holds the unknown revision 'abcdef123456'" in \
        result.stderr
    assert result.stderr.endswith("ella entrypoint: this service cannot run on the database "
                                  "(the reason above); nothing was started\n"), result.stderr


# --- supervisord: the whole process set -----------------------------------------------------------

def _get(url, timeout=5, headers=None):
    try:
        request = urllib.request.Request(url, headers=headers or {})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def _wait_for(predicate, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except (OSError, urllib.error.URLError):
            value = None
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_entrypoint_runs_supervisord_with_nginx_api_and_watcher(site, db_url):
    _tool("supervisord")
    _tool("nginx")
    # A socket directory the entrypoint creates (0750): started as root, as CI runs this,
    # nginx's workers (another user) could not reach the API's socket in it, every request
    # a 502.
    site["socket"] = site["base"] / "socket-made-by-the-entrypoint"
    env = _site_env(site, DB_URL=db_url)
    conf = str(OPS / "supervisord.conf")
    proc = subprocess.Popen([str(OPS / "entrypoint.sh")], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    base = f"http://127.0.0.1:{env['PORT']}"
    try:
        status, headers, body = _wait_for(
            lambda: (r := _get(base + "/api/v1/config/")) and r[0] == 200 and r, 90,
            "the API through nginx")
        assert b'"app"' in body or b"app" in body
        # Static UI from ELLA_UI_PATH; unknown paths fall back to its index.html.
        for path in ("/", "/overview/analyses", "/workflows/analyses/3"):
            status, headers, body = _get(base + path)
            assert status == 200 and b"ELLA web UI build" in body, path
            assert headers.get("X-Content-Type-Options") == "nosniff"
            assert headers.get("X-Frame-Options") == "SAMEORIGIN"
        status, _, body = _get(base + "/app.js")
        assert status == 200 and b"console.log" in body
        # nginx's own redirect (a directory without its slash) is relative: an absolute one
        # named this internal port over plain HTTP, past the site's TLS proxy.
        (site["ui"] / "docs").mkdir()
        (site["ui"] / "docs" / "index.html").write_text("docs\n")
        connection = http.client.HTTPConnection("127.0.0.1", int(env["PORT"]), timeout=5)
        connection.request("GET", "/docs", headers={"Host": "ella.lab.example"})
        redirect = connection.getresponse()
        assert redirect.status == 301 and redirect.getheader("Location") == "/docs/"
        connection.close()
        status, headers, _ = _get(base + "/api/v1/config/")
        assert headers.get("X-Frame-Options") == "SAMEORIGIN"
        assert "sandbox" in headers.get("Content-Security-Policy", "")
        with urllib.request.urlopen(base + "/api/v1/config/", timeout=5) as response:
            assert response.headers.get_all("X-Content-Type-Options") == ["nosniff"]
        assert "nginx/" not in headers.get("Server", "")

        ctl = shutil.which("supervisorctl") or "supervisorctl"
        states = _wait_for(lambda: _running(ctl, conf, env), 90, "RUNNING programs")
        assert {"nginx", "api", "workers:analysis-watcher", "workers:polling"} <= states

        # The data layout and the logs, one line per event in the one format.
        for sub in ("attachments", "analyses/incoming", "analyses/imported", "igv-data"):
            assert (site["data"] / sub).is_dir(), sub
        line = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \[[A-Z]+\] [\w.]+: ")
        api_log = _wait_for(lambda: (t := (site["logs"] / "api.log").read_text())
                            and "gunicorn.access" in t and t, 15, "the access log line")
        assert all(line.match(x) for x in api_log.splitlines() if x.strip()), api_log
        nginx_log = (site["logs"] / "nginx.log").read_text()
        assert "Starting nginx listening on port" in nginx_log
        # nginx logs to stdout/stderr, which supervisord writes (and rotates) as nginx.log.
        assert nginx_log.count("GET /") >= 4
        # The API's access log names the peer nginx saw, not what a client put in
        # X-Forwarded-For.
        _get(base + "/api/v1/health/?xff-check", headers={"X-Forwarded-For": "6.6.6.6"})
        access = _wait_for(lambda: [x for x in (site["logs"] / "api.log").read_text()
                                    .splitlines() if "xff-check" in x], 15, "the access line")
        assert "6.6.6.6" not in access[0] and "127.0.0.1" in access[0], access
        # Scheme headers a site's TLS proxy adds (nginx-proxy, Apache setups) contradicted
        # our nginx's X-Forwarded-Proto: gunicorn answered every request with an HTML 400.
        for header in ({"X-Forwarded-Ssl": "on"}, {"X-Forwarded-Protocol": "ssl"},
                       {"X-Forwarded-Proto": "https"}):
            status, _, body = _get(base + "/api/v1/config/", headers=header)
            assert status == 200, (header, status, body[:200])
        # nginx's line leaves out the user name of an Authorization header ("combined" has it).
        _get(base + "/api/v1/health/?auth-check",
             headers={"Authorization": "Basic " + base64.b64encode(b"basicuser:pw").decode()})
        nginx_line = _wait_for(lambda: [x for x in (site["logs"] / "nginx.log").read_text()
                                        .splitlines() if "auth-check" in x], 15, "nginx's line")
        assert re.match(r'^127\.0\.0\.1 - - \[.+\] "GET /api/v1/health/\?auth-check HTTP/1\.1" '
                        r'200 ', nginx_line[0]) and "basicuser" not in nginx_line[0], nginx_line
        # Only the service's user (and group) may use the API's socket (when it is not root:
        # see test_gunicorn_socket_is_private_to_the_service_user) or read what the programs
        # write (Docker's umask 022 left patient data world-readable).
        for written in site["logs"].iterdir():
            assert written.stat().st_mode & 0o007 == 0, written

        # The image's HEALTHCHECK command passes against the running stack.
        healthcheck = json.loads(re.search(r"HEALTHCHECK[^\n]*\\\n\s*CMD (\[.*\])",
                                           (ROOT / "Dockerfile").read_text()).group(1))
        assert subprocess.run(healthcheck, env=env, timeout=30).returncode == 0
        # Also with a site's proxy in the environment (it went through it: always unhealthy).
        proxied = dict(env, http_proxy=f"http://127.0.0.1:{_free_port()}",
                       HTTP_PROXY=f"http://127.0.0.1:{_free_port()}")
        assert subprocess.run(healthcheck, env=proxied, timeout=30).returncode == 0

        # Clients sending their bodies slowly, one per gunicorn worker, do not stall the API:
        # nginx buffers the body before a (sync) worker sees the request.
        slow = []
        try:
            for _ in range(int(env["NUM_WORKERS"])):
                client = socket.create_connection(("127.0.0.1", int(env["PORT"])))
                client.sendall(b"POST /api/v1/users/actions/login/ HTTP/1.1\r\nHost: x\r\n"
                               b"Content-Type: application/json\r\nContent-Length: 100\r\n"
                               b"\r\n{")
                slow.append(client)
            time.sleep(1)
            status, _, _ = _get(base + "/api/v1/health/", timeout=15)
            assert status == 200
        finally:
            for client in slow:
                client.close()
        assert (site["logs"] / "supervisord.log").exists()
        assert (site["logs"] / "analysis-watcher.log").exists()
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            output, _ = proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
    assert proc.returncode == 0, output
    assert not (site["socket"] / "supervisord.pid").exists()


def _running(ctl, conf, env):
    result = subprocess.run([ctl, "-c", conf, "status"], capture_output=True, text=True,
                            env=env, timeout=20)
    states = {}
    for row in result.stdout.splitlines():
        parts = row.split()
        if len(parts) >= 2:
            states[parts[0]] = parts[1]
    running = {name for name, state in states.items() if state == "RUNNING"}
    # Every program: the poller, too, may still be STARTING on a loaded machine.
    return running if {"nginx", "api", "workers:analysis-watcher", "workers:polling"} \
        <= running else None


def test_docker_stop_timeout_covers_the_slowest_stop():
    """supervisord stops its groups one after the other (highest priority first) and the
    programs of a group together: the README's --stop-timeout must cover the sum over the
    groups of their longest stop allowance, or docker kills an import or job halfway."""
    conf = configparser.RawConfigParser()
    conf.read(OPS / "supervisord.conf")
    in_group = {p: s for s in conf.sections() if s.startswith("group:")
                for p in conf[s]["programs"].split(",")}
    groups = {}
    for section in conf.sections():
        if not section.startswith("program:"):
            continue
        name = section.split(":", 1)[1]
        group = in_group.get(name, f"program:{name}")
        priority = int(conf[group].get("priority", 999))
        wait = int(conf[section].get("stopwaitsecs", 10))  # supervisord's default
        groups.setdefault(group, (priority, []))[1].append((name, wait))
    order = [g for g, _ in sorted(groups.items(), key=lambda item: -item[1][0])]
    # Producers of new work stop first (together), the API next, nginx last.
    assert order == ["group:workers", "program:api", "program:nginx"], order
    assert sorted(n for n, _ in groups["group:workers"][1]) == ["analysis-watcher", "polling"]
    worst = sum(max(w for _, w in programs) for _, programs in groups.values())
    readme = (ROOT / "README.md").read_text()
    documented = {int(x) for x in re.findall(r"--stop-timeout (\d+)", readme)}
    # With a margin: supervisord and the shell need a moment of their own.
    assert len(documented) == 1 and worst + 10 <= documented.pop(), (worst, documented)


def test_supervisord_restarts_every_program_and_gives_up_on_one_that_cannot_start():
    """A program that exits within `startsecs` failed to start (FATAL after the retries, and
    fatal-exit stops the stack). With supervisord's default 1 s, a Python program refusing
    its config on a loaded host counted as started and was restarted without end; and the
    default `autorestart=unexpected` left a program stopped from outside (exit 0) down,
    the stack answering 502."""
    conf = configparser.RawConfigParser()
    conf.read(OPS / "supervisord.conf")
    programs = {s.split(":", 1)[1]: conf[s] for s in conf.sections()
                if s.startswith("program:")}
    assert set(programs) == {"nginx", "api", "analysis-watcher", "polling"}
    for name, section in programs.items():
        assert section.get("autorestart") == "true", name
        assert int(section.get("startsecs", 1)) >= (5 if name == "nginx" else 10), name


# --- systemd --------------------------------------------------------------------------------------

def test_the_nginx_unit_renders_its_config_again_on_reload():
    """A reload only sent HUP: nginx re-read the config rendered at start, so a changed
    setting (the upload limit) needed a restart."""
    unit = (OPS / "systemd" / "ella-nginx.service").read_text()
    socket_dir = re.search(r"SOCKET_DIR=(\S+)", unit).group(1)
    reloads = re.findall(r"^ExecReload=(.*)$", unit, re.M)
    assert reloads == [f"/opt/ella/.venv/bin/python /opt/ella/ops/render-nginx.py "
                       f"{socket_dir}/nginx.conf", "/bin/kill -HUP $MAINPID"]
    # The file nginx runs: ops/nginx-start.sh renders and runs SOCKET_DIR/nginx.conf.
    assert 'conf="${SOCKET_DIR:-/socket}/nginx.conf"' in (OPS / "nginx-start.sh").read_text()


def test_the_api_unit_reloads_gunicorn():
    """`systemctl reload ella-api` failed ("Job type reload is not applicable"): the unit had
    no ExecReload, though the README offers a reload for a changed config."""
    unit = (OPS / "systemd" / "ella-api.service").read_text()
    assert re.findall(r"^ExecReload=(.*)$", unit, re.M) == ["/bin/kill -HUP $MAINPID"]
    # bin/ella-api execs the API, which execs gunicorn: its master is the main process.
    assert '" -m ella.cli.api "$@"' in (ROOT / "bin" / "ella-api").read_text()
    assert "exec" in (ROOT / "bin" / "ella-api").read_text().splitlines()[-1]


def test_systemd_units_verify(tmp_path):
    analyze = _tool("systemd-analyze")
    env_file = tmp_path / "ella.env"
    env_file.write_text("DB_URL=postgresql:///ella\nELLA_CONFIG=/data/ella_config.yml\n")
    names = [u.name for u in UNITS] + ["ella.target"]
    assert {"ella-api.service", "ella-watcher.service", "ella-polling.service",
            "ella-nginx.service"} <= set(names)
    for name in names:
        text = (OPS / "systemd" / name).read_text()
        # Installed at /opt/ella; verified against this checkout (ExecStart must exist).
        text = text.replace("/opt/ella", str(ROOT)).replace("/etc/ella/ella.env", str(env_file))
        (tmp_path / name).write_text(text)
    for unit in UNITS:
        text = unit.read_text()
        for option in ("NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes",
                       "User=ella", "Restart=on-failure", "WantedBy=ella.target"):
            assert option in text, f"{unit.name}: {option}"
        if unit.name != "ella-nginx.service":
            # The stop signal goes to the main process only, which finishes its request, import
            # or job (a job's pre-import script included) before exiting.
            assert "\nKillMode=mixed\n" in text, unit.name
        # Only nginx may listen below port 1024 (PORT=80 failed with permission denied,
        # restarted every 5 s); the others get no capability at all.
        capabilities = "CAP_NET_BIND_SERVICE" if unit.name == "ella-nginx.service" else ""
        for option in ("CapabilityBoundingSet", "AmbientCapabilities"):
            assert f"\n{option}={capabilities}\n" in text, (unit.name, option)
    result = subprocess.run([analyze, "verify", "--man=no",
                             *[str(tmp_path / n) for n in names]],
                            capture_output=True, text=True, cwd=tmp_path, timeout=120)
    problems = [x for x in (result.stdout + result.stderr).splitlines()
                if x.strip() and "ella" in x]
    assert result.returncode == 0 and not problems, result.stdout + result.stderr


# --- logging: one config ----------------------------------------------------------------------------

def test_logging_config_is_the_one_format():
    config = logging_setup.dict_config("debug")
    assert config["formatters"]["line"]["format"] == "%(asctime)s [%(levelname)s] %(name)s: %(message)s"
    assert config["root"]["level"] == "DEBUG"
    gunicorn_conf = (OPS / "gunicorn.conf.py").read_text()
    assert "logconfig_dict = logging_setup.dict_config()" in gunicorn_conf
    watcher = (ROOT / "ella" / "cli" / "watcher.py").read_text()
    assert "logging_setup.setup()" in watcher


@pytest.mark.parametrize("euid, umask", [(1000, 0o027), (0, 0)])
def test_gunicorn_socket_is_private_to_the_service_user(monkeypatch, euid, umask):
    """gunicorn binds its unix socket with the config's umask (its default 0 makes it
    world-writable); as root, nginx's workers run as another user and need it open."""
    monkeypatch.setattr(os, "geteuid", lambda: euid)
    settings = {"__file__": str(ROOT / "ops" / "gunicorn.conf.py")}
    exec(compile((ROOT / "ops" / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"),
         settings)
    assert settings["umask"] == umask
    assert settings["control_socket_disable"] is True


@pytest.mark.parametrize("given, trusted", [
    ("", "127.0.0.1/32"), (None, "127.0.0.1/32"), (" * ", "*"),
    ("10.1.2.3, fd00::/8", "10.1.2.3/32,fd00::/8")])
def test_gunicorn_trusts_the_proxies_the_api_trusts(monkeypatch, given, trusted):
    """An empty FORWARDED_ALLOW_IPS was the default (127.0.0.1) to the API and "no proxy" to
    gunicorn, which then ignored nginx's X-Forwarded-Proto."""
    if given is None:
        monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    else:
        monkeypatch.setenv("FORWARDED_ALLOW_IPS", given)
    settings = {"__file__": str(ROOT / "ops" / "gunicorn.conf.py")}
    exec(compile((ROOT / "ops" / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"),
         settings)
    assert settings["forwarded_allow_ips"] == trusted
    from gunicorn.config import Config
    config = Config()
    config.set("forwarded_allow_ips", settings["forwarded_allow_ips"])  # gunicorn takes it


def test_gunicorn_binds_an_ipv6_host_in_brackets(monkeypatch):
    """HOST=::1 made the bind "::1:3114", which gunicorn read as host "" and a port ""."""
    monkeypatch.setenv("HOST", "::1")
    monkeypatch.delenv("SOCKET", raising=False)
    monkeypatch.setenv("PORT", "3115")
    settings = {"__file__": str(ROOT / "ops" / "gunicorn.conf.py")}
    exec(compile((ROOT / "ops" / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"),
         settings)
    assert settings["bind"] == ["[::1]:3115"]


def test_a_program_supervisord_gives_up_on_stops_the_stack(site, db_url):
    """nginx cannot start at all (its config includes a missing file): after supervisord's
    retries it is FATAL, and the event listener stops supervisord, so the container exits
    (and its restart policy brings it back) instead of running on without nginx."""
    _tool("supervisord")
    _tool("nginx")
    env = _site_env(site, DB_URL=db_url, MIME_TYPES=str(site["base"] / "no-mime.types"))
    proc = subprocess.Popen([str(OPS / "entrypoint.sh")], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        raise AssertionError("supervisord kept running with nginx FATAL: " + output[-2000:])
    log = (site["logs"] / "fatal-exit.log").read_text()
    assert "processname:nginx" in log and "stopping supervisord" in log, log
    assert not (site["socket"] / "supervisord.pid").exists()
    # A failure, not a clean stop: the restart policy (on-failure too) and `docker ps -a`
    # must see it (supervisord itself exits 0).
    assert proc.returncode == 1, output[-1500:]
    assert "ella entrypoint: stopped because a program could not be kept running: " \
           "processname:nginx" in output


def test_a_stop_while_the_entrypoint_checks_the_database_starts_nothing(site, db_url):
    """As a container's PID 1 the entrypoint gets no default action for SIGTERM: a `docker
    stop` while `ella-db compare` ran was lost, and the whole stack started anyway (ended
    only by the SIGKILL after the stop timeout). Run here as PID 1 of a PID namespace."""
    _tool("supervisord")
    _tool("nginx")
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("a PID namespace needs root and unshare")
    env = _site_env(site, DB_URL=db_url)
    with psycopg.connect(db_url) as holder:
        # The check waits for this lock: the stop comes while it runs.
        holder.execute("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE")
        proc = subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc",
                                 str(OPS / "entrypoint.sh")], env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            _wait_for(lambda: holder.execute(
                "SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()[0], 60,
                "the check to wait for the lock")
            entrypoint = _wait_for(lambda: subprocess.run(
                ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split(),
                10, "the entrypoint (PID 1 of the namespace)")[0]
            os.kill(int(entrypoint), signal.SIGTERM)
            time.sleep(1)
            holder.rollback()  # the check ends
            output, _ = proc.communicate(timeout=60)
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
    assert proc.returncode == 0, output[-1500:]
    assert "ella entrypoint: stopped before the programs were started" in output
    assert not (site["logs"] / "supervisord.log").exists()


def _session_members(sid):
    members = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{entry}/stat").read_text(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z" and int(fields[3]) == sid:
            members.append(int(entry))
    return members


def test_the_entrypoint_stops_the_programs_a_killed_supervisord_left(site, db_url):
    """supervisord killed outright (kill -9, the OOM killer) left nginx, the API, the watcher
    and the poller running: on a host a new start ran a second watcher beside the first, its
    nginx could not bind the port and the old one answered 502 until someone killed them."""
    _tool("supervisord")
    _tool("nginx")
    env = _site_env(site, DB_URL=db_url)
    proc = subprocess.Popen([str(OPS / "entrypoint.sh")], env=env, text=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    conf = str(OPS / "supervisord.conf")
    ctl = shutil.which("supervisorctl") or "supervisorctl"
    sid = None
    try:
        _wait_for(lambda: _running(ctl, conf, env), 90, "RUNNING programs")
        sid = int((site["socket"] / "supervisord.pid").read_text())
        assert len(_session_members(sid)) >= 5  # supervisord, nginx, gunicorn, two workers
        os.kill(sid, signal.SIGKILL)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
        for pid in _session_members(sid) if sid else ():
            os.kill(pid, signal.SIGKILL)
    assert "ella entrypoint: supervisord ended without stopping its programs; stopping " \
        in output, output[-1500:]
    assert proc.returncode == 128 + signal.SIGKILL
    assert _session_members(sid) == []
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", int(env["PORT"])), timeout=2).close()


def test_the_entrypoint_keeps_supervisord_as_its_child_under_job_control(site, tmp_path):
    """Run with job control (`sh -m`, an interactive shell), the background job led its own
    process group, so setsid forked: the entrypoint waited for setsid's parent, exited 0 at
    once and left supervisord running, out of reach of its stop. (A supervisord stand-in.)"""
    if not shutil.which("script") or not shutil.which("setsid"):
        pytest.skip("needs util-linux's script and setsid")
    home = tmp_path / "home"
    (home / "bin").mkdir(parents=True)
    (home / "ops").mkdir()
    (home / "ops" / "end-session.py").symlink_to(OPS / "end-session.py")
    checker = home / "bin" / "ella-db"
    checker.write_text("#!/bin/sh\necho 'Migration status OK!'\n")
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    stub = stubs / "supervisord"
    stub.write_text('#!/bin/sh\necho $$ > "$SOCKET_DIR/stub.pid"\n'
                    "trap 'exit 0' TERM\nwhile :; do sleep 0.2; done\n")
    for script in (checker, stub):
        script.chmod(0o755)
    env = _site_env(site, DB_URL="postgresql:///unused", ELLA_HOME=str(home),
                    PATH=f"{stubs}:{os.environ['PATH']}")
    proc = subprocess.Popen(["script", "-qec", f"sh -m {OPS / 'entrypoint.sh'}", "/dev/null"],
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    pid_file = site["socket"] / "stub.pid"
    stub_pid = None
    try:
        stub_pid = int(_wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(),
                                 30, "the stand-in to start"))
        stat = Path(f"/proc/{stub_pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2:].split()
        assert int(fields[3]) == stub_pid  # a session leader, with the pid the shell has
        time.sleep(1)
        assert proc.poll() is None, proc.communicate()[0]  # still waiting for it
        os.kill(int(fields[1]), signal.SIGTERM)  # the entrypoint: its parent
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
        if stub_pid:
            try:
                os.kill(stub_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    assert not Path(f"/proc/{stub_pid}").exists() or \
        Path(f"/proc/{stub_pid}/stat").read_text().split(") ")[1].startswith("Z"), output
