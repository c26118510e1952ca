"""The gateway's Prometheus metrics. With several worker processes, `python -m
services.gateway` sets PROMETHEUS_MULTIPROC_DIR and /metrics sums every worker's."""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

REQUESTS = Counter(
    "headwater_gateway_requests_total",
    'Requests answered, by route, tenant ("-" when unknown) and status code.',
    ["route", "tenant", "status"],
)
REFUSALS = Counter(
    "headwater_gateway_refusals_total",
    "Requests refused, by route and reason (the `error` of the answer).",
    ["route", "reason"],
)
PRODUCE_SECONDS = Histogram(
    "headwater_gateway_produce_seconds",
    "From handing an event to the Kafka producer to Kafka's confirmation.",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
BODY_BYTES = Counter(
    "headwater_gateway_body_bytes_total", "Request body bytes received, by route.", ["route"]
)
CSV_ROWS = Counter(
    "headwater_gateway_csv_rows_total", "CSV export rows confirmed by Kafka, by tenant.", ["tenant"]
)


def exposition() -> tuple[bytes, str]:
    """The metrics page: every worker's when running with several, else this process's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
