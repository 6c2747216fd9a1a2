"""The HLS aiohttp application: one handler that serves a file, one middleware for the headers.

The handler resolves the raw request path through `hls_out.paths` (the only gate to the disk)
and answers a segment with `web.FileResponse`, which does ranges, validators, conditional
requests and sendfile; a playlist, polled by every player, comes from memory
(`hls_out.playlists`) with the same validators. The middleware gives every answer its CORS fields and a file its content type and caching
policy; a file is sent within a time limit, so a client that stops reading cannot hold the
connection; every response is counted for Prometheus as it starts. The handler is a coroutine, so a
low-latency playlist request can wait on a notification there without holding anything else.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

from aiohttp import hdrs, web
from aiohttp.abc import AbstractStreamWriter

from hls_out.metrics import Traffic, request_kind
from hls_out.paths import HlsPathError, resolve_hls_file
from hls_out.playlists import PlaylistCache, read_playlist
from hls_out.viewers import session_key
from tidecast_common.layout import PLAYLIST_SUFFIX, VIDEO_URL_LENGTH
from tidecast_common.layout import URL_PREFIX as PREFIX

CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".m4s": "video/mp4",
    ".mp4": "video/mp4",
}
# Playlists change while live; segments never change once renamed into place (temp_file flag).
PLAYLIST_CACHE = "no-cache"
SEGMENT_CACHE = "public, max-age=31536000, immutable"
CORS_FIELDS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Content-Length, Content-Range, Accept-Ranges, ETag",
}
# Content type, caching policy and CORS of each kind of file, by suffix.
FILE_FIELDS = {
    suffix: {
        **CORS_FIELDS,
        "Content-Type": content_type,
        "Cache-Control": PLAYLIST_CACHE if suffix == PLAYLIST_SUFFIX else SEGMENT_CACHE,
    }
    for suffix, content_type in CONTENT_TYPES.items()
}
PREFLIGHT_FIELDS = {
    **CORS_FIELDS,
    "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
    "Access-Control-Allow-Headers": "Range, If-None-Match, If-Modified-Since, Content-Type",
    "Access-Control-Max-Age": "86400",
}
ALLOWED_METHODS = "GET, HEAD, OPTIONS"
ERROR_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    431: "request_header_fields_too_large",
    500: "internal_error",
    505: "http_version_not_supported",
}
# Where the loop has no sendfile (uvloop), aiohttp reads the file in chunks of this size.
FALLBACK_CHUNK_BYTES = 256 * 1024
SESSION_QUERY = "session"
MAX_TOKEN_LENGTH = 64

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ViewerSink(Protocol):
    def touch(self, *, video_url: str, session: str, client: str, now: float) -> None: ...


def error_response(status: int, detail: str, *, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON error `{"detail", "code"}` that players on another origin can read."""
    body = json.dumps({"detail": detail, "code": ERROR_CODES[status]}).encode()
    return web.Response(
        status=status, body=body, content_type="application/json", headers={**CORS_FIELDS, **(headers or {})}
    )


def single_range_request(request: web.BaseRequest) -> web.BaseRequest:
    """The request as FileResponse should see it: a Range it cannot take as one range is dropped.

    Several ranges, or a syntax aiohttp does not parse, are answered with the whole file, as
    RFC 9110 allows (aiohttp alone would answer 416).
    """
    if hdrs.RANGE not in request.headers:
        return request
    try:
        request.http_range  # noqa: B018 - parsed for its ValueError only
    except ValueError:
        headers = request.headers.copy()
        del headers[hdrs.RANGE]
        return request.clone(headers=headers)
    return request


def refuse_unusual(request: web.Request) -> web.Response | None:
    """Players send HTTP/1.x GET and HEAD requests without a body; anything else is refused."""
    if request.version[0] != 1:
        return error_response(505, "only HTTP/1.0 and HTTP/1.1")
    if request.method not in (hdrs.METH_GET, hdrs.METH_HEAD):
        return error_response(405, "method not allowed", headers={"Allow": ALLOWED_METHODS})
    if request.body_exists:
        return error_response(400, "requests with a body are not accepted")
    return None


def client_address(request: web.Request, *, trust_proxy_headers: bool) -> str:
    """The socket peer, or behind a trusted proxy the address it passes in X-Real-IP."""
    if trust_proxy_headers:
        forwarded = request.headers.get("X-Real-IP", "").strip()
        try:
            return str(ipaddress.ip_address(forwarded))
        except ValueError:
            pass
    return request.remote or ""


def build_app(
    *,
    hls_root: Path,
    viewers: ViewerSink,
    traffic: Traffic,
    playlists: PlaylistCache,
    send_timeout: float,
    trust_proxy_headers: bool = False,
) -> web.Application:
    """Every path goes to one handler, which refuses what `resolve_hls_file` does not admit."""
    base = hls_root.resolve()
    loop_time = asyncio.get_running_loop().time
    recent = RecentViewers()

    async def serve_file(request: web.Request) -> web.StreamResponse:
        path = request.raw_path.partition("?")[0]
        try:
            file_path, info = resolve_hls_file(base, path)
        except HlsPathError as error:
            return error_response(error.status, str(error))
        count_viewer(request, path)
        if file_path.endswith(PLAYLIST_SUFFIX):
            return await serve_playlist(request, file_path, info)
        return HlsFileResponse(file_path, send_timeout=send_timeout, traffic=traffic)

    async def serve_playlist(request: web.Request, file_path: str, info: os.stat_result) -> web.Response:
        playlist = playlists.get(file_path, info)
        if playlist is None:
            playlist = await asyncio.to_thread(read_playlist, file_path)
            if playlist is None:
                return error_response(404, "no such file")
            playlists.put(file_path, playlist)
        if_none_match = request.if_none_match
        if playlist.not_modified(
            if_none_match=None if if_none_match is None else tuple(tag.value for tag in if_none_match),
            if_modified_since=request.if_modified_since,
        ):
            return PlaylistResponse(status=304, headers=playlist.validators)
        return PlaylistResponse(body=playlist.body, headers=playlist.validators)

    def count_viewer(request: web.Request, path: str) -> None:
        token = request.query.get(SESSION_QUERY) if request.query_string else None
        if token is not None and len(token) > MAX_TOKEN_LENGTH:
            token = None
        client = client_address(request, trust_proxy_headers=trust_proxy_headers)
        user_agent = request.headers.get(hdrs.USER_AGENT, "")
        video_url = path[len(PREFIX) : len(PREFIX) + VIDEO_URL_LENGTH]
        now = loop_time()
        if recent.seen_this_second((video_url, client, user_agent, token), now=now):
            return
        session = session_key(client_ip=client, user_agent=user_agent, token=token)
        viewers.touch(video_url=video_url, session=session, client=client, now=now)

    @web.middleware
    async def hls_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
        """CORS and preflight, refusals of what no player sends, content types and caching."""
        if request.method == hdrs.METH_OPTIONS:
            if request.raw_path.startswith(PREFIX):
                return web.Response(status=204, headers=PREFLIGHT_FIELDS)
            return error_response(404, "not found")
        refusal = refuse_unusual(request)
        if refusal is not None:
            refusal.force_close()  # nothing sent behind it is answered
            return refusal
        response = await handler(request)
        if not request.keep_alive:  # aiohttp says so itself to HTTP/1.1 clients only
            response.headers[hdrs.CONNECTION] = "close"
        path = request.raw_path.partition("?")[0]
        if isinstance(response, (HlsFileResponse, PlaylistResponse)):
            response.headers.update(FILE_FIELDS[path[path.rfind(".") :]])
        if not isinstance(response, HlsFileResponse):  # that one counts itself once its status is known
            kind = request_kind(path)
            if kind is not None:
                traffic.record(kind, response.status, body_bytes(request, response))
        return response

    app = web.Application(middlewares=[hls_headers])
    app.router.add_route("*", "/{path:.*}", serve_file)
    return app


def body_bytes(request: web.BaseRequest, response: web.StreamResponse) -> int:
    return 0 if request.method == hdrs.METH_HEAD else response.content_length or 0


class RecentViewers:
    """Who was counted this second: a player polls over one connection, and one touch a second
    per video is as good as all of them (the window is tens of seconds). Bounded; emptied each second.
    """

    def __init__(self, *, max_entries: int = 10_000) -> None:
        self._max = max_entries
        self._second = -1
        self._seen: set[tuple[str, str, str, str | None]] = set()

    def seen_this_second(self, identity: tuple[str, str, str, str | None], *, now: float) -> bool:
        second = int(now)
        if second != self._second or len(self._seen) >= self._max:
            self._second = second
            self._seen.clear()
        if identity in self._seen:
            return True
        self._seen.add(identity)
        return False


class PlaylistResponse(web.Response):
    """A playlist from memory (`hls_out.playlists`): whole, or 304 Not Modified."""


class HlsFileResponse(web.FileResponse):
    """aiohttp's file response, sent within `send_timeout` seconds, with one range at most."""

    def __init__(self, path: str, *, send_timeout: float, traffic: Traffic) -> None:
        super().__init__(path, chunk_size=FALLBACK_CHUNK_BYTES)
        self.send_timeout = send_timeout
        self.traffic = traffic

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        try:
            async with asyncio.timeout(self.send_timeout):
                writer = await super().prepare(single_range_request(request))
        except TimeoutError:
            # A client that stopped reading: its connection goes, nothing else waits on it.
            if request.transport is not None:
                request.transport.abort()
            raise ConnectionResetError("the client took too long to read the response") from None
        self.traffic.record("segment", self.status, body_bytes(request, self))
        return writer
