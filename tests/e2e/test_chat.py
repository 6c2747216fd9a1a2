"""The watch page's chat in headless Chromium against the real stack: a message sent in one
viewer's page appears in another's within 3 s, a script in it stays text, the owner deletes
messages (gone from the others' pages within a few seconds) and turns comments off."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import PASSWORD

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"> **bold** [x](javascript:alert(1))'
# Records when a message with `text` first shows in the list (Date.now(), comparable across pages).
WATCH_FOR = """text => {
  const list = document.getElementById("comment-list");
  const seen = () => [...list.querySelectorAll(".comment-text")].some(node => node.textContent === text);
  new MutationObserver((_, observer) => {
    if (seen()) { observer.disconnect(); window.__arrival = Date.now(); }
  }).observe(list, {childList: true, subtree: true});
}"""


def sign_in(context, stack, username: str) -> None:
    answer = context.request.post(
        f"{stack.api_url}/api/auth/login", data={"username": username, "password": PASSWORD}
    )
    assert answer.ok


def test_a_chat_message_reaches_another_viewer_within_3_s_and_stays_text(stack, page, browser):
    _, key = stack.streamer("chatty")
    stack.streamer("talker")
    publisher = stack.publish(key, log_name="chatty")
    live = stack.wait_for_live_video("chatty")
    watch = f"{stack.api_url}/watch/{live['url']}"

    sign_in(page.context, stack, "talker")
    page.goto(watch)
    page.wait_for_selector("#comment-form:not([hidden])")
    assert page.text_content("#comments h2") == "Chat"

    other = browser.new_context()
    owner = browser.new_context()
    try:
        reader = other.new_page()
        reader.goto(watch)
        assert reader.is_hidden("#comment-form")
        assert reader.is_visible("#comment-signin")
        reader.wait_for_timeout(500)  # its first poll has been answered
        reader.evaluate(WATCH_FOR, HOSTILE)

        page.fill("#comment-text", HOSTILE)
        sent = page.evaluate("Date.now()")
        page.click("#comment-form button")
        reader.wait_for_function("() => window.__arrival", timeout=10_000)
        shown = reader.evaluate("window.__arrival")
        assert shown - sent <= 3000, f"the message took {shown - sent} ms"

        # Text, not HTML: nothing ran, nothing was parsed into elements, no link was made.
        for viewer in (page, reader):
            assert viewer.evaluate("window.__pwned") is None
            text = viewer.locator(".comment-text").last
            assert text.text_content() == HOSTILE
            assert text.evaluate("node => node.children.length") == 0
            assert viewer.locator("#comment-list a, #comment-list img, #comment-list script").count() == 0

        # The owner deletes any message and turns comments off; the talker can post no more.
        sign_in(owner, stack, "chatty")
        moderator = owner.new_page()
        moderator.goto(watch)
        moderator.wait_for_selector("#comments-toggle:not([hidden])")
        message = moderator.locator(".comment", has_text="**bold**")
        with moderator.expect_response(lambda response: response.request.method == "DELETE"):
            message.locator(".comment-delete").click()
        # The page updates after it has read the response: wait for that, not for the response alone.
        moderator.wait_for_selector('.comment:has-text("**bold**")', state="detached", timeout=5000)
        assert message.count() == 0
        # It leaves the other viewers' chats too, at their next polls (not at a full re-read now
        # and then): the poll answers count the deletions.
        deleted = moderator.evaluate("Date.now()")
        reader.wait_for_selector('.comment:has-text("**bold**")', state="detached", timeout=10_000)
        gone = reader.evaluate("Date.now()")
        assert gone - deleted <= 6000, f"the deletion took {gone - deleted} ms to reach another viewer"
        assert stack.call("GET", f"/api/videos/{live['url']}/comments") == []
        with moderator.expect_response(lambda response: response.request.method == "PATCH"):
            moderator.uncheck("#comments-enabled")
        moderator.wait_for_selector("#comments-off:not([hidden])", timeout=5000)
        assert moderator.is_visible("#comments-off")
        page.fill("#comment-text", "still there?")
        page.click("#comment-form button")
        page.wait_for_selector("#comments-off:not([hidden])")
        assert "turned off" in page.text_content("#comment-error")
        assert stack.call("GET", f"/api/videos/{live['url']}/comments") == []
    finally:
        other.close()
        owner.close()
        stack.stop_publisher(publisher)
