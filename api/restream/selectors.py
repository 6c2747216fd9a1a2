"""Reads for restreaming destinations. Only `destination_targets` opens a stored URL, for the ingest."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, QuerySet

from api.channels.models import Channel
from api.core.errors import NotFound
from api.restream.models import Destination, DestinationStatus
from api.restream.secrets import DestinationDecryptionError, destination_url_decrypt
from api.videos.models import Video, VideoStatus

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DestinationTarget:
    """One enabled destination as the ingest needs it: the URL in clear. Never logged."""

    id: uuid.UUID
    url: str

    def __repr__(self) -> str:
        return f"DestinationTarget(id={self.id!s}, url=<hidden>)"


class NoSuchDestination(NotFound):
    code = "no_destination"


def _with_live_flag(destinations: QuerySet[Destination]) -> QuerySet[Destination]:
    live = Video.objects.filter(channel=OuterRef("channel_id"), status=VideoStatus.LIVE)
    return destinations.annotate(channel_live=Exists(live))


def destination_status(destination: Destination) -> str:
    """What the owner sees: the ingest's last report while the channel is live, idle otherwise."""
    if not getattr(destination, "channel_live", False):
        return DestinationStatus.IDLE
    return destination.status


def destination_list(*, channel: Channel) -> list[Destination]:
    return list(_with_live_flag(Destination.objects.filter(channel=channel)))


def destination_get(*, channel: Channel, destination_id: uuid.UUID) -> Destination:
    destination = _with_live_flag(Destination.objects.filter(channel=channel, id=destination_id)).first()
    if destination is None:
        raise NoSuchDestination("Your channel has no destination with that id.")
    return destination


def destination_targets(*, channel_id: int) -> list[DestinationTarget]:
    """The channel's enabled destinations with their URLs decrypted; one that cannot be opened is left out."""
    targets = []
    for destination in Destination.objects.filter(channel_id=channel_id, enabled=True):
        try:
            url = destination_url_decrypt(destination.url_ciphertext, destination_id=destination.id)
        except DestinationDecryptionError:
            logger.error("destination %s cannot be decrypted; it is skipped", destination.id)
            continue
        targets.append(DestinationTarget(id=destination.id, url=url))
    return targets


def destination_targets_for_publish(*, publish_id: uuid.UUID) -> list[DestinationTarget]:
    channel_id = Video.objects.filter(publish_id=publish_id).values_list("channel_id", flat=True).first()
    return destination_targets(channel_id=channel_id) if channel_id is not None else []
