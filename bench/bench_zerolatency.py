"""What `-tune zerolatency` costs the live renditions: CPU and SSIM, before and after.

    .venv/bin/python bench/bench_zerolatency.py [--seconds 20] [--preset veryfast]

A 1920x1080 30 fps source (ffmpeg's testsrc2 with film grain noise, so that motion estimation and
rate control have work to do) is encoded at each rung of the default ladder's size and bitrate
(720p 2800k, 480p 1400k, 360p 800k, the ladder's maxrate and bufsize) with x264 as the live
transcoder runs it, once as before (lookahead, B-frames, mb-tree) and once with `tune zerolatency`
(no lookahead, no B-frames, sliced threads). Printed per rung: CPU-seconds of the encode (user +
system, from the reaped ffmpeg) and SSIM against the source scaled to the rung with Lanczos.
"""

from __future__ import annotations

import argparse
import re
import resource
import subprocess
import tempfile
from pathlib import Path

RUNGS = [("720p", 1280, 720, 2800), ("480p", 854, 480, 1400), ("360p", 640, 360, 800)]


def cpu_of(argv: list[str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, check=True, timeout=600)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def ssim(encoded: Path, source: Path, width: int, height: int) -> float:
    result = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostats", "-i", str(encoded), "-i", str(source), "-lavfi",
         f"[1:v]scale={width}:{height}:flags=lanczos[ref];[0:v][ref]ssim", "-f", "null", "-"],
        capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    found = re.search(r"All:([0-9.]+)", result.stderr)
    if found is None:
        raise RuntimeError(result.stderr[-500:])
    return float(found[1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--preset", default="veryfast")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tidecast-zerolatency-") as folder:
        work = Path(folder)
        source = work / "source.mkv"
        subprocess.run(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
             "testsrc2=size=1920x1080:rate=30,noise=alls=12:allf=t+u", "-t", str(options.seconds),
             "-c:v", "ffv1", "-pix_fmt", "yuv420p", str(source)],
            check=True, timeout=600,
        )  # fmt: skip
        print(f"x264 {options.preset}, {options.seconds} s of 1080p30, per rung: CPU-s, SSIM")
        for name, width, height, kbps in RUNGS:
            row = []
            for tune in ([], ["-tune", "zerolatency"]):
                encoded = work / f"{name}{'-zl' if tune else ''}.mp4"
                argv = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(source),
                        "-vf", f"scale={width}:{height}", "-c:v", "libx264", "-preset", options.preset, *tune,
                        "-b:v", f"{kbps}k", "-maxrate", f"{round(kbps * 1.1)}k", "-bufsize", f"{kbps * 2}k",
                        "-g", "60", "-keyint_min", "60", "-sc_threshold", "0", str(encoded)]  # fmt: skip
                row.append((cpu_of(argv), ssim(encoded, source, width, height)))
            (cpu_before, ssim_before), (cpu_after, ssim_after) = row
            print(f"  {name} {kbps}k: before {cpu_before:.2f} CPU-s SSIM {ssim_before:.4f}; "
                  f"zerolatency {cpu_after:.2f} CPU-s SSIM {ssim_after:.4f} "
                  f"({cpu_after / cpu_before:.2f}x CPU, SSIM {ssim_after - ssim_before:+.4f})")  # fmt: skip


if __name__ == "__main__":
    main()
