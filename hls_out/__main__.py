"""`python -m hls_out`: serve the HLS root until SIGINT/SIGTERM, then shut down gracefully."""

from __future__ import annotations

import logging
import os

from aiohttp import web

from hls_out.server import create_app
from hls_out.settings import HlsSettings


def main() -> None:
    settings = HlsSettings.from_environment(os.environ)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings.hls_root.mkdir(parents=True, exist_ok=True)
    logging.getLogger(__name__).info(
        "serving %s on http://%s:%d/hls-live/", settings.hls_root, settings.host, settings.port
    )
    # run_app handles SIGINT/SIGTERM: stop accepting, finish in-flight responses, run cleanups.
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        access_log=None,
        print=None,
        shutdown_timeout=5.0,
    )


if __name__ == "__main__":
    main()
