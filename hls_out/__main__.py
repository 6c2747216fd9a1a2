"""`python -m hls_out`: serve the HLS root until SIGINT/SIGTERM, then shut down gracefully.

HLS_WORKERS processes share the port (default: one per CPU); with one, there is no parent.
"""

from __future__ import annotations

import os
import sys

from hls_out.metrics import start_metrics_endpoint
from hls_out.settings import HlsSettings, worker_count
from hls_out.workers import run, serve_one, serve_workers
from tidecast_common.env import SettingsError
from tidecast_common.logs import configure_logging


def main() -> int:
    try:
        settings = HlsSettings.from_environment(os.environ)
    except SettingsError as error:
        print(f"hls_out: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    settings.hls_root.mkdir(parents=True, exist_ok=True)
    count = worker_count(settings)
    if settings.metrics_port:
        start_metrics_endpoint(
            host=settings.metrics_host,
            port=settings.metrics_port,
            workers=count,
            multiprocess_dir=settings.multiprocess_dir,
        )
    run(serve_one(settings) if count == 1 else serve_workers(settings, count))
    return 0


if __name__ == "__main__":
    sys.exit(main())
