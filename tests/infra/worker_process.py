"""Real RQ worker processes (`python worker.py …`) configured like the test app, through the environment.

A test that must kill a worker (SIGKILL, no clean-up) needs a worker in its own process. RQ's forking
`Worker` runs each job in a work-horse child that puts itself in its own process group (`os.setpgrp()`),
so killing the worker's group would leave the horse running: `kill_worker` kills the whole process tree,
as a machine or container that dies would.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.infra import clock

ROOT = Path(__file__).resolve().parent.parent.parent

# Variables of the developer's shell that must not leak into the worker's configuration.
_DROPPED = {
    "DATABASE_URL",
    "MIGRATION_DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "SWITCHBOARD_ENV",
    "SENTRY_DSN",
    "MAIL_SERVER",
    "MAIL_PORT",
    "SMS_API_URL",
    "SMS_ACCOUNT_SID",
    "SMS_AUTH_TOKEN",
    "PUBLIC_BASE_URL",
    "OUTBOUND_LEASE_SECONDS",
    "SWITCHBOARD_INSTANCE",
}


def worker_env(app, instance_path: Path, **extra: str) -> dict[str, str]:
    """The environment that makes `create_app()` in a child process use the test app's services."""
    config = app.config
    env = {key: value for key, value in os.environ.items() if key not in _DROPPED}
    env.update(
        SWITCHBOARD_ENV="testing",
        SECRET_KEY=config["SECRET_KEY"],
        SWITCHBOARD_INSTANCE=str(instance_path),
        DATABASE_URL=str(config["SQLALCHEMY_DATABASE_URI"]),
        MIGRATION_DATABASE_URL=str(config["MIGRATION_DATABASE_URL"]),
        REDIS_URL=config["REDIS_URL"],
        MAIL_SERVER=config["MAIL_SERVER"],
        MAIL_PORT=str(config["MAIL_PORT"]),
        SMS_API_URL=config["SMS_API_URL"],
        SMS_ACCOUNT_SID=config["SMS_ACCOUNT_SID"],
        SMS_AUTH_TOKEN=config["SMS_AUTH_TOKEN"],
        PUBLIC_BASE_URL=config["PUBLIC_BASE_URL"],
        OUTBOUND_LEASE_SECONDS=str(config["OUTBOUND_LEASE_SECONDS"]),
        LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


def start_worker(env: dict[str, str], *queues: str, burst: bool = False, log: Path) -> subprocess.Popen:
    """`python worker.py [--burst] queues…` in a new session (its own process group), output to `log`."""
    # On the test's pinned clock (tests/infra/clock.py): the worker plans against the test's "now".
    arguments = [
        sys.executable,
        "-m",
        "tests.infra.pinned",
        str(ROOT / "worker.py"),
        *(["--burst"] if burst else []),
        *queues,
    ]
    with open(log, "ab") as output:
        return subprocess.Popen(
            arguments,
            cwd=ROOT,
            env={**env, **clock.child_env()},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # /proc/<pid>/stat: "pid (comm) state ppid …"; comm may contain spaces, so split after ')'.
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, pending = [], [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def kill_worker(process: subprocess.Popen) -> None:
    """SIGKILL the worker, its work-horse and its scheduler: nothing runs a `finally`, nothing is confirmed."""
    for pid in [process.pid, *_descendants(process.pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    process.wait(timeout=30)


def wait_for(condition: Callable[[], bool], *, timeout: float = 60.0, what: str, log: Path | None = None) -> None:
    """Poll `condition` until it holds; fail with `what` (and the worker's output) if it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    output = log.read_text(errors="replace")[-4000:] if log and log.exists() else ""
    raise AssertionError(f"gave up waiting for {what}\n{output}")
