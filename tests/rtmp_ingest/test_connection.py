"""The sans-IO RTMP connection: bytes in, events out, replies as bytes, no sockets and no clock."""

from __future__ import annotations

import struct

import pytest

from rtmp_ingest.chunks import ChunkStreamDecoder, ProtocolError, RtmpMessage
from rtmp_ingest.connection import (
    AcceptConnect,
    AcceptCreateStream,
    Closed,
    Connect,
    ConnectionLimits,
    CreateStream,
    Media,
    Metadata,
    Publish,
    RejectConnect,
    RejectPublish,
    RtmpConnection,
    StartPublish,
    State,
    StopPublish,
)
from tests.rtmp_ingest.rtmp_bytes import (
    CONNECT,
    CREATE_STREAM,
    PUBLISH,
    chunk,
    command,
    handshake_bytes,
    media,
    publishing_connection,
    set_chunk_size,
)
from tidecast_common.amf0 import decode_all, encode_values


def decoded(data: bytes) -> list[RtmpMessage]:
    return ChunkStreamDecoder().feed(data)


def commands(data: bytes) -> list[list[object]]:
    return [decode_all(m.payload) for m in decoded(data) if m.msg_type_id == 20]


def after_handshake(limits: ConnectionLimits | None = None) -> RtmpConnection:
    connection = RtmpConnection(limits)
    connection.receive_data(handshake_bytes())
    assert connection.next_event() is None
    connection.data_to_send()
    return connection


def test_handshake_then_the_whole_publish_sequence() -> None:
    connection = RtmpConnection(random_bytes=lambda n: b"r" * n)
    data = handshake_bytes()
    connection.receive_data(data[:1000])
    assert connection.next_event() is None
    assert connection.data_to_send() == b""
    connection.receive_data(data[1000:])
    assert connection.next_event() is None
    s0s1s2 = connection.data_to_send()
    assert s0s1s2 == b"\x03" + bytes(8) + b"r" * 1528 + data[1:1537]
    assert connection.state is State.AWAIT_CONNECT

    connection.receive_data(CONNECT + command("releaseStream", 2, None, "key") + CREATE_STREAM + PUBLISH)
    assert connection.next_event() == Connect(
        app="streaming", transaction_id=1.0, tc_url="rtmp://127.0.0.1/streaming"
    )
    reply = connection.send(AcceptConnect())
    assert connection.state is State.CONNECTED
    assert connection.next_event() == CreateStream(transaction_id=2.0)
    assert commands(connection.send(AcceptCreateStream())) == [["_result", 2.0, None, 1.0]]
    assert connection.state is State.STREAM
    assert connection.next_event() == Publish(name="key", stream_id=1, transaction_id=3.0)
    start = connection.send(StartPublish("Publishing abc"))
    assert connection.state is State.PUBLISHING
    assert connection.next_event() is None

    control = [(m.msg_type_id, m.payload) for m in decoded(reply) if m.msg_type_id != 20]
    window = struct.pack(">I", connection.limits.ack_window)  # the window announced is the one kept
    assert control == [(5, window), (6, window + b"\x02"), (4, bytes(6)), (1, struct.pack(">I", 8192))]
    assert commands(reply)[0][:2] == ["_result", 1.0]
    assert commands(reply)[0][3]["code"] == "NetConnection.Connect.Success"
    parsed = ChunkStreamDecoder()
    parsed.chunk_size = 8192
    begin, status = parsed.feed(start)
    assert (begin.msg_type_id, begin.payload) == (4, struct.pack(">HI", 0, 1))
    assert (status.msg_stream_id, decode_all(status.payload)[3]["code"]) == (1, "NetStream.Publish.Start")

    connection.receive_data(media(6, 9, 40, b"\x17\x01frame") + media(4, 8, 41, b"\xafaudio"))
    assert connection.next_event() == Media(9, 40, b"\x17\x01frame")
    assert connection.next_event() == Media(8, 41, b"\xafaudio")
    assert connection.next_event() is None
    connection.receive_data(b"")
    assert connection.next_event() == Closed("closed by peer")
    assert connection.next_event() == Closed("closed by peer")


@pytest.mark.parametrize("transaction_id", [1, 4, 17.0, 123456])
def test_transaction_ids_are_echoed(transaction_id: float) -> None:
    connection = after_handshake()
    connection.receive_data(command("connect", transaction_id, {"app": "streaming"}))
    connection.next_event()
    assert commands(connection.send(AcceptConnect()))[0][1] == float(transaction_id)
    connection.receive_data(command("createStream", transaction_id + 1, None))
    connection.next_event()
    assert commands(connection.send(AcceptCreateStream()))[0][1] == float(transaction_id + 1)


def test_rejected_connect_answers_error_with_its_transaction_id_and_closes() -> None:
    connection = after_handshake()
    connection.receive_data(command("connect", 9, {"app": "/other/"}))
    assert connection.next_event() == Connect(app="other", transaction_id=9.0, tc_url="")
    [answer] = commands(connection.send(RejectConnect("Unknown application")))
    assert answer[:2] == ["_error", 9.0]
    assert answer[3]["code"] == "NetConnection.Connect.Rejected"
    assert connection.state is State.CLOSED
    assert isinstance(connection.next_event(), Closed)


def test_rejected_publish_sends_an_error_status_and_closes() -> None:
    connection = after_handshake()
    connection.receive_data(CONNECT + CREATE_STREAM + PUBLISH)
    connection.next_event()
    connection.send(AcceptConnect())
    connection.next_event()
    connection.send(AcceptCreateStream())
    connection.next_event()
    reply = ChunkStreamDecoder()
    reply.chunk_size = 8192
    [status] = reply.feed(connection.send(RejectPublish("NetStream.Publish.BadName", "Invalid stream key")))
    assert decode_all(status.payload)[3] == {
        "level": "error",
        "code": "NetStream.Publish.BadName",
        "description": "Invalid stream key",
    }
    assert connection.state is State.CLOSED


# --- the transition table -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "state"),
    [
        (PUBLISH, "await_connect"),  # publish before connect
        (CREATE_STREAM, "await_connect"),  # createStream before connect
        (CONNECT + PUBLISH, "connected"),  # publish before createStream
        (CONNECT + CONNECT, "connected"),  # a second connect
        (media(6, 9, 0, b"\x17"), "await_connect"),  # media before anything
    ],
)
def test_out_of_order_commands_are_protocol_errors(sent: bytes, state: str) -> None:
    connection = after_handshake()
    connection.receive_data(sent)

    def answer_every_connect() -> None:
        while (event := connection.next_event()) is not None:
            if isinstance(event, Connect):
                connection.send(AcceptConnect())

    with pytest.raises(ProtocolError, match=state):
        answer_every_connect()


def test_media_before_the_publish_is_granted_is_refused() -> None:
    connection = after_handshake()
    connection.receive_data(CONNECT + CREATE_STREAM + PUBLISH + media(6, 9, 0, b"\x17\x00"))
    for reply in (AcceptConnect(), AcceptCreateStream()):
        connection.next_event()
        connection.send(reply)
    assert isinstance(connection.next_event(), Publish)
    with pytest.raises(ProtocolError, match="Media is not allowed in state stream"):
        connection.next_event()


def test_a_reply_nobody_asked_for_is_refused() -> None:
    connection = after_handshake()
    with pytest.raises(ProtocolError, match="answers nothing"):
        connection.send(AcceptConnect())
    connection.receive_data(CONNECT)
    connection.next_event()
    with pytest.raises(ProtocolError, match="answers nothing"):
        connection.send(StartPublish("x"))


def test_metadata_comes_out_as_its_event() -> None:
    connection = publishing_connection()
    connection.receive_data(media(4, 18, 0, encode_values("@setDataFrame", "onMetaData", {"width": 1280})))
    assert connection.next_event() == Metadata({"width": 1280.0})


def test_commands_an_ingest_ignores_make_no_event() -> None:
    connection = publishing_connection()
    connection.receive_data(command("FCUnpublish", 6, None, "key") + command("deleteStream", 7, None, 1))
    assert connection.next_event() is None


# --- acknowledgements and the window --------------------------------------------------------------


def test_acknowledgements_count_every_byte_after_the_handshake() -> None:
    connection = publishing_connection(ConnectionLimits(ack_window=1000))
    sent = connection.bytes_received
    frames = b"".join(media(4, 8, i, b"a" * 100) for i in range(9))  # 9 * 112 bytes
    connection.receive_data(frames)
    while connection.next_event() is not None:
        pass
    acks = decoded(connection.data_to_send())
    assert [struct.unpack(">I", m.payload)[0] for m in acks] == [sent + len(frames)]
    assert connection.data_to_send() == b""


def test_the_peer_window_replaces_the_announced_one() -> None:
    connection = publishing_connection()
    connection.receive_data(chunk(0, 2, struct.pack(">I", 500), length=4, type_id=5))
    assert connection.next_event() is None
    assert connection.ack_window == 500


# --- budgets before publish -----------------------------------------------------------------------


def test_a_big_message_before_publish_is_refused_at_its_header() -> None:
    connection = after_handshake()
    connection.receive_data(chunk(0, 3, length=64 * 1024 + 1, type_id=20))
    with pytest.raises(ProtocolError, match="exceeds"):
        connection.next_event()


def test_after_the_grant_big_messages_are_allowed() -> None:
    connection = publishing_connection()
    frame = bytes(200_000)
    connection.receive_data(set_chunk_size(65536) + media(6, 9, 0, frame, chunk_size=65536))
    assert connection.next_event() == Media(9, 0, frame)


def test_a_connection_that_never_publishes_is_dropped_long_before_a_megabyte() -> None:
    limits = ConnectionLimits()
    connection = after_handshake(limits)
    small = command("_checkbw", 0, None, "x" * 1000)
    sent = [0]

    def send_until_dropped() -> None:
        while True:
            connection.receive_data(small)
            sent[0] += len(small)
            assert connection.next_event() is None

    with pytest.raises(ProtocolError, match="before a publish"):
        send_until_dropped()
    assert sent[0] <= limits.pre_publish_bytes + len(small)
    assert sent[0] < 1_000_000 // 2


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="positive"):
        ConnectionLimits(ack_window=0)
    with pytest.raises(ValueError, match="pre_publish_message_bytes"):
        ConnectionLimits(pre_publish_message_bytes=16 * 1024 * 1024)
    with pytest.raises(ValueError, match="pre_publish_bytes"):
        ConnectionLimits(pre_publish_bytes=1000)


def test_a_started_publish_can_be_stopped_with_an_error_status() -> None:
    connection = after_handshake()
    connection.receive_data(CONNECT + CREATE_STREAM + PUBLISH)
    for reply in (AcceptConnect(), AcceptCreateStream()):
        connection.next_event()
        connection.send(reply)
    connection.next_event()
    with pytest.raises(ProtocolError, match="StopPublish"):
        connection.send(StopPublish("NetStream.Publish.Rejected", "too early"))
    connection.send(StartPublish("go"))
    reply = ChunkStreamDecoder()
    reply.chunk_size = 8192
    [status] = reply.feed(
        connection.send(StopPublish("NetStream.Publish.Rejected", "Unsupported video codec"))
    )
    assert decode_all(status.payload)[3] == {
        "level": "error",
        "code": "NetStream.Publish.Rejected",
        "description": "Unsupported video codec",
    }
    assert connection.state is State.CLOSED
