"""Owner's videos and the public catalogue, over real HTTP with real uploads and a real DB."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from api.channels.selectors import channel_stream_key
from api.videos.models import Video, VideoStatus
from tests.factories import ChannelFactory, UserFactory, VideoFactory

pytestmark = pytest.mark.django_db

VIDEOS_URL = "/api/user/channel/videos"


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def channel(user):
    return ChannelFactory(owner=user, name="tide-pool", title="Tide Pool")


def png_upload(name: str = "cover.png", size: tuple[int, int] = (64, 36)) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


def test_create_video_without_thumbnail(auth_client, channel, settings):
    response = auth_client.post(VIDEOS_URL, {"title": "  Evening swim  "}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert re.fullmatch(r"[a-z0-9]{16}", body["url"])
    assert body["title"] == "Evening swim"
    assert body["status"] == "scheduled"
    assert body["thumbnail"] is None
    assert body["playback_url"] == f"{settings.PUBLIC_HLS_URL}{body['url']}.m3u8"
    assert body["channel"] == {"name": "tide-pool", "title": "Tide Pool"}
    assert body["started_at"] is None
    assert body["ended_at"] is None
    video = Video.objects.get(url=body["url"])
    assert body["id"] == video.id
    assert video.channel == channel
    assert channel_stream_key(channel=channel) not in response.content.decode()


def test_video_urls_are_unique_and_unpredictable(auth_client, channel):
    urls = [auth_client.post(VIDEOS_URL, {"title": f"t{i}"}, format="json").json()["url"] for i in range(20)]
    assert len(set(urls)) == 20
    assert urls != sorted(urls)  # not sequential (p of 20 random strings sorting by chance ~ 1/20!)
    key = channel_stream_key(channel=channel)
    assert all(url not in key for url in urls)


def test_create_video_with_png_thumbnail(auth_client, channel, settings):
    response = auth_client.post(
        VIDEOS_URL, {"title": "With cover", "thumbnail": png_upload("../../evil.php")}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["thumbnail"].startswith("http://testserver/media/thumbnails/")
    assert body["thumbnail"].endswith(f"{body['url']}.png")  # named by the decoded format, not the upload
    video = Video.objects.get(url=body["url"])
    stored = settings.MEDIA_ROOT / video.thumbnail.name
    with Image.open(stored) as image:
        assert image.size == (64, 36)


def test_non_image_thumbnail_is_400(auth_client, channel):
    fake = SimpleUploadedFile("cover.png", b"<?php echo 'not an image'; ?>", content_type="image/png")
    response = auth_client.post(VIDEOS_URL, {"title": "Bad cover", "thumbnail": fake})
    assert response.status_code == 400
    assert response.json()["code"] == "unsupported_image"
    assert not Video.objects.exists()


def test_truncated_png_is_400(auth_client, channel):
    data = png_upload(size=(400, 400)).read()
    response = auth_client.post(
        VIDEOS_URL, {"title": "Cut", "thumbnail": SimpleUploadedFile("c.png", data[: len(data) // 2])}
    )
    assert response.status_code == 400
    assert not Video.objects.exists()


@pytest.mark.parametrize(
    "body", [{}, {"title": ""}, {"title": "x" * 121}, {"title": ["a"]}, {"title": {"a": 1}}]
)
def test_malformed_video_body_is_400(auth_client, channel, body):
    response = auth_client.post(VIDEOS_URL, body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_bad_json_is_400(auth_client, channel):
    response = auth_client.post(VIDEOS_URL, data='{"title": ', content_type="application/json")
    assert response.status_code == 400


def test_create_video_without_channel_is_404(auth_client):
    response = auth_client.post(VIDEOS_URL, {"title": "Nowhere"}, format="json")
    assert response.status_code == 404
    assert response.json()["code"] == "no_channel"
    assert auth_client.get(VIDEOS_URL).status_code == 404


def test_videos_need_auth(api_client):
    assert api_client.get(VIDEOS_URL).status_code == 401
    assert api_client.post(VIDEOS_URL, {"title": "x"}, format="json").status_code == 401


def test_own_list_shows_only_own_videos_newest_first(auth_client, channel):
    first = VideoFactory(channel=channel, title="First")
    second = VideoFactory(channel=channel, title="Second", status=VideoStatus.ENDED)
    other = UserFactory()
    other_channel = ChannelFactory(owner=other)
    VideoFactory(channel=other_channel, title="Somebody else's")
    response = auth_client.get(VIDEOS_URL)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [v["url"] for v in body["results"]] == [second.url, first.url]
    assert body["results"][1]["status"] == "scheduled"

    other_client = APIClient()
    other_client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(other).access_token}")
    theirs = other_client.get(VIDEOS_URL).json()
    assert theirs["count"] == 1
    assert theirs["results"][0]["channel"]["name"] == other_channel.name


def test_own_list_is_paginated(auth_client, channel):
    for _ in range(25):
        VideoFactory(channel=channel)
    body = auth_client.get(VIDEOS_URL).json()
    assert body["count"] == 25
    assert len(body["results"]) == 20
    assert body["next"] is not None


# --- public catalogue ---------------------------------------------------------------------------


def make_catalogue():
    now = timezone.now()
    ocean = ChannelFactory(name="ocean", title="Deep Blue")
    river = ChannelFactory(name="river", title="Fresh Water")
    old = VideoFactory(
        channel=ocean, title="Old dive", status=VideoStatus.ENDED, started_at=now - timedelta(days=2)
    )
    recent = VideoFactory(
        channel=river, title="Rapids", status=VideoStatus.ENDED, started_at=now - timedelta(hours=1)
    )
    live = VideoFactory(
        channel=ocean,
        title="Reef live",
        status=VideoStatus.LIVE,
        started_at=now - timedelta(days=3),
        viewer_count=12,
    )
    hidden = VideoFactory(channel=river, title="Rapids tomorrow", status=VideoStatus.SCHEDULED)
    return {"ocean": ocean, "river": river, "old": old, "recent": recent, "live": live, "hidden": hidden}


def test_public_list_live_first_then_newest_and_no_scheduled(api_client):
    cat = make_catalogue()
    response = api_client.get("/api/videos/")
    assert response.status_code == 200
    body = response.json()
    assert [v["url"] for v in body["results"]] == [cat["live"].url, cat["recent"].url, cat["old"].url]
    live = body["results"][0]
    assert live["status"] == "live"
    assert live["viewer_count"] == 12
    assert live["channel"] == {"name": "ocean", "title": "Deep Blue"}
    assert "id" not in live
    text = response.content.decode()
    for channel in (cat["ocean"], cat["river"]):
        assert channel_stream_key(channel=channel) not in text
        assert channel.stream_key_hash not in text
    assert "stream_key" not in text


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("rapids", ["recent"]),  # title; the scheduled "Rapids tomorrow" stays hidden
        ("OCEAN", ["live", "old"]),  # channel name, any case
        ("fresh water", ["recent"]),  # channel title
        ("reef", ["live"]),
        ("nothing-matches", []),
        ("", ["live", "recent", "old"]),
        ("%", []),
        ("_", []),
    ],
)
def test_public_search(api_client, search, expected):
    cat = make_catalogue()
    body = api_client.get("/api/videos/", {"search": search}).json()
    assert [v["url"] for v in body["results"]] == [cat[name].url for name in expected]


def test_public_detail(api_client, settings):
    cat = make_catalogue()
    response = api_client.get(f"/api/videos/{cat['recent'].url}")
    assert response.status_code == 200
    body = response.json()
    assert body["title"] == "Rapids"
    assert body["status"] == "ended"
    assert body["playback_url"] == f"{settings.PUBLIC_HLS_URL}{cat['recent'].url}.m3u8"
    assert channel_stream_key(channel=cat["river"]) not in response.content.decode()


def test_public_detail_unknown_or_scheduled_is_404(api_client):
    cat = make_catalogue()
    for url in (cat["hidden"].url, "doesnotexist0000", "UPPERCASE0000000", "x" * 500):
        response = api_client.get(f"/api/videos/{url}")
        assert response.status_code == 404, url
        assert response.json()["code"] == "not_found"


def test_thumbnail_falls_back_to_live_picture(api_client):
    video = VideoFactory(status=VideoStatus.LIVE, live_thumbnail="live-thumbnails/x.jpg")
    body = api_client.get(f"/api/videos/{video.url}").json()
    assert body["thumbnail"] == "http://testserver/media/live-thumbnails/x.jpg"
    video.thumbnail = "thumbnails/chosen.png"
    video.save()
    body = api_client.get(f"/api/videos/{video.url}").json()
    assert body["thumbnail"] == "http://testserver/media/thumbnails/chosen.png"


def test_schema_documents_the_endpoints(api_client):
    schema = api_client.get("/api/schema/").content.decode()
    for path in (
        "/api/user/channel:",
        "/api/user/channel/stream-key:",
        "/api/user/channel/videos:",
        "/api/channels/:",
        "/api/channels/{name}:",
        "/api/videos/:",
        "/api/videos/{url}:",
    ):
        assert path in schema, path


def test_internal_schema_documents_the_hooks(api_client, settings):
    api_client.credentials(HTTP_X_INGEST_SECRET=settings.INGEST_SHARED_SECRET)
    schema = api_client.get("/api/internal/schema/").content.decode()
    for path in (
        "/api/internal/publish/authorize:",
        "/api/internal/publish/heartbeat:",
        "/api/internal/publish/end:",
        "/api/internal/viewers:",
    ):
        assert path in schema, path


def test_live_stats_are_shown_to_the_owner_only(auth_client, api_client, channel):
    stats = {"bitrate_kbps": 4500.0, "fps": 30.0, "keyframe_interval": 2.0, "transcoder_speed": 1.01}
    video = VideoFactory(
        channel=channel, status=VideoStatus.LIVE, live_stats=stats, started_at=timezone.now()
    )
    own = auth_client.get(VIDEOS_URL).json()["results"][0]
    assert own["live_stats"] == stats
    public = api_client.get(f"/api/videos/{video.url}").json()
    assert "live_stats" not in public
