"""HLS requests per second: Tidecast's server against nginx serving the same folder.

    .venv/bin/python bench/bench_hls.py [--duration 10] [--connections 64] [--rounds 2]

Writes a playlist and a 1 MB segment, starts `python -m hls_out` and a loopback nginx (a config of
its own in a temporary folder, sendfile on, the same headers), each with --workers processes, checks that both answer
200 with the same bytes, and runs wrk against both for each file, alternating, best round kept.
Any non-2xx answer during a run aborts the benchmark (an nginx worker that cannot read the folder
answers 403 very fast). Beside requests/s it prints each server's CPU time per request (its
processes' user + system time from /proc over all rounds), which other load on a shared machine
moves far less. Needs `wrk` and `nginx` (as root: apt-get install -y wrk nginx).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from email.message import Message
from pathlib import Path

from netutil import free_port, wait_listening

URL = "benchbenchbench1"
NGINX_CONF = """
worker_processes {workers};
daemon off;
pid {work}/nginx.pid;
error_log {work}/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    types {{ application/vnd.apple.mpegurl m3u8; video/mp2t ts; }}
    etag on;
    client_body_temp_path {work}/tmp; proxy_temp_path {work}/tmp; fastcgi_temp_path {work}/tmp;
    uwsgi_temp_path {work}/tmp; scgi_temp_path {work}/tmp;
    server {{
        listen 127.0.0.1:{port};
        location /hls-live/ {{
            alias {root}/;
            add_header Access-Control-Allow-Origin *;
            add_header Access-Control-Expose-Headers "Content-Length, Content-Range, Accept-Ranges, ETag";
            location ~ \\.m3u8$ {{
                add_header Cache-Control no-cache;
                add_header Access-Control-Allow-Origin *;
                add_header Access-Control-Expose-Headers "Content-Length, Content-Range, Accept-Ranges, ETag";
            }}
            location ~ \\.ts$ {{
                add_header Cache-Control "public, max-age=31536000, immutable";
                add_header Access-Control-Allow-Origin *;
                add_header Access-Control-Expose-Headers "Content-Length, Content-Range, Accept-Ranges, ETag";
            }}
        }}
    }}
}}
"""


def wrk(url: str, duration: int, connections: int) -> tuple[float, int]:
    """Requests per second, and requests answered."""
    result = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", url], check=True, capture_output=True, text=True
    )
    rate = re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)
    count = re.search(r"(\d+) requests in", result.stdout)
    if rate is None or count is None or "Non-2xx" in result.stdout or "Socket errors" in result.stdout:
        raise SystemExit(f"wrk against {url} saw errors:\n{result.stdout}")
    return float(rate.group(1)), int(count.group(1))


def tree_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by `pid` and the processes below it, from /proc.

    Per request, this is a figure other load on the machine hardly moves, unlike requests/s.
    """
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:  # gone meanwhile
            continue
        parents[int(entry.name)] = int(fields[1])
        ticks[int(entry.name)] = int(fields[11]) + int(fields[12])
    tree, grown = {pid}, True
    while grown:
        below = {child for child, parent in parents.items() if parent in tree} - tree
        grown = bool(below)
        tree |= below
    return sum(ticks.get(member, 0) for member in tree) / os.sysconf("SC_CLK_TCK")


class Load:
    """wrk against one server: the best rate seen, and its CPU per request over every round."""

    def __init__(self, pid: int, url: str) -> None:
        self.pid, self.url = pid, url
        self.best = 0.0
        self.requests = 0
        self.cpu_seconds = 0.0

    def run(self, duration: int, connections: int) -> None:
        before = tree_cpu_seconds(self.pid)
        rate, requests = wrk(self.url, duration, connections)
        self.cpu_seconds += tree_cpu_seconds(self.pid) - before
        self.best = max(self.best, rate)
        self.requests += requests

    @property
    def cpu_microseconds(self) -> float:
        return self.cpu_seconds / max(self.requests, 1) * 1e6


def fetch(url: str) -> tuple[bytes, Message]:
    """The body and the headers (looked up by name in any case, as HTTP's are)."""
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback http only
        if response.status != 200:
            raise SystemExit(f"{url}: HTTP {response.status}")
        return response.read(), response.headers


def check_same(ours: str, theirs: str) -> None:
    """Both servers answer 200 with the same body and the headers a player relies on."""
    body, headers = fetch(ours)
    other_body, other_headers = fetch(theirs)
    if body != other_body:
        raise SystemExit(f"different bodies for {ours} and {theirs}")
    for name in ("Content-Type", "Cache-Control", "Access-Control-Allow-Origin", "ETag"):
        if name not in headers or name not in other_headers:
            raise SystemExit(f"{name} missing: ours {headers.items()}, nginx {other_headers.items()}")


def ensure_tools() -> None:
    missing = [
        tool
        for tool in ("wrk", "nginx")
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists()
    ]
    if not missing:
        return
    if os.geteuid() != 0:
        raise SystemExit(f"needed: {' '.join(missing)} (as root: apt-get install -y {' '.join(missing)})")
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", *missing],
        check=True,
        env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="processes for each server (default: CPUs)"
    )
    args = parser.parse_args()
    ensure_tools()
    with tempfile.TemporaryDirectory(prefix="tidecast-bench-hls-") as folder:
        work = Path(folder)
        # nginx's workers run as an unprivileged user: they must be able to read the folder.
        work.chmod(0o755)
        root = work / "hls"
        (root / URL / "720p").mkdir(parents=True)
        (root / URL / "720p" / "index.m3u8").write_text(
            "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:2\n"
            + "".join(f"#EXTINF:2.000000,\nseg_{i:05d}.ts\n" for i in range(30))
        )
        (root / URL / "720p" / "seg_00000.ts").write_bytes(os.urandom(188 * 5600))
        (work / "tmp").mkdir()
        ours, theirs = free_port(), free_port()
        (work / "nginx.conf").write_text(
            NGINX_CONF.format(work=work, port=theirs, root=root, workers=args.workers)
        )
        env = dict(
            os.environ,
            HLS_ROOT=str(root),
            HLS_PORT=str(ours),
            HLS_WORKERS=str(args.workers),
            INGEST_SHARED_SECRET="",
            LOG_LEVEL="WARNING",
        )
        repo = Path(__file__).resolve().parent.parent
        servers = [
            subprocess.Popen([sys.executable, "-m", "hls_out"], env=env, cwd=repo),
            subprocess.Popen(["nginx", "-c", str(work / "nginx.conf"), "-p", str(work)]),
        ]
        try:
            wait_listening(ours)
            wait_listening(theirs)
            time.sleep(2)  # every worker of ours listening, not just the first
            rows = []
            load_before = os.getloadavg()[0]
            for label, path in (("segment (1 MB .ts)", f"{URL}/720p/seg_00000.ts"),
                                ("variant playlist", f"{URL}/720p/index.m3u8")):  # fmt: skip
                mine_url = f"http://127.0.0.1:{ours}/hls-live/{path}"
                nginx_url = f"http://127.0.0.1:{theirs}/hls-live/{path}"
                check_same(mine_url, nginx_url)
                mine, nginx = Load(servers[0].pid, mine_url), Load(servers[1].pid, nginx_url)
                for _round in range(args.rounds):
                    mine.run(args.duration, args.connections)
                    nginx.run(args.duration, args.connections)
                rows.append((label, mine, nginx))
        finally:
            for server in servers:
                server.send_signal(signal.SIGTERM)
            for server in servers:
                server.wait(timeout=10)
    print(
        f"wrk -t2 -c{args.connections} -d{args.duration}s on loopback, best of {args.rounds}, {args.workers} worker process(es) each, "
        f"{os.cpu_count()} cores, load average {load_before:.2f} before"
    )
    print(
        f"{'':24}{'Tidecast hls_out req/s':>24}{'nginx req/s':>14}{'ratio':>8}"
        f"{'CPU us/req ours':>17}{'nginx':>8}{'ratio':>8}"
    )
    for label, mine, nginx in rows:
        print(
            f"{label:24}{mine.best:>24.0f}{nginx.best:>14.0f}{mine.best / nginx.best:>8.2f}"
            f"{mine.cpu_microseconds:>17.1f}{nginx.cpu_microseconds:>8.1f}"
            f"{nginx.cpu_microseconds / mine.cpu_microseconds:>8.2f}"
        )
    print(
        "CPU us/req: server processes' CPU time per answered request, over all rounds; its ratio is nginx's / ours"
    )


if __name__ == "__main__":
    main()
