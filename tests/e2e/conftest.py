"""The whole stack as real processes (API under gunicorn, RTMP ingest with the transcoder, HLS server),
a real ffmpeg publisher and headless Debian Chromium driven by Playwright. Nothing is downloaded."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.netutil import free_port, wait_listening
from tests.scratch_database import scratch_database

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")

ROOT = Path(__file__).resolve().parents[2]
OUTPUT_DIR = ROOT / "test-output" / "e2e"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Two renditions keep two shared CPU cores ahead of real time: "source" (480p) and 360p.
E2E_LADDER = [{"name": "360p", "height": 360, "video_kbps": 600, "audio_kbps": 64, "profile": "baseline"}]
PUBLISH_SIZE = "854x480"
PASSWORD = "e2e-correct-horse-battery-staple"


def _stop(process: subprocess.Popen[bytes], grace: float = 10) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class Stack:
    api_url: str
    rtmp_url: str
    hls_url: str
    env: dict[str, str]
    log_dir: Path
    publishers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, token: str = "") -> Any:
        request = urllib.request.Request(  # noqa: S310 - our own http URL
            self.api_url + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={
                "Content-Type": "application/json",
                **({"Authorization": f"Bearer {token}"} if token else {}),
            },
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our own http URL
            raw = response.read()
        return json.loads(raw) if raw else None

    def streamer(self, name: str) -> tuple[str, str]:
        """Signs up a streamer with a channel; returns (access token, stream key)."""
        self.call(
            "POST",
            "/api/auth/signup",
            {"username": name, "email": f"{name}@example.com", "password": PASSWORD},
        )
        token = self.call("POST", "/api/auth/login", {"username": name, "password": PASSWORD})["access"]
        channel = self.call("POST", "/api/user/channel", {"name": name, "title": f"{name} live"}, token=token)
        return token, channel["stream_key"]

    def publish(
        self, stream_key: str, *, seconds: float | None = None, log_name: str = "ffmpeg"
    ) -> subprocess.Popen[bytes]:
        """A real ffmpeg publisher: H.264 + AAC over RTMP with a 2 s keyframe interval and CBR."""
        argv = ["ffmpeg", "-hide_banner", "-loglevel", "warning", "-nostdin", "-re",
                "-f", "lavfi", "-i", f"testsrc2=size={PUBLISH_SIZE}:rate=24",
                "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"]  # fmt: skip
        if seconds is not None:
            argv += ["-t", str(seconds)]
        argv += ["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
                 "-g", "48", "-keyint_min", "48", "-sc_threshold", "0",
                 "-b:v", "1200k", "-minrate", "1200k", "-maxrate", "1200k", "-bufsize", "1200k",
                 "-c:a", "aac", "-b:a", "96k", "-f", "flv", f"{self.rtmp_url}/{stream_key}"]  # fmt: skip
        log = (self.log_dir / f"{log_name}.log").open("ab")
        process = subprocess.Popen(argv, stdout=log, stderr=log)
        self.publishers.append(process)
        return process

    def stop_publisher(self, process: subprocess.Popen[bytes]) -> None:
        """Ends the publish as OBS does: the RTMP connection closes cleanly."""
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def wait_for_status(self, video_url: str, status: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        video: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                video = self.call("GET", f"/api/videos/{video_url}")
                if video["status"] == status:
                    return video
            except urllib.error.HTTPError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"video {video_url} did not become {status}: {video}")

    def wait_for_live_video(
        self, channel: str, *, other_than: str = "", timeout: float = 30
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            live = self.call("GET", f"/api/channels/{channel}").get("live_video")
            if live and live["url"] != other_than:
                return live
            time.sleep(0.5)
        raise AssertionError(f"channel {channel} did not go live")

    def wait_for_playlist(self, video_url: str, timeout: float = 40) -> None:
        """The transcoder has written the master playlist and the first segments."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.hls_url}{video_url}.m3u8", timeout=5) as response:  # noqa: S310
                    if b"#EXT-X-STREAM-INF" in response.read():
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        raise AssertionError(f"no master playlist for {video_url}")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    run_id = secrets.token_hex(4)
    data_dir = tmp_path_factory.mktemp("stack")
    log_dir = OUTPUT_DIR / "logs"
    shutil.rmtree(log_dir, ignore_errors=True)
    log_dir.mkdir(parents=True)
    api_port, rtmp_port, hls_port = free_port(), free_port(), free_port()
    database_url, drop_database = scratch_database(f"e2e_{run_id}", data_dir / "e2e.sqlite3")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "api.settings.local",
        "DJANGO_DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "INGEST_SHARED_SECRET": secrets.token_urlsafe(32),
        "HLS_REPORT_SECRET": secrets.token_urlsafe(32),
        "PLAYBACK_TOKEN_KEY": secrets.token_urlsafe(32),
        # Short, so a private video's page shows it renews its token while playing.
        "PLAYBACK_TOKEN_SECONDS": "10",
        "DATABASE_URL": database_url,
        "TIDECAST_DATA_DIR": str(data_dir),
        "HLS_ROOT": str(data_dir / "hls"),
        "API_BASE_URL": f"http://127.0.0.1:{api_port}",
        "PUBLIC_RTMP_URL": f"rtmp://127.0.0.1:{rtmp_port}/streaming",
        "PUBLIC_HLS_URL": f"http://127.0.0.1:{hls_port}/hls-live/",
        "RTMP_PORT": str(rtmp_port),
        "INGEST_MAX_STREAMS": "8",  # small test sources, several at a time
        "HLS_PORT": str(hls_port),
        "TRANSCODE_LADDER": json.dumps(E2E_LADDER),
        "THROTTLE_SIGNUP": "1000/hour",
        "UPLOAD_BROWSER_CHUNK_BYTES": str(256 * 1024),  # many PATCHes: one can be cut, a reload resumes
        "PYTHONUNBUFFERED": "1",
    }
    python = sys.executable
    for command in (["migrate", "--noinput", "-v0"], ["collectstatic", "--noinput", "-v0"]):
        subprocess.run([python, "manage.py", *command], cwd=ROOT, env=env, check=True, timeout=300)

    components = {
        "api": ([python, "-m", "gunicorn", "api.wsgi:application", "--bind", f"127.0.0.1:{api_port}",
                 "--workers", "2", "--threads", "4", "--access-logfile", "-"], api_port),
        "hls": ([python, "-m", "hls_out"], hls_port),
        "ingest": ([python, "-m", "rtmp_ingest"], rtmp_port),
    }  # fmt: skip
    processes: list[subprocess.Popen[bytes]] = []
    the_stack = Stack(
        api_url=f"http://127.0.0.1:{api_port}",
        rtmp_url=f"rtmp://127.0.0.1:{rtmp_port}/streaming",
        hls_url=f"http://127.0.0.1:{hls_port}/hls-live/",
        env=env,
        log_dir=log_dir,
    )
    try:
        for name, (argv, port) in components.items():
            log_path = log_dir / f"{name}.log"
            with log_path.open("ab") as log:
                process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=log)
            processes.append(process)
            wait_listening(port, process, log_path)
        yield the_stack
    finally:
        for publisher in the_stack.publishers:
            _stop(publisher, grace=5)
        for process in reversed(processes):
            _stop(process)
        if drop_database is not None:
            drop_database()


# Module scope: Playwright's sync API keeps an event loop running in this thread while it is open,
# which would break the asyncio tests collected after the browser tests.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--autoplay-policy=no-user-gesture-required", "--disable-gpu"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context per test; a screenshot of the last state lands in test-output/e2e/."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    messages: list[str] = []
    page.on("console", lambda message: messages.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: messages.append(f"pageerror: {error}"))
    yield page
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT_DIR / f"{request.node.name}.png"), full_page=True)
    (OUTPUT_DIR / f"{request.node.name}.console.log").write_text("\n".join(messages))
    context.close()
    # The pages run under a strict Content-Security-Policy: nothing they need may be refused. (So
    # wait_for_function gets functions, "() => ...": an expression string is eval'd in the page.)
    refused = [message for message in messages if "Content Security Policy" in message]
    assert refused == [], refused
