"""The RTMP listener: admission (global, per-IP and not-yet-publishing caps), and a two-phase shutdown.

Connections that have not been granted a publish share `max_pending` slots: idle or slow ones can
fill those, never the slots of the publishers already live.

Shutdown: stop accepting, ask every publisher to finish (sinks stop cleanly so playlists end, the
end is reported to the API), cancel whatever is still running after the grace period, then let
pending end reports go out.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import Counter

from rtmp_ingest.adapter import peer_ip
from rtmp_ingest.api_client import IngestApiClient
from rtmp_ingest.controller import IngestController, SinkFactory
from rtmp_ingest.receive import IngestProtocol, ReceiveBuffer
from rtmp_ingest.settings import IngestSettings
from rtmp_ingest.tls import CertificateStore

logger = logging.getLogger(__name__)

RECEIVE_BUFFER_BYTES = 256 * 1024  # per connection; reading pauses before it fills (receive.py)


class ConnectionLimiter:
    """Counts open connections: overall, per client address, and those with a granted publish."""

    def __init__(self, *, max_total: int, max_per_ip: int, max_pending: int) -> None:
        self._max_total = max_total
        self._max_per_ip = max_per_ip
        self._max_pending = max_pending
        self._per_ip: Counter[str] = Counter()
        self.total = 0
        self.publishing = 0

    @property
    def pending(self) -> int:
        """Connections not (or not yet) granted a publish."""
        return self.total - self.publishing

    def try_acquire(self, ip: str) -> bool:
        if self.total >= self._max_total or self._per_ip[ip] >= self._max_per_ip:
            return False
        if self.pending >= self._max_pending:
            return False
        self.total += 1
        self._per_ip[ip] += 1
        return True

    def promote(self) -> None:
        """A connection of this limiter was granted a publish."""
        self.publishing += 1

    def demote(self) -> None:
        """That publish ended (its connection is released separately)."""
        self.publishing -= 1

    def release(self, ip: str) -> None:
        self.total -= 1
        self._per_ip[ip] -= 1
        if self._per_ip[ip] <= 0:
            del self._per_ip[ip]


class IngestServer:
    def __init__(
        self,
        *,
        settings: IngestSettings,
        api: IngestApiClient,
        sink_factory: SinkFactory,
    ) -> None:
        self.settings = settings
        self.api = api
        self.limiter = ConnectionLimiter(
            max_total=settings.max_connections,
            max_per_ip=settings.max_connections_per_ip,
            max_pending=settings.max_pending_connections,
        )
        self.controller = IngestController(
            settings=settings, api=api, sink_factory=sink_factory, slots=self.limiter
        )
        self._server: asyncio.Server | None = None
        self._tls_server: asyncio.Server | None = None
        self.certificates: CertificateStore | None = None
        if settings.rtmps_cert_file is not None and settings.rtmps_key_file is not None:
            self.certificates = CertificateStore(settings.rtmps_cert_file, settings.rtmps_key_file)
        self._stopped = asyncio.Event()
        self._connection_tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()

        def protocol() -> IngestProtocol:
            return IngestProtocol(
                self._on_client, buffer_size=RECEIVE_BUFFER_BYTES, tasks=self._connection_tasks
            )

        self._server = await loop.create_server(
            protocol, host=list(self.settings.hosts), port=self.settings.port, reuse_address=True
        )
        for sock in self._server.sockets:
            logger.info("RTMP ingest listening on %s", _address(sock))
        if self.certificates is not None:
            # The same connections behind TLS. The TLS handshake gets the RTMP handshake timeout, and
            # the RTMP handshake only what is left of it (the deadline runs from the accept).
            self._tls_server = await loop.create_server(
                protocol,
                host=list(self.settings.hosts),
                port=self.settings.rtmps_port,
                reuse_address=True,
                ssl=self.certificates.context,
                ssl_handshake_timeout=self.settings.handshake_timeout,
                ssl_shutdown_timeout=min(self.settings.write_timeout, 5.0),
            )
            for sock in self._tls_server.sockets:
                logger.info("RTMPS ingest listening on %s", _address(sock))

    def reload_certificate(self) -> bool:
        """SIGHUP: new RTMPS handshakes use the certificate files as they are now."""
        return self.certificates.reload() if self.certificates is not None else False

    @property
    def ports(self) -> list[int]:
        if self._server is None:
            return []
        return [int(sock.getsockname()[1]) for sock in self._server.sockets]

    @property
    def tls_ports(self) -> list[int]:
        if self._tls_server is None:
            return []
        return [int(sock.getsockname()[1]) for sock in self._tls_server.sockets]

    async def _on_client(self, reader: ReceiveBuffer, writer: asyncio.StreamWriter) -> None:
        ip = peer_ip(writer)
        if not self.limiter.try_acquire(ip):
            logger.warning("connection from %s refused: connection limit reached", ip)
            writer.transport.abort()
            return
        try:
            await self.controller.client_callback(reader, writer)
        finally:
            self.limiter.release(ip)

    async def serve_until_stopped(self) -> None:
        await self._stopped.wait()

    async def stop(self) -> None:
        """Two-phase shutdown; safe to call more than once."""
        for listener in (self._server, self._tls_server):
            if listener is not None:
                listener.close()
        logger.info("ingest stopping: %d connections to finish", self.controller.connection_count)
        await self.controller.shutdown(grace=self.settings.shutdown_grace)
        await self.api.close()
        for listener in (self._server, self._tls_server):
            if listener is not None:
                await listener.wait_closed()
        self._server = self._tls_server = None
        self._stopped.set()
        logger.info("ingest stopped")


def _address(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
