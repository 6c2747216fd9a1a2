"""Live streams into a real S3-compatible store (SeaweedFS): real ffmpeg publishing over RTMP to
`python -m rtmp_ingest`, which copies every closed segment and playlist to the bucket while the
stream is live; `python -m hls_out` serving the recording from the bucket once the local copy is
gone; the API's usage figures and deletes checked against the bucket's own listing."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from pytest_django.fixtures import Settings as DjangoSettings
from rest_framework.test import APIClient

from tests.integration.conftest import Publisher, Streamer
from tests.integration.stack import (
    Service,
    hls_environment,
    http_get,
    ingest_environment,
    probe_duration,
    processes_mentioning,
    segment_uris,
)
from tests.integration.test_pipeline import SMALL_RUNG, Pipeline
from tests.netutil import free_port, wait_until
from tests.seaweed import SeaweedServer, seaweed, seaweed_server
from tidecast_common.layout import MEDIA_SEGMENT_SUFFIXES
from tidecast_common.object_store import master_key, video_prefix

__all__ = ["seaweed", "seaweed_server"]

ENDLIST = "#EXT-X-ENDLIST"


@pytest.fixture
def store_settings(settings: DjangoSettings, seaweed: SeaweedServer) -> Iterator[SeaweedServer]:
    """The API (pytest-django's live server) on the same bucket as the ingest and HLS server."""
    from api.usage.objects import object_store

    for name, value in seaweed.environment().items():
        setattr(settings, name, value)
    settings.TRANSCODE_LADDER = [*django_settings.TRANSCODE_LADDER, SMALL_RUNG]
    object_store.cache_clear()
    yield seaweed
    object_store.cache_clear()


@pytest.fixture
def stored_pipeline(api_base_url: str, store_settings: SeaweedServer, tmp_path: Path) -> Iterator[Pipeline]:
    hls_root = tmp_path / "hls"
    hls_root.mkdir()
    hls_port, rtmp_port = free_port(), free_port()
    store_env = store_settings.environment()
    hls = Service.start(
        module="hls_out",
        port=hls_port,
        env={**hls_environment(port=hls_port, api_base_url=api_base_url,
                               secret=django_settings.HLS_REPORT_SECRET, hls_root=hls_root),
             **store_env, "HLS_VIEWER_REPORT_SECONDS": "0.5"},
        log=tmp_path / "hls_out.log",
    )  # fmt: skip
    ingest = Service.start(
        module="rtmp_ingest",
        port=rtmp_port,
        env={**ingest_environment(port=rtmp_port, api_base_url=api_base_url,
                                  secret=django_settings.INGEST_SHARED_SECRET, data_dir=tmp_path, hls_root=hls_root),
             **store_env, "STORAGE_LOCAL_GRACE_SECONDS": "2", "STORAGE_RETRY_MAX_SECONDS": "2"},
        log=tmp_path / "rtmp_ingest.log",
    )  # fmt: skip
    pipeline = Pipeline(
        api_base_url=api_base_url, ingest=ingest, hls=hls, hls_root=hls_root, services=[hls, ingest]
    )
    yield pipeline
    for service in (ingest, hls):
        service.stop()
    for leftover in processes_mentioning(str(hls_root)):
        os.kill(leftover.pid, signal.SIGKILL)


def stored_playlist(seaweed: SeaweedServer, key: str) -> str:
    return (seaweed.store().get_bytes(key, max_bytes=1 << 24) or b"").decode()


def recording_complete(seaweed: SeaweedServer, video_url: str, renditions: list[str]) -> bool:
    """Every rendition's playlist in the bucket is closed and every segment it lists is there."""
    keys = {item.key for item in seaweed.store().list_prefix(video_prefix(video_url))}
    if master_key(video_url) not in {item.key for item in seaweed.store().list_prefix(master_key(video_url))}:
        return False
    for rendition in renditions:
        text = stored_playlist(seaweed, f"{video_prefix(video_url)}{rendition}/index.m3u8")
        if ENDLIST not in text:
            return False
        if any(f"{video_prefix(video_url)}{rendition}/{name}" not in keys for name in segment_uris(text)):
            return False
    return True


def test_a_recording_ends_complete_in_the_bucket_plays_from_there_counts_exactly_and_is_deleted_whole(
    stored_pipeline: Pipeline,
    store_settings: SeaweedServer,
    make_streamer: Callable[[str], Streamer],
    publishers: list[Publisher],
) -> None:
    from api.usage.models import VideoStorage
    from api.usage.services import video_storage_measure
    from api.videos.models import Video
    from api.videos.services import video_files_remove

    seaweed = store_settings
    pipeline = stored_pipeline
    streamer = make_streamer("stored")
    publisher = pipeline.publish(streamer, seconds=8, size="640x360")
    publishers.append(publisher)
    video_url = pipeline.wait_live_video("stored")
    variants = pipeline.wait_master(video_url)
    renditions = [entry.name for entry in variants]
    assert len(renditions) >= 2
    # segments reach the bucket while the stream is live
    assert wait_until(lambda: any(k.key.endswith(MEDIA_SEGMENT_SUFFIXES) for k in seaweed.store().list_prefix(video_prefix(video_url))),
                      timeout=10), pipeline.logs()  # fmt: skip
    assert pipeline.video_status(video_url) == "live"
    assert publisher.wait(30)[0] == 0
    pipeline.wait_status(video_url, "ended", timeout=20)
    assert wait_until(lambda: recording_complete(seaweed, video_url, renditions), timeout=30), pipeline.logs()
    # the ingest told the API; the local copy goes after the grace period; it plays from the bucket
    assert wait_until(
        lambda: VideoStorage.objects.filter(video__url=video_url, in_store=True).exists(), timeout=15
    )
    assert wait_until(lambda: not (pipeline.hls_root / video_url).exists(), timeout=15), pipeline.logs()
    assert not (pipeline.hls_root / f"{video_url}.m3u8").exists()
    master = http_get(pipeline.master_url(video_url))
    assert master.status == 200
    assert master.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert probe_duration(pipeline.master_url(video_url)) == pytest.approx(8, abs=2.5)
    for entry in variants:
        text = pipeline.playlist(entry)
        assert text.rstrip().endswith(ENDLIST)
        segment = http_get(pipeline.hls_url + entry.uri.rsplit("/", 1)[0] + "/" + segment_uris(text)[0])
        assert segment.status == 200
        assert segment.headers["content-type"] == "video/mp4"  # fragmented MP4 (low-latency HLS)

    # usage: exactly the bytes in the bucket
    video = Video.objects.get(url=video_url)
    video_storage_measure(video=video)
    in_bucket = sum(item.size for item in seaweed.store().video_objects(video_url))
    assert in_bucket > 0
    client = APIClient()
    client.force_authenticate(streamer.user)  # type: ignore[arg-type]
    usage = client.get("/api/user/usage").json()
    assert usage["storage_bytes"] == in_bucket
    assert usage["videos"] == 1
    assert usage["storage_quota_bytes"] == django_settings.STORAGE_QUOTA_BYTES
    assert usage["streamed_seconds_30d"] == pytest.approx(8, abs=4)
    # the HLS server reported what it sent
    assert wait_until(lambda: client.get("/api/user/usage").json()["egress_bytes_30d"] > 0, timeout=10)

    # delete: every object goes, and the storage with it
    response = client.delete(f"/api/user/channel/videos/{video_url}")
    assert response.status_code == 204
    assert client.get("/api/user/usage").json()["storage_bytes"] == 0
    video_files_remove(video_url=video_url, media_names=[])  # the worker's task
    assert seaweed.store().video_objects(video_url) == []


def test_the_store_down_for_20_seconds_leaves_the_live_stream_alone_and_is_caught_up_after(
    stored_pipeline: Pipeline,
    store_settings: SeaweedServer,
    make_streamer: Callable[[str], Streamer],
    publishers: list[Publisher],
) -> None:
    seaweed = store_settings
    pipeline = stored_pipeline
    streamer = make_streamer("outage")
    publisher = pipeline.publish(streamer, seconds=40, size="640x360")
    publishers.append(publisher)
    video_url = pipeline.wait_live_video("outage")
    variants = pipeline.wait_master(video_url)
    renditions = [entry.name for entry in variants]
    seaweed.stop(kill=True)
    down_since = time.monotonic()
    try:
        # the live edge keeps moving on the HLS server while the store is down
        counts: list[int] = []
        while time.monotonic() - down_since < 20:
            counts.append(len(segment_uris(pipeline.playlist(variants[0]))))
            assert publisher.process.poll() is None, "the publisher was dropped"
            assert pipeline.video_status(video_url) == "live"
            time.sleep(2)
        assert counts[-1] >= counts[0] + 7, counts
    finally:
        seaweed.start()
    assert publisher.wait(30)[0] == 0
    pipeline.wait_status(video_url, "ended", timeout=20)
    assert wait_until(lambda: recording_complete(seaweed, video_url, renditions), timeout=40), pipeline.logs()
    for rendition in renditions:
        local = pipeline.hls_root / video_url / rendition / "index.m3u8"
        stored = stored_playlist(seaweed, f"{video_prefix(video_url)}{rendition}/index.m3u8")
        if local.exists():
            assert stored == local.read_text()
        assert len(segment_uris(stored)) >= 15
