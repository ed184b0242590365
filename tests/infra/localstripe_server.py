"""A localstripe server on loopback for the billing tests, stopped afterwards.

localstripe's CLI binds every interface and pickles its state to a fixed path (/tmp/localstripe.pickle):
this starts its aiohttp app on 127.0.0.1 only, with the pickle moved into a private folder, so
two test runs on one machine never share Stripe state.
"""

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from tests.infra import clock

ROOT = Path(__file__).resolve().parent.parent.parent

_SCRIPT = """
import sys
from tests.infra.clock import start_from_env
start_from_env()  # on the test's pinned clock: webhook signatures and invoice dates agree with the app's
from aiohttp import web
import localstripe.resources as resources

state_file = sys.argv[2]
# Keep localstripe's pickled state private to this run instead of the shared /tmp/localstripe.pickle.
def _dump(self):
    import pickle
    with open(state_file, "wb") as f:
        pickle.dump(self, f, protocol=pickle.HIGHEST_PROTOCOL)
resources.Store.dump_to_disk = _dump
resources.Store.try_load_from_disk = lambda self: None
from localstripe.server import app
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def localstripe_server():
    """Yield the base URL of a fresh localstripe server; stop it on exit."""
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="localstripe-") as folder:
        log = open(Path(folder) / "server.log", "wb")  # noqa: SIM115 - closed below
        process = subprocess.Popen(
            [sys.executable, "-c", _SCRIPT, str(port), str(Path(folder) / "state.pickle")],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=folder,
            env={**os.environ, **clock.child_env(), "PYTHONPATH": str(ROOT)},
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    urllib.request.urlopen(f"{url}/js.stripe.com/v3/", timeout=1).close()
                    break
                except OSError as error:
                    if process.poll() is not None or time.monotonic() > deadline:
                        log_text = (Path(folder) / "server.log").read_text()
                        raise RuntimeError("localstripe did not start: " + log_text) from error
                    time.sleep(0.1)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()


def flush(url: str) -> None:
    """Forget every Stripe object (between tests)."""
    request = urllib.request.Request(f"{url}/_config/data", method="DELETE")
    urllib.request.urlopen(request, timeout=5).close()


def register_webhook(url: str, name: str, target: str, secret: str) -> None:
    import urllib.parse

    data = urllib.parse.urlencode({"url": target, "secret": secret}).encode()
    urllib.request.urlopen(urllib.request.Request(f"{url}/_config/webhooks/{name}", data=data), timeout=5).close()
