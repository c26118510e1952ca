"""Prometheus metrics of the index steps (served by `operators.common.metrics`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

SEGMENTS = Counter(
    "headwater_index_segments_total",
    "Segment versions by outcome: stored, stale (Weaviate holds a longer one), rejected, or "
    "unchanged (a final version with nothing to store: its vector is already stored).",
    ["outcome"],
)
MESSAGES = Counter(
    "headwater_index_messages_total", "Messages the index has written (or found written)."
)
EMBEDDED_TOKENS = Counter(
    "headwater_index_embedded_tokens_total",
    "Tokens embedded for segment versions (whole texts and new messages).",
)
REFINES_PENDING = Gauge(
    "headwater_index_refines_pending",
    "Closed segments, searchable already, waiting for their whole text to be re-embedded.",
)
FRESHNESS = Histogram(
    "headwater_index_freshness_seconds",
    "Time from receiving a message to Weaviate acknowledging the segment that holds it.",
    buckets=(0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30, 60, 300),
)
WEAVIATE_UP = Gauge(
    "headwater_index_weaviate_up",
    "0 while the index retries a Weaviate it cannot reach (an outage), else 1.",
)
WEAVIATE_RETRIES = Counter(
    "headwater_index_weaviate_retries_total",
    "Calls to Weaviate the index made again, by the kind of the failure before: "
    "unavailable (an outage) or unknown.",
    ["kind"],
)
WEAVIATE_ERRORS = Counter(
    "headwater_index_weaviate_errors_total",
    "Failed Weaviate calls and objects' errors in batch results, by kind: unavailable, "
    "refused (their segments are dead letters) or unknown (retried, then dead letters).",
    ["kind"],
)
MIRRORED = Counter(
    "headwater_index_mirrored_segments_total",
    "Segment versions written to the other collections in rotation (one being built, or "
    "one kept for a rollback), by collection and outcome: stored, stale, rejected, failed.",
    ["collection", "outcome"],
)
