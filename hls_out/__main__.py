"""`python -m hls_out`: serve the HLS root until SIGINT/SIGTERM, then shut down gracefully."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from hls_out.server import HlsServer
from hls_out.settings import HlsSettings

SHUTDOWN_GRACE_SECONDS = 5.0


async def serve(settings: HlsSettings) -> None:
    server = HlsServer(settings)
    await server.start()
    logging.getLogger(__name__).info(
        "serving %s on http://%s:%d/hls-live/", settings.hls_root, settings.host, server.port
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    # Stop accepting, let responses in flight finish, then close what is left.
    await server.stop(grace_seconds=SHUTDOWN_GRACE_SECONDS)


def main() -> None:
    settings = HlsSettings.from_environment(os.environ)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings.hls_root.mkdir(parents=True, exist_ok=True)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
