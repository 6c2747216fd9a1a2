"""Stream keys: generated, stored and checked without the database ever holding a usable key.

A key is stored three ways: an HMAC-SHA256 for lookup, AES-GCM ciphertext so its owner can see it
again, and a short prefix for display. Both HMAC and AES keys are derived with HKDF from
settings.STREAM_KEY_SECRET (or SECRET_KEY when unset), so a database dump alone reveals nothing
usable. Changing that secret invalidates every stored key: owners then rotate theirs.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from api.core.sealing import SealError, seal, unseal

KEY_PREFIX = "live_"
# token_urlsafe(32): 32 random bytes, 256 bits, as 43 characters of [A-Za-z0-9_-].
_KEY_BYTES = 32
_KEY_PATTERN = re.compile(r"live_[A-Za-z0-9_-]{43}")
DISPLAY_PREFIX_LENGTH = len(KEY_PREFIX) + 4
_ENCRYPTION_PURPOSE = b"tidecast stream-key encryption v1"


class StreamKeyDecryptionError(ValueError):
    """The stored ciphertext cannot be opened (secret changed, or the row was tampered with)."""


def _secret() -> bytes:
    secret = getattr(settings, "STREAM_KEY_SECRET", "") or settings.SECRET_KEY
    if not secret:
        raise ImproperlyConfigured("SECRET_KEY (or STREAM_KEY_SECRET) must be set to store stream keys.")
    return str(secret).encode()


def _derive(purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(_secret())


def derived_key(purpose: bytes) -> bytes:
    """A 32-byte key for `purpose`, from the same secret as the stream keys' (other stored secrets
    are sealed under keys of their own purpose)."""
    return _derive(purpose)


def stream_key_generate() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(_KEY_BYTES)


def stream_key_is_well_formed(key: str) -> bool:
    return _KEY_PATTERN.fullmatch(key) is not None


def stream_key_hash(key: str) -> str:
    """The lookup digest: 64 hex characters, keyed so it cannot be brute-forced offline."""
    return hmac.new(_derive(b"tidecast stream-key lookup v1"), key.encode(), hashlib.sha256).hexdigest()


def stream_key_hashes_match(stored: str, computed: str) -> bool:
    return hmac.compare_digest(stored.encode(), computed.encode())


def stream_key_display_prefix(key: str) -> str:
    return key[:DISPLAY_PREFIX_LENGTH]


def stream_key_encrypt(key: str, *, key_hash: str) -> str:
    """AES-GCM with the lookup hash as associated data: a ciphertext only opens on its own row."""
    return seal(key, key=_derive(_ENCRYPTION_PURPOSE), bound_to=key_hash)


def stream_key_decrypt(ciphertext: str, *, key_hash: str) -> str:
    try:
        return unseal(ciphertext, key=_derive(_ENCRYPTION_PURPOSE), bound_to=key_hash)
    except SealError as exc:
        raise StreamKeyDecryptionError("The stored stream key cannot be decrypted.") from exc
