"""Webhook endpoints, the deliveries owed to them, and every attempt at one.

A delivery is one event for one endpoint: its body is fixed when the event happens (the video as it
was then), its signature is made afresh at each attempt (the timestamp is part of it). Deliveries of
one video to one endpoint form a chain, sent in the order they were created.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

URL_MAX_LENGTH = 2000
ERROR_MAX_LENGTH = 200
EXCERPT_MAX_LENGTH = 256


class WebhookEvent(models.TextChoices):
    STREAM_STARTED = "stream.started", "Stream started"
    STREAM_ENDED = "stream.ended", "Stream ended"
    VIDEO_READY = "video.ready", "Video ready"
    VIDEO_FAILED = "video.failed", "Video failed"
    VIDEO_DELETED = "video.deleted", "Video deleted"


class WebhookEndpoint(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=URL_MAX_LENGTH)
    events = models.JSONField(default=list)  # a list of WebhookEvent values
    # The whsec_ secret, AES-GCM sealed (api.webhooks.secrets): shown to its owner once, at creation.
    secret_ciphertext = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("created_at", "id")

    def __str__(self) -> str:
        return self.url


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed (gave up)"


class WebhookDelivery(models.Model):
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=32, choices=WebhookEvent.choices)
    # The `webhook-id` header: the same at every attempt, so receivers can drop duplicates.
    message_id = models.CharField(max_length=40, unique=True)
    # The chain key: a video's events reach an endpoint in order. A url, not a key: a deleted video
    # still has its video.deleted event to deliver.
    video_url = models.CharField(max_length=32)
    body = models.TextField()
    state = models.CharField(max_length=16, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    # When the next attempt is due; while one is under way, when it may be presumed lost.
    next_attempt_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        ordering = ("id",)
        indexes = [
            models.Index(fields=["endpoint", "video_url", "state", "id"], name="webhooks_delivery_chain"),
            models.Index(fields=["state", "next_attempt_at"], name="webhooks_delivery_due"),
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.message_id}"


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_set")
    number = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=ERROR_MAX_LENGTH, blank=True)
    response_excerpt = models.CharField(max_length=EXCERPT_MAX_LENGTH, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return f"{self.delivery_id} #{self.number}: {self.status_code or self.error}"
