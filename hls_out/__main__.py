"""`python -m hls_out`: serve the HLS root until SIGINT/SIGTERM, then shut down gracefully.

HLS_WORKERS processes share the port (default: one per CPU); with one, there is no parent.
"""

from __future__ import annotations

import logging
import os

from hls_out.settings import HlsSettings, worker_count
from hls_out.workers import run, serve_one, serve_workers


def main() -> None:
    settings = HlsSettings.from_environment(os.environ)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings.hls_root.mkdir(parents=True, exist_ok=True)
    count = worker_count(settings)
    run(serve_one(settings) if count == 1 else serve_workers(settings, count))


if __name__ == "__main__":
    main()
