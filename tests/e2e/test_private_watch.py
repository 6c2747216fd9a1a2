"""A private live stream in headless Chromium: its owner's watch page plays through playback
tokens it renews as they expire (PLAYBACK_TOKEN_SECONDS=10 in the stack); anyone else gets the
"this video is private" page with a 404."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

import pytest

from tests.e2e.conftest import PASSWORD
from tests.e2e.test_watch import wait_playing_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def wait_for_token_playlist(stack, video_url: str, token: str, timeout: float = 40) -> None:
    """The owner's view of the video says live, then its tokenized master playlist answers."""
    deadline = time.monotonic() + timeout
    while stack.call("GET", f"/api/user/channel/videos/{video_url}", token=token)["status"] != "live":
        assert time.monotonic() < deadline, "the private stream did not go live"
        time.sleep(0.5)
    playback_url = stack.call("POST", f"/api/videos/{video_url}/playback-token", token=token)["playback_url"]
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(playback_url, timeout=5) as response:  # noqa: S310 - our own URL
                if b"#EXT-X-STREAM-INF" in response.read():
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"no master playlist behind {playback_url}")


def test_a_private_live_stream_plays_for_its_owner_across_token_expiries(stack, page, browser):
    token, key = stack.streamer("secretive")
    video = stack.call("POST", "/api/user/channel/videos", {"title": "Members only"}, token=token)
    stack.call("PATCH", f"/api/user/channel/videos/{video['url']}", {"visibility": "private"}, token=token)
    publisher = stack.publish(key, log_name="secretive")
    wait_for_token_playlist(stack, video["url"], token)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{stack.hls_url}{video['url']}.m3u8", timeout=5)  # noqa: S310
    assert refused.value.code == 404

    tokens: set[str] = set()
    page.on(
        "request",
        lambda request: (
            tokens.add(request.url.split("/hls-live/t/")[1].split("/")[0])
            if "/hls-live/t/" in request.url
            else None
        ),
    )
    signed_in = page.context.request.post(
        f"{stack.api_url}/api/auth/login", data={"username": "secretive", "password": PASSWORD}
    )
    assert signed_in.ok
    page.goto(f"{stack.api_url}/watch/{video['url']}")
    wait_playing_for(page, 22)  # more than two token lifetimes
    assert len(tokens) >= 3, tokens  # the first token and at least two renewals, all used
    assert page.is_visible("#live-badge")

    stranger = browser.new_context()
    try:
        other = stranger.new_page()
        response = other.goto(f"{stack.api_url}/watch/{video['url']}")
        assert response is not None
        assert response.status == 404
        assert "This video is private" in other.text_content("h1")
        assert other.locator("#video").count() == 0
    finally:
        stranger.close()
    stack.stop_publisher(publisher)
