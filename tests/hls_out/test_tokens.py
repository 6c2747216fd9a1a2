"""The playback gate (hls_out.tokens) without a server: tokens, the private marker, its cache."""

from __future__ import annotations

from pathlib import Path

from hls_out.tokens import PlaybackGate
from tidecast_common.playback_tokens import PRIVATE_MARKER, mint

KEY = b"k" * 32
URL = "abcdefgh12345678"
OTHER = "zzzzzzzz00000000"


class Clock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def gate(root: Path, clock: Clock, monotonic: Clock | None = None) -> PlaybackGate:
    return PlaybackGate(key=KEY, hls_root=root, clock=clock, monotonic=monotonic or clock, marker_ttl=1.0)


def test_a_valid_token_gives_the_plain_path(tmp_path: Path) -> None:
    token = mint(key=KEY, video_url=URL, expires=100, grace=10)
    answer = gate(tmp_path, Clock(50)).admit(f"/hls-live/t/{token}/{URL}/720p/index.m3u8")
    assert (answer.status, answer.path) == (0, f"/hls-live/{URL}/720p/index.m3u8")


def test_expired_tampered_and_foreign_tokens_are_403(tmp_path: Path) -> None:
    token = mint(key=KEY, video_url=URL, expires=100, grace=10)
    clock = Clock(150)
    assert gate(tmp_path, clock).admit(f"/hls-live/t/{token}/{URL}.m3u8").status == 403
    clock.now = 50
    assert gate(tmp_path, clock).admit(f"/hls-live/t/{token}/{OTHER}.m3u8").status == 403
    altered = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert gate(tmp_path, clock).admit(f"/hls-live/t/{altered}/{URL}.m3u8").status == 403
    tampered = token.replace("100.", "999.", 1)
    assert gate(tmp_path, clock).admit(f"/hls-live/t/{tampered}/{URL}.m3u8").status == 403
    assert gate(tmp_path, clock).admit(f"/hls-live/t/nonsense/{URL}.m3u8").status == 403


def test_a_segment_is_served_in_the_grace_and_a_playlist_is_not(tmp_path: Path) -> None:
    token = mint(key=KEY, video_url=URL, expires=100, grace=10)
    clock = Clock(105)
    assert gate(tmp_path, clock).admit(f"/hls-live/t/{token}/{URL}/720p/seg_00003.ts").status == 0
    assert gate(tmp_path, clock).admit(f"/hls-live/t/{token}/{URL}/720p/index.m3u8").status == 403


def test_the_auth_answer_is_204_and_cacheable_no_longer_than_the_token(tmp_path: Path) -> None:
    token = mint(key=KEY, video_url=URL, expires=100, grace=10)
    answer = gate(tmp_path, Clock(95)).admit(f"/hls-auth/t/{token}/{URL}/720p/index.m3u8")
    assert (answer.status, answer.cache_seconds) == (204, 5)
    refused = gate(tmp_path, Clock(101)).admit(f"/hls-auth/t/{token}/{URL}/720p/index.m3u8")
    assert refused.status == 403


def test_a_private_video_plain_path_is_refused(tmp_path: Path) -> None:
    (tmp_path / URL).mkdir()
    (tmp_path / URL / PRIVATE_MARKER).touch()
    the_gate = gate(tmp_path, Clock(0))
    assert the_gate.admit(f"/hls-live/{URL}.m3u8").status == 404
    assert the_gate.admit(f"/hls-live/{URL}/720p/seg_00001.ts").status == 404
    assert the_gate.admit(f"/hls-live/{OTHER}.m3u8").path == f"/hls-live/{OTHER}.m3u8"
    token = mint(key=KEY, video_url=URL, expires=100, grace=0)
    assert the_gate.admit(f"/hls-live/t/{token}/{URL}.m3u8").path == f"/hls-live/{URL}.m3u8"


def test_the_marker_is_read_again_after_its_ttl(tmp_path: Path) -> None:
    (tmp_path / URL).mkdir()
    monotonic = Clock(0)
    the_gate = gate(tmp_path, Clock(0), monotonic)
    assert the_gate.is_private(URL) is False
    (tmp_path / URL / PRIVATE_MARKER).touch()
    monotonic.now = 0.5
    assert the_gate.is_private(URL) is False  # cached
    monotonic.now = 1.1
    assert the_gate.is_private(URL) is True


def test_without_a_key_every_token_is_refused(tmp_path: Path) -> None:
    token = mint(key=KEY, video_url=URL, expires=100, grace=0)
    keyless = PlaybackGate(key=b"", hls_root=tmp_path, clock=Clock(0))
    assert keyless.admit(f"/hls-live/t/{token}/{URL}.m3u8").status == 403
