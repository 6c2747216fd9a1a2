"""Recording what happens on an account, and forgetting it after ACTIVITY_RETENTION_DAYS.

Callers pass a short, plain detail (a channel name, a video url, a webhook's host). Whatever they
pass, anything shaped like a credential is masked before it is stored: a stream key, a webhook
secret, a JWT, or the path of an rtmp(s) URL (where platforms put their keys).
"""

from __future__ import annotations

import ipaddress
import logging
import re
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from api.activity.models import DETAIL_MAX_LENGTH, ActivityAction, ActivityEntry
from api.users.models import User

logger = logging.getLogger(__name__)

MASK = "[hidden]"
_SECRET_SHAPES = (
    re.compile(r"live_[A-Za-z0-9_-]{4,}"),  # stream keys
    re.compile(r"whsec_[A-Za-z0-9+/=_-]+"),  # webhook secrets
    re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*)?"),  # JWTs
)
_RTMP_PATH = re.compile(r"(rtmps?://[^/\s]+)/\S*", re.IGNORECASE)
PRUNE_BATCH = 5000


def activity_detail_clean(detail: str) -> str:
    """The detail as stored: credentials masked, one line, at most DETAIL_MAX_LENGTH characters."""
    cleaned = " ".join(detail.split())
    cleaned = _RTMP_PATH.sub(rf"\1/{MASK}", cleaned)
    for shape in _SECRET_SHAPES:
        cleaned = shape.sub(MASK, cleaned)
    if len(cleaned) > DETAIL_MAX_LENGTH:
        cleaned = cleaned[: DETAIL_MAX_LENGTH - 1] + "…"
    return cleaned


def _ip_or_none(ip: str | None) -> str | None:
    if not ip:
        return None
    try:
        return str(ipaddress.ip_address(ip.strip()))
    except ValueError:
        return None  # "unknown", or whatever a misconfigured proxy chain produced


def activity_record(
    *, user: User, action: ActivityAction | str, ip: str | None = None, detail: str = ""
) -> ActivityEntry:
    """One entry on `user`'s log. `action` is one of ActivityAction."""
    entry = ActivityEntry.objects.create(
        user=user,
        action=ActivityAction(action),
        ip=_ip_or_none(ip),
        detail=activity_detail_clean(detail),
    )
    logger.info("activity: user %s %s", user.pk, entry.action)
    return entry


def activity_prune(*, now: datetime | None = None) -> int:
    """Delete entries older than ACTIVITY_RETENTION_DAYS, in bounded batches; returns rows deleted."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.ACTIVITY_RETENTION_DAYS)
    deleted = 0
    while True:
        ids = list(
            ActivityEntry.objects.filter(created_at__lt=cutoff).values_list("id", flat=True)[:PRUNE_BATCH]
        )
        if not ids:
            return deleted
        deleted += ActivityEntry.objects.filter(id__in=ids).delete()[0]
