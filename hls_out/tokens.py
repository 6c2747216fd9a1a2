"""The playback gate: tokenized paths checked, private videos' plain paths refused.

Runs before the path rule (`hls_out.paths`) on every request:

- `/hls-live/t/<token>/<url>...`: the token is checked (`tidecast_common.playback_tokens`) for
  that video, a playlist against its expiry, a segment against expiry + grace; refused with 403,
  otherwise the plain path `/hls-live/<url>...` is served.
- `/hls-auth/t/<token>/<url>...`: the same check for nginx's `auth_request`, answered 204 or 403
  without touching a file; the answer says for how long nginx may cache it (X-Accel-Expires).
- `/hls-live/<url>...`: refused (404, as for a missing file) when the video is private.

Which videos are private: the API writes a marker file (PRIVATE_MARKER) in the video's HLS folder
when its visibility becomes private and removes it when it stops being so. A marker holds up
where asking the API would not: every HLS worker process and nginx (`-f`) read the same truth
with a stat and no network, it needs no API to be up for public playback, and it lives and dies
with the folder it protects (deleting the video removes both). The answer is kept for
`marker_ttl` seconds per video (bounded), so the plain-path check costs a dict lookup.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tidecast_common.layout import URL_PREFIX, VIDEO_URL_LENGTH, is_video_url
from tidecast_common.playback_tokens import (
    AUTH_PATH_PREFIX,
    PRIVATE_MARKER,
    Verdict,
    is_segment_path,
    split_token_path,
    verify,
)

# nginx keeps a refusal this long (a bad or expired token never becomes good), an admission no
# longer than the token stays valid and at most this long.
REFUSAL_CACHE_SECONDS = 60
MAX_ADMISSION_CACHE_SECONDS = 30
MAX_PATH_LENGTH = 320


@dataclass(frozen=True, slots=True)
class GateAnswer:
    """`path` to serve as a plain HLS path, or `status` to answer with (and `cache_seconds` for
    an auth answer)."""

    path: str = ""
    status: int = 0
    detail: str = ""
    cache_seconds: int = 0


class PlaybackGate:
    def __init__(
        self,
        *,
        key: bytes,
        hls_root: Path,
        marker_ttl: float = 1.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._key = key
        self._root = str(hls_root.resolve())
        self._ttl = marker_ttl
        self._max = max_entries
        self._clock = clock
        self._monotonic = monotonic
        self._private: dict[str, tuple[float, bool]] = {}

    def admit(self, path: str) -> GateAnswer:
        """What to do with the raw request path `path` (query string removed)."""
        if path.startswith(URL_PREFIX + "t/"):
            return self._tokenized(path, prefix=URL_PREFIX + "t/", auth=False)
        if path.startswith(AUTH_PATH_PREFIX):
            return self._tokenized(path, prefix=AUTH_PATH_PREFIX + "t/", auth=True)
        video_url = path[len(URL_PREFIX) : len(URL_PREFIX) + VIDEO_URL_LENGTH]
        if path.startswith(URL_PREFIX) and is_video_url(video_url) and self.is_private(video_url):
            return GateAnswer(status=404, detail="no such file")
        return GateAnswer(path=path)

    def _tokenized(self, path: str, *, prefix: str, auth: bool) -> GateAnswer:
        parts = split_token_path(path, prefix=prefix) if len(path) <= MAX_PATH_LENGTH else None
        if parts is None:
            return GateAnswer(
                status=403, detail="malformed playback token", cache_seconds=REFUSAL_CACHE_SECONDS
            )
        now = self._clock()
        segment = is_segment_path(parts.plain_path)
        verdict = verify(
            key=self._key, token=parts.token, video_url=parts.video_url, now=now, segment=segment
        )
        if verdict is Verdict.EXPIRED:
            return GateAnswer(
                status=403, detail="playback token expired", cache_seconds=REFUSAL_CACHE_SECONDS
            )
        if verdict is not Verdict.VALID:
            return GateAnswer(
                status=403, detail="invalid playback token", cache_seconds=REFUSAL_CACHE_SECONDS
            )
        if auth:
            expires, grace = (int(part) for part in parts.token.split(".")[:2])
            left = expires + (grace if segment else 0) - now
            return GateAnswer(status=204, cache_seconds=max(0, min(MAX_ADMISSION_CACHE_SECONDS, int(left))))
        return GateAnswer(path=parts.plain_path)

    def is_private(self, video_url: str) -> bool:
        """Whether the video's folder holds the private marker, as seen at most `marker_ttl` ago."""
        now = self._monotonic()
        known = self._private.get(video_url)
        if known is not None and now - known[0] < self._ttl:
            return known[1]
        private = os.path.exists(f"{self._root}/{video_url}/{PRIVATE_MARKER}")  # noqa: PTH110 - as paths.py: one stat, no Path
        if len(self._private) >= self._max:
            self._private.clear()
        self._private[video_url] = (now, private)
        return private
