"""The SMTP listener offers STARTTLS with HUB_SMTP_TLS_CERT/KEY; mail arrives over TLS."""

from __future__ import annotations

import datetime as dt
import smtplib
import ssl
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from hub.app.models import InboundMessage
from hub.intake.email import listener
from hub.testing.harness import free_port
from tests.email_corpus import DOMAIN, INTAKE, mail, raw
from tests.email_kit import make_hub

pytestmark = pytest.mark.usefixtures("no_internet")


def self_signed(directory, name: str = "localhost") -> tuple[str, str]:
    """A self-signed certificate for `name` and its key, as PEM files; (cert, key) paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


@pytest.fixture
def tls_smtpd(backend, example_policy, tmp_path):
    cert, key = self_signed(tmp_path)
    hub = make_hub(backend, example_policy, HUB_SMTP_TLS_CERT=cert, HUB_SMTP_TLS_KEY=key)
    port = free_port()
    controller, writer = listener.make_controller(hub, f"127.0.0.1:{port}")
    controller.start()
    yield hub, port, cert
    controller.stop()
    writer.close()
    hub.db.dispose()


def test_mail_arrives_over_starttls(tls_smtpd):
    hub, port, cert = tls_smtpd
    trust = ssl.create_default_context(cafile=cert)
    with smtplib.SMTP("localhost", port, timeout=10) as client:
        client.ehlo()
        assert client.has_extn("starttls")
        code, _ = client.starttls(context=trust)
        assert code == 220
        assert client.sock.version() in ("TLSv1.2", "TLSv1.3")
        client.ehlo()
        client.sendmail(f"ben.okafor@{DOMAIN}", [INTAKE], raw(mail()))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with hub.db.session(write=False) as session:
            rows = list(session.scalars(select(InboundMessage)))
        if rows:
            break
        time.sleep(0.05)
    assert len(rows) == 1 and rows[0].envelope["mail_from"] == f"ben.okafor@{DOMAIN}"


def test_plain_mail_is_still_accepted(tls_smtpd):
    """STARTTLS is offered, not required: a sender without TLS is not turned away."""
    _, port, _ = tls_smtpd
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo()
        assert client.sendmail(f"ben.okafor@{DOMAIN}", [INTAKE], raw(mail())) == {}


def test_without_a_certificate_starttls_is_not_offered(backend, example_policy):
    hub = make_hub(backend, example_policy)
    port = free_port()
    controller, writer = listener.make_controller(hub, f"127.0.0.1:{port}")
    controller.start()
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.ehlo()
            assert not client.has_extn("starttls")
    finally:
        controller.stop()
        writer.close()
        hub.db.dispose()
