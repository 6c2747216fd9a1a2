"""The owner's read, edit and delete of one video, and visibility in every public read."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from api.videos.models import Video, VideoStatus, VideoVisibility
from api.videos.services import video_files_remove, video_publish_heartbeat
from tests.factories import ChannelFactory, UserFactory, VideoFactory
from tidecast_common.layout import HlsLayout

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _files_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.HLS_ROOT = tmp_path / "hls"


@pytest.fixture
def channel(user):
    return ChannelFactory(owner=user, name="tide-pool", title="Tide Pool")


def detail(url: str) -> str:
    return f"/api/user/channel/videos/{url}"


def test_owner_reads_a_private_video_others_get_404(auth_client, channel):
    video = VideoFactory(channel=channel, status=VideoStatus.ENDED, visibility=VideoVisibility.PRIVATE)
    body = auth_client.get(detail(video.url)).json()
    assert body["visibility"] == "private"
    assert body["source"] == "live"
    assert body["error"] == ""

    stranger = APIClient()
    stranger.force_authenticate(UserFactory())
    assert stranger.get(detail(video.url)).status_code == 404
    assert APIClient().get(f"/api/videos/{video.url}").status_code == 404


def test_patch_edits_title_description_visibility_and_comments(auth_client, channel):
    video = VideoFactory(channel=channel, status=VideoStatus.ENDED)
    changes = {
        "title": "  Reef  ",
        "description": "Low tide.",
        "visibility": "unlisted",
        "comments_enabled": False,
    }
    body = auth_client.patch(detail(video.url), changes, format="json").json()
    assert (body["title"], body["description"], body["visibility"], body["comments_enabled"]) == (
        "Reef",
        "Low tide.",
        "unlisted",
        False,
    )
    refused = auth_client.patch(detail(video.url), {"visibility": "secret"}, format="json")
    assert refused.status_code == 400
    assert Video.objects.get(pk=video.pk).visibility == "unlisted"


def test_unlisted_plays_by_url_but_is_never_listed(auth_client, channel):
    listed = VideoFactory(channel=channel, status=VideoStatus.ENDED)
    unlisted = VideoFactory(channel=channel, status=VideoStatus.ENDED, visibility=VideoVisibility.UNLISTED)
    private = VideoFactory(channel=channel, status=VideoStatus.ENDED, visibility=VideoVisibility.PRIVATE)
    public = APIClient()
    urls = {v["url"] for v in public.get("/api/videos/").json()["results"]}
    assert urls == {listed.url}
    assert public.get(f"/api/videos/{unlisted.url}").status_code == 200
    assert public.get(f"/api/videos/{private.url}").status_code == 404


def test_delete_removes_the_video_and_its_files(auth_client, channel, settings, tmp_path):
    video = VideoFactory(channel=channel, status=VideoStatus.ENDED)
    layout = HlsLayout(settings.HLS_ROOT)
    rendition = layout.video_dir(video.url) / "360p"
    rendition.mkdir(parents=True)
    (rendition / "index.m3u8").write_text("#EXTM3U\n")
    (rendition / "seg_00000.ts").write_bytes(b"\x47" * 188)
    layout.master(video.url).write_text("#EXTM3U\n")

    assert auth_client.delete(detail(video.url)).status_code == 204
    assert not Video.objects.filter(pk=video.pk).exists()
    # The worker's task, run here directly: everything the video owned is gone, and a rerun is harmless.
    assert video_files_remove(video_url=video.url, media_names=[]) == 3
    assert not layout.video_dir(video.url).exists()
    assert not layout.master(video.url).exists()
    assert video_files_remove(video_url=video.url, media_names=[]) == 0


def test_a_live_video_cannot_be_deleted(auth_client, channel):
    video = VideoFactory(channel=channel, status=VideoStatus.LIVE)
    response = auth_client.delete(detail(video.url))
    assert response.status_code == 409
    assert "live" in response.json()["detail"]
    assert Video.objects.filter(pk=video.pk).exists()


def test_files_of_an_existing_video_are_never_removed(channel, settings):
    video = VideoFactory(channel=channel, status=VideoStatus.ENDED)
    folder = HlsLayout(settings.HLS_ROOT).video_dir(video.url)
    folder.mkdir(parents=True)
    (folder / "keep.ts").write_bytes(b"x")
    assert video_files_remove(video_url=video.url, media_names=[]) == 0
    assert video_files_remove(video_url="../etc", media_names=[]) == 0
    assert (folder / "keep.ts").exists()


def test_a_live_video_becomes_playable_when_the_ingest_reports_it(channel):
    publish_id = uuid.uuid4()
    video = VideoFactory(channel=channel, status=VideoStatus.LIVE, publish_id=publish_id)
    video_publish_heartbeat(publish_id=publish_id, stats={"playable": 0.0})
    assert Video.objects.get(pk=video.pk).playable is False
    video_publish_heartbeat(publish_id=publish_id, stats={"playable": 1.0})
    assert Video.objects.get(pk=video.pk).playable is True
