"""FLV on the ingest side: writing the received tags to a file, and reading the media figures
(bitrate, frame rate, keyframe interval) that go into each heartbeat.

RTMP audio/video message bodies are FLV tag bodies, so muxing is only headers around them.
"""

from __future__ import annotations

import math
import struct
from collections import deque
from collections.abc import Mapping

TAG_AUDIO = 8
TAG_VIDEO = 9
TAG_SCRIPT = 18
MAX_TAG_BODY = 0xFFFFFF
FILE_SIGNATURE = b"FLV\x01\x05" + struct.pack(">I", 9)  # version 1, audio + video, 9-byte header
FILE_HEADER = FILE_SIGNATURE + b"\x00\x00\x00\x00"  # and PreviousTagSize0


_TAG_HEADER = struct.Struct(">II3x")  # type + 24-bit size, 24-bit timestamp + its high byte, stream id 0
_PREVIOUS_TAG_SIZE = struct.Struct(">I")
_TAG_START = struct.Struct(">III3x")  # the previous tag's PreviousTagSize, then this tag's header


def tag(tag_type: int, timestamp_ms: int, body: bytes) -> bytes:
    """One FLV tag with its PreviousTagSize. FLV keeps 32 bits of timestamp, split 24 + 8."""
    size = len(body)
    if size > MAX_TAG_BODY:
        raise ValueError(f"tag body of {size} bytes exceeds the FLV limit")
    ts = timestamp_ms & 0xFFFFFFFF
    header = _TAG_HEADER.pack((tag_type << 24) | size, ((ts & 0xFFFFFF) << 8) | (ts >> 24))
    return header + body + _PREVIOUS_TAG_SIZE.pack(11 + size)


def tag_start(previous_body_size: int | None, tag_type: int, timestamp_ms: int, body_size: int) -> bytes:
    """What goes between the body of the previous tag (None: the file signature) and this tag's body:
    the previous tag's PreviousTagSize and this tag's header. `file_end()` closes the last tag."""
    if body_size > MAX_TAG_BODY:
        raise ValueError(f"tag body of {body_size} bytes exceeds the FLV limit")
    ts = timestamp_ms & 0xFFFFFFFF
    previous = 0 if previous_body_size is None else 11 + previous_body_size
    return _TAG_START.pack(previous, (tag_type << 24) | body_size, ((ts & 0xFFFFFF) << 8) | (ts >> 24))


def file_end(last_body_size: int | None) -> bytes:
    """The last tag's PreviousTagSize (PreviousTagSize0 if there was no tag)."""
    return _PREVIOUS_TAG_SIZE.pack(0 if last_body_size is None else 11 + last_body_size)


def metadata_body(metadata: Mapping[str, object]) -> bytes:
    """onMetaData as an AMF0 ECMA array of the numbers, booleans and strings in `metadata`."""
    entries = b""
    count = 0
    for key, value in metadata.items():
        encoded = _amf0_value(value)
        if encoded is not None:
            name = str(key).encode()[:0xFFFF]
            entries += struct.pack(">H", len(name)) + name + encoded
            count += 1
    return b"\x02\x00\x0aonMetaData" + b"\x08" + struct.pack(">I", count) + entries + b"\x00\x00\x09"


def _amf0_value(value: object) -> bytes | None:
    if isinstance(value, bool):
        return b"\x01" + bytes([value])
    if isinstance(value, int | float) and math.isfinite(value):
        return b"\x00" + struct.pack(">d", float(value))
    if isinstance(value, str):
        raw = value.encode()[:0xFFFF]
        return b"\x02" + struct.pack(">H", len(raw)) + raw
    return None


def is_video_keyframe(body: bytes) -> bool:
    return len(body) > 0 and body[0] >> 4 == 1


def is_codec_header(tag_type: int, body: bytes) -> bool:
    """AVC/HEVC sequence header or AAC AudioSpecificConfig: configuration, not a frame."""
    if len(body) < 2:
        return False
    if tag_type == TAG_VIDEO:
        return body[0] & 0x0F in (7, 12) and body[1] == 0
    return body[0] >> 4 == 10 and body[1] == 0


class MediaStats:
    """Rolling figures over the last `window_s` seconds of media timestamps, in per-second buckets:
    a tag costs a few additions, a snapshot a handful, and the memory is fixed."""

    def __init__(self, *, window_s: int = 5) -> None:
        self._window_s = window_s
        # (media second, bytes, video frames) of the last whole seconds, oldest first.
        self._seconds: deque[tuple[int, int, int]] = deque(maxlen=window_s)
        self._second: int | None = None  # the media second being counted
        self._bytes = 0
        self._frames = 0
        self._last_keyframe_ms: int | None = None
        self._keyframe_interval_ms = 0
        self.total_bytes = 0

    def add(self, tag_type: int, timestamp_ms: int, body: bytes) -> None:
        size = len(body)
        self.total_bytes += size
        second = timestamp_ms // 1000
        if second != self._second:
            self._next_second(second)
        self._bytes += size
        # Video frames, not the codec configuration (AVC/HEVC sequence headers).
        if tag_type != TAG_VIDEO or size < 2 or (body[1] == 0 and body[0] & 0x0F in (7, 12)):
            return
        self._frames += 1
        if body[0] >> 4 == 1:  # keyframe
            if self._last_keyframe_ms is not None and timestamp_ms > self._last_keyframe_ms:
                self._keyframe_interval_ms = timestamp_ms - self._last_keyframe_ms
            self._last_keyframe_ms = timestamp_ms

    def _next_second(self, second: int) -> None:
        current = self._second
        if current is not None and second < current:
            return  # a tag from a second already counted (audio and video interleave): count it here
        if current is not None:
            if second - current > self._window_s:
                self._seconds.clear()  # a gap longer than the window: nothing before it is recent
            else:
                self._seconds.append((current, self._bytes, self._frames))
        self._second, self._bytes, self._frames = second, 0, 0

    def snapshot(self) -> dict[str, float]:
        """Over the whole seconds in the window (the second in progress while there are none)."""
        seconds = list(self._seconds) or [(self._second or 0, self._bytes, self._frames)]
        covered_s = max(seconds[-1][0] - seconds[0][0] + 1, 1)
        window_bytes = sum(entry[1] for entry in seconds)
        frames = sum(entry[2] for entry in seconds)
        return {
            "bitrate_kbps": round(window_bytes * 8 / covered_s / 1000, 1),
            "fps": round(frames / covered_s, 2),
            "keyframe_interval": round(self._keyframe_interval_ms / 1000, 3),
        }
