"""Batched reads of live media: the kernel gathers a batch of frames before it wakes the ingest.

At real time a publisher sends each frame as soon as it is encoded, so reading them as they come costs
one wakeup per frame (~70 a second for 1080p30 video with AAC audio), and a wakeup is what a live
ingest spends most of its CPU on. Once the media's byte rate is known, the socket's receive low
watermark (SO_RCVLOWAT) is set to about `batch_seconds` of it: the kernel then signals the socket
readable once per batch. When a batch is late (the rate dropped, or the publisher paused) the reader's
watchdog calls `flush()`, which lowers the watermark so that whatever arrived is read at once; the end
of the stream and a full receive buffer always wake the reader.
"""

from __future__ import annotations

import socket
from typing import Protocol

__all__ = ["ReceiveWatermark"]

OFF = 1  # the kernel's default: readable as soon as one byte is there


class SocketOptions(Protocol):
    def setsockopt(self, level: int, optname: int, value: int, /) -> None: ...


class ReceiveWatermark:
    """SO_RCVLOWAT of one connection, following the byte rate measured over `rate_window` seconds."""

    def __init__(
        self,
        sock: SocketOptions | None,
        *,
        batch_seconds: float,
        max_bytes: int = 128 * 1024,
        min_bytes: int = 4096,
        rate_window: float = 1.0,
    ) -> None:
        self._sock = sock if batch_seconds > 0 else None
        self.batch_seconds = batch_seconds
        self._max_bytes = max_bytes
        self._min_bytes = min_bytes
        self._rate_window = rate_window
        self._window_start: float | None = None
        self._window_bytes = 0
        self.target = OFF  # the watermark the rate asks for
        self.lowat = OFF  # the watermark in force

    @property
    def batching(self) -> bool:
        return self.lowat > OFF

    @property
    def late_after(self) -> float:
        """How long a read may wait for its batch before the watchdog flushes."""
        return 2 * self.batch_seconds

    def on_read(self, nbytes: int, now: float) -> None:
        """Account for a read of live media; re-aims the watermark once per rate window."""
        if self._sock is None:
            return
        if self._window_start is None:  # these bytes came in before the window: they have no duration
            self._window_start = now
            return
        self._window_bytes += nbytes
        elapsed = now - self._window_start
        if elapsed >= self._rate_window:
            wanted = round(self._window_bytes / elapsed * self.batch_seconds)
            self.target = min(wanted, self._max_bytes) if wanted >= self._min_bytes else OFF
            self._window_start, self._window_bytes = now, 0
        # Re-applied after a flush, and when the target moved by more than a quarter.
        if self.lowat == OFF or abs(self.target - self.lowat) * 4 > self.lowat:
            self._apply(self.target)

    def flush(self) -> None:
        """The batch is late: let the bytes already received wake the reader now."""
        self._apply(OFF)

    def _apply(self, lowat: int) -> None:
        if lowat == self.lowat or self._sock is None:
            return
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, lowat)
        except OSError:  # the socket is going away; reads still end the connection as before
            self._sock = None
            self.lowat = OFF
            return
        self.lowat = lowat
