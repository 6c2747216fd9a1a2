"""The owner's channel endpoints and the public channel directory, over real HTTP and a real DB."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from api.channels.models import Channel
from api.channels.selectors import channel_get_by_stream_key, channel_stream_key
from api.videos.models import VideoStatus
from tests.factories import ChannelFactory, UserFactory, VideoFactory

pytestmark = pytest.mark.django_db

CHANNEL_URL = "/api/user/channel"
ROTATE_URL = "/api/user/channel/stream-key"


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


def create_channel(client: APIClient, name: str = "tide-pool", **extra) -> dict:
    response = client.post(CHANNEL_URL, {"name": name, "title": "Tide Pool", **extra}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_create_channel_returns_key_and_ingest_url(auth_client, user, settings):
    body = create_channel(auth_client, description="Waves, live.")
    assert body["name"] == "tide-pool"
    assert body["title"] == "Tide Pool"
    assert body["description"] == "Waves, live."
    assert body["ingest_url"] == settings.PUBLIC_RTMP_URL
    assert body["is_live"] is False
    key = body["stream_key"]
    assert key.startswith("live_")
    assert len(key) >= 40
    assert body["stream_key_prefix"] == key[:9]
    channel = Channel.objects.get(owner=user)
    assert channel_get_by_stream_key(stream_key=key) == channel


def test_stored_columns_do_not_contain_the_key(auth_client, user):
    key = create_channel(auth_client)["stream_key"]
    channel = Channel.objects.get(owner=user)
    secret_part = key[len("live_") :]
    for column in (channel.stream_key_hash, channel.stream_key_ciphertext, channel.stream_key_prefix):
        assert secret_part not in column
    assert key not in json.dumps(list(Channel.objects.values()), default=str)


def test_name_is_lowercased(auth_client):
    assert create_channel(auth_client, name="Tide-Pool")["name"] == "tide-pool"


def test_second_channel_is_409(auth_client):
    create_channel(auth_client)
    response = auth_client.post(CHANNEL_URL, {"name": "another", "title": "Again"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "channel_exists"
    assert Channel.objects.count() == 1


def test_taken_name_is_400(auth_client):
    ChannelFactory(name="tide-pool")
    response = auth_client.post(CHANNEL_URL, {"name": "TIDE-pool", "title": "Mine"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "name_taken"


@pytest.mark.parametrize(
    "name", ["a", "-leading", "trailing-", "has space", "ünïcode", "semi;colon", "x" * 51, ""]
)
def test_invalid_names_are_400(auth_client, name):
    response = auth_client.post(CHANNEL_URL, {"name": name, "title": "T"}, format="json")
    assert response.status_code == 400
    assert "code" in response.json()
    assert not Channel.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"title": "no name"},
        {"name": "ok-name"},
        {"name": ["list"], "title": "T"},
        {"name": "ok-name", "title": {"nested": 1}},
        {"name": "ok-name", "title": "x" * 121},
        {"name": "ok-name", "title": "T", "description": {"a": 1}},
    ],
)
def test_malformed_create_body_is_400(auth_client, body):
    response = auth_client.post(CHANNEL_URL, body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


@pytest.mark.parametrize("raw", ["{not json", '{"name": "ok", "title": NaN}', ""])
def test_unparseable_json_is_400(auth_client, raw):
    response = auth_client.post(CHANNEL_URL, data=raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] in ("parse_error", "invalid")


def test_non_object_json_is_400(auth_client):
    response = auth_client.post(CHANNEL_URL, data="[1, 2]", content_type="application/json")
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("method", "url"),
    [("get", CHANNEL_URL), ("post", CHANNEL_URL), ("patch", CHANNEL_URL), ("post", ROTATE_URL)],
)
def test_missing_auth_is_401(api_client, method, url):
    response = getattr(api_client, method)(url, {}, format="json")
    assert response.status_code == 401
    assert "detail" in response.json()


def test_bad_token_is_401(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    assert api_client.get(CHANNEL_URL).status_code == 401


def test_get_without_channel_is_404(auth_client):
    for response in (
        auth_client.get(CHANNEL_URL),
        auth_client.patch(CHANNEL_URL, {"title": "x"}, format="json"),
        auth_client.post(ROTATE_URL),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "no_channel"


def test_get_own_channel_shows_the_same_key(auth_client):
    created = create_channel(auth_client)
    body = auth_client.get(CHANNEL_URL).json()
    assert body["stream_key"] == created["stream_key"]
    assert body["name"] == "tide-pool"


def test_each_user_sees_only_their_own_channel(auth_client):
    mine = create_channel(auth_client)
    other = UserFactory()
    other_client = client_for(other)
    assert other_client.get(CHANNEL_URL).status_code == 404
    theirs = create_channel(other_client, name="other-channel")
    assert other_client.get(CHANNEL_URL).json()["name"] == "other-channel"
    assert auth_client.get(CHANNEL_URL).json()["name"] == "tide-pool"
    assert theirs["stream_key"] != mine["stream_key"]
    # Rotating mine leaves theirs alone.
    auth_client.post(ROTATE_URL)
    assert other_client.get(CHANNEL_URL).json()["stream_key"] == theirs["stream_key"]


def test_patch_updates_title_and_description_only(auth_client):
    create_channel(auth_client)
    response = auth_client.patch(
        CHANNEL_URL, {"title": "New title", "description": "New words", "name": "renamed"}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["title"] == "New title"
    assert body["description"] == "New words"
    assert body["name"] == "tide-pool"
    assert Channel.objects.get().name == "tide-pool"
    response = auth_client.patch(CHANNEL_URL, {"description": ""}, format="json")
    assert response.json()["description"] == ""
    assert response.json()["title"] == "New title"


@pytest.mark.parametrize(
    "body", [{"title": ""}, {"title": ["x"]}, {"description": "x" * 2001}, {"title": None}]
)
def test_patch_malformed_is_400(auth_client, body):
    create_channel(auth_client)
    response = auth_client.patch(CHANNEL_URL, body, format="json")
    assert response.status_code == 400
    assert Channel.objects.get().title == "Tide Pool"


def test_rotation_replaces_the_key(auth_client, user):
    old_key = create_channel(auth_client)["stream_key"]
    response = auth_client.post(ROTATE_URL)
    assert response.status_code == 200
    new_key = response.json()["stream_key"]
    assert new_key != old_key
    assert new_key.startswith("live_")
    channel = Channel.objects.get(owner=user)
    assert channel_get_by_stream_key(stream_key=old_key) is None
    assert channel_get_by_stream_key(stream_key=new_key) == channel
    assert channel_stream_key(channel=channel) == new_key
    assert auth_client.get(CHANNEL_URL).json()["stream_key"] == new_key


def test_rotation_while_live_requests_a_stop(auth_client, user):
    create_channel(auth_client)
    channel = Channel.objects.get(owner=user)
    live = VideoFactory(channel=channel, status=VideoStatus.LIVE)
    ended = VideoFactory(channel=channel, status=VideoStatus.ENDED)
    auth_client.post(ROTATE_URL)
    live.refresh_from_db()
    ended.refresh_from_db()
    assert live.stop_requested is True
    assert ended.stop_requested is False


# --- public directory ---------------------------------------------------------------------------


def assert_no_secrets(payload: object, *channels: Channel) -> None:
    text = json.dumps(payload)
    assert "stream_key" not in text
    for channel in channels:
        assert channel_stream_key(channel=channel) not in text
        assert channel.stream_key_hash not in text
        assert channel.stream_key_ciphertext not in text


def test_public_list_shows_channels_live_first_without_keys(api_client, settings):
    quiet = ChannelFactory(name="aaa-quiet", title="Quiet")
    busy = ChannelFactory(name="zzz-busy", title="Busy", description="Always on")
    live = VideoFactory(channel=busy, status=VideoStatus.LIVE, title="On air", viewer_count=7)
    VideoFactory(channel=quiet, status=VideoStatus.ENDED)
    response = api_client.get("/api/channels/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    first, second = body["results"]
    assert first["name"] == "zzz-busy"
    assert first["is_live"] is True
    assert first["description"] == "Always on"
    assert first["live_video"]["url"] == live.url
    assert first["live_video"]["title"] == "On air"
    assert first["live_video"]["viewer_count"] == 7
    assert first["live_video"]["playback_url"] == f"{settings.PUBLIC_HLS_URL}{live.url}.m3u8"
    assert second["name"] == "aaa-quiet"
    assert second["is_live"] is False
    assert second["live_video"] is None
    assert_no_secrets(body, quiet, busy)


def test_public_list_is_paginated(api_client):
    for _ in range(23):
        ChannelFactory()
    first = api_client.get("/api/channels/").json()
    assert first["count"] == 23
    assert len(first["results"]) == 20
    second = api_client.get(first["next"]).json()
    assert len(second["results"]) == 3
    assert api_client.get("/api/channels/?page=99").status_code == 404


def test_public_detail(api_client):
    channel = ChannelFactory(name="tide-pool", title="Tide Pool")
    response = api_client.get("/api/channels/tide-pool")
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "tide-pool"
    assert body["is_live"] is False
    assert body["live_video"] is None
    assert_no_secrets(body, channel)


def test_public_detail_unknown_is_404_json(api_client):
    response = api_client.get("/api/channels/nobody-here")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_public_endpoints_ignore_a_stale_token(api_client):
    ChannelFactory(name="tide-pool")
    api_client.credentials(HTTP_AUTHORIZATION="Bearer expired-or-garbage")
    assert api_client.get("/api/channels/").status_code == 200
    assert api_client.get("/api/channels/tide-pool").status_code == 200


def test_owner_key_never_in_public_responses(auth_client, api_client):
    key = create_channel(auth_client)["stream_key"]
    video = auth_client.post("/api/user/channel/videos", {"title": "First"}, format="json").json()
    Channel.objects.get().videos.update(status=VideoStatus.LIVE)
    for url in ("/api/channels/", "/api/channels/tide-pool", "/api/videos/", f"/api/videos/{video['url']}"):
        response = api_client.get(url)
        assert response.status_code == 200
        assert key not in response.content.decode()
        assert key[len("live_") :] not in response.content.decode()
        assert "stream_key" not in response.content.decode()
