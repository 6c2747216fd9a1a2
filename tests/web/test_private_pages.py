"""A private video's watch page: its owner's plays through playback tokens; anyone else gets a
plain "this video is private" page with a 404 status."""

from __future__ import annotations

import pytest
from rest_framework_simplejwt.tokens import RefreshToken

from api.videos.models import Video, VideoVisibility
from tests.factories import UserFactory
from tests.web.test_pages import player_config

pytestmark = pytest.mark.django_db


@pytest.fixture
def private(recording: Video) -> Video:
    recording.visibility = VideoVisibility.PRIVATE
    recording.save(update_fields=["visibility"])
    return recording


def sign_in(client, user) -> None:
    client.cookies["access_token"] = str(RefreshToken.for_user(user).access_token)


def test_the_owner_s_watch_page_plays_through_a_token(client, private):
    sign_in(client, private.channel.owner)
    response = client.get(f"/watch/{private.url}")
    assert response.status_code == 200
    config = player_config(response.content.decode())
    assert config["private"] is True
    assert config["tokenApi"] == f"/api/videos/{private.url}/playback-token"


@pytest.mark.parametrize("who", ["anonymous", "stranger", "stale"])
def test_anyone_else_gets_the_private_page_with_404(client, private, who):
    if who == "stranger":
        sign_in(client, UserFactory())
    elif who == "stale":
        client.cookies["access_token"] = "not.a.token"
    response = client.get(f"/watch/{private.url}")
    assert response.status_code == 404
    html = response.content.decode()
    assert "This video is private" in html
    assert private.title not in html
    assert "player-config" not in html


def test_a_public_video_s_page_needs_no_token(client, recording):
    config = player_config(client.get(f"/watch/{recording.url}").content.decode())
    assert config["private"] is False
