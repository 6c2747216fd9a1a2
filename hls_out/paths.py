"""Request path -> file inside the HLS root, or a refusal. The only gate between URLs and the disk.

Legitimate paths are plain ASCII (`/hls-live/<url>.m3u8`, `/hls-live/<url>/<rendition>/<file>`),
so anything needing percent-encoding, any dot segment, backslash or NUL is refused outright
(400) before it is ever decoded; well-formed paths that name nothing servable are 404.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import NoReturn

from tidecast_common.layout import SERVABLE_PATH
from tidecast_common.layout import URL_PREFIX as PREFIX

HOSTILE = ("%", "\\", "\x00", "..", "//", "?", "#")
MAX_PATH_LENGTH = 256


class HlsPathError(Exception):
    status = 400


class BadRequest(HlsPathError):
    status = 400


class NotFound(HlsPathError):
    status = 404


def hls_relative_path(request_path: str) -> str:
    """The path below the HLS root that `request_path` (raw, undecoded) names, checked for shape only."""
    # The shapes admit only [A-Za-z0-9_-], one "/" between parts and one "." before the suffix,
    # so a match holds no hostile token; anything else is refused, with the reason.
    if not SERVABLE_PATH.fullmatch(request_path):
        _refuse(request_path)
    return request_path[len(PREFIX) :]


def _refuse(request_path: str) -> NoReturn:
    """Why a path that is not a plain playlist or segment path is refused (400 or 404)."""
    if len(request_path) > MAX_PATH_LENGTH or any(token in request_path for token in HOSTILE):
        raise BadRequest("malformed path")
    if not request_path.isascii() or not request_path.isprintable():
        raise BadRequest("malformed path")
    if not request_path.startswith(PREFIX):
        raise NotFound("not an HLS path")
    raise NotFound("not an HLS playlist or segment")


def resolve_hls_path(root: Path, request_path: str) -> Path:
    """The existing regular file inside `root` that `request_path` (raw, undecoded) names."""
    path, _stat = resolve_hls_file(root.resolve(), request_path)
    return Path(path)


def resolve_hls_file(base: Path, request_path: str) -> tuple[str, os.stat_result]:
    """Like `resolve_hls_path` with `base` already resolved: the file's path and its stat.

    The common case (no symlink on the way) costs one lstat per path component; a symlink
    anywhere below the root falls back to resolving it fully and checking where it lands.
    """
    relative = hls_relative_path(request_path)
    current = str(base)
    try:
        for part in relative.split("/"):
            current += "/" + part
            info = os.lstat(current)
            if info.st_mode & 0o170000 == stat.S_IFLNK:
                return _resolve_through_symlinks(base, relative)
    except OSError as error:  # missing, not a directory, unreadable
        raise NotFound("no such file") from error
    if not stat.S_ISREG(info.st_mode):
        raise NotFound("no such file")
    return current, info


def _resolve_through_symlinks(base: Path, relative: str) -> tuple[str, os.stat_result]:
    try:
        resolved = (base / relative).resolve(strict=True)
        info = resolved.stat()
    except (OSError, RuntimeError) as error:  # RuntimeError: a symlink loop
        raise NotFound("no such file") from error
    # A symlink inside the root may point anywhere: only what really lies inside is served.
    if not resolved.is_relative_to(base) or not stat.S_ISREG(info.st_mode):
        raise NotFound("no such file")
    return str(resolved), info
