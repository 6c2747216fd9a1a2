"""What the publisher sends, worked out from the RTMP metadata and the codec sequence headers."""

from __future__ import annotations

from collections.abc import Mapping

from tidecast_common.flv import FlvError
from transcoder.codecs import parse_sps, sps_from_avc_sequence_header
from transcoder.ladder import DEFAULT_FPS, SourceInfo

# onMetaData codec ids: numbers from the FLV spec, or FourCC strings from newer encoders.
AUDIO_CODEC_IDS: dict[object, str] = {10: "aac", 2: "mp3", "mp4a": "aac", ".mp3": "mp3"}
VIDEO_CODEC_IDS: dict[object, str] = {7: "h264", "avc1": "h264", 12: "hevc", "hvc1": "hevc"}
MAX_FPS = 240.0


def _number(metadata: Mapping[str, object], *keys: str) -> float | None:
    for key in keys:
        value = metadata.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 1e9:
            return float(value)
    return None


def _codec(metadata: Mapping[str, object], key: str, table: Mapping[object, str]) -> str | None:
    value = metadata.get(key)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return table.get(value) if value is not None else None


def audio_codec_tag(aac_sequence_header: bytes | None) -> str:
    """mp4a.40.<audio object type> from the AudioSpecificConfig; AAC-LC when it is not known."""
    if aac_sequence_header is not None and len(aac_sequence_header) > 2:
        object_type = aac_sequence_header[2] >> 3
        if object_type:
            return f"mp4a.40.{object_type}"
    return "mp4a.40.2"


def source_info(
    *,
    metadata: Mapping[str, object],
    avc_sequence_header: bytes | None,
    video_codec: str | None,
    audio_codec: str | None,
) -> SourceInfo | None:
    """The source's size, rate and codecs, or None while its picture size is still unknown.

    The SPS is trusted over the metadata for the size (encoders round metadata sizes); the
    metadata's frame rate over the SPS timing (which is optional and often absent).
    """
    width = height = None
    sps_fps = None
    codec_tag = None
    if avc_sequence_header is not None:
        try:
            sps = parse_sps(sps_from_avc_sequence_header(avc_sequence_header))
        except FlvError:
            sps = None
        if sps is not None:
            width, height, sps_fps, codec_tag = sps.width, sps.height, sps.fps, sps.codec_tag
    if width is None or height is None:
        meta_width, meta_height = _number(metadata, "width"), _number(metadata, "height")
        if meta_width is None or meta_height is None:
            return None
        width, height = round(meta_width), round(meta_height)
    fps = _number(metadata, "framerate", "fps") or sps_fps or DEFAULT_FPS
    video_kbps = _number(metadata, "videodatarate")
    audio_kbps = _number(metadata, "audiodatarate")
    return SourceInfo(
        width=width,
        height=height,
        fps=min(fps, MAX_FPS),
        video_codec=video_codec or _codec(metadata, "videocodecid", VIDEO_CODEC_IDS) or "h264",
        audio_codec=audio_codec or _codec(metadata, "audiocodecid", AUDIO_CODEC_IDS),
        video_kbps=round(video_kbps) if video_kbps else None,
        audio_kbps=round(audio_kbps) if audio_kbps else None,
        video_codec_tag=codec_tag,
    )
