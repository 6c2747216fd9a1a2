"""Playlists the transcoder writes itself: the master, and the closing #EXT-X-ENDLIST.

Every write goes to a temporary file in the same folder and is renamed over the target, so a
reader (the HLS server) sees the old playlist or the new one, never half of one.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tidecast_common.layout import variant_uri
from transcoder.ladder import Rendition

ENDLIST = "#EXT-X-ENDLIST"
# profile name -> (profile_idc, constraint flags) as x264 writes them in the SPS.
H264_PROFILE_IDS = {"baseline": (66, 0xC0), "main": (77, 0x40), "high": (100, 0x00)}


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


def ensure_endlist(path: Path) -> bool:
    """Close a variant playlist that ffmpeg could not close (it was killed). True if it was changed."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return False
    if ENDLIST in text:
        return False
    if not text.endswith("\n"):
        text += "\n"
    atomic_write_text(path, text + ENDLIST + "\n")
    return True
