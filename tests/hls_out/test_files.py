"""The in-memory file cache: valid only for the inode it was read from, bounded in bytes."""

from __future__ import annotations

import os
from pathlib import Path

from hls_out.files import FileCache, read_entry


def cached_read(cache: FileCache, path: Path) -> bytes:
    info = os.lstat(path)
    entry = cache.get(str(path), info)
    if entry is None:
        entry = read_entry(str(path), max_bytes=cache.max_file_bytes, cors=b"")
        assert entry is not None
        cache.put(str(path), entry)
    return entry.body


def test_a_playlist_replaced_by_rename_is_read_again(tmp_path: Path) -> None:
    cache = FileCache(max_bytes=1024, max_file_bytes=1024)
    playlist = tmp_path / "index.m3u8"
    playlist.write_text("#EXTM3U\n#EXTINF:2,\nseg_00000.ts\n")
    assert cached_read(cache, playlist).endswith(b"seg_00000.ts\n")
    # Same size, a new inode: what ffmpeg's temp_file and our atomic writes do.
    replacement = tmp_path / ".index.m3u8.tmp"
    replacement.write_text("#EXTM3U\n#EXTINF:2,\nseg_00001.ts\n")
    replacement.replace(playlist)
    assert cached_read(cache, playlist).endswith(b"seg_00001.ts\n")
    assert len(cache) == 1


def test_an_unchanged_file_is_served_from_memory(tmp_path: Path) -> None:
    cache = FileCache(max_bytes=1024, max_file_bytes=1024)
    segment = tmp_path / "seg.ts"
    segment.write_bytes(b"a" * 100)
    cached_read(cache, segment)
    entry = cache.get(str(segment), os.lstat(segment))
    assert entry is not None
    assert entry.body == b"a" * 100
    assert b"Cache-Control: public, max-age=31536000, immutable\r\n" in entry.fields


def test_the_cache_is_bounded_and_evicts_the_least_recently_used(tmp_path: Path) -> None:
    cache = FileCache(max_bytes=250, max_file_bytes=100)
    paths = []
    for index in range(4):
        path = tmp_path / f"seg_{index}.ts"
        path.write_bytes(bytes([index]) * 100)
        paths.append(path)
    cached_read(cache, paths[0])
    cached_read(cache, paths[1])
    cached_read(cache, paths[0])  # now the most recent
    cached_read(cache, paths[2])
    assert cache.size <= 250
    assert cache.get(str(paths[1]), os.lstat(paths[1])) is None
    assert cache.get(str(paths[0]), os.lstat(paths[0])) is not None
    big = tmp_path / "big.ts"
    big.write_bytes(b"x" * 101)
    assert read_entry(str(big), max_bytes=cache.max_file_bytes, cors=b"") is None


def test_a_vanished_file_reads_as_none(tmp_path: Path) -> None:
    assert read_entry(str(tmp_path / "gone.ts"), max_bytes=100, cors=b"") is None
