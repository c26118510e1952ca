"""Prometheus metrics of the ingest steps (served by `operators.common.metrics`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RECEIVED = Counter("headwater_ingest_received_total", "Input lines read, by source.", ["source"])
DUPLICATES = Counter("headwater_ingest_duplicates_total", "Duplicate messages dropped.")
LATE = Counter("headwater_ingest_late_total", "Messages emitted after the reorder passed them.")
EMITTED = Counter("headwater_ingest_emitted_total", "Records written, by output.", ["output"])
STATE_ITEMS = Gauge("headwater_ingest_state_items", "Items held in keyed state, by kind.", ["kind"])
# Keyed state is counted when scraped (`operators.ingest.dedup_reorder` sets the functions), so
# the hot path keeps no counters.
RECEIVE_TO_EMIT = Histogram(
    "headwater_ingest_receive_to_emit_seconds",
    "Time from receiving a message to emitting it.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 2.5, 3, 5, 10, 30, 60),
)
