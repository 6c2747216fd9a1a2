"""Video thumbnails: resizing the streamer's upload, and preview pictures taken from the live stream.

Both run in the worker (workers.tasks), never in a request or in the live pipeline:
- `video_thumbnail_resize_schedule(video_id=...)` after a thumbnail upload is saved: the upload
  (already validated by api.core.images) becomes `thumbnails/<url>/<digest>-1280.webp` (fits in
  1280x720) with a 320-wide sibling `...-320.webp`; the original is then removed.
- `live_thumbnail_schedule_if_due(video_id=...)` on each ingest heartbeat: at most one capture
  per LIVE_THUMBNAIL_INTERVAL_SECONDS per video. The capture takes one frame of the newest
  complete segment of the lowest rendition with ffmpeg and stores it as `Video.live_thumbnail`,
  which stays after the stream ends.
"""

from __future__ import annotations

import hashlib
import logging
import re
import subprocess
import time
from enum import StrEnum
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from api.core.imaging import OUTPUT_EXTENSION, ImageDecodeError, fit_renditions
from api.core.tasks import QueueUnavailable, task_enqueue, task_enqueue_on_commit
from api.videos.models import Video, VideoStatus
from tidecast_common.layout import (
    MEDIA_SEGMENT_SUFFIXES,
    VARIANT_PLAYLIST,
    HlsLayout,
    is_video_url,
)

logger = logging.getLogger(__name__)

THUMBNAIL_RESIZE_TASK = "videos.thumbnail_resize"
LIVE_THUMBNAIL_TASK = "videos.live_thumbnail_capture"
THUMBNAIL_BOXES = ((1280, 720), (320, 4096))  # the full picture, then a 320-pixel-wide one
LIVE_THUMBNAIL_INTERVAL_SECONDS = 30
FFMPEG_TIMEOUT_SECONDS = 15
LIVE_THUMBNAIL_MAX_WIDTH = 1280


class ThumbnailOutcome(StrEnum):
    DONE = "done"
    ALREADY_DONE = "already_done"
    SUPERSEDED = "superseded"
    FAILED = "failed"
    SKIPPED = "skipped"


def _processed_name(*, video_url: str, digest: str, width: int) -> str:
    return f"thumbnails/{video_url}/{digest}-{width}.{OUTPUT_EXTENSION}"


def video_thumbnail_small_name(*, name: str) -> str:
    """The 320-wide sibling of a processed thumbnail (or the name itself if not processed)."""
    suffix = f"-1280.{OUTPUT_EXTENSION}"
    return name[: -len(suffix)] + f"-320.{OUTPUT_EXTENSION}" if name.endswith(suffix) else name


def video_thumbnail_resize_schedule(*, video_id: int) -> None:
    """Queue the resizing of the video's current thumbnail once the transaction commits.

    If the broker is down the validated original simply stays as the thumbnail: it is logged,
    never an error for the caller.
    """
    name = Video.objects.filter(pk=video_id).values_list("thumbnail", flat=True).first()
    if name:
        task_enqueue_on_commit(THUMBNAIL_RESIZE_TASK, kwargs={"video_id": video_id, "source": name})


def video_thumbnail_resize(*, video_id: int, source: str) -> ThumbnailOutcome:
    """Replace the uploaded thumbnail `source` by its resized versions. Idempotent."""
    video = Video.objects.filter(pk=video_id).only("url", "thumbnail").first()
    if video is None:
        return ThumbnailOutcome.SUPERSEDED
    if video.thumbnail.name != source:
        return (
            ThumbnailOutcome.SUPERSEDED
            if source_unprocessed(video.thumbnail.name or "")
            else ThumbnailOutcome.ALREADY_DONE
        )
    try:
        with default_storage.open(source, "rb") as original:
            data = original.read()
    except FileNotFoundError:
        return ThumbnailOutcome.FAILED
    try:
        large, small = fit_renditions(data, boxes=THUMBNAIL_BOXES)
    except ImageDecodeError as exc:
        logger.warning("video %s: thumbnail %s cannot be resized: %s", video.url, source, exc)
        return ThumbnailOutcome.FAILED
    digest = hashlib.sha256(data).hexdigest()[:16]
    names = []
    for width, rendition in ((1280, large), (320, small)):
        name = _processed_name(video_url=video.url, digest=digest, width=width)
        if default_storage.exists(name):
            default_storage.delete(name)
        names.append(default_storage.save(name, ContentFile(rendition.data)))
    with transaction.atomic():
        video = Video.objects.select_for_update().only("thumbnail").get(pk=video_id)
        if video.thumbnail.name != source:
            return ThumbnailOutcome.SUPERSEDED
        video.thumbnail.name = names[0]
        video.save(update_fields=["thumbnail"])
    _file_delete_if_unused(source)
    logger.info("video %s: thumbnail resized", video_id)
    return ThumbnailOutcome.DONE


def source_unprocessed(name: str) -> bool:
    return not name.endswith(f"-1280.{OUTPUT_EXTENSION}")


def _file_delete_if_unused(name: str) -> None:
    """Delete a picture no video refers to (a new video may copy the previous one's thumbnail)."""
    if (
        not Video.objects.filter(thumbnail=name).exists()
        and not Video.objects.filter(live_thumbnail=name).exists()
    ):
        default_storage.delete(name)


def live_thumbnail_schedule_if_due(*, video_id: int) -> bool:
    """Queue a preview capture unless one was queued in the last interval. Never raises.

    Called by the ingest heartbeat; the capture itself runs in a worker, so the live pipeline
    never waits for ffmpeg. Returns whether a capture was queued.
    """
    if not cache.add(f"live-thumbnail:{video_id}", 1, timeout=LIVE_THUMBNAIL_INTERVAL_SECONDS):
        return False
    try:
        # The message is worthless once the next capture is due.
        task_enqueue(
            LIVE_THUMBNAIL_TASK, kwargs={"video_id": video_id}, expires=LIVE_THUMBNAIL_INTERVAL_SECONDS
        )
    except QueueUnavailable:
        return False
    return True


def _lowest_rendition_folder(video_folder: Path) -> Path | None:
    if not video_folder.is_dir():
        return None
    heights = {str(rung["name"]): int(rung["height"]) for rung in settings.TRANSCODE_LADDER}
    folders = [path for path in video_folder.iterdir() if path.is_dir()]
    if not folders:
        return None
    # Known ladder rungs by height, then "source", then anything else by name.
    return min(
        folders,
        key=lambda path: (
            heights.get(path.name, 1_000_000 if path.name == "source" else 2_000_000),
            path.name,
        ),
    )


def _playlist_lines(folder: Path) -> list[str]:
    playlist = folder / VARIANT_PLAYLIST
    if not playlist.is_file():
        return []
    return [line.strip() for line in playlist.read_text(errors="replace").splitlines()]


def live_segment_newest(*, video_url: str) -> Path | None:
    """The newest complete segment of the lowest rendition: the last one the playlist lists, else
    the newest segment file on disk."""
    if not is_video_url(video_url):
        return None
    folder = _lowest_rendition_folder(HlsLayout(Path(settings.HLS_ROOT)).video_dir(video_url))
    if folder is None:
        return None
    listed = [
        line
        for line in _playlist_lines(folder)
        if line and not line.startswith("#") and line.endswith(MEDIA_SEGMENT_SUFFIXES)
    ]
    if listed and "/" not in listed[-1] and (folder / listed[-1]).is_file():
        return folder / listed[-1]
    segments = [path for path in folder.iterdir() if path.suffix in MEDIA_SEGMENT_SUFFIXES and path.is_file()]
    return max(segments, key=lambda path: path.stat().st_mtime_ns, default=None)


_MAP_URI = re.compile(r'#EXT-X-MAP:.*?URI="([^"/]+)"')


def segment_init(segment: Path) -> Path | None:
    """The init segment an fMP4 segment needs: the `EXT-X-MAP` in force where its playlist lists it
    (a transcoder restart starts `init_<run>.mp4`), else the newest init segment beside it."""
    if segment.suffix != ".m4s":
        return None
    current: str | None = None
    for line in _playlist_lines(segment.parent):
        if found := _MAP_URI.match(line):
            current = found[1]
        elif line == segment.name:
            return segment.parent / current if current else None
    inits = [path for path in segment.parent.glob("init*.mp4") if path.is_file()]
    return max(inits, key=lambda path: path.stat().st_mtime_ns, default=None)


def live_frame_grab_command(*, segment: Path, init: Path | None = None, ffmpeg: str = "ffmpeg") -> list[str]:
    """ffmpeg argv writing one JPEG frame of `segment` to stdout (an fMP4 segment is read after its
    `init` segment through the concat protocol)."""
    source = f"concat:{init}|{segment}" if init is not None else str(segment)
    return [
        ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error",
        "-i", source,
        "-frames:v", "1",
        "-vf", f"scale='min({LIVE_THUMBNAIL_MAX_WIDTH},iw)':-2",
        "-q:v", "4", "-f", "image2", "-c:v", "mjpeg", "pipe:1",
    ]  # fmt: skip


def video_live_thumbnail_capture(*, video_id: int) -> ThumbnailOutcome:
    video = Video.objects.filter(pk=video_id).only("url", "status").first()
    if video is None or video.status != VideoStatus.LIVE:
        return ThumbnailOutcome.SKIPPED
    segment = live_segment_newest(video_url=video.url)
    if segment is None:
        return ThumbnailOutcome.SKIPPED
    try:
        result = subprocess.run(  # noqa: S603 - fixed argv, no shell
            live_frame_grab_command(segment=segment, init=segment_init(segment)),
            capture_output=True,
            timeout=FFMPEG_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        logger.warning("video %s: no preview frame within %s s", video.url, FFMPEG_TIMEOUT_SECONDS)
        return ThumbnailOutcome.FAILED
    if result.returncode != 0 or not result.stdout:
        logger.warning(
            "video %s: ffmpeg could not grab a frame: %s",
            video.url,
            result.stderr[-300:].decode(errors="replace"),
        )
        return ThumbnailOutcome.FAILED
    # A new name per capture, so browsers never show a cached older frame under the same URL.
    name = default_storage.save(
        f"live-thumbnails/{video.url}-{time.time_ns() // 1_000_000}.jpg", ContentFile(result.stdout)
    )
    with transaction.atomic():
        video = Video.objects.select_for_update().only("live_thumbnail").get(pk=video_id)
        previous = video.live_thumbnail.name
        video.live_thumbnail.name = name
        video.save(update_fields=["live_thumbnail"])
    if previous:
        _file_delete_if_unused(previous)
    return ThumbnailOutcome.DONE
