"""The streamer's path in headless Chromium: sign up, create the channel, reveal and rotate the key,
then publish with ffmpeg and watch the stream's health appear."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import PASSWORD

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def test_dashboard_signup_channel_key_and_live_health(stack, page):
    page.goto(f"{stack.api_url}/dashboard/")
    page.wait_for_url("**/login/?next=%2Fdashboard%2F")
    page.click("text=Create an account")

    page.fill("#signup-form [name=username]", "dashstar")
    page.fill("#signup-form [name=email]", "not-an-email")
    page.fill("#signup-form [name=password]", "123")
    page.click("#signup-form button[type=submit]")
    page.wait_for_selector("[data-error-for=email]:not([hidden])")
    page.fill("#signup-form [name=email]", "dashstar@example.com")
    page.click("#signup-form button[type=submit]")
    page.wait_for_selector("[data-error-for=password]:not([hidden])")  # Django's password validators
    assert page.is_hidden("[data-error-for=email]")

    page.fill("#signup-form [name=password]", PASSWORD)
    page.click("#signup-form button[type=submit]")
    page.wait_for_url("**/dashboard/")
    page.wait_for_selector("#create-channel:not([hidden])")

    page.fill("#channel-form [name=name]", "Bad Name!")
    page.fill("#channel-form [name=title]", "Dash live")
    page.click("#channel-form button[type=submit]")
    page.wait_for_selector("#channel-form [data-error-for=name]:not([hidden])")
    page.fill("#channel-form [name=name]", "dashstar")
    page.click("#channel-form button[type=submit]")
    page.wait_for_selector("#channel-area:not([hidden])")

    assert page.input_value("#stream-key") == ""  # hidden until asked
    assert page.get_attribute("#stream-key", "type") == "password"
    page.click("#reveal-key")
    first_key = page.input_value("#stream-key")
    assert len(first_key) >= 16
    assert page.get_attribute("#stream-key", "type") == "text"
    assert page.text_content("#ingest-url") == stack.rtmp_url

    page.on("dialog", lambda dialog: dialog.accept())
    page.click("#rotate-key")
    page.wait_for_function(
        f"() => document.getElementById('stream-key').value !== {first_key!r} && document.getElementById('stream-key').value"
    )
    key = page.input_value("#stream-key")
    assert "New key" in page.text_content("#key-status")

    publisher = stack.publish(key, log_name="dashboard")
    page.wait_for_selector("#health-live:not([hidden])", timeout=30_000)
    page.wait_for_function(
        "() => /^\\d+ kbps$/.test(document.getElementById('stat-bitrate').textContent)", timeout=30_000
    )
    page.wait_for_function(
        "() => /fps$/.test(document.getElementById('stat-fps').textContent)", timeout=30_000
    )
    assert page.text_content("#stat-keyframe").endswith(" s")
    assert page.is_visible("#video-list li[data-status=live]")
    stack.stop_publisher(publisher)
