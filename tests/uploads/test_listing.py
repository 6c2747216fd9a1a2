"""Ready uploads are listed beside recordings (catalogue, search, channel page) and play on the
watch page with the same player; uploads still uploading, processing or failed are not listed."""

from __future__ import annotations

import pytest
from django.test import Client

from api.videos.models import VideoSource, VideoStatus
from tests.factories import ChannelFactory, VideoFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def channel():
    return ChannelFactory(name="reef", title="Reef")


def uploaded(channel, status: str, title: str):
    return VideoFactory(
        channel=channel, source=VideoSource.UPLOAD, status=status, title=title, playable=status == "ready"
    )


def test_ready_uploads_are_listed_with_recordings_and_others_are_not(api_client, channel):
    ready = uploaded(channel, VideoStatus.READY, "Coral timelapse")
    recording = VideoFactory(channel=channel, status=VideoStatus.ENDED, title="Coral live")
    hidden = [
        uploaded(channel, status, f"Coral {status}") for status in ("uploading", "processing", "failed")
    ]
    listed = {video["url"]: video for video in api_client.get("/api/videos/").json()["results"]}
    assert ready.url in listed
    assert recording.url in listed
    assert listed[ready.url]["source"] == "upload"
    assert not {video.url for video in hidden} & set(listed)
    found = [
        video["url"] for video in api_client.get("/api/videos/", {"search": "timelapse"}).json()["results"]
    ]
    assert found == [ready.url]

    home = Client().get("/").content.decode()
    assert ready.url in home
    page = Client().get("/c/reef").content.decode()
    assert ready.url in page
    for video in hidden:
        assert video.url not in home
        assert video.url not in page


def test_the_watch_page_plays_a_ready_upload_with_the_same_player(channel):
    ready = uploaded(channel, VideoStatus.READY, "Coral timelapse")
    page = Client().get(f"/watch/{ready.url}")
    assert page.status_code == 200
    html = page.content.decode()
    assert "/static/vendor/hls/" in html
    assert f"{ready.url}.m3u8" in html
