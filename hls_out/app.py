"""The HLS request handler: one function that serves a file, one middleware for the headers.

It runs on aiohttp's low-level `web.Server` (no application, router or middleware chain: every
path goes to the same handler, and those cost a third of a playlist request). The handler
resolves the raw request path through `hls_out.paths` (the only gate to the disk). Playlists,
polled by every player, and small segments, fetched by every viewer, come from memory
(`hls_out.file_cache`) with web.FileResponse's validators; a larger segment, or a request with a
Range or a precondition, is answered by `web.FileResponse`, which does ranges, validators,
conditional requests and sendfile. The middleware, a plain function composed around the handler,
gives every answer its CORS fields and a file its content type and caching policy; a file is sent
within a time limit, so a client that stops reading cannot hold the connection; every response
is counted for Prometheus as it starts. The handler is a coroutine, so a low-latency playlist
request can wait on a notification there without holding anything else.

Once a file is in memory, a plain request for it is answered before it gets here, by
`hls_out.fast_path` with the same fields; every other request comes here.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar, cast

from aiohttp import hdrs, web
from aiohttp.abc import AbstractStreamWriter

from hls_out.egress import EgressCounter
from hls_out.file_cache import FileCache, read_cached_file
from hls_out.metrics import Traffic, request_kind
from hls_out.paths import HlsPathError, resolve_hls_file
from hls_out.store import StoreFallback
from hls_out.tokens import GateAnswer, PlaybackGate
from hls_out.viewers import ViewerCounter
from tidecast_common.layout import PLAYLIST_SUFFIX, parse_part_name
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
        **(
            {"Cache-Control": PLAYLIST_CACHE}
            if suffix == PLAYLIST_SUFFIX
            else {"Cache-Control": SEGMENT_CACHE, "Accept-Ranges": "bytes"}
        ),
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
# A segment request with any of these is answered from the file by web.FileResponse (206, 412, ...).
FILE_ONLY_FIELDS = (hdrs.RANGE, hdrs.IF_RANGE, hdrs.IF_MATCH, hdrs.IF_UNMODIFIED_SINCE)
ERROR_CODES = {
    400: "bad_request",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    431: "request_header_fields_too_large",
    500: "internal_error",
    503: "unavailable",
    505: "http_version_not_supported",
}
# Where the loop has no sendfile (uvloop), aiohttp reads the file in chunks of this size.
FALLBACK_CHUNK_BYTES = 256 * 1024
SESSION_QUERY = "session"
MAX_TOKEN_LENGTH = 64

Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
T = TypeVar("T")


def error_response(status: int, detail: str, *, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON error `{"detail", "code"}` that players on another origin can read."""
    body = json.dumps({"detail": detail, "code": ERROR_CODES[status]}).encode()
    return web.Response(
        status=status, body=body, content_type="application/json", headers={**CORS_FIELDS, **(headers or {})}
    )


def gate_response(answer: GateAnswer) -> web.Response:
    """The playback gate's refusal, or its answer to nginx's auth_request (204/403, cacheable)."""
    cache = (
        {"X-Accel-Expires": str(answer.cache_seconds)} if answer.cache_seconds or answer.status == 204 else {}
    )
    if answer.status == 204:
        return web.Response(status=204, headers={**CORS_FIELDS, **cache})
    return error_response(answer.status, answer.detail, headers=cache)


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


def refuse_unusual(request: web.BaseRequest) -> web.Response | None:
    """Players send HTTP/1.x GET and HEAD requests without a body; anything else is refused."""
    if request.version[0] != 1:
        return error_response(505, "only HTTP/1.0 and HTTP/1.1")
    if request.method not in (hdrs.METH_GET, hdrs.METH_HEAD):
        return error_response(405, "method not allowed", headers={"Allow": ALLOWED_METHODS})
    if request.body_exists:
        return error_response(400, "requests with a body are not accepted")
    return None


def build_handler(
    *,
    hls_root: Path,
    viewers: ViewerCounter,
    traffic: Traffic,
    playlists: FileCache,
    segments: FileCache,
    send_timeout: float,
    low_latency: Callable[[web.BaseRequest, str], Awaitable[web.StreamResponse]] | None = None,
    store: StoreFallback | None = None,
    egress: EgressCounter | None = None,
    gate: PlaybackGate | None = None,
) -> Handler:
    """The request handler for aiohttp's `web.Server`: `hls_headers` around `serve_file`.

    Every path comes to it; it refuses what `resolve_hls_file` does not admit.
    """
    base = hls_root.resolve()

    async def serve_file(request: web.BaseRequest) -> web.StreamResponse:
        path = request.raw_path.partition("?")[0]
        tokenized = False
        if gate is not None:  # playback tokens and private videos (hls_out.tokens)
            admission = gate.admit(path)
            if admission.status:
                return gate_response(admission)
            tokenized = admission.path != path  # a valid token path, now its plain path
            path = admission.path
        try:
            file_path, info = resolve_hls_file(base, path)
        except HlsPathError as error:
            if error.status != 404:
                return error_response(error.status, str(error))
            if low_latency is not None and parse_part_name(path.rpartition("/")[2]) is not None:
                # A preload-hinted part (parts are never in the object store), or 404 there.
                return count_sent_by(request, path, await low_latency(request, path))
            stored = await store.get(path, tokenized=tokenized) if store is not None else None
            if stored is None:
                return error_response(error.status, str(error))
            count_viewer(request, path)  # no longer on this disk: from the object store (hls_out.store)
            count_sent(request, path, len(stored.body))
            return MemoryFileResponse(
                body=stored.body, headers={"ETag": stored.etag}, send_timeout=send_timeout
            )
        count_viewer(request, path)
        if low_latency is not None and "_HLS_" in request.query_string:
            # Blocking reload, delta update (hls_out.blocking).
            return count_sent_by(request, path, await low_latency(request, path))
        if file_path.endswith(PLAYLIST_SUFFIX):
            answer = await serve_from_memory(request, playlists, file_path, info, send_timeout=send_timeout)
            count_sent(request, path, answer.content_length or 0)
            return answer
        if segments.admits(info) and answerable_from_memory(request):
            answer = await serve_from_memory(request, segments, file_path, info, send_timeout=send_timeout)
            count_sent(request, path, answer.content_length or 0)
            return answer
        count_sent(request, path, info.st_size)  # a range request is counted whole
        return HlsFileResponse(file_path, send_timeout=send_timeout, traffic=traffic)

    def count_sent(request: web.BaseRequest, path: str, sent: int) -> None:
        if egress is not None and request.method == hdrs.METH_GET:
            egress.add(path, sent)

    def count_sent_by(request: web.BaseRequest, path: str, answer: web.StreamResponse) -> web.StreamResponse:
        if answer.status < 300:
            count_sent(request, path, answer.content_length or 0)
        return answer

    def count_viewer(request: web.BaseRequest, path: str) -> None:
        token = request.query.get(SESSION_QUERY) if request.query_string else None
        if token is not None and len(token) > MAX_TOKEN_LENGTH:
            token = None
        viewers.count(path, headers=request.headers, remote=request.remote or "", token=token)

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        return await hls_headers(request, serve_file, traffic=traffic)

    return handle


async def hls_headers(request: web.BaseRequest, handler: Handler, *, traffic: Traffic) -> web.StreamResponse:
    """The middleware: CORS and preflight, refusals of what no player sends, content types,
    caching, and the count of every response."""
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
    if isinstance(response, (HlsFileResponse, MemoryFileResponse)):
        response.headers.update(FILE_FIELDS[path[path.rfind(".") :]])
    if not isinstance(response, HlsFileResponse):  # that one counts itself once its status is known
        kind = request_kind(path)
        if kind is not None:
            traffic.record(kind, response.status, body_bytes(request, response))
    return response


def answerable_from_memory(request: web.BaseRequest) -> bool:
    """A whole segment, or 304: what a cached copy answers; ranges and preconditions go to the file."""
    headers = request.headers
    return not any(name in headers for name in FILE_ONLY_FIELDS)


async def serve_from_memory(
    request: web.BaseRequest, cache: FileCache, file_path: str, info: os.stat_result, *, send_timeout: float
) -> web.Response:
    """The file from `cache`, read into it (in a thread) when it is not there yet; whole or 304."""
    cached = cache.get(file_path, info)
    if cached is None:
        cached = await asyncio.to_thread(read_cached_file, file_path, max_bytes=cache.max_file_bytes)
        if cached is None:
            return error_response(404, "no such file")
        cache.put(file_path, cached)
    if_none_match = request.if_none_match
    if cached.not_modified(
        if_none_match=None if if_none_match is None else tuple(tag.value for tag in if_none_match),
        if_modified_since=request.if_modified_since,
    ):
        return MemoryFileResponse(status=304, headers=cached.validators, send_timeout=send_timeout)
    return MemoryFileResponse(body=cached.body, headers=cached.validators, send_timeout=send_timeout)


def body_bytes(request: web.BaseRequest, response: web.StreamResponse) -> int:
    return 0 if request.method == hdrs.METH_HEAD else response.content_length or 0


async def within_send_timeout(request: web.BaseRequest, sending: Coroutine[Any, Any, T], seconds: float) -> T:
    """`sending`, or, past `seconds`, the connection aborted: a client that stopped
    reading goes, and nothing else waits on it."""
    try:
        async with asyncio.timeout(seconds):
            return await sending
    except TimeoutError:
        if request.transport is not None:
            request.transport.abort()
        raise ConnectionResetError("the client took too long to read the response") from None


class MemoryFileResponse(web.Response):
    """A file from memory (`hls_out.file_cache`): whole, or 304 Not Modified, within `send_timeout`."""

    def __init__(self, *, send_timeout: float, **options: Any) -> None:
        super().__init__(**options)
        self.send_timeout = send_timeout

    async def write_eof(self, data: bytes = b"") -> None:
        # The body is written and drained here, after prepare() sent the head. A body that fits
        # under the transport's high-water mark never pauses it, so the drain cannot wait, and
        # the timer (a tenth of a playlist request's cost) is only set for larger ones.
        request = self._req
        transport = None if request is None else request.transport
        if request is None or transport is None or not self._may_wait(transport):
            await super().write_eof(data)
            return
        await within_send_timeout(request, super().write_eof(data), self.send_timeout)

    def _may_wait(self, transport: asyncio.BaseTransport) -> bool:
        # create_server gives stream transports (an isinstance check on the ABC costs more than
        # the rest of this method).
        writing = cast(asyncio.WriteTransport, transport)
        _low, high = writing.get_write_buffer_limits()
        return writing.get_write_buffer_size() + (self.content_length or 0) > high


class HlsFileResponse(web.FileResponse):
    """aiohttp's file response, sent within `send_timeout` seconds, with one range at most."""

    def __init__(self, path: str, *, send_timeout: float, traffic: Traffic) -> None:
        super().__init__(path, chunk_size=FALLBACK_CHUNK_BYTES)
        self.send_timeout = send_timeout
        self.traffic = traffic

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        writer = await within_send_timeout(
            request, super().prepare(single_range_request(request)), self.send_timeout
        )
        self.traffic.record("segment", self.status, body_bytes(request, self))
        return writer
