"""The fast path: a playlist or segment already in memory, answered as its request is parsed.

Nearly every request a live stream gets is for one of a few files: the playlists every player
polls and the newest segments every viewer fetches. Once `hls_out.app` has read such a file into
its cache (`hls_out.file_cache`), `HlsConnection.data_received` (in `hls_out.server`) hands each
parsed request here first, and a plain one is answered at once with a response head built once
per cached file: no request object, task, middleware or header dict, one stat to check that the
file is still the one in memory, the Date formatted once a second.

Plain means: HTTP/1.1 GET or HEAD, keep-alive, no body, no query string, a path of the served
shape (so not `/hls-live/t/<token>/...`), no Range or precondition but If-None-Match, a file
that is cached and unchanged, and nothing still waiting to be sent on the connection. Anything
else returns False and goes through aiohttp to `hls_out.app` as before (a low-latency blocking
playlist request carries `_HLS_msn` in its query, so it always does). The answers are those of
`hls_out.app` byte for byte but the Date; viewers and traffic are counted the same way.
"""

from __future__ import annotations

import os
import time
from email.utils import formatdate
from pathlib import Path
from typing import Protocol, TypeGuard

from aiohttp import hdrs
from aiohttp.http import SERVER_SOFTWARE, HttpVersion11, RawRequestMessage
from aiohttp.streams import EMPTY_PAYLOAD

from hls_out.app import FILE_FIELDS, FILE_ONLY_FIELDS
from hls_out.egress import EgressCounter
from hls_out.file_cache import CachedFile, FileCache
from hls_out.metrics import Kind, Traffic
from hls_out.tokens import PlaybackGate
from hls_out.viewers import ViewerCounter
from tidecast_common.layout import PLAYLIST_SUFFIX, SERVABLE_PATH
from tidecast_common.layout import URL_PREFIX as PREFIX

# Bodies up to this size go out in one write with their head; larger ones in a second write, so
# they are not copied.
JOINED_BODY_BYTES = 64 * 1024
# A request with any of these goes to app (so does If-Modified-Since without If-None-Match).
UNANSWERED_FIELDS = FILE_ONLY_FIELDS


class WriteTransport(Protocol):
    def write(self, data: bytes) -> None: ...
    def get_write_buffer_size(self) -> int: ...


class DateField:
    """`Date: ...\\r\\nServer: ...\\r\\n\\r\\n`, the end of every head, formatted once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._tail = b""

    def tail(self) -> bytes:
        second = int(time.time())
        if second != self._second:
            self._second = second
            date = formatdate(second, usegmt=True)
            self._tail = f"Date: {date}\r\nServer: {SERVER_SOFTWARE}\r\n\r\n".encode("latin-1")
        return self._tail


def prepare_heads(entry: CachedFile, suffix: str) -> tuple[bytes, bytes]:
    """The heads of a 200 and a 304 for `entry`, up to the Date, with the fields `hls_out.app` gives."""
    fields = {**entry.validators, **FILE_FIELDS[suffix]}
    common = "".join(f"{name}: {value}\r\n" for name, value in fields.items())
    ok = f"HTTP/1.1 200 OK\r\n{common}Content-Length: {len(entry.body)}\r\n"
    not_modified = f"HTTP/1.1 304 Not Modified\r\n{common}"
    return ok.encode("latin-1"), not_modified.encode("latin-1")


def is_plain(message: object, payload: object) -> TypeGuard[RawRequestMessage]:
    """An HTTP/1.1 keep-alive GET or HEAD without a body, for a servable path without a query,
    carrying no Range and no precondition but If-None-Match (and If-Modified-Since, which
    If-None-Match overrides)."""
    return (
        type(message) is RawRequestMessage
        and message.version == HttpVersion11
        and not message.should_close
        and not message.upgrade
        and payload is EMPTY_PAYLOAD
        and (message.method == hdrs.METH_GET or message.method == hdrs.METH_HEAD)
        and SERVABLE_PATH.fullmatch(message.path) is not None  # no query, no token prefix
        and not any(name in message.headers for name in UNANSWERED_FIELDS)
    )


def single_etag(if_none_match: str) -> str | None:
    """The opaque tag of an If-None-Match holding one entity tag (weak or strong), else None."""
    value = if_none_match.strip()
    if value.startswith("W/"):
        value = value[2:]
    if len(value) < 2 or value[0] != '"' or value[-1] != '"' or "," in value:
        return None
    return value[1:-1]


class FastPath:
    """Answers plain requests for cached files on a connection's transport, or declines them."""

    def __init__(
        self,
        *,
        hls_root: Path,
        playlists: FileCache,
        segments: FileCache,
        viewers: ViewerCounter,
        traffic: Traffic,
        egress: EgressCounter | None = None,
        gate: PlaybackGate | None = None,
    ) -> None:
        self._base = str(hls_root.resolve())
        self._playlists = playlists
        self._segments = segments
        self._viewers = viewers
        self._traffic = traffic
        self._egress = egress
        self._gate = gate
        self._date = DateField()

    def answer(self, message: object, payload: object, transport: WriteTransport, client: str) -> bool:
        """Write the answer to `message` and return True, or return False and write nothing."""
        if not is_plain(message, payload) or transport.get_write_buffer_size():
            return False
        path, headers = message.path, message.headers
        suffix = path[path.rfind(".") :]
        kind: Kind = "playlist" if suffix == PLAYLIST_SUFFIX else "segment"
        if self._gate is not None and self._gate.admit(path).status:
            return False  # a private video's plain path: app refuses it
        entry = self._cached(path, kind)
        if entry is None:
            return False
        if_none_match = headers.get(hdrs.IF_NONE_MATCH)
        not_modified = False
        if if_none_match is None:
            if hdrs.IF_MODIFIED_SINCE in headers:
                return False  # app compares dates
        else:
            tag = single_etag(if_none_match)
            if tag is None:
                return False  # a list or "*": app compares those
            not_modified = tag == entry.etag  # weak comparison, as app makes it (RFC 9110 §13.1.2)
        self._viewers.count(path, headers=headers, remote=client, token=None)
        ok, unchanged = self._heads_of(entry, suffix)
        if not_modified:
            transport.write(unchanged + self._date.tail())
            self._traffic.record(kind, 304, 0)
        elif message.method == hdrs.METH_HEAD:
            transport.write(ok + self._date.tail())
            self._traffic.record(kind, 200, 0)
        else:
            body = entry.body
            if len(body) <= JOINED_BODY_BYTES:
                transport.write(ok + self._date.tail() + body)
            else:
                transport.write(ok + self._date.tail())
                transport.write(body)
            self._traffic.record(kind, 200, len(body))
            if self._egress is not None:
                self._egress.add(path, len(body))
        return True

    @staticmethod
    def _heads_of(entry: CachedFile, suffix: str) -> list[bytes]:
        if not entry.heads:
            entry.heads.extend(prepare_heads(entry, suffix))
        return entry.heads

    def _cached(self, path: str, kind: Kind) -> CachedFile | None:
        """The cached copy of the file `path` names, if it holds for the file there now."""
        cache = self._playlists if kind == "playlist" else self._segments
        file_path = f"{self._base}/{path[len(PREFIX) :]}"
        if file_path not in cache:
            return None
        try:
            info = os.stat(file_path)  # noqa: PTH116 - a str path, as the resolver gives
        except OSError:
            return None  # gone: app answers 404
        return cache.get(file_path, info)  # None if replaced: app reads it again
