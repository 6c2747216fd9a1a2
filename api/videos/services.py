"""Writes for videos: creation by the owner, and the publish lifecycle driven by the ingest.

The lifecycle is scheduled -> live -> ended. The ingest's authorize call is the publish start; it
then heartbeats every couple of seconds and reports the end (idempotently).
"""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import Case, IntegerField, Value, When
from django.utils import timezone

from api.activity.models import ActivityAction
from api.activity.services import activity_record
from api.channels.models import Channel
from api.channels.selectors import channel_get_by_stream_key
from api.core.errors import Conflict, NotFound, PermissionDenied
from api.core.images import validate_image_upload
from api.core.tasks import task_enqueue_on_commit
from api.uploads.files import upload_folder
from api.usage.objects import video_objects_move as stored_objects_move
from api.usage.objects import video_objects_remove
from api.videos.models import Video, VideoStatus, VideoVisibility
from api.videos.playback import video_private_marker_sync
from api.videos.thumbnails import (
    live_thumbnail_schedule_if_due,
    video_thumbnail_resize_schedule,
    video_thumbnail_small_name,
)
from api.webhooks.models import WebhookEvent
from api.webhooks.services import webhook_event_emit
from tidecast_common.layout import HlsLayout, is_video_url, new_video_url

logger = logging.getLogger(__name__)

HEARTBEAT_INTERVAL_SECONDS = 2
_IMAGE_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif"}


class PublishDenied(PermissionDenied):
    """`code` is "unknown_key" or "already_live"."""

    body_extra = {"allow": False}  # the ingest's answer has one shape, allowed or not


@dataclass(frozen=True)
class PublishGrant:
    publish_id: uuid.UUID
    video_url: str
    channel_name: str
    ladder: list[dict[str, Any]]
    segment_seconds: int
    heartbeat_interval: int


@dataclass(frozen=True)
class HeartbeatVerdict:
    proceed: bool
    reason: str = ""  # "key_rotated" | "ended" when not proceeding


def _unused_video_url() -> str:
    for _ in range(5):
        url = new_video_url()
        if not Video.objects.filter(url=url).exists():
            return url
    raise RuntimeError("Could not draw an unused video url")  # 5 collisions in 2**82: a broken RNG


def video_create(*, channel: Channel, title: str, thumbnail: UploadedFile[bytes] | None = None) -> Video:
    video = Video(channel=channel, url=_unused_video_url(), title=title.strip())
    if thumbnail is not None:
        info = validate_image_upload(thumbnail, size=thumbnail.size or 0)
        # The stored name comes from the decoded format, never from the uploaded file name.
        video.thumbnail.save(f"{video.url}.{_IMAGE_EXTENSIONS[info.format]}", thumbnail, save=False)
    video.full_clean(exclude=["channel", "thumbnail", "live_thumbnail"])
    video.save()
    if thumbnail is not None:
        video_thumbnail_resize_schedule(video_id=video.id)
    return video


VIDEO_FILES_REMOVE_TASK = "videos.remove_files"
VIDEO_OBJECTS_MOVE_TASK = "videos.move_objects"
EDITABLE_FIELDS = ("title", "description", "visibility", "comments_enabled")


def video_update(*, video: Video, **changes: Any) -> Video:
    """The owner's edits: title, description, visibility, comments_enabled."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    if "title" in changes:
        changes["title"] = changes["title"].strip()
    for name, value in changes.items():
        setattr(video, name, value)
    video.full_clean(exclude=["channel", "thumbnail", "live_thumbnail"])
    visibility = changes.get("visibility")
    if visibility == VideoVisibility.PRIVATE:  # refused by the HLS server before the row says so
        video_private_marker_sync(video_url=video.url, visibility=visibility)
    previous = Video.objects.filter(pk=video.pk).values_list("visibility", flat=True).first()
    video.save(update_fields=list(changes))
    if visibility is not None and visibility != VideoVisibility.PRIVATE:  # open once committed
        transaction.on_commit(partial(video_private_marker_sync, video_url=video.url, visibility=visibility))
    if visibility is not None and (previous == VideoVisibility.PRIVATE) != (
        visibility == VideoVisibility.PRIVATE
    ):
        # Its stored objects follow it to (or from) the private prefix (tidecast_common.object_store).
        task_enqueue_on_commit(VIDEO_OBJECTS_MOVE_TASK, kwargs={"video_url": video.url})
    return video


def video_objects_move(*, video_url: str) -> int:
    """Move a video's stored objects to the prefix of its visibility (the row's, at run time)."""
    return stored_objects_move(video_url=video_url)


def video_files(video: Video) -> dict[str, Any]:
    """What a video owns outside the database: its HLS folder (by url) and its stored pictures (a
    processed thumbnail with its small sibling)."""
    names = [image.name for image in (video.thumbnail, video.live_thumbnail) if image]
    if video.thumbnail:
        names.append(video_thumbnail_small_name(name=video.thumbnail.name or ""))
    pictures = list(dict.fromkeys(name for name in names if name))
    return {"video_url": video.url, "media_names": pictures}


@transaction.atomic
def video_delete(*, video: Video, client_ip: str | None = None) -> None:
    """Forget the video and remove every file it owns once the deletion is committed.

    A live video is refused: its stream must end first (or its key be rotated)."""
    locked = Video.objects.select_for_update().filter(pk=video.pk).first()
    if locked is None:
        return
    if locked.status == VideoStatus.LIVE:
        raise Conflict("A live video cannot be deleted; end the stream first.")
    files = video_files(locked)
    owner = locked.channel.owner
    activity_record(
        user=owner, action=ActivityAction.VIDEO_DELETED, ip=client_ip, detail=_video_detail(locked)
    )
    webhook_event_emit(event=WebhookEvent.VIDEO_DELETED, video=locked)  # the video as it was
    locked.delete()
    task_enqueue_on_commit(VIDEO_FILES_REMOVE_TASK, kwargs=files)
    logger.info("video %s deleted", files["video_url"])


def video_files_remove(*, video_url: str, media_names: list[str]) -> int:
    """Remove a deleted video's HLS folder, master playlist, pictures and uploaded original (with
    the pieces of its processing). Idempotent; returns the number of files removed."""
    if not is_video_url(video_url) or Video.objects.filter(url=video_url).exists():
        return 0  # never a path built from something else, nor the files of a video that exists
    layout = HlsLayout(Path(settings.HLS_ROOT))
    removed = 0
    folder = layout.video_dir(video_url)
    if folder.is_dir():
        removed += sum(1 for entry in folder.rglob("*") if entry.is_file())
        shutil.rmtree(folder, ignore_errors=True)
    master = layout.master(video_url)
    if master.exists():
        master.unlink(missing_ok=True)
        removed += 1
    uploaded = upload_folder(video_url)
    if uploaded.is_dir():
        removed += sum(1 for entry in uploaded.rglob("*") if entry.is_file())
        shutil.rmtree(uploaded, ignore_errors=True)
    for name in media_names:
        if default_storage.exists(name):
            default_storage.delete(name)
            removed += 1
    return removed + video_objects_remove(video_url=video_url)  # and from the object store


def _heartbeat_is_fresh(video: Video, now: datetime) -> bool:
    timeout = timedelta(seconds=settings.LIVE_HEARTBEAT_TIMEOUT_SECONDS)
    return video.last_heartbeat_at is not None and now - video.last_heartbeat_at < timeout


def _video_detail(video: Video) -> str:
    return f"{video.url} {video.title}"


def _video_end(video: Video, now: datetime) -> None:
    video.status = VideoStatus.ENDED
    video.ended_at = now
    video.viewer_count = 0
    video.save(update_fields=["status", "ended_at", "viewer_count"])
    _stream_ended(video)


def _stream_ended(video: Video) -> None:
    activity_record(user=video.channel.owner, action=ActivityAction.STREAM_ENDED, detail=_video_detail(video))
    webhook_event_emit(event=WebhookEvent.STREAM_ENDED, video=video)


def _video_to_publish(channel: Channel) -> Video:
    """The channel's newest scheduled video, else a new one titled (and pictured) like the last."""
    scheduled = (
        Video.objects.select_for_update()
        .filter(channel=channel, status=VideoStatus.SCHEDULED)
        .order_by("-created_at", "-id")
        .first()
    )
    if scheduled is not None:
        return scheduled
    previous = Video.objects.filter(channel=channel).order_by("-created_at", "-id").first()
    return Video(
        channel=channel,
        url=_unused_video_url(),
        title=previous.title if previous is not None else channel.title,
        thumbnail=previous.thumbnail.name if previous is not None else "",
    )


def video_publish_start(*, stream_key: str, client_ip: str) -> PublishGrant:
    """Authorize a publisher and make its video live, atomically per channel.

    A channel with a live video whose ingest still heartbeats refuses a second publisher; a live
    video whose heartbeat went stale (or whose key was rotated) is ended first.
    """
    try:
        with transaction.atomic():
            channel = channel_get_by_stream_key(stream_key=stream_key, for_update=True)
            if channel is None:
                raise PublishDenied("The stream key is not valid.", code="unknown_key")
            now = timezone.now()
            live = Video.objects.select_for_update().filter(channel=channel, status=VideoStatus.LIVE).first()
            if live is not None:
                if _heartbeat_is_fresh(live, now) and not live.stop_requested:
                    raise PublishDenied("This channel is already live.", code="already_live")
                logger.info("ending video %s: its publisher is gone", live.url)
                _video_end(live, now)
            video = _video_to_publish(channel)
            video.status = VideoStatus.LIVE
            video.started_at = now
            video.ended_at = None
            video.publish_id = uuid.uuid4()
            video.last_heartbeat_at = now
            video.stop_requested = False
            video.live_stats = {}
            video.viewer_count = 0
            video.save()
            activity_record(
                user=channel.owner,
                action=ActivityAction.STREAM_STARTED,
                ip=client_ip,
                detail=_video_detail(video),
            )
            webhook_event_emit(event=WebhookEvent.STREAM_STARTED, video=video)
    except IntegrityError:
        # A concurrent start on the same channel won (one live video per channel is a constraint).
        raise PublishDenied("This channel is already live.", code="already_live") from None
    logger.info(
        "publish %s started: channel %s, video %s, from %s",
        video.publish_id,
        channel.name,
        video.url,
        client_ip,
    )
    return PublishGrant(
        publish_id=video.publish_id,
        video_url=video.url,
        channel_name=channel.name,
        ladder=list(settings.TRANSCODE_LADDER),
        segment_seconds=settings.HLS_SEGMENT_SECONDS,
        heartbeat_interval=HEARTBEAT_INTERVAL_SECONDS,
    )


def video_publish_heartbeat(*, publish_id: uuid.UUID, stats: Mapping[str, float]) -> HeartbeatVerdict:
    updated = Video.objects.filter(
        publish_id=publish_id, status=VideoStatus.LIVE, stop_requested=False
    ).update(last_heartbeat_at=timezone.now(), live_stats=dict(stats))
    if updated and stats.get("playable", 0) > 0:
        # The transcoder publishes the master once every rendition has segments.
        Video.objects.filter(publish_id=publish_id, playable=False).update(playable=True)
    if updated:
        video_id = Video.objects.filter(publish_id=publish_id).values_list("id", flat=True).first()
        if video_id is not None:
            live_thumbnail_schedule_if_due(video_id=video_id)
        return HeartbeatVerdict(proceed=True)
    video = Video.objects.filter(publish_id=publish_id).only("status", "stop_requested").first()
    if video is not None and video.status == VideoStatus.LIVE and video.stop_requested:
        return HeartbeatVerdict(proceed=False, reason="key_rotated")
    return HeartbeatVerdict(proceed=False, reason="ended")


@transaction.atomic
def video_publish_end(*, publish_id: uuid.UUID) -> Video:
    """End the publish's video. Repeating it is harmless: an ended video stays as it is."""
    video = Video.objects.select_for_update().filter(publish_id=publish_id).first()
    if video is None:
        raise NotFound("No publish has that id.")
    if video.status == VideoStatus.LIVE:
        _video_end(video, timezone.now())
        logger.info("publish %s ended: video %s", publish_id, video.url)
    return video


def video_viewers_set(*, counts: Mapping[str, int]) -> int:
    """Set the viewer count of each listed live video; unlisted videos keep theirs. Returns rows set."""
    if not counts:
        return 0
    return Video.objects.filter(status=VideoStatus.LIVE, url__in=list(counts)).update(
        viewer_count=Case(
            *[When(url=url, then=Value(count)) for url, count in counts.items()],
            default=Value(0),
            output_field=IntegerField(),
        )
    )


def video_end_stale(*, now: datetime | None = None) -> int:
    """End live videos whose ingest stopped heartbeating (it died without reporting the end)."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.LIVE_HEARTBEAT_TIMEOUT_SECONDS)
    ended = 0
    # Usually none: the query costs one SELECT. Each stale video is ended under its row lock, so a
    # publisher reporting its own end at the same moment is not counted (or announced) twice.
    stale_ids = list(
        Video.objects.filter(status=VideoStatus.LIVE, last_heartbeat_at__lt=cutoff).values_list(
            "id", flat=True
        )
    )
    for video_id in stale_ids:
        with transaction.atomic():
            video = (
                Video.objects.select_for_update()
                .select_related("channel__owner")
                .filter(pk=video_id, status=VideoStatus.LIVE, last_heartbeat_at__lt=cutoff)
                .first()
            )
            if video is not None:
                _video_end(video, now)
                ended += 1
    return ended
