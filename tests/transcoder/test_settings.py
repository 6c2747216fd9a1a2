from __future__ import annotations

import pytest

from tidecast_common.env import SettingsError
from transcoder.settings import DEFAULT_CHILD_PATH, TranscoderSettings, child_environment
from transcoder.supervisor import ProcessLimits


def test_the_child_environment_keeps_only_what_ffmpeg_needs() -> None:
    parent = {
        "PATH": "/opt/ffmpeg/bin:/usr/bin",
        "TZ": "Europe/Paris",
        "LANG": "C.UTF-8",
        "INGEST_SHARED_SECRET": "secret",
        "SECRET_KEY": "secret",
        "DATABASE_URL": "postgres://user:secret@db/tidecast",
        "HOME": "/root",
    }
    assert child_environment(parent) == {"PATH": "/opt/ffmpeg/bin:/usr/bin", "TZ": "Europe/Paris",
                                         "LANG": "C.UTF-8"}  # fmt: skip
    assert child_environment({}) == {"PATH": DEFAULT_CHILD_PATH}


def test_limits_come_from_the_environment() -> None:
    settings = TranscoderSettings.from_env(
        {"TRANSCODER_MAX_RESTARTS": "2", "TRANSCODER_RESTART_PAUSE_SECONDS": "1.5", "PATH": "/bin"}
    )
    assert settings.limits == ProcessLimits(max_restarts=2, restart_pause_seconds=1.5)
    assert settings.environment == {"PATH": "/bin"}
    assert TranscoderSettings.from_env({}).limits == ProcessLimits()
    with pytest.raises(SettingsError, match="TRANSCODER_WRITE_TIMEOUT_SECONDS"):
        TranscoderSettings.from_env({"TRANSCODER_WRITE_TIMEOUT_SECONDS": "soon"})
