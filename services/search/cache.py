"""The search API's caches: answers, and the embeddings of questions, in Redis with a small
in-process layer in front; concurrent misses of one key computed once.

An answer's key names the tenant, the collection behind the alias (so a swap or a
rollback never serves another model's answers), the parameters and the normalized
question. Every answer records when it was computed and is served for at most `ttl_s`
after that, from either layer: that is the staleness bound. Sooner than that, an answer
computed before the index last wrote its tenant is not served (the index's write notices,
read every refresh). An embedding depends only on the model and the question, so it is
kept long.

Redis is an accelerator, never a dependency: a failed or slow call is counted, the
request goes on uncached, and Redis is left alone for `PAUSE_AFTER_ERROR_S` so an outage
does not cost every request a timeout.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import numpy as np
import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from operators.index.write_notices import WRITTEN_KEY
from services.search.metrics import CACHE_ERRORS

log = logging.getLogger(__name__)

REDIS_TIMEOUT_S = 0.25
"""Above a Redis round trip (~0.2 ms) by far: a busy event loop must not read as an outage."""
PAUSE_AFTER_ERROR_S = 0.5
LOCK_S = 5.0
"""How long a worker computing a miss holds the key's lock (others wait for its answer)."""
WAIT_POLL_S = 0.005
PREFIX = "headwater-search"

V = TypeVar("V")


def normalize_question(text: str) -> str:
    """The form a question is searched and cached under: NFC, whitespace collapsed, lower
    case (the embedder and BM25 ignore case)."""
    return " ".join(unicodedata.normalize("NFC", text).split()).lower()


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def answer_key(tenant: str, collection: str, question: str, k: int, alpha: float) -> str:
    return f"{PREFIX}:a:{tenant}:{collection}:{k}:{alpha:g}:{_digest(question)}"


def vector_key(model_version: str, question: str) -> str:
    return f"{PREFIX}:v:{model_version}:{_digest(question)}"


class LocalCache(Generic[V]):
    """At most `size` values, least recently used out first, each until its own expiry."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[str, tuple[float, V]] = OrderedDict()

    def get(self, key: str, now: float) -> V | None:
        found = self._items.get(key)
        if found is None:
            return None
        if found[0] <= now:
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return found[1]

    def put(self, key: str, value: V, until: float) -> None:
        if self._size <= 0:
            return
        self._items[key] = (until, value)
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)


class SingleFlight(Generic[V]):
    """Concurrent calls for one key in this process share one computation."""

    def __init__(self) -> None:
        self._running: dict[str, asyncio.Future[V]] = {}

    def running(self, key: str) -> bool:
        return key in self._running

    async def run(self, key: str, compute: Callable[[], Awaitable[V]]) -> tuple[V, bool]:
        """The value, and whether this call waited for another's computation."""
        running = self._running.get(key)
        if running is not None:
            return await asyncio.shield(running), True
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._running[key] = future
        try:
            value = await compute()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning without waiters
            raise
        else:
            future.set_result(value)
            return value, False
        finally:
            del self._running[key]


class RedisCache:
    """Answers and embeddings in Redis, with the in-process layer and the pause on errors."""

    def __init__(
        self,
        url: str,
        *,
        ttl_s: float,
        local_size: int,
        vector_ttl_s: float,
        vector_local_size: int = 4096,
    ) -> None:
        self.ttl_s = ttl_s
        self._vector_ttl_ms = max(1, int(vector_ttl_s * 1000))
        self._redis = aioredis.Redis.from_url(
            url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
        )
        self._answers: LocalCache[tuple[float, bytes]] = LocalCache(local_size)
        self.written: dict[str, int] = {}
        """Tenant -> epoch ms of the index's last write of it within the TTL."""
        self._vectors: LocalCache[np.ndarray] = LocalCache(vector_local_size)
        self._paused_until = -math.inf
        self._warned = -math.inf

    @property
    def enabled(self) -> bool:
        return self.ttl_s > 0

    @property
    def available(self) -> bool:
        return time.monotonic() >= self._paused_until

    def _failed(self, op: str, exc: BaseException) -> None:
        CACHE_ERRORS.labels(op).inc()
        now = time.monotonic()
        self._paused_until = now + PAUSE_AFTER_ERROR_S
        if now - self._warned > 30:
            self._warned = now
            log.warning("redis unreachable, searching uncached: %s", exc)

    async def _call(self, op: str, call: Callable[[], Awaitable[V]]) -> V | None:
        if not self.available:
            return None
        try:
            return await call()
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed(op, exc)
            return None

    async def _get(self, key: str) -> bytes | None:
        raw = await self._call("get", lambda: self._redis.get(key))
        return raw if isinstance(raw, bytes) else None

    # -- answers: `{"at": <epoch s computed>, ...}` as JSON bytes -------------------------

    def _fresh(self, tenant: str, at: float) -> bool:
        """Computed less than the TTL ago, and after the index last wrote the tenant."""
        return at + self.ttl_s > time.time() and at * 1000 > self.written.get(tenant, 0)

    async def answer(self, key: str, tenant: str) -> tuple[bytes, str] | None:
        """A fresh cached answer of `tenant` and where it came from (`local` or `redis`)."""
        local = self._answers.get(key, time.time())
        if local is not None and self._fresh(tenant, local[0]):
            return local[1], "local"
        raw = await self._get(key)
        return None if raw is None else self._take(key, tenant, raw)

    def _take(self, key: str, tenant: str, raw: bytes) -> tuple[bytes, str] | None:
        at = orjson.loads(raw)["at"]
        if not self._fresh(tenant, at):
            return None
        self._answers.put(key, (at, raw), at + self.ttl_s)
        return raw, "redis"

    async def store_answer(self, key: str, raw: bytes, at: float) -> None:
        until = at + self.ttl_s
        self._answers.put(key, (at, raw), until)
        left_ms = int((until - time.time()) * 1000)
        if left_ms > 0:
            await self._call("set", lambda: self._redis.set(key, raw, px=left_ms))

    # -- computing a miss once across processes ---------------------------------------

    async def lock(self, key: str) -> bool:
        """Whether this worker computes `key` (else another does; `wait_for` its answer)."""
        got = await self._call(
            "lock", lambda: self._redis.set(key + ":lock", b"1", nx=True, px=int(LOCK_S * 1000))
        )
        return bool(got) or not self.available  # Redis unusable: compute it here

    async def unlock(self, key: str) -> None:
        await self._call("unlock", lambda: self._redis.delete(key + ":lock"))

    async def wait_for(self, key: str, tenant: str, timeout_s: float) -> tuple[bytes, str] | None:
        """The answer another worker is computing, once it is stored; None when that worker
        gave up (the lock is gone and no answer came) or after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.available:
            await asyncio.sleep(WAIT_POLL_S)
            found = await self._call("get", lambda: self._answer_or_lock(key))
            if found is None:
                return None
            raw, locked = found
            taken = None if raw is None else self._take(key, tenant, raw)
            if taken is not None:
                return taken
            if not locked:
                return None
        return None

    async def _answer_or_lock(self, key: str) -> tuple[bytes | None, bool]:
        pipe = self._redis.pipeline(transaction=False)
        pipe.get(key)
        pipe.exists(key + ":lock")
        raw, locked = await pipe.execute()
        return (raw if isinstance(raw, bytes) else None), bool(locked)

    # -- the index's write notices --------------------------------------------------------

    async def refresh_written(self) -> None:
        """Read which tenants the index wrote within the TTL, and when
        (`operators.index.write_notices`)."""
        since_ms = int((time.time() - self.ttl_s) * 1000)
        found = await self._call(
            "written",
            lambda: self._redis.zrangebyscore(WRITTEN_KEY, since_ms, "+inf", withscores=True),
        )
        if found is not None:
            self.written = {_text(entry[0]): int(entry[1]) for entry in found}

    # -- embeddings of questions: float32 bytes ---------------------------------------

    async def vector(self, key: str) -> np.ndarray | None:
        local = self._vectors.get(key, time.time())
        if local is not None:
            return local
        raw = await self._get(key)
        if raw is None:
            return None
        vector = np.frombuffer(raw, dtype=np.float32)
        self._vectors.put(key, vector, time.time() + self._vector_ttl_ms / 1000)
        return vector

    async def store_vector(self, key: str, vector: np.ndarray) -> None:
        vector = np.ascontiguousarray(vector, dtype=np.float32)
        self._vectors.put(key, vector, time.time() + self._vector_ttl_ms / 1000)
        await self._call(
            "set", lambda: self._redis.set(key, vector.tobytes(), px=self._vector_ttl_ms)
        )

    async def close(self) -> None:
        await self._redis.aclose()
