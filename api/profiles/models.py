from __future__ import annotations

from django.conf import settings
from django.db import models


class AvatarStatus(models.TextChoices):
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class Profile(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    display_name = models.CharField(max_length=50, blank=True)
    bio = models.TextField(max_length=1000, blank=True)
    # Avatar: the original upload and the resized copies written by the worker.
    avatar_status = models.CharField(max_length=16, choices=AvatarStatus.choices, blank=True)
    avatar_error = models.CharField(max_length=200, blank=True)
    avatar_original = models.FileField(upload_to="avatars/originals/", blank=True)
    # Bumped by every upload, so a worker finishing an older upload knows it was superseded.
    avatar_version = models.PositiveIntegerField(default=0)
    # {"64": "avatars/<user>/<version>-64.webp", ...}: storage names, not URLs.
    avatar_sizes = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Profile of {self.user_id}"
