"""Destination changes on the owner's activity log, with the masked URL only (never the key)."""

from __future__ import annotations

from api.activity.models import ActivityAction
from api.activity.services import activity_record
from api.restream.models import Destination

_ACTIONS = {
    "destination.created": (ActivityAction.DESTINATION_CREATED, "added"),
    "destination.enabled": (ActivityAction.DESTINATION_UPDATED, "enabled"),
    "destination.disabled": (ActivityAction.DESTINATION_UPDATED, "disabled"),
    "destination.deleted": (ActivityAction.DESTINATION_DELETED, "removed"),
}


def destination_activity_record(*, destination: Destination, action: str) -> None:
    """`action`: destination.created, destination.enabled, destination.disabled, destination.deleted."""
    logged, verb = _ACTIONS[action]
    activity_record(user=destination.channel.owner, action=logged, detail=f"{verb} {destination.url_masked}")
