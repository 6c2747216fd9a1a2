"""pyrtmp's SessionManager with a correct, bounded and fast reader.

`IngestSession` keeps the SessionManager API the controllers use (handshake, read_chunks_from_stream,
write_chunk_to_stream, drain, reader/writer_chunk_size, peername) and replaces its insides: bounded
handshake reads, a timeout on every read and drain, the `ChunkStreamDecoder`, acknowledgements once
the window is crossed, and regular yields to the event loop so one client cannot starve the others.
"""

from __future__ import annotations

import asyncio
import os
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from rtmp_ingest._pyrtmp import Chunk, SessionManager, StreamClosedException
from rtmp_ingest.chunks import (
    MSG_ACKNOWLEDGEMENT,
    ChunkLimits,
    ChunkStreamDecoder,
    ProtocolError,
    encode_message,
)

__all__ = [
    "HandshakeTimeout",
    "IdleTimeout",
    "IngestSession",
    "SessionLimits",
    "SessionTimeout",
    "WriteTimeout",
    "format_peer",
]

RTMP_VERSION = 3
HANDSHAKE_PACKET_BYTES = 1536
PROTOCOL_CONTROL_CHUNK_STREAM = 2


class SessionTimeout(TimeoutError):
    """The peer took too long; the connection must be closed."""


class HandshakeTimeout(SessionTimeout):
    pass


class IdleTimeout(SessionTimeout):
    pass


class WriteTimeout(SessionTimeout):
    pass


@dataclass(frozen=True, slots=True)
class SessionLimits:
    handshake_timeout: float = 10.0
    idle_timeout: float = 30.0
    write_timeout: float = 10.0
    read_size: int = 65536
    # Received bytes are decoded this many at a time with a yield to the loop in between, which bounds
    # the CPU one connection can take in a row (a flood of 1-byte chunks decodes ~4096 messages per slice).
    decode_slice: int = 4096
    messages_per_yield: int = 32
    # The acknowledgement window announced to the peer; a Window Acknowledgement Size from the peer
    # replaces it, as nginx-rtmp does.
    ack_window: int = 5_000_000
    chunks: ChunkLimits = field(default_factory=ChunkLimits)

    def __post_init__(self) -> None:
        if min(self.handshake_timeout, self.idle_timeout, self.write_timeout) <= 0:
            raise ValueError("timeouts must be positive")
        if self.read_size < 1 or self.decode_slice < 1 or self.messages_per_yield < 1:
            raise ValueError("read_size, decode_slice and messages_per_yield must be positive")


def format_peer(peer: object) -> str:
    """`host:port` for IPv4, `[host]:port` for IPv6 (2- or 4-tuples), something printable otherwise."""
    if isinstance(peer, tuple) and len(peer) >= 2:
        host, port = str(peer[0]), peer[1]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return "unknown" if not peer else str(peer)


class IngestSession(SessionManager):  # type: ignore[misc]
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        reader_chunk_size: int = 128,
        writer_chunk_size: int = 128,
        *,
        limits: SessionLimits | None = None,
    ) -> None:
        self.limits = limits if limits is not None else SessionLimits()
        self.decoder = ChunkStreamDecoder(self.limits.chunks, ack_window=self.limits.ack_window)
        super().__init__(reader, writer, reader_chunk_size, writer_chunk_size)

    # --- state shared with the controller -------------------------------------------------------

    @property
    def reader_chunk_size(self) -> int:
        return self.decoder.chunk_size

    @reader_chunk_size.setter
    def reader_chunk_size(self, size: int) -> None:
        # The decoder already applied any Set Chunk Size it decoded; a controller repeating it is a no-op.
        if size != self.decoder.chunk_size:
            self.decoder.chunk_size = size

    @property
    def total_read_bytes(self) -> int:
        return self.decoder.bytes_received

    @property
    def peername(self) -> str:
        return format_peer(self.writer.get_extra_info("peername"))

    @property
    def client_ip(self) -> str:
        peer = self.writer.get_extra_info("peername")
        return str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"

    # --- reading ----------------------------------------------------------------------------------

    async def handshake(self) -> None:
        """Simple handshake: C0+C1 in, S0+S1+S2 out, C2 in, all within the handshake timeout."""
        try:
            async with asyncio.timeout(self.limits.handshake_timeout):
                c0 = await self.reader.readexactly(1)
                if c0[0] != RTMP_VERSION:
                    raise ProtocolError(f"unsupported RTMP version {c0[0]}")
                c1 = await self.reader.readexactly(HANDSHAKE_PACKET_BYTES)
                s1 = struct.pack(">II", 0, 0) + os.urandom(HANDSHAKE_PACKET_BYTES - 8)
                self.writer.write(bytes([RTMP_VERSION]) + s1 + c1)  # S2 echoes C1
                await self.writer.drain()
                await self.reader.readexactly(HANDSHAKE_PACKET_BYTES)
        except TimeoutError as error:
            raise HandshakeTimeout("handshake not completed in time") from error
        except asyncio.IncompleteReadError as error:
            raise StreamClosedException() from error

    async def _read(self) -> bytes:
        try:
            async with asyncio.timeout(self.limits.idle_timeout):
                data: bytes = await self.reader.read(self.limits.read_size)
        except TimeoutError as error:
            raise IdleTimeout("no data from the peer in time") from error
        if not data:
            raise StreamClosedException()
        return data

    async def read_chunks_from_stream(self) -> AsyncIterator[Any]:
        """Complete messages as pyrtmp `Chunk`s, until the peer closes (StreamClosedException)."""
        limits = self.limits
        decoder = self.decoder
        since_yield = 0
        while True:
            data = memoryview(await self._read())
            for offset in range(0, len(data), limits.decode_slice):
                messages = decoder.feed(data[offset : offset + limits.decode_slice])
                await self._acknowledge()
                for message in messages:
                    yield Chunk(
                        chunk_type=0,
                        chunk_id=message.chunk_stream_id,
                        timestamp=message.timestamp,
                        msg_length=len(message.payload),
                        msg_type_id=message.msg_type_id,
                        msg_stream_id=message.msg_stream_id,
                        payload=message.payload,
                    )
                    since_yield += 1
                    if since_yield >= limits.messages_per_yield:
                        since_yield = 0
                        await asyncio.sleep(0)
                # StreamReader.read() returns buffered data without suspending: let the others run.
                await asyncio.sleep(0)

    async def _acknowledge(self) -> None:
        sequence = self.decoder.take_acknowledgement()
        if sequence is None:
            return
        self.writer.write(
            encode_message(
                chunk_stream_id=PROTOCOL_CONTROL_CHUNK_STREAM,
                msg_type_id=MSG_ACKNOWLEDGEMENT,
                msg_stream_id=0,
                timestamp=0,
                payload=sequence.to_bytes(4, "big"),
                chunk_size=self.writer_chunk_size,
            )
        )
        await self.drain()

    # --- writing ----------------------------------------------------------------------------------

    def write_chunk_to_stream(self, chunk: Any) -> None:
        """Write one message: a full header on its own chunk stream, never a delta against another."""
        self.writer.write(
            encode_message(
                chunk_stream_id=chunk.chunk_id,
                msg_type_id=chunk.msg_type_id,
                msg_stream_id=chunk.msg_stream_id,
                timestamp=chunk.timestamp,
                payload=bytes(chunk.payload),
                chunk_size=self.writer_chunk_size,
            )
        )

    async def drain(self) -> None:
        try:
            async with asyncio.timeout(self.limits.write_timeout):
                await self.writer.drain()
        except TimeoutError as error:
            raise WriteTimeout("the peer does not read what we send") from error
