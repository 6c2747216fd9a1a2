"""Uploaded files (VOD) as pure functions: the ffprobe answer read into a `Probe`, the refusals,
the ffmpeg command that cuts the file into pieces, and the variant playlists assembled from the
pieces done so far (the command transcoding a piece is `transcoder.vod_command`).

The file is cut at keyframes (ffmpeg's segment muxer, streams copied, timestamps kept) into pieces
of about `piece_seconds`; each piece is transcoded alone (into all its renditions in one ffmpeg)
into HLS segments named after the piece, so any worker can do any of them, a redone piece rewrites
the same names, and a rendition's playlist is the pieces' playlists joined in order. The timestamps of the original are
kept throughout (`-copyts`), so the joined segments play as one continuous stream.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tidecast_common.ladder import SOURCE_NAME, Variant
from tidecast_common.media_caps import FrameCaps
from transcoder.ladder import Rendition, SourceInfo, build_ladder
from transcoder.playlists import ENDLIST

PIECE_NAME = "piece_{index:04d}"
AUDIO_CODEC_TAG = "mp4a.40.2"
# Container names (ffprobe's format_name) that hold a still picture, not a video.
_PICTURE_FORMATS = re.compile(r"(^|,)(image2|[a-z0-9]+_pipe|gif_pipe|apng)(,|$)")
_BROWSER_PROFILES = {
    "Baseline": "baseline",
    "Constrained Baseline": "baseline",
    "Main": "main",
    "High": "high",
}


class ProbeError(ValueError):
    """ffprobe could not read the file; `message` is the sentence its owner reads."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Probe:
    """What the upload holds, as the renditions need it."""

    width: int  # as displayed (after rotation)
    height: int
    fps: float
    duration: float | None
    video_codec: str
    video_profile: str
    pix_fmt: str
    rotation: int  # clockwise degrees to turn the coded picture for display: 0, 90, 180 or 270
    has_audio: bool
    audio_codec: str | None
    video_kbps: int | None
    format_name: str
    level: int | None = None
    # The first timestamp (an MPEG-TS file starts at 1.4 s, say): pieces keep the file's timestamps.
    start_time: float = 0.0

    @property
    def passthrough(self) -> bool:
        """H.264 that browsers decode, upright: the `source` rendition copies it as it is."""
        return (
            self.video_codec == "h264"
            and self.video_profile in _BROWSER_PROFILES
            and self.pix_fmt in ("yuv420p", "yuvj420p")
            and self.rotation == 0
            and (not self.has_audio or self.audio_codec == "aac")
        )

    @property
    def source_codec_tag(self) -> str | None:
        if not self.passthrough or self.level is None:
            return None
        from transcoder.playlists import h264_codec_tag

        return h264_codec_tag(_BROWSER_PROFILES[self.video_profile], f"{self.level / 10:.1f}")

    def source_info(self) -> SourceInfo:
        return SourceInfo(
            width=self.width,
            height=self.height,
            fps=self.fps,
            video_codec=self.video_codec,
            audio_codec=self.audio_codec if self.has_audio else None,
            video_kbps=self.video_kbps,
        )

    def to_mapping(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Probe:
        return cls(**{name: data[name] for name in cls.__slots__})


def probe_command(path: Path, *, ffprobe: str = "ffprobe") -> list[str]:
    return [
        ffprobe, "-v", "error", "-hide_banner", "-print_format", "json",
        "-show_format", "-show_streams", str(path),
    ]  # fmt: skip


def _rate(text: object) -> float:
    if not isinstance(text, str) or "/" not in text:
        return 0.0
    numerator, _, denominator = text.partition("/")
    try:
        value = float(numerator) / float(denominator)
    except (ValueError, ZeroDivisionError):
        return 0.0
    return value if math.isfinite(value) else 0.0


def _float(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _rotation(stream: Mapping[str, Any]) -> int:
    """Clockwise degrees for display, from the display matrix (or an old `rotate` tag)."""
    degrees: float | None = None
    for side_data in stream.get("side_data_list") or []:
        if isinstance(side_data, Mapping) and "rotation" in side_data:
            value = _float(abs(float(side_data["rotation"])))
            if value is not None:
                # ffprobe's rotation is counter-clockwise; the display turns it back.
                degrees = -float(side_data["rotation"])
    if degrees is None:
        tag = (stream.get("tags") or {}).get("rotate")
        degrees = _float(tag)
    if degrees is None:
        return 0
    return round(degrees / 90) % 4 * 90


def parse_probe(text: str | bytes, *, returncode: int, stderr: str) -> Probe:
    """The probe of an upload, or ProbeError with the sentence for its owner."""
    if returncode != 0:
        if "moov atom not found" in stderr or "End of file" in stderr:
            raise ProbeError("The file is truncated: its end is missing. Upload the whole file again.")
        raise ProbeError("The file is not a video that can be read.")
    try:
        data = json.loads(text)
    except ValueError:
        raise ProbeError("The file is not a video that can be read.") from None
    streams = [s for s in data.get("streams") or [] if isinstance(s, Mapping)]
    fmt = data.get("format") or {}
    format_name = str(fmt.get("format_name", ""))
    videos = [
        s
        for s in streams
        if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")
    ]
    if _PICTURE_FORMATS.search(format_name) and format_name != "gif":
        raise ProbeError("The file is a picture, not a video.")
    if not videos:
        if streams:
            raise ProbeError("The file has no video stream.")
        raise ProbeError("The file is not a video that can be read.")
    video = videos[0]
    coded_width, coded_height = int(video.get("width") or 0), int(video.get("height") or 0)
    if coded_width < 2 or coded_height < 2:
        raise ProbeError("The file's video has no readable picture size.")
    rotation = _rotation(video)
    width, height = (coded_height, coded_width) if rotation in (90, 270) else (coded_width, coded_height)
    fps = _rate(video.get("avg_frame_rate")) or _rate(video.get("r_frame_rate"))
    if fps <= 0 or fps > 1000:
        fps = 30.0
    audios = [s for s in streams if s.get("codec_type") == "audio"]
    duration = _float(fmt.get("duration")) or _float(video.get("duration"))
    bit_rate = _float(video.get("bit_rate"))
    level = video.get("level")
    return Probe(
        width=width,
        height=height,
        fps=round(fps, 3),
        duration=duration,
        video_codec=str(video.get("codec_name", "")),
        video_profile=str(video.get("profile", "")),
        pix_fmt=str(video.get("pix_fmt", "")),
        rotation=rotation,
        has_audio=bool(audios),
        audio_codec=str(audios[0].get("codec_name")) if audios else None,
        video_kbps=round(bit_rate / 1000) if bit_rate else None,
        format_name=format_name,
        level=int(level) if isinstance(level, int) and level > 0 else None,
        start_time=_float(fmt.get("start_time")) or 0.0,
    )


def refusal(probe: Probe, *, max_seconds: float, caps: FrameCaps) -> str | None:
    """Why this upload must not be processed, as a sentence; None when it may."""
    if probe.duration is not None and probe.duration > max_seconds:
        return (
            f"The video lasts {_clock(probe.duration)}, longer than the {_clock(max_seconds)} "
            "an upload may last."
        )
    too_large = caps.refusal(probe.width, probe.height)
    if too_large is not None:
        return f"The picture is too large: {too_large}."
    if probe.fps > caps.max_fps + 0.01:
        return f"The frame rate of {probe.fps:g} fps is above the {caps.max_fps:g} fps accepted."
    return None


def _clock(seconds: float) -> str:
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def renditions_for(
    probe: Probe, *, variants: Sequence[Variant], segment_seconds: int
) -> tuple[Rendition, ...]:
    """The live ladder applied to the upload (never upscaled), lowest first."""
    ladder = build_ladder(source=probe.source_info(), variants=variants, segment_seconds=segment_seconds)
    copy = probe.passthrough
    adjusted = [
        rendition
        if rendition.name != SOURCE_NAME or rendition.copy_video == copy
        else _with_copy(rendition, copy)
        for rendition in ladder
    ]
    return tuple(sorted(adjusted, key=lambda r: (r.width * r.height, r.name == SOURCE_NAME)))


def _with_copy(rendition: Rendition, copy: bool) -> Rendition:
    from dataclasses import replace

    width, height = (
        (rendition.width, rendition.height) if copy else (rendition.width // 2 * 2, rendition.height // 2 * 2)
    )
    return replace(rendition, copy_video=copy, width=width, height=height)


def split_times(
    duration: float | None, *, piece_seconds: float, first_piece_seconds: float, start_time: float = 0.0
) -> list[float]:
    """The timestamps the pieces should start at (the segment muxer cuts at the next keyframe): a
    short first piece, so the first rendition plays soon, then `piece_seconds` each."""
    if duration is None:
        duration = 24 * 3600.0
    times: list[float] = []
    at = first_piece_seconds
    while at < duration - piece_seconds / 4:
        times.append(round(start_time + at, 3))
        at += piece_seconds
    return times


def split_command(
    *, original: Path, folder: Path, times: Sequence[float], has_audio: bool, ffmpeg: str = "ffmpeg"
) -> list[str]:
    """Cut the original at keyframes into Matroska pieces, streams copied, timestamps kept; the
    list of pieces with their start and end times goes to `pieces.csv`."""
    argv = [
        ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
        "-i", str(original),
        "-map", "0:v:0", *(["-map", "0:a:0"] if has_audio else []),
        "-c", "copy", "-copyts", "-avoid_negative_ts", "disabled",
        "-f", "segment", "-segment_format", "matroska", "-reset_timestamps", "0",
        "-segment_list", str(folder / "pieces.csv"), "-segment_list_type", "csv",
    ]  # fmt: skip
    if times:
        argv += ["-segment_times", ",".join(f"{t:g}" for t in times)]
    else:
        argv += ["-segment_time", "86400"]
    argv.append(str(folder / (PIECE_NAME.replace("{index:04d}", "%04d") + ".mkv")))
    return argv


@dataclass(frozen=True, slots=True)
class Piece:
    index: int
    start: float
    end: float


def piece_bounds(pieces: Sequence[Piece], index: int) -> tuple[float, float]:
    """Where piece `index` starts and where the next one starts (the end for the last)."""
    ordered = sorted(pieces, key=lambda piece: piece.index)
    position = next(i for i, piece in enumerate(ordered) if piece.index == index)
    end = ordered[position + 1].start if position + 1 < len(ordered) else ordered[position].end
    return ordered[position].start, end


def parse_piece_list(text: str, *, start_time: float = 0.0) -> list[Piece]:
    """The segment muxer's CSV: `name,start,end` per piece, in order. The muxer says 0 for the
    first piece's start whatever the file's first timestamp: that is `start_time`."""
    pieces = []
    for line in text.splitlines():
        parts = line.strip().rsplit(",", 2)
        if len(parts) != 3:
            continue
        name, start, end = parts
        match = re.fullmatch(r"piece_(\d{4})\.mkv", name.strip())
        if match is None:
            continue
        pieces.append(Piece(index=int(match.group(1)), start=float(start), end=float(end)))
    pieces.sort(key=lambda piece: piece.index)
    if pieces and pieces[0].start < start_time:
        pieces[0] = Piece(index=pieces[0].index, start=start_time, end=max(pieces[0].end, start_time))
    return pieces


@dataclass(frozen=True, slots=True)
class PieceSegments:
    """A transcoded piece as its playlist lists it: (duration, file name) per segment."""

    segments: tuple[tuple[float, str], ...] = field(default_factory=tuple)

    @classmethod
    def parse(cls, text: str) -> PieceSegments:
        segments: list[tuple[float, str]] = []
        duration: float | None = None
        for raw in text.splitlines():
            line = raw.strip()
            if line.startswith("#EXTINF:"):
                duration = float(line[len("#EXTINF:") :].split(",", 1)[0])
            elif line and not line.startswith("#") and duration is not None:
                segments.append((duration, line))
                duration = None
        return cls(tuple(segments))

    def ending_at(self, *, start: float, end: float) -> PieceSegments:
        """The last segment's duration from the piece's bounds: ffmpeg's hls muxer leaves out the
        time after the last packet's start (a frame or more, a lot on variable frame rates)."""
        if not self.segments:
            return self
        before = sum(duration for duration, _ in self.segments[:-1])
        last = round(max(0.001, end - start - before), 6)
        return PieceSegments((*self.segments[:-1], (last, self.segments[-1][1])))

    def to_text(self) -> str:
        return "".join(f"#EXTINF:{duration:.6f},\n{name}\n" for duration, name in self.segments)


def variant_playlist(pieces: Sequence[PieceSegments | None], *, segment_seconds: int) -> str | None:
    """The rendition's playlist: the pieces done so far in order, up to the first that is not; an
    EVENT playlist (starting at the beginning) while it grows, VOD with #EXT-X-ENDLIST once every
    piece is done. None while the first piece is not done."""
    done: list[PieceSegments] = []
    for piece in pieces:
        if piece is None:
            break
        done.append(piece)
    if not done:
        return None
    complete = len(done) == len(pieces)
    longest = max((duration for piece in done for duration, _ in piece.segments), default=segment_seconds)
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:6",
        f"#EXT-X-TARGETDURATION:{max(1, math.ceil(longest - 0.001))}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        f"#EXT-X-PLAYLIST-TYPE:{'VOD' if complete else 'EVENT'}",
    ]
    if not complete:
        lines.append("#EXT-X-START:TIME-OFFSET=0,PRECISE=YES")
    text = "\n".join(lines) + "\n" + "".join(piece.to_text() for piece in done)
    return text + (ENDLIST + "\n" if complete else "")


def playlist_duration(text: str) -> float:
    return sum(duration for duration, _ in PieceSegments.parse(text).segments)
