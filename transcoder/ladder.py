"""This stream's renditions: the configured ladder (`tidecast_common.ladder`) applied to the source
the publisher really sends.

Heights in a `Variant` name the *short side* of the picture, so a portrait 1080x1920 source gets a
"720p" rendition of 720x1280: the same pixel budget as a landscape 720p, and the name still says
what a viewer picks. A variant is produced only when it is strictly smaller than the source's short
side (the `source` rendition already covers the source's own size): nothing is upscaled.

The `source` rendition is the publisher's H.264 copied as is when its SPS shows that browsers
decode it (`codecs.browser_decodable`). Any other source (High 10 or 4:4:4 from a GStreamer or
ffmpeg publish, HEVC, an SPS that cannot be read) is re-encoded at its own size instead, as 8-bit
4:2:0 High like the other renditions, so every rendition in the master plays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tidecast_common.ladder import SOURCE_NAME, Variant
from transcoder.codecs import SpsInfo, browser_decodable

DEFAULT_FPS = 30.0
# Used for BANDWIDTH, and as the bitrate of a re-encoded source, when the publisher's metadata does
# not state its bitrates.
FALLBACK_SOURCE_VIDEO_KBPS = 6000
FALLBACK_AUDIO_KBPS = 128
# Above the target average, how far the encoder may go, and its rate-control buffer.
MAXRATE_FACTOR = 1.1
BUFSIZE_FACTOR = 2.0


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """What the publisher sends, from the RTMP metadata and the AVC sequence header."""

    width: int
    height: int
    fps: float = DEFAULT_FPS
    video_codec: str = "h264"
    audio_codec: str | None = "aac"
    video_kbps: int | None = None
    audio_kbps: int | None = None
    # The SPS of an H.264 source, None when there is none or it could not be read.
    video_sps: SpsInfo | None = None

    @property
    def video_codec_tag(self) -> str | None:
        """RFC 6381 codec string of the source video ("avc1.64001f"), known from its SPS."""
        return self.video_sps.codec_tag if self.video_sps is not None else None

    @property
    def passthrough(self) -> bool:
        """Whether the `source` rendition is the publisher's video copied as is (see the module
        docstring): only H.264 whose SPS says browsers decode it."""
        return self.video_codec == "h264" and self.video_sps is not None and browser_decodable(self.video_sps)


@dataclass(frozen=True, slots=True)
class Rendition:
    """One output of the ffmpeg command, fully resolved for this stream."""

    name: str
    width: int
    height: int
    gop: int
    copy_video: bool
    video_kbps: int
    maxrate_kbps: int
    bufsize_kbps: int
    audio_kbps: int
    profile: str
    level: str

    @property
    def bandwidth(self) -> int:
        """Peak bits per second, as #EXT-X-STREAM-INF BANDWIDTH wants it."""
        return (self.maxrate_kbps + self.audio_kbps) * 1000


def even(value: float) -> int:
    """The nearest even integer of at least 2 (x264 and yuv420p need even sizes)."""
    return max(2, round(value / 2) * 2)


def gop_frames(fps: float, segment_seconds: int) -> int:
    return max(1, round(fps * segment_seconds))


def h264_level(width: int, height: int, fps: float) -> str:
    """The lowest H.264 level whose macroblock rate fits the rendition (Table A-1)."""
    macroblocks = ((width + 15) // 16) * ((height + 15) // 16)
    rate = macroblocks * fps
    for level, max_frame, max_rate in (
        ("3.0", 1620, 40500),
        ("3.1", 3600, 108000),
        ("4.0", 8192, 245760),
        ("4.2", 8704, 522240),
        ("5.1", 36864, 983040),
    ):
        if macroblocks <= max_frame and rate <= max_rate:
            return level
    return "5.2"


def build_ladder(
    *, source: SourceInfo, variants: Sequence[Variant], segment_seconds: int
) -> tuple[Rendition, ...]:
    """The renditions for this stream: `source` first, then every configured variant below it."""
    if source.width < 2 or source.height < 2:
        raise ValueError(f"invalid source size {source.width}x{source.height}")
    fps = source.fps if source.fps > 0 else DEFAULT_FPS
    gop = gop_frames(fps, segment_seconds)
    audio_copy_kbps = source.audio_kbps or FALLBACK_AUDIO_KBPS
    copy_audio = source.audio_codec == "aac"
    # The publisher's stated rate: what it sends when copied, the encoder's target when re-encoded.
    source_kbps = source.video_kbps or FALLBACK_SOURCE_VIDEO_KBPS
    copy_video = source.passthrough
    # x264 encodes 4:2:0 in even sizes only: a re-encoded odd-sized source loses its last column or
    # row rather than being stretched.
    width, height = (
        (source.width, source.height) if copy_video else (source.width // 2 * 2, source.height // 2 * 2)
    )
    renditions = [
        Rendition(
            name=SOURCE_NAME,
            width=width,
            height=height,
            gop=gop,
            copy_video=copy_video,
            video_kbps=source_kbps,
            # A passthrough stream's peak is the publisher's; CBR encoders (OBS) stay close to it.
            maxrate_kbps=round(source_kbps * MAXRATE_FACTOR),
            bufsize_kbps=round(source_kbps * BUFSIZE_FACTOR),
            audio_kbps=audio_copy_kbps if copy_audio else FALLBACK_AUDIO_KBPS,
            profile="high",
            level=h264_level(width, height, fps),
        )
    ]
    short_side = min(source.width, source.height)
    portrait = source.height > source.width
    for variant in sorted(variants, key=lambda v: v.height, reverse=True):
        if variant.height >= short_side:
            continue
        long_side = even(max(source.width, source.height) * variant.height / short_side)
        short = even(variant.height)
        width, height = (short, long_side) if portrait else (long_side, short)
        renditions.append(
            Rendition(
                name=variant.name,
                width=width,
                height=height,
                gop=gop,
                copy_video=False,
                video_kbps=variant.video_kbps,
                maxrate_kbps=round(variant.video_kbps * MAXRATE_FACTOR),
                bufsize_kbps=round(variant.video_kbps * BUFSIZE_FACTOR),
                audio_kbps=audio_copy_kbps if copy_audio else variant.audio_kbps,
                profile=variant.profile,
                level=h264_level(width, height, fps),
            )
        )
    return tuple(renditions)
