"""STARTTLS on the gateway: offered with a certificate and key, and refused mail before it when required."""

import smtplib
import socket
import ssl
import subprocess
from email import policy

import pytest

from app.mailroom.gateway import GatewaySettings, gateway_controller
from tests.mailroom.world import contacts_of, make_mail


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "2", "-subj", "/CN=localhost"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)


@pytest.fixture
def tls_gateway(app, certificate):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cert, key = certificate
    settings = GatewaySettings(host="127.0.0.1", port=port, tls_cert=cert, tls_key=key, require_tls=True)
    controller = gateway_controller(app, settings)
    controller.start()
    yield port
    controller.stop()
    controller.handler.executor.shutdown(wait=True)


def _client_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the test's self-signed certificate
    return context


def test_mail_is_taken_after_starttls_and_refused_before_it(app, mail_world, tls_gateway):
    raw = make_mail(message_id="<tls@example.org>").as_bytes(policy=policy.SMTP)
    with smtplib.SMTP("127.0.0.1", tls_gateway, timeout=60) as client:
        client.ehlo()
        assert client.has_extn("starttls")
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.sendmail("pat@example.org", ["hello@clinic-a.test"], raw)
        assert refused.value.smtp_code == 530

    with smtplib.SMTP("127.0.0.1", tls_gateway, timeout=60) as client:
        client.starttls(context=_client_context())
        client.sendmail("pat@example.org", ["hello@clinic-a.test"], raw)

    assert len(contacts_of(app, mail_world.a.id)) == 1
