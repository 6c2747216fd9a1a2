"""Reads of webhooks: an owner's endpoints and the tries of their deliveries."""

from __future__ import annotations

from django.db.models import QuerySet

from api.core.errors import NotFound
from api.users.models import User
from api.webhooks.models import WebhookAttempt, WebhookEndpoint


def webhook_list_for_owner(*, owner: User) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(owner=owner).order_by("created_at", "id")


def webhook_get_for_owner(*, owner: User, webhook_id: int) -> WebhookEndpoint:
    """The owner's endpoint; anyone else's is as unknown as a missing one (404)."""
    endpoint = WebhookEndpoint.objects.filter(owner=owner, pk=webhook_id).first()
    if endpoint is None:
        raise NotFound("You have no webhook with that id.")
    return endpoint


def webhook_attempt_list(*, endpoint: WebhookEndpoint) -> QuerySet[WebhookAttempt]:
    """Every try at the endpoint's deliveries, newest first."""
    return (
        WebhookAttempt.objects.filter(delivery__endpoint=endpoint)
        .select_related("delivery")
        .order_by("-created_at", "-id")
    )
