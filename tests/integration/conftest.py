"""Real processes end to end: the Django API (pytest-django's live server on the test database,
PostgreSQL in CI), the RTMP ingest on its own event loop, and real ffmpeg publishers.

The ingest runs in a thread of the test process so a test can watch it, while the tests themselves
stay synchronous and use the ORM directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache

from rtmp_ingest.api_client import IngestApiClient, PublishGrant
from rtmp_ingest.server import IngestServer
from rtmp_ingest.settings import IngestSettings
from rtmp_ingest.sinks import FlvRecordingSink, MediaSink
from tests.factories import UserFactory
from tests.netutil import free_port


def ipv6_loopback_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


class TimedRecordingSink(FlvRecordingSink):
    """Records the stream and when each tag reached the sink, to see whether media kept flowing."""

    def __init__(self, *, path: Path, arrivals: list[float]) -> None:
        super().__init__(path=path)
        self._arrivals = arrivals

    async def feed(self, tag_type: int, timestamp_ms: int, payload: bytes) -> None:
        self._arrivals.append(time.monotonic())
        await super().feed(tag_type, timestamp_ms, payload)


class RunningIngest:
    """The real ingest server on its own event loop in a background thread."""

    def __init__(self, settings: IngestSettings) -> None:
        self.settings = settings
        self.server: IngestServer | None = None
        self.arrivals: dict[str, list[float]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="rtmp-ingest", daemon=True)

    @property
    def url(self) -> str:
        return f"rtmp://127.0.0.1:{self.settings.port}/{self.settings.app}"

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the ingest did not start")
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def connection_count(self) -> int:
        return self.server.controller.connection_count if self.server is not None else 0

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as error:
            self._error = error
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        api = IngestApiClient(
            base_url=self.settings.api_base_url,
            secret=self.settings.shared_secret,
            timeout=self.settings.api_timeout,
            authorize_timeout=self.settings.authorize_timeout,
            end_retry_delays=(0.2, 0.5, 1.0),
        )
        recordings = self.settings.recordings_dir

        def record(grant: PublishGrant) -> MediaSink:
            arrivals = self.arrivals.setdefault(grant.video_url, [])
            return TimedRecordingSink(path=recordings / f"{grant.video_url}.flv", arrivals=arrivals)

        self.server = IngestServer(settings=self.settings, api=api, sink_factory=record)
        await self.server.start()
        self._ready.set()
        await self._stop.wait()
        await self.server.stop()


@pytest.fixture
def api_base_url(live_server: object, transactional_db: None) -> str:
    # Failed-authorization counters live in the cache: every test starts unthrottled.
    cache.clear()
    return str(live_server.url)  # type: ignore[attr-defined]


@pytest.fixture
def ingest_settings(api_base_url: str, tmp_path: Path) -> IngestSettings:
    hosts = ("127.0.0.1", "::1") if ipv6_loopback_available() else ("127.0.0.1",)
    return IngestSettings(
        shared_secret=django_settings.INGEST_SHARED_SECRET,
        hosts=hosts,
        port=free_port(),
        max_streams=8,  # small test sources, several at a time
        api_base_url=api_base_url,
        data_dir=tmp_path,
        hls_root=tmp_path / "hls",
        recordings_dir=tmp_path / "recordings",
        sink="record",
        handshake_timeout=1.0,
        idle_timeout=5.0,
        heartbeat_interval=0.5,
        reject_delay=0.2,
        shutdown_grace=5.0,
    )


@pytest.fixture
def start_ingest() -> Iterator[Callable[[IngestSettings], RunningIngest]]:
    running: list[RunningIngest] = []

    def start(settings: IngestSettings) -> RunningIngest:
        ingest = RunningIngest(settings)
        ingest.start()
        running.append(ingest)
        return ingest

    yield start
    for ingest in running:
        ingest.stop()


@pytest.fixture
def ingest(
    ingest_settings: IngestSettings, start_ingest: Callable[[IngestSettings], RunningIngest]
) -> RunningIngest:
    return start_ingest(ingest_settings)


@pytest.fixture
def ingest_without_api(
    ingest_settings: IngestSettings, start_ingest: Callable[[IngestSettings], RunningIngest]
) -> RunningIngest:
    return start_ingest(replace(ingest_settings, api_base_url=f"http://127.0.0.1:{free_port()}"))


@dataclass
class Streamer:
    user: object
    channel: object
    key: str


@pytest.fixture
def make_streamer(transactional_db: None) -> Callable[[str], Streamer]:
    from api.channels.services import channel_create, channel_stream_key_rotate

    def make(name: str) -> Streamer:
        user = UserFactory()
        channel = channel_create(owner=user, name=name, title=f"{name} live")
        key = channel_stream_key_rotate(channel=channel)  # the service hands out a fresh key in clear
        return Streamer(user=user, channel=channel, key=key)

    return make


@dataclass
class Publisher:
    process: subprocess.Popen[bytes]
    started: float

    def wait(self, timeout: float) -> tuple[int, float]:
        """Exit code and seconds since the start."""
        code = self.process.wait(timeout)
        return code, time.monotonic() - self.started

    def stderr(self) -> str:
        assert self.process.stderr is not None
        return self.process.stderr.read().decode(errors="replace")


def ffmpeg_publish(
    url: str,
    *,
    seconds: float,
    size: str = "640x360",
    realtime: bool = True,
    output_args: tuple[str, ...] = (),
) -> Publisher:
    re_flag = ["-re"] if realtime else []
    argv = [
        "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
        *re_flag, "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30",
        *re_flag, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
        "-t", str(seconds),
        "-c:v", "libx264", "-preset", "ultrafast", "-g", "60", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "96k",
        *output_args,
        "-f", "flv", url,
    ]  # fmt: skip
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return Publisher(process=process, started=time.monotonic())


@pytest.fixture
def publishers() -> Iterator[list[Publisher]]:
    """Every ffmpeg a test starts is gone when it ends."""
    started: list[Publisher] = []
    yield started
    for publisher in started:
        if publisher.process.poll() is None:
            publisher.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            publisher.process.wait(5)
        if publisher.process.stderr is not None:
            publisher.process.stderr.close()
