"""Uploaded videos: upload throughput, time to playable, transcode CPU and the speed-up of a second
worker, against plain tools on the same machine.

1. A 1080p30 H.264 + AAC file of `--minutes` (default 10) is made with ffmpeg.
2. Upload: tus to the API under gunicorn on loopback against `curl -T` PUT of the same file to a
   loopback nginx (WebDAV PUT module), taking turns for `--upload-rounds` rounds; MB/s from the
   medians. The target's figure has curl as the tus client too (the creation POST, then one PATCH
   of the whole file, as tus-js-client and Uppy send it), so both servers get the same client;
   tuspy (PATCHes of `--chunk-mb`) is printed beside it, a Python client's figure.
3. Processing with 1 upload worker, then another upload of the same file with 2: the time from the
   last byte to `playable` and to `ready`, and the CPU the workers used (all their processes,
   ffmpeg included), against one plain ffmpeg command producing the same renditions in one process.
4. The speed-up from 1 to 2 workers (time from the last byte to ready).

Targets: upload >= 0.5x nginx; playable <= 15 s after the last byte; CPU <= 1.15x the plain
command; >= 1.7x faster with 2 workers. Needs nginx (`make deploy-deps`) and curl. Run it under
`flock /tmp/tidecast-heavy.lock`.

A whole run of the 10-minute file is long: `--phase upload|reference|workers1|workers2` (or several,
comma separated) runs parts of it in `--work` (the file is made once and kept there, each phase's
figures go to results.json), so each can take the heavy lock on its own; `--phase report` prints
the figures gathered so far. Without `--phase` every phase runs, then the report.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.netutil import free_port, wait_listening  # noqa: E402

PASSWORD = "bench-correct-horse-battery"  # noqa: S105 - a throwaway account


def cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def make_source(path: Path, seconds: int) -> None:
    subprocess.run(
        [
            "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
            "-t", str(seconds), "-c:v", "libx264", "-preset", "veryfast", "-b:v", "6000k",
            "-maxrate", "6600k", "-bufsize", "12000k", "-g", "60", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart", str(path),
        ],
        check=True,
        timeout=max(600, seconds * 4),
    )  # fmt: skip


def nginx_put_seconds(source: Path, work: Path) -> float:
    port = free_port()
    (work / "nginx" / "put").mkdir(parents=True)
    (work / "nginx" / "put").chmod(0o777)
    (work / "nginx" / "body").mkdir()
    (work / "nginx" / "body").chmod(0o777)
    config = work / "nginx" / "nginx.conf"
    config.write_text(
        f"""worker_processes 1;
error_log {work}/nginx/error.log;
pid {work}/nginx/nginx.pid;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {work}/nginx/body;
    server {{
        listen 127.0.0.1:{port};
        location /put/ {{
            root {work}/nginx;
            dav_methods PUT;
            create_full_put_path on;
            client_max_body_size 0;
        }}
    }}
}}
"""
    )
    nginx = subprocess.Popen(["nginx", "-c", str(config), "-p", str(work / "nginx"), "-g", "daemon off;"])
    try:
        wait_listening(port, timeout=60)
        started = time.perf_counter()
        subprocess.run(
            [
                "curl",
                "-sS",
                "-f",
                "-o",
                "/dev/null",
                "-T",
                str(source),
                f"http://127.0.0.1:{port}/put/file.mp4",
            ],
            check=True,
            timeout=3600,
        )
        return time.perf_counter() - started
    finally:
        nginx.send_signal(signal.SIGQUIT)
        nginx.wait(timeout=30)


def call(base: str, method: str, path: str, body: dict | None = None, token: str = "") -> dict:
    request = urllib.request.Request(  # noqa: S310 - loopback
        base + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={
            "Content-Type": "application/json",
            **({"Authorization": f"Bearer {token}"} if token else {}),
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
        raw = response.read()
    return json.loads(raw) if raw else {}


def start_worker(env: dict[str, str], concurrency: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", env["UPLOAD_QUEUE"],
             f"--concurrency={concurrency}", "-n", f"bench-{secrets.token_hex(3)}@%h", "--loglevel=INFO",
             "--without-mingle", "--without-gossip", "--without-heartbeat"],
            cwd=ROOT, env=env, stdout=out, stderr=out,
        )  # fmt: skip
    deadline = time.monotonic() + 60
    while " ready." not in log.read_text(errors="replace"):
        if time.monotonic() > deadline or process.poll() is not None:
            raise SystemExit(f"upload worker did not start; see {log}")
        time.sleep(0.2)
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def upload_and_process(base: str, token: str, source: Path, env: dict[str, str], workers: int, chunk_mb: int,
                       log_dir: Path) -> dict[str, float]:  # fmt: skip
    cpu_before = cpu_children()
    worker = start_worker(env, workers, log_dir / f"worker-{workers}.log")
    uploader = tus_uploader(base, token, source, chunk_mb)
    started = time.perf_counter()
    uploader.upload()
    last_byte = time.perf_counter()
    videos = call(base, "GET", "/api/user/channel/videos", token=token)["results"]
    url = videos[0]["url"]
    playable_at = ready_at = 0.0
    deadline = time.monotonic() + 7200
    while time.monotonic() < deadline:
        video = call(base, "GET", f"/api/user/channel/videos/{url}", token=token)
        now = time.perf_counter()
        if video["playable"] and not playable_at:
            playable_at = now
        if video["status"] == "ready":
            ready_at = now
            break
        if video["status"] == "failed":
            raise SystemExit(f"processing failed: {video['error']}")
        time.sleep(0.25)
    stop(worker)  # its processes (and their ffmpegs) are waited for: their CPU counts below
    return {
        "upload_seconds": last_byte - started,
        "playable_after": playable_at - last_byte,
        "ready_after": ready_at - last_byte,
        "cpu": cpu_children() - cpu_before,
    }


def plain_ffmpeg(source: Path, work: Path) -> tuple[float, float]:
    """One ffmpeg command producing the same renditions (the live ladder below 1080p, the source
    copied), as the live transcoder would: decode once, scale each from the one above."""
    from tidecast_common.ladder import DEFAULT_VARIANTS
    from transcoder.vod import Probe, parse_probe, probe_command, renditions_for

    result = subprocess.run(probe_command(source), capture_output=True, timeout=60, check=True)
    probe: Probe = parse_probe(result.stdout, returncode=0, stderr="")
    renditions = list(renditions_for(probe, variants=DEFAULT_VARIANTS, segment_seconds=2))
    encoded = sorted((r for r in renditions if not r.copy_video), key=lambda r: r.height, reverse=True)
    chain, previous = [], "[0:v]format=yuv420p,"
    for index, rendition in enumerate(encoded):
        last = index == len(encoded) - 1
        chain.append(
            f"{previous}scale={rendition.width}:{rendition.height}"
            + (f"[v{index}]" if last else f",split=2[v{index}][n{index}]")
        )
        previous = f"[n{index}]"
    argv = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(source),
            "-filter_complex", ";".join(chain)]  # fmt: skip
    out = work / "plain"
    out.mkdir()
    for index, rendition in enumerate(encoded):
        argv += ["-map", f"[v{index}]", "-map", "0:a:0", "-c:v", "libx264", "-preset", "veryfast",
                 "-profile:v", rendition.profile, "-b:v", f"{rendition.video_kbps}k",
                 "-maxrate", f"{rendition.maxrate_kbps}k", "-bufsize", f"{rendition.bufsize_kbps}k",
                 "-g", str(rendition.gop), "-sc_threshold", "0", "-c:a", "aac", "-b:a", f"{rendition.audio_kbps}k",
                 "-f", "hls", "-hls_time", "2", "-hls_playlist_type", "vod",
                 "-hls_segment_filename", str(out / f"{rendition.name}_%05d.ts"), str(out / f"{rendition.name}.m3u8")]  # fmt: skip
    argv += ["-map", "0:v:0", "-map", "0:a:0", "-c", "copy", "-f", "hls", "-hls_time", "2",
             "-hls_playlist_type", "vod", "-hls_segment_filename", str(out / "source_%05d.ts"), str(out / "source.m3u8")]  # fmt: skip
    cpu_before = cpu_children()
    started = time.perf_counter()
    subprocess.run(argv, check=True, timeout=7200)
    return time.perf_counter() - started, cpu_children() - cpu_before


PHASES = ("upload", "reference", "workers1", "workers2")


@contextlib.contextmanager
def api_server(folder: Path) -> Iterator[tuple[str, str, dict[str, str]]]:
    """gunicorn on loopback over a fresh database in `folder`; yields its URL, a token and the env."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "api.settings.local",
        "DJANGO_DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": os.environ.get("BENCH_DATABASE_URL", f"sqlite:///{folder / 'db.sqlite3'}"),
        "TIDECAST_DATA_DIR": str(folder / "data"),
        "CELERY_BROKER_URL": os.environ.get("CELERY_BROKER_URL", "filesystem://"),
        "UPLOAD_QUEUE": f"bench-uploads-{secrets.token_hex(4)}",
        "THROTTLE_SIGNUP": "1000/hour",
        "UPLOAD_MAX_BYTES": str(64 * 1024**3),
        "STORAGE_QUOTA_BYTES": str(64 * 1024**3),
        "PYTHONUNBUFFERED": "1",
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=300,
    )
    with (folder / "api.log").open("ab") as log:
        api = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "api.wsgi:application", "--bind", f"127.0.0.1:{port}",
             "--workers", "2", "--threads", "4", "--timeout", "600"],
            cwd=ROOT, env=env, stdout=log, stderr=log,
        )  # fmt: skip
    try:
        wait_listening(port, timeout=60)
        base = f"http://127.0.0.1:{port}"
        call(
            base,
            "POST",
            "/api/auth/signup",
            {"username": "bench", "email": "b@example.com", "password": PASSWORD},
        )
        token = call(base, "POST", "/api/auth/login", {"username": "bench", "password": PASSWORD})["access"]
        call(base, "POST", "/api/user/channel", {"name": "bench", "title": "Bench"}, token=token)
        yield base, token, env
    finally:
        api.send_signal(signal.SIGTERM)
        api.wait(timeout=30)


def tus_uploader(base: str, token: str, source: Path, chunk_mb: int) -> Any:
    """tuspy's uploader of `source` to the API, in chunks of `chunk_mb`."""
    from tusclient import client as tus_client

    return tus_client.TusClient(
        f"{base}/api/uploads/", headers={"Authorization": f"Bearer {token}"}
    ).uploader(
        file_path=str(source),
        chunk_size=chunk_mb * 1024 * 1024,
        metadata={"filename": source.name, "title": "Bench"},
    )


def curl_tus_upload(base: str, token: str, source: Path) -> float:
    """The creation POST and one PATCH of the whole file (tus-js-client's and Uppy's default), both
    sent by curl, the reference's own client; checked with a HEAD afterwards."""
    size = source.stat().st_size
    tus = ["-H", f"Authorization: Bearer {token}", "-H", "Tus-Resumable: 1.0.0"]
    started = time.perf_counter()
    created = subprocess.run(
        ["curl", "-sS", "-f", "-o", "/dev/null", "-D", "-", "-X", "POST", *tus, "-H", f"Upload-Length: {size}",
         "-H", "Upload-Metadata: filename YmVuY2gubXA0,title QmVuY2g=", f"{base}/api/uploads/"],
        check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    location = next(
        line.split(":", 1)[1].strip()
        for line in created.stdout.splitlines()
        if line.lower().startswith("location:")
    )
    url = urllib.parse.urljoin(f"{base}/api/uploads/", location)
    subprocess.run(
        ["curl", "-sS", "-f", "-o", "/dev/null", "-X", "PATCH", "-T", str(source), *tus,
         "-H", "Upload-Offset: 0", "-H", "Content-Type: application/offset+octet-stream", url],
        check=True, timeout=3600,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    head = subprocess.run(
        ["curl", "-sS", "-f", "-I", *tus, url], check=True, capture_output=True, text=True, timeout=60
    )
    assert f"upload-offset: {size}" in head.stdout.lower(), head.stdout
    return elapsed


def tus_upload(base: str, token: str, source: Path, chunk_mb: int) -> float:
    uploader = tus_uploader(base, token, source, chunk_mb)
    started = time.perf_counter()
    uploader.upload()
    return time.perf_counter() - started


def phase_upload(source: Path, work: Path, chunk_mb: int, rounds: int) -> dict[str, Any]:
    """tus to the API (no worker running: the upload alone) against curl -T to nginx, taking turns
    round after round. Each upload's file is deleted before the next one, so that both write into
    memory the machine has used before: on a virtual machine, pages never touched since boot cost a
    fault on the host each, a cost of the machine, not of either server."""
    runs: dict[str, list[float]] = {"nginx_runs": [], "tus_runs": [], "tuspy_runs": []}
    for _ in range(rounds):
        shutil.rmtree(work / "nginx", ignore_errors=True)
        runs["nginx_runs"].append(nginx_put_seconds(source, work))
        shutil.rmtree(work / "nginx", ignore_errors=True)
        with api_server(work / "upload") as (base, token, _):
            runs["tus_runs"].append(curl_tus_upload(base, token, source))
        shutil.rmtree(work / "upload", ignore_errors=True)
        with api_server(work / "upload") as (base, token, _):
            runs["tuspy_runs"].append(tus_upload(base, token, source, chunk_mb))
        shutil.rmtree(work / "upload", ignore_errors=True)
    return {
        "tus_seconds": statistics.median(runs["tus_runs"]),
        "nginx_seconds": statistics.median(runs["nginx_runs"]),
        "tuspy_seconds": statistics.median(runs["tuspy_runs"]),
        "chunk_mb": chunk_mb,
        **runs,
    }


def phase_workers(source: Path, work: Path, workers: int, chunk_mb: int) -> dict[str, float]:
    with api_server(work / f"workers{workers}") as (base, token, env):
        run = upload_and_process(base, token, source, env, workers, chunk_mb, work / f"workers{workers}")
    shutil.rmtree(work / f"workers{workers}" / "data", ignore_errors=True)
    return run


def phase_reference(source: Path, work: Path) -> dict[str, float]:
    shutil.rmtree(work / "plain", ignore_errors=True)
    seconds, cpu = plain_ffmpeg(source, work)
    shutil.rmtree(work / "plain", ignore_errors=True)
    return {"seconds": seconds, "cpu": cpu}


def verdict(value: float, ok: bool, unit: str = "") -> str:
    return f"{value:.2f}{unit} {'(target met)' if ok else '(target MISSED)'}"


def report(results: dict[str, Any]) -> None:
    meta = results.get("source", {})
    size_mb = meta.get("size_mb", 0.0)
    print(f"\nfile: {meta.get('minutes', '?')} min 1080p30, {size_mb:.0f} MB")
    if "upload" in results:
        upload = results["upload"]
        tus_rate, nginx_rate = size_mb / upload["tus_seconds"], size_mb / upload["nginx_seconds"]
        ratio = tus_rate / nginx_rate
        rounds = len(upload.get("tus_runs", [0]))
        print(f"upload, median of {rounds} round(s): tus by curl {tus_rate:.0f} MB/s ({upload['tus_seconds']:.2f} s); "
              f"nginx PUT (curl -T) {nginx_rate:.0f} MB/s ({upload['nginx_seconds']:.2f} s); "
              f"ratio {verdict(ratio, ratio >= 0.5)}; target >= 0.5")  # fmt: skip
        if "tuspy_seconds" in upload:
            tuspy_rate = size_mb / upload["tuspy_seconds"]
            print(f"  tus by tuspy ({upload.get('chunk_mb', '?')} MiB PATCHes, a Python client): "
                  f"{tuspy_rate:.0f} MB/s, {tuspy_rate / nginx_rate:.2f}x nginx")  # fmt: skip
        tuspy_runs = upload.get("tuspy_runs", [])
        for index, (tus, nginx) in enumerate(
            zip(upload.get("tus_runs", []), upload.get("nginx_runs", []), strict=True)
        ):
            extra = f", tuspy {size_mb / tuspy_runs[index]:.0f} MB/s" if index < len(tuspy_runs) else ""
            print(f"  round {index + 1}: tus {size_mb / tus:.0f} MB/s, nginx {size_mb / nginx:.0f} MB/s, "
                  f"ratio {nginx / tus:.2f}{extra}")  # fmt: skip
    reference = results.get("reference")
    if reference:
        print(f"reference, one plain ffmpeg producing the same renditions: {reference['seconds']:.1f} s wall, "
              f"CPU {reference['cpu']:.1f} s")  # fmt: skip
    for name, label in (("workers1", "1 worker"), ("workers2", "2 workers")):
        run = results.get(name)
        if not run:
            continue
        after = run["playable_after"]
        print(f"{label}: tus {size_mb / run['upload_seconds']:.0f} MB/s; playable "
              f"{verdict(after, after <= 15, ' s')} after the last byte (target <= 15 s); ready after "
              f"{run['ready_after']:.1f} s; CPU {run['cpu']:.1f} s")  # fmt: skip
        if reference:
            ratio = run["cpu"] / reference["cpu"]
            print(f"  CPU / reference: {verdict(ratio, ratio <= 1.15)} (target <= 1.15)")
    if results.get("workers1") and results.get("workers2"):
        speedup = results["workers1"]["ready_after"] / results["workers2"]["ready_after"]
        print(
            f"speed-up 1 -> 2 workers (last byte to ready): {verdict(speedup, speedup >= 1.7, 'x')} (target >= 1.7x)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the 1080p30 file (default 10)")
    parser.add_argument("--chunk-mb", type=int, default=64, help="tus PATCH size")
    parser.add_argument(
        "--upload-rounds", type=int, default=3, help="uploads of each kind, the median counts"
    )
    parser.add_argument("--phase", default="", help=f"comma separated, of {', '.join(PHASES)}, report")
    parser.add_argument("--work", type=Path, default=None, help="work folder kept across phases")
    parser.add_argument("--keep", action="store_true", help="keep the work folder of a whole run")
    args = parser.parse_args()
    phases = [name for name in args.phase.split(",") if name] or [*PHASES, "report"]
    unknown = set(phases) - {*PHASES, "report"}
    if unknown:
        raise SystemExit(f"unknown phase: {', '.join(sorted(unknown))}")
    for tool in ("ffmpeg", "nginx", "curl"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed")
    seconds = round(args.minutes * 60)
    whole = not args.phase and args.work is None
    work = args.work or Path(tempfile.gettempdir()) / f"bench-upload-{seconds}s"
    work.mkdir(parents=True, exist_ok=True)
    work.chmod(0o755)
    results_file = work / "results.json"
    results: dict[str, Any] = json.loads(results_file.read_text()) if results_file.exists() else {}
    try:
        source = work / "source.mp4"
        if set(phases) & set(PHASES) and (
            not source.exists() or results.get("source", {}).get("seconds") != seconds
        ):
            print(f"making a {seconds} s 1080p30 file ...", flush=True)
            make_source(source, seconds)
            results = {
                "source": {
                    "seconds": seconds,
                    "minutes": args.minutes,
                    "size_mb": source.stat().st_size / 1e6,
                }
            }
        for phase in phases:
            if phase == "report":
                continue
            print(f"phase {phase} ...", flush=True)
            if phase == "upload":
                results[phase] = phase_upload(source, work, args.chunk_mb, args.upload_rounds)
            elif phase == "reference":
                results[phase] = phase_reference(source, work)
            else:
                results[phase] = phase_workers(source, work, int(phase[-1]), args.chunk_mb)
            print(f"{phase}: {results[phase]}", flush=True)
            results_file.write_text(json.dumps(results, indent=2))
        if "report" in phases:
            report(results)
    finally:
        if whole and not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
