from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from api.videos.models import Video


class Upload(models.Model):
    """One tus upload: the bytes of a video's original file, arriving in PATCHes.

    The file on disk is the truth for the offset (a PATCH cut short keeps what arrived); `offset`
    is its last recorded size. The row lives as long as its video: it names the original.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="uploads")
    video = models.OneToOneField(Video, on_delete=models.CASCADE, related_name="upload")
    length = models.BigIntegerField()
    offset = models.BigIntegerField(default=0)
    filename = models.CharField(max_length=255, blank=True)
    # Relative to UPLOAD_ROOT.
    path = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["completed_at", "expires_at"])]

    def __str__(self) -> str:
        return f"upload {self.id} ({self.offset}/{self.length})"
