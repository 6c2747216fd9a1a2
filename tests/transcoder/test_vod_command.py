"""The command transcoding one piece of an upload into several renditions, without I/O."""

from __future__ import annotations

from pathlib import Path

import pytest

from tidecast_common.ladder import DEFAULT_VARIANTS
from transcoder import vod, vod_command

PROBE = vod.Probe(
    width=1920, height=1080, fps=30.0, duration=600.0, video_codec="h264", video_profile="High",
    pix_fmt="yuv420p", rotation=0, has_audio=True, audio_codec="aac", video_kbps=6000,
    format_name="mov,mp4,m4a,3gp,3g2,mj2", level=40,
)  # fmt: skip
RENDITIONS = vod.renditions_for(PROBE, variants=DEFAULT_VARIANTS, segment_seconds=2)


def command(
    renditions=RENDITIONS, *, rotation: int = 0, has_audio: bool = True, threads: int = 1
) -> list[str]:
    return vod_command.piece_command(
        piece_file=Path("/w/piece_0003.mkv"), index=3, renditions=renditions, rotation=rotation,
        has_audio=has_audio, copy_audio=True, output_dir=Path("/o"), segment_seconds=2,
        preset="veryfast", threads=threads,
    )  # fmt: skip


def outputs(argv: list[str]) -> dict[str, list[str]]:
    """Each output's own options, by its playlist's path."""
    found, start = (
        {},
        argv.index("-filter_complex") + 2 if "-filter_complex" in argv else argv.index("-i") + 2,
    )
    for position, word in enumerate(argv):
        if word.endswith("piece.m3u8"):
            found[word] = argv[start:position]
            start = position + 1
    return found


def option(words: list[str], name: str) -> str:
    return words[words.index(name) + 1]


def test_one_decode_one_scaling_chain_and_one_hls_output_per_rendition():
    argv = command()
    assert argv.count("-i") == 1
    assert argv[argv.index("-i") + 1] == "/w/piece_0003.mkv"
    assert {"-copyts", "-noautorotate"} <= set(argv[: argv.index("-i")])
    graph = option(argv, "-filter_complex")
    # Decoded once, each rendition scaled from the one above it.
    assert graph == (
        "[0:v]format=yuv420p[s0];[s0]scale=1280:720[s1];[s1]split=2[s2][s3];[s3]scale=854:480[s4];"
        "[s4]split=2[s5][s6];[s6]scale=640:360[s7]"
    )
    per_output = outputs(argv)
    assert list(per_output) == [f"/o/{r.name}/piece.m3u8" for r in RENDITIONS]
    for rendition in RENDITIONS:
        words = per_output[f"/o/{rendition.name}/piece.m3u8"]
        assert option(words, "-hls_segment_filename") == f"/o/{rendition.name}/seg_p0003_%05d.ts"
        assert option(words, "-f") == "hls"
        assert option(words, "-hls_playlist_type") == "vod"
        assert option(words, "-fps_mode") == "passthrough"
        if rendition.copy_video:
            assert (option(words, "-c:v"), option(words, "-c:a")) == ("copy", "copy")
            assert option(words, "-map") == "0:v"
        else:
            assert option(words, "-c:v") == "libx264"
            assert option(words, "-b:v") == f"{rendition.video_kbps}k"
            assert option(words, "-g") == str(rendition.gop)
            assert option(words, "-force_key_frames") == "expr:gte(t,n_forced*2)"
            assert (option(words, "-c:a"), option(words, "-b:a")) == ("aac", f"{rendition.audio_kbps}k")


@pytest.mark.parametrize("threads", [1, 3])
def test_threads_bound_the_decoder_the_filters_and_every_encoder(threads: int):
    argv = command(threads=threads)
    assert option(argv[: argv.index("-i")], "-threads") == str(threads)
    assert option(argv, "-filter_complex_threads") == str(threads)
    for words in outputs(argv).values():
        if "libx264" in words:
            assert option(words, "-threads") == str(threads)


def test_a_subset_of_renditions_and_the_rotation_and_no_audio():
    lowest = RENDITIONS[:1]
    argv = command(lowest, rotation=90, has_audio=False)
    assert (
        option(argv, "-filter_complex")
        == "[0:v]transpose=clock[s0];[s0]format=yuv420p[s1];[s1]scale=640:360[s2]"
    )
    assert list(outputs(argv)) == ["/o/360p/piece.m3u8"]
    assert "-c:a" not in argv
    assert "0:a" not in argv
    copied = command(RENDITIONS[-1:])
    assert "-filter_complex" not in copied
    assert option(copied, "-c:v") == "copy"


def test_refuses_what_cannot_be_a_command():
    with pytest.raises(ValueError, match="at least one"):
        command(())
    with pytest.raises(ValueError, match="each rendition once"):
        command((RENDITIONS[0], RENDITIONS[0]))
    with pytest.raises(ValueError, match="threads"):
        command(threads=0)
