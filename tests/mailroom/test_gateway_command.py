"""`flask mail-gateway`: the production command serves mail in its own process and stops cleanly on SIGTERM."""

import signal
import socket
import subprocess
import sys

from tests.infra.worker_process import ROOT, worker_env
from tests.mailroom.world import contacts_of, make_mail, send


def test_the_mail_gateway_command_serves_a_mail_and_stops_on_sigterm(app, mail_world, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = worker_env(app, tmp_path, CONSOLE_DATABASE_URL=str(app.config["CONSOLE_DATABASE_URL"]), PYTHONUNBUFFERED="1")
    command = [
        sys.executable,
        "-m",
        "flask",
        "--app",
        "wsgi",
        "mail-gateway",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = []
    try:
        for line in process.stdout:  # ends if the command dies before it listens
            output.append(line.decode())
            if "Mail gateway listening" in output[-1]:
                break
        assert f"Mail gateway listening on 127.0.0.1:{port}" in "".join(output)

        send(port, make_mail(message_id="<via-command@example.org>"))

        [contact] = contacts_of(app, mail_world.a.id)
        assert contact.queue_id == mail_world.a.queue
    finally:
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    assert "Mail gateway stopped." in rest.decode()
