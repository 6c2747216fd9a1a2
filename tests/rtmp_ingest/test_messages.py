"""AMF0 decoding/encoding and the never-failing message parser."""

from __future__ import annotations

import struct

import pytest

from rtmp_ingest._pyrtmp import (
    AudioMessage,
    Chunk,
    NCConnect,
    NCCreateStream,
    NSCloseStream,
    NSDeleteStream,
    NSPublish,
    SetChunkSize,
    UserControlMessage,
    VideoMessage,
    WindowAcknowledgementSize,
)
from rtmp_ingest.messages import (
    FCUnpublish,
    Metadata,
    OtherCommand,
    OtherData,
    UnknownMessage,
    command_chunk,
    parse_message,
    status_object,
)
from tidecast_common.amf0 import (
    AmfError,
    decode_all,
    decode_values,
    encode_ecma_array,
    encode_value,
    encode_values,
)


def make_chunk(type_id: int, payload: bytes, stream_id: int = 1) -> Chunk:
    return Chunk(
        chunk_type=0,
        chunk_id=3,
        timestamp=42,
        msg_length=len(payload),
        msg_type_id=type_id,
        msg_stream_id=stream_id,
        payload=payload,
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
    message = parse_message(make_chunk(20, payload, stream_id=0))
    assert isinstance(message, NCConnect)
    assert message.command_object["app"] == "streaming"
    assert message.transaction_id == 1.0
    assert message.optional_user_arguments is None


def test_amf3_connect_skips_the_format_byte() -> None:
    payload = b"\x00" + encode_values("connect", 1, {"app": "streaming", "objectEncoding": 3})
    message = parse_message(make_chunk(17, payload, stream_id=0))
    assert isinstance(message, NCConnect)
    assert message.command_object["app"] == "streaming"


def test_create_stream_and_publish() -> None:
    create = parse_message(make_chunk(20, encode_values("createStream", 4, None), stream_id=0))
    assert isinstance(create, NCCreateStream)
    assert create.transaction_id == 4
    publish = parse_message(make_chunk(20, encode_values("publish", 5, None, "key-✓", "live")))
    assert isinstance(publish, NSPublish)
    assert (publish.publishing_name, publish.publishing_type, publish.msg_stream_id) == ("key-✓", "live", 1)


def test_amf3_publish_with_undefined_command_object() -> None:
    payload = b"\x00" + amf_string("publish") + amf_number(5) + b"\x06" + amf_string("k") + amf_string("live")
    publish = parse_message(make_chunk(17, payload))
    assert isinstance(publish, NSPublish)
    assert publish.publishing_name == "k"


def test_publish_without_a_name_has_an_empty_name() -> None:
    publish = parse_message(make_chunk(20, encode_values("publish", 5, None)))
    assert isinstance(publish, NSPublish)
    assert publish.publishing_name == ""


def test_stream_ending_commands() -> None:
    delete = parse_message(make_chunk(20, encode_values("deleteStream", 7, None, 1)))
    close = parse_message(make_chunk(20, encode_values("closeStream", 0, None)))
    unpublish = parse_message(make_chunk(20, encode_values("FCUnpublish", 6, None, "key")))
    assert isinstance(delete, NSDeleteStream)
    assert delete.stream_id == 1
    assert isinstance(close, NSCloseStream)
    assert isinstance(unpublish, FCUnpublish)
    assert unpublish.stream_name == "key"


def test_other_commands_keep_their_arguments() -> None:
    message = parse_message(make_chunk(20, encode_values("releaseStream", 2, None, "key")))
    assert isinstance(message, OtherCommand)
    assert (message.command_name, message.arguments) == ("releaseStream", [2.0, None, "key"])


# --- metadata -----------------------------------------------------------------------------------


def test_set_data_frame_with_ecma_array() -> None:
    payload = encode_values("@setDataFrame", "onMetaData") + encode_ecma_array(
        {"width": 1920, "title": "Ünï"}
    )
    message = parse_message(make_chunk(18, payload))
    assert isinstance(message, Metadata)
    assert message.meta == {"width": 1920.0, "title": "Ünï"}


def test_object_form_metadata_and_its_flv_body() -> None:
    payload = encode_values("@setDataFrame", "onMetaData", {"encoder": "Lavf ünicode", "fps": 30})
    message = parse_message(make_chunk(18, payload))
    assert isinstance(message, Metadata)
    body = message.to_raw_meta()
    assert body[0] == 0x02
    assert decode_all(body) == ["onMetaData", {"encoder": "Lavf ünicode", "fps": 30.0}]
    assert body[len(encode_value("onMetaData"))] == 0x08  # written back as an ECMA array


def test_metadata_without_set_data_frame_and_as_amf3_data() -> None:
    plain = parse_message(make_chunk(18, encode_values("onMetaData", {"a": 1})))
    amf3 = parse_message(make_chunk(15, b"\x00" + encode_values("@setDataFrame", "onMetaData", {"a": 1})))
    assert isinstance(plain, Metadata)
    assert isinstance(amf3, Metadata)
    assert plain.meta == amf3.meta == {"a": 1.0}


def test_metadata_as_strict_array_of_pairs() -> None:
    payload = encode_values("@setDataFrame", "onMetaData", [{"a": 1}, {"b": "x"}])
    message = parse_message(make_chunk(18, payload))
    assert isinstance(message, Metadata)
    assert message.meta == {"a": 1.0, "b": "x"}


def test_other_data_messages() -> None:
    message = parse_message(make_chunk(18, encode_values("onTextData", {"text": "hi"})))
    assert isinstance(message, OtherData)
    assert message.command_name == "onTextData"


# --- media, control, unknown --------------------------------------------------------------------


def test_audio_and_video_are_pyrtmp_classes() -> None:
    video = parse_message(make_chunk(9, b"\x17\x01rest"))
    audio = parse_message(make_chunk(8, b"\xafdata"))
    assert isinstance(video, VideoMessage)
    assert isinstance(audio, AudioMessage)
    assert (video.control, video.data, video.timestamp) == (b"\x17", b"\x01rest", 42)
    assert (audio.control, audio.data) == (b"\xaf", b"data")


def test_control_messages() -> None:
    size = parse_message(make_chunk(1, struct.pack(">I", 4096), stream_id=0))
    window = parse_message(make_chunk(5, struct.pack(">I", 2_500_000), stream_id=0))
    user = parse_message(make_chunk(4, struct.pack(">HII", 3, 1, 3000), stream_id=0))
    assert isinstance(size, SetChunkSize)
    assert size.chunk_size == 4096
    assert isinstance(window, WindowAcknowledgementSize)
    assert window.ack_window_size == 2_500_000
    assert isinstance(user, UserControlMessage)
    assert (user.event_type, user.stream_id) == (3, 1)


@pytest.mark.parametrize(
    ("type_id", "payload"),
    [
        (22, b"aggregate left over"),
        (19, b"shared object"),
        (99, b"???"),
        (20, b""),
        (20, amf_number(1)),
        (18, b"\x11\x11"),
        (1, b"\x00"),
        (1, b"\x00\x00\x00\x00"),
        (6, b"\x00\x00\x00\x01"),
    ],
)
def test_anything_unusable_is_an_unknown_message(type_id: int, payload: bytes) -> None:
    message = parse_message(make_chunk(type_id, payload))
    assert isinstance(message, UnknownMessage)
    assert message.reason


def test_command_chunk_builds_a_utf8_on_status() -> None:
    chunk = command_chunk(
        "onStatus",
        0,
        None,
        status_object("error", "NetStream.Publish.BadName", "Clé refusée"),
        msg_stream_id=1,
    )
    assert (chunk.msg_type_id, chunk.msg_stream_id, chunk.msg_length) == (20, 1, len(chunk.payload))
    assert decode_all(chunk.payload)[3]["description"] == "Clé refusée"
