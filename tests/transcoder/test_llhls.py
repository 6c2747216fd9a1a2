"""The Low-Latency HLS packaging rules, without I/O: parts, aligned segments, hints, VOD, restarts."""

from __future__ import annotations

import m3u8
import pytest

from tidecast_common.llhls import MediaPlaylist, delta_playlist, parse_media_playlist, playlist_state
from transcoder.cmaf import FragmentInfo
from transcoder.llhls import (
    RenditionPackager,
    fragment_microseconds,
    next_part_number,
    part_target_seconds,
)

FPS = 30.0


def packager(
    playlist: MediaPlaylist | None = None, *, run: int = 0, first_part: int = 0
) -> RenditionPackager:
    return RenditionPackager(
        playlist=playlist or MediaPlaylist(segment_seconds=2, part_target=0.334),
        run=run,
        segment_seconds=2,
        fps=FPS,
        wall_clock_start=1_800_000_000.0,
        first_part=first_part,
    )


def feed(target: RenditionPackager, fragments: list[tuple[float, float, bool]]) -> list[str]:
    written: list[str] = []
    for start, duration, keyframe in fragments:
        output = target.fragment(f"{start}".encode(), FragmentInfo(start, duration, keyframe))
        written.extend(name for name, _data in output.files)
    return written


def every_third_of_a_second(
    seconds: float, *, keyframes: set[int], offset: float = 0.0
) -> list[tuple[float, float, bool]]:
    """Fragments of 10 frames; `keyframes` holds the fragment indexes that start with one."""
    count = round(seconds * 3)
    return [(offset + i / 3, 1 / 3, i in keyframes) for i in range(count)]


def test_part_target_and_fragment_duration_are_whole_frames() -> None:
    assert part_target_seconds(0.333, 30) == 0.334
    assert part_target_seconds(0.333, 25) == 0.32  # 8 frames
    assert fragment_microseconds(0.333, 30) == 316_667  # half a frame short of 10 frames
    assert part_target_seconds(0.01, 30) == pytest.approx(0.034)


def test_fragments_become_parts_and_keyframes_on_the_segment_clock_start_segments() -> None:
    target = packager()
    written = feed(target, every_third_of_a_second(6, keyframes={0, 6, 12}))
    playlist = target.playlist
    assert [segment.uri for segment in playlist.segments] == ["seg_00000.m4s", "seg_00001.m4s"]
    assert "seg_00000.m4s" in written
    assert "part_000000.m4s" in written
    assert [part.independent for part in playlist.segments[0].parts] == [True] + [False] * 5
    assert playlist.current is not None
    assert playlist.current.msn == 2
    assert playlist.next_part_uri == "part_000018.m4s"
    text = playlist.render()
    assert '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part_000018.m4s"' in text
    assert "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=12.0,PART-HOLD-BACK=1.002" in text
    assert "#EXT-X-PART-INF:PART-TARGET=0.334" in text
    assert '#EXT-X-PART:DURATION=0.33333,URI="part_000012.m4s",INDEPENDENT=YES' in text
    parsed = m3u8.loads(text)
    assert parsed.server_control.can_block_reload == "YES"
    complete = [segment for segment in parsed.segments if segment.uri]  # m3u8 lists the open one too
    assert len(complete) == 2
    assert parsed.segments[0].duration == pytest.approx(2.0)
    assert parsed.preload_hint.uri == "part_000018.m4s"


def test_a_keyframe_half_a_frame_early_still_starts_the_segment() -> None:
    # OBS with an exact 2 s keyframe interval: the second keyframe at 1.999 s, not after 2 s.
    target = packager()
    fragments = [*every_third_of_a_second(2, keyframes={0})[:-1], (1.999, 1 / 3, True), (2.332, 1 / 3, False)]
    feed(target, fragments)
    assert len(target.playlist.segments) == 1
    assert target.playlist.segments[0].duration == pytest.approx(5 / 3)


def test_keyframes_between_boundaries_are_independent_parts_only() -> None:
    target = packager()
    feed(target, every_third_of_a_second(4, keyframes={0, 3, 6, 9}))  # a keyframe every second
    assert len(target.playlist.segments) == 1  # cut at 2 s only
    assert target.playlist.current is not None
    assert [part.independent for part in target.playlist.current.parts] == [
        True,
        False,
        False,
        True,
        False,
        False,
    ]


def test_old_part_files_go_and_the_playlist_lists_parts_of_the_newest_segments_only() -> None:
    target = packager()
    deleted: list[str] = []
    for start, duration, keyframe in every_third_of_a_second(14, keyframes=set(range(0, 42, 6))):
        deleted.extend(target.fragment(b"x", FragmentInfo(start, duration, keyframe)).deleted)
    assert deleted[:6] == [f"part_{n:06d}.m4s" for n in range(6)]
    text = target.playlist.render()
    assert "part_000005.m4s" not in text
    assert "part_000018.m4s" in text
    assert sum(1 for segment in target.playlist.segments if segment.parts) == 4


def test_the_finished_stream_is_a_vod_without_parts() -> None:
    target = packager()
    feed(target, every_third_of_a_second(5, keyframes={0, 6, 12}))
    output = target.finish()
    assert ("seg_00002.m4s", b"4.0" + b"4.333333333333333" + b"4.666666666666667") in output.files
    assert "part_000000.m4s" in output.deleted
    assert "part_000014.m4s" in output.deleted
    text = target.playlist.render()
    parsed = m3u8.loads(text)
    assert parsed.is_endlist
    assert parsed.playlist_type == "vod"
    assert "#EXT-X-PART" not in text
    assert "PRELOAD-HINT" not in text
    assert "SERVER-CONTROL" not in text
    assert [round(s.duration, 3) for s in parsed.segments] == [2.0, 2.0, 1.0]


def test_a_restart_continues_after_the_listed_segments_with_a_discontinuity_and_a_new_init() -> None:
    first = packager()
    feed(first, every_third_of_a_second(5, keyframes={0, 6, 12}))
    text = first.playlist.render()
    again = parse_media_playlist(text, segment_seconds=2, part_target=0.334)
    assert [s.msn for s in again.segments] == [0, 1]
    first_part = next_part_number(again)
    assert first_part == 16  # after the hinted part of the dead run: no name is reused
    second = packager(again, run=1, first_part=first_part)
    assert second.map_uri == "init_1.mp4"
    feed(second, every_third_of_a_second(3, keyframes={0, 6}))  # ffmpeg's clock starts at 0 again
    rendered = second.playlist.render()
    assert [s.uri for s in second.playlist.segments] == ["seg_00000.m4s", "seg_00001.m4s", "seg_00002.m4s"]
    assert rendered.count("#EXT-X-DISCONTINUITY") == 1
    assert rendered.index("#EXT-X-DISCONTINUITY") > rendered.index("seg_00001.m4s")
    assert '#EXT-X-MAP:URI="init_1.mp4"' in rendered


def test_playlist_state_tells_what_a_blocking_request_waits_for() -> None:
    target = packager()
    feed(target, every_third_of_a_second(4.67, keyframes={0, 6, 12}))  # 2 segments + 2 parts
    state = playlist_state(target.playlist.render())
    assert (state.last_msn, state.parts, state.ended) == (1, 2, False)
    assert state.has(1, None)
    assert state.has(2, 1)
    assert not state.has(2, 2)
    assert not state.has(3, 0)
    assert state.preload_hint == "part_000014.m4s"
    assert state.target_duration == 2
    target.finish()
    assert playlist_state(target.playlist.render()).has(99, 0)


def test_delta_playlist_skips_old_segments_and_keeps_the_init() -> None:
    target = packager()
    feed(target, every_third_of_a_second(30.5, keyframes=set(range(0, 93, 6))))
    full = target.playlist.render()
    delta = delta_playlist(full)
    assert delta is not None
    parsed = m3u8.loads(delta)
    assert parsed.skip.skipped_segments == 9  # 15 segments of 2 s; the last 12 s are kept
    assert parsed.media_sequence == 0
    assert '#EXT-X-MAP:URI="init.mp4"' in delta
    assert delta.count("#EXTINF") == 6
    assert delta.endswith('URI="part_000092.m4s"\n')
    short = packager()
    feed(short, every_third_of_a_second(6, keyframes={0, 6, 12}))
    assert delta_playlist(short.playlist.render()) is None
