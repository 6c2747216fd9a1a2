"""RTMP messages as pyrtmp's message objects, parsed without ever failing.

`parse_message(chunk)` is a drop-in for pyrtmp's `MessageFactory.from_chunk` that returns the same
classes (NCConnect, NSPublish, MetaDataMessage, VideoMessage, ...) so pyrtmp's controller API keeps
working, but it understands AMF3-wrapped commands and data, every AMF0 marker encoders send,
object-form metadata and UTF-8 text, and turns anything it cannot use into an `UnknownMessage`.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

from rtmp_ingest._pyrtmp import (
    AbortMessage,
    Acknowledgement,
    AudioMessage,
    Chunk,
    CommandMessage,
    DataMessage,
    MetaDataMessage,
    NCConnect,
    NCCreateStream,
    NSCloseStream,
    NSDeleteStream,
    NSPublish,
    SetChunkSize,
    SetPeerBandwidth,
    UserControlMessage,
    VideoMessage,
    WindowAcknowledgementSize,
)
from tidecast_common.amf0 import AmfValue, decode_values, encode_ecma_array, encode_values

__all__ = [
    "FCUnpublish",
    "IngestAudioMessage",
    "IngestVideoMessage",
    "Metadata",
    "OtherCommand",
    "OtherData",
    "UnknownMessage",
    "command_chunk",
    "parse_message",
    "status_object",
]

MSG_AMF3_DATA = 15
MSG_AMF3_COMMAND = 17
MSG_AMF0_DATA = 18
MSG_AMF0_COMMAND = 20

_U32 = struct.Struct(">I")
_USER_CONTROL_HEADER = struct.Struct(">H")


class UnknownMessage(Chunk):  # type: ignore[misc]
    """A message the ingest has no use for, or could not parse; `reason` says which."""

    def __init__(self, *, reason: str, **chunk_fields: Any) -> None:
        super().__init__(**chunk_fields)
        self.reason = reason


class OtherCommand(CommandMessage):  # type: ignore[misc]
    """A command without a dedicated class (releaseStream, FCPublish, _checkbw, ...)."""

    def __init__(self, *, arguments: list[AmfValue], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.arguments = arguments
        self.transaction_id = arguments[0] if arguments else 0.0


class FCUnpublish(CommandMessage):  # type: ignore[misc]
    """`FCUnpublish(stream name)`: the publisher announces it is stopping."""

    def __init__(self, *, transaction_id: float, stream_name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.transaction_id = transaction_id
        self.stream_name = stream_name


class Metadata(MetaDataMessage):  # type: ignore[misc]
    """`[@setDataFrame,] onMetaData, {properties}`; `meta` is a dict whatever AMF0 form was sent."""

    def __init__(
        self, *, command_name: str, event: str, meta: dict[str, AmfValue], **chunk_fields: Any
    ) -> None:
        super().__init__(**chunk_fields)
        self.command_name = command_name
        self.event = event
        self.meta = meta

    def to_raw_meta(self) -> bytes:
        """The FLV script tag body: `onMetaData` and the properties as an ECMA array (UTF-8 intact)."""
        return encode_values(self.event) + encode_ecma_array(self.meta)


class OtherData(DataMessage):  # type: ignore[misc]
    """A data message other than metadata (onTextData, onCuePoint, ...)."""

    def __init__(self, *, command_name: str, arguments: list[AmfValue], **chunk_fields: Any) -> None:
        super().__init__(**chunk_fields)
        self.command_name = command_name
        self.arguments = arguments


class IngestAudioMessage(AudioMessage):  # type: ignore[misc]
    """pyrtmp's AudioMessage without copying the payload on every frame."""

    @property
    def control(self) -> bytes:
        return bytes(self.payload[:1])

    @property
    def data(self) -> bytes:
        return bytes(self.payload[1:])


class IngestVideoMessage(VideoMessage):  # type: ignore[misc]
    """pyrtmp's VideoMessage without copying the payload on every frame."""

    @property
    def control(self) -> bytes:
        return bytes(self.payload[:1])

    @property
    def data(self) -> bytes:
        return bytes(self.payload[1:])


def _fields(chunk: Any) -> dict[str, Any]:
    return {
        "chunk_type": chunk.chunk_type,
        "chunk_id": chunk.chunk_id,
        "timestamp": chunk.timestamp,
        "msg_length": chunk.msg_length,
        "msg_type_id": chunk.msg_type_id,
        "msg_stream_id": chunk.msg_stream_id,
        "payload": chunk.payload,
    }


def _with_fields(message: Any, chunk: Any) -> Any:
    """pyrtmp's control message constructors reset the chunk fields: put the received ones back."""
    for name, value in _fields(chunk).items():
        setattr(message, name, value)
    return message


def _amf_start(chunk: Any) -> int:
    # AMF3 command and data messages begin with a format byte, then AMF0 values (+ AMF3 switches).
    is_amf3 = chunk.msg_type_id in (MSG_AMF3_COMMAND, MSG_AMF3_DATA)
    return 1 if is_amf3 and chunk.payload[:1] == b"\x00" else 0


def _as_dict(value: AmfValue) -> dict[str, AmfValue]:
    return value if isinstance(value, dict) else {}


def _as_number(value: AmfValue) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _parse_command(chunk: Any) -> Any:
    values, _ = decode_values(bytes(chunk.payload), _amf_start(chunk))
    if not values or not isinstance(values[0], str):
        return UnknownMessage(reason="command without a name", **_fields(chunk))
    name = values[0]
    args = values[1:] + [None] * 4  # missing trailing arguments read as null
    fields = _fields(chunk)
    transaction_id = _as_number(args[0])
    if name == "connect":
        extra = values[3] if len(values) > 3 else None
        return NCConnect(
            command_name=name,
            transaction_id=transaction_id,
            command_object=_as_dict(args[1]),
            optional_user_arguments=extra if isinstance(extra, dict) else None,
            **fields,
        )
    if name == "createStream":
        return NCCreateStream(
            command_name=name, transaction_id=transaction_id, command_object=_as_dict(args[1]), **fields
        )
    if name == "publish":
        publishing_name = args[2] if isinstance(args[2], str) else ""
        publishing_type = args[3] if isinstance(args[3], str) else "live"
        return NSPublish(
            command_name=name,
            transaction_id=transaction_id,
            command_object=_as_dict(args[1]),
            publishing_name=publishing_name,
            publishing_type=publishing_type,
            **fields,
        )
    if name == "deleteStream":
        return NSDeleteStream(
            command_name=name,
            transaction_id=transaction_id,
            command_object=_as_dict(args[1]),
            stream_id=_as_number(args[2]),
            **fields,
        )
    if name == "closeStream":
        return NSCloseStream(
            command_name=name, transaction_id=transaction_id, command_object=_as_dict(args[1]), **fields
        )
    if name == "FCUnpublish":
        stream_name = args[2] if isinstance(args[2], str) else ""
        return FCUnpublish(
            command_name=name, transaction_id=transaction_id, stream_name=stream_name, **fields
        )
    return OtherCommand(command_name=name, arguments=values[1:], **fields)


def _parse_data(chunk: Any) -> Any:
    values, _ = decode_values(bytes(chunk.payload), _amf_start(chunk))
    if not values or not isinstance(values[0], str):
        return UnknownMessage(reason="data message without a name", **_fields(chunk))
    command_name = values[0]
    rest = values[1:]
    if command_name == "@setDataFrame" and rest and isinstance(rest[0], str):
        event, rest = rest[0], rest[1:]
    else:
        event = command_name
    if event == "onMetaData":
        meta = rest[0] if rest else None
        if isinstance(meta, dict):
            return Metadata(command_name=command_name, event=event, meta=meta, **_fields(chunk))
        if isinstance(meta, list):  # a strict array of one-entry objects, as some encoders send
            merged: dict[str, AmfValue] = {}
            for item in meta:
                merged.update(_as_dict(item))
            return Metadata(command_name=command_name, event=event, meta=merged, **_fields(chunk))
    return OtherData(command_name=command_name, arguments=rest, **_fields(chunk))


def _u32_at(payload: bytes, offset: int) -> int:
    return int(_U32.unpack_from(payload, offset)[0])


def _parse_control(chunk: Any) -> Any:
    payload = bytes(chunk.payload)
    type_id = chunk.msg_type_id
    needed = {1: 4, 2: 4, 3: 4, 4: 2, 5: 4, 6: 5}[type_id]
    if len(payload) < needed:
        return UnknownMessage(reason=f"control message {type_id} too short", **_fields(chunk))
    if type_id == 1:
        size = _u32_at(payload, 0)
        if not 1 <= size <= 0x7FFFFFFF:
            return UnknownMessage(reason="chunk size out of range", **_fields(chunk))
        return _with_fields(SetChunkSize(chunk_size=size), chunk)
    if type_id == 2:
        return _with_fields(AbortMessage(chunk_stream_id=_u32_at(payload, 0)), chunk)
    if type_id == 3:
        return _with_fields(Acknowledgement(seq_number=_u32_at(payload, 0)), chunk)
    if type_id == 4:
        message = UserControlMessage(**_fields(chunk))
        message.event_type = _USER_CONTROL_HEADER.unpack_from(payload)[0]
        message.event_data = payload[2:]
        message.stream_id = _u32_at(payload, 2) if len(payload) >= 6 else None
        return message
    if type_id == 5:
        return _with_fields(WindowAcknowledgementSize(ack_window_size=_u32_at(payload, 0)), chunk)
    return _with_fields(SetPeerBandwidth(ack_window_size=_u32_at(payload, 0), limit_type=payload[4]), chunk)


def parse_message(chunk: Any) -> Any:
    """The message object for a complete chunk; never raises, unusable input gives UnknownMessage."""
    chunk_class = type(chunk)
    if chunk_class is IngestVideoMessage or chunk_class is IngestAudioMessage:
        return chunk  # the session built it as such
    type_id = chunk.msg_type_id
    if type_id == 9:
        return IngestVideoMessage(**_fields(chunk))
    if type_id == 8:
        return IngestAudioMessage(**_fields(chunk))
    try:
        if type_id in (MSG_AMF0_COMMAND, MSG_AMF3_COMMAND):
            return _parse_command(chunk)
        if type_id in (MSG_AMF0_DATA, MSG_AMF3_DATA):
            return _parse_data(chunk)
        if 1 <= type_id <= 6:
            return _parse_control(chunk)
    except (ValueError, TypeError, struct.error) as error:  # defensive: never kill a session over parsing
        return UnknownMessage(reason=f"unparsable message type {type_id}: {error}", **_fields(chunk))
    return UnknownMessage(reason=f"message type {type_id} not handled", **_fields(chunk))


def command_chunk(
    name: str,
    transaction_id: float,
    *arguments: object,
    msg_stream_id: int = 0,
    chunk_id: int = 3,
) -> Any:
    """An AMF0 command (e.g. an `onStatus` error with a UTF-8 description) ready to write."""
    payload = encode_values(name, transaction_id, *arguments)
    return Chunk(
        chunk_type=0,
        chunk_id=chunk_id,
        timestamp=0,
        msg_length=len(payload),
        msg_type_id=MSG_AMF0_COMMAND,
        msg_stream_id=msg_stream_id,
        payload=payload,
    )


def status_object(level: str, code: str, description: str) -> Mapping[str, object]:
    """The info object of `onStatus` / `_error` replies."""
    return {"level": level, "code": code, "description": description}
