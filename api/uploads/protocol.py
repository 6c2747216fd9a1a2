"""tus 1.0.0 (core, creation, termination, expiration) as pure functions: no I/O, no Django.

The views read request headers into these, and write the headers these return. Every rule of the
protocol that can be checked without the stored upload lives here, so it is unit-tested alone.
https://tus.io/protocols/resumable-upload (version 1.0.0).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = ("creation", "termination", "expiration")
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
# Response headers a browser client (tus-js-client) must be allowed to read across origins.
EXPOSED_HEADERS = (
    "Tus-Resumable",
    "Tus-Version",
    "Tus-Extension",
    "Tus-Max-Size",
    "Upload-Offset",
    "Upload-Length",
    "Upload-Expires",
    "Location",
    "Video-Url",
)
# Upload-Metadata: at most this many pairs, keys of this shape, values up to this many bytes decoded.
MAX_METADATA_PAIRS = 16
MAX_METADATA_VALUE_BYTES = 8192
_METADATA_KEY = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_DIGITS = re.compile(r"[0-9]{1,19}")


class TusError(ValueError):
    """A request that breaks the protocol: `status` is the HTTP answer, `code` a stable identifier."""

    def __init__(self, message: str, *, status: int, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


def check_resumable(value: str | None) -> None:
    """Every request but OPTIONS names the protocol version; another version is 412."""
    if value is None or value.strip() != TUS_VERSION:
        raise TusError(
            f"This server speaks tus {TUS_VERSION}: send Tus-Resumable: {TUS_VERSION}.",
            status=412,
            code="tus_version",
        )


def _non_negative(value: str | None, header: str) -> int:
    if value is None:
        raise TusError(f"The {header} header is required.", status=400, code="tus_header")
    text = value.strip()
    if _DIGITS.fullmatch(text) is None:
        raise TusError(f"{header} must be a whole number of bytes.", status=400, code="tus_header")
    return int(text)


def parse_upload_length(value: str | None) -> int:
    """Upload-Length at creation (deferred length is not offered)."""
    return _non_negative(value, "Upload-Length")


def parse_upload_offset(value: str | None) -> int:
    return _non_negative(value, "Upload-Offset")


def parse_content_length(value: str | None) -> int:
    if value is None or not value.strip():
        raise TusError("A PATCH needs a Content-Length.", status=411, code="length_required")
    return _non_negative(value, "Content-Length")


def check_patch_content_type(value: str | None) -> None:
    media_type = (value or "").split(";", 1)[0].strip().lower()
    if media_type != OFFSET_CONTENT_TYPE:
        raise TusError(
            f"A PATCH body must be sent as {OFFSET_CONTENT_TYPE}.", status=415, code="unsupported_media_type"
        )


def parse_metadata(value: str | None) -> dict[str, str]:
    """Upload-Metadata: comma-separated `key base64value` pairs (a key alone means an empty value).

    Values are decoded as UTF-8 text; a value that is not valid base64 or UTF-8 is a 400.
    """
    if value is None or not value.strip():
        return {}
    pairs = value.split(",")
    if len(pairs) > MAX_METADATA_PAIRS:
        raise TusError("Upload-Metadata has too many pairs.", status=400, code="tus_metadata")
    metadata: dict[str, str] = {}
    for pair in pairs:
        parts = pair.strip().split(" ")
        if len(parts) > 2 or not parts[0] or _METADATA_KEY.fullmatch(parts[0]) is None:
            raise TusError("Upload-Metadata is malformed.", status=400, code="tus_metadata")
        key = parts[0]
        if key in metadata:
            raise TusError(f"Upload-Metadata names {key!r} twice.", status=400, code="tus_metadata")
        encoded = parts[1] if len(parts) == 2 else ""
        if len(encoded) > (MAX_METADATA_VALUE_BYTES * 4) // 3 + 4:
            raise TusError(
                f"The Upload-Metadata value of {key!r} is too long.", status=400, code="tus_metadata"
            )
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise TusError(
                f"The Upload-Metadata value of {key!r} is not base64-encoded UTF-8.",
                status=400,
                code="tus_metadata",
            ) from None
        if "\x00" in decoded:
            raise TusError(
                f"The Upload-Metadata value of {key!r} has a NUL.", status=400, code="tus_metadata"
            )
        metadata[key] = decoded
    return metadata


def encode_metadata(metadata: Mapping[str, str]) -> str:
    """The header value for `metadata` (clients and tests)."""
    return ",".join(f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in metadata.items())


def check_patch_offset(*, claimed: int, stored: int, length: int, body_bytes: int) -> None:
    """A PATCH must start where the stored bytes end (409) and may not run past Upload-Length (400)."""
    if claimed != stored:
        raise TusError(
            f"Upload-Offset {claimed} does not match the {stored} bytes received so far.",
            status=409,
            code="offset_mismatch",
        )
    if stored + body_bytes > length:
        raise TusError(
            f"The body would run {stored + body_bytes - length} bytes past Upload-Length.",
            status=400,
            code="past_length",
        )


def expires_header(expires_at: datetime) -> str:
    """Upload-Expires, as an RFC 7231 date."""
    return format_datetime(expires_at, usegmt=True)


@dataclass(frozen=True, slots=True)
class Capabilities:
    max_size: int

    def headers(self) -> dict[str, str]:
        """The OPTIONS answer's headers."""
        return {
            "Tus-Resumable": TUS_VERSION,
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": ",".join(TUS_EXTENSIONS),
            "Tus-Max-Size": str(self.max_size),
        }
