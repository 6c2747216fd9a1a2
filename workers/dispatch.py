"""Sending tasks to the broker, by name, after the surrounding transaction commits.

A broker that cannot be reached is reported as QueueUnavailable (503), never as a 500, and the
caller decides how to undo what it prepared for the task.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from kombu.exceptions import OperationalError

from api.core.errors import DomainError
from workers.celery import app

logger = logging.getLogger(__name__)

# A broker that is down should be reported within a second or two, not after minutes of retries.
PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0.1, "interval_step": 0.3, "interval_max": 0.5}


class QueueUnavailable(DomainError):
    status_code = 503
    code = "queue_unavailable"


def task_enqueue(name: str, *, kwargs: dict[str, Any], expires: float | None = None) -> None:
    """Publish one task message now; ids only in `kwargs` (JSON)."""
    try:
        app.send_task(name, kwargs=kwargs, expires=expires, retry=True, retry_policy=PUBLISH_RETRY_POLICY)
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
    error: QueueUnavailable | None = field(default=None, init=False)

    def send(self) -> None:
        try:
            task_enqueue(self.name, kwargs=self.kwargs, expires=self.expires)
        except QueueUnavailable as exc:
            self.error = exc


def task_enqueue_on_commit(name: str, *, kwargs: dict[str, Any], expires: float | None = None) -> PendingTask:
    pending = PendingTask(name=name, kwargs=kwargs, expires=expires)
    transaction.on_commit(pending.send)
    return pending
