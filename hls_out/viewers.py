"""Viewer counting: distinct playback sessions seen recently per video, reported to the API.

A session is whatever a player's requests share (its `?session=` token, or its address and
User-Agent), so a client can make up as many as it likes. Two bounds keep the counts honest and
the memory fixed: at most `max_per_client` sessions are counted for one client address (an IPv6
client by its /64, the block one subscriber gets), and at most `max_sessions` in all.

`ViewerCounter` turns a request (path, fields, peer) into a touch, once a second per player; both
`hls_out.app` and `hls_out.fast_path` count through it.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

import aiohttp
from aiohttp import hdrs
from multidict import CIMultiDictProxy

from tidecast_common.addresses import address_group
from tidecast_common.layout import URL_PREFIX as PREFIX
from tidecast_common.layout import VIDEO_URL_LENGTH

logger = logging.getLogger(__name__)

MAX_SESSIONS = 100_000
MAX_SESSIONS_PER_CLIENT = 32
REPORT_TIMEOUT_SECONDS = 3.0

Headers = CIMultiDictProxy[str]


def session_key(*, client_ip: str, user_agent: str, token: str | None = None) -> str:
    """A player's identity: its own token when it sends one, else its address and user agent."""
    material = f"t:{token}" if token else f"a:{client_ip}\n{user_agent}"
    return hashlib.sha256(material.encode("utf-8", "replace")).hexdigest()[:24]


class ViewerTracker:
    """Sessions seen per video url in a sliding window, bounded per client and in all."""

    def __init__(
        self,
        *,
        window_seconds: float,
        max_sessions: int = MAX_SESSIONS,
        max_per_client: int = MAX_SESSIONS_PER_CLIENT,
    ) -> None:
        self._window = window_seconds
        self._max = max_sessions
        self._max_per_client = max_per_client
        # (video_url, session) -> (last seen, client group), oldest first
        self._seen: OrderedDict[tuple[str, str], tuple[float, str]] = OrderedDict()
        self._per_client: dict[str, int] = {}  # client group -> sessions it has in _seen
        self._reported: set[str] = set()

    def touch(self, *, video_url: str, session: str, client: str, now: float) -> None:
        key = (video_url, session)
        known = self._seen.get(key)
        if known is not None:
            self._seen[key] = (now, known[1])
            self._seen.move_to_end(key)
            return
        group = address_group(client)
        held = self._per_client.get(group, 0)
        if held >= self._max_per_client:
            return  # this client's sessions beyond its share are not counted
        self._seen[key] = (now, group)
        self._per_client[group] = held + 1
        while len(self._seen) > self._max:
            self._forget_oldest()

    def counts(self, *, now: float) -> dict[str, int]:
        while self._seen:
            seen, _group = next(iter(self._seen.values()))
            if now - seen <= self._window:
                break
            self._forget_oldest()
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

    def __len__(self) -> int:
        return len(self._seen)

    def _forget_oldest(self) -> None:
        _key, (_seen, group) = self._seen.popitem(last=False)
        held = self._per_client[group] - 1
        if held:
            self._per_client[group] = held
        else:
            del self._per_client[group]


Touch = tuple[str, str, str]  # video url, session, client address


class TouchBatch:
    """A worker process's sessions seen since its last hand-over to the parent (bounded)."""

    def __init__(self, *, max_sessions: int = MAX_SESSIONS) -> None:
        self._max = max_sessions
        self._touches: set[Touch] = set()

    def touch(self, *, video_url: str, session: str, client: str, now: float) -> None:
        if len(self._touches) < self._max:
            self._touches.add((video_url, session, client))

    def take(self) -> list[Touch]:
        touches, self._touches = list(self._touches), set()
        return touches


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


class ViewerSink(Protocol):
    def touch(self, *, video_url: str, session: str, client: str, now: float) -> None: ...


def client_address(headers: Headers, remote: str, *, trust_proxy_headers: bool) -> str:
    """The socket peer, or behind a trusted proxy the address it passes in X-Real-IP."""
    if trust_proxy_headers:
        forwarded = headers.get("X-Real-IP", "").strip()
        try:
            return str(ipaddress.ip_address(forwarded))
        except ValueError:
            pass
    return remote


class ViewerCounter:
    """The viewer behind each playlist or segment request, passed on to `viewers` once a second.

    Shared by the handler here and `hls_out.fast_path`, so both count alike.
    """

    def __init__(self, viewers: ViewerSink, *, trust_proxy_headers: bool, clock: Callable[[], float]) -> None:
        self._viewers = viewers
        self._trust_proxy_headers = trust_proxy_headers
        self._clock = clock
        self._recent = RecentViewers()

    def count(self, path: str, *, headers: Headers, remote: str, token: str | None) -> None:
        """Count a request for `path` (a servable one, without its query)."""
        client = client_address(headers, remote, trust_proxy_headers=self._trust_proxy_headers)
        user_agent = headers.get(hdrs.USER_AGENT, "")
        video_url = path[len(PREFIX) : len(PREFIX) + VIDEO_URL_LENGTH]
        now = self._clock()
        if self._recent.seen_this_second((video_url, client, user_agent, token), now=now):
            return
        session = session_key(client_ip=client, user_agent=user_agent, token=token)
        self._viewers.touch(video_url=video_url, session=session, client=client, now=now)


class RecentViewers:
    """Who was counted this second: a player polls over one connection, and one touch a second
    per video is as good as all of them (the window is tens of seconds). Bounded; emptied each second.
    """

    def __init__(self, *, max_entries: int = 10_000) -> None:
        self._max = max_entries
        self._second = -1
        self._seen: set[tuple[str, str, str, str | None]] = set()

    def seen_this_second(self, identity: tuple[str, str, str, str | None], *, now: float) -> bool:
        second = int(now)
        if second != self._second or len(self._seen) >= self._max:
            self._second = second
            self._seen.clear()
        if identity in self._seen:
            return True
        self._seen.add(identity)
        return False
