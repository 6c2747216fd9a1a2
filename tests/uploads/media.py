"""Real media files for the upload tests, made with ffmpeg from lavfi test sources."""

from __future__ import annotations

import subprocess
from pathlib import Path

_LAVFI_VIDEO = "testsrc2=size={size}:rate={rate}"
_LAVFI_AUDIO = "sine=frequency=440:sample_rate=48000"


def make(
    path: Path,
    *,
    seconds: float = 6,
    size: str = "320x240",
    rate: int = 25,
    video: list[str] | None = None,
    audio: list[str] | None = None,
    extra: list[str] | None = None,
    filters: str | None = None,
    fmt: str | None = None,
) -> Path:
    """A file of `seconds` of test pattern (and a tone unless `audio` is an empty list)."""
    argv = [
        "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", _LAVFI_VIDEO.format(size=size, rate=rate),
    ]  # fmt: skip
    with_audio = audio != []
    if with_audio:
        argv += ["-f", "lavfi", "-i", _LAVFI_AUDIO]
    argv += ["-t", str(seconds)]
    if filters:
        argv += ["-vf", filters]
    argv += (
        video
        if video is not None
        else ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "50"]
    )
    if with_audio:
        argv += audio if audio is not None else ["-c:a", "aac", "-b:a", "64k"]
    argv += extra or []
    if fmt:
        argv += ["-f", fmt]
    argv.append(str(path))
    subprocess.run(argv, check=True, timeout=120)
    return path


def duration(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return float(out.stdout.strip())


def rotated(source: Path, path: Path, degrees: int = 90) -> Path:
    """`source` with a display matrix turning it by `degrees` (as phones record upright video)."""
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(source), "-c", "copy",
         "-metadata:s:v:0", f"rotate={degrees}", str(path)],
        check=True,
        timeout=60,
    )  # fmt: skip
    return path


# name -> (file name, how to make it): every container and codec the issue names.
def corpus(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    h264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "50"]
    return {
        "mp4": make(folder / "a.mp4"),
        "mov": make(folder / "a.mov", audio=["-c:a", "pcm_s16le"]),
        "mkv": make(folder / "a.mkv", audio=["-c:a", "libopus"]),
        "webm-vp9": make(
            folder / "a.webm",
            video=["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-g", "50"],
            audio=["-c:a", "libopus"],
        ),
        "webm-av1": make(
            folder / "b.webm",
            seconds=4,
            size="192x144",
            video=["-c:v", "libsvtav1", "-preset", "12", "-g", "50"],
            audio=["-c:a", "libopus"],
        ),
        "avi": make(
            folder / "a.avi", video=["-c:v", "mpeg4", "-q:v", "5", "-g", "50"], audio=["-c:a", "libmp3lame"]
        ),
        "flv": make(folder / "a.flv", video=h264, audio=["-c:a", "aac"]),
        "ts": make(folder / "a.ts", video=h264),
        # A phone holding the camera upright: 320x240 coded, shown 240x320.
        "rotated": rotated(make(folder / "landscape.mp4"), folder / "rotated.mp4"),
        # Variable frame rate: frames dropped at irregular instants, timestamps kept.
        "vfr": make(
            folder / "vfr.mkv",
            filters="select='not(eq(mod(n\\,7)\\,3))*not(eq(mod(n\\,5)\\,1))'",
            extra=["-fps_mode", "vfr"],
        ),
        # Odd sizes, and 4:4:4 that browsers cannot decode as it is.
        "odd-size": make(
            folder / "odd.mp4",
            filters="scale=321:241",
            video=["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv444p"],
        ),
        "no-audio": make(folder / "silent.mp4", audio=[]),
    }
