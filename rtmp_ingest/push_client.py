"""An RTMP publishing client on the event loop: the restream of one destination, with no child process.

`RtmpPublisher.open()` connects (TCP, or TLS for `rtmps://`, verified against the system's CAs or
`ca_file`), does the handshake and `connect` / `releaseStream` / `FCPublish` / `createStream` /
`publish` the way OBS does, and returns once the destination answers `NetStream.Publish.Start`.
Then `write()` puts already chunked bytes (`media_chunks`, or `chunk_messages` of several
`media_message`s joined) on the transport: it never waits, and `buffered` says how much the
destination has not taken yet (the caller's bound). A reader task answers pings and
acknowledgements and notices the end: the destination closing, or an error status.

The chunking itself is `encode_message` and `chunk_messages` (chunks.py), the commands
`command_payload` (messages.py); the replies are parsed by the ingest's own `ChunkStreamDecoder` and
`parse_message`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from rtmp_ingest.chunks import (
    MSG_ACKNOWLEDGEMENT,
    MSG_SET_CHUNK_SIZE,
    MSG_USER_CONTROL,
    MSG_WINDOW_ACK_SIZE,
    ChunkLimits,
    ChunkStreamDecoder,
    OutgoingMessage,
    ProtocolError,
    RtmpMessage,
    chunk_messages,
    encode_message,
)
from rtmp_ingest.messages import MSG_AMF0_COMMAND, MSG_AMF0_DATA, Command, command_payload, parse_message
from rtmp_ingest.tls import client_context
from tidecast_common.amf0 import encode_ecma_array, encode_values

__all__ = ["PushError", "PushUrl", "RtmpPublisher", "media_chunks", "media_message", "parse_push_url"]

CHUNK_SIZE = 4096  # what OBS and ffmpeg send with: every server takes it
HANDSHAKE_BYTES = 1536
CONTROL_CSID, COMMAND_CSID, DATA_CSID, AUDIO_CSID, VIDEO_CSID = 2, 3, 4, 6, 7
READ_BYTES = 64 * 1024
USER_CONTROL_PING_REQUEST, USER_CONTROL_PING_RESPONSE = 6, 7
CLOSED = "\x00closed"  # not a command name a server can send: the reader's own note of the end
FLASH_VERSION = "FMLE/3.0 (compatible; Tidecast)"
# The server's replies: small. Anything bigger is not a server we want to talk to.
REPLY_LIMITS = ChunkLimits(
    max_message_length=256 * 1024, max_pending_bytes=512 * 1024, max_message_elements=1000
)


class PushError(Exception):
    """The destination refused, closed, or did not answer; the message says which (never the key)."""


@dataclass(frozen=True, slots=True)
class PushUrl:
    tls: bool
    host: str
    port: int
    app: str
    tc_url: str
    stream_name: str  # the platform's key (and any query): secret


def parse_push_url(url: str) -> PushUrl:
    """rtmp[s]://host[:port]/app[/more]/key[?query]: the last path segment is the stream name."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("rtmp", "rtmps") or not parts.hostname:
        raise PushError("not an rtmp:// or rtmps:// URL with a host")
    segments = [segment for segment in parts.path.split("/") if segment]
    if not segments:
        raise PushError("the URL has no application")
    if len(segments) == 1 and not parts.query:
        raise PushError("the URL has no stream key")
    if len(segments) == 1:
        app, name = segments[0], ""
    else:
        app, name = "/".join(segments[:-1]), segments[-1]
    if parts.query:
        name = f"{name}?{parts.query}"
    tls = scheme == "rtmps"
    port = parts.port or (443 if tls else 1935)
    host = parts.hostname
    authority = f"[{host}]" if ":" in host else host
    default_port = 443 if tls else 1935
    tc_url = f"{scheme}://{authority}{'' if port == default_port else f':{port}'}/{app}"
    return PushUrl(tls=tls, host=host, port=port, app=app, tc_url=tc_url, stream_name=name)


def media_message(tag_type: int, timestamp_ms: int, payload: bytes) -> OutgoingMessage:
    """One audio (8) or video (9) tag as every publisher of this module sends it, for `chunk_messages`
    with `CHUNK_SIZE` and the connection's stream id."""
    return (VIDEO_CSID if tag_type == 9 else AUDIO_CSID), tag_type, timestamp_ms, payload


def media_chunks(tag_type: int, timestamp_ms: int, payload: bytes, *, stream_id: int) -> bytes:
    """One `media_message`, chunked."""
    message = media_message(tag_type, timestamp_ms, payload)
    return b"".join(chunk_messages([message], msg_stream_id=stream_id, chunk_size=CHUNK_SIZE))


class RtmpPublisher:
    """One publishing connection. `on_closed(reason)` is called once when it ends on its own."""

    def __init__(
        self, url: str, *, ca_file: str | None = None, on_closed: Callable[[str], None] | None = None
    ) -> None:
        self.target = parse_push_url(url)
        self._ca_file = ca_file
        self._on_closed = on_closed
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._decoder: ChunkStreamDecoder[RtmpMessage] = ChunkStreamDecoder(REPLY_LIMITS)
        self._read_task: asyncio.Task[None] | None = None
        self._replies: asyncio.Queue[Command] = asyncio.Queue(maxsize=64)
        self._ack_window = 2_500_000
        self._acked = 0
        self._closed = False
        self.stream_id = 0
        self.bytes_written = 0

    # --- opening -----------------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect and publish; PushError (or TimeoutError, OSError) if the destination will not have it.
        The caller bounds it with a timeout."""
        target = self.target
        context: ssl.SSLContext | None = None
        if target.tls:
            context = await asyncio.to_thread(client_context, self._ca_file)  # may read CA files
        reader, writer = self._reader, self._writer = await asyncio.open_connection(
            target.host, target.port, ssl=context, server_hostname=target.host if context else None,
            limit=READ_BYTES,
        )  # fmt: skip
        await self._handshake(reader, writer)
        self._read_task = asyncio.get_running_loop().create_task(self._read_loop(reader))
        self._send_control(MSG_SET_CHUNK_SIZE, struct.pack(">I", CHUNK_SIZE))
        connect = {
            "app": target.app, "type": "nonprivate", "flashVer": FLASH_VERSION,
            "tcUrl": target.tc_url, "swfUrl": target.tc_url,
        }  # fmt: skip
        self._command("connect", 1, connect)
        await self._expect_result(1, "connect")
        self._command("releaseStream", 2, None, target.stream_name)
        self._command("FCPublish", 3, None, target.stream_name)
        self._command("createStream", 4, None)
        created = await self._expect_result(4, "createStream")
        stream_id = created.argument(0)
        if not isinstance(stream_id, int | float) or isinstance(stream_id, bool) or not 0 < stream_id < 2**31:
            raise PushError("createStream answered no stream id")
        self.stream_id = int(stream_id)
        self._command("publish", 5, None, target.stream_name, "live", stream_id=self.stream_id)
        while True:
            reply = await self._next_reply()
            if reply.name == "onStatus":
                info = reply.argument(0)
                code = str(info.get("code", "")) if isinstance(info, dict) else ""
                if code == "NetStream.Publish.Start":
                    return
                if isinstance(info, dict) and info.get("level") == "error":
                    raise PushError(f"the destination refused the publish: {code or 'error'}")
            elif reply.name == "_error":
                raise PushError(f"the destination refused the publish: {_description(reply)}")

    async def _handshake(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        c1 = struct.pack(">II", int(time.monotonic() * 1000) & 0xFFFFFFFF, 0) + os.urandom(
            HANDSHAKE_BYTES - 8
        )
        writer.write(b"\x03" + c1)
        s0s1 = await reader.readexactly(1 + HANDSHAKE_BYTES)
        if s0s1[0] != 3:
            raise PushError(f"not an RTMP server (handshake version {s0s1[0]})")
        writer.write(s0s1[1:])  # C2: S1 echoed
        await reader.readexactly(HANDSHAKE_BYTES)  # S2

    async def _expect_result(self, transaction: int, what: str) -> Command:
        while True:
            reply = await self._next_reply()
            if reply.transaction_id != transaction:
                continue
            if reply.name == "_result":
                return reply
            if reply.name == "_error":
                raise PushError(f"{what} refused: {_description(reply)}")

    async def _next_reply(self) -> Command:
        reply = await self._replies.get()
        if reply.name == CLOSED:
            raise PushError(str(reply.argument(0)))
        return reply

    # --- sending -----------------------------------------------------------------------------------

    def _send(self, data: bytes) -> None:
        writer = self._writer
        if writer is None or self._closed:
            return
        writer.write(data)
        self.bytes_written += len(data)

    def _send_control(self, type_id: int, payload: bytes) -> None:
        self._send(encode_message(chunk_stream_id=CONTROL_CSID, msg_type_id=type_id, msg_stream_id=0,
                                  timestamp=0, payload=payload, chunk_size=CHUNK_SIZE))  # fmt: skip

    def _command(self, name: str, transaction: int, *arguments: object, stream_id: int = 0) -> None:
        payload = command_payload(name, float(transaction), *arguments)
        self._send(encode_message(chunk_stream_id=COMMAND_CSID, msg_type_id=MSG_AMF0_COMMAND,
                                  msg_stream_id=stream_id, timestamp=0, payload=payload, chunk_size=CHUNK_SIZE))  # fmt: skip

    def metadata_chunks(self, metadata: dict[str, object]) -> bytes:
        """The `@setDataFrame onMetaData` message for this connection's stream, chunked (for `write`)."""
        payload = encode_values("@setDataFrame", "onMetaData") + encode_ecma_array(metadata)
        return encode_message(chunk_stream_id=DATA_CSID, msg_type_id=MSG_AMF0_DATA,
                              msg_stream_id=self.stream_id, timestamp=0, payload=payload, chunk_size=CHUNK_SIZE)  # fmt: skip

    def send_metadata(self, metadata: dict[str, object]) -> None:
        self._send(self.metadata_chunks(metadata))

    def write(self, chunks: bytes) -> None:
        """Already chunked media (`media_chunks` with this stream id); never waits."""
        self._send(chunks)

    @property
    def buffered(self) -> int:
        """Bytes written that the destination has not taken yet."""
        writer = self._writer
        return writer.transport.get_write_buffer_size() if writer is not None else 0

    @property
    def closed(self) -> bool:
        return self._closed

    async def close(self) -> None:
        """Unpublish politely when the connection is healthy, then close it."""
        writer = self._writer
        if writer is not None and not self._closed and self.stream_id:
            self._command("FCUnpublish", 6, None, self.target.stream_name)
            self._command("deleteStream", 7, None, float(self.stream_id))
        self._closed = True
        if self._read_task is not None:
            self._read_task.cancel()
            await asyncio.gather(self._read_task, return_exceptions=True)
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, asyncio.CancelledError, TimeoutError, ssl.SSLError):
                async with asyncio.timeout(2.0):
                    await writer.wait_closed()

    def abort(self) -> None:
        """Drop the connection at once, whatever it still holds."""
        self._closed = True
        if self._read_task is not None:
            self._read_task.cancel()
        if self._writer is not None:
            self._writer.transport.abort()

    # --- receiving ---------------------------------------------------------------------------------

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        reason = "the destination closed the connection"
        try:
            while True:
                data = await reader.read(READ_BYTES)
                if not data:
                    break
                for message in self._decoder.feed(data):
                    self._handle(message)
                received = self._decoder.bytes_received
                if received - self._acked >= self._ack_window:
                    self._acked = received
                    self._send_control(MSG_ACKNOWLEDGEMENT, struct.pack(">I", received & 0xFFFFFFFF))
        except asyncio.CancelledError:
            raise
        except PushError as error:
            reason = str(error)
        except (ProtocolError, OSError, ssl.SSLError) as error:
            reason = f"connection error: {type(error).__name__}"
        # Whoever waits for a reply hears of the end too.
        with contextlib.suppress(asyncio.QueueEmpty):
            if self._replies.full():
                self._replies.get_nowait()
        self._replies.put_nowait(Command(CLOSED, 0.0, {}, (reason,)))
        if not self._closed:
            self._closed = True
            if self._on_closed is not None:
                self._on_closed(reason)

    def _handle(self, message: RtmpMessage) -> None:
        type_id = message.msg_type_id
        if type_id == MSG_WINDOW_ACK_SIZE and len(message.payload) >= 4:
            self._ack_window = max(1, struct.unpack_from(">I", message.payload)[0])
        elif type_id == MSG_USER_CONTROL and len(message.payload) >= 6:
            event, value = struct.unpack_from(">HI", message.payload)
            if event == USER_CONTROL_PING_REQUEST:
                self._send_control(MSG_USER_CONTROL, struct.pack(">HI", USER_CONTROL_PING_RESPONSE, value))
        elif type_id == MSG_AMF0_COMMAND:
            parsed = parse_message(type_id, message.payload, max_elements=REPLY_LIMITS.max_message_elements)
            if not isinstance(parsed, Command):
                return
            if self.stream_id and parsed.name == "onStatus":
                info = parsed.argument(0)
                if isinstance(info, dict) and info.get("level") == "error":
                    raise PushError(f"the destination ended the publish: {info.get('code', 'error')}")
            with contextlib.suppress(asyncio.QueueFull):
                self._replies.put_nowait(parsed)


def _description(reply: Command) -> str:
    info = reply.argument(0)
    if isinstance(info, dict):
        return str(info.get("code") or info.get("description") or "error")[:120]
    return "error"
