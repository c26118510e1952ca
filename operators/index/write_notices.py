"""Telling the search API's cache which tenants the index has just written.

After each write the index scores each written tenant, in one Redis sorted set
(`WRITTEN_KEY`), with the time the write was done (epoch ms), and drops entries older
than `KEEP_MS`; the search API reads the recent entries and drops the tenant's cached
answers computed before that time, so a cached answer stops being served within one
refresh of that hash, not after its TTL. Indexing does not need Redis: a notice that
fails is counted and logged, Redis is left alone for `PAUSE_AFTER_ERROR_S`, and the cache
falls back to its TTL.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable

import redis
from prometheus_client import Counter
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

WRITTEN_KEY = "headwater-index:written"
"""Redis sorted set: tenant, scored with the epoch ms of the index's last write of it."""
KEEP_MS = 3_600_000
"""Notices older than this are dropped: no cache serves an answer that old."""

REDIS_TIMEOUT_S = 0.25
PAUSE_AFTER_ERROR_S = 5.0

NOTICES_FAILED = Counter(
    "headwater_index_write_notices_failed_total",
    'Write notices (README "The search API", the cache) not recorded because Redis failed.',
)


class WriteNotices:
    def __init__(self, redis_url: str) -> None:
        self._redis = redis.Redis.from_url(
            redis_url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
        )
        self._paused_until = -math.inf
        self._warned = -math.inf

    def written(self, tenants: Iterable[str]) -> None:
        """Record that `tenants` were just written (after Weaviate confirmed it)."""
        names = set(tenants)
        if not names:
            return
        now = time.monotonic()
        if now < self._paused_until:
            NOTICES_FAILED.inc()
            return
        at_ms = time.time_ns() // 1_000_000
        try:
            pipe = self._redis.pipeline(transaction=False)
            pipe.zadd(WRITTEN_KEY, dict.fromkeys(names, at_ms), gt=True)
            pipe.zremrangebyscore(WRITTEN_KEY, "-inf", at_ms - KEEP_MS)
            pipe.execute()
        except (RedisError, OSError) as exc:
            NOTICES_FAILED.inc()
            self._paused_until = now + PAUSE_AFTER_ERROR_S
            if now - self._warned > 60:
                self._warned = now
                log.warning("write notices not recorded (search caches fall back to TTL): %s", exc)

    def close(self) -> None:
        self._redis.close()
