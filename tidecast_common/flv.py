"""FLV, the one writer and reader of tags for the whole project.

RTMP audio and video message bodies are FLV tag bodies, so muxing is only headers around them: the
ingest's recording sink and the transcoder's ffmpeg input both write tags here. `onMetaData` is
encoded by the project's one AMF0 encoder (`tidecast_common.amf0`).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from tidecast_common.amf0 import encode_ecma_array, encode_value

TAG_AUDIO = 8
TAG_VIDEO = 9
TAG_SCRIPT = 18
CODEC_AVC = 7
CODEC_HEVC = 12
SOUND_AAC = 10
HEADER_SIZE = 9
TAG_HEADER_SIZE = 11
MAX_TAG_BODY = 0xFFFFFF
FILE_SIGNATURE = b"FLV\x01\x05" + struct.pack(">I", HEADER_SIZE)  # version 1, audio + video
FILE_HEADER = FILE_SIGNATURE + b"\x00\x00\x00\x00"  # and PreviousTagSize0

_TAG_HEADER = struct.Struct(">II3x")  # type + 24-bit size, 24-bit timestamp + its high byte, stream id 0
_PREVIOUS_TAG_SIZE = struct.Struct(">I")
_TAG_START = struct.Struct(">III3x")  # the previous tag's PreviousTagSize, then this tag's header


class FlvError(ValueError):
    """Malformed FLV data, or a tag FLV cannot hold."""


def file_header(*, has_audio: bool, has_video: bool) -> bytes:
    """The 9-byte FLV header followed by PreviousTagSize0."""
    flags = (0x04 if has_audio else 0) | (0x01 if has_video else 0)
    return b"FLV\x01" + bytes([flags]) + struct.pack(">I", HEADER_SIZE) + b"\x00\x00\x00\x00"


def _check_size(size: int) -> None:
    if size > MAX_TAG_BODY:
        raise FlvError(f"tag body of {size} bytes exceeds the FLV limit")


def _timestamp_fields(timestamp_ms: int) -> int:
    """FLV keeps 32 bits of timestamp, split 24 + 8 (the high byte last)."""
    ts = timestamp_ms & 0xFFFFFFFF
    return ((ts & 0xFFFFFF) << 8) | (ts >> 24)


def tag(tag_type: int, timestamp_ms: int, body: bytes) -> bytes:
    """One FLV tag with its PreviousTagSize."""
    size = len(body)
    _check_size(size)
    header = _TAG_HEADER.pack((tag_type << 24) | size, _timestamp_fields(timestamp_ms))
    return header + body + _PREVIOUS_TAG_SIZE.pack(TAG_HEADER_SIZE + size)


def tag_start(previous_body_size: int | None, tag_type: int, timestamp_ms: int, body_size: int) -> bytes:
    """What goes between the body of the previous tag (None: the file signature) and this tag's body:
    the previous tag's PreviousTagSize and this tag's header. `file_end()` closes the last tag."""
    _check_size(body_size)
    previous = 0 if previous_body_size is None else TAG_HEADER_SIZE + previous_body_size
    return _TAG_START.pack(previous, (tag_type << 24) | body_size, _timestamp_fields(timestamp_ms))


def file_end(last_body_size: int | None) -> bytes:
    """The last tag's PreviousTagSize (PreviousTagSize0 if there was no tag)."""
    return _PREVIOUS_TAG_SIZE.pack(0 if last_body_size is None else TAG_HEADER_SIZE + last_body_size)


def metadata_body(metadata: Mapping[str, object]) -> bytes:
    """onMetaData as an AMF0 ECMA array of the finite numbers, booleans and strings in `metadata`
    (anything else is left out, and the array's count says how many went in)."""
    kept = {
        str(key): value
        for key, value in metadata.items()
        if len(str(key).encode()) <= 0xFFFF
        and (isinstance(value, bool | str) or (isinstance(value, int | float) and math.isfinite(value)))
    }
    return encode_value("onMetaData") + encode_ecma_array(kept)


def metadata_tag(metadata: Mapping[str, object]) -> bytes:
    """The onMetaData script tag at timestamp 0."""
    return tag(TAG_SCRIPT, 0, metadata_body(metadata))


def is_video_keyframe(body: bytes) -> bool:
    return len(body) > 0 and body[0] >> 4 == 1


def is_codec_header(tag_type: int, body: bytes) -> bool:
    """AVC/HEVC sequence header or AAC AudioSpecificConfig: configuration, not a frame."""
    if len(body) < 2:
        return False
    if tag_type == TAG_VIDEO:
        return body[0] & 0x0F in (CODEC_AVC, CODEC_HEVC) and body[1] == 0
    return body[0] >> 4 == SOUND_AAC and body[1] == 0


@dataclass(frozen=True, slots=True)
class FlvTag:
    tag_type: int
    timestamp_ms: int
    payload: bytes


def iter_tags(data: bytes) -> Iterator[FlvTag]:
    """The tags of a whole FLV file (tests and benchmarks play files into the pipeline with it)."""
    if len(data) < HEADER_SIZE + 4 or data[:3] != b"FLV":
        raise FlvError("not an FLV file")
    offset = int.from_bytes(data[5:9], "big") + 4
    while offset + TAG_HEADER_SIZE <= len(data):
        tag_type = data[offset] & 0x1F
        size = int.from_bytes(data[offset + 1 : offset + 4], "big")
        timestamp = int.from_bytes(data[offset + 4 : offset + 7], "big") | (data[offset + 7] << 24)
        start = offset + TAG_HEADER_SIZE
        if start + size > len(data):
            raise FlvError("truncated tag")
        yield FlvTag(tag_type, timestamp, data[start : start + size])
        offset = start + size + 4
