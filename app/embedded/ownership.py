"""Who owns an embedded server of an instance folder, and how the others find it.

The rule: the first process that needs the server starts it as its own child and writes
`<name>.owner.json` beside it (the server's address, the owner's and the server's pid and start
time). Any later process of the same folder reads that record and, while the owner still lives,
connects to the address: it neither starts a second server nor stops this one. Only the owner stops
the server: explicitly, at exit, or (crash, SIGKILL) through the kernel's signal to the orphaned child
(`lifeline.py`). A record whose owner is gone is stale: its server, should it still run (a platform
without the parent-death signal), is stopped before a new owner starts its own. Deciding and starting
happen under a file lock, so two processes starting at once end with one server.
"""

import atexit
import contextlib
import fcntl
import json
import logging
import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from app.embedded import lifeline

logger = logging.getLogger(__name__)

# Starts the server as a `lifeline.spawn` child in the given folder, waits until it answers, and
# returns the child and the URL clients connect to.
Starter = Callable[[Path], tuple[subprocess.Popen, str]]


@dataclass(frozen=True)
class OwnerRecord:
    url: str
    owner_pid: int
    owner_started: float
    server_pid: int
    server_started: float

    def owner_alive(self) -> bool:
        return _alive(self.owner_pid, self.owner_started)

    def server_alive(self) -> bool:
        return _alive(self.server_pid, self.server_started)


class EmbeddedServer:
    """One embedded server of one instance folder: started by one owner process, shared by the rest."""

    def __init__(self, folder: Path, name: str, start: Starter, *, stop_signal: signal.Signals = signal.SIGTERM):
        self.folder = folder
        self.name = name
        self._start = start
        self._stop_signal = stop_signal  # the server's prompt, clean shutdown (`lifeline.spawn`)
        self._process: subprocess.Popen | None = None
        self._owner_pid: int | None = None
        self._url = ""

    @property
    def record_file(self) -> Path:
        return self.folder / f"{self.name}.owner.json"

    def owned_here(self) -> bool:
        """True in the process that started the server (not in a child forked from it)."""
        return self._process is not None and self._owner_pid == os.getpid()

    def process(self) -> subprocess.Popen | None:
        return self._process if self.owned_here() else None

    def live_record(self) -> OwnerRecord | None:
        """The owner's record while owner and server both run; None when there is no live owner."""
        record = self._read()
        return record if record and record.owner_alive() and record.server_alive() else None

    def url(self) -> str:
        """The server's URL: the live owner's if there is one, else a server started now, owned here."""
        if self.owned_here():
            return self._url
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._locked():
            record = self.live_record()
            if record is not None:
                return record.url
            self._stop_stale()
            self._process, self._url = self._start(self.folder)
            self._owner_pid = os.getpid()
            self._write()
        atexit.register(self.stop)
        logger.info("embedded server started", extra={"server": self.name, "pid": self._process.pid})
        return self._url

    def stop(self) -> None:
        """Stop the server if this process owns it; anywhere else, do nothing."""
        if not self.owned_here():
            return
        process, self._process = self._process, None
        record = self._read()
        if record is not None and record.server_pid == process.pid:
            self.record_file.unlink(missing_ok=True)
        lifeline.stop([process])
        logger.info("embedded server stopped", extra={"server": self.name, "pid": process.pid})

    def _stop_stale(self) -> None:
        record = self._read()
        if record is not None and record.server_alive():
            logger.warning("stopping an embedded server whose owner is gone", extra={"pid": record.server_pid})
            server = psutil.Process(record.server_pid)
            server.send_signal(self._stop_signal)
            with contextlib.suppress(psutil.TimeoutExpired):
                server.wait(timeout=10)
            if not lifeline.gone(server):
                server.kill()
        self.record_file.unlink(missing_ok=True)

    def _read(self) -> OwnerRecord | None:
        try:
            return OwnerRecord(**json.loads(self.record_file.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def _write(self) -> None:
        record = OwnerRecord(
            url=self._url,
            owner_pid=self._owner_pid,
            owner_started=psutil.Process(self._owner_pid).create_time(),
            server_pid=self._process.pid,
            server_started=psutil.Process(self._process.pid).create_time(),
        )
        partial = self.record_file.with_suffix(".partial")
        partial.write_text(json.dumps(asdict(record)))
        partial.replace(self.record_file)  # readers see the whole record or none

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.folder / f"{self.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield


START_TIME_TOLERANCE_SECONDS = 2.0


def _alive(pid: int, started: float) -> bool:
    """The process `pid` still runs and is the one recorded (a reused pid has another start time).

    A start time in seconds since the epoch is the boot time plus the ticks since boot, and the kernel's boot time
    moves with the wall clock (NTP's slewing turns it over by a second now and then): read by two processes a
    while apart, the same process's start can differ by a second. Within two seconds it is the same process; a
    pid is not reused that soon (psutil itself tells processes apart by the ticks since boot)."""
    try:
        process = psutil.Process(pid)
        return abs(process.create_time() - started) < START_TIME_TOLERANCE_SECONDS and not lifeline.gone(process)
    except psutil.NoSuchProcess:
        return False
