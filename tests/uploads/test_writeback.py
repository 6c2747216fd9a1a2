"""An upload's writeback: each stretch of UPLOAD_WRITEBACK_BYTES is handed to the disk once, in
order, none twice and none skipped; the sync at the end does the rest."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from api.uploads import services


@pytest.fixture
def advised(monkeypatch) -> list[tuple[int, int, int]]:
    calls: list[tuple[int, int, int]] = []
    real = os.posix_fadvise

    def record(fd: int, offset: int, length: int, advice: int) -> None:
        calls.append((offset, length, advice))
        real(fd, offset, length, advice)  # the real call, on a real file

    monkeypatch.setattr(services.os, "posix_fadvise", record)
    return calls


def write(path: Path, *, start: int, pieces: list[int]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        writeback = services._Writeback(fd, start=start)
        position = start
        for size in pieces:
            position += os.pwrite(fd, b"x" * size, position)
            writeback.written_to(position)
    finally:
        os.close(fd)


def test_each_stretch_is_handed_to_the_disk_once_in_order(settings, tmp_path, advised) -> None:
    settings.UPLOAD_WRITEBACK_BYTES = 100
    write(tmp_path / "upload", start=40, pieces=[60, 30, 30, 50, 200, 10])
    assert [(offset, length) for offset, length, _ in advised] == [(40, 120), (160, 250)]
    assert {advice for _, _, advice in advised} == {os.POSIX_FADV_DONTNEED}
    assert (tmp_path / "upload").stat().st_size == 420  # the last 10 bytes are left to the sync


def test_zero_leaves_it_all_to_the_sync(settings, tmp_path, advised) -> None:
    settings.UPLOAD_WRITEBACK_BYTES = 0
    write(tmp_path / "upload", start=0, pieces=[1000, 1000])
    assert advised == []
