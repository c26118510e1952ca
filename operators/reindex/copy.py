"""Re-embedding stored segments with the target model and writing them to the new
collection: the work of a reindex, page by page."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models import Embedder
from operators.index.writer import SegmentWriter
from operators.reindex import metrics
from operators.reindex.stored import StoredSegment

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Copied:
    """What one page cost and did."""

    segments: int
    stored: int
    stale: int
    rejected: int
    tokens: int


@dataclass(frozen=True)
class Embedded:
    """A page embedded, not written yet."""

    segments: Sequence[StoredSegment]
    vectors: np.ndarray
    tokens: int


class Reembedder:
    """Embeds stored segments' texts as passages with `embedder` (language means taken
    out, as the live index does) and writes them with `writer`.

    A version the new collection already holds longer (the live index wrote it since) is
    left alone; what Weaviate refuses is logged and counted, and the gate reports it."""

    def __init__(self, embedder: Embedder, writer: SegmentWriter) -> None:
        self.embedder = embedder
        self.writer = writer

    def copy(self, segments: Sequence[StoredSegment]) -> Copied:
        return self.write_embedded(self.embed(segments))

    def embed(self, segments: Sequence[StoredSegment]) -> Embedded:
        texts = [s.text for s in segments]
        if not texts:
            return Embedded(segments, np.empty((0, self.embedder.dim), np.float32), 0)
        tokens = sum(self.embedder.token_counts(texts))
        vectors = self.embedder.neutralize_languages(
            self.embedder.embed_passages(texts), [s.language for s in segments]
        )
        return Embedded(segments, vectors, tokens)

    def write_embedded(self, embedded: Embedded) -> Copied:
        if not embedded.segments:
            return Copied(0, 0, 0, 0, 0)
        return self.write(embedded.segments, embedded.vectors, tokens=embedded.tokens)

    def write(
        self, segments: Sequence[StoredSegment], vectors: np.ndarray, *, tokens: int
    ) -> Copied:
        """Write segments with their vectors (embedded by this model)."""
        written = self.writer.write(segments, vectors)
        for rejected in written.rejected:
            log.warning(
                "weaviate refused a segment of tenant %s: %s", rejected.tenant, rejected.errors
            )
        metrics.SEGMENTS.labels(outcome="stored").inc(len(written.stored))
        metrics.SEGMENTS.labels(outcome="stale").inc(len(written.stale))
        metrics.SEGMENTS.labels(outcome="rejected").inc(len(written.rejected))
        metrics.ERRORS.labels(kind="rejected").inc(len(written.rejected))
        metrics.TOKENS.inc(tokens)
        metrics.PAGES.inc()
        return Copied(
            len(segments), len(written.stored), len(written.stale), len(written.rejected), tokens
        )
