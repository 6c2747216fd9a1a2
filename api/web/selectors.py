"""Reads behind the public pages: only public fields ever leave here (never a stream key)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Q, QuerySet

from api.channels.models import Channel
from api.videos.models import Video, VideoStatus
from api.videos.selectors import video_playback_url
from tidecast_common.layout import is_video_url

_CHANNEL_NAME_RE = re.compile(r"[-a-zA-Z0-9_]{1,50}")
# Public pages never even load the stream key columns.
_SECRET_COLUMNS = ("stream_key_hash", "stream_key_ciphertext", "stream_key_prefix")


@dataclass(frozen=True)
class VideoCard:
    """What a page shows of a video: title, channel, picture, audience, times."""

    url: str
    title: str
    status: str
    channel_name: str
    channel_title: str
    streamer: str
    thumbnail_url: str
    viewer_count: int
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    playback_url: str

    @property
    def is_live(self) -> bool:
        return self.status == VideoStatus.LIVE

    @property
    def duration_seconds(self) -> int | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return max(0, int((self.ended_at - self.started_at).total_seconds()))

    @property
    def duration_label(self) -> str:
        """ "1:02:03" or "4:05", as video players write lengths."""
        seconds = self.duration_seconds
        if seconds is None:
            return ""
        hours, rest = divmod(seconds, 3600)
        minutes, seconds = divmod(rest, 60)
        return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def _streamer_name(channel: Channel) -> str:
    owner = channel.owner
    try:
        display_name = owner.profile.display_name
    except ObjectDoesNotExist:
        display_name = ""
    return display_name or owner.username


def _thumbnail_url(video: Video) -> str:
    for image in (video.live_thumbnail if video.status == VideoStatus.LIVE else None, video.thumbnail):
        if image:
            return image.url
    return ""


def video_card(*, video: Video) -> VideoCard:
    channel = video.channel
    return VideoCard(
        url=video.url,
        title=video.title,
        status=video.status,
        channel_name=channel.name,
        channel_title=channel.title,
        streamer=_streamer_name(channel),
        thumbnail_url=_thumbnail_url(video),
        viewer_count=video.viewer_count,
        created_at=video.created_at,
        started_at=video.started_at,
        ended_at=video.ended_at,
        playback_url=video_playback_url(url=video.url),
    )


def _public_videos() -> QuerySet[Video]:
    return Video.objects.select_related("channel__owner__profile").defer(
        *(f"channel__{column}" for column in _SECRET_COLUMNS)
    )


def video_list_live(*, limit: int = 48) -> list[VideoCard]:
    videos = _public_videos().filter(status=VideoStatus.LIVE).order_by("-viewer_count", "-started_at")
    return [video_card(video=v) for v in videos[:limit]]


def video_list_recordings(*, limit: int = 24) -> list[VideoCard]:
    videos = _public_videos().filter(status=VideoStatus.ENDED).order_by("-ended_at", "-id")
    return [video_card(video=v) for v in videos[:limit]]


def video_search(*, query: str, limit: int = 48) -> list[VideoCard]:
    """Live and recorded videos whose title or channel matches; live ones first."""
    query = query.strip()[:100]
    if not query:
        return []
    videos = (
        _public_videos()
        .filter(status__in=[VideoStatus.LIVE, VideoStatus.ENDED])
        .filter(
            Q(title__icontains=query) | Q(channel__name__icontains=query) | Q(channel__title__icontains=query)
        )
        .order_by("-status", "-created_at")  # "live" sorts before "ended"
    )
    return [video_card(video=v) for v in videos[:limit]]


def video_get_public(*, url: str) -> VideoCard | None:
    if not is_video_url(url):
        return None
    video = _public_videos().filter(url=url).first()
    return video_card(video=video) if video is not None else None


@dataclass(frozen=True)
class ChannelPage:
    name: str
    title: str
    description: str
    streamer: str
    live: VideoCard | None
    upcoming: VideoCard | None
    recordings: list[VideoCard]


def channel_get_public(*, name: str, recordings_limit: int = 48) -> ChannelPage | None:
    if not _CHANNEL_NAME_RE.fullmatch(name):
        return None
    channel = (
        Channel.objects.select_related("owner__profile")
        .defer(*_SECRET_COLUMNS)
        .filter(name=name.lower())
        .first()
    )
    if channel is None:
        return None
    videos = _public_videos().filter(channel=channel)
    live = videos.filter(status=VideoStatus.LIVE).first()
    upcoming = videos.filter(status=VideoStatus.SCHEDULED).order_by("-created_at", "-id").first()
    recordings = videos.filter(status=VideoStatus.ENDED).order_by("-ended_at", "-id")[:recordings_limit]
    return ChannelPage(
        name=channel.name,
        title=channel.title,
        description=channel.description,
        streamer=_streamer_name(channel),
        live=video_card(video=live) if live else None,
        upcoming=video_card(video=upcoming) if upcoming else None,
        recordings=[video_card(video=v) for v in recordings],
    )
