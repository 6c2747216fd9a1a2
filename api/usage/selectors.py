"""Reads for usage: a user's storage against their quota, bytes served, seconds streamed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from api.usage.models import StorageQuota, UserStorage, VideoEgress, VideoStorage
from api.users.models import User
from api.videos.models import Video, VideoSource, VideoStatus, VideoVisibility
from tidecast_common.layout import master_url
from tidecast_common.object_store import HLS_PREFIX

WINDOW_DAYS = 30


@dataclass(frozen=True)
class Usage:
    storage_bytes: int
    storage_quota_bytes: int
    videos: int
    egress_bytes_30d: int
    streamed_seconds_30d: int


def storage_quota_bytes(*, user: User) -> int:
    quota = StorageQuota.objects.filter(user=user).values_list("quota_bytes", flat=True).first()
    return int(settings.STORAGE_QUOTA_BYTES if quota is None else quota)


def storage_used_bytes(*, user: User) -> int:
    """Every stored object of the user: their videos' and their own (profile pictures)."""
    total = VideoStorage.objects.filter(video__channel__owner=user).aggregate(total=Sum("stored_bytes"))[
        "total"
    ]
    own = UserStorage.objects.filter(user=user).values_list("stored_bytes", flat=True).first()
    return int(total or 0) + int(own or 0)


def storage_remaining_bytes(*, user: User) -> int:
    """What the user may still store (0 when at or over quota): uploads above it are refused."""
    return max(0, storage_quota_bytes(user=user) - storage_used_bytes(user=user))


def streamed_seconds(*, user: User, since: datetime, now: datetime) -> int:
    """Seconds the user's live videos were live within [since, now]."""
    rows = Video.objects.filter(
        channel__owner=user, source=VideoSource.LIVE, started_at__isnull=False, started_at__lt=now
    ).exclude(ended_at__lt=since)
    total = 0.0
    for started_at, ended_at in rows.values_list("started_at", "ended_at"):
        if started_at is None:
            continue
        end = min(ended_at or now, now)
        start = max(started_at, since)
        total += max(0.0, (end - start).total_seconds())
    return round(total)


def usage_get(*, user: User, now: datetime | None = None) -> Usage:
    now = now or timezone.now()
    since = now - timedelta(days=WINDOW_DAYS)
    egress = VideoEgress.objects.filter(
        owner=user, day__gt=(now - timedelta(days=WINDOW_DAYS)).date()
    ).aggregate(total=Sum("sent_bytes"))["total"]
    return Usage(
        storage_bytes=storage_used_bytes(user=user),
        storage_quota_bytes=storage_quota_bytes(user=user),
        videos=Video.objects.filter(channel__owner=user).count(),
        egress_bytes_30d=int(egress or 0),
        streamed_seconds_30d=streamed_seconds(user=user, since=since, now=now),
    )


def video_store_playback_url(*, video: Video) -> str | None:
    """Where a finished video plays from the CDN or public bucket (STORAGE_S3_PUBLIC_URL), or None:
    live videos play from the HLS server (the live edge is on its disk) and private ones are
    never played from a public URL."""
    if not settings.STORAGE_S3_PUBLIC_URL or video.visibility == VideoVisibility.PRIVATE:
        return None
    if video.status not in (VideoStatus.ENDED, VideoStatus.READY):
        return None
    return master_url(f"{settings.STORAGE_S3_PUBLIC_URL}/{HLS_PREFIX}", video.url)
