"""nginx-rtmp, the reference the ingest benches measure against (bench_ingest.py, bench_restream.py).

One nginx from a generated config on loopback, as deployed: a master and one worker process, chunk
size 4096, every application `live on` and recording everything to disk (as Tidecast's FLV
recording sink does in the benches), each with its own `push` lines.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from netutil import free_port, wait_listening

NGINX_RTMP_MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")

CONF = """
load_module {module};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
daemon off;
master_process on;
worker_processes 1;
events {{ worker_connections 1024; }}
rtmp {{
    server {{
        listen 127.0.0.1:{port};
        chunk_size 4096;
{applications}
    }}
}}
"""
APPLICATION = """        application {name} {{
            live on;
            record all;
            record_path {prefix}/recordings;
{pushes}
        }}"""


def start_nginx_rtmp(
    work_dir: Path, applications: Mapping[str, Sequence[str]]
) -> tuple[subprocess.Popen[bytes], int]:
    """nginx-rtmp in `work_dir` (an empty folder), `applications` by name with the URLs each pushes
    to; the process (stop it with terminate) and its port, once it listens."""
    if shutil.which("nginx") is None or not NGINX_RTMP_MODULE.exists():
        raise SystemExit("nginx-rtmp is not installed: `make bench-deps` (nginx, libnginx-mod-rtmp)")
    port = free_port()
    (work_dir / "recordings").mkdir()
    (work_dir / "logs").mkdir()
    blocks = "\n".join(
        APPLICATION.format(
            name=name, prefix=work_dir, pushes="\n".join(f"            push {url};" for url in pushes)
        )
        for name, pushes in applications.items()
    )
    conf = work_dir / "nginx.conf"
    conf.write_text(CONF.format(module=NGINX_RTMP_MODULE, prefix=work_dir, port=port, applications=blocks))
    process = subprocess.Popen(["nginx", "-p", str(work_dir), "-c", str(conf)])
    wait_listening(port)
    return process, port
