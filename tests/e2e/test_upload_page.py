"""The upload page in headless Chromium: tus-js-client sends a real video, one PATCH is cut (a
network drop) and the page is reloaded mid-upload; the upload resumes, and a real upload worker
processes the video until the page says it plays."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import PASSWORD, ROOT, _stop
from tests.uploads import media

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture
def upload_worker(stack):
    log = (stack.log_dir / "uploads-worker.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", "uploads", "--concurrency=1",
         "-n", "e2e-uploads@%h", "--loglevel=INFO", "--without-mingle", "--without-gossip"],
        cwd=ROOT, env={**stack.env, "UPLOAD_X264_PRESET": "ultrafast"}, stdout=log, stderr=log,
    )  # fmt: skip
    yield process
    _stop(process)


def test_upload_resumes_after_a_drop_and_a_reload_then_plays(stack, page, upload_worker, tmp_path):
    token, _ = stack.streamer("uploader")
    source = media.make(tmp_path / "trip.mp4", seconds=12, size="640x360",
                        video=["-c:v", "libx264", "-preset", "ultrafast", "-b:v", "1500k", "-g", "50"])  # fmt: skip
    page.goto(f"{stack.api_url}/login/?next=/dashboard/")
    page.fill("#login-form [name=username]", "uploader")
    page.fill("#login-form [name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#upload-panel")

    patches = {"count": 0}

    def cut_the_third_patch(route):
        if route.request.method == "PATCH":
            patches["count"] += 1
            if patches["count"] == 3:
                route.abort("connectionreset")
                return
        route.continue_()

    page.route("**/api/uploads/**", cut_the_third_patch)
    page.set_input_files("#upload-file", str(source))
    page.fill("#upload-form [name=title]", "Road trip")
    page.click("#upload-start")
    page.wait_for_function("() => document.getElementById('upload-bar').value > 40", timeout=60_000)
    assert patches["count"] > 3  # the cut PATCH was sent again
    assert "MB/s" in page.text_content("#upload-stats")
    assert "left" in page.text_content("#upload-stats")

    page.reload()  # the rest is sent after the reload, from where the server's bytes end
    page.wait_for_selector("#upload-panel")
    page.set_input_files("#upload-file", str(source))
    page.fill("#upload-form [name=title]", "Road trip")
    page.click("#upload-start")
    page.wait_for_function("() => /Resuming/.test(document.getElementById('upload-state').textContent)")
    page.wait_for_function(
        "() => document.getElementById('upload-stats').textContent === 'Uploaded.'", timeout=60_000
    )

    videos = stack.call("GET", "/api/user/channel/videos", token=token)["results"]
    assert [video["title"] for video in videos] == ["Road trip"]  # one upload, resumed, not restarted
    page.wait_for_function(
        "() => ['playable', 'ready'].includes(document.getElementById('upload-state').dataset.status)",
        timeout=60_000,
    )
    page.wait_for_function(
        "() => document.getElementById('upload-state').dataset.status === 'ready'", timeout=180_000
    )
    page.click("#upload-state a")
    page.wait_for_url("**/watch/**")
    page.wait_for_function("() => { const v = document.querySelector('video'); return v && v.currentTime > 0.5; }",
                           timeout=60_000)  # fmt: skip
    assert Path(source).stat().st_size > 0
