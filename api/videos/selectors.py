"""Reads for videos, and the one public-video policy the API and the web pages share.

Public: live and ended videos are listed (catalogue, search, channel pages) and answered by the
API. A scheduled video is its owner's business: never listed, 404 on the API; only its watch page,
reached by the unguessable url, says it has not started, and its channel page names it as next.
A public read loads the video, its channel's name and title and the streamer's names, never a
stream key column, nor the owner's email or password hash.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import Case, F, IntegerField, Q, QuerySet, Value, When

from api.channels.models import Channel
from api.core.errors import NotFound
from api.videos.models import Video, VideoStatus
from tidecast_common.layout import is_video_url, master_url

PUBLIC_STATUSES = (VideoStatus.LIVE, VideoStatus.ENDED)
SEARCH_MAX_LENGTH = 100
_PUBLIC_RELATED_FIELDS = (
    "channel__id",
    "channel__name",
    "channel__title",
    "channel__owner",
    "channel__owner__id",
    "channel__owner__username",
    "channel__owner__profile__id",
    "channel__owner__profile__display_name",
)


def video_playback_url(*, url: str) -> str:
    return master_url(settings.PUBLIC_HLS_URL, url)


def video_list_for_channel(*, channel: Channel) -> QuerySet[Video]:
    return Video.objects.filter(channel=channel).select_related("channel").order_by("-created_at", "-id")


def _public_videos(*, statuses: tuple[str, ...] = PUBLIC_STATUSES) -> QuerySet[Video]:
    return (
        Video.objects.filter(status__in=statuses)
        .select_related("channel__owner__profile")
        .only(*[f.name for f in Video._meta.concrete_fields], *_PUBLIC_RELATED_FIELDS)
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


def video_list_live(*, channel: Channel | None = None) -> QuerySet[Video]:
    """Live videos, the largest audience first."""
    videos = _public_videos(statuses=(VideoStatus.LIVE,))
    if channel is not None:
        videos = videos.filter(channel=channel)
    return videos.order_by("-viewer_count", "-started_at")


def video_list_ended(*, channel: Channel | None = None) -> QuerySet[Video]:
    """Recordings, the most recently ended first."""
    videos = _public_videos(statuses=(VideoStatus.ENDED,))
    if channel is not None:
        videos = videos.filter(channel=channel)
    return videos.order_by("-ended_at", "-id")


def video_get_next_scheduled(*, channel: Channel) -> Video | None:
    """The channel's newest scheduled video, which its public page names as the next stream."""
    return (
        _public_videos(statuses=(VideoStatus.SCHEDULED,))
        .filter(channel=channel)
        .order_by("-created_at", "-id")
        .first()
    )


def video_get_public(*, url: str, include_scheduled: bool = False) -> Video:
    """A public video by url; `include_scheduled` for the watch page, which says it has not started."""
    statuses = (*PUBLIC_STATUSES, VideoStatus.SCHEDULED) if include_scheduled else PUBLIC_STATUSES
    video = _public_videos(statuses=statuses).filter(url=url).first() if is_video_url(url) else None
    if video is None:
        raise NotFound("No video has that url.")
    return video
