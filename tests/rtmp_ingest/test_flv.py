"""The ingest's FLV writing and media figures, and the recording sink on a real file."""

from __future__ import annotations

import struct
from pathlib import Path

from rtmp_ingest.media_stats import MediaStats
from rtmp_ingest.sinks import FlvRecordingSink
from tidecast_common import flv


def read_tags(data: bytes) -> list[tuple[int, int, bytes]]:
    """(type, 32-bit timestamp, body) of every tag, checking each PreviousTagSize."""
    assert data[:3] == b"FLV"
    pos = struct.unpack_from(">I", data, 5)[0] + 4
    tags = []
    while pos < len(data):
        type_size, ts_field = struct.unpack_from(">II", data, pos)
        size = type_size & 0xFFFFFF
        body = data[pos + 11 : pos + 11 + size]
        assert struct.unpack_from(">I", data, pos + 11 + size)[0] == 11 + size
        tags.append((type_size >> 24, (ts_field >> 8) | ((ts_field & 0xFF) << 24), body))
        pos += 11 + size + 4
    return tags


def test_tag_layout_splits_the_timestamp_24_plus_8() -> None:
    data = flv.tag(flv.TAG_VIDEO, 0x12345678, b"\x17\x01body")
    assert data[:11] == bytes([9, 0, 0, 6, 0x34, 0x56, 0x78, 0x12, 0, 0, 0])
    assert data[11:17] == b"\x17\x01body"
    assert data[17:] == struct.pack(">I", 17)


def test_tag_start_and_file_end_frame_tags_as_tag_does() -> None:
    bodies = [(flv.TAG_VIDEO, 0x12345678, b"\x17\x01body"), (flv.TAG_AUDIO, 40, b"\xaf\x01aac")]
    pieces = [flv.FILE_SIGNATURE]
    previous = None
    for tag_type, timestamp, body in bodies:
        pieces += [flv.tag_start(previous, tag_type, timestamp, len(body)), body]
        previous = len(body)
    pieces.append(flv.file_end(previous))
    assert b"".join(pieces) == flv.FILE_HEADER + b"".join(flv.tag(*args) for args in bodies)
    assert flv.FILE_SIGNATURE + flv.file_end(None) == flv.FILE_HEADER


def test_media_stats_over_the_window() -> None:
    stats = MediaStats(window_s=5)
    stats.add(flv.TAG_VIDEO, 0, b"\x17\x00" + bytes(40))  # AVC sequence header: not a frame
    for n in range(600):  # 20 s of 30 fps video, 1000-byte frames, a keyframe every 2 s
        stats.add(flv.TAG_VIDEO, n * 1000 // 30, (b"\x17\x01" if n % 60 == 0 else b"\x27\x01") + bytes(998))
    snapshot = stats.snapshot()
    assert snapshot["fps"] == 30.0
    assert snapshot["keyframe_interval"] == 2.0
    assert snapshot["bitrate_kbps"] == 240.0  # 30 kB/s
    assert len(stats._seconds) == 5  # only the window is kept


def test_media_stats_before_a_whole_second_and_across_a_gap() -> None:
    stats = MediaStats(window_s=5)
    for n in range(10):
        stats.add(flv.TAG_VIDEO, n * 40, b"\x27\x01" + bytes(498))
    assert stats.snapshot()["fps"] == 10.0  # the second in progress, while no whole one exists
    stats.add(flv.TAG_AUDIO, 60_000, bytes(100))  # a minute later: the old seconds left the window
    stats.add(flv.TAG_AUDIO, 61_000, bytes(100))
    assert stats.snapshot() == {"bitrate_kbps": 0.8, "fps": 0.0, "keyframe_interval": 0.0}


def test_media_stats_stay_bounded_under_a_flood_at_one_timestamp() -> None:
    stats = MediaStats(window_s=5)
    for _ in range(20_000):
        stats.add(flv.TAG_VIDEO, 1000, b"\x27\x01" + bytes(98))
    assert len(stats._seconds) == 0
    assert stats.snapshot()["bitrate_kbps"] == round(20_000 * 100 * 8 / 1000, 1)


async def test_recording_sink_writes_every_tag_in_batches(tmp_path: Path) -> None:
    path = tmp_path / "rec" / "abcdefgh01234567.flv"
    sink = FlvRecordingSink(path=path, flush_bytes=64 * 1024)
    await sink.on_metadata({"width": 1920, "height": 1080, "encoder": "Lavf"})
    bodies = [bytes([0x17 if i % 30 == 0 else 0x27]) + bytes([i % 256]) * 5000 for i in range(40)]
    for i, body in enumerate(bodies):
        await sink.feed(flv.TAG_VIDEO, 33 * i, body)
        if i == 20:  # 21 tags of ~5 KB: one batch of 64 KiB has gone to disk, the rest is held
            assert 64 * 1024 <= path.stat().st_size < 21 * 5000
    await sink.stop()
    tags = read_tags(path.read_bytes())
    assert tags[0][0] == flv.TAG_SCRIPT
    assert [(t, ts, body) for t, ts, body in tags[1:]] == [(9, 33 * i, b) for i, b in enumerate(bodies)]
    assert sink.tags_written == 40
