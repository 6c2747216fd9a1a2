"""AMF0 decoding/encoding and the never-failing message parser."""

from __future__ import annotations

import struct

import pytest

from rtmp_ingest.chunks import ProtocolError
from rtmp_ingest.messages import (
    Command,
    Metadata,
    OtherData,
    Unusable,
    command_payload,
    parse_message,
    status_object,
)
from tidecast_common.amf0 import (
    AmfError,
    AmfLimitError,
    decode_all,
    decode_values,
    encode_ecma_array,
    encode_value,
    encode_values,
)


def amf_string(text: str) -> bytes:
    raw = text.encode()
    return b"\x02" + len(raw).to_bytes(2, "big") + raw


def amf_number(value: float) -> bytes:
    return b"\x00" + struct.pack(">d", value)


# --- AMF0 ---------------------------------------------------------------------------------------


def test_undefined_decodes_as_none() -> None:
    assert decode_all(b"\x06" + amf_number(1)) == [None, 1.0]


def test_strict_array() -> None:
    data = b"\x0a" + (3).to_bytes(4, "big") + amf_number(1) + amf_string("two") + b"\x05"
    assert decode_all(data) == [[1.0, "two", None]]


def test_long_string() -> None:
    text = "é" * 40_000  # 80,000 bytes: more than a short string can hold
    raw = text.encode()
    assert decode_all(b"\x0c" + len(raw).to_bytes(4, "big") + raw) == [text]
    assert decode_all(encode_value(text)) == [text]
    assert encode_value(text)[0] == 0x0C


def test_utf8_strings_are_decoded_and_encoded_whole() -> None:
    text = "Café ☕ 直播"
    assert decode_all(amf_string(text)) == [text]
    assert decode_all(encode_values(text, {"título": text})) == [text, {"título": text}]


def test_date_typed_object_and_ecma_array() -> None:
    date = b"\x0b" + struct.pack(">d", 1.5e12) + b"\x00\x00"
    typed = b"\x10" + amf_string("Cls")[1:] + amf_string("a")[1:] + amf_number(1) + b"\x00\x00\x09"
    ecma = b"\x08" + (99).to_bytes(4, "big") + amf_string("k")[1:] + b"\x01\x01" + b"\x00\x00\x09"
    assert decode_all(date + typed + ecma) == [1.5e12, {"a": 1.0}, {"k": True}]


@pytest.mark.parametrize(
    "data",
    [
        b"\x02\x00\x05ab",  # string shorter than its length
        b"\x0a\xff\xff\xff\xff",  # strict array claiming 4 billion items
        b"\x07\x00\x01",  # reference
        b"\x11\x02",  # AMF3 switch inside AMF0
        b"\x03" * 100,  # nesting deeper than the bound
        b"\x00\x01",  # truncated number
    ],
)
def test_malformed_amf_raises_amf_error(data: bytes) -> None:
    with pytest.raises(AmfError):
        decode_all(data)


def test_decode_values_stops_at_the_first_bad_value() -> None:
    data = amf_string("publish") + amf_number(5) + b"\x11\x04"
    values, stop = decode_values(data)
    assert values == ["publish", 5.0]
    assert stop == len(data) - 2


# --- commands -----------------------------------------------------------------------------------


def test_connect() -> None:
    payload = encode_values("connect", 1, {"app": "streaming", "tcUrl": "rtmp://h/streaming"})
    message = parse_message(20, payload)
    assert isinstance(message, Command)
    assert message.name == "connect"
    assert message.command_object["app"] == "streaming"
    assert message.transaction_id == 1.0
    assert message.arguments == ()


def test_amf3_connect_skips_the_format_byte() -> None:
    payload = b"\x00" + encode_values("connect", 1, {"app": "streaming", "objectEncoding": 3})
    message = parse_message(17, payload)
    assert isinstance(message, Command)
    assert message.command_object["app"] == "streaming"


def test_create_stream_and_publish() -> None:
    create = parse_message(20, encode_values("createStream", 4, None))
    assert isinstance(create, Command)
    assert (create.name, create.transaction_id) == ("createStream", 4)
    publish = parse_message(20, encode_values("publish", 5, None, "key-✓", "live"))
    assert isinstance(publish, Command)
    assert (publish.name, publish.argument(0), publish.argument(1)) == ("publish", "key-✓", "live")


def test_amf3_publish_with_undefined_command_object() -> None:
    payload = b"\x00" + amf_string("publish") + amf_number(5) + b"\x06" + amf_string("k") + amf_string("live")
    publish = parse_message(17, payload)
    assert isinstance(publish, Command)
    assert (publish.command_object, publish.argument(0)) == ({}, "k")


def test_publish_without_a_name_has_no_name_argument() -> None:
    publish = parse_message(20, encode_values("publish", 5, None))
    assert isinstance(publish, Command)
    assert publish.argument(0) is None


def test_other_commands_keep_their_arguments() -> None:
    message = parse_message(20, encode_values("releaseStream", 2, None, "key"))
    assert isinstance(message, Command)
    assert (message.name, message.transaction_id, message.arguments) == ("releaseStream", 2.0, ("key",))


# --- metadata -----------------------------------------------------------------------------------


def test_set_data_frame_with_ecma_array() -> None:
    payload = encode_values("@setDataFrame", "onMetaData") + encode_ecma_array(
        {"width": 1920, "title": "Ünï"}
    )
    message = parse_message(18, payload)
    assert isinstance(message, Metadata)
    assert message.meta == {"width": 1920.0, "title": "Ünï"}


def test_metadata_without_set_data_frame_and_as_amf3_data() -> None:
    plain = parse_message(18, encode_values("onMetaData", {"a": 1}))
    amf3 = parse_message(15, b"\x00" + encode_values("@setDataFrame", "onMetaData", {"a": 1}))
    assert isinstance(plain, Metadata)
    assert isinstance(amf3, Metadata)
    assert plain.meta == amf3.meta == {"a": 1.0}


def test_metadata_as_strict_array_of_pairs() -> None:
    payload = encode_values("@setDataFrame", "onMetaData", [{"a": 1}, {"b": "x"}])
    message = parse_message(18, payload)
    assert isinstance(message, Metadata)
    assert message.meta == {"a": 1.0, "b": "x"}


def test_other_data_messages() -> None:
    message = parse_message(18, encode_values("onTextData", {"text": "hi"}))
    assert isinstance(message, OtherData)
    assert message.name == "onTextData"


# --- budgets and unusable messages ----------------------------------------------------------------


def test_a_huge_strict_array_is_refused_before_it_is_built() -> None:
    # 8 M nulls announced and sent: refused at the count, not after 8 M Python objects.
    payload = encode_values("@setDataFrame", "onMetaData") + b"\x0a" + struct.pack(">I", 8_000_000)
    payload += b"\x05" * 8_000_000
    with pytest.raises(ProtocolError, match="AMF0 values"):
        parse_message(18, payload, max_elements=10_000)


def test_nested_values_count_against_the_budget() -> None:
    payload = encode_values("onMetaData", {f"k{i}": [1, 2, 3] for i in range(100)})  # 1 + 1 + 100 * 4 values
    assert isinstance(parse_message(18, payload, max_elements=402), Metadata)
    with pytest.raises(ProtocolError):
        parse_message(18, payload, max_elements=401)
    with pytest.raises(AmfLimitError):
        decode_values(payload, max_values=401)


@pytest.mark.parametrize(
    ("type_id", "payload"),
    [
        (22, b"aggregate left over"),
        (19, b"shared object"),
        (99, b"???"),
        (20, b""),
        (20, amf_number(1)),
        (18, b"\x11\x11"),
        (1, b"\x00\x00\x00\x00"),
        (9, b"\x17"),
    ],
)
def test_anything_unusable_is_an_unusable_message(type_id: int, payload: bytes) -> None:
    message = parse_message(type_id, payload)
    assert isinstance(message, Unusable)
    assert message.reason


def test_command_payload_builds_a_utf8_on_status() -> None:
    payload = command_payload(
        "onStatus", 0, None, status_object("error", "NetStream.Publish.BadName", "Clé refusée")
    )
    assert decode_all(payload)[3]["description"] == "Clé refusée"
