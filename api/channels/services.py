"""Writes for channels: creation with a fresh stream key, edits, key rotation."""

from __future__ import annotations

import re

from django.db import IntegrityError, transaction
from django.utils import timezone

from api.activity.models import ActivityAction
from api.activity.services import activity_record
from api.channels.models import Channel
from api.channels.stream_keys import (
    stream_key_display_prefix,
    stream_key_encrypt,
    stream_key_generate,
    stream_key_hash,
)
from api.core.errors import Conflict, DomainError
from api.core.services import model_update, texts_given
from api.users.models import User
from api.videos.models import Video, VideoStatus

# Lowercase so names stay unique however they are typed; 2-50 characters, no leading/trailing dash.
CHANNEL_NAME_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9_-]{0,48}[a-z0-9])?")


class InvalidChannelName(DomainError):
    code = "invalid_name"


class ChannelNameTaken(DomainError):
    code = "name_taken"


class ChannelAlreadyExists(Conflict):
    code = "channel_exists"


def channel_name_normalize(name: str) -> str:
    normalized = name.strip().lower()
    if len(normalized) < 2 or CHANNEL_NAME_PATTERN.fullmatch(normalized) is None:
        raise InvalidChannelName(
            "A channel name is 2-50 characters of lowercase letters, digits, '-' and '_', "
            "starting and ending with a letter or digit."
        )
    return normalized


def _stream_key_fields(key: str) -> dict[str, object]:
    key_hash = stream_key_hash(key)
    return {
        "stream_key_hash": key_hash,
        "stream_key_ciphertext": stream_key_encrypt(key, key_hash=key_hash),
        "stream_key_prefix": stream_key_display_prefix(key),
        "stream_key_rotated_at": timezone.now(),
    }


def channel_create(
    *, owner: User, name: str, title: str, description: str = "", client_ip: str | None = None
) -> Channel:
    name = channel_name_normalize(name)
    if Channel.objects.filter(owner=owner).exists():
        raise ChannelAlreadyExists("You already have a channel; each account has one.")
    if Channel.objects.filter(name=name).exists():
        raise ChannelNameTaken("That channel name is taken.")
    channel = Channel(
        owner=owner,
        name=name,
        title=title.strip(),
        description=description.strip(),
        **_stream_key_fields(stream_key_generate()),
    )
    try:
        with transaction.atomic():
            channel.save()
            activity_record(
                user=owner, action=ActivityAction.CHANNEL_CREATED, ip=client_ip, detail=channel.name
            )
    except IntegrityError:
        # Lost a race with a concurrent request: report which rule it broke.
        if Channel.objects.filter(owner=owner).exists():
            raise ChannelAlreadyExists("You already have a channel; each account has one.") from None
        raise ChannelNameTaken("That channel name is taken.") from None
    return channel


def channel_update(*, channel: Channel, title: str | None = None, description: str | None = None) -> Channel:
    """Title and description only: the name is part of public links and never changes."""
    data = texts_given(title=title, description=description)
    channel, _ = model_update(instance=channel, fields=["title", "description"], data=data)
    return channel


@transaction.atomic
def channel_stream_key_rotate(*, channel: Channel, client_ip: str | None = None) -> str:
    """A new key; the old one stops matching at once and a live publisher on it is told to stop."""
    locked = Channel.objects.select_for_update().get(pk=channel.pk)
    key = stream_key_generate()
    for field, value in _stream_key_fields(key).items():
        setattr(locked, field, value)
    locked.save(
        update_fields=[
            "stream_key_hash",
            "stream_key_ciphertext",
            "stream_key_prefix",
            "stream_key_rotated_at",
        ]
    )
    Video.objects.filter(channel=locked, status=VideoStatus.LIVE).update(stop_requested=True)
    # The detail names the channel only: never a key, old or new.
    activity_record(
        user=locked.owner, action=ActivityAction.STREAM_KEY_ROTATED, ip=client_ip, detail=locked.name
    )
    channel.refresh_from_db()
    return key
