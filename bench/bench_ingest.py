"""RTMP ingest cost: Tidecast's ingest, plain pyrtmp and nginx-rtmp, side by side, recording to disk.

    .venv/bin/python bench/bench_ingest.py [--seconds 20] [--rounds 3] [--publishers 8]

A 6 Mbps 1080p30 H.264/AAC source is encoded once, then published with `ffmpeg -c copy` (so the
publisher costs almost nothing) to each server in turn, each one writing what it receives to disk:
Tidecast with its FLV recording sink, pyrtmp with its README-style FLV writer, nginx-rtmp with
`record all`. For each server:

- CPU-seconds per media second at real time (`-re`): the time the scheduler ran the server's
  threads (/proc/<pid>/task/*/schedstat, nanoseconds; nginx: master + worker), and beside it the
  user + system ticks of /proc/<pid>/stat, which miss part of short wakeups. All servers run at
  once and take turns, round after round, so that a slow spell of a shared machine hits them
  alike; the median round is reported, with the spread of the rounds;
- maximum throughput in MB/s without `-re` (the publisher pushes as fast as the server takes it);
- N concurrent real-time publishers: how many finished within 10 % of the time a publisher alone takes.

`--callgrind` instead counts the user-space instructions Tidecast's ingest executes for one real-time
publish under `valgrind --tool=callgrind` (instrumentation on from just before the publish to just
after it): a figure the load of a shared machine does not move. `--root` picks the source tree whose
ingest runs, to compare two versions with the same harness.

nginx runs from a generated config on loopback, as deployed: a master and one worker process.
Tidecast's figures include its heartbeat to the API every 2 s (a local stand-in answers).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from netutil import free_port, wait_listening
from nginx_rtmp import start_nginx_rtmp

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SECRET = "bench-ingest-secret"  # noqa: S105 - a throwaway secret for a local fake API
CLK_TCK = os.sysconf("SC_CLK_TCK")

PYRTMP_SERVER = r"""
import asyncio, os, sys
from pyrtmp.flv import FLVMediaType, FLVWriter
from pyrtmp.rtmp import RTMPProtocol, SimpleRTMPController

OUT = sys.argv[2]

class Recorder(SimpleRTMPController):
    async def on_ns_publish(self, session, message):
        name = os.path.basename(str(message.publishing_name)) or "stream"
        session.state = {"file": open(os.path.join(OUT, name + ".flv"), "wb"), "flv": FLVWriter()}
        session.state["file"].write(session.state["flv"].write_header())
        await super().on_ns_publish(session, message)

    async def on_metadata(self, session, message):
        session.state["file"].write(session.state["flv"].write(0, message.to_raw_meta(), FLVMediaType.OBJECT))

    async def on_video_message(self, session, message):
        session.state["file"].write(session.state["flv"].write(message.timestamp, message.payload, FLVMediaType.VIDEO))

    async def on_audio_message(self, session, message):
        session.state["file"].write(session.state["flv"].write(message.timestamp, message.payload, FLVMediaType.AUDIO))

    async def cleanup(self, session):
        if isinstance(session.state, dict) and "file" in session.state:
            session.state["file"].close()

async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: RTMPProtocol(controller=Recorder()), "127.0.0.1", int(sys.argv[1]))
    async with server:
        await server.serve_forever()

import logging
logging.disable(logging.CRITICAL)
asyncio.run(main())
"""


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (nginx's workers)."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        for child in children:
            pids += process_tree(int(child))
    return pids


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(scheduler run time, user + system ticks) of the process tree, all threads, in seconds."""
    scheduled = ticks = 0.0
    for member in process_tree(pid):
        for task in Path(f"/proc/{member}/task").iterdir():
            scheduled += int((task / "schedstat").read_text().split()[0]) / 1e9
        fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime of every thread
    return scheduled, ticks


def make_source(path: Path, seconds: int) -> None:
    print(f"encoding a {seconds} s 1080p30 6 Mbps source...", flush=True)
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", str(seconds),
         "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "6000k", "-maxrate", "6000k", "-bufsize", "6000k",
         "-g", "60", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-f", "flv", str(path)],
        check=True,
    )  # fmt: skip


def publish(source: Path, url: str, *, realtime: bool) -> subprocess.Popen[bytes]:
    argv = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin"]
    argv += ["-re"] if realtime else []
    argv += ["-i", str(source), "-c", "copy", "-f", "flv", url]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class FakeApi:
    """Grants every publish (a fresh video URL each time) so the ingest runs its full lifecycle."""

    def __init__(self) -> None:
        self.port = free_port()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()
        wait_listening(self.port)

    def _run(self) -> None:
        async def authorize(request: web.Request) -> web.Response:
            return web.json_response(
                {"allow": True, "publish_id": str(uuid.uuid4()), "video_url": secrets.token_hex(8),
                 "channel": "bench", "ladder": [], "segment_seconds": 2, "heartbeat_interval": 2}
            )  # fmt: skip

        async def heartbeat(request: web.Request) -> web.Response:
            return web.json_response({"continue": True})

        async def end(request: web.Request) -> web.Response:
            return web.json_response({"status": "ended", "video_url": ""})

        app = web.Application()
        app.router.add_post("/api/internal/publish/authorize", authorize)
        app.router.add_post("/api/internal/publish/heartbeat", heartbeat)
        app.router.add_post("/api/internal/publish/end", end)
        web.run_app(app, host="127.0.0.1", port=self.port, print=None, handle_signals=False)


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    work_dir: Path

    def url(self, key: str) -> str:
        return f"rtmp://127.0.0.1:{self.port}/streaming/{key}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_tidecast(
    work_dir: Path, api: FakeApi, *, root: Path = ROOT, wrapper: tuple[str, ...] = ()
) -> Server:
    port = free_port()
    env = dict(os.environ)
    env.update(
        INGEST_SHARED_SECRET=SECRET, API_BASE_URL=f"http://127.0.0.1:{api.port}", RTMP_PORT=str(port),
        INGEST_SINK="record", TIDECAST_DATA_DIR=str(work_dir), LOG_LEVEL="WARNING",
        RTMP_MAX_CONNECTIONS_PER_IP="64", INGEST_METRICS_PORT="0", INGEST_MAX_STREAMS="64",  # recording only
    )  # fmt: skip
    process = subprocess.Popen([*wrapper, PYTHON, "-m", "rtmp_ingest"], cwd=root, env=env)
    wait_listening(port, timeout=120.0 if wrapper else 10.0)
    return Server("tidecast", process, port, work_dir)


def callgrind_instructions(source: Path, tmp_dir: Path, api: FakeApi, root: Path) -> int:
    """User-space instructions of the ingest for one real-time publish of `source`."""
    out = tmp_dir / "callgrind.out"
    wrapper = ("valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}")
    work_dir = tmp_dir / "callgrind"
    work_dir.mkdir()
    server = start_tidecast(work_dir, api, root=root, wrapper=wrapper)
    try:
        pid = str(server.process.pid)
        subprocess.run(["callgrind_control", "--instr=on", pid], check=True, capture_output=True)
        publisher = publish(source, server.url("callgrind"), realtime=True)
        if publisher.wait() != 0:
            raise SystemExit(f"callgrind publish failed: {publisher.stderr.read().decode()}")  # type: ignore[union-attr]
        time.sleep(1.0)  # the end of the stream handled
        subprocess.run(["callgrind_control", "--instr=off", pid], check=True, capture_output=True)
    finally:
        server.stop()
    total = 0
    for dump in tmp_dir.glob("callgrind.out*"):
        for line in dump.read_text().splitlines():
            if line.startswith("totals:"):
                total += int(line.split()[1])
    return total


def start_pyrtmp(work_dir: Path) -> Server:
    port = free_port()
    script = work_dir / "pyrtmp_server.py"
    script.write_text(PYRTMP_SERVER)
    process = subprocess.Popen([PYTHON, str(script), str(port), str(work_dir)], cwd=work_dir)
    wait_listening(port)
    return Server("pyrtmp", process, port, work_dir)


def start_nginx(work_dir: Path) -> Server:
    process, port = start_nginx_rtmp(work_dir, {"streaming": []})
    return Server("nginx-rtmp", process, port, work_dir)


@dataclass
class Figures:
    cpu_rounds: list[float]
    cpu_ticks_rounds: list[float]
    max_mb_per_second: float = 0.0
    concurrent_ok: int = 0
    concurrent_slowest: float = 0.0

    @property
    def cpu_per_media_second(self) -> float:
        return statistics.median(self.cpu_rounds)

    @property
    def cpu_ticks_per_media_second(self) -> float:
        return statistics.median(self.cpu_ticks_rounds)


def realtime_cpu(server: Server, source: Path, media_seconds: float, key: str) -> tuple[float, float, float]:
    """(scheduled CPU-s, tick CPU-s) per media second of one real-time publish, and its wall time."""
    before_scheduled, before_ticks = cpu_seconds(server.process.pid)
    started = time.monotonic()
    publisher = publish(source, server.url(key), realtime=True)
    if publisher.wait() != 0:
        raise SystemExit(f"{server.name}: real-time publish failed: {publisher.stderr.read().decode()}")  # type: ignore[union-attr]
    took = time.monotonic() - started  # ffmpeg's own start-up included
    time.sleep(0.5)
    after_scheduled, after_ticks = cpu_seconds(server.process.pid)
    return (
        (after_scheduled - before_scheduled) / media_seconds,
        (after_ticks - before_ticks) / media_seconds,
        took,
    )


def throughput_and_concurrency(
    server: Server, source: Path, figures: Figures, alone: float, publishers: int
) -> None:
    size_mb = source.stat().st_size / 1e6
    started = time.monotonic()
    publisher = publish(source, server.url("flat-out"), realtime=False)
    if publisher.wait() != 0:
        raise SystemExit(f"{server.name}: flat-out publish failed: {publisher.stderr.read().decode()}")  # type: ignore[union-attr]
    figures.max_mb_per_second = size_mb / (time.monotonic() - started)

    # Held at real time: exited cleanly, at most 10 % later than one publisher alone (8 ffmpeg start-ups share 2 cores).
    started = time.monotonic()
    running = [publish(source, server.url(f"many{i}"), realtime=True) for i in range(publishers)]
    held = 0
    slowest = 0.0
    for process in running:
        code = process.wait()
        took = time.monotonic() - started
        slowest = max(slowest, took)
        held += code == 0 and took <= alone * 1.10
    figures.concurrent_ok = held
    figures.concurrent_slowest = slowest / alone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20, help="media length of the source")
    parser.add_argument(
        "--rounds", type=int, default=3, help="real-time CPU rounds per server, taken in turns"
    )
    parser.add_argument("--publishers", type=int, default=8, help="concurrent real-time publishers")
    parser.add_argument("--only", choices=["tidecast", "pyrtmp", "nginx-rtmp"], action="append")
    parser.add_argument(
        "--callgrind", action="store_true", help="only count the ingest's instructions for one publish"
    )
    parser.add_argument("--root", type=Path, default=ROOT, help="source tree whose ingest --callgrind runs")
    args = parser.parse_args()
    if args.callgrind:
        with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
            source = Path(tmp) / "source.flv"
            make_source(source, args.seconds)
            api = FakeApi()
            api.start()
            instructions = callgrind_instructions(source, Path(tmp), api, args.root.resolve())
        print(f"ingest ({args.root}): {instructions / 1e6:.1f} M instructions for a {args.seconds} s publish")
        return

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        tmp_dir = Path(tmp)
        source = tmp_dir / "source.flv"
        make_source(source, args.seconds)
        media_seconds = float(args.seconds)
        api = FakeApi()
        api.start()
        starters: dict[str, Callable[[Path], Server]] = {
            "tidecast": lambda d: start_tidecast(d, api),
            "pyrtmp": start_pyrtmp,
            "nginx-rtmp": start_nginx,
        }
        servers: dict[str, Server] = {}
        results: dict[str, Figures] = {}
        alone: dict[str, float] = {}
        try:
            for name, start in starters.items():
                if args.only and name not in args.only:
                    continue
                work_dir = tmp_dir / name
                work_dir.mkdir()
                servers[name] = start(work_dir)
                results[name] = Figures([], [])
            for round_number in range(args.rounds):
                for name, server in servers.items():
                    print(f"round {round_number + 1}/{args.rounds}: {name}...", flush=True)
                    cpu, ticks, took = realtime_cpu(server, source, media_seconds, f"round{round_number}")
                    results[name].cpu_rounds.append(cpu)
                    results[name].cpu_ticks_rounds.append(ticks)
                    alone[name] = min(alone.get(name, took), took)
            for name, server in servers.items():
                print(f"throughput and {args.publishers} publishers: {name}...", flush=True)
                throughput_and_concurrency(server, source, results[name], alone[name], args.publishers)
        finally:
            for server in servers.values():
                server.stop()

    print()
    print(
        f"RTMP ingest, 1080p30 6 Mbps, {args.seconds} s, recording to disk; {args.publishers} concurrent publishers"
    )
    nginx = results.get("nginx-rtmp")
    print(
        f"{'server':<12} {'CPU-s/media-s':>14} {'rounds min-max':>16} {'(ticks)':>8} {'vs nginx':>9} "
        f"{'max MB/s':>9} {'real-time':>10} {'slowest vs alone':>17}"
    )
    for name, fig in results.items():
        ratio = f"{fig.cpu_per_media_second / nginx.cpu_per_media_second:.2f}x" if nginx else "-"
        spread = f"{min(fig.cpu_rounds):.4f}-{max(fig.cpu_rounds):.4f}"
        print(
            f"{name:<12} {fig.cpu_per_media_second:>14.4f} {spread:>16} {fig.cpu_ticks_per_media_second:>8.4f} "
            f"{ratio:>9} {fig.max_mb_per_second:>9.1f} "
            f"{fig.concurrent_ok:>7}/{args.publishers:<2} {fig.concurrent_slowest:>16.2f}x"
        )
    if nginx:
        # Round by round, each server against nginx-rtmp in the same round: the ratio that noise moves least.
        for name, fig in results.items():
            if fig is not nginx:
                ratios = [cpu / ref for cpu, ref in zip(fig.cpu_rounds, nginx.cpu_rounds, strict=True)]
                print(f"{name} vs nginx-rtmp by round: " + ", ".join(f"{r:.2f}x" for r in ratios))
    print(
        json.dumps(
            {
                name: {**vars(fig), "cpu_per_media_second": fig.cpu_per_media_second}
                for name, fig in results.items()
            }
        )
    )


if __name__ == "__main__":
    main()
