"""One live stream's transcode: the ingest's FLV tags into a supervised ffmpeg, out as HLS.

`LiveTranscode` is the ingest's `MediaSink`, a composition of three parts:
- `LiveSource` (`transcoder.source`): caches the metadata and sequence headers, probes the source,
  and primes every ffmpeg run with the headers from a keyframe on;
- `SupervisedProcess` (`transcoder.supervisor`): the packager process (`transcoder.package`),
  which runs the ffmpeg of `build_cmaf_command` on the same stdin, fed with backpressure, restarted after a crash, stopped in order, in a minimal environment;
- `StreamPlaylists` (`transcoder.stream_playlists`): the master and the finished recording.

ffmpeg starts once the picture size is known (AVC sequence header or metadata) and a keyframe
arrives. After a crash it starts again with `append_list`: the playlists go on after an
`#EXT-X-DISCONTINUITY`. `stop()` lets ffmpeg finish on EOF, closes every playlist with
`#EXT-X-ENDLIST` and leaves a playable recording.

Failure signal: when ffmpeg cannot be started, or exits more often than its restart budget allows
(`TRANSCODER_MAX_RESTARTS` within `TRANSCODER_RESTART_WINDOW_SECONDS`), the transcode has failed:
the playlists are closed as a recording at once, `failed` is True, `on_exit` receives a
`ProcessExit` whose outcome is `ExitOutcome.FAILED`, and every later `feed()` raises
`TranscodeFailed`. The ingest then ends the publish: the exception ends the connection's read loop,
which disconnects the publisher, stops the sink and reports the end of the video.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tidecast_common import flv
from tidecast_common.ladder import Variant, parse_variants
from tidecast_common.layout import VIDEO_URL_PATTERN, HlsLayout, is_video_url
from transcoder.ladder import Rendition, build_ladder
from transcoder.package import PackageSpec
from transcoder.progress import ProgressParser
from transcoder.settings import TranscoderSettings
from transcoder.source import LiveSource
from transcoder.stream_playlists import StreamPlaylists
from transcoder.supervisor import ExitCallback, ExitOutcome, ProcessExit, SupervisedProcess

if TYPE_CHECKING:
    from transcoder.archive import StreamArchiveHook

logger = logging.getLogger(__name__)
# Where the packager process imports `transcoder` from: this same tree.
PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)


class TranscodeFailed(RuntimeError):
    """ffmpeg gave up on this stream; the publish should end."""


class LiveTranscode:
    """The ingest's MediaSink for one live stream: FLV tags in, HLS renditions out."""

    def __init__(
        self,
        *,
        video_url: str,
        ladder: Sequence[Variant | Mapping[str, Any]],
        hls_root: Path | str,
        segment_seconds: int = 2,
        ffmpeg: str = "ffmpeg",
        preset: str = "veryfast",
        on_exit: ExitCallback | None = None,
        settings: TranscoderSettings | None = None,
        archive: StreamArchiveHook | None = None,
    ) -> None:
        if not is_video_url(video_url):
            raise ValueError(f"video_url must match {VIDEO_URL_PATTERN}")
        if segment_seconds < 1:
            raise ValueError("segment_seconds must be at least 1")
        settings = settings or TranscoderSettings()
        self.video_url = video_url
        self._variants = parse_variants(ladder)
        self._layout = HlsLayout(Path(hls_root))
        self._segment_seconds = segment_seconds
        self._ffmpeg = ffmpeg
        self._part_seconds = settings.part_seconds
        self._preset = preset
        self._on_exit = on_exit
        self._renditions: tuple[Rendition, ...] = ()
        self._progress = ProgressParser()
        self._source = LiveSource()
        self._playlists = StreamPlaylists(layout=self._layout, video_url=video_url, source=self._source)
        self._process = SupervisedProcess(
            name=f"stream {video_url} ffmpeg",
            command=self._command,
            environment={**settings.environment, "PYTHONPATH": PACKAGE_ROOT},
            limits=settings.limits,
            on_exit=self._process_exited,
            on_stderr=self._progress.feed,
        )
        self._master_task: asyncio.Task[None] | None = None
        self._stopping = False
        # Copies the stream's files into the object store as they appear (transcoder.archive).
        self._archive = archive

    # --- MediaSink -----------------------------------------------------------------------------

    async def on_metadata(self, metadata: Mapping[str, object]) -> None:
        self._source.set_metadata(metadata)

    async def feed(self, tag_type: int, timestamp_ms: int, payload: bytes) -> None:
        """Raises TranscodeFailed once ffmpeg has given up (see the module docstring)."""
        if self._stopping or not payload:
            return
        try:
            keyframe = self._source.observe(tag_type, timestamp_ms, payload)
        except flv.FlvError as error:
            logger.warning("stream %s: dropping a malformed tag: %s", self.video_url, error)
            return
        process = self._process
        if keyframe and process.runs == 0:
            await self._start()
        if process.failed:
            raise TranscodeFailed(f"stream {self.video_url}: the transcoder failed")
        if not process.running:
            return  # not started yet, or between a crash and its restart: this media is lost
        data = self._source.bytes_for_run(
            process.runs, tag_type=tag_type, timestamp_ms=timestamp_ms, payload=payload, keyframe=keyframe
        )
        if data is not None and not await process.write(data):
            self._source.run_lost()

    async def stop(self) -> None:
        """The publisher is gone: let ffmpeg finish, close every playlist, leave a playable recording."""
        if self._stopping:
            return
        self._stopping = True
        await self._process.stop()
        if self._master_task is not None:
            self._master_task.cancel()
            await asyncio.gather(self._master_task, return_exceptions=True)
        self._playlists.finalize(self._renditions)
        if self._archive is not None:
            self._archive.stream_ended(self.video_url)

    def stats(self) -> dict[str, float]:
        values = self._progress.stats()
        values["restarts"] = float(self._process.restarts)
        values["running"] = 1.0 if self._process.running else 0.0
        # The master is published once every rendition has segments: the video plays from then on.
        values["playable"] = 1.0 if self._playlists.master_written else 0.0
        if self._process.started_at is not None:
            values["uptime_seconds"] = round(time.monotonic() - self._process.started_at, 3)
        return values

    @property
    def failed(self) -> bool:
        """ffmpeg could not be started, or died too often: nothing fed comes out any more."""
        return self._process.failed

    @property
    def pid(self) -> int | None:
        """The running ffmpeg's pid (for supervision and tests)."""
        return self._process.pid

    @property
    def renditions(self) -> tuple[Rendition, ...]:
        return self._renditions

    def stderr_tail(self) -> list[str]:
        return self._process.stderr_tail()

    # --- composition ---------------------------------------------------------------------------

    async def _start(self) -> None:
        """The first start, once the source is known: its ladder, then ffmpeg."""
        source = self._source.probe()
        if source is None:
            logger.warning("stream %s: keyframe before the picture size is known", self.video_url)
            return
        self._renditions = build_ladder(
            source=source, variants=self._variants, segment_seconds=self._segment_seconds
        )
        logger.info("stream %s: renditions %s", self.video_url,
                    ", ".join(f"{r.name} {r.width}x{r.height}" for r in self._renditions))  # fmt: skip
        if not source.passthrough:
            sent = source.video_sps.summary if source.video_sps is not None else "no readable H.264 SPS"
            logger.info("stream %s: the source (%s, %s) is re-encoded: browsers would not play it as sent",
                        self.video_url, source.video_codec, sent)  # fmt: skip
        if self._archive is not None:
            self._archive.stream_started(self.video_url)
        if await self._process.start() and not self._playlists.master_written:
            self._master_task = asyncio.create_task(
                self._playlists.publish_master_when_ready(self._renditions)
            )

    def _command(self, restart: bool) -> list[str]:
        """The argv of each ffmpeg start. A stream taken over after an ingest crash finds its
        playlists already there, and continues them as a restart does."""
        source = self._source.info
        if source is None:  # the process is started only after a successful probe
            raise RuntimeError("ffmpeg started before the source was probed")
        if shutil.which(self._ffmpeg) is None:  # the packager would start, and fail at once
            raise FileNotFoundError(f"no ffmpeg at {self._ffmpeg}")
        continuing = restart or bool(self._playlists.present(self._renditions))
        self._layout.video_dir(self.video_url).mkdir(parents=True, exist_ok=True)
        self._progress.reset()
        spec = PackageSpec(
            output_dir=str(self._layout.video_dir(self.video_url)),
            renditions=self._renditions,
            segment_seconds=self._segment_seconds,
            part_seconds=self._part_seconds,
            fps=source.fps,
            has_audio=source.audio_codec is not None,
            copy_audio=source.audio_codec == "aac",
            preset=self._preset,
            ffmpeg_binary=self._ffmpeg,
            restart=continuing,
            wall_clock_start=time.time(),  # the keyframe that starts this run is being fed now
        )
        return [sys.executable, "-m", "transcoder.package", spec.to_json()]

    def _process_exited(self, process_exit: ProcessExit) -> None:
        if process_exit.outcome is ExitOutcome.FAILED:
            logger.error("stream %s: the transcoder failed; the publish should end", self.video_url)
            if self._master_task is not None:
                self._master_task.cancel()
            self._playlists.finalize(self._renditions)
        if self._on_exit is not None:
            self._on_exit(process_exit)
