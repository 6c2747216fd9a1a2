"""What each user stores and serves: bytes per video (measured from the store or the disk),
bytes sent per video per day, and a per-user quota set in the admin."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from api.videos.models import Video


class StorageQuota(models.Model):
    """A user's own quota; without one, STORAGE_QUOTA_BYTES applies."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="storage_quota"
    )
    quota_bytes = models.PositiveBigIntegerField()

    def __str__(self) -> str:
        return f"{self.user} quota {self.quota_bytes} bytes"


class VideoStorage(models.Model):
    """Every stored object of one video (renditions, recording, original, thumbnails), as last
    measured: gone with the video, so the owner's storage drops at once when it is deleted."""

    video = models.OneToOneField(Video, on_delete=models.CASCADE, primary_key=True, related_name="storage")
    stored_bytes = models.PositiveBigIntegerField(default=0)
    object_count = models.PositiveIntegerField(default=0)
    # The recording is complete in the object store (the ingest said so).
    in_store = models.BooleanField(default=False)
    measured_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.video_id}: {self.stored_bytes} bytes"


class UserStorage(models.Model):
    """A user's stored objects that belong to no video (the profile picture: every size, the
    cleaned original and an upload waiting for the worker), as last measured."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="storage"
    )
    stored_bytes = models.PositiveBigIntegerField(default=0)
    object_count = models.PositiveIntegerField(default=0)
    measured_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.user_id}: {self.stored_bytes} bytes"


class VideoEgress(models.Model):
    """Bytes sent for one video on one day (UTC), by the HLS server (or nginx's access log)."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="egress")
    video = models.ForeignKey(Video, on_delete=models.SET_NULL, null=True, blank=True, related_name="egress")
    video_url = models.CharField(max_length=32)
    day = models.DateField()
    sent_bytes = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["video_url", "day"], name="one_egress_row_per_video_day")
        ]
        indexes = [models.Index(fields=["owner", "day"])]

    def __str__(self) -> str:
        return f"{self.video_url} {self.day}: {self.sent_bytes} bytes"
