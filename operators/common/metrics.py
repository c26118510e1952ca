"""What every flow's and service's metrics share: serving them (one process, or a service's
several worker processes summed), summing a counter, dead letters and source errors
(counted by each flow that reads Kafka or writes dead letters)."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
    start_http_server,
)
from prometheus_client.multiprocess import MultiProcessCollector

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


MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"


@contextmanager
def multiprocess_metrics(prefix: str) -> Iterator[str]:
    """Around a server's worker processes: a directory they write their metrics to (the
    one `PROMETHEUS_MULTIPROC_DIR` names, else a temporary one, removed afterwards), so
    `exposition()` in any worker sums them all. Set before the workers import metrics."""
    given = os.environ.get(MULTIPROCESS_DIR)
    directory = given or tempfile.mkdtemp(prefix=prefix)
    os.environ[MULTIPROCESS_DIR] = directory
    try:
        yield directory
    finally:
        if not given:
            shutil.rmtree(directory, ignore_errors=True)


def exposition() -> tuple[bytes, str]:
    """The metrics page: every worker's under `multiprocess_metrics`, else this process's."""
    if os.environ.get(MULTIPROCESS_DIR):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
