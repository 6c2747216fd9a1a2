"""One client connection to the HLS server: aiohttp's HTTP/1.1 protocol with three additions.

- A bound on open connections (beyond it a new one is dropped at once).
- The project's JSON errors for requests aiohttp cannot parse (431 for a head line too long, 505
  for an unknown HTTP version, 400 otherwise), where aiohttp would answer a plain-text 400.
- While aiohttp's request loop waits for a request, each request it parses is offered first to
  `hls_out.fast_path`, which answers plain requests for cached files on the spot; the first one
  it declines, and all behind it, go to the loop in order. Such an answer gets the keep-alive
  clock and the send deadline an answer from the loop gets.

The fast path's hooks use aiohttp's RequestHandler internals (`_waiter`, `_messages`, the
keep-alive fields), which is why aiohttp is pinned to one minor version in pyproject.toml;
tests/hls_out/test_fast_path.py checks each of them over real connections.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http import HttpVersion11, RawRequestMessage
from aiohttp.http_exceptions import BadStatusLine, LineTooLong
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from hls_out.app import error_response
from hls_out.fast_path import FastPath

logger = logging.getLogger(__name__)

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
        send_timeout: float,
        fast_path: FastPath | None = None,
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
