"""Golden tests: the exact argv of the ffmpeg command for typical and awkward sources."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.transcoder.sources import h264_source, high_444_10bit_sps
from tidecast_common.ladder import DEFAULT_VARIANTS
from transcoder.command import build_hls_command
from transcoder.ladder import SourceInfo, build_ladder

GOLDEN = Path(__file__).parent / "golden"
OUT = Path("/srv/hls/abcdefgh12345678")


def command_for(source: SourceInfo, **options: object) -> list[str]:
    renditions = build_ladder(source=source, variants=DEFAULT_VARIANTS, segment_seconds=2)
    arguments: dict[str, object] = {
        "renditions": renditions,
        "output_dir": OUT,
        "segment_seconds": 2,
        "has_audio": source.audio_codec is not None,
        "copy_audio": source.audio_codec == "aac",
    }
    arguments.update(options)
    return build_hls_command(**arguments)  # type: ignore[arg-type]


def test_1080p30_with_aac() -> None:
    # Each rendition scaled from the next larger one: 1080p -> 720p -> 480p -> 360p.
    assert command_for(h264_source(1920, 1080, 30, video_kbps=6000)) == [
        "ffmpeg",
        "-f", "flv", "-analyzeduration", "500000", "-probesize", "1000000", "-i", "pipe:0",
        "-filter_complex",
        "[0:v]format=yuv420p[s0];[s0]scale=1280:720[s1];[s1]split=2[s2][s3];"
        "[s3]scale=854:480[s4];[s4]split=2[s5][s6];[s6]scale=640:360[s7]",
        "-map", "0:v", "-map", "0:a", "-map", "[s2]", "-map", "0:a",
        "-map", "[s5]", "-map", "0:a", "-map", "[s7]", "-map", "0:a",
        "-f", "hls",
        "-b:v:1", "2800k", "-b:v:2", "1400k", "-b:v:3", "800k",
        "-bufsize:v:1", "5600k", "-bufsize:v:2", "2800k", "-bufsize:v:3", "1600k",
        "-c:a:0", "copy", "-c:a:1", "copy", "-c:a:2", "copy", "-c:a:3", "copy",
        "-c:v:0", "copy", "-c:v:1", "libx264", "-c:v:2", "libx264", "-c:v:3", "libx264",
        "-force_key_frames:v:1", "expr:gte(t,n_forced*2)",
        "-force_key_frames:v:2", "expr:gte(t,n_forced*2)",
        "-force_key_frames:v:3", "expr:gte(t,n_forced*2)",
        "-fps_mode", "passthrough",
        "-g:v:1", "60", "-g:v:2", "60", "-g:v:3", "60",
        "-hls_flags", "independent_segments+temp_file+program_date_time",
        "-hls_list_size", "0",
        "-hls_playlist_type", "event",
        "-hls_segment_filename", "/srv/hls/abcdefgh12345678/%v/seg_%05d.ts",
        "-hls_segment_type", "mpegts",
        "-hls_time", "2",
        "-keyint_min:v:1", "60", "-keyint_min:v:2", "60", "-keyint_min:v:3", "60",
        "-level:v:1", "3.1", "-level:v:2", "3.1", "-level:v:3", "3.0",
        "-max_muxing_queue_size", "4096",
        "-maxrate:v:1", "3080k", "-maxrate:v:2", "1540k", "-maxrate:v:3", "880k",
        "-preset:v:1", "veryfast", "-preset:v:2", "veryfast", "-preset:v:3", "veryfast",
        "-profile:v:1", "main", "-profile:v:2", "main", "-profile:v:3", "baseline",
        "-sc_threshold:v:1", "0", "-sc_threshold:v:2", "0", "-sc_threshold:v:3", "0",
        "-var_stream_map",
        "v:0,a:0,name:source v:1,a:1,name:720p v:2,a:2,name:480p v:3,a:3,name:360p",
        "/srv/hls/abcdefgh12345678/%v/index.m3u8",
        "-hide_banner", "-nostats", "-loglevel", "warning", "-progress", "pipe:2", "-stats_period", "1", "-y",
    ]  # fmt: skip


CASES = {
    "720p60_restart": (h264_source(1280, 720, 60), {"restart": True, "preset": "ultrafast"}),
    "480p_mp3": (h264_source(854, 480, 30, audio_codec="mp3"), {}),
    "odd_1279x719": (h264_source(1279, 719, 25), {}),
    "portrait_1080x1920": (h264_source(1080, 1920, 30), {}),
    "hevc_no_audio_360p": (SourceInfo(width=640, height=360, video_codec="hevc", audio_codec=None), {}),
    # Not for browsers: the source is re-encoded at 1280x720 as 8-bit 4:2:0 High at its stated rate.
    "high444_10bit_720p": (
        h264_source(1280, 720, 30, sps=high_444_10bit_sps(1280, 720), video_kbps=3500),
        {},
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_argv(case: str) -> None:
    source, options = CASES[case]
    expected = json.loads((GOLDEN / f"{case}.json").read_text())
    assert command_for(source, **options) == expected


def test_restart_continues_the_playlists_after_a_discontinuity() -> None:
    argv = command_for(h264_source(1280, 720), restart=True)
    flags = argv[argv.index("-hls_flags") + 1].split("+")
    assert {"append_list", "temp_file", "independent_segments"} <= set(flags)
    assert "discont_start" not in flags  # it would rewrite the top of an EVENT playlist


def test_no_renditions_is_refused() -> None:
    with pytest.raises(ValueError, match="rendition"):
        build_hls_command(renditions=(), output_dir=OUT, segment_seconds=2, has_audio=True, copy_audio=True)
