"""Where accepted media goes: the MediaSink hand-off, and a sink that records the publish as FLV.

The live pipeline's `transcoder.live.LiveTranscode` implements MediaSink; `FlvRecordingSink` keeps
the stream exactly as received, for tests and for running the ingest without the transcoder.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from tidecast_common import flv

logger = logging.getLogger(__name__)


class MediaSink(Protocol):
    async def on_metadata(self, metadata: Mapping[str, object]) -> None: ...

    async def feed(self, tag_type: int, timestamp_ms: int, payload: bytes) -> None:
        """8 audio, 9 video: an FLV tag body. Awaits the sink's backpressure."""

    async def stop(self) -> None:
        """The publisher is gone: finish cleanly."""

    def stats(self) -> dict[str, float]: ...


@runtime_checkable
class ReportsFailure(Protocol):
    """A sink that can give up (the transcoder, once ffmpeg keeps dying) says so here."""

    @property
    def failed(self) -> bool: ...


def sink_failed(sink: MediaSink) -> bool:
    """Whether the sink gave up for good: nothing it is fed comes out any more."""
    return isinstance(sink, ReportsFailure) and sink.failed


class FlvRecordingSink:
    """Writes `<directory>/<video_url>.flv`. Tags are written in batches of about `flush_bytes` from a
    thread, so the event loop never blocks on the file, and each batch goes out with one writev of
    the tag headers and the received payloads as they are: no copy of the media in between. A batch
    is about three seconds of a 6 Mbps stream: each trip to the thread costs a few wakeups."""

    def __init__(self, *, path: Path, flush_bytes: int = 2 * 1024 * 1024) -> None:
        self.path = path
        self._flush_bytes = flush_bytes
        self._pieces: list[bytes] = [flv.FILE_SIGNATURE]
        self._batch_bytes = len(flv.FILE_SIGNATURE)
        self._last_body_size: int | None = None  # of the last tag, whose PreviousTagSize is still due
        self._file: BinaryIO | None = None
        self._metadata_written = False
        self._stopped = False
        self.tags_written = 0

    async def on_metadata(self, metadata: Mapping[str, object]) -> None:
        # Only the first onMetaData goes in, and only before media: a player reads it from the head.
        if not self._metadata_written and self.tags_written == 0:
            self._append(flv.TAG_SCRIPT, 0, flv.metadata_body(metadata))
        self._metadata_written = True

    async def feed(self, tag_type: int, timestamp_ms: int, payload: bytes) -> None:
        if self._stopped or tag_type not in (flv.TAG_AUDIO, flv.TAG_VIDEO) or not payload:
            return
        self._append(tag_type, timestamp_ms, payload)
        self.tags_written += 1
        if self._batch_bytes >= self._flush_bytes:
            await self._flush()

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._pieces.append(flv.file_end(self._last_body_size))
        await self._flush()
        if self._file is not None:
            await asyncio.to_thread(self._file.close)
        logger.info("recording %s closed after %d tags", self.path.name, self.tags_written)

    def stats(self) -> dict[str, float]:
        return {}

    def _append(self, tag_type: int, timestamp_ms: int, body: bytes) -> None:
        start = flv.tag_start(self._last_body_size, tag_type, timestamp_ms, len(body))
        self._pieces += (start, body)
        self._batch_bytes += len(start) + len(body)
        self._last_body_size = len(body)

    async def _flush(self) -> None:
        # The caller awaits the write, so the batch is not touched meanwhile: hand it over as it is.
        pieces, self._pieces, self._batch_bytes = self._pieces, [], 0
        if self._file is None:
            self._file = await asyncio.to_thread(self._open)
        await asyncio.to_thread(write_all, self._file, pieces)

    def _open(self) -> BinaryIO:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return self.path.open("wb", buffering=0)


IOV_MAX = 1024  # buffers per writev on Linux


def write_all(file: BinaryIO, pieces: list[bytes]) -> None:
    """Write `pieces` in order with writev, at most IOV_MAX at a time, resuming after short writes."""
    fd = file.fileno()
    index = 0
    while index < len(pieces):
        group = pieces[index : index + IOV_MAX]
        written = os.writev(fd, group)
        if written == sum(map(len, group)):  # the usual case: all of it
            index += len(group)
            continue
        while index < len(pieces) and written >= len(pieces[index]):
            written -= len(pieces[index])
            index += 1
        if written:
            pieces[index] = pieces[index][written:]
