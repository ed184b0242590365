"""CPU seconds used by a process and its children over a stretch of time, from /proc (Linux).

A process's own time plus the time of its children: those still running (their /proc entries) and those
that ended and were waited for (the parent's cutime/cstime). Taken before and after, the difference is
what the process tree used in between, including children that came and went — an RQ worker's work-horses,
a PostgreSQL server's backends — however short they lived.
"""

import os
import time
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def tree_seconds(pid: int) -> float:
    """CPU seconds of `pid` (user + system), its ended children and its running children, so far."""
    fields = _stat(pid)
    if fields is None:
        return 0.0
    ticks = sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            child = _stat(int(entry.name))
            if child is not None and int(child[1]) == pid:
                ticks += int(child[11]) + int(child[12])
    return ticks / _TICKS


def process_seconds(pid: int) -> float:
    """CPU seconds of `pid` alone (user + system), so far; 0 for a process that is gone."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / _TICKS if fields is not None else 0.0


def parent_of(pid: int) -> int:
    fields = _stat(pid)
    return int(fields[1]) if fields else 0


def cpu_sample() -> tuple[int, int]:
    """(idle, total) ticks of all cores so far, from /proc/stat."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    return values[3] + values[4], sum(values)


def cpu_idle_since(start: tuple[int, int]) -> float:
    """Percent of all cores' time idle since the `cpu_sample()` `start`."""
    idle, total = cpu_sample()
    return 100.0 * (idle - start[0]) / max(total - start[1], 1)


def cpu_idle_percent(seconds: float = 1.0) -> float:
    """How idle the machine is (all cores) over the next `seconds`: other work skews every figure."""
    try:
        start = cpu_sample()
        time.sleep(seconds)
        return cpu_idle_since(start)
    except OSError:
        return float("nan")


class CpuMeter:
    """CPU seconds per named group of process trees between `start()` and `stop()`."""

    def __init__(self, groups: dict[str, list[int]]):
        self.groups = groups
        self._before: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        return {name: sum(tree_seconds(pid) for pid in pids) for name, pids in self.groups.items()}

    def start(self) -> None:
        self._before = self._now()

    def stop(self) -> dict[str, float]:
        return {name: seconds - self._before[name] for name, seconds in self._now().items()}
