"""nginx's egress log lines, as the collector parses them, and a real UDP datagram into the counter."""

from __future__ import annotations

import asyncio
import socket

from hls_out.egress import EgressCounter
from hls_out.egress_log import MAX_DATAGRAM_BYTES, parse_line, start_egress_log

VIDEO = "abcdefgh01234567"


def test_an_nginx_syslog_line_is_parsed() -> None:
    assert parse_line(f"<190>Dec  2 14:05:46 tidecast_egress: {VIDEO} 12345".encode()) == (VIDEO, 12345)
    assert parse_line(f"<190>Dec  2 14:05:46 tidecast_egress: {VIDEO} 0\n".encode()) == (VIDEO, 0)


def test_anything_else_is_dropped() -> None:
    for line in (
        b"",
        b"<190>Dec  2 14:05:46 other: abcdefgh01234567 10",
        b"<190>Dec  2 14:05:46 tidecast_egress: ABCDEFGH01234567 10",
        b"<190>Dec  2 14:05:46 tidecast_egress: abcdefgh0123456 10",
        b"<190>Dec  2 14:05:46 tidecast_egress: abcdefgh01234567 -10",
        b"<190>Dec  2 14:05:46 tidecast_egress: abcdefgh01234567 1234567890123456",
        b"<190>Dec  2 14:05:46 tidecast_egress: abcdefgh01234567 10 extra",
        b"<190>Dec  2 14:05:46 tidecast_egress: abcdefgh01234567 10" + b" " * MAX_DATAGRAM_BYTES,
    ):
        assert parse_line(line) is None, line


def test_datagrams_reach_the_counter() -> None:
    async def scenario() -> dict[str, int]:
        counter = EgressCounter()
        transport, collector = await start_egress_log(counter, host="127.0.0.1", port=0, reuse_port=False)
        address = transport.get_extra_info("sockname")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for line in (f"tidecast_egress: {VIDEO} 100", "garbage", f"tidecast_egress: {VIDEO} 23"):
                sender.sendto(f"<190>Dec  2 14:05:46 {line}".encode(), address)
        for _ in range(100):
            if collector.received == 3:
                break
            await asyncio.sleep(0.01)
        transport.close()
        assert collector.ignored == 1
        return counter.take()

    assert asyncio.run(scenario()) == {VIDEO: 123}
