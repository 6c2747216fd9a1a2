"""The Content-Security-Policy of the web pages.

Every script and stylesheet of the pages (hls.js included) is served by the project itself and
none is inline, so the policy is strict: scripts and styles from this origin only. hls.js needs a
little more: it fetches playlists and segments from the HLS server (PUBLIC_HLS_URL, often another
port or host), plays them through a MediaSource `blob:` URL and may run its demuxer in a `blob:`
worker. Pictures may come from MEDIA_URL when that is another origin.

The admin and the API's documentation bring their own scripts and are left alone, as are
responses that are not HTML (JSON has nothing to run).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

HEADER = "Content-Security-Policy"
# Pages with their own scripts and styles, not covered by the policy.
EXEMPT_PREFIXES = ("/admin/", "/api/")


def origin_of(url: str) -> str:
    """ "https://cdn.example.com:8443/media/" -> "https://cdn.example.com:8443"; "" for a relative URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def content_security_policy(*, hls_url: str, media_url: str) -> str:
    hls = origin_of(hls_url)
    media = origin_of(media_url)
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", media],
        "media-src": ["'self'", "blob:", hls],
        "connect-src": ["'self'", hls],
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(
        " ".join([name, *dict.fromkeys(source for source in sources if source)])
        for name, sources in directives.items()
    )


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        self.policy = content_security_policy(hls_url=settings.PUBLIC_HLS_URL, media_url=settings.MEDIA_URL)

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        is_html = response.get("Content-Type", "").startswith("text/html")
        if is_html and HEADER not in response and not request.path.startswith(EXEMPT_PREFIXES):
            response[HEADER] = self.policy
        return response
