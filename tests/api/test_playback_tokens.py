"""POST /api/videos/<url>/playback-token, the owner's private detail, and the private marker."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from rest_framework.test import APIClient

from api.videos.models import VideoStatus, VideoVisibility
from tests.factories import ChannelFactory, UserFactory, VideoFactory
from tidecast_common.playback_tokens import PRIVATE_MARKER, Verdict, split_token_path, verify

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _files_in_tmp(settings, tmp_path):
    settings.HLS_ROOT = tmp_path / "hls"
    settings.PUBLIC_HLS_URL = "http://hls.test/hls-live/"


@pytest.fixture
def channel(user):
    return ChannelFactory(owner=user, name="tide-pool", title="Tide Pool")


def token_url(url: str) -> str:
    return f"/api/videos/{url}/playback-token"


def check(playback_url: str, settings, *, now: float) -> Verdict:
    parts = split_token_path(playback_url.removeprefix("http://hls.test"))
    assert parts is not None
    return verify(
        key=settings.PLAYBACK_TOKEN_KEY.encode(),
        token=parts.token,
        video_url=parts.video_url,
        now=now,
        segment=False,
    )


@pytest.mark.parametrize("visibility", [VideoVisibility.PUBLIC, VideoVisibility.UNLISTED])
def test_anyone_gets_a_token_for_a_public_or_unlisted_video(channel, settings, visibility):
    video = VideoFactory(channel=channel, status=VideoStatus.ENDED, visibility=visibility)
    response = APIClient().post(token_url(video.url))
    assert response.status_code == 200
    body = response.json()
    assert body["playback_url"].startswith("http://hls.test/hls-live/t/")
    assert body["playback_url"].endswith(f"/{video.url}.m3u8")
    expires = datetime.fromisoformat(body["expires_at"]).timestamp()
    assert abs(expires - (time.time() + settings.PLAYBACK_TOKEN_SECONDS)) < 5
    assert check(body["playback_url"], settings, now=time.time()) is Verdict.VALID
    assert check(body["playback_url"], settings, now=expires) is Verdict.EXPIRED
    assert response["Cache-Control"] == "no-store"


def test_only_the_owner_gets_a_token_for_a_private_video(auth_client, channel):
    video = VideoFactory(channel=channel, status=VideoStatus.LIVE, visibility=VideoVisibility.PRIVATE)
    assert auth_client.post(token_url(video.url)).status_code == 200
    assert APIClient().post(token_url(video.url)).status_code == 404
    stranger = APIClient()
    stranger.force_authenticate(UserFactory())
    assert stranger.post(token_url(video.url)).status_code == 404


def test_no_token_for_a_scheduled_or_unknown_video(auth_client, channel):
    video = VideoFactory(channel=channel, status=VideoStatus.SCHEDULED)
    assert auth_client.post(token_url(video.url)).status_code == 404
    assert APIClient().post(token_url("a" * 16)).status_code == 404
    assert APIClient().post(token_url("not-a-url")).status_code == 404


def test_short_token_lifetime_is_the_setting(channel, settings):
    settings.PLAYBACK_TOKEN_SECONDS = 2
    video = VideoFactory(channel=channel, status=VideoStatus.ENDED)
    body = APIClient().post(token_url(video.url)).json()
    assert check(body["playback_url"], settings, now=time.time()) is Verdict.VALID
    assert check(body["playback_url"], settings, now=time.time() + 3) is Verdict.EXPIRED


def test_a_recording_s_segments_outlast_the_token_by_its_duration(channel, settings):
    settings.PLAYBACK_TOKEN_SEGMENT_GRACE_SECONDS = 100
    video = VideoFactory(channel=channel, status=VideoStatus.ENDED, duration_seconds=600.2)
    body = APIClient().post(token_url(video.url)).json()
    parts = split_token_path(body["playback_url"].removeprefix("http://hls.test"))
    assert parts is not None
    assert parts.token.split(".")[1] == "701"


def test_the_owner_reads_their_private_video_a_stale_token_stays_anonymous(auth_client, channel):
    video = VideoFactory(channel=channel, status=VideoStatus.ENDED, visibility=VideoVisibility.PRIVATE)
    assert auth_client.get(f"/api/videos/{video.url}").json()["visibility"] == "private"
    stale = APIClient()
    stale.credentials(HTTP_AUTHORIZATION="Bearer not.a.token")
    assert stale.get(f"/api/videos/{video.url}").status_code == 404
    public = VideoFactory(channel=channel, status=VideoStatus.ENDED)
    assert stale.get(f"/api/videos/{public.url}").status_code == 200
    assert stale.post(token_url(public.url)).status_code == 200


def test_visibility_changes_write_and_remove_the_private_marker(
    auth_client, channel, settings, django_capture_on_commit_callbacks
):
    video = VideoFactory(channel=channel, status=VideoStatus.SCHEDULED)
    marker = settings.HLS_ROOT / video.url / PRIVATE_MARKER
    detail = f"/api/user/channel/videos/{video.url}"
    assert auth_client.patch(detail, {"visibility": "private"}, format="json").status_code == 200
    assert marker.is_file()
    with django_capture_on_commit_callbacks(execute=True):
        assert auth_client.patch(detail, {"visibility": "unlisted"}, format="json").status_code == 200
    assert not marker.exists()
    assert auth_client.patch(detail, {"title": "x"}, format="json").status_code == 200
    assert not marker.exists()


def test_markers_are_reconciled_with_the_database(channel, settings):
    from api.videos.playback import private_marker_path, video_private_markers_reconcile

    private = VideoFactory(channel=channel, status=VideoStatus.ENDED, visibility=VideoVisibility.PRIVATE)
    public = VideoFactory(channel=channel, status=VideoStatus.ENDED)
    stray = private_marker_path(public.url)
    stray.parent.mkdir(parents=True)
    stray.touch()
    assert video_private_markers_reconcile() == (1, 1)
    assert private_marker_path(private.url).is_file()
    assert not stray.exists()
    assert video_private_markers_reconcile() == (0, 0)
