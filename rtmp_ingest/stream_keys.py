"""Stream keys arrive as the RTMP publishing name: raw internet input, and a secret.

A key is checked here before anything else sees it; a refused key never reaches a path, a log line,
a subprocess or the API. Logs only ever show `redact(key)`.
"""

from __future__ import annotations

import re

MAX_KEY_BYTES = 256
_KEY = re.compile(r"[A-Za-z0-9_-]{1,%d}" % MAX_KEY_BYTES)  # noqa: UP031 - a regex quantifier


class InvalidStreamKey(ValueError):
    """The publishing name cannot be a stream key. The message never contains the name."""


def validate_stream_key(name: object) -> str:
    """Return `name` if it is a well-formed stream key, else raise InvalidStreamKey."""
    if not isinstance(name, str) or _KEY.fullmatch(name) is None:
        raise InvalidStreamKey("stream key must be 1-256 characters of A-Z, a-z, 0-9, '_' or '-'")
    return name


def redact(key: str) -> str:
    """What a log line may show of a key: its first 4 characters, and nothing of a short one."""
    return f"{key[:4]}…" if len(key) >= 16 else "…"
