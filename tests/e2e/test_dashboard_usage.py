"""The dashboard's storage panel: the signed-in user's usage against their quota."""

from __future__ import annotations

from tests.e2e.conftest import PASSWORD


def test_the_dashboard_shows_storage_against_the_quota(stack, page):
    page.goto(f"{stack.api_url}/dashboard/")
    page.wait_for_url("**/login/?next=%2Fdashboard%2F")
    page.click("text=Create an account")
    page.fill("#signup-form [name=username]", "usagestar")
    page.fill("#signup-form [name=email]", "usagestar@example.com")
    page.fill("#signup-form [name=password]", PASSWORD)
    page.click("#signup-form button[type=submit]")
    page.wait_for_url("**/dashboard/")
    page.wait_for_selector("#usage-panel:not([hidden])")
    assert page.text_content("#usage-storage") == "0 B of 10.0 GB"
    assert page.text_content("#usage-videos") == "0"
    assert page.text_content("#usage-streamed") == "0 min"
    assert page.is_hidden("#usage-over")
