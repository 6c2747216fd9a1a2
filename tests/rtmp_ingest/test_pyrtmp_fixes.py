"""Each defect of plain pyrtmp 0.3.1, shown on pyrtmp itself and fixed in rtmp_ingest, on the same bytes.

These defects are why the ingest no longer runs on pyrtmp at all: its chunk layer, AMF0, messages,
handshake and controller are each replaced here, and what was left (field holders) is not worth a
dependency. pyrtmp stays a test dependency so that each fix keeps being shown against it.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator

import pytest

from rtmp_ingest.adapter import ConnectionIO, HandshakeTimeout, IoLimits
from rtmp_ingest.chunks import ChunkLimits, ChunkStreamDecoder, ProtocolError
from rtmp_ingest.connection import Closed, ConnectionLimits, RtmpConnection
from rtmp_ingest.messages import Command, Metadata, parse_message
from rtmp_ingest.receive import ReceiveBuffer
from tests.rtmp_ingest.plain_pyrtmp import Chunk, MessageFactory, SessionManager, StreamClosedException
from tests.rtmp_ingest.rtmp_bytes import (
    EXT,
    FakeWriter,
    Msg,
    chunk,
    publishing_connection,
    pyrtmp_messages,
    reader_with,
    received,
)
from tidecast_common import flv
from tidecast_common.amf0 import decode_all, encode_values


def ours(data: bytes) -> list[Msg]:
    return [
        Msg(m.chunk_stream_id, m.msg_type_id, m.msg_stream_id, m.timestamp, m.payload)
        for m in ChunkStreamDecoder().feed(data)
    ]


def make_chunk(type_id: int, payload: bytes) -> Chunk:
    return Chunk(
        chunk_type=0, chunk_id=3, timestamp=0, msg_length=len(payload), msg_type_id=type_id, msg_stream_id=1,
        payload=payload,
    )  # fmt: skip


async def test_type3_header_starting_a_message_adds_the_delta() -> None:
    data = chunk(0, 4, b"a", field=1000, length=1, type_id=8, stream_id=1)
    data += chunk(2, 4, b"b", field=23) + chunk(3, 4, b"c") + chunk(3, 4, b"d")
    expected = [1000, 1023, 1046, 1069]
    assert [m.timestamp for m in ours(data)] == expected
    pyrtmp, _ = await pyrtmp_messages(data)
    assert [m.timestamp for m in pyrtmp] == [1000, 1023, 1023, 1023]  # audio drifts behind video


async def test_extended_timestamp_repeated_on_continuation_chunks() -> None:
    # What ffmpeg sends once a stream passes 16,777,215 ms: a type 0 header with an extended timestamp,
    # repeated on the type 3 continuation chunks.
    payload = bytes(range(200))
    data = chunk(0, 6, payload[:128], field=EXT, length=200, type_id=9, stream_id=1, ext=16_777_300)
    data += chunk(3, 6, payload[128:], ext=16_777_300)
    data += chunk(0, 4, b"audio", field=EXT, length=5, type_id=8, stream_id=1, ext=16_777_310)
    expected = [Msg(6, 9, 1, 16_777_300, payload), Msg(4, 8, 1, 16_777_310, b"audio")]
    assert ours(data) == expected
    pyrtmp, _ = await pyrtmp_messages(data)
    assert pyrtmp != expected


async def test_extended_timestamp_follows_the_field_not_the_computed_time() -> None:
    data = chunk(0, 4, b"a", field=0xFFFFF0, length=1, type_id=8, stream_id=1)
    data += chunk(2, 4, b"b", field=0x0F) + chunk(2, 4, b"c", field=1)
    expected = [0xFFFFF0, 0xFFFFFF, 0x1000000]
    assert [m.timestamp for m in ours(data)] == expected
    pyrtmp, _ = await pyrtmp_messages(data)
    assert [m.timestamp for m in pyrtmp] != expected


async def test_three_byte_chunk_stream_id_is_little_endian() -> None:
    data = chunk(0, 400, b"x", length=1, type_id=8, stream_id=1)
    assert [m.cs_id for m in ours(data)] == [400]
    pyrtmp, _ = await pyrtmp_messages(data)
    assert [m.cs_id for m in pyrtmp] != [400]


async def test_message_size_and_pending_bytes_are_bounded() -> None:
    header = chunk(0, 6, length=0xFFFFFF, type_id=9, stream_id=1)  # a 16 MiB message announced
    data = header + b"\x00" * 128 + b"".join(chunk(3, 6, b"\x00" * 128) for _ in range(2000))
    with pytest.raises(ProtocolError):
        ChunkStreamDecoder(ChunkLimits(max_message_length=8 * 1024 * 1024)).feed(data)
    # pyrtmp takes it all in, waiting for the remaining 16 MB, without any complaint but end of stream.
    pyrtmp, error = await pyrtmp_messages(data)
    assert (pyrtmp, error) == ([], None)


def adapter(
    buffer: ReceiveBuffer, writer: FakeWriter, connection: RtmpConnection, limits: IoLimits | None = None
) -> ConnectionIO:
    return ConnectionIO(buffer, writer, connection, limits=limits)  # type: ignore[arg-type]


async def test_handshake_times_out() -> None:
    stalled = adapter(
        received(b"\x03", eof=False), FakeWriter(), RtmpConnection(), IoLimits(handshake_timeout=0.1)
    )
    with pytest.raises(HandshakeTimeout):
        async for _ in stalled.events():
            pass
    plain = asyncio.create_task(SessionManager(reader_with(b"\x03", eof=False), FakeWriter()).handshake())
    await asyncio.sleep(0.3)
    assert not plain.done()  # still waiting, for ever
    plain.cancel()


async def test_reading_yields_to_other_tasks() -> None:
    flood = chunk(0, 4, b"z", length=1, type_id=8, stream_id=1) + b"\xc4z" * 3000
    ticks = [0]

    async def ticker() -> None:
        while True:
            await asyncio.sleep(0)
            ticks[0] += 1

    async def run(messages: AsyncIterator[object]) -> int:
        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        ticks[0] = 0
        count = 0
        try:
            async for message in messages:
                count += not isinstance(message, Closed)
        except StreamClosedException:
            pass
        task.cancel()
        assert count == 3001
        return ticks[0]

    ours = adapter(received(flood), FakeWriter(), publishing_connection())
    assert await run(ours.events()) >= 3000 // 32
    assert await run(SessionManager(reader_with(flood), FakeWriter()).read_chunks_from_stream()) == 0


@pytest.mark.parametrize(
    ("type_id", "payload"),
    [
        (17, b"\x00" + encode_values("publish", 5, None, "key", "live")),  # AMF3 command
        (20, encode_values("publish", 5) + b"\x06" + encode_values("key", "live")),  # AMF0 undefined
        (18, encode_values("@setDataFrame", "onMetaData") + b"\x0a\x00\x00\x00\x00"),  # strict array
        (20, encode_values("publish", 5, None, "k" * 70_000, "live")),  # long string
    ],
)
def test_amf_forms_that_killed_pyrtmp_are_parsed(type_id: int, payload: bytes) -> None:
    message = parse_message(type_id, payload)
    assert isinstance(message, Command | Metadata)
    if isinstance(message, Command):  # what the connection makes of it
        assert (message.name, message.argument(0)) == (
            "publish",
            "key" if len(payload) < 70_000 else "k" * 70_000,
        )
    with pytest.raises(Exception):  # noqa: B017, PT011 - pyrtmp fails in several ways
        MessageFactory.from_chunk(make_chunk(type_id, payload))


def test_object_form_and_utf8_metadata() -> None:
    payload = encode_values("@setDataFrame", "onMetaData", {"title": "Noël ✓", "width": 1280})
    message = parse_message(18, payload)
    assert isinstance(message, Metadata)
    assert decode_all(flv.metadata_body(message.meta))[1] == {"title": "Noël ✓", "width": 1280.0}
    plain = MessageFactory.from_chunk(make_chunk(18, payload))
    with pytest.raises(TypeError):
        plain.to_raw_meta()
    ecma = encode_values("@setDataFrame", "onMetaData")
    ecma += b"\x08\x00\x00\x00\x01" + encode_values("title")[1:] + encode_values("Noël ✓") + b"\x00\x00\x09"
    plain_text = MessageFactory.from_chunk(make_chunk(18, ecma))
    assert "Noël ✓".encode() not in plain_text.to_raw_meta()  # pyrtmp truncates the UTF-8 bytes
    parsed = parse_message(18, ecma)
    assert isinstance(parsed, Metadata)
    assert "Noël ✓".encode() in flv.metadata_body(parsed.meta)


async def test_ipv6_peername() -> None:
    writer = FakeWriter(("::1", 51000, 0, 0))
    assert adapter(ReceiveBuffer(), writer, RtmpConnection()).peername == "[::1]:51000"
    with pytest.raises(ValueError, match="too many values"):
        _ = SessionManager(None, writer).peername


async def test_received_bytes_are_counted_in_bytes_and_acknowledged() -> None:
    data = b"".join(chunk(0, 4, b"x" * 100, length=100, type_id=8, stream_id=1) for _ in range(10))
    writer = FakeWriter()
    connection = publishing_connection(ConnectionLimits(ack_window=1000))
    before = connection.bytes_received  # the commands that led to the publish
    async for _ in adapter(received(data), writer, connection).events():
        pass
    assert connection.bytes_received - before == len(data)
    assert [m.msg_type_id for m in ChunkStreamDecoder().feed(bytes(writer.written))] == [3]

    plain_writer = FakeWriter()
    plain = SessionManager(reader_with(data), plain_writer)
    async for _ in _until_closed(plain):
        pass
    assert plain.total_read_bytes == 8 * len(data)  # bits
    assert plain_writer.written == b""  # no acknowledgement ever


async def _until_closed(session: SessionManager):  # type: ignore[no-untyped-def]
    try:
        async for item in session.read_chunks_from_stream():
            yield item
    except StreamClosedException:
        return


def test_import_leaves_the_root_logger_alone() -> None:
    probe = textwrap.dedent(
        """
        import logging, sys
        import {module}
        root = logging.getLogger()
        print(root.level, len(root.handlers), logging.getLogger("pyrtmp.rtmp").getEffectiveLevel())
        """
    )
    # The whole ingest, as `python -m rtmp_ingest` imports it; pyrtmp is not among its imports.
    ours_out = subprocess.run(
        [
            sys.executable,
            "-c",
            probe.format(module="rtmp_ingest.__main__") + "assert 'pyrtmp' not in sys.modules",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    plain_out = subprocess.run(
        [sys.executable, "-c", probe.format(module="pyrtmp.rtmp")], capture_output=True, text=True, check=True
    ).stdout.split()
    assert ours_out == ["30", "0", "30"]  # WARNING, no handler added, pyrtmp quiet
    assert plain_out == ["10", "1", "10"]  # DEBUG everywhere
