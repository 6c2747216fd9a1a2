from __future__ import annotations

import pytest

from tests.transcoder.sources import h264_source, h264_sps, high_444_10bit_sps
from tidecast_common.ladder import DEFAULT_VARIANTS, Variant, parse_variants
from transcoder.codecs import SpsInfo
from transcoder.ladder import (
    FALLBACK_SOURCE_VIDEO_KBPS,
    Rendition,
    SourceInfo,
    build_ladder,
    even,
    h264_level,
)


def sizes(renditions: tuple[Rendition, ...]) -> list[tuple[str, int, int]]:
    return [(r.name, r.width, r.height) for r in renditions]


def ladder_for(width: int, height: int, fps: float = 30.0, **source: object) -> tuple[Rendition, ...]:
    """The default ladder for an H.264 source that browsers decode, unless `source` says otherwise."""
    info = h264_source(width, height, fps, **source)
    return build_ladder(source=info, variants=DEFAULT_VARIANTS, segment_seconds=2)


def test_1080p_source_gets_every_rendition() -> None:
    assert sizes(ladder_for(1920, 1080)) == [
        ("source", 1920, 1080),
        ("720p", 1280, 720),
        ("480p", 854, 480),
        ("360p", 640, 360),
    ]


def test_720p_source_gets_no_duplicate_720p() -> None:
    assert sizes(ladder_for(1280, 720)) == [("source", 1280, 720), ("480p", 854, 480), ("360p", 640, 360)]


def test_480p_source_is_never_upscaled() -> None:
    assert sizes(ladder_for(854, 480)) == [("source", 854, 480), ("360p", 640, 360)]


def test_tiny_source_only_passes_through() -> None:
    assert sizes(ladder_for(320, 180)) == [("source", 320, 180)]


def test_odd_source_sizes_give_even_dimensions_with_the_aspect_ratio() -> None:
    renditions = ladder_for(1279, 719)
    assert sizes(renditions) == [("source", 1279, 719), ("480p", 854, 480), ("360p", 640, 360)]
    for rendition in renditions[1:]:
        assert rendition.width % 2 == 0
        assert rendition.height % 2 == 0
        assert abs(rendition.width / rendition.height - 1279 / 719) < 0.01


def test_portrait_source_scales_the_short_side() -> None:
    assert sizes(ladder_for(1080, 1920)) == [
        ("source", 1080, 1920),
        ("720p", 720, 1280),
        ("480p", 480, 854),
        ("360p", 360, 640),
    ]


@pytest.mark.parametrize(("fps", "gop"), [(30.0, 60), (60.0, 120), (29.97, 60), (25.0, 50), (59.94, 120)])
def test_gop_is_fps_times_segment_seconds(fps: float, gop: int) -> None:
    assert {r.gop for r in ladder_for(1920, 1080, fps=fps)} == {gop}


def test_rates_are_capped_and_buffered() -> None:
    rendition = ladder_for(1920, 1080)[1]
    assert (rendition.video_kbps, rendition.maxrate_kbps, rendition.bufsize_kbps) == (2800, 3080, 5600)
    assert rendition.bandwidth == (3080 + 128) * 1000


def test_source_is_copied_only_when_h264() -> None:
    assert ladder_for(1280, 720)[0].copy_video
    assert not ladder_for(1280, 720, video_codec="hevc")[0].copy_video
    assert not any(r.copy_video for r in ladder_for(1280, 720)[1:])


def test_h264_without_a_readable_sps_is_not_copied() -> None:
    # Nothing then says browsers can decode it, nor what CODECS it would be.
    info = SourceInfo(width=1280, height=720, video_codec="h264")
    assert not build_ladder(source=info, variants=DEFAULT_VARIANTS, segment_seconds=2)[0].copy_video


@pytest.mark.parametrize(
    ("sps", "copied"),
    [
        (h264_sps(1280, 720, profile_idc=66, constraint_flags=0xC0), True),
        (h264_sps(1280, 720, profile_idc=77, constraint_flags=0x40), True),
        (h264_sps(1280, 720, profile_idc=100), True),
        (high_444_10bit_sps(1280, 720), False),
        (h264_sps(1280, 720, profile_idc=110, bit_depth=10), False),
        (h264_sps(1280, 720, profile_idc=122, chroma_format_idc=2), False),
    ],
)
def test_source_is_copied_only_when_browsers_decode_it(sps: SpsInfo, copied: bool) -> None:
    assert ladder_for(1280, 720, sps=sps)[0].copy_video is copied


def test_an_undecodable_source_is_re_encoded_at_its_own_size_as_8_bit_high() -> None:
    renditions = ladder_for(1920, 1080, 60.0, sps=high_444_10bit_sps(1920, 1080, fps=60.0), video_kbps=4500)
    source = renditions[0]
    assert (source.name, source.width, source.height, source.copy_video) == ("source", 1920, 1080, False)
    assert (source.profile, source.level) == ("high", h264_level(1920, 1080, 60.0)) == ("high", "4.2")
    assert (source.video_kbps, source.maxrate_kbps, source.bufsize_kbps) == (4500, 4950, 9000)
    assert source.gop == 120
    # The rest of the ladder is unchanged.
    assert sizes(renditions)[1:] == sizes(ladder_for(1920, 1080, 60.0))[1:]


def test_an_odd_sized_source_is_re_encoded_one_pixel_smaller_never_stretched() -> None:
    # 4:4:4 allows odd sizes; x264's 4:2:0 does not.
    assert sizes(ladder_for(1279, 719, sps=high_444_10bit_sps(1279, 719)))[0] == ("source", 1278, 718)
    assert sizes(ladder_for(1279, 719))[0] == ("source", 1279, 719)  # copied as it is


def test_a_re_encoded_source_without_a_stated_bitrate_gets_the_fallback() -> None:
    source = ladder_for(1280, 720, sps=high_444_10bit_sps(1280, 720))[0]
    assert not source.copy_video
    assert source.video_kbps == FALLBACK_SOURCE_VIDEO_KBPS


def test_copied_aac_keeps_the_source_audio_rate_and_other_audio_uses_the_variant_rate() -> None:
    copied = ladder_for(1920, 1080, audio_codec="aac", audio_kbps=160)
    assert {r.audio_kbps for r in copied} == {160}
    encoded = ladder_for(1920, 1080, audio_codec="mp3")
    assert [r.audio_kbps for r in encoded[1:]] == [128, 96, 96]


def test_levels_fit_the_macroblock_rate() -> None:
    assert h264_level(640, 360, 30) == "3.0"
    assert h264_level(1280, 720, 30) == "3.1"
    assert h264_level(1280, 720, 60) == "4.0"
    assert h264_level(1920, 1080, 60) == "4.2"
    assert h264_level(3840, 2160, 30) == "5.1"


def test_even_rounds_to_the_nearest_even_number() -> None:
    assert [even(853.3), even(854.9), even(1), even(479)] == [854, 854, 2, 480]


def test_variants_parse_from_the_api_json_and_reject_bad_entries() -> None:
    parsed = parse_variants([{"name": "540p", "height": 540, "video_kbps": 2000, "audio_kbps": 128}])
    assert parsed == (Variant("540p", 540, 2000, 128, "main"),)
    with pytest.raises(ValueError, match="duplicate"):
        parse_variants([DEFAULT_VARIANTS[0], DEFAULT_VARIANTS[0]])
    with pytest.raises(ValueError, match="implied"):
        Variant("source", 720, 1, 1)
    with pytest.raises(ValueError, match="must match"):
        Variant("../x", 720, 1, 1)
    with pytest.raises(ValueError, match="profile"):
        Variant("x", 720, 1, 1, "extended")
