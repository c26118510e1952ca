"""Event-time reorder buffer of one conversation, with a watermark that moves with the clock."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class ReorderBuffer(Generic[T]):
    """Holds items until the watermark passes their event time, then releases them in order.

    The watermark is the newest event time seen, advanced by the wall-clock time since it
    was seen, minus `lateness_ms`. So a replay is ordered by event time, and on a live
    stream nothing waits longer than `lateness_ms` after it arrived, even when the
    conversation goes quiet. An item older than the last one released is late: `add`
    refuses it, so the caller can pass it on at once, and it never breaks the order of
    the others.

    An item is also held at least `min_hold_ms` (wall clock) after it arrived, so that
    items of one conversation that reached the buffer by different paths within that time
    still come out in order, in a replay too, where the watermark runs ahead of the clock.
    On a live stream, where the watermark waits `lateness_ms`, a hold up to that long
    costs nothing.
    """

    lateness_ms: int
    min_hold_ms: int = 0
    _heap: list[tuple[int, int, int, T]] = field(default_factory=list)
    """(event ms, sequence, clock ms when added, item)"""
    _seq: int = 0
    _newest_ms: int | None = None
    _newest_seen_at_ms: int = 0
    _released_ms: int | None = None

    def __len__(self) -> int:
        return len(self._heap)

    def watermark(self, now_ms: int) -> int | None:
        if self._newest_ms is None:
            return None
        return self._newest_ms + (now_ms - self._newest_seen_at_ms) - self.lateness_ms

    def add(self, event_ms: int, item: T, now_ms: int) -> bool:
        """Hold an item until `release`; False, and nothing held, if it is late."""
        if self._released_ms is not None and event_ms < self._released_ms:
            return False
        self._seq += 1
        heapq.heappush(self._heap, (event_ms, self._seq, now_ms, item))
        if self._newest_ms is None or event_ms > self._newest_ms:
            self._newest_ms, self._newest_seen_at_ms = event_ms, now_ms
        return True

    def release(self, now_ms: int) -> list[T]:
        """Items whose event time the watermark has passed, oldest first."""
        heap = self._heap
        if not heap or self._newest_ms is None:
            return []
        mark = self._newest_ms + (now_ms - self._newest_seen_at_ms) - self.lateness_ms
        held_since = now_ms - self.min_hold_ms
        out = []
        while heap and heap[0][0] <= mark and heap[0][2] <= held_since:
            event_ms, _, _, item = heapq.heappop(heap)
            self._released_ms = event_ms
            out.append(item)
        return out

    def flush(self) -> list[T]:
        """Everything held, oldest first (end of input)."""
        out = []
        while self._heap:
            event_ms, _, _, item = heapq.heappop(self._heap)
            self._released_ms = event_ms
            out.append(item)
        return out

    def next_release_ms(self) -> int | None:
        """Clock time at which the oldest held item is due; None when nothing is held."""
        if not self._heap or self._newest_ms is None:
            return None
        oldest_ms, _, added_at_ms, _ = self._heap[0]
        due = self._newest_seen_at_ms + (oldest_ms + self.lateness_ms - self._newest_ms)
        return max(due, added_at_ms + self.min_hold_ms)

    def snapshot(self) -> ReorderBuffer[T]:
        """An independent copy; items are shared, so they must be immutable."""
        return ReorderBuffer(
            self.lateness_ms,
            self.min_hold_ms,
            list(self._heap),
            self._seq,
            self._newest_ms,
            self._newest_seen_at_ms,
            self._released_ms,
        )
