"""Restreaming destinations over real HTTP: the owner's endpoints, the URL stored encrypted and shown
masked, and the ingest's view of them through the internal hooks (authorize, heartbeat)."""

from __future__ import annotations

import json
import logging
import uuid

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from api.channels.selectors import channel_stream_key
from api.restream.models import Destination
from api.restream.secrets import destination_url_mask
from tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db

DESTINATIONS = "/api/user/channel/destinations"
AUTHORIZE = "/api/internal/publish/authorize"
HEARTBEAT = "/api/internal/publish/heartbeat"
YOUTUBE = "rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl-mnop-qrst"
TWITCH = "rtmps://live.twitch.tv:443/app/live_123456789_SecretSecretSecret"


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()


@pytest.fixture
def channel():
    return ChannelFactory(name="tide-pool")


@pytest.fixture
def owner(channel) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(channel.owner).access_token}")
    return client


@pytest.fixture
def ingest(settings) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_INGEST_SECRET=settings.INGEST_SHARED_SECRET)
    return client


def add(client: APIClient, url: str) -> dict:
    response = client.post(DESTINATIONS, {"url": url}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def go_live(ingest: APIClient, channel) -> dict:
    response = ingest.post(
        AUTHORIZE,
        {"stream_key": channel_stream_key(channel=channel), "client_ip": "203.0.113.7"},
        format="json",
    )
    assert response.status_code == 200, response.content
    return response.json()


def test_a_destination_is_shown_masked_and_stored_encrypted(owner, caplog):
    caplog.set_level(logging.DEBUG)
    body = add(owner, YOUTUBE)
    assert body["url"] == "rtmp://a.rtmp.youtube.com/live2/abcd****"
    assert (body["enabled"], body["status"], body["last_error"]) == (True, "idle", "")
    uuid.UUID(body["id"])
    listed = owner.get(DESTINATIONS).json()
    assert [d["url"] for d in listed] == ["rtmp://a.rtmp.youtube.com/live2/abcd****"]
    stored = json.dumps(list(Destination.objects.values()), default=str)
    assert "efgh-ijkl" not in stored
    assert "efgh-ijkl" not in caplog.text


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (TWITCH, "rtmps://live.twitch.tv:443/app/live****"),
        ("rtmp://host/app/short", "rtmp://host/app/****"),
        ("rtmp://user:pw@host/app/streamkey123", "rtmp://user:****@host/app/stre****"),
        ("rtmp://host/live?key=secretsecret", "rtmp://host/****?****"),
    ],
)
def test_masking_hides_the_key_the_password_and_the_query(url, masked):
    assert destination_url_mask(url) == masked


@pytest.mark.parametrize(
    "url",
    [
        "http://a.rtmp.youtube.com/live2/key",
        "rtmp:///live2/key",
        "rtmp://host/keyonly",
        "rtmp://host/app/key with space",
        "rtmp://host:99999/app/key",
        "rtmp://host/app/key#frag",
        "rtmp://host/app/" + "k" * 1100,
    ],
)
def test_malformed_destinations_are_400(owner, url):
    response = owner.post(DESTINATIONS, {"url": url}, format="json")
    assert response.status_code == 400, response.content
    assert Destination.objects.count() == 0


@pytest.mark.parametrize("url", ["rtmp://127.0.0.1/app/key", "rtmp://10.0.0.5/app/key",
                                 "rtmp://localhost/app/key", "rtmp://169.254.169.254/app/key"])  # fmt: skip
def test_private_destinations_are_refused_unless_allowed(owner, settings, url):
    settings.RESTREAM_ALLOW_PRIVATE_DESTINATIONS = False
    response = owner.post(DESTINATIONS, {"url": url}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_destination"
    settings.RESTREAM_ALLOW_PRIVATE_DESTINATIONS = True
    add(owner, url)


def test_a_channel_has_at_most_the_configured_destinations(owner, settings):
    settings.RESTREAM_MAX_DESTINATIONS = 2
    add(owner, YOUTUBE)
    add(owner, TWITCH)
    response = owner.post(DESTINATIONS, {"url": YOUTUBE}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "too_many_destinations"


def test_enable_disable_and_delete(owner):
    destination = add(owner, YOUTUBE)
    url = f"{DESTINATIONS}/{destination['id']}"
    response = owner.patch(url, {"enabled": False}, format="json")
    assert response.status_code == 200
    assert response.json()["enabled"] is False
    assert owner.get(DESTINATIONS).json()[0]["enabled"] is False
    assert owner.delete(url).status_code == 204
    assert owner.get(DESTINATIONS).json() == []
    assert owner.delete(url).status_code == 404


def test_another_owners_destination_is_404(owner):
    theirs = ChannelFactory(name="other")
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(theirs.owner).access_token}")
    destination = add(other, YOUTUBE)
    url = f"{DESTINATIONS}/{destination['id']}"
    assert owner.patch(url, {"enabled": False}, format="json").status_code == 404
    assert owner.delete(url).status_code == 404
    assert owner.get(f"{DESTINATIONS}/not-a-uuid").status_code in (404, 405)
    assert Destination.objects.get().enabled is True


def test_without_a_channel_it_is_404_and_without_a_token_401(channel):
    assert APIClient().get(DESTINATIONS).status_code == 401
    from tests.factories import UserFactory

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(UserFactory()).access_token}")
    assert client.get(DESTINATIONS).status_code == 404


def test_the_ingest_gets_the_enabled_destinations_in_clear_and_reports_their_status(owner, ingest, channel):
    youtube = add(owner, YOUTUBE)
    twitch = add(owner, TWITCH)
    owner.patch(f"{DESTINATIONS}/{twitch['id']}", {"enabled": False}, format="json")
    grant = go_live(ingest, channel)
    assert grant["destinations"] == [{"id": youtube["id"], "url": YOUTUBE}]

    report = {"id": youtube["id"], "status": "failed", "error": "Connection refused"}
    response = ingest.post(
        HEARTBEAT, {"publish_id": grant["publish_id"], "destinations": [report]}, format="json"
    )
    assert response.status_code == 200
    shown = {d["id"]: d for d in owner.get(DESTINATIONS).json()}
    assert (shown[youtube["id"]]["status"], shown[youtube["id"]]["last_error"]) == (
        "failed",
        "Connection refused",
    )
    assert shown[twitch["id"]]["status"] == "idle"

    # Switched on while live: the next heartbeat's answer lists it.
    owner.patch(f"{DESTINATIONS}/{twitch['id']}", {"enabled": True}, format="json")
    report = {"id": youtube["id"], "status": "live"}
    answer = ingest.post(
        HEARTBEAT, {"publish_id": grant["publish_id"], "destinations": [report]}, format="json"
    )
    assert answer.json()["destinations"] == [
        {"id": youtube["id"], "url": YOUTUBE},
        {"id": twitch["id"], "url": TWITCH},
    ]
    assert {d["id"]: d["status"] for d in owner.get(DESTINATIONS).json()}[youtube["id"]] == "live"


def test_the_owner_api_never_shows_the_url_in_clear(owner, ingest, channel):
    add(owner, YOUTUBE)
    go_live(ingest, channel)
    assert "efgh" not in owner.get(DESTINATIONS).content.decode()


def test_reports_on_another_channels_destination_are_ignored(owner, ingest, channel):
    theirs = ChannelFactory(name="other")
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(theirs.owner).access_token}")
    foreign = add(other, YOUTUBE)
    grant = go_live(ingest, channel)
    report = {"id": foreign["id"], "status": "live"}
    response = ingest.post(
        HEARTBEAT, {"publish_id": grant["publish_id"], "destinations": [report]}, format="json"
    )
    assert response.status_code == 200
    assert Destination.objects.get(id=foreign["id"]).status == "idle"


def test_a_status_report_must_be_one_the_ingest_may_give(ingest, owner, channel):
    destination = add(owner, YOUTUBE)
    grant = go_live(ingest, channel)
    report = {"id": destination["id"], "status": "idle"}
    response = ingest.post(
        HEARTBEAT, {"publish_id": grant["publish_id"], "destinations": [report]}, format="json"
    )
    assert response.status_code == 400


def test_the_destinations_are_not_reachable_with_the_ingest_secret_alone(ingest):
    assert ingest.get(DESTINATIONS).status_code == 401


def test_destination_changes_are_on_the_activity_log_without_the_key(owner):
    destination = add(owner, YOUTUBE)
    url = f"{DESTINATIONS}/{destination['id']}"
    owner.patch(url, {"enabled": False}, format="json")
    owner.delete(url)
    entries = owner.get("/api/user/activity").json()["results"]
    assert [e["action"] for e in entries[:3]] == [
        "destination_deleted",
        "destination_updated",
        "destination_created",
    ]
    assert "disabled" in entries[1]["detail"]
    assert "efgh-ijkl" not in json.dumps(entries)
