"""pyrtmp's SessionManager with a correct, bounded and fast reader.

`IngestSession` keeps the SessionManager API the controllers use (handshake, read_chunks_from_stream,
write_chunk_to_stream, drain, reader/writer_chunk_size, peername) and replaces its insides: bounded
handshake reads, a timeout on every read and drain, the `ChunkStreamDecoder` decoding in place in the
connection's `ReceiveBuffer`, acknowledgements once the window is crossed, yields to the event loop
while it works through a backlog so one client cannot starve the others, and batched reads once
media flows (`ReceiveWatermark`).
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
    MSG_AUDIO,
    MSG_VIDEO,
    ChunkLimits,
    ChunkStreamDecoder,
    ProtocolError,
    encode_message,
)
from rtmp_ingest.messages import IngestAudioMessage, IngestVideoMessage
from rtmp_ingest.receive import ReceiveBuffer
from rtmp_ingest.watermark import ReceiveWatermark

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
    # Fairness. A read that has to wait for the peer lets every other task run, so a publisher at real
    # time needs no yields of its own. Only while received bytes are already waiting (a backlog: a flood,
    # or a publisher pushing faster than real time) does the reader yield to the loop, after
    # `yield_bytes` decoded or `messages_per_yield` messages handed out, whichever comes first. One
    # decoder call decodes at most `decode_slice` bytes (or one larger chunk) and the messages still
    # in the budget, which bounds its work whatever the chunk size.
    decode_slice: int = 128 * 1024
    yield_bytes: int = 128 * 1024
    messages_per_yield: int = 32
    # Once media flows, the kernel wakes the reader about once per this much media (see watermark.py):
    # a tenth of a second of latency, which HLS never notices, for a fraction of the wakeups.
    media_batch_seconds: float = 0.1
    # The acknowledgement window announced to the peer; a Window Acknowledgement Size from the peer
    # replaces it, as nginx-rtmp does.
    ack_window: int = 5_000_000
    chunks: ChunkLimits = field(default_factory=ChunkLimits)

    def __post_init__(self) -> None:
        if min(self.handshake_timeout, self.idle_timeout, self.write_timeout) <= 0:
            raise ValueError("timeouts must be positive")
        if min(self.decode_slice, self.yield_bytes, self.messages_per_yield) < 1:
            raise ValueError("decode_slice, yield_bytes and messages_per_yield must be positive")
        if self.media_batch_seconds < 0:
            raise ValueError("media_batch_seconds must not be negative")


def make_chunk(chunk_stream_id: int, type_id: int, stream_id: int, timestamp: int, payload: bytes) -> Any:
    """A complete message as pyrtmp's Chunk, audio and video already as their message classes (most
    messages are media: built once, as what the controller dispatches on)."""
    if type_id == MSG_VIDEO:
        chunk_class: type[Any] = IngestVideoMessage
    elif type_id == MSG_AUDIO:
        chunk_class = IngestAudioMessage
    else:
        chunk_class = Chunk
    return chunk_class(0, chunk_stream_id, timestamp, len(payload), type_id, stream_id, payload)


def format_peer(peer: object) -> str:
    """`host:port` for IPv4, `[host]:port` for IPv6 (2- or 4-tuples), something printable otherwise."""
    if isinstance(peer, tuple) and len(peer) >= 2:
        host, port = str(peer[0]), peer[1]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return "unknown" if not peer else str(peer)


class IngestSession(SessionManager):  # type: ignore[misc]
    def __init__(
        self,
        reader: ReceiveBuffer,
        writer: asyncio.StreamWriter,
        reader_chunk_size: int = 128,
        writer_chunk_size: int = 128,
        *,
        limits: SessionLimits | None = None,
    ) -> None:
        self.limits = limits if limits is not None else SessionLimits()
        self.decoder = ChunkStreamDecoder(
            self.limits.chunks, ack_window=self.limits.ack_window, make_message=make_chunk
        )
        self.fairness_yields = 0  # times the reader gave the loop away in the middle of a backlog
        self._idle_timer: asyncio.TimerHandle | None = None
        self._idle_deadline = 0.0
        self._waiting = False
        self.watermark = ReceiveWatermark(
            writer.get_extra_info("socket"), batch_seconds=self.limits.media_batch_seconds
        )
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

    async def _wait_for_data(self, seen: int) -> None:
        """Until bytes beyond the first `seen` arrive; IdleTimeout after the idle timeout, and while
        reads are batched, a late batch flushed (see watermark.py)."""
        buffer: ReceiveBuffer = self.reader
        watermark = self.watermark
        loop = asyncio.get_running_loop()
        now = loop.time()
        # The idle timer is armed once and re-armed only when it fires early, not for every wait.
        self._idle_deadline = now + self.limits.idle_timeout
        if self._idle_timer is None:
            self._idle_timer = loop.call_at(self._idle_deadline, self._on_idle_timer)
        late = loop.call_at(now + watermark.late_after, watermark.flush) if watermark.batching else None
        self._waiting = True
        try:
            await buffer.wait_for_data(seen)
        finally:
            self._waiting = False
            if late is not None:
                late.cancel()
        if buffer.error is not None:
            raise buffer.error
        if buffer.received == seen:
            raise StreamClosedException()

    def _stop_idle_timer(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    def _on_idle_timer(self) -> None:
        loop = asyncio.get_running_loop()
        if not self._waiting:
            self._idle_timer = None  # the next wait arms it again
        elif loop.time() < self._idle_deadline:
            self._idle_timer = loop.call_at(self._idle_deadline, self._on_idle_timer)
        else:
            self._idle_timer = None
            self.reader.set_exception(IdleTimeout("no data from the peer in time"))

    async def read_chunks_from_stream(self) -> AsyncIterator[Any]:
        """Complete messages as pyrtmp `Chunk`s (media already as their message class), until EOF."""
        limits = self.limits
        decoder = self.decoder
        buffer: ReceiveBuffer = self.reader
        data = buffer.data
        watermark = self.watermark
        loop = asyncio.get_running_loop()
        decode_slice = limits.decode_slice
        yield_bytes = limits.yield_bytes
        messages_per_yield = limits.messages_per_yield
        work_bytes = work_messages = 0  # done since the other tasks last had the loop
        media_flowing = False
        seen = 0  # bytes received that the decoder has been given
        try:
            while True:
                if buffer.received == seen:
                    # Only an incomplete chunk (or nothing) is waiting: wait for the peer, and the other
                    # tasks run meanwhile.
                    work_bytes = work_messages = 0
                    await self._wait_for_data(seen)
                while True:
                    if buffer.received != seen:  # new bytes: after a wait, or read during a yield
                        arrived = buffer.received - seen
                        seen = buffer.received
                        decoder.count_received(arrived)
                        if media_flowing:
                            watermark.on_read(arrived, loop.time())
                    over_budget = work_bytes >= yield_bytes or work_messages >= messages_per_yield
                    if over_budget:
                        max_messages, max_bytes = messages_per_yield, decode_slice
                    else:
                        max_messages = messages_per_yield - work_messages
                        max_bytes = min(decode_slice, yield_bytes - work_bytes)
                    start = buffer.start
                    messages, reached = decoder.decode(data, start, buffer.end, max_messages, max_bytes)
                    progress = reached - start
                    if not progress:
                        break  # at most an incomplete chunk is left: read more
                    buffer.consume(progress)
                    if over_budget:
                        # Only now, with work in hand: an empty decode must not cost a loop turn. The
                        # messages just decoded are handled in the next turn.
                        await self._yield_to_others()
                        work_bytes, work_messages = 0, len(messages)
                    else:
                        work_bytes += progress
                        work_messages += len(messages)
                    if not media_flowing:
                        media_flowing = any(m.msg_type_id in (MSG_AUDIO, MSG_VIDEO) for m in messages)
                    for message in messages:
                        yield message
                    if decoder.starved and buffer.received == seen:
                        break  # nothing decodable is left, and nothing new came meanwhile: read more
                # Once per read, after its messages: a Window Acknowledgement Size among them applies.
                sequence = decoder.take_acknowledgement()
                if sequence is not None:
                    await self._acknowledge(sequence)
        finally:
            self._stop_idle_timer()  # closed or abandoned: its timer must not keep the connection

    async def _yield_to_others(self) -> None:
        self.fairness_yields += 1
        await asyncio.sleep(0)

    async def _acknowledge(self, sequence: int) -> None:
        if self.writer.is_closing():
            return  # the peer is gone: nothing left to acknowledge
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
