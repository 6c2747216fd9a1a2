"""Celery tasks of uploaded videos: the expiry of unfinished uploads (beat) and the processing
(api.uploads.processing), which runs on its own queue (UPLOAD_QUEUE) with its own concurrency."""

from __future__ import annotations

from celery import shared_task

from api.uploads import services as upload_services


@shared_task(name="uploads.expire", soft_time_limit=120, time_limit=150)
def uploads_expire() -> int:
    """Remove unfinished uploads past UPLOAD_EXPIRY_HOURS, with their bytes."""
    return upload_services.upload_expire_stale()
