"""`make run`'s supervisor as a real process: `manage.py runstack` on free ports and a fresh data folder.

Ctrl-C is sent as a terminal sends it, to the whole foreground process group.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.management import call_command

from api.core.management.commands import runstack
from api.core.management.commands.runstack import Component
from tests.deploy.servers import REPO
from tests.netutil import free_port, wait_listening, wait_until

SHUTDOWN_GRACE_SECONDS = 2.0
# "Within INGEST_SHUTDOWN_GRACE plus a few seconds": the supervisor kills what is left after the
# grace and its 5 s margin; the rest is the kill itself and the exits, on a loaded machine.
STOP_ALLOWANCE_SECONDS = SHUTDOWN_GRACE_SECONDS + 8.0
STARTED = re.compile(r"\[runstack\] started (\w+) \(pid (\d+)\)")


@dataclass
class Stack:
    process: subprocess.Popen[bytes]
    log: Path
    ports: dict[str, int]

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def pids(self, name: str) -> list[int]:
        return [int(pid) for component, pid in STARTED.findall(self.output()) if component == name]


def component_names() -> list[str]:
    """Every component runstack starts, from its own list: a new one is never left out (or running)."""
    return [
        component.name
        for component in runstack.stack_components(api_bind="127.0.0.1:0", worker_concurrency=1)
    ]


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def child_environment(data_dir: Path, ports: dict[str, int]) -> dict[str, str]:
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DJANGO_", "INGEST_", "HLS_", "RTMP", "API_", "CELERY_", "DATABASE_"))
    }
    return {
        **inherited,
        "DJANGO_SETTINGS_MODULE": "api.settings.local",
        "TIDECAST_DATA_DIR": str(data_dir),
        "API_BIND": f"127.0.0.1:{ports['api']}",
        "RTMP_HOST": "127.0.0.1",
        "RTMP_PORT": str(ports["ingest"]),
        "RTMPS_PORT": str(ports["rtmps"]),
        "INGEST_MAX_STREAMS": "8",
        "HLS_HOST": "127.0.0.1",
        "HLS_PORT": str(ports["hls"]),
        "HLS_WORKERS": "1",
        "INGEST_METRICS_PORT": "0",
        "INGEST_SHUTDOWN_GRACE": str(SHUTDOWN_GRACE_SECONDS),
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    ports = {"api": free_port(), "ingest": free_port(), "hls": free_port(), "rtmps": free_port()}
    env = child_environment(tmp_path / "data", ports)
    log = tmp_path / "runstack.log"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=REPO,
        env=env,
        check=True,
        timeout=120,
    )
    with log.open("wb") as output:
        # A session of its own, as a shell gives a foreground job: Ctrl-C goes to its group.
        process = subprocess.Popen(
            [sys.executable, "manage.py", "runstack", "--worker-concurrency", "1"],
            cwd=REPO,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = Stack(process=process, log=log, ports=ports)
    try:
        for port in ports.values():
            wait_listening(port, process, log, timeout=60)
        assert wait_until(lambda: "celery@" in running.output() and "ready" in running.output(), timeout=60)
        yield running
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        for name in component_names():
            for pid in running.pids(name):
                if alive(pid):
                    os.killpg(pid, signal.SIGKILL)


def test_ctrl_c_stops_everything_within_the_grace_and_restarts_nothing(stack: Stack) -> None:
    # A component that dies while the stack runs is restarted ...
    os.kill(stack.pids("ingest")[0], signal.SIGKILL)
    assert wait_until(lambda: len(stack.pids("ingest")) == 2, timeout=15), stack.output()
    wait_listening(stack.ports["ingest"], stack.process, stack.log, timeout=30)
    assert "ingest exited with -9; restarting" in stack.output()

    # ... but Ctrl-C is a stop: every process ends, nothing comes back.
    started = time.monotonic()
    os.killpg(stack.process.pid, signal.SIGINT)
    stack.process.wait(timeout=STOP_ALLOWANCE_SECONDS + 10)
    took = time.monotonic() - started
    output = stack.output()
    print(f"Ctrl-C to the last exit: {took:.1f} s")
    assert took < STOP_ALLOWANCE_SECONDS, (took, output[-3000:])
    assert output.count("restarting") == 1, output[-3000:]
    assert "[runstack] stopped" in output
    assert len(stack.pids("ingest")) == 2
    names = component_names()
    assert {"api", "ingest", "hls", "worker", "uploads"} <= set(names)
    for name in names:
        assert stack.pids(name), (name, output[-3000:])  # it was started, and is gone:
        for pid in stack.pids(name):
            assert wait_until(lambda pid=pid: not alive(pid), timeout=2), (name, pid)
    for name, port in stack.ports.items():
        assert not listening(port), name


def test_sigterm_to_the_supervisor_alone_stops_everything(stack: Stack) -> None:
    started = time.monotonic()
    stack.process.send_signal(signal.SIGTERM)
    stack.process.wait(timeout=STOP_ALLOWANCE_SECONDS + 10)
    took = time.monotonic() - started
    output = stack.output()
    print(f"SIGTERM to the last exit: {took:.1f} s")
    assert took < STOP_ALLOWANCE_SECONDS, (took, output[-3000:])
    assert "restarting" not in output, output[-3000:]
    for name in component_names():
        for pid in stack.pids(name):
            assert wait_until(lambda pid=pid: not alive(pid), timeout=2), (name, pid)
    for name, port in stack.ports.items():
        assert not listening(port), name


# A component that ends at once on SIGINT, as the ingest does when it has no stream to finish.
QUICK_EXIT = "import signal, sys, time; signal.signal(signal.SIGINT, lambda *_: sys.exit(0)); time.sleep(60)"


@pytest.fixture
def quick_components(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Component]]:
    components = [Component(name, [sys.executable, "-c", QUICK_EXIT]) for name in ("ingest", "hls")]
    monkeypatch.setattr(runstack, "stack_components", lambda **_: components)
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    yield components
    for signum, handler in handlers.items():
        signal.signal(signum, handler)


def test_components_ending_on_the_terminal_s_ctrl_c_are_not_restarted(
    quick_components: list[Component], capsys: pytest.CaptureFixture[str]
) -> None:
    """The terminal signals the whole foreground group: the components may end before the
    supervisor has handled its own SIGINT. That is a stop, not a crash."""

    def ctrl_c() -> None:
        assert wait_until(lambda: all(c.process is not None for c in quick_components), timeout=10)
        time.sleep(0.3)  # the components have installed their handlers
        for component in quick_components:
            assert component.process is not None
            with contextlib.suppress(ProcessLookupError):
                os.kill(component.process.pid, signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=ctrl_c, daemon=True).start()
    started = time.monotonic()
    call_command("runstack", api_bind="127.0.0.1:1")
    captured = capsys.readouterr()
    assert "restarting" not in captured.err, captured.err
    assert time.monotonic() - started < 10
    assert all(c.process is None or c.process.poll() is not None for c in quick_components)


def test_a_fresh_stack_serves_rtmps_with_a_self_signed_certificate_under_data(
    stack: Stack, tmp_path: Path
) -> None:
    cert = tmp_path / "data" / "rtmps" / "cert.pem"
    key = tmp_path / "data" / "rtmps" / "key.pem"
    assert cert.exists()
    assert key.stat().st_mode & 0o077 == 0  # the key is the owner's alone
    served = ssl.get_server_certificate(("127.0.0.1", stack.ports["rtmps"]), timeout=5)
    assert ssl.PEM_cert_to_DER_cert(served) == ssl.PEM_cert_to_DER_cert(cert.read_text())
