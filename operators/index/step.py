"""The Bytewax step that embeds segment versions in batches and writes them to Weaviate.

Live versions (messages not yet searchable) go first. Re-embedding a closed segment whose
lines are all stored already only makes its vector exact (`SegmentVectors.only_refines`),
so those versions wait in the bucket's state and run a few at a time when the live work of
an activation is done: refinements then delay a live message by at most one small run of
the embedder per bucket, not by every refinement that became due with it. Past
`MAX_REFINES_PENDING` per bucket the oldest run at once, so a backlog cannot grow without
bound; the end of the input runs them all.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

import bytewax.operators as op
import numpy as np
from bytewax.dataflow import Stream, operator
from bytewax.operators import StatefulBatchLogic

from models.embedder import DEFAULT_BATCH_SIZE
from operators.common.embed_batch import DEFAULT_MAX_SIZE, DEFAULT_MAX_WAIT, batch
from operators.index import metrics
from operators.index.segment import TokenCounter
from operators.index.vectors import OPEN_SEGMENTS, Embed, SegmentVectors
from operators.index.writer import Written
from schemas.message import Rejected
from schemas.segment import Segment, latest_versions

REFINES_PER_RUN = DEFAULT_BATCH_SIZE
"""Refinements embedded per wake-up: one run of the embedder."""

MAX_REFINES_PENDING = 1_000
"""Refinements a bucket holds before it runs the oldest at once (a few KB each)."""

Write = Callable[[list[Segment]], list[Rejected]]


class Writer(Protocol):
    """Stores segment versions with their vectors (`SegmentWriter`, `FanOutWriter`)."""

    def write(self, segments: Sequence[Segment], vectors: np.ndarray) -> Written[Segment]: ...


Neutralize = Callable[[np.ndarray, Sequence[str]], np.ndarray]


def _record(
    tokens: int,
    stored: list[tuple[Segment, int]],
    stale: list[Segment],
    rejected: int,
    unchanged: int,
) -> None:
    metrics.EMBEDDED_TOKENS.inc(tokens)
    metrics.SEGMENTS.labels(outcome="unchanged").inc(unchanged)
    metrics.SEGMENTS.labels(outcome="stored").inc(len(stored))
    metrics.SEGMENTS.labels(outcome="stale").inc(len(stale))
    metrics.SEGMENTS.labels(outcome="rejected").inc(rejected)
    for seg, acked_ms in stored:
        metrics.MESSAGES.inc(len(seg.new_lines))
        for line in seg.new_lines:
            metrics.FRESHNESS.observe(max(0, acked_ms - line.received_at) / 1000)
    # A stale version's messages are in Weaviate already, in the longer stored version;
    # they were replayed, so they are counted but not timed.
    metrics.MESSAGES.inc(sum(len(seg.new_lines) for seg in stale))


class IndexLogic(StatefulBatchLogic[list[Segment], Rejected, tuple[Segment, ...]]):
    """One bucket: writes live versions as they come, refinements when those are done."""

    def __init__(
        self,
        write: Write,
        only_refines: Callable[[Segment], bool],
        pending: Iterable[Segment] = (),
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._write = write
        self._only_refines = only_refines
        self._now = now
        self.pending: list[Segment] = []
        self._hold(list(pending))

    def on_batch(self, values: list[list[Segment]]) -> tuple[list[Rejected], bool]:
        rejected: list[Rejected] = []
        for segments in values:
            live: list[Segment] = []
            refines: list[Segment] = []
            for seg in latest_versions(segments):
                (refines if self._only_refines(seg) else live).append(seg)
            rejected += self._write(live)
            self._hold(refines)
        overflow = len(self.pending) - MAX_REFINES_PENDING
        if overflow > 0:
            rejected += self._write(self._take(overflow))
        return rejected, self._discard()

    def on_notify(self) -> tuple[list[Rejected], bool]:
        return self._write(self._take(REFINES_PER_RUN)), self._discard()

    def on_eof(self) -> tuple[list[Rejected], bool]:
        rejected: list[Rejected] = []
        while self.pending:
            rejected += self._write(self._take(REFINES_PER_RUN))
        return rejected, StatefulBatchLogic.DISCARD

    def notify_at(self) -> datetime | None:
        return self._now() if self.pending else None

    def snapshot(self) -> tuple[Segment, ...]:
        return tuple(self.pending)

    def _hold(self, segments: list[Segment]) -> None:
        self.pending += segments
        metrics.REFINES_PENDING.inc(len(segments))

    def _take(self, n: int) -> list[Segment]:
        taken, self.pending = self.pending[:n], self.pending[n:]
        metrics.REFINES_PENDING.dec(len(taken))
        return taken

    def _discard(self) -> bool:
        return StatefulBatchLogic.RETAIN if self.pending else StatefulBatchLogic.DISCARD


@operator
def index_segments(
    step_id: str,
    up: Stream[Segment],
    *,
    embed: Embed,
    count_tokens: TokenCounter,
    writer: Writer,
    on_written: Callable[[set[str]], None] | None = None,
    neutralize: Neutralize | None = None,
    reembed_closed: bool = True,
    buckets: int = 4,
    max_size: int = DEFAULT_MAX_SIZE,
    max_wait: timedelta = DEFAULT_MAX_WAIT,
) -> Stream[Rejected]:
    """Embed and upsert segment versions; what Weaviate refuses comes out as dead letters.
    After each write, `on_written` is called with the tenants whose segments were stored.
    `neutralize` (e.g. `Embedder.neutralize_languages`) turns the vectors into the ones
    stored, given each segment's language.

    Versions are batched per bucket of conversations (a stable hash), so the work spreads
    over workers and processes while each conversation stays on one of them, in order.
    Each bucket has its own `SegmentVectors`, used by the one worker the bucket is on.
    """
    vectors_by_bucket: dict[str, SegmentVectors] = {}

    def bucket(seg: Segment) -> str:
        return str(zlib.crc32(seg.key.encode()) % buckets)

    def vectors_of(key: str) -> SegmentVectors:
        vectors = vectors_by_bucket.get(key)
        if vectors is None:
            vectors = vectors_by_bucket[key] = SegmentVectors(
                embed,
                count_tokens,
                reembed_closed=reembed_closed,
                capacity=OPEN_SEGMENTS // buckets,
            )
        return vectors

    def write(segments: list[Segment]) -> list[Rejected]:
        if not segments:
            return []
        vectors = vectors_of(bucket(segments[0]))
        embedded = vectors.embed(segments)
        stored = embedded.vectors
        if neutralize is not None:
            stored = neutralize(stored, [seg.language for seg in embedded.segments])
        written = writer.write(embedded.segments, stored)
        vectors.stored(embedded, [seg for seg, _ in written.stored])
        if on_written is not None and written.stored:
            on_written({seg.tenant for seg, _ in written.stored})
        _record(
            embedded.tokens,
            written.stored,
            written.stale,
            len(written.rejected),
            len(embedded.skipped),
        )
        return written.rejected

    def only_refines(seg: Segment) -> bool:
        return vectors_of(bucket(seg)).only_refines(seg)

    keyed = op.key_on("bucket", up, bucket)
    batches = batch("batch", keyed, max_size=max_size, max_wait=max_wait)
    written = op.stateful_batch(
        "write", batches, lambda resume: IndexLogic(write, only_refines, resume or ())
    )
    return op.map("unkey", written, lambda kv: kv[1])
