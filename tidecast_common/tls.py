"""A self-signed certificate for a fresh machine, so RTMPS works before a real one is installed.

`make run` (the `runstack` command) calls `ensure_self_signed_certificate` for `data/rtmps/`; a real
deployment points `RTMPS_CERT_FILE` and `RTMPS_KEY_FILE` at its own certificate instead.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["ensure_self_signed_certificate", "write_self_signed_certificate"]

VALID_DAYS = 825  # the longest validity clients still accept for a server certificate


def write_self_signed_certificate(
    cert_file: Path,
    key_file: Path,
    *,
    hostnames: Sequence[str] = ("localhost", "127.0.0.1", "::1"),
    common_name: str = "Tidecast RTMPS (self-signed)",
) -> None:
    """Write a new P-256 key (mode 0600) and a certificate for `hostnames` (DNS names or IP addresses)."""
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hostnames:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as output:
        output.write(key_bytes)
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def ensure_self_signed_certificate(
    cert_file: Path, key_file: Path, *, hostnames: Sequence[str] = ("localhost", "127.0.0.1", "::1")
) -> bool:
    """Create the pair unless both files exist; True when it was created."""
    if cert_file.exists() and key_file.exists():
        return False
    write_self_signed_certificate(cert_file, key_file, hostnames=hostnames)
    return True
