"""The activity log's call point for destination changes.

The account activity log (`api/activity`) is built apart; until it is merged, this records the change
in the API's log only, with the masked URL. It is the one place to wire `activity_record(...)` in.
"""

from __future__ import annotations

import logging

from api.restream.models import Destination

logger = logging.getLogger(__name__)


def destination_activity_record(*, destination: Destination, action: str) -> None:
    """`action`: destination.created, destination.enabled, destination.disabled, destination.deleted."""
    logger.info(
        "channel %s: %s %s (%s)", destination.channel_id, action, destination.id, destination.url_masked
    )
