"""Celery tasks: thin adapters that take ids and call services.

Every task is idempotent, acknowledged late and requeued if its worker dies, so a message is
processed until one run completes; the services' version checks make extra runs harmless.
Storage (OSError) and database errors are retried with exponential backoff and jitter; a picture
that cannot be decoded is recorded as failed and never retried.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_ready
from django.conf import settings
from django.db import DatabaseError, connections

from api.activity import services as activity_services
from api.core.tasks import QueueUnavailable
from api.profiles import services as profile_services
from api.videos import playback, thumbnails
from api.videos import services as video_services
from api.videos.models import Video
from api.webhooks import services as webhook_services

logger = logging.getLogger(__name__)

TRANSIENT_ERRORS = (OSError, DatabaseError)
_RETRYING = {
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 6,
    "acks_late": True,
    "reject_on_worker_lost": True,
}


def _test_delay() -> None:
    """A deliberately slow task run, enabled only by the test suite (0 everywhere else)."""
    if settings.WORKER_TEST_TASK_DELAY_SECONDS > 0:
        time.sleep(settings.WORKER_TEST_TASK_DELAY_SECONDS)


@shared_task(
    bind=True, name=profile_services.AVATAR_RESIZE_TASK, soft_time_limit=30, time_limit=60, **_RETRYING
)
def avatar_resize(self: Task[Any, Any], *, profile_id: int, version: int) -> str:
    redelivered = bool((self.request.delivery_info or {}).get("redelivered"))
    logger.info(
        "avatar resize started: profile %s version %s redelivered=%s", profile_id, version, redelivered
    )
    _test_delay()
    try:
        outcome = profile_services.profile_avatar_render(profile_id=profile_id, version=version)
    except SoftTimeLimitExceeded:
        outcome = profile_services.profile_avatar_fail(
            profile_id=profile_id, version=version, reason="The picture took too long to process."
        )
    logger.info("avatar resize finished: profile %s version %s outcome=%s", profile_id, version, outcome)
    _measure_pictures(profile_id)
    return str(outcome)


def _measure_pictures(profile_id: int) -> None:
    """The owner's storage follows their picture (made, replaced or refused): measured here, in
    the worker that changed it. A failed measurement is logged; the next change measures again."""
    from api.profiles.models import Profile
    from api.usage.services import user_storage_measure

    user_id = Profile.objects.filter(pk=profile_id).values_list("user_id", flat=True).first()
    if user_id is None:
        return
    try:
        user_storage_measure(user_id=user_id)
    except (OSError, DatabaseError) as exc:
        logger.warning("profile %s: pictures not measured: %s", profile_id, exc)


@shared_task(name=thumbnails.THUMBNAIL_RESIZE_TASK, soft_time_limit=30, time_limit=60, **_RETRYING)
def video_thumbnail_resize(*, video_id: int, source: str) -> str:
    outcome = thumbnails.video_thumbnail_resize(video_id=video_id, source=source)
    if outcome == thumbnails.ThumbnailOutcome.DONE:  # its pictures changed: so did what it stores
        from api.usage.services import video_storage_measure_schedule

        video = Video.objects.filter(pk=video_id).first()
        if video is not None:
            video_storage_measure_schedule(video=video)
    return str(outcome)


# A missed preview is replaced by the next one 30 s later: no retries, no redelivery storms.
@shared_task(name=thumbnails.LIVE_THUMBNAIL_TASK, soft_time_limit=25, time_limit=30, acks_late=True)
def video_live_thumbnail_capture(*, video_id: int) -> str:
    return str(thumbnails.video_live_thumbnail_capture(video_id=video_id))


@shared_task(name="videos.end_stale_live", soft_time_limit=20, time_limit=30)
def videos_end_stale_live() -> int:
    """End live videos whose ingest went silent without reporting the end (it crashed)."""
    return video_services.video_end_stale()


@shared_task(name="videos.reconcile_private_markers", soft_time_limit=50, time_limit=60)
def videos_reconcile_private_markers() -> int:
    """The HLS folders' private markers made to agree with the database (api.videos.playback)."""
    written, removed = playback.video_private_markers_reconcile()
    return written + removed


@shared_task(name=video_services.VIDEO_FILES_REMOVE_TASK, soft_time_limit=120, time_limit=150, **_RETRYING)
def video_files_remove(*, video_url: str, media_names: list[str]) -> int:
    """Remove every file of a deleted video (idempotent: a redelivery finds nothing left)."""
    return video_services.video_files_remove(video_url=video_url, media_names=media_names)


@shared_task(name=video_services.VIDEO_OBJECTS_MOVE_TASK, soft_time_limit=120, time_limit=150, **_RETRYING)
def video_objects_move(*, video_url: str) -> int:
    """Move a video's objects to the prefix of its visibility now (idempotent: the row decides)."""
    return video_services.video_objects_move(video_url=video_url)


@worker_ready.connect
def _requeue_unfinished_pictures(**_: Any) -> None:
    """Brokers without acknowledgements (the embedded filesystem one) lose a message whose worker
    was killed; pictures left `processing` are queued again when a worker starts."""
    try:
        count = profile_services.profile_avatar_requeue_unfinished()
    except (DatabaseError, QueueUnavailable) as exc:
        logger.warning("could not requeue unfinished pictures: %s", exc)
        return
    finally:
        connections.close_all()  # the pool's processes open their own connections
    if count:
        logger.info("requeued %s unfinished picture(s)", count)


@shared_task(name="activity.prune", soft_time_limit=300, time_limit=330)
def activity_prune() -> int:
    """Forget activity entries older than ACTIVITY_RETENTION_DAYS."""
    return activity_services.activity_prune()


# Each try is recorded and retried by the service itself (growing pauses, then the sweep); the
# task only retries what never reached the receiver's answer: the database or the broker.
@shared_task(name=webhook_services.DELIVER_TASK, soft_time_limit=45, time_limit=60, **_RETRYING)
def webhook_deliver(*, delivery_id: int) -> str:
    return webhook_services.webhook_delivery_attempt(delivery_id=delivery_id)


@shared_task(name=webhook_services.SWEEP_TASK, soft_time_limit=20, time_limit=30)
def webhooks_sweep() -> int:
    """Queue due webhook deliveries: long retries, and any whose message was lost."""
    return webhook_services.webhook_deliveries_sweep()


@shared_task(name=webhook_services.PRUNE_TASK, soft_time_limit=300, time_limit=330)
def webhooks_prune() -> int:
    return webhook_services.webhook_deliveries_prune()
