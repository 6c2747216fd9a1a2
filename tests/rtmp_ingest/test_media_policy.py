"""Which media a publish may carry: codecs, frame size and rate from the SPS, and the bitrate cap."""

from __future__ import annotations

import pytest

from rtmp_ingest.media_policy import MediaGate, MediaLimits
from rtmp_ingest.media_stats import MediaStats
from tests.transcoder.sources import avc_sequence_header, baseline_sps_nal
from tidecast_common.flv import TAG_AUDIO, TAG_SCRIPT, TAG_VIDEO

GATE = MediaGate(MediaLimits())


def header(width: int, height: int, fps: float | None = 30.0) -> bytes:
    return avc_sequence_header(baseline_sps_nal(width, height, fps=fps))


@pytest.mark.parametrize(
    ("first_byte", "name"),
    [
        (0x22, "Sorenson H.263"),
        (0x23, "Screen video"),
        (0x24, "On2 VP6"),
        (0x25, "On2 VP6 with alpha"),
        (0x26, "Screen video 2"),
        (0x1C, "HEVC"),
        (0x2F, "FLV video codec 15"),
    ],
)
def test_video_other_than_h264_is_refused_by_name(first_byte: int, name: str) -> None:
    refusal = GATE.check(TAG_VIDEO, bytes([first_byte]) + bytes(16))
    assert refusal is not None
    assert refusal.reason == "video_codec"
    assert refusal.description == f"Unsupported video codec {name}: use H.264"


def test_enhanced_rtmp_video_is_refused_with_its_fourcc() -> None:
    refusal = GATE.check(TAG_VIDEO, b"\x90hvc1" + bytes(16))  # keyframe, sequence start, HEVC
    assert refusal is not None
    assert "'hvc1'" in refusal.description


@pytest.mark.parametrize(
    ("sound_format", "name"),
    [(0, "Linear PCM"), (1, "ADPCM"), (3, "Linear PCM"), (4, "Nellymoser"), (6, "Nellymoser"),
     (7, "G.711 A-law"), (8, "G.711 mu-law"), (11, "Speex"), (15, "device-specific sound")],
)  # fmt: skip
def test_audio_other_than_aac_or_mp3_is_refused_by_name(sound_format: int, name: str) -> None:
    refusal = GATE.check(TAG_AUDIO, bytes([sound_format << 4 | 0x0F]) + bytes(8))
    assert refusal is not None
    assert refusal.reason == "audio_codec"
    assert refusal.description == f"Unsupported audio codec {name}: use AAC or MP3"


@pytest.mark.parametrize("sound_format", [10, 2, 14])  # AAC, MP3, MP3 8 kHz
def test_aac_and_mp3_pass(sound_format: int) -> None:
    assert GATE.check(TAG_AUDIO, bytes([sound_format << 4 | 0x0F, 1]) + bytes(8)) is None


def test_h264_frames_metadata_and_empty_tags_pass() -> None:
    assert GATE.check(TAG_VIDEO, b"\x17\x01\x00\x00\x00" + bytes(64)) is None
    assert GATE.check(TAG_VIDEO, b"\x27\x01\x00\x00\x00" + bytes(64)) is None
    assert GATE.check(TAG_SCRIPT, b"\x02\x00\x0aonMetaData") is None
    assert GATE.check(TAG_VIDEO, b"") is None


@pytest.mark.parametrize(
    ("width", "height", "fps"),
    [(3840, 2160, 30.0), (2160, 3840, 30.0), (1920, 1080, 60.0), (1080, 1920, 60.0), (640, 360, None)],
)
def test_sizes_and_rates_within_the_caps_pass(width: int, height: int, fps: float | None) -> None:
    assert GATE.check(TAG_VIDEO, header(width, height, fps)) is None


@pytest.mark.parametrize(("width", "height"), [(4096, 2160), (3840, 2176), (2176, 3840), (7680, 4320)])
def test_a_picture_above_the_caps_is_refused(width: int, height: int) -> None:
    refusal = GATE.check(TAG_VIDEO, header(width, height))
    assert refusal is not None
    assert refusal.reason == "frame_size"
    assert refusal.description == f"Frame size {width}x{height} above 3840x2160"


def test_a_rate_above_the_cap_is_refused() -> None:
    refusal = GATE.check(TAG_VIDEO, header(1280, 720, fps=120.0))
    assert refusal is not None
    assert (refusal.reason, refusal.description) == ("frame_rate", "Frame rate 120 fps above 60 fps")
    assert GATE.check(TAG_VIDEO, header(1280, 720, fps=59.94)) is None


def test_a_portrait_cap_judges_long_and_short_sides() -> None:
    gate = MediaGate(MediaLimits(max_long_side=1920, max_short_side=1080))
    assert gate.check(TAG_VIDEO, header(1080, 1920)) is None
    assert gate.check(TAG_VIDEO, header(1920, 1080)) is None
    assert gate.check(TAG_VIDEO, header(1280, 1280)) is not None


def test_an_unreadable_sequence_header_is_refused() -> None:
    refusal = GATE.check(TAG_VIDEO, b"\x17\x00\x00\x00\x00\x01\x42")
    assert refusal is not None
    assert refusal.reason == "bad_sequence_header"


def feed_seconds(stats: MediaStats, *, kbps: int, seconds: int, start_s: int = 0) -> None:
    """`seconds` media seconds at `kbps`, as 25 tags a second."""
    per_tag = kbps * 1000 // 8 // 25
    for n in range(seconds * 25):
        stats.add(TAG_VIDEO, start_s * 1000 + n * 40, b"\x27\x01" + bytes(per_tag - 2))


def test_seconds_above_counts_the_latest_run_of_seconds_over_the_cap() -> None:
    stats = MediaStats(window_s=5)
    feed_seconds(stats, kbps=6000, seconds=2)
    assert stats.seconds_above(5000) == 2  # a whole second and the one in progress, already over
    feed_seconds(stats, kbps=1000, seconds=1, start_s=2)
    assert stats.seconds_above(5000) == 0
    feed_seconds(stats, kbps=6000, seconds=5, start_s=3)
    assert stats.seconds_above(5000) == 5
    assert stats.seconds_above(7000) == 0


def test_a_gap_in_the_media_breaks_the_run() -> None:
    stats = MediaStats(window_s=5)
    feed_seconds(stats, kbps=6000, seconds=2)
    feed_seconds(stats, kbps=6000, seconds=2, start_s=3)  # second 2 carried nothing
    assert stats.seconds_above(5000) == 2


def test_the_bitrate_cap_needs_its_seconds_in_a_row() -> None:
    gate = MediaGate(MediaLimits(max_kbps=5000, max_kbps_seconds=5))
    assert gate.check_bitrate(4) is None
    refusal = gate.check_bitrate(5)
    assert refusal is not None
    assert refusal.reason == "bitrate"
    assert refusal.description == "Bitrate above 5000 kbit/s for 5 s: lower the encoder's bitrate"
