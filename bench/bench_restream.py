"""Restreaming cost: CPU and memory per destination, Tidecast's ingest beside nginx-rtmp's `push`.

    .venv/bin/python bench/bench_restream.py [--seconds 20] [--rounds 8] [--destinations 1 3]

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

Paired publishes: a destination costs about a millisecond of CPU per media second, less than a
shared machine's speed moves the 0-destination figure from one minute to the next. So each server
runs twice (two processes), and every measurement publishes the same source at the same moment to
all four: one process of each server with N destinations, the other with none. A slow spell of the
machine then slows the pair alike and cancels out of their difference, and hits both servers alike.
The two processes of a server swap roles every round, so a difference between them cancels too.

CPU: the scheduler's run time of every thread of the server's process tree
(/proc/<pid>/task/*/schedstat), sampled every 0.1 s so that children which exit at the end of the
stream are counted up to their last sample, per media second. Memory: the peak of the tree's summed
RSS during the publish. Per destination, each round: (CPU with N - CPU with 0 in the same moment) / N.
Printed: the medians of the rounds and their spread; for each N the median of the rounds' own
Tidecast / nginx-rtmp ratios; and the slope of a least-squares line through every publish's
(N, CPU). The target is at most 1.5x nginx-rtmp's CPU per destination. One publish of every process
with the most destinations comes first, unmeasured (imports, first connections).
"""

from __future__ import annotations

import argparse
import contextlib
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
from statistics import median

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
    """Grants every publish; the stream key `n<N>-<lane>-...` asks for N destinations: that lane's
    listeners' URLs."""

    def __init__(self, ports: dict[str, list[int]]) -> None:
        self.port = free_port()
        self._ports = ports
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()
        wait_listening(self.port)

    def _run(self) -> None:
        async def authorize(request: web.Request) -> web.Response:
            body = await request.json()
            count, lane = str(body["stream_key"]).split("-")[:2]
            destinations = [
                {"id": str(uuid.uuid4()), "url": destination_url(port, index)}
                for index, port in enumerate(self._ports[lane][: int(count[1:])])
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
    """One server process: `name` is tidecast or nginx-rtmp, `lane` tells its pair apart."""

    name: str
    lane: str
    process: subprocess.Popen[bytes]
    port: int
    ports: list[int]  # its destinations' listeners

    def url(self, count: int, key: str) -> str:
        if self.name == "nginx-rtmp":
            return f"rtmp://127.0.0.1:{self.port}/streaming{count}/{key}"
        return f"rtmp://127.0.0.1:{self.port}/streaming/n{count}-{self.lane}-{key}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_tidecast(work_dir: Path, api: FakeApi, lane: str, ports: list[int], root: Path = ROOT) -> Server:
    port = free_port()
    env = dict(os.environ)
    env.update(
        INGEST_SHARED_SECRET=SECRET, API_BASE_URL=f"http://127.0.0.1:{api.port}", RTMP_PORT=str(port),
        INGEST_SINK="record", TIDECAST_DATA_DIR=str(work_dir), LOG_LEVEL="WARNING",
        INGEST_METRICS_PORT="0", INGEST_MAX_STREAMS="8",
    )  # fmt: skip
    process = subprocess.Popen([PYTHON, "-m", "rtmp_ingest"], cwd=root, env=env)
    wait_listening(port)
    return Server("tidecast", lane, process, port, ports)


def start_nginx(work_dir: Path, lane: str, counts: list[int], ports: list[int]) -> Server:
    process, port = start_nginx_rtmp(
        work_dir,
        {
            f"streaming{count}": [destination_url(p, index) for index, p in enumerate(ports[:count])]
            for count in counts
        },
    )
    return Server("nginx-rtmp", lane, process, port, ports)


def start_listeners(ports: list[int], count: int) -> list[subprocess.Popen[bytes]]:
    quiet = ["-hide_banner", "-nostdin", "-loglevel", "error"]
    return [
        subprocess.Popen(
            [
                "ffmpeg",
                *quiet,
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


@dataclass
class Publish:
    cpu: float  # CPU-s per media second
    rss_mb: float
    received: int  # destinations whose listener got the whole stream


@dataclass
class Pair:
    """One measurement of one server: a process with `count` destinations and one with none, at once."""

    count: int
    pushing: Publish
    baseline: Publish

    @property
    def cpu_per_destination(self) -> float:
        return (self.pushing.cpu - self.baseline.cpu) / self.count

    @property
    def rss_per_destination(self) -> float:
        return (self.pushing.rss_mb - self.baseline.rss_mb) / self.count


@dataclass
class Figures:
    pairs: dict[int, list[Pair]] = field(default_factory=dict)

    def per_destination(self, count: int) -> list[float]:
        return [pair.cpu_per_destination for pair in self.pairs[count]]

    def slope(self) -> float:
        """CPU per destination: least squares through every publish's (destinations, CPU)."""
        points = [
            point
            for pairs in self.pairs.values()
            for pair in pairs
            for point in ((pair.count, pair.pushing.cpu), (0, pair.baseline.cpu))
        ]
        return statistics.linear_regression([float(n) for n, _ in points], [cpu for _, cpu in points]).slope


def measure(servers: list[tuple[Server, int]], source: Path, media_seconds: float, key: str) -> list[Publish]:
    """Every (server, destinations) publishing the source at the same moment, each measured."""
    listeners = [start_listeners(server.ports, count) for server, count in servers]
    time.sleep(1.0)  # bound and listening
    with contextlib.ExitStack() as stack:
        samplers = [stack.enter_context(TreeSampler(server.process.pid)) for server, _ in servers]
        publishers = [publish(source, server.url(count, key), realtime=True) for server, count in servers]
        for (server, _), publisher in zip(servers, publishers, strict=True):
            if publisher.wait() != 0:
                raise SystemExit(f"{server.name}: publish failed: {publisher.stderr.read().decode()}")  # type: ignore[union-attr]
        received = [sum(_finished(listener) for listener in group) for group in listeners]
        time.sleep(0.3)
    return [
        Publish(cpu=sampler.cpu_seconds / media_seconds, rss_mb=sampler.peak_rss / 1e6, received=got)
        for sampler, got in zip(samplers, received, strict=True)
    ]


def _finished(listener: subprocess.Popen[bytes]) -> bool:
    try:
        return listener.wait(20) == 0
    except subprocess.TimeoutExpired:
        listener.kill()
        listener.wait()
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20, help="media length of the source")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--destinations", type=int, nargs="+", default=[1, 3])
    parser.add_argument(
        "--root", type=Path, default=ROOT, help="the Tidecast checkout to run (another branch's)"
    )
    args = parser.parse_args()
    counts = sorted({count for count in args.destinations if count > 0})
    if not counts:
        raise SystemExit("--destinations: at least one count above 0")
    lanes = {f"{name}-{lane}": [free_port() for _ in range(max(counts))]
             for name in ("tidecast", "nginx") for lane in "ab"}  # fmt: skip

    with tempfile.TemporaryDirectory(prefix="bench-restream-") as tmp:
        tmp_dir = Path(tmp)
        source = tmp_dir / "source.flv"
        make_source(source, args.seconds)
        api = FakeApi(
            {lane.partition("-")[2]: ports for lane, ports in lanes.items() if lane.startswith("tidecast")}
        )
        api.start()
        processes: list[Server] = []
        results = {"tidecast": Figures(), "nginx-rtmp": Figures()}
        try:
            for lane, ports in lanes.items():
                work_dir = tmp_dir / lane
                work_dir.mkdir()
                name, _, side = lane.partition("-")
                processes.append(
                    start_tidecast(work_dir, api, side, ports, args.root)
                    if name == "tidecast"
                    else start_nginx(work_dir, side, [0, *counts], ports)
                )
            print(f"warm-up: every process, {max(counts)} destinations...", flush=True)
            measure([(server, max(counts)) for server in processes], source, float(args.seconds), "warmup")
            for round_number in range(args.rounds):
                for count in counts:
                    print(f"round {round_number + 1}/{args.rounds}: {count} destinations...", flush=True)
                    # Per server (a, b): a pushes in even rounds, b in odd ones.
                    pushing = round_number % 2
                    roles = [(server, count if index % 2 == pushing else 0)
                             for index, server in enumerate(processes)]  # fmt: skip
                    measured = measure(roles, source, float(args.seconds), f"r{round_number}")
                    for index in (0, 2):
                        first, second = measured[index], measured[index + 1]
                        pair = Pair(count, *((first, second) if pushing == 0 else (second, first)))
                        results[processes[index].name].pairs.setdefault(count, []).append(pair)
        finally:
            for server in processes:
                server.stop()
    report(results, counts, args.seconds, args.rounds)


def report(results: dict[str, Figures], counts: list[int], seconds: int, rounds: int) -> None:
    print()
    print(f"Restreaming, 1080p30 6 Mbps, {seconds} s, {rounds} rounds (medians); recording to disk too")
    print(
        f"{'server':<11} {'dest':>4} {'CPU-s/media-s':>14} {'with 0':>8} {'per dest':>9} "
        f"{'round by round':>16} {'peak RSS MB':>12} {'MB per dest':>12} {'received':>9}"
    )
    for name, fig in results.items():
        for count in counts:
            pairs = fig.pairs[count]
            spread = sorted(fig.per_destination(count))
            received = min(pair.pushing.received for pair in pairs)
            print(
                f"{name:<11} {count:>4} {median([p.pushing.cpu for p in pairs]):>14.4f} "
                f"{median([p.baseline.cpu for p in pairs]):>8.4f} {median(spread):>9.4f} "
                f"{f'{spread[0]:.4f}..{spread[-1]:.4f}':>16} {median([p.pushing.rss_mb for p in pairs]):>12.1f} "
                f"{median([p.rss_per_destination for p in pairs]):>12.1f} {received:>6}/{count}"
            )
    tidecast, nginx = results["tidecast"], results["nginx-rtmp"]
    ours, theirs = tidecast.slope(), nginx.slope()
    ratio = f"{ours / theirs:.2f}x" if theirs > 0 else "n/a"
    print(
        f"CPU per destination, fit through every publish: tidecast {ours:.4f} vs nginx-rtmp {theirs:.4f} = {ratio}"
    )
    for count in counts:
        ours_by_round, theirs_by_round = tidecast.per_destination(count), nginx.per_destination(count)
        ratios = sorted(o / t for o, t in zip(ours_by_round, theirs_by_round, strict=True) if t > 0)
        ratio_spread = f" (round by round {ratios[0]:.2f}x to {ratios[-1]:.2f}x)" if ratios else ""
        median_ratio = f"{median(ratios):.2f}x" if ratios else "n/a"
        print(
            f"CPU per destination with {count}: tidecast {median(ours_by_round):.4f} vs nginx-rtmp "
            f"{median(theirs_by_round):.4f}; the rounds' ratios' median {median_ratio}{ratio_spread}"
        )
    print(
        json.dumps(
            {
                name: {str(count): [{"pushing": vars(p.pushing), "baseline": vars(p.baseline)} for p in pairs]
                       for count, pairs in fig.pairs.items()}
                for name, fig in results.items()
            }
        )
    )  # fmt: skip


if __name__ == "__main__":
    main()
