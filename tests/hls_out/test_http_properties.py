"""Whatever bytes a client sends, the request-head code answers with a parsed head or an HttpError."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hls_out.http import HttpError, byte_range, not_modified, parse_request_head

FIELD_NAMES = st.sampled_from(
    ["Host", "Range", "If-Range", "If-None-Match", "If-Modified-Since", "Connection"]
)
DIGITS = st.text(alphabet="0123456789", min_size=0, max_size=6000)
RANGE_VALUES = st.one_of(
    st.builds(lambda a, b: f"bytes={a}-{b}", DIGITS, DIGITS),
    st.text(max_size=200),
)
FIELD_VALUES = st.one_of(RANGE_VALUES, st.text(max_size=200))


def head_bytes(method: str, target: str, fields: list[tuple[str, str]]) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", *(f"{name}: {value}" for name, value in fields)]
    return "\r\n".join(lines).encode("utf-8", "surrogatepass")


def answer(head: bytes) -> None:
    """Parse and answer a head; only HttpError may escape, with a 4xx/5xx status."""
    refused: HttpError | None = None
    chosen: range | None = None
    try:
        request = parse_request_head(head)
        not_modified(request.headers, etag='"abc"', mtime=1_700_000_000.0)
        chosen = byte_range(request.headers, size=1_000_000, etag='"abc"', last_modified="x")
    except HttpError as error:
        refused = error
    if refused is not None:
        assert 400 <= refused.status < 600
    elif chosen is not None:
        assert 0 <= chosen.start < chosen.stop <= 1_000_000


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=9000))
def test_arbitrary_bytes_are_parsed_or_refused(data):
    answer(data)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.sampled_from(["GET", "HEAD", "OPTIONS", "POST", "G\x00T", ""]),
    st.text(min_size=0, max_size=100),
    st.lists(st.tuples(FIELD_NAMES, FIELD_VALUES), max_size=8),
)
def test_header_shaped_input_is_parsed_or_refused(method, target, fields):
    answer(head_bytes(method, target or "/", fields))


def test_a_range_with_thousands_of_digits_is_answered_not_crashed():
    answer(head_bytes("GET", "/hls-live/a.ts", [("Range", f"bytes={'9' * 5000}-")]))
    answer(head_bytes("GET", "/hls-live/a.ts", [("Range", f"bytes=-{'9' * 5000}")]))
