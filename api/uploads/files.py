"""Where an upload's files live: one folder per video below UPLOAD_ROOT (no Django models here).

<UPLOAD_ROOT>/<video url>/original        the bytes as uploaded (any container)
<UPLOAD_ROOT>/<video url>/work/           pieces and their transcodes while processing
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from tidecast_common.layout import is_video_url

ORIGINAL_NAME = "original"


def upload_folder(video_url: str) -> Path:
    if not is_video_url(video_url):
        raise ValueError("not a video url")
    return Path(settings.UPLOAD_ROOT) / video_url


def original_path(video_url: str) -> Path:
    return upload_folder(video_url) / ORIGINAL_NAME


def work_folder(video_url: str) -> Path:
    return upload_folder(video_url) / "work"
