"""The HLS server: the handler of `hls_out.app` on aiohttp's `web.Server`, a listening socket, and
its lifecycle.

aiohttp's own connection protocol is used with two additions (`HlsConnection`): a bound on open
connections, and the project's JSON errors for requests aiohttp cannot parse (431 for a head
line too long, 505 for an unknown HTTP version, 400 otherwise), where aiohttp would answer a
plain-text 400. Idle keep-alive connections close after KEEPALIVE_TIMEOUT_SECONDS; aiohttp
starts that clock when a connection opens, so it also bounds the wait for the first request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, cast

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http import HttpVersion11, RawRequestMessage
from aiohttp.http_exceptions import BadStatusLine, LineTooLong
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from hls_out.app import ViewerCounter, ViewerSink, build_handler, error_response
from hls_out.fast_path import FastPath
from hls_out.file_cache import FileCache
from hls_out.metrics import Traffic
from hls_out.settings import HlsSettings
from hls_out.viewers import ViewerTracker, report_viewers_forever

logger = logging.getLogger(__name__)

KEEPALIVE_TIMEOUT_SECONDS = 15.0
SEND_TIMEOUT_SECONDS = 30.0
MAX_LINE_BYTES = 8190
MAX_HEADERS = 64
BACKLOG = 1024


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


def new_tracker(settings: HlsSettings) -> ViewerTracker:
    return ViewerTracker(
        window_seconds=settings.viewer_window_seconds,
        max_sessions=settings.max_viewer_sessions,
        max_per_client=settings.max_sessions_per_ip,
    )


# llhttp's words for a request line whose version is not HTTP/1.x.
UNKNOWN_VERSION_ERRORS = ("Invalid HTTP version", "Expected dot")
UNPARSABLE_DETAILS = {
    400: "malformed request",
    431: "request head too large",
    505: "only HTTP/1.0 and HTTP/1.1",
}


# What stands for a request aiohttp could not parse when its answer is sent: HTTP/1.1, where
# aiohttp's own placeholder says HTTP/1.0 (and so its answer would start "HTTP/1.0 400").
UNPARSED_REQUEST = RawRequestMessage(
    method="GET",
    path="/",
    version=HttpVersion11,
    headers=CIMultiDictProxy(CIMultiDict()),
    raw_headers=(),
    should_close=True,
    compression=None,
    upgrade=False,
    chunked=False,
    url=URL("/"),
)


class UnparsableRequestAnswer(web.Response):
    """The JSON error to a request aiohttp could not parse, sent as HTTP/1.1; the connection closes."""

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        as_http11 = web.BaseRequest(
            UNPARSED_REQUEST,
            request.content,
            request.protocol,
            request.writer,
            request.task,
            asyncio.get_running_loop(),
        )
        return await super().prepare(as_http11)


def unparsable_request_status(error: BaseException | None) -> int:
    """The status for a request aiohttp's parser refused (it says 400 to all of them)."""
    if isinstance(error, LineTooLong):
        return 431
    if isinstance(error, BadStatusLine) and any(words in error.message for words in UNKNOWN_VERSION_ERRORS):
        return 505
    return 400


class HlsConnection(web.RequestHandler):
    """One client connection: aiohttp's protocol, bounded in number, with JSON errors, and the
    fast path for cached files in front of it."""

    def __init__(
        self,
        manager: web.Server,
        *,
        open_connections: set[HlsConnection],
        limit: int,
        fast_path: FastPath | None = None,
        send_timeout: float = SEND_TIMEOUT_SECONDS,
        **options: Any,
    ) -> None:
        super().__init__(manager, **options)
        self.open_connections = open_connections
        self.limit = limit
        self.fast_path = fast_path
        self.send_timeout = send_timeout
        self.peer = ""
        self.sending_until = 0.0
        self.send_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if len(self.open_connections) >= self.limit:
            # create_server gives stream transports; the base type only lacks abort() in its hints.
            cast(asyncio.Transport, transport).abort()
            return
        self.open_connections.add(self)
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]) if isinstance(peer, tuple) else ""  # as request.remote gives it
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        """Requests parsed while aiohttp's request loop is idle go to the fast path first; the
        first one it declines, and all behind it, wake the loop as aiohttp would."""
        waiter = self._waiter
        # Idle: the loop waits for a request, or has not started and no request came yet.
        idle = self._request_count == 0 if waiter is None else not waiter.done()
        if self.fast_path is None or not idle or self._messages:
            super().data_received(data)
            return
        self._waiter = None  # parsed into self._messages without waking the loop
        try:
            super().data_received(data)
        finally:
            self._waiter = waiter
        messages, parser, transport = self._messages, self._parser, self.transport
        answered = False
        if not self._buffer_paused and parser is not None and transport is not None:
            while messages and self.fast_path.answer(*messages[0], transport, self.peer):
                messages.popleft()
                parser.message_consumed()
                answered = True
        if answered:
            self._answered_on_fast_path()
        if messages and waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _answered_on_fast_path(self) -> None:
        # What aiohttp's request loop does after a response: the keep-alive clock starts again;
        # and what a response from hls_out.app has: a deadline for the client to take it.
        now = self._loop.time()
        if self.transport is not None and self.transport.get_write_buffer_size():
            self.sending_until = now + self.send_timeout
            if self.send_timer is not None:
                self.send_timer.cancel()
            self.send_timer = self._loop.call_at(self.sending_until, self._end_slow_send)
        if self._keepalive_timeout > 0:
            self._next_keepalive_close_time = now + self._keepalive_timeout
            if self._keepalive_handle is None:
                self._keepalive_handle = self._loop.call_at(
                    self._next_keepalive_close_time, self._process_keepalive
                )

    def _end_slow_send(self) -> None:
        """A client that has not taken a fast-path answer within the send timeout goes."""
        self.send_timer = None
        transport = self.transport
        if transport is not None and transport.get_write_buffer_size() and self._waiter is not None:
            transport.abort()  # with a request in progress, hls_out.app's own timeout holds

    def _process_keepalive(self) -> None:
        """Not idle while a fast-path answer is still being sent: asked again at its deadline."""
        transport = self.transport
        if self.send_timer is not None and transport is not None and transport.get_write_buffer_size():
            self._keepalive_handle = self._loop.call_at(self.sending_until, self._process_keepalive)
            return
        super()._process_keepalive()

    def connection_lost(self, exc: BaseException | None) -> None:
        self.open_connections.discard(self)
        if self.send_timer is not None:
            self.send_timer.cancel()
            self.send_timer = None
        super().connection_lost(exc)

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """A request that could not be parsed, or a handler that failed: answered, then closed."""
        if request.writer.output_size > 0 or status not in (400, 500):
            return super().handle_error(request, status, exc, message)  # half sent: only closes
        if status == 500:
            logger.error("error answering %s", request.path, exc_info=exc)
            failure = error_response(500, "the server failed")
            failure.force_close()
            return failure
        status = unparsable_request_status(exc)
        error = error_response(status, UNPARSABLE_DETAILS[status])
        answer = UnparsableRequestAnswer(status=status, body=error.body, headers=error.headers)
        answer.force_close()
        return answer


class HlsServer:
    """Serves `/hls-live/` from `settings.hls_root`; counts viewers into `viewers`.

    Alone, the server counts into its own ViewerTracker and reports it to the API. As one of
    several worker processes it is given a TouchBatch that its parent collects (`hls_out.workers`).
    """

    def __init__(self, settings: HlsSettings, *, viewers: ViewerSink | None = None) -> None:
        self.settings = settings
        self.tracker = new_tracker(settings)
        self.viewers: ViewerSink = self.tracker if viewers is None else viewers
        self.traffic = Traffic()
        self.cache = FileCache(max_bytes=settings.playlist_cache_megabytes * 1024 * 1024)
        self.segments = FileCache(
            max_bytes=settings.segment_cache_megabytes * 1024 * 1024,
            max_file_bytes=settings.cached_segment_max_kilobytes * 1024,
        )
        self.connections: set[HlsConnection] = set()
        self._manager: web.Server | None = None
        self._listener: asyncio.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def port(self) -> int:
        if self._listener is None or not self._listener.sockets:
            raise RuntimeError("the server is not listening")
        return int(self._listener.sockets[0].getsockname()[1])

    async def start(self, *, reuse_port: bool = False) -> None:
        loop = asyncio.get_running_loop()
        counter = ViewerCounter(
            self.viewers, trust_proxy_headers=self.settings.trust_proxy_headers, clock=loop.time
        )
        handler = build_handler(
            hls_root=self.settings.hls_root,
            viewers=counter,
            traffic=self.traffic,
            playlists=self.cache,
            segments=self.segments,
            send_timeout=SEND_TIMEOUT_SECONDS,
        )
        fast_path = FastPath(
            hls_root=self.settings.hls_root,
            playlists=self.cache,
            segments=self.segments,
            viewers=counter,
            traffic=self.traffic,
        )
        options: dict[str, Any] = {
            "access_log": None,
            "keepalive_timeout": KEEPALIVE_TIMEOUT_SECONDS,
            "max_line_size": MAX_LINE_BYTES,
            "max_field_size": MAX_LINE_BYTES,
            "max_headers": MAX_HEADERS,
        }
        manager = self._manager = web.Server(handler, loop=loop)
        self._listener = await loop.create_server(
            lambda: HlsConnection(
                manager,
                open_connections=self.connections,
                limit=self.settings.max_connections,
                fast_path=fast_path,
                send_timeout=SEND_TIMEOUT_SECONDS,
                loop=loop,
                **options,
            ),
            host=self.settings.host,
            port=self.settings.port,
            reuse_port=reuse_port or None,
            backlog=BACKLOG,
        )
        if self.viewers is self.tracker:
            self._tasks.extend(start_viewer_reports(self.settings, self.tracker))

    async def stop(self, *, grace_seconds: float = 5.0) -> None:
        """Stop accepting, close idle connections, let responses in flight finish, then close."""
        if self._listener is not None:
            self._listener.close()
        if self._manager is not None:
            self._manager.pre_shutdown()  # idle keep-alive connections close now
            await self._manager.shutdown(grace_seconds)  # then what is still answering is cancelled
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._listener is not None:
            await self._listener.wait_closed()
