"""The one-command demo as a real process tree: started, looked at and cleaned up by pid.

The demo runs on its embedded PostgreSQL and Redis in a temporary instance folder, never the machine's
servers. A pre-seeded instance folder is copied for each run, so a test waits for the web app and the
workers, not for migrations and seeding.
"""

import contextlib
import http.cookiejar
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent.parent

# Variables of the developer's shell that would point the demo at real services.
_DROPPED = {"DATABASE_URL", "REDIS_URL", "MIGRATION_DATABASE_URL", "CONSOLE_DATABASE_URL", "SECRET_KEY",
            "SWITCHBOARD_ENV", "SENTRY_DSN", "PUBLIC_BASE_URL"}  # fmt: skip


@contextlib.contextmanager
def shared_temporary_folder() -> Iterator[Path]:
    """A temporary folder for instance folders, removed afterwards, that any account may enter.

    As root the embedded PostgreSQL runs as an unprivileged account (app/embedded/postgres.py), which may not
    enter pytest's temporary folders (private to root).
    """
    folder = Path(tempfile.mkdtemp(prefix="sb-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def demo_env(instance: Path) -> dict[str, str]:
    """The environment of a newcomer's shell (as `scripts/demo` sets it), with this instance folder."""
    env = {key: value for key, value in os.environ.items() if key not in _DROPPED}
    env.update(SWITCHBOARD_ENV="development", SWITCHBOARD_INSTANCE=str(instance), LOG_LEVEL="WARNING")
    return env


def flask(env: dict[str, str], *arguments: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`flask --app wsgi …` run to its end (a second command beside the demo, or the set-up)."""
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *arguments],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def copy_instance(seeded: Path, instance: Path) -> None:
    """Copy the seeded cluster (stopped) and secret key; `cp -a` keeps the data's owner, the server's account."""
    instance.mkdir(parents=True)
    shutil.copy2(seeded / "secret_key", instance / "secret_key")
    subprocess.run(["cp", "-a", str(seeded / "pg"), str(instance / "pg")], check=True)


def start_demo(instance: Path, port: int, log: Path) -> subprocess.Popen:
    """`flask --app wsgi demo` (what `scripts/demo` execs), in its own session like a terminal's job.

    Its mail gateway and clinic website get free ports too: the defaults (2525, 8090) were free when the
    demo looked, and another test took 2525 before its gateway bound it (CI: the demo stopped itself)."""
    ports = ["--port", str(port), "--mail-port", str(free_port()), "--site-port", str(free_port())]
    with open(log, "ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "demo", *ports],
            cwd=ROOT, env=demo_env(instance), stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def wait_until_serving(demo: subprocess.Popen, instance: Path, port: int, log: Path, *, timeout: float = 180) -> None:
    """Wait for the login page and for every process of the demo: the web app, worker, cron and the servers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert demo.poll() is None, f"the demo exited early:\n{log.read_text()}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as response:
                if response.status == 200 and _complete(demo.pid, instance):
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"the demo did not come up in {timeout} s:\n{log.read_text()}")


def _complete(pid: int, instance: Path) -> bool:
    commands = [command_line(process) for process in _alive(family(pid, instance))]
    return (
        sum("gunicorn" in command for command in commands) >= 3  # the master and its two workers
        and any(command.endswith("worker.py") for command in commands)
        and any(command.endswith("worker.py cron") for command in commands)
        and any("redis-server" in command for command in commands)
        and bool(postgres_servers_in(instance))
    )


def command_line(process: psutil.Process) -> str:
    """A process's command line; empty if it ended since it was listed (an RQ work-horse may finish any time)."""
    try:
        return " ".join(process.cmdline())
    except psutil.NoSuchProcess:
        return ""


def family(pid: int, instance: Path | None) -> list[psutil.Process]:
    """Every process below `pid`, and every server process of `instance` (a daemonised one is not below)."""
    found = {}
    with contextlib.suppress(psutil.NoSuchProcess):
        found = {child.pid: child for child in psutil.Process(pid).children(recursive=True)}
    if instance is not None:
        found.update({server.pid: server for server in [*redis_servers_in(instance), *postgres_processes_in(instance)]})
    return list(found.values())


def redis_servers_in(instance: Path) -> list[psutil.Process]:
    """The redis-server processes whose working folder is `instance`."""
    servers = []
    for process in psutil.process_iter(["name", "cwd"]):
        if process.info["name"] == "redis-server" and process.info["cwd"] == str(instance):
            servers.append(process)
    return [server for server in servers if not gone(server)]


def postgres_processes_in(instance: Path) -> list[psutil.Process]:
    """The embedded PostgreSQL's processes (the server and its backends), which run in `instance`/pg."""
    data = str(instance / "pg")
    found = []
    for process in psutil.process_iter(["name", "cwd"]):
        if process.info["name"] == "postgres" and process.info["cwd"] == data:
            found.append(process)
    return [process for process in found if not gone(process)]


def postgres_servers_in(instance: Path) -> list[psutil.Process]:
    """The embedded PostgreSQL's server processes of `instance` (not their backends)."""
    processes = postgres_processes_in(instance)
    pids = {process.pid for process in processes}
    parents = {process: _parent_pid(process) for process in processes}
    # A process that exited since it was listed (a backend ending as we look) is neither.
    return [process for process, parent in parents.items() if parent is not None and parent not in pids]


def _parent_pid(process: psutil.Process) -> int | None:
    """The parent's pid; None for a process that exited since it was listed."""
    try:
        return process.ppid()
    except psutil.NoSuchProcess:
        return None


def gone(process: psutil.Process) -> bool:
    """Exited: no such process any more, or a zombie waiting to be reaped."""
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            if not gone(process):
                process.cmdline()
                alive.append(process)
    return alive


def survivors(processes: list[psutil.Process], *, timeout: float) -> list[str]:
    """Wait up to `timeout` for `processes` to exit; describe those still running."""
    deadline = time.monotonic() + timeout
    while _alive(processes) and time.monotonic() < deadline:
        time.sleep(0.2)
    described = []
    for process in _alive(processes):
        with contextlib.suppress(psutil.NoSuchProcess):
            described.append(f"{process.pid}: {' '.join(process.cmdline())}")
    return described


def kill_all(processes: list[psutil.Process]) -> None:
    """Clean up after a failed test: SIGKILL whatever still runs."""
    for process in _alive(processes):
        with contextlib.suppress(psutil.NoSuchProcess):
            process.send_signal(signal.SIGKILL)


def log_in(port: int, email: str, password: str, *, log: Path | None = None) -> int:
    """Post the login form as a browser would (cookie and CSRF token); the answer's status, not followed.

    A web server that does not answer fails with the demo's `log`, which says why (CI, once: refused)."""
    try:
        return _log_in(port, email, password)
    except urllib.error.URLError as error:
        if log is None or isinstance(error, urllib.error.HTTPError):
            raise
        answer = f"the demo's web server did not answer ({error.reason}); its log:\n{log.read_text()}"
        raise AssertionError(answer) from error


def _log_in(port: int, email: str, password: str) -> int:
    cookies = urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(cookies, _NoRedirect)
    base = f"http://127.0.0.1:{port}"
    with opener.open(f"{base}/login", timeout=30) as response:
        page = response.read().decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"csrf_token": token, "email": email, "password": password}).encode()
    try:
        with opener.open(f"{base}/login", data=form, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as answer:
        return answer.code
