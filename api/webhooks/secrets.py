"""Webhook signing secrets: `whsec_` + base64 of 24 random bytes, as Standard Webhooks has them.

Stored AES-GCM sealed under a key derived from STREAM_KEY_SECRET (or SECRET_KEY), with the owner's
id as associated data, so a database dump alone cannot sign anything and a sealed secret opens on
its own owner's rows only.
"""

from __future__ import annotations

import base64
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from api.channels.stream_keys import derived_key

PREFIX = "whsec_"
_SECRET_BYTES = 24
_NONCE_BYTES = 12
_VERSION = "v1"
_PURPOSE = b"tidecast webhook-secret encryption v1"


class WebhookSecretError(ValueError):
    """A sealed secret that does not open (the server secret changed, or the row was altered)."""


def webhook_secret_generate() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode()


def webhook_secret_key(secret: str) -> bytes:
    """The HMAC key: the base64 part after `whsec_` decoded."""
    return base64.b64decode(secret.removeprefix(PREFIX))


def webhook_secret_seal(secret: str, *, owner_id: int) -> str:
    nonce = secrets.token_bytes(_NONCE_BYTES)
    sealed = AESGCM(derived_key(_PURPOSE)).encrypt(nonce, secret.encode(), str(owner_id).encode())
    return f"{_VERSION}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def webhook_secret_open(ciphertext: str, *, owner_id: int) -> str:
    version, _, payload = ciphertext.partition(":")
    if version != _VERSION:
        raise WebhookSecretError("Unknown webhook secret ciphertext version.")
    try:
        raw = base64.urlsafe_b64decode(payload.encode())
        plain = AESGCM(derived_key(_PURPOSE)).decrypt(
            raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], str(owner_id).encode()
        )
    except (InvalidTag, ValueError) as exc:
        raise WebhookSecretError("The stored webhook secret cannot be opened.") from exc
    return plain.decode()
