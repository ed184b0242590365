"""Run a Python script on the parent test's pinned clock: `python -m tests.infra.pinned script.py args…`."""

import runpy
import sys

from tests.infra.clock import start_from_env

if __name__ == "__main__":
    start_from_env()
    script, *arguments = sys.argv[1:]
    sys.argv = [script, *arguments]
    runpy.run_path(script, run_name="__main__")
