"""Per-tenant request quotas, shared by every gateway process through Redis.

`limits`' sliding-window counter over one second, in Redis (its Lua scripts are atomic,
so several processes and machines share one count). `limits` has no token bucket; the
sliding window's weighted count admits a similar burst and is what it recommends for
accuracy at Redis cost. When Redis cannot be reached the request is let through and
counted: an outage of the quota store must not refuse traffic Kafka could take.
"""

from __future__ import annotations

import logging
import math
import time

from limits import RateLimitItemPerSecond
from limits.aio.storage import RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from prometheus_client import Counter

log = logging.getLogger(__name__)

QUOTA_UNCHECKED = Counter(
    "headwater_gateway_quota_unchecked_total",
    "Requests let through unchecked because Redis (the quota store) did not answer.",
)

REDIS_TIMEOUT_S = 0.25
"""A quota check waits this long for Redis before letting the request through."""


class TenantQuota:
    """`check(tenant, per_s)`: None when allowed, else the seconds to wait (`Retry-After`)."""

    def __init__(self, redis_url: str, *, scope: str = "gateway") -> None:
        self._scope = scope
        self._storage = RedisStorage(
            "async+" + redis_url,
            implementation="redispy",
            wrap_exceptions=True,
            key_prefix="headwater-quota",
            socket_timeout=REDIS_TIMEOUT_S,
            socket_connect_timeout=REDIS_TIMEOUT_S,
        )
        self._limiter = SlidingWindowCounterRateLimiter(self._storage)
        self._items: dict[int, RateLimitItemPerSecond] = {}
        self._warned = -math.inf

    async def check(self, tenant: str, per_s: int) -> int | None:
        item = self._items.get(per_s)
        if item is None:
            item = self._items[per_s] = RateLimitItemPerSecond(per_s)
        try:
            if await self._limiter.hit(item, self._scope, tenant):
                return None
            stats = await self._limiter.get_window_stats(item, self._scope, tenant)
        except (StorageError, OSError, TimeoutError) as exc:
            QUOTA_UNCHECKED.inc()
            now = time.monotonic()
            if now - self._warned > 30:
                self._warned = now
                log.warning("quota store unreachable, requests pass unchecked: %s", exc)
            return None
        return max(1, math.ceil(stats.reset_time - time.time()))
