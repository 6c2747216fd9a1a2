"""What happened on an account: one row per security- or content-relevant action."""

from __future__ import annotations

from django.conf import settings
from django.db import models

DETAIL_MAX_LENGTH = 200


class ActivityAction(models.TextChoices):
    SIGN_IN = "sign_in", "Signed in"
    SIGN_IN_FAILED = "sign_in_failed", "Failed sign-in"
    SIGN_OUT = "sign_out", "Signed out"
    PASSWORD_CHANGED = "password_changed", "Password changed"
    CHANNEL_CREATED = "channel_created", "Channel created"
    STREAM_KEY_ROTATED = "stream_key_rotated", "Stream key rotated"
    STREAM_STARTED = "stream_started", "Stream started"
    STREAM_ENDED = "stream_ended", "Stream ended"
    UPLOAD_STARTED = "upload_started", "Upload started"
    VIDEO_READY = "video_ready", "Video ready"
    VIDEO_FAILED = "video_failed", "Video failed"
    VIDEO_DELETED = "video_deleted", "Video deleted"
    WEBHOOK_CREATED = "webhook_created", "Webhook added"
    WEBHOOK_DELETED = "webhook_deleted", "Webhook removed"
    DESTINATION_CREATED = "destination_created", "Restream destination added"
    DESTINATION_UPDATED = "destination_updated", "Restream destination changed"
    DESTINATION_DELETED = "destination_deleted", "Restream destination removed"


class ActivityEntry(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="activity")
    action = models.CharField(max_length=32, choices=ActivityAction.choices)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # The client's address as the API sees it (api.core.throttling.client_ip); null when unknown.
    ip = models.GenericIPAddressField(null=True, blank=True)
    detail = models.CharField(max_length=DETAIL_MAX_LENGTH, blank=True)

    class Meta:
        verbose_name_plural = "activity entries"
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=["user", "-created_at", "-id"], name="activity_user_newest")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.action} {self.created_at:%Y-%m-%d %H:%M:%S}"
