from __future__ import annotations

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _empty_cache():
    """Throttle and lockout counters live in the cache: every test starts with none."""
    cache.clear()
    yield
    cache.clear()
