"""Fragmented MP4 box reading, on boxes built here the way ffmpeg's mp4 muxer writes them."""

from __future__ import annotations

import struct

import pytest

from transcoder.cmaf import BoxReader, CmafError, parse_fragment, parse_init


def box(kind: bytes, *payloads: bytes) -> bytes:
    payload = b"".join(payloads)
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def full(kind: bytes, version: int, flags: int, payload: bytes) -> bytes:
    return box(kind, bytes([version]) + flags.to_bytes(3, "big") + payload)


def track(track_id: int, handler: bytes, timescale: int) -> bytes:
    tkhd = full(b"tkhd", 0, 3, struct.pack(">III", 0, 0, track_id) + bytes(68))
    mdhd = full(b"mdhd", 0, 0, struct.pack(">IIII", 0, 0, timescale, 0) + bytes(4))
    hdlr = full(b"hdlr", 0, 0, bytes(4) + handler + bytes(12) + b"\x00")
    return box(b"trak", tkhd, box(b"mdia", mdhd, hdlr))


def moov() -> bytes:
    trex = full(b"trex", 0, 0, struct.pack(">IIIII", 1, 1, 512, 0, 0x00010000))
    return box(b"moov", full(b"mvhd", 0, 0, bytes(96)), track(2, b"soun", 48000), track(1, b"vide", 15360),
               box(b"mvex", trex))  # fmt: skip


def moof(*, track_id: int, decode_time: int, durations: list[int] | None, first_flags: int | None) -> bytes:
    tfhd = full(b"tfhd", 0, 0x020000, struct.pack(">I", track_id))
    tfdt = full(b"tfdt", 1, 0, struct.pack(">Q", decode_time))
    flags = 0x001 | 0x200 | (0x004 if first_flags is not None else 0) | (0x100 if durations else 0)
    count = len(durations) if durations else 3
    body = struct.pack(">Ii", count, 0) + (struct.pack(">I", first_flags) if first_flags is not None else b"")
    for index in range(count):
        body += (struct.pack(">I", durations[index]) if durations else b"") + struct.pack(">I", 1000)
    return box(b"moof", full(b"mfhd", 0, 0, struct.pack(">I", 1)),
               box(b"traf", tfhd, tfdt, full(b"trun", 0, flags, body)))  # fmt: skip


def test_the_reader_gives_whole_boxes_whatever_the_chunks() -> None:
    data = box(b"ftyp", b"iso6" * 3) + moov() + box(b"mdat", b"x" * 1000)
    reader = BoxReader()
    boxes = []
    for start in range(0, len(data), 7):
        boxes.extend(reader.feed(data[start : start + 7]))
    assert [b.type for b in boxes] == [b"ftyp", b"moov", b"mdat"]
    assert b"".join(b.data for b in boxes) == data
    assert reader.pending == 0


def test_a_box_above_the_bound_is_refused() -> None:
    with pytest.raises(CmafError):
        BoxReader(max_box_bytes=1024).feed(struct.pack(">I4s", 4096, b"mdat"))
    with pytest.raises(CmafError):
        BoxReader().feed(struct.pack(">I4s", 3, b"mdat"))


def test_the_init_segment_names_the_video_track_as_timing() -> None:
    init = parse_init(moov()[8:])  # the payload
    assert init.timing_track.track_id == 1
    assert init.timing_track.timescale == 15360
    assert init.tracks[1].default_duration == 512
    assert init.tracks[2].kind == "soun"


def test_a_fragment_gives_its_start_duration_and_keyframe() -> None:
    init = parse_init(moov()[8:])
    keyframe = moof(track_id=1, decode_time=30720, durations=[512, 512, 512], first_flags=0x02000000)
    info = parse_fragment(keyframe[8:], init)
    assert (info.start, info.duration, info.keyframe) == (2.0, 0.1, True)
    # No per-sample durations: the trex default; no first-sample flags: trex's non-sync default.
    plain = moof(track_id=1, decode_time=15360, durations=None, first_flags=None)
    info = parse_fragment(plain[8:], init)
    assert (info.start, info.duration, info.keyframe) == (1.0, 0.1, False)


def test_a_fragment_without_the_timing_track_is_refused() -> None:
    init = parse_init(moov()[8:])
    with pytest.raises(CmafError):
        parse_fragment(moof(track_id=2, decode_time=0, durations=[1024], first_flags=0)[8:], init)
