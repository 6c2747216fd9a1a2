"""Viewer counting: distinct playback sessions seen recently per video, reported to the API."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import OrderedDict

import aiohttp

logger = logging.getLogger(__name__)

MAX_SESSIONS = 100_000
REPORT_TIMEOUT_SECONDS = 3.0


def session_key(*, client_ip: str, user_agent: str, token: str | None = None) -> str:
    """A player's identity: its own token when it sends one, else its address and user agent."""
    material = f"t:{token}" if token else f"a:{client_ip}\n{user_agent}"
    return hashlib.sha256(material.encode("utf-8", "replace")).hexdigest()[:24]


class ViewerTracker:
    """Sessions seen per video url in a sliding window; bounded to MAX_SESSIONS entries."""

    def __init__(self, *, window_seconds: float, max_sessions: int = MAX_SESSIONS) -> None:
        self._window = window_seconds
        self._max = max_sessions
        # (video_url, session) -> last seen, oldest first
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._reported: set[str] = set()

    def touch(self, *, video_url: str, session: str, now: float) -> None:
        key = (video_url, session)
        self._seen[key] = now
        self._seen.move_to_end(key)
        while len(self._seen) > self._max:
            self._seen.popitem(last=False)

    def counts(self, *, now: float) -> dict[str, int]:
        while self._seen:
            key, seen = next(iter(self._seen.items()))
            if now - seen <= self._window:
                break
            del self._seen[key]
        counts: dict[str, int] = {}
        for video_url, _session in self._seen:
            counts[video_url] = counts.get(video_url, 0) + 1
        return counts

    def report(self, *, now: float) -> dict[str, int]:
        """Counts to send: the current ones, plus 0 for videos reported before and now unwatched."""
        counts = self.counts(now=now)
        payload = dict.fromkeys(self._reported - counts.keys(), 0) | counts
        self._reported = set(counts)
        return payload


class TouchBatch:
    """A worker process's sessions seen since its last hand-over to the parent (bounded)."""

    def __init__(self, *, max_sessions: int = MAX_SESSIONS) -> None:
        self._max = max_sessions
        self._keys: set[tuple[str, str]] = set()

    def touch(self, *, video_url: str, session: str, now: float) -> None:
        if len(self._keys) < self._max:
            self._keys.add((video_url, session))

    def take(self) -> list[tuple[str, str]]:
        keys, self._keys = list(self._keys), set()
        return keys


async def report_viewers_forever(
    *, tracker: ViewerTracker, api_base_url: str, secret: str, interval: float
) -> None:
    """POST /api/internal/viewers every `interval` seconds; failures are logged and retried next time."""
    url = f"{api_base_url}/api/internal/viewers"
    timeout = aiohttp.ClientTimeout(total=REPORT_TIMEOUT_SECONDS)
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while True:
            await asyncio.sleep(interval)
            counts = tracker.report(now=loop.time())
            if not counts:
                continue
            try:
                async with session.post(
                    url, json={"counts": counts}, headers={"X-Hls-Report-Secret": secret}
                ) as resp:
                    if resp.status >= 300:
                        logger.warning("viewer report refused: HTTP %d", resp.status)
            except (aiohttp.ClientError, TimeoutError) as error:
                logger.warning("viewer report failed: %s", error)
