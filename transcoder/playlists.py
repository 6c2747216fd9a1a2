"""Playlists the transcoder writes itself: the master, and the closing #EXT-X-ENDLIST.

The rules are pure functions of text and renditions: the master's lines, the source's measured
bitrate standing in for a missing stated one, a variant closed with #EXT-X-ENDLIST, and what a
finished recording keeps. The two file helpers below them write atomically: to a temporary file
in the same folder renamed over the target, so a reader (the HLS server) sees the old playlist or
the new one, never half of one.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from tidecast_common.layout import variant_uri
from tidecast_common.llhls import parse_media_playlist
from transcoder.ladder import MAXRATE_FACTOR, Rendition

ENDLIST = "#EXT-X-ENDLIST"
# profile name -> (profile_idc, constraint flags) as x264 writes them in the SPS.
H264_PROFILE_IDS = {"baseline": (66, 0xC0), "main": (77, 0x40), "high": (100, 0x00)}


def h264_codec_tag(profile: str, level: str) -> str:
    profile_idc, constraints = H264_PROFILE_IDS[profile]
    level_idc = round(float(level) * 10)
    return f"avc1.{profile_idc:02x}{constraints:02x}{level_idc:02x}"


def master_playlist(
    *,
    video_url: str,
    renditions: Sequence[Rendition],
    fps: float,
    source_codec_tag: str | None,
    audio_codec_tag: str | None,
) -> str:
    """The master playlist at `<root>/<url>.m3u8`; variant URIs are relative to it."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:6", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for rendition in renditions:
        video_tag = (
            source_codec_tag
            if rendition.copy_video and source_codec_tag
            else h264_codec_tag(rendition.profile, rendition.level)
        )
        codecs = f"{video_tag},{audio_codec_tag}" if audio_codec_tag else video_tag
        average = (rendition.video_kbps + (rendition.audio_kbps if audio_codec_tag else 0)) * 1000
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={rendition.bandwidth},AVERAGE-BANDWIDTH={average},"
            f'RESOLUTION={rendition.width}x{rendition.height},FRAME-RATE={fps:.3f},CODECS="{codecs}"'
        )
        lines.append(variant_uri(video_url, rendition.name))
    return "\n".join(lines) + "\n"


def with_measured_bitrate(
    renditions: Sequence[Rendition], *, stated_kbps: int | None, measured_kbps: int | None
) -> list[Rendition]:
    """The copied (`source`) renditions at the bitrate measured on the wire when the publisher
    stated none: the ladder's fallback would make their BANDWIDTH a guess."""
    if stated_kbps is not None or measured_kbps is None:
        return list(renditions)
    return [
        replace(r, video_kbps=measured_kbps, maxrate_kbps=round(measured_kbps * MAXRATE_FACTOR))
        if r.copy_video
        else r
        for r in renditions
    ]


def closed_playlist(text: str) -> str | None:
    """A variant playlist ending with #EXT-X-ENDLIST (ffmpeg could not close it: it was killed);
    None when it is closed already."""
    if ENDLIST in text:
        return None
    if "#EXT-X-PART-INF:" in text:  # a low-latency live playlist becomes plain VOD, its parts dropped
        playlist = parse_media_playlist(text, segment_seconds=1, part_target=1)
        playlist.ended = True
        return playlist.render()
    if not text.endswith("\n"):
        text += "\n"
    return text + ENDLIST + "\n"


@dataclass(frozen=True, slots=True)
class Finalization:
    """How a finished stream becomes a recording."""

    close: tuple[str, ...]  # renditions whose variant playlists get #EXT-X-ENDLIST
    master: tuple[Rendition, ...] | None  # what the master must list now; None: it stays as it is


def plan_finalization(
    *, renditions: Sequence[Rendition], present: Collection[str], master_written: bool
) -> Finalization:
    """A recording keeps the renditions that have a playlist (`present`), every one closed. The
    master is (re)written when it is missing or lists a rendition that never got a playlist."""
    kept = tuple(r for r in renditions if r.name in present)
    rewrite = bool(kept) and (not master_written or len(kept) != len(renditions))
    return Finalization(close=tuple(r.name for r in kept), master=kept if rewrite else None)


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        Path(temporary).chmod(0o644)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def ensure_endlist(path: Path) -> bool:
    """Close a variant playlist on disk; True if it was changed."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return False
    closed = closed_playlist(text)
    if closed is None:
        return False
    atomic_write_text(path, closed)
    return True
