"""The thin asyncio adapter between pyrtmp's controller API and the publish lifecycle.

One controller serves every connection. `client_callback` owns a connection from handshake to close:
it reads messages under an idle timeout, feeds lifecycle events to the connection's `PublishSession`
and carries out the outputs. Every exit (EOF, protocol error, timeout, cancellation) goes through
`on_stream_closed` and `cleanup`, and the socket is always closed. Other tasks (heartbeats, shutdown)
never touch the sink: they ask for a stop, and the connection's own task winds it down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from rtmp_ingest._pyrtmp import (
    AudioMessage,
    Chunk,
    MetaDataMessage,
    NCConnect,
    NCCreateStream,
    NSPublish,
    SetChunkSize,
    SimpleRTMPController,
    StreamBegin,
    StreamClosedException,
    VideoMessage,
)
from rtmp_ingest.api_client import IngestApiClient, PublishDenial, PublishGrant
from rtmp_ingest.chunks import ProtocolError
from rtmp_ingest.media_stats import MediaStats
from rtmp_ingest.messages import (
    IngestAudioMessage,
    IngestVideoMessage,
    command_chunk,
    parse_message,
    status_object,
)
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
from rtmp_ingest.session import IngestSession, SessionLimits
from rtmp_ingest.settings import IngestSettings
from rtmp_ingest.sinks import MediaSink
from rtmp_ingest.stream_keys import redact
from tidecast_common.flv import TAG_AUDIO, TAG_VIDEO
from tidecast_common.logs import current_video

logger = logging.getLogger(__name__)

SinkFactory = Callable[[PublishGrant], MediaSink]
SessionFactory = Callable[[ReceiveBuffer, asyncio.StreamWriter], Any]
MIN_CHUNK_SIZE, MAX_CHUNK_SIZE = 64, 65536
WRITE_TIMEOUT = 5.0
SINK_STOP_TIMEOUT = 15.0
IDLE_DEADLINE_SLACK = 1.0


class ConnectionRefused(Exception):
    """This side decided to close the connection (refused app or publish, protocol violation)."""


@dataclass(eq=False)
class Connection:
    session: Any
    writer: asyncio.StreamWriter
    peer_ip: str
    lifecycle: PublishSession = field(default_factory=PublishSession)
    media: MediaStats = field(default_factory=MediaStats)
    sink: MediaSink | None = None
    heartbeat: asyncio.Task[None] | None = None
    stop_reason: str | None = None
    closed: bool = False
    video_url: str = ""

    def request_stop(self, reason: str) -> None:
        """From any task: end this connection; its own task then stops the sink and reports the end."""
        if self.stop_reason is None:
            self.stop_reason = reason
        transport = self.writer.transport
        if not transport.is_closing():
            transport.abort()


class IngestController(SimpleRTMPController):  # type: ignore[misc]  # pyrtmp is untyped
    def __init__(
        self,
        *,
        settings: IngestSettings,
        api: IngestApiClient,
        sink_factory: SinkFactory,
        session_factory: SessionFactory | None = None,
    ) -> None:
        super().__init__()
        self._settings = settings
        self._api = api
        self._sink_factory = sink_factory
        self._session_factory = session_factory or self._ingest_session
        self._connections: dict[Any, Connection] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        # (result, reason) -> publishes: "accepted"/"" or "refused"/the API's reason. Read by metrics.
        self.publishes: Counter[tuple[str, str]] = Counter()

    def _ingest_session(self, reader: ReceiveBuffer, writer: asyncio.StreamWriter) -> IngestSession:
        limits = SessionLimits(
            handshake_timeout=self._settings.handshake_timeout,
            idle_timeout=self._settings.idle_timeout,
            write_timeout=WRITE_TIMEOUT,
        )
        return IngestSession(reader, writer, limits=limits)

    # --- connection loop --------------------------------------------------------------------------

    async def client_callback(self, reader: ReceiveBuffer, writer: asyncio.StreamWriter) -> None:
        session = self._session_factory(reader, writer)
        conn = Connection(session=session, writer=writer, peer_ip=peer_ip(writer))
        self._connections[session] = conn
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        reason = "closed by peer"
        try:
            async with asyncio.timeout(self._settings.handshake_timeout):
                await self.on_handshake(session)
            await self._read_messages(session)
        except StreamClosedException:
            pass
        except ConnectionRefused as refused:
            reason = str(refused)
        except (ProtocolError, PublishStateError) as error:
            reason = f"protocol error: {error}"
        except TimeoutError:
            reason = "timed out"
        except (ConnectionError, EOFError, asyncio.IncompleteReadError) as error:
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
                await self.on_stream_closed(session, StreamClosedException(reason))
            finally:
                await self.cleanup(session)
                writer.close()
                if task is not None:
                    self._tasks.discard(task)

    async def _read_messages(self, session: Any) -> None:
        loop = asyncio.get_running_loop()
        idle = self._settings.idle_timeout
        # The deadline moves at most once per `slack` seconds rather than on every message: it stays
        # between `idle` and `idle + slack` after the last complete message.
        slack = min(IDLE_DEADLINE_SLACK, idle / 4)
        expires = loop.time() + idle + slack
        async with asyncio.timeout_at(expires) as deadline:
            async for chunk in session.read_chunks_from_stream():
                now = loop.time()
                if now + idle > expires:
                    expires = now + idle + slack
                    deadline.reschedule(expires)
                # Media is most messages, and the session already built it as its message class.
                chunk_class = type(chunk)
                if chunk_class is IngestVideoMessage:
                    await self.on_video_message(session, chunk)
                elif chunk_class is IngestAudioMessage:
                    await self.on_audio_message(session, chunk)
                else:
                    await self._dispatch(session, parse_message(chunk))

    async def _dispatch(self, session: Any, message: Any) -> None:
        if isinstance(message, VideoMessage):
            await self.on_video_message(session, message)
        elif isinstance(message, AudioMessage):
            await self.on_audio_message(session, message)
        elif isinstance(message, NCConnect):
            await self.on_nc_connect(session, message)
        elif isinstance(message, NSPublish):
            await self.on_ns_publish(session, message)
        elif isinstance(message, MetaDataMessage):
            await self.on_metadata(session, message)
        elif isinstance(message, SetChunkSize):
            await self.on_set_chunk_size(session, message)
        elif isinstance(message, NCCreateStream):
            await self.on_nc_create_stream(session, message)
        else:
            await self.on_unknown_message(session, message)

    # --- pyrtmp controller API ----------------------------------------------------------------

    async def on_nc_connect(self, session: Any, message: NCConnect) -> None:
        command = message.command_object if isinstance(message.command_object, dict) else {}
        app = str(command.get("app", "")).strip("/")
        if app != self._settings.app:
            rejected = status_object("error", "NetConnection.Connect.Rejected", "Unknown application")
            await self._write(session, command_chunk("_error", message.transaction_id, None, rejected))
            raise ConnectionRefused("unknown application")
        await super().on_nc_connect(session, message)

    async def on_ns_publish(self, session: Any, message: NSPublish) -> None:
        conn = self._connections[session]
        await self._handle(conn, PublishRequested(message.publishing_name), message)

    async def on_metadata(self, session: Any, message: MetaDataMessage) -> None:
        conn = self._connections[session]
        meta = getattr(message, "meta", None)
        if conn.sink is not None and conn.lifecycle.publishing and isinstance(meta, Mapping):
            await conn.sink.on_metadata(meta)

    async def on_video_message(self, session: Any, message: VideoMessage) -> None:
        await self._media(session, TAG_VIDEO, message)

    async def on_audio_message(self, session: Any, message: AudioMessage) -> None:
        await self._media(session, TAG_AUDIO, message)

    async def on_set_chunk_size(self, session: Any, message: SetChunkSize) -> None:
        size = int(message.chunk_size)
        if not MIN_CHUNK_SIZE <= size <= MAX_CHUNK_SIZE:
            raise ConnectionRefused("chunk size out of range")
        session.reader_chunk_size = size

    async def on_unknown_message(self, session: Any, message: Any) -> None:
        # releaseStream, FCPublish, acknowledgements...: nothing to do for an ingest.
        pass

    async def on_stream_closed(self, session: Any, exception: StreamClosedException) -> None:
        conn = self._connections.get(session)
        if conn is None or conn.closed:
            return
        conn.closed = True
        event: Event = ConnectionLost() if conn.stop_reason is None else StopRequested(conn.stop_reason)
        await self._handle(conn, event, None)
        logger.info("connection from %s closed: %s", conn.peer_ip, conn.stop_reason or exception)

    async def cleanup(self, session: Any) -> None:
        conn = self._connections.pop(session, None)
        if conn is not None and conn.heartbeat is not None:
            conn.heartbeat.cancel()

    # --- lifecycle outputs ------------------------------------------------------------------------

    async def _handle(self, conn: Connection, event: Event, publish: NSPublish | None) -> None:
        for output in conn.lifecycle.handle(event):
            if isinstance(output, Authorize):
                await self._authorize(conn, output.stream_key, publish)
            elif isinstance(output, RejectPublish):
                await self._reject(conn, output, publish)
            elif isinstance(output, StartPublishing):
                await self._start(conn, output.grant, publish)
            elif isinstance(output, StopMedia):
                await self._stop_media(conn)
            elif isinstance(output, Disconnect):
                conn.request_stop(output.reason)
            elif isinstance(output, ReportEnd):
                self._api.report_end(publish_id=output.publish_id)

    async def _authorize(self, conn: Connection, key: str, publish: NSPublish | None) -> None:
        answer = await self._api.authorize(stream_key=key, client_ip=conn.peer_ip)
        if conn.stop_reason is not None:  # stopped (shutdown) while the API was deciding
            await self._handle(conn, StopRequested(conn.stop_reason), None)
        if isinstance(answer, PublishDenial):
            logger.info("publish refused for %s key %s: %s", conn.peer_ip, redact(key), answer.reason)
            self.publishes["refused", answer.reason] += 1
            await self._handle(conn, AuthorizationDenied(answer.reason), publish)
        else:
            self.publishes["accepted", ""] += 1
            await self._handle(conn, AuthorizationGranted(answer), publish)

    async def _reject(self, conn: Connection, output: RejectPublish, publish: NSPublish | None) -> None:
        stream_id = publish.msg_stream_id if publish is not None else 1
        info = status_object("error", output.code, output.description)
        chunk = command_chunk("onStatus", 0, None, info, msg_stream_id=stream_id, chunk_id=5)
        with contextlib.suppress(ConnectionError, TimeoutError):
            await self._write(conn.session, chunk)
        # A short, fixed pause before closing slows down key guessing.
        await asyncio.sleep(self._settings.reject_delay)
        raise ConnectionRefused(f"publish refused: {output.description}")

    async def _start(self, conn: Connection, grant: PublishGrant, publish: NSPublish | None) -> None:
        # Runs in the connection's task: its later log lines, and tasks started from here, name the video.
        current_video.set(grant.video_url)
        conn.video_url = grant.video_url
        conn.sink = self._sink_factory(grant)
        stream_id = publish.msg_stream_id if publish is not None else 1
        conn.session.write_chunk_to_stream(StreamBegin(stream_id=stream_id))
        info = status_object("status", "NetStream.Publish.Start", f"Publishing {grant.video_url}")
        await self._write(
            conn.session, command_chunk("onStatus", 0, None, info, msg_stream_id=stream_id, chunk_id=5)
        )
        conn.heartbeat = asyncio.get_running_loop().create_task(self._heartbeats(conn, grant))
        logger.info(
            "publish %s started: channel %s video %s from %s",
            grant.publish_id, grant.channel, grant.video_url, conn.peer_ip,
        )  # fmt: skip

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
        while True:
            await asyncio.sleep(interval)
            stats = conn.media.snapshot()
            if conn.sink is not None:
                stats.update(conn.sink.stats())
            verdict = await self._api.heartbeat(publish_id=grant.publish_id, stats=stats)
            if verdict is not None and not verdict.proceed:
                logger.info("publish %s told to stop: %s", grant.publish_id, verdict.reason)
                conn.request_stop(verdict.reason)
                return

    async def _media(self, session: Any, tag_type: int, message: Any) -> None:
        conn = self._connections[session]
        sink = conn.sink
        if sink is None or conn.stop_reason is not None:
            return  # media before Publish.Start, or after a stop: dropped
        payload = message.payload  # bytes of its own, made by the decoder
        timestamp = message.timestamp
        conn.media.add(tag_type, timestamp, payload)
        await sink.feed(tag_type, timestamp, payload)

    async def _write(self, session: Any, chunk: Chunk) -> None:
        session.write_chunk_to_stream(chunk)
        async with asyncio.timeout(WRITE_TIMEOUT):
            await session.drain()

    # --- shutdown -----------------------------------------------------------------------------

    def live_streams(self) -> Iterator[tuple[str, Connection]]:
        """(video url, connection) for every publish currently feeding a sink."""
        for conn in list(self._connections.values()):
            if conn.sink is not None and conn.video_url:
                yield conn.video_url, conn

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    async def shutdown(self, *, grace: float) -> None:
        """Ask every connection to finish (sinks stop, ends are reported), then cancel stragglers."""
        for conn in list(self._connections.values()):
            conn.request_stop("shutdown")
        tasks = set(self._tasks)
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=SINK_STOP_TIMEOUT)


def peer_ip(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    host = str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"
    return host.removeprefix("::ffff:") if "." in host else host
