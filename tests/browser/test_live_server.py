"""The browser tests' own server: a request the browser gives up on leaves nothing behind."""

import gc
import socket
import struct
import sys
import time
from urllib.parse import urlsplit
from urllib.request import urlopen


def test_static_files_cut_short_by_the_client_leave_no_file_open(live_server):
    """A favicon request cut short by the next navigation once failed an unrelated test: werkzeug's server
    could not drain the reset socket and never closed the file (a ResourceWarning, an error here)."""
    address = urlsplit(live_server)
    ignored = []
    previous, sys.unraisablehook = sys.unraisablehook, ignored.append
    try:
        for _ in range(100):
            client = socket.create_connection((address.hostname, address.port))
            client.sendall(b"GET /static/favicon.svg HTTP/1.1\r\nHost: localhost\r\n\r\n")
            time.sleep(0.003)  # the server is answering when the connection is reset
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()
        with urlopen(f"{live_server}/static/favicon.svg") as response:
            whole = response.read()
        time.sleep(0.2)
        gc.collect()
    finally:
        sys.unraisablehook = previous
    assert [str(problem.exc_value) for problem in ignored] == []
    assert whole.startswith(b"<svg")
