"""The Bytewax step that embeds segment versions in batches and writes them to Weaviate."""

from __future__ import annotations

import zlib
from datetime import timedelta

import bytewax.operators as op
from bytewax.dataflow import Stream, operator

from operators import metrics
from operators.embed_batch import DEFAULT_MAX_SIZE, DEFAULT_MAX_WAIT, batch
from operators.segment import TokenCounter
from operators.segment_index import SegmentWriter
from operators.segment_vectors import OPEN_SEGMENTS, Embed, SegmentVectors
from schemas.message import Rejected
from schemas.segment import Segment, latest_versions


def _record(tokens: int, stored: list[tuple[Segment, int]], stale: list[Segment],
            rejected: int, unchanged: int) -> None:
    metrics.INDEX_EMBEDDED_TOKENS.inc(tokens)
    metrics.INDEX_SEGMENTS.labels(outcome="unchanged").inc(unchanged)
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
    embed: Embed,
    count_tokens: TokenCounter,
    writer: SegmentWriter,
    reembed_closed: bool = True,
    buckets: int = 4,
    max_size: int = DEFAULT_MAX_SIZE,
    max_wait: timedelta = DEFAULT_MAX_WAIT,
) -> Stream[Rejected]:
    """Embed and upsert segment versions; what Weaviate refuses comes out as dead letters.

    Versions are batched per bucket of conversations (a stable hash), so the work spreads
    over workers and processes while each conversation stays on one of them, in order.
    Each bucket has its own `SegmentVectors`, used by the one worker the bucket is on.
    """
    vectors_by_bucket: dict[str, SegmentVectors] = {}

    def bucket(seg: Segment) -> str:
        return str(zlib.crc32(seg.key.encode()) % buckets)

    def index_batch(segments: list[Segment]) -> list[Rejected]:
        unique = latest_versions(segments)
        vectors = vectors_by_bucket.get(key := bucket(unique[0]))
        if vectors is None:
            vectors = vectors_by_bucket[key] = SegmentVectors(
                embed, count_tokens, reembed_closed=reembed_closed,
                capacity=OPEN_SEGMENTS // buckets)
        embedded = vectors.embed(unique)
        written = writer.write(embedded.segments, embedded.vectors)
        vectors.stored(embedded, [seg for seg, _ in written.stored])
        _record(embedded.tokens, written.stored, written.stale, len(written.rejected),
                len(embedded.skipped))
        return written.rejected

    keyed = op.key_on("bucket", up, bucket)
    batches = batch("batch", keyed, max_size=max_size, max_wait=max_wait)
    return op.map("unkey", op.flat_map_value("write", batches, index_batch), lambda kv: kv[1])
