"""Server-rendered pages. Public pages read through api.web.selectors; the dashboard, login and
signup pages are shells whose small scripts call the JSON API with the JWT cookies."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_safe

from api.comments.models import COMMENT_MAX_LENGTH
from api.core.authentication import user_from_access_cookie
from api.web.health import stream_health_limits
from api.web.selectors import (
    channel_get_public,
    video_get_public,
    video_is_private,
    video_list_live,
    video_list_recordings,
    video_search,
)
from api.webhooks.models import WebhookEvent

SEARCH_MAX_LENGTH = 100


@require_safe
@ensure_csrf_cookie
def home(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:SEARCH_MAX_LENGTH]
    context = {
        "query": query,
        "results": video_search(query=query) if query else None,
        "live_videos": video_list_live(),
        "recordings": video_list_recordings(),
    }
    return render(request, "web/home.html", context)


@require_safe
@ensure_csrf_cookie
def watch(request: HttpRequest, url: str) -> HttpResponse:
    viewer = user_from_access_cookie(request)
    video = video_get_public(url=url, user=viewer)
    if video is None:
        if video_is_private(url=url):
            return render(request, "web/private.html", status=404)
        return render(request, "web/not_found.html", {"what": "video"}, status=404)
    player = {
        "url": video.url,
        "status": video.status,
        "playbackUrl": video.playback_url,
        # A private video plays through playback tokens the page asks the API for.
        "private": video.is_private,
        "tokenApi": f"/api/videos/{video.url}/playback-token",
        "channel": video.channel_name,
        "videoApi": f"/api/videos/{video.url}",
        "channelApi": f"/api/channels/{video.channel_name}",
    }
    comments = {
        "api": f"/api/videos/{video.url}/comments",
        "enabled": video.comments_enabled,
        "live": video.is_live,
        "pollMs": int(settings.COMMENTS_POLL_SECONDS * 1000),
        "maxLength": COMMENT_MAX_LENGTH,
        # Who the page was rendered for: what the page offers (the API decides what is allowed).
        "viewer": viewer.username if viewer is not None else None,
        "isOwner": viewer is not None and viewer.pk == video.owner_id,
        "ownerApi": f"/api/user/channel/videos/{video.url}",
        "loginUrl": f"{reverse('web:login')}?next=/watch/{video.url}",
    }
    context = {"video": video, "player": player, "comments": comments}
    return render(request, "web/watch.html", context)


@require_safe
@ensure_csrf_cookie
def channel(request: HttpRequest, name: str) -> HttpResponse:
    page = channel_get_public(name=name)
    if page is None:
        return render(request, "web/not_found.html", {"what": "channel"}, status=404)
    return render(request, "web/channel.html", {"channel": page})


@require_safe
@ensure_csrf_cookie
def dashboard(request: HttpRequest) -> HttpResponse:
    limits = stream_health_limits(
        ladder=settings.TRANSCODE_LADDER, segment_seconds=settings.HLS_SEGMENT_SECONDS
    )
    config = {
        "loginUrl": reverse("web:login"),
        "healthLimits": limits.as_dict(),
        "ladder": [rung["name"] for rung in settings.TRANSCODE_LADDER],
        "uploadChunkBytes": settings.UPLOAD_BROWSER_CHUNK_BYTES,
    }
    return render(
        request,
        "web/dashboard.html",
        {"config": config, "limits": limits, "webhook_events": [event.value for event in WebhookEvent]},
    )


def _safe_next(request: HttpRequest) -> str:
    target = request.GET.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts=None) and target.startswith("/"):
        return target
    return reverse("web:dashboard")


@require_safe
@ensure_csrf_cookie
def login(request: HttpRequest) -> HttpResponse:
    return render(request, "web/login.html", {"config": {"next": _safe_next(request)}})


@require_safe
@ensure_csrf_cookie
def signup(request: HttpRequest) -> HttpResponse:
    return render(request, "web/signup.html", {"config": {"next": _safe_next(request)}})
