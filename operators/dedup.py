"""Dedup memory of one conversation: keys and message ids seen, forgotten after a TTL."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field


@dataclass
class DedupMemory:
    """Remembers accepted keys with their event time; forgets them `ttl_ms` later (event time).

    A message is a duplicate when its idempotency key or message id was accepted within
    `ttl_ms` of its own event time. Expiry follows the newest event time seen, so memory
    holds only keys younger than the TTL.
    """

    ttl_ms: int
    _seen: dict[str, int] = field(default_factory=dict)
    _expiry: list[tuple[int, str]] = field(default_factory=list)
    _newest_ms: int | None = None

    def __post_init__(self) -> None:
        if self.ttl_ms <= 0:
            raise ValueError(f"ttl_ms must be positive, got {self.ttl_ms}")

    def __len__(self) -> int:
        return len(self._seen)

    def admit(self, event_ms: int, *keys: str) -> bool:
        """Accept and remember `keys` unless one was accepted within the TTL; True if accepted."""
        for key in keys:
            seen_ms = self._seen.get(key)
            if seen_ms is not None and abs(event_ms - seen_ms) <= self.ttl_ms:
                return False
        for key in keys:
            self._seen[key] = event_ms
            heapq.heappush(self._expiry, (event_ms, key))
        if self._newest_ms is None or event_ms > self._newest_ms:
            self._newest_ms = event_ms
            self.expire_before(event_ms - self.ttl_ms)
        return True

    def expire_before(self, cutoff_ms: int) -> int:
        """Forget keys accepted before `cutoff_ms`; return how many were forgotten."""
        forgotten = 0
        while self._expiry and self._expiry[0][0] < cutoff_ms:
            event_ms, key = heapq.heappop(self._expiry)
            if self._seen.get(key) == event_ms:
                del self._seen[key]
                forgotten += 1
        return forgotten

    @property
    def newest_ms(self) -> int | None:
        return self._newest_ms

    def snapshot(self) -> DedupMemory:
        """An independent copy (keys are strings, so copying the containers suffices)."""
        return DedupMemory(self.ttl_ms, dict(self._seen), list(self._expiry), self._newest_ms)
