"""The packager process of one live stream: `python -m transcoder.package <spec json>`.

It is what the ingest supervises (`transcoder.live`): it starts ffmpeg (`build_cmaf_command`)
with its own stdin, so ffmpeg reads the ingest's FLV directly, and one pipe per rendition for
ffmpeg's fragmented MP4. Each rendition's bytes go through `RenditionPackager`; the files it
names are written atomically (a hidden temporary file renamed into place: the HLS server, which
watches the folder with inotify, sees each part, segment and playlist whole), the playlist last.

When ffmpeg ends on EOF (the publisher is gone, or the ingest died and its end of the pipe
closed) every playlist becomes a VOD. SIGTERM and SIGINT are passed on to ffmpeg. The exit code
is ffmpeg's, so the supervisor restarts the pair as it restarted ffmpeg alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from tidecast_common.layout import INIT_SEGMENT, VARIANT_PLAYLIST
from tidecast_common.llhls import MediaPlaylist, parse_media_playlist
from transcoder.cmaf import BoxReader, CmafError
from transcoder.command import build_cmaf_command
from transcoder.ladder import Rendition
from transcoder.llhls import (
    Output,
    RenditionPackager,
    fragment_microseconds,
    next_part_number,
    part_target_seconds,
)

logger = logging.getLogger("transcoder.package")
READ_BYTES = 256 * 1024
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True, slots=True)
class PackageSpec:
    """Everything the packager process needs, passed as JSON on its command line (no secrets)."""

    output_dir: str
    renditions: tuple[Rendition, ...]
    segment_seconds: int
    part_seconds: float
    fps: float
    has_audio: bool
    copy_audio: bool
    preset: str
    ffmpeg_binary: str
    restart: bool
    # The wall clock when the run's first frame (a keyframe) reached the ingest: the program date
    # of media time 0, so PROGRAM-DATE-TIME is the publisher's clock (None: when this process starts).
    wall_clock_start: float | None = None

    @property
    def part_target(self) -> float:
        return part_target_seconds(self.part_seconds, self.fps)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> PackageSpec:
        values = json.loads(text)
        values["renditions"] = tuple(Rendition(**item) for item in values["renditions"])
        return cls(**values)

    def ffmpeg_command(self, outputs: list[str]) -> list[str]:
        return build_cmaf_command(
            renditions=self.renditions,
            outputs=outputs,
            segment_seconds=self.segment_seconds,
            fragment_microseconds=fragment_microseconds(self.part_seconds, self.fps),
            has_audio=self.has_audio,
            copy_audio=self.copy_audio,
            preset=self.preset,
            ffmpeg_binary=self.ffmpeg_binary,
        )


def write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("wb") as handle:
        handle.write(data)
    temporary.chmod(0o644)
    temporary.replace(path)


class RenditionWriter:
    """One rendition's folder: the packager's files written, its playlist kept up to date."""

    def __init__(self, spec: PackageSpec, name: str, *, wall_clock_start: float) -> None:
        self.folder = Path(spec.output_dir) / name
        self.folder.mkdir(parents=True, exist_ok=True)
        playlist_path = self.folder / VARIANT_PLAYLIST
        playlist = MediaPlaylist(segment_seconds=spec.segment_seconds, part_target=spec.part_target)
        run = 0
        if spec.restart and playlist_path.exists():
            playlist = parse_media_playlist(
                playlist_path.read_text(encoding="utf-8"),
                segment_seconds=spec.segment_seconds,
                part_target=spec.part_target,
            )
            playlist.ended = False
            run = (
                sum(1 for path in self.folder.glob("init*.mp4"))
                if (self.folder / INIT_SEGMENT).exists()
                else 0
            )
        first_part = next_part_number(playlist)
        playlist.next_part_uri = None
        self.packager = RenditionPackager(
            playlist=playlist,
            run=run,
            segment_seconds=spec.segment_seconds,
            fps=spec.fps,
            wall_clock_start=wall_clock_start,
            first_part=first_part,
        )
        self.reader = BoxReader()

    def feed(self, data: bytes) -> None:
        for box in self.reader.feed(data):
            self.apply(self.packager.box(box))

    def finish(self) -> None:
        self.apply(self.packager.finish())

    def apply(self, output: Output) -> None:
        for name, data in output.files:
            write_atomically(self.folder / name, data)
        if output.playlist_changed:
            write_atomically(self.folder / VARIANT_PLAYLIST, self.packager.playlist.render().encode())
        for name in output.deleted:
            (self.folder / name).unlink(missing_ok=True)


async def read_rendition(fd: int, writer: RenditionWriter) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=READ_BYTES, loop=loop)
    transport, _protocol = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader, loop=loop), os.fdopen(fd, "rb", buffering=0)
    )
    try:
        while chunk := await reader.read(READ_BYTES):
            writer.feed(chunk)
    finally:
        transport.close()


async def run(spec: PackageSpec) -> int:
    wall_clock_start = spec.wall_clock_start if spec.wall_clock_start is not None else time.time()
    writers = [RenditionWriter(spec, r.name, wall_clock_start=wall_clock_start) for r in spec.renditions]
    pipes = [os.pipe() for _ in spec.renditions]
    argv = spec.ffmpeg_command([f"pipe:{write}" for _read, write in pipes])
    # ffmpeg gets this process's environment (the supervisor's minimal one) without the path
    # this process was imported from.
    environment = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=None,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=None,
        pass_fds=[w for _r, w in pipes],
        env=environment,
        preexec_fn=_die_with_parent(os.getpid()),  # this process has one thread
    )
    for _read, write in pipes:
        os.close(write)
    loop = asyncio.get_running_loop()
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, _forward, process, number)
    readers = [
        asyncio.create_task(read_rendition(read, w)) for (read, _w), w in zip(pipes, writers, strict=True)
    ]
    results = await asyncio.gather(*readers, return_exceptions=True)
    returncode = await process.wait()
    broken = [result for result in results if isinstance(result, BaseException)]
    for error in broken:
        logger.error("packaging failed: %s", error)
    if returncode == 0 and not broken:
        for writer in writers:
            writer.finish()
    return returncode if returncode != 0 or not broken else 1


def _die_with_parent(parent: int) -> Callable[[], None]:
    """ffmpeg is killed when this process dies: nothing would read its output any more, and it
    would hold the supervisor's pipes open. (The ingest dying is different: this process lives on,
    ffmpeg finishes on EOF and the recording is closed.)"""

    def set_death_signal() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before the call
            os._exit(1)

    return set_death_signal


def _forward(process: asyncio.subprocess.Process, number: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(number)


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.WARNING, format="packager: %(message)s")
    if len(argv) != 2:
        print("usage: python -m transcoder.package <spec json>", file=sys.stderr)
        return 2
    try:
        spec = PackageSpec.from_json(argv[1])
    except (ValueError, TypeError, KeyError) as error:
        print(f"packager: bad spec: {error}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(run(spec))
    except CmafError as error:
        logger.error("packaging failed: %s", error)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
