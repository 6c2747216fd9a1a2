"""Restreaming: the publisher's stream pushed on, as received, to every enabled destination.

Each destination (YouTube, Twitch, another server: an `rtmp://` or `rtmps://` URL with the
platform's key) is pushed without re-encoding by one of two engines (`RestreamLimits.engine`):

- `NativePush` (the default): the ingest's own RTMP publisher (push_client.py) on the event loop. The
  restreamer gathers tags for `FLUSH_SECONDS`, then chunks them together in one copy
  (`chunk_batch`) and writes the same bytes onto every connection in one send each: per tag, only
  an append, and nothing per tag and destination. bench/bench_restream.py measures it beside
  nginx-rtmp's `push`.
- `DestinationPush`: an ffmpeg `-c copy` per destination under a `SupervisedProcess`, fed from a
  bounded queue of FLV tags (a process and some 60 MB per destination).

Both keep the same rules:

- `Restreamer.offer()` never waits: the tag is encoded once and every destination takes a reference.
  A destination that would fall more than `queue_bytes` behind (its unsent bytes and what it is
  handed: it reads slower than the publisher sends, or not at all) is dropped at once and its buffer
  freed: the transcoder and the other destinations never wait on it, and its memory stays within
  the bound. What the native engine gathers between two flushes is shared by all and bounded by
  `FLUSH_BYTES`.
- A dropped or dead destination (refused, unreachable, closed, ffmpeg exited) is `failed` with a
  `last_error` and tried again after a pause that doubles from `retry_initial` up to `retry_max`;
  one that stayed live `stable_after` seconds starts again from the shortest pause.
- A new run sends the metadata and the sequence headers first, then the tags from the next keyframe
  on (`StreamHeaders`). It is `connecting` until it publishes (native: `NetStream.Publish.Start`;
  ffmpeg: its progress output says it wrote), and `failed` if that takes longer than `connect_timeout`.

The URL holds the platform's key: it is never in a log line or a `last_error` (`redact`); whatever
ffmpeg prints is kept, redacted, in the destination's own tail, not in the supervisor's.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import re
import signal
import socket
import ssl
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import ffmpeg

from rtmp_ingest.chunks import OutgoingMessage, ProtocolError, chunk_messages
from rtmp_ingest.push_client import CHUNK_SIZE, PushError, RtmpPublisher, media_chunks, media_message
from rtmp_ingest.sinks import MediaSink, ReportsFailure
from rtmp_ingest.tls import trust_bundle
from tidecast_common import flv
from transcoder.codecs import audio_tag_info, video_tag_info
from transcoder.progress import PROGRESS_KEYS
from transcoder.supervisor import ExitOutcome, ProcessExit, ProcessLimits, SupervisedProcess

__all__ = [
    "ChunkedBatch",
    "DestinationPush",
    "GatheredTags",
    "NativePush",
    "PushStatus",
    "RestreamLimits",
    "RestreamTarget",
    "Restreamer",
    "RestreamingSink",
    "StreamHeaders",
    "build_push_command",
    "chunk_batch",
    "redact",
    "retry_pause",
]

logger = logging.getLogger(__name__)

MASK = "****"
ERROR_CHARACTERS = 300
TAIL_LINES = 20
# The last lines of ffmpeg's output that say why a run failed, without their "@ 0x55..." addresses.
FAILURE_LINES = 3
_FFMPEG_CONTEXT = re.compile(r" @ 0x[0-9a-f]+\]")
# How long the native engine gathers tags before they are chunked and written, one write per
# destination (the event loop's turn that brings the next tag after that flushes), the longest
# anything waits when no tag comes, and the bytes of payload after which it flushes at once.
# A tenth of a second is far under any platform's own latency, and a flush's fixed cost (the
# chunking's setup on cold caches, a send and the receiver's wakeup) is paid ten times a second.
FLUSH_SECONDS = 0.1
FLUSH_LATEST_SECONDS = 0.25
FLUSH_BYTES = 512 * 1024
# How long ffmpeg probes its input: the sequence headers come first, so little is needed.
ANALYZE_MICROSECONDS = 500_000
PROBE_BYTES = 1_000_000


@dataclass(frozen=True, slots=True)
class RestreamTarget:
    """One destination as the API hands it over: its id, and the URL in clear (never shown)."""

    id: str
    url: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class RestreamLimits:
    # Bytes of tags waiting for one destination's ffmpeg; more and the destination is dropped.
    queue_bytes: int = 8 * 1024 * 1024
    # Destinations pushed to per publish; the API's own cap is RESTREAM_MAX_DESTINATIONS.
    max_destinations: int = 5
    # From the start of an ffmpeg run to its first bytes written to the destination.
    connect_timeout: float = 10.0
    # Pauses before a failed destination is tried again: doubling from initial up to max.
    retry_initial: float = 1.0
    retry_max: float = 60.0
    # A run live at least this long counts as a success: the next failure waits `retry_initial`.
    stable_after: float = 30.0
    # A network read or write of ffmpeg's that takes longer fails (its -rw_timeout).
    io_timeout: float = 10.0
    # How long a stopped ffmpeg gets to finish before SIGTERM (then SIGKILL after as long again).
    stop_timeout: float = 3.0
    # "native": the ingest publishes itself (push_client.py); "ffmpeg": an ffmpeg -c copy per destination.
    engine: str = "native"
    # Extra CA certificates for rtmps:// destinations (the system's are always trusted).
    ca_file: str | None = None

    def __post_init__(self) -> None:
        if self.queue_bytes < 64 * 1024:
            raise ValueError("the restream queue must hold at least 64 KiB")
        if min(self.connect_timeout, self.retry_initial, self.io_timeout, self.stop_timeout) <= 0:
            raise ValueError("restream timeouts and pauses must be positive")
        if self.retry_max < self.retry_initial:
            raise ValueError("the longest restream pause must not be shorter than the first")
        if self.engine not in ("native", "ffmpeg"):
            raise ValueError("the restream engine is native or ffmpeg")


class PushStatus(enum.StrEnum):
    CONNECTING = "connecting"
    LIVE = "live"
    FAILED = "failed"


def retry_pause(failures: int, limits: RestreamLimits) -> float:
    """The pause after `failures` failures in a row (1: the first)."""
    return float(min(limits.retry_max, limits.retry_initial * 2 ** max(0, failures - 1)))


def build_push_command(
    *, url: str, ffmpeg_binary: str = "ffmpeg", io_timeout: float = 10.0, ca_file: str | None = None
) -> list[str]:
    """argv for ffmpeg reading FLV on stdin and publishing it unchanged to `url` (rtmp or rtmps).
    An rtmps destination's certificate and host name are verified, against `ca_file` if given
    (`tls.trust_bundle`), else the system's CAs."""
    source = ffmpeg.input("pipe:0", f="flv", analyzeduration=ANALYZE_MICROSECONDS, probesize=PROBE_BYTES)
    tls: dict[str, object] = {}
    if urlsplit(url).scheme.lower() == "rtmps":
        tls = {"tls_verify": 1, **({"ca_file": ca_file} if ca_file else {})}
    output = ffmpeg.output(
        source,
        url,
        c="copy",
        f="flv",
        flvflags="no_duration_filesize",  # nothing to seek back to on a live connection
        rw_timeout=int(io_timeout * 1_000_000),
        **tls,
    )
    output = output.global_args(
        "-hide_banner", "-nostats", "-loglevel", "error", "-progress", "pipe:2", "-stats_period", "1"
    )
    return list(output.compile(cmd=ffmpeg_binary))


def redact(text: str, url: str) -> str:
    """`text` without the URL's secrets: the URL itself, its last path segment (the key), its query
    and any password in it."""
    parts = urlsplit(url)
    secrets = [url, parts.query, parts.password or ""]
    key = parts.path.rstrip("/").rpartition("/")[2]
    secrets.append(key)
    for secret in sorted((s for s in secrets if len(s) >= 3), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


class StreamHeaders:
    """What every new ffmpeg run reads before the media: the metadata and the sequence headers."""

    def __init__(self) -> None:
        self.metadata: dict[str, object] = {}
        self._video_header: bytes | None = None
        self._audio_header: bytes | None = None
        self.has_audio = False

    def observe(self, tag_type: int, payload: bytes) -> bool:
        """Keep the headers; True when this tag is a keyframe a new run may start on."""
        if tag_type == flv.TAG_VIDEO:
            video = video_tag_info(payload)
            if video.sequence_header:
                self._video_header = payload
                return False
            return video.keyframe and (self._video_header is not None or video.codec != "h264")
        if tag_type == flv.TAG_AUDIO:
            self.has_audio = True
            if audio_tag_info(payload).sequence_header:
                self._audio_header = payload
        return False

    def sequence_headers(self) -> list[tuple[int, bytes]]:
        headers = []
        if self._video_header is not None:
            headers.append((flv.TAG_VIDEO, self._video_header))
        if self._audio_header is not None:
            headers.append((flv.TAG_AUDIO, self._audio_header))
        return headers

    def priming(self, timestamp_ms: int) -> bytes:
        data = flv.file_header(has_audio=self.has_audio, has_video=True) + flv.metadata_tag(self.metadata)
        if self._video_header is not None:
            data += flv.tag(flv.TAG_VIDEO, timestamp_ms, self._video_header)
        if self._audio_header is not None:
            data += flv.tag(flv.TAG_AUDIO, timestamp_ms, self._audio_header)
        return data


class _Push:
    """What both engines share: the status, and runs one after another until `stop()`, a failed
    one followed by a pause (`retry_pause`) that starts again from the shortest after a stable run."""

    def __init__(
        self, target: RestreamTarget, *, headers: StreamHeaders, limits: RestreamLimits, name: str
    ) -> None:
        self.target = target
        self._headers = headers
        self._limits = limits
        self._name = f"restream {name or '?'} -> {target.id}"
        self.status = PushStatus.CONNECTING
        self.last_error = ""
        self.runs = 0
        self.drops = 0  # times dropped for falling behind
        self.live_since: float | None = None
        self._accepting = False  # a run is up and takes tags
        self._primed = False  # that run has had its headers and a keyframe
        self._failure: str | None = None  # why the current run ends
        self._stopped = False
        self._stop_requested = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self._name)

    def report(self) -> dict[str, str]:
        return {"id": self.target.id, "status": str(self.status), "error": self.last_error}

    def _set_live(self) -> None:
        self.status = PushStatus.LIVE
        self.last_error = ""
        self.live_since = time.monotonic()
        logger.info("%s: live", self._name)

    async def _one_run(self) -> None:
        """Connect, push until the run ends (`_failure` says why, None when stopped)."""
        raise NotImplementedError

    async def _run(self) -> None:
        failures = 0
        while not self._stopped:
            self._failure = None
            self.status = PushStatus.CONNECTING
            self.live_since = None
            self.runs += 1
            await self._one_run()
            if self._stopped:
                return
            stable = (
                self.live_since is not None
                and time.monotonic() - self.live_since >= self._limits.stable_after
            )
            failures = 1 if stable else failures + 1
            self.status = PushStatus.FAILED
            self.last_error = (self._failure or "ended")[:ERROR_CHARACTERS]
            pause = retry_pause(failures, self._limits)
            logger.warning("%s: failed (%s); trying again in %.1f s", self._name, self.last_error, pause)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(pause):
                    await self._stop_requested.wait()


class DestinationPush(_Push):
    """One destination pushed through ffmpeg (`RESTREAM_ENGINE=ffmpeg`): its ffmpeg runs one after
    another, fed from a bounded queue, until `stop()`."""

    def __init__(
        self,
        target: RestreamTarget,
        *,
        headers: StreamHeaders,
        limits: RestreamLimits,
        ffmpeg_binary: str,
        environment: Mapping[str, str],
        name: str = "",
    ) -> None:
        super().__init__(target, headers=headers, limits=limits, name=name)
        self._ffmpeg = ffmpeg_binary
        self._environment = dict(environment)
        self.bytes_sent = 0
        self._queue: deque[bytes] = deque()
        self._queued_bytes = 0
        self._wakeup = asyncio.Event()
        self._pump: asyncio.Task[None] | None = None
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)

    # --- the ingest's side -------------------------------------------------------------------------

    def offer(self, data: bytes, *, keyframe: bool, timestamp_ms: int) -> None:
        """Queue one FLV tag; never waits. Before the run's first keyframe, tags are dropped."""
        if not self._accepting:
            return
        if not self._primed:
            if not keyframe:
                return
            self._primed = True
            self._enqueue(self._headers.priming(timestamp_ms))
        self._enqueue(data)

    async def stop(self) -> None:
        """End the push: the current ffmpeg finishes what it has (bounded by the stop timeouts)."""
        self._stopped = True
        self._accepting = False
        self._stop_requested.set()
        if self._pump is not None:
            self._pump.cancel()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    @property
    def queued_bytes(self) -> int:
        return self._queued_bytes

    def stderr_tail(self) -> list[str]:
        return list(self._tail)

    # --- internals ----------------------------------------------------------------------------------

    def _enqueue(self, data: bytes) -> None:
        if self._queued_bytes + len(data) > self._limits.queue_bytes:
            self.drops += 1
            self._end_run(f"dropped: the destination fell {self._queued_bytes // 1024} KiB behind")
            return
        self._queue.append(data)
        self._queued_bytes += len(data)
        self._wakeup.set()

    def _clear(self) -> None:
        self._queue.clear()
        self._queued_bytes = 0

    def _end_run(self, reason: str) -> None:
        """From any callback: the current run is over; its pump stops at once, the queue is freed."""
        if self._failure is None:
            self._failure = reason
            if not self._stopped:  # said at once: the next heartbeat reports it
                self.status = PushStatus.FAILED
                self.last_error = reason[:ERROR_CHARACTERS]
        self._accepting = False
        self._clear()
        if self._pump is not None:
            self._pump.cancel()

    def _on_stderr(self, line: str) -> bool:
        key, separator, value = line.partition("=")
        if separator and key.strip() in PROGRESS_KEYS:
            # total_size counts what the flv muxer wrote: past the connection and the publish.
            written = value.strip()
            if key.strip() == "total_size" and written.isdigit() and int(written) > 0:
                self._written()
            return True
        self._tail.append(redact(line, self.target.url)[:ERROR_CHARACTERS])
        return True  # consumed: the supervisor keeps no copy (it would log it unredacted)

    def _written(self) -> None:
        if self.status is PushStatus.CONNECTING:
            self._set_live()

    def _on_exit(self, process_exit: ProcessExit) -> None:
        if process_exit.outcome is ExitOutcome.STOPPED:
            return
        # ffmpeg says why first and what failed last (TLS, then the connection, then the URL).
        detail = " / ".join(_FFMPEG_CONTEXT.sub("]", line) for line in list(self._tail)[-FAILURE_LINES:])
        code = process_exit.returncode
        reason = f"ffmpeg exited with {code}" if code is not None else "ffmpeg could not be started"
        self._end_run(f"{reason}: {detail}" if detail else reason)

    async def _one_run(self) -> None:
        loop = asyncio.get_running_loop()
        self._tail.clear()
        try:
            ca_file = await asyncio.to_thread(trust_bundle, self._limits.ca_file)  # file I/O, off the loop
        except OSError as error:
            self._failure = f"the CA certificates could not be read: {error.strerror or error}"
            return
        argv: list[str] = build_push_command(
            url=self.target.url,
            ffmpeg_binary=self._ffmpeg,
            io_timeout=self._limits.io_timeout,
            ca_file=ca_file,
        )
        process = SupervisedProcess(
            name=self._name,
            command=_fixed(argv),
            environment=self._environment,
            limits=ProcessLimits(
                max_restarts=0,
                write_timeout_seconds=self._limits.io_timeout,
                finish_timeout_seconds=self._limits.stop_timeout,
                terminate_timeout_seconds=self._limits.stop_timeout,
            ),
            on_exit=self._on_exit,
            on_stderr=self._on_stderr,
        )
        try:
            if await process.start():
                self._primed = False
                self._accepting = True
                self._pump = loop.create_task(self._feed(process))
                await asyncio.wait({self._pump})
            elif self._failure is None:
                self._failure = "ffmpeg could not be started"
        finally:
            self._accepting = False
            self._clear()
            self._pump = None
            if self._failure is not None and not self._stopped and process.pid is not None:
                # A failed run has nothing worth finishing: it goes at once, with what it holds.
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGKILL)
            # Otherwise stopped in order (stdin closed, then signals), bounded by the stop timeouts.
            await process.stop()

    async def _feed(self, process: SupervisedProcess) -> None:
        """Write what is queued to ffmpeg's stdin until the run fails (it is cancelled then)."""
        loop = asyncio.get_running_loop()
        connect_by = loop.time() + self._limits.connect_timeout
        while self._failure is None:
            if self.status is PushStatus.CONNECTING and loop.time() >= connect_by:
                self._failure = f"no connection within {self._limits.connect_timeout:g} s"
                return
            if self._queue:
                data = b"".join(self._queue) if len(self._queue) > 1 else self._queue[0]
                self._clear()
                if not await process.write(data):
                    # Died, or took nothing within the write timeout (then killed): its exit says why.
                    # (Its exit cancels this task, with the reason.)
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(1.0):
                            await self._stop_requested.wait()
                    self._failure = self._failure or "ffmpeg stopped reading"
                    return
                self.bytes_sent += len(data)
                continue
            self._wakeup.clear()
            wait = 1.0 if self.status is PushStatus.LIVE else max(0.0, min(1.0, connect_by - loop.time()))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wakeup.wait()


class GatheredTags:
    """What the native engine gathers between two flushes: the tags as messages to chunk, their
    payload bytes, and where a new run may start (the first keyframe, and the sequence headers in
    force at it: a later one among the tags is for later frames)."""

    __slots__ = ("keyframe_index", "keyframe_timestamp", "messages", "payload_bytes", "sequence_headers")

    def __init__(self) -> None:
        self.messages: list[OutgoingMessage] = []
        self.payload_bytes = 0
        self.keyframe_index = -1
        self.keyframe_timestamp = 0
        self.sequence_headers: list[tuple[int, bytes]] = []

    def add(
        self, tag_type: int, timestamp_ms: int, payload: bytes, keyframe: bool, headers: StreamHeaders
    ) -> None:
        if keyframe and self.keyframe_index < 0:
            self.keyframe_index = len(self.messages)
            self.keyframe_timestamp = timestamp_ms
            self.sequence_headers = headers.sequence_headers()
        self.messages.append(media_message(tag_type, timestamp_ms, payload))
        self.payload_bytes += len(payload)


@dataclass(frozen=True, slots=True)
class ChunkedBatch:
    """The tags gathered since the last flush, chunked for one stream id: `data` goes to every
    connection on that stream id; a run that starts in this batch takes `sequence_headers`, then the
    batch from `keyframe_piece` on."""

    data: bytes
    pieces: list[bytes | memoryview] = field(repr=False)  # what `data` was joined from
    keyframe_piece: int  # where the first keyframe's chunks begin in `pieces`; -1 when there is none
    keyframe_timestamp: int
    sequence_headers: Sequence[tuple[int, bytes]] = ()


def chunk_batch(gathered: GatheredTags, stream_id: int) -> ChunkedBatch:
    """Chunk the gathered tags as one run of messages, copied once."""
    messages, first_keyframe = gathered.messages, gathered.keyframe_index
    split = first_keyframe if first_keyframe >= 0 else len(messages)
    pieces = chunk_messages(messages[:split], msg_stream_id=stream_id, chunk_size=CHUNK_SIZE)
    keyframe_piece = len(pieces) if first_keyframe >= 0 else -1
    pieces += chunk_messages(messages[split:], msg_stream_id=stream_id, chunk_size=CHUNK_SIZE)
    return ChunkedBatch(
        b"".join(pieces), pieces, keyframe_piece, gathered.keyframe_timestamp, gathered.sequence_headers
    )


class NativePush(_Push):
    """One destination pushed by the ingest itself (`RtmpPublisher`, the default engine): one RTMP
    connection after another until `stop()`. The restreamer hands it a batch every `FLUSH_SECONDS`
    or so (`send`), which goes onto the connection's transport in one write; what the destination
    has not taken yet is bounded by `queue_bytes` (more, and it is dropped), and a transport that
    takes nothing for `io_timeout` is dropped too."""

    def __init__(
        self, target: RestreamTarget, *, headers: StreamHeaders, limits: RestreamLimits,
        ca_file: str | None = None, name: str = "",
    ) -> None:  # fmt: skip
        super().__init__(target, headers=headers, limits=limits, name=name)
        self._ca_file = ca_file
        self.stream_id = 0  # of the open connection; 0 while there is none
        self._publisher: RtmpPublisher | None = None
        self._ended = asyncio.Event()
        self._opening = False

    @property
    def ready(self) -> bool:
        """A run is up and takes media (on `stream_id`)."""
        return self._accepting and self._publisher is not None

    def send(self, batch: ChunkedBatch) -> None:
        """The batch (chunked for this `stream_id`) onto the connection in one write; never waits. A
        new run gets the metadata and the batch's sequence headers first, then the batch from its
        first keyframe on (none: it waits for the next batch)."""
        publisher = self._publisher
        if not self._accepting or publisher is None:
            return
        data = batch.data
        if not self._primed:
            if batch.keyframe_piece < 0:
                return
            self._primed = True
            priming = [publisher.metadata_chunks(self._headers.metadata)]
            priming += [
                media_chunks(tag_type, batch.keyframe_timestamp, header, stream_id=self.stream_id)
                for tag_type, header in batch.sequence_headers
            ]
            data = b"".join([*priming, *batch.pieces[batch.keyframe_piece :]])
        behind = publisher.buffered
        if behind + len(data) > self._limits.queue_bytes:
            self.drops += 1
            self._end_run(f"dropped: the destination fell {behind // 1024} KiB behind")
            return
        publisher.write(data)

    @property
    def queued_bytes(self) -> int:
        publisher = self._publisher
        return publisher.buffered if publisher is not None else 0

    async def stop(self) -> None:
        """End the push: an orderly unpublish (the restreamer has sent the stream's last moments)."""
        self._stopped = True
        self._accepting = False
        self._stop_requested.set()
        self._ended.set()
        if self._task is not None:
            if self._opening:
                self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def _end_run(self, reason: str) -> None:
        if self._failure is None:
            self._failure = redact(reason, self.target.url)
            if not self._stopped:
                self.status = PushStatus.FAILED
                self.last_error = self._failure[:ERROR_CHARACTERS]
        self._accepting = False
        self._ended.set()

    async def _one_run(self) -> None:
        self._ended.clear()
        publisher = RtmpPublisher(self.target.url, ca_file=self._ca_file, on_closed=self._end_run)
        self._publisher = publisher
        try:
            self._opening = True
            try:
                async with asyncio.timeout(self._limits.connect_timeout):
                    await publisher.open()
            finally:
                self._opening = False
        except TimeoutError:
            self._end_run(f"no connection within {self._limits.connect_timeout:g} s")
        except (PushError, OSError, ssl.SSLError, asyncio.IncompleteReadError, ProtocolError) as error:
            self._end_run(_describe_push_error(error))
        except asyncio.CancelledError:
            publisher.abort()
            self._publisher = None
            raise
        else:
            self.stream_id = publisher.stream_id
            self._primed = False
            self._accepting = not self._stopped
            self._set_live()
            await self._watch(publisher)
        self._accepting = False
        self.stream_id = 0
        if self._failure is not None and not self._stopped:
            publisher.abort()
        else:
            await publisher.close()
        self._publisher = None

    async def _watch(self, publisher: RtmpPublisher) -> None:
        """Until the run ends; a transport that holds bytes and takes none for `io_timeout` ends it."""
        loop = asyncio.get_running_loop()
        last_progress = loop.time()
        last_buffered = 0
        while not self._ended.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self._ended.wait()
            buffered = publisher.buffered
            if buffered == 0 or buffered < last_buffered:
                last_progress = loop.time()
            last_buffered = buffered
            if loop.time() - last_progress >= self._limits.io_timeout:
                self._end_run(f"dropped: the destination took nothing for {self._limits.io_timeout:g} s")


def _describe_push_error(error: BaseException) -> str:
    if isinstance(error, PushError):
        return str(error)
    if isinstance(error, asyncio.IncompleteReadError):
        return "the destination closed the connection during the handshake"
    if isinstance(error, ssl.SSLError):
        return f"TLS error: {error.reason or type(error).__name__}"
    if isinstance(error, ConnectionRefusedError):
        return "Connection refused"
    if isinstance(error, socket.gaierror):
        return "the destination's host name does not resolve"
    if isinstance(error, OSError):
        return error.strerror or type(error).__name__
    return type(error).__name__


def _fixed(argv: list[str]) -> Callable[[bool], list[str]]:
    """The same argv for every start (a run is never restarted: the next run is a new process)."""

    def command(restart: bool) -> list[str]:
        return argv

    return command


class Restreamer:
    """Every destination of one publish: tags offered to all, the list kept in step with the API's."""

    def __init__(
        self,
        targets: Iterable[RestreamTarget],
        *,
        limits: RestreamLimits,
        ffmpeg_binary: str = "ffmpeg",
        environment: Mapping[str, str] | None = None,
        name: str = "",
    ) -> None:
        self._limits = limits
        self._ffmpeg = ffmpeg_binary
        self._environment = dict(environment or {})
        self._name = name
        self.headers = StreamHeaders()
        self._pushes: dict[str, DestinationPush | NativePush] = {}
        self._stopping: set[asyncio.Task[None]] = set()
        self._native = limits.engine == "native"
        self._gathered = GatheredTags()  # for the native pushes, since the last flush
        self._flush_timer: asyncio.TimerHandle | None = None
        self._flush_soon: asyncio.Handle | None = None
        self._flushed_at = 0.0
        # The publish's loop, kept: asking for the running loop per tag costs a getpid() each time.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped = False
        self._initial = tuple(targets)

    @property
    def pushes(self) -> Sequence[DestinationPush | NativePush]:
        return tuple(self._pushes.values())

    @property
    def active(self) -> bool:
        return bool(self._pushes)

    def start(self) -> None:
        self.update(self._initial)

    def update(self, targets: Iterable[RestreamTarget]) -> None:
        """Start the destinations new in `targets`, stop those no longer in it."""
        if self._stopped:
            return
        wanted: dict[str, RestreamTarget] = {}
        for target in targets:
            if len(wanted) >= self._limits.max_destinations:
                logger.warning("restream %s: more than %d destinations; the rest are left out",
                               self._name, self._limits.max_destinations)  # fmt: skip
                break
            wanted[target.id] = target
        for target_id in list(self._pushes):
            push = self._pushes[target_id]
            if target_id not in wanted or wanted[target_id].url != push.target.url:
                del self._pushes[target_id]
                self._stop_later(push)
        for target_id, target in wanted.items():
            if target_id not in self._pushes:
                push = self._make_push(target)
                self._pushes[target_id] = push
                push.start()

    def _make_push(self, target: RestreamTarget) -> DestinationPush | NativePush:
        if self._limits.engine == "ffmpeg":
            return DestinationPush(target, headers=self.headers, limits=self._limits, ffmpeg_binary=self._ffmpeg,
                                   environment=self._environment, name=self._name)  # fmt: skip
        return NativePush(target, headers=self.headers, limits=self._limits, ca_file=self._limits.ca_file,
                          name=self._name)  # fmt: skip

    def on_metadata(self, metadata: Mapping[str, object]) -> None:
        self.headers.metadata = dict(metadata)

    def offer(self, tag_type: int, timestamp_ms: int, payload: bytes) -> None:
        """One tag to every destination; never waits. Malformed tags are not pushed."""
        if not self._pushes or tag_type not in (flv.TAG_AUDIO, flv.TAG_VIDEO) or not payload:
            return
        try:
            keyframe = self.headers.observe(tag_type, payload)
        except flv.FlvError:
            return
        if not self._native:  # one FLV tag, shared by every ffmpeg
            tag = flv.tag(tag_type, timestamp_ms, payload)
            for push in self._pushes.values():
                if isinstance(push, DestinationPush):
                    push.offer(tag, keyframe=keyframe, timestamp_ms=timestamp_ms)
            return
        # Flushed at the end of the event loop's turn that brings a tag FLUSH_SECONDS after the last
        # flush, once that turn's tags are gathered too (they are still in the CPU's caches then): a
        # few sends a second per destination rather than one per tag, and no wakeup of its own. The
        # timer only bounds the wait when the publisher pauses.
        gathered = self._gathered
        gathered.add(tag_type, timestamp_ms, payload, keyframe, self.headers)
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        if gathered.payload_bytes >= FLUSH_BYTES:
            self._flush()
        elif loop.time() - self._flushed_at >= FLUSH_SECONDS:
            if self._flush_soon is None:
                self._flush_soon = loop.call_soon(self._flush)
        elif self._flush_timer is None:
            self._flush_timer = loop.call_later(FLUSH_LATEST_SECONDS, self._flush)

    @property
    def gathered_bytes(self) -> int:
        """Payload bytes waiting for the next flush."""
        return self._gathered.payload_bytes

    def _flush(self) -> None:
        """The gathered tags, chunked once per stream id (servers answer createStream with 1, as a
        rule), onto every native connection that takes media, in one write each."""
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        if self._flush_soon is not None:
            self._flush_soon.cancel()
            self._flush_soon = None
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        self._flushed_at = loop.time()
        gathered, self._gathered = self._gathered, GatheredTags()
        if not gathered.messages:
            return
        batches: dict[int, ChunkedBatch] = {}
        for push in self._pushes.values():
            if isinstance(push, NativePush) and push.ready:
                batch = batches.get(push.stream_id)
                if batch is None:
                    batch = batches[push.stream_id] = chunk_batch(gathered, push.stream_id)
                push.send(batch)

    def observe_only(self, tag_type: int, payload: bytes) -> None:
        """Keep the headers while no destination is pushed to, so one added later can start."""
        if tag_type in (flv.TAG_AUDIO, flv.TAG_VIDEO) and payload:
            with contextlib.suppress(flv.FlvError):
                self.headers.observe(tag_type, payload)

    def reports(self) -> list[dict[str, str]]:
        return [push.report() for push in self._pushes.values()]

    def stats(self) -> dict[str, float]:
        pushes = self._pushes.values()
        return {
            "restream_destinations": float(len(self._pushes)),
            "restream_live": float(sum(1 for p in pushes if p.status is PushStatus.LIVE)),
        }

    async def stop(self) -> None:
        self._flush()  # the stream's last moments, then each push's orderly end
        self._stopped = True
        pushes, self._pushes = list(self._pushes.values()), {}
        await asyncio.gather(*(push.stop() for push in pushes), *self._stopping, return_exceptions=True)

    def _stop_later(self, push: DestinationPush | NativePush) -> None:
        task = asyncio.get_running_loop().create_task(push.stop())
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)


class RestreamingSink:
    """A MediaSink in front of the publish's own sink (the transcoder): each tag goes to the
    restreamer first, which never waits, then to the sink, whose backpressure the ingest awaits."""

    def __init__(self, sink: MediaSink, restreamer: Restreamer) -> None:
        self.sink = sink
        self.restreamer = restreamer
        restreamer.start()

    async def on_metadata(self, metadata: Mapping[str, object]) -> None:
        self.restreamer.on_metadata(metadata)
        await self.sink.on_metadata(metadata)

    async def feed(self, tag_type: int, timestamp_ms: int, payload: bytes) -> None:
        restreamer = self.restreamer
        if restreamer.active:
            restreamer.offer(tag_type, timestamp_ms, payload)
        else:
            restreamer.observe_only(tag_type, payload)
        await self.sink.feed(tag_type, timestamp_ms, payload)

    async def stop(self) -> None:
        # Together: each ffmpeg finishes on EOF, the transcoder's playlists and the pushes alike.
        results = await asyncio.gather(self.sink.stop(), self.restreamer.stop(), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    def stats(self) -> dict[str, float]:
        return {**self.sink.stats(), **self.restreamer.stats()}

    @property
    def failed(self) -> bool:
        return isinstance(self.sink, ReportsFailure) and self.sink.failed
