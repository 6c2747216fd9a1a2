"""IngestSession over asyncio StreamReaders and a recording writer (no sockets)."""

from __future__ import annotations

import asyncio
import itertools
import struct
from collections.abc import Callable

import pytest

from rtmp_ingest._pyrtmp import Chunk, SetChunkSize, StreamClosedException
from rtmp_ingest.chunks import ChunkLimits, ChunkStreamDecoder, ProtocolError, RtmpMessage, encode_message
from rtmp_ingest.session import (
    HandshakeTimeout,
    IdleTimeout,
    IngestSession,
    SessionLimits,
    SessionTimeout,
    WriteTimeout,
    format_peer,
)
from tests.rtmp_ingest.rtmp_bytes import FakeWriter, chunk, handshake_bytes, reader_with, set_chunk_size

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
    session = IngestSession(reader_with(data), writer, limits=FAST)
    await session.handshake()
    assert len(writer.written) == 1 + 1536 + 1536
    assert writer.written[0] == 3
    assert bytes(writer.written[1 + 1536 :]) == data[1:1537]


async def test_handshake_timeout() -> None:
    session = IngestSession(reader_with(b"\x03" + bytes(100), eof=False), FakeWriter(), limits=FAST)
    with pytest.raises(HandshakeTimeout):
        await session.handshake()
    assert issubclass(HandshakeTimeout, TimeoutError)


async def test_handshake_refuses_other_versions_without_waiting_for_c1() -> None:
    session = IngestSession(reader_with(b"\x06", eof=False), FakeWriter(), limits=FAST)
    with pytest.raises(ProtocolError, match="version 6"):
        await session.handshake()


async def test_handshake_eof_is_a_closed_stream() -> None:
    session = IngestSession(reader_with(b"\x03" + bytes(10)), FakeWriter(), limits=FAST)
    with pytest.raises(StreamClosedException):
        await session.handshake()


async def test_idle_timeout_after_messages() -> None:
    reader = reader_with(handshake_bytes() + media(4, 8, 10, b"a"), eof=False)
    session = IngestSession(reader, FakeWriter(), limits=FAST)
    await session.handshake()
    received, error = await read_until_end(session)
    assert isinstance(error, IdleTimeout)
    assert [ch.payload for ch in received] == [b"a"]


async def test_messages_come_out_as_pyrtmp_chunks_with_set_chunk_size_applied() -> None:
    big = bytes(range(256)) * 40
    data = handshake_bytes() + set_chunk_size(4096) + media(6, 9, 1000, big, chunk_size=4096)
    session = IngestSession(reader_with(data), FakeWriter(), limits=FAST)
    await session.handshake()
    chunks = await collect(session)
    assert [(c.msg_type_id, c.timestamp, c.msg_length) for c in chunks] == [(1, 0, 4), (9, 1000, len(big))]
    assert chunks[1].payload == big
    assert session.reader_chunk_size == 4096
    # A controller repeating the decoded Set Chunk Size (as pyrtmp's does) changes nothing.
    session.reader_chunk_size = 4096
    assert session.reader_chunk_size == 4096


async def test_protocol_error_surfaces_from_the_reader() -> None:
    session = IngestSession(reader_with(set_chunk_size(1)), FakeWriter(), limits=FAST)
    _, error = await read_until_end(session)
    assert isinstance(error, ProtocolError)


async def test_acknowledgement_sent_when_the_window_is_crossed() -> None:
    limits = SessionLimits(ack_window=3000, idle_timeout=1)
    frames = b"".join(media(4, 8, 20 * i, b"x" * 100) for i in range(50))  # 50 * 112 = 5600 bytes
    writer = FakeWriter()
    session = IngestSession(reader_with(frames), writer, limits=limits)
    assert len(await collect(session)) == 50
    acks = ChunkStreamDecoder().feed(bytes(writer.written))
    # Acknowledgements are checked after each decoded slice (4096 bytes by default).
    assert acks == [RtmpMessage(2, 3, 0, 0, struct.pack(">I", 4096))]
    assert session.total_read_bytes == 5600


async def test_acknowledgement_follows_the_window_the_peer_announces() -> None:
    data = chunk(0, 2, struct.pack(">I", 1000), length=4, type_id=5)  # 16 bytes
    data += b"".join(media(4, 8, i, b"y" * 100) for i in range(20))  # 2240 bytes
    writer = FakeWriter()
    session = IngestSession(reader_with(data), writer, limits=SessionLimits(decode_slice=1024))
    await collect(session)
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
    session = IngestSession(asyncio.StreamReader(), FakeWriter(peer))
    assert session.peername == text == format_peer(peer)
    assert session.client_ip == ip


async def test_written_messages_decode_with_the_writer_chunk_size() -> None:
    writer = FakeWriter()
    session = IngestSession(asyncio.StreamReader(), writer)
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
    session = IngestSession(asyncio.StreamReader(), writer, limits=FAST)
    with pytest.raises(WriteTimeout):
        await session.drain()


async def test_a_flood_of_tiny_messages_leaves_the_loop_responsive() -> None:
    # 256 KiB of 2-byte messages (1-byte type 3 header + 1 byte), all buffered at once: StreamReader.read()
    # never suspends, so only the session's own yields let other connections run.
    flood = chunk(0, 4, b"z", field=1, length=1, type_id=8, stream_id=1) + b"\xc4z" * 131_072
    limits = SessionLimits(idle_timeout=5)
    session = IngestSession(reader_with(flood), FakeWriter(), limits=limits)
    consumed = [0]
    seen_at_ticks: list[tuple[int, int]] = []

    async def ticker() -> None:
        while True:
            await asyncio.sleep(0)
            seen_at_ticks.append((consumed[0], session.decoder.bytes_received))

    def count(_: Chunk) -> None:
        consumed[0] += 1

    task = asyncio.create_task(ticker())
    _, error = await read_until_end(session, count)
    task.cancel()
    assert isinstance(error, StreamClosedException)
    assert consumed[0] == 131_073
    steps = list(itertools.pairwise(seen_at_ticks))
    # Between two turns of any other task: at most one slice decoded and a bounded number of messages handled.
    assert max(later[1] - earlier[1] for earlier, later in steps) <= limits.decode_slice
    assert max(later[0] - earlier[0] for earlier, later in steps) <= limits.messages_per_yield
    assert len(seen_at_ticks) >= consumed[0] // limits.messages_per_yield


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="timeouts"):
        SessionLimits(idle_timeout=0)
    with pytest.raises(ValueError, match="positive"):
        SessionLimits(decode_slice=0)
    assert SessionLimits().chunks == ChunkLimits()
