"""The Celery app: configured from Django settings (CELERY_*), tasks in workers.tasks.

Broker: RabbitMQ when CELERY_BROKER_URL is set (amqp://...), else kombu's filesystem transport
under the data folder, so `make run` needs no broker server and still runs tasks in a worker.
Start a worker with `celery -A workers worker --loglevel=INFO --concurrency=2`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "api.settings.local")

app = Celery("tidecast")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["workers"])

_FILESYSTEM_FOLDER_OPTIONS = ("data_folder_in", "data_folder_out", "processed_folder", "control_folder")


@app.on_after_configure.connect
def _create_filesystem_broker_folders(sender: Celery, **_: Any) -> None:
    """The filesystem transport expects its folders to exist."""
    if not str(sender.conf.broker_url or "").startswith("filesystem://"):
        return
    options = sender.conf.broker_transport_options or {}
    for option in _FILESYSTEM_FOLDER_OPTIONS:
        if option in options:
            Path(options[option]).mkdir(parents=True, exist_ok=True)
