"""Start the whole stack (API, RTMP ingest, HLS server, worker), supervise it, stop it on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

RESTART_PAUSE_SECONDS = 2.0
STOP_GRACE_SECONDS = 20.0


@dataclass
class Component:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0
    extra_env: dict[str, str] = field(default_factory=dict)


def stack_components(*, api_bind: str, worker_concurrency: int) -> list[Component]:
    python = sys.executable
    return [
        Component(
            "api",
            [
                python, "-m", "gunicorn", "api.wsgi:application",
                "--bind", api_bind, "--workers", "2", "--threads", "4",
                "--access-logfile", "-", "--graceful-timeout", "10",
            ],
        ),
        Component("ingest", [python, "-m", "rtmp_ingest"]),
        Component("hls", [python, "-m", "hls_out"]),
        Component(
            "worker",
            [
                python, "-m", "celery", "-A", "workers", "worker",
                "--loglevel=INFO", f"--concurrency={worker_concurrency}",
                "--beat", f"--schedule={settings.CELERY_BEAT_SCHEDULE_FILENAME}",
            ],
        ),
    ]  # fmt: skip


class Command(BaseCommand):
    help = "Run the API, the RTMP ingest, the HLS server and the Celery worker together."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--api-bind", default=os.environ.get("API_BIND", "127.0.0.1:8000"))
        parser.add_argument("--worker-concurrency", type=int, default=2)

    def handle(self, *args: Any, **options: Any) -> None:
        env = self._child_environment(api_bind=options["api_bind"])
        components = stack_components(
            api_bind=options["api_bind"], worker_concurrency=options["worker_concurrency"]
        )
        stopping = False

        def request_stop(signum: int, frame: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)

        for component in components:
            self._start(component, env)
        self.stdout.write(
            f"Tidecast is up: API http://{options['api_bind']}/  docs http://{options['api_bind']}/api/docs/  "
            f"OBS {settings.PUBLIC_RTMP_URL}  HLS {settings.PUBLIC_HLS_URL}  (Ctrl-C stops everything)"
        )
        try:
            while not stopping:
                time.sleep(0.5)
                for component in components:
                    self._supervise(component, env)
        finally:
            self._stop_all(components)

    def _child_environment(self, *, api_bind: str) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("DJANGO_SETTINGS_MODULE", "api.settings.local")
        # The development stack: debug pages and media served by the API, unless told otherwise.
        env.setdefault("DJANGO_DEBUG", "1")
        env.setdefault("TIDECAST_DATA_DIR", str(settings.DATA_DIR))
        env.setdefault("HLS_ROOT", str(settings.HLS_ROOT))
        env.setdefault("API_BASE_URL", f"http://{api_bind}")
        # The local settings generate this secret on first use; every process must share it.
        env["INGEST_SHARED_SECRET"] = settings.INGEST_SHARED_SECRET
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env

    def _start(self, component: Component, env: dict[str, str]) -> None:
        component.process = subprocess.Popen(component.argv, env=env)  # noqa: S603 - fixed argv, no shell
        self.stdout.write(f"[runstack] started {component.name} (pid {component.process.pid})")

    def _supervise(self, component: Component, env: dict[str, str]) -> None:
        process = component.process
        if process is None:
            if time.monotonic() >= component.next_start:
                self._start(component, env)
            return
        code = process.poll()
        if code is None:
            return
        component.process = None
        component.restarts += 1
        component.next_start = time.monotonic() + RESTART_PAUSE_SECONDS
        self.stderr.write(
            f"[runstack] {component.name} exited with {code}; restarting in {RESTART_PAUSE_SECONDS:.0f} s "
            f"(restart {component.restarts})"
        )

    def _stop_all(self, components: list[Component]) -> None:
        running = [c.process for c in components if c.process is not None and c.process.poll() is None]
        self.stdout.write(f"[runstack] stopping {len(running)} processes")
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.stdout.write("[runstack] stopped")
