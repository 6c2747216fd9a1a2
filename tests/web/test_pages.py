from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders

from api.channels.selectors import channel_stream_key
from api.channels.services import channel_stream_key_rotate

pytestmark = pytest.mark.django_db


def player_config(html: str) -> dict:
    match = re.search(r'<script id="player-config" type="application/json">(.*?)</script>', html, re.S)
    assert match, "the watch page embeds its player configuration"
    return json.loads(match.group(1))


def test_home_lists_live_channels_before_recordings(client, live_video, recording, scheduled):
    response = client.get("/")

    assert response.status_code == 200
    html = response.content.decode()
    assert html.index("Deep space live") < html.index("Yesterday&#x27;s landing")
    assert "42 watching" in html
    assert "ripley" in html  # the streamer
    assert "live for 5" in html  # how long it has been live
    assert f"/watch/{live_video.url}" in html
    assert "Next week" not in html  # scheduled videos are not public
    assert 'id="search-form"' in html
    assert "csrftoken" in response.cookies


def test_home_without_videos_says_so(client, db):
    html = client.get("/").content.decode()

    assert "Nobody is live right now." in html
    assert "No recordings yet." in html


def test_home_search_matches_title_and_channel(client, live_video, recording, scheduled):
    by_title = client.get("/", {"q": "landing"}).content.decode()
    by_channel = client.get("/", {"q": "NOSTROMO"}).content.decode()
    nothing = client.get("/", {"q": "docking"}).content.decode()

    results = by_title.split('id="search-list"')[1].split("</ul>")[0]
    assert "Yesterday&#x27;s landing" in results
    assert "Deep space live" not in results
    assert by_channel.split('id="search-list"')[1].split("</ul>")[0].count('<li class="card') == 2
    assert '<p class="empty" id="search-empty" >Nothing matches.' in nothing  # not hidden
    assert "<li" not in nothing.split('id="search-list"')[1].split("</ul>")[0]


def test_watch_live_video_has_player_quality_menu_and_live_config(client, live_video, settings):
    settings.PUBLIC_HLS_URL = "http://hls.example:8080/hls-live/"

    response = client.get(f"/watch/{live_video.url}")

    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/vendor/hls/hls.min.js" in html
    assert 'id="quality"' in html
    assert 'id="live-badge"' in html
    assert 'id="go-live"' in html
    config = player_config(html)
    assert config == {
        "url": live_video.url,
        "status": "live",
        "playbackUrl": f"http://hls.example:8080/hls-live/{live_video.url}.m3u8",
        "channel": "nostromo",
        "videoApi": f"/api/videos/{live_video.url}",
        "channelApi": "/api/channels/nostromo",
        "private": False,
        "tokenApi": f"/api/videos/{live_video.url}/playback-token",
    }


def test_watch_recording_and_scheduled_video_states(client, recording, scheduled):
    ended = client.get(f"/watch/{recording.url}")
    upcoming = client.get(f"/watch/{scheduled.url}")

    assert ended.status_code == 200
    assert player_config(ended.content.decode())["status"] == "ended"
    assert "this stream has ended" in ended.content.decode()
    assert upcoming.status_code == 200
    assert player_config(upcoming.content.decode())["status"] == "scheduled"
    assert "not started yet" in upcoming.content.decode()


@pytest.mark.parametrize("url", ["doesnotexist0000", "UPPERCASE", "a" * 33, "x.m3u8"])
def test_watch_unknown_video_is_a_404_page(client, db, url):
    response = client.get(f"/watch/{url}")

    assert response.status_code == 404
    assert "No such video" in response.content.decode()
    assert response["Content-Type"].startswith("text/html")


def test_channel_page_shows_live_and_past_videos(client, live_video, recording, scheduled):
    response = client.get("/c/nostromo")

    assert response.status_code == 200
    html = response.content.decode()
    live_part, past_part = html.split("Past streams")
    assert "Deep space live" in live_part
    assert "Yesterday&#x27;s landing" in past_part
    assert "Next week" not in html


def test_channel_page_offline_names_the_next_stream(client, recording, scheduled):
    html = client.get("/c/nostromo").content.decode()

    assert "Offline." in html
    assert "Next week&#x27;s docking" in html


def test_unknown_channel_is_a_404_page(client, db):
    response = client.get("/c/nobody-here")

    assert response.status_code == 404
    assert "No such channel" in response.content.decode()


def test_no_page_shows_the_stream_key(client, channel, live_video, recording, scheduled):
    old_key = channel_stream_key(channel=channel)
    channel_stream_key_rotate(channel=channel)
    channel.refresh_from_db()
    key = channel_stream_key(channel=channel)
    secrets = [old_key, key, channel.stream_key_hash, channel.stream_key_ciphertext]
    client.force_login(channel.owner)  # even the owner's session sees no key in server HTML

    pages = [
        "/",
        "/?q=nostromo",
        f"/watch/{live_video.url}",
        f"/watch/{recording.url}",
        "/c/nostromo",
        "/dashboard/",
        "/login/",
        "/signup/",
    ]
    for page in pages:
        html = client.get(page).content.decode()
        for secret in secrets:
            assert secret not in html, page


def test_dashboard_is_a_shell_with_health_limits_from_settings(client, db, settings):
    settings.TRANSCODE_LADDER = [
        {"name": "480p", "height": 480, "video_kbps": 1400, "audio_kbps": 96, "profile": "main"},
    ]
    settings.HLS_SEGMENT_SECONDS = 2

    response = client.get("/dashboard/")

    assert response.status_code == 200
    html = response.content.decode()
    config = json.loads(
        re.search(r'id="dashboard-config" type="application/json">(.*?)</script>', html).group(1)
    )
    assert config["healthLimits"]["keyframe_interval_seconds"] == 2.0
    assert config["healthLimits"]["max_bitrate_kbps"] == 2 * (1400 + 96)
    assert config["loginUrl"] == "/login/"
    for element_id in (
        "create-channel",
        "reveal-key",
        "rotate-key",
        "ingest-url",
        "video-form",
        "avatar-form",
        "stat-bitrate",
        "stat-fps",
        "stat-keyframe",
        "stat-speed",
    ):
        assert f'id="{element_id}"' in html
    assert "CBR" in html
    assert "csrftoken" in response.cookies


@pytest.mark.parametrize(
    ("next_url", "expected"),
    [
        ("/watch/abc", "/watch/abc"),
        ("//evil.example/", "/dashboard/"),
        ("https://evil.example/", "/dashboard/"),
        ("", "/dashboard/"),
    ],
)
def test_login_and_signup_only_return_to_local_pages(client, db, next_url, expected):
    for page in ("/login/", "/signup/"):
        html = client.get(page, {"next": next_url}).content.decode()
        config = json.loads(
            re.search(r'id="page-config" type="application/json">(.*?)</script>', html).group(1)
        )
        assert config == {"next": expected}


def test_pages_refuse_unsafe_methods(client, db):
    assert client.post("/").status_code == 405
    assert client.post("/dashboard/").status_code == 405


def test_hls_js_is_served_by_the_project():
    assert finders.find("vendor/hls/hls.min.js"), "run `npm ci` (make install) to fetch hls.js"
    assert finders.find("web/watch.js")


def test_the_pages_query_through_the_shared_selectors_only():
    """One public-video policy: api.web reads through api.videos/api.channels selectors, never the ORM."""
    web = Path(__file__).resolve().parents[2] / "api" / "web"
    direct = [path.name for path in web.glob("*.py") if ".objects" in path.read_text()]
    assert direct == []
