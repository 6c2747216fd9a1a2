"""Sans-IO RTMP chunk stream decoder and encoder (Adobe RTMP 1.0, section 5.3).

`ChunkStreamDecoder.decode()` reads complete chunks straight out of a buffer the caller owns (the
connection's receive buffer) and returns the messages they finish and how far it got; what is left is
at most one incomplete chunk, which the caller keeps for the next call. `feed()`, or `push()` then
`pull()`, do the same on bytes handed over. It never does I/O, never raises anything but
`ProtocolError`, and keeps every buffer bounded by `ChunkLimits`.

Copies: a message that fits one chunk is copied once out of the buffer; a longer one is gathered as
views of its chunks and joined once when complete, so a frame costs one copy however it is chunked.
A message still incomplete when `decode()` returns is joined once; if it outlives a second decode,
it moves into an assembly buffer and later chunks are appended to it as they come: however thinly
it is trickled, no byte is ever re-joined. From the first time it outlives a decode, its announced
length counts against the connection's pending limit and a `BufferBudget` shared by all
connections.

Set Chunk Size and Abort act on the chunk layer itself and apply here, between two chunks; every
other message, Window Acknowledgement Size included, is the connection's (`connection.py`).

The module is long because the decoder's hot loop is written out by hand, header types and the
run of continuation chunks inline: it runs once per chunk, and function calls there show in the
ingest's CPU figures.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar, overload

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "BufferBudget",
    "ChunkLimits",
    "ChunkStreamDecoder",
    "OutgoingMessage",
    "ProtocolError",
    "RtmpMessage",
    "chunk_messages",
    "encode_message",
]

DEFAULT_CHUNK_SIZE = 128
MAX_HEADER_BYTES = 18  # 3-byte basic header + 11-byte type 0 header + 4-byte extended timestamp
TIMESTAMP_MASK = 0xFFFFFFFF
EXTENDED_TIMESTAMP = 0xFFFFFF

MSG_SET_CHUNK_SIZE = 1
MSG_ABORT = 2
MSG_ACKNOWLEDGEMENT = 3
MSG_USER_CONTROL = 4
MSG_WINDOW_ACK_SIZE = 5
MSG_SET_PEER_BANDWIDTH = 6
MSG_AUDIO = 8
MSG_VIDEO = 9
MSG_AGGREGATE = 22
# Only media and data may travel inside an aggregate; control messages or nested aggregates may not.
_FORBIDDEN_IN_AGGREGATE = frozenset({1, 2, 3, 4, 5, 6, MSG_AGGREGATE})

_U8_U16 = struct.Struct(">BH")  # a 24-bit big-endian integer as (high byte, low 16 bits)
_TYPE1 = struct.Struct(">BHBHB")  # timestamp (delta), length, type id; type 0 adds a stream id
_U32_LE = struct.Struct("<I")
_U32 = struct.Struct(">I")
_AGGREGATE_TAG = struct.Struct(">BBHBHBBH")  # type, size(24), timestamp(24), ts ext, stream id(24)
_AGGREGATE_TAG_BYTES = _AGGREGATE_TAG.size
_BACK_POINTER_BYTES = 4


class ProtocolError(Exception):
    """The peer broke the RTMP protocol or one of our limits; the connection must be closed."""


@dataclass(frozen=True, slots=True)
class ChunkLimits:
    """Resource limits of one connection's chunk stream (nginx-rtmp / MediaMTX defaults in spirit)."""

    min_chunk_size: int = 64
    max_chunk_size: int = 65536
    # A 1080p keyframe at a high bitrate is 1-2 MB; 8 MiB leaves room without inviting abuse.
    max_message_length: int = 8 * 1024 * 1024
    # Total bytes of all half-assembled messages of the connection.
    max_pending_bytes: int = 16 * 1024 * 1024
    max_chunk_streams: int = 64
    # Parts of one aggregate message: each becomes a message object, so a flood of tiny parts is refused.
    max_message_elements: int = 10_000
    # Unparsed input kept between feeds: at most one incomplete chunk (header + one chunk of payload).
    max_buffered_bytes: int = 65536 + MAX_HEADER_BYTES

    def __post_init__(self) -> None:
        if not 1 <= self.min_chunk_size <= DEFAULT_CHUNK_SIZE <= self.max_chunk_size:
            raise ValueError("chunk size limits must enclose the default chunk size of 128")
        if self.max_buffered_bytes < self.max_chunk_size + MAX_HEADER_BYTES:
            raise ValueError("max_buffered_bytes must hold one full chunk of max_chunk_size")
        if min(self.max_message_length, self.max_pending_bytes, self.max_chunk_streams) < 1:
            raise ValueError("message, pending and chunk stream limits must be positive")
        if self.max_message_elements < 1:
            raise ValueError("max_message_elements must be positive")


class BufferBudget:
    """Bytes that all connections together may hold in message buffers; shared by their decoders."""

    def __init__(self, total: int) -> None:
        if total < 1:
            raise ValueError("the buffer budget must be positive")
        self.total = total
        self.used = 0

    def reserve(self, nbytes: int) -> bool:
        if self.used + nbytes > self.total:
            return False
        self.used += nbytes
        return True

    def release(self, nbytes: int) -> None:
        self.used -= nbytes


class RtmpMessage(NamedTuple):
    """One complete RTMP message; `timestamp` is absolute, in milliseconds, modulo 2**32."""

    chunk_stream_id: int
    msg_type_id: int
    msg_stream_id: int
    timestamp: int
    payload: bytes


Buffer = bytes | bytearray | memoryview


class _ChunkStream:
    """What the previous headers of one chunk stream established, and the message in progress."""

    __slots__ = (
        "assembly", "borrowed", "delta", "extended", "length", "parts", "received", "spilled", "stream_id",
        "timestamp", "type_id",
    )  # fmt: skip

    def __init__(self) -> None:
        self.timestamp = 0
        self.delta = 0
        self.length = 0
        self.type_id = 0
        self.stream_id = 0
        self.extended = False  # the last type 0/1/2 header carried 0xFFFFFF: type 3 chunks repeat it
        # The payload received so far of the message in progress: views of the caller's buffer while
        # `decode()` runs (`borrowed`). When a decode returns they are joined into one part the first
        # time (`spilled`, the usual frame across two reads; its announced length is reserved then),
        # and from the second time on appended to `assembly`: never joined again, however many
        # decodes a trickled message takes.
        self.parts: list[Buffer] | None = None
        self.borrowed = False
        self.received = 0
        self.spilled = False
        self.assembly: bytearray | None = None


M = TypeVar("M")
# Builds a complete message from (chunk stream id, type id, message stream id, timestamp, payload).
MessageFactory = Callable[[int, int, int, int, bytes], M]


class ChunkStreamDecoder(Generic[M]):
    """Incremental decoder of the peer-to-us chunk stream of one connection.

    Complete messages come out as `RtmpMessage`s, or as whatever `make_message` builds from the same
    fields (the session builds pyrtmp's message classes directly, with no intermediate object)."""

    @overload
    def __init__(
        self: ChunkStreamDecoder[RtmpMessage],
        limits: ChunkLimits | None = None,
        *,
        budget: BufferBudget | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self,
        limits: ChunkLimits | None = None,
        *,
        budget: BufferBudget | None = None,
        make_message: MessageFactory[M],
    ) -> None: ...

    def __init__(
        self,
        limits: ChunkLimits | None = None,
        *,
        budget: BufferBudget | None = None,
        make_message: MessageFactory[Any] = RtmpMessage,
    ) -> None:
        self._make_message = make_message
        self.limits = limits if limits is not None else ChunkLimits()
        # Lowered by the connection until a publish is granted.
        self.max_message_length = self.limits.max_message_length
        self._budget = budget
        self._assembled_bytes = 0  # bytes of this connection's assembly buffers
        self._chunk_size = DEFAULT_CHUNK_SIZE
        self._streams: dict[int, _ChunkStream] = {}
        # Received bytes not decoded yet: `_input[_offset:]`.
        self._input = b""
        self._offset = 0
        self._pending_bytes = 0
        self.bytes_received = 0
        self.bytes_decoded = 0
        self._borrowing: list[_ChunkStream] = []  # streams whose `parts` view the buffer being decoded
        self.starved = True  # the last decode() used up its input (at most an incomplete chunk is left)

    @property
    def chunk_size(self) -> int:
        return self._chunk_size

    @chunk_size.setter
    def chunk_size(self, size: int) -> None:
        if not self.limits.min_chunk_size <= size <= self.limits.max_chunk_size:
            raise ProtocolError(
                f"chunk size {size} outside {self.limits.min_chunk_size}..{self.limits.max_chunk_size}"
            )
        self._chunk_size = size

    @property
    def buffered_bytes(self) -> int:
        """Bytes held by the decoder: unparsed input plus half-assembled messages."""
        return len(self._input) - self._offset + self._pending_bytes

    @property
    def pending_bytes(self) -> int:
        """Bytes received of incomplete messages."""
        return self._pending_bytes

    @property
    def assembled_bytes(self) -> int:
        """Bytes held in assembly buffers (each of its message's announced length)."""
        return self._assembled_bytes

    def close(self) -> None:
        """Drop every incomplete message and give its buffer back to the shared budget."""
        for stream in self._streams.values():
            self._drop_message(stream)

    def feed(self, data: Buffer) -> list[M]:
        """Consume received bytes; return the messages they complete, in order."""
        self.push(data)
        return self.pull()

    def push(self, data: Buffer) -> None:
        """Take received bytes; `pull()` decodes them. Pull until it returns nothing before pushing more."""
        self.count_received(len(data))
        if self._offset < len(self._input):
            self._input = self._input[self._offset :] + data
        else:
            self._input = bytes(data)
        self._offset = 0

    def pull(self, max_messages: int = sys.maxsize, max_bytes: int = sys.maxsize) -> list[M]:
        """The next complete messages of what was pushed, within the budgets of `decode()`."""
        messages, self._offset = self.decode(
            self._input, self._offset, len(self._input), max_messages, max_bytes
        )
        if self._offset == len(self._input):
            self._input = b""
            self._offset = 0
        return messages

    def count_received(self, nbytes: int) -> None:
        """Account for bytes received (acknowledgements count them), when the caller decodes in place."""
        self.bytes_received += nbytes

    def decode(
        self,
        buf: Buffer,
        begin: int,
        end: int,
        max_messages: int = sys.maxsize,
        max_bytes: int = sys.maxsize,
    ) -> tuple[list[M], int]:
        """Decode complete chunks of `buf[begin:end]`: about `max_messages` messages (an aggregate counts
        its parts) from at most `max_bytes` (or one chunk if it is larger). Returns them and the offset
        reached; `buf[offset:end]` is left for the next call. Nothing of `buf` is kept afterwards.
        `starved` then tells whether it stopped for want of input (rather than for a budget)."""
        messages: list[M] = []
        try:
            pos, starved = self._parse(buf, begin, end, messages, max_messages, max_bytes)
        finally:
            self._keep_borrowed_parts()
        self.bytes_decoded += pos - begin
        self.starved = starved
        if starved and end - pos > self.limits.max_buffered_bytes:
            raise ProtocolError("too many unparsed bytes buffered")
        return messages, pos

    def _keep_borrowed_parts(self) -> None:
        # Half-assembled messages may hold views of the caller's buffer, which it reuses once we return.
        borrowing = self._borrowing
        for stream in borrowing:
            parts = stream.parts
            if parts is not None:
                if not stream.spilled:
                    self._reserve(stream)
                    parts[:] = [b"".join(parts)]
                    stream.spilled = True
                elif stream.assembly is None:
                    stream.assembly = bytearray().join(parts)
                    parts.clear()
                else:
                    self._fill_assembly(stream)
            stream.borrowed = False
        borrowing.clear()

    def _reserve(self, stream: _ChunkStream) -> None:
        """Count the announced length of a message that outlives a decode against the limits."""
        length = stream.length
        if self._assembled_bytes + length > self.limits.max_pending_bytes:
            raise ProtocolError("too many bytes of incomplete messages")
        if self._budget is not None and not self._budget.reserve(length):
            raise ProtocolError("the ingest's message buffers are full")
        self._assembled_bytes += length

    @staticmethod
    def _fill_assembly(stream: _ChunkStream) -> None:
        """Append the parts gathered in this call to the assembly buffer."""
        assembly, parts = stream.assembly, stream.parts
        assert assembly is not None  # noqa: S101 - callers check it
        assert parts is not None  # noqa: S101 - callers check it
        for part in parts:
            assembly += part
        parts.clear()

    def _drop_message(self, stream: _ChunkStream) -> None:
        """Forget the message in progress on `stream` (completed, aborted, or the connection closed)."""
        if stream.parts is not None:
            self._pending_bytes -= stream.received
        if stream.spilled:
            self._assembled_bytes -= stream.length
            if self._budget is not None:
                self._budget.release(stream.length)
            stream.spilled = False
        stream.assembly = None
        stream.parts = None
        stream.received = 0

    def _finish_spilled(self, stream: _ChunkStream) -> bytes:
        """The payload of a message begun in an earlier decode, just completed; then forgotten."""
        parts = stream.parts
        assert parts is not None  # noqa: S101 - only called for a message in progress
        assembly = stream.assembly
        payload = b"".join(parts) if assembly is None else b"".join((assembly, *parts))
        self._drop_message(stream)
        return payload

    def _parse(
        self, buf: Buffer, begin: int, end: int, out: list[M], max_messages: int, max_bytes: int
    ) -> tuple[int, bool]:
        """Decode complete chunks of `buf[begin:end]` within the budgets; return the offset reached
        and whether decoding stopped for want of input (rather than budget)."""
        view = memoryview(buf)
        pos = begin
        streams = self._streams
        max_message_length = self.max_message_length
        while pos < end:
            if len(out) >= max_messages:
                return pos, False
            start = pos
            first = buf[pos]
            fmt = first >> 6
            cs_id = first & 0x3F
            pos += 1
            if cs_id < 2:
                extra = cs_id + 1
                if pos + extra > end:
                    return start, True
                cs_id = buf[pos] + 64 if cs_id == 0 else buf[pos] + (buf[pos + 1] << 8) + 64
                pos += extra

            stream = streams.get(cs_id)
            is_new = stream is None
            if stream is None:
                if fmt != 0:
                    raise ProtocolError(f"chunk stream {cs_id} starts with a type {fmt} header")
                if len(streams) >= self.limits.max_chunk_streams:
                    raise ProtocolError("too many chunk streams")
                stream = _ChunkStream()
            continuing = stream.parts is not None

            length = stream.length
            type_id = stream.type_id
            if fmt == 0:
                if pos + 11 > end:
                    return start, True
                ts_hi, ts_lo, len_hi, len_lo, type_id = _TYPE1.unpack_from(buf, pos)
                (stream_id,) = _U32_LE.unpack_from(buf, pos + 7)
                pos += 11
                field = (ts_hi << 16) | ts_lo
                length = (len_hi << 16) | len_lo
            elif fmt == 1:
                if pos + 7 > end:
                    return start, True
                ts_hi, ts_lo, len_hi, len_lo, type_id = _TYPE1.unpack_from(buf, pos)
                pos += 7
                field = (ts_hi << 16) | ts_lo
                length = (len_hi << 16) | len_lo
            elif fmt == 2:
                if pos + 3 > end:
                    return start, True
                ts_hi, ts_lo = _U8_U16.unpack_from(buf, pos)
                pos += 3
                field = (ts_hi << 16) | ts_lo
            else:
                field = 0  # type 3 has no timestamp field of its own

            # Extended timestamps are signalled by the header field, never by the computed time;
            # type 3 chunks carry one whenever the last type 0/1/2 header of their chunk stream did.
            extended = field == EXTENDED_TIMESTAMP if fmt != 3 else stream.extended
            ext_value = 0
            if extended:
                if pos + 4 > end:
                    return start, True
                (ext_value,) = _U32.unpack_from(buf, pos)
                pos += 4

            if fmt != 3:
                if continuing:
                    raise ProtocolError(
                        f"type {fmt} header in the middle of a message on chunk stream {cs_id}"
                    )
                if length > max_message_length:
                    raise ProtocolError(f"message of {length} bytes exceeds the limit")

            received = stream.received
            take = length - received  # (no min(): a builtin call per chunk shows in the profile)
            if take > self._chunk_size:
                take = self._chunk_size
            chunk_end = pos + take
            if chunk_end > end:
                return start, True
            if chunk_end - begin > max_bytes and start != begin:
                return start, False

            # The whole chunk is here: commit its header to the chunk stream state.
            if is_new:
                streams[cs_id] = stream
            if not continuing:
                value = ext_value if extended else field
                if fmt == 0:
                    stream.timestamp = value
                    stream.delta = value  # a following type 3 header reuses it as the delta (5.3.1.2.4)
                    stream.stream_id = stream_id
                elif fmt == 3:
                    if extended:
                        stream.delta = ext_value
                    stream.timestamp = (stream.timestamp + stream.delta) & TIMESTAMP_MASK
                else:
                    stream.delta = value
                    stream.timestamp = (stream.timestamp + value) & TIMESTAMP_MASK
                if fmt != 3:
                    stream.extended = extended
                    stream.length = length
                    stream.type_id = type_id

            if not continuing and take == length:
                payload = bytes(view[pos:chunk_end])
                pos = chunk_end
                self._complete(cs_id, stream, payload, out)
                continue
            parts = stream.parts
            if parts is None:
                parts = stream.parts = []
            self._pending_bytes += take
            if self._pending_bytes > self.limits.max_pending_bytes:
                raise ProtocolError("too many bytes of incomplete messages")
            parts.append(view[pos:chunk_end])
            if not stream.borrowed:
                stream.borrowed = True
                self._borrowing.append(stream)
            pos = chunk_end
            received += take
            if received < length and cs_id < 64:
                # Encoders send the rest of a message as type 3 chunks of the same chunk stream, one
                # after the other: read those here while they are whole, as the general path would
                # (a one-byte header, and the extended timestamp repeated if the message has one).
                next_header = 0xC0 | cs_id
                header_bytes = 5 if extended else 1
                chunk_size = self._chunk_size
                while received < length and pos < end and buf[pos] == next_header:
                    take = length - received
                    if take > chunk_size:
                        take = chunk_size
                    chunk_end = pos + header_bytes + take
                    if chunk_end > end or chunk_end - begin > max_bytes:
                        break
                    self._pending_bytes += take
                    if self._pending_bytes > self.limits.max_pending_bytes:
                        raise ProtocolError("too many bytes of incomplete messages")
                    parts.append(view[pos + header_bytes : chunk_end])
                    pos = chunk_end
                    received += take
            if received < length:
                stream.received = received
                continue
            if stream.spilled:  # begun in an earlier decode
                stream.received = received
                self._complete(cs_id, stream, self._finish_spilled(stream), out)
                continue
            self._pending_bytes -= length
            stream.parts = None
            stream.received = 0
            self._complete(cs_id, stream, b"".join(parts), out)
        return pos, True

    def _complete(self, cs_id: int, stream: _ChunkStream, payload: bytes, out: list[M]) -> None:
        type_id = stream.type_id
        if type_id <= MSG_SET_PEER_BANDWIDTH:
            self._apply_protocol_control(type_id, payload)
        elif type_id == MSG_AGGREGATE:
            aggregate = RtmpMessage(cs_id, type_id, stream.stream_id, stream.timestamp, payload)
            parts = split_aggregate(aggregate, max_parts=self.limits.max_message_elements)
            out.extend(self._make_message(*part) for part in parts)
            return
        out.append(self._make_message(cs_id, type_id, stream.stream_id, stream.timestamp, payload))

    def _apply_protocol_control(self, type_id: int, payload: bytes) -> None:
        if type_id not in (MSG_SET_CHUNK_SIZE, MSG_ABORT):
            return
        if len(payload) < 4:
            raise ProtocolError(f"protocol control message {type_id} shorter than 4 bytes")
        (value,) = _U32.unpack_from(payload)
        if type_id == MSG_SET_CHUNK_SIZE:
            self.chunk_size = value  # applies to the very next chunk
        else:
            stream = self._streams.get(value)
            if stream is not None:
                self._drop_message(stream)


def split_aggregate(message: RtmpMessage, *, max_parts: int = sys.maxsize) -> list[RtmpMessage]:
    """Split an aggregate message into its FLV-tag-like sub-messages, re-based on its timestamp;
    more than `max_parts` of them is a protocol error."""
    payload = message.payload
    end = len(payload)
    pos = 0
    first_timestamp: int | None = None
    messages: list[RtmpMessage] = []
    while pos < end:
        if pos + _AGGREGATE_TAG_BYTES > end:
            raise ProtocolError("truncated aggregate sub-message header")
        type_id, size_hi, size_lo, ts_hi, ts_lo, ts_ext, _sid_hi, _sid_lo = _AGGREGATE_TAG.unpack_from(
            payload, pos
        )
        size = (size_hi << 16) | size_lo
        timestamp = (ts_ext << 24) | (ts_hi << 16) | ts_lo
        body_start = pos + _AGGREGATE_TAG_BYTES
        body_end = body_start + size
        if body_end + _BACK_POINTER_BYTES > end:
            raise ProtocolError("aggregate sub-message overruns the aggregate")
        if type_id in _FORBIDDEN_IN_AGGREGATE:
            raise ProtocolError(f"message type {type_id} inside an aggregate")
        if len(messages) >= max_parts:
            raise ProtocolError(f"aggregate of more than {max_parts} messages")
        if first_timestamp is None:
            first_timestamp = timestamp
        absolute = (message.timestamp + timestamp - first_timestamp) & TIMESTAMP_MASK
        messages.append(
            RtmpMessage(
                message.chunk_stream_id,
                type_id,
                message.msg_stream_id,
                absolute,
                payload[body_start:body_end],
            )
        )
        pos = body_end + _BACK_POINTER_BYTES
    return messages


# A type 0 header after the basic header, packed at once: timestamp (3 bytes) and the length's first
# byte, the length's other two, the type id and the stream id's first byte, then its other three
# (the stream id is little-endian).
_TYPE0_HEADER = struct.Struct(">IIBBB")
# A message to chunk: chunk stream id, type id, timestamp, payload (on the caller's message stream).
OutgoingMessage = tuple[int, int, int, bytes]


def _basic_headers(chunk_stream_id: int) -> tuple[bytes, bytes]:
    """The basic header of a type 0 chunk and of a type 3 (continuation) chunk on this chunk stream."""
    if not 2 <= chunk_stream_id <= 65599:
        raise ValueError("chunk stream id must be in 2..65599")
    if chunk_stream_id < 64:
        basic = bytes([chunk_stream_id])
    elif chunk_stream_id < 320:
        basic = bytes([0, chunk_stream_id - 64])
    else:
        basic = bytes([1, (chunk_stream_id - 64) & 0xFF, (chunk_stream_id - 64) >> 8])
    return basic, bytes([0xC0 | basic[0]]) + basic[1:]


_ONE_BYTE_BASIC_HEADERS = {
    chunk_stream_id: _basic_headers(chunk_stream_id) for chunk_stream_id in range(2, 64)
}


def encode_message(
    *,
    chunk_stream_id: int,
    msg_type_id: int,
    msg_stream_id: int,
    timestamp: int,
    payload: bytes,
    chunk_size: int,
) -> bytes:
    """Chunk one message: a type 0 header, then type 3 continuation chunks (extended timestamp repeated)."""
    message = (chunk_stream_id, msg_type_id, timestamp, payload)
    return b"".join(chunk_messages([message], msg_stream_id=msg_stream_id, chunk_size=chunk_size))


def chunk_messages(
    messages: Iterable[OutgoingMessage], *, msg_stream_id: int, chunk_size: int
) -> list[bytes | memoryview]:
    """`encode_message`'s bytes for each message in turn, as pieces for one join: the headers, and
    the payloads sliced without copying (the join copies them once, into the result). A restream
    runs this for every tag it pushes on, so the loop is written out."""
    stream_low = msg_stream_id & 0xFF
    stream_1, stream_2, stream_3 = (
        msg_stream_id >> 8 & 0xFF,
        msg_stream_id >> 16 & 0xFF,
        msg_stream_id >> 24 & 0xFF,
    )
    pack = _TYPE0_HEADER.pack
    basic_headers = _ONE_BYTE_BASIC_HEADERS
    pieces: list[bytes | memoryview] = []
    append = pieces.append
    for chunk_stream_id, msg_type_id, timestamp, payload in messages:
        basic, continuation = basic_headers.get(chunk_stream_id) or _basic_headers(chunk_stream_id)
        timestamp &= TIMESTAMP_MASK
        length = len(payload)
        length_type_stream = ((length & 0xFFFF) << 16) | (msg_type_id << 8) | stream_low
        if timestamp < EXTENDED_TIMESTAMP:
            append(
                basic + pack(timestamp << 8 | length >> 16, length_type_stream, stream_1, stream_2, stream_3)
            )
        else:  # the 3-byte field says "extended", the timestamp follows every chunk's header
            extended = timestamp.to_bytes(4, "big")
            continuation += extended
            header = pack(
                EXTENDED_TIMESTAMP << 8 | length >> 16, length_type_stream, stream_1, stream_2, stream_3
            )
            append(basic + header + extended)
        if length <= chunk_size:  # one chunk: every audio tag, most small ones
            append(payload)
            continue
        view = memoryview(payload)
        append(view[:chunk_size])
        for offset in range(chunk_size, length, chunk_size):
            append(continuation)
            append(view[offset : offset + chunk_size])
    return pieces
