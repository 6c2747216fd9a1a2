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

from hls_out.app import ViewerSink, build_handler, error_response
from hls_out.file_cache import FileCache
from hls_out.metrics import Traffic
from hls_out.settings import HlsSettings
from hls_out.tokens import PlaybackGate
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
    """One client connection: aiohttp's protocol, bounded in number, with JSON errors."""

    def __init__(
        self, manager: web.Server, *, open_connections: set[HlsConnection], limit: int, **options: Any
    ) -> None:
        super().__init__(manager, **options)
        self.open_connections = open_connections
        self.limit = limit

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if len(self.open_connections) >= self.limit:
            # create_server gives stream transports; the base type only lacks abort() in its hints.
            cast(asyncio.Transport, transport).abort()
            return
        self.open_connections.add(self)
        super().connection_made(transport)

    def connection_lost(self, exc: BaseException | None) -> None:
        self.open_connections.discard(self)
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
        handler = build_handler(
            hls_root=self.settings.hls_root,
            viewers=self.viewers,
            traffic=self.traffic,
            playlists=self.cache,
            segments=self.segments,
            send_timeout=SEND_TIMEOUT_SECONDS,
            trust_proxy_headers=self.settings.trust_proxy_headers,
            gate=PlaybackGate(
                key=self.settings.playback_token_key.encode(),
                hls_root=self.settings.hls_root,
                marker_ttl=self.settings.private_check_seconds,
            ),
        )
        options: dict[str, Any] = {
            "access_log": None,
            "keepalive_timeout": KEEPALIVE_TIMEOUT_SECONDS,
            "max_line_size": MAX_LINE_BYTES,
            "max_field_size": MAX_LINE_BYTES,
            "max_headers": MAX_HEADERS,
        }
        loop = asyncio.get_running_loop()
        manager = self._manager = web.Server(handler, loop=loop)
        self._listener = await loop.create_server(
            lambda: HlsConnection(
                manager,
                open_connections=self.connections,
                limit=self.settings.max_connections,
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
