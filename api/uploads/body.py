"""A PATCH body as `readinto(buffer) -> int`: bytes straight into the caller's reused buffer.

Under gunicorn, `wsgi.input` is gunicorn's `Body`, which reads the socket 8 KiB at a time and hands
the bytes on 1 KiB per step through several `BytesIO` copies: the upload's ceiling was that Python
loop, not the network or the disk. For a body of known length (Content-Length, the only kind a tus
PATCH has) the reader here first takes what gunicorn has already buffered, then `recv_into()`s the
socket itself, never past the body's end. gunicorn's own reader is told of every byte taken, so at
any moment (a finished body, a timeout, a reset) it knows what is left, exactly as if it had read
them: a keep-alive connection goes on with the next request, never with the middle of this body.

Anything else (the development server, Django's test client, a shape of gunicorn not known here)
is read through the WSGI stream's own `read()`.
"""

from __future__ import annotations

import io
import socket
from collections.abc import Callable
from typing import Any

try:  # gunicorn is the production server, not a requirement of the code that runs under it
    from gunicorn.http.body import Body as GunicornBody
    from gunicorn.http.body import LengthReader as GunicornLengthReader
    from gunicorn.http.unreader import SocketUnreader as GunicornSocketUnreader
except ImportError:  # pragma: no cover - every environment here has gunicorn
    GunicornBody = GunicornLengthReader = GunicornSocketUnreader = None

ReadInto = Callable[[memoryview], int]


class _GunicornLengthBody:
    """The rest of a Content-Length body under gunicorn, read from its buffers then its socket."""

    def __init__(self, body: Any) -> None:
        self._reader = body.reader
        unreader = self._reader.unreader
        self._socket: socket.socket = unreader.sock
        # Bytes gunicorn's Body took from its reader but did not hand out (none unless read before).
        already = body.buf.getvalue()
        body.buf = io.BytesIO()
        # Bytes read past the headers: this body's first bytes (and maybe a pipelined request's).
        buffered = unreader.buf.getvalue()
        take = min(len(buffered), self._reader.length)
        unreader.buf = io.BytesIO()
        unreader.buf.write(buffered[take:])
        self._reader.length -= take
        self._pending = memoryview(already + buffered[:take])

    def readinto(self, buffer: memoryview) -> int:
        if self._pending:
            count = min(len(buffer), len(self._pending))
            buffer[:count] = self._pending[:count]
            self._pending = self._pending[count:]
            return count
        want = min(len(buffer), self._reader.length)
        if want <= 0:
            return 0
        count = self._socket.recv_into(buffer, want)
        self._reader.length -= count
        return count


def _gunicorn_length_body(wsgi_input: Any, content_length: int) -> _GunicornLengthBody | None:
    if GunicornBody is None or not isinstance(wsgi_input, GunicornBody):
        return None
    reader = wsgi_input.reader
    if not isinstance(reader, GunicornLengthReader):
        return None  # chunked, or no length
    if not isinstance(reader.unreader, GunicornSocketUnreader):
        return None
    if reader.length + wsgi_input.buf.getbuffer().nbytes != content_length:
        return None  # some of it was read already, or the lengths disagree: not ours to second-guess
    return _GunicornLengthBody(wsgi_input)


def _through_read(read: Callable[[int], bytes]) -> ReadInto:
    def readinto(buffer: memoryview) -> int:
        data = read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    return readinto


def body_readinto(*, meta: dict[str, Any], read: Callable[[int], bytes], content_length: int) -> ReadInto:
    """`readinto` for a request body not read yet: `meta` is the WSGI environ, `read` the
    request's own read (the fallback). Each call fills up to len(buffer) bytes and returns how many,
    0 at the end; a socket timeout or reset raises OSError."""
    fast = _gunicorn_length_body(meta.get("wsgi.input"), content_length)
    return fast.readinto if fast is not None else _through_read(read)
