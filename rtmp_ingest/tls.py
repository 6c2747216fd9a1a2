"""The RTMPS listener's TLS context, and its certificate reloaded in place (SIGHUP); the trust of
`rtmps://` restream destinations.

A reload loads the new pair into a scratch context first, so a broken or half-written file leaves
the running certificate as it was; then into the live context, which every later handshake uses
(connections already open keep theirs).

Destinations are verified against the system's CAs plus RESTREAM_CA_FILE's, host names included,
by both engines: the native one through `client_context`, ffmpeg through `trust_bundle` (its
`-ca_file` replaces the system's CAs, so it gets one file holding both). Both read and parse the CA
files once per version of them (their modification times), not once per connection: a destination
retrying every few seconds costs a `stat`, not a parse of every system certificate.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import ssl
import tempfile
from pathlib import Path

__all__ = ["CertificateStore", "client_context", "trust_bundle"]

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


def _version(path: str | Path | None) -> int | None:
    """What changes when a CA file does: its modification time (None: no such file)."""
    try:
        return Path(path).stat().st_mtime_ns if path else None
    except OSError:
        return None


def client_context(extra_ca_file: str | None = None) -> ssl.SSLContext:
    """A client context trusting the system's CAs and, if given, those in `extra_ca_file`; the same
    context until one of those files changes. It reads files on a miss: call it off the event loop."""
    return _client_context(extra_ca_file, _version(_system_ca_file()), _version(extra_ca_file))


@functools.lru_cache(maxsize=8)
def _client_context(
    extra_ca_file: str | None, system_version: int | None, extra_version: int | None
) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if extra_ca_file:
        context.load_verify_locations(cafile=extra_ca_file)
    return context


def _system_ca_file() -> Path | None:
    paths = ssl.get_default_verify_paths()
    for name in (os.environ.get(paths.openssl_cafile_env), paths.cafile, paths.openssl_cafile):
        if name and Path(name).is_file():
            return Path(name)
    return None


def trust_bundle(extra_ca_file: str | None, folder: Path | None = None) -> str | None:
    """For ffmpeg's `-ca_file`: None without extra CAs (ffmpeg then trusts the system's), else a
    file of the system's CAs followed by `extra_ca_file`'s, named by its content (written once,
    atomically, in `folder`, the temporary folder by default). Reads files: call it off the loop."""
    if not extra_ca_file:
        return None
    system = _system_ca_file()
    sources = (
        system,
        _version(system),
        extra_ca_file,
        _version(extra_ca_file),
        folder or Path(tempfile.gettempdir()),
    )
    bundle = _bundle_path(*sources)
    if not bundle.is_file():  # removed since (a cleaned temporary folder): written again
        _bundle_path.cache_clear()
        bundle = _bundle_path(*sources)
    return str(bundle)


@functools.lru_cache(maxsize=8)
def _bundle_path(
    system: Path | None,
    system_version: int | None,
    extra_ca_file: str,
    extra_version: int | None,
    folder: Path,
) -> Path:
    if extra_version is None:
        raise FileNotFoundError(f"No CA file at {extra_ca_file}")
    content = (system.read_bytes().rstrip(b"\n") + b"\n" if system else b"") + Path(
        extra_ca_file
    ).read_bytes()
    bundle = folder / f"tidecast-restream-ca-{hashlib.sha256(content).hexdigest()[:16]}.pem"
    if not bundle.is_file():
        descriptor, scratch = tempfile.mkstemp(dir=folder, prefix=".tidecast-ca-", suffix=".pem")
        with os.fdopen(descriptor, "wb") as output:
            output.write(content)
        Path(scratch).chmod(0o644)  # public certificates
        Path(scratch).replace(bundle)
    return bundle
