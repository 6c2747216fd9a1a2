"""The tus protocol rules, without I/O."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from api.uploads import protocol
from api.uploads.protocol import TusError


def _status(call, *args, **kwargs) -> int:
    with pytest.raises(TusError) as caught:
        call(*args, **kwargs)
    return caught.value.status


def test_the_version_must_be_1_0_0():
    protocol.check_resumable("1.0.0")
    protocol.check_resumable(" 1.0.0 ")
    assert _status(protocol.check_resumable, None) == 412
    assert _status(protocol.check_resumable, "0.2.2") == 412


@pytest.mark.parametrize("value", ["0", "1", "1048576", "9" * 19])
def test_lengths_and_offsets_are_whole_numbers(value):
    assert protocol.parse_upload_length(value) == int(value)
    assert protocol.parse_upload_offset(value) == int(value)


@pytest.mark.parametrize("value", [None, "", "-1", "1.5", "0x10", "1e3", "9" * 20, "\uff11\uff12"])
def test_malformed_lengths_are_400(value):
    assert _status(protocol.parse_upload_length, value) == 400
    assert _status(protocol.parse_upload_offset, value) == 400


def test_a_patch_needs_content_length_and_the_offset_media_type():
    assert protocol.parse_content_length("10") == 10
    assert _status(protocol.parse_content_length, None) == 411
    protocol.check_patch_content_type("application/offset+octet-stream")
    protocol.check_patch_content_type("Application/Offset+Octet-Stream; charset=binary")
    assert _status(protocol.check_patch_content_type, "application/octet-stream") == 415
    assert _status(protocol.check_patch_content_type, None) == 415


def test_metadata_round_trips_and_a_bare_key_is_empty():
    header = protocol.encode_metadata({"filename": "köln.mp4", "title": "A, b c"})
    assert protocol.parse_metadata(header) == {"filename": "köln.mp4", "title": "A, b c"}
    assert protocol.parse_metadata("is_confidential") == {"is_confidential": ""}
    assert protocol.parse_metadata(None) == {}
    assert protocol.parse_metadata("") == {}


@pytest.mark.parametrize(
    "header",
    [
        "title not-base64!",
        "title " + base64.b64encode(b"\xff\xfe").decode(),  # not UTF-8
        "title " + base64.b64encode(b"a\x00b").decode(),
        "a b c",
        "title YQ==,title YQ==",
        "bad/key YQ==",
        ",".join(f"k{i} YQ==" for i in range(protocol.MAX_METADATA_PAIRS + 1)),
        "title " + base64.b64encode(b"x" * (protocol.MAX_METADATA_VALUE_BYTES + 10)).decode(),
    ],
)
def test_malformed_metadata_is_400(header):
    assert _status(protocol.parse_metadata, header) == 400


def test_a_patch_starts_where_the_bytes_end_and_stops_at_the_length():
    protocol.check_patch_offset(claimed=5, stored=5, length=10, body_bytes=5)
    assert _status(protocol.check_patch_offset, claimed=4, stored=5, length=10, body_bytes=1) == 409
    assert _status(protocol.check_patch_offset, claimed=6, stored=5, length=10, body_bytes=1) == 409
    assert _status(protocol.check_patch_offset, claimed=5, stored=5, length=10, body_bytes=6) == 400


def test_capabilities_and_expiry_headers():
    headers = protocol.Capabilities(max_size=1000).headers()
    assert headers == {
        "Tus-Resumable": "1.0.0",
        "Tus-Version": "1.0.0",
        "Tus-Extension": "creation,termination,expiration",
        "Tus-Max-Size": "1000",
    }
    when = datetime(2026, 12, 2, 5, 0, 0, tzinfo=UTC)
    assert protocol.expires_header(when) == "Wed, 02 Dec 2026 05:00:00 GMT"
