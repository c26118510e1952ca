"""Redis as the idempotency store: SET NX EX claims a key once, until it expires."""

from __future__ import annotations

import time


def test_set_nx_ex_claims_once_then_expires(redis_client, unique) -> None:
    key = unique("headwater:test:idem")
    assert redis_client.set(key, "first", nx=True, ex=1) is True
    assert redis_client.set(key, "second", nx=True, ex=1) is None
    assert redis_client.get(key) == b"first"
    assert 0 < redis_client.pttl(key) <= 1000  # TTL rounds to whole seconds
    deadline = time.monotonic() + 5
    while redis_client.exists(key) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert redis_client.set(key, "third", nx=True, ex=1) is True
    redis_client.delete(key)
