"""RTMPS: the real ingest (`python -m rtmp_ingest`) with a TLS listener beside the plain one.

ffmpeg publishes over `rtmps://` and the stream plays over HTTP from `python -m hls_out`; a plain
RTMP client on the TLS port, and one that says nothing, are dropped within the handshake timeout;
SIGHUP makes new handshakes present the certificate now in the files.
"""

from __future__ import annotations

import signal
import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from tests.integration.conftest import Publisher, Streamer, ffmpeg_publish
from tests.integration.stack import (
    Service,
    hls_environment,
    ingest_environment,
    probe_streams,
    segment_uris,
)
from tests.integration.test_pipeline import Pipeline, hls_root, start_service  # noqa: F401 - fixtures
from tests.netutil import free_port, wait_until
from tidecast_common.tls import write_self_signed_certificate

HANDSHAKE_TIMEOUT = 2.0


class TlsPipeline(Pipeline):
    tls_port: int = 0

    @property
    def rtmps_url(self) -> str:
        return f"rtmps://127.0.0.1:{self.tls_port}/streaming"


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "tls" / "cert.pem", tmp_path / "tls" / "key.pem"
    write_self_signed_certificate(cert, key, common_name="first")
    return cert, key


@pytest.fixture
def tls_pipeline(
    api_base_url: str,
    hls_root: Path,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
    start_service: Callable[..., Service],  # noqa: F811
    certificate: tuple[Path, Path],
) -> TlsPipeline:
    hls_port, rtmp_port, tls_port = free_port(), free_port(), free_port()
    hls = start_service(
        module="hls_out",
        port=hls_port,
        env=hls_environment(
            port=hls_port, api_base_url=api_base_url, secret=django_settings.HLS_REPORT_SECRET,
            hls_root=hls_root,
        ),
        log=tmp_path / "hls_out.log",
    )  # fmt: skip
    env = ingest_environment(
        port=rtmp_port,
        api_base_url=api_base_url,
        secret=django_settings.INGEST_SHARED_SECRET,
        data_dir=tmp_path,
        hls_root=hls_root,
    )
    env |= {
        "RTMPS_PORT": str(tls_port),
        "RTMPS_CERT_FILE": str(certificate[0]),
        "RTMPS_KEY_FILE": str(certificate[1]),
        "RTMP_HANDSHAKE_TIMEOUT": str(HANDSHAKE_TIMEOUT),
    }
    ingest = start_service(module="rtmp_ingest", port=rtmp_port, env=env, log=tmp_path / "rtmp_ingest.log")
    pipeline = TlsPipeline(
        api_base_url=api_base_url, ingest=ingest, hls=hls, hls_root=hls_root, services=[hls, ingest]
    )
    pipeline.tls_port = tls_port
    with socket.create_connection(("127.0.0.1", tls_port), timeout=5):
        pass  # both listeners are up
    return pipeline


def served_certificate(port: int) -> str:
    """The PEM certificate a TLS handshake on `port` presents (no verification: it is self-signed)."""
    return ssl.get_server_certificate(("127.0.0.1", port), timeout=5)


def seconds_until_closed(sock: socket.socket, *, limit: float) -> float:
    """How long the server takes to close `sock` (EOF or reset), reading whatever it sends meanwhile."""
    started = time.monotonic()
    sock.settimeout(limit)
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        pass
    return time.monotonic() - started


def test_ffmpeg_publishing_over_rtmps_plays_over_hls(
    tls_pipeline: TlsPipeline, make_streamer: Callable[[str], Streamer], publishers: list[Publisher]
) -> None:
    streamer = make_streamer("secure")
    publisher = ffmpeg_publish(f"{tls_pipeline.rtmps_url}/{streamer.key}", seconds=8, size="640x360")
    publishers.append(publisher)
    video_url = tls_pipeline.wait_live_video("secure")
    variants = tls_pipeline.wait_master(video_url)
    source = next(entry for entry in variants if entry.name == "source")
    assert wait_until(lambda: bool(segment_uris(tls_pipeline.playlist(source))), timeout=20)
    streams = probe_streams(tls_pipeline.variant_url(source))
    assert sorted(str(s["codec_name"]) for s in streams) == ["aac", "h264"], streams
    code, _ = publisher.wait(40)
    assert code == 0, publisher.stderr()
    tls_pipeline.wait_status(video_url, "ended")


def test_plain_rtmp_on_the_tls_port_is_dropped_at_once(tls_pipeline: TlsPipeline) -> None:
    with socket.create_connection(("127.0.0.1", tls_pipeline.tls_port), timeout=5) as sock:
        sock.sendall(b"\x03" + bytes(1536))  # RTMP C0 + C1: not a TLS ClientHello
        assert seconds_until_closed(sock, limit=5) < 0.5


def test_a_silent_client_on_the_tls_port_is_dropped_at_the_handshake_timeout(
    tls_pipeline: TlsPipeline,
) -> None:
    with socket.create_connection(("127.0.0.1", tls_pipeline.tls_port), timeout=5) as sock:
        waited = seconds_until_closed(sock, limit=HANDSHAKE_TIMEOUT + 5)
    assert HANDSHAKE_TIMEOUT - 0.2 <= waited < HANDSHAKE_TIMEOUT + 1.0


def test_the_rtmp_handshake_gets_only_what_the_tls_handshake_left_of_the_timeout(
    tls_pipeline: TlsPipeline,
) -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", tls_pipeline.tls_port), timeout=5) as raw:
        started = time.monotonic()
        time.sleep(HANDSHAKE_TIMEOUT / 2)  # a slow TLS client, within the timeout
        with context.wrap_socket(raw) as sock:
            waited = seconds_until_closed(sock, limit=HANDSHAKE_TIMEOUT + 5)  # then no RTMP at all
    total = time.monotonic() - started
    assert waited < HANDSHAKE_TIMEOUT
    assert HANDSHAKE_TIMEOUT - 0.2 <= total < HANDSHAKE_TIMEOUT + 1.0


def test_sighup_reloads_the_certificate_for_new_connections(
    tls_pipeline: TlsPipeline, certificate: tuple[Path, Path]
) -> None:
    cert, key = certificate
    assert ssl.PEM_cert_to_DER_cert(served_certificate(tls_pipeline.tls_port)) == ssl.PEM_cert_to_DER_cert(
        cert.read_text()
    )
    write_self_signed_certificate(cert, key, common_name="second")
    renewed = ssl.PEM_cert_to_DER_cert(cert.read_text())
    tls_pipeline.ingest.process.send_signal(signal.SIGHUP)
    assert wait_until(
        lambda: ssl.PEM_cert_to_DER_cert(served_certificate(tls_pipeline.tls_port)) == renewed, timeout=5
    ), tls_pipeline.logs()
    assert tls_pipeline.ingest.process.poll() is None
