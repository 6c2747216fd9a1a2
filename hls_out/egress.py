"""Bytes sent per video, counted by each HLS server process and reported to the API
(`POST /api/internal/egress`, the viewer reports' secret) every few seconds: the figures behind a
user's `egress_bytes_30d`. Bounded: past `max_videos` distinct videos between two reports, the
bytes of new ones are dropped (and logged)."""

from __future__ import annotations

import asyncio
import logging

import aiohttp

from tidecast_common.layout import URL_PREFIX, VIDEO_URL_LENGTH

logger = logging.getLogger(__name__)

REPORT_TIMEOUT_SECONDS = 5.0
MAX_VIDEOS = 10_000


class EgressCounter:
    def __init__(self, *, max_videos: int = MAX_VIDEOS) -> None:
        self._max = max_videos
        self._sent: dict[str, int] = {}
        self._dropped = 0

    def add(self, request_path: str, sent: int) -> None:
        """`sent` body bytes for the video a (servable) request path names."""
        if sent <= 0:
            return
        video_url = request_path[len(URL_PREFIX) : len(URL_PREFIX) + VIDEO_URL_LENGTH]
        if video_url in self._sent:
            self._sent[video_url] += sent
        elif len(self._sent) < self._max:
            self._sent[video_url] = sent
        else:
            self._dropped += sent

    def take(self) -> dict[str, int]:
        sent, self._sent = self._sent, {}
        if self._dropped:
            logger.warning(
                "egress: %d bytes of videos past the %d-video bound were not counted",
                self._dropped,
                self._max,
            )
            self._dropped = 0
        return sent

    def give_back(self, sent: dict[str, int]) -> None:
        """A report that failed: its figures go into the next one."""
        for video_url, count in sent.items():
            self.add(f"{URL_PREFIX}{video_url}", count)


async def report_egress_forever(
    *, counter: EgressCounter, api_base_url: str, secret: str, interval: float
) -> None:
    url = f"{api_base_url}/api/internal/egress"
    timeout = aiohttp.ClientTimeout(total=REPORT_TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while True:
            await asyncio.sleep(interval)
            sent = counter.take()
            if not sent:
                continue
            try:
                async with session.post(
                    url, json={"sent": sent}, headers={"X-Hls-Report-Secret": secret}
                ) as resp:
                    if resp.status >= 300:
                        logger.warning("egress report refused: HTTP %d", resp.status)
                        if resp.status >= 500:
                            counter.give_back(sent)
            except (aiohttp.ClientError, TimeoutError) as error:
                logger.warning("egress report failed: %s", error)
                counter.give_back(sent)
