"""Start the whole stack (API, RTMP ingest, HLS server, worker), supervise it, stop it on Ctrl-C.

Each component runs in a session of its own, so Ctrl-C in the terminal reaches this supervisor
only: it then stops restarting anything, sends every component SIGTERM once (the ingest gets
INGEST_SHUTDOWN_GRACE to finish its playlists) and, once that grace and STOP_MARGIN_SECONDS have
passed, kills whatever is left with its whole process group (ffmpeg, gunicorn and Celery workers
included). A second Ctrl-C kills at once. A component that exits while the stack is not stopping
is restarted after RESTART_PAUSE_SECONDS.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from tidecast_common.env import Env
from tidecast_common.tls import ensure_self_signed_certificate

RESTART_PAUSE_SECONDS = 2.0
POLL_SECONDS = 0.5
# Beyond the ingest's grace: time for gunicorn, Celery and the HLS server to exit on their own.
STOP_MARGIN_SECONDS = 5.0
DEFAULT_INGEST_SHUTDOWN_GRACE = 10.0


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
        # Uploads transcode on their own queue and concurrency, never in the worker above.
        Component(
            "uploads",
            [
                python, "-m", "celery", "-A", "workers", "worker", "-n", "uploads@%h",
                "--loglevel=INFO", "-Q", settings.UPLOAD_QUEUE,
                f"--concurrency={settings.UPLOAD_TRANSCODE_CONCURRENCY}",
            ],
        ),
    ]  # fmt: skip


def stop_deadline_seconds(child_env: dict[str, str]) -> float:
    """How long a stop may take: the ingest's shutdown grace (as the ingest reads it) plus a margin."""
    grace = Env(child_env).number("INGEST_SHUTDOWN_GRACE", DEFAULT_INGEST_SHUTDOWN_GRACE)
    return grace + STOP_MARGIN_SECONDS


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
        stop_requested = threading.Event()
        kill_requested = threading.Event()

        def request_stop(signum: int, frame: object) -> None:
            # The first signal asks for a stop, a second one for a kill.
            (kill_requested if stop_requested.is_set() else stop_requested).set()

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)

        for component in components:
            self._start(component, env)
        self.stdout.write(
            f"Tidecast is up: API http://{options['api_bind']}/  docs http://{options['api_bind']}/api/docs/  "
            f"OBS {settings.PUBLIC_RTMP_URL}  HLS {settings.PUBLIC_HLS_URL}  (Ctrl-C stops everything)"
        )
        try:
            while not stop_requested.wait(POLL_SECONDS):
                for component in components:
                    self._supervise(component, env)
        finally:
            self._stop_all(components, deadline=stop_deadline_seconds(env), kill_requested=kill_requested)

    def _child_environment(self, *, api_bind: str) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("DJANGO_SETTINGS_MODULE", "api.settings.local")
        # The development stack: debug pages and media served by the API, unless told otherwise.
        env.setdefault("DJANGO_DEBUG", "1")
        env.setdefault("TIDECAST_DATA_DIR", str(settings.DATA_DIR))
        env.setdefault("HLS_ROOT", str(settings.HLS_ROOT))
        env.setdefault("API_BASE_URL", f"http://{api_bind}")
        # The local settings generate these secrets on first use; every process must share them.
        env["INGEST_SHARED_SECRET"] = settings.INGEST_SHARED_SECRET
        env["HLS_REPORT_SECRET"] = settings.HLS_REPORT_SECRET
        env["PLAYBACK_TOKEN_KEY"] = settings.PLAYBACK_TOKEN_KEY
        env.setdefault("PYTHONUNBUFFERED", "1")
        self._rtmps_certificate(env)
        return env

    def _rtmps_certificate(self, env: dict[str, str]) -> None:
        """RTMPS on a fresh machine: a self-signed certificate under data/, unless one is configured."""
        if env.get("RTMPS_CERT_FILE") or env.get("RTMPS_KEY_FILE"):
            return
        directory = settings.DATA_DIR / "rtmps"
        cert, key = directory / "cert.pem", directory / "key.pem"
        if ensure_self_signed_certificate(cert, key):
            self.stdout.write(f"[runstack] made a self-signed RTMPS certificate in {directory}")
        env["RTMPS_CERT_FILE"], env["RTMPS_KEY_FILE"] = str(cert), str(key)

    def _start(self, component: Component, env: dict[str, str]) -> None:
        # A session of its own: the terminal's Ctrl-C reaches the supervisor, which stops it.
        component.process = subprocess.Popen(component.argv, env=env, start_new_session=True)  # noqa: S603 - fixed argv, no shell
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

    def _stop_all(
        self, components: Iterable[Component], *, deadline: float, kill_requested: threading.Event
    ) -> None:
        running = [c for c in components if c.process is not None and c.process.poll() is None]
        self.stdout.write(f"[runstack] stopping {len(running)} processes (at most {deadline:.0f} s)")
        for component in running:
            # The leader only: it stops its own children in order (the ingest closes ffmpeg's input).
            if component.process is not None:
                component.process.send_signal(signal.SIGTERM)
        give_up_at = time.monotonic() + deadline
        waiting = list(running)
        while waiting and time.monotonic() < give_up_at and not kill_requested.wait(0.1):
            waiting = [c for c in waiting if c.process is not None and c.process.poll() is None]
        for component in running:
            if component.process is not None and component.process.poll() is None:
                self.stderr.write(f"[runstack] {component.name} did not stop in time; killed")
            # Children the component left behind (ffmpeg, pool processes) go with its group.
            _signal_group(component, signal.SIGKILL)
            if component.process is not None:
                component.process.wait()
        self.stdout.write("[runstack] stopped")


def _signal_group(component: Component, signum: signal.Signals) -> None:
    """Signal the component's process group (its pid: each one leads a session of its own)."""
    if component.process is None:
        return
    with contextlib.suppress(ProcessLookupError):  # the whole group has exited
        os.killpg(component.process.pid, signum)
