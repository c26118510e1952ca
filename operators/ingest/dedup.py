"""Dedup memory of one shard: the keys its messages were seen with, forgotten after a TTL."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class DedupMemory:
    """Remembers accepted keys with their event time; forgets them `ttl_ms` later (event time).

    A message is a duplicate when its idempotency key or message id was accepted within
    `ttl_ms` of its own event time. Expiry follows the newest event time seen and takes
    keys in the order they were accepted, so memory holds the keys younger than the TTL,
    plus older ones (out of order) accepted after a key that has not expired yet.
    """

    ttl_ms: int
    _seen: dict[str, int] = field(default_factory=dict)
    _accepted: deque[tuple[int, str]] = field(default_factory=deque)
    _newest_ms: int | None = None

    def __post_init__(self) -> None:
        if self.ttl_ms <= 0:
            raise ValueError(f"ttl_ms must be positive, got {self.ttl_ms}")

    def __len__(self) -> int:
        return len(self._seen)

    def admit(self, event_ms: int, *keys: str) -> bool:
        """Accept and remember `keys` unless one was accepted within the TTL; True if accepted."""
        seen, ttl = self._seen, self.ttl_ms
        for key in keys:
            seen_ms = seen.get(key)
            if seen_ms is not None and -ttl <= event_ms - seen_ms <= ttl:
                return False
        for key in keys:
            seen[key] = event_ms
            self._accepted.append((event_ms, key))
        if self._newest_ms is None or event_ms > self._newest_ms:
            self._newest_ms = event_ms
            if self._accepted[0][0] < event_ms - ttl:
                self.expire_before(event_ms - ttl)
        return True

    def expire_before(self, cutoff_ms: int) -> int:
        """Forget keys accepted before `cutoff_ms`, oldest accepted first, up to the first
        younger one; return how many were forgotten."""
        forgotten = 0
        accepted, seen = self._accepted, self._seen
        while accepted and accepted[0][0] < cutoff_ms:
            event_ms, key = accepted.popleft()
            if seen.get(key) == event_ms:
                del seen[key]
                forgotten += 1
        return forgotten

    @property
    def newest_ms(self) -> int | None:
        return self._newest_ms

    def snapshot(self) -> DedupMemory:
        """An independent copy (keys are strings, so copying the containers suffices)."""
        return DedupMemory(self.ttl_ms, dict(self._seen), deque(self._accepted), self._newest_ms)
