"""The controller and server over real sockets, with a real local HTTP API stand-in.

Every way a connection can end (peer EOF, protocol error, idle timeout, heartbeat stop, shutdown)
must stop the sink, report the end and free the connection.
"""

from __future__ import annotations

import asyncio
import os
import struct
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from prometheus_client import generate_latest

from rtmp_ingest.api_client import IngestApiClient, PublishGrant
from rtmp_ingest.chunks import ChunkStreamDecoder, encode_message
from rtmp_ingest.metrics import metrics_registry
from rtmp_ingest.server import IngestServer
from rtmp_ingest.settings import IngestSettings
from tidecast_common.amf0 import decode_values, encode_values

SECRET = "controller-test-secret"
GOOD_KEY = "tc_good-key-0123456789abcdef"
VIDEO_URL = "abcdefgh01234567"


@dataclass
class FakeApi:
    authorize_requests: list[dict[str, Any]] = field(default_factory=list)
    ends: list[str] = field(default_factory=list)
    heartbeats: list[dict[str, Any]] = field(default_factory=list)
    keep_going: bool = True
    authorize_delay: float = 0.0
    heartbeat_status: int = 200

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/internal/publish/authorize", self.authorize)
        app.router.add_post("/api/internal/publish/heartbeat", self.heartbeat)
        app.router.add_post("/api/internal/publish/end", self.end)
        return app

    async def authorize(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.authorize_requests.append(body)
        await asyncio.sleep(self.authorize_delay)
        if body["stream_key"] != GOOD_KEY:
            return web.json_response({"allow": False, "code": "unknown_key", "detail": "no"}, status=403)
        return web.json_response(
            {
                "allow": True,
                "publish_id": str(uuid.uuid4()),
                "video_url": VIDEO_URL,
                "channel": "demo",
                "ladder": [],
                "segment_seconds": 2,
                "heartbeat_interval": 2,
            }
        )

    async def heartbeat(self, request: web.Request) -> web.Response:
        self.heartbeats.append(await request.json())
        if self.heartbeat_status != 200:
            return web.json_response({"detail": "unavailable"}, status=self.heartbeat_status)
        if self.keep_going:
            return web.json_response({"continue": True})
        return web.json_response({"continue": False, "reason": "key_rotated"})

    async def end(self, request: web.Request) -> web.Response:
        self.ends.append((await request.json())["publish_id"])
        return web.json_response({"video_url": VIDEO_URL, "status": "ended"})


@dataclass
class SpySink:
    fed: list[tuple[int, int]] = field(default_factory=list)
    metadata: Mapping[str, object] | None = None
    stopped: bool = False

    async def on_metadata(self, metadata: Mapping[str, object]) -> None:
        self.metadata = metadata

    async def feed(self, tag_type: int, timestamp_ms: int, payload: bytes) -> None:
        self.fed.append((tag_type, timestamp_ms))

    async def stop(self) -> None:
        self.stopped = True

    def stats(self) -> dict[str, float]:
        return {"transcoder_speed": 1.0}


@dataclass
class Harness:
    api: FakeApi
    server: IngestServer
    sinks: list[SpySink]

    @property
    def port(self) -> int:
        return self.server.ports[0]


StartHarness = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def start_harness() -> AsyncIterator[StartHarness]:
    started: list[tuple[TestServer, IngestServer]] = []

    async def start(*, sink: type[SpySink] = SpySink, **overrides: Any) -> Harness:
        api = FakeApi()
        http = TestServer(api.app(), host="127.0.0.1")
        await http.start_server()
        settings = IngestSettings(
            shared_secret=SECRET,
            port=0,
            api_base_url=str(http.make_url("")).rstrip("/"),
            handshake_timeout=1.0,
            idle_timeout=2.0,
            heartbeat_interval=0.2,
            reject_delay=0.1,
            shutdown_grace=2.0,
        )
        settings = replace(settings, **overrides)
        sinks: list[SpySink] = []

        def make_sink(grant: PublishGrant) -> SpySink:
            sinks.append(sink())
            return sinks[-1]

        client = IngestApiClient(
            base_url=settings.api_base_url,
            secret=SECRET,
            authorize_timeout=settings.authorize_timeout,
            end_retry_delays=(0.05,),
        )
        server = IngestServer(settings=settings, api=client, sink_factory=make_sink)
        await server.start()
        started.append((http, server))
        return Harness(api=api, server=server, sinks=sinks)

    yield start
    for http, server in started:
        await server.stop()
        await http.close()


class Client:
    """A minimal RTMP publisher speaking through the project's own chunk encoder."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.decoder = ChunkStreamDecoder()
        self.commands: list[list[object]] = []

    @classmethod
    async def connect(cls, port: int, host: str = "127.0.0.1") -> Client:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def handshake(self) -> None:
        self.writer.write(b"\x03" + bytes(8) + os.urandom(1528))
        s0s1s2 = await self.reader.readexactly(1 + 1536 * 2)
        self.writer.write(s0s1s2[1:1537])
        await self.writer.drain()

    async def send(
        self, type_id: int, payload: bytes, *, csid: int = 3, stream_id: int = 0, ts: int = 0
    ) -> None:
        self.writer.write(
            encode_message(
                chunk_stream_id=csid,
                msg_type_id=type_id,
                msg_stream_id=stream_id,
                timestamp=ts,
                payload=payload,
                chunk_size=128,
            )
        )
        await self.writer.drain()

    async def command(self, *values: object, stream_id: int = 0) -> None:
        await self.send(20, encode_values(*values), stream_id=stream_id)

    async def start_publish(self, key: str, app: str = "streaming") -> None:
        await self.handshake()
        await self.command("connect", 1, {"app": app, "tcUrl": f"rtmp://127.0.0.1/{app}"})
        await self.command("createStream", 2, None)
        await self.command("publish", 3, None, key, "live", stream_id=1)

    async def read_until_closed(self, seconds: float) -> bool:
        """Collect the server's commands; True if the server closed the connection in time."""
        try:
            async with asyncio.timeout(seconds):
                while data := await self.reader.read(65536):
                    self._collect(data)
        except TimeoutError:
            return False
        except ConnectionError:
            return True
        return True

    async def wait_for_status(self, code: str, seconds: float = 3.0) -> dict[str, object]:
        async with asyncio.timeout(seconds):
            while True:
                for values in self.commands:
                    info = values[3] if len(values) > 3 else None
                    if isinstance(info, dict) and info.get("code") == code:
                        return info
                data = await self.reader.read(65536)
                if not data:
                    raise ConnectionError(f"closed before {code}")
                self._collect(data)

    def _collect(self, data: bytes) -> None:
        for message in self.decoder.feed(data):
            if message.msg_type_id == 20:
                self.commands.append(decode_values(message.payload)[0])

    def close(self) -> None:
        self.writer.close()


def video_tag(keyframe: bool) -> bytes:
    return bytes([0x17 if keyframe else 0x27, 1, 0, 0, 0]) + b"\x00" * 64


async def publishing_client(harness: Harness) -> Client:
    client = await Client.connect(harness.port)
    await client.start_publish(GOOD_KEY)
    await client.wait_for_status("NetStream.Publish.Start")
    for i in range(3):
        await client.send(9, video_tag(i == 0), csid=6, stream_id=1, ts=i * 33)
    return client


async def wait_until(predicate: Callable[[], bool], seconds: float = 3.0) -> bool:
    """Poll state that other tasks change without signalling (the harness has no events to wait on)."""
    async with asyncio.timeout(seconds):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    return True


async def test_accepted_publish_feeds_the_sink_and_ends_cleanly(start_harness: StartHarness) -> None:
    harness = await start_harness()
    client = await publishing_client(harness)
    await wait_until(lambda: len(harness.sinks) == 1 and len(harness.sinks[0].fed) == 3)
    assert harness.sinks[0].fed == [(9, 0), (9, 33), (9, 66)]
    assert harness.api.authorize_requests == [{"stream_key": GOOD_KEY, "client_ip": "127.0.0.1"}]
    await wait_until(lambda: len(harness.api.heartbeats) >= 1)
    assert harness.api.heartbeats[0]["stats"]["transcoder_speed"] == 1.0
    client.close()
    await wait_until(lambda: harness.sinks[0].stopped and len(harness.api.ends) == 1)
    await wait_until(lambda: harness.server.controller.connection_count == 0)


async def test_unknown_key_gets_bad_name_and_is_closed_within_a_second(start_harness: StartHarness) -> None:
    harness = await start_harness()
    client = await Client.connect(harness.port)
    await client.start_publish("tc_wrong-key-0123456789")
    loop = asyncio.get_running_loop()
    started = loop.time()
    info = await client.wait_for_status("NetStream.Publish.BadName")
    assert info["level"] == "error"
    assert info["description"] == "Stream key not recognised"
    assert await client.read_until_closed(seconds=1.0)
    assert loop.time() - started < 1.0
    assert harness.sinks == []


@pytest.mark.parametrize("name", ["../../etc/passwd", "a/b", "key\x00x", "k" * 257, "clé"])
async def test_malformed_key_never_reaches_the_api(start_harness: StartHarness, name: str) -> None:
    harness = await start_harness()
    client = await Client.connect(harness.port)
    await client.start_publish(name)
    info = await client.wait_for_status("NetStream.Publish.BadName")
    assert info["description"] == "Invalid stream key"
    assert await client.read_until_closed(seconds=1.0)
    assert harness.api.authorize_requests == []


async def test_other_application_is_refused(start_harness: StartHarness) -> None:
    harness = await start_harness()
    client = await Client.connect(harness.port)
    await client.start_publish(GOOD_KEY, app="live")
    assert await client.read_until_closed(seconds=1.0)
    assert any(values[0] == "_error" for values in client.commands)
    assert harness.api.authorize_requests == []


async def test_heartbeat_stop_disconnects_the_publisher(start_harness: StartHarness) -> None:
    harness = await start_harness()
    client = await publishing_client(harness)
    harness.api.keep_going = False
    assert await client.read_until_closed(seconds=2.0)
    await wait_until(lambda: harness.sinks[0].stopped and len(harness.api.ends) == 1)


async def test_protocol_error_while_publishing_still_stops_the_sink_and_reports_the_end(
    start_harness: StartHarness,
) -> None:
    harness = await start_harness()
    client = await publishing_client(harness)
    await client.send(1, struct.pack(">I", 1), csid=2)  # Set Chunk Size 1: below the minimum
    assert await client.read_until_closed(seconds=2.0)
    await wait_until(lambda: harness.sinks[0].stopped and len(harness.api.ends) == 1)
    assert harness.server.controller.connection_count == 0


async def test_idle_publisher_is_dropped_and_ended(start_harness: StartHarness) -> None:
    harness = await start_harness(idle_timeout=0.5)
    client = await publishing_client(harness)
    assert await client.read_until_closed(seconds=2.0)
    await wait_until(lambda: harness.sinks[0].stopped and len(harness.api.ends) == 1)


async def test_shutdown_stops_publishers_cleanly(start_harness: StartHarness) -> None:
    harness = await start_harness()
    client = await publishing_client(harness)
    port = harness.port
    await harness.server.stop()
    assert harness.sinks[0].stopped
    assert len(harness.api.ends) == 1
    assert await client.read_until_closed(seconds=1.0)
    with pytest.raises(ConnectionRefusedError):
        await Client.connect(port)


async def test_per_ip_connection_cap_refuses_at_once(start_harness: StartHarness) -> None:
    harness = await start_harness(max_connections_per_ip=2)
    kept = [await Client.connect(harness.port) for _ in range(2)]
    await wait_until(lambda: harness.server.limiter.total == 2)
    extra = await Client.connect(harness.port)
    assert await extra.read_until_closed(seconds=0.5)
    for client in kept:
        client.close()
    await wait_until(lambda: harness.server.limiter.total == 0)
    again = await Client.connect(harness.port)
    await again.handshake()  # a slot is free again
    again.close()


@dataclass
class GivingUpSink(SpySink):
    """A sink whose transcoder gave up after the first frame (restarted too often, say)."""

    failed: bool = False

    async def feed(self, tag_type: int, timestamp_ms: int, payload: bytes) -> None:
        await super().feed(tag_type, timestamp_ms, payload)
        self.failed = True


async def test_a_sink_that_gave_up_disconnects_the_publisher_and_ends_the_video(
    start_harness: StartHarness,
) -> None:
    harness = await start_harness(sink=GivingUpSink)
    client = await publishing_client(harness)
    assert await client.read_until_closed(seconds=2.0)
    await wait_until(lambda: harness.sinks[0].stopped and len(harness.api.ends) == 1)
    assert harness.server.controller.connection_count == 0


async def test_a_connection_that_only_acknowledges_is_closed_at_the_publish_deadline(
    start_harness: StartHarness,
) -> None:
    harness = await start_harness(idle_timeout=5.0, publish_deadline=0.5)
    client = await Client.connect(harness.port)
    await client.handshake()
    loop = asyncio.get_running_loop()
    started = loop.time()

    async def acknowledge_forever() -> None:
        while True:
            await client.send(3, struct.pack(">I", 1000), csid=2)
            await asyncio.sleep(0.05)

    task = asyncio.create_task(acknowledge_forever())
    try:
        assert await client.read_until_closed(seconds=2.0)
    finally:
        task.cancel()
    assert loop.time() - started < 1.5
    await wait_until(lambda: harness.server.limiter.total == 0)


async def test_connections_without_a_publish_never_take_the_publishers_slots(
    start_harness: StartHarness,
) -> None:
    harness = await start_harness(max_connections=3, max_pending_connections=2, max_streams=2)
    publisher = await publishing_client(harness)
    await wait_until(lambda: harness.server.limiter.publishing == 1)
    idle = [await Client.connect(harness.port) for _ in range(2)]
    for client in idle:
        await client.handshake()
    await wait_until(lambda: harness.server.limiter.total == 3)
    extra = await Client.connect(harness.port)
    assert await extra.read_until_closed(seconds=0.5)  # the idle ones hold every pending slot
    for client in idle:
        client.close()
    await wait_until(lambda: harness.server.limiter.pending == 0)
    second = await publishing_client(harness)  # a slot for the next publisher again
    await wait_until(lambda: harness.server.limiter.publishing == 2)
    publisher.close()
    second.close()
    await wait_until(lambda: harness.server.limiter.total == 0 and harness.server.limiter.publishing == 0)


async def test_a_publish_above_the_stream_cap_is_refused_at_capacity(start_harness: StartHarness) -> None:
    harness = await start_harness(max_streams=1)
    first = await publishing_client(harness)
    second = await Client.connect(harness.port)
    await second.start_publish(GOOD_KEY)
    info = await second.wait_for_status("NetStream.Publish.BadName")
    assert info["level"] == "error"
    assert "capacity" in str(info["description"])
    assert await second.read_until_closed(seconds=1.0)
    assert len(harness.api.authorize_requests) == 1  # refused before the API made a video live
    assert harness.server.controller.publishes["refused", "at_capacity"] == 1
    scrape = generate_latest(metrics_registry(harness.server.controller)).decode()
    assert 'tidecast_ingest_publishes_total{reason="at_capacity",result="refused"} 1.0' in scrape
    first.close()
    await wait_until(lambda: harness.server.controller.connection_count == 0)
    third = await publishing_client(harness)  # the slot is free again
    await wait_until(lambda: len(harness.sinks) == 2)
    third.close()


async def test_a_slow_authorize_is_refused_within_a_second(start_harness: StartHarness) -> None:
    harness = await start_harness(reject_delay=0.3)
    harness.api.authorize_delay = 5.0
    client = await Client.connect(harness.port)
    await client.start_publish(GOOD_KEY)
    loop = asyncio.get_running_loop()
    started = loop.time()
    info = await client.wait_for_status("NetStream.Publish.BadName")
    assert info["level"] == "error"
    assert await client.read_until_closed(seconds=1.0)
    assert loop.time() - started < 1.0
    assert harness.sinks == []


async def test_heartbeats_failing_past_the_timeout_end_the_publish(start_harness: StartHarness) -> None:
    harness = await start_harness(heartbeat_timeout=0.6, idle_timeout=10.0)
    client = await publishing_client(harness)
    await wait_until(lambda: len(harness.api.heartbeats) >= 1)
    harness.api.heartbeat_status = 503
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await client.read_until_closed(seconds=3.0)
    assert loop.time() - started >= 0.5
    await wait_until(lambda: harness.sinks[0].stopped and len(harness.api.ends) == 1)


async def test_media_in_a_codec_we_do_not_take_ends_the_publish_with_a_reason(
    start_harness: StartHarness,
) -> None:
    harness = await start_harness()
    client = await Client.connect(harness.port)
    await client.start_publish(GOOD_KEY)
    await client.wait_for_status("NetStream.Publish.Start")
    await client.send(8, b"\xb2" + bytes(32), csid=4, stream_id=1)  # Speex
    info = await client.wait_for_status("NetStream.Publish.Rejected")
    assert info["level"] == "error"
    assert info["description"] == "Unsupported audio codec Speex: use AAC or MP3"
    assert await client.read_until_closed(seconds=1.0)
    await wait_until(lambda: harness.sinks[0].stopped and len(harness.api.ends) == 1)
    assert harness.sinks[0].fed == []  # the refused tag never reached the transcoder
    assert harness.server.controller.media_refusals["audio_codec"] == 1
    scrape = generate_latest(metrics_registry(harness.server.controller)).decode()
    assert 'tidecast_ingest_media_refusals_total{reason="audio_codec"} 1.0' in scrape


async def test_a_publisher_above_the_bitrate_cap_for_its_seconds_is_disconnected(
    start_harness: StartHarness,
) -> None:
    harness = await start_harness(max_kbps=1000, max_kbps_seconds=2, idle_timeout=10.0)
    client = await Client.connect(harness.port)
    await client.start_publish(GOOD_KEY)
    await client.wait_for_status("NetStream.Publish.Start")
    frame = b"\x27\x01\x00\x00\x00" + bytes(6000)  # 30 a second: 1.44 Mbit/s
    for n in range(30):  # one second over the cap: still publishing
        await client.send(9, frame, csid=6, stream_id=1, ts=n * 33)
    await asyncio.sleep(0.2)
    assert harness.server.controller.media_refusals == {}
    for n in range(30, 70):
        await client.send(9, frame, csid=6, stream_id=1, ts=n * 33)
    info = await client.wait_for_status("NetStream.Publish.Rejected")
    assert "Bitrate above 1000 kbit/s" in str(info["description"])
    assert await client.read_until_closed(seconds=1.0)
    await wait_until(lambda: len(harness.api.ends) == 1)
    assert harness.server.controller.media_refusals["bitrate"] == 1
