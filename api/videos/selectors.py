"""Reads for videos, and the one public-video policy the API and the web pages share.

Public: live and ended videos and ready uploads are listed (catalogue, search, channel pages) when
their visibility is `public`, and answered by the API when it is `public` or `unlisted` (plays by
its url). A `private` video is its owner's alone. A scheduled video is its owner's business: never
listed, 404 on the API; only its watch page, reached by the unguessable url, says it has not
started, and its channel page names it as next. An upload still processing is answered by url
(its watch page shows the progress) but not listed.
A public read loads the video, its channel's name and title and the streamer's names, never a
stream key column, nor the owner's email or password hash.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import Case, F, IntegerField, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce

from api.channels.models import Channel
from api.core.errors import NotFound
from api.usage.selectors import video_store_playback_url
from api.users.models import User
from api.videos.models import Video, VideoStatus, VideoVisibility
from tidecast_common.layout import is_video_url, master_url

LISTED_STATUSES = (VideoStatus.LIVE, VideoStatus.ENDED, VideoStatus.READY)
PUBLIC_STATUSES = (*LISTED_STATUSES, VideoStatus.PROCESSING)
LISTED_VISIBILITIES = (VideoVisibility.PUBLIC,)
BY_URL_VISIBILITIES = (VideoVisibility.PUBLIC, VideoVisibility.UNLISTED)
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


def video_playback_url(*, url: str, video: Video | None = None) -> str:
    """The HLS server's master URL; a finished `video` plays from the CDN or public bucket in
    front of the object store when STORAGE_S3_PUBLIC_URL is set (api.usage.selectors)."""
    stored = None if video is None else video_store_playback_url(video=video)
    return stored or master_url(settings.PUBLIC_HLS_URL, url)


def video_list_for_channel(*, channel: Channel) -> QuerySet[Video]:
    return Video.objects.filter(channel=channel).select_related("channel").order_by("-created_at", "-id")


def video_get_for_owner(*, owner: User, url: str) -> Video:
    """One of the owner's videos by url, whatever its status or visibility."""
    video = (
        Video.objects.filter(channel__owner=owner, url=url).select_related("channel").first()
        if is_video_url(url)
        else None
    )
    if video is None:
        raise NotFound("You have no video with that url.")
    return video


def _public_videos(
    *,
    statuses: tuple[str, ...] = LISTED_STATUSES,
    visibilities: tuple[str, ...] = LISTED_VISIBILITIES,
) -> QuerySet[Video]:
    """The one visibility rule: every public read goes through here."""
    return (
        Video.objects.filter(status__in=statuses, visibility__in=visibilities)
        .select_related("channel__owner__profile")
        .only(*[f.name for f in Video._meta.concrete_fields], *_PUBLIC_RELATED_FIELDS)
    )


def video_list_public(*, search: str = "") -> QuerySet[Video]:
    """Listed videos, live first then most recently started (or uploaded); `search` matches title
    and channel name/title."""
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
    newest = Coalesce(F("started_at"), F("created_at"))
    return videos.order_by(live_first, newest.desc(), "-created_at", "-id")


def video_list_live(*, channel: Channel | None = None) -> QuerySet[Video]:
    """Live videos, the largest audience first."""
    videos = _public_videos(statuses=(VideoStatus.LIVE,))
    if channel is not None:
        videos = videos.filter(channel=channel)
    return videos.order_by("-viewer_count", "-started_at")


def video_list_ended(*, channel: Channel | None = None) -> QuerySet[Video]:
    """Recordings and ready uploads, the most recently ended (or uploaded) first."""
    videos = _public_videos(statuses=(VideoStatus.ENDED, VideoStatus.READY))
    if channel is not None:
        videos = videos.filter(channel=channel)
    return videos.order_by(Coalesce(F("ended_at"), F("created_at")).desc(), "-id")


def video_get_next_scheduled(*, channel: Channel) -> Video | None:
    """The channel's newest scheduled video, which its public page names as the next stream."""
    return (
        _public_videos(statuses=(VideoStatus.SCHEDULED,), visibilities=LISTED_VISIBILITIES)
        .filter(channel=channel)
        .order_by("-created_at", "-id")
        .first()
    )


def video_get_watchable(*, url: str, user: User | None, include_scheduled: bool = False) -> Video:
    """A video `user` may watch: one anyone may (`video_get_public`), or, for its owner, their
    own private one in the same statuses. Anyone else gets the same 404 as for no video."""
    try:
        return video_get_public(url=url, include_scheduled=include_scheduled)
    except NotFound:
        if user is None or not user.is_authenticated:
            raise
    statuses = (*PUBLIC_STATUSES, VideoStatus.SCHEDULED) if include_scheduled else PUBLIC_STATUSES
    video = (
        _public_videos(statuses=statuses, visibilities=(VideoVisibility.PRIVATE,))
        .filter(url=url, channel__owner=user)
        .first()
    )
    if video is None:
        raise NotFound("No video has that url.")
    return video


def video_is_private(*, url: str) -> bool:
    """Whether `url` names a private video (its watch page says so to anyone but its owner)."""
    return is_video_url(url) and Video.objects.filter(url=url, visibility=VideoVisibility.PRIVATE).exists()


def video_get_public(*, url: str, include_scheduled: bool = False) -> Video:
    """A video anyone may watch, by url (public or unlisted); `include_scheduled` for the watch
    page, which says it has not started."""
    statuses = (*PUBLIC_STATUSES, VideoStatus.SCHEDULED) if include_scheduled else PUBLIC_STATUSES
    videos = _public_videos(statuses=statuses, visibilities=BY_URL_VISIBILITIES)
    video = videos.filter(url=url).first() if is_video_url(url) else None
    if video is None:
        raise NotFound("No video has that url.")
    return video
