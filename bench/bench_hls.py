"""HLS requests per second: Tidecast's server against nginx serving the same folder.

    .venv/bin/python bench/bench_hls.py [--duration 5] [--connections 32]

Writes a playlist and a 1 MB segment, starts `python -m hls_out` and a loopback nginx (a config of
its own in a temporary folder), and runs wrk against both for each file.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

URL = "benchbenchbench1"
NGINX_CONF = """
worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    types {{ application/vnd.apple.mpegurl m3u8; video/mp2t ts; }}
    client_body_temp_path {work}/tmp; proxy_temp_path {work}/tmp; fastcgi_temp_path {work}/tmp;
    uwsgi_temp_path {work}/tmp; scgi_temp_path {work}/tmp;
    server {{
        listen 127.0.0.1:{port};
        location /hls-live/ {{
            alias {root}/;
            add_header Access-Control-Allow-Origin *;
        }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_listening(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def wrk(url: str, duration: int, connections: int) -> float:
    result = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", url], check=True, capture_output=True, text=True
    )
    match = re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)
    if match is None:
        raise SystemExit(result.stdout)
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            raise SystemExit(f"{tool} is needed (apt-get install {tool})")
    with tempfile.TemporaryDirectory(prefix="tidecast-bench-hls-") as folder:
        work = Path(folder)
        root = work / "hls"
        (root / URL / "720p").mkdir(parents=True)
        (root / URL / "720p" / "index.m3u8").write_text(
            "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:2\n"
            + "".join(f"#EXTINF:2.000000,\nseg_{i:05d}.ts\n" for i in range(30))
        )
        (root / URL / "720p" / "seg_00000.ts").write_bytes(os.urandom(188 * 5600))
        (work / "tmp").mkdir()
        ours, theirs = free_port(), free_port()
        (work / "nginx.conf").write_text(NGINX_CONF.format(work=work, port=theirs, root=root))
        env = dict(
            os.environ, HLS_ROOT=str(root), HLS_PORT=str(ours), INGEST_SHARED_SECRET="", LOG_LEVEL="WARNING"
        )
        repo = Path(__file__).resolve().parent.parent
        servers = [
            subprocess.Popen([sys.executable, "-m", "hls_out"], env=env, cwd=repo),
            subprocess.Popen(["nginx", "-c", str(work / "nginx.conf"), "-p", str(work)]),
        ]
        try:
            wait_listening(ours)
            wait_listening(theirs)
            rows = []
            for label, path in (("segment (1 MB .ts)", f"{URL}/720p/seg_00000.ts"),
                                ("variant playlist", f"{URL}/720p/index.m3u8")):  # fmt: skip
                mine = wrk(f"http://127.0.0.1:{ours}/hls-live/{path}", args.duration, args.connections)
                nginx = wrk(f"http://127.0.0.1:{theirs}/hls-live/{path}", args.duration, args.connections)
                rows.append((label, mine, nginx))
        finally:
            for server in servers:
                server.send_signal(signal.SIGTERM)
            for server in servers:
                server.wait(timeout=10)
    print(f"wrk -t2 -c{args.connections} -d{args.duration}s on loopback, one process each")
    print(f"{'':24}{'Tidecast hls_out req/s':>24}{'nginx req/s':>14}{'ratio':>8}")
    for label, mine, nginx in rows:
        print(f"{label:24}{mine:>24.0f}{nginx:>14.0f}{mine / nginx:>8.2f}")


if __name__ == "__main__":
    main()
