"""Reads of the activity log."""

from __future__ import annotations

from django.db.models import QuerySet

from api.activity.models import ActivityEntry
from api.users.models import User


def activity_list_for_user(*, user: User) -> QuerySet[ActivityEntry]:
    """Newest first (ties broken by id, so entries of the same instant keep their order)."""
    return ActivityEntry.objects.filter(user=user).order_by("-created_at", "-id")
