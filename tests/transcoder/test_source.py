"""LiveSource without I/O: header caching, keyframe detection, priming of each ffmpeg run."""

from __future__ import annotations

from tidecast_common import flv
from transcoder.ladder import SourceInfo
from transcoder.source import LiveSource

AVC_HEADER = b"\x17\x00\x00\x00\x00\x01\x64\x00\x1f\xff\xe1\x00\x00"  # a record with an empty SPS
AAC_HEADER = b"\xaf\x00\x12\x10"
KEYFRAME = b"\x17\x01\x00\x00\x00key"
INTER = b"\x27\x01\x00\x00\x00inter"
AUDIO = b"\xaf\x01sound"
METADATA: dict[str, object] = {"width": 640.0, "height": 360.0, "framerate": 25.0, "audiocodecid": 10.0}


def fed_source() -> LiveSource:
    source = LiveSource()
    source.set_metadata(METADATA)
    assert not source.observe(flv.TAG_VIDEO, 0, AVC_HEADER)
    assert not source.observe(flv.TAG_AUDIO, 0, AAC_HEADER)
    return source


def test_a_keyframe_is_a_start_only_after_the_avc_sequence_header() -> None:
    source = LiveSource()
    assert not source.observe(flv.TAG_VIDEO, 0, KEYFRAME)
    assert not source.observe(flv.TAG_VIDEO, 0, AVC_HEADER)
    assert source.observe(flv.TAG_VIDEO, 40, KEYFRAME)
    assert not source.observe(flv.TAG_VIDEO, 80, INTER)
    assert not source.observe(flv.TAG_AUDIO, 80, AUDIO)


def test_probe_uses_the_metadata_when_the_sps_says_nothing() -> None:
    source = LiveSource()
    assert source.probe() is None
    source = fed_source()
    assert source.probe() == SourceInfo(width=640, height=360, fps=25.0, audio_codec="aac")
    assert source.info is not None
    assert source.audio_codec_tag() == "mp4a.40.2"


def test_each_run_starts_with_the_headers_at_a_keyframe() -> None:
    source = fed_source()
    source.probe()
    assert (
        source.bytes_for_run(1, tag_type=flv.TAG_AUDIO, timestamp_ms=10, payload=AUDIO, keyframe=False)
        is None
    )
    first = source.bytes_for_run(1, tag_type=flv.TAG_VIDEO, timestamp_ms=40, payload=KEYFRAME, keyframe=True)
    assert first is not None
    priming = (
        flv.file_header(has_audio=True, has_video=True)
        + flv.metadata_tag(METADATA)
        + flv.tag(flv.TAG_VIDEO, 40, AVC_HEADER)
        + flv.tag(flv.TAG_AUDIO, 40, AAC_HEADER)
    )
    assert first == priming + flv.tag(flv.TAG_VIDEO, 40, KEYFRAME)
    inter = source.bytes_for_run(1, tag_type=flv.TAG_VIDEO, timestamp_ms=80, payload=INTER, keyframe=False)
    assert inter == flv.tag(flv.TAG_VIDEO, 80, INTER)

    # A restarted ffmpeg (run 2) waits for the next keyframe, then gets the headers again.
    assert (
        source.bytes_for_run(2, tag_type=flv.TAG_VIDEO, timestamp_ms=120, payload=INTER, keyframe=False)
        is None
    )
    again = source.bytes_for_run(2, tag_type=flv.TAG_VIDEO, timestamp_ms=160, payload=KEYFRAME, keyframe=True)
    assert again is not None
    assert again.startswith(b"FLV")

    # A write that did not arrive: the same run starts over from the headers.
    source.run_lost()
    assert (
        source.bytes_for_run(2, tag_type=flv.TAG_VIDEO, timestamp_ms=200, payload=INTER, keyframe=False)
        is None
    )


def test_the_video_bitrate_is_measured_over_at_least_a_second() -> None:
    source = LiveSource()
    source.observe(flv.TAG_VIDEO, 0, b"\x17\x01" + b"\x00" * 998)
    assert source.measured_video_kbps() is None
    source.observe(flv.TAG_VIDEO, 1000, b"\x27\x01" + b"\x00" * 998)
    assert source.measured_video_kbps() == 16  # 2000 bytes in one second
