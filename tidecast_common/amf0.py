"""AMF0 decoding and encoding with every marker encoders actually send (AMF 0 spec, 2007).

Strings are UTF-8 measured in bytes, objects and ECMA arrays both decode to dicts, and nesting
depth and sizes are bounded by the input, so a hostile payload costs at most its own length.
`max_values` bounds the values one decode may make (every nested value counts), so that it does not
cost one Python object per byte either.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Mapping, Sequence
from typing import TypeAlias

__all__ = [
    "AmfError",
    "AmfLimitError",
    "AmfValue",
    "decode_all",
    "decode_values",
    "encode_ecma_array",
    "encode_value",
    "encode_values",
]

AmfValue: TypeAlias = float | bool | str | dict[str, "AmfValue"] | list["AmfValue"] | None

NUMBER = 0x00
BOOLEAN = 0x01
STRING = 0x02
OBJECT = 0x03
MOVIECLIP = 0x04
NULL = 0x05
UNDEFINED = 0x06
REFERENCE = 0x07
ECMA_ARRAY = 0x08
OBJECT_END = 0x09
STRICT_ARRAY = 0x0A
DATE = 0x0B
LONG_STRING = 0x0C
UNSUPPORTED = 0x0D
XML_DOCUMENT = 0x0F
TYPED_OBJECT = 0x10

MAX_DEPTH = 32

_DOUBLE = struct.Struct(">d")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")


class AmfError(ValueError):
    """The bytes are not a well-formed AMF0 value we can decode."""


class AmfLimitError(AmfError):
    """More values than the decode's `max_values`: the whole message is refused, not truncated."""


class _Reader:
    __slots__ = ("budget", "data", "pos")

    def __init__(self, data: bytes, pos: int = 0, budget: int = sys.maxsize) -> None:
        self.data = data
        self.pos = pos
        self.budget = budget  # values still allowed

    def spend(self, values: int) -> None:
        if values > self.budget:
            raise AmfLimitError("more AMF0 values than allowed in one message")
        self.budget -= values

    def take(self, size: int) -> bytes:
        end = self.pos + size
        if end > len(self.data):
            raise AmfError("truncated AMF0 data")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def u8(self) -> int:
        if self.pos >= len(self.data):
            raise AmfError("truncated AMF0 data")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def u16(self) -> int:
        return int(_U16.unpack(self.take(2))[0])

    def u32(self) -> int:
        return int(_U32.unpack(self.take(4))[0])

    def utf8(self, size: int) -> str:
        return self.take(size).decode("utf-8", errors="replace")


def _read_properties(reader: _Reader, depth: int) -> dict[str, AmfValue]:
    """Key/value pairs up to the empty key + object-end marker (objects, ECMA arrays, typed objects)."""
    result: dict[str, AmfValue] = {}
    while reader.pos < len(reader.data):  # a missing end marker at the very end is tolerated
        key = reader.utf8(reader.u16())
        if not key and reader.pos < len(reader.data) and reader.data[reader.pos] == OBJECT_END:
            reader.pos += 1
            return result
        result[key] = _read_value(reader, depth + 1)
    return result


def _read_value(reader: _Reader, depth: int) -> AmfValue:
    if depth > MAX_DEPTH:
        raise AmfError("AMF0 nesting too deep")
    reader.spend(1)
    marker = reader.u8()
    if marker == NUMBER:
        return float(_DOUBLE.unpack(reader.take(8))[0])
    if marker == BOOLEAN:
        return reader.u8() != 0
    if marker == STRING:
        return reader.utf8(reader.u16())
    if marker == OBJECT:
        return _read_properties(reader, depth)
    if marker in (NULL, UNDEFINED, UNSUPPORTED):
        return None
    if marker == ECMA_ARRAY:
        reader.take(4)  # the count is only a hint; encoders get it wrong
        return _read_properties(reader, depth)
    if marker == STRICT_ARRAY:
        count = reader.u32()
        if count > len(reader.data) - reader.pos:  # every value takes at least one byte
            raise AmfError("strict array longer than its message")
        if count > reader.budget:  # refused before a single element is made
            raise AmfLimitError("more AMF0 values than allowed in one message")
        return [_read_value(reader, depth + 1) for _ in range(count)]
    if marker == DATE:
        millis = float(_DOUBLE.unpack(reader.take(8))[0])
        reader.take(2)  # time zone, reserved
        return millis
    if marker in (LONG_STRING, XML_DOCUMENT):
        return reader.utf8(reader.u32())
    if marker == TYPED_OBJECT:
        reader.utf8(reader.u16())  # class name
        return _read_properties(reader, depth)
    raise AmfError(f"unsupported AMF0 marker 0x{marker:02x}")


def decode_values(data: bytes, pos: int = 0, *, max_values: int = sys.maxsize) -> tuple[list[AmfValue], int]:
    """Decode values from `pos` until the data ends or a value cannot be decoded.

    Returns the values decoded and the offset where decoding stopped, so a command whose
    trailing arguments use an unsupported marker still yields its leading ones. More than
    `max_values` values (nested ones included) raise AmfLimitError.
    """
    reader = _Reader(data, pos, max_values)
    values: list[AmfValue] = []
    while reader.pos < len(data):
        start = reader.pos
        try:
            values.append(_read_value(reader, 0))
        except AmfLimitError:
            raise
        except AmfError:
            return values, start
    return values, reader.pos


def decode_all(data: bytes, pos: int = 0) -> list[AmfValue]:
    """Decode every value to the end of `data`; raise AmfError if any is malformed."""
    reader = _Reader(data, pos)
    values: list[AmfValue] = []
    while reader.pos < len(data):
        values.append(_read_value(reader, 0))
    return values


def _write_utf8(out: bytearray, text: str) -> None:
    encoded = text.encode("utf-8")
    if len(encoded) > 0xFFFF:
        raise AmfError("property name longer than 65535 bytes")
    out += _U16.pack(len(encoded))
    out += encoded


def _write_value(out: bytearray, value: object, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise AmfError("AMF0 nesting too deep")
    if value is None:
        out.append(NULL)
    elif isinstance(value, bool):
        out.append(BOOLEAN)
        out.append(1 if value else 0)
    elif isinstance(value, int | float):
        out.append(NUMBER)
        out += _DOUBLE.pack(float(value))
    elif isinstance(value, str):
        encoded = value.encode("utf-8")
        if len(encoded) <= 0xFFFF:
            out.append(STRING)
            out += _U16.pack(len(encoded))
        else:
            out.append(LONG_STRING)
            out += _U32.pack(len(encoded))
        out += encoded
    elif isinstance(value, Mapping):
        out.append(OBJECT)
        for key, item in value.items():
            _write_utf8(out, str(key))
            _write_value(out, item, depth + 1)
        out += b"\x00\x00\x09"
    elif isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        out.append(STRICT_ARRAY)
        out += _U32.pack(len(value))
        for item in value:
            _write_value(out, item, depth + 1)
    else:
        raise AmfError(f"cannot encode {type(value).__name__} as AMF0")


def encode_value(value: object) -> bytes:
    out = bytearray()
    _write_value(out, value, 0)
    return bytes(out)


def encode_values(*values: object) -> bytes:
    out = bytearray()
    for value in values:
        _write_value(out, value, 0)
    return bytes(out)


def encode_ecma_array(properties: Mapping[str, object]) -> bytes:
    """An ECMA array, the form FLV onMetaData tags conventionally use."""
    out = bytearray([ECMA_ARRAY])
    out += _U32.pack(len(properties))
    for key, item in properties.items():
        _write_utf8(out, key)
        _write_value(out, item, 1)
    out += b"\x00\x00\x09"
    return bytes(out)
