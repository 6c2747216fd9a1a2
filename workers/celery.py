"""The Celery worker: the app `api.core.tasks` sends with, and the tasks of workers.tasks.

`api` builds and configures the app (it only sends tasks by name); this package registers the
tasks that call the services, so `workers` imports `api` and never the reverse.
Start a worker with `celery -A workers worker --loglevel=INFO --concurrency=2`.
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "api.settings.local")

from api.core.tasks import celery_app as app

app.autodiscover_tasks(["workers"])
app.autodiscover_tasks(["workers"], related_name="usage_tasks")  # workers/usage_tasks.py
app.autodiscover_tasks(["workers"], related_name="upload_tasks")

# Connects the task-metric signal handlers in every worker process (before the pool forks).
from workers import metrics  # noqa: E402, F401

__all__ = ["app"]
