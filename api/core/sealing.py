"""Secrets stored sealed: AES-GCM under a purpose's own key, bound to the row they belong to.

A sealed value is `v1:` + URL-safe base64 of a 12-byte random nonce and the ciphertext. The
associated data (`bound_to`, e.g. the row's id) makes a ciphertext open on its own row only.
Stream keys, restream destination URLs and webhook signing secrets are stored this way.
"""

from __future__ import annotations

import base64
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = "v1"
NONCE_BYTES = 12


class SealError(ValueError):
    """A sealed value that does not open: another version, the key changed, or it was altered."""


def seal(plain: str, *, key: bytes, bound_to: str) -> str:
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, plain.encode(), bound_to.encode())
    return f"{VERSION}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def unseal(ciphertext: str, *, key: bytes, bound_to: str) -> str:
    version, _, payload = ciphertext.partition(":")
    if version != VERSION:
        raise SealError("unknown ciphertext version")
    try:
        raw = base64.urlsafe_b64decode(payload.encode())
        plain = AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], bound_to.encode())
    except (InvalidTag, ValueError) as exc:
        raise SealError("the ciphertext does not open") from exc
    return plain.decode()
