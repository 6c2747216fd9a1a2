from __future__ import annotations

from pathlib import Path

import pytest

from tests.transcoder.sources import avc_sequence_header, baseline_sps_nal, h264_source, high_444_10bit_sps
from tidecast_common.ladder import DEFAULT_VARIANTS
from transcoder.codecs import parse_sps
from transcoder.ladder import SourceInfo, build_ladder
from transcoder.playlists import (
    Finalization,
    atomic_write_text,
    closed_playlist,
    ensure_endlist,
    h264_codec_tag,
    master_playlist,
    plan_finalization,
    with_measured_bitrate,
)
from transcoder.source import audio_codec_tag, source_info


def test_master_lists_every_rendition_with_bandwidth_resolution_and_codecs() -> None:
    renditions = build_ladder(
        source=h264_source(1920, 1080, video_kbps=4500),
        variants=DEFAULT_VARIANTS,
        segment_seconds=2,
    )
    text = master_playlist(
        video_url="abcdefgh12345678",
        renditions=renditions,
        fps=30,
        source_codec_tag="avc1.64002a",
        audio_codec_tag="mp4a.40.2",
    )
    lines = text.splitlines()
    assert lines[:3] == ["#EXTM3U", "#EXT-X-VERSION:6", "#EXT-X-INDEPENDENT-SEGMENTS"]
    assert lines[3] == (
        "#EXT-X-STREAM-INF:BANDWIDTH=5078000,AVERAGE-BANDWIDTH=4628000,RESOLUTION=1920x1080,"
        'FRAME-RATE=30.000,CODECS="avc1.64002a,mp4a.40.2"'
    )
    assert lines[4] == "abcdefgh12345678/source/index.m3u8"
    assert 'RESOLUTION=640x360,FRAME-RATE=30.000,CODECS="avc1.42c01e,mp4a.40.2"' in lines[9]
    assert lines[10] == "abcdefgh12345678/360p/index.m3u8"
    assert len(lines) == 11


def test_codec_tags() -> None:
    assert h264_codec_tag("main", "3.1") == "avc1.4d401f"
    assert h264_codec_tag("high", "4.2") == "avc1.64002a"
    assert audio_codec_tag(b"\xaf\x00\x12\x10") == "mp4a.40.2"
    assert audio_codec_tag(b"\xaf\x00\x2b\x92") == "mp4a.40.5"
    assert audio_codec_tag(None) == "mp4a.40.2"


def test_endlist_is_appended_once_and_atomically(tmp_path: Path) -> None:
    playlist = tmp_path / "index.m3u8"
    atomic_write_text(playlist, "#EXTM3U\n#EXTINF:2.0,\nseg_00000.ts")
    assert ensure_endlist(playlist)
    assert not ensure_endlist(playlist)
    assert playlist.read_text() == "#EXTM3U\n#EXTINF:2.0,\nseg_00000.ts\n#EXT-X-ENDLIST\n"
    assert [p.name for p in tmp_path.iterdir()] == ["index.m3u8"]
    assert not ensure_endlist(tmp_path / "missing.m3u8")


def test_master_names_the_codec_really_written_for_a_re_encoded_source() -> None:
    source = h264_source(1280, 720, sps=high_444_10bit_sps(1280, 720), video_kbps=3000)
    assert source.video_codec_tag == "avc1.f4001f"
    renditions = build_ladder(source=source, variants=DEFAULT_VARIANTS, segment_seconds=2)
    text = master_playlist(
        video_url="abcdefgh12345678",
        renditions=renditions,
        fps=30,
        source_codec_tag=source.video_codec_tag,
        audio_codec_tag="mp4a.40.2",
    )
    assert "avc1.f4" not in text
    assert text.splitlines()[3] == (
        "#EXT-X-STREAM-INF:BANDWIDTH=3428000,AVERAGE-BANDWIDTH=3128000,RESOLUTION=1280x720,"
        'FRAME-RATE=30.000,CODECS="avc1.64001f,mp4a.40.2"'
    )


def test_source_info_takes_size_and_rate_from_the_sps_over_the_metadata() -> None:
    header = avc_sequence_header(baseline_sps_nal(1280, 720, fps=25.0))
    metadata: dict[str, object] = {
        "width": 1920.0,
        "height": 1080.0,
        "framerate": 60.0,
        "videodatarate": 4500.0,
    }
    info = source_info(metadata=metadata, avc_sequence_header=header, video_codec="h264", audio_codec="aac")
    assert info is not None
    assert (info.width, info.height, info.fps, info.video_kbps) == (1280, 720, 25.0, 4500)
    assert info.video_sps == parse_sps(baseline_sps_nal(1280, 720, fps=25.0))
    assert info.video_codec_tag == "avc1.42c01f"
    assert info.passthrough


@pytest.mark.parametrize("sps_fps", [None, 45000.0])  # no timing info; a 90 kHz clock tick, not a rate
def test_the_metadata_rate_fills_in_only_what_the_sps_lacks(sps_fps: float | None) -> None:
    header = avc_sequence_header(baseline_sps_nal(640, 360, fps=sps_fps))
    info = source_info(metadata={"framerate": 59.94}, avc_sequence_header=header, video_codec="h264",
                       audio_codec=None)  # fmt: skip
    assert info is not None
    assert (info.width, info.height, info.fps) == (640, 360, 59.94)
    no_rate = source_info(metadata={}, avc_sequence_header=header, video_codec="h264", audio_codec=None)
    assert no_rate is not None
    assert no_rate.fps == 30.0


def test_source_info_without_an_sps_uses_the_metadata() -> None:
    metadata: dict[str, object] = {"width": 1280.0, "height": 720.0, "framerate": 59.94, "videodatarate": 4500.0,
                                   "audiocodecid": 10.0}  # fmt: skip
    info = source_info(metadata=metadata, avc_sequence_header=None, video_codec="h264", audio_codec=None)
    assert info == SourceInfo(width=1280, height=720, fps=59.94, audio_codec="aac", video_kbps=4500)
    assert not info.passthrough  # nothing says browsers decode it
    assert source_info(metadata={}, avc_sequence_header=None, video_codec=None, audio_codec=None) is None
    no_audio = source_info(metadata={"width": 640, "height": 360}, avc_sequence_header=None,
                           video_codec=None, audio_codec=None)  # fmt: skip
    assert no_audio is not None
    assert no_audio.audio_codec is None


LADDER = build_ladder(source=h264_source(1280, 720), variants=DEFAULT_VARIANTS, segment_seconds=2)


def test_a_playlist_is_closed_once() -> None:
    assert closed_playlist("#EXTM3U\nseg_00000.ts") == "#EXTM3U\nseg_00000.ts\n#EXT-X-ENDLIST\n"
    assert closed_playlist("#EXTM3U\nseg_00000.ts\n") == "#EXTM3U\nseg_00000.ts\n#EXT-X-ENDLIST\n"
    assert closed_playlist("#EXTM3U\nseg_00000.ts\n#EXT-X-ENDLIST\n") is None


def test_a_recording_keeps_the_renditions_that_began() -> None:
    names = [r.name for r in LADDER]
    assert names == ["source", "480p", "360p"]
    everything = plan_finalization(renditions=LADDER, present=set(names), master_written=True)
    assert everything == Finalization(close=("source", "480p", "360p"), master=None)
    # ffmpeg died before 360p had a playlist: the master must not list it.
    partial = plan_finalization(renditions=LADDER, present={"source", "480p"}, master_written=True)
    assert partial == Finalization(close=("source", "480p"), master=LADDER[:2])
    # The stream ended before the master was published.
    unpublished = plan_finalization(renditions=LADDER, present=set(names), master_written=False)
    assert unpublished.master == LADDER
    assert plan_finalization(renditions=LADDER, present=set(), master_written=False) == Finalization((), None)


def test_the_measured_bitrate_stands_in_only_for_a_missing_stated_one() -> None:
    measured = with_measured_bitrate(LADDER, stated_kbps=None, measured_kbps=2000)
    assert (measured[0].video_kbps, measured[0].maxrate_kbps) == (2000, 2200)
    assert measured[1:] == list(LADDER[1:])
    assert with_measured_bitrate(LADDER, stated_kbps=4500, measured_kbps=2000) == list(LADDER)
    assert with_measured_bitrate(LADDER, stated_kbps=None, measured_kbps=None) == list(LADDER)
