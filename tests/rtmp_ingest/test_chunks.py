"""The chunk stream decoder against hand-built byte sequences (RTMP 1.0, section 5.3)."""

from __future__ import annotations

import struct
import time

import pytest

from rtmp_ingest.chunks import (
    BufferBudget,
    ChunkLimits,
    ChunkStreamDecoder,
    ProtocolError,
    RtmpMessage,
    chunk_messages,
    encode_message,
)
from tests.rtmp_ingest.rtmp_bytes import EXT, chunk, set_chunk_size


def decode(data: bytes, limits: ChunkLimits | None = None) -> list[RtmpMessage]:
    return ChunkStreamDecoder(limits).feed(data)


def byte_by_byte(data: bytes) -> list[RtmpMessage]:
    decoder = ChunkStreamDecoder()
    out: list[RtmpMessage] = []
    for i in range(len(data)):
        out += decoder.feed(data[i : i + 1])
    return out


def stamps(messages: list[RtmpMessage]) -> list[int]:
    return [m.timestamp for m in messages]


# --- header types -------------------------------------------------------------------------------


def test_type0_header_gives_every_field() -> None:
    data = chunk(0, 4, b"hello", field=1234, length=5, type_id=8, stream_id=0x01020304)
    [message] = decode(data)
    assert message == RtmpMessage(4, 8, 0x01020304, 1234, b"hello")


def test_type1_header_adds_delta_and_keeps_stream_id() -> None:
    data = chunk(0, 4, b"aa", field=100, length=2, type_id=8, stream_id=1)
    data += chunk(1, 4, b"vvv", field=40, length=3, type_id=9)
    messages = decode(data)
    assert [(m.msg_type_id, m.msg_stream_id, m.timestamp, m.payload) for m in messages] == [
        (8, 1, 100, b"aa"),
        (9, 1, 140, b"vvv"),
    ]


def test_type2_header_adds_delta_and_keeps_length_and_type() -> None:
    data = chunk(0, 4, b"ab", field=100, length=2, type_id=8, stream_id=1)
    data += chunk(2, 4, b"cd", field=23)
    data += chunk(2, 4, b"ef", field=21)
    messages = decode(data)
    assert stamps(messages) == [100, 123, 144]
    assert [m.payload for m in messages] == [b"ab", b"cd", b"ef"]
    assert {m.msg_type_id for m in messages} == {8}


def test_type3_header_starting_a_message_adds_the_previous_delta() -> None:
    # Example 1 of the specification (5.3.2.1): audio every 20 ms, then type 3 headers only.
    data = chunk(0, 3, b"a" * 32, field=1000, length=32, type_id=8, stream_id=12345)
    data += chunk(2, 3, b"b" * 32, field=20)
    data += chunk(3, 3, b"c" * 32)
    data += chunk(3, 3, b"d" * 32)
    assert stamps(decode(data)) == [1000, 1020, 1040, 1060]


def test_type3_right_after_type0_uses_its_timestamp_as_delta() -> None:
    # 5.3.1.2.4: "the timestamp delta for this Type 3 chunk is the same as the timestamp of the Type 0".
    data = chunk(0, 3, b"x", field=40, length=1, type_id=8, stream_id=1) + chunk(3, 3, b"y")
    assert stamps(decode(data)) == [40, 80]


def test_message_split_in_chunks_uses_type3_continuations() -> None:
    # Example 2 (5.3.2.2): a 307-byte message with chunk size 128.
    payload = bytes(range(256)) + bytes(51)
    data = chunk(0, 4, payload[:128], field=1000, length=307, type_id=9, stream_id=1)
    data += chunk(3, 4, payload[128:256]) + chunk(3, 4, payload[256:])
    [message] = decode(data)
    assert message.payload == payload
    assert message.timestamp == 1000


def test_continuation_chunks_do_not_advance_time() -> None:
    payload = b"z" * 200
    data = chunk(0, 4, b"q", field=10, length=1, type_id=9, stream_id=1)
    data += chunk(2, 4, b"r", field=5)
    data += chunk(1, 4, payload[:128], field=7, length=200, type_id=9) + chunk(3, 4, payload[128:])
    data += chunk(3, 4, b"s" * 128) + chunk(3, 4, b"s" * 72)  # next message: type 3 again, delta 7
    assert stamps(decode(data)) == [10, 15, 22, 29]


def test_zero_length_message() -> None:
    data = chunk(0, 5, field=3, length=0, type_id=18, stream_id=1) + chunk(3, 5)
    messages = decode(data)
    assert [(m.payload, m.timestamp) for m in messages] == [(b"", 3), (b"", 6)]


# --- chunk stream ids ---------------------------------------------------------------------------


@pytest.mark.parametrize("cs_id", [2, 3, 63, 64, 65, 319, 320, 321, 1000, 65599])
def test_one_two_and_three_byte_chunk_stream_ids(cs_id: int) -> None:
    data = chunk(0, cs_id, b"p" * 130, field=1, length=130, type_id=9, stream_id=1)
    data = data[: len(data) - 2] + chunk(3, cs_id, b"pp")
    [message] = decode(data)
    assert message.chunk_stream_id == cs_id
    assert message.payload == b"p" * 130


def test_three_byte_chunk_stream_id_is_little_endian() -> None:
    # 64 + 0x0150 = 400: second byte 0x50, third byte 0x01.
    data = bytes([0x01, 0x50, 0x01]) + chunk(0, 400, b"k", length=1, type_id=8)[3:]
    [message] = decode(data)
    assert message.chunk_stream_id == 400


def test_interleaved_chunk_streams_reassemble_independently() -> None:
    video = bytes(range(200)) * 2
    audio = b"A" * 150
    data = chunk(0, 6, video[:128], field=100, length=400, type_id=9, stream_id=1)
    data += chunk(0, 4, audio[:128], field=90, length=150, type_id=8, stream_id=1)
    data += chunk(3, 6, video[128:256])
    data += chunk(3, 4, audio[128:])
    data += chunk(3, 6, video[256:384])
    data += chunk(3, 6, video[384:])
    messages = decode(data)
    assert [(m.chunk_stream_id, m.timestamp, m.payload) for m in messages] == [
        (4, 90, audio),
        (6, 100, video),
    ]


# --- extended timestamps ------------------------------------------------------------------------


def test_extended_timestamp_on_type0() -> None:
    data = chunk(0, 4, b"x", field=EXT, length=1, type_id=9, stream_id=1, ext=0x01000000)
    [message] = decode(data)
    assert message.timestamp == 0x01000000


def test_extended_timestamp_repeated_on_continuation_chunks() -> None:
    payload = b"v" * 300
    data = chunk(0, 4, payload[:128], field=EXT, length=300, type_id=9, stream_id=1, ext=20_000_000)
    data += chunk(3, 4, payload[128:256], ext=20_000_000) + chunk(3, 4, payload[256:], ext=20_000_000)
    [message] = decode(data)
    assert (message.timestamp, message.payload) == (20_000_000, payload)


def test_extended_delta_on_type1_and_type2() -> None:
    data = chunk(0, 4, b"a", field=5, length=1, type_id=9, stream_id=1)
    data += chunk(1, 4, b"bb", field=EXT, length=2, type_id=9, ext=0x01000000)
    data += chunk(2, 4, b"cc", field=EXT, ext=0x02000000)
    assert stamps(decode(data)) == [5, 5 + 0x01000000, 5 + 0x03000000]


def test_extended_delta_on_type3_starting_a_message() -> None:
    data = chunk(0, 4, b"a", field=0, length=1, type_id=9, stream_id=1)
    data += chunk(2, 4, b"b", field=EXT, ext=0x01000000)
    data += chunk(3, 4, b"c", ext=0x01000000)
    assert stamps(decode(data)) == [0, 0x01000000, 0x02000000]


def test_small_field_after_extended_header_has_no_extended_bytes() -> None:
    data = chunk(0, 4, b"a", field=EXT, length=1, type_id=9, stream_id=1, ext=0x01000000)
    data += chunk(2, 4, b"b", field=33)
    data += chunk(3, 4, b"c")
    assert stamps(decode(data)) == [0x01000000, 0x01000021, 0x01000042]


def test_extended_timestamp_detected_from_the_field_not_the_computed_time() -> None:
    # 0xFFFFF0 + 0x0F computes to 0xFFFFFF, yet the delta field is small: no extended bytes follow.
    data = chunk(0, 4, b"a", field=0xFFFFF0, length=1, type_id=8, stream_id=1)
    data += chunk(2, 4, b"b", field=0x0F)
    data += chunk(2, 4, b"c", field=0x01)
    assert stamps(decode(data)) == [0xFFFFF0, 0xFFFFFF, 0x1000000]


def test_crossing_two_to_the_24_with_delta_headers() -> None:
    data = chunk(0, 4, b"a", field=16_777_200, length=1, type_id=8, stream_id=1)
    data += chunk(2, 4, b"b", field=23) + chunk(3, 4, b"c") + chunk(3, 4, b"d")
    assert stamps(decode(data)) == [16_777_200, 16_777_223, 16_777_246, 16_777_269]


def test_timestamps_wrap_at_32_bits() -> None:
    data = chunk(0, 4, b"a", field=EXT, length=1, type_id=8, stream_id=1, ext=0xFFFFFFF0)
    data += chunk(2, 4, b"b", field=0x20) + chunk(3, 4, b"c")
    assert stamps(decode(data)) == [0xFFFFFFF0, 0x10, 0x30]


# --- protocol control inside the decoder ---------------------------------------------------------


def test_set_chunk_size_applies_to_the_next_chunk() -> None:
    payload = b"m" * 5000
    data = set_chunk_size(4096)
    data += chunk(0, 6, payload[:4096], field=0, length=5000, type_id=9, stream_id=1)
    data += chunk(3, 6, payload[4096:])
    messages = decode(data)
    assert [m.msg_type_id for m in messages] == [1, 9]
    assert messages[1].payload == payload


def test_set_chunk_size_mid_stream_between_chunks_of_another_stream() -> None:
    payload = b"v" * 400
    data = chunk(0, 6, payload[:128], length=400, type_id=9, stream_id=1)
    data += set_chunk_size(200)
    data += chunk(3, 6, payload[128:328]) + chunk(3, 6, payload[328:])
    decoder = ChunkStreamDecoder()
    messages = decoder.feed(data)
    assert messages[-1].payload == payload
    assert decoder.chunk_size == 200


@pytest.mark.parametrize("size", [1, 63, 65537, 0x7FFFFFFF, 0x80000000])
def test_set_chunk_size_outside_64_to_65536_is_refused(size: int) -> None:
    with pytest.raises(ProtocolError, match="chunk size"):
        decode(set_chunk_size(size))


@pytest.mark.parametrize("size", [64, 128, 4096, 65536])
def test_set_chunk_size_limits_are_inclusive(size: int) -> None:
    decoder = ChunkStreamDecoder()
    decoder.feed(set_chunk_size(size))
    assert decoder.chunk_size == size


def test_abort_drops_the_partial_message() -> None:
    data = chunk(0, 6, b"x" * 128, length=300, type_id=9, stream_id=1)
    data += chunk(0, 2, struct.pack(">I", 6), length=4, type_id=2)
    data += chunk(0, 6, b"fresh", field=50, length=5, type_id=9, stream_id=1)
    decoder = ChunkStreamDecoder()
    messages = decoder.feed(data)
    assert [(m.msg_type_id, m.payload) for m in messages] == [(2, struct.pack(">I", 6)), (9, b"fresh")]
    assert decoder.pending_bytes == 0


def test_new_header_in_the_middle_of_a_message_is_refused() -> None:
    data = chunk(0, 6, b"x" * 128, length=300, type_id=9, stream_id=1)
    data += chunk(2, 6, b"y" * 128, field=5)
    with pytest.raises(ProtocolError, match="middle of a message"):
        decode(data)


@pytest.mark.parametrize("fmt", [1, 2, 3])
def test_chunk_stream_must_start_with_type0(fmt: int) -> None:
    with pytest.raises(ProtocolError, match="starts with a type"):
        decode(chunk(fmt, 5, b"x", field=1, length=1, type_id=8))


def test_window_ack_size_is_passed_on_for_the_connection() -> None:
    # The acknowledgement window is the connection's (connection.py): the decoder only delivers it.
    [message] = ChunkStreamDecoder().feed(chunk(0, 2, struct.pack(">I", 2_500_000), length=4, type_id=5))
    assert (message.msg_type_id, message.payload) == (5, struct.pack(">I", 2_500_000))


# --- aggregate messages -------------------------------------------------------------------------


def sub_message(type_id: int, timestamp: int, body: bytes) -> bytes:
    header = bytes([type_id]) + len(body).to_bytes(3, "big")
    header += (timestamp & 0xFFFFFF).to_bytes(3, "big") + bytes([timestamp >> 24]) + (1).to_bytes(3, "big")
    return header + body + (11 + len(body)).to_bytes(4, "big")


def test_aggregate_is_split_and_rebased_on_its_timestamp() -> None:
    body = sub_message(9, 5000, b"video1") + sub_message(8, 5010, b"au") + sub_message(9, 5033, b"video2")
    data = chunk(0, 6, body, field=200, length=len(body), type_id=22, stream_id=1)
    messages = decode(data)
    assert [(m.msg_type_id, m.timestamp, m.payload, m.msg_stream_id) for m in messages] == [
        (9, 200, b"video1", 1),
        (8, 210, b"au", 1),
        (9, 233, b"video2", 1),
    ]


def test_aggregate_sub_message_timestamps_use_the_extended_byte() -> None:
    body = sub_message(9, 0x01000005, b"a") + sub_message(9, 0x01000010, b"b")
    data = chunk(0, 6, body, field=100, length=len(body), type_id=22, stream_id=1)
    assert stamps(decode(data)) == [100, 111]


@pytest.mark.parametrize(
    "body",
    [
        sub_message(9, 0, b"abc")[:-6],  # truncated body
        sub_message(9, 0, b"abc")[:8],  # truncated header
        sub_message(1, 0, b"\x00\x00\x00\x01"),  # a control message smuggled inside
        sub_message(22, 0, b""),  # nested aggregate
    ],
)
def test_malformed_aggregate_is_a_protocol_error(body: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode(chunk(0, 6, body, length=len(body), type_id=22, stream_id=1))


# --- limits -------------------------------------------------------------------------------------


def test_huge_message_length_refused_at_the_header() -> None:
    limits = ChunkLimits(max_message_length=1024 * 1024)
    header = chunk(0, 6, length=1024 * 1024 + 1, type_id=9, stream_id=1)
    with pytest.raises(ProtocolError, match="exceeds"):
        ChunkStreamDecoder(limits).feed(header)


def test_too_many_chunk_streams() -> None:
    limits = ChunkLimits(max_chunk_streams=8)
    data = b"".join(chunk(0, cs, b"x", length=1, type_id=8, stream_id=1) for cs in range(3, 11))
    assert len(ChunkStreamDecoder(limits).feed(data)) == 8
    with pytest.raises(ProtocolError, match="too many chunk streams"):
        ChunkStreamDecoder(limits).feed(data + chunk(0, 11, b"x", length=1, type_id=8))


def test_pending_bytes_of_incomplete_messages_are_bounded() -> None:
    # Incomplete messages left over from a feed hold a buffer of their announced length: that counts.
    limits = ChunkLimits(max_pending_bytes=20_000, max_message_length=8000)
    decoder = ChunkStreamDecoder(limits)
    decoder.feed(set_chunk_size(4096))
    first_two = b"".join(chunk(0, cs, b"x" * 4096, length=8000, type_id=9, stream_id=1) for cs in (3, 4))
    decoder.feed(first_two)
    assert decoder.pending_bytes == 8192
    assert decoder.assembled_bytes == 16_000
    with pytest.raises(ProtocolError, match="incomplete messages"):
        decoder.feed(chunk(0, 5, b"x" * 4096, length=8000, type_id=9, stream_id=1))


def test_announcing_big_messages_cannot_reserve_more_than_the_pending_limit() -> None:
    # One chunk each of many 8 MB messages: their buffers, not the few bytes sent, are what counts.
    decoder = ChunkStreamDecoder()
    decoder.feed(set_chunk_size(4096))
    decoder.feed(chunk(0, 3, b"x" * 4096, length=8 * 1024 * 1024, type_id=9, stream_id=1))
    decoder.feed(chunk(0, 4, b"x" * 4096, length=8 * 1024 * 1024, type_id=9, stream_id=1))
    with pytest.raises(ProtocolError, match="incomplete messages"):
        decoder.feed(chunk(0, 5, b"x" * 4096, length=8 * 1024 * 1024, type_id=9, stream_id=1))


def test_the_shared_budget_bounds_every_connection_together() -> None:
    budget = BufferBudget(20_000)
    first, second = ChunkStreamDecoder(budget=budget), ChunkStreamDecoder(budget=budget)
    first.feed(chunk(0, 6, b"x" * 128, length=15_000, type_id=9, stream_id=1))
    assert budget.used == 15_000
    with pytest.raises(ProtocolError, match="buffers are full"):
        second.feed(chunk(0, 6, b"x" * 128, length=15_000, type_id=9, stream_id=1))
    first.close()  # its connection is gone: its buffer goes back
    assert budget.used == 0
    third = ChunkStreamDecoder(budget=budget)
    third.feed(chunk(0, 6, b"x" * 128, length=15_000, type_id=9, stream_id=1))
    assert budget.used == 15_000


def test_a_completed_message_gives_its_buffer_back() -> None:
    budget = BufferBudget(1 << 20)
    decoder = ChunkStreamDecoder(budget=budget)
    payload = bytes(range(256)) * 4
    data = chunk(0, 6, payload[:128], length=len(payload), type_id=9, stream_id=1)
    data += b"".join(chunk(3, 6, payload[i : i + 128]) for i in range(128, len(payload), 128))
    out = []
    for i in range(0, len(data), 50):
        out += decoder.feed(data[i : i + 50])
    assert [m.payload for m in out] == [payload]
    assert budget.used == decoder.assembled_bytes == decoder.pending_bytes == 0


def test_a_trickled_message_costs_the_same_per_byte_whatever_its_size() -> None:
    # 64-byte chunks, each arriving on its own: every byte is copied once into the message's buffer,
    # never re-joined, so the cost per MB does not grow with the message.
    def cpu_per_megabyte(size: int) -> float:
        decoder = ChunkStreamDecoder()
        decoder.feed(set_chunk_size(64))
        pieces = [chunk(0, 6, bytes(64), length=size, type_id=9, stream_id=1)]
        pieces += [b"\xc6" + bytes(64)] * (size // 64 - 1)
        started = time.process_time()
        messages = []
        for piece in pieces:
            messages += decoder.feed(piece)
        assert [len(m.payload) for m in messages] == [size]
        return (time.process_time() - started) / (size / 1e6)

    small, large = cpu_per_megabyte(1 << 20), cpu_per_megabyte(8 << 20)
    assert large <= 0.3
    assert large <= 2 * small + 0.02, (small, large)


def test_an_aggregate_of_too_many_parts_is_refused() -> None:
    body = sub_message(8, 0, b"") * 100
    data = chunk(0, 6, body, length=len(body), type_id=22, stream_id=1)
    decoder = ChunkStreamDecoder(ChunkLimits(max_message_elements=99))
    with pytest.raises(ProtocolError, match="aggregate of more than 99"):
        decoder.feed(set_chunk_size(65536) + data)
    assert (
        len(ChunkStreamDecoder(ChunkLimits(max_message_elements=100)).feed(set_chunk_size(65536) + data))
        == 101
    )


def test_completed_messages_release_their_pending_bytes() -> None:
    decoder = ChunkStreamDecoder()
    decoder.feed(chunk(0, 6, b"x" * 128, length=200, type_id=9, stream_id=1))
    assert decoder.pending_bytes == 128
    decoder.feed(chunk(3, 6, b"x" * 72))
    assert decoder.pending_bytes == 0


def test_unparsed_input_is_at_most_one_chunk() -> None:
    decoder = ChunkStreamDecoder()
    decoder.feed(set_chunk_size(65536))
    header = chunk(0, 6, length=100_000, type_id=9, stream_id=1)
    decoder.feed(header + b"y" * 65535)  # one byte short of the first chunk
    assert decoder.buffered_bytes == len(header) + 65535
    assert decoder.buffered_bytes <= decoder.limits.max_buffered_bytes
    decoder.feed(b"y")
    assert decoder.buffered_bytes == decoder.pending_bytes == 65536


def test_limits_must_be_coherent() -> None:
    with pytest.raises(ValueError, match="max_buffered_bytes"):
        ChunkLimits(max_chunk_size=1 << 20)
    with pytest.raises(ValueError, match="128"):
        ChunkLimits(min_chunk_size=256)


# --- split input and the encoder ----------------------------------------------------------------


def test_any_split_of_the_input_gives_the_same_messages() -> None:
    payload = bytes(range(256)) * 4
    data = set_chunk_size(100)
    data += chunk(0, 300, payload[:100], field=EXT, length=1024, type_id=9, stream_id=1, ext=0x12345678)
    for offset in range(100, 1024, 100):
        data += chunk(3, 300, payload[offset : offset + 100], ext=0x12345678)
    whole = decode(data)
    assert byte_by_byte(data) == whole
    assert whole[-1] == RtmpMessage(300, 9, 1, 0x12345678, payload)


@pytest.mark.parametrize("timestamp", [0, 1000, 0xFFFFFE, 0xFFFFFF, 0x01000000, 0xFFFFFFFF])
@pytest.mark.parametrize("cs_id", [2, 64, 400])
def test_encode_message_round_trips(timestamp: int, cs_id: int) -> None:
    payload = bytes(range(256)) * 20
    data = encode_message(
        chunk_stream_id=cs_id,
        msg_type_id=9,
        msg_stream_id=7,
        timestamp=timestamp,
        payload=payload,
        chunk_size=128,
    )
    assert decode(data) == [RtmpMessage(cs_id, 9, 7, timestamp, payload)]


def spelled_out(
    *, cs_id: int, type_id: int, stream_id: int, timestamp: int, payload: bytes, size: int
) -> bytes:
    """A message chunked field by field as the specification writes it (cs ids below 64)."""
    extended = timestamp >= 0xFFFFFF
    ext = struct.pack(">I", timestamp) if extended else b""
    header = (
        bytes([cs_id])
        + (0xFFFFFF if extended else timestamp).to_bytes(3, "big")
        + len(payload).to_bytes(3, "big")
        + bytes([type_id])
        + struct.pack("<I", stream_id)
        + ext
    )
    chunks = [payload[offset : offset + size] for offset in range(0, max(len(payload), 1), size)]
    return header + (bytes([0xC0 | cs_id]) + ext).join(chunks)


@pytest.mark.parametrize("length", [0, 1, 4095, 4096, 4097, 8192, 25_001])
@pytest.mark.parametrize("timestamp", [0, 0x123456, 0xFFFFFF, 0x89ABCDEF])
@pytest.mark.parametrize("stream_id", [1, 0x01020304])
def test_encode_message_is_the_specified_bytes(length: int, timestamp: int, stream_id: int) -> None:
    """Byte for byte: the packed header, the one-chunk case and the continuation chunks."""
    payload = bytes(i % 251 for i in range(length))
    data = encode_message(chunk_stream_id=7, msg_type_id=9, msg_stream_id=stream_id, timestamp=timestamp,
                          payload=payload, chunk_size=4096)  # fmt: skip
    assert type(data) is bytes
    assert data == spelled_out(cs_id=7, type_id=9, stream_id=stream_id, timestamp=timestamp,
                               payload=payload, size=4096)  # fmt: skip


def test_several_messages_chunk_as_each_one_alone() -> None:
    messages = [
        (7, 9, 0xFFFFFF, bytes(range(256)) * 40),  # extended timestamp, continuation chunks
        (6, 8, 1000, b"\xaf\x01" + bytes(300)),  # one chunk, right after
        (400, 9, 2000, bytes(9000)),  # a three-byte basic header
        (7, 9, 3000, b""),
    ]
    pieces = chunk_messages(messages, msg_stream_id=3, chunk_size=128)
    assert b"".join(pieces) == b"".join(
        encode_message(chunk_stream_id=cs_id, msg_type_id=type_id, msg_stream_id=3, timestamp=timestamp,
                       payload=payload, chunk_size=128)
        for cs_id, type_id, timestamp, payload in messages
    )  # fmt: skip
    assert decode(b"".join(pieces)) == [RtmpMessage(c, t, 3, ts, p) for c, t, ts, p in messages]
    with pytest.raises(ValueError, match="chunk stream id"):
        chunk_messages([(1, 9, 0, b"x")], msg_stream_id=1, chunk_size=128)


# --- push / pull --------------------------------------------------------------------------------


def media_message(timestamp: int, size: int) -> bytes:
    return encode_message(
        chunk_stream_id=6,
        msg_type_id=9,
        msg_stream_id=1,
        timestamp=timestamp,
        payload=bytes(size),
        chunk_size=128,
    )


def test_pull_hands_out_at_most_max_messages_per_call() -> None:
    decoder = ChunkStreamDecoder()
    data = b"".join(media_message(i, 10) for i in range(7))
    decoder.push(data)
    batches = [decoder.pull(3) for _ in range(4)]
    assert [stamps(batch) for batch in batches] == [[0, 1, 2], [3, 4, 5], [6], []]
    assert decoder.bytes_decoded == decoder.bytes_received == len(data)
    assert decoder.buffered_bytes == 0


def test_pull_decodes_at_most_max_bytes_but_always_one_chunk() -> None:
    decoder = ChunkStreamDecoder()
    data = media_message(5, 1000)  # eight chunks: 12 + 128 bytes, then seven of 1 + at most 128
    decoder.push(data)
    assert decoder.pull(max_bytes=1) == []
    assert decoder.bytes_decoded == 12 + 128
    assert decoder.pull(max_bytes=300) == []
    assert decoder.bytes_decoded == 12 + 128 + 2 * 129
    (message,) = decoder.pull()
    assert (message.timestamp, len(message.payload)) == (5, 1000)
    assert decoder.bytes_decoded == len(data)


def test_push_keeps_the_undecoded_rest_of_an_incomplete_chunk() -> None:
    decoder = ChunkStreamDecoder()
    data = media_message(1, 100) + media_message(2, 100)
    decoder.push(data[:150])
    assert stamps(decoder.pull()) == [1]
    assert decoder.buffered_bytes == 150 - 112
    decoder.push(data[150:])
    assert stamps(decoder.pull()) == [2]
    assert decoder.buffered_bytes == 0


# --- decoding in place, from the caller's buffer -------------------------------------------------


def test_decode_in_place_keeps_half_messages_when_the_buffer_is_reused() -> None:
    decoder = ChunkStreamDecoder()
    data = media_message(7, 1000)  # 8 chunks
    buffer = bytearray(4096)
    first = 500  # ends in the middle of the fourth chunk
    buffer[:first] = data[:first]
    messages, reached = decoder.decode(buffer, 0, first)
    assert messages == []
    assert reached == 12 + 128 + 2 * 129
    # The caller moves the rest to the front and overwrites everything after it, as a receive buffer does.
    rest = data[reached:]
    buffer[:] = bytes(len(buffer))
    buffer[: len(rest)] = rest
    buffer[len(rest) :] = b"\xee" * (len(buffer) - len(rest))
    messages, reached = decoder.decode(memoryview(buffer), 0, len(rest))
    assert reached == len(rest)
    assert [(m.timestamp, m.payload) for m in messages] == [(7, bytes(1000))]
    assert decoder.pending_bytes == 0


def test_continuation_run_stops_at_another_chunk_stream_and_at_the_budget() -> None:
    video = bytes(range(250)) * 4  # 1000 bytes: 8 chunks of 128
    audio = b"A" * 300  # 3 chunks
    data = chunk(0, 6, video[:128], field=100, length=1000, type_id=9, stream_id=1)
    data += b"".join(chunk(3, 6, video[i : i + 128]) for i in range(128, 512, 128))
    data += chunk(0, 4, audio[:128], field=90, length=300, type_id=8, stream_id=1)
    data += chunk(3, 6, video[512:640])
    data += chunk(3, 4, audio[128:256]) + chunk(3, 4, audio[256:])
    data += b"".join(chunk(3, 6, video[i : i + 128]) for i in range(640, 1000, 128))
    expected = [(4, 90, audio), (6, 100, video)]
    assert [(m.chunk_stream_id, m.timestamp, m.payload) for m in decode(data)] == expected
    for budget in (1, 129, 300, 700):
        decoder = ChunkStreamDecoder()
        decoder.push(data)
        out: list[RtmpMessage] = []
        while decoder.bytes_decoded < len(data):
            before = decoder.bytes_decoded
            out += decoder.pull(max_bytes=budget)
            # Within the budget, or one chunk (at most a 12-byte header and 128 bytes) beyond an empty one.
            assert 0 < decoder.bytes_decoded - before <= max(budget, 12 + 128)
        assert [(m.chunk_stream_id, m.timestamp, m.payload) for m in out] == expected
