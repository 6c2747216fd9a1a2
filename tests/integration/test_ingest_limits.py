"""The ingest's limits against real processes: a slow API, and a node at its stream capacity."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest
from aiohttp import web

from api.videos.models import Video
from rtmp_ingest.settings import IngestSettings
from tests.integration.conftest import Publisher, RunningIngest, Streamer, ffmpeg_publish
from tests.integration.rtmp_wire import RawRtmpClient
from tests.netutil import free_port, wait_until
from tidecast_common.amf0 import encode_values

REFUSAL_SECONDS = 1.0
SLOW_API_SECONDS = 5.0
MSG_AMF0_COMMAND = 20


class SlowApi:
    """An HTTP server that takes every request and answers it only after `delay` seconds."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.port = free_port()
        self.requests = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slow-api", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(5):
            raise RuntimeError("the slow API did not start")

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _answer_late(self, request: web.Request) -> web.Response:
        self.requests += 1
        await asyncio.sleep(self.delay)
        return web.json_response({"allow": False, "code": "unknown_key"}, status=403)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/api/internal/{hook:.*}", self._answer_late)
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        self._loop.run_until_complete(runner.setup())
        self._loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(runner.cleanup())
            self._loop.close()


@pytest.fixture
def slow_api() -> Iterator[SlowApi]:
    server = SlowApi(SLOW_API_SECONDS)
    server.start()
    yield server
    server.stop()


def publish_with_raw_client(port: int, key: str) -> RawRtmpClient:
    """connect, createStream, publish: as a publisher sends them, without waiting for answers."""
    client = RawRtmpClient("127.0.0.1", port)
    client.handshake()
    connect = encode_values("connect", 1, {"app": "streaming", "tcUrl": f"rtmp://127.0.0.1:{port}/streaming"})
    client.send_message(csid=3, type_id=MSG_AMF0_COMMAND, payload=connect)
    client.send_message(csid=3, type_id=MSG_AMF0_COMMAND, payload=encode_values("createStream", 2, None))
    publish = encode_values("publish", 3, None, key, "live")
    client.send_message(csid=8, type_id=MSG_AMF0_COMMAND, payload=publish, stream_id=1)
    return client


def test_an_api_answering_after_five_seconds_still_means_a_refusal_within_one(
    ingest_settings: IngestSettings,
    start_ingest: Callable[[IngestSettings], RunningIngest],
    slow_api: SlowApi,
    publishers: list[Publisher],
) -> None:
    # The shipped deadlines, not the test fixture's shorter reject delay.
    shipped = IngestSettings(shared_secret="unused")
    settings = replace(
        ingest_settings,
        api_base_url=slow_api.url,
        reject_delay=shipped.reject_delay,
        authorize_timeout=shipped.authorize_timeout,
    )
    ingest = start_ingest(settings)

    raw = publish_with_raw_client(settings.port, "tc_perfectly-fine-key-0123456789")
    try:
        published_at = time.monotonic()
        assert raw.closed_by_server(timeout=3)
        refused_after = time.monotonic() - published_at
    finally:
        raw.close()
    assert refused_after < REFUSAL_SECONDS, f"refused after {refused_after:.2f} s"
    assert slow_api.requests == 1  # the API was asked, and was slow: not refused

    publisher = ffmpeg_publish(f"{ingest.url}/tc_perfectly-fine-key-0123456789", seconds=5)
    publishers.append(publisher)
    code, seconds = publisher.wait(10)
    assert code != 0
    assert seconds < REFUSAL_SECONDS + 0.3, f"ffmpeg (its own start included) refused after {seconds:.2f} s"
    assert not settings.recordings_dir.exists()


def test_a_publish_beyond_the_stream_cap_is_refused_and_counted(
    ingest_settings: IngestSettings,
    start_ingest: Callable[[IngestSettings], RunningIngest],
    make_streamer: Callable[[str], Streamer],
    publishers: list[Publisher],
) -> None:
    ingest = start_ingest(replace(ingest_settings, max_streams=1))
    first, second = make_streamer("first-in"), make_streamer("one-too-many")
    live = ffmpeg_publish(f"{ingest.url}/{first.key}", seconds=6)
    publishers.append(live)
    assert wait_until(lambda: Video.objects.filter(channel=first.channel, status="live").exists(), timeout=5)

    refused = ffmpeg_publish(f"{ingest.url}/{second.key}", seconds=5)
    publishers.append(refused)
    code, seconds = refused.wait(10)
    assert code != 0
    assert seconds < REFUSAL_SECONDS + 0.3, f"refused after {seconds:.2f} s"
    assert not Video.objects.filter(channel=second.channel).exists()  # never made live
    assert live.process.poll() is None, "the live publisher was disturbed"
    assert ingest.server is not None
    assert ingest.server.controller.publishes["refused", "at_capacity"] == 1

    code, _ = live.wait(20)
    assert code == 0, live.stderr()
    assert wait_until(lambda: ingest.connection_count() == 0, timeout=5)
    again = ffmpeg_publish(f"{ingest.url}/{second.key}", seconds=2)  # the slot is free again
    publishers.append(again)
    assert wait_until(lambda: Video.objects.filter(channel=second.channel, status="live").exists(), timeout=5)
    code, _ = again.wait(20)
    assert code == 0, again.stderr()


def streamer_video(streamer: Streamer) -> Video | None:
    return Video.objects.filter(channel=streamer.channel).order_by("-id").first()


@pytest.mark.parametrize(
    ("codec_args", "said"),
    [
        (("-c:v", "flv1"), "Unsupported video codec Sorenson H.263: use H.264"),
        (("-c:a", "pcm_s16le"), "Unsupported audio codec Linear PCM: use AAC or MP3"),
        (
            ("-c:a", "nellymoser", "-ar", "44100", "-ac", "1"),
            "Unsupported audio codec Nellymoser: use AAC or MP3",
        ),
    ],
)
def test_a_real_publisher_in_a_codec_we_do_not_take_is_told_why_and_its_video_ends(
    ingest: RunningIngest,
    make_streamer: Callable[[str], Streamer],
    publishers: list[Publisher],
    codec_args: tuple[str, ...],
    said: str,
) -> None:
    streamer = make_streamer("old-codec")
    publisher = ffmpeg_publish(f"{ingest.url}/{streamer.key}", seconds=10, output_args=codec_args)
    publishers.append(publisher)
    code, seconds = publisher.wait(10)
    assert code != 0
    assert seconds < 3, f"still publishing after {seconds:.1f} s"
    assert said in publisher.stderr()
    assert wait_until(lambda: getattr(streamer_video(streamer), "status", "") == "ended", timeout=5)
    assert ingest.server is not None
    assert sum(ingest.server.controller.media_refusals.values()) == 1


def test_a_real_publisher_above_the_frame_size_cap_is_refused(
    ingest_settings: IngestSettings,
    start_ingest: Callable[[IngestSettings], RunningIngest],
    make_streamer: Callable[[str], Streamer],
    publishers: list[Publisher],
) -> None:
    ingest = start_ingest(replace(ingest_settings, max_width=854, max_height=480))
    streamer = make_streamer("too-big")
    publisher = ffmpeg_publish(f"{ingest.url}/{streamer.key}", seconds=10, size="1280x720")
    publishers.append(publisher)
    code, seconds = publisher.wait(10)
    assert code != 0
    assert seconds < 3
    assert "Frame size 1280x720 above 854x480" in publisher.stderr()
    portrait = ffmpeg_publish(f"{ingest.url}/{streamer.key}", seconds=2, size="480x854")
    publishers.append(portrait)
    code, _ = portrait.wait(20)
    assert code == 0, portrait.stderr()  # the same caps, judged by long and short side


def test_a_real_publisher_above_the_bitrate_cap_is_disconnected_after_its_seconds(
    ingest_settings: IngestSettings,
    start_ingest: Callable[[IngestSettings], RunningIngest],
    make_streamer: Callable[[str], Streamer],
    publishers: list[Publisher],
) -> None:
    ingest = start_ingest(replace(ingest_settings, max_kbps=1000, max_kbps_seconds=3))
    streamer = make_streamer("firehose")
    rate = ("-b:v", "4000k", "-minrate", "4000k", "-maxrate", "4000k", "-bufsize", "1000k")
    publisher = ffmpeg_publish(f"{ingest.url}/{streamer.key}", seconds=20, output_args=rate)
    publishers.append(publisher)
    code, seconds = publisher.wait(15)
    assert code != 0
    assert 2.5 <= seconds < 6, f"disconnected after {seconds:.1f} s"
    assert "Bitrate above 1000 kbit/s" in publisher.stderr()
    assert wait_until(lambda: getattr(streamer_video(streamer), "status", "") == "ended", timeout=5)
