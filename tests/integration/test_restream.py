"""Restreaming through the real stack: ffmpeg publishes to `python -m rtmp_ingest` (transcoding, HLS
from `python -m hls_out`), and the ingest pushes the stream on to local ffmpeg RTMP listeners
(`ffmpeg -listen 1 ... -c copy out.flv`) standing in for YouTube and Twitch, beside destinations
that are dead (nothing listens) or stop reading mid-stream.

ffmpeg cannot listen on rtmps, so the `rtmps://` destination is what the platforms run: TLS
terminated by nginx's stream module (`ssl`, a certificate for 127.0.0.1) in front of a plain ffmpeg
RTMP listener. The ingest trusts that certificate only through `RESTREAM_CA_FILE`; a second TLS port
with a certificate nobody vouches for must fail verification.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from pytest_django.fixtures import Settings as DjangoSettings

from api.restream.models import Destination
from api.restream.services import destination_create, destination_update
from tests.deploy.servers import nginx_binary, stop_process
from tests.integration.conftest import Publisher, Streamer, ffmpeg_publish
from tests.integration.stack import (
    Service,
    hls_environment,
    ingest_environment,
    probe_streams,
    processes_mentioning,
    segment_uris,
)
from tests.integration.test_pipeline import Pipeline, hls_root, start_service  # noqa: F401 - fixtures
from tests.netutil import free_port, wait_listening, wait_until
from tidecast_common.tls import write_self_signed_certificate

PUBLISH_SECONDS = 10
QUEUE_BYTES = 512 * 1024
STREAM_MODULE = Path("/usr/lib/nginx/modules/ngx_stream_module.so")
TLS_FRONT_CONF = """
load_module {module};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
worker_processes 1;
events {{ worker_connections 64; }}
stream {{
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        proxy_pass 127.0.0.1:{upstream};
    }}
    server {{
        listen 127.0.0.1:{untrusted_port} ssl;
        ssl_certificate {untrusted_cert};
        ssl_certificate_key {untrusted_key};
        proxy_pass 127.0.0.1:{closed};
    }}
}}
"""


@dataclass
class Listener:
    """A local RTMP server: one ffmpeg that takes one publish and writes it, copied, to `output`."""

    process: subprocess.Popen[bytes]
    url: str
    output: Path

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout)

    def streams(self) -> dict[str, object]:
        argv = ["ffprobe", "-v", "error", "-of", "json", "-show_entries",
                "stream=codec_type,codec_name,width,height:format=duration", str(self.output)]  # fmt: skip
        completed = subprocess.run(argv, capture_output=True, timeout=30, check=False)
        assert completed.returncode == 0, completed.stderr.decode(errors="replace")
        return dict(json.loads(completed.stdout))


@pytest.fixture
def listeners(tmp_path: Path) -> Iterator[Callable[..., Listener]]:
    started: list[Listener] = []

    def start(name: str, port: int = 0) -> Listener:
        url = f"rtmp://127.0.0.1:{port or free_port()}/app/{name}-secret-key-0123456789"
        output = tmp_path / f"{name}.flv"
        argv = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-listen", "1",
                "-i", url, "-c", "copy", "-f", "flv", "-y", str(output)]  # fmt: skip
        listener = Listener(
            subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), url, output
        )
        started.append(listener)
        return listener

    yield start
    for listener in started:
        if listener.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(listener.process.pid, signal.SIGCONT)
            listener.process.kill()
        listener.process.wait(10)


@dataclass
class TlsFront:
    """nginx terminating TLS in front of one RTMP port: `port` with the trusted certificate,
    `untrusted_port` with a self-signed one the ingest was not given (and nothing behind it)."""

    upstream: int
    port: int
    untrusted_port: int

    def url(self, name: str, *, trusted: bool = True) -> str:
        port = self.port if trusted else self.untrusted_port
        return f"rtmps://127.0.0.1:{port}/app/{name}-secret-key-0123456789"


@pytest.fixture
def tls_front(certificate: tuple[Path, Path], tmp_path: Path) -> Iterator[TlsFront]:
    prefix = tmp_path / "tls-front"
    untrusted_cert, untrusted_key = prefix / "untrusted.pem", prefix / "untrusted-key.pem"
    write_self_signed_certificate(untrusted_cert, untrusted_key, hostnames=("127.0.0.1",))
    front = TlsFront(upstream=free_port(), port=free_port(), untrusted_port=free_port())
    config = prefix / "nginx.conf"
    config.write_text(
        TLS_FRONT_CONF.format(
            module=STREAM_MODULE, prefix=prefix, port=front.port, cert=certificate[0], key=certificate[1],
            upstream=front.upstream, untrusted_port=front.untrusted_port, untrusted_cert=untrusted_cert,
            untrusted_key=untrusted_key, closed=free_port(),
        )
    )  # fmt: skip
    argv = [nginx_binary(), "-p", str(prefix), "-c", str(config), "-e", str(prefix / "error.log"),
            "-g", "daemon off;"]  # fmt: skip
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listening(front.port, process, prefix / "error.log", timeout=10)
        yield front
    finally:
        stop_process(process)


@pytest.fixture
def engine() -> str:
    return "native"


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1: an rtmps:// listener's, and the ingest's trusted CA."""
    cert, key = tmp_path / "tls" / "cert.pem", tmp_path / "tls" / "key.pem"
    write_self_signed_certificate(cert, key, hostnames=("127.0.0.1",))
    return cert, key


@pytest.fixture
def pipeline(
    engine: str,
    certificate: tuple[Path, Path],
    api_base_url: str,
    hls_root: Path,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
    start_service: Callable[..., Service],  # noqa: F811
) -> Pipeline:
    hls_port, rtmp_port = free_port(), free_port()
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
        "RESTREAM_QUEUE_BYTES": str(QUEUE_BYTES),
        "RESTREAM_CONNECT_TIMEOUT": "3",
        "RESTREAM_RETRY_INITIAL_SECONDS": "0.5",
        "RESTREAM_RETRY_MAX_SECONDS": "2",
        "RESTREAM_IO_TIMEOUT": "3",
        "LOG_LEVEL": "DEBUG",
        "RESTREAM_ENGINE": engine,
        "RESTREAM_CA_FILE": str(certificate[0]),
    }
    ingest = start_service(module="rtmp_ingest", port=rtmp_port, env=env, log=tmp_path / "rtmp_ingest.log")
    return Pipeline(
        api_base_url=api_base_url, ingest=ingest, hls=hls, hls_root=hls_root, services=[hls, ingest]
    )


def dead_url() -> str:
    """Nothing listens there: every connection is refused."""
    return f"rtmp://127.0.0.1:{free_port()}/app/dead-secret-key-0123456789"


def silent_server() -> socket.socket:
    """Accepts connections and never says a word: an RTMP handshake there never completes."""
    server = socket.create_server(("127.0.0.1", 0))
    server.listen(8)
    return server


def status_of(destination_id: object) -> tuple[str, str]:
    destination = Destination.objects.get(id=destination_id)
    return destination.status, destination.last_error


def source_segments(pipeline: Pipeline, video_url: str) -> int:
    variants = pipeline.wait_master(video_url)
    source = next(entry for entry in variants if entry.name == "source")
    return len(segment_uris(pipeline.playlist(source)))


def media_duration(listener: Listener) -> float:
    probed = listener.streams()
    return float(probed["format"]["duration"])  # type: ignore[index]


@pytest.mark.parametrize("engine", ["native", "ffmpeg"])
def test_the_stream_is_pushed_as_received_while_a_dead_destination_disturbs_nothing(
    engine: str,
    tls_front: TlsFront,
    settings: DjangoSettings,
    pipeline: Pipeline,
    make_streamer: Callable[[str], Streamer],
    publishers: list[Publisher],
    listeners: Callable[[str], Listener],
) -> None:
    settings.RESTREAM_MAX_DESTINATIONS = 6  # five pushed (the ingest's default cap), one disabled
    streamer = make_streamer("multi")
    # Twitch over rtmps: TLS to nginx, which hands the plain RTMP to the listener.
    youtube, twitch = listeners("youtube"), listeners("twitch", port=tls_front.upstream)
    time.sleep(0.5)  # the listeners bind
    pushed = [
        destination_create(channel=streamer.channel, url=youtube.url),
        destination_create(channel=streamer.channel, url=tls_front.url("twitch")),
    ]
    # The same TLS front with a certificate the ingest was not told to trust: refused by both engines.
    untrusted = destination_create(channel=streamer.channel, url=tls_front.url("untrusted", trusted=False))
    dead = destination_create(channel=streamer.channel, url=dead_url())
    silent = silent_server()
    hung = destination_create(
        channel=streamer.channel, url=f"rtmp://127.0.0.1:{silent.getsockname()[1]}/app/hung-key-0123456789"
    )
    disabled = listeners("disabled")
    off = destination_create(channel=streamer.channel, url=disabled.url)
    destination_update(destination=off, enabled=False)

    publisher = ffmpeg_publish(f"{pipeline.rtmp_url}/{streamer.key}", seconds=PUBLISH_SECONDS, size="640x360")
    publishers.append(publisher)
    video_url = pipeline.wait_live_video("multi")
    for destination in pushed:
        assert wait_until(lambda d=destination: status_of(d.id)[0] == "live", timeout=15), pipeline.logs()
    assert wait_until(lambda: status_of(dead.id)[0] == "failed", timeout=10), pipeline.logs()
    assert "Connection refused" in status_of(dead.id)[1] or "ffmpeg exited" in status_of(dead.id)[1]
    # The silent one: ffmpeg's own network timeout or ours, whichever comes first.
    assert wait_until(lambda: status_of(hung.id)[0] == "failed", timeout=15), pipeline.logs()
    assert status_of(hung.id)[1]  # why, in words (ffmpeg's own timeout or ours, whichever came first)
    assert wait_until(lambda: status_of(untrusted.id)[0] == "failed", timeout=10), pipeline.logs()
    why = {"native": "CERTIFICATE_VERIFY_FAILED", "ffmpeg": "Peer certificate failed verification"}[engine]
    assert why in status_of(untrusted.id)[1], status_of(untrusted.id)
    # The HLS of the live stream goes on meanwhile.
    assert wait_until(lambda: source_segments(pipeline, video_url) >= 2, timeout=20), pipeline.logs()

    code, _ = publisher.wait(PUBLISH_SECONDS + 30)
    assert code == 0, publisher.stderr()
    for listener in (youtube, twitch):
        assert listener.wait(20) == 0
        probed = listener.streams()
        codecs = sorted(str(s["codec_name"]) for s in probed["streams"])  # type: ignore[attr-defined]
        assert codecs == ["aac", "h264"], probed
        video = next(s for s in probed["streams"] if s["codec_type"] == "video")  # type: ignore[attr-defined]
        assert (video["width"], video["height"]) == (640, 360)  # as received: not the ladder's
        assert media_duration(listener) >= PUBLISH_SECONDS - 2.5, probed
    streams = probe_streams(
        pipeline.variant_url(next(e for e in pipeline.wait_master(video_url) if e.name == "source"))
    )
    assert sorted(str(s["codec_name"]) for s in streams) == ["aac", "h264"]
    pipeline.wait_status(video_url, "ended")
    # The disabled one was never pushed to; no key ever reached a log.
    assert not disabled.output.exists() or disabled.output.stat().st_size == 0
    log = pipeline.ingest.log_tail(size=10**7)
    for secret in ("secret-key-0123456789", "hung-key-0123456789"):
        assert secret not in log
        assert all(secret not in status_of(d.id)[1] for d in (*pushed, dead, hung, untrusted))
    assert "ffmpeg exited" in log or "failed" in log
    silent.close()


# The ffmpeg engine: its child is what stops reading here (SIGSTOP), as a stalled destination makes it.
@pytest.mark.parametrize("engine", ["ffmpeg"])
def test_a_destination_that_stops_reading_is_dropped_and_the_others_go_on(
    pipeline: Pipeline,
    make_streamer: Callable[[str], Streamer],
    publishers: list[Publisher],
    listeners: Callable[[str], Listener],
) -> None:
    streamer = make_streamer("stall")
    steady, stalled = listeners("steady"), listeners("stalled")
    time.sleep(0.5)
    kept = destination_create(channel=streamer.channel, url=steady.url)
    dropped = destination_create(channel=streamer.channel, url=stalled.url)
    publisher = ffmpeg_publish(f"{pipeline.rtmp_url}/{streamer.key}", seconds=PUBLISH_SECONDS, size="640x360")
    publishers.append(publisher)
    video_url = pipeline.wait_live_video("stall")
    for destination in (kept, dropped):
        assert wait_until(lambda d=destination: status_of(d.id)[0] == "live", timeout=15), pipeline.logs()

    # The push to `stalled` stops reading its stdin, as a destination that no longer takes data
    # makes it: the ingest's queue for it fills, and it is dropped.
    port = stalled.url.split(":")[2].split("/")[0]
    pushes = processes_mentioning(f"127.0.0.1:{port}", parent=pipeline.ingest.pid)
    assert len(pushes) == 1, pushes
    os.kill(pushes[0].pid, signal.SIGSTOP)
    try:
        assert wait_until(lambda: status_of(dropped.id)[1].startswith("dropped"), timeout=20), pipeline.logs()
        assert status_of(kept.id)[0] == "live"
        assert wait_until(lambda: source_segments(pipeline, video_url) >= 3, timeout=20), pipeline.logs()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pushes[0].pid, signal.SIGCONT)

    code, _ = publisher.wait(PUBLISH_SECONDS + 30)
    assert code == 0, publisher.stderr()
    assert steady.wait(20) == 0
    assert media_duration(steady) >= PUBLISH_SECONDS - 2.5
    pipeline.wait_status(video_url, "ended")
    # Every push ended with the stream, the stalled one included.
    assert wait_until(lambda: not processes_mentioning("-c copy", parent=pipeline.ingest.pid), timeout=20)
