"""HLS traffic for Prometheus: responses to playlist and segment requests, and the bytes sent.

Worker processes (HLS_WORKERS > 1) each count their own; prometheus_client's multiprocess mode
(PROMETHEUS_MULTIPROC_DIR, set before start) sums them, and the parent serves the total. Without
that folder the endpoint is only served by a single process (HLS_WORKERS=1). The endpoint runs
in a thread of its own (prometheus_client's server), off the serving loop.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

from prometheus_client import REGISTRY, CollectorRegistry, Counter, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector

logger = logging.getLogger(__name__)

Kind = Literal["playlist", "segment"]

REQUESTS = Counter(
    "tidecast_hls_requests",
    "Responses to playlist and segment requests, by kind and HTTP status.",
    ["kind", "status"],
)
BYTES = Counter("tidecast_hls_bytes", "Playlist and segment body bytes sent, by kind.", ["kind"])


SEGMENT_SUFFIXES = (".ts", ".m4s", ".mp4")


def request_kind(path: str) -> Kind | None:
    """What a request asks for, by its suffix; other requests are not counted."""
    if path.endswith(".m3u8"):
        return "playlist"
    if path.endswith(SEGMENT_SUFFIXES):
        return "segment"
    return None


class Traffic:
    """Labelled counters cached by (kind, status): one dict lookup and two increments a response."""

    def __init__(self) -> None:
        self._requests: dict[tuple[Kind, int], Counter] = {}
        self._bytes = {kind: BYTES.labels(kind=kind) for kind in ("playlist", "segment")}

    def record(self, kind: Kind, status: int, sent: int) -> None:
        requests = self._requests.get((kind, status))
        if requests is None:
            requests = self._requests[kind, status] = REQUESTS.labels(kind=kind, status=str(status))
        requests.inc()
        if sent:
            self._bytes[kind].inc(sent)


def start_metrics_endpoint(*, host: str, port: int, workers: int, multiprocess_dir: str) -> bool:
    """Serve /metrics from this (parent) process; False, logged, when it cannot sum the workers."""
    if workers > 1 and not multiprocess_dir:
        logger.warning("HLS metrics need PROMETHEUS_MULTIPROC_DIR with HLS_WORKERS > 1; not served")
        return False
    registry: CollectorRegistry = REGISTRY
    if multiprocess_dir:
        folder = Path(multiprocess_dir)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):  # a previous run's figures
            stale.unlink(missing_ok=True)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=multiprocess_dir)  # type: ignore[no-untyped-call]
    try:
        start_http_server(port, addr=host, registry=registry)
    except OSError as error:
        logger.error("HLS metrics not served on %s:%d: %s", host, port, error)
        return False
    logger.info("HLS metrics on http://%s:%d/metrics", host, port)
    return True
