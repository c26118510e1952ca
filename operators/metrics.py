"""Prometheus metrics of the ingest and index paths, and serving them."""

from __future__ import annotations

import logging
import threading

from prometheus_client import Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)

RECEIVED = Counter("headwater_ingest_received_total", "Input lines read, by source.", ["source"])
REJECTED = Counter("headwater_ingest_rejected_total", "Inputs sent to dead letters.", ["reason"])
SOURCE_ERRORS = Counter(
    "headwater_ingest_source_errors_total", "Errors the Kafka source reported instead of a message."
)
DUPLICATES = Counter("headwater_ingest_duplicates_total", "Duplicate messages dropped.")
LATE = Counter("headwater_ingest_late_total", "Messages emitted after the reorder passed them.")
EMITTED = Counter("headwater_ingest_emitted_total", "Records written, by output.", ["output"])
STATE_ITEMS = Gauge(
    "headwater_ingest_state_items", "Items held in keyed state, by kind.", ["kind"]
)
# Keyed state is counted when scraped (`operators.conversation` sets the functions), so
# the hot path keeps no counters.
RECEIVE_TO_EMIT = Histogram(
    "headwater_ingest_receive_to_emit_seconds",
    "Time from receiving a message to emitting it.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 2.5, 3, 5, 10, 30, 60),
)

INDEX_SEGMENTS = Counter(
    "headwater_index_segments_total",
    "Segment versions by outcome: stored, stale (Weaviate holds a longer one), rejected, or "
    "unchanged (a final version with nothing to store: its vector is already stored).",
    ["outcome"],
)
INDEX_MESSAGES = Counter(
    "headwater_index_messages_total", "Messages the index has written (or found written)."
)
INDEX_EMBEDDED_TOKENS = Counter(
    "headwater_index_embedded_tokens_total",
    "Tokens embedded for segment versions (whole texts and new messages).",
)
INDEX_REFINES_PENDING = Gauge(
    "headwater_index_refines_pending",
    "Closed segments, searchable already, waiting for their whole text to be re-embedded.",
)
INDEX_FRESHNESS = Histogram(
    "headwater_index_freshness_seconds",
    "Time from receiving a message to Weaviate acknowledging the segment that holds it.",
    buckets=(0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30, 60, 300),
)

def total(counter: Counter, **labels: str) -> float:
    """A counter's value summed over the label values not given."""
    return sum(
        sample.value
        for family in counter.collect()
        for sample in family.samples
        if sample.name.endswith("_total")
        and all(sample.labels.get(k) == v for k, v in labels.items())
    )


_served: set[int] = set()
_lock = threading.Lock()


def serve_metrics(port: int) -> None:
    """Serve /metrics on 127.0.0.1:`port` once per process; 0 disables."""
    if port <= 0:
        return
    with _lock:
        if port in _served:
            return
        try:
            start_http_server(port, addr="127.0.0.1")
        except OSError as exc:
            log.warning("metrics not served: port %d unavailable (%s)", port, exc)
            return
        _served.add(port)
