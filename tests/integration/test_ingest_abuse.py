"""Misbehaving peers are dropped, and a real publisher beside them keeps flowing."""

from __future__ import annotations

import itertools
import socket
import struct
import time
from collections.abc import Callable

from api.videos.models import Video, VideoStatus
from rtmp_ingest.settings import IngestSettings
from tests.integration.conftest import Publisher, RunningIngest, Streamer, ffmpeg_publish
from tests.integration.rtmp_wire import RawRtmpClient
from tests.netutil import wait_until

MSG_SET_CHUNK_SIZE = 1
MSG_VIDEO = 9


def steady_publisher(
    ingest: RunningIngest,
    make_streamer: Callable[[str], Streamer],
    publishers: list[Publisher],
    *,
    seconds: float,
) -> tuple[Publisher, str]:
    """A real ffmpeg publisher, live and flowing, and its video url."""
    streamer = make_streamer("steady")
    publisher = ffmpeg_publish(f"{ingest.url}/{streamer.key}", seconds=seconds)
    publishers.append(publisher)
    assert wait_until(
        lambda: Video.objects.filter(channel=streamer.channel, status=VideoStatus.LIVE).exists(), timeout=5
    )
    video_url = Video.objects.get(channel=streamer.channel).url
    assert wait_until(lambda: len(ingest.arrivals.get(video_url, [])) > 10, timeout=3)
    return publisher, video_url


def assert_kept_flowing(
    ingest: RunningIngest, publisher: Publisher, video_url: str, started: float, ended: float
) -> None:
    """The publisher finished cleanly, and its media kept arriving with no gap of 0.75 s or more."""
    code, _ = publisher.wait(20)
    assert code == 0, publisher.stderr()
    during = [t for t in ingest.arrivals[video_url] if started - 0.2 <= t <= ended + 0.2]
    gaps = [b - a for a, b in itertools.pairwise(during)]
    assert during, "no media arrived meanwhile"
    # Loose for a loaded CI machine (ffmpeg, the packager and the tests share 2 cores); real-time
    # media arrives every 33 ms, so a stall the abuse caused would show as seconds.
    assert max(gaps, default=0) < 0.75, f"the publisher stalled for {max(gaps):.3f} s"


def test_stalled_handshake_is_dropped_after_the_timeout(
    ingest: RunningIngest, ingest_settings: IngestSettings
) -> None:
    silent = RawRtmpClient("127.0.0.1", ingest_settings.port)
    half = RawRtmpClient("127.0.0.1", ingest_settings.port)
    try:
        started = time.monotonic()
        half.send_raw(b"\x03" + b"\x00" * 700)  # C0 and part of C1, then nothing
        assert silent.closed_by_server(timeout=4)
        assert half.closed_by_server(timeout=1)
        elapsed = time.monotonic() - started
        assert ingest_settings.handshake_timeout - 0.2 <= elapsed <= ingest_settings.handshake_timeout + 1.5
    finally:
        silent.close()
        half.close()
    assert wait_until(lambda: ingest.connection_count() == 0, timeout=2)


def test_idle_connection_after_handshake_is_dropped(
    ingest: RunningIngest, ingest_settings: IngestSettings
) -> None:
    client = RawRtmpClient("127.0.0.1", ingest_settings.port)
    try:
        client.handshake()
        started = time.monotonic()
        assert client.closed_by_server(timeout=ingest_settings.idle_timeout + 2)
        assert time.monotonic() - started >= ingest_settings.idle_timeout - 0.5
    finally:
        client.close()


def test_bad_clients_are_dropped_while_a_real_publisher_keeps_flowing(
    ingest: RunningIngest,
    make_streamer: Callable[[str], Streamer],
    publishers: list[Publisher],
    ingest_settings: IngestSettings,
) -> None:
    publisher, video_url = steady_publisher(ingest, make_streamer, publishers, seconds=5)

    tiny_chunks = RawRtmpClient("127.0.0.1", ingest_settings.port)
    huge_message = RawRtmpClient("127.0.0.1", ingest_settings.port)
    try:
        abuse_started = time.monotonic()
        tiny_chunks.handshake()
        tiny_chunks.send_message(csid=2, type_id=MSG_SET_CHUNK_SIZE, payload=struct.pack(">I", 1))
        huge_message.handshake()
        # A 16 MB video message announced, then fed in pieces that never complete it.
        huge_message.send_message(
            csid=6, type_id=MSG_VIDEO, stream_id=1, payload=b"\x17" * 128, length=0xFFFFFF
        )
        dropped_tiny = tiny_chunks.closed_by_server(timeout=2)
        sent = 0
        dropped_huge = False
        while sent < 4 * 1024 * 1024 and not dropped_huge:
            try:
                huge_message.send_raw(b"\xc6" + b"\x00" * 128)  # type 3 continuation chunks
            except OSError:
                dropped_huge = True
            sent += 129
        dropped_huge = dropped_huge or huge_message.closed_by_server(timeout=2)
        abuse_ended = time.monotonic()
    finally:
        tiny_chunks.close()
        huge_message.close()
    assert dropped_tiny, "a client asking for 1-byte chunks was kept"
    assert dropped_huge, "a client announcing a 16 MB message was kept"

    assert_kept_flowing(ingest, publisher, video_url, abuse_started, abuse_ended)


def test_a_published_trickle_of_64_byte_chunks_leaves_a_live_publisher_flowing(
    ingest: RunningIngest,
    make_streamer: Callable[[str], Streamer],
    publishers: list[Publisher],
    ingest_settings: IngestSettings,
) -> None:
    """A granted publisher sends an 8 MiB video message as 64-byte chunks, each on its own
    segment: the message is assembled in one buffer of its announced size, and a real publisher
    beside it keeps its cadence."""
    publisher, video_url = steady_publisher(ingest, make_streamer, publishers, seconds=6)

    trickler = make_streamer("trickler")
    client = RawRtmpClient("127.0.0.1", ingest_settings.port)
    client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    size = 8 * 1024 * 1024 - 1024
    try:
        client.handshake()
        client.publish(app=ingest_settings.app, key=trickler.key)
        assert wait_until(
            lambda: Video.objects.filter(channel=trickler.channel, status=VideoStatus.LIVE).exists(),
            timeout=5,
        )
        client.send_message(csid=2, type_id=MSG_SET_CHUNK_SIZE, payload=struct.pack(">I", 64))
        started = time.monotonic()
        client.send_message(
            csid=6, type_id=MSG_VIDEO, stream_id=1, payload=b"\x17\x01" + bytes(62), length=size
        )
        for _ in range(size // 64 - 1):
            client.send_raw(b"\xc6" + bytes(64))  # one type 3 chunk per send
        client.send_raw(b"\xc6" + bytes(size % 64 or 64))
        ended = time.monotonic()
        assert not client.closed_by_server(timeout=0.5), "the granted publisher was dropped"
    finally:
        client.close()

    assert_kept_flowing(ingest, publisher, video_url, started, ended)
