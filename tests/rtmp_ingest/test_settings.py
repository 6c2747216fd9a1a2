"""The ingest's settings from the environment: the connection limits they make, and refusals."""

from __future__ import annotations

import pytest

from rtmp_ingest.settings import IngestSettings, SettingsError

BASE = {"INGEST_SHARED_SECRET": "s"}


def test_defaults_make_the_documented_limits() -> None:
    settings = IngestSettings.from_env(BASE)
    limits = settings.connection_limits()
    assert (limits.pre_publish_message_bytes, limits.pre_publish_bytes) == (64 * 1024, 256 * 1024)
    assert limits.chunks.max_message_length == 8 * 1024 * 1024
    assert limits.max_message_elements == limits.chunks.max_message_elements == 10_000
    assert settings.io_limits().publish_deadline == 10.0
    assert (settings.buffer_budget, settings.max_pending_connections) == (256 * 1024 * 1024, 64)


def test_each_limit_is_read_from_the_environment() -> None:
    settings = IngestSettings.from_env(
        BASE
        | {
            "RTMP_PUBLISH_DEADLINE": "4",
            "RTMP_WRITE_TIMEOUT": "3",
            "RTMP_PRE_PUBLISH_MESSAGE_BYTES": "32768",
            "RTMP_PRE_PUBLISH_BYTES": "65536",
            "RTMP_MAX_MESSAGE_BYTES": "1048576",
            "RTMP_MAX_MESSAGE_ELEMENTS": "500",
            "RTMP_BUFFER_BUDGET": "2097152",
            "RTMP_MAX_PENDING_CONNECTIONS": "8",
        }
    )
    assert settings.io_limits().publish_deadline == 4.0
    assert settings.io_limits().write_timeout == 3.0
    limits = settings.connection_limits()
    assert (limits.pre_publish_message_bytes, limits.pre_publish_bytes) == (32768, 65536)
    assert limits.chunks.max_message_length == 1048576
    assert limits.max_message_elements == 500
    assert (settings.buffer_budget, settings.max_pending_connections) == (2097152, 8)


@pytest.mark.parametrize(
    "environ",
    [
        {"RTMP_PUBLISH_DEADLINE": "0"},
        {"RTMP_PRE_PUBLISH_MESSAGE_BYTES": "100000", "RTMP_PRE_PUBLISH_BYTES": "50000"},
        {"RTMP_MAX_MESSAGE_BYTES": "70000", "RTMP_PRE_PUBLISH_MESSAGE_BYTES": "80000"},
    ],
)
def test_incoherent_limits_are_refused(environ: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        IngestSettings.from_env(BASE | environ)


def test_the_transcoder_settings_are_read_with_the_ingest_settings() -> None:
    settings = IngestSettings.from_env({"INGEST_SHARED_SECRET": "s", "TRANSCODER_MAX_RESTARTS": "2"})
    assert settings.transcoder.limits.max_restarts == 2
    with pytest.raises(SettingsError, match="TRANSCODER_MAX_RESTARTS"):
        IngestSettings.from_env({"INGEST_SHARED_SECRET": "s", "TRANSCODER_MAX_RESTARTS": "many"})
