"""The ingest's settings from the environment: the connection limits they make, and refusals."""

from __future__ import annotations

import pytest

from rtmp_ingest.settings import IngestSettings, SettingsError, default_max_streams

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


def test_stream_cap_defaults_to_the_streams_the_cores_carry() -> None:
    assert default_max_streams(cores=1) == 1
    assert default_max_streams(cores=2) == 1
    assert default_max_streams(cores=3) == 2
    assert default_max_streams(cores=8) == 5
    assert IngestSettings.from_env(BASE).max_streams == default_max_streams()
    assert IngestSettings.from_env(BASE | {"INGEST_MAX_STREAMS": "5"}).max_streams == 5


def test_authorize_and_heartbeat_deadlines_are_read_from_the_environment() -> None:
    defaults = IngestSettings.from_env(BASE)
    assert (defaults.authorize_timeout, defaults.heartbeat_timeout) == (0.5, 30.0)
    settings = IngestSettings.from_env(
        BASE | {"INGEST_AUTHORIZE_TIMEOUT": "0.4", "INGEST_HEARTBEAT_TIMEOUT": "12"}
    )
    assert (settings.authorize_timeout, settings.heartbeat_timeout) == (0.4, 12.0)


def test_an_authorize_deadline_that_breaks_the_one_second_refusal_is_refused() -> None:
    with pytest.raises(SettingsError, match="INGEST_AUTHORIZE_TIMEOUT"):
        IngestSettings.from_env(BASE | {"INGEST_AUTHORIZE_TIMEOUT": "0.8", "RTMP_REJECT_DELAY": "0.3"})


def test_media_caps_are_read_from_the_environment_as_long_and_short_sides() -> None:
    defaults = IngestSettings.from_env(BASE).media_limits()
    assert (defaults.max_long_side, defaults.max_short_side, defaults.max_fps) == (3840, 2160, 60.0)
    assert (defaults.max_kbps, defaults.max_kbps_seconds) == (50_000, 5)
    portrait = IngestSettings.from_env(
        BASE
        | {
            "INGEST_MAX_WIDTH": "1080",
            "INGEST_MAX_HEIGHT": "1920",
            "INGEST_MAX_FPS": "30",
            "INGEST_MAX_KBPS": "8000",
            "INGEST_MAX_KBPS_SECONDS": "3",
        }
    ).media_limits()
    assert (portrait.max_long_side, portrait.max_short_side, portrait.max_fps) == (1920, 1080, 30.0)
    assert (portrait.max_kbps, portrait.max_kbps_seconds) == (8000, 3)


def test_rtmps_is_off_without_a_certificate_and_needs_both_files() -> None:
    defaults = IngestSettings.from_env(BASE)
    assert (defaults.rtmps_enabled, defaults.rtmps_port) == (False, 1936)
    settings = IngestSettings.from_env(
        BASE | {"RTMPS_PORT": "4443", "RTMPS_CERT_FILE": "/tls/cert.pem", "RTMPS_KEY_FILE": "/tls/key.pem"}
    )
    assert settings.rtmps_enabled
    assert (settings.rtmps_port, str(settings.rtmps_cert_file)) == (4443, "/tls/cert.pem")
    with pytest.raises(SettingsError, match="both"):
        IngestSettings.from_env(BASE | {"RTMPS_CERT_FILE": "/tls/cert.pem"})
