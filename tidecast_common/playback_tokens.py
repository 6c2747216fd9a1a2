"""Playback tokens: an HMAC that opens one video's playlists and segments until an expiry.

The API mints them (POST /api/videos/<url>/playback-token), the HLS server and nginx (through an
`auth_request` to the HLS server) check them; the rule lives here only.

A token sits in the path, so that the playlists' relative URIs inherit it and any HLS player
(hls.js, Safari, ffprobe) plays it as it is:

    /hls-live/t/<token>/<url>.m3u8
    /hls-live/t/<token>/<url>/<rendition>/<file>

    <token> = <expires>.<grace>.<signature>

`expires` is a Unix time: playlists are refused from then on. Segments are still served for
`grace` more seconds, so a viewer who fetched a playlist before the expiry gets the segments it
lists (a VOD playlist lists the whole video: the API sets the grace to its duration plus a live
window). `signature` is HMAC-SHA256 over the video url, `expires` and `grace` with the playback
key (PLAYBACK_TOKEN_KEY, never the JWT key), base64url without padding, compared in constant time.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import re
from dataclasses import dataclass

from tidecast_common.layout import URL_PREFIX, VIDEO_URL_LENGTH, VIDEO_URL_PATTERN, is_video_url

TOKEN_PATH_PREFIX = f"{URL_PREFIX}t/"
# The HLS server's check for nginx's auth_request: /hls-auth/t/<token>/<url>... answers 204 or 403.
AUTH_PATH_PREFIX = "/hls-auth/"
# A file in a video's HLS folder that marks the video private: its plain URL is refused.
PRIVATE_MARKER = ".private"
MAX_EXPIRES_DIGITS = 12
MAX_GRACE_DIGITS = 9
SIGNATURE_LENGTH = 43  # 32 bytes, base64url without padding
TOKEN_PATTERN = (
    rf"[0-9]{{1,{MAX_EXPIRES_DIGITS}}}\.[0-9]{{1,{MAX_GRACE_DIGITS}}}\.[A-Za-z0-9_-]{{{SIGNATURE_LENGTH}}}"
)
_TOKEN = re.compile(TOKEN_PATTERN)
_TOKEN_PATH = re.compile(rf"({TOKEN_PATTERN})/(({VIDEO_URL_PATTERN})(?:\.m3u8|/.*))")
_DOMAIN = b"tidecast-playback-v1"
MIN_KEY_BYTES = 16


class Verdict(enum.Enum):
    VALID = "valid"
    EXPIRED = "expired"
    INVALID = "invalid"  # malformed, altered, signed with another key, or for another video


@dataclass(frozen=True, slots=True)
class TokenPath:
    """A tokenized request path taken apart: the token, the video it names and the plain path."""

    token: str
    video_url: str
    plain_path: str  # /hls-live/<url>.m3u8 or /hls-live/<url>/<rendition>/<file>


def _signature(key: bytes, video_url: str, expires: int, grace: int) -> str:
    message = b"\x00".join((_DOMAIN, video_url.encode(), str(expires).encode(), str(grace).encode()))
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def mint(*, key: bytes, video_url: str, expires: int, grace: int) -> str:
    """A token opening `video_url` until `expires` (Unix seconds), its segments `grace` s longer."""
    if len(key) < MIN_KEY_BYTES:
        raise ValueError("the playback token key is too short")
    if not is_video_url(video_url):
        raise ValueError("not a video url")
    if not 0 <= expires < 10**MAX_EXPIRES_DIGITS or not 0 <= grace < 10**MAX_GRACE_DIGITS:
        raise ValueError("expiry or grace out of range")
    return f"{expires}.{grace}.{_signature(key, video_url, expires, grace)}"


def verify(*, key: bytes, token: str, video_url: str, now: float, segment: bool) -> Verdict:
    """Whether `token` opens `video_url` at `now`: a playlist until its expiry, a segment
    (`segment`) until the expiry plus the grace. The signature is compared in constant time."""
    if len(key) < MIN_KEY_BYTES or not _TOKEN.fullmatch(token) or not is_video_url(video_url):
        return Verdict.INVALID
    expires_text, grace_text, signature = token.split(".")
    expires, grace = int(expires_text), int(grace_text)
    expected = _signature(key, video_url, expires, grace)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        return Verdict.INVALID
    deadline = expires + grace if segment else expires
    return Verdict.VALID if now < deadline else Verdict.EXPIRED


def split_token_path(request_path: str, *, prefix: str = TOKEN_PATH_PREFIX) -> TokenPath | None:
    """`/hls-live/t/<token>/<rest>` as its parts, or None when the path has no token's shape.
    `rest` is not checked here: the plain path goes through the HLS path rule afterwards."""
    if not request_path.startswith(prefix):
        return None
    match = _TOKEN_PATH.fullmatch(request_path, len(prefix))
    if match is None:
        return None
    token, rest, video_url = match.group(1), match.group(2), match.group(3)
    if len(video_url) != VIDEO_URL_LENGTH:
        return None
    return TokenPath(token=token, video_url=video_url, plain_path=f"{URL_PREFIX}{rest}")


def is_segment_path(path: str) -> bool:
    """Segments (and init segments) get the grace; playlists do not."""
    return not path.endswith(".m3u8")


def token_master_url(base_url: str, *, token: str, video_url: str) -> str:
    """The tokenized master playlist URL below `base_url` (PUBLIC_HLS_URL, ending in /hls-live/)."""
    return f"{base_url.rstrip('/')}/t/{token}/{video_url}.m3u8"
