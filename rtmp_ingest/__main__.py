"""`python -m rtmp_ingest`: the RTMP ingest, configured from the environment."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import TYPE_CHECKING

import uvloop

from rtmp_ingest.api_client import IngestApiClient, PublishGrant
from rtmp_ingest.controller import SinkFactory
from rtmp_ingest.metrics import start_metrics_server
from rtmp_ingest.server import IngestServer
from rtmp_ingest.settings import IngestSettings, SettingsError
from rtmp_ingest.sinks import FlvRecordingSink, MediaSink
from tidecast_common.logs import configure_logging

if TYPE_CHECKING:
    from transcoder.archive import LiveArchiver


def sink_factory(settings: IngestSettings, archive: LiveArchiver | None = None) -> SinkFactory:
    """LiveTranscode (HLS renditions) by default; INGEST_SINK=record keeps the raw FLV instead.

    A LiveTranscode whose ffmpeg gave up raises TranscodeFailed from `feed()`, which ends the
    publish: the publisher is disconnected and the video ends."""
    if settings.sink == "record":

        def record(grant: PublishGrant) -> MediaSink:
            return FlvRecordingSink(path=settings.recordings_dir / f"{grant.video_url}.flv")

        return record

    from transcoder.live import LiveTranscode

    def transcode(grant: PublishGrant) -> MediaSink:
        return LiveTranscode(
            video_url=grant.video_url,
            ladder=grant.ladder,
            hls_root=settings.hls_root,
            segment_seconds=grant.segment_seconds,
            ffmpeg=settings.ffmpeg,
            settings=settings.transcoder,
            archive=archive,
        )

    return transcode


async def serve(settings: IngestSettings, *, sinks: SinkFactory | None = None) -> None:
    """Run the ingest until SIGTERM/SIGINT; `sinks` overrides the sink the settings choose."""
    api = IngestApiClient(
        base_url=settings.api_base_url,
        secret=settings.shared_secret,
        timeout=settings.api_timeout,
        authorize_timeout=settings.authorize_timeout,
    )
    archive = await start_archive(settings, api)
    server = IngestServer(settings=settings, api=api, sink_factory=sinks or sink_factory(settings, archive))
    await server.start()
    metrics = await start_metrics_server(
        server.controller, host=settings.metrics_host, port=settings.metrics_port
    )
    loop = asyncio.get_running_loop()
    stopping: list[asyncio.Task[None]] = []

    def request_stop() -> None:
        if not stopping:
            stopping.append(loop.create_task(server.stop()))

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, request_stop)
    loop.add_signal_handler(signal.SIGHUP, server.reload_certificate)
    await server.serve_until_stopped()
    if archive is not None:
        await archive.close(drain_seconds=settings.shutdown_grace)
    if metrics is not None:
        await metrics.cleanup()


async def start_archive(settings: IngestSettings, api: IngestApiClient) -> LiveArchiver | None:
    """The node's copier of live streams into the object store, when one is configured."""
    if settings.archive is None or settings.sink != "transcode":
        return None
    from transcoder.archive import LiveArchiver

    async def stored(video_url: str) -> bool:
        return await api.recording_stored(video_url=video_url)

    archive = LiveArchiver(
        settings=settings.archive, hls_root=settings.hls_root, on_stored=stored, is_ended=api.video_ended
    )
    await archive.start()
    return archive


def main() -> int:
    try:
        settings = IngestSettings.from_env(os.environ)
    except SettingsError as error:
        print(f"rtmp_ingest: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    # uvloop: a C event loop and transports, a fraction of asyncio's cost per wakeup.
    uvloop.run(serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
