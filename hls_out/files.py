"""File contents and their response headers, kept in memory between requests.

An entry is valid only for the inode it was read from: its identity is (device, inode, mtime,
size). Segments never change once renamed into place, and playlists are replaced by a rename
(a new inode), so the stat the path resolver makes anyway tells whether an entry still holds.
The cache is a bounded LRU by bytes; files above `max_file_bytes` are not kept.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass

from hls_out.http import header_lines, http_date

CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".m4s": "video/mp4",
    ".mp4": "video/mp4",
}
# Playlists change while live; segments never change once renamed into place (temp_file flag).
PLAYLIST_CACHE = "no-cache"
SEGMENT_CACHE = "public, max-age=31536000, immutable"

Identity = tuple[int, int, int, int]


def identity_of(info: os.stat_result) -> Identity:
    return (info.st_dev, info.st_ino, info.st_mtime_ns, info.st_size)


@dataclass(frozen=True, slots=True)
class FileEntry:
    identity: Identity
    body: bytes
    etag: str
    last_modified: str
    mtime: float
    # Content-Type, Cache-Control, ETag, Last-Modified, Accept-Ranges and CORS, ready to send.
    fields: bytes


def file_fields(*, suffix: str, etag: str, last_modified: str, cors: bytes) -> bytes:
    cache_control = PLAYLIST_CACHE if suffix == ".m3u8" else SEGMENT_CACHE
    return (
        header_lines(
            {
                "Content-Type": CONTENT_TYPES[suffix],
                "Cache-Control": cache_control,
                "ETag": etag,
                "Last-Modified": last_modified,
                "Accept-Ranges": "bytes",
            }
        )
        + cors
    )


def read_entry(path: str, *, max_bytes: int, cors: bytes) -> FileEntry | None:
    """The file's contents and headers; None if it is gone or larger than `max_bytes`."""
    try:
        with open(path, "rb") as handle:  # noqa: PTH123 - plain str paths on the hot path
            info = os.fstat(handle.fileno())
            if info.st_size > max_bytes:
                return None
            body = handle.read(max_bytes + 1)
    except OSError:
        return None
    if len(body) != info.st_size:  # still being written in place: not a file to serve or keep
        return None
    etag = f'"{info.st_mtime_ns:x}-{info.st_size:x}"'
    last_modified = http_date(info.st_mtime)
    suffix = path[path.rfind(".") :]
    return FileEntry(
        identity=identity_of(info),
        body=body,
        etag=etag,
        last_modified=last_modified,
        mtime=info.st_mtime,
        fields=file_fields(suffix=suffix, etag=etag, last_modified=last_modified, cors=cors),
    )


class FileCache:
    """LRU of FileEntry by path, at most `max_bytes` of bodies in all."""

    def __init__(self, *, max_bytes: int, max_file_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.max_file_bytes = min(max_file_bytes, max_bytes)
        self._entries: OrderedDict[str, FileEntry] = OrderedDict()
        self._size = 0

    @property
    def size(self) -> int:
        return self._size

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, path: str, info: os.stat_result) -> FileEntry | None:
        entry = self._entries.get(path)
        if entry is None:
            return None
        if entry.identity != identity_of(info):
            self._remove(path)
            return None
        self._entries.move_to_end(path)
        return entry

    def put(self, path: str, entry: FileEntry) -> None:
        if len(entry.body) > self.max_file_bytes:
            return
        if path in self._entries:
            self._remove(path)
        self._entries[path] = entry
        self._size += len(entry.body)
        while self._size > self.max_bytes:
            oldest = next(iter(self._entries))
            self._remove(oldest)

    def _remove(self, path: str) -> None:
        self._size -= len(self._entries.pop(path).body)
