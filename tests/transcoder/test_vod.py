"""The VOD rules without I/O: the probe read, the refusals, the cuts, the commands, the playlists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tidecast_common.ladder import DEFAULT_VARIANTS
from tidecast_common.media_caps import FrameCaps
from transcoder import vod


def probe_json(*, streams=None, fmt=None) -> str:
    video = {"codec_type": "video", "codec_name": "h264", "profile": "High", "pix_fmt": "yuv420p",
             "width": 1920, "height": 1080, "avg_frame_rate": "30000/1001", "level": 40}  # fmt: skip
    audio = {"codec_type": "audio", "codec_name": "aac"}
    return json.dumps(
        {
            "streams": [video, audio] if streams is None else streams,
            "format": {"format_name": "mov,mp4,m4a,3gp,3g2,mj2", "duration": "600.0", "start_time": "0.0"}
            | (fmt or {}),
        }
    )


def parse(text: str, returncode: int = 0, stderr: str = "") -> vod.Probe:
    return vod.parse_probe(text, returncode=returncode, stderr=stderr)


def test_a_phone_video_is_read_upright_and_copied_only_when_browsers_decode_it():
    probe = parse(probe_json())
    assert (probe.width, probe.height, probe.fps, probe.has_audio) == (1920, 1080, 29.97, True)
    assert probe.passthrough
    assert probe.source_codec_tag == "avc1.640028"
    rotated = parse(
        probe_json(
            streams=[
                {"codec_type": "video", "codec_name": "h264", "profile": "High", "pix_fmt": "yuv420p",
                 "width": 1920, "height": 1080, "avg_frame_rate": "30/1",
                 "side_data_list": [{"side_data_type": "Display Matrix", "rotation": -90}]}
            ]
        )
    )  # fmt: skip
    assert (rotated.width, rotated.height, rotated.rotation, rotated.has_audio) == (1080, 1920, 90, False)
    assert not rotated.passthrough  # the picture must be turned: re-encoded
    vp9 = parse(
        probe_json(streams=[{"codec_type": "video", "codec_name": "vp9", "width": 640, "height": 360}])
    )
    assert not vp9.passthrough
    assert vp9.fps == 30.0  # unknown rate: the default


@pytest.mark.parametrize(
    ("text", "returncode", "stderr", "words"),
    [
        ("", 1, "Invalid data found when processing input", "not a video"),
        ("", 1, "moov atom not found", "truncated"),
        ("{}", 0, "", "not a video"),
        (probe_json(streams=[{"codec_type": "audio", "codec_name": "aac"}]), 0, "", "no video stream"),
        (
            probe_json(
                streams=[{"codec_type": "video", "codec_name": "mjpeg", "width": 600, "height": 600,
                          "disposition": {"attached_pic": 1}}, {"codec_type": "audio", "codec_name": "mp3"}]
            ),
            0, "", "no video stream",
        ),
        (probe_json(fmt={"format_name": "png_pipe"}), 0, "", "a picture"),
        (probe_json(fmt={"format_name": "image2"}), 0, "", "a picture"),
    ],
)  # fmt: skip
def test_what_cannot_be_read_is_refused_with_a_sentence(text, returncode, stderr, words):
    with pytest.raises(vod.ProbeError) as caught:
        parse(text, returncode, stderr)
    assert words in caught.value.message
    assert caught.value.message.endswith(".")


def test_refusals_for_length_picture_and_rate():
    caps = FrameCaps(3840, 2160, 60)
    probe = parse(probe_json())
    assert vod.refusal(probe, max_seconds=3600, caps=caps) is None
    assert "longer than the 5:00" in (vod.refusal(probe, max_seconds=300, caps=caps) or "")
    assert "too large: 1920x1080 is above 1280x720" in (
        vod.refusal(probe, max_seconds=3600, caps=FrameCaps(1280, 720, 60)) or ""
    )
    portrait = parse(
        probe_json(streams=[{"codec_type": "video", "codec_name": "h264", "width": 2160, "height": 3840}])
    )
    assert vod.refusal(portrait, max_seconds=3600, caps=caps) is None
    fast = parse(
        probe_json(
            streams=[
                {
                    "codec_type": "video",
                    "codec_name": "h264",
                    "width": 640,
                    "height": 360,
                    "avg_frame_rate": "120/1",
                }
            ]
        )
    )
    assert "120 fps" in (vod.refusal(fast, max_seconds=3600, caps=caps) or "")


def test_the_ladder_is_the_live_one_never_upscaled_lowest_first():
    renditions = vod.renditions_for(parse(probe_json()), variants=DEFAULT_VARIANTS, segment_seconds=2)
    assert [(r.name, r.width, r.height, r.copy_video) for r in renditions] == [
        ("360p", 640, 360, False), ("480p", 854, 480, False), ("720p", 1280, 720, False), ("source", 1920, 1080, True),
    ]  # fmt: skip
    small = parse(
        probe_json(streams=[{"codec_type": "video", "codec_name": "vp9", "width": 641, "height": 361}])
    )
    assert [(r.name, r.width, r.height, r.copy_video) for r in vod.renditions_for(small, variants=DEFAULT_VARIANTS, segment_seconds=2)] == [
        ("360p", 640, 360, False), ("source", 640, 360, False),
    ]  # fmt: skip


def test_cuts_a_short_first_piece_then_even_ones_on_the_files_clock():
    assert vod.split_times(200, piece_seconds=60, first_piece_seconds=10) == [10, 70, 130]
    assert vod.split_times(200, piece_seconds=60, first_piece_seconds=10, start_time=1.4) == [
        11.4,
        71.4,
        131.4,
    ]
    assert vod.split_times(5, piece_seconds=60, first_piece_seconds=10) == []
    pieces = vod.parse_piece_list(
        "piece_0001.mkv,10.4,70.2\npiece_0000.mkv,0.000000,10.4\nnoise\npiece_0002.mkv,70.2,80.0\n",
        start_time=1.4,
    )
    assert pieces == [vod.Piece(0, 1.4, 10.4), vod.Piece(1, 10.4, 70.2), vod.Piece(2, 70.2, 80.0)]
    assert vod.piece_bounds(pieces, 1) == (10.4, 70.2)
    assert vod.piece_bounds(pieces, 2) == (70.2, 80.0)


def test_the_split_command_cuts_at_the_given_times_into_numbered_pieces():
    split = vod.split_command(original=Path("/u/original"), folder=Path("/w"), times=[10, 70], has_audio=True)
    assert split[split.index("-segment_times") + 1] == "10,70"
    assert split[-1] == "/w/piece_%04d.mkv"


def test_the_playlist_grows_piece_by_piece_in_order_and_closes_when_complete():
    first = vod.PieceSegments(((2.0, "seg_p0000_00000.ts"), (1.5, "seg_p0000_00001.ts")))
    second = vod.PieceSegments(((2.0, "seg_p0001_00000.ts"),))
    assert vod.variant_playlist([None, second], segment_seconds=2) is None
    growing = vod.variant_playlist([first, None, second], segment_seconds=2)
    assert growing is not None
    assert "seg_p0001" not in growing  # never past a piece that is not done
    assert "#EXT-X-PLAYLIST-TYPE:EVENT" in growing
    assert "#EXT-X-ENDLIST" not in growing
    assert "#EXT-X-START:TIME-OFFSET=0" in growing
    done = vod.variant_playlist([first, second], segment_seconds=2)
    assert done is not None
    assert done.endswith("#EXT-X-ENDLIST\n")
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in done
    assert vod.playlist_duration(done) == pytest.approx(5.5)
    assert done == vod.variant_playlist([first, second], segment_seconds=2)  # the same text every time


def test_the_last_segment_of_a_piece_lasts_until_the_next_piece():
    parsed = vod.PieceSegments.parse(
        "#EXTM3U\n#EXTINF:2.000000,\na.ts\n#EXTINF:0.640000,\nb.ts\n#EXT-X-ENDLIST\n"
    )
    assert parsed.segments == ((2.0, "a.ts"), (0.64, "b.ts"))
    assert parsed.ending_at(start=10.0, end=12.94).segments == ((2.0, "a.ts"), (0.94, "b.ts"))
