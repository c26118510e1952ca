"""Per-tenant request quotas, shared by every process of a service through Redis.

`limits`' sliding-window counter over one second, in Redis (its Lua scripts are atomic,
so several processes and machines share one count). `limits` has no token bucket; the
sliding window's weighted count admits a similar burst and is what it recommends for
accuracy at Redis cost.

A process takes a tenant's requests from Redis in leases of up to 1/50 of its rate (at
most 100), spent locally within `LEASE_S`, which keeps a Redis round trip off most
requests. A lease is taken before it is spent, so no tenant exceeds its rate; what
a lease leaves unspent when it lapses is lost, at most 2 % of the rate per process. A
tenant Redis has refused is refused in the process for `REFUSED_S` (2 % of a second)
without asking Redis again (longer for a rate under 50 a second: 1/rate).

When Redis cannot be reached the request is let through and counted: an outage of the
quota store must not refuse traffic the service could take.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItemPerSecond
from limits.aio.storage import RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from prometheus_client import Counter

log = logging.getLogger(__name__)

QUOTA_UNCHECKED = Counter(
    "headwater_quota_unchecked_total",
    "Requests let through unchecked because Redis (the quota store) did not answer, by scope "
    "(the service: gateway, search).",
    ["scope"],
)

REDIS_TIMEOUT_S = 0.25
"""A quota check waits this long for Redis before letting the request through."""

LEASE_FRACTION = 50
LEASE_MAX = 100
LEASE_S = 1.0
"""A lease is `rate // LEASE_FRACTION` requests (1 to LEASE_MAX), good for LEASE_S."""
REFUSED_S = 0.02
"""After Redis refused a tenant, the process refuses it without asking again for this long,
or for the time its rate takes to allow one more request if that is longer: a flood
costs Redis a few calls a second, not three a request, and at most one request's worth of
the rate goes unused per refusal."""


@dataclass
class _Lease:
    left: int
    until: float


class TenantQuota:
    """`check(tenant, per_s)`: None when allowed, else the seconds to wait (`Retry-After`).
    Each `scope` (a service) counts its own requests."""

    def __init__(self, redis_url: str, *, scope: str) -> None:
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
        self._leases: dict[str, _Lease] = {}
        self._refused: dict[str, tuple[float, int]] = {}
        self._warned = -math.inf

    async def check(self, tenant: str, per_s: int) -> int | None:
        now = time.monotonic()
        lease = self._leases.get(tenant)
        if lease is not None and lease.left > 0 and now < lease.until:
            lease.left -= 1
            return None
        refused = self._refused.get(tenant)
        if refused is not None:
            if now < refused[0]:
                return refused[1]
            del self._refused[tenant]
        item = self._items.get(per_s)
        if item is None:
            item = self._items[per_s] = RateLimitItemPerSecond(per_s)
        size = min(max(per_s // LEASE_FRACTION, 1), LEASE_MAX)
        try:
            if await self._limiter.hit(item, self._scope, tenant, cost=size):
                self._leases[tenant] = _Lease(size - 1, now + LEASE_S)
                return None
            if size > 1 and await self._limiter.hit(item, self._scope, tenant):
                return None  # less than a lease was left: this one request
            stats = await self._limiter.get_window_stats(item, self._scope, tenant)
        except (StorageError, OSError, TimeoutError) as exc:
            QUOTA_UNCHECKED.labels(self._scope).inc()
            now = time.monotonic()
            if now - self._warned > 30:
                self._warned = now
                log.warning("quota store unreachable, requests pass unchecked: %s", exc)
            return None
        wait = max(1, math.ceil(stats.reset_time - time.time()))
        self._refused[tenant] = (time.monotonic() + max(REFUSED_S, 1 / per_s), wait)
        return wait
