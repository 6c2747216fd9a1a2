"""The storage quota at upload creation: what the usage app has measured, less the uploads still
on their way (their bytes are not measured until they are processed)."""

from __future__ import annotations

from django.db.models import Sum

from api.uploads.models import Upload
from api.usage.selectors import storage_remaining_bytes as measured_remaining_bytes
from api.users.models import User
from api.videos.models import VideoStatus


def storage_remaining_bytes(*, user: User) -> int:
    in_flight = Upload.objects.filter(
        owner=user, video__status__in=(VideoStatus.UPLOADING, VideoStatus.PROCESSING)
    ).aggregate(total=Sum("length"))["total"]
    return max(0, measured_remaining_bytes(user=user) - (in_flight or 0))
