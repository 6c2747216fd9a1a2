"""Hand-built RTMP bytes for the chunk, connection, adapter and pyrtmp comparison tests."""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass, field

from rtmp_ingest.chunks import encode_message
from rtmp_ingest.connection import (
    AcceptConnect,
    AcceptCreateStream,
    ConnectionLimits,
    RtmpConnection,
    StartPublish,
    State,
)
from rtmp_ingest.receive import ReceiveBuffer
from tests.rtmp_ingest.plain_pyrtmp import SessionManager, StreamClosedException
from tidecast_common.amf0 import encode_values

EXT = 0xFFFFFF


def basic_header(fmt: int, cs_id: int) -> bytes:
    if cs_id < 64:
        return bytes([(fmt << 6) | cs_id])
    if cs_id < 320:
        return bytes([fmt << 6, cs_id - 64])
    return bytes([(fmt << 6) | 1, (cs_id - 64) & 0xFF, (cs_id - 64) >> 8])


def chunk(
    fmt: int,
    cs_id: int,
    payload: bytes = b"",
    *,
    field: int = 0,
    length: int = 0,
    type_id: int = 0,
    stream_id: int = 0,
    ext: int | None = None,
) -> bytes:
    """One chunk exactly as given: `field` is the 24-bit timestamp/delta field, `ext` the extended one."""
    out = basic_header(fmt, cs_id)
    if fmt <= 2:
        out += field.to_bytes(3, "big")
    if fmt <= 1:
        out += length.to_bytes(3, "big") + bytes([type_id])
    if fmt == 0:
        out += stream_id.to_bytes(4, "little")
    if ext is not None:
        out += ext.to_bytes(4, "big")
    return out + payload


def set_chunk_size(size: int, cs_id: int = 2) -> bytes:
    return chunk(0, cs_id, struct.pack(">I", size), length=4, type_id=1)


def handshake_bytes() -> bytes:
    c1 = bytes(8) + bytes(range(256)) * 6
    return b"\x03" + c1[:1536] + bytes(1536)


def command(*values: object, stream_id: int = 0, cs_id: int = 3) -> bytes:
    """An AMF0 command message, chunked at the default chunk size."""
    return encode_message(
        chunk_stream_id=cs_id,
        msg_type_id=20,
        msg_stream_id=stream_id,
        timestamp=0,
        payload=encode_values(*values),
        chunk_size=128,
    )


def media(cs_id: int, type_id: int, timestamp: int, payload: bytes, chunk_size: int = 128) -> bytes:
    return encode_message(
        chunk_stream_id=cs_id,
        msg_type_id=type_id,
        msg_stream_id=1,
        timestamp=timestamp,
        payload=payload,
        chunk_size=chunk_size,
    )


CONNECT = command("connect", 1, {"app": "streaming", "tcUrl": "rtmp://127.0.0.1/streaming"})
CREATE_STREAM = command("createStream", 2, None)
PUBLISH = command("publish", 3, None, "key", "live", stream_id=1, cs_id=8)


def publishing_connection(limits: ConnectionLimits | None = None) -> RtmpConnection:
    """A connection taken through handshake, connect, createStream and a granted publish, its
    replies discarded: what the peer sends next is media."""
    connection = RtmpConnection(limits)
    connection.receive_data(handshake_bytes() + CONNECT + CREATE_STREAM + PUBLISH)
    for reply in (AcceptConnect(), AcceptCreateStream(), StartPublish("Publishing")):
        connection.next_event()
        connection.send(reply)
    connection.data_to_send()
    assert connection.state is State.PUBLISHING
    return connection


@dataclass(frozen=True)
class Msg:
    cs_id: int
    type_id: int
    stream_id: int
    timestamp: int
    payload: bytes


@dataclass
class _CsState:
    timestamp: int = 0
    delta: int = 0
    length: int = -1
    type_id: int = -1
    stream_id: int = -1
    extended: bool = False


@dataclass
class CompressingEncoder:
    """Chooses the smallest header (type 0/1/2/3) per message, as ffmpeg and librtmp do."""

    chunk_size: int = 128
    states: dict[int, _CsState] = field(default_factory=dict)

    def encode(self, msg: Msg) -> bytes:
        state = self.states.get(msg.cs_id)
        size = len(msg.payload)
        if state is None or msg.stream_id != state.stream_id or msg.timestamp < state.timestamp:
            fmt, value = 0, msg.timestamp
        else:
            value = msg.timestamp - state.timestamp
            if size != state.length or msg.type_id != state.type_id:
                fmt = 1
            elif value == state.delta:
                fmt = 3
            else:
                fmt = 2
        if state is None:
            state = self.states[msg.cs_id] = _CsState()
        if fmt == 3:
            extended = state.extended
        else:
            extended = value >= EXT
            state.extended = extended
        ext = value if extended else None
        out = chunk(
            fmt,
            msg.cs_id,
            msg.payload[: self.chunk_size],
            field=min(value, EXT),
            length=size,
            type_id=msg.type_id,
            stream_id=msg.stream_id,
            ext=ext,
        )
        for offset in range(self.chunk_size, size, self.chunk_size):
            out += chunk(3, msg.cs_id, msg.payload[offset : offset + self.chunk_size], ext=ext)
        state.timestamp = msg.timestamp
        state.delta = value
        state.length = size
        state.type_id = msg.type_id
        state.stream_id = msg.stream_id
        return out


class FakeWriter:
    """The StreamWriter surface sessions use, recording what is written."""

    def __init__(self, peer: object = ("192.0.2.7", 50000)) -> None:
        self.peer = peer
        self.written = bytearray()
        self.closed = False
        self.block_drain = False

    def write(self, data: bytes) -> None:
        self.written += data

    async def drain(self) -> None:
        if self.block_drain:
            await asyncio.Event().wait()

    def get_extra_info(self, name: str, default: object = None) -> object:
        return self.peer if name == "peername" else default

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


def received(data: bytes, *, eof: bool = True) -> ReceiveBuffer:
    """A connection's receive buffer already holding `data` (sized for it), ended unless `eof=False`."""
    buffer = ReceiveBuffer(max(len(data) + RECEIVE_SLACK, 2 * RECEIVE_SLACK), min_free=RECEIVE_SLACK)
    buffer.feed_data(data)
    if eof:
        buffer.feed_eof()
    return buffer


RECEIVE_SLACK = 64 * 1024


def reader_with(data: bytes, *, eof: bool = True) -> asyncio.StreamReader:
    """A StreamReader holding `data`, for plain pyrtmp's SessionManager."""
    reader = asyncio.StreamReader(limit=2**20)
    reader.feed_data(data)
    if eof:
        reader.feed_eof()
    return reader


async def pyrtmp_messages(data: bytes, *, limit: int = 100) -> tuple[list[Msg], BaseException | None]:
    """What plain pyrtmp's SessionManager makes of the post-handshake bytes `data`."""
    session = SessionManager(reader_with(data), FakeWriter())
    messages: list[Msg] = []
    error: BaseException | None = None
    try:
        async with asyncio.timeout(2):
            async for ch in session.read_chunks_from_stream():
                messages.append(Msg(ch.chunk_id, ch.msg_type_id, ch.msg_stream_id, ch.timestamp, ch.payload))
                if len(messages) >= limit:
                    break
    except StreamClosedException:
        pass
    except Exception as exc:  # pyrtmp fails in many ways; the tests look at what it produced
        error = exc
    return messages, error
