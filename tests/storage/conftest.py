"""One real SeaweedFS for the storage tests (tests/seaweed.py); each test starts with an empty bucket."""

from tests.seaweed import seaweed, seaweed_server

__all__ = ["seaweed", "seaweed_server"]
