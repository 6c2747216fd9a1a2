"""The Low-Latency HLS rules Tidecast's playlists keep, checked on playlist text.

Parsed with the `m3u8` package (independent of the writer), plus the checks it does not make:
part durations against PART-TARGET, parts adding up to their segment, media sequence numbers
without gaps, part numbers and the preload hint in order, keyframe-first segments.
"""

from __future__ import annotations

import re

import m3u8

PART_NUMBER = re.compile(r"part_(\d+)\.m4s")
SEGMENT_NUMBER = re.compile(r"seg_(\d+)\.m4s")
TOLERANCE = 0.0015


def _complete(playlist: m3u8.M3U8) -> list[m3u8.Segment]:
    return [segment for segment in playlist.segments if segment.uri]


def check_common(text: str) -> m3u8.M3U8:
    playlist = m3u8.loads(text)
    segments = _complete(playlist)
    problems: list[str] = []
    target = playlist.target_duration
    for index, segment in enumerate(segments):
        msn = playlist.media_sequence + index
        found = SEGMENT_NUMBER.fullmatch(segment.uri)
        if found is None or int(found[1]) != msn:
            problems.append(f"segment {index} is {segment.uri}, not number {msn}")
        if round(segment.duration) > target:
            problems.append(f"{segment.uri}: {segment.duration} s is above the target {target}")
        if segment.init_section is None or not segment.init_section.uri.startswith("init"):
            problems.append(f"{segment.uri}: no init segment")
    assert not problems, "\n".join(problems) + "\n" + text
    return playlist


def check_live(text: str) -> m3u8.M3U8:
    """A live variant playlist: LL-HLS server control, parts, and a preload hint last."""
    playlist = check_common(text)
    problems: list[str] = []
    control = playlist.server_control
    part_target = playlist.part_inf.part_target if playlist.part_inf else None
    if control is None or control.can_block_reload != "YES":
        problems.append("no CAN-BLOCK-RELOAD=YES")
    if part_target is None or not 0 < part_target <= 1.0:
        problems.append(f"PART-TARGET {part_target}")
    if control is not None and part_target:
        if control.part_hold_back is None or control.part_hold_back < 3 * part_target - TOLERANCE:
            problems.append(f"PART-HOLD-BACK {control.part_hold_back} below three parts")
        if control.can_skip_until is None or control.can_skip_until < 6 * playlist.target_duration:
            problems.append(f"CAN-SKIP-UNTIL {control.can_skip_until} below six target durations")
    if playlist.is_endlist:
        problems.append("a live playlist with #EXT-X-ENDLIST")
    numbers: list[int] = []
    segments = playlist.segments  # the open segment (parts only, no URI) comes last
    for index, segment in enumerate(segments):
        parts = segment.parts
        if not parts:
            continue
        if segment.uri and abs(sum(part.duration for part in parts) - segment.duration) > TOLERANCE * len(
            parts
        ):
            problems.append(f"{segment.uri}: its parts do not add up to {segment.duration}")
        if not parts[0].independent:
            problems.append(f"segment {index}: its first part is not independent")
        for number, part in enumerate(parts):
            if part_target and part.duration > part_target + TOLERANCE:
                problems.append(f"{part.uri}: {part.duration} s is above PART-TARGET {part_target}")
            last = number == len(parts) - 1 and bool(segment.uri)
            if part_target and not last and index != len(segments) - 1 and part.duration < 0.85 * part_target:
                problems.append(f"{part.uri}: {part.duration} s is below 85% of PART-TARGET")
            found = PART_NUMBER.fullmatch(part.uri)
            if found is None:
                problems.append(f"part URI {part.uri}")
            else:
                numbers.append(int(found[1]))
    if not numbers:
        problems.append("no #EXT-X-PART")
    if numbers != list(range(numbers[0], numbers[0] + len(numbers))) if numbers else False:
        problems.append(f"part numbers out of order: {numbers}")
    hint = playlist.preload_hint
    if hint is None or hint.hint_type != "PART":
        problems.append("no #EXT-X-PRELOAD-HINT:TYPE=PART")
    elif numbers and hint.uri != f"part_{numbers[-1] + 1:06d}.m4s":
        problems.append(f"the hint {hint.uri} is not the part after {numbers[-1]}")
    if not text.rstrip().splitlines()[-1].startswith("#EXT-X-PRELOAD-HINT:"):
        problems.append("the preload hint is not the last line")
    assert not problems, "\n".join(problems) + "\n" + text
    return playlist


def check_vod(text: str) -> m3u8.M3U8:
    """A finished recording: plain VOD, no low-latency tags left."""
    playlist = check_common(text)
    problems = []
    if not playlist.is_endlist:
        problems.append("no #EXT-X-ENDLIST")
    if playlist.playlist_type != "vod":
        problems.append(f"playlist type {playlist.playlist_type}")
    for tag in ("#EXT-X-PART", "#EXT-X-PRELOAD-HINT", "#EXT-X-SERVER-CONTROL", "#EXT-X-SKIP"):
        if tag in text:
            problems.append(f"{tag} in a VOD")
    assert not problems, "\n".join(problems) + "\n" + text
    return playlist


def check_aligned(playlists: dict[str, m3u8.M3U8]) -> None:
    """Segment n of every rendition covers the same media time (same duration, same count)."""
    durations = {name: [s.duration for s in _complete(p)] for name, p in playlists.items()}
    shortest = min(len(values) for values in durations.values())
    problems = []
    for index in range(shortest):
        values = {name: round(items[index], 3) for name, items in durations.items()}
        if max(values.values()) - min(values.values()) > 0.002:
            problems.append(f"segment {index}: {values}")
    assert not problems, "\n".join(problems)
