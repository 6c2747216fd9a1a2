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
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rtmp_ingest._pyrtmp import (
    AudioMessage,
    Chunk,
    MessageFactory,
    MetaDataMessage,
    NCConnect,
    NSPublish,
    SessionManager,
    SetChunkSize,
    SimpleRTMPController,
    StreamBegin,
    StreamClosedException,
    VideoMessage,
)
from rtmp_ingest.api_client import IngestApiClient, PublishDenial, PublishGrant
from rtmp_ingest.flv import TAG_AUDIO, TAG_VIDEO, MediaStats
from rtmp_ingest.publish import (
    AuthorizationDenied,
    AuthorizationGranted,
    Authorize,
    ConnectionLost,
    Disconnect,
    Event,
    PublishRequested,
    PublishSession,
    RejectPublish,
    ReportEnd,
    StartPublishing,
    StopMedia,
    StopRequested,
)
from rtmp_ingest.settings import IngestSettings
from rtmp_ingest.sinks import MediaSink
from rtmp_ingest.stream_keys import redact

logger = logging.getLogger(__name__)

SinkFactory = Callable[[PublishGrant], MediaSink]
SessionFactory = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]
MIN_CHUNK_SIZE, MAX_CHUNK_SIZE = 64, 65536
WRITE_TIMEOUT = 5.0
SINK_STOP_TIMEOUT = 15.0


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
        self._session_factory = session_factory or (lambda reader, writer: SessionManager(reader, writer))
        self._connections: dict[Any, Connection] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    # --- connection loop --------------------------------------------------------------------------

    async def client_callback(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
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
        except TimeoutError:
            reason = "timed out"
        except (ConnectionError, EOFError, asyncio.IncompleteReadError) as error:
            reason = type(error).__name__
        except asyncio.CancelledError:
            reason = "cancelled"
            raise
        except Exception as error:
            # A protocol error from the wire: the connection goes, the server stays.
            reason = f"protocol error ({type(error).__name__})"
            logger.debug("connection from %s failed", conn.peer_ip, exc_info=True)
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
        async with asyncio.timeout_at(loop.time() + idle) as deadline:
            async for chunk in session.read_chunks_from_stream():
                deadline.reschedule(loop.time() + idle)
                message = parse_message(chunk)
                await self._dispatch(session, message)

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
        elif getattr(message, "command_name", None) == "createStream":
            await self.on_nc_create_stream(session, message)
        else:
            await self.on_unknown_message(session, message)

    # --- pyrtmp controller API ----------------------------------------------------------------

    async def on_nc_connect(self, session: Any, message: NCConnect) -> None:
        command = message.command_object if isinstance(message.command_object, dict) else {}
        app = str(command.get("app", "")).strip("/")
        if app != self._settings.app:
            await self._write(
                session,
                _command_chunk(
                    "_error",
                    message.transaction_id,
                    _status("error", "NetConnection.Connect.Rejected", "Unknown application"),
                    stream_id=0,
                    chunk_id=3,
                ),
            )
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
            await self._handle(conn, AuthorizationDenied(answer.reason), publish)
        else:
            await self._handle(conn, AuthorizationGranted(answer), publish)

    async def _reject(self, conn: Connection, output: RejectPublish, publish: NSPublish | None) -> None:
        stream_id = publish.msg_stream_id if publish is not None else 1
        chunk = _command_chunk(
            "onStatus", 0, _status("error", output.code, output.description), stream_id=stream_id
        )
        with contextlib.suppress(ConnectionError, TimeoutError):
            await self._write(conn.session, chunk)
        # A short, fixed pause before closing slows down key guessing.
        await asyncio.sleep(self._settings.reject_delay)
        raise ConnectionRefused(f"publish refused: {output.description}")

    async def _start(self, conn: Connection, grant: PublishGrant, publish: NSPublish | None) -> None:
        conn.sink = self._sink_factory(grant)
        stream_id = publish.msg_stream_id if publish is not None else 1
        conn.session.write_chunk_to_stream(StreamBegin(stream_id=stream_id))
        await self._write(
            conn.session,
            _command_chunk(
                "onStatus",
                0,
                _status("status", "NetStream.Publish.Start", f"Publishing {grant.video_url}"),
                stream_id=stream_id,
            ),
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
        if conn.sink is None or conn.stop_reason is not None:
            return  # media before Publish.Start, or after a stop: dropped
        payload = bytes(message.payload)
        conn.media.add(tag_type, message.timestamp, payload)
        await conn.sink.feed(tag_type, message.timestamp, payload)

    async def _write(self, session: Any, chunk: Chunk) -> None:
        session.write_chunk_to_stream(chunk)
        async with asyncio.timeout(WRITE_TIMEOUT):
            await session.drain()

    # --- shutdown -----------------------------------------------------------------------------

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


def parse_message(chunk: Chunk) -> Any:
    """pyrtmp's message object for a chunk, or the chunk itself when pyrtmp cannot parse it."""
    try:
        return MessageFactory.from_chunk(chunk)
    except Exception:
        return chunk


def peer_ip(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    host = str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"
    return host.removeprefix("::ffff:") if "." in host else host


def _status(level: str, code: str, description: str) -> dict[str, object]:
    return {"level": level, "code": code, "description": description}


def _command_chunk(
    name: str, transaction_id: object, info: dict[str, object], *, stream_id: int, chunk_id: int = 5
) -> Chunk:
    """An AMF0 command message: name, transaction id, null command object, info object."""
    txn = float(transaction_id) if isinstance(transaction_id, int | float) else 0.0
    payload = _amf0_string(name) + b"\x00" + struct.pack(">d", txn) + b"\x05" + b"\x03"
    for key, value in info.items():
        raw_key = key.encode()
        payload += struct.pack(">H", len(raw_key)) + raw_key + _amf0_string(str(value))
    payload += b"\x00\x00\x09"
    return Chunk(
        chunk_type=0,
        chunk_id=chunk_id,
        timestamp=0,
        msg_length=len(payload),
        msg_type_id=0x14,
        msg_stream_id=stream_id,
        payload=payload,
    )


def _amf0_string(value: str) -> bytes:
    raw = value.encode()[:0xFFFF]
    return b"\x02" + struct.pack(">H", len(raw)) + raw
