"""One RTMP server connection as a sans-IO state machine: bytes in, events out, replies as bytes.

    HANDSHAKE --C0 C1 C2--> AWAIT_CONNECT --Connect, AcceptConnect--> CONNECTED
        --CreateStream, AcceptCreateStream--> STREAM --Publish, StartPublish--> PUBLISHING
    (RejectConnect, RejectPublish, StopPublish, the peer's end of stream, or a protocol error: --> CLOSED)

Received bytes go in with `receive_data(data)` (`b""` is the end of the stream) or, decoded in
place from the caller's receive buffer, `receive_from(buffer, begin, end)`; `next_event()` then
hands out what they made, one event at a time, None when it needs more data. The server answers a
Connect, a CreateStream or a Publish with `send(reply)`, which returns the bytes to write; what the
protocol itself must answer (the handshake's S0 S1 S2, acknowledgements) waits in `data_to_send()`.
Every state change is one row of `_TRANSITIONS`: an event the table has no row for (a publish before
connect or createStream, media before a publish is granted, a second connect...) is a ProtocolError,
as is a reply the server does not owe.

This machine owns the chunk layer's state too: the chunk sizes both ways, the acknowledgement window
(the one announced in the connect reply, until the peer announces its own) and the byte count.
Before a publish is granted it also keeps the peer on a short leash (`ConnectionLimits`): small
messages only, few bytes in all, and no media.

The module is longer than most because the table, the events and the replies it checks belong in
one place.
"""

from __future__ import annotations

import enum
import os
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from rtmp_ingest.chunks import (
    MSG_ACKNOWLEDGEMENT,
    MSG_AUDIO,
    MSG_SET_CHUNK_SIZE,
    MSG_SET_PEER_BANDWIDTH,
    MSG_USER_CONTROL,
    MSG_VIDEO,
    MSG_WINDOW_ACK_SIZE,
    TIMESTAMP_MASK,
    Buffer,
    BufferBudget,
    ChunkLimits,
    ChunkStreamDecoder,
    ProtocolError,
    encode_message,
)
from rtmp_ingest.messages import (
    MSG_AMF0_COMMAND,
    Command,
    Metadata,
    command_payload,
    parse_message,
    status_object,
)

__all__ = [
    "AcceptConnect",
    "AcceptCreateStream",
    "Closed",
    "Connect",
    "ConnectionLimits",
    "CreateStream",
    "Event",
    "Media",
    "Metadata",
    "Publish",
    "RejectConnect",
    "RejectPublish",
    "Reply",
    "RtmpConnection",
    "StartPublish",
    "State",
    "StopPublish",
]

RTMP_VERSION = 3
HANDSHAKE_PACKET_BYTES = 1536
HANDSHAKE_BYTES = 1 + 2 * HANDSHAKE_PACKET_BYTES  # C0 C1 C2
PROTOCOL_CONTROL_CHUNK_STREAM = 2
COMMAND_CHUNK_STREAM = 3
STREAM_CHUNK_STREAM = 5
PUBLISH_STREAM_ID = 1  # the one message stream createStream hands out
SERVER_CHUNK_SIZE = 8192
USER_CONTROL_STREAM_BEGIN = 0
PEER_BANDWIDTH_DYNAMIC = 2

_U32 = struct.Struct(">I")


class State(enum.Enum):
    HANDSHAKE = "handshake"
    AWAIT_CONNECT = "await_connect"
    CONNECTED = "connected"
    STREAM = "stream"
    PUBLISHING = "publishing"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    # The acknowledgement window the connect reply announces (and follows until the peer sets one).
    ack_window: int = 5_000_000
    # Until a publish is granted: the largest message, and all bytes received after the handshake.
    pre_publish_message_bytes: int = 64 * 1024
    pre_publish_bytes: int = 256 * 1024
    # AMF0 values of one command or data message (aggregate parts: `chunks.max_message_elements`).
    max_message_elements: int = 10_000
    chunks: ChunkLimits = field(default_factory=ChunkLimits)

    def __post_init__(self) -> None:
        if self.ack_window < 1 or self.max_message_elements < 1:
            raise ValueError("ack_window and max_message_elements must be positive")
        if not 0 < self.pre_publish_message_bytes <= self.chunks.max_message_length:
            raise ValueError("pre_publish_message_bytes must be positive and at most max_message_length")
        if self.pre_publish_bytes < self.pre_publish_message_bytes:
            raise ValueError("pre_publish_bytes must hold at least one message of the pre-publish size")


# --- events (what the peer did) -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Connect:
    app: str  # without surrounding slashes
    transaction_id: float
    tc_url: str


@dataclass(frozen=True, slots=True)
class CreateStream:
    transaction_id: float


@dataclass(frozen=True, slots=True)
class Publish:
    name: object  # raw from the wire: the publish lifecycle validates it as a stream key
    stream_id: int
    transaction_id: float


class Media(NamedTuple):
    """An audio (8) or video (9) message, its body an FLV tag body.

    The one event per frame, so a NamedTuple: immutable like the others and built at C speed, where a
    frozen dataclass's `__init__` costs several times as much.
    """

    tag_type: int
    timestamp: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class Closed:
    reason: str


Event = Connect | CreateStream | Publish | Media | Metadata | Closed


# --- replies (what the server answers) ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AcceptConnect:
    pass


@dataclass(frozen=True, slots=True)
class RejectConnect:
    description: str


@dataclass(frozen=True, slots=True)
class AcceptCreateStream:
    pass


@dataclass(frozen=True, slots=True)
class StartPublish:
    description: str


@dataclass(frozen=True, slots=True)
class RejectPublish:
    code: str
    description: str


@dataclass(frozen=True, slots=True)
class StopPublish:
    """The server ends a publish it had started (media it refuses): an onStatus error, then the close."""

    code: str
    description: str


Reply = AcceptConnect | RejectConnect | AcceptCreateStream | StartPublish | RejectPublish | StopPublish


@dataclass(frozen=True, slots=True)
class _HandshakeDone:
    pass


# (state, event or reply type) -> next state. A received request leaves the state as it is and makes
# the answer owed; the answer moves it on. Closed is allowed everywhere (see `_apply`).
S = State
_TRANSITIONS: dict[tuple[State, type], State] = {
    (S.HANDSHAKE, _HandshakeDone): S.AWAIT_CONNECT,
    (S.AWAIT_CONNECT, Connect): S.AWAIT_CONNECT,
    (S.AWAIT_CONNECT, AcceptConnect): S.CONNECTED,
    (S.AWAIT_CONNECT, RejectConnect): S.CLOSED,
    (S.CONNECTED, CreateStream): S.CONNECTED,
    (S.CONNECTED, AcceptCreateStream): S.STREAM,
    (S.STREAM, Publish): S.STREAM,
    (S.STREAM, StartPublish): S.PUBLISHING,
    (S.STREAM, RejectPublish): S.CLOSED,
    (S.STREAM, Metadata): S.STREAM,  # @setDataFrame may come just before the publish is granted
    (S.PUBLISHING, Media): S.PUBLISHING,
    (S.PUBLISHING, Metadata): S.PUBLISHING,
    (S.PUBLISHING, StopPublish): S.CLOSED,
}
# Which request each answer settles.
_ANSWERS: dict[type, type | None] = {
    AcceptConnect: Connect,
    RejectConnect: Connect,
    AcceptCreateStream: CreateStream,
    StartPublish: Publish,
    RejectPublish: Publish,
    StopPublish: None,  # answers no request: the server's own decision
}
_REQUESTS = (Connect, CreateStream, Publish)
del S


class RtmpConnection:
    """The server side of one RTMP connection. No I/O, no clock: the adapter brings both."""

    def __init__(
        self,
        limits: ConnectionLimits | None = None,
        *,
        budget: BufferBudget | None = None,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self.limits = limits if limits is not None else ConnectionLimits()
        self.state = State.HANDSHAKE
        self._media_allowed = False  # whether the table has a Media row for the state
        self._decoder: ChunkStreamDecoder[Media | _Raw] = ChunkStreamDecoder(
            self.limits.chunks, budget=budget, make_message=_make_message
        )
        self._decoder.max_message_length = self.limits.pre_publish_message_bytes
        self._random_bytes = random_bytes
        self._handshake_step = 0  # 0: awaiting C0 C1, 1: awaiting C2
        self._input = b""  # bytes from receive_data() not decoded yet: _input[_offset:]
        self._offset = 0
        self._eof = False
        self._messages: deque[Media | _Raw] = deque()  # decoded, not handed out yet
        self._outgoing = bytearray()
        self._owed: type | None = None  # the request whose answer the server owes
        self._transaction_id = 0.0  # of that request: its answer echoes it
        self.out_chunk_size = 128
        self.ack_window = self.limits.ack_window
        self.bytes_received = 0  # after the handshake, as acknowledgements count them
        self._arrived = 0  # every byte, the handshake's too
        self._acked = 0
        self.closed_reason: str | None = None

    # --- input ----------------------------------------------------------------------------------

    def receive_data(self, data: Buffer) -> None:
        """Bytes from the peer, `b""` for the end of its stream; `next_event()` decodes them."""
        if not data:
            self._eof = True
            return
        if self._offset < len(self._input):
            self._input = self._input[self._offset :] + bytes(data)
        else:
            self._input = bytes(data)
        self._offset = 0
        self.data_received(len(data))

    def data_received(self, nbytes: int) -> None:
        """`nbytes` more arrived (in the caller's buffer, for `receive_from`): acknowledgements and
        the budget before publish count bytes as they arrive, decoded or not."""
        self._arrived += nbytes
        if self.state is State.HANDSHAKE:
            return  # counted once the handshake's own bytes are known to be done with
        self.bytes_received = self._arrived - HANDSHAKE_BYTES
        if self.state is not State.PUBLISHING and self.bytes_received > self.limits.pre_publish_bytes:
            raise ProtocolError("too many bytes before a publish was granted")

    def receive_from(self, buffer: Buffer, begin: int, end: int, *, max_messages: int, max_bytes: int) -> int:
        """Decode `buffer[begin:end]` in place: about `max_messages` messages from at most `max_bytes`
        (or one chunk); return the offset reached. The caller keeps `buffer[offset:end]` for later."""
        if self.state is State.HANDSHAKE:
            begin = self._handshake(buffer, begin, end)
            if self.state is State.HANDSHAKE:
                return begin
        if self.state is State.CLOSED:
            return end  # whatever comes after the end is ignored
        decoder = self._decoder
        messages, reached = decoder.decode(buffer, begin, end, max_messages, max_bytes)
        queue = self._messages
        for message in messages:
            if isinstance(message, Media):
                queue.append(message)
            elif message.type_id <= MSG_SET_PEER_BANDWIDTH:
                self._protocol_control(message)
            else:
                queue.append(message)
        return reached

    @property
    def bytes_decoded(self) -> int:
        """Bytes of the chunk stream decoded so far (received ones may still wait in the buffer)."""
        return self._decoder.bytes_decoded

    @property
    def starved(self) -> bool:
        """The last `receive_from` used up its input: at most an incomplete chunk was left."""
        return self.state is State.HANDSHAKE or self._decoder.starved

    # --- output ---------------------------------------------------------------------------------

    def next_event(self) -> Event | None:
        """The next event, None while more data is needed. After Closed, always Closed."""
        messages = self._messages
        if messages and self._media_allowed:  # most events: the (PUBLISHING, Media) row, looked up once
            first = messages[0]
            if isinstance(first, Media):
                messages.popleft()
                return first
        while True:
            if self.state is State.CLOSED:
                return Closed(self.closed_reason or "closed")
            if messages:
                message = messages.popleft()
                if isinstance(message, Media):
                    self._apply(Media)
                    return message
                event = self._event(message)
                if event is not None:
                    return event
                continue
            if self._offset < len(self._input):
                begin = self._offset
                self._offset = self.receive_from(
                    self._input, begin, len(self._input), max_messages=64, max_bytes=1 << 20
                )
                if self._offset == len(self._input):
                    self._input, self._offset = b"", 0
                if self._offset > begin or self._messages:
                    continue
            if self._eof:  # what is left can never make a message
                self._close("closed by peer")
                continue
            return None

    def send(self, reply: Reply) -> bytes:
        """The bytes that answer the request the server owes; ProtocolError if it owes no such answer."""
        if self._owed is not _ANSWERS[type(reply)]:
            raise ProtocolError(f"{type(reply).__name__} answers nothing that was asked")
        self._owed = None
        self._apply(type(reply))
        if isinstance(reply, AcceptConnect):
            return self._accept_connect()
        if isinstance(reply, RejectConnect):
            info = status_object("error", "NetConnection.Connect.Rejected", reply.description)
            return self._command(COMMAND_CHUNK_STREAM, 0, "_error", self._transaction_id, None, info)
        if isinstance(reply, AcceptCreateStream):
            return self._command(
                COMMAND_CHUNK_STREAM, 0, "_result", self._transaction_id, None, PUBLISH_STREAM_ID
            )
        if isinstance(reply, StartPublish):
            self._decoder.max_message_length = self.limits.chunks.max_message_length
            info = status_object("status", "NetStream.Publish.Start", reply.description)
            return self._stream_begin(PUBLISH_STREAM_ID) + self._on_status(info)
        info = status_object("error", reply.code, reply.description)
        return self._on_status(info)

    def data_to_send(self) -> bytes:
        """What the protocol itself answers (handshake, acknowledgements), taken once."""
        if self.bytes_received - self._acked >= self.ack_window:
            self._acked = self.bytes_received
            sequence = (self.bytes_received & TIMESTAMP_MASK).to_bytes(4, "big")
            self._outgoing += self._control(MSG_ACKNOWLEDGEMENT, sequence)
        out = bytes(self._outgoing)
        self._outgoing.clear()
        return out

    def close(self, reason: str) -> None:
        """This side ends the connection (any state); the message buffers go back to the budget."""
        self._close(reason)

    @property
    def publishing(self) -> bool:
        return self.state is State.PUBLISHING

    # --- internals ------------------------------------------------------------------------------

    def _apply(self, kind: type) -> None:
        next_state = _TRANSITIONS.get((self.state, kind))
        if next_state is None:
            raise ProtocolError(f"{kind.__name__.lstrip('_')} is not allowed in state {self.state.value}")
        if kind in _REQUESTS:
            if self._owed is not None:
                raise ProtocolError(f"{kind.__name__} before the previous request was answered")
            self._owed = kind
        if next_state is State.CLOSED:
            self._close(kind.__name__)
        else:
            self._set_state(next_state)

    def _set_state(self, state: State) -> None:
        self.state = state
        self._media_allowed = (state, Media) in _TRANSITIONS

    def _close(self, reason: str) -> None:
        if self.state is not State.CLOSED:
            self._set_state(State.CLOSED)
            self.closed_reason = reason
            self._messages.clear()
            self._decoder.close()

    def _handshake(self, buffer: Buffer, begin: int, end: int) -> int:
        """Simple handshake: C0 C1 in, S0 S1 S2 out (S2 echoes C1), then C2 in."""
        if self._handshake_step == 0:
            if end > begin and buffer[begin] != RTMP_VERSION:
                raise ProtocolError(f"unsupported RTMP version {buffer[begin]}")
            if end - begin < 1 + HANDSHAKE_PACKET_BYTES:
                return begin
            c1 = bytes(buffer[begin + 1 : begin + 1 + HANDSHAKE_PACKET_BYTES])
            s1 = bytes(8) + self._random_bytes(HANDSHAKE_PACKET_BYTES - 8)
            self._outgoing += bytes([RTMP_VERSION]) + s1 + c1
            self._handshake_step = 1
            begin += 1 + HANDSHAKE_PACKET_BYTES
        if end - begin < HANDSHAKE_PACKET_BYTES:
            return begin
        self._apply(_HandshakeDone)
        self.data_received(0)  # what came after the handshake counts from now on
        return begin + HANDSHAKE_PACKET_BYTES

    def _protocol_control(self, message: _Raw) -> None:
        # Set Chunk Size and Abort were applied by the decoder; acknowledgements, user control and
        # peer bandwidth ask nothing of an ingest.
        if message.type_id == MSG_WINDOW_ACK_SIZE and len(message.payload) >= 4:
            (window,) = _U32.unpack_from(message.payload)
            if window > 0:
                self.ack_window = window  # the peer's window, as nginx-rtmp uses it

    def _event(self, message: _Raw) -> Event | None:
        """The event a command or data message makes (None for those an ingest ignores)."""
        parsed = parse_message(
            message.type_id, message.payload, max_elements=self.limits.max_message_elements
        )
        if isinstance(parsed, Metadata):
            self._apply(Metadata)
            return parsed
        if not isinstance(parsed, Command):
            return None  # Unusable, or data other than metadata
        event: Event
        if parsed.name == "connect":
            app = parsed.command_object.get("app")
            tc_url = parsed.command_object.get("tcUrl")
            event = Connect(
                app=str(app).strip("/") if isinstance(app, str) else "",
                transaction_id=parsed.transaction_id,
                tc_url=tc_url if isinstance(tc_url, str) else "",
            )
        elif parsed.name == "createStream":
            event = CreateStream(parsed.transaction_id)
        elif parsed.name == "publish":
            name = parsed.argument(0)
            event = Publish(name if name is not None else "", message.stream_id, parsed.transaction_id)
        else:
            return None  # releaseStream, FCPublish, FCUnpublish, deleteStream, _checkbw, ...
        self._apply(type(event))
        self._transaction_id = event.transaction_id
        return event

    def _accept_connect(self) -> bytes:
        window = self.limits.ack_window.to_bytes(4, "big")
        out = self._control(MSG_WINDOW_ACK_SIZE, window)
        out += self._control(MSG_SET_PEER_BANDWIDTH, window + bytes([PEER_BANDWIDTH_DYNAMIC]))
        out += self._stream_begin(0)
        out += self._control(MSG_SET_CHUNK_SIZE, SERVER_CHUNK_SIZE.to_bytes(4, "big"))
        self.out_chunk_size = SERVER_CHUNK_SIZE
        properties = {"fmsVer": "FMS/3,0,123", "capabilities": 31}
        info = {**status_object("status", "NetConnection.Connect.Success", "Connection succeeded")}
        info["objectEncoding"] = 0
        return out + self._command(COMMAND_CHUNK_STREAM, 0, "_result", self._transaction_id, properties, info)

    def _stream_begin(self, stream_id: int) -> bytes:
        return self._control(MSG_USER_CONTROL, struct.pack(">HI", USER_CONTROL_STREAM_BEGIN, stream_id))

    def _on_status(self, info: object) -> bytes:
        return self._command(STREAM_CHUNK_STREAM, PUBLISH_STREAM_ID, "onStatus", 0, None, info)

    def _control(self, type_id: int, payload: bytes) -> bytes:
        return self._encode(PROTOCOL_CONTROL_CHUNK_STREAM, type_id, 0, payload)

    def _command(self, chunk_stream: int, stream_id: int, name: str, *arguments: object) -> bytes:
        transaction_id, *rest = arguments
        payload = command_payload(name, float(transaction_id), *rest)  # type: ignore[arg-type]
        return self._encode(chunk_stream, MSG_AMF0_COMMAND, stream_id, payload)

    def _encode(self, chunk_stream: int, type_id: int, stream_id: int, payload: bytes) -> bytes:
        return encode_message(
            chunk_stream_id=chunk_stream,
            msg_type_id=type_id,
            msg_stream_id=stream_id,
            timestamp=0,
            payload=payload,
            chunk_size=self.out_chunk_size,
        )


class _Raw(NamedTuple):
    """A decoded message that is not media: control, command or data, parsed when handed out."""

    type_id: int
    stream_id: int
    payload: bytes


def _make_message(
    chunk_stream_id: int, type_id: int, stream_id: int, timestamp: int, payload: bytes
) -> Media | _Raw:
    if type_id in (MSG_VIDEO, MSG_AUDIO):
        # tuple.__new__ directly: the NamedTuple's own __new__ is a Python-level function call more.
        return _new_tuple(Media, (type_id, timestamp, payload))
    return _Raw(type_id, stream_id, payload)


_new_tuple = tuple.__new__
