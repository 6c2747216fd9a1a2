"""The HTTP/1.1 the HLS server speaks, without I/O: request heads in, response heads out.

Only what players send is accepted: GET, HEAD and OPTIONS without a body, heads of at most
MAX_HEAD_BYTES. Anything ambiguous (folded or malformed header lines, a body, an unknown
version) is refused and the connection closed, so no request can be smuggled behind another.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from email.utils import formatdate, parsedate_to_datetime

MAX_HEAD_BYTES = 8 * 1024
MAX_HEADERS = 64
METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# name ":" OWS value OWS, the value without control characters other than tab.
FIELD = re.compile(
    r"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*((?:[^\x00-\x08\x0a-\x1f\x7f]*[^\x00-\x20\x7f])?)[ \t]*"
)
# At most 18 digits: any real offset fits, and int() never meets a number too long to convert.
SINGLE_RANGE = re.compile(r"bytes=(\d{0,18})-(\d{0,18})")
REASONS = {
    200: "OK",
    204: "No Content",
    206: "Partial Content",
    304: "Not Modified",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    416: "Range Not Satisfiable",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}


class HttpError(Exception):
    """A request that cannot be answered normally; the connection closes after the error response."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class RequestHead:
    """A parsed request head (a plain slotted class: built once per request, on the hot path)."""

    __slots__ = ("headers", "method", "target", "version")

    def __init__(self, *, method: str, target: str, version: str, headers: Mapping[str, str]) -> None:
        self.method = method
        self.target = target  # raw, undecoded, with the query
        self.version = version
        self.headers = headers  # lower-case names; repeated fields joined with ", "

    @property
    def keep_alive(self) -> bool:
        connection = self.headers.get("connection")
        if self.version == "HTTP/1.1":
            return connection is None or "close" not in connection.lower()
        return connection is not None and "keep-alive" in connection.lower()

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    def query_value(self, name: str) -> str | None:
        """A query parameter's raw value (players send plain tokens; nothing here is decoded)."""
        query = self.target.partition("?")[2]
        if not query:
            return None
        for pair in query.split("&"):
            key, _, value = pair.partition("=")
            if key == name:
                return value
        return None


def parse_request_head(head: bytes) -> RequestHead:
    """A request head without its final blank line."""
    if len(head) > MAX_HEAD_BYTES:
        raise HttpError(431, "request head too large")
    request_line, _, fields = head.decode("latin-1").partition("\r\n")
    parts = request_line.split(" ")
    if len(parts) != 3 or not parts[1]:
        raise HttpError(400, "malformed request line")
    method, target, version = parts
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise HttpError(505, "only HTTP/1.0 and HTTP/1.1")
    if method not in METHODS and not TOKEN.fullmatch(method):
        raise HttpError(400, "malformed method")
    headers: dict[str, str] = {}
    if fields:
        lines = fields.split("\r\n")
        if len(lines) > MAX_HEADERS:
            raise HttpError(431, "too many header fields")
        for line in lines:
            field = FIELD.fullmatch(line)
            if field is None:  # also refuses folded lines, "name :" and control characters
                raise HttpError(400, "malformed header field")
            key, value = field[1].lower(), field[2]
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
    if "transfer-encoding" in headers or headers.get("content-length", "0") != "0":
        raise HttpError(400, "requests with a body are not accepted")
    return RequestHead(method=method, target=target, version=version, headers=headers)


def response_head(
    status: int, fields: bytes, *, date: bytes, keep_alive: bool, http10: bool = False
) -> bytes:
    """Status line and header block; `fields` are complete `Name: value\\r\\n` lines.

    HTTP/1.1 connections persist unless told otherwise; an HTTP/1.0 client is told when they do.
    """
    if not keep_alive:
        connection = b"Connection: close\r\n"
    else:
        connection = b"Connection: keep-alive\r\n" if http10 else b""
    return b"HTTP/1.1 %d %s\r\nDate: %s\r\n%s%s\r\n" % (
        status,
        REASONS[status].encode(),
        date,
        connection,
        fields,
    )


def header_lines(headers: Mapping[str, str]) -> bytes:
    return "".join(f"{name}: {value}\r\n" for name, value in headers.items()).encode("latin-1")


def http_date(timestamp: float) -> str:
    return formatdate(timestamp, usegmt=True)


def not_modified(headers: Mapping[str, str], *, etag: str, mtime: float) -> bool:
    """RFC 9110 §13.1: If-None-Match (weak comparison) wins over If-Modified-Since."""
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or etag in tags
    if_modified_since = headers.get("if-modified-since")
    if if_modified_since is not None:
        try:
            since = parsedate_to_datetime(if_modified_since).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return False
        return int(mtime) <= since
    return False


def byte_range(headers: Mapping[str, str], *, size: int, etag: str, last_modified: str) -> range | None:
    """The one range to send, or None for the whole file; raises HttpError(416) if unsatisfiable.

    Several ranges, or a syntax we do not know, are answered with the whole file, as RFC 9110
    allows. If-Range that no longer matches also means the whole file.
    """
    value = headers.get("range")
    if value is None:
        return None
    if_range = headers.get("if-range")
    if if_range is not None and if_range not in (etag, last_modified):
        return None
    match = SINGLE_RANGE.fullmatch(value.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first:
        if not last:
            return None
        start, stop = max(size - int(last), 0), size  # suffix: the last N bytes
        if int(last) == 0:
            raise HttpError(416, "range not satisfiable")
    else:
        start = int(first)
        stop = min(int(last) + 1, size) if last else size
        if last and int(last) < start:
            return None
    if start >= size or start >= stop:
        raise HttpError(416, "range not satisfiable")
    return range(start, stop)
