"""The HLS HTTP server: playlists and segments from the HLS root, with CORS and caching headers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from email.utils import formatdate
from pathlib import Path

from aiohttp import web

from hls_out.paths import HlsPathError, resolve_hls_path
from hls_out.settings import HlsSettings
from hls_out.viewers import ViewerTracker, report_viewers_forever, session_key

logger = logging.getLogger(__name__)

CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".m4s": "video/mp4",
    ".mp4": "video/mp4",
}
# Playlists change while live; segments never change once renamed into place (temp_file flag).
PLAYLIST_CACHE = "no-cache"
SEGMENT_CACHE = "public, max-age=31536000, immutable"
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Content-Length, Content-Range, Accept-Ranges, ETag",
}
PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
    "Access-Control-Allow-Headers": "Range, If-None-Match, If-Modified-Since, Content-Type",
    "Access-Control-Max-Age": "86400",
}
MAX_PLAYLIST_BYTES = 4 * 1024 * 1024
SESSION_QUERY = "session"
MAX_TOKEN_LENGTH = 64

TRACKER_KEY = web.AppKey("viewer_tracker", ViewerTracker)
SETTINGS_KEY = web.AppKey("settings", HlsSettings)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as error:
        response = error
    response.headers.update(CORS_HEADERS)
    return response


def _error(status: int, detail: str) -> web.Response:
    code = "bad_request" if status == 400 else "not_found"
    return web.json_response({"detail": detail, "code": code}, status=status)


async def serve_hls(request: web.Request) -> web.StreamResponse:
    root = request.app[SETTINGS_KEY].hls_root
    # The raw path, undecoded and without the query: the resolver refuses any encoding itself.
    raw_path = request.raw_path.split("?", 1)[0]
    # Resolving is a few stat calls on a local disk: cheaper inline than a hop to a thread.
    try:
        path = resolve_hls_path(root, raw_path)
    except HlsPathError as error:
        return _error(error.status, str(error))
    _count_viewer(request, path, root)
    if path.suffix == ".m3u8":
        return _playlist_response(request, path)
    headers = {"Content-Type": CONTENT_TYPES[path.suffix], "Cache-Control": SEGMENT_CACHE}
    # sendfile, Range, ETag and conditional requests for segments.
    return web.FileResponse(path, headers=headers)


def _playlist_response(request: web.Request, path: Path) -> web.Response:
    """Playlists are a few kB and re-read on every poll: read inline, no executor round trip."""
    try:
        with path.open("rb") as handle:
            stat = os.fstat(handle.fileno())
            if stat.st_size > MAX_PLAYLIST_BYTES:
                return _error(404, "no such file")
            body = handle.read(MAX_PLAYLIST_BYTES)
    except OSError:
        return _error(404, "no such file")
    etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
    headers = {
        "Content-Type": CONTENT_TYPES[".m3u8"],
        "Cache-Control": PLAYLIST_CACHE,
        "ETag": etag,
        "Last-Modified": formatdate(stat.st_mtime, usegmt=True),
    }
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, headers=headers)


async def preflight(request: web.Request) -> web.Response:
    return web.Response(status=204, headers=PREFLIGHT_HEADERS)


async def not_found(request: web.Request) -> web.Response:
    return _error(404, "not found")


def _count_viewer(request: web.Request, path: Path, root: Path) -> None:
    relative = path.relative_to(root.resolve())
    video_url = relative.parts[0].removesuffix(".m3u8")
    token = request.query.get(SESSION_QUERY)
    if token is not None and len(token) > MAX_TOKEN_LENGTH:
        token = None
    session = session_key(
        client_ip=request.remote or "", user_agent=request.headers.get("User-Agent", ""), token=token
    )
    request.app[TRACKER_KEY].touch(
        video_url=video_url, session=session, now=asyncio.get_running_loop().time()
    )


async def _viewer_reporter(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS_KEY]
    task: asyncio.Task[None] | None = None
    if settings.ingest_shared_secret:
        task = asyncio.create_task(
            report_viewers_forever(
                tracker=app[TRACKER_KEY],
                api_base_url=settings.api_base_url,
                secret=settings.ingest_shared_secret,
                interval=settings.viewer_report_seconds,
            )
        )
    else:
        logger.info("no INGEST_SHARED_SECRET: viewer counts are not reported")
    yield
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def create_app(settings: HlsSettings) -> web.Application:
    app = web.Application(middlewares=[cors_middleware])
    app[SETTINGS_KEY] = settings
    app[TRACKER_KEY] = ViewerTracker(window_seconds=settings.viewer_window_seconds)
    app.router.add_get("/hls-live/{tail:.*}", serve_hls)
    app.router.add_route("OPTIONS", "/hls-live/{tail:.*}", preflight)
    app.router.add_route("*", "/{tail:.*}", not_found)
    app.cleanup_ctx.append(_viewer_reporter)
    return app
