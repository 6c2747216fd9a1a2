"""A real Celery worker process, on the configured broker (RabbitMQ in CI), sharing the test database.

The worker is started with `celery -A workers worker` and the test settings; it reaches the test
database through DATABASE_URL (PostgreSQL: the test database's name; SQLite: the file made by
tests/conftest.py), and the media folder through MEDIA_ROOT. Each test session uses a queue of its
own, so stale messages from elsewhere never reach it, and the queue is deleted at the end.
Tests that use it need `@pytest.mark.django_db(transaction=True)`: the worker sees committed rows only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings

from workers import app as celery_app

ROOT = Path(__file__).resolve().parents[2]
WORKER_START_TIMEOUT = 30.0


def worker_database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        name = str(db["NAME"])
        assert not name.startswith(("file:", ":memory:")), "the worker cannot share an in-memory database"
        return f"sqlite:///{name}"
    user = quote(db["USER"] or "", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    return f"postgres://{user}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def wait_until(condition: Callable[[], object], *, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s: {message}")
        time.sleep(0.1)


class Worker:
    """One `celery -A workers worker` process group; its output goes to a log file."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = log_dir / "none.log"
        self.logs: list[Path] = []

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, **extra_env: str) -> None:
        assert not self.running
        self.log_path = self.log_dir / f"worker-{len(self.logs)}.log"
        self.logs.append(self.log_path)
        argv = [
            sys.executable, "-m", "celery", "-A", "workers", "worker", "--loglevel=INFO",
            "--concurrency=1", "-n", f"test-{uuid.uuid4().hex[:8]}@%h",
            "--without-mingle", "--without-gossip", "--without-heartbeat",
        ]  # fmt: skip
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                argv, cwd=ROOT, env={**self.env, **extra_env}, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        wait_until(
            lambda: " ready." in self.log() or not self.running,
            timeout=WORKER_START_TIMEOUT,
            message=f"worker start; log:\n{self.log()}",
        )
        assert self.running, self.log()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def all_logs(self) -> str:
        return "".join(path.read_text(errors="replace") for path in self.logs)

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes at once, as a crash or an OOM kill would."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if not self.running:
            return
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()


def _use_queue(queue: str) -> None:
    celery_app.conf.task_default_queue = queue
    for cached in ("queues", "default_queue", "router"):
        celery_app.amqp.__dict__.pop(cached, None)


def broker_reset() -> None:
    """Forget pooled broker connections (after the broker URL changes)."""
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


def _queue_delete(queue: str) -> None:
    with celery_app.connection_for_write() as conn:
        channel = conn.default_channel
        try:
            channel.queue_purge(queue)
            channel.queue_delete(queue)
        except Exception as exc:  # cleanup of a queue that may never have been declared
            print(f"queue {queue} not deleted: {exc}")


@pytest.fixture(scope="session")
def worker_setup(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[Worker]:
    queue = f"tidecast-test-{uuid.uuid4().hex[:10]}"
    media = tmp_path_factory.mktemp("media")
    private = tmp_path_factory.mktemp("private")
    override = override_settings(
        MEDIA_ROOT=str(media), PRIVATE_MEDIA_ROOT=private, CELERY_TASK_DEFAULT_QUEUE=queue
    )
    override.enable()
    _use_queue(queue)
    with django_db_blocker.unblock():
        database_url = worker_database_url()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "api.settings.test",
        "DATABASE_URL": database_url,
        "DATABASE_CONN_MAX_AGE": "0",
        "MEDIA_ROOT": str(media),
        "PRIVATE_MEDIA_ROOT": str(private),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "PYTHONUNBUFFERED": "1",
    }
    worker = Worker(env, tmp_path_factory.mktemp("worker-logs"))
    try:
        yield worker
    finally:
        worker.stop()
        _queue_delete(queue)
        override.disable()


@pytest.fixture
def worker(worker_setup: Worker) -> Worker:
    """The session's worker, started if a previous test stopped or killed it."""
    if not worker_setup.running:
        worker_setup.start()
    return worker_setup


@pytest.fixture
def media_root(worker_setup: Worker) -> Path:
    return Path(settings.MEDIA_ROOT)
