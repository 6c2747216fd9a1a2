"""The one call point for the storage quota at upload creation.

Counts what this app can see: every upload's declared length, and the HLS output of the user's
uploaded videos. The usage app replaces this body with its own accounting.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db.models import Sum

from api.uploads.models import Upload
from api.users.models import User
from api.videos.models import VideoStatus
from tidecast_common.layout import HlsLayout


def _folder_bytes(folder: Path) -> int:
    if not folder.is_dir():
        return 0
    return sum(entry.stat().st_size for entry in folder.rglob("*") if entry.is_file())


def storage_remaining_bytes(*, user: User) -> int:
    quota: int = settings.STORAGE_QUOTA_BYTES
    # A failed upload keeps no files.
    uploads = Upload.objects.filter(owner=user).exclude(video__status=VideoStatus.FAILED)
    originals = uploads.aggregate(total=Sum("length"))["total"] or 0
    layout = HlsLayout(Path(settings.HLS_ROOT))
    outputs = sum(
        _folder_bytes(layout.video_dir(url)) for url in uploads.values_list("video__url", flat=True)
    )
    return max(0, quota - originals - outputs)
