"""Celery tasks of usage accounting: thin adapters over api.usage.services."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError
from celery import shared_task

from api.usage import services as usage_services
from workers.tasks import _RETRYING, TRANSIENT_ERRORS

# Storage and database errors, and the object store's own, are retried with backoff.
_STORE_RETRYING = {**_RETRYING, "autoretry_for": (*TRANSIENT_ERRORS, BotoCoreError, ClientError)}


@shared_task(name=usage_services.MEASURE_TASK, soft_time_limit=90, time_limit=120, **_STORE_RETRYING)
def usage_measure_video(*, video_id: int) -> int:
    return usage_services.video_storage_measure_by_id(video_id=video_id)


@shared_task(name="usage.expire_recordings", soft_time_limit=90, time_limit=120)
def usage_expire_recordings() -> int:
    return usage_services.recordings_expire()


@shared_task(name="usage.report_orphans", soft_time_limit=90, time_limit=120)
def usage_report_orphans() -> int:
    return len(usage_services.storage_orphans_report().videos)


@shared_task(
    name=usage_services.USER_FILES_REMOVE_TASK, soft_time_limit=90, time_limit=120, **_STORE_RETRYING
)
def usage_remove_user_files(*, user_id: int) -> int:
    """Remove a deleted account's own files (its profile picture's); idempotent."""
    return usage_services.user_files_remove(user_id=user_id)
