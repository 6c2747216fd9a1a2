"""The watch page plays a live stream in hls.js's low-latency mode, about a second behind the
publisher, in headless Chromium against the real stack and a real ffmpeg publisher.

Latency here is the publisher's clock minus the media time of the frame playing: the packager
dates media time 0 with the wall clock at which the publisher's first frame reached the ingest
(`#EXT-X-PROGRAM-DATE-TIME` of segment 0, on the same machine as the browser), and hls.js puts
a live fragmented-MP4 stream's media time on `video.currentTime`. The bound is loose (3 s) so a
loaded CI machine does not flake; `bench/bench_latency.py` holds the real target.
"""

from __future__ import annotations

import statistics
import time
import urllib.request

import pytest

from tidecast_common.llhls import parse_date_time

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

VIDEO = "document.getElementById('video')"
LATENCY_BOUND_SECONDS = 3.0


def first_program_date(hls_url: str, video_url: str, rendition: str) -> float:
    with urllib.request.urlopen(f"{hls_url}{video_url}/{rendition}/index.m3u8", timeout=5) as response:  # noqa: S310
        text = response.read().decode()
    line = next(line for line in text.splitlines() if line.startswith("#EXT-X-PROGRAM-DATE-TIME:"))
    return parse_date_time(line.partition(":")[2])


def test_live_video_plays_in_low_latency_mode_within_three_seconds_of_the_publisher(stack, page):
    _, key = stack.streamer("lowlatency")
    publisher = stack.publish(key, log_name="lowlatency")
    live = stack.wait_for_live_video("lowlatency")
    stack.wait_for_playlist(live["url"])
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    page.goto(f"{stack.api_url}/watch/{live['url']}")
    page.wait_for_function(f"() => {VIDEO}.currentTime > 1 && !{VIDEO}.paused", timeout=60_000)
    rendition = "source"
    origin = first_program_date(stack.hls_url, live["url"], rendition)
    samples = []
    for _ in range(20):
        time.sleep(0.25)
        samples.append(page.evaluate(f"() => Date.now() / 1000 - {origin} - {VIDEO}.currentTime"))
    latency = statistics.median(samples)
    assert 0 < latency <= LATENCY_BOUND_SECONDS, samples

    # Low-latency mode really was in use: blocking reloads and parts.
    assert any("_HLS_msn=" in url for url in requested), requested[:20]
    assert any("/part_" in url for url in requested), requested[:20]
    assert page.is_visible("#live-badge")
    assert page.is_hidden("#go-live")  # at the live edge: nothing to catch up
    stack.stop_publisher(publisher)
