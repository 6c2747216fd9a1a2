"""A real prefork worker (the configured broker) in multiprocess mode: task outcomes and latency."""

from __future__ import annotations

import urllib.error
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.metrics.scrape import Samples, free_port, scrape, value, wait_for
from tests.workers.celery_worker import Worker
from workers import app as celery_app

pytestmark = pytest.mark.django_db(transaction=True)

TASK = "videos.end_stale_live"


@pytest.fixture
def metered_worker(worker_setup: Worker, tmp_path: Path) -> Iterator[tuple[Worker, str]]:
    folder = tmp_path / "prometheus"
    folder.mkdir()
    (folder / "counter_1.db").write_bytes(b"left over from an earlier run")
    port = free_port()
    worker = Worker(worker_setup.env, tmp_path)
    worker.start(PROMETHEUS_MULTIPROC_DIR=str(folder), WORKER_METRICS_PORT=str(port), CELERY_CONCURRENCY="2")
    yield worker, f"http://127.0.0.1:{port}/metrics"
    worker.stop()


def test_task_outcomes_and_latency_from_the_pool_process(metered_worker: tuple[Worker, str]) -> None:
    worker, url = metered_worker
    for _ in range(3):
        celery_app.send_task(TASK)
    celery_app.send_task(TASK, kwargs={"unexpected": 1})  # a TypeError in the task: a failure
    found: list[Samples] = []

    def counted() -> bool:
        try:
            found.append(scrape(url))
        except urllib.error.URLError:
            return False
        return value(found[-1], "tidecast_task_total", task=TASK, outcome="success") == 3 and (
            value(found[-1], "tidecast_task_total", task=TASK, outcome="failure") == 1
        )

    assert wait_for(counted, timeout=30, interval=0.3), (found[-1:], worker.log())
    samples = found[-1]
    assert value(samples, "tidecast_task_seconds_count", task=TASK) == 4
    seconds = value(samples, "tidecast_task_seconds_sum", task=TASK) or 0
    assert 0 < seconds < 30
    assert value(samples, "tidecast_task_seconds_bucket", task=TASK, le="+Inf") == 4
