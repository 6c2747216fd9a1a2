"""Transcoding cost and live latency of the pipeline, for a 1080p30 source.

    .venv/bin/python bench/bench_pipeline.py [--seconds 20] [--preset ultrafast]

1. CPU-seconds per media-second: Tidecast's single ffmpeg (one decode, `split` into 720p/480p/360p,
   source copied) against three separate ffmpeg processes, one per rendition (each decoding the
   source again, as the classic nginx-rtmp `exec ffmpeg` setups do). Both read the same FLV file as
   fast as they can; the CPU time is the children's user + system time.
2. End to end through `LiveTranscode`, fed at real time: time from the first tag to a playable
   master playlist, and how far behind the publisher's clock each new segment is when it appears.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from transcoder import flv
from transcoder.command import build_hls_command
from transcoder.ladder import DEFAULT_VARIANTS, SourceInfo, build_ladder
from transcoder.live import LiveTranscode

SEGMENT_SECONDS = 2


def make_source(path: Path, seconds: int) -> None:
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30", "-f", "lavfi", "-i", "sine=frequency=440",
         "-t", str(seconds), "-c:v", "libx264", "-preset", "veryfast", "-b:v", "4500k", "-g", "60",
         "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-f", "flv", str(path)],
        check=True,
    )  # fmt: skip


def run_measured(argvs: list[list[str]], source: Path) -> tuple[float, float]:
    """Run the commands concurrently, each fed the file on stdin; (CPU seconds, wall seconds)."""
    started = time.monotonic()
    processes = []
    for argv in argvs:
        with source.open("rb") as stdin:
            processes.append(
                subprocess.Popen(argv, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
    cpu = 0.0
    for process in processes:
        _pid, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            raise SystemExit(f"ffmpeg failed: {process.args}")
        cpu += usage.ru_utime + usage.ru_stime
    return cpu, time.monotonic() - started


def single_process(source: Path, out: Path, preset: str) -> list[list[str]]:
    renditions = build_ladder(
        source=SourceInfo(width=1920, height=1080, fps=30),
        variants=DEFAULT_VARIANTS,
        segment_seconds=SEGMENT_SECONDS,
    )
    return [
        build_hls_command(renditions=renditions, output_dir=out, segment_seconds=SEGMENT_SECONDS,
                          has_audio=True, copy_audio=True, preset=preset)
    ]  # fmt: skip


def separate_processes(source: Path, out: Path, preset: str) -> list[list[str]]:
    argvs = []
    for variant in DEFAULT_VARIANTS:
        folder = out / variant.name
        folder.mkdir(parents=True, exist_ok=True)
        argvs.append(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "flv", "-i", "pipe:0",
             "-vf", f"scale=-2:{variant.height}", "-c:v", "libx264", "-preset", preset,
             "-b:v", f"{variant.video_kbps}k", "-g", "60", "-sc_threshold", "0",
             "-c:a", "aac", "-b:a", f"{variant.audio_kbps}k",
             "-f", "hls", "-hls_time", str(SEGMENT_SECONDS), "-hls_list_size", "0", str(folder / "index.m3u8")]
        )  # fmt: skip
    return argvs


def playlist_end_times(path: Path) -> list[float]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    ends, total = [], 0.0
    for duration in re.findall(r"#EXTINF:([\d.]+)", text):
        total += float(duration)
        ends.append(total)
    return ends


async def end_to_end(source: Path, root: Path, preset: str) -> dict[str, float]:
    url = "benchbenchbench1"
    transcode = LiveTranscode(video_url=url, ladder=DEFAULT_VARIANTS, hls_root=root, preset=preset)
    data = await asyncio.to_thread(source.read_bytes)
    tags = [t for t in flv.iter_tags(data) if t.tag_type != flv.TAG_SCRIPT]
    master = root / f"{url}.m3u8"
    watched = root / url / "360p" / "index.m3u8"
    first_master: float | None = None
    delays: list[float] = []
    seen = 0
    started = time.monotonic()

    async def watch() -> None:
        nonlocal first_master, seen
        while True:
            now = time.monotonic() - started
            if first_master is None and master.exists():
                first_master = now
            ends = playlist_end_times(watched)
            for end in ends[seen:]:
                delays.append(now - end)
            seen = len(ends)
            await asyncio.sleep(0.02)

    watcher = asyncio.create_task(watch())
    await transcode.on_metadata({"width": 1920, "height": 1080, "framerate": 30, "videodatarate": 4500})
    for item in tags:
        delay = item.timestamp_ms / 1000 - (time.monotonic() - started)
        if delay > 0:
            await asyncio.sleep(delay)
        await transcode.feed(item.tag_type, item.timestamp_ms, item.payload)
    await asyncio.sleep(0.5)
    watcher.cancel()
    stats = transcode.stats()
    await transcode.stop()
    live = delays[:-1] or delays  # the last one is cut by the end of the input
    return {
        "first_master": first_master or float("nan"),
        "delay_max": max(live),
        "delay_mean": sum(live) / len(live),
        "speed": stats.get("transcoder_speed", float("nan")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--preset", default="ultrafast")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tidecast-bench-") as folder:
        work = Path(folder)
        source = work / "source.flv"
        make_source(source, args.seconds)
        single_cpu, single_wall = run_measured(
            single_process(source, work / "single" / "x", args.preset), source
        )
        three_cpu, three_wall = run_measured(separate_processes(source, work / "three", args.preset), source)
        e2e = asyncio.run(end_to_end(source, work / "live", args.preset))

    media = float(args.seconds)
    single, three = single_cpu / media, three_cpu / media
    cores = os.cpu_count() or 1
    print(f"1080p30 source, {args.seconds} s, x264 {args.preset}, {cores} cores")
    print(f"{'':44}{'Tidecast (1 ffmpeg, split)':>28}{'3 ffmpeg (exec style)':>24}")
    print(f"{'CPU-seconds per media-second':44}{single:>28.3f}{three:>24.3f}")
    print(f"{'ratio to the 3-process setup':44}{single / three:>28.2f}{1.0:>24.2f}")
    print(f"{'wall seconds (as fast as possible)':44}{single_wall:>28.1f}{three_wall:>24.1f}")
    print(f"{'1080p30 streams at real time (CPU bound)':44}{cores / single:>28.1f}{cores / three:>24.1f}")
    print()
    print(f"End to end through LiveTranscode, fed at real time ({SEGMENT_SECONDS} s segments):")
    print(f"  first playable master after the first tag: {e2e['first_master']:.2f} s "
          f"(target {SEGMENT_SECONDS + 1.5:.1f} s)")  # fmt: skip
    print(f"  newest segment's end behind the publisher's clock when it appears: mean {e2e['delay_mean']:.2f} s, "
          f"max {e2e['delay_max']:.2f} s (target {2 * SEGMENT_SECONDS} s)")  # fmt: skip
    print(f"  transcoder speed: {e2e['speed']:.2f}x")


if __name__ == "__main__":
    main()
