"""The watch page in headless Chromium against the real stack and a real ffmpeg publisher."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import OUTPUT_DIR

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

VIDEO = "document.getElementById('video')"


def wait_playing_for(page, seconds: float, timeout_ms: int = 60_000) -> float:
    """Waits until playback has advanced `seconds` beyond where it first was; returns the end position."""
    page.wait_for_function(f"() => {VIDEO}.currentTime > 0 && !{VIDEO}.paused", timeout=timeout_ms)
    start = page.evaluate(f"{VIDEO}.currentTime")
    page.wait_for_function(f"() => {VIDEO}.currentTime >= {start + seconds}", timeout=timeout_ms)
    return page.evaluate(f"{VIDEO}.currentTime")


def test_live_stream_plays_and_the_quality_menu_switches_rendition(stack, page):
    _, key = stack.streamer("plays")
    publisher = stack.publish(key, log_name="plays")
    live = stack.wait_for_live_video("plays")
    stack.wait_for_playlist(live["url"])

    page.goto(f"{stack.api_url}/watch/{live['url']}")

    wait_playing_for(page, 5)
    assert page.is_visible("#live-badge")
    labels = page.eval_on_selector_all("#quality option", "options => options.map(o => o.textContent)")
    assert labels[0].startswith("Auto")
    assert "Source (480p)" in labels
    assert "360p" in labels
    height = page.evaluate(f"{VIDEO}.videoHeight")
    other = next(
        option
        for option in page.eval_on_selector_all(
            "#quality option",
            "options => options.map(o => ({value: o.value, height: Number(o.dataset.height)}))",
        )
        if option["value"] != "-1" and option["height"] != height
    )
    page.select_option("#quality", other["value"])
    page.wait_for_function(f"() => {VIDEO}.videoHeight === {other['height']}", timeout=30_000)
    wait_playing_for(page, 2)

    # The home page lists the live channel first, and its search box asks the catalogue API.
    home = page.context.new_page()
    home.goto(f"{stack.api_url}/")
    card = home.locator(f"#live-list a[href='/watch/{live['url']}']")
    assert "plays live" in card.text_content()
    assert "LIVE" in card.text_content()
    home.fill("#search-input", "plays")
    with home.expect_response(lambda response: "/api/videos/?search=plays" in response.url):
        home.click("#search-form button")
    home.wait_for_selector(f"#search-list a[href='/watch/{live['url']}']")
    home.screenshot(path=str(OUTPUT_DIR / "home_with_live_channel_and_search.png"), full_page=True)
    stack.stop_publisher(publisher)


def test_watch_page_recovers_when_the_stream_restarts(stack, page):
    _, key = stack.streamer("restarts")
    first = stack.publish(key, log_name="restarts-1")
    live = stack.wait_for_live_video("restarts")
    stack.wait_for_playlist(live["url"])
    page.goto(f"{stack.api_url}/watch/{live['url']}")
    wait_playing_for(page, 3)

    stack.stop_publisher(first)
    stack.wait_for_status(live["url"], "ended")
    stack.publish(key, log_name="restarts-2")
    again = stack.wait_for_live_video("restarts", other_than=live["url"])

    page.wait_for_function(f"() => location.pathname === '/watch/{again['url']}'", timeout=30_000)
    wait_playing_for(page, 3)
    assert page.is_visible("#live-badge")
    assert page.text_content("#player-message") == ""


def test_a_recording_plays_and_seeks(stack, page):
    _, key = stack.streamer("records")
    publisher = stack.publish(key, seconds=14, log_name="records")
    live = stack.wait_for_live_video("records")
    publisher.wait(timeout=60)
    stack.wait_for_status(live["url"], "ended")

    page.goto(f"{stack.api_url}/watch/{live['url']}")

    page.wait_for_function(f"() => {VIDEO}.duration > 10 && {VIDEO}.readyState >= 2", timeout=30_000)
    assert page.is_hidden("#live-badge")
    assert "ended" in page.text_content("#video-status")
    page.evaluate(f"{VIDEO}.currentTime = 9")
    page.wait_for_function(f"() => {VIDEO}.currentTime >= 9 && !{VIDEO}.seeking", timeout=20_000)
    position = wait_playing_for(page, 1)
    assert position >= 10
    page.set_viewport_size({"width": 390, "height": 844})  # the screenshot shows the phone layout
