#!/usr/bin/env python3
"""Container health checks for docker/compose.yaml, with nothing but the standard library.

    tidecast-healthcheck http <path>   the API on 127.0.0.1:$GUNICORN_PORT answers <path> with 200
    tidecast-healthcheck tcp <port>    something accepts connections on 127.0.0.1:<port>

The HTTP check sends `Host: api`, the name the other services reach the API by, so it must be in
ALLOWED_HOSTS (it is in docker/env.example).
"""

from __future__ import annotations

import http.client
import os
import socket
import sys

TIMEOUT_SECONDS = 5.0


def http_ok(path: str) -> bool:
    port = int(os.environ.get("GUNICORN_PORT", "8000"))
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_SECONDS)
    try:
        connection.request("GET", path, headers={"Host": "api", "Accept": "application/json"})
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def tcp_ok(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_SECONDS):
            return True
    except OSError:
        return False


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("http", "tcp"):
        print(__doc__, file=sys.stderr)
        return 2
    kind, target = argv
    healthy = http_ok(target) if kind == "http" else tcp_ok(int(target))
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
