"""RTMP command and data messages (AMF0, and AMF0 inside AMF3 envelopes), parsed without ever failing.

`parse_message(type_id, payload)` understands AMF3-wrapped commands and data, every AMF0 marker
encoders send, object-form metadata and UTF-8 text, and turns anything it cannot use into an
`Unusable`. The one thing it refuses is a message with more AMF0 values than `max_elements`
(`ProtocolError`): an 8 M-element strict array must not become 8 M Python objects.
`command_message` builds the commands the server sends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rtmp_ingest.chunks import ProtocolError
from tidecast_common.amf0 import AmfLimitError, AmfValue, decode_values, encode_values

__all__ = [
    "MSG_AMF0_COMMAND",
    "MSG_AMF0_DATA",
    "MSG_AMF3_COMMAND",
    "MSG_AMF3_DATA",
    "Command",
    "Metadata",
    "OtherData",
    "Unusable",
    "parse_message",
    "status_object",
]

MSG_AMF3_DATA = 15
MSG_AMF3_COMMAND = 17
MSG_AMF0_DATA = 18
MSG_AMF0_COMMAND = 20
COMMAND_TYPES = (MSG_AMF0_COMMAND, MSG_AMF3_COMMAND)
DATA_TYPES = (MSG_AMF0_DATA, MSG_AMF3_DATA)


@dataclass(frozen=True, slots=True)
class Command:
    """`name(transaction id, command object, arguments...)`; missing parts read as 0, {} and ()."""

    name: str
    transaction_id: float
    command_object: dict[str, AmfValue]
    arguments: tuple[AmfValue, ...]

    def argument(self, index: int) -> AmfValue:
        """The argument after the command object at `index`, None when it was not sent."""
        return self.arguments[index] if index < len(self.arguments) else None


@dataclass(frozen=True, slots=True)
class Metadata:
    """`[@setDataFrame,] onMetaData, {properties}`; `meta` is a dict whatever AMF0 form was sent."""

    meta: dict[str, AmfValue]


@dataclass(frozen=True, slots=True)
class OtherData:
    """A data message other than metadata (onTextData, onCuePoint, ...)."""

    name: str
    arguments: tuple[AmfValue, ...]


@dataclass(frozen=True, slots=True)
class Unusable:
    """A message the ingest cannot use; `reason` says why."""

    reason: str


Parsed = Command | Metadata | OtherData | Unusable


def _amf_start(type_id: int, payload: bytes) -> int:
    # AMF3 command and data messages begin with a format byte, then AMF0 values (+ AMF3 switches).
    return 1 if type_id in (MSG_AMF3_COMMAND, MSG_AMF3_DATA) and payload[:1] == b"\x00" else 0


def _as_dict(value: AmfValue) -> dict[str, AmfValue]:
    return value if isinstance(value, dict) else {}


def _as_number(value: AmfValue) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _values(type_id: int, payload: bytes, max_elements: int) -> list[AmfValue]:
    try:
        values, _ = decode_values(payload, _amf_start(type_id, payload), max_values=max_elements)
    except AmfLimitError as error:
        raise ProtocolError(str(error)) from None
    return values


def _command(values: list[AmfValue]) -> Parsed:
    if not values or not isinstance(values[0], str):
        return Unusable("command without a name")
    transaction_id = _as_number(values[1]) if len(values) > 1 else 0.0
    command_object = _as_dict(values[2]) if len(values) > 2 else {}
    return Command(values[0], transaction_id, command_object, tuple(values[3:]))


def _data(values: list[AmfValue]) -> Parsed:
    if not values or not isinstance(values[0], str):
        return Unusable("data message without a name")
    name, rest = values[0], values[1:]
    if name == "@setDataFrame" and rest and isinstance(rest[0], str):
        name, rest = rest[0], rest[1:]
    if name == "onMetaData" and rest:
        meta = rest[0]
        if isinstance(meta, dict):
            return Metadata(meta)
        if isinstance(meta, list):  # a strict array of one-entry objects, as some encoders send
            merged: dict[str, AmfValue] = {}
            for item in meta:
                merged.update(_as_dict(item))
            return Metadata(merged)
    return OtherData(name, tuple(rest))


def parse_message(type_id: int, payload: bytes, *, max_elements: int = 10_000) -> Parsed:
    """The command or data message in `payload`; never raises but for more than `max_elements` values."""
    if type_id in COMMAND_TYPES:
        return _command(_values(type_id, payload, max_elements))
    if type_id in DATA_TYPES:
        return _data(_values(type_id, payload, max_elements))
    return Unusable(f"message type {type_id} not handled")


def command_payload(name: str, transaction_id: float, *arguments: object) -> bytes:
    """The AMF0 body of a command the server sends (e.g. an `onStatus` with a UTF-8 description)."""
    return encode_values(name, transaction_id, *arguments)


def status_object(level: str, code: str, description: str) -> Mapping[str, object]:
    """The info object of `onStatus` / `_error` replies."""
    return {"level": level, "code": code, "description": description}
