"""The trust of rtmps:// restream destinations: the system's CAs plus RESTREAM_CA_FILE's, for the
native engine (a real TLS handshake on loopback) and for ffmpeg (one bundle file, its argv)."""

from __future__ import annotations

import asyncio
import os
import ssl
from pathlib import Path

import pytest

from rtmp_ingest.restream import build_push_command
from rtmp_ingest.settings import IngestSettings, SettingsError
from rtmp_ingest.tls import client_context, trust_bundle
from tidecast_common.tls import write_self_signed_certificate

SYSTEM_CA_FILE = Path(ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt")


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    write_self_signed_certificate(cert, key, hostnames=("127.0.0.1",))
    return cert, key


async def handshake(context: ssl.SSLContext, certificate: tuple[Path, Path]) -> None:
    """A TLS handshake with a loopback server presenting `certificate`, host name 127.0.0.1."""
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(*certificate)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server_context)
    port = server.sockets[0].getsockname()[1]
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="127.0.0.1"), 5
        )
        writer.close()
    finally:
        server.close()


def test_the_extra_ca_is_trusted_beside_the_systems(certificate: tuple[Path, Path]) -> None:
    context = client_context(str(certificate[0]))
    asyncio.run(handshake(context, certificate))
    # The system's CAs are still there: an operator's own CA never locks out YouTube or Twitch.
    system = {str(ca["subject"]) for ca in client_context().get_ca_certs()}
    assert system  # the machine has a CA store (Debian's ca-certificates)
    assert system <= {str(ca["subject"]) for ca in context.get_ca_certs()}
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname


def test_a_certificate_no_ca_vouches_for_is_refused(certificate: tuple[Path, Path]) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        asyncio.run(handshake(client_context(), certificate))


def test_ffmpeg_gets_one_bundle_of_the_systems_cas_and_the_extra_ones(
    certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    assert trust_bundle(None, tmp_path) is None  # ffmpeg trusts the system's CAs itself
    bundle = trust_bundle(str(certificate[0]), tmp_path)
    assert bundle is not None
    content = Path(bundle).read_bytes()
    assert content.startswith(SYSTEM_CA_FILE.read_bytes().rstrip(b"\n"))
    assert content.endswith(certificate[0].read_bytes())
    assert trust_bundle(str(certificate[0]), tmp_path) == bundle  # named by content: written once
    assert [path.name for path in tmp_path.glob("*tidecast-ca-*")] == []  # no scratch file left
    other = tmp_path / "other.pem"
    write_self_signed_certificate(other, tmp_path / "other.key", hostnames=("127.0.0.1",))
    assert trust_bundle(str(other), tmp_path) != bundle


def test_ffmpeg_verifies_rtmps_destinations_and_only_those() -> None:
    rtmps = build_push_command(url="rtmps://live.example:443/app/key", ca_file="/run/ca.pem")
    assert rtmps[rtmps.index("-tls_verify") + 1] == "1"
    assert rtmps[rtmps.index("-ca_file") + 1] == "/run/ca.pem"
    assert rtmps.index("-ca_file") < rtmps.index("rtmps://live.example:443/app/key")  # an output option
    system = build_push_command(url="RTMPS://live.example/app/key")
    assert "-tls_verify" in system
    assert "-ca_file" not in system
    plain = build_push_command(url="rtmp://live.example/app/key", ca_file="/run/ca.pem")
    assert "-tls_verify" not in plain
    assert "-ca_file" not in plain


def test_a_ca_file_that_is_not_there_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="RESTREAM_CA_FILE"):
        IngestSettings.from_env({"INGEST_SHARED_SECRET": "s", "RESTREAM_CA_FILE": str(tmp_path / "none.pem")})


def test_the_ca_files_are_read_once_per_version_of_them(
    certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    extra = tmp_path / "extra.pem"
    extra.write_bytes(certificate[0].read_bytes())
    context = client_context(str(extra))
    bundle = trust_bundle(str(extra), tmp_path)
    assert client_context(str(extra)) is context  # a retrying destination parses nothing again
    assert trust_bundle(str(extra), tmp_path) == bundle
    # The operator replaces the file: the next connection trusts what it now holds.
    other_cert, other_key = tmp_path / "other.pem", tmp_path / "other.key"
    write_self_signed_certificate(other_cert, other_key, hostnames=("127.0.0.1",))
    extra.write_bytes(other_cert.read_bytes())
    os.utime(extra, ns=(extra.stat().st_atime_ns, extra.stat().st_mtime_ns + 1_000_000_000))
    renewed = client_context(str(extra))
    assert renewed is not context
    asyncio.run(handshake(renewed, (other_cert, other_key)))
    assert trust_bundle(str(extra), tmp_path) != bundle
    assert Path(trust_bundle(str(extra), tmp_path) or "").read_bytes().endswith(other_cert.read_bytes())
    # A bundle removed under it (a cleaned temporary folder) is written again.
    Path(trust_bundle(str(extra), tmp_path) or "").unlink()
    assert Path(trust_bundle(str(extra), tmp_path) or "").is_file()
