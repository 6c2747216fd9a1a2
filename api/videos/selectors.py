"""Reads for videos. Scheduled videos are their owner's business; the public sees live and ended ones."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Case, F, IntegerField, Q, QuerySet, Value, When

from api.channels.models import Channel
from api.core.errors import NotFound
from api.videos.models import Video, VideoStatus
from tidecast_common.layout import master_url

PUBLIC_STATUSES = (VideoStatus.LIVE, VideoStatus.ENDED)
SEARCH_MAX_LENGTH = 100
_CHANNEL_PUBLIC_FIELDS = ("channel__id", "channel__name", "channel__title")


def video_playback_url(*, url: str) -> str:
    return master_url(settings.PUBLIC_HLS_URL, url)


def video_list_for_channel(*, channel: Channel) -> QuerySet[Video]:
    return Video.objects.filter(channel=channel).select_related("channel").order_by("-created_at", "-id")


def _public_videos() -> QuerySet[Video]:
    return (
        Video.objects.filter(status__in=PUBLIC_STATUSES)
        .select_related("channel")
        .only(*[f.name for f in Video._meta.concrete_fields], *_CHANNEL_PUBLIC_FIELDS)
    )


def video_list_public(*, search: str = "") -> QuerySet[Video]:
    """Live and ended videos, live first then most recently started; `search` matches title and channel name/title."""
    videos = _public_videos()
    search = search.strip()[:SEARCH_MAX_LENGTH]
    if search:
        videos = videos.filter(
            Q(title__icontains=search)
            | Q(channel__name__icontains=search)
            | Q(channel__title__icontains=search)
        )
    live_first = Case(
        When(status=VideoStatus.LIVE, then=Value(0)), default=Value(1), output_field=IntegerField()
    )
    return videos.order_by(live_first, F("started_at").desc(nulls_last=True), "-created_at", "-id")


def video_get_public(*, url: str) -> Video:
    video = _public_videos().filter(url=url).first()
    if video is None:
        raise NotFound("No video has that url.")
    return video
