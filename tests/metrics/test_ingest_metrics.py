"""The ingest's /metrics during a real publish: the real ingest process, real ffmpeg, the live API."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from api.videos.models import Video
from tests.integration.conftest import Publisher, Streamer, ffmpeg_publish
from tests.integration.stack import Service, ingest_environment
from tests.metrics.scrape import Samples, free_port, scrape, value, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def ingest_process(api_base_url: str, tmp_path: Path) -> Iterator[tuple[Service, str]]:
    rtmp_port, metrics_port = free_port(), free_port()
    env = ingest_environment(
        port=rtmp_port,
        api_base_url=api_base_url,
        secret=django_settings.INGEST_SHARED_SECRET,
        data_dir=tmp_path,
        hls_root=tmp_path / "hls",
    )
    env |= {"INGEST_METRICS_PORT": str(metrics_port), "LOG_FORMAT": "json", "LOG_LEVEL": "INFO"}
    service = Service.start(module="rtmp_ingest", port=rtmp_port, env=env, log=tmp_path / "ingest.log")
    yield service, f"http://127.0.0.1:{metrics_port}/metrics"
    service.stop()


def test_stream_series_during_a_publish_and_refusals_by_reason(
    ingest_process: tuple[Service, str],
    make_streamer: Callable[[str], Streamer],
    publishers: list[Publisher],
) -> None:
    service, metrics_url = ingest_process
    rtmp = f"rtmp://127.0.0.1:{service.port}/streaming"
    streamer = make_streamer("metered")
    publishers.append(publisher := ffmpeg_publish(f"{rtmp}/{streamer.key}", seconds=9))
    assert wait_for(lambda: Video.objects.filter(status="live").exists(), timeout=15), service.log_tail()
    url = Video.objects.get(status="live").url
    seen: list[Samples] = []

    def stream_measured() -> bool:
        samples = scrape(metrics_url)
        seen.append(samples)
        speed = value(samples, "tidecast_transcoder_speed", video=url)
        return (value(samples, "tidecast_ingest_fps", video=url) or 0) > 20 and speed is not None

    assert wait_for(stream_measured, timeout=15, interval=0.5), (seen[-1:], service.log_tail())
    samples = seen[-1]
    assert value(samples, "tidecast_ingest_live_streams") == 1
    assert value(samples, "tidecast_ingest_publishes_total", result="accepted", reason="") == 1
    # testsrc2 at 30 fps, x264 ultrafast with a 96k AAC track: hundreds of kbit/s.
    assert 50 < (value(samples, "tidecast_ingest_bitrate_kbps", video=url) or 0) < 20_000
    assert 20 < (value(samples, "tidecast_ingest_fps", video=url) or 0) < 40
    assert (value(samples, "tidecast_transcoder_speed", video=url) or 0) > 0.3
    assert value(samples, "tidecast_transcoder_restarts_total", video=url) == 0
    assert streamer.key not in repr(samples)

    refused = ffmpeg_publish(f"{rtmp}/not-a-key-{streamer.key[:4]}", seconds=2)
    publishers.append(refused)
    assert refused.wait(10)[0] != 0
    samples = scrape(metrics_url)
    assert value(samples, "tidecast_ingest_publishes_total", result="refused", reason="unknown_key") == 1
    assert value(samples, "tidecast_ingest_publishes_total", result="accepted", reason="") == 1

    assert publisher.wait(30)[0] == 0
    assert wait_for(lambda: value(scrape(metrics_url), "tidecast_ingest_live_streams") == 0, timeout=20)
    after = scrape(metrics_url)
    assert value(after, "tidecast_ingest_bitrate_kbps", video=url) is None
    assert value(after, "tidecast_transcoder_speed", video=url) is None

    lines = [line for line in service.log.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert {"asctime", "level", "name", "message", "video"} <= set(records[0])
    pipeline = [record for record in records if record["video"] == url]
    assert any("started" in record["message"] for record in pipeline)
    assert any(record["name"].startswith("transcoder") for record in pipeline), lines
    assert streamer.key not in service.log.read_text()
