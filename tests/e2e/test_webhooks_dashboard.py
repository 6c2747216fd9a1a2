"""The dashboard's webhooks in headless Chromium: add one with chosen events, see its secret once,
see its deliveries, delete it."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import PASSWORD

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def test_add_see_the_secret_once_and_delete_a_webhook(stack, page):
    stack.streamer("hookstar")
    page.goto(f"{stack.api_url}/login/?next=/dashboard/")
    page.fill("#login-form [name=username]", "hookstar")
    page.fill("#login-form [name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url("**/dashboard/")
    page.wait_for_selector("#webhooks-panel:not([hidden])")
    page.wait_for_selector("#webhook-list li.empty")

    page.fill("#webhook-form [name=url]", "ftp://bot.example.com/hook")
    page.click("#webhook-form button[type=submit]")
    page.wait_for_selector("#webhook-form [data-error-for=url]:not([hidden])")

    page.fill("#webhook-form [name=url]", "https://bot.example.com/hook")
    for event in ("video.ready", "video.failed", "video.deleted"):
        page.uncheck(f"#webhook-form input[value='{event}']")
    page.click("#webhook-form button[type=submit]")
    page.wait_for_selector("#webhook-secret:not([hidden])")
    secret = page.text_content("#webhook-secret-value")
    assert secret.startswith("whsec_")
    page.wait_for_selector("#webhook-list li.webhook")
    assert page.text_content("#webhook-list li.webhook .card-meta") == "stream.started, stream.ended"

    page.click("#webhook-list li.webhook >> text=Deliveries")
    page.wait_for_selector("#webhook-list .deliveries-box >> text=No deliveries yet.")

    page.reload()
    page.wait_for_selector("#webhook-list li.webhook")
    assert page.is_hidden("#webhook-secret")
    assert secret not in page.content()  # shown once, never again

    page.on("dialog", lambda dialog: dialog.accept())
    page.click("#webhook-list li.webhook >> text=Delete")
    page.wait_for_selector("#webhook-list li.empty")
