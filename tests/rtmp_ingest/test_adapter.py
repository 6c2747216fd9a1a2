"""ConnectionIO over receive buffers and a recording writer (no sockets), and over real TCP."""

from __future__ import annotations

import asyncio
import itertools
import struct
from collections.abc import Callable

import pytest

from rtmp_ingest.adapter import (
    ConnectionIO,
    HandshakeTimeout,
    IdleTimeout,
    IoLimits,
    PublishDeadline,
    SessionTimeout,
    WriteTimeout,
    format_peer,
    peer_ip,
)
from rtmp_ingest.chunks import ChunkStreamDecoder, ProtocolError, RtmpMessage
from rtmp_ingest.connection import AcceptConnect, Closed, ConnectionLimits, Event, Media, RtmpConnection
from rtmp_ingest.receive import IngestProtocol, ReceiveBuffer
from tests.rtmp_ingest.rtmp_bytes import (
    CONNECT,
    FakeWriter,
    chunk,
    handshake_bytes,
    media,
    publishing_connection,
    received,
    set_chunk_size,
)

FAST = IoLimits(handshake_timeout=0.2, idle_timeout=0.2, publish_deadline=5, write_timeout=0.2)


def io_for(
    buffer: ReceiveBuffer,
    writer: FakeWriter | None = None,
    *,
    limits: IoLimits = FAST,
    connection: RtmpConnection | None = None,
) -> ConnectionIO:
    return ConnectionIO(
        buffer,
        writer or FakeWriter(),  # type: ignore[arg-type]
        connection if connection is not None else publishing_connection(),
        limits=limits,
    )


async def read_until_end(
    io: ConnectionIO, on_event: Callable[[Event], None] | None = None
) -> tuple[list[Event], BaseException | Closed]:
    """Every event but Closed (unless `on_event` takes them), and Closed or the exception that ended it."""
    out: list[Event] = []
    try:
        async for event in io.events():
            if isinstance(event, Closed):
                return out, event
            if on_event is None:
                out.append(event)
            else:
                on_event(event)
    except (SessionTimeout, ProtocolError, ConnectionError) as error:
        return out, error
    raise AssertionError("the reading never ended")


async def collect(io: ConnectionIO) -> list[Event]:
    out, end = await read_until_end(io)
    assert isinstance(end, Closed), end
    return out


# --- handshake --------------------------------------------------------------------------------------


async def test_handshake_answers_s0_s1_s2_echoing_c1() -> None:
    data = handshake_bytes()
    writer = FakeWriter()
    io = io_for(received(data), writer, connection=RtmpConnection())
    assert await collect(io) == []
    assert len(writer.written) == 1 + 1536 + 1536
    assert writer.written[0] == 3
    assert bytes(writer.written[1 + 1536 :]) == data[1:1537]


async def test_handshake_timeout() -> None:
    io = io_for(received(b"\x03" + bytes(100), eof=False), connection=RtmpConnection())
    _, error = await read_until_end(io)
    assert isinstance(error, HandshakeTimeout)
    assert issubclass(HandshakeTimeout, TimeoutError)


async def test_handshake_refuses_other_versions_without_waiting_for_c1() -> None:
    io = io_for(received(b"\x06", eof=False), connection=RtmpConnection())
    _, error = await read_until_end(io)
    assert isinstance(error, ProtocolError)
    assert "version 6" in str(error)


async def test_handshake_eof_is_a_closed_stream() -> None:
    io = io_for(received(b"\x03" + bytes(10)), connection=RtmpConnection())
    _, end = await read_until_end(io)
    assert isinstance(end, Closed)


# --- the one read deadline --------------------------------------------------------------------------


async def test_idle_timeout_after_messages() -> None:
    io = io_for(received(media(4, 8, 10, b"a"), eof=False))
    got, error = await read_until_end(io)
    assert isinstance(error, IdleTimeout)
    assert got == [Media(8, 10, b"a")]
    assert io._timer is None  # nothing left scheduled that keeps the connection alive


async def test_idle_timer_is_armed_once_and_released_at_the_end() -> None:
    reader = ReceiveBuffer()
    io = io_for(reader, limits=IoLimits(idle_timeout=5))
    timers: list[object] = []

    async def publisher() -> None:
        for i in range(5):
            await asyncio.sleep(0.001)
            timers.append(io._timer)
            reader.feed_data(media(4, 8, i, b"a"))
        reader.feed_eof()

    task = asyncio.create_task(publisher())
    assert len(await collect(io)) == 5
    await task
    assert timers[0] is not None
    assert all(timer is timers[0] for timer in timers)
    assert io._timer is None


async def test_a_connection_sending_only_acknowledgements_meets_the_publish_deadline() -> None:
    reader = ReceiveBuffer()
    limits = IoLimits(idle_timeout=5, publish_deadline=0.3)
    io = io_for(reader, limits=limits, connection=RtmpConnection())
    reader.feed_data(handshake_bytes())
    loop = asyncio.get_running_loop()
    started = loop.time()

    async def acknowledger() -> None:
        while True:
            await asyncio.sleep(0.02)
            reader.feed_data(chunk(0, 2, struct.pack(">I", 1000), length=4, type_id=3))

    task = asyncio.create_task(acknowledger())
    try:
        _, error = await read_until_end(io)
    finally:
        task.cancel()
    assert isinstance(error, PublishDeadline)
    assert 0.25 <= loop.time() - started < 1.0


async def test_the_publish_deadline_no_longer_applies_once_publishing() -> None:
    io = io_for(
        received(media(4, 8, 1, b"a"), eof=False), limits=IoLimits(idle_timeout=0.4, publish_deadline=0.1)
    )
    _, error = await read_until_end(io)
    assert isinstance(error, IdleTimeout)


# --- decoding ---------------------------------------------------------------------------------------


async def test_set_chunk_size_applies_and_a_large_message_comes_whole() -> None:
    big = bytes(range(256)) * 40
    data = set_chunk_size(4096) + media(6, 9, 1000, big, chunk_size=4096)
    assert await collect(io_for(received(data))) == [Media(9, 1000, big)]


async def test_protocol_error_surfaces_from_the_reader() -> None:
    _, error = await read_until_end(io_for(received(set_chunk_size(1))))
    assert isinstance(error, ProtocolError)


async def collect_read_in_pieces(io: ConnectionIO, data: bytes, size: int) -> list[Event]:
    """Collect while `data` arrives `size` bytes per read, a millisecond apart, then EOF."""
    buffer = io.buffer

    async def publisher() -> None:
        for offset in range(0, len(data), size):
            await asyncio.sleep(0.001)
            buffer.feed_data(data[offset : offset + size])
        buffer.feed_eof()

    task = asyncio.create_task(publisher())
    got = await collect(io)
    await task
    return got


async def test_acknowledgement_sent_when_the_window_is_crossed() -> None:
    connection = publishing_connection(ConnectionLimits(ack_window=3000))
    before = connection.bytes_received  # the commands before the publish count too, as RTMP counts
    frames = b"".join(media(4, 8, 20 * i, b"x" * 100) for i in range(50))  # 50 * 112 = 5600 bytes
    writer = FakeWriter()
    io = io_for(ReceiveBuffer(), writer, limits=IoLimits(idle_timeout=1), connection=connection)
    assert len(await collect_read_in_pieces(io, frames, 4096)) == 50
    acks = ChunkStreamDecoder().feed(bytes(writer.written))
    # Acknowledgements are checked after the messages of each read (4096 bytes here).
    assert acks == [RtmpMessage(2, 3, 0, 0, struct.pack(">I", before + 4096))]
    assert connection.bytes_received - before == 5600


async def test_acknowledgement_follows_the_window_the_peer_announces() -> None:
    connection = publishing_connection()
    before = connection.bytes_received
    data = chunk(0, 2, struct.pack(">I", 1000), length=4, type_id=5)  # 16 bytes
    data += b"".join(media(4, 8, i, b"y" * 100) for i in range(20))  # 2240 bytes
    writer = FakeWriter()
    io = io_for(ReceiveBuffer(), writer, limits=IoLimits(idle_timeout=1), connection=connection)
    await collect_read_in_pieces(io, data, 1024)
    acks = ChunkStreamDecoder().feed(bytes(writer.written))
    assert [struct.unpack(">I", m.payload)[0] - before for m in acks] == [1024, 2048]


@pytest.mark.parametrize(
    ("peer", "text", "ip"),
    [
        (("203.0.113.9", 40000), "203.0.113.9:40000", "203.0.113.9"),
        (("::1", 40000, 0, 0), "[::1]:40000", "::1"),
        (("2001:db8::5", 1935, 0, 3), "[2001:db8::5]:1935", "2001:db8::5"),
        (("::ffff:192.0.2.1", 1935, 0, 0), "[::ffff:192.0.2.1]:1935", "192.0.2.1"),
        (None, "unknown", "unknown"),
    ],
)
async def test_peername_for_ipv4_and_ipv6(peer: object, text: str, ip: str) -> None:
    writer = FakeWriter(peer)
    io = io_for(ReceiveBuffer(), writer)
    assert io.peername == text == format_peer(peer)
    assert peer_ip(writer) == ip


# --- writing ----------------------------------------------------------------------------------------


async def test_replies_are_written_with_the_chunk_size_announced() -> None:
    connection = RtmpConnection()
    connection.receive_data(handshake_bytes() + CONNECT)
    connection.next_event()
    connection.data_to_send()
    writer = FakeWriter()
    io = io_for(ReceiveBuffer(), writer, connection=connection)
    await io.send(AcceptConnect())
    decoded = ChunkStreamDecoder().feed(bytes(writer.written))
    assert [m.msg_type_id for m in decoded] == [5, 6, 4, 1, 20]
    assert connection.out_chunk_size == 8192


async def test_drain_times_out_when_the_peer_does_not_read() -> None:
    writer = FakeWriter()
    writer.block_drain = True
    io = io_for(ReceiveBuffer(), writer)
    with pytest.raises(WriteTimeout):
        await io.write(b"x")


# --- fairness ---------------------------------------------------------------------------------------


async def watch_loop_turns(io: ConnectionIO) -> list[tuple[int, int]]:
    """Read everything received (no read ever waits for the peer) while another task notes (events
    consumed, bytes decoded) at each of its turns."""
    consumed = [0]
    seen_at_ticks: list[tuple[int, int]] = []
    start = io.connection.bytes_decoded

    async def ticker() -> None:
        while True:
            seen_at_ticks.append((consumed[0], io.connection.bytes_decoded - start))
            await asyncio.sleep(0)

    def count(_: Event) -> None:
        consumed[0] += 1

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    _, end = await read_until_end(io, count)
    task.cancel()
    assert isinstance(end, Closed), end
    seen_at_ticks.append((consumed[0], io.connection.bytes_decoded - start))
    return seen_at_ticks


def largest_steps(seen_at_ticks: list[tuple[int, int]]) -> tuple[int, int]:
    steps = list(itertools.pairwise(seen_at_ticks))
    return max(b[0] - a[0] for a, b in steps), max(b[1] - a[1] for a, b in steps)


async def test_a_flood_of_tiny_messages_leaves_the_loop_responsive() -> None:
    # 256 KiB of 2-byte messages (1-byte type 3 header + 1 byte): the message budget bounds each turn.
    flood = chunk(0, 4, b"z", field=1, length=1, type_id=8, stream_id=1) + b"\xc4z" * 131_072
    limits = IoLimits(idle_timeout=5)
    io = io_for(received(flood), limits=limits)
    seen_at_ticks = await watch_loop_turns(io)
    assert seen_at_ticks[-1] == (131_073, len(flood))
    most_messages, most_bytes = largest_steps(seen_at_ticks)
    # Between two turns of any other task: a bounded number of messages handled, one slice decoded.
    assert most_messages <= limits.messages_per_yield
    assert most_bytes <= limits.decode_slice
    assert io.fairness_yields >= 131_073 // limits.messages_per_yield - 1


async def test_a_flood_of_large_messages_yields_every_yield_bytes() -> None:
    # Flat out with chunk size 4096: few messages, so the byte budget bounds each turn.
    frames = b"".join(media(6, 9, 33 * i, bytes(60_000), chunk_size=4096) for i in range(40))
    flood = set_chunk_size(4096) + frames
    limits = IoLimits(idle_timeout=5, yield_bytes=32 * 1024)
    io = io_for(received(flood), limits=limits)
    seen_at_ticks = await watch_loop_turns(io)
    assert seen_at_ticks[-1] == (40, len(flood))
    _, most_bytes = largest_steps(seen_at_ticks)
    # A decoder call always completes at least one chunk: at most one 4096-byte chunk beyond the budgets.
    assert most_bytes <= limits.yield_bytes + limits.decode_slice + 4096 + 18
    assert io.fairness_yields >= len(flood) // (limits.yield_bytes + limits.decode_slice)


async def test_a_publisher_at_real_time_costs_no_extra_loop_turns() -> None:
    # Frames arrive one by one and each read waits for the next: nothing to be fair about, even with
    # budgets of one frame per turn.
    reader = ReceiveBuffer()
    limits = IoLimits(idle_timeout=5, yield_bytes=32_768, messages_per_yield=1, media_batch_seconds=0)
    io = io_for(reader, limits=limits)
    frames = [media(6, 9, 33 * i, bytes(20_000), chunk_size=128) for i in range(30)]

    async def publisher() -> None:
        for frame in frames:
            await asyncio.sleep(0.001)
            reader.feed_data(frame)
        reader.feed_eof()

    task = asyncio.create_task(publisher())
    got = await collect(io)
    await task
    assert len(got) == 30
    assert io.fairness_yields == 0
    # The same bytes all at once are a backlog: the reader yields.
    backlog = io_for(received(b"".join(frames)), limits=limits)
    assert len(await collect(backlog)) == 30
    assert backlog.fairness_yields >= 29


# --- batched reads over TCP ---------------------------------------------------------------------------


class CountingIO(ConnectionIO):
    highest_watermark = 1

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.read_at: list[float] = []

    async def _wait_for_data(self, seen: int) -> bool:
        self.highest_watermark = max(self.highest_watermark, self.watermark.lowat)
        more = await super()._wait_for_data(seen)
        self.read_at.append(asyncio.get_running_loop().time())
        return more


async def publish_over_tcp(
    limits: IoLimits, *, frames: int, interval: float, pause_before_close: float
) -> tuple[CountingIO, list[tuple[int, float]], list[float]]:
    """A publisher on a real socket sends a 5 KB frame every `interval`, then waits and closes;
    returns the adapter, (timestamp, arrival time) of every frame, and their send times."""
    arrivals: list[tuple[int, float]] = []
    adapters: list[CountingIO] = []
    done = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def serve(reader: ReceiveBuffer, writer: asyncio.StreamWriter) -> None:
        io = CountingIO(reader, writer, publishing_connection(), limits=limits)
        adapters.append(io)
        try:
            async for event in io.events():
                if isinstance(event, Media):
                    arrivals.append((event.timestamp, loop.time()))
        finally:
            writer.close()
            done.set()

    tasks: set[asyncio.Task[None]] = set()
    server = await loop.create_server(
        lambda: IngestProtocol(serve, buffer_size=256 * 1024, tasks=tasks), "127.0.0.1", 0
    )
    port = server.sockets[0].getsockname()[1]
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(set_chunk_size(4096))
    sent: list[float] = []
    for i in range(frames):
        await asyncio.sleep(interval)
        writer.write(media(6, 9, i, bytes(5000), chunk_size=4096))
        sent.append(loop.time())
    await asyncio.sleep(pause_before_close)
    writer.close()
    await asyncio.wait_for(done.wait(), 5)
    server.close()
    return adapters[0], arrivals, sent


async def test_live_media_is_read_in_batches_over_tcp() -> None:
    # ~500 KB/s in 100 frames a second: once the rate is known (1 s), reads come about every 0.1 s.
    limits = IoLimits(idle_timeout=5, media_batch_seconds=0.1)
    io, arrivals, sent = await publish_over_tcp(limits, frames=250, interval=0.01, pause_before_close=2.0)
    assert [ts for ts, _ in arrivals] == list(range(250))
    # The last frames are not held until the close: the watchdog lets them in.
    assert arrivals[-1][1] - sent[-1] <= limits.media_batch_seconds * 2 + 0.6
    rate = 5000 * len(sent) / (sent[-1] - sent[0])  # as sent, however slow the machine is today
    assert io.highest_watermark >= rate * limits.media_batch_seconds / 2
    # From 1.2 s on: frames sent and reads made (a heavily loaded machine makes the batches late).
    frames = [ts for ts in range(250) if sent[ts] > sent[0] + 1.2]
    reads = [at for at in io.read_at if sent[frames[0]] < at <= arrivals[-1][1]]
    assert len(frames) > 50
    assert len(reads) <= len(frames) // 3, (len(reads), len(frames))


async def test_without_batching_every_frame_is_its_own_read() -> None:
    limits = IoLimits(idle_timeout=5, media_batch_seconds=0)
    io, arrivals, _ = await publish_over_tcp(limits, frames=100, interval=0.01, pause_before_close=0)
    assert [ts for ts, _ in arrivals] == list(range(100))
    assert io.highest_watermark == 1
    assert len(io.read_at) >= 80


async def test_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="timeouts"):
        IoLimits(idle_timeout=0)
    with pytest.raises(ValueError, match="timeouts"):
        IoLimits(publish_deadline=0)
    with pytest.raises(ValueError, match="positive"):
        IoLimits(decode_slice=0)
    with pytest.raises(ValueError, match="positive"):
        IoLimits(yield_bytes=0)
    with pytest.raises(ValueError, match="media_batch_seconds"):
        IoLimits(media_batch_seconds=-1)
