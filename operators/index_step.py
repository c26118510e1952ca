"""The Bytewax step that embeds segment versions in batches and writes them to Weaviate."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from datetime import timedelta

import bytewax.operators as op
import numpy as np
from bytewax.dataflow import Stream, operator

from operators import metrics
from operators.embed_batch import DEFAULT_MAX_SIZE, DEFAULT_MAX_WAIT, batch
from operators.segment_index import SegmentWriter
from schemas.message import Rejected
from schemas.segment import Segment, latest_versions


def _record(written_segments: list[Segment], stored: list[tuple[Segment, int]],
            stale: list[Segment], rejected: int) -> None:
    metrics.INDEX_EMBEDDED_TOKENS.inc(sum(seg.tokens for seg in written_segments))
    metrics.INDEX_SEGMENTS.labels(outcome="stored").inc(len(stored))
    metrics.INDEX_SEGMENTS.labels(outcome="stale").inc(len(stale))
    metrics.INDEX_SEGMENTS.labels(outcome="rejected").inc(rejected)
    for seg, acked_ms in stored:
        metrics.INDEX_MESSAGES.inc(len(seg.new_lines))
        for line in seg.new_lines:
            metrics.INDEX_FRESHNESS.observe(max(0, acked_ms - line.received_at) / 1000)
    # A stale version's messages are in Weaviate already, in the longer stored version;
    # they were replayed, so they are counted but not timed.
    metrics.INDEX_MESSAGES.inc(sum(len(seg.new_lines) for seg in stale))


@operator
def index_segments(
    step_id: str,
    up: Stream[Segment],
    *,
    embed: Callable[[Sequence[str]], np.ndarray],
    writer: SegmentWriter,
    buckets: int = 4,
    max_size: int = DEFAULT_MAX_SIZE,
    max_wait: timedelta = DEFAULT_MAX_WAIT,
) -> Stream[Rejected]:
    """Embed and upsert segment versions; what Weaviate refuses comes out as dead letters.

    Versions are batched per bucket of conversations (a stable hash), so the work spreads
    over workers and processes while each conversation stays on one of them, in order.
    """

    def bucket(seg: Segment) -> str:
        return str(zlib.crc32(seg.key.encode()) % buckets)

    def index_batch(segments: list[Segment]) -> list[Rejected]:
        unique = latest_versions(segments)
        vectors = embed([seg.text for seg in unique])
        written = writer.write(unique, vectors)
        _record(unique, written.stored, written.stale, len(written.rejected))
        return written.rejected

    keyed = op.key_on("bucket", up, bucket)
    batches = batch("batch", keyed, max_size=max_size, max_wait=max_wait)
    return op.map("unkey", op.flat_map_value("write", batches, index_batch), lambda kv: kv[1])
