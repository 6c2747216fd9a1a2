"""https webhooks: the connection goes to the checked address, yet TLS speaks (SNI) and verifies the
certificate for the URL's host name."""

from __future__ import annotations

import datetime
import functools
import http.server
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from api.webhooks import targets
from api.webhooks.models import WebhookAttempt, WebhookDelivery
from api.webhooks.services import webhook_create, webhook_delivery_attempt, webhook_event_emit
from tests.factories import ChannelFactory, VideoFactory

pytestmark = pytest.mark.django_db

HOST = "hooks.tls.test"


def _certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class _Handler(http.server.BaseHTTPRequestHandler):
    hosts: list[str]

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.hosts.append(self.headers["host"])
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def tls_receiver(tmp_path, monkeypatch) -> Iterator[dict]:
    cert_path, key_path = _certificate(tmp_path)
    seen: dict = {"sni": [], "hosts": []}
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    context.sni_callback = lambda _sock, name, _ctx: seen["sni"].append(name)
    handler = type("Handler", (_Handler,), {"hosts": seen["hosts"]})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]
    real = socket.getaddrinfo
    monkeypatch.setattr(
        targets.socket,
        "getaddrinfo",
        lambda host, *a, **k: (
            [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
            if host == HOST
            else real(host, *a, **k)
        ),
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {**seen, "url": f"https://{HOST}:{port}/hook", "port": port, "cert": cert_path}
    finally:
        server.shutdown()
        server.server_close()


def _deliver(url: str) -> str:
    channel = ChannelFactory()
    webhook_create(owner=channel.owner, url=url, events=["stream.started"])
    webhook_event_emit(event="stream.started", video=VideoFactory(channel=channel))
    return webhook_delivery_attempt(delivery_id=WebhookDelivery.objects.get().pk)


def test_https_to_the_pinned_address_speaks_and_verifies_the_url_host(tls_receiver, monkeypatch):
    trusting = ssl.create_default_context(cafile=str(tls_receiver["cert"]))
    monkeypatch.setattr(httpx, "Client", functools.partial(httpx.Client, verify=trusting))
    assert _deliver(tls_receiver["url"]) == "succeeded"
    assert tls_receiver["sni"] == [HOST]
    assert tls_receiver["hosts"] == [f"{HOST}:{tls_receiver['port']}"]


def test_a_certificate_not_trusted_for_the_host_fails_the_try(tls_receiver):
    assert _deliver(tls_receiver["url"]) == "retrying"
    assert "CERTIFICATE_VERIFY_FAILED" in WebhookAttempt.objects.get().error
    assert tls_receiver["hosts"] == []
