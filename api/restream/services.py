"""Restreaming destinations: created, switched on and off, removed by their owner; their status set by
the ingest while the channel is live."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from api.channels.models import Channel
from api.core.errors import Conflict, DomainError
from api.restream.activity import destination_activity_record
from api.restream.models import Destination, DestinationStatus
from api.restream.secrets import destination_url_encrypt, destination_url_mask
from api.videos.models import Video, VideoStatus

MAX_URL_LENGTH = 1024
MAX_ERROR_LENGTH = 300
SCHEMES = ("rtmp", "rtmps")
# What the ingest may report; idle is the API's own word for "the channel is not live".
REPORTED_STATUSES = (DestinationStatus.CONNECTING, DestinationStatus.LIVE, DestinationStatus.FAILED)


class InvalidDestination(DomainError):
    code = "invalid_destination"


class TooManyDestinations(Conflict):
    code = "too_many_destinations"


@dataclass(frozen=True, slots=True)
class DestinationReport:
    destination_id: uuid.UUID
    status: str
    error: str = ""


def destination_url_validate(url: str) -> str:
    """The URL as it will be pushed to, or InvalidDestination saying what is wrong with it."""
    if len(url) > MAX_URL_LENGTH or any(ord(c) <= 32 or ord(c) == 127 for c in url):
        raise InvalidDestination(
            f"A destination is a URL of at most {MAX_URL_LENGTH} characters, without spaces."
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidDestination("That is not a valid URL.") from None
    if parts.scheme.lower() not in SCHEMES:
        raise InvalidDestination("A destination URL starts with rtmp:// or rtmps://.")
    host = parts.hostname or ""
    if not host:
        raise InvalidDestination("The destination URL has no host.")
    if port == 0:
        raise InvalidDestination("The destination URL has no valid port.")
    segments = [segment for segment in parts.path.split("/") if segment]
    if len(segments) < 2 and not parts.query:
        raise InvalidDestination(
            "The destination URL needs the application and the platform's stream key in its path, "
            "e.g. rtmp://a.rtmp.youtube.com/live2/<key>."
        )
    if parts.fragment:
        raise InvalidDestination("A destination URL has no #fragment.")
    if not settings.RESTREAM_ALLOW_PRIVATE_DESTINATIONS and _is_private_host(host):
        raise InvalidDestination("Destinations on loopback, private or link-local addresses are not allowed.")
    return url


def _is_private_host(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # a name: resolved by the ingest when it connects
    return not address.is_global


def destination_create(*, channel: Channel, url: str) -> Destination:
    url = destination_url_validate(url.strip())
    with transaction.atomic():
        Channel.objects.select_for_update().filter(pk=channel.pk).first()  # one count at a time per channel
        if Destination.objects.filter(channel=channel).count() >= settings.RESTREAM_MAX_DESTINATIONS:
            raise TooManyDestinations(
                f"A channel has at most {settings.RESTREAM_MAX_DESTINATIONS} destinations; remove one first."
            )
        destination = Destination(id=uuid.uuid4(), channel=channel, url_masked=destination_url_mask(url))
        destination.url_ciphertext = destination_url_encrypt(url, destination_id=destination.id)
        destination.save(force_insert=True)
    destination_activity_record(destination=destination, action="destination.created")
    return destination


def destination_update(*, destination: Destination, enabled: bool | None = None) -> Destination:
    if enabled is not None and enabled != destination.enabled:
        destination.enabled = enabled
        fields = ["enabled"]
        if not enabled:  # no longer pushed to: nothing will report on it
            destination.status, destination.last_error = DestinationStatus.IDLE, ""
            fields += ["status", "last_error"]
        destination.save(update_fields=fields)
        action = "destination.enabled" if enabled else "destination.disabled"
        destination_activity_record(destination=destination, action=action)
    return destination


def destination_delete(*, destination: Destination) -> None:
    destination_activity_record(destination=destination, action="destination.deleted")
    destination.delete()


def destination_statuses_report(*, publish_id: uuid.UUID, reports: Iterable[DestinationReport]) -> int:
    """The ingest's view of the live publish's destinations; reports on other channels' are ignored."""
    channel_id = (
        Video.objects.filter(publish_id=publish_id, status=VideoStatus.LIVE)
        .values_list("channel_id", flat=True)
        .first()
    )
    if channel_id is None:
        return 0
    updated = 0
    now = timezone.now()
    for report in reports:
        if report.status not in REPORTED_STATUSES:
            continue
        changed = (
            Destination.objects.filter(id=report.destination_id, channel_id=channel_id)
            .exclude(status=report.status, last_error=report.error[:MAX_ERROR_LENGTH])
            .update(status=report.status, last_error=report.error[:MAX_ERROR_LENGTH], status_changed_at=now)
        )
        updated += changed
    return updated
