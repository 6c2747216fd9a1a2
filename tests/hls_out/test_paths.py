from __future__ import annotations

from pathlib import Path

import pytest

from hls_out.paths import BadRequest, NotFound, resolve_hls_path

URL = "abcdefgh12345678"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    hls = tmp_path / "hls"
    (hls / URL / "720p").mkdir(parents=True)
    (hls / f"{URL}.m3u8").write_text("#EXTM3U\n")
    for name in ("index.m3u8", "seg_00000.ts", "init.mp4", "seg_00001.m4s", "notes.txt"):
        (hls / URL / "720p" / name).write_text("x")
    (tmp_path / "secret.ts").write_text("outside")
    return hls


@pytest.mark.parametrize(
    "path",
    [f"/hls-live/{URL}.m3u8", f"/hls-live/{URL}/720p/index.m3u8", f"/hls-live/{URL}/720p/seg_00000.ts",
     f"/hls-live/{URL}/720p/init.mp4", f"/hls-live/{URL}/720p/seg_00001.m4s"],
)  # fmt: skip
def test_playlists_and_segments_resolve_inside_the_root(root: Path, path: str) -> None:
    resolved = resolve_hls_path(root, path)
    assert resolved == (root / path.removeprefix("/hls-live/")).resolve()


@pytest.mark.parametrize(
    "path",
    [
        f"/hls-live/{URL}/../../secret.ts",
        "/hls-live/../secret.ts",
        f"/hls-live/{URL}/720p/..",
        "/hls-live/%2e%2e/secret.ts",
        "/hls-live/%2E%2E/secret.ts",
        f"/hls-live/{URL}/720p/%2e%2e%2f%2e%2e%2fsecret.ts",
        "/hls-live/..%2fsecret.ts",
        "/hls-live/..%5csecret.ts",
        "/hls-live/%252e%252e/secret.ts",
        "/hls-live/%25252e%25252e/secret.ts",
        "/hls-live/..\\secret.ts",
        "/hls-live/\\etc\\passwd.ts",
        f"/hls-live/{URL}/720p/seg_00000.ts\x00.m3u8",
        f"/hls-live/{URL}/720p/seg_00000%00.ts",
        "/hls-live//etc/passwd.ts",
        "//etc/passwd",
        f"/hls-live/{URL}.m3u8?x=1",
        "/hls-live/%c0%ae%c0%ae/secret.ts",
        "/hls-live/\u2025/secret.ts",
        "/hls-live/" + "a" * 300 + ".ts",
    ],
)
def test_traversal_and_encoding_tricks_are_bad_requests(root: Path, path: str) -> None:
    with pytest.raises(BadRequest):
        resolve_hls_path(root, path)


@pytest.mark.parametrize(
    "path",
    [
        "/etc/passwd",
        "/hls-live/",
        f"/hls-live/{URL}",
        f"/hls-live/{URL}/720p/notes.txt",
        f"/hls-live/{URL}/720p/index.m3u8.tmp",
        f"/hls-live/{URL}/720p/.hidden.ts",
        f"/hls-live/{URL}/720p/missing.ts",
        f"/hls-live/{URL}/720p",
        "/hls-live/ABCDEFGH12345678.m3u8",
        "/hls-live/short.m3u8",
        f"/hls-live/{URL}/a/b/c.ts",
        "/hls-live/0000000000000000.m3u8",
    ],
)
def test_unknown_shapes_suffixes_and_missing_files_are_not_found(root: Path, path: str) -> None:
    with pytest.raises(NotFound):
        resolve_hls_path(root, path)


def test_a_symlink_pointing_out_of_the_root_is_not_served(root: Path, tmp_path: Path) -> None:
    (root / URL / "720p" / "leak.ts").symlink_to(tmp_path / "secret.ts")
    with pytest.raises(NotFound):
        resolve_hls_path(root, f"/hls-live/{URL}/720p/leak.ts")
    other = "zzzzzzzzzzzzzzzz"
    (root / other).symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "720p").mkdir()
    (tmp_path / "720p" / "seg.ts").write_text("outside")
    with pytest.raises(NotFound):
        resolve_hls_path(root, f"/hls-live/{other}/720p/seg.ts")


def test_a_symlink_staying_inside_the_root_is_served(root: Path) -> None:
    (root / URL / "720p" / "alias.ts").symlink_to(root / URL / "720p" / "seg_00000.ts")
    assert (
        resolve_hls_path(root, f"/hls-live/{URL}/720p/alias.ts")
        == (root / URL / "720p" / "seg_00000.ts").resolve()
    )
