"""Prometheus metrics of a reindex (served by `operators.common.metrics`)."""

from __future__ import annotations

from prometheus_client import Counter

SEGMENTS = Counter(
    "headwater_reindex_segments_total",
    "Stored segments a reindex read and wrote again, by outcome: stored, stale (the new "
    "collection holds a longer version, from the live index) or rejected.",
    ["outcome"],
)
TOKENS = Counter("headwater_reindex_embedded_tokens_total", "Tokens a reindex embedded.")
ERRORS = Counter(
    "headwater_reindex_errors_total",
    "Reindex failures by kind: rejected (Weaviate refused an object), read (a page of the "
    "source could not be read and was retried).",
    ["kind"],
)
PAGES = Counter("headwater_reindex_pages_total", "Pages of stored segments re-embedded.")
