"""Files kept in memory between requests: playlists, which every player polls every couple of
seconds, and small segments, which every viewer of a stream fetches within seconds of each other.

An entry holds only for the inode it was read from: its identity is (device, inode, mtime, size).
Playlists are replaced by a rename (a new inode) and segments never change once renamed into
place, so the stat the path resolver makes anyway tells whether an entry still holds. Each cache
is a bounded LRU by bytes; files above its per-file limit are never kept (the server sends those
from the file with sendfile).
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import formatdate

Identity = tuple[int, int, int, int]
MAX_PLAYLIST_BYTES = 4 * 1024 * 1024


def identity_of(info: os.stat_result) -> Identity:
    return (info.st_dev, info.st_ino, info.st_mtime_ns, info.st_size)


@dataclass(frozen=True, slots=True)
class CachedFile:
    identity: Identity
    body: bytes
    etag: str  # unquoted, in web.FileResponse's form, so both kinds of answer look alike
    mtime: float
    # ETag and Last-Modified, formatted once for every response from this entry.
    validators: dict[str, str]
    # The whole heads of a 200 and a 304 up to the Date (`hls_out.fast_path`), built on first use.
    heads: list[bytes] = field(default_factory=list, compare=False, repr=False)

    def not_modified(
        self, *, if_none_match: tuple[str, ...] | None, if_modified_since: datetime | None
    ) -> bool:
        """RFC 9110 §13.1: If-None-Match (weak comparison) wins over If-Modified-Since.

        Compared as web.FileResponse does: its Last-Modified is the mtime rounded up to a second.
        """
        if if_none_match is not None:
            return "*" in if_none_match or self.etag in if_none_match
        if if_modified_since is not None:
            return self.mtime <= if_modified_since.timestamp()
        return False


def read_cached_file(path: str, *, max_bytes: int = MAX_PLAYLIST_BYTES) -> CachedFile | None:
    """The file's contents; None if it is gone, larger than `max_bytes` or still being written."""
    try:
        with open(path, "rb") as handle:  # noqa: PTH123 - plain str paths, as the resolver gives
            info = os.fstat(handle.fileno())
            if info.st_size > max_bytes:
                return None
            body = handle.read(max_bytes + 1)
    except OSError:
        return None
    if len(body) != info.st_size:
        return None
    etag = f"{info.st_mtime_ns:x}-{info.st_size:x}"
    return CachedFile(
        identity=identity_of(info),
        body=body,
        etag=etag,
        mtime=info.st_mtime,
        validators={
            "ETag": f'"{etag}"',
            "Last-Modified": formatdate(math.ceil(info.st_mtime), usegmt=True),
        },
    )


class FileCache:
    """LRU of files by path, at most `max_bytes` of bodies in all and `max_file_bytes` each."""

    def __init__(self, *, max_bytes: int, max_file_bytes: int = MAX_PLAYLIST_BYTES) -> None:
        self.max_bytes = max_bytes
        self.max_file_bytes = min(max_file_bytes, max_bytes)
        self._entries: OrderedDict[str, CachedFile] = OrderedDict()
        self._size = 0

    @property
    def size(self) -> int:
        return self._size

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, path: str) -> bool:
        """Whether an entry for `path` is kept (it may be stale: `get` checks)."""
        return path in self._entries

    def admits(self, info: os.stat_result) -> bool:
        """Whether a file of this size is kept here at all."""
        return info.st_size <= self.max_file_bytes

    def get(self, path: str, info: os.stat_result) -> CachedFile | None:
        entry = self._entries.get(path)
        if entry is None:
            return None
        if entry.identity != identity_of(info):
            self._remove(path)
            return None
        self._entries.move_to_end(path)
        return entry

    def put(self, path: str, entry: CachedFile) -> None:
        if len(entry.body) > self.max_file_bytes:
            return
        if path in self._entries:
            self._remove(path)
        self._entries[path] = entry
        self._size += len(entry.body)
        while self._size > self.max_bytes:
            self._remove(next(iter(self._entries)))

    def _remove(self, path: str) -> None:
        self._size -= len(self._entries.pop(path).body)
