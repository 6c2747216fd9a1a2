from __future__ import annotations

from api.web.health import stream_health_limits


def test_limits_follow_the_segment_length_and_the_top_rendition():
    ladder = [
        {"name": "720p", "height": 720, "video_kbps": 2800, "audio_kbps": 128, "profile": "main"},
        {"name": "360p", "height": 360, "video_kbps": 800, "audio_kbps": 96, "profile": "baseline"},
    ]

    limits = stream_health_limits(ladder=ladder, segment_seconds=4)

    assert limits.keyframe_interval_seconds == 4.0
    assert limits.top_rung_kbps == 2928
    assert limits.max_bitrate_kbps == 5856
    assert limits.min_transcoder_speed < 1.0
    assert set(limits.as_dict()) == {
        "keyframe_interval_seconds",
        "keyframe_tolerance_seconds",
        "max_bitrate_kbps",
        "top_rung_kbps",
        "min_transcoder_speed",
    }


def test_empty_ladder_still_gives_a_bitrate_ceiling():
    assert stream_health_limits(ladder=[], segment_seconds=2).max_bitrate_kbps > 0
