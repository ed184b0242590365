"""Python processes a test starts to own or share an embedded server (tests/test_embedded_*.py).

Each prints one line when its server answers, `<url> <server pid> <owner pid>`; every process started
is killed and reaped when the test ends, whatever the test did to it.
"""

import subprocess
import sys

import psutil

from tests.infra.worker_process import ROOT


class OwnerProcesses:
    def __init__(self, env: dict[str, str] | None = None):
        self.env = env
        self.started: list[subprocess.Popen] = []

    def start(self, code: str, *arguments: str, **extra_env: str) -> subprocess.Popen:
        env = None if self.env is None and not extra_env else {**(self.env or {}), **extra_env}
        process = subprocess.Popen(
            [sys.executable, "-c", code, *arguments], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
        )
        self.started.append(process)
        return process

    def close(self) -> None:
        for process in self.started:
            process.kill()
            process.wait()
            process.stdout.close()


def read_answer(process: subprocess.Popen) -> tuple[str, psutil.Process, int]:
    """The server's URL, its process and the owner's pid, as the started process printed them."""
    line = process.stdout.readline()
    assert line, "the process printed nothing (see its stderr above)"
    url, server_pid, owner_pid = line.split()
    return url, psutil.Process(int(server_pid)), int(owner_pid)
