from __future__ import annotations

import pytest

from rtmp_ingest.stream_keys import MAX_KEY_BYTES, InvalidStreamKey, redact, validate_stream_key


@pytest.mark.parametrize(
    "key",
    ["a", "A-b_9", "tc_" + "x" * 40, "k" * MAX_KEY_BYTES],
)
def test_well_formed_keys_pass(key: str) -> None:
    assert validate_stream_key(key) == key


@pytest.mark.parametrize(
    "name",
    [
        "",
        "a/b",
        "../etc",
        "..",
        "key\x00",
        "k" * (MAX_KEY_BYTES + 1),
        "clé",
        "ключ",
        "key?token=1",
        "key with space",
        "key\n",
        "%2e%2e",
        None,
        42,
        b"bytes",
    ],
)
def test_malformed_keys_are_refused(name: object) -> None:
    with pytest.raises(InvalidStreamKey) as info:
        validate_stream_key(name)
    if isinstance(name, str) and name:
        assert name not in str(info.value)


def test_redact_shows_only_a_prefix_of_long_keys() -> None:
    key = "tc_abcdefghijklmnopqrstuvwxyz"
    assert redact(key) == "tc_a…"
    assert "efgh" not in redact(key)


def test_redact_hides_short_keys_entirely() -> None:
    assert redact("short") == "…"
    assert redact("") == "…"
