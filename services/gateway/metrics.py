"""The gateway's Prometheus metrics. With several worker processes, `python -m
services.gateway` sets PROMETHEUS_MULTIPROC_DIR and /metrics sums every worker's
(`operators.common.metrics.exposition`)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

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
