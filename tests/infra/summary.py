"""Lines for the end of the test log, the proof in a CI log that a part of the suite really ran.

Under pytest-xdist a worker's own terminal summary is never shown: each worker hands its lines and
counts to the controller (`workeroutput`), which prints them with everything else at the end.
"""

from collections import Counter

_lines: list[str] = []
_counts: Counter[str] = Counter()


def line(text: str) -> None:
    """Print `text` in the run's closing summary."""
    _lines.append(text)


def count(label: str, amount: int = 1) -> None:
    """Add to a figure summed over every worker and printed as `label: N`."""
    _counts[label] += amount


def export() -> dict:
    return {"lines": list(_lines), "counts": dict(_counts)}


def merge(exported: dict) -> None:
    _lines.extend(exported.get("lines", ()))
    _counts.update(exported.get("counts", {}))


def closing_lines() -> list[str]:
    return [*_lines, *(f"{label}: {amount}" for label, amount in sorted(_counts.items()))]
