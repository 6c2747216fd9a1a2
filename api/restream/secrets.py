"""Destination URLs hold a platform's stream key: stored as AES-GCM ciphertext, shown masked.

The key is derived with HKDF from the stream-key secret (settings.STREAM_KEY_SECRET or SECRET_KEY)
for this purpose alone; the row's id is the associated data, so a ciphertext opens only on its row.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit, urlunsplit

from api.channels.stream_keys import derived_key
from api.core.sealing import SealError, seal, unseal

_PURPOSE = b"tidecast restream destination url v1"
VISIBLE_KEY_CHARACTERS = 4
MASK = "****"


class DestinationDecryptionError(ValueError):
    """The stored URL cannot be opened (the secret changed, or the row was tampered with)."""


def destination_url_encrypt(url: str, *, destination_id: uuid.UUID) -> str:
    return seal(url, key=derived_key(_PURPOSE), bound_to=str(destination_id))


def destination_url_decrypt(ciphertext: str, *, destination_id: uuid.UUID) -> str:
    try:
        return unseal(ciphertext, key=derived_key(_PURPOSE), bound_to=str(destination_id))
    except SealError as exc:
        raise DestinationDecryptionError("The stored destination cannot be decrypted.") from exc


def destination_url_mask(url: str) -> str:
    """The URL with its stream key hidden: the last path segment keeps its first few characters,
    a query string and any password in the authority are masked whole."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        netloc = f"{user}:{MASK}@{host}" if ":" in userinfo else f"{user}@{host}"
    head, _, key = parts.path.rpartition("/")
    shown = key[:VISIBLE_KEY_CHARACTERS] if len(key) > 2 * VISIBLE_KEY_CHARACTERS else ""
    path = f"{head}/{shown}{MASK}" if key else parts.path
    return urlunsplit((parts.scheme, netloc, path, MASK if parts.query else "", ""))
