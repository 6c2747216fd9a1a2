"""The HLS server: the handler of `hls_out.app` on aiohttp's `web.Server`, a listening socket whose
connections are `hls_out.connection.HlsConnection`s, and its lifecycle.

Idle keep-alive connections close after KEEPALIVE_TIMEOUT_SECONDS; aiohttp starts that clock
when a connection opens, so it also bounds the wait for the first request. A response, from
either path, that the client has not taken within SEND_TIMEOUT_SECONDS loses it the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiohttp import web

from hls_out.app import build_handler
from hls_out.blocking import LowLatency
from hls_out.connection import HlsConnection
from hls_out.egress import EgressCounter, report_egress_forever
from hls_out.egress_log import start_egress_log
from hls_out.fast_path import FastPath
from hls_out.file_cache import FileCache
from hls_out.low_latency import build_low_latency_handler
from hls_out.metrics import Traffic
from hls_out.settings import HlsSettings
from hls_out.store import StoreFallback
from hls_out.tokens import PlaybackGate
from hls_out.viewers import ViewerCounter, ViewerSink, ViewerTracker, report_viewers_forever

logger = logging.getLogger(__name__)

KEEPALIVE_TIMEOUT_SECONDS = 15.0
SEND_TIMEOUT_SECONDS = 30.0
MAX_LINE_BYTES = 8190
MAX_HEADERS = 64
BACKLOG = 1024


def start_viewer_reports(settings: HlsSettings, tracker: ViewerTracker) -> list[asyncio.Task[None]]:
    if not settings.report_secret:
        logger.info("no HLS_REPORT_SECRET: viewer counts are not reported")
        return []
    report = report_viewers_forever(
        tracker=tracker,
        api_base_url=settings.api_base_url,
        secret=settings.report_secret,
        interval=settings.viewer_report_seconds,
    )
    return [asyncio.create_task(report)]


def new_store_fallback(settings: HlsSettings) -> StoreFallback | None:
    if settings.store is None:
        return None
    return StoreFallback.from_settings(
        settings.store,
        cache_bytes=settings.store_cache_megabytes * 1024 * 1024,
        max_object_bytes=settings.store_max_object_megabytes * 1024 * 1024,
    )


def new_tracker(settings: HlsSettings) -> ViewerTracker:
    return ViewerTracker(
        window_seconds=settings.viewer_window_seconds,
        max_sessions=settings.max_viewer_sessions,
        max_per_client=settings.max_sessions_per_ip,
    )


class HlsServer:
    """Serves `/hls-live/` from `settings.hls_root`; counts viewers into `viewers`.

    Alone, the server counts into its own ViewerTracker and reports it to the API. As one of
    several worker processes it is given a TouchBatch that its parent collects (`hls_out.workers`).
    """

    def __init__(self, settings: HlsSettings, *, viewers: ViewerSink | None = None) -> None:
        self.settings = settings
        self.tracker = new_tracker(settings)
        self.viewers: ViewerSink = self.tracker if viewers is None else viewers
        self.traffic = Traffic()
        self.egress = EgressCounter()
        self.cache = FileCache(max_bytes=settings.playlist_cache_megabytes * 1024 * 1024)
        self.segments = FileCache(
            max_bytes=settings.segment_cache_megabytes * 1024 * 1024,
            max_file_bytes=settings.cached_segment_max_kilobytes * 1024,
        )
        self.connections: set[HlsConnection] = set()
        self._manager: web.Server | None = None
        self._listener: asyncio.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.low_latency: LowLatency | None = None
        self._egress_log: asyncio.DatagramTransport | None = None

    @property
    def port(self) -> int:
        if self._listener is None or not self._listener.sockets:
            raise RuntimeError("the server is not listening")
        return int(self._listener.sockets[0].getsockname()[1])

    async def start(self, *, reuse_port: bool = False) -> None:
        loop = asyncio.get_running_loop()
        counter = ViewerCounter(
            self.viewers, trust_proxy_headers=self.settings.trust_proxy_headers, clock=loop.time
        )
        gate = PlaybackGate(
            key=self.settings.playback_token_key.encode(),
            hls_root=self.settings.hls_root,
            marker_ttl=self.settings.private_check_seconds,
        )
        self.low_latency = LowLatency(playlists=self.cache, max_waiters=self.settings.max_blocking_requests)
        self.low_latency.start()
        low_latency = build_low_latency_handler(
            hls_root=self.settings.hls_root,
            blocking=self.low_latency,
            playlists=self.cache,
            segments=self.segments,
            traffic=self.traffic,
            send_timeout=SEND_TIMEOUT_SECONDS,
        )
        handler = build_handler(
            hls_root=self.settings.hls_root,
            viewers=counter,
            traffic=self.traffic,
            playlists=self.cache,
            segments=self.segments,
            send_timeout=SEND_TIMEOUT_SECONDS,
            low_latency=low_latency,
            store=new_store_fallback(self.settings),
            egress=self.egress,
            gate=gate,
        )
        fast_path = FastPath(
            hls_root=self.settings.hls_root,
            playlists=self.cache,
            segments=self.segments,
            viewers=counter,
            traffic=self.traffic,
            egress=self.egress,
            gate=gate,
        )
        options: dict[str, Any] = {
            "access_log": None,
            "keepalive_timeout": KEEPALIVE_TIMEOUT_SECONDS,
            "max_line_size": MAX_LINE_BYTES,
            "max_field_size": MAX_LINE_BYTES,
            "max_headers": MAX_HEADERS,
        }
        manager = self._manager = web.Server(handler, loop=loop)
        self._listener = await loop.create_server(
            lambda: HlsConnection(
                manager,
                open_connections=self.connections,
                limit=self.settings.max_connections,
                fast_path=fast_path,
                send_timeout=SEND_TIMEOUT_SECONDS,
                loop=loop,
                **options,
            ),
            host=self.settings.host,
            port=self.settings.port,
            reuse_port=reuse_port or None,
            backlog=BACKLOG,
        )
        if self.settings.egress_log:
            self._egress_log, _ = await start_egress_log(
                self.egress, host=self.settings.host, port=self.port, reuse_port=reuse_port
            )
        if self.viewers is self.tracker:
            self._tasks.extend(start_viewer_reports(self.settings, self.tracker))
        if self.settings.report_secret:  # every process reports the bytes it sent itself
            report = report_egress_forever(
                counter=self.egress,
                api_base_url=self.settings.api_base_url,
                secret=self.settings.report_secret,
                interval=self.settings.viewer_report_seconds,
            )
            self._tasks.append(asyncio.create_task(report))

    async def stop(self, *, grace_seconds: float = 5.0) -> None:
        """Stop accepting, close idle connections, let responses in flight finish, then close."""
        if self._listener is not None:
            self._listener.close()
        if self._egress_log is not None:
            self._egress_log.close()
        if self._manager is not None:
            self._manager.pre_shutdown()  # idle keep-alive connections close now
            await self._manager.shutdown(grace_seconds)  # then what is still answering is cancelled
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._listener is not None:
            await self._listener.wait_closed()
        if self.low_latency is not None:
            await self.low_latency.stop()
