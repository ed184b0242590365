"""Child processes that end with the process that started them.

A child started here gets SIGTERM from the kernel the moment its parent dies, however it dies
(Linux `PR_SET_PDEATHSIG`; SIGKILL and crashes included, which no signal handler or `atexit` of the
parent can see). It also leads its own process group, so a terminal's Ctrl+C or hang-up reaches only
the parent, which then stops its children in order (`stop`): the servers they use last.
"""

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence

import psutil

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
# Loaded before any fork: the child may only call what is already in memory.
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def _tie_to(parent_pid: int, stop_signal: signal.Signals):
    def tie() -> None:  # runs in the child, between fork and exec
        if _prctl is not None:
            _prctl(_PR_SET_PDEATHSIG, stop_signal, 0, 0, 0)
        # The parent may have died before the line above: then no signal would ever come.
        if os.getppid() != parent_pid:
            os.kill(os.getpid(), signal.SIGKILL)

    return tie


def spawn(argv: Sequence[str], *, stop_signal: signal.Signals = signal.SIGTERM, **popen_options) -> subprocess.Popen:
    """Start `argv` as a child, in its own process group, that is sent `stop_signal` when this process dies.

    `stop_signal` is the one that makes the program shut down promptly and cleanly (SIGTERM for
    gunicorn, RQ and redis-server; PostgreSQL's prompt "fast" shutdown is SIGINT). `stop` sends it too.
    """
    process = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        process_group=0,
        preexec_fn=_tie_to(os.getpid(), stop_signal),
        **popen_options,
    )
    process.stop_signal = stop_signal
    return process


def stop(processes: Iterable[subprocess.Popen], *, timeout: float = 15.0) -> None:
    """Stop children and everything they started: each child's stop signal, SIGKILL for what is left after `timeout`.

    Descendants are listed before the signal, while they still hang below their parent: a grandchild
    orphaned by its parent's exit would otherwise be missed.
    """
    running = [process for process in processes if process.poll() is None]
    descendants = [child for process in running for child in _descendants(process.pid)]
    deadline = time.monotonic() + timeout
    for process in running:
        process.send_signal(getattr(process, "stop_signal", signal.SIGTERM))
    for process in running:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            logger.warning("killing a child that did not stop", extra={"pid": process.pid})
            process.kill()
            process.wait()
    while any(not gone(child) for child in descendants) and time.monotonic() < deadline:
        time.sleep(0.1)
    for child in descendants:
        if not gone(child):
            logger.warning("killing a process that did not stop", extra={"pid": child.pid})
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()


def gone(process: psutil.Process) -> bool:
    """True once `process` has exited (a zombie waiting for its reaper counts as exited)."""
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
