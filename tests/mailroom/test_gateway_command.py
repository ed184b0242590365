"""`flask mail-gateway`: the production command serves mail in its own process and stops cleanly on SIGTERM."""

import signal
import socket
import subprocess
import sys

from sqlalchemy import select

from app.demo import DEMO_INBOUND_ADDRESSES, seed_demo
from app.extensions import db
from app.hotline.models import Contact, ContactMessage
from app.tenancy import tenant_context
from app.tenants.models import Tenant
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


def test_mail_to_a_demo_clinics_address_lands_in_its_e_mail_queue(app, app_context, gateway):
    seed_demo()
    db.session.commit()
    slug, address, queue_name = DEMO_INBOUND_ADDRESSES[0]
    tenant = db.session.scalar(select(Tenant).where(Tenant.slug == slug))

    send(gateway, make_mail(message_id="<demo@example.org>", to=address), to=address)

    with tenant_context(tenant.id):
        message = db.session.scalar(select(ContactMessage).where(ContactMessage.message_id == "<demo@example.org>"))
        contact = db.session.scalar(select(Contact).where(Contact.id == message.contact_id))
        assert contact.queue.name == queue_name
