"""Golden tests: the exact argv of the ffmpeg command for typical and awkward sources."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.transcoder.sources import h264_source, high_444_10bit_sps
from tidecast_common.ladder import DEFAULT_VARIANTS
from transcoder.command import build_cmaf_command
from transcoder.ladder import SourceInfo, build_ladder

GOLDEN = Path(__file__).parent / "golden"


def command_for(source: SourceInfo, **options: object) -> list[str]:
    renditions = build_ladder(source=source, variants=DEFAULT_VARIANTS, segment_seconds=2)
    arguments: dict[str, object] = {
        "renditions": renditions,
        "outputs": [f"pipe:{3 + index}" for index in range(len(renditions))],
        "segment_seconds": 2,
        "fragment_microseconds": 316_667,
        "has_audio": source.audio_codec is not None,
        "copy_audio": source.audio_codec == "aac",
    }
    arguments.update(options)
    return build_cmaf_command(**arguments)  # type: ignore[arg-type]


def output_options(argv: list[str], url: str) -> list[str]:
    """The arguments between the previous output (or the filter graph) and `url`."""
    end = argv.index(url)
    first = argv.index("-filter_complex") + 1 if "-filter_complex" in argv else argv.index("pipe:0")
    start = max(
        (i for i, item in enumerate(argv[:end]) if item.startswith("pipe:") and i > first), default=first
    )
    return argv[start + 1 : end]


def test_1080p30_passthrough_gives_one_fragmented_mp4_output_per_rendition() -> None:
    argv = command_for(h264_source(1920, 1080, 30, video_kbps=6000))
    assert argv[:9] == [
        "ffmpeg",
        "-f",
        "flv",
        "-analyzeduration",
        "200000",
        "-probesize",
        "1000000",
        "-i",
        "pipe:0",
    ]
    # Each rendition scaled from the next larger one: 1080p -> 720p -> 480p -> 360p.
    assert argv[argv.index("-filter_complex") + 1] == (
        "[0:v]format=yuv420p[s0];[s0]scale=1280:720[s1];[s1]split=2[s2][s3];"
        "[s3]scale=854:480[s4];[s4]split=2[s5][s6];[s6]scale=640:360[s7]"
    )
    source = output_options(argv, "pipe:3")
    assert source[:4] == ["-map", "0:v", "-map", "0:a"]
    assert source[source.index("-c:v") + 1] == "copy"
    for url, label, kbps in (
        ("pipe:4", "[s2]", "2800k"),
        ("pipe:5", "[s5]", "1400k"),
        ("pipe:6", "[s7]", "800k"),
    ):
        options = output_options(argv, url)
        values = dict(zip(options[0::2], options[1::2], strict=True))
        assert options[:2] == ["-map", label]
        assert values["-c:v"] == "libx264"
        assert values["-b:v"] == kbps
        assert values["-tune"] == "zerolatency"
        # Keyframes exactly where the copied source has them, none of its own in between.
        assert values["-force_key_frames"] == "source"
        assert values["-g"] == "600"
        assert values["-enc_time_base"] == "-1"
    for url in ("pipe:3", "pipe:4", "pipe:5", "pipe:6"):
        values = dict(zip(output_options(argv, url)[0::2], output_options(argv, url)[1::2], strict=True))
        assert values["-f"] == "mp4"
        assert values["-frag_duration"] == "316667"
        assert set(values["-movflags"].split("+")) >= {"empty_moov", "default_base_moof", "frag_keyframe"}
        assert values["-flush_packets"] == "1"


def test_a_reencoded_source_puts_every_rendition_on_the_segment_clock() -> None:
    argv = command_for(h264_source(1280, 720, 30, sps=high_444_10bit_sps(1280, 720), video_kbps=3500))
    forced = [argv[i + 1] for i, item in enumerate(argv) if item == "-force_key_frames"]
    assert forced == ["expr:gte(t,n_forced*2)"] * 3
    assert [argv[i + 1] for i, item in enumerate(argv) if item == "-g"] == ["60"] * 3


CASES = {
    "720p60_restart": (h264_source(1280, 720, 60), {"preset": "ultrafast"}),
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
    golden = GOLDEN / f"{case}.json"
    if os.environ.get("TIDECAST_UPDATE_GOLDEN") == "1":
        golden.write_text(json.dumps(command_for(source, **options), indent=1) + "\n")
    assert command_for(source, **options) == json.loads(golden.read_text())


def test_no_renditions_is_refused() -> None:
    with pytest.raises(ValueError, match="rendition"):
        build_cmaf_command(
            renditions=(),
            outputs=[],
            segment_seconds=2,
            fragment_microseconds=1,
            has_audio=True,
            copy_audio=True,
        )


def test_one_output_per_rendition() -> None:
    renditions = build_ladder(source=h264_source(1280, 720), variants=DEFAULT_VARIANTS, segment_seconds=2)
    with pytest.raises(ValueError, match="output"):
        build_cmaf_command(
            renditions=renditions, outputs=["pipe:3"], segment_seconds=2, fragment_microseconds=1,
            has_audio=True, copy_audio=True,
        )  # fmt: skip
