"""Property tests: any input gives messages or a ProtocolError, with memory bounded."""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtmp_ingest.chunks import ChunkLimits, ChunkStreamDecoder, ProtocolError, RtmpMessage
from tests.rtmp_ingest.rtmp_bytes import CompressingEncoder, Msg, set_chunk_size

SMALL_LIMITS = ChunkLimits(max_message_length=50_000, max_pending_bytes=120_000, max_chunk_streams=8)
PROPERTY_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def feed_all(decoder: ChunkStreamDecoder, pieces: list[bytes]) -> list[RtmpMessage]:
    out: list[RtmpMessage] = []
    bound = decoder.limits.max_buffered_bytes + decoder.limits.max_pending_bytes
    for piece in pieces:
        out += decoder.feed(piece)
        assert decoder.buffered_bytes <= bound
        assert decoder.pending_bytes <= decoder.limits.max_pending_bytes
    return out


@PROPERTY_SETTINGS
@given(st.lists(st.binary(max_size=600), max_size=20))
def test_arbitrary_bytes_give_messages_or_protocol_error(pieces: list[bytes]) -> None:
    decoder = ChunkStreamDecoder(SMALL_LIMITS)
    try:
        messages = feed_all(decoder, pieces)
    except ProtocolError:
        return
    for message in messages:
        assert 0 <= message.timestamp <= 0xFFFFFFFF
        assert len(message.payload) <= SMALL_LIMITS.max_message_length


# Byte soup that is mostly valid headers reaches deeper states than uniform random bytes.
header_like = st.one_of(
    st.binary(min_size=1, max_size=40),
    st.sampled_from(
        [b"\x02", b"\x03", b"\x43", b"\x83", b"\xc3", b"\x00\x40", b"\x01\xff\xff", b"\xff\xff\xff"]
    ),
    st.integers(min_value=0, max_value=0xFFFFFF).map(lambda n: n.to_bytes(3, "big")),
    st.sampled_from([set_chunk_size(64), set_chunk_size(4096), set_chunk_size(1)]),
)


@PROPERTY_SETTINGS
@given(st.lists(header_like, max_size=60), st.integers(min_value=1, max_value=64))
def test_header_like_garbage_gives_messages_or_protocol_error(parts: list[bytes], step: int) -> None:
    data = b"".join(parts)
    decoder = ChunkStreamDecoder(SMALL_LIMITS)
    with contextlib.suppress(ProtocolError):
        feed_all(decoder, [data[i : i + step] for i in range(0, len(data), step)])


messages_strategy = st.lists(
    st.builds(
        Msg,
        cs_id=st.sampled_from([3, 4, 6, 70, 400]),
        type_id=st.sampled_from([8, 9, 18]),
        stream_id=st.sampled_from([1, 1, 1, 2]),
        timestamp=st.one_of(
            st.integers(min_value=0, max_value=5000),
            st.integers(min_value=0xFFFF00, max_value=0x1000100),
            st.integers(min_value=0xFFFFFF00, max_value=0xFFFFFFFF),
        ),
        payload=st.binary(max_size=700),
    ),
    max_size=25,
)


@PROPERTY_SETTINGS
@given(
    messages_strategy,
    st.sampled_from([64, 128, 200, 4096]),
    st.lists(st.integers(min_value=1, max_value=300), min_size=1, max_size=30),
)
def test_valid_streams_decode_exactly_whatever_the_read_boundaries(
    messages: list[Msg], chunk_size: int, cuts: list[int]
) -> None:
    # Per chunk stream, timestamps must not go backwards for delta headers: sort them like a muxer.
    ordered: list[Msg] = []
    last: dict[int, int] = {}
    for msg in messages:
        ts = max(msg.timestamp, last.get(msg.cs_id, 0))
        last[msg.cs_id] = ts
        ordered.append(Msg(msg.cs_id, msg.type_id, msg.stream_id, ts, msg.payload))
    encoder = CompressingEncoder(chunk_size=chunk_size)
    data = set_chunk_size(chunk_size) + b"".join(encoder.encode(msg) for msg in ordered)

    pieces: list[bytes] = []
    pos = 0
    i = 0
    while pos < len(data):
        size = cuts[i % len(cuts)]
        pieces.append(data[pos : pos + size])
        pos += size
        i += 1

    decoded = feed_all(ChunkStreamDecoder(), pieces)
    assert decoded[0].msg_type_id == 1
    assert [
        Msg(m.chunk_stream_id, m.msg_type_id, m.msg_stream_id, m.timestamp, m.payload) for m in decoded[1:]
    ] == ordered
