"""Cookies behind TLS, HSTS in production and the web pages' Content-Security-Policy."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest
from django.test import Client

from api.channels.services import channel_create
from api.core.security import content_security_policy
from api.videos.models import Video, VideoStatus
from tests.api.test_settings import STRONG, load_settings
from tests.factories import TEST_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/api/auth/login"
SHOW_SECURITY = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({name: getattr(s, name) for name in ('SECURE_COOKIES', 'SESSION_COOKIE_SECURE',"
    " 'CSRF_COOKIE_SECURE', 'SECURE_HSTS_SECONDS', 'SECURE_PROXY_SSL_HEADER')}))"
)


def security_settings(module: str, tmp_path, **env: str) -> dict[str, object]:
    result = load_settings(
        module, tmp_path, SHOW_SECURITY, SECRET_KEY=STRONG, INGEST_SHARED_SECRET=STRONG, **env
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_production_makes_every_cookie_secure_and_sends_hsts(tmp_path):
    shown = security_settings("api.settings.production", tmp_path)
    assert shown == {
        "SECURE_COOKIES": True,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
    }
    plain_trial = security_settings("api.settings.production", tmp_path, SECURE_COOKIES="false")
    assert (plain_trial["SECURE_COOKIES"], plain_trial["SESSION_COOKIE_SECURE"]) == (False, False)
    assert security_settings("api.settings.local", tmp_path)["SECURE_COOKIES"] is False


def login(client: Client, **headers: str):
    user = UserFactory()
    response = client.post(
        LOGIN,
        {"username": user.username, "password": TEST_PASSWORD},
        content_type="application/json",
        **headers,
    )
    assert response.status_code == 200, response.content
    return response


def test_jwt_cookies_are_secure_with_secure_cookies_even_over_plain_http(client, settings):
    """Behind a TLS load balancer the API may see plain HTTP: the setting decides, not the scheme."""
    settings.SECURE_COOKIES = True
    response = login(client)
    for name in ("access_token", "refresh_token"):
        assert response.cookies[name]["secure"] is True, name
        assert response.cookies[name]["httponly"] is True


def test_jwt_cookies_follow_the_scheme_without_secure_cookies(client, settings):
    settings.SECURE_COOKIES = False
    assert login(client).cookies["access_token"]["secure"] == ""
    assert login(client, secure=True).cookies["access_token"]["secure"] is True


def test_hsts_is_sent_on_https_only(client, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert Client().get("/", HTTP_X_FORWARDED_PROTO="https")["Strict-Transport-Security"] == (
        "max-age=31536000"
    )
    assert "Strict-Transport-Security" not in Client().get("/", HTTP_X_FORWARDED_PROTO="http")


# --- Content-Security-Policy ------------------------------------------------------------------------


class InlineCode(HTMLParser):
    """Collects what a strict policy would block: inline scripts, style elements and attributes,
    event-handler attributes and javascript: URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.blocked: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script":
            self._in_script = "src" not in attributes and attributes.get("type") != "application/json"
        if tag == "style":
            self.blocked.append("<style>")
        for name, value in attrs:
            if name == "style" or name.startswith("on"):
                self.blocked.append(f"{tag} {name}=")
            if (value or "").strip().lower().startswith("javascript:"):
                self.blocked.append(f"{tag} {name}=javascript:")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.blocked.append(f"inline script: {data.strip()[:40]}")


@pytest.fixture
def pages(settings) -> list[str]:
    channel = channel_create(owner=UserFactory(), name="lagoon", title="Lagoon")
    Video.objects.create(channel=channel, url="live0000000000cs", title="Tides", status=VideoStatus.LIVE)
    return ["/", "/watch/live0000000000cs", "/c/lagoon", "/dashboard/", "/login/", "/signup/", "/nope"]


def test_every_web_page_has_a_strict_policy_and_no_inline_code(client, pages, settings):
    for path in pages:
        response = client.get(path)
        assert response["Content-Type"].startswith("text/html"), path
        policy = dict(
            directive.strip().split(" ", 1) for directive in response["Content-Security-Policy"].split(";")
        )
        assert policy["script-src"] == "'self'", path
        assert policy["style-src"] == "'self'", path
        assert policy["object-src"] == "'none'"
        assert "'unsafe-inline'" not in response["Content-Security-Policy"]
        assert "'unsafe-eval'" not in response["Content-Security-Policy"]
        parser = InlineCode()
        parser.feed(response.content.decode())
        assert parser.blocked == [], (path, parser.blocked)


def test_the_policy_lets_hls_js_reach_the_hls_server():
    policy = content_security_policy(hls_url="https://video.example.com/hls-live/", media_url="/media/")
    directives = {part.split()[0]: part.split()[1:] for part in policy.split("; ")}
    assert directives["connect-src"] == ["'self'", "https://video.example.com"]
    assert directives["media-src"] == ["'self'", "blob:", "https://video.example.com"]
    assert directives["worker-src"] == ["'self'", "blob:"]
    assert directives["img-src"] == ["'self'", "data:"]
    cdn = content_security_policy(hls_url="/hls-live/", media_url="https://cdn.example.com/media/")
    assert "img-src 'self' data: https://cdn.example.com;" in cdn
    assert re.search(r"connect-src 'self';", cdn)


def test_json_the_admin_and_the_api_docs_carry_no_page_policy(client):
    assert "Content-Security-Policy" not in client.get("/api/channels/")
    assert "Content-Security-Policy" not in client.get("/admin/login/")
