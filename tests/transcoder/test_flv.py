from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.transcoder.sources import h264_sps
from tidecast_common import flv
from transcoder import codecs


def first_sequence_header(path: Path) -> bytes:
    for item in flv.iter_tags(path.read_bytes()):
        if item.tag_type == flv.TAG_VIDEO and codecs.video_tag_info(item.payload).sequence_header:
            return item.payload
    raise AssertionError("no AVC sequence header")


def test_header_and_tag_layout() -> None:
    header = flv.file_header(has_audio=True, has_video=True)
    assert header == b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00"
    assert flv.file_header(has_audio=False, has_video=True)[4] == 0x01
    payload = b"\x17\x01\x00\x00\x00abc"
    data = flv.tag(flv.TAG_VIDEO, 0x12345678, payload)
    assert data[0] == 9
    assert int.from_bytes(data[1:4], "big") == len(payload)
    # 24 low bits, then the extended high byte
    assert data[4:8] == b"\x34\x56\x78\x12"
    assert data[11:-4] == payload
    assert struct.unpack(">I", data[-4:])[0] == 11 + len(payload)


def test_written_tags_read_back() -> None:
    tags = [
        (flv.TAG_VIDEO, 0, b"\x17\x00data"),
        (flv.TAG_AUDIO, 23, b"\xaf\x01aac"),
        (flv.TAG_VIDEO, 2**25, b"\x27\x01"),
    ]
    data = flv.file_header(has_audio=True, has_video=True) + b"".join(flv.tag(*t) for t in tags)
    assert [(t.tag_type, t.timestamp_ms, t.payload) for t in flv.iter_tags(data)] == tags


def test_truncated_or_foreign_data_is_refused() -> None:
    with pytest.raises(flv.FlvError):
        list(flv.iter_tags(b"RIFF0000000000000"))
    whole = flv.file_header(has_audio=False, has_video=True) + flv.tag(
        flv.TAG_VIDEO, 0, b"\x17\x01" + b"x" * 50
    )
    with pytest.raises(flv.FlvError, match="truncated"):
        list(flv.iter_tags(whole[:-20]))


def test_metadata_tag_encodes_numbers_booleans_and_strings() -> None:
    data = flv.metadata_tag({"width": 1280, "stereo": True, "encoder": "obs", "skipped": [1]})
    body = next(flv.iter_tags(flv.file_header(has_audio=False, has_video=True) + data)).payload
    assert body.startswith(b"\x02\x00\x0aonMetaData\x08")
    assert b"\x00\x05width\x00" + struct.pack(">d", 1280.0) in body
    assert b"\x00\x06stereo\x01\x01" in body
    assert b"\x00\x07encoder\x02\x00\x03obs" in body
    assert b"skipped" not in body
    assert body.endswith(b"\x00\x00\x09")


def test_tag_kinds() -> None:
    assert codecs.video_tag_info(b"\x17\x00") == codecs.VideoTagInfo(
        "h264", keyframe=True, sequence_header=True
    )
    assert codecs.video_tag_info(b"\x27\x01") == codecs.VideoTagInfo(
        "h264", keyframe=False, sequence_header=False
    )
    assert codecs.audio_tag_info(b"\xaf\x00") == codecs.AudioTagInfo("aac", sequence_header=True)
    assert codecs.audio_tag_info(b"\x2f") == codecs.AudioTagInfo("mp3", sequence_header=False)


@pytest.mark.parametrize(
    ("width", "height", "fps"),
    [(1920, 1080, 30), (1280, 720, 60), (720, 1280, 30), (1278, 718, 25), (640, 360, 30)],
)
def test_sps_gives_the_encoded_size_and_rate(
    flv_factory: Callable[..., Path], width: int, height: int, fps: int
) -> None:
    path = flv_factory(width=width, height=height, seconds=0.2, fps=fps, audio=False)
    sps = codecs.parse_sps(codecs.sps_from_avc_sequence_header(first_sequence_header(path)))
    assert (sps.width, sps.height, sps.fps) == (width, height, fps)
    assert sps.codec_tag.startswith("avc1.42")  # ultrafast is constrained baseline


@pytest.mark.parametrize(
    ("pix_fmt", "profile", "expected"),
    [
        ("yuv420p", None, (66, 1, 8, 8, True)),  # Constrained Baseline
        ("yuv420p", "main", (77, 1, 8, 8, True)),
        ("yuv420p", "high", (100, 1, 8, 8, True)),
        ("yuv420p10le", None, (110, 1, 10, 10, False)),  # High 10
        ("yuv422p", None, (122, 2, 8, 8, False)),  # High 4:2:2
        ("yuv444p10le", None, (244, 3, 10, 10, False)),  # High 4:4:4 Predictive
        ("gray", None, (100, 0, 8, 8, False)),  # High, but monochrome
    ],
)
def test_sps_gives_the_chroma_format_and_bit_depth_and_browsers_decode_only_8_bit_420(
    flv_factory: Callable[..., Path], pix_fmt: str, profile: str | None, expected: tuple[object, ...]
) -> None:
    path = flv_factory(width=320, height=180, seconds=0.2, audio=False, pix_fmt=pix_fmt, profile=profile)
    sps = codecs.parse_sps(codecs.sps_from_avc_sequence_header(first_sequence_header(path)))
    found = (sps.profile_idc, sps.chroma_format_idc, sps.bit_depth_luma, sps.bit_depth_chroma)
    assert (*found, codecs.browser_decodable(sps)) == expected
    assert (sps.width, sps.height, sps.fps) == (320, 180, 30)


def sps(**fields: int) -> codecs.SpsInfo:
    return h264_sps(1280, 720, **({"level_idc": 31} | fields))


def test_browsers_decode_baseline_main_and_high_whatever_their_constraint_flags_and_level() -> None:
    for profile_idc in (66, 77, 100):
        for constraint_flags in (0x00, 0x40, 0xC0, 0x0C):  # e.g. Constrained Baseline, Constrained High
            for level_idc in (10, 31, 52, 62):
                assert codecs.browser_decodable(
                    sps(profile_idc=profile_idc, constraint_flags=constraint_flags, level_idc=level_idc)
                )


@pytest.mark.parametrize(
    "fields",
    [
        {"profile_idc": 88},  # Extended
        {"profile_idc": 110},  # High 10 even at 8 bits
        {"profile_idc": 244},
        {"chroma_format_idc": 0},
        {"chroma_format_idc": 2},
        {"chroma_format_idc": 3},
        {"bit_depth_luma": 10},
        {"bit_depth_chroma": 9},
    ],
)
def test_browsers_decode_nothing_else(fields: dict[str, int]) -> None:
    assert not codecs.browser_decodable(sps(**fields))


def test_garbage_sps_is_refused() -> None:
    with pytest.raises(flv.FlvError):
        codecs.parse_sps(b"\x68\x00")
    with pytest.raises(flv.FlvError):
        codecs.sps_from_avc_sequence_header(b"\x17\x00\x00\x00\x00\x02")


def test_the_sps_summary_names_profile_chroma_format_and_depth() -> None:
    assert sps(profile_idc=244, chroma_format_idc=3, bit_depth_luma=10, bit_depth_chroma=10).summary == (
        "profile 244, 4:4:4, 10-bit"
    )
    assert sps(bit_depth_chroma=10).summary == "profile 100, 4:2:0, 8/10-bit"
