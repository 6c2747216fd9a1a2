"""Task outcomes and latency for Prometheus, recorded from Celery's signals.

The prefork pool runs tasks in child processes, so the figures go through prometheus_client's
multiprocess mode: with PROMETHEUS_MULTIPROC_DIR set (an empty folder, before the worker starts),
every child writes its samples there and the main worker process serves their sum on
WORKER_METRICS_PORT. Without the folder only a solo pool (`--pool=solo`) reports its tasks.
Imported by workers.celery, so every worker connects these handlers.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from celery.signals import task_postrun, task_prerun, worker_init
from django.conf import settings
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector

logger = logging.getLogger(__name__)

TASKS = Counter(
    "tidecast_task",
    "Task runs finished, by task name and outcome (success, failure, retry, ...).",
    ["task", "outcome"],
)
TASK_SECONDS = Histogram(
    "tidecast_task_seconds",
    "Task run time in seconds, by task name.",
    ["task"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
# Task id -> start (monotonic). One pool process runs one task at a time (prefetch 1), so this
# holds at most a few entries; a task that never reaches postrun (its process killed) dies with it.
_STARTED: dict[str, float] = {}
MAX_STARTED = 1024


@task_prerun.connect
def _task_started(task_id: str | None = None, **_: Any) -> None:
    if task_id is not None and len(_STARTED) < MAX_STARTED:
        _STARTED[task_id] = time.monotonic()


@task_postrun.connect
def _task_finished(task_id: str | None = None, task: Any = None, state: str | None = None, **_: Any) -> None:
    name = str(getattr(task, "name", "unknown"))
    TASKS.labels(task=name, outcome=(state or "unknown").lower()).inc()
    started = _STARTED.pop(task_id, None) if task_id is not None else None
    if started is not None:
        TASK_SECONDS.labels(task=name).observe(time.monotonic() - started)


def metrics_registry() -> CollectorRegistry:
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
    return registry


@worker_init.connect
def _serve_metrics(**_: Any) -> None:
    """In the main worker process, before the pool starts: clear the last run's files, serve /metrics."""
    port: int = settings.WORKER_METRICS_PORT
    if not port:
        return
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        for stale in Path(folder).glob("*.db"):
            stale.unlink(missing_ok=True)
    try:
        start_http_server(port, addr=settings.WORKER_METRICS_HOST, registry=metrics_registry())
    except OSError as error:
        logger.error("worker metrics not served on port %s: %s", port, error)
        return
    logger.info("worker metrics on http://%s:%s/metrics", settings.WORKER_METRICS_HOST, port)
