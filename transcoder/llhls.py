"""One rendition's Low-Latency HLS packaging: ffmpeg's fragmented MP4 in, files and a playlist out.
Pure: `RenditionPackager` returns the files to write and delete; `transcoder.package` does the I/O.

- The init segment (`ftyp` + `moov`) becomes `init.mp4` (`init_<run>.mp4` after a restart).
- Every fragment (`moof` + `mdat`) is a part, `INDEPENDENT=YES` when it starts with a keyframe.
- Parts are joined into segments at keyframes on the segment clock: segment k of a run starts at
  the first keyframe at or after k x `segment_seconds` (less half a frame) from the run's first
  frame. Every rendition of the stream gets the same keyframes (the encoded ones are forced where
  the source has one, or on the same clock), so every rendition cuts at the same frames and its
  segment n covers the same media time: a source keyframe at 1.999 s starts segment 1 everywhere.
- A restart goes on after the segments already listed: a new init segment and
  `#EXT-X-DISCONTINUITY`. At the end the playlist becomes VOD and the part files go.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tidecast_common.layout import init_name, parse_part_name, part_name, segment_name
from tidecast_common.llhls import PART_SEGMENTS, MediaPlaylist, OpenSegment, Part, Segment
from transcoder.cmaf import Box, CmafError, FragmentInfo, InitInfo, parse_fragment, parse_init


@dataclass(slots=True)
class Output:
    """What one step of packaging changes on disk; the playlist is written after the files."""

    files: list[tuple[str, bytes]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    playlist_changed: bool = False


def part_target_seconds(part_seconds: float, fps: float) -> float:
    """PART-TARGET: the part duration rounded to whole frames (at least one), to the millisecond up."""
    frames = max(1, round(part_seconds * fps))
    return int(frames / fps * 1000 + 0.999) / 1000


def fragment_microseconds(part_seconds: float, fps: float) -> int:
    """ffmpeg's -frag_duration: it cuts at the first frame at least this far into a fragment, so
    half a frame short of the target gives fragments of exactly the target's frames."""
    frames = max(1, round(part_seconds * fps))
    return max(1, round((frames - 0.5) / fps * 1_000_000))


class RenditionPackager:
    def __init__(
        self,
        *,
        playlist: MediaPlaylist,
        run: int,
        segment_seconds: float,
        fps: float,
        wall_clock_start: float | None,
        first_part: int = 0,
    ) -> None:
        self.playlist = playlist
        self._run = run
        self._segment_seconds = segment_seconds
        self._tolerance = 0.5 / fps if fps > 0 else 0.0
        self._wall_start = wall_clock_start
        self._init: InitInfo | None = None
        self._moof: bytes | None = None
        self._origin: float | None = None
        self._segments_in_run = 0
        self._next_part = first_part
        self._data: list[bytes] = []  # the open segment's fragments
        self._discontinuity = bool(playlist.segments)
        self._init_bytes = b""

    @property
    def map_uri(self) -> str:
        return init_name(self._run)

    def box(self, box: Box) -> Output:
        """One top-level box of ffmpeg's output."""
        if box.type == b"ftyp":
            self._init_bytes = box.data
            return Output()
        if box.type == b"moov":
            self._init = parse_init(box.payload)
            return Output(files=[(self.map_uri, self._init_bytes + box.data)])
        if box.type == b"moof":
            self._moof = box.data
            return Output()
        if box.type == b"mdat":
            if self._moof is None or self._init is None:
                raise CmafError("mdat before moov or moof")
            moof, self._moof = self._moof, None
            info = parse_fragment(moof[8:], self._init)
            return self.fragment(moof + box.data, info)
        return Output()  # styp, sidx, free, ...

    def fragment(self, data: bytes, info: FragmentInfo) -> Output:
        output = Output(playlist_changed=True)
        if self._origin is None:
            self._origin = info.start
        elapsed = info.start - self._origin
        current = self.playlist.current
        boundary = self._segments_in_run * self._segment_seconds - self._tolerance
        if current is None or (info.keyframe and current.parts and elapsed >= boundary):
            if current is not None and current.parts:
                self._close_segment(output)
            self.playlist.current = OpenSegment(
                msn=self.playlist.next_msn,
                map_uri=self.map_uri,
                discontinuity=self._discontinuity,
                program_date_time=None if self._wall_start is None else self._wall_start + elapsed,
            )
            self._discontinuity = False
            self._segments_in_run += 1
        open_segment = self.playlist.current
        if open_segment is None:  # set just above
            raise RuntimeError("no open segment")
        name = part_name(self._next_part)
        self._next_part += 1
        open_segment.parts.append(Part(name, info.duration, info.keyframe))
        self._data.append(data)
        output.files.append((name, data))
        self.playlist.next_part_uri = part_name(self._next_part)
        return output

    def finish(self) -> Output:
        """The stream ended: the last segment closed, the playlist VOD, every part file gone."""
        output = Output(playlist_changed=True)
        current = self.playlist.current
        if current is not None and current.parts:
            self._close_segment(output)
        self.playlist.current = None
        self.playlist.next_part_uri = None
        self.playlist.ended = True
        for segment in self.playlist.segments:
            output.deleted.extend(part.uri for part in segment.parts)
            segment.parts = []
        return output

    def _close_segment(self, output: Output) -> None:
        current = self.playlist.current
        if current is None:
            return
        segment = Segment(
            msn=current.msn,
            uri=segment_name(current.msn),
            duration=current.duration,
            parts=current.parts,
            map_uri=current.map_uri,
            discontinuity=current.discontinuity,
            program_date_time=current.program_date_time,
        )
        output.files.append((segment.uri, b"".join(self._data)))
        self._data = []
        self.playlist.segments.append(segment)
        self.playlist.current = None
        # Parts no longer listed go (one segment later than the playlist drops them, for players
        # that read the previous playlist a moment ago).
        segments = self.playlist.segments
        if len(segments) > PART_SEGMENTS + 1:
            old = segments[-PART_SEGMENTS - 2]
            output.deleted.extend(part.uri for part in old.parts)
            old.parts = []


def next_part_number(playlist: MediaPlaylist) -> int:
    """Where a restarted packager numbers its parts: after every part the playlist names."""
    numbers = [parse_part_name(part.uri) for segment in playlist.segments for part in segment.parts]
    if playlist.next_part_uri is not None:
        numbers.append(parse_part_name(playlist.next_part_uri))
    found = [number for number in numbers if number is not None]
    return max(found) + 1 if found else 0
