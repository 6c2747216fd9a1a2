"""The media figures of a live stream (bitrate, frame rate, keyframe interval) that go into each
heartbeat and the ingest's metrics, counted from the FLV tags as they arrive."""

from __future__ import annotations

from collections import deque

from tidecast_common.flv import TAG_VIDEO


class MediaStats:
    """Rolling figures over the last `window_s` seconds of media timestamps, in per-second buckets:
    a tag costs a few additions, a snapshot a handful, and the memory is fixed."""

    def __init__(self, *, window_s: int = 5) -> None:
        self._window_s = window_s
        # (media second, bytes, video frames) of the last whole seconds, oldest first.
        self._seconds: deque[tuple[int, int, int]] = deque(maxlen=window_s)
        self._second: int | None = None  # the media second being counted
        self._bytes = 0
        self._frames = 0
        self._last_keyframe_ms: int | None = None
        self._keyframe_interval_ms = 0
        self.total_bytes = 0

    def add(self, tag_type: int, timestamp_ms: int, body: bytes) -> None:
        size = len(body)
        self.total_bytes += size
        second = timestamp_ms // 1000
        if second != self._second:
            self._next_second(second)
        self._bytes += size
        # Video frames, not the codec configuration (AVC/HEVC sequence headers).
        if tag_type != TAG_VIDEO or size < 2 or (body[1] == 0 and body[0] & 0x0F in (7, 12)):
            return
        self._frames += 1
        if body[0] >> 4 == 1:  # keyframe
            if self._last_keyframe_ms is not None and timestamp_ms > self._last_keyframe_ms:
                self._keyframe_interval_ms = timestamp_ms - self._last_keyframe_ms
            self._last_keyframe_ms = timestamp_ms

    def _next_second(self, second: int) -> None:
        current = self._second
        if current is not None and second < current:
            return  # a tag from a second already counted (audio and video interleave): count it here
        if current is not None:
            if second - current > self._window_s:
                self._seconds.clear()  # a gap longer than the window: nothing before it is recent
            else:
                self._seconds.append((current, self._bytes, self._frames))
        self._second, self._bytes, self._frames = second, 0, 0

    def seconds_above(self, kbps: int) -> int:
        """The latest media seconds in a row that carried more than `kbps`: the second in progress
        (its bytes only grow) if it is already over, and the whole ones before it, newest first."""
        limit_bytes = kbps * 1000 // 8
        if self._bytes <= limit_bytes:
            return 0
        run, expected = 1, self._second
        for second, size, _ in reversed(self._seconds):
            if expected is None or second != expected - 1 or size <= limit_bytes:
                break
            run, expected = run + 1, second
        return run

    def snapshot(self) -> dict[str, float]:
        """Over the whole seconds in the window (the second in progress while there are none)."""
        seconds = list(self._seconds) or [(self._second or 0, self._bytes, self._frames)]
        covered_s = max(seconds[-1][0] - seconds[0][0] + 1, 1)
        window_bytes = sum(entry[1] for entry in seconds)
        frames = sum(entry[2] for entry in seconds)
        return {
            "bitrate_kbps": round(window_bytes * 8 / covered_s / 1000, 1),
            "fps": round(frames / covered_s, 2),
            "keyframe_interval": round(self._keyframe_interval_ms / 1000, 3),
        }
