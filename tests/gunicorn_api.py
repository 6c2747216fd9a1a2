"""The API under a real gunicorn for tests that need the production server: the database that
`env` names migrated, then gunicorn started with `options`, stopped (SIGTERM, then SIGKILL) at the
end; and a JSON POST to it."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.netutil import free_port, wait_listening

ROOT = Path(__file__).resolve().parents[1]


def api_environment(*, database_url: str, data_dir: Path, **settings: str) -> dict[str, str]:
    """This process's environment (without its broker: no worker listens) for an API of its own."""
    return {
        **{name: value for name, value in os.environ.items() if name != "CELERY_BROKER_URL"},
        "DJANGO_SETTINGS_MODULE": "api.settings.local",
        "DJANGO_DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": database_url,
        "TIDECAST_DATA_DIR": str(data_dir),
        "PYTHONUNBUFFERED": "1",
        **settings,
    }


@contextlib.contextmanager
def gunicorn_api(env: Mapping[str, str], *, log: Path, options: Sequence[str]) -> Iterator[str]:
    """Yields the API's base URL."""
    port = free_port()
    server: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
            cwd=ROOT, env=dict(env), check=True, timeout=300,
        )  # fmt: skip
        with log.open("ab") as sink:
            server = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "api.wsgi:application", "--bind", f"127.0.0.1:{port}", *options],
                cwd=ROOT, env=dict(env), stdout=sink, stderr=sink,
            )  # fmt: skip
        wait_listening(port, server, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def post_json(url: str, body: dict[str, Any], token: str = "", headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(  # noqa: S310 - our own http URL
        url,
        method="POST",
        data=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            **({"Authorization": f"Bearer {token}"} if token else {}),
            **(headers or {}),
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our own http URL
        return json.loads(response.read() or b"null")
