"""`python -m hls_out`: serve the HLS root until SIGINT/SIGTERM, then shut down gracefully.

HLS_WORKERS processes share the port (default: one per CPU); with one, there is no parent.
"""

from __future__ import annotations

import os

from hls_out.metrics import start_metrics_endpoint
from hls_out.settings import HlsSettings, worker_count
from hls_out.workers import run, serve_one, serve_workers
from transcoder.logs import configure_logging


def main() -> None:
    settings = HlsSettings.from_environment(os.environ)
    configure_logging(settings.log_level, settings.log_format)
    settings.hls_root.mkdir(parents=True, exist_ok=True)
    count = worker_count(settings)
    metrics_port = int(os.environ.get("HLS_METRICS_PORT") or 0)
    if metrics_port:
        start_metrics_endpoint(
            host=os.environ.get("HLS_METRICS_HOST", "127.0.0.1"),
            port=metrics_port,
            workers=count,
            multiprocess_dir=os.environ.get("PROMETHEUS_MULTIPROC_DIR", ""),
        )
    run(serve_one(settings) if count == 1 else serve_workers(settings, count))


if __name__ == "__main__":
    main()
