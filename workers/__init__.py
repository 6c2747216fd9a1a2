"""Background jobs: the Celery app and its tasks."""

from workers.celery import app

__all__ = ["app"]
