"""Stream key generation and storage: pure functions, no database."""

from __future__ import annotations

import re

import pytest
from django.test import override_settings

from api.channels.stream_keys import (
    StreamKeyDecryptionError,
    stream_key_decrypt,
    stream_key_display_prefix,
    stream_key_encrypt,
    stream_key_generate,
    stream_key_hash,
    stream_key_hashes_match,
    stream_key_is_well_formed,
)


def test_generated_keys_are_long_urlsafe_and_distinct():
    keys = {stream_key_generate() for _ in range(200)}
    assert len(keys) == 200
    for key in keys:
        assert re.fullmatch(r"live_[A-Za-z0-9_-]{43}", key)  # 43 chars of base64url = 256 bits
        assert stream_key_is_well_formed(key)


@pytest.mark.parametrize(
    "candidate", ["", "live_", "live_short", "x" * 48, "live_" + "a" * 42 + "!", "LIVE_" + "a" * 43]
)
def test_malformed_keys_are_recognised(candidate):
    assert not stream_key_is_well_formed(candidate)


def test_hash_is_keyed_hex_and_hides_the_key():
    key = stream_key_generate()
    digest = stream_key_hash(key)
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert key not in digest
    assert stream_key_hash(key) == digest
    assert stream_key_hashes_match(digest, stream_key_hash(key))
    assert not stream_key_hashes_match(digest, stream_key_hash(stream_key_generate()))
    with override_settings(STREAM_KEY_SECRET="another-secret-entirely"):
        assert stream_key_hash(key) != digest


def test_ciphertext_round_trips_and_does_not_contain_the_key():
    key = stream_key_generate()
    digest = stream_key_hash(key)
    sealed = stream_key_encrypt(key, key_hash=digest)
    assert key not in sealed
    assert key[len("live_") :] not in sealed
    assert stream_key_encrypt(key, key_hash=digest) != sealed  # fresh nonce every time
    assert stream_key_decrypt(sealed, key_hash=digest) == key


def test_ciphertext_only_opens_on_its_own_row_and_under_its_own_secret():
    key = stream_key_generate()
    digest = stream_key_hash(key)
    sealed = stream_key_encrypt(key, key_hash=digest)
    with pytest.raises(StreamKeyDecryptionError):
        stream_key_decrypt(sealed, key_hash=stream_key_hash(stream_key_generate()))
    with pytest.raises(StreamKeyDecryptionError):
        stream_key_decrypt(sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB"), key_hash=digest)
    with pytest.raises(StreamKeyDecryptionError):
        stream_key_decrypt("v0:" + sealed[3:], key_hash=digest)
    with (
        override_settings(STREAM_KEY_SECRET="another-secret-entirely"),
        pytest.raises(StreamKeyDecryptionError),
    ):
        stream_key_decrypt(sealed, key_hash=digest)


def test_display_prefix_reveals_only_a_few_characters():
    key = stream_key_generate()
    prefix = stream_key_display_prefix(key)
    assert key.startswith(prefix)
    assert len(prefix) == len("live_") + 4
