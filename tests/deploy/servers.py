"""The HLS servers under test as real processes: nginx with the project's config, and `python -m hls_out`.

nginx runs from docker/nginx/tidecast.conf with its ${TIDECAST_*} names substituted, inside a
minimal main config like the nginx image's (mime.types, octet-stream default), from a temporary
prefix on a free loopback port. Run as root (as in CI), its workers drop to `nobody`, as the
image's drop to `nginx`: what the transcoder writes must be readable by another user.
"""

from __future__ import annotations

import grp
import http.server
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests.netutil import free_port, wait_listening

REPO = Path(__file__).resolve().parents[2]
NGINX_TEMPLATE = REPO / "docker" / "nginx" / "tidecast.conf"
ACCESS_SCRIPT = REPO / "docker" / "nginx" / "tidecast-access.sh"
PLACEHOLDER = re.compile(r"\$\{(TIDECAST_[A-Z_]+)\}")
START_TIMEOUT_SECONDS = 10.0


def template_names(template: str) -> set[str]:
    return set(PLACEHOLDER.findall(template))


def render_template(template: str, values: Mapping[str, str]) -> str:
    """The template with every ${TIDECAST_*} replaced, as envsubst does in the nginx image."""
    missing = template_names(template) - set(values)
    if missing:
        raise KeyError(f"no value for {sorted(missing)}")
    return PLACEHOLDER.sub(lambda match: values[match[1]], template)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found is None:
        raise RuntimeError("nginx is not installed: `make deploy-deps` installs it (Debian package nginx)")
    return found


def worker_user_line() -> str:
    """As root, workers run as nobody (the image's run as nginx); otherwise as the current user."""
    if os.geteuid() != 0:
        return ""
    nobody = pwd.getpwnam("nobody")
    return f"user nobody {grp.getgrgid(nobody.pw_gid).gr_name};"


def nginx_main_config(prefix: Path, site: Path) -> str:
    temp = prefix / "temp"
    return f"""
{worker_user_line()}
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {prefix}/access.log;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {site};
}}
"""


@dataclass
class RunningServer:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    host: str = "127.0.0.1"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclass(frozen=True)
class TlsListener:
    """HTTPS for nginx (TIDECAST_TLS_*): a certificate chain, its key and the address to listen on."""

    cert_file: Path
    key_file: Path
    port: int


def write_access_lists(
    directory: Path, *, admin_allow_from: str, trusted_proxies: str, tls: TlsListener | None = None
) -> None:
    """What the nginx image does first: docker/nginx/tidecast-access.sh writes the address lists
    and the TLS listener."""
    tls_environment = (
        {
            "TIDECAST_TLS_CERT_FILE": str(tls.cert_file),
            "TIDECAST_TLS_KEY_FILE": str(tls.key_file),
            "TIDECAST_TLS_LISTEN": f"127.0.0.1:{tls.port}",
        }
        if tls
        else {}
    )
    subprocess.run(
        ["sh", str(ACCESS_SCRIPT)],
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "TIDECAST_ACCESS_DIR": str(directory),
            "TIDECAST_ADMIN_ALLOW_FROM": admin_allow_from,
            "TIDECAST_TRUSTED_PROXIES": trusted_proxies,
            **tls_environment,
        },
        check=True,
        timeout=10,
    )


def start_nginx(
    *,
    prefix: Path,
    hls_root: Path,
    media_root: Path,
    api_port: int,
    hls_port: int,
    admin_allow_from: str = "",
    trusted_proxies: str = "",
    tls: TlsListener | None = None,
) -> RunningServer:
    """`hls_port` is where viewer counting is mirrored to: hls_out's port, or a closed one."""
    (prefix / "temp").mkdir(parents=True, exist_ok=True)
    (prefix / "cache").mkdir(exist_ok=True)
    access = prefix / "access"
    write_access_lists(access, admin_allow_from=admin_allow_from, trusted_proxies=trusted_proxies, tls=tls)
    port = free_port()
    site = prefix / "tidecast.conf"
    site.write_text(
        render_template(
            NGINX_TEMPLATE.read_text(),
            {
                "TIDECAST_LISTEN": f"127.0.0.1:{port}",
                "TIDECAST_API_UPSTREAM": f"127.0.0.1:{api_port}",
                "TIDECAST_HLS_UPSTREAM": f"127.0.0.1:{hls_port}",
                "TIDECAST_HLS_ROOT": str(hls_root),
                "TIDECAST_MEDIA_ROOT": str(media_root),
                "TIDECAST_ACCESS_DIR": str(access),
                "TIDECAST_CACHE_DIR": str(prefix / "cache"),
            },
        )
    )
    config = prefix / "nginx.conf"
    config.write_text(nginx_main_config(prefix, site))
    error_log = prefix / "error.log"
    argv = [nginx_binary(), "-p", str(prefix), "-c", str(config), "-e", str(error_log), "-g", "daemon off;"]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_listening(port, process, error_log, timeout=START_TIMEOUT_SECONDS)
    if tls is not None:
        wait_listening(tls.port, process, error_log, timeout=START_TIMEOUT_SECONDS)
    return RunningServer(name="nginx", port=port, process=process)


def start_hls_out(
    *, hls_root: Path, log: Path, environment: Mapping[str, str] | None = None
) -> RunningServer:
    port = free_port()
    env = {
        **os.environ,
        "HLS_HOST": "127.0.0.1",
        "HLS_PORT": str(port),
        "HLS_ROOT": str(hls_root),
        "HLS_WORKERS": "1",
        "HLS_REPORT_SECRET": "",
        **(environment or {}),
    }
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "hls_out"], cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    wait_listening(port, process, log, timeout=START_TIMEOUT_SECONDS)
    return RunningServer(name="hls_out", port=port, process=process)


@dataclass
class FakeApi:
    """Stands in for gunicorn behind nginx: a JSON 404 for every path, as Django gives unknown ones.

    It records what nginx forwarded, so tests see the proxy headers and what never got through.
    """

    server: http.server.ThreadingHTTPServer
    seen: list[dict[str, str]] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_fake_api() -> FakeApi:
    seen: list[dict[str, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = {
                "method": self.command,
                "path": self.path,
                "body": body[:4096].decode("utf-8", "replace"),
            }
            request["received-bytes"] = str(len(body))
            request.update({name.lower(): value for name, value in self.headers.items()})
            seen.append(request)
            body = json.dumps({"detail": "Not found.", "code": "not_found", "request": request}).encode()
            self.send_response(404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_OPTIONS = answer

        def log_message(self, format: str, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="fake-api", daemon=True).start()
    return FakeApi(server=server, seen=seen)
