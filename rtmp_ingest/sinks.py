"""Where accepted media goes: the MediaSink hand-off, and a sink that records the publish as FLV.

The live pipeline's `transcoder.live.LiveTranscode` implements MediaSink; `FlvRecordingSink` keeps
the stream exactly as received, for tests and for running the ingest without the transcoder.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO, Protocol

from rtmp_ingest import flv

logger = logging.getLogger(__name__)


class MediaSink(Protocol):
    async def on_metadata(self, metadata: Mapping[str, object]) -> None: ...

    async def feed(self, tag_type: int, timestamp_ms: int, payload: bytes) -> None:
        """8 audio, 9 video: an FLV tag body. Awaits the sink's backpressure."""

    async def stop(self) -> None:
        """The publisher is gone: finish cleanly."""

    def stats(self) -> dict[str, float]: ...


class FlvRecordingSink:
    """Writes `<directory>/<video_url>.flv`. Disk writes run in a thread, in batches of `flush_bytes`,
    so the event loop never blocks on the file and the buffer stays bounded. A batch is about a second
    of a 6 Mbps stream: each trip to the thread costs a few wakeups, so it should be rare."""

    def __init__(self, *, path: Path, flush_bytes: int = 1024 * 1024) -> None:
        self.path = path
        self._flush_bytes = flush_bytes
        self._buffer = bytearray(flv.FILE_HEADER)
        self._file: BinaryIO | None = None
        self._metadata_written = False
        self._stopped = False
        self.tags_written = 0

    async def on_metadata(self, metadata: Mapping[str, object]) -> None:
        # Only the first onMetaData goes in, and only before media: a player reads it from the head.
        if not self._metadata_written and self.tags_written == 0:
            self._buffer += flv.metadata_tag(metadata)
        self._metadata_written = True

    async def feed(self, tag_type: int, timestamp_ms: int, payload: bytes) -> None:
        if self._stopped or tag_type not in (flv.TAG_AUDIO, flv.TAG_VIDEO) or not payload:
            return
        flv.append_tag(self._buffer, tag_type, timestamp_ms, payload)
        self.tags_written += 1
        if len(self._buffer) >= self._flush_bytes:
            await self._flush()

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        await self._flush()
        if self._file is not None:
            await asyncio.to_thread(self._file.close)
        logger.info("recording %s closed after %d tags", self.path.name, self.tags_written)

    def stats(self) -> dict[str, float]:
        return {}

    async def _flush(self) -> None:
        # The caller awaits the write, so the batch is not touched meanwhile: hand it over uncopied.
        data, self._buffer = self._buffer, bytearray()
        if self._file is None:
            self._file = await asyncio.to_thread(self._open)
        await asyncio.to_thread(self._file.write, data)

    def _open(self) -> BinaryIO:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return self.path.open("wb")
