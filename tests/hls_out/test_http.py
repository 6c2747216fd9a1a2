"""Request heads, conditional requests and ranges, without I/O."""

from __future__ import annotations

import pytest

from hls_out.http import MAX_HEAD_BYTES, HttpError, byte_range, not_modified, parse_request_head

ETAG = '"17a-400"'
LAST_MODIFIED = "Mon, 23 Nov 2026 12:00:00 GMT"
MTIME = 1795435200.0  # LAST_MODIFIED as a timestamp


def test_a_request_head_is_parsed() -> None:
    request = parse_request_head(
        b"GET /hls-live/a.m3u8?session=tab-1&x=2 HTTP/1.1\r\nHost: x\r\nUser-Agent:  hls.js \r\n"
        b"Accept: a\r\naccept: b"
    )
    assert (request.method, request.version) == ("GET", "HTTP/1.1")
    assert request.path == "/hls-live/a.m3u8"
    assert request.query_value("session") == "tab-1"
    assert request.query_value("missing") is None
    assert request.headers["user-agent"] == "hls.js"
    assert request.headers["accept"] == "a, b"


@pytest.mark.parametrize(
    ("head", "keep_alive"),
    [
        (b"GET / HTTP/1.1\r\nHost: x", True),
        (b"GET / HTTP/1.1\r\nConnection: Close", False),
        (b"GET / HTTP/1.0", False),
        (b"GET / HTTP/1.0\r\nConnection: Keep-Alive", True),
    ],
)
def test_keep_alive_follows_the_version_and_connection_header(head: bytes, keep_alive: bool) -> None:
    assert parse_request_head(head).keep_alive is keep_alive


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"GET /", 400),
        (b"GET  / HTTP/1.1", 400),
        (b"GET / HTTP/2.0", 505),
        (b"G(T / HTTP/1.1", 400),
        (b"GET / HTTP/1.1\r\nHost : x", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\n folded", 400),
        (b"GET / HTTP/1.1\r\nNoColon", 400),
        (b"GET / HTTP/1.1\r\nX: a\x00b", 400),
        (b"GET / HTTP/1.1\r\nContent-Length: 5", 400),
        (b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked", 400),
        (b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 80 + b"Z: z", 431),
        (b"GET /" + b"a" * MAX_HEAD_BYTES + b" HTTP/1.1", 431),
    ],
)
def test_malformed_or_ambiguous_heads_are_refused(head: bytes, status: int) -> None:
    with pytest.raises(HttpError) as refused:
        parse_request_head(head)
    assert refused.value.status == status


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, False),
        ({"if-none-match": ETAG}, True),
        ({"if-none-match": f'"other", W/{ETAG}'}, True),
        ({"if-none-match": "*"}, True),
        ({"if-none-match": '"other"'}, False),
        ({"if-modified-since": LAST_MODIFIED}, True),
        ({"if-modified-since": "Sun, 22 Nov 2026 12:00:00 GMT"}, False),
        ({"if-modified-since": "not a date"}, False),
        # If-None-Match wins over If-Modified-Since.
        ({"if-none-match": '"other"', "if-modified-since": LAST_MODIFIED}, False),
    ],
)
def test_conditional_requests(headers: dict[str, str], expected: bool) -> None:
    assert not_modified(headers, etag=ETAG, mtime=MTIME) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("bytes=0-99", range(100)),
        ("bytes=100-", range(100, 1000)),
        ("bytes=-100", range(900, 1000)),
        ("bytes=-5000", range(1000)),
        ("bytes=990-5000", range(990, 1000)),
        ("bytes=0-0", range(1)),
        ("bytes=0-9,20-29", None),  # several ranges: the whole file
        ("items=0-9", None),
        ("bytes=9-0", None),
        ("bytes=-", None),
    ],
)
def test_byte_ranges(value: str, expected: range | None) -> None:
    assert byte_range({"range": value}, size=1000, etag=ETAG, last_modified=LAST_MODIFIED) == expected


@pytest.mark.parametrize("value", ["bytes=1000-", "bytes=5000-6000", "bytes=-0"])
def test_unsatisfiable_ranges(value: str) -> None:
    with pytest.raises(HttpError) as refused:
        byte_range({"range": value}, size=1000, etag=ETAG, last_modified=LAST_MODIFIED)
    assert refused.value.status == 416


def test_if_range_that_no_longer_matches_means_the_whole_file() -> None:
    def wanted(if_range: str) -> range | None:
        headers = {"range": "bytes=0-9", "if-range": if_range}
        return byte_range(headers, size=1000, etag=ETAG, last_modified=LAST_MODIFIED)

    assert wanted(ETAG) == range(10)
    assert wanted(LAST_MODIFIED) == range(10)
    assert wanted('"stale"') is None
