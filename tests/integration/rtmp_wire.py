"""Test-side tools: a raw RTMP client for misbehaving peers, and ffprobe packet timestamps."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import time
from pathlib import Path

from tidecast_common.amf0 import encode_values

MSG_COMMAND = 20


class RawRtmpClient:
    """Speaks just enough RTMP to misbehave after a valid handshake."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=5)

    def handshake(self) -> None:
        c1 = struct.pack(">II", 0, 0) + os.urandom(1528)
        self.sock.sendall(b"\x03" + c1)
        s0s1s2 = self._recv_exactly(1 + 1536 + 1536)
        self.sock.sendall(s0s1s2[1 : 1 + 1536])  # C2 echoes S1

    def send_message(
        self, *, csid: int, type_id: int, payload: bytes, stream_id: int = 0, length: int | None = None
    ) -> None:
        """A type 0 header announcing `length` (default: the payload's), then the payload as is."""
        size = len(payload) if length is None else length
        header = bytes([csid]) + (0).to_bytes(3, "big") + size.to_bytes(3, "big") + bytes([type_id])
        self.sock.sendall(header + struct.pack("<I", stream_id) + payload)

    def publish(self, *, app: str, key: str) -> None:
        """connect, createStream and publish on stream 1, without reading the replies."""
        self.send_message(csid=3, type_id=MSG_COMMAND, payload=encode_values("connect", 1.0, {"app": app}))
        self.send_message(csid=3, type_id=MSG_COMMAND, payload=encode_values("createStream", 2.0, None))
        publish = encode_values("publish", 3.0, None, key, "live")
        self.send_message(csid=8, type_id=MSG_COMMAND, payload=publish, stream_id=1)

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def closed_by_server(self, timeout: float) -> bool:
        """True once the server has closed the connection (EOF or reset) within `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                if not self.sock.recv(65536):
                    return True
            except TimeoutError:
                return False
            except OSError:
                return True
        return False

    def close(self) -> None:
        self.sock.close()

    def _recv_exactly(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            part = self.sock.recv(size - len(data))
            if not part:
                raise ConnectionError("server closed during the handshake")
            data += part
        return data


def packet_times(path: Path) -> dict[str, list[int]]:
    """Decode timestamps (ms) of every audio and video packet of a media file, in file order."""
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "packet=codec_type,dts", "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    times: dict[str, list[int]] = {"audio": [], "video": []}
    for line in result.stdout.splitlines():
        codec_type, _, dts = line.partition(",")
        if codec_type in times and dts.strip() not in ("", "N/A"):
            times[codec_type].append(int(dts.strip().rstrip(",")))
    return times
