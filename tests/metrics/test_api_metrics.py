"""The API's /metrics over real HTTP (pytest-django's live server): figures from the database."""

from __future__ import annotations

import urllib.error

import pytest
from django.test import Client
from pytest_django.fixtures import Settings as DjangoSettings

from api.videos.models import VideoStatus
from tests.factories import VideoFactory
from tests.metrics.scrape import scrape, value

pytestmark = pytest.mark.django_db(transaction=True)


def test_live_videos_viewers_and_heartbeat_figures(live_server: object) -> None:
    live = VideoFactory(
        status=VideoStatus.LIVE,
        viewer_count=7,
        live_stats={"bitrate_kbps": 2450.5, "fps": 29.97, "transcoder_speed": 1.02, "note": "x"},
    )
    quiet = VideoFactory(status=VideoStatus.LIVE, viewer_count=0, live_stats={})
    ended = VideoFactory(status=VideoStatus.ENDED, viewer_count=3, live_stats={"fps": 30})

    samples = scrape(f"{live_server.url}/metrics")  # type: ignore[attr-defined]

    assert value(samples, "tidecast_live_streams") == 2
    assert value(samples, "tidecast_viewers", video=live.url) == 7
    assert value(samples, "tidecast_viewers", video=quiet.url) == 0
    assert value(samples, "tidecast_stream_ingest_bitrate_kbps", video=live.url) == 2450.5
    assert value(samples, "tidecast_stream_ingest_fps", video=live.url) == 29.97
    assert value(samples, "tidecast_stream_transcoder_speed", video=live.url) == 1.02
    assert value(samples, "tidecast_stream_ingest_fps", video=quiet.url) is None
    assert all(dict(labels).get("video") != ended.url for _, labels in samples)


def test_a_token_is_required_once_configured(live_server: object, settings: DjangoSettings) -> None:
    settings.METRICS_TOKEN = "scrape-secret"
    url = f"{live_server.url}/metrics"  # type: ignore[attr-defined]
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic scrape-secret"}):
        with pytest.raises(urllib.error.HTTPError) as refused:
            scrape(url, headers=headers)
        assert refused.value.code == 403
    assert value(scrape(url, headers={"Authorization": "Bearer scrape-secret"}), "tidecast_live_streams") == 0


def test_public_peers_are_refused_without_a_token() -> None:
    # REMOTE_ADDR is the socket's peer; a forwarded header cannot make a public client local.
    public = Client(REMOTE_ADDR="203.0.113.9")
    response = public.get("/metrics", HTTP_X_FORWARDED_FOR="127.0.0.1")
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="127.0.0.1").post("/metrics").status_code == 405
