"""One live stream's playlists on disk: the master, published once every rendition has begun, and
the recording closed when the stream ends. The rules are in `transcoder.playlists`; this is the I/O."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from tidecast_common.layout import HlsLayout
from transcoder.ladder import Rendition
from transcoder.playlists import (
    atomic_write_text,
    ensure_endlist,
    master_playlist,
    plan_finalization,
    with_measured_bitrate,
)
from transcoder.source import LiveSource

logger = logging.getLogger(__name__)

MASTER_POLL_SECONDS = 0.1


class StreamPlaylists:
    def __init__(self, *, layout: HlsLayout, video_url: str, source: LiveSource) -> None:
        self._layout = layout
        self._video_url = video_url
        self._source = source
        self.master_written = False

    def present(self, renditions: Sequence[Rendition]) -> set[str]:
        """The renditions whose variant playlist exists."""
        return {r.name for r in renditions if self._layout.variant_playlist(self._video_url, r.name).exists()}

    async def publish_master_when_ready(self, renditions: Sequence[Rendition]) -> None:
        """Write the master once every rendition has a playlist, so players find them all."""
        while not self.master_written:
            if len(self.present(renditions)) == len(renditions):
                self.write_master(renditions)
                return
            await asyncio.sleep(MASTER_POLL_SECONDS)

    def write_master(self, renditions: Sequence[Rendition]) -> None:
        info = self._source.info
        if info is None or not renditions:
            return
        listed = with_measured_bitrate(
            renditions, stated_kbps=info.video_kbps, measured_kbps=self._source.measured_video_kbps()
        )
        text = master_playlist(
            video_url=self._video_url,
            renditions=listed,
            fps=info.fps,
            source_codec_tag=info.video_codec_tag,
            audio_codec_tag=self._source.audio_codec_tag(),
        )
        atomic_write_text(self._layout.master(self._video_url), text)
        self.master_written = True
        logger.info("stream %s: master playlist written", self._video_url)

    def finalize(self, renditions: Sequence[Rendition]) -> None:
        """Every variant ends with #EXT-X-ENDLIST and the master lists those that exist: a VOD."""
        plan = plan_finalization(
            renditions=renditions, present=self.present(renditions), master_written=self.master_written
        )
        for name in plan.close:
            if ensure_endlist(self._layout.variant_playlist(self._video_url, name)):
                logger.info("stream %s: closed the %s playlist", self._video_url, name)
        if plan.master is not None:
            self.write_master(plan.master)
