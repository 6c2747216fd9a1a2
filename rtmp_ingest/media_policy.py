"""Which media a publisher may send: the codecs the transcoder handles safely, and size, rate and
bitrate caps. Pure: `MediaGate.check(tag_type, body)` says why a tag is refused, or None.

Video must be H.264 (FLV codec 7) and audio AAC or MP3; each tag's codec byte is checked, so a
stream cannot switch codec midway. The frame size and rate come from the SPS of each AVC sequence
header, the size judged by its long and short sides so a portrait source fits the same caps. The
bitrate is judged on whole media seconds counted by `MediaStats`.
"""

from __future__ import annotations

from dataclasses import dataclass

from tidecast_common.flv import CODEC_AVC, SOUND_AAC, TAG_AUDIO, TAG_VIDEO, FlvError
from tidecast_common.media_caps import FrameCaps
from transcoder.codecs import AVC_SEQUENCE_HEADER, parse_sps, sps_from_avc_sequence_header

__all__ = ["MediaGate", "MediaLimits", "MediaRefusal"]

SOUND_MP3, SOUND_MP3_8KHZ = 2, 14
ACCEPTED_SOUND_FORMATS = (SOUND_AAC, SOUND_MP3, SOUND_MP3_8KHZ)
EX_HEADER_FLAG = 0x80  # enhanced RTMP: a FourCC names the codec (HEVC, AV1, VP9...)
VIDEO_CODEC_NAMES = {
    1: "JPEG",
    2: "Sorenson H.263",
    3: "Screen video",
    4: "On2 VP6",
    5: "On2 VP6 with alpha",
    6: "Screen video 2",
    12: "HEVC",
}
SOUND_FORMAT_NAMES = {
    0: "Linear PCM",
    1: "ADPCM",
    3: "Linear PCM",
    4: "Nellymoser",
    5: "Nellymoser",
    6: "Nellymoser",
    7: "G.711 A-law",
    8: "G.711 mu-law",
    11: "Speex",
    15: "device-specific sound",
}


@dataclass(frozen=True, slots=True)
class MediaLimits:
    # The long and the short side of the picture: 3840x2160 fits 2160x3840 too.
    max_long_side: int = 3840
    max_short_side: int = 2160
    max_fps: float = 60.0
    max_kbps: int = 50_000
    # Whole media seconds above max_kbps in a row before the publisher is disconnected.
    max_kbps_seconds: int = 5


@dataclass(frozen=True, slots=True)
class MediaRefusal:
    reason: str  # a metrics label: video_codec, audio_codec, bad_sequence_header, frame_size, ...
    description: str  # what the publisher reads in its onStatus error


class MediaGate:
    """The checks of one publish, tag by tag."""

    def __init__(self, limits: MediaLimits) -> None:
        self.limits = limits

    def check(self, tag_type: int, body: bytes) -> MediaRefusal | None:
        if not body:
            return None  # an empty tag carries nothing to refuse (ffmpeg sends none; some encoders do)
        if tag_type == TAG_VIDEO:
            return self._check_video(body)
        if tag_type == TAG_AUDIO:
            return self._check_audio(body[0] >> 4)
        return None

    def check_bitrate(self, seconds_above: int) -> MediaRefusal | None:
        """`seconds_above`: the latest whole media seconds in a row above the cap (MediaStats)."""
        limits = self.limits
        if seconds_above < limits.max_kbps_seconds:
            return None
        return MediaRefusal(
            "bitrate",
            f"Bitrate above {limits.max_kbps} kbit/s for {seconds_above} s: lower the encoder's bitrate",
        )

    def _check_video(self, body: bytes) -> MediaRefusal | None:
        if body[0] & EX_HEADER_FLAG:
            fourcc = body[1:5].decode("ascii", "replace")
            return _unsupported_video(f"enhanced RTMP {fourcc!r}")
        codec_id = body[0] & 0x0F
        if codec_id != CODEC_AVC:
            return _unsupported_video(VIDEO_CODEC_NAMES.get(codec_id, f"FLV video codec {codec_id}"))
        if len(body) > 1 and body[1] == AVC_SEQUENCE_HEADER:
            return self._check_sequence_header(body)
        return None

    def _check_sequence_header(self, body: bytes) -> MediaRefusal | None:
        try:
            sps = parse_sps(sps_from_avc_sequence_header(body))
        except (FlvError, ValueError, IndexError):
            return MediaRefusal("bad_sequence_header", "Unreadable H.264 sequence header (SPS)")
        limits = self.limits
        caps = FrameCaps(limits.max_long_side, limits.max_short_side, limits.max_fps)
        if caps.too_large(sps.width, sps.height):
            return MediaRefusal(
                "frame_size",
                f"Frame size {sps.width}x{sps.height} above {limits.max_long_side}x{limits.max_short_side}",
            )
        if sps.fps is not None and sps.fps > limits.max_fps + 0.01:
            return MediaRefusal("frame_rate", f"Frame rate {sps.fps:g} fps above {limits.max_fps:g} fps")
        return None

    def _check_audio(self, sound_format: int) -> MediaRefusal | None:
        if sound_format in ACCEPTED_SOUND_FORMATS:
            return None
        name = SOUND_FORMAT_NAMES.get(sound_format, f"FLV sound format {sound_format}")
        return MediaRefusal("audio_codec", f"Unsupported audio codec {name}: use AAC or MP3")


def _unsupported_video(name: str) -> MediaRefusal:
    return MediaRefusal("video_codec", f"Unsupported video codec {name}: use H.264")
