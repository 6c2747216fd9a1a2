"""Reads for channels. Public reads never select the stream key columns."""

from __future__ import annotations

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

_SECRET_COLUMNS = ("stream_key_hash", "stream_key_ciphertext", "stream_key_prefix")


class NoChannel(NotFound):
    code = "no_channel"


def channel_get_for_owner(*, owner: User) -> Channel:
    channel = Channel.objects.filter(owner=owner).first()
    if channel is None:
        raise NoChannel("You have no channel yet: create one with POST /api/user/channel.")
    return channel


def channel_stream_key(*, channel: Channel) -> str:
    """The clear key, for its owner's eyes only."""
    return stream_key_decrypt(channel.stream_key_ciphertext, key_hash=channel.stream_key_hash)


def channel_is_live(*, channel: Channel) -> bool:
    return Video.objects.filter(channel=channel, status=VideoStatus.LIVE).exists()


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
        Channel.objects.defer(*_SECRET_COLUMNS)
        .annotate(is_live=Exists(Video.objects.filter(channel=OuterRef("pk"), status=VideoStatus.LIVE)))
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
