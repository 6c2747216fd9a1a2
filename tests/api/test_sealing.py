"""The one AES-GCM sealing of stored secrets (api.core.sealing), without I/O."""

from __future__ import annotations

import pytest

from api.core.sealing import SealError, seal, unseal

KEY = bytes(range(32))


def test_a_sealed_value_opens_with_its_key_on_its_own_row_only() -> None:
    sealed = seal("rtmp://a.example/live/key", key=KEY, bound_to="row-1")
    assert sealed.startswith("v1:")
    assert "key" not in sealed
    assert unseal(sealed, key=KEY, bound_to="row-1") == "rtmp://a.example/live/key"
    assert seal("same", key=KEY, bound_to="r") != seal("same", key=KEY, bound_to="r")  # fresh nonces
    with pytest.raises(SealError):
        unseal(sealed, key=KEY, bound_to="row-2")
    with pytest.raises(SealError):
        unseal(sealed, key=bytes(32), bound_to="row-1")


@pytest.mark.parametrize("broken", ["v2:AAAA", "v1:not base64!", "v1:", "plain text"])
def test_anything_else_does_not_open(broken: str) -> None:
    with pytest.raises(SealError):
        unseal(broken, key=KEY, bound_to="row-1")
