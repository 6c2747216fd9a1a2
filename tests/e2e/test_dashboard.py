"""The streamer's path in headless Chromium: sign up, create the channel, reveal and rotate the key,
then publish with ffmpeg and watch the stream's health appear."""

from __future__ import annotations

import subprocess

import pytest

from tests.e2e.conftest import PASSWORD
from tests.netutil import free_port

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


def test_dashboard_restream_destinations_with_live_status(stack, page, tmp_path):
    stack.streamer("relayer")
    port = free_port()
    key = "relay-secret-key-0123456789"
    listener_url = f"rtmp://127.0.0.1:{port}/app/{key}"
    listener = subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-listen", "1", "-i", listener_url,
         "-c", "copy", "-f", "flv", "-y", str(tmp_path / "relay.flv")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        page.goto(f"{stack.api_url}/login/?next=/dashboard/")
        page.fill("#login-form [name=username]", "relayer")
        page.fill("#login-form [name=password]", PASSWORD)
        page.click("#login-form button[type=submit]")
        page.wait_for_selector("#channel-area:not([hidden])")
        assert page.is_visible("#destinations-empty")

        page.fill("#destination-form [name=url]", "https://example.com/not-rtmp")
        page.click("#destination-form button[type=submit]")
        page.wait_for_selector("#destination-form [data-error-for=url]:not([hidden])")

        page.fill("#destination-form [name=url]", listener_url)
        page.click("#destination-form button[type=submit]")
        page.wait_for_selector("#destination-list li[data-status=idle]")
        assert page.input_value("#destination-form [name=url]") == ""
        assert key not in page.content()  # masked from then on
        assert "/app/rela****" in page.text_content("#destination-list")

        dead = f"rtmp://127.0.0.1:{free_port()}/app/dead-secret-key-0123456789"
        page.fill("#destination-form [name=url]", dead)
        page.click("#destination-form button[type=submit]")
        page.wait_for_function("() => document.querySelectorAll('#destination-list li').length === 2")

        token = stack.call("POST", "/api/auth/login", {"username": "relayer", "password": PASSWORD})["access"]
        channel_key = stack.call("GET", "/api/user/channel", token=token)["stream_key"]
        publisher = stack.publish(channel_key, log_name="restream")
        page.wait_for_selector("#destination-list li[data-status=live]", timeout=40_000)
        page.wait_for_selector("#destination-list li[data-status=failed] .destination-error", timeout=40_000)
        assert "dead-secret" not in page.content()

        page.on("dialog", lambda dialog: dialog.accept())
        failed = "#destination-list li[data-status=failed]"
        page.click(f"{failed} [data-action=toggle]")
        page.wait_for_selector("#destination-list li[data-status=off]")
        page.click("#destination-list li[data-status=off] [data-action=remove]")
        page.wait_for_function("() => document.querySelectorAll('#destination-list li').length === 1")
        assert page.is_visible("#destination-list li[data-status=live]")
        stack.stop_publisher(publisher)
        assert listener.wait(30) == 0
        assert (tmp_path / "relay.flv").stat().st_size > 10_000
    finally:
        if listener.poll() is None:
            listener.kill()
        listener.wait(10)
