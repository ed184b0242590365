"""The job of bench/dispatch.py's baseline: nothing, so what is measured is RQ's own cost per job."""


def noop() -> None:
    return None
