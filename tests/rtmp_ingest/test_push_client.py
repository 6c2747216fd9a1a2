"""The ingest's own RTMP publisher (restreaming's native engine) against the ingest's own server, over
real sockets: it publishes what it is given, is refused like any publisher, and a destination that
stops reading is dropped with its buffer bounded."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import pytest

from rtmp_ingest.push_client import PushError, RtmpPublisher, media_chunks, parse_push_url
from rtmp_ingest.restream import (
    GatheredTags,
    NativePush,
    PushStatus,
    Restreamer,
    RestreamLimits,
    RestreamTarget,
    StreamHeaders,
    chunk_batch,
)
from tests.rtmp_ingest.test_controller import GOOD_KEY, SpySink, StartHarness
from tests.rtmp_ingest.test_controller import start_harness as start_harness  # the fixture
from tests.transcoder.sources import avc_sequence_header, baseline_sps_nal
from tidecast_common import flv

AVC_HEADER = avc_sequence_header(baseline_sps_nal(640, 360, fps=30.0))
KEYFRAME = bytes([0x17, 0x01, 0, 0, 0]) + b"k" * 20_000
INTERFRAME = bytes([0x27, 0x01, 0, 0, 0]) + b"i" * 3_000


@dataclass
class PayloadSink(SpySink):
    """A spy that keeps what each tag held too."""

    payloads: list[bytes] = field(default_factory=list)

    async def feed(self, tag_type: int, timestamp_ms: int, payload: bytes) -> None:
        await super().feed(tag_type, timestamp_ms, payload)
        self.payloads.append(bytes(payload))


@dataclass
class StuckSink(SpySink):
    """A sink that never takes a frame: the ingest stops reading, TCP pushes back on the publisher."""

    async def feed(self, tag_type: int, timestamp_ms: int, payload: bytes) -> None:
        await asyncio.Event().wait()


def test_push_urls_split_like_obs_server_and_key() -> None:
    url = parse_push_url("rtmps://live-api-s.facebook.com:443/rtmp/FB-123?s_bl=1&a=b")
    assert (url.tls, url.host, url.port, url.app) == (True, "live-api-s.facebook.com", 443, "rtmp")
    assert url.tc_url == "rtmps://live-api-s.facebook.com/rtmp"
    assert url.stream_name == "FB-123?s_bl=1&a=b"
    url = parse_push_url("rtmp://127.0.0.1:1940/app/inst/key")
    assert (url.port, url.app, url.stream_name, url.tc_url) == (
        1940,
        "app/inst",
        "key",
        "rtmp://127.0.0.1:1940/app/inst",
    )
    with pytest.raises(PushError):
        parse_push_url("rtmp://host/appwithoutkey")


async def test_the_publisher_delivers_metadata_headers_and_frames(start_harness: StartHarness) -> None:
    harness = await start_harness()
    publisher = RtmpPublisher(f"rtmp://127.0.0.1:{harness.port}/streaming/{GOOD_KEY}")
    async with asyncio.timeout(5):
        await publisher.open()
    publisher.send_metadata({"width": 640.0, "height": 360.0})
    publisher.write(media_chunks(flv.TAG_VIDEO, 0, AVC_HEADER, stream_id=publisher.stream_id))
    frames = [KEYFRAME if index % 10 == 0 else INTERFRAME for index in range(30)]
    for index, frame in enumerate(frames):
        publisher.write(media_chunks(flv.TAG_VIDEO, 1000 + index * 33, frame, stream_id=publisher.stream_id))
    async with asyncio.timeout(5):
        while not harness.sinks or len(harness.sinks[0].fed) < 31:  # noqa: ASYNC110 - polling a spy
            await asyncio.sleep(0.02)
    await publisher.close()
    sink = harness.sinks[0]
    assert sink.metadata == {"width": 640.0, "height": 360.0}
    assert sink.fed == [(flv.TAG_VIDEO, 0)] + [(flv.TAG_VIDEO, 1000 + i * 33) for i in range(30)]


async def test_a_refused_key_is_a_push_error(start_harness: StartHarness) -> None:
    harness = await start_harness()
    publisher = RtmpPublisher(f"rtmp://127.0.0.1:{harness.port}/streaming/tc_wrong-key-0123456789abcdef")
    with pytest.raises(PushError, match="BadName"):
        async with asyncio.timeout(5):
            await publisher.open()
    publisher.abort()


async def test_a_destination_that_stops_reading_is_dropped_within_the_bound(
    start_harness: StartHarness,
) -> None:
    harness = await start_harness(sink=StuckSink, idle_timeout=30.0)
    limits = RestreamLimits(queue_bytes=1024 * 1024, retry_initial=30, retry_max=30, io_timeout=30)
    headers = StreamHeaders()
    headers.observe(flv.TAG_VIDEO, AVC_HEADER)
    push = NativePush(RestreamTarget(id="d", url=f"rtmp://127.0.0.1:{harness.port}/streaming/{GOOD_KEY}"),
                      headers=headers, limits=limits)  # fmt: skip
    push.start()
    async with asyncio.timeout(5):
        while push.status is not PushStatus.LIVE:  # noqa: ASYNC110 - polling a status
            await asyncio.sleep(0.02)
    longest = 0.0
    deadline = time.monotonic() + 20
    index = 0
    while push.status is PushStatus.LIVE and time.monotonic() < deadline:
        gathered = GatheredTags()
        gathered.add(flv.TAG_VIDEO, index * 33, KEYFRAME, True, headers)
        batch = chunk_batch(gathered, push.stream_id)
        started = time.perf_counter()
        push.send(batch)  # the restreamer's flush: onto the connection, where TCP pushes back
        longest = max(longest, time.perf_counter() - started)
        assert push.queued_bytes <= limits.queue_bytes
        index += 1
        await asyncio.sleep(0)
    assert push.status is PushStatus.FAILED
    assert push.last_error.startswith("dropped: the destination fell")
    assert push.drops == 1
    assert longest < 0.05  # offering never waited on the destination
    await push.stop()


async def test_offered_tags_go_out_together_and_the_last_ones_on_stop(start_harness: StartHarness) -> None:
    harness = await start_harness()
    url = f"rtmp://127.0.0.1:{harness.port}/streaming/{GOOD_KEY}"
    restreamer = Restreamer([RestreamTarget(id="d", url=url)], limits=RestreamLimits())
    restreamer.start()
    restreamer.on_metadata({"width": 640.0})
    restreamer.offer(flv.TAG_VIDEO, 0, AVC_HEADER)
    (push,) = restreamer.pushes
    async with asyncio.timeout(5):
        while push.status is not PushStatus.LIVE:  # noqa: ASYNC110 - polling a status
            await asyncio.sleep(0.02)
    frames = [KEYFRAME if index % 10 == 0 else INTERFRAME for index in range(20)]
    for index, frame in enumerate(frames):
        restreamer.offer(flv.TAG_VIDEO, 1000 + index * 33, frame)
    # They wait to be chunked together and written at once (by a tag after FLUSH_SECONDS, the timer,
    # or here the stop); the first may have gone out alone, had nothing been flushed for a while.
    assert restreamer.gathered_bytes >= sum(len(frame) for frame in frames[1:])
    await restreamer.stop()
    async with asyncio.timeout(5):
        while not harness.sinks or not harness.sinks[0].stopped:  # noqa: ASYNC110 - polling a spy
            await asyncio.sleep(0.02)
    sink = harness.sinks[0]
    assert sink.metadata == {"width": 640.0}
    # The sequence header first, at the first keyframe's time, then every frame.
    assert sink.fed == [(flv.TAG_VIDEO, 1000)] + [(flv.TAG_VIDEO, 1000 + i * 33) for i in range(20)]


async def test_a_run_starts_with_the_headers_of_its_keyframe_though_a_new_one_follows_it(
    start_harness: StartHarness,
) -> None:
    harness = await start_harness(sink=PayloadSink)
    url = f"rtmp://127.0.0.1:{harness.port}/streaming/{GOOD_KEY}"
    restreamer = Restreamer([RestreamTarget(id="d", url=url)], limits=RestreamLimits())
    restreamer.start()
    restreamer.offer(flv.TAG_VIDEO, 0, AVC_HEADER)
    (push,) = restreamer.pushes
    async with asyncio.timeout(5):
        while push.status is not PushStatus.LIVE:  # noqa: ASYNC110 - polling a status
            await asyncio.sleep(0.02)
    # The encoder changes its configuration right after a keyframe, within one gathering.
    wider_header = avc_sequence_header(baseline_sps_nal(1280, 720, fps=30.0))
    tags = [(1000, KEYFRAME), (1033, INTERFRAME), (1066, wider_header), (1066, KEYFRAME), (1100, INTERFRAME)]
    for timestamp, payload in tags:
        restreamer.offer(flv.TAG_VIDEO, timestamp, payload)
    await restreamer.stop()
    async with asyncio.timeout(5):
        while not harness.sinks or not harness.sinks[0].stopped:  # noqa: ASYNC110 - polling a spy
            await asyncio.sleep(0.02)
    sink = harness.sinks[0]
    assert isinstance(sink, PayloadSink)
    # The header the first keyframe was encoded with, then the stream as it came, the new header in place.
    assert sink.payloads == [AVC_HEADER] + [payload for _, payload in tags]
    assert sink.fed[0] == (flv.TAG_VIDEO, 1000)
