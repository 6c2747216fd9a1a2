"""Settings are read from the environment in one place; production refuses to start without secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOW_SETTINGS = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'engine': s.DATABASES['default']['ENGINE'], 'name': str(s.DATABASES['default']['NAME']),"
    " 'debug': s.DEBUG, 'ingest': bool(s.INGEST_SHARED_SECRET)}))"
)
STRONG = "x" * 40
# Production requires a playback token key of its own (not the JWT key, which is SECRET_KEY here).
PLAYBACK_KEY = "p" * 40


def load_settings(
    module: str, tmp_path: Path, code: str = SHOW_SETTINGS, **env: str
) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SECRET_KEY", "INGEST_SHARED_SECRET"}
    }
    clean.update(DJANGO_SETTINGS_MODULE=module, TIDECAST_DATA_DIR=str(tmp_path))
    clean.update({"PLAYBACK_TOKEN_KEY": PLAYBACK_KEY, **env})
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({"INGEST_SHARED_SECRET": STRONG}, "SECRET_KEY"),
        ({"SECRET_KEY": STRONG}, "INGEST_SHARED_SECRET"),
        ({"SECRET_KEY": "short", "INGEST_SHARED_SECRET": STRONG}, "SECRET_KEY"),
        (
            {"SECRET_KEY": STRONG, "INGEST_SHARED_SECRET": STRONG, "PLAYBACK_TOKEN_KEY": ""},
            "PLAYBACK_TOKEN_KEY",
        ),
        (
            {"SECRET_KEY": STRONG, "INGEST_SHARED_SECRET": STRONG, "PLAYBACK_TOKEN_KEY": STRONG},
            "PLAYBACK_TOKEN_KEY",
        ),
    ],
)
def test_production_refuses_to_start_without_its_secrets(tmp_path, env, missing):
    result = load_settings("api.settings.production", tmp_path, **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert missing in result.stderr


def test_production_starts_with_its_secrets_and_without_debug(tmp_path):
    result = load_settings(
        "api.settings.production", tmp_path, SECRET_KEY=STRONG, INGEST_SHARED_SECRET=STRONG
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "engine": "django.db.backends.sqlite3",
        "name": str(tmp_path / "tidecast.sqlite3"),
        "debug": False,
        "ingest": True,
    }


def test_database_url_switches_to_postgresql(tmp_path):
    result = load_settings("api.settings.local", tmp_path, DATABASE_URL="postgres://u:p@db.example:5432/tide")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["engine"] == "django.db.backends.postgresql"
    assert shown["name"] == "tide"


def test_local_settings_generate_private_secrets_in_the_data_folder(tmp_path):
    result = load_settings("api.settings.local", tmp_path)
    assert result.returncode == 0, result.stderr
    for name in (".secret_key", ".ingest_secret"):
        secret = tmp_path / name
        assert len(secret.read_text()) >= 48
        assert secret.stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    ("ladder", "reason"),
    [
        ("not json", "not JSON"),
        ('{"name": "720p"}', "JSON list"),
        ('[{"name": "720p", "height": 720, "video_kbps": 2800}]', "audio_kbps"),
        ('[{"name": "../x", "height": 720, "video_kbps": 2800, "audio_kbps": 128}]', "rendition name"),
        ('[{"name": "source", "height": 720, "video_kbps": 2800, "audio_kbps": 128}]', "implied"),
    ],
)
def test_a_bad_ladder_stops_the_api_at_start(tmp_path, ladder, reason):
    result = load_settings("api.settings.local", tmp_path, TRANSCODE_LADDER=ladder)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert reason in result.stderr


def test_the_ladder_from_the_environment_reaches_the_settings_as_mappings(tmp_path):
    ladder = '[{"name": "540p", "height": 540, "video_kbps": 2000, "audio_kbps": 128}]'
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings as s; "
         "import json; print(json.dumps(s.TRANSCODE_LADDER))"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "api.settings.local", "TIDECAST_DATA_DIR": str(tmp_path),
             "TRANSCODE_LADDER": ladder},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        {"name": "540p", "height": 540, "video_kbps": 2000, "audio_kbps": 128, "profile": "main"}
    ]
