"""What the ingest does with each connection's events: the publish lifecycle, the API and the sink.

One controller serves every connection. `client_callback` owns a connection from accept to close:
it takes the events of its `ConnectionIO` (adapter.py), answers connect and createStream, feeds a
publish through the `PublishSession` lifecycle (publish.py) and carries out its outputs. Every exit
(EOF, protocol error, timeout, cancellation) goes through `_closed`, and the socket is always
closed. Other tasks (heartbeats, shutdown) never touch the sink: they ask for a stop, and the
connection's own task winds it down.

Admission beyond the connection caps lives here too: the node's stream cap (`max_streams`, taken
before the API is asked and held until the close) and the media gate (media_policy.py) that ends a
publish whose codec, picture, rate or bitrate the transcoder should not take.

It is over 300 lines because the lifecycle's outputs, the heartbeats, those limits and the shutdown
all act on the same per-connection record, which is clearest kept in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from rtmp_ingest.adapter import ConnectionIO, peer_ip
from rtmp_ingest.api_client import IngestApiClient, PublishDenial, PublishGrant
from rtmp_ingest.chunks import BufferBudget, ProtocolError
from rtmp_ingest.connection import (
    AcceptConnect,
    AcceptCreateStream,
    Closed,
    Connect,
    CreateStream,
    Media,
    Metadata,
    Publish,
    RejectConnect,
    RtmpConnection,
    StartPublish,
    StopPublish,
)
from rtmp_ingest.connection import RejectPublish as RejectPublishReply
from rtmp_ingest.media_policy import MediaGate, MediaRefusal
from rtmp_ingest.media_stats import MediaStats
from rtmp_ingest.publish import (
    AuthorizationDenied,
    AuthorizationGranted,
    Authorize,
    ConnectionLost,
    Disconnect,
    Event,
    PublishRequested,
    PublishSession,
    PublishStateError,
    RejectPublish,
    ReportEnd,
    StartPublishing,
    StopMedia,
    StopRequested,
)
from rtmp_ingest.receive import ReceiveBuffer
from rtmp_ingest.restream import Restreamer, RestreamingSink
from rtmp_ingest.settings import IngestSettings
from rtmp_ingest.sinks import MediaSink, sink_failed
from rtmp_ingest.stream_keys import redact
from tidecast_common.logs import current_video

__all__ = ["ConnectionRefused", "IngestController", "SinkFactory", "peer_ip"]

logger = logging.getLogger(__name__)

SinkFactory = Callable[[PublishGrant], MediaSink]
SINK_STOP_TIMEOUT = 15.0
SINK_FAILED = "transcoder_failed"
AT_CAPACITY = "at_capacity"
API_UNREACHABLE = "api_unreachable"
MEDIA_REJECTED = "NetStream.Publish.Rejected"


class ConnectionRefused(Exception):
    """This side decided to close the connection (refused app or publish, no publishing slot)."""


@dataclass(eq=False)
class Connection:
    io: ConnectionIO
    peer_ip: str
    gate: MediaGate
    media: MediaStats
    lifecycle: PublishSession = field(default_factory=PublishSession)
    sink: MediaSink | None = None
    heartbeat: asyncio.Task[None] | None = None
    stop_reason: str | None = None
    closed: bool = False
    video_url: str = ""
    holds_publishing_slot: bool = False
    holds_stream_slot: bool = False

    def request_stop(self, reason: str) -> None:
        """From any task: end this connection; its own task then stops the sink and reports the end."""
        if self.stop_reason is None:
            self.stop_reason = reason
        transport = self.io.writer.transport
        if not transport.is_closing():
            transport.abort()


class PublishingSlots(Protocol):
    """Admission's count of granted publishers, apart from connections still on their way to one."""

    def promote(self) -> None: ...

    def demote(self) -> None: ...


class IngestController:
    def __init__(
        self,
        *,
        settings: IngestSettings,
        api: IngestApiClient,
        sink_factory: SinkFactory,
        slots: PublishingSlots | None = None,
    ) -> None:
        self._settings = settings
        self._api = api
        self._sink_factory = sink_factory
        self._slots = slots
        self._budget = BufferBudget(settings.buffer_budget)
        self._connection_limits = settings.connection_limits()
        self._io_limits = settings.io_limits()
        self._media_limits = settings.media_limits()
        self._connections: set[Connection] = set()
        self._tasks: set[asyncio.Task[object]] = set()
        # Publishes holding one of the node's `max_streams` transcodes, from authorize to close.
        self._streams_taken = 0
        # (result, reason) -> publishes: "accepted"/"" or "refused"/the API's reason. Read by metrics.
        self.publishes: Counter[tuple[str, str]] = Counter()
        # reason -> started publishes ended for the media they sent (codec, size, rate, bitrate).
        self.media_refusals: Counter[str] = Counter()

    @property
    def buffer_budget(self) -> BufferBudget:
        return self._budget

    # --- connection loop --------------------------------------------------------------------------

    async def client_callback(self, reader: ReceiveBuffer, writer: asyncio.StreamWriter) -> None:
        connection = RtmpConnection(self._connection_limits, budget=self._budget)
        io = ConnectionIO(reader, writer, connection, limits=self._io_limits)
        limits = self._media_limits
        conn = Connection(
            io=io,
            peer_ip=peer_ip(writer),
            gate=MediaGate(limits),
            media=MediaStats(window_s=max(5, limits.max_kbps_seconds)),
        )
        self._connections.add(conn)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        reason = "closed by peer"
        try:
            await self._serve(conn)
        except ConnectionRefused as refused:
            reason = str(refused)
        except (ProtocolError, PublishStateError) as error:
            reason = f"protocol error: {error}"
        except TimeoutError as error:
            reason = f"timed out: {error}" if str(error) else "timed out"
        except (ConnectionError, EOFError) as error:
            reason = type(error).__name__
        except asyncio.CancelledError:
            reason = "cancelled"
            raise
        except Exception as error:
            # Not the peer's fault: a bug here. The connection goes, the server stays.
            reason = f"internal error ({type(error).__name__})"
            logger.exception("connection from %s failed", conn.peer_ip)
        finally:
            try:
                await self._closed(conn, reason)
            finally:
                connection.close(reason)
                self._connections.discard(conn)
                if conn.heartbeat is not None:
                    conn.heartbeat.cancel()
                writer.close()
                if task is not None:
                    self._tasks.discard(task)

    async def _serve(self, conn: Connection) -> None:
        io = conn.io
        async for event in io.events():
            kind = type(event)
            if kind is Media:
                await self._media(conn, event)  # type: ignore[arg-type]
            elif kind is Metadata:
                sink = conn.sink
                if sink is not None and conn.lifecycle.publishing:
                    await sink.on_metadata(event.meta)  # type: ignore[union-attr]
            elif kind is Connect:
                await self._connect(conn, event)  # type: ignore[arg-type]
            elif kind is CreateStream:
                await io.send(AcceptCreateStream())
            elif kind is Publish:
                await self._handle(conn, PublishRequested(event.name))  # type: ignore[union-attr]
            elif kind is Closed:
                return

    async def _connect(self, conn: Connection, event: Connect) -> None:
        if event.app != self._settings.app:
            with contextlib.suppress(ConnectionError, TimeoutError):
                await conn.io.send(RejectConnect("Unknown application"))
            raise ConnectionRefused("unknown application")
        await conn.io.send(AcceptConnect())

    async def _closed(self, conn: Connection, reason: str) -> None:
        if conn.closed:
            return
        conn.closed = True
        ending: Event = ConnectionLost() if conn.stop_reason is None else StopRequested(conn.stop_reason)
        try:
            await self._handle(conn, ending)
        finally:
            if conn.holds_stream_slot:
                conn.holds_stream_slot = False
                self._streams_taken -= 1
            if conn.holds_publishing_slot and self._slots is not None:
                conn.holds_publishing_slot = False
                self._slots.demote()
        logger.info("connection from %s closed: %s", conn.peer_ip, conn.stop_reason or reason)

    # --- lifecycle outputs ------------------------------------------------------------------------

    async def _handle(self, conn: Connection, event: Event) -> None:
        for output in conn.lifecycle.handle(event):
            if isinstance(output, Authorize):
                await self._authorize(conn, output.stream_key)
            elif isinstance(output, RejectPublish):
                await self._reject(conn, output)
            elif isinstance(output, StartPublishing):
                await self._start(conn, output.grant)
            elif isinstance(output, StopMedia):
                await self._stop_media(conn)
            elif isinstance(output, Disconnect):
                conn.request_stop(output.reason)
            elif isinstance(output, ReportEnd):
                self._api.report_end(publish_id=output.publish_id)

    async def _authorize(self, conn: Connection, key: str) -> None:
        if self._streams_taken >= self._settings.max_streams:
            # Refused before the API makes a video live: one stream more would slow every stream here.
            logger.warning(
                "publish refused for %s: %d streams, at capacity", conn.peer_ip, self._streams_taken
            )
            self.publishes["refused", AT_CAPACITY] += 1
            await self._handle(conn, AuthorizationDenied(AT_CAPACITY))
            return
        self._streams_taken += 1
        conn.holds_stream_slot = True
        answer = await self._api.authorize(stream_key=key, client_ip=conn.peer_ip)
        if conn.stop_reason is not None:  # stopped (shutdown) while the API was deciding
            await self._handle(conn, StopRequested(conn.stop_reason))
        if isinstance(answer, PublishDenial):
            logger.info("publish refused for %s key %s: %s", conn.peer_ip, redact(key), answer.reason)
            self.publishes["refused", answer.reason] += 1
            await self._handle(conn, AuthorizationDenied(answer.reason))
        else:
            self.publishes["accepted", ""] += 1
            await self._handle(conn, AuthorizationGranted(answer))

    async def _reject(self, conn: Connection, output: RejectPublish) -> None:
        with contextlib.suppress(ConnectionError, TimeoutError, ProtocolError):
            await conn.io.send(RejectPublishReply(output.code, output.description))
        # A short, fixed pause before closing slows down key guessing.
        await asyncio.sleep(self._settings.reject_delay)
        raise ConnectionRefused(f"publish refused: {output.description}")

    async def _start(self, conn: Connection, grant: PublishGrant) -> None:
        # Runs in the connection's task: its later log lines, and tasks started from here, name the video.
        current_video.set(grant.video_url)
        conn.video_url = grant.video_url
        if self._slots is not None:
            self._slots.promote()
            conn.holds_publishing_slot = True
        conn.sink = self._with_restreaming(self._sink_factory(grant), grant)
        await conn.io.send(StartPublish(f"Publishing {grant.video_url}"))
        conn.heartbeat = asyncio.get_running_loop().create_task(self._heartbeats(conn, grant))
        logger.info(
            "publish %s started: channel %s video %s from %s",
            grant.publish_id, grant.channel, grant.video_url, conn.peer_ip,
        )  # fmt: skip

    def _with_restreaming(self, sink: MediaSink, grant: PublishGrant) -> MediaSink:
        """The sink behind a restreamer, which pushes the tags on to the grant's destinations (and those
        enabled later, from the heartbeat answers) without ever making the sink wait."""
        settings = self._settings
        if settings.restream.max_destinations == 0:
            return sink
        restreamer = Restreamer(
            grant.destinations,
            limits=settings.restream,
            ffmpeg_binary=settings.ffmpeg,
            environment=settings.transcoder.environment,
            name=grant.video_url,
        )
        return RestreamingSink(sink, restreamer)

    async def _stop_media(self, conn: Connection) -> None:
        if conn.heartbeat is not None:
            conn.heartbeat.cancel()
        if conn.sink is not None:
            sink, conn.sink = conn.sink, None
            try:
                async with asyncio.timeout(SINK_STOP_TIMEOUT):
                    await sink.stop()
            except Exception:
                logger.exception("the media sink failed to stop cleanly")

    async def _heartbeats(self, conn: Connection, grant: PublishGrant) -> None:
        interval = min(max(grant.heartbeat_interval, 0.5), self._settings.heartbeat_interval)
        loop = asyncio.get_running_loop()
        last_answer = loop.time()
        while True:
            await asyncio.sleep(interval)
            sink = conn.sink
            if sink is not None and sink_failed(sink):
                # Nothing would come out of this publish any more: end it rather than stay live.
                logger.error("publish %s: the media sink gave up; disconnecting", grant.publish_id)
                conn.request_stop(SINK_FAILED)
                return
            stats = conn.media.snapshot()
            if sink is not None:
                stats.update(sink.stats())
            restreamer = sink.restreamer if isinstance(sink, RestreamingSink) else None
            verdict = await self._api.heartbeat(
                publish_id=grant.publish_id,
                stats=stats,
                destinations=restreamer.reports() if restreamer is not None else (),
            )
            if verdict is None:
                # Unanswered: the API may have ended this publish (a rotated key) without being able
                # to say so. Past the timeout it ends it anyway, so stop here too.
                if loop.time() - last_answer >= self._settings.heartbeat_timeout:
                    logger.error("publish %s: no heartbeat answered; disconnecting", grant.publish_id)
                    conn.request_stop(API_UNREACHABLE)
                    return
                continue
            last_answer = loop.time()
            if verdict.proceed and verdict.destinations is not None and restreamer is not None:
                restreamer.update(verdict.destinations)  # switched on or off while live
            if not verdict.proceed:
                logger.info("publish %s told to stop: %s", grant.publish_id, verdict.reason)
                conn.request_stop(verdict.reason)
                return

    async def _media(self, conn: Connection, media: Media) -> None:
        sink = conn.sink
        if sink is None or conn.stop_reason is not None:
            return  # after a stop: dropped
        tag_type, timestamp, payload = media
        refusal = conn.gate.check(tag_type, payload)
        conn.media.add(tag_type, timestamp, payload)
        refusal = refusal or conn.gate.check_bitrate(conn.media.seconds_above(self._media_limits.max_kbps))
        if refusal is not None:
            await self._refuse_media(conn, refusal)
        await sink.feed(tag_type, timestamp, payload)

    async def _refuse_media(self, conn: Connection, refusal: MediaRefusal) -> None:
        """Tell the publisher why, give it a moment to read it, then end the publish (the video ends)."""
        logger.warning("publish from %s refused its media: %s", conn.peer_ip, refusal.description)
        self.media_refusals[refusal.reason] += 1
        conn.stop_reason = f"media_{refusal.reason}"
        with contextlib.suppress(ConnectionError, TimeoutError, ProtocolError):
            await conn.io.send(StopPublish(MEDIA_REJECTED, refusal.description))
        await asyncio.sleep(self._settings.reject_delay)
        raise ConnectionRefused(f"media refused: {refusal.description}")

    # --- shutdown -----------------------------------------------------------------------------

    def live_streams(self) -> Iterator[tuple[str, Connection]]:
        """(video url, connection) for every publish currently feeding a sink."""
        for conn in list(self._connections):
            if conn.sink is not None and conn.video_url:
                yield conn.video_url, conn

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    async def shutdown(self, *, grace: float) -> None:
        """Ask every connection to finish (sinks stop, ends are reported), then cancel stragglers."""
        for conn in list(self._connections):
            conn.request_stop("shutdown")
        tasks = set(self._tasks)
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=SINK_STOP_TIMEOUT)
