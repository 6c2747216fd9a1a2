"""Low-Latency HLS media playlists (RFC 8216bis with Apple's LL-HLS additions), written by the
transcoder's packager and read by the HLS server. Pure text rules, no I/O.

- `MediaPlaylist` is one rendition's playlist: complete segments, the parts of the segment being
  made, and `render()` to the live text (parts of the newest segments, a preload hint, server
  control) or, once `ended`, the plain VOD text (segments only, `#EXT-X-ENDLIST`).
- `PlaylistState` is what the server needs of a rendered live playlist to answer a blocking
  request: the last complete segment, how many parts the next one has, whether it ended.
- `delta_playlist()` is the `_HLS_skip=YES` form: the oldest segments replaced by `#EXT-X-SKIP`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

# Parts are listed for this many of the newest complete segments (and the one being made).
PART_SEGMENTS = 3
# CAN-SKIP-UNTIL, in target durations (the spec wants at least six).
SKIP_TARGET_DURATIONS = 6
# PART-HOLD-BACK, in part targets (the spec wants at least two, and recommends three).
PART_HOLD_BACK_PARTS = 3.0
LIVE_VERSION = 9  # EXT-X-SKIP needs version 9
VOD_VERSION = 6  # EXT-X-MAP in a media playlist


@dataclass(frozen=True, slots=True)
class Part:
    uri: str
    duration: float
    independent: bool


@dataclass(slots=True)
class Segment:
    msn: int
    uri: str
    duration: float
    parts: list[Part]
    map_uri: str
    discontinuity: bool = False
    program_date_time: float | None = None  # epoch seconds of its first frame


@dataclass(slots=True)
class OpenSegment:
    """The segment being made: its parts so far, and what it will be called."""

    msn: int
    map_uri: str
    discontinuity: bool
    program_date_time: float | None
    parts: list[Part] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return sum(part.duration for part in self.parts)


@dataclass(slots=True)
class MediaPlaylist:
    segment_seconds: float
    part_target: float
    segments: list[Segment] = field(default_factory=list)
    current: OpenSegment | None = None
    next_part_uri: str | None = None  # the preload hint
    ended: bool = False

    @property
    def next_msn(self) -> int:
        if self.current is not None:
            return self.current.msn
        return self.segments[-1].msn + 1 if self.segments else 0

    @property
    def target_duration(self) -> int:
        longest = max((segment.duration for segment in self.segments), default=0.0)
        # RFC 8216 4.4.3.1: every EXTINF rounded to the nearest integer is at most the target.
        return max(1, math.ceil(self.segment_seconds), round(longest))

    def render(self) -> str:
        return self._render_vod() if self.ended else self._render_live()

    def _header(self, version: int) -> list[str]:
        return [
            "#EXTM3U",
            f"#EXT-X-VERSION:{version}",
            f"#EXT-X-TARGETDURATION:{self.target_duration}",
            f"#EXT-X-MEDIA-SEQUENCE:{self.segments[0].msn if self.segments else self.next_msn}",
            "#EXT-X-INDEPENDENT-SEGMENTS",
        ]

    def _render_live(self) -> str:
        lines = self._header(LIVE_VERSION)
        lines[3:3] = [
            "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,"
            f"CAN-SKIP-UNTIL={SKIP_TARGET_DURATIONS * self.target_duration:.1f},"
            f"PART-HOLD-BACK={PART_HOLD_BACK_PARTS * self.part_target:.3f}",
            f"#EXT-X-PART-INF:PART-TARGET={self.part_target:.3f}",
        ]
        lines.append("#EXT-X-PLAYLIST-TYPE:EVENT")
        with_parts = {segment.msn for segment in self.segments[-PART_SEGMENTS:]}
        map_uri: str | None = None
        for segment in self.segments:
            map_uri = _segment_tags(
                lines, segment.discontinuity, segment.map_uri, map_uri, segment.program_date_time
            )
            if segment.msn in with_parts:
                lines.extend(_part_line(part) for part in segment.parts)
            lines.append(f"#EXTINF:{segment.duration:.5f},")
            lines.append(segment.uri)
        current = self.current
        if current is not None and current.parts:
            _segment_tags(lines, current.discontinuity, current.map_uri, map_uri, current.program_date_time)
            lines.extend(_part_line(part) for part in current.parts)
        if self.next_part_uri is not None:
            lines.append(f'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="{self.next_part_uri}"')
        return "\n".join(lines) + "\n"

    def _render_vod(self) -> str:
        lines = self._header(VOD_VERSION)
        lines.append("#EXT-X-PLAYLIST-TYPE:VOD")
        map_uri: str | None = None
        for segment in self.segments:
            map_uri = _segment_tags(
                lines, segment.discontinuity, segment.map_uri, map_uri, segment.program_date_time
            )
            lines.append(f"#EXTINF:{segment.duration:.5f},")
            lines.append(segment.uri)
        lines.append("#EXT-X-ENDLIST")
        return "\n".join(lines) + "\n"


def _segment_tags(
    lines: list[str],
    discontinuity: bool,
    map_uri: str,
    previous_map: str | None,
    program_date_time: float | None,
) -> str:
    if discontinuity:
        lines.append("#EXT-X-DISCONTINUITY")
    if map_uri != previous_map:
        lines.append(f'#EXT-X-MAP:URI="{map_uri}"')
    if program_date_time is not None:
        lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{format_date_time(program_date_time)}")
    return map_uri


def _part_line(part: Part) -> str:
    independent = ",INDEPENDENT=YES" if part.independent else ""
    return f'#EXT-X-PART:DURATION={part.duration:.5f},URI="{part.uri}"{independent}'


def format_date_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_date_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# --- reading a rendered playlist --------------------------------------------------------------

_ATTRIBUTE = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^",]*)')


def attributes(line: str) -> dict[str, str]:
    """The attribute list of a tag line (`#EXT-X-PART:DURATION=0.33,URI="a.m4s"`), quotes removed."""
    _tag, _colon, rest = line.partition(":")
    return {name: value.strip('"') for name, value in _ATTRIBUTE.findall(rest)}


@dataclass(frozen=True, slots=True)
class PlaylistState:
    """What a blocking request is measured against."""

    last_msn: int  # the last complete segment; -1 before the first
    parts: int  # parts of segment last_msn + 1 listed so far
    ended: bool
    target_duration: float
    can_skip_until: float | None
    preload_hint: str | None

    def has(self, msn: int, part: int | None) -> bool:
        """Whether segment `msn` (or part `part` of it) is in the playlist."""
        if self.ended or msn <= self.last_msn:
            return True
        if part is None:
            return False
        return msn == self.last_msn + 1 and part < self.parts


def playlist_state(text: str) -> PlaylistState:
    media_sequence = 0
    segments = 0
    parts = 0
    target = 0.0
    skip_until: float | None = None
    hint: str | None = None
    ended = False
    for line in text.splitlines():
        if not line.startswith("#"):
            if line.strip():
                segments += 1
                parts = 0
        elif line.startswith("#EXT-X-PART:"):
            parts += 1
        elif line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            media_sequence = int(line.partition(":")[2])
        elif line.startswith("#EXT-X-TARGETDURATION:"):
            target = float(line.partition(":")[2])
        elif line.startswith("#EXT-X-SERVER-CONTROL:"):
            value = attributes(line).get("CAN-SKIP-UNTIL")
            skip_until = float(value) if value else None
        elif line.startswith("#EXT-X-PRELOAD-HINT:"):
            hint = attributes(line).get("URI")
        elif line.startswith("#EXT-X-ENDLIST"):
            ended = True
    return PlaylistState(
        last_msn=media_sequence + segments - 1,
        parts=parts,
        ended=ended,
        target_duration=target,
        can_skip_until=skip_until,
        preload_hint=hint,
    )


def delta_playlist(text: str) -> str | None:
    """The `_HLS_skip=YES` delta update of a live playlist, None when nothing can be skipped.

    Segments that end more than CAN-SKIP-UNTIL before the end of the playlist are replaced by one
    `#EXT-X-SKIP:SKIPPED-SEGMENTS=n`; the newest `#EXT-X-MAP` is repeated above the first segment
    kept, so that segment's init segment is named in the delta itself.
    """
    lines = text.rstrip("\n").split("\n")
    header_end = next((i for i, line in enumerate(lines) if _segment_line(line)), len(lines))
    header, body = lines[:header_end], lines[header_end:]
    skip_until = playlist_state(text).can_skip_until
    if skip_until is None:
        return None
    blocks: list[tuple[list[str], float]] = []
    block: list[str] = []
    for line in body:
        block.append(line)
        if not line.startswith("#"):
            duration = next(
                (
                    float(item.partition(":")[2].rstrip(",").split(",")[0])
                    for item in block
                    if item.startswith("#EXTINF:")
                ),
                0.0,
            )
            blocks.append((block, duration))
            block = []
    total = sum(duration for _lines, duration in blocks) + sum(
        float(attributes(line).get("DURATION", "0")) for line in block if line.startswith("#EXT-X-PART:")
    )
    skipped = 0
    elapsed = 0.0
    map_line: str | None = None
    for lines_of, duration in blocks:
        if (
            any(line.startswith("#EXT-X-PART:") for line in lines_of)
            or total - (elapsed + duration) < skip_until
        ):
            break
        map_line = next((line for line in reversed(lines_of) if line.startswith("#EXT-X-MAP:")), map_line)
        elapsed += duration
        skipped += 1
    if skipped == 0:
        return None
    kept = [line for lines_of, _duration in blocks[skipped:] for line in lines_of] + block
    if map_line is not None and not any(line.startswith("#EXT-X-MAP:") for line in kept[:4]):
        kept.insert(0, map_line)
    return "\n".join([*header, f"#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped}", *kept]) + "\n"


def _segment_line(line: str) -> bool:
    return line.startswith(
        ("#EXTINF:", "#EXT-X-PART:", "#EXT-X-MAP:", "#EXT-X-DISCONTINUITY", "#EXT-X-PROGRAM-DATE-TIME:",
         "#EXT-X-PRELOAD-HINT:")
    ) or not line.startswith("#")  # fmt: skip


def parse_media_playlist(text: str, *, segment_seconds: float, part_target: float) -> MediaPlaylist:
    """A playlist this module rendered, read back (complete segments only: a restarted packager
    goes on after them; the parts of an unfinished segment are dropped)."""
    playlist = MediaPlaylist(segment_seconds=segment_seconds, part_target=part_target)
    media_sequence = 0
    map_uri = ""
    discontinuity = False
    program_date_time: float | None = None
    duration = 0.0
    parts: list[Part] = []
    for line in text.splitlines():
        if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            media_sequence = int(line.partition(":")[2])
        elif line.startswith("#EXT-X-MAP:"):
            map_uri = attributes(line).get("URI", "")
        elif line.startswith("#EXT-X-DISCONTINUITY") and not line.startswith("#EXT-X-DISCONTINUITY-SEQUENCE"):
            discontinuity = True
        elif line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            program_date_time = parse_date_time(line.partition(":")[2])
        elif line.startswith("#EXT-X-PART:"):
            values = attributes(line)
            parts.append(Part(values["URI"], float(values["DURATION"]), values.get("INDEPENDENT") == "YES"))
        elif line.startswith("#EXTINF:"):
            duration = float(line.partition(":")[2].split(",")[0])
        elif line.startswith("#EXT-X-PRELOAD-HINT:"):
            playlist.next_part_uri = attributes(line).get("URI")
        elif line.startswith("#EXT-X-ENDLIST"):
            playlist.ended = True
        elif line.strip() and not line.startswith("#"):
            msn = media_sequence + len(playlist.segments)
            playlist.segments.append(
                Segment(msn, line.strip(), duration, parts, map_uri, discontinuity, program_date_time)
            )
            discontinuity, program_date_time, parts = False, None, []
    return playlist
