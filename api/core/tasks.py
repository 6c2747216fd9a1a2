"""Queuing background tasks by name, after the surrounding transaction commits.

The Celery app is built here, on the sending side, from Django settings (CELERY_*): the API only
ever names a task, and `workers` (which imports this app, registers the tasks and runs them)
stays a consumer of `api`, never a dependency of it.

Broker: RabbitMQ when CELERY_BROKER_URL is set (amqp://...), else kombu's filesystem transport
under the data folder, so `make run` needs no broker server. A broker that cannot be reached is
reported as QueueUnavailable (503), never as a 500, and the caller decides how to undo what it
prepared for the task.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from celery import Celery
from django.db import transaction
from kombu.exceptions import OperationalError

from api.core.errors import DomainError

logger = logging.getLogger(__name__)

# A broker that is down should be reported within a second or two, not after minutes of retries.
PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0.1, "interval_step": 0.3, "interval_max": 0.5}
_FILESYSTEM_FOLDER_OPTIONS = ("data_folder_in", "data_folder_out", "processed_folder", "control_folder")

celery_app = Celery("tidecast")
celery_app.config_from_object("django.conf:settings", namespace="CELERY")


def _create_filesystem_broker_folders(sender: Celery, **_: Any) -> None:
    """The filesystem transport expects its folders to exist, for senders and workers alike."""
    if not str(sender.conf.broker_url or "").startswith("filesystem://"):
        return
    options = sender.conf.broker_transport_options or {}
    for option in _FILESYSTEM_FOLDER_OPTIONS:
        if option in options:
            Path(options[option]).mkdir(parents=True, exist_ok=True)


celery_app.on_after_configure.connect(_create_filesystem_broker_folders)


class QueueUnavailable(DomainError):
    status_code = 503
    code = "queue_unavailable"


def task_enqueue(
    name: str,
    *,
    kwargs: dict[str, Any],
    expires: float | None = None,
    countdown: float | None = None,
    queue: str | None = None,
) -> None:
    """Publish one task message now (to run `countdown` seconds later); ids only in `kwargs`
    (JSON). `queue`: another than the default."""
    try:
        celery_app.send_task(
            name,
            kwargs=kwargs,
            expires=expires,
            countdown=countdown,
            queue=queue,
            retry=True,
            retry_policy=PUBLISH_RETRY_POLICY,
        )
    except (OperationalError, OSError) as exc:
        logger.warning("could not queue %s: %s", name, exc)
        raise QueueUnavailable(
            "Background processing is unavailable right now; nothing was changed. Please try again shortly."
        ) from exc


@dataclass
class PendingTask:
    """A task that will be published once the current transaction commits.

    `error` is set if publishing failed: check it after the outermost atomic block has exited.
    """

    name: str
    kwargs: dict[str, Any]
    expires: float | None = None
    countdown: float | None = None
    queue: str | None = None
    error: QueueUnavailable | None = field(default=None, init=False)

    def send(self) -> None:
        try:
            task_enqueue(
                self.name,
                kwargs=self.kwargs,
                expires=self.expires,
                countdown=self.countdown,
                queue=self.queue,
            )
        except QueueUnavailable as exc:
            self.error = exc


def task_enqueue_on_commit(
    name: str,
    *,
    kwargs: dict[str, Any],
    expires: float | None = None,
    countdown: float | None = None,
    queue: str | None = None,
) -> PendingTask:
    pending = PendingTask(name=name, kwargs=kwargs, expires=expires, countdown=countdown, queue=queue)
    transaction.on_commit(pending.send)
    return pending
