"""A fork server that runs the bin/ tools for the tests without starting Python each time.

Each bin/ tool is a shell wrapper around `python -m ella.cli.<tool>`: a new interpreter that
imports psycopg, jsonschema and the project again, about 0.4 s before the command does
anything (the suite runs about a thousand of them). This server, one per test process,
imports what all tools import (PRELOADED) once; per run it forks a fresh child that gets the
run's arguments, environment, working directory and standard streams, runs the module as
`python -m` does and exits as that interpreter would (_run_as_main). The runs of one server
share its string hash seed (set order), which executed runs each draw anew.

The client (helpers.run_cli) sends a run here only when the run's environment equals the
server's in everything an interpreter reads as it starts (locale, PYTHON*, TMPDIR, ...): only
RUNTIME_KEYS, which the tools read when they run, may differ. Any other run execs the bin/
wrapper as before.

Protocol, one connection per run over a unix socket: the client sends an 8-byte length with
three descriptors (stdin, stdout, stderr) attached, then that many bytes of JSON
{module, argv, env, cwd}; the server answers "<pid>\\n" when the run starts and
"<exit code>\\n" when it ends (negative: killed by that signal, as subprocess reports it).
"""

import atexit
import io
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import types
from pathlib import Path

# Environment variables the tools read only while they run (config.env_settings, libpq at
# connect time, the watcher's lists, the audit's user name): they may differ per run.
RUNTIME_KEYS = frozenset({
    "DB_URL", "ELLA_CONFIG", "ANALYSES_PATH", "ANALYSES_INCOMING", "IGV_DATA", "LOG_LEVEL",
    "PORT", "HOST", "SOCKET", "COOKIE_SECURE", "NUM_WORKERS", "GUNICORN_TIMEOUT", "LOGPATH",
    "NCBI_API_KEY", "ELLA_WATCHER_WHITELISTFILE", "ELLA_WATCHER_BLACKLISTFILE",
    "ANNOTATION_SERVICE_URL", "PGCONNECT_TIMEOUT", "PGSERVICE", "PGPASSFILE", "USER",
    "LOGNAME",
    "PYTEST_CURRENT_TEST"})  # (pytest's, per test; no tool reads it)

HEADER = struct.Struct("!Q")
# What every tool imports (psycopg, jsonschema, yaml, the config and database modules come
# with it), and no more: a module preloaded for one tool would be there for all, and a tool
# using a submodule it never imports would work here and fail when executed.
PRELOADED = ("ella.cli.common",)


def same_start(env, server_env):
    """Whether an interpreter started with `env` would start as the server did."""
    keys = (set(env) | set(server_env)) - RUNTIME_KEYS
    return all(env.get(key) == server_env.get(key) for key in keys)


def _receive_exactly(conn, size):
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise EOFError("the client went away")
        data += chunk
    return data


def _serve(listener, parent):
    """Accept runs until the test process is gone; returns (request, fds) in each run's
    child, which then becomes that run."""
    listener.settimeout(1.0)
    while True:
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:  # the runs' watchers that ended
                pass
        except ChildProcessError:
            pass
        if os.getppid() != parent:
            sys.exit(0)
        try:
            conn, _ = listener.accept()
        except socket.timeout:
            continue
        conn.settimeout(None)
        try:
            header, fds, _, _ = socket.recv_fds(conn, HEADER.size, 3)
            request = json.loads(_receive_exactly(conn, HEADER.unpack(header)[0]))
        except (OSError, EOFError, ValueError, struct.error):
            conn.close()
            continue
        if os.fork() != 0:
            conn.close()
            for fd in fds:
                os.close(fd)
            continue
        # The run's watcher: starts the run, tells its pid and, when it ends, its exit code.
        listener.close()
        pid = os.fork()
        if pid == 0:
            conn.close()
            return request, fds
        for fd in fds:
            os.close(fd)
        try:
            conn.sendall(f"{pid}\n".encode())
            _, status = os.waitpid(pid, 0)
            conn.sendall(f"{os.waitstatus_to_exitcode(status)}\n".encode())
        finally:
            os._exit(0)


def _become(request, fds):
    """Turn this child into the run: its streams, environment, directory and arguments."""
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    sys.modules.pop(request["module"], None)  # `python -m` runs it fresh, as __main__
    # ... in an empty __main__, not the one of this server's boot line (`sys` defined there).
    sys.modules["__main__"] = types.ModuleType("__main__")
    sys.argv = ["-m", *request["argv"]]


def main(socket_path):
    for name in PRELOADED:
        __import__(name)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(64)
    print("ready", flush=True)
    request, fds = _serve(listener, os.getppid())
    _become(request, fds)
    os._exit(_run_as_main(request["module"]))


def _run_as_main(module):
    """What `python -m module` does, and what its interpreter does as it ends: the exit code
    of SystemExit, an unhandled exception's traceback, non-daemon threads waited for,
    atexit handlers, the tool's own objects finalized (its module namespace cleared, then a
    garbage collection: files closed, "Exception ignored" lines), the final flush of stdout
    and stderr. Not the teardown of every imported module (a tenth of a second here)."""
    import atexit
    import gc
    import runpy
    import threading
    interrupted = False
    try:
        runpy._run_module_as_main(module, alter_argv=True)
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc.code)
    except BaseException as exc:
        # The traceback from the tool's frames down, as the interpreter prints it.
        exc = exc.with_traceback(exc.__traceback__.tb_next)
        sys.excepthook(type(exc), exc, exc.__traceback__)
        interrupted, code = isinstance(exc, KeyboardInterrupt), 1
    threading._shutdown()
    atexit._run_exitfuncs()
    sys.modules["__main__"].__dict__.clear()
    gc.collect()
    for stream in (sys.stdout, sys.stderr):
        try:
            if not stream.closed:
                stream.flush()
        except (OSError, ValueError):
            code = 120  # as the interpreter's own failed final flush
    if interrupted:  # the interpreter ends by SIGINT then (-2 to subprocess)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    return code


def _exit_code(value):
    """The exit status SystemExit(value) gives: an int modulo 256 (one beyond a C long,
    255), None 0, anything else printed to stderr and 1."""
    if value is None:
        return 0
    if isinstance(value, int):
        return 255 if abs(value) >= 2 ** 63 else value & 0xFF
    print(value, file=sys.stderr)
    return 1


# --------------------------------------------------------------------------------------------
# The client side: used by helpers.run_cli in the test process.

ROOT = Path(__file__).resolve().parent.parent
_STARTED = {"server": None}
_START_LOCK = threading.Lock()


def wrapper_env(env):
    """The environment the bin/ wrapper gives the interpreter: the project first on the path."""
    env = dict(env)
    env["PYTHONPATH"] = str(ROOT) + (":" + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _interpreter():
    venv = ROOT / ".venv" / "bin" / "python"  # the wrapper's choice
    return str(venv) if os.access(venv, os.X_OK) else shutil.which("python3")


class Server:
    """One fork server of this test process, stopped when the process ends."""

    def __init__(self):
        base = {k: v for k, v in os.environ.items() if k not in ("DB_URL", "ELLA_CONFIG")}
        self.env = wrapper_env(base)
        self.directory = tempfile.mkdtemp(prefix="ella-test-cli-")
        self.path = os.path.join(self.directory, "socket")
        boot = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
                "import cli_forkserver; sys.path.pop(0); cli_forkserver.main(sys.argv[1])")
        with open(os.path.join(self.directory, "server.log"), "wb") as log:
            self.process = subprocess.Popen(
                [_interpreter(), "-c", boot, self.path], env=self.env, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=log, cwd=ROOT)
        if self.process.stdout.readline() != b"ready\n":
            raise RuntimeError("the CLI fork server did not start: see "
                               + os.path.join(self.directory, "server.log"))
        atexit.register(self.stop)

    def stop(self):
        self.process.kill()
        self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)

    def run(self, module, args, env, stdin_text, cwd, timeout):
        """subprocess.run(..., capture_output=True, text=True) of `python -m module`. The
        streams are files, not pipes: the result comes when the tool exits (an executed
        tool's result waits until every process holding its pipes ended; no tool leaves one)."""
        args = [os.fspath(arg) for arg in args]  # paths too, as subprocess takes them
        # What subprocess refuses before it starts anything.
        if any("\0" in text for text in [*args, *env, *env.values()]):
            raise ValueError("embedded null byte")
        if cwd is not None and not os.path.isdir(cwd):
            raise FileNotFoundError(2, "No such file or directory", str(cwd))
        with tempfile.TemporaryFile() as stdin, tempfile.TemporaryFile() as stdout, \
                tempfile.TemporaryFile() as stderr:
            text = io.TextIOWrapper(stdin, write_through=True)  # as subprocess writes input
            text.write(stdin_text)
            text.detach()
            stdin.seek(0)
            request = json.dumps({"module": module, "argv": args, "env": env,
                                  "cwd": str(cwd or os.getcwd())}).encode()
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.connect(self.path)
                socket.send_fds(conn, [HEADER.pack(len(request))],
                                [stdin.fileno(), stdout.fileno(), stderr.fileno()])
                conn.sendall(request)
                conn.settimeout(timeout)
                answer, pid = conn.makefile("rb"), None
                try:
                    pid = int(answer.readline())
                    code = int(answer.readline())
                except socket.timeout:
                    if pid is not None:
                        os.kill(pid, signal.SIGKILL)
                    raise subprocess.TimeoutExpired([module, *args], timeout) from None
            return subprocess.CompletedProcess(
                [module, *args], code, _read_text(stdout), _read_text(stderr))


def _read_text(file):
    file.seek(0)
    text = io.TextIOWrapper(file)  # universal newlines, as subprocess's text mode
    try:
        return text.read()
    finally:
        text.detach()


def server():
    with _START_LOCK:
        if _STARTED["server"] is None or _STARTED["server"].process.poll() is not None:
            _STARTED["server"] = Server()
        return _STARTED["server"]
