"""The ingest's client for the API's internal hooks: authorize, heartbeat, end.

Fail closed: only a clear 200 with `allow: true` and a well-formed grant lets a publisher in; any other
status, a malformed body, a timeout or a refused connection is a denial with a reason. Ending is
idempotent on the API side, so `report_end` retries it with backoff in the background.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from rtmp_ingest.restream import RestreamTarget
from tidecast_common.ladder import LadderError, Variant, parse_variants
from tidecast_common.layout import VIDEO_URL_PATTERN, is_video_url

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Ingest-Secret"  # noqa: S105 - a header name, not a secret
MAX_RESPONSE_BYTES = 64 * 1024
END_RETRY_DELAYS: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)


@dataclass(frozen=True, slots=True)
class PublishGrant:
    publish_id: str
    video_url: str
    channel: str
    ladder: tuple[Variant, ...]
    segment_seconds: int
    heartbeat_interval: float
    # Where to restream it, URLs in clear (repr hides them).
    destinations: tuple[RestreamTarget, ...] = ()


@dataclass(frozen=True, slots=True)
class PublishDenial:
    # unknown_key, already_live, throttled, unavailable (API down, slow or erroring), bad_response
    reason: str


@dataclass(frozen=True, slots=True)
class HeartbeatVerdict:
    proceed: bool
    reason: str = ""
    # The destinations enabled now; None when the answer did not say (keep the current ones).
    destinations: tuple[RestreamTarget, ...] | None = None


class ApiResponseError(ValueError):
    """The API answered 200 with a body that is not what the hook promises."""


class IngestApiClient:
    """One per ingest server: a single aiohttp session, created on first use inside the loop."""

    def __init__(
        self,
        *,
        base_url: str,
        secret: str,
        timeout: float = 2.5,
        authorize_timeout: float = 0.5,
        end_retry_delays: Sequence[float] = END_RETRY_DELAYS,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._secret = secret
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        # A publisher waits on this one, and must hear a refusal within a second: its own deadline.
        self._authorize_timeout = aiohttp.ClientTimeout(total=authorize_timeout)
        self._end_retry_delays = tuple(end_retry_delays)
        self._session: aiohttp.ClientSession | None = None
        self._end_tasks: set[asyncio.Task[bool]] = set()

    async def authorize(self, *, stream_key: str, client_ip: str) -> PublishGrant | PublishDenial:
        try:
            status, body = await self._post(
                "publish/authorize",
                {"stream_key": stream_key, "client_ip": client_ip},
                deadline=self._authorize_timeout,
            )
        except (aiohttp.ClientError, TimeoutError, ApiResponseError) as error:
            logger.warning("authorize failed: %s", _describe(error))
            return PublishDenial("unavailable")
        if status == 200 and body.get("allow") is True:
            try:
                return parse_grant(body)
            except ApiResponseError as error:
                logger.error("authorize answered a malformed grant: %s", error)
                return PublishDenial("bad_response")
        if status == 403 and body.get("code") in ("unknown_key", "already_live"):
            return PublishDenial(str(body["code"]))
        if status == 429:
            return PublishDenial("throttled")
        logger.warning("authorize answered HTTP %s", status)
        return PublishDenial("unavailable")

    async def heartbeat(
        self,
        *,
        publish_id: str,
        stats: Mapping[str, float],
        destinations: Sequence[Mapping[str, str]] = (),
    ) -> HeartbeatVerdict | None:
        """The API's verdict, or None when it could not be reached (the stream goes on meanwhile).
        `destinations`: each restream's {id, status, error}."""
        payload: dict[str, object] = {"publish_id": publish_id, "stats": dict(stats)}
        if destinations:
            payload["destinations"] = [dict(report) for report in destinations]
        try:
            status, body = await self._post("publish/heartbeat", payload)
        except (aiohttp.ClientError, TimeoutError, ApiResponseError) as error:
            logger.warning("heartbeat for %s failed: %s", publish_id, _describe(error))
            return None
        if status != 200 or not isinstance(body.get("continue"), bool):
            logger.warning("heartbeat for %s answered HTTP %s", publish_id, status)
            return None
        if body["continue"]:
            try:
                targets = parse_targets(body["destinations"]) if "destinations" in body else None
            except (ApiResponseError, ValueError) as error:
                logger.warning("heartbeat for %s answered malformed destinations: %s", publish_id, error)
                targets = None
            return HeartbeatVerdict(proceed=True, destinations=targets)
        return HeartbeatVerdict(proceed=False, reason=str(body.get("reason", "ended"))[:64])

    async def end(self, *, publish_id: str) -> bool:
        """One attempt at reporting the end; True once the API has recorded it (or never knew the id)."""
        try:
            status, _ = await self._post("publish/end", {"publish_id": publish_id})
        except (aiohttp.ClientError, TimeoutError, ApiResponseError) as error:
            logger.warning("end of %s failed: %s", publish_id, _describe(error))
            return False
        return status in (200, 404)

    async def recording_stored(self, *, video_url: str) -> bool:
        """Tell the API a recording is complete in the object store; True once it has heard it."""
        try:
            status, _ = await self._post("storage/stored", {"video_url": video_url})
        except (aiohttp.ClientError, TimeoutError, ApiResponseError) as error:
            logger.warning("storage report for %s failed: %s", video_url, _describe(error))
            return False
        return status in (200, 204, 404)

    async def video_ended(self, video_url: str) -> bool | None:
        """Whether the API has the video as ended (True too when it has no such video); None when
        it could not be asked. The archiver closes a recording a dead transcoder left open then."""
        try:
            status, body = await self._post("storage/state", {"video_url": video_url})
        except (aiohttp.ClientError, TimeoutError, ApiResponseError) as error:
            logger.warning("storage state of %s failed: %s", video_url, _describe(error))
            return None
        if status == 404:
            return True
        if status != 200 or not isinstance(body.get("ended"), bool):
            return None
        return bool(body["ended"])

    def report_end(self, *, publish_id: str) -> asyncio.Task[bool]:
        """Report the end in the background, retrying with backoff; the caller never waits."""
        task = asyncio.get_running_loop().create_task(self._end_with_retries(publish_id))
        self._end_tasks.add(task)
        task.add_done_callback(self._end_tasks.discard)
        return task

    async def _end_with_retries(self, publish_id: str) -> bool:
        for delay in (*self._end_retry_delays, None):
            if await self.end(publish_id=publish_id):
                logger.info("publish %s ended", publish_id)
                return True
            if delay is None:
                break
            await asyncio.sleep(delay)
        logger.error("gave up reporting the end of publish %s; the API will time it out", publish_id)
        return False

    async def close(self, *, drain_seconds: float = 5.0) -> None:
        """Let pending end reports finish (bounded), then close the HTTP session."""
        if self._end_tasks:
            _, pending = await asyncio.wait(set(self._end_tasks), timeout=drain_seconds)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _post(
        self, hook: str, payload: Mapping[str, object], *, deadline: aiohttp.ClientTimeout | None = None
    ) -> tuple[int, dict[str, Any]]:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                headers={SECRET_HEADER: self._secret},
                connector=aiohttp.TCPConnector(limit=32),
                cookie_jar=aiohttp.DummyCookieJar(),  # the hooks set no cookies; skip the jar on every call
            )
        url = f"{self._base_url}/api/internal/{hook}"
        async with self._session.post(url, json=payload, timeout=deadline or self._timeout) as response:
            raw = await response.content.read(MAX_RESPONSE_BYTES + 1)
            status = response.status
        if len(raw) > MAX_RESPONSE_BYTES:
            raise ApiResponseError("response too large")
        if not raw:
            return status, {}
        try:
            body = json.loads(raw)
        except ValueError:
            raise ApiResponseError(f"HTTP {status} with a body that is not JSON") from None
        return status, body if isinstance(body, dict) else {}


def parse_grant(body: Mapping[str, Any]) -> PublishGrant:
    """Check every field of an allow answer; the video URL becomes a path, so it is held to the video-url rule."""
    try:
        publish_id = str(uuid.UUID(str(body["publish_id"])))
        video_url = body["video_url"]
        if not isinstance(video_url, str) or not is_video_url(video_url):
            raise ApiResponseError(f"video_url does not match {VIDEO_URL_PATTERN}")
        ladder = parse_variants(body.get("ladder", []))
        segment_seconds = _positive_number(body.get("segment_seconds", 2), "segment_seconds")
        heartbeat = _positive_number(body.get("heartbeat_interval", 2), "heartbeat_interval")
        return PublishGrant(
            publish_id=publish_id,
            video_url=video_url,
            channel=str(body.get("channel", ""))[:64],
            ladder=ladder,
            segment_seconds=int(segment_seconds),
            heartbeat_interval=float(heartbeat),
            destinations=parse_targets(body.get("destinations", [])),
        )
    except LadderError as error:
        raise ApiResponseError(f"malformed ladder: {error}") from None
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, ApiResponseError):
            raise
        raise ApiResponseError(f"malformed grant: {type(error).__name__} {error}") from None


MAX_TARGETS = 64
MAX_TARGET_URL = 2048


def parse_targets(value: object) -> tuple[RestreamTarget, ...]:
    """Restream destinations of a grant or heartbeat answer: a list of {id, url: rtmp(s)://...}."""
    if not isinstance(value, list) or len(value) > MAX_TARGETS:
        raise ApiResponseError("destinations must be a list")
    targets = []
    for entry in value:
        if not isinstance(entry, dict):
            raise ApiResponseError("a destination must be an object")
        target_id, url = entry.get("id"), entry.get("url")
        if not isinstance(target_id, str) or not isinstance(url, str) or len(url) > MAX_TARGET_URL:
            raise ApiResponseError("a destination needs a string id and url")
        if not url.startswith(("rtmp://", "rtmps://")) or any(ord(c) <= 32 for c in url):
            raise ApiResponseError("a destination url must be rtmp:// or rtmps://")
        targets.append(RestreamTarget(id=str(uuid.UUID(target_id)), url=url))
    return tuple(targets)


def _positive_number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1e6:
        raise ApiResponseError(f"{name} must be a positive number")
    return float(value)


def _describe(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "timed out"
    return f"{type(error).__name__}: {error}"
