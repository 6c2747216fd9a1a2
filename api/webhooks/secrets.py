"""Webhook signing secrets: `whsec_` + base64 of 24 random bytes, as Standard Webhooks has them.

Stored AES-GCM sealed under a key derived from STREAM_KEY_SECRET (or SECRET_KEY), with the owner's
id as associated data, so a database dump alone cannot sign anything and a sealed secret opens on
its own owner's rows only.
"""

from __future__ import annotations

import base64
import secrets

from api.channels.stream_keys import derived_key
from api.core.sealing import SealError, seal, unseal

PREFIX = "whsec_"
_SECRET_BYTES = 24
_PURPOSE = b"tidecast webhook-secret encryption v1"


class WebhookSecretError(ValueError):
    """A sealed secret that does not open (the server secret changed, or the row was altered)."""


def webhook_secret_generate() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode()


def webhook_secret_key(secret: str) -> bytes:
    """The HMAC key: the base64 part after `whsec_` decoded."""
    return base64.b64decode(secret.removeprefix(PREFIX))


def webhook_secret_seal(secret: str, *, owner_id: int) -> str:
    return seal(secret, key=derived_key(_PURPOSE), bound_to=str(owner_id))


def webhook_secret_open(ciphertext: str, *, owner_id: int) -> str:
    try:
        return unseal(ciphertext, key=derived_key(_PURPOSE), bound_to=str(owner_id))
    except SealError as exc:
        raise WebhookSecretError("The stored webhook secret cannot be opened.") from exc
