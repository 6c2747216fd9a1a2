"""IngestSession over receive buffers and a recording writer (no sockets), and over real TCP."""

from __future__ import annotations

import asyncio
import itertools
import struct
from collections.abc import Callable
from typing import Any

import pytest

from rtmp_ingest._pyrtmp import Chunk, SetChunkSize, StreamClosedException
from rtmp_ingest.chunks import ChunkLimits, ChunkStreamDecoder, ProtocolError, RtmpMessage, encode_message
from rtmp_ingest.messages import IngestAudioMessage, IngestVideoMessage, parse_message
from rtmp_ingest.receive import IngestProtocol, ReceiveBuffer
from rtmp_ingest.session import (
    HandshakeTimeout,
    IdleTimeout,
    IngestSession,
    SessionLimits,
    SessionTimeout,
    WriteTimeout,
    format_peer,
)
from tests.rtmp_ingest.rtmp_bytes import FakeWriter, chunk, handshake_bytes, received, set_chunk_size

FAST = SessionLimits(handshake_timeout=0.2, idle_timeout=0.2, write_timeout=0.2)


def media(cs_id: int, type_id: int, timestamp: int, payload: bytes, chunk_size: int = 128) -> bytes:
    return encode_message(
        chunk_stream_id=cs_id,
        msg_type_id=type_id,
        msg_stream_id=1,
        timestamp=timestamp,
        payload=payload,
        chunk_size=chunk_size,
    )


async def read_until_end(
    session: IngestSession, on_chunk: Callable[[Chunk], None] | None = None
) -> tuple[list[Chunk], BaseException]:
    """Every message read (unless `on_chunk` takes them) and the exception that ended the reading."""
    out: list[Chunk] = []
    try:
        async for ch in session.read_chunks_from_stream():
            if on_chunk is None:
                out.append(ch)
            else:
                on_chunk(ch)
    except (StreamClosedException, SessionTimeout, ProtocolError) as error:
        return out, error
    raise AssertionError("the reading never ended")


async def collect(session: IngestSession) -> list[Chunk]:
    out, error = await read_until_end(session)
    assert isinstance(error, StreamClosedException)
    return out


async def test_handshake_answers_s0_s1_s2_echoing_c1() -> None:
    data = handshake_bytes()
    writer = FakeWriter()
    session = IngestSession(received(data), writer, limits=FAST)
    await session.handshake()
    assert len(writer.written) == 1 + 1536 + 1536
    assert writer.written[0] == 3
    assert bytes(writer.written[1 + 1536 :]) == data[1:1537]


async def test_handshake_timeout() -> None:
    session = IngestSession(received(b"\x03" + bytes(100), eof=False), FakeWriter(), limits=FAST)
    with pytest.raises(HandshakeTimeout):
        await session.handshake()
    assert issubclass(HandshakeTimeout, TimeoutError)


async def test_handshake_refuses_other_versions_without_waiting_for_c1() -> None:
    session = IngestSession(received(b"\x06", eof=False), FakeWriter(), limits=FAST)
    with pytest.raises(ProtocolError, match="version 6"):
        await session.handshake()


async def test_handshake_eof_is_a_closed_stream() -> None:
    session = IngestSession(received(b"\x03" + bytes(10)), FakeWriter(), limits=FAST)
    with pytest.raises(StreamClosedException):
        await session.handshake()


async def test_idle_timeout_after_messages() -> None:
    reader = received(handshake_bytes() + media(4, 8, 10, b"a"), eof=False)
    session = IngestSession(reader, FakeWriter(), limits=FAST)
    await session.handshake()
    got, error = await read_until_end(session)
    assert isinstance(error, IdleTimeout)
    assert [ch.payload for ch in got] == [b"a"]
    assert session._idle_timer is None  # nothing left scheduled that keeps the connection alive


async def test_idle_timer_is_armed_once_and_released_at_the_end() -> None:
    reader = ReceiveBuffer()
    session = IngestSession(reader, FakeWriter(), limits=SessionLimits(idle_timeout=5))
    timers: list[object] = []

    async def publisher() -> None:
        for i in range(5):
            await asyncio.sleep(0.001)
            timers.append(session._idle_timer)
            reader.feed_data(media(4, 8, i, b"a"))
        reader.feed_eof()

    task = asyncio.create_task(publisher())
    assert len(await collect(session)) == 5
    await task
    assert timers[0] is not None
    assert all(timer is timers[0] for timer in timers)
    assert session._idle_timer is None


async def test_messages_come_out_as_pyrtmp_chunks_with_set_chunk_size_applied() -> None:
    big = bytes(range(256)) * 40
    data = handshake_bytes() + set_chunk_size(4096) + media(6, 9, 1000, big, chunk_size=4096)
    session = IngestSession(received(data), FakeWriter(), limits=FAST)
    await session.handshake()
    chunks = await collect(session)
    assert [(c.msg_type_id, c.timestamp, c.msg_length) for c in chunks] == [(1, 0, 4), (9, 1000, len(big))]
    assert chunks[1].payload == big
    assert session.reader_chunk_size == 4096
    # A controller repeating the decoded Set Chunk Size (as pyrtmp's does) changes nothing.
    session.reader_chunk_size = 4096
    assert session.reader_chunk_size == 4096


async def test_media_comes_out_as_its_message_class_which_parse_message_keeps() -> None:
    data = handshake_bytes() + media(6, 9, 40, b"\x17\x01video") + media(4, 8, 41, b"\xafaudio")
    data += media(3, 20, 0, b"\x02\x00\x04play")
    session = IngestSession(received(data), FakeWriter(), limits=FAST)
    await session.handshake()
    video, audio, command = await collect(session)
    assert type(video) is IngestVideoMessage
    assert type(audio) is IngestAudioMessage
    assert type(command) is Chunk
    assert (video.timestamp, video.msg_length, video.control, video.data) == (40, 7, b"\x17", b"\x01video")
    assert (audio.timestamp, audio.chunk_id, audio.payload) == (41, 4, b"\xafaudio")
    assert parse_message(video) is video
    assert parse_message(audio) is audio


async def test_protocol_error_surfaces_from_the_reader() -> None:
    session = IngestSession(received(set_chunk_size(1)), FakeWriter(), limits=FAST)
    _, error = await read_until_end(session)
    assert isinstance(error, ProtocolError)


async def collect_read_in_pieces(session: IngestSession, data: bytes, size: int) -> list[Chunk]:
    """Collect while `data` arrives `size` bytes per read, a millisecond apart, then EOF."""
    buffer: ReceiveBuffer = session.reader

    async def publisher() -> None:
        for offset in range(0, len(data), size):
            await asyncio.sleep(0.001)
            buffer.feed_data(data[offset : offset + size])
        buffer.feed_eof()

    task = asyncio.create_task(publisher())
    got = await collect(session)
    await task
    return got


async def test_acknowledgement_sent_when_the_window_is_crossed() -> None:
    limits = SessionLimits(ack_window=3000, idle_timeout=1)
    frames = b"".join(media(4, 8, 20 * i, b"x" * 100) for i in range(50))  # 50 * 112 = 5600 bytes
    writer = FakeWriter()
    session = IngestSession(ReceiveBuffer(), writer, limits=limits)
    assert len(await collect_read_in_pieces(session, frames, 4096)) == 50
    acks = ChunkStreamDecoder().feed(bytes(writer.written))
    # Acknowledgements are checked after the messages of each read (4096 bytes here).
    assert acks == [RtmpMessage(2, 3, 0, 0, struct.pack(">I", 4096))]
    assert session.total_read_bytes == 5600


async def test_acknowledgement_follows_the_window_the_peer_announces() -> None:
    data = chunk(0, 2, struct.pack(">I", 1000), length=4, type_id=5)  # 16 bytes
    data += b"".join(media(4, 8, i, b"y" * 100) for i in range(20))  # 2240 bytes
    writer = FakeWriter()
    session = IngestSession(ReceiveBuffer(), writer)
    await collect_read_in_pieces(session, data, 1024)
    acks = ChunkStreamDecoder().feed(bytes(writer.written))
    assert [struct.unpack(">I", m.payload)[0] for m in acks] == [1024, 2048]


@pytest.mark.parametrize(
    ("peer", "text", "ip"),
    [
        (("203.0.113.9", 40000), "203.0.113.9:40000", "203.0.113.9"),
        (("::1", 40000, 0, 0), "[::1]:40000", "::1"),
        (("2001:db8::5", 1935, 0, 3), "[2001:db8::5]:1935", "2001:db8::5"),
        (None, "unknown", "unknown"),
    ],
)
async def test_peername_for_ipv4_and_ipv6(peer: object, text: str, ip: str) -> None:
    session = IngestSession(ReceiveBuffer(), FakeWriter(peer))
    assert session.peername == text == format_peer(peer)
    assert session.client_ip == ip


async def test_written_messages_decode_with_the_writer_chunk_size() -> None:
    writer = FakeWriter()
    session = IngestSession(ReceiveBuffer(), writer)
    session.write_chunk_to_stream(SetChunkSize(chunk_size=8192))
    session.writer_chunk_size = 8192
    payload = b"p" * 10_000
    session.write_chunk_to_stream(
        Chunk(chunk_type=0, chunk_id=5, timestamp=7, msg_length=len(payload), msg_type_id=20, msg_stream_id=1,
              payload=payload)
    )  # fmt: skip
    await session.drain()
    decoded = ChunkStreamDecoder().feed(bytes(writer.written))
    assert [(m.msg_type_id, m.chunk_stream_id, m.timestamp, len(m.payload)) for m in decoded] == [
        (1, 2, 0, 4),
        (20, 5, 7, 10_000),
    ]


async def test_drain_times_out_when_the_peer_does_not_read() -> None:
    writer = FakeWriter()
    writer.block_drain = True
    session = IngestSession(ReceiveBuffer(), writer, limits=FAST)
    with pytest.raises(WriteTimeout):
        await session.drain()


async def watch_loop_turns(
    session: IngestSession, data: bytes, limits: SessionLimits
) -> list[tuple[int, int]]:
    """Read `data` (all received at once, so no read ever waits for the peer) while another task
    notes (messages consumed, bytes decoded) at each of its turns."""
    session.limits = limits
    consumed = [0]
    seen_at_ticks: list[tuple[int, int]] = []

    async def ticker() -> None:
        while True:
            seen_at_ticks.append((consumed[0], session.decoder.bytes_decoded))
            await asyncio.sleep(0)

    def count(_: Chunk) -> None:
        consumed[0] += 1

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    _, error = await read_until_end(session, count)
    task.cancel()
    assert isinstance(error, StreamClosedException)
    seen_at_ticks.append((consumed[0], session.decoder.bytes_decoded))
    return seen_at_ticks


def largest_steps(seen_at_ticks: list[tuple[int, int]]) -> tuple[int, int]:
    steps = list(itertools.pairwise(seen_at_ticks))
    return max(b[0] - a[0] for a, b in steps), max(b[1] - a[1] for a, b in steps)


async def test_a_flood_of_tiny_messages_leaves_the_loop_responsive() -> None:
    # 256 KiB of 2-byte messages (1-byte type 3 header + 1 byte): the message budget bounds each turn.
    flood = chunk(0, 4, b"z", field=1, length=1, type_id=8, stream_id=1) + b"\xc4z" * 131_072
    limits = SessionLimits(idle_timeout=5)
    session = IngestSession(received(flood), FakeWriter(), limits=limits)
    seen_at_ticks = await watch_loop_turns(session, flood, limits)
    assert seen_at_ticks[-1] == (131_073, len(flood))
    most_messages, most_bytes = largest_steps(seen_at_ticks)
    # Between two turns of any other task: a bounded number of messages handled, one slice decoded.
    assert most_messages <= limits.messages_per_yield
    assert most_bytes <= limits.decode_slice
    assert session.fairness_yields >= 131_073 // limits.messages_per_yield - 1


async def test_a_flood_of_large_messages_yields_every_yield_bytes() -> None:
    # Flat out with chunk size 4096: few messages, so the byte budget bounds each turn.
    frames = b"".join(media(6, 9, 33 * i, bytes(60_000), chunk_size=4096) for i in range(40))
    flood = set_chunk_size(4096) + frames
    limits = SessionLimits(idle_timeout=5, yield_bytes=32 * 1024)
    session = IngestSession(received(flood), FakeWriter(), limits=limits)
    seen_at_ticks = await watch_loop_turns(session, flood, limits)
    assert seen_at_ticks[-1] == (41, len(flood))
    _, most_bytes = largest_steps(seen_at_ticks)
    # A decoder call always completes at least one chunk: at most one 4096-byte chunk beyond the budgets.
    assert most_bytes <= limits.yield_bytes + limits.decode_slice + 4096 + 18
    assert session.fairness_yields >= len(flood) // (limits.yield_bytes + limits.decode_slice)


async def test_a_publisher_at_real_time_costs_no_extra_loop_turns() -> None:
    # Frames arrive one by one and each read waits for the next: nothing to be fair about, even with
    # budgets of one frame per turn.
    reader = ReceiveBuffer()
    limits = SessionLimits(idle_timeout=5, yield_bytes=32_768, messages_per_yield=1, media_batch_seconds=0)
    session = IngestSession(reader, FakeWriter(), limits=limits)
    frames = [media(6, 9, 33 * i, bytes(20_000), chunk_size=128) for i in range(30)]

    async def publisher() -> None:
        for frame in frames:
            await asyncio.sleep(0.001)
            reader.feed_data(frame)
        reader.feed_eof()

    task = asyncio.create_task(publisher())
    got = await collect(session)
    await task
    assert len(got) == 30
    assert session.fairness_yields == 0
    # The same bytes all at once are a backlog: the reader yields.
    backlog = IngestSession(received(b"".join(frames)), FakeWriter(), limits=limits)
    assert len(await collect(backlog)) == 30
    assert backlog.fairness_yields >= 29


class CountingSession(IngestSession):
    highest_watermark = 1

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read_at: list[float] = []

    async def _wait_for_data(self, seen: int) -> None:
        self.highest_watermark = max(self.highest_watermark, self.watermark.lowat)
        await super()._wait_for_data(seen)
        self.read_at.append(asyncio.get_running_loop().time())


async def publish_over_tcp(
    limits: SessionLimits, *, frames: int, interval: float, pause_before_close: float
) -> tuple[CountingSession, list[tuple[int, float]], list[float]]:
    """A client on a real socket sends a command, then a 5 KB frame every `interval`, then waits and
    closes; returns the session, (timestamp, arrival time) of every frame, and their send times."""
    arrivals: list[tuple[int, float]] = []
    sessions: list[CountingSession] = []
    done = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def serve(reader: ReceiveBuffer, writer: asyncio.StreamWriter) -> None:
        session = CountingSession(reader, writer, limits=limits)
        sessions.append(session)
        try:
            async for ch in session.read_chunks_from_stream():
                if ch.msg_type_id == 9:
                    arrivals.append((ch.timestamp, loop.time()))
        except StreamClosedException:
            pass
        finally:
            writer.close()
            done.set()

    tasks: set[asyncio.Task[None]] = set()
    server = await loop.create_server(
        lambda: IngestProtocol(serve, buffer_size=256 * 1024, tasks=tasks), "127.0.0.1", 0
    )
    port = server.sockets[0].getsockname()[1]
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(set_chunk_size(4096) + chunk(0, 3, b"c", length=1, type_id=20))
    sent: list[float] = []
    for i in range(frames):
        await asyncio.sleep(interval)
        writer.write(media(6, 9, i, bytes(5000), chunk_size=4096))
        sent.append(loop.time())
    await asyncio.sleep(pause_before_close)
    writer.close()
    await asyncio.wait_for(done.wait(), 5)
    server.close()
    return sessions[0], arrivals, sent


async def test_live_media_is_read_in_batches_over_tcp() -> None:
    # ~500 KB/s in 100 frames a second: once the rate is known (1 s), reads come about every 0.1 s.
    limits = SessionLimits(idle_timeout=5, media_batch_seconds=0.1)
    session, arrivals, sent = await publish_over_tcp(
        limits, frames=250, interval=0.01, pause_before_close=2.0
    )
    assert [ts for ts, _ in arrivals] == list(range(250))
    # The last frames are not held until the close: the watchdog lets them in.
    assert arrivals[-1][1] - sent[-1] <= limits.media_batch_seconds * 2 + 0.6
    rate = 5000 * len(sent) / (sent[-1] - sent[0])  # as sent, however slow the machine is today
    assert session.highest_watermark >= rate * limits.media_batch_seconds / 2
    # From 1.2 s on: frames sent and reads made (a heavily loaded machine makes the batches late).
    frames = [ts for ts in range(250) if sent[ts] > sent[0] + 1.2]
    reads = [at for at in session.read_at if sent[frames[0]] < at <= arrivals[-1][1]]
    assert len(frames) > 50
    assert len(reads) <= len(frames) // 3, (len(reads), len(frames))


async def test_without_batching_every_frame_is_its_own_read() -> None:
    limits = SessionLimits(idle_timeout=5, media_batch_seconds=0)
    session, arrivals, _ = await publish_over_tcp(limits, frames=100, interval=0.01, pause_before_close=0)
    assert [ts for ts, _ in arrivals] == list(range(100))
    assert session.highest_watermark == 1
    assert len(session.read_at) >= 80


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="timeouts"):
        SessionLimits(idle_timeout=0)
    with pytest.raises(ValueError, match="positive"):
        SessionLimits(decode_slice=0)
    with pytest.raises(ValueError, match="positive"):
        SessionLimits(yield_bytes=0)
    with pytest.raises(ValueError, match="media_batch_seconds"):
        SessionLimits(media_batch_seconds=-1)
    assert SessionLimits().chunks == ChunkLimits()
