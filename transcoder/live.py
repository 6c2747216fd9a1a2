"""One live stream's transcode: the ingest's FLV tags into a supervised ffmpeg, out as HLS.

`LiveTranscode` is the ingest's `MediaSink`. ffmpeg starts once the picture size is known (AVC
sequence header) and a keyframe arrives; tags go to its stdin with `drain()` backpressure. If
ffmpeg dies mid-stream it is started again at once and primed with the FLV header, metadata and
sequence headers kept from the start, then fed from the next keyframe: the playlists go on
(`append_list`) after an `#EXT-X-DISCONTINUITY`.

No ffmpeg outlives its stream:
- `stop()` closes stdin, lets ffmpeg finish its playlists, then SIGTERM, then SIGKILL, and always
  reaps it. The ingest calls `stop()` for every stream in its own SIGTERM shutdown.
- If the ingest dies without that (SIGKILL, crash), ffmpeg reads EOF on stdin and finishes, and
  the kernel sends it SIGTERM as its parent is gone (PR_SET_PDEATHSIG, set between fork and exec).
- ffmpeg runs in a session of its own, so a Ctrl-C on the terminal reaches the ingest, which
  stops ffmpeg in order, instead of killing ffmpeg first and triggering a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from tidecast_common import flv
from tidecast_common.ladder import Variant, parse_variants
from tidecast_common.layout import VIDEO_URL_PATTERN, HlsLayout, is_video_url
from transcoder import codecs
from transcoder.command import build_hls_command
from transcoder.ladder import MAXRATE_FACTOR, Rendition, SourceInfo, build_ladder
from transcoder.playlists import atomic_write_text, ensure_endlist, master_playlist
from transcoder.progress import ProgressParser
from transcoder.source import audio_codec_tag, source_info

logger = logging.getLogger(__name__)

STDERR_TAIL_LINES = 40
STDERR_LINE_LIMIT = 16 * 1024
MASTER_POLL_SECONDS = 0.1
# Restarts allowed within RESTART_WINDOW_SECONDS before the stream is given up.
MAX_RESTARTS = 5
RESTART_WINDOW_SECONDS = 60.0
PR_SET_PDEATHSIG = 1

ExitCallback = Callable[[int, bool], None]


def _parent_death_signal() -> Callable[[], None] | None:
    """A pre-exec hook making the kernel SIGTERM ffmpeg when its parent dies (Linux only)."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def set_death_signal() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the signal was armed
            os._exit(1)

    return set_death_signal


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
        restart_pause: float = 0.2,
        stop_timeout: float = 10.0,
        write_timeout: float = 10.0,
    ) -> None:
        if not is_video_url(video_url):
            raise ValueError(f"video_url must match {VIDEO_URL_PATTERN}")
        if segment_seconds < 1:
            raise ValueError("segment_seconds must be at least 1")
        self.video_url = video_url
        self._variants = parse_variants(ladder)
        self._layout = HlsLayout(Path(hls_root))
        self._output_dir = self._layout.video_dir(video_url)
        self._master_path = self._layout.master(video_url)
        self._segment_seconds = segment_seconds
        self._ffmpeg = ffmpeg
        self._preset = preset
        self._on_exit = on_exit
        self._restart_pause = restart_pause
        self._stop_timeout = stop_timeout
        self._write_timeout = write_timeout

        self._metadata: dict[str, object] = {}
        self._avc_header: bytes | None = None
        self._aac_header: bytes | None = None
        self._video_codec: str | None = None
        self._audio_codec: str | None = None
        self._source: SourceInfo | None = None
        self._renditions: tuple[Rendition, ...] = ()

        self._process: asyncio.subprocess.Process | None = None
        self._primed = False
        self._spawn_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._failed = False
        self._master_written = False
        self._restart_times: deque[float] = deque(maxlen=MAX_RESTARTS + 1)
        self._restarts = 0
        self._started_at: float | None = None
        self._stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self._progress = ProgressParser()
        # Video bytes and time span seen, for the source's BANDWIDTH when the metadata has no bitrate.
        self._video_bytes = 0
        self._video_span_ms: tuple[int, int] | None = None

    # --- MediaSink -----------------------------------------------------------------------------

    async def on_metadata(self, metadata: Mapping[str, object]) -> None:
        self._metadata = dict(metadata)

    async def feed(self, tag_type: int, timestamp_ms: int, payload: bytes) -> None:
        if self._stopping or self._failed or not payload:
            return
        try:
            keyframe = self._observe(tag_type, timestamp_ms, payload)
        except flv.FlvError as error:
            logger.warning("stream %s: dropping a malformed tag: %s", self.video_url, error)
            return
        first_start = self._process is None and self._started_at is None
        if first_start and not (keyframe and await self._start()):
            return
        if self._process is None:
            return  # between a crash and its restart: this media is lost
        if not self._primed:
            if not keyframe:
                return
            await self._write(self._priming_tags(timestamp_ms) + flv.tag(tag_type, timestamp_ms, payload))
            self._primed = True
            return
        await self._write(flv.tag(tag_type, timestamp_ms, payload))

    async def stop(self) -> None:
        """The publisher is gone: let ffmpeg finish, close every playlist, leave a playable recording."""
        async with self._spawn_lock:
            if self._stopping:
                return
            self._stopping = True
        process = self._process
        returncode = 0
        if process is not None:
            returncode = await self._finish(process)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._finalize_playlists()
        if process is not None and self._on_exit is not None:
            self._on_exit(returncode, False)

    @property
    def failed(self) -> bool:
        """ffmpeg could not be started, or died too often: nothing fed comes out any more."""
        return self._failed

    def stats(self) -> dict[str, float]:
        values = self._progress.stats()
        values["restarts"] = float(self._restarts)
        values["running"] = 1.0 if self._process is not None and self._process.returncode is None else 0.0
        if self._started_at is not None:
            values["uptime_seconds"] = round(time.monotonic() - self._started_at, 3)
        return values

    @property
    def pid(self) -> int | None:
        """The running ffmpeg's pid (for supervision and tests)."""
        return self._process.pid if self._process is not None else None

    @property
    def renditions(self) -> tuple[Rendition, ...]:
        return self._renditions

    def stderr_tail(self) -> list[str]:
        return list(self._stderr_tail)

    # --- media -----------------------------------------------------------------------------------

    def _count_video(self, timestamp_ms: int, size: int) -> None:
        self._video_bytes += size
        first = self._video_span_ms[0] if self._video_span_ms else timestamp_ms
        self._video_span_ms = (first, max(first, timestamp_ms))

    def _measured_video_kbps(self) -> int | None:
        if self._video_span_ms is None:
            return None
        span_ms = self._video_span_ms[1] - self._video_span_ms[0]
        return round(self._video_bytes * 8 / span_ms) if span_ms >= 1000 else None

    def _observe(self, tag_type: int, timestamp_ms: int, payload: bytes) -> bool:
        """Keep the headers a (re)start needs; True when this tag is a video keyframe to start on."""
        if tag_type == flv.TAG_VIDEO:
            video = codecs.video_tag_info(payload)
            self._video_codec = self._video_codec or video.codec
            self._count_video(timestamp_ms, len(payload))
            if video.sequence_header:
                self._avc_header = payload
                return False
            return video.keyframe and (self._avc_header is not None or video.codec != "h264")
        if tag_type == flv.TAG_AUDIO:
            audio = codecs.audio_tag_info(payload)
            self._audio_codec = self._audio_codec or audio.codec
            if audio.sequence_header:
                self._aac_header = payload
        return False

    def _priming_tags(self, timestamp_ms: int) -> bytes:
        has_audio = self._source is not None and self._source.audio_codec is not None
        data = flv.file_header(has_audio=has_audio, has_video=True) + flv.metadata_tag(self._metadata)
        if self._avc_header is not None:
            data += flv.tag(flv.TAG_VIDEO, timestamp_ms, self._avc_header)
        if self._aac_header is not None:
            data += flv.tag(flv.TAG_AUDIO, timestamp_ms, self._aac_header)
        return data

    async def _write(self, data: bytes) -> None:
        process = self._process
        if process is None or process.stdin is None:
            return
        if process.stdin.is_closing():
            # ffmpeg died and its watcher has not restarted it yet. Writing now would raise
            # RuntimeError under uvloop rather than BrokenPipeError.
            self._primed = False
            return
        try:
            process.stdin.write(data)
            await asyncio.wait_for(process.stdin.drain(), timeout=self._write_timeout)
        except (BrokenPipeError, ConnectionResetError):
            self._primed = False  # ffmpeg died; its watcher restarts it
        except TimeoutError:
            logger.error("stream %s: ffmpeg took no input for %.0f s, killing it", self.video_url,
                         self._write_timeout)  # fmt: skip
            self._primed = False
            with contextlib.suppress(ProcessLookupError):
                process.kill()

    # --- process supervision ---------------------------------------------------------------------

    async def _start(self) -> bool:
        source = source_info(
            metadata=self._metadata,
            avc_sequence_header=self._avc_header,
            video_codec=self._video_codec,
            audio_codec=self._audio_codec,
        )
        if source is None:
            logger.warning("stream %s: keyframe before the picture size is known", self.video_url)
            return False
        self._source = source
        self._renditions = build_ladder(
            source=source, variants=self._variants, segment_seconds=self._segment_seconds
        )
        self._started_at = time.monotonic()
        # A stream taken over after an ingest crash continues its playlists too.
        continuing = any(
            self._layout.variant_playlist(self.video_url, r.name).exists() for r in self._renditions
        )
        await self._spawn(restart=continuing)
        return self._process is not None

    async def _spawn(self, *, restart: bool) -> None:
        async with self._spawn_lock:
            if self._stopping:
                return
            source = self._source
            if source is None:
                return
            argv = build_hls_command(
                renditions=self._renditions,
                output_dir=self._output_dir,
                segment_seconds=self._segment_seconds,
                has_audio=source.audio_codec is not None,
                copy_audio=source.audio_codec == "aac",
                preset=self._preset,
                restart=restart,
                ffmpeg_binary=self._ffmpeg,
            )
            self._output_dir.mkdir(parents=True, exist_ok=True)
            self._primed = False
            self._progress.reset()
            try:
                process = await asyncio.create_subprocess_exec(
                    *argv,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.PIPE,
                    start_new_session=True,
                    preexec_fn=_parent_death_signal(),
                    limit=STDERR_LINE_LIMIT,
                )
            except OSError:
                logger.exception("stream %s: cannot start %s", self.video_url, self._ffmpeg)
                self._failed = True
                return
            self._process = process
            logger.info(
                "stream %s: ffmpeg %d started (%s, %s)",
                self.video_url,
                process.pid,
                "restart" if restart else "first start",
                ", ".join(f"{r.name} {r.width}x{r.height}" for r in self._renditions),
            )
            self._track(self._read_stderr(process))
            self._track(self._watch(process))
            if not self._master_written:
                self._track(self._write_master_when_ready())

    def _track(self, coroutine: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _watch(self, process: asyncio.subprocess.Process) -> None:
        returncode = await process.wait()
        if self._stopping or self._process is not process:
            return
        self._process = None
        self._primed = False
        now = time.monotonic()
        self._restart_times.append(now)
        recent = [moment for moment in self._restart_times if now - moment < RESTART_WINDOW_SECONDS]
        will_restart = len(recent) <= MAX_RESTARTS
        logger.error(
            "stream %s: ffmpeg %d exited with %s mid-stream (%s); last output:\n%s",
            self.video_url,
            process.pid,
            returncode,
            "restarting" if will_restart else "too many restarts, giving up",
            "\n".join(self._stderr_tail),
        )
        if self._on_exit is not None:
            self._on_exit(returncode, will_restart)
        if not will_restart:
            self._failed = True
            self._finalize_playlists()
            return
        await asyncio.sleep(self._restart_pause)
        self._restarts += 1
        await self._spawn(restart=True)

    async def _read_stderr(self, process: asyncio.subprocess.Process) -> None:
        stream = process.stderr
        if stream is None:
            return
        while True:
            try:
                raw = await stream.readline()
            except ValueError:  # a line longer than the limit: skip it
                continue
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip()
            if line and not self._progress.feed(line):
                self._stderr_tail.append(line)
                logger.debug("stream %s ffmpeg: %s", self.video_url, line)

    async def _finish(self, process: asyncio.subprocess.Process) -> int:
        """Close stdin so ffmpeg writes its last segments and #EXT-X-ENDLIST; force it if it hangs."""
        if process.stdin is not None:
            process.stdin.close()
            with contextlib.suppress(OSError):
                await process.stdin.wait_closed()
        try:
            return await asyncio.wait_for(process.wait(), timeout=self._stop_timeout)
        except TimeoutError:
            logger.warning("stream %s: ffmpeg %d did not finish, terminating", self.video_url, process.pid)
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            return await asyncio.wait_for(process.wait(), timeout=3.0)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            return await process.wait()

    # --- playlists -------------------------------------------------------------------------------

    async def _write_master_when_ready(self) -> None:
        """Publish the master once every rendition has a playlist, so players find them all."""
        while not self._master_written:
            if all(self._layout.variant_playlist(self.video_url, r.name).exists() for r in self._renditions):
                self._write_master(self._renditions)
                return
            await asyncio.sleep(MASTER_POLL_SECONDS)

    def _write_master(self, renditions: Sequence[Rendition]) -> None:
        source = self._source
        if source is None or not renditions:
            return
        measured_kbps = self._measured_video_kbps()
        if source.video_kbps is None and measured_kbps is not None:
            renditions = [
                replace(r, video_kbps=measured_kbps, maxrate_kbps=round(measured_kbps * MAXRATE_FACTOR))
                if r.copy_video
                else r
                for r in renditions
            ]
        atomic_write_text(
            self._master_path,
            master_playlist(
                video_url=self.video_url,
                renditions=renditions,
                fps=source.fps,
                source_codec_tag=source.video_codec_tag,
                audio_codec_tag=audio_codec_tag(self._aac_header if source.audio_codec == "aac" else None)
                if source.audio_codec
                else None,
            ),
        )
        self._master_written = True
        logger.info("stream %s: master playlist written", self.video_url)

    def _finalize_playlists(self) -> None:
        """Every variant ends with #EXT-X-ENDLIST and the master lists those that exist: a VOD."""
        present = [
            r for r in self._renditions if self._layout.variant_playlist(self.video_url, r.name).exists()
        ]
        for rendition in present:
            if ensure_endlist(self._layout.variant_playlist(self.video_url, rendition.name)):
                logger.info("stream %s: closed the %s playlist", self.video_url, rendition.name)
        if present and (not self._master_written or len(present) != len(self._renditions)):
            self._write_master(present)
