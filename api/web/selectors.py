"""What the public pages show, as cards for the templates: every query goes through the selectors
of api.videos and api.channels, so the pages and the API share one public-video policy (and never
load a stream key)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ObjectDoesNotExist

from api.channels.models import Channel
from api.channels.selectors import channel_get_public as channel_get_public_record
from api.core.errors import NotFound
from api.users.models import User
from api.videos import selectors as videos
from api.videos.models import Video, VideoStatus, VideoVisibility


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
    visibility: str = "public"
    comments_enabled: bool = True
    owner_id: int = 0

    @property
    def is_private(self) -> bool:
        return self.visibility == VideoVisibility.PRIVATE

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
        playback_url=videos.video_playback_url(url=video.url, video=video),
        visibility=video.visibility,
        comments_enabled=video.comments_enabled,
        owner_id=channel.owner_id,
    )


def video_list_live(*, limit: int = 48) -> list[VideoCard]:
    return [video_card(video=v) for v in videos.video_list_live()[:limit]]


def video_list_recordings(*, limit: int = 24) -> list[VideoCard]:
    return [video_card(video=v) for v in videos.video_list_ended()[:limit]]


def video_search(*, query: str, limit: int = 48) -> list[VideoCard]:
    """Live and recorded videos whose title or channel matches, as the API's search orders them."""
    if not query.strip():
        return []
    return [video_card(video=v) for v in videos.video_list_public(search=query)[:limit]]


def video_get_public(*, url: str, user: User | None = None) -> VideoCard | None:
    """The watch page's video: public, or scheduled (the page says it has not started), or the
    signed-in `user`'s own private one."""
    try:
        return video_card(video=videos.video_get_watchable(url=url, user=user, include_scheduled=True))
    except NotFound:
        return None


def video_is_private(*, url: str) -> bool:
    return videos.video_is_private(url=url)


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
    try:
        channel = channel_get_public_record(name=name)
    except NotFound:
        return None
    live = channel.live_videos[0] if channel.live_videos else None  # type: ignore[attr-defined]
    upcoming = videos.video_get_next_scheduled(channel=channel)
    recordings = videos.video_list_ended(channel=channel)[:recordings_limit]
    return ChannelPage(
        name=channel.name,
        title=channel.title,
        description=channel.description,
        streamer=_streamer_name(channel),
        live=video_card(video=live) if live else None,
        upcoming=video_card(video=upcoming) if upcoming else None,
        recordings=[video_card(video=v) for v in recordings],
    )
