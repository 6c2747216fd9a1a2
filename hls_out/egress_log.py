"""nginx's bytes sent, from its access log, into the same egress counter (`hls_out.egress`).

In Compose nginx serves the HLS files it has on disk itself; hls_out sees only what nginx passes
on (files not on that disk, low-latency waits). nginx logs each HLS file it sent from its disk
(GET, 200 or 206, nothing proxied: hls_out counts those itself) as a syslog datagram to hls_out's
own host and port, over UDP (docker/nginx/tidecast.conf, `log_format tidecast_egress`):

    <190>Dec  2 14:05:46 tidecast_egress: <video url> <body bytes sent>

`EgressLogCollector` is an asyncio datagram endpoint on that port: each line is parsed (anything
else is dropped, counted in `ignored`) and its bytes added to the video's figure, which the
process reports to the API with the rest. Bounded: one datagram at a time, at most
MAX_DATAGRAM_BYTES read from it, no buffering; the counter bounds the videos. With several
worker processes each binds the port (SO_REUSEPORT) and counts what the kernel hands it.

UDP has no sender authentication: the port must be reachable by nginx only (Compose's internal
network, no published port), as the HTTP port already is.
"""

from __future__ import annotations

import asyncio
import logging
import re

from hls_out.egress import EgressCounter
from tidecast_common.layout import URL_PREFIX

logger = logging.getLogger(__name__)

MAX_DATAGRAM_BYTES = 512
MAX_DIGITS = 15  # bytes sent in one response: below 10**15
LINE = re.compile(rb"tidecast_egress: ([a-z0-9]{16}) ([0-9]{1,%d})\s*" % MAX_DIGITS)


def parse_line(datagram: bytes) -> tuple[str, int] | None:
    """The (video url, bytes) of one syslog datagram from nginx, or None."""
    if len(datagram) > MAX_DATAGRAM_BYTES:
        return None
    start = datagram.find(b"tidecast_egress: ")
    if start < 0:
        return None
    found = LINE.fullmatch(datagram, start)
    if found is None:
        return None
    return found[1].decode("ascii"), int(found[2])


class EgressLogCollector(asyncio.DatagramProtocol):
    def __init__(self, counter: EgressCounter) -> None:
        self._counter = counter
        self.received = 0
        self.ignored = 0

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self.received += 1
        parsed = parse_line(data)
        if parsed is None:
            self.ignored += 1
            if self.ignored in (1, 1000) or self.ignored % 100_000 == 0:
                logger.warning("egress log: %d datagrams were not nginx egress lines", self.ignored)
            return
        video_url, sent = parsed
        self._counter.add(f"{URL_PREFIX}{video_url}", sent)

    def error_received(self, exc: Exception) -> None:
        logger.debug("egress log: %s", exc)


async def start_egress_log(
    counter: EgressCounter, *, host: str, port: int, reuse_port: bool
) -> tuple[asyncio.DatagramTransport, EgressLogCollector]:
    loop = asyncio.get_running_loop()
    transport, collector = await loop.create_datagram_endpoint(
        lambda: EgressLogCollector(counter),
        local_addr=(host, port),
        reuse_port=reuse_port or None,
    )
    return transport, collector
