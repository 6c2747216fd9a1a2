"""Private playback: minting playback tokens, and the private marker the HLS server and nginx read.

The token rule is tidecast_common.playback_tokens; the marker is a file named PRIVATE_MARKER in
the video's HLS folder (hls_out/tokens.py says why a marker and not a question to the API).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from api.videos.models import Video, VideoStatus, VideoVisibility
from tidecast_common import playback_tokens
from tidecast_common.layout import HlsLayout, is_video_url

logger = logging.getLogger(__name__)

RECORDED_STATUSES = (VideoStatus.ENDED, VideoStatus.READY)


@dataclass(frozen=True, slots=True)
class PlaybackGrant:
    playback_url: str
    expires_at: datetime


def _key() -> bytes:
    key = str(settings.PLAYBACK_TOKEN_KEY).encode()
    if len(key) < playback_tokens.MIN_KEY_BYTES:
        raise ImproperlyConfigured("PLAYBACK_TOKEN_KEY is not set (16 characters at least)")
    return key


def segment_grace_seconds(video: Video) -> int:
    """How long past the expiry a segment stays served: a live playlist's window (the setting),
    and for a recording or upload its whole duration, which one playlist fetched in time lists."""
    grace = int(settings.PLAYBACK_TOKEN_SEGMENT_GRACE_SECONDS)
    if video.status in RECORDED_STATUSES or video.status == VideoStatus.PROCESSING:
        grace += math.ceil(video.duration_seconds or 0)
    return grace


def playback_token_create(*, video: Video, now: float | None = None) -> PlaybackGrant:
    """A playback URL for `video` (the caller has checked who may watch it)."""
    issued = time.time() if now is None else now
    expires = int(issued) + int(settings.PLAYBACK_TOKEN_SECONDS)
    token = playback_tokens.mint(
        key=_key(), video_url=video.url, expires=expires, grace=segment_grace_seconds(video)
    )
    return PlaybackGrant(
        playback_url=playback_tokens.token_master_url(
            settings.PUBLIC_HLS_URL, token=token, video_url=video.url
        ),
        expires_at=datetime.fromtimestamp(expires, tz=UTC),
    )


def private_marker_path(video_url: str) -> Path:
    return HlsLayout(Path(settings.HLS_ROOT)).video_dir(video_url) / playback_tokens.PRIVATE_MARKER


def video_private_marker_sync(*, video_url: str, visibility: str) -> None:
    """Write the marker of a private video (its folder made if the stream has not started), or
    remove it from one that is not private. Idempotent."""
    if not is_video_url(video_url):
        raise ValueError("not a video url")
    marker = private_marker_path(video_url)
    if visibility == VideoVisibility.PRIVATE:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch(exist_ok=True)
        logger.info("video %s marked private", video_url)
    else:
        marker.unlink(missing_ok=True)


def video_private_markers_reconcile() -> tuple[int, int]:
    """Every private video's marker written, every other marker removed: what the visibility
    changes do one at a time, redone for all (videos made private before markers existed, a
    folder restored from a backup, a marker removal lost to a crash). Returns (written, removed)."""
    root = Path(settings.HLS_ROOT)
    private = set(Video.objects.filter(visibility=VideoVisibility.PRIVATE).values_list("url", flat=True))
    written = 0
    for url in private:
        if is_video_url(url) and not private_marker_path(url).exists():
            video_private_marker_sync(video_url=url, visibility=VideoVisibility.PRIVATE)
            written += 1
    removed = 0
    for marker in root.glob(f"*/{playback_tokens.PRIVATE_MARKER}"):
        url = marker.parent.name
        # Re-read: a video made private since the list above keeps its marker.
        if (
            url not in private
            and not Video.objects.filter(url=url, visibility=VideoVisibility.PRIVATE).exists()
        ):
            marker.unlink(missing_ok=True)
            removed += 1
    if written or removed:
        logger.warning("private markers reconciled: %s written, %s removed", written, removed)
    return written, removed
