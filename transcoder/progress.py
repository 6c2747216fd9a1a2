"""ffmpeg's `-progress` output (key=value lines, one block per period) as per-stream numbers."""

from __future__ import annotations

import re

PROGRESS_KEYS = frozenset(
    {
        "frame", "fps", "bitrate", "total_size", "out_time_us", "out_time_ms", "out_time",
        "dup_frames", "drop_frames", "speed", "progress",
    }
)  # fmt: skip
PER_STREAM_KEY = re.compile(r"stream_\d+_\d+_q")
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    match = NUMBER.search(text)
    return float(match.group()) if match else None


class ProgressParser:
    """Collects one progress block at a time; `stats()` reports the last complete block."""

    def __init__(self) -> None:
        self._block: dict[str, str] = {}
        self._last: dict[str, str] = {}
        self._previous_frame: tuple[float, float] | None = None  # (out_time seconds, frames)
        self._fps: float | None = None

    def reset(self) -> None:
        """A new ffmpeg process: its counters start again."""
        self._block.clear()
        self._previous_frame = None

    def feed(self, line: str) -> bool:
        """Take one stderr line; False if it is not progress output (then it is a log line)."""
        key, separator, value = line.partition("=")
        key = key.strip()
        if not separator or not (key in PROGRESS_KEYS or PER_STREAM_KEY.fullmatch(key)):
            return False
        self._block[key] = value.strip()
        if key == "progress":
            self._complete(self._block)
            self._block = {}
        return True

    def _complete(self, block: dict[str, str]) -> None:
        self._last = dict(block)
        frames = _number(block.get("frame"))
        out_time_us = _number(block.get("out_time_us"))
        if frames is None or out_time_us is None:
            return
        seconds = out_time_us / 1_000_000
        previous = self._previous_frame
        if previous is not None and seconds > previous[0]:
            # Frames per media second of the first output stream: the rate actually delivered.
            self._fps = round((frames - previous[1]) / (seconds - previous[0]), 3)
        self._previous_frame = (seconds, frames)

    def stats(self) -> dict[str, float]:
        values: dict[str, float] = {}
        speed = _number(self._last.get("speed"))
        if speed is not None:
            values["transcoder_speed"] = speed
        bitrate = _number(self._last.get("bitrate"))
        if bitrate is not None:
            values["bitrate_kbps"] = bitrate
        out_time_us = _number(self._last.get("out_time_us"))
        if out_time_us is not None and out_time_us >= 0:
            values["out_time_seconds"] = round(out_time_us / 1_000_000, 3)
        frames = _number(self._last.get("frame"))
        if frames is not None:
            values["frames"] = frames
        reported_fps = _number(self._last.get("fps"))
        fps = reported_fps if reported_fps else self._fps
        if fps is not None:
            values["fps"] = fps
        drops = _number(self._last.get("drop_frames"))
        if drops is not None:
            values["drop_frames"] = drops
        return values
