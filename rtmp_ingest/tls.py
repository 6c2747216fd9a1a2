"""The RTMPS listener's TLS context, and its certificate reloaded in place (SIGHUP).

A reload loads the new pair into a scratch context first, so a broken or half-written file leaves
the running certificate as it was; then into the live context, which every later handshake uses
(connections already open keep theirs).
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

__all__ = ["CertificateStore"]

logger = logging.getLogger(__name__)


def _server_context() -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION
    return context


class CertificateStore:
    """One server context for `cert_file` and `key_file`, reloadable while the listener runs."""

    def __init__(self, cert_file: Path, key_file: Path) -> None:
        self.cert_file = cert_file
        self.key_file = key_file
        self.context = _server_context()
        self.context.load_cert_chain(certfile=cert_file, keyfile=key_file)
        self.reloads = 0

    def reload(self) -> bool:
        """Load the files again; False (and the old certificate kept) if they do not load."""
        try:
            _server_context().load_cert_chain(certfile=self.cert_file, keyfile=self.key_file)
            self.context.load_cert_chain(certfile=self.cert_file, keyfile=self.key_file)
        except (OSError, ssl.SSLError) as error:
            logger.error("RTMPS certificate not reloaded, keeping the current one: %s", error)
            return False
        self.reloads += 1
        logger.info("RTMPS certificate reloaded from %s", self.cert_file)
        return True
