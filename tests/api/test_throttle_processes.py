"""Lockout counters are shared by every API process, on the embedded defaults of `make run`.

Two gunicorn servers (one process each) run the local settings on one data folder, as `make run`
runs several workers: failed logins counted by one must lock the account on the other.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.netutil import free_port, wait_listening

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct-horse-battery-staple-42"
MAKE_USER = (
    "from api.users.services import user_create; "
    f"user_create(username='ellen', email='ellen@example.com', password='{PASSWORD}')"
)


def _local_env(data_dir: Path) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"DATABASE_URL", "CACHE_URL", "SECRET_KEY", "INGEST_SHARED_SECRET", "DJANGO_DEBUG"}
    }
    env.update(DJANGO_SETTINGS_MODULE="api.settings.local", TIDECAST_DATA_DIR=str(data_dir))
    return env


def _manage(env: dict[str, str], *argv: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *argv], cwd=ROOT, env=env, check=True, capture_output=True, timeout=120
    )


@pytest.fixture
def two_api_processes(tmp_path: Path) -> Iterator[list[str]]:
    env = _local_env(tmp_path / "data")
    _manage(env, "migrate", "--noinput")
    _manage(env, "shell", "-c", MAKE_USER)
    servers: list[tuple[subprocess.Popen[bytes], int]] = []
    try:
        for index in range(2):
            port = free_port()
            log = (tmp_path / f"api-{index}.log").open("wb")
            argv = [sys.executable, "-m", "gunicorn", "api.wsgi:application", "--bind", f"127.0.0.1:{port}",
                    "--workers", "1"]  # fmt: skip
            process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            servers.append((process, port))
            wait_listening(port, process, tmp_path / f"api-{index}.log")
        yield [f"http://127.0.0.1:{port}" for _, port in servers]
    finally:
        for process, _ in servers:
            process.terminate()
            process.wait(timeout=15)


def _login(base_url: str, password: str) -> int:
    request = urllib.request.Request(  # noqa: S310 - our own http URL
        f"{base_url}/api/auth/login",
        data=json.dumps({"username": "ellen", "password": password}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our own http URL
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_the_sixth_wrong_password_is_429_whichever_process_answers(two_api_processes):
    first, second = two_api_processes

    answers = [_login((first, second)[attempt % 2], "wrong-password") for attempt in range(5)]
    sixth = _login(second, "wrong-password")
    correct_meanwhile = _login(first, PASSWORD)

    assert answers == [401] * 5
    assert sixth == 429
    assert correct_meanwhile == 429  # locked means locked, on every process
