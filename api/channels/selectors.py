"""Reads for channels. Public reads never select the stream key columns; only the owner's view
opens the stream key, here, never in a serializer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import Exists, F, OuterRef, Prefetch, QuerySet

from api.channels.models import Channel
from api.channels.stream_keys import (
    stream_key_decrypt,
    stream_key_hash,
    stream_key_hashes_match,
    stream_key_is_well_formed,
)
from api.core.errors import NotFound
from api.users.models import User
from api.videos.models import Video, VideoStatus

# What a public read loads of a channel and its owner: never a stream key column, nor the owner's
# email or password hash.
_PUBLIC_FIELDS = (
    "id",
    "name",
    "title",
    "description",
    "created_at",
    "owner",
    "owner__id",
    "owner__username",
    "owner__profile__id",
    "owner__profile__display_name",
)


class NoChannel(NotFound):
    code = "no_channel"


def _channel_of(owner: User, channels: QuerySet[Channel]) -> Channel:
    channel = channels.filter(owner=owner).first()
    if channel is None:
        raise NoChannel("You have no channel yet: create one with POST /api/user/channel.")
    return channel


def channel_get_for_owner(*, owner: User) -> Channel:
    return _channel_of(owner, Channel.objects.all())


def channel_stream_key(*, channel: Channel) -> str:
    """The clear key, for its owner's eyes only."""
    return stream_key_decrypt(channel.stream_key_ciphertext, key_hash=channel.stream_key_hash)


def _is_live() -> Exists:
    return Exists(Video.objects.filter(channel=OuterRef("pk"), status=VideoStatus.LIVE))


@dataclass(frozen=True)
class OwnerChannel:
    """The owner's view of their channel: the only representation that carries the stream key."""

    name: str
    title: str
    description: str
    stream_key: str
    stream_key_prefix: str
    stream_key_rotated_at: datetime
    ingest_url: str
    is_live: bool
    created_at: datetime


def channel_get_owner_view(*, owner: User) -> OwnerChannel:
    """The owner's channel with its clear stream key and live state, in one query."""
    channel = _channel_of(owner, Channel.objects.annotate(is_live=_is_live()))
    return OwnerChannel(
        name=channel.name,
        title=channel.title,
        description=channel.description,
        stream_key=channel_stream_key(channel=channel),
        stream_key_prefix=channel.stream_key_prefix,
        stream_key_rotated_at=channel.stream_key_rotated_at,
        ingest_url=str(settings.PUBLIC_RTMP_URL),
        is_live=channel.is_live,  # type: ignore[attr-defined]
        created_at=channel.created_at,
    )


def channel_get_by_stream_key(*, stream_key: str, for_update: bool = False) -> Channel | None:
    """The channel a key belongs to, or None. Inside a transaction when `for_update` is set."""
    if not stream_key_is_well_formed(stream_key):
        return None
    digest = stream_key_hash(stream_key)
    channels = Channel.objects.select_for_update() if for_update else Channel.objects.all()
    channel = channels.filter(stream_key_hash=digest).first()
    if channel is None or not stream_key_hashes_match(channel.stream_key_hash, digest):
        return None
    return channel


def _public_channels() -> QuerySet[Channel]:
    live_videos = Video.objects.filter(status=VideoStatus.LIVE)
    return (
        Channel.objects.select_related("owner__profile")
        .only(*_PUBLIC_FIELDS)
        .annotate(is_live=_is_live())
        .prefetch_related(Prefetch("videos", queryset=live_videos, to_attr="live_videos"))
    )


def channel_list_public() -> QuerySet[Channel]:
    """Every channel, live ones first. Each has `is_live` and `live_videos` (zero or one)."""
    return _public_channels().order_by(F("is_live").desc(), "name")


def channel_get_public(*, name: str) -> Channel:
    channel = _public_channels().filter(name=name.lower()).first()
    if channel is None:
        raise NotFound("No channel has that name.")
    return channel
