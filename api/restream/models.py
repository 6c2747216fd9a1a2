from __future__ import annotations

import uuid

from django.db import models

from api.channels.models import Channel


class DestinationStatus(models.TextChoices):
    IDLE = "idle"
    CONNECTING = "connecting"
    LIVE = "live"
    FAILED = "failed"


class Destination(models.Model):
    """Where a channel's live stream is pushed on to (YouTube, Twitch, ...), as the ingest received it.

    The URL carries the platform's stream key, so it is stored like the channel's own key: AES-GCM
    ciphertext bound to this row's id (restream/secrets.py), and a masked form for display.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="destinations")
    url_ciphertext = models.TextField()
    url_masked = models.CharField(max_length=1100)
    enabled = models.BooleanField(default=True)
    # Reported by the ingest while the channel is live; shown as idle while it is not.
    status = models.CharField(
        max_length=16, choices=DestinationStatus.choices, default=DestinationStatus.IDLE
    )
    last_error = models.CharField(max_length=300, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.url_masked
