"""What every flow's metrics share: serving them, summing a counter, dead letters and
source errors (counted by each flow that reads Kafka or writes dead letters)."""

from __future__ import annotations

import logging
import threading

from prometheus_client import Counter, Gauge, start_http_server

log = logging.getLogger(__name__)

REJECTED = Counter("headwater_ingest_rejected_total", "Inputs sent to dead letters.", ["reason"])
SOURCE_ERRORS = Counter(
    "headwater_ingest_source_errors_total", "Errors the Kafka source reported instead of a message."
)
KAFKA_ERRORS = Counter(
    "headwater_kafka_errors_total",
    "Errors librdkafka reported to a step's Kafka clients (error_cb), by librdkafka error name.",
    ["client", "error"],
)
KAFKA_UP = Gauge(
    "headwater_kafka_up",
    "1 while a step's Kafka clients reach the brokers; 0 while one reports all brokers down.",
    ["client"],
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
