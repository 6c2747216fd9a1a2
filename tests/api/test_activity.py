"""The account activity log: what is recorded, who sees it, that no credential is ever in it, and
that old entries are pruned."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from api.activity.models import ActivityAction, ActivityEntry
from api.activity.services import MASK, activity_detail_clean, activity_prune, activity_record
from api.videos.models import VideoStatus
from api.videos.services import video_end_stale, video_publish_end, video_publish_start
from tests.factories import TEST_PASSWORD, ChannelFactory, UserFactory, VideoFactory
from workers.tasks import activity_prune as activity_prune_task

pytestmark = pytest.mark.django_db

ACTIVITY = "/api/user/activity"


def _client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


def _actions(user) -> list[str]:
    return [entry.action for entry in ActivityEntry.objects.filter(user=user).order_by("created_at", "id")]


def _login(client, username, password, ip="203.0.113.7"):
    return client.post(
        "/api/auth/login", {"username": username, "password": password}, format="json", REMOTE_ADDR=ip
    )


def test_sign_in_failed_sign_in_and_sign_out_are_recorded_with_the_client_address(api_client, user):
    assert _login(api_client, user.username, "not-the-password-9").status_code == 401
    response = _login(api_client, user.username.upper(), TEST_PASSWORD)
    assert response.status_code == 200
    logout = api_client.post(
        "/api/auth/logout", {"refresh": response.json()["refresh"]}, format="json", REMOTE_ADDR="203.0.113.8"
    )
    assert logout.status_code == 204

    entries = list(ActivityEntry.objects.filter(user=user).order_by("created_at", "id"))
    assert [(e.action, e.ip) for e in entries] == [
        (ActivityAction.SIGN_IN_FAILED, "203.0.113.7"),
        (ActivityAction.SIGN_IN, "203.0.113.7"),
        (ActivityAction.SIGN_OUT, "203.0.113.8"),
    ]


def test_the_forwarded_address_is_recorded_only_behind_a_configured_proxy(api_client, user, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    # client_ip reads NUM_PROXIES through DRF's api_settings, reloaded by the settings fixture.
    response = api_client.post(
        "/api/auth/login",
        {"username": user.username, "password": TEST_PASSWORD},
        format="json",
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR="198.51.100.4",
    )
    assert response.status_code == 200
    assert ActivityEntry.objects.filter(user=user).order_by("-id").first().ip == "198.51.100.4"


def test_a_failed_sign_in_for_an_unknown_name_records_nothing(api_client):
    assert _login(api_client, "nobody-here", "whatever-password-1").status_code == 401
    assert ActivityEntry.objects.count() == 0


def test_channel_creation_and_key_rotation_are_recorded_and_no_key_is_ever_shown():
    user = UserFactory()
    client = _client_for(user)
    created = client.post("/api/user/channel", {"name": "mine", "title": "Mine"}, format="json")
    assert created.status_code == 201
    first_key = created.json()["stream_key"]
    rotated = client.post("/api/user/channel/stream-key", REMOTE_ADDR="192.0.2.10")
    second_key = rotated.json()["stream_key"]

    assert _actions(user) == [ActivityAction.CHANNEL_CREATED, ActivityAction.STREAM_KEY_ROTATED]
    body = client.get(ACTIVITY).content.decode()
    stored = json.dumps(list(ActivityEntry.objects.values()), default=str)
    for secret in (first_key, second_key, TEST_PASSWORD):
        assert secret not in body
        assert secret not in stored
    assert json.loads(body)["results"][0]["ip"] == "192.0.2.10"


def test_a_password_tried_at_sign_in_is_never_stored(api_client, user):
    tried = "my-Secret-Guess-123"
    _login(api_client, user.username, tried)
    _login(api_client, user.username, TEST_PASSWORD)
    stored = json.dumps(list(ActivityEntry.objects.values()), default=str)
    assert tried not in stored
    assert TEST_PASSWORD not in stored


def test_stream_start_end_and_stale_end_are_recorded(settings):
    settings.LIVE_HEARTBEAT_TIMEOUT_SECONDS = 30
    channel = ChannelFactory(stream_key="live_" + "a" * 43)
    grant = video_publish_start(stream_key="live_" + "a" * 43, client_ip="198.51.100.20")
    video_publish_end(publish_id=grant.publish_id)
    video_publish_end(publish_id=grant.publish_id)  # repeated: recorded once

    stale = VideoFactory(
        channel=channel,
        status=VideoStatus.LIVE,
        started_at=timezone.now(),
        last_heartbeat_at=timezone.now() - timedelta(seconds=60),
    )
    assert video_end_stale() == 1

    entries = list(ActivityEntry.objects.filter(user=channel.owner).order_by("created_at", "id"))
    assert [e.action for e in entries] == [
        ActivityAction.STREAM_STARTED,
        ActivityAction.STREAM_ENDED,
        ActivityAction.STREAM_ENDED,
    ]
    assert entries[0].ip == "198.51.100.20"
    assert entries[0].detail.startswith(grant.video_url)
    assert entries[2].detail.startswith(stale.url)
    for entry in entries:
        assert "live_" not in entry.detail


def test_video_deletion_is_recorded():
    channel = ChannelFactory()
    video = VideoFactory(channel=channel, status=VideoStatus.ENDED, title="Old show")
    client = _client_for(channel.owner)
    assert client.delete(f"/api/user/channel/videos/{video.url}").status_code == 204
    entry = ActivityEntry.objects.get(user=channel.owner)
    assert entry.action == ActivityAction.VIDEO_DELETED
    assert entry.detail == f"{video.url} Old show"


def test_the_log_is_newest_first_paginated_and_the_users_own(settings):
    user, other = UserFactory(), UserFactory()
    for number in range(25):
        activity_record(user=user, action=ActivityAction.SIGN_IN, ip="192.0.2.1", detail=f"n{number}")
    activity_record(user=other, action=ActivityAction.SIGN_IN, detail="other's")
    client = _client_for(user)

    first = client.get(ACTIVITY).json()
    second = client.get(ACTIVITY, {"page": 2}).json()

    assert first["count"] == 25
    assert [row["detail"] for row in first["results"]] == [f"n{n}" for n in range(24, 4, -1)]
    assert [row["detail"] for row in second["results"]] == [f"n{n}" for n in range(4, -1, -1)]
    assert set(first["results"][0]) == {"action", "created_at", "ip", "detail"}
    assert first["results"][0]["action"] == "sign_in"
    assert APIClient().get(ACTIVITY).status_code == 401


@pytest.mark.parametrize(
    ("detail", "leaked"),
    [
        ("rotated to live_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcdefg", "live_AbCd"),
        ("secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_MfKQ"),
        ("rtmps://live-api-s.facebook.com:443/rtmp/FB-1234-0-AbCdEf", "FB-1234"),
        ("token eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyIjoxfQ.c2lnbmF0dXJl", "eyJhbGci"),
    ],
)
def test_anything_shaped_like_a_credential_is_masked(detail, leaked):
    cleaned = activity_detail_clean(detail)
    assert leaked not in cleaned
    assert MASK in cleaned


def test_details_are_one_bounded_line():
    cleaned = activity_detail_clean("a\nb\t" + "x" * 500)
    assert "\n" not in cleaned
    assert len(cleaned) == 200


def test_an_unreadable_address_is_stored_as_none(user):
    assert activity_record(user=user, action=ActivityAction.SIGN_IN, ip="unknown").ip is None


def test_old_entries_are_pruned_by_the_periodic_task(user, settings):
    settings.ACTIVITY_RETENTION_DAYS = 30
    old = activity_record(user=user, action=ActivityAction.SIGN_IN)
    ActivityEntry.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=31))
    recent = activity_record(user=user, action=ActivityAction.SIGN_OUT)

    assert activity_prune_task.apply().get() == 1
    assert list(ActivityEntry.objects.values_list("pk", flat=True)) == [recent.pk]
    assert activity_prune() == 0
    entry = settings.CELERY_BEAT_SCHEDULE["prune-activity"]
    assert entry["task"] == activity_prune_task.name


def test_a_password_set_in_the_admin_is_recorded_and_the_log_is_in_the_admin(client):
    staff = UserFactory(is_staff=True, is_superuser=True)
    target = UserFactory()
    client.force_login(staff)
    new_password = "An0ther-long-passphrase!"
    response = client.post(
        f"/admin/users/user/{target.pk}/password/",
        {"password1": new_password, "password2": new_password, "usable_password": "true"},
    )
    assert response.status_code == 302

    entry = ActivityEntry.objects.get(user=target)
    assert entry.action == ActivityAction.PASSWORD_CHANGED
    assert staff.username in entry.detail
    assert new_password not in entry.detail

    listing = client.get("/admin/activity/activityentry/")
    assert listing.status_code == 200
    assert b"Password changed" in listing.content
    assert client.get("/admin/activity/activityentry/add/").status_code == 403
