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
    # The processing: the probe, renditions and pieces once the file is cut (empty before).
    plan = models.JSONField(default=dict, blank=True)
    # Touched by the task cutting the file while it runs; a stale one is queued again.
    processing_heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["completed_at", "expires_at"])]

    def __str__(self) -> str:
        return f"upload {self.id} ({self.offset}/{self.length})"


class PieceStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class UploadPiece(models.Model):
    """One piece of the original (`index`, cut at keyframes) transcoded into `renditions` by one
    ffmpeg (the piece decoded once). Each piece has one such row for every rendition, except the
    first: a `quick` row makes its lowest rendition alone, first in the queue, so the video plays
    within seconds, and the other row makes the rest."""

    upload = models.ForeignKey(Upload, on_delete=models.CASCADE, related_name="pieces")
    index = models.PositiveIntegerField()
    quick = models.BooleanField(default=False)
    # The names of the renditions this row produces.
    renditions = models.JSONField(default=list)
    # Lower first: the quick row, then the pieces in order.
    priority = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=8, choices=PieceStatus.choices, default=PieceStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # Touched every few seconds while a worker transcodes it; a stale one is queued again.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    # Each rendition's segments as its playlist lists them: {rendition: [[seconds, file name], ...]}.
    segments = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["upload", "index", "quick"], name="one_row_per_piece")]
        indexes = [models.Index(fields=["status", "heartbeat_at"])]

    def __str__(self) -> str:
        return f"piece {self.index}{' (quick)' if self.quick else ''} {self.renditions} ({self.status})"
