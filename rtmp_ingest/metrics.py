"""The ingest's Prometheus endpoint: `GET /metrics` on its own port, served on the ingest's loop.

Every figure is read from the controller at scrape time, so a stream's series exist exactly while
it is live and vanish when it ends. Scrapes run on the event loop (no thread reads the loop's
state); building the text is a few microseconds per stream.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from rtmp_ingest.controller import IngestController

logger = logging.getLogger(__name__)


class IngestCollector(Collector):
    def __init__(self, controller: IngestController) -> None:
        self._controller = controller

    def collect(self) -> Iterator[Metric]:
        publishes = CounterMetricFamily(
            "tidecast_ingest_publishes",
            "Publish attempts decided, by result and refusal reason.",
            labels=["result", "reason"],
        )
        for (result, reason), count in sorted(self._controller.publishes.items()):
            publishes.add_metric([result, reason], count)
        yield publishes
        refusals = CounterMetricFamily(
            "tidecast_ingest_media_refusals",
            "Started publishes ended for their media (codec, frame size or rate, bitrate), by reason.",
            labels=["reason"],
        )
        for reason, count in sorted(self._controller.media_refusals.items()):
            refusals.add_metric([reason], count)
        yield refusals

        live = GaugeMetricFamily("tidecast_ingest_live_streams", "Publishes currently live on this ingest.")
        bitrate = GaugeMetricFamily(
            "tidecast_ingest_bitrate_kbps", "Media received from the publisher, kbit/s.", labels=["video"]
        )
        fps = GaugeMetricFamily(
            "tidecast_ingest_fps", "Video frames per second received from the publisher.", labels=["video"]
        )
        speed = GaugeMetricFamily(
            "tidecast_transcoder_speed", "Transcoder speed, multiple of real time.", labels=["video"]
        )
        restarts = CounterMetricFamily(
            "tidecast_transcoder_restarts", "Transcoder restarts after a crash.", labels=["video"]
        )
        streams = 0
        for video_url, conn in self._controller.live_streams():
            streams += 1
            media = conn.media.snapshot()
            bitrate.add_metric([video_url], media["bitrate_kbps"])
            fps.add_metric([video_url], media["fps"])
            sink = conn.sink.stats() if conn.sink is not None else {}
            if "transcoder_speed" in sink:
                speed.add_metric([video_url], sink["transcoder_speed"])
            if "restarts" in sink:
                restarts.add_metric([video_url], sink["restarts"])
        live.add_metric([], streams)
        yield from (live, bitrate, fps, speed, restarts)


def metrics_registry(controller: IngestController) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(IngestCollector(controller))
    return registry


def metrics_app(controller: IngestController) -> web.Application:
    registry = metrics_registry(controller)

    async def metrics(_: web.Request) -> web.Response:
        response = web.Response(body=generate_latest(registry))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    return app


async def start_metrics_server(controller: IngestController, *, host: str, port: int) -> web.AppRunner | None:
    """Serve /metrics; None when turned off (port 0) or when the port is taken (logged, the ingest runs on)."""
    if port == 0:
        return None
    runner = web.AppRunner(metrics_app(controller), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as error:
        logger.error("metrics endpoint not started on %s:%d: %s", host, port, error)
        await runner.cleanup()
        return None
    logger.info("metrics on http://%s:%d/metrics", host, port)
    return runner
