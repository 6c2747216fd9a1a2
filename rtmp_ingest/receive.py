"""The receiving end of one RTMP connection: a fixed buffer the transport writes into directly.

`IngestProtocol` is an `asyncio.BufferedProtocol`: the event loop's socket reads land in the
connection's `ReceiveBuffer` with no intermediate bytes objects, and the chunk decoder parses them in
place. The buffer never grows: when what is waiting reaches its high-water mark the transport stops
reading (TCP pushes back on the peer) until the connection has decoded enough.

Writing goes through an ordinary `asyncio.StreamWriter`, so `drain()` gives the usual backpressure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["ConnectionHandler", "IngestProtocol", "ReceiveBuffer"]

ConnectionHandler = Callable[["ReceiveBuffer", asyncio.StreamWriter], Coroutine[Any, Any, None]]


class ReceiveBuffer:
    """Received bytes not consumed yet: `data[start:end]` of a preallocated `capacity`-byte buffer.

    The producer (the protocol, or `feed_data`) appends; the consumer decodes in place, then
    `consume()`s. The unconsumed bytes move to the front only when the free tail gets short, and
    reading pauses while they would not leave `min_free` bytes for the next socket read.
    """

    def __init__(self, capacity: int = 256 * 1024, *, min_free: int = 64 * 1024) -> None:
        if not 0 < min_free < capacity:
            raise ValueError("min_free must be positive and smaller than the capacity")
        self.data = bytearray(capacity)
        self._view = memoryview(self.data)
        self.capacity = capacity
        self._min_free = min_free
        self.start = 0
        self.end = 0
        self.received = 0  # bytes ever received
        self.eof = False
        self.error: BaseException | None = None
        # The loop time of the TCP accept, when known: a TLS handshake before the first byte counts.
        self.accepted_at: float | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._transport: asyncio.BaseTransport | None = None
        self._paused = False

    @property
    def waiting(self) -> int:
        """Bytes received and not consumed."""
        return self.end - self.start

    # --- producer side ------------------------------------------------------------------------

    def attach(self, transport: asyncio.BaseTransport) -> None:
        """The transport to pause and resume for flow control."""
        self._transport = transport

    def get_buffer(self, sizehint: int = -1) -> memoryview:
        """Where the next read goes (whatever `sizehint` the loop passes): the free tail, after moving the waiting bytes to the front if it
        is short. Never empty: reading pauses before the waiting bytes could fill the buffer."""
        if self.start == self.end:
            self.start = self.end = 0
        elif self.capacity - self.end < self._min_free and self.start > 0:
            self._move_to_front()
        if self.end == self.capacity:
            raise BufferError("receive buffer full")  # reading was paused well before this
        return self._view[self.end :]

    def buffer_updated(self, nbytes: int) -> None:
        self.end += nbytes
        self.received += nbytes
        if self.waiting > self.capacity - self._min_free:
            self._pause()
        self._wake()

    def feed_data(self, data: bytes) -> None:
        """Append `data`, as a socket read would. It must fit in the buffer."""
        if len(data) > self.capacity - self.waiting:
            raise BufferError("more data than the receive buffer holds")
        view = self.get_buffer()
        if len(data) > len(view):  # fits only once the waiting bytes move to the front
            self._move_to_front()
            view = self._view[self.end :]
        view[: len(data)] = data
        self.buffer_updated(len(data))

    def feed_eof(self) -> None:
        self.eof = True
        self._wake()

    def set_exception(self, error: BaseException) -> None:
        self.error = error
        self._wake()

    # --- consumer side ------------------------------------------------------------------------

    def consume(self, nbytes: int) -> None:
        self.start += nbytes
        if self.start == self.end:
            self.start = self.end = 0
        if self._paused and self.waiting <= self.capacity // 2:
            self._paused = False
            if self._transport is not None and not self._transport.is_closing():
                self._transport.resume_reading()  # type: ignore[attr-defined]

    def take(self, nbytes: int) -> bytes:
        """The next `nbytes` waiting bytes, consumed."""
        out = bytes(self._view[self.start : self.start + nbytes])
        self.consume(nbytes)
        return out

    async def wait_for_data(self, seen: int) -> None:
        """Until more than `seen` bytes have ever been received, or EOF / an error (then at once)."""
        while self.received <= seen and not self.eof and self.error is None:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    async def readexactly(self, nbytes: int) -> bytes:
        """Exactly `nbytes` (at most the capacity); IncompleteReadError at EOF, like StreamReader."""
        if nbytes > self.capacity:
            raise ValueError("cannot read more than the buffer holds")
        while self.waiting < nbytes:
            if self.error is not None:
                raise self.error
            if self.eof:
                partial = self.take(self.waiting)
                raise asyncio.IncompleteReadError(partial, nbytes)
            await self.wait_for_data(self.received)
        return self.take(nbytes)

    # --- internals ------------------------------------------------------------------------------

    def _move_to_front(self) -> None:
        waiting = self.end - self.start
        # Through a copy: the source and destination may overlap.
        self.data[:waiting] = bytes(self._view[self.start : self.end])
        self.start, self.end = 0, waiting

    def _pause(self) -> None:
        if not self._paused and self._transport is not None and not self._transport.is_closing():
            self._paused = True
            self._transport.pause_reading()  # type: ignore[attr-defined]

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class IngestProtocol(asyncio.BufferedProtocol):
    """One connection: reads into a `ReceiveBuffer`, writes through a StreamWriter, and runs
    `handler(buffer, writer)` as its own task from connection to close.

    The write side is asyncio's own contract with StreamWriter: `drain()` awaits `_drain_helper()`,
    which waits while the transport has paused writing. (asyncio's FlowControlMixin does the same,
    but it is a plain Protocol, and uvloop then never calls `get_buffer`.)
    """

    def __init__(
        self,
        handler: ConnectionHandler,
        *,
        buffer_size: int,
        tasks: set[asyncio.Task[None]],
    ) -> None:
        self._handler = handler
        self._tasks = tasks
        self.buffer = ReceiveBuffer(buffer_size)
        # Made at the accept; under TLS, connection_made follows only after the TLS handshake.
        self.buffer.accepted_at = asyncio.get_running_loop().time()
        # The loop calls these on every read: straight to the buffer, without a frame of ours between.
        self.get_buffer = self.buffer.get_buffer  # type: ignore[method-assign]
        self.buffer_updated = self.buffer.buffer_updated  # type: ignore[method-assign]
        self._closed: asyncio.Future[None] | None = None
        self._connection_lost = False
        self._writing_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        loop = asyncio.get_running_loop()
        self.buffer.attach(transport)
        self._closed = loop.create_future()
        writer = asyncio.StreamWriter(transport, self, None, loop)  # type: ignore[arg-type]
        task = loop.create_task(self._handler(self.buffer, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def get_buffer(self, sizehint: int) -> memoryview:  # replaced per instance in __init__
        return self.buffer.get_buffer(sizehint)

    def buffer_updated(self, nbytes: int) -> None:  # replaced per instance in __init__
        self.buffer.buffer_updated(nbytes)

    def eof_received(self) -> bool:
        self.buffer.feed_eof()
        return True  # keep the transport for what is still to be written; the handler closes it

    def connection_lost(self, exc: Exception | None) -> None:
        self._connection_lost = True
        if exc is None:
            self.buffer.feed_eof()
        else:
            self.buffer.set_exception(exc)
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)
        self._wake_drainers(exc)

    # --- write flow control ---------------------------------------------------------------------

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._wake_drainers(None)

    async def _drain_helper(self) -> None:
        if self._connection_lost:
            raise ConnectionResetError("Connection lost")
        if not self._writing_paused:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._drain_waiters.append(waiter)
        try:
            await waiter
        finally:
            self._drain_waiters.remove(waiter)

    def _get_close_waiter(self, stream: Any) -> asyncio.Future[None]:
        # StreamWriter.wait_closed() awaits this.
        assert self._closed is not None  # noqa: S101 - set in connection_made, before any writer exists
        return self._closed

    def _wake_drainers(self, exc: Exception | None) -> None:
        for waiter in self._drain_waiters:
            if not waiter.done():
                if exc is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(exc)
