"""Embed a stream in batches: at most `max_size` items, and no item waits past `max_wait`.

Live traffic fills batches slowly, so the deadline set by the first item of a batch
sends it within a few milliseconds; a backfill fills batches at once and runs at full
batch throughput. `op.collect` is not used because its timeout restarts at every item
(an inactivity timeout): under a steady trickle a batch would wait until it is full.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

import bytewax.operators as op
import numpy as np
from bytewax.dataflow import operator
from bytewax.operators import KeyedStream, StatefulLogic

V = TypeVar("V")
X = TypeVar("X")

DEFAULT_MAX_SIZE = 32
DEFAULT_MAX_WAIT = timedelta(milliseconds=5)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class BatchState(Generic[V]):
    items: tuple[V, ...] = ()
    deadline: datetime | None = None


@dataclass
class BatchLogic(StatefulLogic[V, list[V], BatchState[V]]):
    """Buffers one key's items; emits when full, at the first item's deadline, or at EOF."""

    max_size: int
    max_wait: timedelta
    now: Callable[[], datetime]
    items: list[V] = field(default_factory=list)
    deadline: datetime | None = None

    def on_item(self, value: V) -> tuple[Iterable[list[V]], bool]:
        if not self.items:
            self.deadline = self.now() + self.max_wait
        self.items.append(value)
        if len(self.items) >= self.max_size:
            return [self.items], StatefulLogic.DISCARD
        return [], StatefulLogic.RETAIN

    def on_notify(self) -> tuple[Iterable[list[V]], bool]:
        return self._flush()

    def on_eof(self) -> tuple[Iterable[list[V]], bool]:
        return self._flush()

    def notify_at(self) -> datetime | None:
        return self.deadline

    def snapshot(self) -> BatchState[V]:
        return BatchState(tuple(self.items), self.deadline)

    def _flush(self) -> tuple[Iterable[list[V]], bool]:
        return ([self.items] if self.items else []), StatefulLogic.DISCARD


@operator
def batch(
    step_id: str,
    up: KeyedStream[V],
    *,
    max_size: int = DEFAULT_MAX_SIZE,
    max_wait: timedelta = DEFAULT_MAX_WAIT,
    now: Callable[[], datetime] = utc_now,
) -> KeyedStream[list[V]]:
    """Gather each key's items into lists of at most `max_size`, in arrival order."""
    if max_size < 1:
        raise ValueError(f"{step_id}: max_size must be >= 1, got {max_size}")
    if max_wait < timedelta(0):
        raise ValueError(f"{step_id}: max_wait must not be negative, got {max_wait}")

    def build(resume: BatchState[V] | None) -> BatchLogic[V]:
        if resume is None:
            return BatchLogic(max_size, max_wait, now)
        return BatchLogic(max_size, max_wait, now, list(resume.items), resume.deadline)

    return op.stateful("batch", up, build)


@dataclass(frozen=True)
class Embedded(Generic[X]):
    item: X
    vector: np.ndarray


@operator
def embed_batched(
    step_id: str,
    up: KeyedStream[X],
    *,
    embed: Callable[[Sequence[str]], np.ndarray],
    text_of: Callable[[X], str],
    max_size: int = DEFAULT_MAX_SIZE,
    max_wait: timedelta = DEFAULT_MAX_WAIT,
    now: Callable[[], datetime] = utc_now,
) -> KeyedStream[Embedded[X]]:
    """Pair every item with the embedding of its text; `embed` is e.g. `Embedder.embed`.

    Batches form per key, so key by something with traffic (tenant) or a constant.
    """

    def embed_items(items: list[X]) -> list[Embedded[X]]:
        vectors = embed([text_of(item) for item in items])
        return [Embedded(item, vector) for item, vector in zip(items, vectors, strict=True)]

    batches = batch("batch", up, max_size=max_size, max_wait=max_wait, now=now)
    return op.flat_map_value("embed", batches, embed_items)
