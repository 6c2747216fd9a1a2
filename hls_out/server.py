"""The HLS HTTP server: playlists and segments from the HLS root, with CORS and caching headers.

A thin asyncio Protocol around `hls_out.http` (parsing), `hls_out.paths` (the only gate to the
disk) and `hls_out.files` (contents kept in memory). Players poll playlists every couple of
seconds and fetch every segment once per viewer, so the hot path is: one lstat per path
component, a cache hit, one write. Files above the cache's per-file limit go out in chunks,
paced by the transport's flow control. Every connection has bounds: the head size, a head
timeout, a keep-alive timeout, a send timeout, and one response in flight (reading pauses
while the client is slow to take it).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import os
import socket
import time
from typing import BinaryIO, Protocol, cast

from hls_out.files import FileCache, FileEntry, file_fields, read_entry
from hls_out.http import (
    MAX_HEAD_BYTES,
    METHODS,
    HttpError,
    RequestHead,
    byte_range,
    header_lines,
    http_date,
    not_modified,
    parse_request_head,
    response_head,
)
from hls_out.metrics import Kind, Traffic, request_kind
from hls_out.paths import HlsPathError, resolve_hls_file
from hls_out.settings import HlsSettings
from hls_out.viewers import ViewerTracker, report_viewers_forever, session_key
from tidecast_common.layout import URL_PREFIX as PREFIX

logger = logging.getLogger(__name__)

CORS_FIELDS = header_lines(
    {
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Expose-Headers": "Content-Length, Content-Range, Accept-Ranges, ETag",
    }
)
PREFLIGHT_FIELDS = CORS_FIELDS + header_lines(
    {
        "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
        "Access-Control-Allow-Headers": "Range, If-None-Match, If-Modified-Since, Content-Type",
        "Access-Control-Max-Age": "86400",
        "Content-Length": "0",
    }
)
ALLOW_FIELDS = b"Allow: GET, HEAD, OPTIONS\r\n"
MAX_PLAYLIST_BYTES = 4 * 1024 * 1024
SESSION_QUERY = "session"
MAX_TOKEN_LENGTH = 64
# Bodies up to this size go out in the same write as their head.
COALESCE_BYTES = 64 * 1024
# Pipelined requests held while a response is going out, before reading pauses.
MAX_PENDING_BYTES = 2 * MAX_HEAD_BYTES
HEADER_TIMEOUT_SECONDS = 10.0
KEEPALIVE_TIMEOUT_SECONDS = 15.0
SEND_TIMEOUT_SECONDS = 30.0
SWEEP_SECONDS = 1.0
LARGE_FILE_CHUNK_BYTES = 256 * 1024
VIEWER_TOUCH_SECONDS = 1.0
ERROR_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    416: "range_not_satisfiable",
    431: "request_header_fields_too_large",
    503: "unavailable",
    505: "http_version_not_supported",
}


def start_viewer_reports(settings: HlsSettings, tracker: ViewerTracker) -> list[asyncio.Task[None]]:
    if not settings.report_secret:
        logger.info("no HLS_REPORT_SECRET: viewer counts are not reported")
        return []
    report = report_viewers_forever(
        tracker=tracker,
        api_base_url=settings.api_base_url,
        secret=settings.report_secret,
        interval=settings.viewer_report_seconds,
    )
    return [asyncio.create_task(report)]


class HttpDate:
    """The Date header's value, formatted once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._value = b""

    def now(self) -> bytes:
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._value = http_date(second).encode()
        return self._value


class ViewerSink(Protocol):
    def touch(self, *, video_url: str, session: str, now: float) -> None: ...


class HlsServer:
    """Serves `/hls-live/` from `settings.hls_root`; counts viewers into `viewers`.

    Alone, the server counts into its own ViewerTracker and reports it to the API. As one of
    several worker processes it is given a TouchBatch that its parent collects (`hls_out.workers`).
    """

    def __init__(self, settings: HlsSettings, *, viewers: ViewerSink | None = None) -> None:
        self.settings = settings
        self.base = settings.hls_root.resolve()
        self.base_prefix = f"{self.base}/"
        self.tracker = ViewerTracker(window_seconds=settings.viewer_window_seconds)
        self.viewers: ViewerSink = self.tracker if viewers is None else viewers
        self.cache = FileCache(
            max_bytes=settings.cache_megabytes * 1024 * 1024,
            max_file_bytes=settings.cache_file_megabytes * 1024 * 1024,
        )
        self.date = HttpDate()
        self.traffic = Traffic()
        self.connections: set[HlsConnection] = set()
        self.closing = False
        self.all_closed = asyncio.Event()  # set once closing and the last connection is gone
        self._server: asyncio.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the server is not listening")
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self, *, reuse_port: bool = False) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: HlsConnection(self),
            host=self.settings.host,
            port=self.settings.port,
            reuse_port=reuse_port or None,
            backlog=1024,
        )
        self._tasks.append(asyncio.create_task(self._sweep_forever()))
        if self.viewers is self.tracker:
            self._tasks.extend(start_viewer_reports(self.settings, self.tracker))

    async def stop(self, *, grace_seconds: float = 5.0) -> None:
        """Stop accepting, let responses in flight finish (up to the grace period), then close."""
        self.closing = True
        if self._server is not None:
            self._server.close()
        for connection in list(self.connections):
            connection.close_if_idle()
        if self.connections:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.all_closed.wait(), timeout=grace_seconds)
        for connection in list(self.connections):
            connection.abort()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._server is not None:
            await self._server.wait_closed()

    async def _sweep_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            now = loop.time()
            for connection in list(self.connections):
                connection.check_timeouts(now)

    def file_entry(self, path: str, info: os.stat_result, *, limit: int) -> FileEntry | None:
        entry = self.cache.get(path, info)
        if entry is None:
            entry = read_entry(path, max_bytes=limit, cors=CORS_FIELDS)
            if entry is not None:
                self.cache.put(path, entry)
        return entry


class HlsConnection(asyncio.Protocol):
    """One client connection: requests answered in order, one at a time."""

    def __init__(self, server: HlsServer) -> None:
        self.server = server
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.client_ip = ""
        self.buffer = bytearray()
        self.head_started = 0.0
        self.last_progress = 0.0
        self.write_paused = False
        self.http10 = False
        self.sending: asyncio.Task[None] | None = None  # a large file going out in chunks
        self.writable: asyncio.Event | None = None  # created for large files only
        self.last_viewer: tuple[str, str, str, str | None] = ("", "", "", None)
        self.last_viewer_touch = 0.0
        self.kind: Kind | None = None  # set while answering a playlist or segment request: counted

    # -- asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # create_server gives stream transports (uvloop's are not asyncio.Transport subclasses).
        self.transport = cast(asyncio.Transport, transport)
        if len(self.server.connections) >= self.server.settings.max_connections or self.server.closing:
            self.transport.abort()
            return
        self.server.connections.add(self)
        peer = self.transport.get_extra_info("peername")
        self.client_ip = str(peer[0]) if peer else ""
        sock = self.transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.last_progress = self.loop.time()

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        if self.writable is not None:
            self.writable.set()
        if self.server.closing and not self.server.connections:
            self.server.all_closed.set()
        if self.sending is not None:
            self.sending.cancel()

    def data_received(self, data: bytes) -> None:
        now = self.loop.time()
        if not self.buffer:
            self.head_started = now
        self.last_progress = now
        self.buffer += data
        self.process()

    def pause_writing(self) -> None:
        self.write_paused = True
        if self.writable is not None:
            self.writable.clear()
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.writable is not None:
            self.writable.set()
        self.last_progress = self.loop.time()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()
        self.process()

    # -- lifecycle

    def close_if_idle(self) -> None:
        if self.transport is None:
            return
        if not self.buffer and self.sending is None and not self.write_paused:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def check_timeouts(self, now: float) -> None:
        if self.transport is None:
            return
        if self.write_paused:
            if now - self.last_progress > SEND_TIMEOUT_SECONDS:
                self.transport.abort()
        elif self.sending is not None:
            return
        elif self.buffer:
            if now - self.head_started > HEADER_TIMEOUT_SECONDS:
                self.transport.close()
        elif now - self.last_progress > KEEPALIVE_TIMEOUT_SECONDS:
            self.transport.close()

    # -- requests

    def process(self) -> None:
        """Answer the complete requests in the buffer while the client keeps reading."""
        transport = self.transport
        while transport is not None and not transport.is_closing():
            if self.write_paused or self.sending is not None:
                if len(self.buffer) > MAX_PENDING_BYTES:  # requests pile up behind a slow reader
                    transport.pause_reading()
                return
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD_BYTES:
                    self.fail(HttpError(431, "request head too large"))
                return
            head = bytes(self.buffer[:end])
            del self.buffer[: end + 4]
            self.head_started = self.last_progress
            try:
                request = parse_request_head(head)
            except HttpError as error:
                self.fail(error)
                return
            keep_alive = request.keep_alive and not self.server.closing
            self.http10 = request.version == "HTTP/1.0"
            self.respond(request, keep_alive=keep_alive)
            self.last_progress = self.loop.time()
            if self.sending is not None:
                return  # send_large_file goes on from here (and closes if it must)
            if not keep_alive:
                transport.close()
                return
            if self.server.closing:
                return

    def fail(self, error: HttpError) -> None:
        self.send_error(error.status, error.detail, keep_alive=False)
        if self.transport is not None:
            self.transport.close()

    def respond(self, request: RequestHead, *, keep_alive: bool) -> None:
        self.kind = None
        method = request.method
        if method not in METHODS:
            self.send_error(405, "method not allowed", keep_alive=keep_alive, extra=ALLOW_FIELDS)
            return
        path = request.path
        if method == "OPTIONS":
            if path.startswith(PREFIX):
                self.send(204, PREFLIGHT_FIELDS, b"", keep_alive=keep_alive, head_only=True)
            else:
                self.send_error(404, "not found", keep_alive=keep_alive)
            return
        self.kind = request_kind(path)
        try:
            file_path, info = resolve_hls_file(self.server.base, path)
        except HlsPathError as error:
            self.send_error(error.status, str(error), keep_alive=keep_alive)
            return
        self.count_viewer(request, file_path)
        playlist = file_path.endswith(".m3u8")
        limit = MAX_PLAYLIST_BYTES if playlist else self.server.cache.max_file_bytes
        entry = self.server.file_entry(file_path, info, limit=limit)
        if entry is not None:
            self.send_entry(request, entry, keep_alive=keep_alive)
        elif not playlist and info.st_size > limit:
            self.sending = asyncio.create_task(self.send_large_file(request, file_path, keep_alive))
        else:
            self.send_error(404, "no such file", keep_alive=keep_alive)

    def send_entry(self, request: RequestHead, entry: FileEntry, *, keep_alive: bool) -> None:
        headers = request.headers
        if not_modified(headers, etag=entry.etag, mtime=entry.mtime):
            self.send(304, entry.fields, b"", keep_alive=keep_alive, head_only=True)
            return
        body: bytes | memoryview = entry.body
        status = 200
        fields = entry.fields
        size = len(entry.body)
        try:
            wanted = byte_range(headers, size=size, etag=entry.etag, last_modified=entry.last_modified)
        except HttpError:
            self.send(416, fields + b"Content-Range: bytes */%d\r\n" % size, b"", keep_alive=keep_alive)
            return
        if wanted is not None:
            status = 206
            fields += b"Content-Range: bytes %d-%d/%d\r\n" % (wanted.start, wanted.stop - 1, size)
            body = memoryview(entry.body)[wanted.start : wanted.stop]
        self.send(status, fields, body, keep_alive=keep_alive, head_only=request.method == "HEAD")

    async def send_large_file(self, request: RequestHead, path: str, keep_alive: bool) -> None:
        """Files too large for the cache (long recordings): read and sent a chunk at a time."""
        transport = self.transport
        assert transport is not None  # noqa: S101 - only called on a live connection
        try:
            with open(path, "rb") as handle:  # noqa: ASYNC230, PTH123 - a local open, like the lstat before it
                info = os.fstat(handle.fileno())
                etag = f'"{info.st_mtime_ns:x}-{info.st_size:x}"'
                last_modified = http_date(info.st_mtime)
                suffix = path[path.rfind(".") :]
                fields = file_fields(suffix=suffix, etag=etag, last_modified=last_modified, cors=CORS_FIELDS)
                if not_modified(request.headers, etag=etag, mtime=info.st_mtime):
                    self.send(304, fields, b"", keep_alive=keep_alive, head_only=True)
                    return
                try:
                    wanted = byte_range(
                        request.headers, size=info.st_size, etag=etag, last_modified=last_modified
                    )
                except HttpError:
                    fields += b"Content-Range: bytes */%d\r\n" % info.st_size
                    self.send(416, fields, b"", keep_alive=keep_alive)
                    return
                status, span = 200, range(info.st_size)
                if wanted is not None:
                    status, span = 206, wanted
                    fields += b"Content-Range: bytes %d-%d/%d\r\n" % (span.start, span.stop - 1, info.st_size)
                fields += b"Content-Length: %d\r\n" % len(span)
                head = response_head(
                    status, fields, date=self.server.date.now(), keep_alive=keep_alive, http10=self.http10
                )
                transport.write(head)
                self.server.traffic.record("segment", status, 0 if request.method == "HEAD" else len(span))
                self.kind = None
                if request.method != "HEAD":
                    await self.send_chunks(handle, span)
        except (OSError, ConnectionError) as error:  # the file vanished, or the client went away
            logger.debug("sending %s stopped: %s", path, error)
            transport.abort()
            return
        finally:
            self.sending = None
        self.last_progress = self.loop.time()
        if not keep_alive:
            transport.close()
        elif not transport.is_closing():
            if not self.write_paused:
                transport.resume_reading()
            self.process()

    async def send_chunks(self, handle: BinaryIO, span: range) -> None:
        transport = self.transport
        assert transport is not None  # noqa: S101 - only called on a live connection
        self.writable = asyncio.Event()
        self.writable.set()
        handle.seek(span.start)
        remaining = len(span)
        while remaining:
            chunk = await asyncio.to_thread(handle.read, min(LARGE_FILE_CHUNK_BYTES, remaining))
            if not chunk:
                raise OSError("file shorter than its size")
            if transport.is_closing():
                raise ConnectionResetError("client gone")
            transport.write(chunk)
            remaining -= len(chunk)
            self.last_progress = self.loop.time()
            await self.writable.wait()

    def send(
        self,
        status: int,
        fields: bytes,
        body: bytes | memoryview,
        *,
        keep_alive: bool,
        head_only: bool = False,
    ) -> None:
        transport = self.transport
        if transport is None:
            return
        if self.kind is not None:
            self.server.traffic.record(self.kind, status, 0 if head_only else len(body))
            self.kind = None
        if status not in (204, 304):
            fields += b"Content-Length: %d\r\n" % len(body)
        head = response_head(
            status, fields, date=self.server.date.now(), keep_alive=keep_alive, http10=self.http10
        )
        if head_only or not body:
            transport.write(head)
        elif len(body) <= COALESCE_BYTES:
            transport.write(head + body)
        else:
            transport.write(head)
            transport.write(body)

    def send_error(self, status: int, detail: str, *, keep_alive: bool, extra: bytes = b"") -> None:
        body = json.dumps({"detail": detail, "code": ERROR_CODES[status]}).encode()
        fields = b"Content-Type: application/json\r\n" + CORS_FIELDS + extra
        self.send(status, fields, body, keep_alive=keep_alive)

    def count_viewer(self, request: RequestHead, file_path: str) -> None:
        relative = file_path[len(self.server.base_prefix) :]
        video_url = relative.partition("/")[0].removesuffix(".m3u8")
        token = request.query_value(SESSION_QUERY)
        if token is not None and len(token) > MAX_TOKEN_LENGTH:
            token = None
        client_ip = self.viewer_ip(request)
        identity = (video_url, client_ip, request.headers.get("user-agent", ""), token)
        now = self.loop.time()
        # A player polls over one connection: one touch a second per video is as good as all of them.
        if identity == self.last_viewer and now - self.last_viewer_touch < VIEWER_TOUCH_SECONDS:
            return
        session = session_key(client_ip=client_ip, user_agent=identity[2], token=token)
        self.server.viewers.touch(video_url=video_url, session=session, now=now)
        self.last_viewer, self.last_viewer_touch = identity, now

    def viewer_ip(self, request: RequestHead) -> str:
        """The socket peer, or behind a trusted proxy the address it passes in X-Real-IP."""
        if self.server.settings.trust_proxy_headers:
            forwarded = request.headers.get("x-real-ip", "").strip()
            try:
                return str(ipaddress.ip_address(forwarded))
            except ValueError:
                pass
        return self.client_ip
