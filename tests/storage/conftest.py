"""One real SeaweedFS for the storage tests (see tests/seaweed.py); each test starts with an empty
bucket."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.seaweed import SeaweedServer


@pytest.fixture(scope="session")
def seaweed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    server = SeaweedServer(folder=Path(tmp_path_factory.mktemp("seaweed")))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def seaweed(seaweed_server: SeaweedServer) -> Iterator[SeaweedServer]:
    if seaweed_server.process is None:  # a test that took it down failed before bringing it back
        seaweed_server.start()
    seaweed_server.empty_bucket()
    yield seaweed_server
    if seaweed_server.process is None:
        seaweed_server.start()
