"""The asyncio side of one RTMP connection: socket bytes into the `RtmpConnection`, its bytes out.

`ConnectionIO.events()` decodes in place from the connection's `ReceiveBuffer` (receive.py) and
hands out the connection's events; `send(reply)` writes a reply. Around the sans-IO machine it adds
only what needs a clock or a socket:

- one read deadline, whose limit follows the state: the handshake timeout until the handshake is
  done, then the idle timeout after the last bytes, and until a publish is granted, the publish
  deadline from the accept as well. Whichever comes first ends the connection (a `SessionTimeout`);
- one write path: every write is followed by `drain()` under the write timeout;
- fairness: while received bytes are already waiting (a flood, or a publisher faster than real
  time), the reader yields to the loop after `yield_bytes` decoded or `messages_per_yield` events;
- batched reads once media flows (`ReceiveWatermark`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from rtmp_ingest.connection import Closed, Event, Media, Reply, RtmpConnection, State
from rtmp_ingest.receive import ReceiveBuffer
from rtmp_ingest.watermark import ReceiveWatermark

__all__ = [
    "ConnectionIO",
    "HandshakeTimeout",
    "IdleTimeout",
    "IoLimits",
    "PublishDeadline",
    "SessionTimeout",
    "WriteTimeout",
    "format_peer",
    "peer_ip",
]


class SessionTimeout(TimeoutError):
    """The peer took too long; the connection must be closed."""


class HandshakeTimeout(SessionTimeout):
    pass


class IdleTimeout(SessionTimeout):
    pass


class PublishDeadline(SessionTimeout):
    pass


class WriteTimeout(SessionTimeout):
    pass


_TIMEOUT_MESSAGES: dict[type[SessionTimeout], str] = {
    HandshakeTimeout: "handshake not completed in time",
    IdleTimeout: "no data from the peer in time",
    PublishDeadline: "no publish granted in time",
}


@dataclass(frozen=True, slots=True)
class IoLimits:
    handshake_timeout: float = 10.0
    idle_timeout: float = 30.0
    # From the accept to a granted publish, whatever the peer sends meanwhile.
    publish_deadline: float = 10.0
    write_timeout: float = 10.0
    # Fairness while a backlog is waiting; one decode call decodes at most `decode_slice` bytes (or
    # one larger chunk), which bounds its work whatever the chunk size.
    decode_slice: int = 128 * 1024
    yield_bytes: int = 128 * 1024
    messages_per_yield: int = 32
    # Once media flows, the kernel wakes the reader about once per this much media (watermark.py).
    media_batch_seconds: float = 0.1

    def __post_init__(self) -> None:
        timeouts = (self.handshake_timeout, self.idle_timeout, self.publish_deadline, self.write_timeout)
        if min(timeouts) <= 0:
            raise ValueError("timeouts must be positive")
        if min(self.decode_slice, self.yield_bytes, self.messages_per_yield) < 1:
            raise ValueError("decode_slice, yield_bytes and messages_per_yield must be positive")
        if self.media_batch_seconds < 0:
            raise ValueError("media_batch_seconds must not be negative")


def format_peer(peer: object) -> str:
    """`host:port` for IPv4, `[host]:port` for IPv6 (2- or 4-tuples), something printable otherwise."""
    if isinstance(peer, tuple) and len(peer) >= 2:
        host, port = str(peer[0]), peer[1]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return "unknown" if not peer else str(peer)


def peer_ip(writer: Any) -> str:
    """The client's address, IPv4-mapped IPv6 addresses as plain IPv4."""
    peer = writer.get_extra_info("peername")
    host = str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"
    return host.removeprefix("::ffff:") if "." in host else host


class ConnectionIO:
    def __init__(
        self,
        buffer: ReceiveBuffer,
        writer: asyncio.StreamWriter,
        connection: RtmpConnection,
        *,
        limits: IoLimits | None = None,
    ) -> None:
        self.buffer = buffer
        self.writer = writer
        self.connection = connection
        self.limits = limits if limits is not None else IoLimits()
        self.fairness_yields = 0  # times the reader gave the loop away in the middle of a backlog
        self.watermark = ReceiveWatermark(
            writer.get_extra_info("socket"), batch_seconds=self.limits.media_batch_seconds
        )
        loop = asyncio.get_running_loop()
        # From the accept: under TLS the TLS handshake already spent part of the handshake timeout.
        self._accepted_at = buffer.accepted_at if buffer.accepted_at is not None else loop.time()
        self._timer: asyncio.TimerHandle | None = None
        self._expires = 0.0
        self._timeout_error: type[SessionTimeout] = HandshakeTimeout
        self._waiting = False

    @property
    def peername(self) -> str:
        return format_peer(self.writer.get_extra_info("peername"))

    # --- writing ----------------------------------------------------------------------------------

    async def send(self, reply: Reply) -> None:
        await self.write(self.connection.send(reply))

    async def write(self, data: bytes) -> None:
        if not data or self.writer.is_closing():
            return  # the peer is gone: nothing left to tell it
        self.writer.write(data)
        try:
            async with asyncio.timeout(self.limits.write_timeout):
                await self.writer.drain()
        except TimeoutError as error:
            raise WriteTimeout("the peer does not read what we send") from error

    # --- reading ----------------------------------------------------------------------------------

    async def events(self) -> AsyncIterator[Event]:
        """The connection's events until Closed (the last one), or the exception that ends it."""
        limits = self.limits
        connection = self.connection
        buffer = self.buffer
        data = buffer.data
        watermark = self.watermark
        loop = asyncio.get_running_loop()
        decode_slice = limits.decode_slice
        yield_bytes = limits.yield_bytes
        messages_per_yield = limits.messages_per_yield
        work_bytes = work_messages = 0  # done since the other tasks last had the loop
        media_flowing = False
        seen = 0  # bytes received that the connection has been given
        try:
            while True:
                if buffer.received == seen:
                    # Only an incomplete chunk (or nothing) is waiting: wait for the peer, and the
                    # other tasks run meanwhile.
                    work_bytes = work_messages = 0
                    if not await self._wait_for_data(seen):
                        connection.receive_data(b"")  # the end of the peer's stream
                        while True:
                            event = connection.next_event()
                            if event is None:  # unreachable: after the end, Closed comes
                                return
                            if type(event) is Closed:
                                self._stop_timer()  # before: the caller may drop us right after it
                                yield event
                                return
                            yield event
                while True:
                    if buffer.received != seen:  # new bytes: after a wait, or read during a yield
                        arrived = buffer.received - seen
                        seen = buffer.received
                        connection.data_received(arrived)
                        if media_flowing:
                            watermark.on_read(arrived, loop.time())
                    over_budget = work_bytes >= yield_bytes or work_messages >= messages_per_yield
                    if over_budget:
                        max_messages, max_bytes = messages_per_yield, decode_slice
                    else:
                        max_messages = messages_per_yield - work_messages
                        max_bytes = min(decode_slice, yield_bytes - work_bytes)
                    start = buffer.start
                    reached = connection.receive_from(
                        data, start, buffer.end, max_messages=max_messages, max_bytes=max_bytes
                    )
                    progress = reached - start
                    buffer.consume(progress)  # before any await: the buffer may move its bytes then
                    # Handshake replies and acknowledgements: once per decode, after its messages.
                    await self.write(connection.data_to_send())
                    if not progress:
                        break  # at most an incomplete chunk is left: read more
                    if over_budget:
                        # Only now, with work in hand: an empty decode must not cost a loop turn. The
                        # events just decoded are handed out in the next turn.
                        await self._yield_to_others()
                        work_bytes, work_messages = 0, 0
                    else:
                        work_bytes += progress
                    event = connection.next_event()
                    while event is not None:
                        work_messages += 1
                        if not media_flowing and type(event) is Media:
                            media_flowing = True
                        if type(event) is Closed:
                            self._stop_timer()
                            yield event
                            return
                        yield event
                        event = connection.next_event()
                    if connection.starved and buffer.received == seen:
                        break  # nothing decodable is left, and nothing new came meanwhile: read more
        finally:
            self._stop_timer()  # closed or abandoned: its timer must not keep the connection

    async def _yield_to_others(self) -> None:
        self.fairness_yields += 1
        await asyncio.sleep(0)

    def _deadline(self, now: float) -> tuple[float, type[SessionTimeout]]:
        """When the wait that starts `now` must end, and the error it then ends with."""
        limits = self.limits
        state = self.connection.state
        if state is State.HANDSHAKE:
            return self._accepted_at + limits.handshake_timeout, HandshakeTimeout
        idle = now + limits.idle_timeout
        if state is not State.PUBLISHING:
            publish_by = self._accepted_at + limits.publish_deadline
            if publish_by < idle:
                return publish_by, PublishDeadline
        return idle, IdleTimeout

    async def _wait_for_data(self, seen: int) -> bool:
        """Until bytes beyond the first `seen` arrive (True) or the peer's stream ends (False); a
        SessionTimeout at the deadline. While reads are batched, a late batch is flushed."""
        buffer = self.buffer
        watermark = self.watermark
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._expires, self._timeout_error = self._deadline(now)
        if now >= self._expires:
            raise self._timeout_error(_TIMEOUT_MESSAGES[self._timeout_error])
        # The timer is armed once and re-armed only when it fires early (or would fire late), not for
        # every wait.
        if self._timer is not None and self._timer.when() > self._expires:
            self._stop_timer()
        if self._timer is None:
            self._timer = loop.call_at(self._expires, self._on_timer)
        late = loop.call_at(now + watermark.late_after, watermark.flush) if watermark.batching else None
        self._waiting = True
        try:
            await buffer.wait_for_data(seen)
        finally:
            self._waiting = False
            if late is not None:
                late.cancel()
        if buffer.error is not None:
            raise buffer.error
        return buffer.received != seen

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        loop = asyncio.get_running_loop()
        if not self._waiting:
            self._timer = None  # the next wait arms it again
        elif loop.time() < self._expires:
            self._timer = loop.call_at(self._expires, self._on_timer)
        else:
            self._timer = None
            self.buffer.set_exception(self._timeout_error(_TIMEOUT_MESSAGES[self._timeout_error]))
