"""Reads cost a fixed number of queries: one query per list, never one per row, none in serializers."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from api.profiles.models import Profile
from api.videos.models import VideoStatus
from tests.factories import ChannelFactory, VideoFactory

pytestmark = pytest.mark.django_db


def queries_of(request: Callable[[], object]) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = request()
    assert response.status_code == 200, response.content
    return len(captured)


def add_catalogue(rows: int) -> None:
    """`rows` channels, each with a live video, a recording and a scheduled one, streamers with profiles."""
    for _ in range(rows):
        channel = ChannelFactory()
        Profile.objects.create(user=channel.owner, display_name="Streamer")
        VideoFactory(channel=channel, status=VideoStatus.LIVE, started_at=timezone.now())
        VideoFactory(
            channel=channel, status=VideoStatus.ENDED, started_at=timezone.now(), ended_at=timezone.now()
        )
        VideoFactory(channel=channel, status=VideoStatus.SCHEDULED)


@pytest.mark.parametrize("path", ["/api/channels/", "/api/videos/", "/api/videos/?search=a", "/"])
def test_public_lists_cost_the_same_for_one_row_or_many(api_client, path):
    add_catalogue(1)
    one = queries_of(lambda: Client().get(path))
    add_catalogue(5)
    many = queries_of(lambda: Client().get(path))
    assert one == many


def test_the_public_channel_page_costs_the_same_for_one_recording_or_many():
    channel = ChannelFactory(name="quiet")
    VideoFactory(
        channel=channel, status=VideoStatus.ENDED, started_at=timezone.now(), ended_at=timezone.now()
    )
    one = queries_of(lambda: Client().get("/c/quiet"))
    for _ in range(5):
        VideoFactory(
            channel=channel, status=VideoStatus.ENDED, started_at=timezone.now(), ended_at=timezone.now()
        )
    assert queries_of(lambda: Client().get("/c/quiet")) == one


def test_the_owner_list_costs_the_same_for_one_video_or_many(auth_client, user):
    channel = ChannelFactory(owner=user)
    VideoFactory(channel=channel)
    one = queries_of(lambda: auth_client.get("/api/user/channel/videos"))
    for _ in range(5):
        VideoFactory(channel=channel, status=VideoStatus.ENDED)
    assert queries_of(lambda: auth_client.get("/api/user/channel/videos")) == one


def test_the_owner_channel_is_one_query_after_authentication(auth_client, user, django_assert_num_queries):
    """The stream key is decrypted and the live state annotated by the selector, not the serializer."""
    ChannelFactory(owner=user)
    with django_assert_num_queries(2):  # the signed-in user, then the channel with its live state
        response = auth_client.get("/api/user/channel")
    assert response.status_code == 200
    assert response.json()["stream_key"].startswith("live_")
    assert response.json()["is_live"] is False


def test_the_profile_is_one_query_after_authentication(auth_client, user, django_assert_num_queries):
    Profile.objects.create(user=user, display_name="Ripley")
    with django_assert_num_queries(2):  # the signed-in user, then the profile
        response = auth_client.get("/api/user/profile")
    assert response.json()["username"] == user.username
    assert response.json()["display_name"] == "Ripley"
