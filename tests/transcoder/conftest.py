"""Test media made with the real ffmpeg: short FLV files from lavfi testsrc2 + sine."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest


def make_flv(
    path: Path,
    *,
    width: int,
    height: int,
    seconds: float,
    fps: int = 30,
    audio: bool = True,
    gop: int = 60,
    pix_fmt: str = "yuv420p",
    profile: str | None = None,
) -> Path:
    """An FLV of `seconds` of test picture (and tone); `pix_fmt` and `profile` choose the H.264
    format, by default the Constrained Baseline x264 writes at ultrafast."""
    argv = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}"]  # fmt: skip
    if audio:
        argv += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
    argv += ["-t", str(seconds), "-c:v", "libx264", "-pix_fmt", pix_fmt, "-g", str(gop), "-b:v", "1500k"]
    # ultrafast leaves out what Main and High add (CABAC, B-frames): x264 would fall back to Baseline.
    argv += ["-preset", "veryfast", "-profile:v", profile] if profile else ["-preset", "ultrafast"]
    if audio:
        argv += ["-c:a", "aac", "-b:a", "96k"]
    argv += ["-f", "flv", str(path)]
    subprocess.run(argv, check=True, timeout=120)
    return path


@pytest.fixture(scope="session")
def flv_factory(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    made: dict[tuple[object, ...], Path] = {}
    folder = tmp_path_factory.mktemp("flv")

    def factory(**options: object) -> Path:
        key = tuple(sorted(options.items()))
        if key not in made:
            name = "_".join(f"{k}{v}" for k, v in key) + ".flv"
            made[key] = make_flv(folder / name, **options)  # type: ignore[arg-type]
        return made[key]

    return factory
