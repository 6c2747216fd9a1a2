"""The project's one FLV tag writer and its onMetaData, read back by the project's AMF0 decoder."""

from __future__ import annotations

import math

from tidecast_common import flv
from tidecast_common.amf0 import decode_all


def test_metadata_counts_only_the_values_it_writes() -> None:
    body = flv.metadata_body({"width": 1280, "bad": math.nan, "obj": object(), "live": True, "enc": "obs"})
    # The ECMA array's count (after the "onMetaData" string) is the number of entries written.
    count_at = len(b"\x02\x00\x0aonMetaData") + 1
    assert int.from_bytes(body[count_at : count_at + 4], "big") == 3
    assert decode_all(body) == ["onMetaData", {"width": 1280.0, "live": True, "enc": "obs"}]


def test_metadata_tag_is_a_script_tag_at_zero() -> None:
    data = flv.file_header(has_audio=True, has_video=True) + flv.metadata_tag({"fps": 30})
    (only,) = list(flv.iter_tags(data))
    assert (only.tag_type, only.timestamp_ms) == (flv.TAG_SCRIPT, 0)
    assert decode_all(only.payload) == ["onMetaData", {"fps": 30.0}]


def test_the_file_header_flags() -> None:
    assert flv.file_header(has_audio=True, has_video=True) == flv.FILE_HEADER
    assert flv.file_header(has_audio=False, has_video=True)[4] == 0x01


def test_tags_read_back_as_written_with_32_bit_timestamps() -> None:
    tags = [(flv.TAG_VIDEO, 0x12345678, b"\x17\x01body"), (flv.TAG_AUDIO, 40, b"\xaf\x01aac")]
    data = flv.FILE_HEADER + b"".join(flv.tag(*t) for t in tags)
    assert [(t.tag_type, t.timestamp_ms, t.payload) for t in flv.iter_tags(data)] == tags


def test_codec_headers_and_keyframes() -> None:
    assert flv.is_codec_header(flv.TAG_VIDEO, b"\x17\x00")
    assert not flv.is_codec_header(flv.TAG_VIDEO, b"\x17\x01")
    assert flv.is_codec_header(flv.TAG_AUDIO, b"\xaf\x00")
    assert flv.is_video_keyframe(b"\x17\x01")
    assert not flv.is_video_keyframe(b"\x27\x01")
