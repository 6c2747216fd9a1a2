"""Restreaming cost: CPU and memory per destination, Tidecast's ingest beside nginx-rtmp's `push`.

    .venv/bin/python bench/bench_restream.py [--seconds 20] [--rounds 3] [--destinations 0 1 3]

A 6 Mbps 1080p30 H.264/AAC source is encoded once, then published in real time (`ffmpeg -re -c copy`)
to each server with 0, 1 and 3 destinations. Each destination is a local ffmpeg RTMP listener
(`ffmpeg -listen 1 -i rtmp://127.0.0.1:<port>/app/<key> -c copy -f null -`), started afresh for each
publish and not counted. Both servers also record the stream to disk (Tidecast's FLV recording sink,
nginx-rtmp's `record all`), as in bench_ingest.py, so the 0-destination figure is the same baseline.

- Tidecast: `python -m rtmp_ingest` with `INGEST_SINK=record`; a local stand-in API grants each
  publish with N destinations in the grant. The ingest pushes with its default engine (its own RTMP
  publisher on the event loop; `RESTREAM_ENGINE=ffmpeg` in the environment benches the
  `ffmpeg -c copy` children instead, whose CPU is counted with the ingest's).
- nginx-rtmp (nginx_rtmp.py): one application per N, each with N `push
  rtmp://127.0.0.1:<port>/app/<key>;` lines, a master and one worker process.

CPU: the scheduler's run time of every thread of the server's process tree
(/proc/<pid>/task/*/schedstat), sampled every 0.1 s so that children which exit at the end of the
stream are counted up to their last sample, per media second. Memory: the peak of the tree's summed
RSS during the publish. Per destination: (figure with N - figure with 0) / N, from the medians of the
rounds, and the slope of a least-squares line through every publish's (N, CPU): the figure that
uses all rounds at once, so one noisy 0-destination publish moves it least (the target's figure); and
how far the rounds' own per-destination figures spread (a shared machine's noise).
The servers take turns round after round so a slow spell of the shared machine hits both; one
publish each with the most destinations comes first, unmeasured (imports, first connections).
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
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from bench_ingest import make_source, publish
from netutil import free_port, wait_listening
from nginx_rtmp import start_nginx_rtmp

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SECRET = "bench-restream-secret"  # noqa: S105 - a throwaway secret for a local fake API
SAMPLE_SECONDS = 0.1
PAGE = os.sysconf("SC_PAGE_SIZE")


def destination_url(port: int, index: int) -> str:
    return f"rtmp://127.0.0.1:{port}/app/dest{index}"


# --- measuring ---------------------------------------------------------------------------------------


def _tree(pid: int) -> list[int]:
    pids = [pid]
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                pids += _tree(int(child))
    except OSError:
        pass
    return pids


def _scheduled(pid: int) -> float:
    total = 0.0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            total += int((task / "schedstat").read_text().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        pass
    return total


def _rss(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, ValueError, IndexError):
        return 0


class TreeSampler:
    """CPU of a process tree, children that come and go included, and the peak of its summed RSS."""

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self._cpu: dict[int, float] = {}
        self._start: dict[int, float] = {}
        self.peak_rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeSampler:
        for pid in _tree(self._pid):
            self._start[pid] = _scheduled(pid)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _sample(self) -> None:
        rss = 0
        for pid in _tree(self._pid):
            self._cpu[pid] = max(self._cpu.get(pid, 0.0), _scheduled(pid))
            rss += _rss(pid)
        self.peak_rss = max(self.peak_rss, rss)

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self._sample()

    @property
    def cpu_seconds(self) -> float:
        return sum(cpu - self._start.get(pid, 0.0) for pid, cpu in self._cpu.items())


# --- the servers -------------------------------------------------------------------------------------


class FakeApi:
    """Grants every publish; the stream key `n<N>-...` asks for N destinations (the listeners' URLs)."""

    def __init__(self, ports: list[int]) -> None:
        self.port = free_port()
        self._ports = ports
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()
        wait_listening(self.port)

    def _run(self) -> None:
        async def authorize(request: web.Request) -> web.Response:
            body = await request.json()
            count = int(str(body["stream_key"]).split("-")[0][1:])
            destinations = [
                {"id": str(uuid.uuid4()), "url": destination_url(port, index)}
                for index, port in enumerate(self._ports[:count])
            ]
            return web.json_response(
                {"allow": True, "publish_id": str(uuid.uuid4()), "video_url": secrets.token_hex(8),
                 "channel": "bench", "ladder": [], "segment_seconds": 2, "heartbeat_interval": 2,
                 "destinations": destinations}
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

    def url(self, count: int, key: str) -> str:
        if self.name == "nginx-rtmp":
            return f"rtmp://127.0.0.1:{self.port}/streaming{count}/{key}"
        return f"rtmp://127.0.0.1:{self.port}/streaming/n{count}-{key}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_tidecast(work_dir: Path, api: FakeApi, root: Path = ROOT) -> Server:
    port = free_port()
    env = dict(os.environ)
    env.update(
        INGEST_SHARED_SECRET=SECRET, API_BASE_URL=f"http://127.0.0.1:{api.port}", RTMP_PORT=str(port),
        INGEST_SINK="record", TIDECAST_DATA_DIR=str(work_dir), LOG_LEVEL="WARNING",
        INGEST_METRICS_PORT="0", INGEST_MAX_STREAMS="8",
    )  # fmt: skip
    process = subprocess.Popen([PYTHON, "-m", "rtmp_ingest"], cwd=root, env=env)
    wait_listening(port)
    return Server("tidecast", process, port)


def start_nginx(work_dir: Path, counts: list[int], ports: list[int]) -> Server:
    process, port = start_nginx_rtmp(
        work_dir,
        {
            f"streaming{count}": [destination_url(p, index) for index, p in enumerate(ports[:count])]
            for count in counts
        },
    )
    return Server("nginx-rtmp", process, port)


def start_listeners(ports: list[int], count: int) -> list[subprocess.Popen[bytes]]:
    listeners = [
        subprocess.Popen(
            [
                "ffmpeg",
                "-hide_banner",
                "-nostdin",
                "-loglevel",
                "error",
                "-listen",
                "1",
                "-i",
                destination_url(port, index),
                "-c",
                "copy",
                "-f",
                "null",
                "-",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for index, port in enumerate(ports[:count])
    ]
    time.sleep(1.0)  # bound and listening
    return listeners


@dataclass
class Round:
    cpu: float  # CPU-s per media second
    rss_mb: float
    received: int  # destinations whose listener got the whole stream


@dataclass
class Figures:
    rounds: dict[int, list[Round]] = field(default_factory=dict)

    def cpu(self, count: int) -> float:
        return statistics.median(r.cpu for r in self.rounds[count])

    def rss(self, count: int) -> float:
        return statistics.median(r.rss_mb for r in self.rounds[count])

    def per_destination_by_round(self, count: int) -> list[float]:
        """Each round's (CPU with `count` - CPU with 0) / count: how far one round is from the next."""
        return [(r.cpu - z.cpu) / count for r, z in zip(self.rounds[count], self.rounds[0], strict=True)]

    def slope(self) -> float:
        """CPU per destination: least squares through every publish's (destinations, CPU)."""
        points = [(count, r.cpu) for count, rounds in self.rounds.items() for r in rounds]
        return statistics.linear_regression([float(n) for n, _ in points], [cpu for _, cpu in points]).slope


def one_publish(
    server: Server, source: Path, media_seconds: float, count: int, ports: list[int], key: str
) -> Round:
    listeners = start_listeners(ports, count)
    with TreeSampler(server.process.pid) as sampler:
        publisher = publish(source, server.url(count, key), realtime=True)
        if publisher.wait() != 0:
            raise SystemExit(f"{server.name}: publish failed: {publisher.stderr.read().decode()}")  # type: ignore[union-attr]
        received = 0
        for listener in listeners:
            try:
                received += listener.wait(20) == 0
            except subprocess.TimeoutExpired:
                listener.kill()
                listener.wait()
        time.sleep(0.3)
    return Round(cpu=sampler.cpu_seconds / media_seconds, rss_mb=sampler.peak_rss / 1e6, received=received)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20, help="media length of the source")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--destinations", type=int, nargs="+", default=[0, 1, 3])
    parser.add_argument("--only", choices=["tidecast", "nginx-rtmp"], action="append")
    parser.add_argument(
        "--root", type=Path, default=ROOT, help="the Tidecast checkout to run (another branch's)"
    )
    args = parser.parse_args()
    counts = sorted({0, *args.destinations})
    ports = [free_port() for _ in range(max(counts))]

    with tempfile.TemporaryDirectory(prefix="bench-restream-") as tmp:
        tmp_dir = Path(tmp)
        source = tmp_dir / "source.flv"
        make_source(source, args.seconds)
        api = FakeApi(ports)
        api.start()
        servers: dict[str, Server] = {}
        results: dict[str, Figures] = {}
        try:
            for name in ("tidecast", "nginx-rtmp"):
                if args.only and name not in args.only:
                    continue
                work_dir = tmp_dir / name
                work_dir.mkdir()
                servers[name] = (
                    start_tidecast(work_dir, api, args.root)
                    if name == "tidecast"
                    else start_nginx(work_dir, counts, ports)
                )
                results[name] = Figures()
            for name, server in servers.items():
                print(f"warm-up: {name}, {max(counts)} destinations...", flush=True)
                one_publish(server, source, float(args.seconds), max(counts), ports, "warmup")
            for round_number in range(args.rounds):
                for count in counts:
                    for name, server in servers.items():
                        print(
                            f"round {round_number + 1}/{args.rounds}: {name}, {count} destinations...",
                            flush=True,
                        )
                        result = one_publish(
                            server, source, float(args.seconds), count, ports, f"r{round_number}"
                        )
                        results[name].rounds.setdefault(count, []).append(result)
        finally:
            for server in servers.values():
                server.stop()

    print()
    print(
        f"Restreaming, 1080p30 6 Mbps, {args.seconds} s, {args.rounds} rounds (medians); recording to disk too"
    )
    print(
        f"{'server':<11} {'dest':>4} {'CPU-s/media-s':>14} {'per dest':>9} {'peak RSS MB':>12} {'MB per dest':>12} {'received':>9}"
    )
    for name, fig in results.items():
        for count in counts:
            per_cpu = (fig.cpu(count) - fig.cpu(0)) / count if count else 0.0
            per_rss = (fig.rss(count) - fig.rss(0)) / count if count else 0.0
            received = min(r.received for r in fig.rounds[count])
            print(
                f"{name:<11} {count:>4} {fig.cpu(count):>14.4f} {per_cpu:>9.4f} {fig.rss(count):>12.1f} "
                f"{per_rss:>12.1f} {received:>6}/{count}"
            )
    for name, fig in results.items():
        print(f"{name}: CPU per destination, fit through every publish: {fig.slope():.4f}")
        for count in counts:
            if count:
                spread = sorted(fig.per_destination_by_round(count))
                print(
                    f"{name}: per destination with {count}, round by round: {spread[0]:.4f} to {spread[-1]:.4f}"
                )
    if len(results) == 2:
        tidecast, nginx = results["tidecast"], results["nginx-rtmp"]
        ours, theirs = tidecast.slope(), nginx.slope()
        ratio = f"{ours / theirs:.2f}x" if theirs > 0 else "n/a"
        print(f"CPU per destination (fit): tidecast {ours:.4f} vs nginx-rtmp {theirs:.4f} = {ratio}")
        for count in counts:
            if count:
                ours = (tidecast.cpu(count) - tidecast.cpu(0)) / count
                theirs = (nginx.cpu(count) - nginx.cpu(0)) / count
                ratio = f"{ours / theirs:.2f}x" if theirs > 0 else "n/a"
                print(
                    f"CPU per destination with {count}: tidecast {ours:.4f} vs nginx-rtmp {theirs:.4f} = {ratio}"
                )
    print(
        json.dumps(
            {
                name: {str(c): [vars(r) for r in rounds] for c, rounds in fig.rounds.items()}
                for name, fig in results.items()
            }
        )
    )


if __name__ == "__main__":
    main()
