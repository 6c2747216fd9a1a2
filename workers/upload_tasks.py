"""Celery tasks of uploaded videos: the expiry of unfinished uploads (beat) and the processing
(api.uploads.processing), which runs on its own queue (UPLOAD_QUEUE) with its own concurrency."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task
from celery.signals import worker_ready
from django.conf import settings
from django.db import DatabaseError, connections

from api.core.tasks import QueueUnavailable
from api.uploads import processing
from api.uploads import services as upload_services

logger = logging.getLogger(__name__)


@shared_task(name="uploads.expire", soft_time_limit=120, time_limit=150)
def uploads_expire() -> int:
    """Remove unfinished uploads past UPLOAD_EXPIRY_HOURS, with their bytes."""
    return upload_services.upload_expire_stale()


@shared_task(name="uploads.requeue_stale", soft_time_limit=30, time_limit=60)
def uploads_requeue_stale() -> int:
    """Queue again the pieces whose worker died (their heartbeat went stale)."""
    return processing.upload_requeue_stale()


@shared_task(
    name=upload_services.UPLOAD_PROCESS_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=2,
    max_retries=5,
    soft_time_limit=settings.UPLOAD_PROBE_TIMEOUT_SECONDS + settings.UPLOAD_SPLIT_TIMEOUT_SECONDS + 90,
    time_limit=settings.UPLOAD_PROBE_TIMEOUT_SECONDS + settings.UPLOAD_SPLIT_TIMEOUT_SECONDS + 120,
)
def uploads_process(*, video_id: int) -> str:
    """Probe and cut a finished upload, then queue its pieces."""
    return str(processing.upload_process(video_id=video_id))


@shared_task(
    bind=True,
    name=processing.UPLOAD_PIECE_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    # ffmpeg is bounded by UPLOAD_PIECE_TIMEOUT_SECONDS; these only catch a task stuck elsewhere.
    soft_time_limit=settings.UPLOAD_PIECE_TIMEOUT_SECONDS + 90,
    time_limit=settings.UPLOAD_PIECE_TIMEOUT_SECONDS + 120,
)
def uploads_piece(self: Task[Any, Any], *, piece_id: int) -> str:
    """Transcode one piece into its renditions; a failure is retried alone, then fails the video."""
    try:
        return str(processing.upload_piece_run(piece_id=piece_id))
    except (processing.PieceFailed, OSError, DatabaseError) as exc:
        logger.warning("piece %s failed (try %s): %s", piece_id, self.request.retries + 1, exc)
        if self.request.retries < settings.UPLOAD_PIECE_RETRIES:
            processing.upload_piece_released(piece_id=piece_id, error=str(exc))
            raise self.retry(countdown=1 + self.request.retries, exc=exc) from exc
        processing.upload_piece_give_up(piece_id=piece_id, error=str(exc))
        return str(processing.Outcome.FAILED)


@worker_ready.connect
def _requeue_stale_upload_pieces(**_: Any) -> None:
    """A worker that starts picks up the pieces a dead one left (brokers without acknowledgements
    lose such messages)."""
    try:
        processing.upload_requeue_stale()
    except (DatabaseError, QueueUnavailable) as exc:
        logger.warning("could not requeue stale upload pieces: %s", exc)
    finally:
        connections.close_all()
