"""A process started without DJANGO_SETTINGS_MODULE never runs in debug (item: defaults that fail safe)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STRONG = "x" * 40
SHOW = (
    "from django.conf import settings as s; import json, os; "
    "print(json.dumps({'module': os.environ['DJANGO_SETTINGS_MODULE'], 'debug': s.DEBUG}))"
)
# How each entry point is started bare: its import sets up Django with its default settings.
ENTRY_POINTS = {
    "wsgi": ["-c", f"import api.wsgi; {SHOW}"],
    "asgi": ["-c", f"import api.asgi; {SHOW}"],
    "celery": ["-c", f"import workers, django; django.setup(); {SHOW}"],
    "manage.py": ["manage.py", "shell", "-c", SHOW],
}


def run_bare(argv: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    unset = {"DJANGO_SETTINGS_MODULE", "DJANGO_DEBUG", "SECRET_KEY", "INGEST_SHARED_SECRET", "DATABASE_URL"}
    clean = {name: value for name, value in os.environ.items() if name not in unset}
    clean.update(TIDECAST_DATA_DIR=str(tmp_path))
    clean.update({"PLAYBACK_TOKEN_KEY": "p" * 40, **env})
    return subprocess.run(
        [sys.executable, *argv], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_no_entry_point_defaults_to_debug(tmp_path, entry):
    result = run_bare(ENTRY_POINTS[entry], tmp_path, SECRET_KEY=STRONG, INGEST_SHARED_SECRET=STRONG)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["debug"] is False


@pytest.mark.parametrize("entry", ["wsgi", "asgi"])
def test_a_bare_server_without_secrets_refuses_to_start(tmp_path, entry):
    """The web entry points fall back to the production settings, which demand their secrets."""
    result = run_bare(ENTRY_POINTS[entry], tmp_path)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr


def test_make_run_starts_its_processes_with_local_settings_in_debug():
    from api.core.management.commands.runstack import Command

    saved = {name: os.environ.pop(name, None) for name in ("DJANGO_SETTINGS_MODULE", "DJANGO_DEBUG")}
    try:
        env = Command()._child_environment(api_bind="127.0.0.1:8000")
    finally:
        os.environ.update({name: value for name, value in saved.items() if value is not None})
    assert env["DJANGO_SETTINGS_MODULE"] == "api.settings.local"
    assert env["DJANGO_DEBUG"] == "1"
