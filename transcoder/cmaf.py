"""Fragmented MP4 (CMAF) as ffmpeg writes it to a pipe: top-level boxes, the init segment's tracks,
and each fragment's start, duration and whether it begins with a keyframe. Pure, no I/O.

ffmpeg's mp4 muxer with `empty_moov+default_base_moof` writes `ftyp` and `moov` (the init
segment), then one `moof` + `mdat` pair per fragment. `BoxReader` cuts the byte stream into
whole top-level boxes with a bound on their size; `parse_init` reads each track's id, kind and
timescale (and the `trex` defaults); `parse_fragment` reads a `moof`'s `tfdt` and `trun` boxes.
Only the fields the packager needs are read (ISO/IEC 14496-12: 8.8.7 tfhd, 8.8.8 trun, 8.8.12 tfdt).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

# A fragment of a few hundred milliseconds of 1080p is well below this; anything larger is refused.
MAX_BOX_BYTES = 64 * 1024 * 1024
HEADER = struct.Struct(">I4s")
CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"mvex", b"moof", b"traf"}

# tfhd flags
TFHD_BASE_DATA_OFFSET = 0x01
TFHD_SAMPLE_DESCRIPTION = 0x02
TFHD_DEFAULT_DURATION = 0x08
TFHD_DEFAULT_SIZE = 0x10
TFHD_DEFAULT_FLAGS = 0x20
# trun flags
TRUN_DATA_OFFSET = 0x01
TRUN_FIRST_SAMPLE_FLAGS = 0x04
TRUN_DURATION = 0x100
TRUN_SIZE = 0x200
TRUN_FLAGS = 0x400
TRUN_CTS = 0x800
# sample flags: sample_is_non_sync_sample
NON_SYNC = 0x00010000


class CmafError(ValueError):
    """The bytes are not the fragmented MP4 expected."""


@dataclass(frozen=True, slots=True)
class Box:
    type: bytes
    data: bytes  # the whole box, header included

    @property
    def payload(self) -> bytes:
        return self.data[_header_size(self.data) :]


@dataclass(frozen=True, slots=True)
class Track:
    track_id: int
    kind: str  # "vide", "soun", ...
    timescale: int
    default_duration: int = 0
    default_flags: int = 0


@dataclass(frozen=True, slots=True)
class InitInfo:
    tracks: dict[int, Track]

    @property
    def timing_track(self) -> Track:
        """The track whose samples time the parts: the video, else the first."""
        for track in self.tracks.values():
            if track.kind == "vide":
                return track
        if not self.tracks:
            raise CmafError("the init segment has no track")
        return next(iter(self.tracks.values()))


@dataclass(frozen=True, slots=True)
class FragmentInfo:
    start: float  # seconds: the timing track's base media decode time
    duration: float  # seconds of the timing track's samples in this fragment
    keyframe: bool  # the timing track's first sample is a sync sample


@dataclass(slots=True)
class BoxReader:
    """Bytes in, whole top-level boxes out; at most `max_box_bytes` buffered for one box."""

    max_box_bytes: int = MAX_BOX_BYTES
    _buffer: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[Box]:
        self._buffer += data
        boxes: list[Box] = []
        while True:
            size = self._next_size()
            if size is None or len(self._buffer) < size:
                return boxes
            boxes.append(Box(bytes(self._buffer[4:8]), bytes(self._buffer[:size])))
            del self._buffer[:size]

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def _next_size(self) -> int | None:
        if len(self._buffer) < 8:
            return None
        size = int.from_bytes(self._buffer[:4], "big")
        if size == 1:
            if len(self._buffer) < 16:
                return None
            size = int.from_bytes(self._buffer[8:16], "big")
        if size < 8 or size > self.max_box_bytes:
            raise CmafError(f"a top-level box of {size} bytes")
        return size


def _header_size(data: bytes) -> int:
    return 16 if int.from_bytes(data[:4], "big") == 1 else 8


def iter_boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[bytes, bytes]]:
    """(type, payload) of each box in `data[start:end]`."""
    end = len(data) if end is None else end
    position = start
    while position + 8 <= end:
        size, kind = HEADER.unpack_from(data, position)
        header = 8
        if size == 1:
            if position + 16 > end:
                raise CmafError("truncated box header")
            size = int.from_bytes(data[position + 8 : position + 16], "big")
            header = 16
        elif size == 0:
            size = end - position
        if size < header or position + size > end:
            raise CmafError(f"box {kind!r} overruns its parent")
        yield kind, data[position + header : position + size]
        position += size


def _find(payload: bytes, *path: bytes) -> list[bytes]:
    """Payloads of the boxes at `path` below `payload` (every match at the last level)."""
    found = [payload]
    for kind in path:
        found = [child for parent in found for child_kind, child in iter_boxes(parent) if child_kind == kind]
    return found


def parse_init(moov: bytes) -> InitInfo:
    """The tracks of an init segment (`moov` box payload)."""
    defaults: dict[int, tuple[int, int]] = {}
    for trex in _find(moov, b"mvex", b"trex"):
        if len(trex) < 24:
            raise CmafError("short trex")
        track_id, _description, duration, _size, flags = struct.unpack_from(">IIIII", trex, 4)
        defaults[track_id] = (duration, flags)
    tracks: dict[int, Track] = {}
    for trak in _find(moov, b"trak"):
        tkhd = _find(trak, b"tkhd")
        mdhd = _find(trak, b"mdia", b"mdhd")
        hdlr = _find(trak, b"mdia", b"hdlr")
        if not (tkhd and mdhd and hdlr):
            raise CmafError("a track without tkhd, mdhd or hdlr")
        track_id = struct.unpack_from(">I", tkhd[0], 20 if tkhd[0][0] == 1 else 12)[0]
        timescale = struct.unpack_from(">I", mdhd[0], 20 if mdhd[0][0] == 1 else 12)[0]
        if timescale <= 0:
            raise CmafError("a track with timescale 0")
        kind = hdlr[0][8:12].decode("latin-1")
        duration, flags = defaults.get(track_id, (0, 0))
        tracks[track_id] = Track(track_id, kind, timescale, duration, flags)
    return InitInfo(tracks)


def parse_fragment(moof: bytes, init: InitInfo) -> FragmentInfo:
    """The timing track's start, duration and first-sample sync flag in a `moof` payload."""
    timing = init.timing_track
    for traf in _find(moof, b"traf"):
        tfhd = _find(traf, b"tfhd")
        if not tfhd or len(tfhd[0]) < 8:
            raise CmafError("a traf without tfhd")
        flags = int.from_bytes(tfhd[0][1:4], "big")
        track_id = struct.unpack_from(">I", tfhd[0], 4)[0]
        if track_id != timing.track_id:
            continue
        default_duration, default_flags = _tfhd_defaults(tfhd[0], flags, timing)
        tfdt = _find(traf, b"tfdt")
        if not tfdt:
            raise CmafError("a traf without tfdt")
        base = (
            struct.unpack_from(">Q", tfdt[0], 4)[0]
            if tfdt[0][0] == 1
            else struct.unpack_from(">I", tfdt[0], 4)[0]
        )
        total = 0
        keyframe: bool | None = None
        for trun in _find(traf, b"trun"):
            duration, first_flags = _trun_summary(trun, default_duration, default_flags)
            total += duration
            if keyframe is None and first_flags is not None:
                keyframe = not first_flags & NON_SYNC
        return FragmentInfo(
            start=base / timing.timescale, duration=total / timing.timescale, keyframe=bool(keyframe)
        )
    raise CmafError(f"a fragment without track {timing.track_id}")


def _tfhd_defaults(tfhd: bytes, flags: int, track: Track) -> tuple[int, int]:
    position = 8
    if flags & TFHD_BASE_DATA_OFFSET:
        position += 8
    if flags & TFHD_SAMPLE_DESCRIPTION:
        position += 4
    duration, sample_flags = track.default_duration, track.default_flags
    if flags & TFHD_DEFAULT_DURATION:
        duration = struct.unpack_from(">I", tfhd, position)[0]
        position += 4
    if flags & TFHD_DEFAULT_SIZE:
        position += 4
    if flags & TFHD_DEFAULT_FLAGS:
        sample_flags = struct.unpack_from(">I", tfhd, position)[0]
    return duration, sample_flags


def _trun_summary(trun: bytes, default_duration: int, default_flags: int) -> tuple[int, int | None]:
    """(sum of sample durations, flags of the first sample or None when it has no sample)."""
    if len(trun) < 8:
        raise CmafError("short trun")
    flags = int.from_bytes(trun[1:4], "big")
    count = struct.unpack_from(">I", trun, 4)[0]
    position = 8
    if flags & TRUN_DATA_OFFSET:
        position += 4
    first_flags: int | None = None
    if flags & TRUN_FIRST_SAMPLE_FLAGS:
        first_flags = struct.unpack_from(">I", trun, position)[0]
        position += 4
    fields = [bit for bit in (TRUN_DURATION, TRUN_SIZE, TRUN_FLAGS, TRUN_CTS) if flags & bit]
    entry = 4 * len(fields)
    if position + entry * count > len(trun):
        raise CmafError("trun overruns its box")
    total = 0
    for index in range(count):
        values = dict(zip(fields, struct.unpack_from(f">{len(fields)}I", trun, position), strict=True))
        position += entry
        total += values.get(TRUN_DURATION, default_duration)
        if index == 0 and first_flags is None:
            first_flags = values.get(TRUN_FLAGS, default_flags)
    if count == 0:
        first_flags = None
    return total, first_flags
