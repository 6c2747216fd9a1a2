"""The limits the dashboard checks a live stream's health against, derived from the settings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

# The source rendition is passed through unchanged, so viewers on "Source" receive the incoming
# bitrate as is; beyond this multiple of the top rung it mostly costs viewers buffering.
BITRATE_HEADROOM = 2.0
KEYFRAME_TOLERANCE_SECONDS = 0.25
# Below this the transcoder falls behind real time and viewers stall.
MIN_TRANSCODER_SPEED = 0.97


@dataclass(frozen=True)
class HealthLimits:
    keyframe_interval_seconds: float
    keyframe_tolerance_seconds: float
    max_bitrate_kbps: int
    top_rung_kbps: int
    min_transcoder_speed: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def stream_health_limits(*, ladder: Sequence[Mapping[str, object]], segment_seconds: int) -> HealthLimits:
    """Keyframes must fall on segment boundaries; the bitrate should suit the top rendition."""
    totals = [int(str(rung.get("video_kbps", 0))) + int(str(rung.get("audio_kbps", 0))) for rung in ladder]
    top = max(totals, default=6000)
    return HealthLimits(
        keyframe_interval_seconds=float(segment_seconds),
        keyframe_tolerance_seconds=KEYFRAME_TOLERANCE_SECONDS,
        max_bitrate_kbps=round(top * BITRATE_HEADROOM),
        top_rung_kbps=top,
        min_transcoder_speed=MIN_TRANSCODER_SPEED,
    )
