"""ReceiveWatermark: SO_RCVLOWAT following the media's byte rate (no sockets)."""

from __future__ import annotations

import socket

from rtmp_ingest.watermark import ReceiveWatermark


class RecordingSocket:
    def __init__(self, *, fail: bool = False) -> None:
        self.lowats: list[int] = []
        self.fail = fail

    def setsockopt(self, level: int, optname: int, value: int, /) -> None:
        assert (level, optname) == (socket.SOL_SOCKET, socket.SO_RCVLOWAT)
        if self.fail:
            raise OSError("socket closed")
        self.lowats.append(value)


def feed(watermark: ReceiveWatermark, *, bytes_per_second: int, seconds: float, start: float = 0.0) -> float:
    """Reads of 1/20 s of media each; returns the time after the last one."""
    now = start
    for i in range(1, round(seconds * 20) + 1):
        now = start + i / 20
        watermark.on_read(bytes_per_second // 20, now)
    return now


def test_the_watermark_is_a_batch_of_the_measured_rate() -> None:
    sock = RecordingSocket()
    watermark = ReceiveWatermark(sock, batch_seconds=0.1)
    feed(watermark, bytes_per_second=750_000, seconds=0.9)
    assert (sock.lowats, watermark.batching) == ([], False)  # no rate known yet
    feed(watermark, bytes_per_second=750_000, seconds=0.2, start=0.9)
    assert sock.lowats == [75_000]
    assert watermark.batching
    assert watermark.late_after == 0.2


def test_the_watermark_follows_the_rate_and_is_bounded() -> None:
    sock = RecordingSocket()
    watermark = ReceiveWatermark(sock, batch_seconds=0.1, max_bytes=100_000, min_bytes=4096)
    now = feed(watermark, bytes_per_second=750_000, seconds=1.05)
    now = feed(watermark, bytes_per_second=800_000, seconds=1.05, start=now)  # within a quarter: kept
    assert sock.lowats == [75_000]
    now = feed(watermark, bytes_per_second=5_000_000, seconds=1.05, start=now)
    assert sock.lowats[-1] == 100_000  # capped
    feed(watermark, bytes_per_second=20_000, seconds=2.1, start=now)
    assert sock.lowats[-1] == 1  # too slow to be worth batching: off
    assert not watermark.batching


def test_a_flush_lets_waiting_bytes_in_and_the_next_read_restores_the_batch() -> None:
    sock = RecordingSocket()
    watermark = ReceiveWatermark(sock, batch_seconds=0.1)
    now = feed(watermark, bytes_per_second=750_000, seconds=1.05)
    watermark.flush()
    assert sock.lowats == [75_000, 1]
    watermark.on_read(1000, now + 0.2)
    assert sock.lowats == [75_000, 1, 75_000]


def test_without_a_socket_or_a_batch_time_nothing_is_set() -> None:
    for watermark in (
        ReceiveWatermark(None, batch_seconds=0.1),
        ReceiveWatermark(RecordingSocket(), batch_seconds=0),
    ):
        feed(watermark, bytes_per_second=750_000, seconds=2)
        watermark.flush()
        assert not watermark.batching


def test_a_failing_socket_turns_batching_off() -> None:
    sock = RecordingSocket(fail=True)
    watermark = ReceiveWatermark(sock, batch_seconds=0.1)
    feed(watermark, bytes_per_second=750_000, seconds=2)
    assert not watermark.batching
    sock.fail = False
    feed(watermark, bytes_per_second=750_000, seconds=2, start=2)
    assert sock.lowats == []
